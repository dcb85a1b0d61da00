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

const deploy = new URL('../../deploy/', import.meta.url).pathname;
const controlUser = 'system:serviceaccount:portico-system:portico-control';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/** `group/resource:verb` for every permission the deploy/ RBAC grants the control ServiceAccount. */
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
      return ip === '10.1.33.159' && events.trim() !== '' ? true : undefined;
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
});
