/**
 * The classic walkthrough in Gateway API form, cluster mode as in production: a real
 * kube-apiserver (the Go harness, which installs the Gateway API CRDs), kubectl as the user,
 * `portico control` and `portico dataplane` as two processes, the backend in a network namespace.
 *
 * - deploy/gateway-api/dashboard.yaml as shipped: GatewayClass `portico` is Accepted; the Gateway takes the edge Service's externalIP
 *   (10.1.33.159, a status value only) as its address and is Programmed; the HTTPRoute to the
 *   Rook/Ceph dashboard is Accepted and the dashboard host reaches the backend through the data plane.
 * - Status follows edits (observedGeneration) and says why things fail, with the spec's reasons:
 *   a listener with a missing certificate, a route to a Gateway that does not exist (no status
 *   from Portico, not served), a cross-namespace backend before and after its ReferenceGrant.
 *
 * Traffic only goes to 127.0.0.1 (control API, data plane) and the test host's 10.213.x address.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import type { TestHost } from '../support/netns.ts';
import { createTestHost, startBackendIn } from '../support/netns.ts';
import type { Child } from '../support/processes.ts';
import { PORTICO, freePort, getWithHost, start, stopAll } from '../support/processes.ts';

const HOST = 'k8s-ceph-dashboard.calmkart.com';
const EDGE_IP = '10.1.33.159';
const BACKEND_PORT = 8443;
const G = 'gateway.networking.k8s.io/v1';

const dashboardYaml = readFileSync(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');
/** The walkthrough's Gateway API objects as shipped (GatewayClass, Gateway `edge`, the dashboard HTTPRoute). */
const gatewayFile = new URL('../../deploy/gateway-api/dashboard.yaml', import.meta.url).pathname;

/** The edge Service (its externalIP is the Gateway's address), an HTTPS listener added to `edge`, and the hostile routes. */
const extras = (): unknown[] => [
  { apiVersion: 'v1', kind: 'Service', metadata: { name: 'ingress-nginx-controller', namespace: 'ingress-nginx' }, spec: { type: 'ClusterIP', externalIPs: [EDGE_IP], ports: [{ name: 'http', port: 80 }] } },
  {
    apiVersion: G,
    kind: 'Gateway',
    metadata: { name: 'edge', namespace: 'portico-system' },
    spec: {
      gatewayClassName: 'portico',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } },
        { name: 'https', port: 443, protocol: 'HTTPS', hostname: HOST, tls: { certificateRefs: [{ name: 'dashboard-tls' }] }, allowedRoutes: { namespaces: { from: 'All' } } },
      ],
    },
  },
  {
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name: 'nowhere', namespace: 'rook-ceph' },
    spec: { parentRefs: [{ name: 'no-such-gateway', namespace: 'portico-system' }], hostnames: ['nowhere.calmkart.com'], rules: [{ backendRefs: [{ name: 'rook-ceph-mgr-dashboard', port: 8443 }] }] },
  },
  {
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name: 'shared', namespace: 'ingress-nginx' },
    spec: { parentRefs: [{ name: 'edge', namespace: 'portico-system' }], hostnames: ['shared.calmkart.com'], rules: [{ backendRefs: [{ name: 'rook-ceph-mgr-dashboard', namespace: 'rook-ceph', port: 8443 }] }] },
  },
];

type Conditions = { type: string; status: string; reason: string; observedGeneration?: number }[];

describe('the walkthrough in Gateway API form, cluster mode', () => {
  let cluster: TestCluster | undefined;
  let host: TestHost | undefined;
  let work: string | undefined;
  const children: Child[] = [];
  let httpPort = 0;

  const kc = (args: readonly string[], stdin?: string) => kubectl(cluster!.kubeconfig, args, stdin);
  const json = async <T>(args: readonly string[]): Promise<T> => JSON.parse(await kc([...args, '-o', 'json'])) as T;
  const routeParents = async (namespace: string, name: string) => (await json<{ metadata: { generation: number }; status?: { parents?: { controllerName: string; parentRef: { name: string }; conditions: Conditions }[] } }>(['-n', namespace, 'get', 'httproute', name]));
  const condition = (conditions: Conditions | undefined, type: string) => conditions?.find((c) => c.type === type);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'portico-gateway-walkthrough-'));
    cluster = await startCluster();
    host = await createTestHost(1);
    await startBackendIn(host, BACKEND_PORT);
    for (const namespace of ['ingress-nginx', 'portico-system', 'rook-ceph']) await kc(['create', 'namespace', namespace]);
    await kc(['-n', 'portico-system', 'create', 'serviceaccount', 'portico-dataplane']);
    const tokenFile = join(work, 'dataplane-token');
    await writeFile(tokenFile, (await kc(['-n', 'portico-system', 'create', 'token', 'portico-dataplane', '--duration=1h'])).trim(), { mode: 0o600 });
    // As shipped: the dashboard's Service and EndpointSlice (at the backend in the test host), then the Gateway API objects.
    await kc(['apply', '-f', '-'], dashboardYaml.replaceAll('127.0.0.1', host.addresses[0]!).replace('port: 18443', `port: ${BACKEND_PORT}`));
    await kc(['-n', 'rook-ceph', 'delete', 'ingress', 'rook-ceph-mgr-dashboard']);
    await kc(['apply', '-f', gatewayFile]);
    await kc(['apply', '-f', '-'], extras().map((o) => JSON.stringify(o)).join('\n'));

    const [controlPort, adminPort] = await Promise.all([freePort(), freePort()]);
    httpPort = await freePort();
    const control = start(PORTICO, ['control', '--kubeconfig', cluster.kubeconfig, '--listen', `127.0.0.1:${controlPort}`, '--publish-service', 'ingress-nginx/ingress-nginx-controller', '--control-namespace', 'portico-system', '--debounce-ms', '20', '--log-level', 'warn']);
    children.push(control);
    await eventually(async () => ((await fetch(`http://127.0.0.1:${controlPort}/readyz`)).ok ? true : undefined), 60_000, 'control /readyz');
    const dataplane = start(PORTICO, [
      'dataplane', '--control', `http://127.0.0.1:${controlPort}`, '--token-file', tokenFile, '--address', '127.0.0.1', '--http-port', String(httpPort), '--https-port', 'off',
      '--admin-port', String(adminPort), '--admin-address', '127.0.0.1', '--data-dir', join(work, 'dataplane'), '--workers', '1', '--no-access-log', '--node', 'edge-1', '--log-level', 'warn',
    ]);
    children.push(dataplane);
    await eventually(async () => ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok ? true : undefined), 60_000, 'data plane /readyz');
  }, 240_000);

  afterAll(async () => {
    await stopAll(children);
    await host?.destroy();
    await cluster?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  const showLogs = () =>
    onTestFailed(() => {
      for (const child of children) console.error(child.output().slice(-3000));
    });

  it('kubectl shows the class Accepted, the Gateway PROGRAMMED at the edge address, and the dashboard is served', async () => {
    showLogs();
    const classes = await eventually(async () => {
      const out = await kc(['get', 'gatewayclass', 'portico']);
      return /portico\s+portico\.dev\/gateway-controller\s+True/.test(out) ? out : undefined;
    }, 30_000, 'GatewayClass ACCEPTED True');
    expect(classes).toContain('True');
    const table = await eventually(async () => {
      const out = await kc(['-n', 'portico-system', 'get', 'gateway', 'edge']);
      return /edge\s+portico\s+10\.1\.33\.159\s+True/.test(out) ? out : undefined;
    }, 30_000, 'Gateway ADDRESS and PROGRAMMED in kubectl get gateway');
    expect(table).toMatch(/edge\s+portico\s+10\.1\.33\.159\s+True/);

    const gateway = await json<{ metadata: { generation: number }; status: { conditions: Conditions; listeners: { name: string; attachedRoutes: number; conditions: Conditions; supportedKinds: { kind: string }[] }[] } }>(['-n', 'portico-system', 'get', 'gateway', 'edge']);
    expect(condition(gateway.status.conditions, 'Accepted')).toMatchObject({ status: 'True', observedGeneration: gateway.metadata.generation });
    const [http, https] = gateway.status.listeners;
    expect(http).toMatchObject({ name: 'http', attachedRoutes: 2 });
    expect(http!.supportedKinds.map((k) => k.kind)).toEqual(['HTTPRoute', 'GRPCRoute']);
    expect(condition(https!.conditions, 'ResolvedRefs')).toMatchObject({ status: 'False', reason: 'InvalidCertificateRef' });
    expect(condition(https!.conditions, 'Programmed')).toMatchObject({ status: 'False' });

    const route = await routeParents('rook-ceph', 'rook-ceph-mgr-dashboard');
    expect(route.status!.parents).toMatchObject([{ controllerName: 'portico.dev/gateway-controller', parentRef: { name: 'edge', sectionName: 'http' } }]);
    expect(condition(route.status!.parents![0]!.conditions, 'Accepted')).toMatchObject({ status: 'True', observedGeneration: route.metadata.generation });
    expect(condition(route.status!.parents![0]!.conditions, 'ResolvedRefs')).toMatchObject({ status: 'True' });

    const reply = await eventually(async () => {
      const r = await getWithHost(httpPort, HOST, '/');
      return r.status === 200 ? r : undefined;
    }, 30_000, 'dashboard through the data plane');
    expect((JSON.parse(reply.body) as { served_by: string }).served_by).toBe(`${host!.addresses[0]}:${BACKEND_PORT}`);
  }, 120_000);

  it('a route to a Gateway that does not exist gets no status from Portico and is not served', async () => {
    showLogs();
    expect((await routeParents('rook-ceph', 'nowhere')).status?.parents ?? []).toEqual([]);
    expect((await getWithHost(httpPort, 'nowhere.calmkart.com', '/')).status).toBe(404);
  });

  it('a cross-namespace backend is RefNotPermitted until a ReferenceGrant allows it, then served', async () => {
    showLogs();
    const refused = await eventually(async () => {
      const parents = (await routeParents('ingress-nginx', 'shared')).status?.parents;
      return condition(parents?.[0]?.conditions, 'ResolvedRefs')?.reason === 'RefNotPermitted' ? parents : undefined;
    }, 30_000, 'RefNotPermitted');
    expect(condition(refused[0]!.conditions, 'Accepted')).toMatchObject({ status: 'True' });
    expect((await getWithHost(httpPort, 'shared.calmkart.com', '/')).status).toBe(500);
    await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'from-ingress-nginx', namespace: 'rook-ceph' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'ingress-nginx' }], to: [{ group: '', kind: 'Service' }] } }));
    await eventually(async () => ((await getWithHost(httpPort, 'shared.calmkart.com', '/')).status === 200 ? true : undefined), 30_000, 'served after the ReferenceGrant');
    await eventually(async () => (condition((await routeParents('ingress-nginx', 'shared')).status?.parents?.[0]?.conditions, 'ResolvedRefs')?.status === 'True' ? true : undefined), 30_000, 'ResolvedRefs True');
  }, 90_000);

  it('an edit moves observedGeneration and what is served', async () => {
    showLogs();
    await kc(['-n', 'rook-ceph', 'patch', 'httproute', 'rook-ceph-mgr-dashboard', '--type=merge', '-p', JSON.stringify({ spec: { rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/dashboard' } }], backendRefs: [{ name: 'rook-ceph-mgr-dashboard', port: 8443 }] }] } })]);
    await eventually(async () => ((await getWithHost(httpPort, HOST, '/')).status === 404 ? true : undefined), 30_000, 'old path no longer served');
    expect((await getWithHost(httpPort, HOST, '/dashboard/x')).status).toBe(200);
    await eventually(async () => {
      const route = await routeParents('rook-ceph', 'rook-ceph-mgr-dashboard');
      return condition(route.status?.parents?.[0]?.conditions, 'Accepted')?.observedGeneration === route.metadata.generation && route.metadata.generation > 1 ? true : undefined;
    }, 30_000, 'observedGeneration follows the edit');
  }, 90_000);
});
