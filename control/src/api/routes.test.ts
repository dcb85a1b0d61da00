import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeObject } from '../state/objects.ts';
import type { TestControl } from './test-support.ts';
import { serviceWithEndpoints, testControl } from './test-support.ts';

const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
const route = (name: string, host = 'a.example.com', path = '/', extra: Record<string, unknown> = {}) => ({ name, hosts: [host], paths: [{ path, backends: [{ service: 'web', port: 80 }] }], ...extra });
const ingress = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default', ...metadata }, spec });

const manifestIngress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'from-manifest', namespace: 'default', creationTimestamp: '2020-01-01T00:00:00Z' },
  spec: { rules: [{ host: 'manifest.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
};

let control: TestControl;
beforeEach(async () => {
  control = await testControl({ objects: [...serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), manifestIngress], bodyLimit: 64 * 1024 });
});
afterEach(() => control.close());

async function post(body: unknown, headers: Record<string, string> = {}) {
  return control.request('/v1/routes', { method: 'POST', ...json(body, headers) });
}

describe('routes CRUD', () => {
  it('creates a friendly route, stores it as a labelled Ingress, and serves it in the next snapshot', async () => {
    const response = await post(route('web'));
    expect(response.status).toBe(201);
    expect(response.headers.get('location')).toBe('/v1/routes/default/web');
    const body = await response.json();
    expect(response.headers.get('etag')).toBe(`"${body.etag}"`);
    expect(body.route).toEqual({ namespace: 'default', name: 'web', hosts: ['a.example.com'], paths: [{ path: '/', pathType: 'Prefix', backends: [{ service: 'web', port: 80 }] }] });
    expect(body.ingress.metadata.labels).toEqual({ 'app.kubernetes.io/managed-by': 'portico' });
    expect(body.ingress.spec.rules).toEqual([{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }]);

    const got = await control.request('/v1/routes/default/web');
    expect(got.status).toBe(200);
    expect((await got.json()).etag).toBe(body.etag);
    const explained = await control.request('/v1/explain', { method: 'POST', ...json({ host: 'a.example.com', path: '/x' }) });
    expect(await explained.json()).toMatchObject({ status: 200, route: { namespace: 'default', name: 'web' } });
    const list = await (await control.request('/v1/routes')).json();
    expect(list.items.map((item: { name: string }) => item.name)).toEqual(['web']);
  });

  it('maps TLS and the redirect options onto spec.tls and the ingress-nginx annotations, and back', async () => {
    const response = await post(route('secure', 's.example.com', '/', { tls: { secretName: 's-tls' }, sslRedirect: false, forceSslRedirect: true, ingressClassName: 'portico' }));
    expect(response.status).toBe(201);
    const body = await response.json();
    expect(body.ingress.metadata.annotations).toEqual({ 'nginx.ingress.kubernetes.io/ssl-redirect': 'false', 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' });
    expect(body.ingress.spec.tls).toEqual([{ secretName: 's-tls' }]);
    expect(body.route).toMatchObject({ tls: { secretName: 's-tls' }, sslRedirect: false, forceSslRedirect: true, ingressClassName: 'portico' });
  });

  it('accepts a plain v1 Ingress as JSON and as YAML, and a legacy v1beta1 one', async () => {
    expect((await post(ingress('plain', { rules: [{ host: 'p.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] }))).status).toBe(201);
    const yaml = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: yaml
spec:
  rules:
    - host: y.example.com
      http:
        paths:
          - path: /
            pathType: Exact
            backend: { service: { name: web, port: { number: 80 } } }
`;
    const response = await control.request('/v1/routes', { method: 'POST', body: yaml, headers: { 'content-type': 'application/yaml' } });
    expect(response.status).toBe(201);
    expect((await response.json()).route.paths[0].pathType).toBe('Exact');
    const legacy = { apiVersion: 'extensions/v1beta1', kind: 'Ingress', metadata: { name: 'old' }, spec: { rules: [{ host: 'old.example.com', http: { paths: [{ path: '/', backend: { serviceName: 'web', servicePort: 80 } }] } }] } };
    expect((await post(legacy)).status).toBe(201);
  });

  it('reads back an Ingress without friendly form with route null and the reason', async () => {
    const spec = {
      rules: [
        { host: 'one.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
        { host: 'two.example.com', http: { paths: [{ path: '/two', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
      ],
    };
    const body = await (await post(ingress('mixed', spec))).json();
    expect(body.route).toBeNull();
    expect(body.unrepresentable).toBe('the rules do not all have the same paths');
  });

  it('replaces under If-Match, refuses stale versions (412) and replaces without If-Match (428)', async () => {
    const created = await (await post(route('web'))).json();
    const path = '/v1/routes/default/web';
    const noMatch = await control.request(path, { method: 'PUT', ...json(route('web', 'a.example.com', '/v2')) });
    expect(noMatch.status).toBe(428);
    expect((await noMatch.json()).code).toBe('PORTICO_E_PRECONDITION_REQUIRED');
    const replaced = await control.request(path, { method: 'PUT', ...json(route('web', 'a.example.com', '/v2'), { 'if-match': `"${created.etag}"` }) });
    expect(replaced.status).toBe(200);
    const stale = await control.request(path, { method: 'PUT', ...json(route('web', 'a.example.com', '/v3'), { 'if-match': `"${created.etag}"` }) });
    expect(stale.status).toBe(412);
    expect((await stale.json()).code).toBe('PORTICO_E_PRECONDITION_FAILED');
    const createOnly = await control.request(path, { method: 'PUT', ...json(route('web'), { 'if-none-match': '*' }) });
    expect(createOnly.status).toBe(409);
    const fresh = await control.request('/v1/routes/default/fresh', { method: 'PUT', ...json(route('fresh', 'f.example.com')) });
    expect(fresh.status).toBe(201);
    // kubectl replace style: the body's resourceVersion is the precondition.
    const current = await (await control.request(path)).json();
    const viaBody = await control.request(path, { method: 'PUT', ...json({ ...current.ingress, metadata: { ...current.ingress.metadata, resourceVersion: created.etag } }) });
    expect(viaBody.status).toBe(412);
  });

  it('lets exactly one of two concurrent writers with the same If-Match win, every time', async () => {
    let etag = (await (await post(route('race'))).json()).etag as string;
    for (let round = 0; round < 20; round++) {
      const write = (path: string) => control.request('/v1/routes/default/race', { method: 'PUT', ...json(route('race', 'a.example.com', path), { 'if-match': `"${etag}"` }) });
      const answers = await Promise.all([write(`/a${round}`), write(`/b${round}`)]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 412]);
      etag = (await answers.find((a) => a.status === 200)!.json()).etag;
    }
  });

  it('patches the friendly route (merge patch) and the Ingress, under the version read', async () => {
    const created = await (await post(route('web'))).json();
    const patched = await control.request('/v1/routes/default/web', { method: 'PATCH', body: JSON.stringify({ hosts: ['b.example.com'], forceSslRedirect: true }), headers: { 'content-type': 'application/merge-patch+json', 'if-match': `"${created.etag}"` } });
    expect(patched.status).toBe(200);
    const body = await patched.json();
    expect(body.route).toMatchObject({ hosts: ['b.example.com'], forceSslRedirect: true, paths: [{ path: '/' }] });
    const stale = await control.request('/v1/routes/default/web', { method: 'PATCH', body: '{"hosts":["c.example.com"]}', headers: { 'content-type': 'application/merge-patch+json', 'if-match': `"${created.etag}"` } });
    expect(stale.status).toBe(412);
    const labels = await control.request('/v1/routes/default/web', { method: 'PATCH', body: '{"metadata":{"annotations":{"team":"edge"}}}', headers: { 'content-type': 'application/merge-patch+json' } });
    expect(labels.status).toBe(200);
    expect((await labels.json()).ingress.metadata.annotations).toMatchObject({ team: 'edge', 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'true' });
    expect((await control.request('/v1/routes/default/nope', { method: 'PATCH', body: '{}', headers: { 'content-type': 'application/merge-patch+json' } })).status).toBe(404);
  });

  it('deletes under If-Match and then answers 404', async () => {
    const created = await (await post(route('web'))).json();
    expect((await control.request('/v1/routes/default/web', { method: 'DELETE', headers: { 'if-match': '"999"' } })).status).toBe(412);
    const deleted = await control.request('/v1/routes/default/web', { method: 'DELETE', headers: { 'if-match': `"${created.etag}"` } });
    expect(deleted.status).toBe(200);
    expect((await control.request('/v1/routes/default/web')).status).toBe(404);
    expect((await control.request('/v1/routes/default/web', { method: 'DELETE' })).status).toBe(404);
    const explained = await (await control.request('/v1/explain', { method: 'POST', ...json({ host: 'a.example.com', path: '/' }) })).json();
    expect(explained.status).toBe(404);
  });
});

describe('validation', () => {
  const cases: { name: string; body: unknown; pointers: string[] }[] = [
    { name: 'bad name, host and path', body: { name: 'Bad_Name', hosts: ['a..example.com'], paths: [{ path: 'nope', backends: [{ service: 'web', port: 80 }] }] }, pointers: ['/name', '/hosts/0', '/paths/0/path'] },
    { name: 'unknown field', body: { ...route('web'), weight: 3 }, pointers: [''] },
    { name: 'two weighted backends', body: { name: 'split', paths: [{ path: '/', backends: [{ service: 'a', port: 80, weight: 90 }, { service: 'b', port: 80, weight: 10 }] }] }, pointers: ['/paths/0/backends/1', '/paths/0/backends/0/weight'] },
    { name: 'a single backend with weight 50', body: { name: 'w', paths: [{ path: '/', backends: [{ service: 'a', port: 80, weight: 50 }] }] }, pointers: ['/paths/0/backends/0/weight'] },
    { name: 'nothing to serve', body: { name: 'empty', hosts: ['e.example.com'] }, pointers: ['/paths'] },
    { name: 'port out of range', body: { name: 'p', paths: [{ path: '/', backends: [{ service: 'a', port: 70000 }] }] }, pointers: ['/paths/0/backends/0/port'] },
    { name: 'Ingress with a bad host and a resource backend', body: ingress('i', { rules: [{ host: 'UPPER.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'Bucket', name: 'b' } } }] } }] }), pointers: ['/spec/rules/0/host', '/spec/rules/0/http/paths/0/backend'] },
    { name: 'Ingress without rules', body: ingress('i', {}), pointers: ['/spec'] },
    { name: 'Ingress with a bad pathType', body: ingress('i', { rules: [{ http: { paths: [{ path: '/', pathType: 'Regex', backend: { service: { name: 'a', port: { number: 1 } } } }] } }] }), pointers: ['/spec/rules/0/http/paths/0/pathType'] },
    { name: 'Ingress with a bad annotation value', body: ingress('i', { defaultBackend: { service: { name: 'a', port: { number: 1 } } } }, { annotations: { 'nginx.ingress.kubernetes.io/ssl-redirect': 'maybe' } }), pointers: ['/metadata/annotations/nginx.ingress.kubernetes.io~1ssl-redirect'] },
    { name: 'Ingress with an access annotation Portico does not enforce', body: ingress('i', { defaultBackend: { service: { name: 'a', port: { number: 1 } } } }, { annotations: { 'nginx.ingress.kubernetes.io/enable-modsecurity': 'true' } }), pointers: ['/metadata/annotations/nginx.ingress.kubernetes.io~1enable-modsecurity'] },
    { name: 'another kind', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }, pointers: ['/kind'] },
  ];
  it.each(cases)('422 with JSON pointers: $name', async ({ body, pointers }) => {
    const response = await post(body);
    expect(response.status).toBe(422);
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    const problem = await response.json();
    expect(problem.code).toBe('PORTICO_E_ROUTE_INVALID');
    for (const pointer of pointers) expect(problem.errors.map((e: { pointer: string }) => e.pointer)).toContain(pointer);
  });

  it('422 when the body names another object than the URL', async () => {
    const response = await control.request('/v1/routes/default/one', { method: 'PUT', ...json(route('two')) });
    expect(response.status).toBe(422);
    expect((await response.json()).errors).toEqual([{ pointer: '/name', reason: 'must be "one", the name in the URL' }]);
  });

  const bodies: { name: string; body: string | Uint8Array<ArrayBuffer>; type?: string; status: number; code: string }[] = [
    { name: 'trailing garbage after JSON', body: '{"name":"x"} {}', type: 'application/json', status: 400, code: 'PORTICO_E_BAD_REQUEST' },
    { name: 'not JSON', body: "{name: 'x'}", type: 'application/json', status: 400, code: 'PORTICO_E_BAD_REQUEST' },
    { name: 'empty body', body: '', type: 'application/json', status: 400, code: 'PORTICO_E_BAD_REQUEST' },
    { name: 'invalid UTF-8', body: new Uint8Array([0x7b, 0xff, 0x7d]), type: 'application/json', status: 400, code: 'PORTICO_E_BAD_REQUEST' },
    { name: 'two YAML documents', body: 'name: a\n---\nname: b\n', type: 'application/yaml', status: 400, code: 'PORTICO_E_BAD_REQUEST' },
    { name: 'YAML alias bomb', body: `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n`, type: 'application/yaml', status: 422, code: 'PORTICO_E_BODY_LIMIT' },
    { name: 'no Content-Type', body: '{}', status: 415, code: 'PORTICO_E_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'text/plain', body: '{}', type: 'text/plain', status: 415, code: 'PORTICO_E_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'a latin-1 charset', body: '{}', type: 'application/json; charset=iso-8859-1', status: 415, code: 'PORTICO_E_UNSUPPORTED_MEDIA_TYPE' },
    { name: 'too large', body: JSON.stringify({ name: 'x', pad: 'x'.repeat(70 * 1024) }), type: 'application/json', status: 413, code: 'PORTICO_E_PAYLOAD_TOO_LARGE' },
  ];
  it.each(bodies)('$status for $name', async ({ body, type, status, code }) => {
    const response = await control.request('/v1/routes', { method: 'POST', body, headers: type ? { 'content-type': type } : {} });
    expect(response.status).toBe(status);
    expect((await response.json()).code).toBe(code);
  });

  it('400 for bad path parameters and 405 with Allow for other methods', async () => {
    expect((await control.request('/v1/routes/NOT_A_NAMESPACE/x')).status).toBe(400);
    const wrong = await control.request('/v1/routes', { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, POST');
  });
});

describe('conflicts', () => {
  it('409 naming the route that already claims the host and path (Prefix /api and /api/ are the same rule)', async () => {
    expect((await post(route('first', 'c.example.com', '/api'))).status).toBe(201);
    const response = await post(route('second', 'c.example.com', '/api/'));
    expect(response.status).toBe(409);
    const problem = await response.json();
    expect(problem.code).toBe('PORTICO_E_ROUTE_CONFLICT');
    expect(problem.conflicts).toEqual([{ kind: 'Ingress', namespace: 'default', name: 'first', claim: 'host c.example.com Prefix /api', field: 'spec.rules[0].http.paths[0]', pointer: '/paths/0' }]);
  });

  it('no conflict for an Exact path beside a Prefix one, another host, or an Ingress of another class', async () => {
    expect((await post(route('first', 'c.example.com', '/api'))).status).toBe(201);
    expect((await post({ name: 'exact', hosts: ['c.example.com'], paths: [{ path: '/api', pathType: 'Exact', backends: [{ service: 'web', port: 80 }] }] })).status).toBe(201);
    expect((await post(route('other-host', 'd.example.com', '/api'))).status).toBe(201);
    expect((await post(route('other-class', 'c.example.com', '/api', { ingressClassName: 'nginx' }))).status).toBe(201);
  });

  it('reports conflicts with Ingresses from the manifest directory, and refuses to take over their names', async () => {
    const conflict = await post(ingress('clash', { rules: [{ host: 'manifest.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] }));
    expect(conflict.status).toBe(409);
    expect((await conflict.json()).conflicts[0]).toMatchObject({ name: 'from-manifest', pointer: '/spec/rules/0/http/paths/0' });
    const name = await post(route('from-manifest', 'other.example.com'));
    expect(name.status).toBe(409);
    expect((await name.json()).code).toBe('PORTICO_E_ROUTE_EXISTS');
  });

  it('checks concurrent writes against each other: of two routes claiming the same path, one is refused', async () => {
    const answers = await Promise.all([post(route('x1', 'same.example.com')), post(route('x2', 'same.example.com'))]);
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
  });

  it('follows the Ingresses as they change: a host moved, a host in capitals, a removal, a catch-all', async () => {
    const moved = (host: string, spec: Record<string, unknown> = {}): KubeObject => ({ ...manifestIngress, metadata: { ...manifestIngress.metadata, resourceVersion: host }, spec: { rules: [{ host, http: manifestIngress.spec.rules![0]!.http }], ...spec } }) as KubeObject;
    // The first write makes the host index; the changes after it must reach it.
    expect((await post(route('first', 'manifest.example.com'))).status).toBe(409);
    control.state.upsert(moved('Moved.Example.COM'));
    expect((await post(route('first', 'manifest.example.com'))).status).toBe(201);
    const clash = await post(route('second', 'moved.example.com'));
    expect(clash.status).toBe(409);
    expect((await clash.json()).conflicts).toEqual([{ kind: 'Ingress', namespace: 'default', name: 'from-manifest', claim: 'host moved.example.com Prefix /', field: 'spec.rules[0].http.paths[0]', pointer: '/paths/0' }]);
    control.state.remove(manifestIngress);
    expect((await post(route('second', 'moved.example.com'))).status).toBe(201);
    control.state.upsert({ ...manifestIngress, metadata: { ...manifestIngress.metadata, resourceVersion: 'catch-all' }, spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } } } as KubeObject);
    const catchAll = await post(ingress('everything', { defaultBackend: { service: { name: 'web', port: { number: 80 } } } }));
    expect(catchAll.status).toBe(409);
    expect((await catchAll.json()).conflicts).toMatchObject([{ name: 'from-manifest', claim: 'the catch-all default backend' }]);
  });

  it('a default backend whose rules all name invalid hosts holds the catch-all: a catch-all default backend written after it conflicts with it', async () => {
    const invalidHosts = { rules: [{ host: 'bad_host!.example', http: manifestIngress.spec.rules![0]!.http }], defaultBackend: { service: { name: 'web', port: { number: 80 } } } };
    control.state.upsert({ ...manifestIngress, metadata: { ...manifestIngress.metadata, resourceVersion: 'invalid-hosts' }, spec: invalidHosts } as KubeObject);
    const refused = await post(ingress('everything', { defaultBackend: { service: { name: 'web', port: { number: 80 } } } }));
    expect(refused.status).toBe(409);
    expect((await refused.json()).conflicts).toMatchObject([{ name: 'from-manifest', claim: 'the catch-all default backend', field: 'spec.defaultBackend' }]);
  });

  it('looks only at the Ingresses on the written hosts, not at every Ingress stored (hostile: thousands of them)', async () => {
    let reads = 0;
    const others: KubeObject[] = Array.from({ length: 3000 }, (_, i) => {
      const spec = { rules: [{ host: `h${i}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] };
      // A counting probe: every look at an Ingress's rules (its claims, its class) reads `spec`.
      return {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: `other-${i}`, namespace: 'default' },
        get spec() {
          reads++;
          return spec;
        },
      } as KubeObject;
    });
    control.close();
    control = await testControl({ objects: [...serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), manifestIngress, ...others] });
    expect((await post(route('clash', 'manifest.example.com'))).status).toBe(409);
    reads = 0;
    const refused = await post(route('clash', 'h17.example.com'));
    expect(refused.status).toBe(409);
    expect((await refused.json()).conflicts).toMatchObject([{ name: 'other-17' }]);
    expect(reads).toBeLessThanOrEqual(4);
  });

  it('a default backend per host conflicts like a path does', async () => {
    expect((await post({ name: 'd1', hosts: ['h.example.com'], defaultBackend: { service: 'web', port: 80 } })).status).toBe(201);
    const response = await post({ name: 'd2', hosts: ['h.example.com'], defaultBackend: { service: 'web', port: 80 } });
    expect(response.status).toBe(409);
    expect((await response.json()).conflicts[0]).toMatchObject({ claim: 'the default backend of host h.example.com', pointer: '/defaultBackend' });
  });
});

describe('authentication and errors', () => {
  it('401 with WWW-Authenticate without or with a wrong token; health endpoints stay open', async () => {
    const none = await control.app.request('/v1/routes');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="portico"');
    expect((await control.app.request('/v1/snapshots', { headers: { authorization: 'Bearer wrong-token-xxxxxxxx' } })).status).toBe(401);
    expect((await control.app.request('/v1/sync?node=n', { headers: { authorization: 'Basic abc' } })).status).toBe(401);
    for (const open of ['/healthz', '/readyz', '/metrics', '/openapi.json']) expect((await control.app.request(open)).status).toBe(200);
    expect((await control.app.request('/metrics', { method: 'POST' })).status).toBe(405);
  });

  it('never sends a stack trace: an unexpected failure is a bare 500', async () => {
    const failing = await testControl({
      store: {
        kind: 'sqlite',
        list: async () => [],
        get: async () => {
          throw new Error('boom at /secret/path/store.ts:42');
        },
        put: async () => {
          throw new Error('unused');
        },
        delete: async () => {
          throw new Error('unused');
        },
        subscribe: () => () => undefined,
        close: () => undefined,
      },
    });
    const response = await failing.request('/v1/routes/default/x');
    expect(response.status).toBe(500);
    const text = await response.text();
    expect(text).not.toContain('secret');
    expect(text).not.toContain('at ');
    expect(JSON.parse(text)).toEqual({ status: 500, title: 'Internal Server Error', code: 'PORTICO_E_INTERNAL', detail: 'internal error; see the control plane log' });
    failing.close();
  });

  it('sends no CORS headers by default', async () => {
    const response = await control.request('/v1/routes', { headers: { origin: 'https://evil.example' } });
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
  });
});
