/**
 * Every endpoint over a real loopback socket (node-server adapter, real HTTP parsing, gzip,
 * long-polls held open), and the standalone store surviving a restart of the whole API.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';

const auth = { authorization: `Bearer ${TEST_TOKEN}` };
const jsonHeaders = { ...auth, 'content-type': 'application/json' };
const route = (name: string, host: string, path = '/') => ({ name, hosts: [host], paths: [{ path, backends: [{ service: 'web', port: 80 }] }] });

describe('control API over HTTP', () => {
  let dataDir: string;
  let control: TestControl;
  let server: Awaited<ReturnType<typeof listen>>;
  const objects = serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'portico-api-'));
    control = await testControl({ objects, dataDir, syncTimeoutMs: 2000 });
    server = await listen(control.app);
  });
  afterAll(async () => {
    await server?.close();
    control?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const call = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { ...auth, ...(init.headers as Record<string, string>) } });

  it('serves health, readiness, metrics and the OpenAPI 3.1 document without a token', async () => {
    expect(await (await fetch(`${server.url}/healthz`)).text()).toBe('ok\n');
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const name of ['portico_api_requests_total', 'portico_dataplane_nodes_connected', 'portico_snapshot_builds_total', 'portico_conditions']) expect(metrics).toContain(name);
    const document = await (await fetch(`${server.url}/openapi.json`)).json();
    expect(document.openapi).toBe('3.1.0');
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/routes', '/v1/routes/{namespace}/{name}', '/v1/snapshots', '/v1/snapshots/current', '/v1/snapshots/{version}', '/v1/snapshots/{from}/diff/{to}', '/v1/explain', '/v1/sync', '/v1/nodes', '/v1/nodes/{node}/status']));
    expect(document.paths['/v1/routes'].post.requestBody.content['application/yaml'].schema).toEqual({ $ref: '#/components/schemas/RouteBody' });
    expect((await fetch(`${server.url}/v1/routes`)).status).toBe(401);
  });

  it('creates, reads, lists, replaces, patches and deletes a route', async () => {
    const created = await call('/v1/routes', { method: 'POST', headers: jsonHeaders, body: JSON.stringify(route('web', 'h.example.com')) });
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag')!;
    expect((await (await call('/v1/routes')).json()).items).toHaveLength(1);
    const got = await call('/v1/routes/default/web');
    expect(got.headers.get('etag')).toBe(etag);
    const replaced = await call('/v1/routes/default/web', { method: 'PUT', headers: { ...jsonHeaders, 'if-match': etag }, body: JSON.stringify(route('web', 'h.example.com', '/v2')) });
    expect(replaced.status).toBe(200);
    const patched = await call('/v1/routes/default/web', { method: 'PATCH', headers: { ...auth, 'content-type': 'application/merge-patch+json', 'if-match': replaced.headers.get('etag')! }, body: '{"sslRedirect":false}' });
    expect(patched.status).toBe(200);
    expect((await patched.json()).route.sslRedirect).toBe(false);
    const yaml = 'name: yaml-route\nhosts: [y.example.com]\npaths:\n  - path: /\n    backends: [{service: web, port: 80}]\n';
    expect((await call('/v1/routes', { method: 'POST', headers: { ...auth, 'content-type': 'application/yaml' }, body: yaml })).status).toBe(201);
    expect((await call('/v1/routes/default/yaml-route', { method: 'DELETE' })).status).toBe(200);
  });

  it('lets exactly one of two concurrent writers win over real connections', async () => {
    const created = await call('/v1/routes', { method: 'POST', headers: jsonHeaders, body: JSON.stringify(route('race', 'race.example.com')) });
    const etag = created.headers.get('etag')!;
    const write = (path: string) => call('/v1/routes/default/race', { method: 'PUT', headers: { ...jsonHeaders, 'if-match': etag }, body: JSON.stringify(route('race', 'race.example.com', path)) });
    const answers = await Promise.all([write('/one'), write('/two')]);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 412]);
    const winner = await answers.find((a) => a.status === 200)!.json();
    expect((await (await call('/v1/routes/default/race')).json()).route.paths[0].path).toBe(winner.route.paths[0].path);
  });

  it('exports, lists and diffs snapshots (gzip on the wire), and explains', async () => {
    const list = await (await call('/v1/snapshots')).json();
    expect(list.items.length).toBeGreaterThan(2);
    const current = await call('/v1/snapshots/current', { headers: { 'accept-encoding': 'gzip' } });
    expect(current.headers.get('content-encoding')).toBe('gzip');
    const body = await current.json();
    expect(body.version).toBe(list.current);
    const byVersion = await (await call(`/v1/snapshots/${body.version}`)).json();
    expect(byVersion.snapshot).toEqual(body.snapshot);
    const diff = await (await call(`/v1/snapshots/${list.items.at(-1).version}/diff/current`)).json();
    expect(diff.hosts.added).toEqual(expect.arrayContaining(['h.example.com', 'race.example.com']));
    const explained = await (await call('/v1/explain', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ host: 'h.example.com', path: '/v2/x' }) })).json();
    expect(explained).toMatchObject({ status: 200, route: { name: 'web', path: '/v2' } });
  });

  it('long-polls /v1/sync, takes ACK/NACK, and lists nodes with the rollout', async () => {
    const first = await call('/v1/sync?node=edge-1');
    const { version } = await first.json();
    const held = call(`/v1/sync?node=edge-1&known=${version}&timeout=5`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await (await call('/v1/nodes')).json()).nodes[0]).toMatchObject({ name: 'edge-1', connected: true, address: '127.0.0.1' });
    await call('/v1/routes', { method: 'POST', headers: jsonHeaders, body: JSON.stringify(route('poke', 'poke.example.com')) });
    const answer = await held;
    expect(answer.status).toBe(200);
    const next = await answer.json();
    expect(next.version).not.toBe(version);
    expect((await call('/v1/nodes/edge-1/status', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ version: next.version, ok: true }) })).status).toBe(200);
    expect((await call('/v1/nodes/edge-2/status', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ version: next.version, ok: false, error: 'bad' }) })).status).toBe(200);
    const nodes = await (await call('/v1/nodes')).json();
    expect(nodes.rollout).toMatchObject({ version: next.version, updated: 1, total: 2, failed: 1 });
    expect((await call(`/v1/sync?node=edge-1&known=${next.version}&timeout=1`)).status).toBe(304);
  });

  it('keeps the routes across a restart of the whole API on the same data directory', async () => {
    const before = (await (await call('/v1/routes')).json()).items.map((r: { name: string; etag: string }) => `${r.name}@${r.etag}`);
    const snapshot = control.history.current()!.snapshot.version;
    await server.close();
    control.close();
    control = await testControl({ objects, dataDir });
    server = await listen(control.app);
    expect((await (await call('/v1/routes')).json()).items.map((r: { name: string; etag: string }) => `${r.name}@${r.etag}`)).toEqual(before);
    // Same state, same snapshot version: the history starts where it was.
    expect(control.history.current()!.snapshot.version).toBe(snapshot);
  });
});
