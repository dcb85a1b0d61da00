// Gateway API HTTPRoute matching through the real proxy: the cases of the upstream conformance
// tests (HTTPRouteHeaderMatching, HTTPRouteQueryParamMatching, HTTPRouteMethodMatching,
// HTTPRoutePathMatchOrder, HTTPRouteListenerHostnameMatching) on hand-built snapshots whose routes
// are in the precedence order the build stage gives them, plus regex paths and hostile requests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { Backend, RouteSpec, RunningProxy } from './test-support.ts';
import { fetchVia, rawExchange, snapshotOf, startBackend, startProxy, statusOf } from './test-support.ts';

function echo(name: string): Promise<Backend> {
  return startBackend((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify({ backend: name, url: request.url }));
  });
}

describe('proxy: Gateway API matches', () => {
  const backends: Record<string, Backend> = {};
  let proxy: RunningProxy;

  beforeAll(async () => {
    for (const name of ['v1', 'v2', 'v3']) backends[name] = await echo(name);
    const to = (name: string, spec: Omit<RouteSpec, 'endpoints'> = {}): RouteSpec => ({ kind: 'HTTPRoute', ...spec, endpoints: [backends[name]!.port] });
    const header = (name: string, value: string) => ({ name, value, type: 'Exact' as const });
    const query = (name: string, value: string) => ({ name, value, type: 'Exact' as const });
    const router = new Router();
    router.load(snapshotOf([
      // HTTPRouteHeaderMatching, sorted: most headers first, then rule order.
      {
        host: 'headers.test',
        routes: [
          to('v1', { match: { headers: [header('version', 'two'), header('color', 'orange')] } }),
          to('v1', { match: { headers: [header('version', 'one')] } }),
          to('v2', { match: { headers: [header('version', 'two')] } }),
          to('v1', { match: { headers: [header('color', 'blue')] } }),
          to('v1', { match: { headers: [header('color', 'green')] } }),
          to('v2', { match: { headers: [header('color', 'red')] } }),
          to('v2', { match: { headers: [header('color', 'yellow')] } }),
        ],
      },
      // HTTPRouteQueryParamMatching (first part), sorted: most query params first.
      {
        host: 'query.test',
        routes: [
          to('v3', { match: { query: [query('animal', 'dolphin'), query('color', 'blue')] } }),
          to('v1', { match: { query: [query('animal', 'whale')] } }),
          to('v2', { match: { query: [query('animal', 'dolphin')] } }),
          to('v3', { match: { query: [query('ANIMAL', 'Whale')] } }),
        ],
      },
      // HTTPRouteMethodMatching: longer prefixes first, then method, then headers.
      {
        host: 'method.test',
        routes: [
          to('v3', { path: '/path2', match: { methods: ['POST'], headers: [header('version', 'two')] } }),
          to('v1', { path: '/path1', match: { methods: ['GET'] } }),
          to('v1', { path: '/path5' }),
          to('v2', { match: { methods: ['PUT'], headers: [header('version', 'one')] } }),
          to('v1', { match: { methods: ['POST'] } }),
          to('v2', { match: { methods: ['GET'] } }),
          to('v2', { match: { methods: ['PATCH'] } }),
          to('v3', { match: { headers: [header('version', 'four')] } }),
        ],
      },
      // HTTPRoutePathMatchOrder, plus regex paths (Exact > RegularExpression > Prefix).
      {
        host: 'paths.test',
        routes: [
          to('v1', { path: '/match', pathType: 'Exact' }),
          to('v2', { path: '/match/exact', pathType: 'Exact' }),
          to('v3', { path: '/match/exact/one', pathType: 'Exact' }),
          to('v2', { path: '/match/prefix/one' }),
          to('v1', { path: '/match/prefix/' }),
          to('v3', { path: '/match/' }),
          to('v2', { path: '/re/v[0-9]+/.*', pathType: 'RegularExpression', match: { headers: [{ name: 'x-re', value: '(alpha|beta)-[0-9]{1,3}', type: 'RegularExpression' }] } }),
          to('v3', { path: '/re/v[0-9]+/.*', pathType: 'RegularExpression' }),
          to('v1', { path: '/re' }),
        ],
      },
      // Gateway API wildcard: one or more labels. The Ingress wildcard beside it: exactly one.
      { host: '*.gw.test', routes: [to('v1')] },
      { host: '*.in.test', routes: [{ endpoints: [backends.v2!.port] }] },
    ]));
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    await Promise.all(Object.values(backends).map((backend) => backend.close()));
  });

  const backendOf = async (host: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string | number> => {
    const response = await fetchVia(proxy.port, { host, path, headers, method });
    return response.status === 200 ? (JSON.parse(response.body) as { backend: string }).backend : response.status;
  };

  it.each([
    [{ Version: 'one' }, 'v1'],
    [{ Version: 'two' }, 'v2'],
    [{ Version: 'two', Color: 'orange' }, 'v1'],
    [{ Version: 'two', Color: 'blue' }, 'v2'],
    [{ Color: 'orange' }, 404],
    [{ 'Some-Other-Header': 'one' }, 404],
    [{ Color: 'blue' }, 'v1'],
    [{ Color: 'green' }, 'v1'],
    [{ Color: 'red' }, 'v2'],
    [{ Color: 'yellow' }, 'v2'],
    [{ Color: 'purple' }, 404],
  ])('header matching %j -> %s', async (headers, want) => {
    expect(await backendOf('headers.test', '/', headers)).toBe(want);
  });

  it.each([
    ['/?animal=whale', 'v1'],
    ['/?animal=dolphin', 'v2'],
    ['/?animal=dolphin&color=blue', 'v3'],
    ['/?ANIMAL=Whale', 'v3'],
    ['/?animal=whale&otherparam=irrelevant', 'v1'],
    ['/?animal=dolphin&color=yellow', 'v2'],
    ['/?color=blue', 404],
    ['/?animal=dog', 404],
    ['/?animal=whaledolphin', 404],
    ['/', 404],
  ])('query matching %s -> %s', async (path, want) => {
    expect(await backendOf('query.test', path)).toBe(want);
  });

  it.each([
    ['POST', '/', {}, 'v1'],
    ['GET', '/', {}, 'v2'],
    ['HEAD', '/', {}, 404],
    ['GET', '/path1', {}, 'v1'],
    ['PUT', '/', { version: 'one' }, 'v2'],
    ['POST', '/path2', { version: 'two' }, 'v3'],
    ['PATCH', '/path5', {}, 'v1'],
    ['PATCH', '/', { version: 'four' }, 'v2'],
    ['DELETE', '/', { version: 'four' }, 'v3'],
  ])('method matching %s %s %j -> %s', async (method, path, headers, want) => {
    expect(await backendOf('method.test', path, headers, method)).toBe(want);
  });

  it.each([
    ['/match/exact/one', 'v3'],
    ['/match/exact', 'v2'],
    ['/match', 'v1'],
    ['/match/prefix/one/any', 'v2'],
    ['/match/prefix/any', 'v1'],
    ['/match/any', 'v3'],
    ['/re/v2/x', 'v3'],
    ['/re/v2', 'v1'],
    ['/re/vx/x', 'v1'],
    ['/nothing', 404],
  ])('path order %s -> %s', async (path, want) => {
    expect(await backendOf('paths.test', path)).toBe(want);
  });

  it('regex header condition on a regex path', async () => {
    expect(await backendOf('paths.test', '/re/v2/x', { 'x-re': 'beta-42' })).toBe('v2');
    expect(await backendOf('paths.test', '/re/v2/x', { 'x-re': 'beta-4200' })).toBe('v3');
  });

  it('a header sent twice matches on either line', async () => {
    const raw = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: headers.test\r\nColor: purple\r\nColor: red\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('"backend":"v2"');
  });

  it.each([
    ['a.gw.test', 'v1'],
    ['a.b.c.gw.test', 'v1'],
    ['gw.test', 404],
    ['a.in.test', 'v2'],
    ['a.b.in.test', 404],
  ])('hostname %s -> %s', async (host, want) => {
    expect(await backendOf(host, '/')).toBe(want);
  });

  it('hostile: a catastrophic regex input, a huge header list and a long query stay bounded', async () => {
    const many: Record<string, string> = {};
    // Within the default 16 KiB head limit: 80 extra header lines, a 3,000-byte path and value.
    for (let i = 0; i < 80; i++) many[`x-noise-${i}`] = 'n'.repeat(40);
    expect(await backendOf('paths.test', `/re/v1/${'a'.repeat(3000)}`, { ...many, 'x-re': `alpha-${'1'.repeat(3000)}` })).toBe('v3');
    const query = Array.from({ length: 500 }, (_, i) => `p${i}=${i}`).join('&');
    expect(await backendOf('query.test', `/?${query}&animal=whale`)).toBe('v1');
    expect(await backendOf('query.test', `/?${'%ZZ'.repeat(2000)}=x&animal=dolphin`)).toBe('v2');
  });
});

describe('proxy: invalid Gateway API backendRefs answer 500 for their weight share', () => {
  let backend: Backend;
  let proxy: RunningProxy;

  beforeAll(async () => {
    backend = await echo('valid');
    const router = new Router();
    router.load(snapshotOf([{
      host: 'invalid.test',
      routes: [
        { kind: 'HTTPRoute', path: '/half', endpoints: [backend.port], invalidBackends: 1 },
        { kind: 'HTTPRoute', path: '/none', endpoints: [], invalidBackends: 2 },
        { kind: 'HTTPRoute', path: '/empty', endpoints: [] },
      ],
    }]));
    proxy = await startProxy(router);
    // Nothing in the health list stands for the invalid backends.
    expect(router.endpointHealth().map((e) => e.key)).toEqual([`127.0.0.1:${backend.port}`]);
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  it('all backends invalid: 500; no endpoint at all: still 503', async () => {
    expect((await fetchVia(proxy.port, { host: 'invalid.test', path: '/none' })).status).toBe(500);
    expect((await fetchVia(proxy.port, { host: 'invalid.test', path: '/empty' })).status).toBe(503);
  });

  it('one valid and one invalid backend of equal weight: alternately 200 and 500, never a connect to the stand-in', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await fetchVia(proxy.port, { host: 'invalid.test', path: '/half' })).status);
    expect(statuses.sort()).toEqual([200, 200, 200, 500, 500, 500]);
    expect(backend.requests).toBe(3);
  });
});
