import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from './app.ts';
import { StaticTokenAuthenticator } from '../auth/token.ts';
import { SnapshotHistory } from '../publish/history.ts';
import { SqliteRouteStore } from '../sources/store/sqlite.ts';
import type { KubeObject } from '../state/objects.ts';
import { Explainer } from '../explain/explain.ts';
import { sealSnapshot } from '../snapshot/schema.ts';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, selfSignedTlsSecret, serviceWithEndpoints, testControl } from './test-support.ts';

const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const route = (name: string, host: string, extra: Record<string, unknown> = {}) => ({ name, hosts: [host], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }], ...extra });

let control: TestControl;
beforeEach(async () => {
  control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']) });
});
afterEach(() => control.close());

describe('snapshot history, export and diff', () => {
  it('lists versions newest first with change counts and conditions', async () => {
    await control.request('/v1/routes', json(route('a', 'a.example.com')));
    await control.request('/v1/routes', json(route('broken', 'b.example.com', { paths: [{ path: '/', backends: [{ service: 'missing', port: 80 }] }] })));
    const list = await (await control.request('/v1/snapshots')).json();
    expect(list.items).toHaveLength(3);
    expect(list.items[0]).toMatchObject({ current: true, version: list.current, changes: { hosts: 1, routes: 1, onlyEndpoints: false } });
    expect(list.items[0].conditions).toEqual([expect.objectContaining({ reason: 'ServiceNotFound', source: { kind: 'Ingress', namespace: 'default', name: 'broken' } })]);
    expect(list.items[2].changes).toBeNull();
  });

  it('marks only the newest publication of a version current when it is published again (undone change)', async () => {
    await control.request('/v1/routes', json(route('a', 'a.example.com')));
    const withA = (await (await control.request('/v1/snapshots')).json()).current;
    await control.request('/v1/routes', json(route('b', 'b.example.com')));
    expect((await control.request('/v1/routes/default/b', { method: 'DELETE' })).status).toBe(200);
    const list = await (await control.request('/v1/snapshots')).json();
    expect(list.current).toBe(withA);
    expect(list.items.filter((item: { version: string }) => item.version === withA)).toHaveLength(2);
    expect(list.items.map((item: { current: boolean }) => item.current)).toEqual([true, false, false, false]);
  });

  it('exports the current and any retained version (by prefix too), with ETag and 304', async () => {
    await control.request('/v1/routes', json(route('a', 'a.example.com')));
    const current = await control.request('/v1/snapshots/current');
    expect(current.status).toBe(200);
    const body = await current.json();
    expect(body.snapshot.hosts.map((h: { host: string }) => h.host)).toEqual(['a.example.com']);
    expect(current.headers.get('etag')).toBe(`"${body.version}"`);
    const byPrefix = await control.request(`/v1/snapshots/${body.version.slice(7, 19)}`);
    expect((await byPrefix.json()).version).toBe(body.version);
    expect((await control.request(`/v1/snapshots/${body.version}`, { headers: { 'if-none-match': `"${body.version}"` } })).status).toBe(304);
    const unknown = await control.request(`/v1/snapshots/sha256:${'0'.repeat(64)}`);
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).code).toBe('PORTICO_E_NOT_FOUND');
  });

  it('gzips large exports when asked, and redacts TLS private keys (sync keeps them)', async () => {
    const { privateKeyPem, ...secret } = selfSignedTlsSecret('default', 's-tls');
    control.state.upsert(secret as KubeObject);
    for (let i = 0; i < 20; i++) await control.request('/v1/routes', json(route(`r${i}`, `h${i}.example.com`, { tls: { secretName: 's-tls' } })));
    const response = await control.request('/v1/snapshots/current', { headers: { 'accept-encoding': 'gzip' } });
    expect(response.headers.get('content-encoding')).toBe('gzip');
    const text = gunzipSync(Buffer.from(await response.arrayBuffer())).toString('utf8');
    const exported = JSON.parse(text);
    expect(exported.snapshot.certificates).toHaveLength(1);
    expect(exported.snapshot.certificates[0].privateKeyPem).toMatch(/^<redacted sha256:[0-9a-f]{64}>$/);
    expect(text).not.toContain(privateKeyPem.split('\n')[1]);
    const sync = await (await control.request('/v1/sync?node=n1')).json();
    expect(sync.snapshot.certificates[0].privateKeyPem).toBe(privateKeyPem);
  });

  it('diffs two versions and flags endpoint-only changes', async () => {
    const first = control.history.current()!.snapshot.version;
    await control.request('/v1/routes', json(route('a', 'a.example.com')));
    const second = control.history.current()!.snapshot.version;
    const diff = await (await control.request(`/v1/snapshots/${first}/diff/${second}`)).json();
    expect(diff).toMatchObject({ from: first, to: second, onlyEndpoints: false, hosts: { added: ['a.example.com'] }, routes: { added: ['a.example.com Prefix /'] } });
    control.state.upsert(serviceWithEndpoints('default', 'web', 80, ['10.0.0.1', '10.0.0.2'])[1]!);
    control.rebuild();
    const endpoints = await (await control.request(`/v1/snapshots/${second}/diff/current`)).json();
    expect(endpoints).toMatchObject({ onlyEndpoints: true, endpoints: { added: ['default/web:80 10.0.0.2:8080'] } });
  });

  it('answers 503 and is not ready before the first snapshot', async () => {
    const empty = createApp({ history: new SnapshotHistory(), store: new SqliteRouteStore({ dataDir: ':memory:' }), auth: new StaticTokenAuthenticator(TEST_TOKEN) });
    const headers = { authorization: `Bearer ${TEST_TOKEN}` };
    expect((await empty.app.request('/readyz')).status).toBe(503);
    expect((await empty.app.request('/healthz')).status).toBe(200);
    const current = await empty.app.request('/v1/snapshots/current', { headers });
    expect(current.status).toBe(503);
    expect((await current.json()).code).toBe('PORTICO_E_NOT_READY');
    expect((await empty.app.request('/v1/explain', { ...json({ host: 'a', path: '/' }), headers: { ...headers, 'content-type': 'application/json' } })).status).toBe(503);
  });
});

describe('explain', () => {
  it('gives the same answer as the Explainer, losers included, for the current or a given version', async () => {
    await control.request('/v1/routes', json({ name: 'api', hosts: ['e.example.com'], paths: [{ path: '/api', backends: [{ service: 'web', port: 80 }] }, { path: '/', backends: [{ service: 'web', port: 80 }] }] }));
    const request = { host: 'e.example.com', path: '/api/users', method: 'GET', headers: { 'X-Test': '1' } };
    const answer = await (await control.request('/v1/explain', json(request))).json();
    const expected = new Explainer(control.history.current()!.snapshot).explain(request);
    expect(answer).toEqual({ version: control.history.current()!.snapshot.version, ...expected });
    expect(answer.lost).toEqual([expect.objectContaining({ reason: expect.stringContaining('longer (or Exact) rule wins') })]);
    const older = control.history.list()[1]!.version;
    const then = await (await control.request('/v1/explain', json({ ...request, version: older }))).json();
    expect(then).toMatchObject({ version: older, status: 404 });
  });

  it('validates the request (422 with pointers) and redirects like the data plane', async () => {
    const bad = await control.request('/v1/explain', json({ host: '', path: 'relative', extra: 1 }));
    expect(bad.status).toBe(422);
    expect((await bad.json()).errors.map((e: { pointer: string }) => e.pointer).sort()).toEqual(['', '/host', '/path']);
    await control.request('/v1/routes', json(route('force', 'f.example.com', { forceSslRedirect: true })));
    const redirect = await (await control.request('/v1/explain', json({ host: 'f.example.com', path: '/x?y=1' }))).json();
    expect(redirect).toMatchObject({ status: 308, location: 'https://f.example.com/x?y=1' });
  });

  it('explains the normalized path, as the data plane matches it, and refuses an escaped traversal', async () => {
    await control.request('/v1/routes', json({ name: 'pub', hosts: ['n.example.com'], paths: [{ path: '/public', pathType: 'Prefix', backends: [{ service: 'web', port: 80 }] }] }));
    const climbed = await (await control.request('/v1/explain', json({ host: 'n.example.com', path: '/public/%2e%2e/internal' }))).json();
    expect(climbed).toMatchObject({ status: 404, normalizedPath: '/internal' });
    const inside = await (await control.request('/v1/explain', json({ host: 'n.example.com', path: '/public/./a//b?q=1' }))).json();
    expect(inside).toMatchObject({ status: 200, normalizedPath: '/public/a/b?q=1' });
    const hidden = await (await control.request('/v1/explain', json({ host: 'n.example.com', path: '/public/..%2finternal' }))).json();
    expect(hidden).toMatchObject({ status: 400, reason: expect.stringContaining('escaped-traversal') });
  });
});

describe('sealSnapshot sanity for test fixtures', () => {
  it('the test control publishes verifiable snapshots', () => {
    const { version, ...content } = control.history.current()!.snapshot;
    expect(sealSnapshot(content).version).toBe(version);
  });
});

describe('bounded history', () => {
  it('keeps older versions as summaries beyond the budget: listed, but exports, diffs and explain answer 410', async () => {
    const small = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), history: { fullVersions: 1 } });
    try {
      const first = small.history.current()!.version;
      await small.request('/v1/routes', json(route('a', 'a.example.com')));
      const second = small.history.current()!.version;
      await small.request('/v1/routes', json(route('b', 'b.example.com')));
      const list = await (await small.request('/v1/snapshots')).json();
      expect(list.items.map((item: { retained: boolean }) => item.retained)).toEqual([true, true, false]);
      expect(list.items[2]).toMatchObject({ version: first, conditions: [], conditionCount: 0, changes: null });
      expect(list.items[1]).toMatchObject({ version: second, changes: { hosts: 1, routes: 1 } });
      for (const path of [`/v1/snapshots/${first}`, `/v1/snapshots/${first}/diff/current`]) {
        const gone = await small.request(path);
        expect(gone.status).toBe(410);
        expect((await gone.json()).code).toBe('PORTICO_E_GONE');
      }
      expect((await small.request('/v1/explain', json({ host: 'a.example.com', path: '/', version: first }))).status).toBe(410);
      expect((await small.request(`/v1/snapshots/${second}/diff/current`)).status).toBe(200);
      // A node still on the summarized version gets the full snapshot instead of a delta.
      expect((await small.request(`/v1/sync?node=n1&known=${first}`)).headers.get('x-portico-change')).toBe('full');
      expect((await small.request(`/v1/sync?node=n1&known=${second}`)).headers.get('x-portico-change')).toBe('delta');
    } finally {
      small.close();
    }
  });
});
