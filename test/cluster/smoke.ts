/**
 * `node test/cluster/smoke.ts` — end-to-end check of the harness with the real kubectl:
 * namespaces, Ingress/Service/EndpointSlice, RBAC checks, ServiceAccount tokens and
 * TokenReview, server-side dry-run, then SIGTERM, restart on the same dir and port, and the
 * objects still there. Prints one line per check and `N passed, N failed` at the end.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startCluster, restartCluster, TestClusterError } from './cluster.ts';
import type { TestCluster } from './cluster.ts';

const kubectlBin = process.env['KUBECTL'] ?? 'kubectl';

function kubectl(cluster: TestCluster, args: readonly string[], stdin?: string): string {
  return execFileSync(kubectlBin, ['--kubeconfig', cluster.kubeconfig, ...args], {
    input: stdin,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

// The apiserver rejects loopback addresses (127.0.0.0/8, ::1) in EndpointSlices, so the
// slice holds a TEST-NET-1 documentation address: stored and validated, never contacted.
const manifests = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: smoke }
spec:
  ports: [{ name: http, port: 80, targetPort: 8080 }]
  selector: { app: web }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: smoke
  labels: { kubernetes.io/service-name: web }
addressType: IPv4
ports: [{ name: http, port: 8080, protocol: TCP }]
endpoints:
  - addresses: ["192.0.2.10"]
    conditions: { ready: true }
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: smoke }
spec:
  ingressClassName: portico
  rules:
    - host: web.example.test
      http:
        paths:
          - path: /
            pathType: Prefix
            backend: { service: { name: web, port: { number: 80 } } }
`;

let passed = 0;
let failed = 0;
function check(name: string, ok: boolean, detail = ''): void {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || !detail ? '' : `: ${detail}`}`);
}
function attempt(name: string, run: () => boolean | string): void {
  try {
    const result = run();
    check(name, result === true || (typeof result === 'string' && result.length > 0), String(result));
  } catch (error) {
    const e = error as { stderr?: string; message?: string };
    check(name, false, (e.stderr || e.message || String(error)).trim());
  }
}

const t0 = performance.now();
let cluster = await startCluster();
console.log(`started in ${Math.round(performance.now() - t0)} ms: ${cluster.server} (${cluster.dataDir})`);
try {
  attempt('get ns', () => kubectl(cluster, ['get', 'ns', '-o', 'name']).includes('namespace/default'));
  attempt('create ns', () => kubectl(cluster, ['create', 'ns', 'smoke']).includes('created'));
  attempt('apply Service+EndpointSlice+IngressClass+Ingress', () => kubectl(cluster, ['apply', '-f', '-'], manifests).includes('ingress.networking.k8s.io/web created'));
  attempt('get ingress -A', () => kubectl(cluster, ['get', 'ingress', '-A']).includes('web.example.test'));
  attempt('Service got a ClusterIP', () => /^10\.96\./.test(kubectl(cluster, ['-n', 'smoke', 'get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'])));
  attempt('auth can-i (admin)', () => kubectl(cluster, ['auth', 'can-i', 'watch', 'ingresses', '-A']).trim() === 'yes');
  attempt('create serviceaccount', () => kubectl(cluster, ['-n', 'smoke', 'create', 'serviceaccount', 'reader']).includes('created'));
  attempt('auth can-i (serviceaccount, RBAC denies)', () => {
    try {
      kubectl(cluster, ['auth', 'can-i', 'list', 'ingresses', '-n', 'smoke', '--as', 'system:serviceaccount:smoke:reader']);
      return false;
    } catch (error) {
      return String((error as { stdout?: string }).stdout).trim() === 'no';
    }
  });
  attempt('RBAC grant then can-i yes', () => {
    kubectl(cluster, ['-n', 'smoke', 'create', 'role', 'ingress-reader', '--verb=get,list,watch', '--resource=ingresses.networking.k8s.io']);
    kubectl(cluster, ['-n', 'smoke', 'create', 'rolebinding', 'reader', '--role=ingress-reader', '--serviceaccount=smoke:reader']);
    return kubectl(cluster, ['auth', 'can-i', 'list', 'ingresses', '-n', 'smoke', '--as', 'system:serviceaccount:smoke:reader']).trim() === 'yes';
  });
  attempt('create token + TokenReview', () => {
    const token = kubectl(cluster, ['-n', 'smoke', 'create', 'token', 'reader']).trim();
    const review = JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const status = JSON.parse(kubectl(cluster, ['create', '-o', 'json', '-f', '-'], review)).status;
    return status.authenticated === true && status.user.username === 'system:serviceaccount:smoke:reader';
  });
  attempt('service-account token used as a client', () => {
    const token = kubectl(cluster, ['-n', 'smoke', 'create', 'token', 'reader']).trim();
    return execFileSync(kubectlBin, ['--kubeconfig', cluster.kubeconfig, '--token', token, '-n', 'smoke', 'get', 'ingress', '-o', 'name'], { encoding: 'utf8' }).includes('ingress.networking.k8s.io/web');
  });
  attempt('apply --dry-run=server', () => {
    const out = kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], manifests.replaceAll('name: web, namespace', 'name: web-dry, namespace'));
    return out.includes('(server dry run)') && !kubectl(cluster, ['-n', 'smoke', 'get', 'ingress', '-o', 'name']).includes('web-dry');
  });
  attempt('dry-run=server rejects an invalid Ingress', () => {
    try {
      kubectl(cluster, ['apply', '--dry-run=server', '-f', '-'], manifests.replace('pathType: Prefix', 'pathType: Bogus'));
      return false;
    } catch (error) {
      return String((error as { stderr?: string }).stderr).includes('pathType');
    }
  });
  attempt('delete ns finishes (namespace controller)', () => {
    kubectl(cluster, ['create', 'ns', 'smoke-gone']);
    kubectl(cluster, ['-n', 'smoke-gone', 'create', 'configmap', 'c']);
    return kubectl(cluster, ['delete', 'ns', 'smoke-gone', '--timeout=60s']).includes('deleted');
  });

  const before = cluster;
  const t1 = performance.now();
  cluster = await restartCluster(cluster);
  console.log(`restarted in ${Math.round(performance.now() - t1)} ms`);
  check('restart keeps server and token', cluster.server === before.server && cluster.token === before.token);
  check('old harness process is gone', !alive(before.pid));
  attempt('objects survived restart', () => kubectl(cluster, ['-n', 'smoke', 'get', 'ingress,svc,endpointslice,sa', '-o', 'name']).includes('ingress.networking.k8s.io/web'));
  attempt('old kubeconfig still works', () => readFileSync(before.kubeconfig, 'utf8').includes(cluster.server) && kubectl(before, ['get', 'ns', 'smoke', '-o', 'name']).trim() === 'namespace/smoke');
} finally {
  const pid = cluster.pid;
  await cluster.destroy();
  check('stop: exit 0 and process gone', !alive(pid));
}
try {
  await startCluster({ apiserverArgs: ['--no-such-flag'], timeoutMs: 60_000 }).then((c) => c.destroy());
  check('bad flag fails with PORTICO_E_TESTCLUSTER_START', false, 'started anyway');
} catch (error) {
  check('bad flag fails with PORTICO_E_TESTCLUSTER_START', error instanceof TestClusterError && error.code === 'PORTICO_E_TESTCLUSTER_START', String(error));
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
