/**
 * auth-cache-key and auth-cache-duration through the real proxy (manifests -> compile -> router ->
 * proxy -> echo backend, and a loopback auth server that counts what it is asked), as
 * ingress-nginx's auth location caches with proxy_cache (nginx.tmpl, test/e2e/annotations/auth.go
 * "should return status code 200 when signed in after auth backend is deleted" and friends): the
 * same key is asked once within the duration, other keys each ask, only listed statuses are kept,
 * a kept answer expires on time and gives the same auth-response-headers, a snapshot that changes
 * the route's auth settings drops its answers; hostile: huge keys, many keys (bounded, evicted),
 * bad durations and keys refuse the Ingress.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Router } from './router.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { annotatedIngress, appManifests, compileManifests, fetchVia, startBackend, startProxy } from './test-support.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** A loopback auth server counting subrequests per Authorization value. */
function countingAuth(asked: Map<string, number>) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const authorization = request.headers.authorization ?? '';
    const count = (asked.get(authorization) ?? 0) + 1;
    asked.set(authorization, count);
    request.resume();
    if (authorization === '' || authorization === 'Bearer bad') {
      response.statusCode = 401;
      response.setHeader('WWW-Authenticate', `Bearer realm="r${count}"`);
    } else if (authorization === 'Bearer forbidden') {
      response.statusCode = 403;
    } else {
      // The answer numbers itself: a kept answer gives the first number again.
      response.setHeader('X-User', `${authorization.slice(7)}#${count}`);
      if (authorization === 'Bearer cookie') response.setHeader('Set-Cookie', 'session=1');
      if (authorization === 'Bearer nostore') response.setHeader('Cache-Control', 'no-store');
      if (authorization === 'Bearer maxage2') response.setHeader('Cache-Control', 'max-age=2');
    }
    response.end();
  };
}

const ingress = (name: string, host: string, authUrl: string, annotations: Record<string, string>): string => annotatedIngress(name, host, { [`${A}auth-url`]: authUrl, [`${A}auth-response-headers`]: 'X-User', ...annotations });

describe('auth-cache-key / auth-cache-duration (ingress-nginx proxy_cache on the auth location)', () => {
  const asked = new Map<string, number>();
  let auth: Backend;
  let app: Backend;
  let router: Router;
  let proxy: RunningProxy;
  let conditions: ReturnType<typeof compileManifests>['conditions'];
  let manifests: (extra: readonly string[], cachedHeaders?: string) => string;

  beforeAll(async () => {
    auth = await startBackend(countingAuth(asked));
    app = await startBackend((request, response) => {
      request.resume();
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ user: request.headers['x-user'] ?? null }));
    });
    const url = `http://127.0.0.1:${auth.port}/auth`;
    manifests = (extra, cachedHeaders = 'X-User') =>
      appManifests(app.port, [
        annotatedIngress('cached', 'cached.test', { [`${A}auth-url`]: url, [`${A}auth-response-headers`]: cachedHeaders, [`${A}auth-cache-key`]: '$http_authorization', [`${A}auth-cache-duration`]: '200 5m' }),
        ingress('default', 'default.test', url, { [`${A}auth-cache-key`]: '$remote_user$http_authorization' }),
        ingress('short', 'short.test', url, { [`${A}auth-cache-key`]: '${http_authorization}', [`${A}auth-cache-duration`]: '200 2s' }),
        ingress('long', 'long.test', url, { [`${A}auth-cache-key`]: '$http_authorization', [`${A}auth-cache-duration`]: '200 5m' }),
        ingress('uncached', 'uncached.test', url, {}),
        ingress('by-host', 'by-host.test', url, { [`${A}auth-cache-key`]: '$host' }),
        ingress('duration-only', 'duration-only.test', url, { [`${A}auth-cache-duration`]: '200 5m' }),
        ...[
          ['5x', 'auth-cache-duration', '5x'],
          ['abc', 'auth-cache-duration', 'abc'],
          ['huge', 'auth-cache-duration', '200 99999999999d'],
          ['code-low', 'auth-cache-duration', '099 5m'],
          ['code-high', 'auth-cache-duration', '200 600 5m'],
          ['two-times', 'auth-cache-duration', '200 1h 30m'],
          ['millis', 'auth-cache-duration', '200 500ms'],
          ['no-unit', 'auth-cache-duration', '200 60'],
          ['unknown-var', 'auth-cache-key', '$uri$http_authorization'],
          ['bad-char', 'auth-cache-key', '$http_authorization;evil'],
          ['bare-dollar', 'auth-cache-key', 'a$'],
        ].map(([name, annotation, value]) => ingress(name!, `${name}.test`, url, { [`${A}auth-cache-key`]: '$http_authorization', [`${A}${annotation}`]: value! })),
        ...extra,
      ]);
    const compiled = compileManifests(manifests([]));
    router = compiled.router;
    conditions = compiled.conditions;
    proxy = await startProxy(router, { authTimeoutMs: 3000, authCache: { entries: 64, bytes: 64 * 1024 } });
  });

  afterAll(async () => {
    await proxy.close();
    await auth.close();
    await app.close();
  });

  const get = async (host: string, authorization?: string) => {
    const response = await fetchVia(proxy.port, { host, headers: authorization === undefined ? {} : { authorization } });
    return { status: response.status, user: response.status === 200 ? (JSON.parse(response.body) as { user: string | null }).user : null, challenge: response.headers['www-authenticate'] };
  };
  const times = (authorization: string): number => asked.get(authorization) ?? 0;
  const cache = () => proxy.proxy.authCache;

  it('the same key is asked once within the duration and gets the same auth-response-headers; other keys each ask', async () => {
    expect(await get('long.test', 'Bearer alice')).toMatchObject({ status: 200, user: 'alice#1' });
    for (let i = 0; i < 5; i++) expect(await get('long.test', 'Bearer alice')).toMatchObject({ status: 200, user: 'alice#1' });
    expect(times('Bearer alice')).toBe(1);
    expect(await get('long.test', 'Bearer bob')).toMatchObject({ status: 200, user: 'bob#1' });
    expect(await get('long.test', 'Bearer bob')).toMatchObject({ status: 200, user: 'bob#1' });
    expect(times('Bearer bob')).toBe(1);
    // Another route with the same key asks for itself (ingress-nginx: one cache key space per location).
    expect(await get('short.test', 'Bearer bob')).toMatchObject({ status: 200, user: 'bob#2' });
    // Without auth-cache-key every request asks.
    await get('uncached.test', 'Bearer carol');
    await get('uncached.test', 'Bearer carol');
    expect(times('Bearer carol')).toBe(2);
  });

  it('a 401 is kept only when listed: the default (200 202 401 5m) keeps it with its WWW-Authenticate, "200 5m" does not', async () => {
    const first = await get('default.test', 'Bearer bad');
    expect(first).toMatchObject({ status: 401 });
    const before = times('Bearer bad');
    expect(await get('default.test', 'Bearer bad')).toEqual(first);
    expect(times('Bearer bad')).toBe(before);
    await get('cached.test', 'Bearer bad');
    await get('cached.test', 'Bearer bad');
    expect(times('Bearer bad')).toBe(before + 2);
    // 403 is not in the default list.
    await get('default.test', 'Bearer forbidden');
    await get('default.test', 'Bearer forbidden');
    expect(times('Bearer forbidden')).toBe(2);
  });

  it('never kept: an answer with Set-Cookie or Cache-Control: no-store; a request without the credential (all key parts empty)', async () => {
    for (const token of ['Bearer cookie', 'Bearer nostore']) {
      await get('long.test', token);
      await get('long.test', token);
      expect(times(token), token).toBe(2);
    }
    const anonymous = times('');
    await get('long.test');
    await get('long.test');
    expect(times('')).toBe(anonymous + 2);
  });

  it('expires on time: a 2 s answer is asked again after 2 s; max-age=2 shortens a 5 m duration', async () => {
    expect(await get('short.test', 'Bearer dave')).toMatchObject({ user: 'dave#1' });
    expect(await get('short.test', 'Bearer dave')).toMatchObject({ user: 'dave#1' });
    expect(await get('long.test', 'Bearer maxage2')).toMatchObject({ user: 'maxage2#1' });
    expect(await get('long.test', 'Bearer maxage2')).toMatchObject({ user: 'maxage2#1' });
    // Kept within their time (both were asked well under 2 s ago), asked again past it.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    expect(await get('short.test', 'Bearer dave')).toMatchObject({ user: 'dave#2' });
    expect(await get('long.test', 'Bearer maxage2')).toMatchObject({ user: 'maxage2#2' });
  });

  it('a snapshot that changes the route auth settings drops its answers; one that changes another route keeps them', async () => {
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#1' });
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#1' });
    // Another Ingress added: cached.test's settings are the same, its answer stays.
    router.load(compileManifests(manifests([annotatedIngress('other', 'other.test', {})])).snapshot);
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#1' });
    // auth-response-headers changed: asked again.
    router.load(compileManifests(manifests([annotatedIngress('other', 'other.test', {})], 'X-User, X-Other')).snapshot);
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#2' });
    // Back to the first settings: nothing of before comes back.
    router.load(compileManifests(manifests([])).snapshot);
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#3' });
    expect(await get('cached.test', 'Bearer erin')).toMatchObject({ user: 'erin#3' });
  });

  it('a key without a header or cookie is a Warning (one answer serves every client, as ingress-nginx); a duration without a key is a Warning', async () => {
    const warnings = (name: string) => conditions.filter((c) => c.source.name === name && c.severity === 'Warning').map((c) => [c.field, c.message]);
    expect(warnings('by-host')).toContainEqual([`metadata.annotations['${A}auth-cache-key']`, expect.stringContaining('every client')]);
    expect(warnings('duration-only')).toContainEqual([`metadata.annotations['${A}auth-cache-duration']`, expect.stringContaining('without auth-cache-key')]);
    expect(await get('by-host.test', 'Bearer frank')).toMatchObject({ user: 'frank#1' });
    // As documented: the next client gets frank's answer.
    expect(await get('by-host.test', 'Bearer grace')).toMatchObject({ user: 'frank#1' });
    expect(times('Bearer grace')).toBe(0);
    await get('duration-only.test', 'Bearer heidi');
    await get('duration-only.test', 'Bearer heidi');
    expect(times('Bearer heidi')).toBe(2);
  });

  it('bad durations and keys refuse the Ingress (503) with an Error naming the annotation; the auth server and endpoint are never asked', async () => {
    const cases: [string, string, string][] = [
      ['5x', 'auth-cache-duration', 'not a time'],
      ['abc', 'auth-cache-duration', 'not a time'],
      ['huge', 'auth-cache-duration', 'longer than one year'],
      ['code-low', 'auth-cache-duration', '"099" is not a status code'],
      ['code-high', 'auth-cache-duration', '"600" is not a status code'],
      ['two-times', 'auth-cache-duration', '"1h" is not a status code'],
      ['millis', 'auth-cache-duration', 'whole seconds'],
      ['no-unit', 'auth-cache-duration', 'has no unit'],
      ['unknown-var', 'auth-cache-key', '$uri'],
      ['bad-char', 'auth-cache-key', 'may hold only'],
      ['bare-dollar', 'auth-cache-key', 'starts no variable'],
    ];
    const appBefore = app.requests;
    const authBefore = auth.requests;
    for (const [name, annotation, reason] of cases) {
      const errors = conditions.filter((c) => c.source.name === name && c.severity === 'Error');
      expect(errors.map((c) => c.field), name).toContain(`metadata.annotations['${A}${annotation}']`);
      expect(errors.map((c) => c.message).join(' '), name).toContain(reason);
      expect((await get(`${name}.test`, 'Bearer alice')).status, name).toBe(503);
    }
    expect(app.requests).toBe(appBefore);
    expect(auth.requests).toBe(authBefore);
  });

  it('hostile: a huge key is asked every time, never kept; many distinct keys stay within the entry and byte bounds (oldest out)', async () => {
    const huge = `Bearer ${'k'.repeat(9000)}`;
    await get('long.test', huge);
    await get('long.test', huge);
    expect(times(huge)).toBe(2);
    const evictedBefore = cache().stats.evicted;
    for (let i = 0; i < 100; i++) expect((await get('long.test', `Bearer many${i}`)).status).toBe(200);
    expect(cache().size).toBeLessThanOrEqual(64);
    expect(cache().bytes).toBeLessThanOrEqual(64 * 1024);
    expect(cache().stats.evicted - evictedBefore).toBeGreaterThanOrEqual(36);
    // The most recent keys are kept, the first ones were evicted and ask again.
    expect(await get('long.test', 'Bearer many99')).toMatchObject({ user: 'many99#1' });
    expect(await get('long.test', 'Bearer many0')).toMatchObject({ user: 'many0#2' });
    // Big keys under the byte bound: 20 keys of 4 KiB cannot all stay in 64 KiB.
    for (let i = 0; i < 20; i++) await get('long.test', `Bearer big${i}${'b'.repeat(4000)}`);
    expect(cache().bytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('a repeated Authorization field is never cached (ambiguous key)', async () => {
    const { request } = await import('node:http');
    const twice = () =>
      new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: proxy.port, path: '/', headers: [['host', 'long.test'], ['authorization', 'Bearer ivan'], ['authorization', 'Bearer ivan']] as unknown as Record<string, string>, agent: false }, (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end();
      });
    const before = cache().stats.uncacheable;
    await twice();
    await twice();
    expect(cache().stats.uncacheable - before).toBe(2);
  });
});

describe('auth-cache-key over HTTP/2 (the cookie crumbs of a stream make one Cookie line)', () => {
  it('a $cookie_ key: the same session cookie is asked once, another each time; no cookie is asked every time; portico_auth_cache_total counts it', async () => {
    const asked = new Map<string, number>();
    const auth = await startBackend((request, response) => {
      const cookie = request.headers.cookie ?? '';
      asked.set(cookie, (asked.get(cookie) ?? 0) + 1);
      request.resume();
      if (!cookie.includes('sid=')) response.statusCode = 401;
      else response.setHeader('X-User', cookie.replace(/.*sid=/, ''));
      response.end();
    });
    const app = await startBackend((request, response) => {
      request.resume();
      response.end(String(request.headers['x-user']));
    });
    const compiled = compileManifests(appManifests(app.port, [ingress('h2', 'h2.test', `http://127.0.0.1:${auth.port}/auth`, { [`${A}auth-cache-key`]: '$cookie_sid' })]));
    const plane = await startH2DataPlane(compiled.snapshot);
    const session = await h2Session(plane);
    const metric = (outcome: string): number => plane.metrics.families().find((family) => family.name === 'portico_auth_cache_total')?.samples.find((sample) => sample.labels.outcome === outcome)?.value ?? -1;
    const before = { hit: metric('hit'), stored: metric('stored'), uncacheable: metric('uncacheable') };
    try {
      for (let i = 0; i < 3; i++) {
        const response = await h2Request(session, { ':path': '/', ':authority': 'h2.test', cookie: ['theme=dark', 'sid=one'] });
        expect(response.status).toBe(200);
        expect(response.body.toString()).toBe('one');
      }
      expect(asked.get('theme=dark; sid=one')).toBe(1);
      expect((await h2Request(session, { ':path': '/', ':authority': 'h2.test', cookie: 'sid=two' })).body.toString()).toBe('two');
      expect(asked.get('sid=two')).toBe(1);
      expect((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).status).toBe(401);
      expect((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).status).toBe(401);
      expect(asked.get('')).toBe(2);
      // Counted over every cache of the process: at least this test's.
      expect(metric('hit') - before.hit).toBeGreaterThanOrEqual(2);
      expect(metric('stored') - before.stored).toBeGreaterThanOrEqual(2);
      expect(metric('uncacheable') - before.uncacheable).toBeGreaterThanOrEqual(2);
    } finally {
      session.close();
      await plane.close();
      await app.close();
      await auth.close();
    }
  });
});
