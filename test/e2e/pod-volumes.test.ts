/**
 * What the Gateway API conformance base manifests need from the test cluster beyond plain pods
 * (test/cluster/README.md), proven with those manifests' own pod specs:
 *
 * 1. The Gateway API CRDs (standard channel, the gateway-api module version the harness was built
 *    from) are Established when the cluster is READY.
 * 2. Secret volumes: echo-basic as the suite's `tls-backend` (Secret items at /etc/secret-volume,
 *    TLS_SERVER_CERT/PRIVKEY naming them) created before its Secret waits with a FailedMount
 *    Event, then serves HTTPS with exactly that certificate once the Secret exists; the mount
 *    exists only in the container's mount namespace, never on this machine's /etc.
 * 3. ConfigMap volumes and the coredns stand-in: the suite's coredns Deployment and Corefile
 *    (mounted at /root) answer `whoami` for foo.bar.com with the client's address, and REFUSE
 *    what the Corefile forwards off the machine.
 * 4. Hostile: a volume type the stand-in cannot provide (hostPath) and a mountPath with no parent
 *    directory on this machine are refused with an Event, never ignored.
 * 5. `kubectl logs` (the pods/log subresource the suite's RequestMirror tests read) through the
 *    kubelet stand-in's API: a container's output, --since-time, --timestamps, --tail; -f refused.
 *
 * Traffic goes only to 127.0.0.1 (the API server) and the cluster's 10.217.N.0/24 pod addresses.
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { ECHO_BASIC_IMAGE, list } from '../support/pods.ts';

const run = promisify(execFile);

interface Pod {
  metadata: { name: string };
  status: { podIP?: string; hostIP?: string; containerStatuses?: { ready: boolean; state: Record<string, { reason?: string; message?: string }> }[] };
}

const downward = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
];

/** A one-replica Deployment labelled app=`name` with `podSpec`. */
function deployment(namespace: string, name: string, podSpec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace, labels: { app: name } },
    spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: podSpec } },
  };
}

/** A DNS query (RD set) for `name`/A; the answer's rcode and additional-section A records. */
async function dnsQuery(server: string, name: string): Promise<{ rcode: number; additionalA: string[] }> {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const query = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  const socket = createSocket('udp4');
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no DNS answer from ${server} within 3 s`)), 3_000);
      socket.once('message', (msg) => {
        clearTimeout(timer);
        resolve(msg);
      });
      socket.send(query, 53, server);
    });
    const rcode = reply[3]! & 0x0f;
    const [qd, an, ns, ar] = [4, 6, 8, 10].map((o) => reply.readUInt16BE(o));
    // Skip the header and question (uncompressed name as sent), then walk the records.
    let offset = query.length;
    expect(qd).toBe(1);
    const additionalA: string[] = [];
    for (let i = 0; i < an! + ns! + ar!; i++) {
      // Names in answers: a pointer (2 bytes) or labels ending in 0.
      while (reply[offset]! !== 0 && (reply[offset]! & 0xc0) !== 0xc0) offset += reply[offset]! + 1;
      offset += reply[offset]! === 0 ? 1 : 2;
      const type = reply.readUInt16BE(offset);
      const length = reply.readUInt16BE(offset + 8);
      if (i >= an! + ns! && type === 1) additionalA.push([...reply.subarray(offset + 10, offset + 14)].join('.'));
      offset += 10 + length;
    }
    return { rcode, additionalA };
  } finally {
    socket.close();
  }
}

describe('the test cluster gives pods what the Gateway API conformance manifests need: CRDs, Secret and ConfigMap volumes, a coredns stand-in', () => {
  let cluster: TestCluster | undefined;
  let work: string | undefined;
  const kc = (args: readonly string[], stdin?: string) => kubectl(cluster!.kubeconfig, args, stdin);
  const pods = async (ns: string, selector: string) => (JSON.parse(await kc(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items;
  const events = async (ns: string) =>
    (JSON.parse(await kc(['-n', ns, 'get', 'events', '-o', 'json'])) as { items: { reason: string; message: string; involvedObject: { name: string } }[] }).items;
  const showLog = () =>
    onTestFailed(async () => {
      const log = await run('tail', ['-n', '25', cluster!.logFile]).then((r) => r.stdout, () => '');
      console.error(`--- harness log, last lines:\n${log}`);
    });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'portico-volumes-'));
    cluster = await startCluster();
  }, 240_000);

  afterAll(async () => {
    await cluster?.destroy();
    if (work) rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it('installs the Gateway API standard-channel CRDs before READY, all of one bundle version', async () => {
    const crds = (JSON.parse(await kc(['get', 'crds', '-o', 'json'])) as { items: { metadata: { name: string; annotations: Record<string, string> }; status: { conditions: { type: string; status: string }[] } }[] }).items;
    const names = crds.map((c) => c.metadata.name);
    expect(names).toEqual(expect.arrayContaining(['gatewayclasses.gateway.networking.k8s.io', 'gateways.gateway.networking.k8s.io', 'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io', 'referencegrants.gateway.networking.k8s.io']));
    for (const crd of crds) {
      expect(crd.metadata.annotations['gateway.networking.k8s.io/channel']).toBe('standard');
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).toBe('True');
    }
    expect(new Set(crds.map((c) => c.metadata.annotations['gateway.networking.k8s.io/bundle-version'])).size).toBe(1);
    // Usable at once: a GatewayClass is stored.
    await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'volumes-test' }, spec: { controllerName: 'portico.dev/gateway-controller' } }));
    expect((await kc(['get', 'gatewayclass', 'volumes-test', '-o', 'name'])).trim()).toBe('gatewayclass.gateway.networking.k8s.io/volumes-test');
  });

  it('mounts a Secret volume the way the conformance tls-backend uses it: FailedMount until the Secret exists, then HTTPS with its certificate', async () => {
    showLog();
    const ns = 'tls';
    await kc(['create', 'namespace', ns]);
    // The conformance base manifests' tls-backend pod spec, verbatim but for the names.
    await kc(['apply', '-f', '-'], JSON.stringify(deployment(ns, 'tls-backend', {
      containers: [{
        name: 'tls-backend', image: ECHO_BASIC_IMAGE, volumeMounts: [{ name: 'secret-volume', mountPath: '/etc/secret-volume' }],
        env: [...downward, { name: 'TLS_SERVER_CERT', value: '/etc/secret-volume/crt' }, { name: 'TLS_SERVER_PRIVKEY', value: '/etc/secret-volume/key' }],
      }],
      volumes: [{ name: 'secret-volume', secret: { secretName: 'tls-checks-certificate', items: [{ key: 'tls.crt', path: 'crt' }, { key: 'tls.key', path: 'key' }] } }],
    })));
    const failed = await eventually(async () => (await events(ns)).find((e) => e.reason === 'FailedMount'), 30_000, 'a FailedMount Event while the Secret is missing');
    expect(failed.message).toBe('MountVolume.SetUp failed for volume "secret-volume" : secrets "tls-checks-certificate" not found');
    expect((await pods(ns, 'app=tls-backend'))[0]?.status.containerStatuses?.[0]?.state['waiting']?.reason).toBe('ContainerCreating');

    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=abc.example.com', '-keyout', join(work!, 'tls.key'), '-out', join(work!, 'tls.crt')]);
    await kc(['-n', ns, 'create', 'secret', 'tls', 'tls-checks-certificate', '--cert', join(work!, 'tls.crt'), '--key', join(work!, 'tls.key')]);
    await kc(['-n', ns, 'rollout', 'status', 'deployment/tls-backend', '--timeout=60s']);
    const [pod] = await pods(ns, 'app=tls-backend');
    // The pod has no readiness probe: Running says the process started, not that it listens yet.
    const served = await eventually(() => new Promise<X509Certificate>((resolve, reject) => {
      const socket = connect({ host: pod!.status.podIP!, port: 8443, servername: 'abc.example.com', rejectUnauthorized: false, timeout: 5_000 }, () => {
        const cert = socket.getPeerX509Certificate();
        socket.destroy();
        if (cert) resolve(cert);
        else reject(new Error('no peer certificate'));
      });
      socket.once('timeout', () => socket.destroy(new Error('TLS handshake timed out')));
      socket.once('error', reject);
    }), 20_000, `tls-backend serving HTTPS on ${pod!.status.podIP}:8443`);
    expect(served.fingerprint256).toBe(new X509Certificate(readFileSync(join(work!, 'tls.crt'))).fingerprint256);
    // The mount lives in the container's own mount namespace only.
    expect(existsSync('/etc/secret-volume')).toBe(false);
  }, 120_000);

  it('mounts a ConfigMap volume: the conformance coredns Deployment (stand-in) answers whoami and refuses forwarding off the machine', async () => {
    showLog();
    const ns = 'dns';
    await kc(['create', 'namespace', ns]);
    const corefile = '.:53 {\n    forward . 8.8.8.8 9.9.9.9\n    log\n    errors\n}\nfoo.bar.com:53 {\n  whoami\n}\n';
    await kc(['apply', '-f', '-'], list(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'coredns', namespace: ns }, data: { Corefile: corefile } },
      deployment(ns, 'coredns', {
        containers: [{
          args: ['-conf', '/root/Corefile'], image: 'registry.k8s.io/coredns/coredns:v1.12.2', imagePullPolicy: 'IfNotPresent', name: 'coredns',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] } },
          volumeMounts: [{ mountPath: '/root', name: 'conf' }],
        }],
        volumes: [{ configMap: { defaultMode: 420, name: 'coredns' }, name: 'conf' }],
      }),
    ));
    await kc(['-n', ns, 'rollout', 'status', 'deployment/coredns', '--timeout=60s']);
    const [pod] = await pods(ns, 'app=coredns');
    const whoami = await eventually(() => dnsQuery(pod!.status.podIP!, 'foo.bar.com'), 10_000, 'a whoami answer');
    expect(whoami.rcode).toBe(0);
    // The client's address as the pod saw it: this machine's address on the pod bridge.
    expect(whoami.additionalA).toEqual([pod!.status.hostIP]);
    expect((await dnsQuery(pod!.status.podIP!, 'example.com')).rcode).toBe(5); // REFUSED: nothing is forwarded
  }, 120_000);

  it('kubectl logs reads a container\'s output through the kubelet stand-in: since-time, timestamps, tail; follow refused', async () => {
    showLog();
    const ns = 'logs';
    await kc(['create', 'namespace', ns]);
    await kc(['apply', '-f', '-'], JSON.stringify(deployment(ns, 'echo', { containers: [{ name: 'echo', image: ECHO_BASIC_IMAGE, env: downward }] })));
    await kc(['-n', ns, 'rollout', 'status', 'deployment/echo', '--timeout=60s']);
    const [pod] = await pods(ns, 'app=echo');
    const name = pod!.metadata.name;
    const get = async (path: string) => expect((await fetch(`http://${pod!.status.podIP}:3000${path}`, { signal: AbortSignal.timeout(3_000) })).status).toBe(200);
    await eventually(() => get('/before'), 10_000, 'echo-basic answering');
    // The next whole second: --since-time has second precision.
    const boundary = new Date(Math.ceil((Date.now() + 50) / 1000) * 1000);
    await new Promise((resolve) => setTimeout(resolve, boundary.getTime() - Date.now() + 50));
    await get('/after');
    const all = await eventually(async () => {
      const out = await kc(['-n', ns, 'logs', name]);
      return out.includes('request made to /after') ? out : undefined;
    }, 10_000, 'the /after line in kubectl logs');
    expect(all).toMatch(/Starting server, listening on port 3000 \(http\)/);
    expect(all).toContain('Echoing back request made to /before');
    const since = await kc(['-n', ns, 'logs', name, `--since-time=${boundary.toISOString().replace(/\.\d+Z$/, 'Z')}`, '--timestamps']);
    expect(since).not.toContain('/before');
    expect(since).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z Echoing back request made to \/after to client/m);
    expect((await kc(['-n', ns, 'logs', name, '--tail=1'])).trim()).toMatch(/^Echoing back request made to \/after/);
    await expect(kc(['-n', ns, 'logs', name, '-f', '--request-timeout=5s'])).rejects.toThrow(/follow is not supported by the portico test cluster's kubelet stand-in/);
  }, 60_000);

  it('hostile: a hostPath volume and a mountPath with no parent directory here are refused with an Event, never ignored', async () => {
    showLog();
    const ns = 'refused';
    await kc(['create', 'namespace', ns]);
    const pod = (name: string, volume: Record<string, unknown>, mountPath: string) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns },
      spec: { volumes: [{ name: 'data', ...volume }], containers: [{ name: 'main', image: ECHO_BASIC_IMAGE, volumeMounts: [{ name: 'data', mountPath }] }] },
    });
    await kc(['apply', '-f', '-'], list(pod('host-path', { hostPath: { path: '/var/lib' } }, '/var/lib/data'), pod('no-parent', { emptyDir: {} }, '/portico-no-such-dir/data')));
    const messages = await eventually(async () => {
      const failed = (await events(ns)).filter((e) => e.reason === 'Failed');
      const byPod = new Map(failed.map((e) => [e.involvedObject.name, e.message]));
      return byPod.size === 2 ? byPod : undefined;
    }, 30_000, 'a Failed Event for each pod');
    expect(messages.get('host-path')).toBe('Error: CreateContainerConfigError: volume "data": only secret, configMap and emptyDir volumes are supported by the portico test cluster');
    expect(messages.get('no-parent')).toMatch(/mounts volume "data" at \/portico-no-such-dir\/data: the portico test cluster mounts volumes only where this machine has the parent directory/);
    expect(existsSync('/portico-no-such-dir')).toBe(false);
  }, 60_000);
});
