import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubernetesAuthenticator } from '@portico/control/auth/kubernetes';
import { ClusterController } from '@portico/control/controller';
import { PORTICO_CONTROLLER } from '@portico/control/ingress-class';
import { NodeMirror } from '@portico/control/nodes/mirror';
import { NodeRegistry } from '@portico/control/nodes';
import { pino } from 'pino';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { installGatewayCrds } from '../support/gateway-crds.ts';
import type { PodNetwork } from '../support/pod-network.ts';
import { createPodNetwork } from '../support/pod-network.ts';
import { childPids, rssBytes } from '../support/metrics.ts';
import { controlTlsSecret } from '../support/control-tls.ts';
import { BACKEND, getWithHost } from '../support/processes.ts';
import { defaultWorkers } from '@portico/dataplane/sizing';
import type { Container, K8sObject } from '../support/workloads.ts';
import { containerPort, parseObjects, podFromTemplate, probeReady, startContainer } from '../support/workloads.ts';

const deploy = new URL('../../deploy/', import.meta.url).pathname;
const controlUser = 'system:serviceaccount:portico-system:portico-control';

/** A Kubernetes quantity (`500m`, `2`, `512Mi`, `1Gi`) as a number (CPUs or bytes). */
function quantity(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi)?$/.exec(text);
  if (match === null) throw new Error(`quantity ${text} not understood here`);
  const scale = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * scale;
}

/** The cgroup files a container with this CPU limit sees (cgroup v2, period 100 ms). */
function sizingFiles(cpus: number): (path: string) => string | undefined {
  return (path) => ({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': `${Math.round(cpus * 100_000)} 100000\n` })[path];
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** `group/resource:verb` for every permission the deploy/ RBAC grants the control ServiceAccount. */
const GATEWAY_OBJECTS = [
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name: 'edge', namespace: 'rook-ceph' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
  {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: 'dashboard', namespace: 'rook-ceph' },
    spec: { parentRefs: [{ name: 'edge' }], hostnames: ['gw-dashboard.example.com'], rules: [{ backendRefs: [{ name: 'rook-ceph-mgr-dashboard', port: 8443 }] }] },
  },
  { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GRPCRoute', metadata: { name: 'rpc', namespace: 'rook-ceph' }, spec: { parentRefs: [{ name: 'edge' }], hostnames: ['gw-rpc.example.com'], rules: [{ backendRefs: [{ name: 'rook-ceph-mgr-dashboard', port: 8443 }] }] } },
]
  .map((o) => JSON.stringify(o))
  .join('\n');

async function grantedPermissions(): Promise<Set<string>> {
  const docs = parseAllDocuments(await readFile(join(deploy, 'base/rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: Rule[] });
  const granted = new Set<string>();
  for (const doc of docs) {
    if (doc.kind !== 'ClusterRole' && doc.kind !== 'Role') continue;
    for (const rule of doc.rules ?? []) for (const g of rule.apiGroups) for (const r of rule.resources) for (const v of rule.verbs) granted.add(`${g}/${r}:${v}`);
  }
  return granted;
}

describe('deploy/ manifests against a real kube-apiserver', () => {
  let cluster: TestCluster;
  let auditLog: string;
  const controllers: ClusterController[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-audit-'));
    const policy = join(dir, 'policy.yaml');
    auditLog = join(dir, 'audit.log');
    await writeFile(policy, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n');
    cluster = await startCluster({ apiserverArgs: [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`] });
  }, 240_000);

  afterAll(async () => {
    for (const c of controllers) await c.stop();
    await cluster?.destroy();
  });

  it.each(['.', 'hostnetwork'])('kubectl apply -k deploy/%s --dry-run=server accepts every object', async (variant) => {
    await kubectl(cluster.kubeconfig, ['apply', '-f', join(deploy, 'base/namespace.yaml')]);
    const out = await kubectl(cluster.kubeconfig, ['apply', '-k', join(deploy, variant), '--dry-run=server']);
    for (const kind of ['serviceaccount/portico-control', 'clusterrole.rbac.authorization.k8s.io/portico-control', 'ingressclass.networking.k8s.io/portico', 'deployment.apps/portico-control', 'daemonset.apps/portico-dataplane', 'poddisruptionbudget.policy/portico-dataplane']) {
      expect(out).toContain(kind);
    }
    expect(out.includes('service/portico-edge')).toBe(variant === '.');
  });

  it('grants the control ServiceAccount exactly the verbs and resources a real controller run uses', async () => {
    await kubectl(cluster.kubeconfig, ['apply', '-k', deploy]);
    for (const ns of ['rook-ceph']) await kubectl(cluster.kubeconfig, ['create', 'namespace', ns]);
    const dashboard = (await readFile(join(deploy, 'examples/dashboard.yaml'), 'utf8')).replaceAll('127.0.0.1', '10.244.1.17');
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], dashboard);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'ingress', 'broken', '--class=portico', '--rule=broken.example.com/=missing:80']);
    // Gateway API objects, so every Gateway API permission is exercised too.
    await installGatewayCrds(cluster.kubeconfig);
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], GATEWAY_OBJECTS);

    // A kubeconfig with the ServiceAccount's own token: anything RBAC lacks fails with 403.
    const token = (await kubectl(cluster.kubeconfig, ['-n', 'portico-system', 'create', 'token', 'portico-control'])).trim();
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ ...admin.getCurrentCluster()!, name: 'test' }],
      users: [{ name: 'portico-control', token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'portico-control' }],
      currentContext: 'test',
    });
    const run = async (options: { namespaces: string[]; publishService: string | undefined }, check: () => Promise<unknown>) => {
      const controller = new ClusterController({
        kubeConfig,
        selection: { className: 'portico', controller: PORTICO_CONTROLLER, watchWithoutClass: false },
        namespaces: options.namespaces,
        publishService: options.publishService,
        publishAddresses: [],
        dataPlaneSelector: 'app.kubernetes.io/component=dataplane',
        controlNamespace: 'portico-system',
        electionId: 'portico-controller',
        identity: `rbac-${controllers.length}`,
        debounceMs: 20,
        logger: pino({ level: 'silent' }),
        leaseDurationMs: 3000,
        retryMs: 200,
      });
      controllers.push(controller);
      await controller.start();
      // The control API authenticates and authorizes a caller with the ServiceAccount's own rights.
      const auth = new KubernetesAuthenticator({ kubeConfig, dataPlaneUsers: [] });
      const caller = await auth.authenticate(cluster.token);
      expect(caller?.username).toBeDefined();
      expect(await auth.authorize(caller!, { kind: 'read-snapshots' })).toEqual({ allowed: true });
      // Node status shared between replicas through Leases: written (created, then updated) and listed back.
      const nodes = new NodeRegistry();
      const mirror = new NodeMirror({ kubeConfig, namespace: 'portico-system', registry: nodes });
      nodes.report('edge-rbac', { version: 'sha256:one', ok: true });
      await mirror.syncOnce();
      nodes.report('edge-rbac', { version: 'sha256:two', ok: false, error: 'test' });
      await mirror.syncOnce();
      const shared = new NodeRegistry();
      await new NodeMirror({ kubeConfig, namespace: 'portico-system', registry: shared }).syncOnce();
      expect(shared.list().map((n) => [n.name, n.lastReport?.version])).toEqual([['edge-rbac', 'sha256:two']]);
      await eventually(check, 20_000, 'controller effect');
      await controller.stop();
    };
    // Namespaced, with the publish Service outside the watched namespaces (read with get): status and events.
    await run({ namespaces: ['rook-ceph'], publishService: 'portico-system/portico-edge' }, async () => {
      const ip = await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'get', 'ingress', 'rook-ceph-mgr-dashboard', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']);
      const events = await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'get', 'events', '-o', 'name']);
      // Gateway API status of every kind, written with the ServiceAccount's rights.
      const accepted = await Promise.all(
        [['gatewayclass', 'portico', '{.status.conditions[0].status}'], ['-n', 'rook-ceph', 'gateway', 'edge', '{.status.conditions[0].status}'], ['-n', 'rook-ceph', 'httproute', 'dashboard', '{.status.parents[0].conditions[0].status}'], ['-n', 'rook-ceph', 'grpcroute', 'rpc', '{.status.parents[0].conditions[0].status}']].map(async (args) =>
          kubectl(cluster.kubeconfig, ['get', ...args.slice(0, -1), '-o', `jsonpath=${args.at(-1)!}`]),
        ),
      );
      return ip === '10.1.33.159' && events.trim() !== '' && accepted.every((status) => status === 'True') ? true : undefined;
    });
    // Cluster-wide, hostNetwork style (no publish Service): data-plane pods are listed for addresses.
    await run({ namespaces: [], publishService: undefined }, async () => {
      const log = await readFile(auditLog, 'utf8');
      return log.split('\n').some((line) => line.includes(controlUser) && line.includes('"resource":"pods"')) ? true : undefined;
    });

    const used = new Set<string>();
    const forbidden: string[] = [];
    for (const line of (await readFile(auditLog, 'utf8')).split('\n')) {
      if (line === '') continue;
      const event = JSON.parse(line) as { stage: string; verb: string; user: { username: string }; objectRef?: { apiGroup?: string; resource?: string; subresource?: string }; responseStatus?: { code?: number } };
      if (event.user.username !== controlUser || event.stage !== 'ResponseComplete' || event.objectRef?.resource === undefined) continue;
      const permission = `${event.objectRef.apiGroup ?? ''}/${event.objectRef.resource}${event.objectRef.subresource ? `/${event.objectRef.subresource}` : ''}:${event.verb}`;
      used.add(permission);
      if (event.responseStatus?.code === 403) forbidden.push(permission);
    }
    expect(forbidden).toEqual([]);
    expect([...used].sort()).toEqual([...(await grantedPermissions())].sort());
  }, 120_000);

  it.each(['.', 'hostnetwork'])('deploy/%s as shipped: pods admitted; ENTRYPOINT + args + env of every container ready and serving the walkthrough', async (variant) => {
    const rendered = parseObjects(await kubectl(cluster.kubeconfig, ['kustomize', join(deploy, variant)]));
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], rendered.map((o) => JSON.stringify(o)).join('\n'));
    const workloads = rendered.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
    expect(workloads.map((w) => `${w.kind}/${w.metadata.name}`).sort()).toEqual(['DaemonSet/portico-dataplane', 'Deployment/portico-control']);

    // Pod Security admission checks Pods, not workloads: create the Pod each controller would.
    for (const workload of workloads) {
      const out = await kubectl(cluster.kubeconfig, ['create', '--dry-run=server', '-o', 'name', '-f', '-'], JSON.stringify(podFromTemplate(workload, `${workload.metadata.name}-admission`)));
      expect(out.trim()).toBe(`pod/${workload.metadata.name}-admission`);
    }

    const network: PodNetwork = await createPodNetwork();
    try {
      // What a cluster gives a pod and this machine cannot: the API server at an address pods reach
      // (a relay to the loopback API server, TLS still checked against its name) and ServiceAccount
      // credentials (a kubeconfig / token of the same ServiceAccount instead of the projected mount).
      const apiPort = await network.relay('127.0.0.1', cluster.port);
      const serviceAccountToken = async (name: string) => (await kubectl(cluster.kubeconfig, ['-n', 'portico-system', 'create', 'token', name])).trim();
      const admin = new KubeConfig();
      admin.loadFromFile(cluster.kubeconfig);
      const controlKubeconfig = join(await mkdtemp(join(tmpdir(), 'portico-sa-')), 'kubeconfig');
      await writeFile(
        controlKubeconfig,
        JSON.stringify({
          apiVersion: 'v1',
          kind: 'Config',
          clusters: [{ name: 'in-cluster', cluster: { server: `https://${network.hostAddress}:${apiPort}`, 'tls-server-name': 'localhost', 'certificate-authority-data': admin.getCurrentCluster()!.caData } }],
          users: [{ name: 'portico-control', user: { token: await serviceAccountToken('portico-control') } }],
          contexts: [{ name: 'in-cluster', context: { cluster: 'in-cluster', user: 'portico-control' } }],
          'current-context': 'in-cluster',
        }),
      );

      // The walkthrough's backend as a pod, its EndpointSlice pointing at the pod's address.
      const backend = await network.addPod('rook-ceph-mgr');
      const backendChild = backend.spawn(process.execPath, [BACKEND, '8443'], {});
      await new Promise<void>((resolve) => backendChild.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('listening') && resolve()));
      await kubectl(cluster.kubeconfig, ['create', 'namespace', 'rook-ceph']).catch(() => undefined);
      const dashboard = (await readFile(join(deploy, 'examples/dashboard.yaml'), 'utf8')).replaceAll('127.0.0.1', backend.address).replace(/port: 18443/, 'port: 8443');
      await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], dashboard);

      // The control API's certificate, generated and stored as docs/control-api.md tells operators to.
      const controlTls = controlTlsSecret(['portico-control.portico-system.svc', 'portico-control.portico-system.svc.cluster.local']);
      await kubectl(cluster.kubeconfig, ['-n', 'portico-system', 'delete', 'secret', 'portico-control-tls', '--ignore-not-found']);
      await kubectl(cluster.kubeconfig, ['-n', 'portico-system', 'create', 'secret', 'generic', 'portico-control-tls', ...Object.entries(controlTls).map(([key, value]) => `--from-literal=${key}=${value}`)]);
      const secrets = { 'portico-control-tls': controlTls };

      const started: { workload: K8sObject; container: Container; address: string; output: () => string; pid: number | undefined }[] = [];
      const control = workloads.find((w) => w.kind === 'Deployment')!;
      const controlPods = [];
      for (let replica = 0; replica < (control.spec!.replicas ?? 1); replica++) controlPods.push(await network.addPod(`portico-control-${replica}`));
      // The Service's cluster DNS name and VIP, stood in for by the first replica's address.
      await network.setHosts({ 'portico-control.portico-system.svc': controlPods[0]!.address, 'portico-control.portico-system.svc.cluster.local': controlPods[0]!.address });
      for (const pod of controlPods) {
        for (const container of control.spec!.template!.spec.containers) {
          const facts = { name: pod.name, namespace: 'portico-system', nodeName: 'node-1', podIP: pod.address };
          const { output, pid } = await startContainer(control, container, pod, facts, { KUBECONFIG: controlKubeconfig }, secrets);
          started.push({ workload: control, container, address: pod.address, output, pid });
        }
      }
      const dataplane = workloads.find((w) => w.kind === 'DaemonSet')!;
      const edge = await network.addPod('edge-1');
      const dataplaneToken = await serviceAccountToken('portico-dataplane');
      for (const container of dataplane.spec!.template!.spec.containers) {
        const facts = { name: 'portico-dataplane-edge-1', namespace: 'portico-system', nodeName: 'edge-1', podIP: edge.address };
        const { output, pid } = await startContainer(dataplane, container, edge, facts, { PORTICO_API_TOKEN: dataplaneToken }, secrets);
        started.push({ workload: dataplane, container, address: edge.address, output, pid });
      }

      for (const { workload, container, address, output } of started) {
        await eventually(async () => ((await probeReady(container, address)) ? true : undefined), 60_000, `${workload.metadata.name}/${container.name} at ${address} ready\n${output().slice(-2000)}`);
      }
      // The walkthrough, through the data plane's HTTP container port, as DNS would send a client.
      const dataplaneContainer = dataplane.spec!.template!.spec.containers[0]!;
      const httpPort = containerPort(dataplaneContainer, 'http');
      expect(httpPort).toBe(variant === 'hostnetwork' ? 80 : 8080);
      let last = '';
      const served = await eventually(async () => {
        const response = await getWithHost(httpPort, 'k8s-ceph-dashboard.calmkart.com', '/', edge.address, 2000);
        last = `${response.status} ${response.body}`;
        return response.status === 200 ? (JSON.parse(response.body) as { served_by: string }) : undefined;
      }, 30_000, 'the walkthrough served').catch((error: Error) => {
        throw new Error(`${error.message}; last answer: ${last}\n${started.map((s) => s.output().slice(-1500)).join('\n---\n')}`);
      });
      expect(served.served_by).toBe(`${backend.address}:8443`);

      // Sizing: the worker count the data plane derives from its CPU limit, and a memory limit that holds it.
      const resources = dataplaneContainer.resources!;
      const cpuLimit = quantity(resources.limits!.cpu!);
      const memoryLimit = quantity(resources.limits!.memory!);
      expect(quantity(resources.requests!.cpu!)).toBeLessThanOrEqual(cpuLimit);
      expect(quantity(resources.requests!.memory!)).toBeLessThanOrEqual(memoryLimit);
      const primary = started.find((s) => s.workload === dataplane)!.pid!;
      const workers = childPids(primary);
      expect(workers).toHaveLength(defaultWorkers(sizingFiles(cpuLimit)).workers);
      let rss = await rssBytes(primary);
      for (const worker of workers) rss += await rssBytes(worker);
      console.log(`deploy/${variant}: data plane with ${workers.length} workers (cpu limit ${cpuLimit}): ${Math.round(rss / 2 ** 20)} MiB RSS serving the walkthrough, memory limit ${Math.round(memoryLimit / 2 ** 20)} MiB`);
      // At most half the limit idle: the rest is for routing tables (one copy per worker) and connections.
      expect(rss).toBeLessThanOrEqual(memoryLimit / 2);
    } finally {
      await network.destroy();
    }
  }, 180_000);
});
