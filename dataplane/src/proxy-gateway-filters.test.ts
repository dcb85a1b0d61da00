// Gateway API filters and timeouts through the real proxy, with the expectations of the upstream
// conformance tests (HTTPRouteRequestHeaderModifier, HTTPRouteResponseHeaderModifier,
// HTTPRouteRedirectPath/Port/Scheme/HostAndStatus, HTTPRouteRewritePath/Host,
// HTTPRouteTimeoutBackendRequest) on hand-built snapshots; the policies are read from HTTPRoute
// filter JSON by the same reader the build stage uses.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import { httpRouteFilters, httpRouteTimeouts } from '@portico/control/snapshot/policies/gateway-filters';
import type { Snapshot } from '@portico/control/snapshot';
import { Router } from './router.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';
import type { Backend, RouteSpec, RunningProxy } from './test-support.ts';
import { fetchVia, rawExchange, snapshotOf, startBackend, startProxy, statusOf } from './test-support.ts';

/** Pairs of the raw request header lines, lower-case names. */
function lines(request: IncomingMessage): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) out.push([(request.rawHeaders[i] as string).toLowerCase(), request.rawHeaders[i + 1] as string]);
  return out;
}

function filters(list: unknown[], pathTypes: string[] = ['PathPrefix']): RoutePolicies {
  const { policies, problems } = httpRouteFilters(list, 'spec.rules[0]', { matchPathTypes: pathTypes });
  if (problems.length !== 0 || policies === undefined) throw new Error(JSON.stringify(problems));
  return policies;
}

describe('proxy: Gateway API filters', () => {
  let backend: Backend;
  let proxy: RunningProxy;
  let snapshot: Snapshot;

  beforeAll(async () => {
    backend = await startBackend((request: IncomingMessage, response: ServerResponse) => {
      const delay = Number(new URL(request.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => {
        response.setHeader('content-type', 'application/json');
        response.setHeader('x-header-set', 'backend');
        response.setHeader('x-header-add', 'backend');
        response.setHeader('x-header-remove', 'backend');
        response.end(JSON.stringify({ url: request.url, host: request.headers.host, lines: lines(request) }));
      }, delay);
    });
    const to = (path: string, policies: RoutePolicies | undefined, withBackend = true): RouteSpec => ({ kind: 'HTTPRoute', path, policies, endpoints: withBackend ? [backend.port] : [] });
    const router = new Router();
    router.load(snapshot = snapshotOf([{
      host: 'filters.test',
      routes: [
        to('/set', filters([{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }] } }])),
        to('/add', filters([{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'X-Header-Add', value: 'add-appends-values' }] } }])),
        to('/remove', filters([{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['X-Header-Remove'] } }])),
        to('/response', filters([{ type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }], add: [{ name: 'X-Header-Add', value: 'add-appends-values' }], remove: ['X-Header-Remove'] } }])),
        to('/original-prefix', filters([{ type: 'RequestRedirect', requestRedirect: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/replacement-prefix' } } }]), false),
        to('/full', filters([{ type: 'RequestRedirect', requestRedirect: { hostname: 'example.org', statusCode: 301, path: { type: 'ReplaceFullPath', replaceFullPath: '/full-path-replacement' } } }]), false),
        to('/scheme', filters([{ type: 'RequestRedirect', requestRedirect: { scheme: 'https', port: 8443 } }]), false),
        to('/prefix/one', filters([{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/one' } } }])),
        to('/strip-prefix', filters([{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }])),
        to('/rewrite-host', filters([
          { type: 'URLRewrite', urlRewrite: { hostname: 'test.example.org', path: { type: 'ReplaceFullPath', replaceFullPath: '/test' } } },
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Header-Set', value: 'set-overwrites-values' }] } },
        ])),
        to('/backend-timeout', httpRouteTimeouts({ backendRequest: '300ms' }, 'spec.rules[0]').policies),
        to('/disable-timeout', httpRouteTimeouts({ request: '0s' }, 'spec.rules[0]').policies),
      ],
    }]));
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  const get = async (path: string, headers: Record<string, string> = {}) => {
    const response = await fetchVia(proxy.port, { host: 'filters.test', path, headers });
    return { ...response, seen: response.status === 200 ? (JSON.parse(response.body) as { url: string; host: string; lines: [string, string][] }) : undefined };
  };
  const values = (seen: { lines: [string, string][] } | undefined, name: string): string[] => (seen?.lines ?? []).filter(([n]) => n === name).map(([, v]) => v);

  it('set overwrites the received header, or adds it', async () => {
    expect(values((await get('/set', { 'X-Header-Set': 'some-other-value', 'Some-Other-Header': 'val' })).seen, 'x-header-set')).toEqual(['set-overwrites-values']);
    const plain = (await get('/set', { 'Some-Other-Header': 'val' })).seen;
    expect(values(plain, 'x-header-set')).toEqual(['set-overwrites-values']);
    expect(values(plain, 'some-other-header')).toEqual(['val']);
  });

  it('add appends to a received header', async () => {
    expect(values((await get('/add', { 'X-Header-Add': 'some-other-value' })).seen, 'x-header-add')).toEqual(['some-other-value', 'add-appends-values']);
    expect(values((await get('/add')).seen, 'x-header-add')).toEqual(['add-appends-values']);
  });

  it('remove drops the header, whatever its case', async () => {
    const raw = await rawExchange(proxy.port, 'GET /remove HTTP/1.1\r\nHost: filters.test\r\nx-header-REMOVE: a\r\nX-Header-Remove: b\r\nX-Keep: c\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(raw.toLowerCase()).not.toContain('"x-header-remove"');
    expect(raw).toContain('"x-keep","c"');
  });

  it('response headers: set replaces the backend\'s, add joins it, remove drops it', async () => {
    const response = await get('/response');
    expect(response.headers['x-header-set']).toBe('set-overwrites-values');
    expect(response.headers['x-header-add']).toBe('backend, add-appends-values');
    expect(response.headers['x-header-remove']).toBeUndefined();
  });

  it('response headers over HTTP/2 too', async () => {
    const plane = await startH2DataPlane(snapshot);
    const session = await h2Session(plane, false);
    try {
      const response = await h2Request(session, { ':path': '/response', ':authority': 'filters.test' });
      expect(response.status).toBe(200);
      expect(response.headers['x-header-set']).toBe('set-overwrites-values');
      expect(response.headers['x-header-add']).toBe('backend, add-appends-values');
      expect(response.headers['x-header-remove']).toBeUndefined();
    } finally {
      session.close();
      await plane.close();
    }
  });

  it('redirects: prefix replaced, query kept, 302 by default, without a backend', async () => {
    const response = await get('/original-prefix/lemon?x=1');
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('http://filters.test/replacement-prefix/lemon?x=1');
  });

  it('redirects: full path, host and status', async () => {
    const response = await get('/full/path/original');
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe('http://example.org/full-path-replacement');
  });

  it('redirects: scheme and port', async () => {
    const response = await get('/scheme');
    expect(response.headers.location).toBe('https://filters.test:8443/scheme');
  });

  it('rewrites the path by prefix and in full, and the Host', async () => {
    expect((await get('/prefix/one/two')).seen?.url).toBe('/one/two');
    expect((await get('/strip-prefix/three?q=1')).seen?.url).toBe('/three?q=1');
    expect((await get('/strip-prefix')).seen?.url).toBe('/');
    const seen = (await get('/rewrite-host/anything')).seen;
    expect(seen?.url).toBe('/test');
    expect(seen?.host).toBe('test.example.org');
    expect(values(seen, 'x-header-set')).toEqual(['set-overwrites-values']);
  });

  it('a backend request timeout answers 504; 0s switches it off', async () => {
    expect((await get('/backend-timeout')).status).toBe(200);
    expect((await get('/backend-timeout?delay=1000')).status).toBe(504);
    expect((await get('/disable-timeout?delay=600')).status).toBe(200);
  });

  it('hostile: a timed-out exchange leaves the connection usable and the backend is not retried', async () => {
    const before = backend.requests;
    const raw = await rawExchange(proxy.port, 'GET /backend-timeout?delay=800 HTTP/1.1\r\nHost: filters.test\r\n\r\nGET /set HTTP/1.1\r\nHost: filters.test\r\nConnection: close\r\n\r\n', 1500);
    expect(raw.match(/^HTTP\/1\.1 (\d+)/gm)).toEqual(['HTTP/1.1 504', 'HTTP/1.1 200']);
    expect(backend.requests - before).toBe(2);
  });
});
