/**
 * The control API in cluster mode against a real kube-apiserver: callers authenticated with
 * TokenReview, authorized with SubjectAccessReview on the equivalent Ingress verb (never more
 * than kubectl would allow), data planes recognised by their ServiceAccount, route writes landing
 * as labelled Ingresses written with the caller's own token. The control plane runs with the
 * deploy/ RBAC of its ServiceAccount.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { ControlApi } from '@portico/control/api';
import { createApp } from '@portico/control/api';
import { servedFrom } from '@portico/control/api/conflicts';
import { KubernetesAuthenticator } from '@portico/control/auth/kubernetes';
import { ClusterController } from '@portico/control/controller';
import { PORTICO_CONTROLLER } from '@portico/control/ingress-class';
import { KubernetesRouteStore } from '@portico/control/store/kubernetes';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

const deploy = new URL('../../deploy/', import.meta.url).pathname;
const selection = { className: 'portico', controller: PORTICO_CONTROLLER, watchWithoutClass: true };
const route = (name: string, host: string, path = '/') => ({ name, hosts: [host], paths: [{ path, backends: [{ service: 'web', port: 80 }] }] });

/** RBAC of the test users: alice edits Ingresses in team-a only; viewer reads Ingresses everywhere. */
const users = `
apiVersion: v1
kind: ServiceAccount
metadata: { name: alice, namespace: team-a }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: viewer, namespace: team-a }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: { name: ingress-editor, namespace: team-a }
rules:
  - { apiGroups: [networking.k8s.io], resources: [ingresses], verbs: [get, list, watch, create, update, patch, delete] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: alice-edits, namespace: team-a }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: ingress-editor }
subjects: [{ kind: ServiceAccount, name: alice, namespace: team-a }]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: ingress-viewer }
rules:
  - { apiGroups: [networking.k8s.io], resources: [ingresses], verbs: [get, list] }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: viewer-reads }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ingress-viewer }
subjects: [{ kind: ServiceAccount, name: viewer, namespace: team-a }]
`;

describe('control API authentication and authorization (cluster mode)', () => {
  let cluster: TestCluster;
  let controller: ClusterController;
  let api: ControlApi;
  const tokens: Record<string, string> = {};

  const call = (who: string | undefined, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (who !== undefined) headers.set('authorization', `Bearer ${tokens[who] ?? who}`);
    if (init.body !== undefined) headers.set('content-type', 'application/json');
    return api.app.request(path, { ...init, headers });
  };
  const code = async (response: Response) => ({ status: response.status, code: response.status >= 400 ? ((await response.json()) as { code: string }).code : undefined });

  beforeAll(async () => {
    cluster = await startCluster();
    await kubectl(cluster.kubeconfig, ['apply', '-f', `${deploy}base/namespace.yaml`]);
    await kubectl(cluster.kubeconfig, ['apply', '-f', `${deploy}base/rbac.yaml`]);
    for (const ns of ['team-a', 'team-b']) await kubectl(cluster.kubeconfig, ['create', 'namespace', ns]);
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], users);
    const token = async (namespace: string, name: string) => (await kubectl(cluster.kubeconfig, ['-n', namespace, 'create', 'token', name])).trim();
    tokens.alice = await token('team-a', 'alice');
    tokens.viewer = await token('team-a', 'viewer');
    tokens.dataplane = await token('portico-system', 'portico-dataplane');
    tokens.admin = cluster.token;

    // The control plane authenticates to the API server as its own ServiceAccount, with the deploy/ RBAC.
    const admin = new KubeConfig();
    admin.loadFromFile(cluster.kubeconfig);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [{ ...admin.getCurrentCluster()!, name: 'test' }],
      users: [{ name: 'portico-control', token: await token('portico-system', 'portico-control') }],
      contexts: [{ name: 'test', cluster: 'test', user: 'portico-control' }],
      currentContext: 'test',
    });
    controller = new ClusterController({
      kubeConfig,
      selection,
      namespaces: [],
      publishService: undefined,
      publishAddresses: ['10.1.2.3'],
      dataPlaneSelector: 'app.kubernetes.io/component=dataplane',
      controlNamespace: 'portico-system',
      electionId: 'portico-controller',
      identity: 'api-auth',
      debounceMs: 20,
      logger: pino({ level: 'silent' }),
      leaseDurationMs: 3000,
      retryMs: 300,
    });
    await controller.start();
    api = createApp({
      history: controller.history,
      store: new KubernetesRouteStore({ kubeConfig }),
      auth: new KubernetesAuthenticator({ kubeConfig, dataPlaneUsers: ['system:serviceaccount:portico-system:portico-dataplane'] }),
      served: servedFrom(controller.state, selection),
      ready: () => controller.ready,
    });
  }, 240_000);

  afterAll(async () => {
    await controller?.stop();
    await cluster?.destroy();
  });

  it('401 without a token or with one the API server does not know', async () => {
    expect(await code(await call(undefined, '/v1/routes'))).toEqual({ status: 401, code: 'PORTICO_E_UNAUTHENTICATED' });
    expect(await code(await call('not-a-real-token', '/v1/routes'))).toEqual({ status: 401, code: 'PORTICO_E_UNAUTHENTICATED' });
  });

  it('lets alice do in team-a exactly what RBAC lets her do with kubectl, and nothing elsewhere', async () => {
    expect((await call('alice', '/v1/routes?namespace=team-a')).status).toBe(200);
    const clusterWide = await call('alice', '/v1/routes');
    expect(clusterWide.status).toBe(403);
    expect(((await clusterWide.json()) as { detail: string }).detail).toContain('may not list ingresses.networking.k8s.io at the cluster scope');
    // POST names its namespace in the URL, so permission is checked before the body is parsed.
    const noNamespace = await call('alice', '/v1/routes', { method: 'POST', body: JSON.stringify({ ...route('shop', 'shop.example.com'), namespace: 'team-a' }) });
    expect(((await noNamespace.json()) as { detail: string }).detail).toContain('?namespace=NS');
    const created = await call('alice', '/v1/routes?namespace=team-a', { method: 'POST', body: JSON.stringify({ ...route('shop', 'shop.example.com'), namespace: 'team-a' }) });
    expect(created.status).toBe(201);
    const label = await kubectl(cluster.kubeconfig, ['-n', 'team-a', 'get', 'ingress', 'shop', '-o', 'jsonpath={.metadata.labels.app\\.kubernetes\\.io/managed-by}']);
    expect(label).toBe('portico');
    expect(await code(await call('alice', '/v1/routes', { method: 'POST', body: JSON.stringify({ ...route('shop', 'shop-b.example.com'), namespace: 'team-b' }) }))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
    expect((await call('alice', '/v1/routes/team-a/shop', { method: 'DELETE', headers: { 'if-match': '"0"' } })).status).toBe(412);
    expect(await code(await call('alice', '/v1/snapshots'))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
    expect(await code(await call('alice', '/v1/sync?node=n1'))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
  });

  it('lets a cluster-wide reader read snapshots, nodes and explain, but not write', async () => {
    expect((await call('viewer', '/v1/snapshots')).status).toBe(200);
    expect((await call('viewer', '/v1/nodes')).status).toBe(200);
    expect((await call('viewer', '/v1/explain', { method: 'POST', body: JSON.stringify({ host: 'x.example.com', path: '/' }) })).status).toBe(200);
    expect((await call('viewer', '/v1/routes')).status).toBe(200);
    expect(await code(await call('viewer', '/v1/routes', { method: 'POST', body: JSON.stringify({ ...route('nope', 'nope.example.com'), namespace: 'team-a' }) }))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
  });

  it('recognises the data plane by its ServiceAccount: sync, snapshots and status only', async () => {
    const sync = await call('dataplane', '/v1/sync?node=edge-1');
    expect(sync.status).toBe(200);
    const body = (await sync.json()) as { type: string; version: string };
    expect(body.type).toBe('full');
    expect((await call('dataplane', '/v1/nodes/edge-1/status', { method: 'POST', body: JSON.stringify({ version: body.version, ok: true }) })).status).toBe(200);
    expect((await call('dataplane', '/v1/snapshots/current')).status).toBe(200);
    expect(await code(await call('dataplane', '/v1/routes'))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
    expect(await code(await call('dataplane', '/v1/routes', { method: 'POST', body: JSON.stringify({ ...route('dp', 'dp.example.com'), namespace: 'team-a' }) }))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
    // Even a cluster admin is no data plane: full snapshots carry TLS keys.
    expect(await code(await call('admin', '/v1/sync?node=edge-1'))).toEqual({ status: 403, code: 'PORTICO_E_FORBIDDEN' });
  });

  it('uses resourceVersion as ETag: of two concurrent writers exactly one wins', async () => {
    const created = await call('admin', '/v1/routes', { method: 'POST', body: JSON.stringify({ ...route('race', 'race.example.com'), namespace: 'team-b' }) });
    expect(created.status).toBe(201);
    // The leader writes the Ingress status right after, which moves the resourceVersion: wait for it.
    await eventually(async () => ((await kubectl(cluster.kubeconfig, ['-n', 'team-b', 'get', 'ingress', 'race', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])) === '10.1.2.3' ? true : undefined), 10_000, 'status');
    const etag = (await call('admin', '/v1/routes/team-b/race')).headers.get('etag')!;
    const rv = await kubectl(cluster.kubeconfig, ['-n', 'team-b', 'get', 'ingress', 'race', '-o', 'jsonpath={.metadata.resourceVersion}']);
    expect(etag).toBe(`"${rv}"`);
    const write = (path: string) => call('admin', '/v1/routes/team-b/race', { method: 'PUT', headers: { 'if-match': etag }, body: JSON.stringify(route('race', 'race.example.com', path)) });
    const answers = await Promise.all([write('/one'), write('/two')]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 412]);
  });

  it('never takes over an Ingress applied with kubectl, and reports conflicts with it', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'team-a', 'create', 'ingress', 'handmade', '--class=portico', '--rule=hand.example.com/*=web:80']);
    expect(await code(await call('admin', '/v1/routes/team-a/handmade'))).toEqual({ status: 404, code: 'PORTICO_E_NOT_FOUND' });
    expect(await code(await call('admin', '/v1/routes/team-a/handmade', { method: 'PUT', body: JSON.stringify(route('handmade', 'other.example.com')) }))).toEqual({ status: 409, code: 'PORTICO_E_ROUTE_EXISTS' });
    await eventually(() => (controller.state.ingresses.has('team-a/handmade') ? true : undefined), 10_000, 'informer sees the Ingress');
    const conflict = await call('alice', '/v1/routes?namespace=team-a', { method: 'POST', body: JSON.stringify({ ...route('copycat', 'hand.example.com'), namespace: 'team-a' }) });
    expect(conflict.status).toBe(409);
    expect(((await conflict.json()) as { conflicts: { name: string }[] }).conflicts[0]!.name).toBe('handmade');
    const list = (await (await call('admin', '/v1/routes')).json()) as { items: { name: string }[] };
    expect(list.items.map((i) => i.name)).not.toContain('handmade');
  });

  it('caches reviews: repeated calls with one token cost no further TokenReviews', async () => {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    const auth = new KubernetesAuthenticator({ kubeConfig, dataPlaneUsers: [] });
    const principal = (await auth.authenticate(tokens.viewer!))!;
    await auth.authenticate(tokens.viewer!);
    await auth.authorize(principal, { kind: 'read-snapshots' });
    await auth.authorize(principal, { kind: 'read-snapshots' });
    expect(auth.stats).toEqual({ tokenReviews: 1, accessReviews: 1 });
    expect(principal.username).toBe('system:serviceaccount:team-a:viewer');
  });
});
