import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { createControlMetrics } from '@portico/control/api/metrics';
import type { ControlMetrics } from '@portico/control/api/metrics';
import { ClusterController } from '@portico/control/controller';
import { PORTICO_CONTROLLER } from '@portico/control/ingress-class';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

// The API server refuses loopback endpoint addresses; no traffic flows in this suite.
const dashboard = readFileSync(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8').replaceAll('127.0.0.1', '10.244.1.17');

const edgeService = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'ingress-nginx-controller', namespace: 'ingress-nginx' },
  spec: { type: 'ClusterIP', externalIPs: ['10.1.33.159'], ports: [{ name: 'http', port: 80 }, { name: 'https', port: 443 }] },
};

describe('cluster controller against a real kube-apiserver', () => {
  let cluster: TestCluster;
  const controllers: ClusterController[] = [];
  const metricsOf = new Map<ClusterController, ControlMetrics>();
  const logger = pino({ level: 'silent' });

  function controller(identity: string): ClusterController {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    const metrics = createControlMetrics();
    const c = new ClusterController({
      metrics,
      kubeConfig,
      selection: { className: 'portico', controller: PORTICO_CONTROLLER, watchWithoutClass: false },
      namespaces: [],
      publishService: 'ingress-nginx/ingress-nginx-controller',
      publishAddresses: [],
      dataPlaneSelector: 'app.kubernetes.io/component=dataplane',
      controlNamespace: 'portico-system',
      electionId: 'portico-controller',
      identity,
      debounceMs: 20,
      logger,
      leaseDurationMs: 3000,
      retryMs: 300,
    });
    controllers.push(c);
    metricsOf.set(c, metrics);
    return c;
  }

  const address = async (namespace: string, name: string) =>
    (await kubectl(cluster.kubeconfig, ['-n', namespace, 'get', 'ingress', name, '-o', 'jsonpath={.status.loadBalancer.ingress[*].ip}'])).trim();

  beforeAll(async () => {
    // Hand-written EndpointSlices only: the endpoint-only fast path test counts exactly the
    // snapshots its own patches cause, so no endpointslice controller may write slices alongside.
    cluster = await startCluster({ workloads: false });
    for (const ns of ['rook-ceph', 'ingress-nginx', 'portico-system', 'other']) await kubectl(cluster.kubeconfig, ['create', 'namespace', ns]);
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify(edgeService));
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], dashboard);
  }, 240_000);

  afterAll(async () => {
    for (const c of controllers) await c.stop();
    await cluster?.destroy();
  });

  it('publishes the externalIP of the publish Service as the Ingress ADDRESS (kubectl get ingress)', async () => {
    const first = controller('replica-a');
    await first.start();
    expect(first.ready).toBe(true);
    await eventually(async () => ((await address('rook-ceph', 'rook-ceph-mgr-dashboard')) === '10.1.33.159' ? true : undefined), 20_000, 'status address');
    const table = await kubectl(cluster.kubeconfig, ['get', 'ingress', '-n', 'rook-ceph']);
    expect(table).toMatch(/rook-ceph-mgr-dashboard\s+portico\s+k8s-ceph-dashboard\.calmkart\.com\s+10\.1\.33\.159\s+80/);
  }, 60_000);

  it('reports an invalid Ingress with a Warning Event naming field and reason', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'ingress', 'broken', '--class=portico', '--rule=broken.example.com/=no-such-service:80']);
    const events = await eventually(async () => {
      const out = await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'get', 'events', '--field-selector', 'involvedObject.name=broken', '-o', 'json']);
      const items = JSON.parse(out).items as { reason: string; message: string; type: string }[];
      return items.length > 0 ? items : undefined;
    }, 20_000, 'event');
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'ServiceNotFound' });
    expect(events[0]!.message).toContain('spec.rules[0].http.paths[0].backend.service.name');
  });

  it('refuses an Ingress with an access annotation Portico does not enforce: a Warning Event names the annotation, the route is refused in the snapshot', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'ingress', 'guarded', '--class=portico', '--rule=guarded.example.com/=rook-ceph-mgr-dashboard:8443', '--annotation=nginx.ingress.kubernetes.io/enable-modsecurity=true']);
    const events = await eventually(async () => {
      const out = await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'get', 'events', '--field-selector', 'involvedObject.name=guarded', '-o', 'json']);
      const items = (JSON.parse(out).items as { reason: string; message: string; type: string }[]).filter((e) => e.reason === 'AccessPolicyRefused');
      return items.length > 0 ? items : undefined;
    }, 20_000, 'AccessPolicyRefused event');
    expect(events[0]).toMatchObject({ type: 'Warning', reason: 'AccessPolicyRefused' });
    expect(events[0]!.message).toContain("metadata.annotations['nginx.ingress.kubernetes.io/enable-modsecurity']");
    const leader = controllers[0]!;
    const host = await eventually(() => leader.history.current()?.snapshot.hosts.find((h) => h.host === 'guarded.example.com'), 20_000, 'guarded host in the snapshot');
    expect(host.routes[0]!.refused).toContain('nginx.ingress.kubernetes.io/enable-modsecurity');
  });

  it('basic auth from an Opaque Secret: the controller holds only its auth key, and the route carries the htpasswd users instead of being refused', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'secret', 'generic', 'htpasswd', '--from-literal=auth=foo:{PLAIN}bar', '--from-literal=dbPassword=hunter2']);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'secret', 'generic', 'unrelated', '--from-literal=password=hunter3']);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'ingress', 'basic', '--class=portico', '--rule=basic.example.com/=rook-ceph-mgr-dashboard:8443', '--annotation=nginx.ingress.kubernetes.io/auth-type=basic', '--annotation=nginx.ingress.kubernetes.io/auth-secret=htpasswd', '--annotation=nginx.ingress.kubernetes.io/auth-realm=staff']);
    const leader = controllers[0]!;
    const route = await eventually(() => leader.history.current()?.snapshot.hosts.find((h) => h.host === 'basic.example.com')?.routes[0], 20_000, 'basic host in the snapshot');
    expect(route.refused).toBeUndefined();
    expect(route.policies?.access?.basic).toEqual({ realm: 'staff', users: [{ user: 'foo', hash: '{PLAIN}bar' }] });
    const held = leader.state.secrets.get('rook-ceph/htpasswd');
    expect(Object.keys(held?.data ?? {})).toEqual(['auth']);
    expect(leader.state.secrets.get('rook-ceph/unrelated')).toBeUndefined();
  });

  it("never touches another class's Ingress, and clears status when an Ingress leaves Portico's class", async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'other', 'create', 'ingress', 'theirs', '--class=nginx', '--rule=theirs.example.com/=svc:80']);
    await kubectl(cluster.kubeconfig, ['-n', 'other', 'create', 'ingress', 'leaving', '--class=portico', '--rule=leaving.example.com/=svc:80']);
    await eventually(async () => ((await address('other', 'leaving')) === '10.1.33.159' ? true : undefined), 20_000, 'status on leaving');
    expect(await address('other', 'theirs')).toBe('');
    await kubectl(cluster.kubeconfig, ['-n', 'other', 'patch', 'ingress', 'leaving', '--type=merge', '-p', '{"spec":{"ingressClassName":"nginx"}}']);
    await eventually(async () => ((await address('other', 'leaving')) === '' ? true : undefined), 20_000, 'status cleared');
  });

  it('takes the endpoint-only fast path for EndpointSlice churn', async () => {
    const leader = controllers[0]!;
    // Start from quiet: the status writes of the tests before have landed and their echoes (Ingress
    // updates, each a full rebuild) have been rebuilt, so any rebuild from here is the slice's.
    await leader.statusSettled();
    await eventually(() => (leader.state.ingresses.get('other/leaving')?.status as { loadBalancer?: { ingress?: unknown[] } } | undefined)?.loadBalancer?.ingress === undefined ? true : undefined, 10_000, 'status echo seen');
    let seen = -1;
    await eventually(async () => {
      const rebuilds = leader.stats.rebuilds;
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (rebuilds === seen && rebuilds === leader.stats.rebuilds) return true;
      seen = rebuilds;
      return undefined;
    }, 15_000, 'rebuilds settled');
    const before = { ...leader.stats };
    const version = leader.history.current()!.snapshot.version;
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'patch', 'endpointslice', 'rook-ceph-mgr-dashboard-demo', '--type=json', '-p', '[{"op":"add","path":"/endpoints/-","value":{"addresses":["10.244.1.18"]}}]']);
    await eventually(() => (leader.history.current()!.snapshot.version !== version ? true : undefined), 10_000, 'new snapshot');
    expect(leader.stats.endpointOnlyRebuilds).toBeGreaterThan(before.endpointOnlyRebuilds);
    expect(leader.stats.rebuilds).toBe(before.rebuilds);
    // Status reads nothing an EndpointSlice moves (the publish Service is watched): no pass over every Ingress per slice event.
    expect(leader.stats.statusPasses).toBe(before.statusPasses);
    expect(leader.history.current()!.changes!.endpoints.added).toEqual(['rook-ceph/rook-ceph-mgr-dashboard:8443 10.244.1.18:18443']);
  });

  it('writes status for a burst of Ingresses and for one created as the writes start, each exactly once', async () => {
    const leader = controllers[0]!;
    await leader.statusSettled();
    const before = leader.stats.statusWrites;
    const BURST = 120;
    await kubectl(cluster.kubeconfig, ['create', 'namespace', 'burst']);
    const items = Array.from({ length: BURST }, (_, i) => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: `burst-${i}`, namespace: 'burst' },
      spec: { ingressClassName: 'portico', rules: [{ host: `burst-${i}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } }] },
    }));
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    // Land one more once the writer has started on the burst (usually mid-pass; the unit tests pin that case down).
    await eventually(() => (leader.stats.statusWrites > before ? true : undefined), 20_000, 'burst writes started');
    await kubectl(cluster.kubeconfig, ['-n', 'burst', 'create', 'ingress', 'late', '--class=portico', '--rule=late.example.com/=svc:80']);
    const addressed = async () => {
      const list = JSON.parse(await kubectl(cluster.kubeconfig, ['-n', 'burst', 'get', 'ingress', '-o', 'json'])) as { items: { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }[] };
      return list.items.filter((i) => i.status?.loadBalancer?.ingress?.[0]?.ip === '10.1.33.159').length;
    };
    await eventually(async () => ((await addressed()) === BURST + 1 ? true : undefined), 30_000, 'every burst Ingress and the late one addressed');
    await leader.statusSettled();
    // Coalesced and never repeated for an object already written: one PATCH per Ingress.
    expect(leader.stats.statusWrites - before).toBe(BURST + 1);
    expect(leader.stats.statusPending).toBe(0);
    const metrics = await metricsOf.get(leader)!.registry.metrics();
    expect(Number(/^portico_status_writes_total\{result="written"\} (\d+)$/m.exec(metrics)?.[1])).toBe(leader.stats.statusWrites);
    expect(metrics).toContain('portico_status_pending 0');
    expect(metrics).toMatch(/^portico_events_total\{result="posted"\} [1-9]/m);
  }, 60_000);

  it('elects exactly one leader; a standby takes over when the leader stops', async () => {
    const first = controllers[0]!;
    const second = controller('replica-b');
    await second.start();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect([first.isLeader, second.isLeader]).toEqual([true, false]);
    await first.stop();
    controllers.shift();
    await eventually(() => (second.isLeader ? true : undefined), 10_000, 'failover');
    // The new leader keeps status current: a new Ingress gets its address.
    await kubectl(cluster.kubeconfig, ['-n', 'other', 'create', 'ingress', 'after-failover', '--class=portico', '--rule=after.example.com/=svc:80']);
    await eventually(async () => ((await address('other', 'after-failover')) === '10.1.33.159' ? true : undefined), 20_000, 'status after failover');
  }, 60_000);
});
