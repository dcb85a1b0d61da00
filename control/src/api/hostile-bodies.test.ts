/**
 * Hostile request bodies (issue 9 row 3/10): bodies that made the YAML duplicate-key check run
 * for minutes, duplicate JSON keys, bodies nested 100k deep and oversized bodies all answer a
 * fast 4xx naming the limit, parsed off the event loop: a request sent after them is answered
 * first. And authorization comes before any parsing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiAction, Authenticator, Decision, Principal } from '../auth/types.ts';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';

const auth = { authorization: `Bearer ${TEST_TOKEN}` };

/** `k0: 0\nk1: 1\n…` up to about `bytes` bytes: distinct keys, the quadratic case of the old check. */
function manyKeysYaml(bytes: number): string {
  const lines: string[] = ['name: many'];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `k${i}: ${i}`;
    lines.push(line);
    size += line.length + 1;
  }
  return lines.join('\n');
}

function manyKeysJson(count: number): string {
  return `{${Array.from({ length: count }, (_, i) => `"k${i}":${i}`).join(',')}}`;
}

/** Just under 1 MiB and 10,000 keys: parsed in full, then refused by route validation. */
const LARGEST_ALLOWED = ['name: largest', ...Array.from({ length: 9_900 }, (_, i) => `k${String(i).padStart(5, '0')}: ${'v'.repeat(95)}`)].join('\n');

const deepJson = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

interface Hostile {
  readonly name: string;
  readonly method: 'POST' | 'PUT' | 'PATCH';
  readonly path: string;
  readonly type: string;
  readonly body: string;
  readonly status: number;
  readonly code: string;
  readonly detail: RegExp;
}

const HOSTILE: Hostile[] = [
  { name: 'YAML, 1 MiB under every limit (9.9k keys, long values): the largest allowed parse', method: 'POST', path: '/v1/routes', type: 'application/yaml', body: LARGEST_ALLOWED, status: 422, code: 'PORTICO_E_ROUTE_INVALID', detail: /./ },
  { name: 'YAML, 189 KB of distinct keys (froze the process 47 s)', method: 'POST', path: '/v1/routes', type: 'application/yaml', body: manyKeysYaml(189 * 1024), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /keys limit: more than 10000 keys/ },
  { name: 'YAML, ~1 MB of distinct keys (12 minutes)', method: 'POST', path: '/v1/routes', type: 'application/yaml', body: manyKeysYaml(1000 * 1000), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /keys limit: more than 10000 keys/ },
  { name: 'JSON, 60k distinct keys', method: 'POST', path: '/v1/routes', type: 'application/json', body: manyKeysJson(60_000), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /keys limit/ },
  { name: 'JSON, duplicate key', method: 'POST', path: '/v1/routes', type: 'application/json', body: '{"name":"a","hosts":["a.example.com"],"name":"b"}', status: 400, code: 'PORTICO_E_BAD_REQUEST', detail: /duplicate key "name" at line 1, column 39/ },
  { name: 'YAML, duplicate key', method: 'POST', path: '/v1/routes', type: 'application/yaml', body: 'name: a\nhosts: [a.example.com]\nname: b\n', status: 400, code: 'PORTICO_E_BAD_REQUEST', detail: /duplicate key "name" at line 3/ },
  { name: 'PUT JSON nested 100k deep', method: 'PUT', path: '/v1/routes/default/deep', type: 'application/json', body: deepJson(100_000), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /depth limit: nested deeper than 64 levels/ },
  { name: 'PATCH merge patch nested 100k deep', method: 'PATCH', path: '/v1/routes/default/existing', type: 'application/merge-patch+json', body: deepJson(100_000), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /depth limit/ },
  { name: 'YAML flow nested 100k deep', method: 'PUT', path: '/v1/routes/default/deep', type: 'application/yaml', body: '['.repeat(100_000) + ']'.repeat(100_000), status: 422, code: 'PORTICO_E_BODY_LIMIT', detail: /depth limit/ },
  { name: 'larger than 1 MiB', method: 'POST', path: '/v1/routes', type: 'application/json', body: `{"name":"${'x'.repeat(1024 * 1024)}"}`, status: 413, code: 'PORTICO_E_PAYLOAD_TOO_LARGE', detail: /1048576 bytes/ },
];

describe('hostile bodies', () => {
  let control: TestControl;
  let server: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']) });
    server = await listen(control.app);
    const created = await control.request('/v1/routes', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'existing', hosts: ['existing.example.com'], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] }) });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    control?.close();
  });

  it('answers every hostile body with a 4xx naming the limit, while a request sent after them is answered first', async () => {
    const order: string[] = [];
    const hostile = HOSTILE.map(async (h) => {
      const response = await fetch(`${server.url}${h.path}`, { method: h.method, headers: { ...auth, 'content-type': h.type }, body: h.body });
      const problem = (await response.json()) as { code: string; detail: string };
      order.push(h.name);
      return { name: h.name, status: response.status, code: problem.code, detail: problem.detail };
    });
    // Sent after every hostile body; the event loop is free, so it is answered before the parses end.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const health = fetch(`${server.url}/healthz`).then(async (response) => {
      order.push('healthz');
      return response.status;
    });
    const results = await Promise.all(hostile);
    expect(await health).toBe(200);
    for (const [index, h] of HOSTILE.entries()) {
      expect(results[index], h.name).toMatchObject({ status: h.status, code: h.code });
      expect(results[index]!.detail, h.name).toMatch(h.detail);
    }
    // The largest allowed body needs the longest parse; the health check never waits for it.
    expect(order.indexOf('healthz')).toBeLessThan(order.indexOf(HOSTILE[0]!.name));
    // Nothing was written by any of them.
    expect((await (await control.request('/v1/routes')).json()).items.map((r: { name: string }) => r.name)).toEqual(['existing']);
  }, 60_000);
});

/** Allows only `create`/`update` of Ingresses in namespace `team-a`, and counts decisions. */
class TeamAuthenticator implements Authenticator {
  readonly kind = 'test';
  readonly asked: ApiAction[] = [];
  async authenticate(token: string): Promise<Principal | undefined> {
    return token === TEST_TOKEN ? { username: 'alice', dataPlane: false, token } : undefined;
  }
  async authorize(_principal: Principal, action: ApiAction): Promise<Decision> {
    this.asked.push(action);
    const allowed = action.kind === 'ingresses' && action.namespace === 'team-a';
    return allowed ? { allowed } : { allowed, reason: `alice may not ${action.kind === 'ingresses' ? action.verb : action.kind} ingresses in ${action.kind === 'ingresses' ? (action.namespace ?? 'all namespaces') : '-'}` };
  }
}

describe('authorization before parsing', () => {
  let control: TestControl;
  const authenticator = new TeamAuthenticator();

  beforeAll(async () => {
    control = await testControl({ objects: serviceWithEndpoints('team-a', 'web', 80, ['10.0.0.1']), auth: authenticator });
  });
  afterAll(() => control?.close());

  const send = (method: string, path: string, body: string, type = 'application/json') => control.request(path, { method, headers: { 'content-type': type }, body });

  it.each([
    ['PUT', '/v1/routes/team-b/x'],
    ['PATCH', '/v1/routes/team-b/x'],
    ['POST', '/v1/routes'],
    ['POST', '/v1/routes?namespace=team-b'],
  ])('%s %s with a malformed body it may not write: 403, not a parse error', async (method, path) => {
    const response = await send(method, path, deepJson(100_000), method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('PORTICO_E_FORBIDDEN');
  });

  it('POST without ?namespace= says how to create in one namespace; with it, creates there', async () => {
    const route = { name: 'shop', hosts: ['shop.example.com'], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] };
    const denied = await send('POST', '/v1/routes', JSON.stringify({ ...route, namespace: 'team-a' }));
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { detail: string }).detail).toMatch(/POST \/v1\/routes\?namespace=NS/);
    const created = await send('POST', '/v1/routes?namespace=team-a', JSON.stringify(route));
    expect(created.status).toBe(201);
    expect(((await created.json()) as { namespace: string }).namespace).toBe('team-a');
    const elsewhere = await send('POST', '/v1/routes?namespace=team-a', JSON.stringify({ ...route, name: 'shop2', namespace: 'team-b' }));
    expect(elsewhere.status).toBe(422);
  });
});
