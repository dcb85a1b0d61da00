import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProxyOptions } from './proxy.ts';
import { Router } from './router.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { fetchVia, rawExchange, snapshotOf, startBackend, startProxy, statusOf } from './test-support.ts';

describe('proxy: path normalization before matching, and the methods Portico answers itself', () => {
  let publicBackend: Backend;
  let rootBackend: Backend;
  let router: Router;
  const proxies: RunningProxy[] = [];
  const start = async (options: ProxyOptions = {}) => {
    const proxy = await startProxy(router, options);
    proxies.push(proxy);
    return proxy.port;
  };
  let port: number;

  beforeAll(async () => {
    // Each backend echoes the request-target it received.
    publicBackend = await startBackend((request, response) => response.end(`public ${request.url}`));
    rootBackend = await startBackend((request, response) => response.end(`other ${request.url}`));
    router = new Router();
    // Only /public is published on p.test; q.test publishes / so a climbed-out path has somewhere to land.
    router.load(snapshotOf([{ host: 'p.test', routes: [{ path: '/public', endpoints: [publicBackend.port] }] }, { host: 'q.test', routes: [{ path: '/public', endpoints: [publicBackend.port] }, { path: '/', endpoints: [rootBackend.port] }] }]));
    port = await start();
  });

  afterAll(async () => {
    for (const proxy of proxies) await proxy.close();
    await publicBackend.close();
    await rootBackend.close();
    router.close();
  });

  const get = (path: string, host = 'p.test', method = 'GET') => rawExchange(port, `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);

  it('the issue: /public/../internal, /public/%2e%2e/internal and /public/..%2finternal never reach the /public backend', async () => {
    const before = publicBackend.requests;
    expect(statusOf(await get('/public/../internal'))).toBe(404);
    expect(statusOf(await get('/public/%2e%2e/internal'))).toBe(404);
    expect(statusOf(await get('/public/%2E%2e/internal'))).toBe(404);
    expect(statusOf(await get('/public/..%2finternal'))).toBe(400);
    expect(statusOf(await get('/public/..%5Cinternal'))).toBe(400);
    expect(statusOf(await get('/public/%2e%2e%2finternal'))).toBe(400);
    expect(publicBackend.requests).toBe(before);
  });

  it('matches and forwards the normalized path: a climbed-out path goes where it lands, as that path', async () => {
    expect((await fetchVia(port, { host: 'q.test', path: '/public/../internal' })).body).toBe('other /internal');
    expect((await fetchVia(port, { host: 'q.test', path: '/x/%2e%2e/public/a' })).body).toBe('public /public/a');
  });

  it('decodes unreserved escapes, merges slashes, keeps the query and other escapes as they are', async () => {
    expect((await fetchVia(port, { host: 'p.test', path: '/public/./%7Euser//a%3fb?x=/../%2e' })).body).toBe('public /public/~user/a%3Fb?x=/../%2e');
    expect((await fetchVia(port, { host: 'p.test', path: '/public/@scope%2fname' })).body).toBe('public /public/@scope%2Fname');
    expect(statusOf(await get('/public/a%zz'))).toBe(400);
  });

  it('options: escaped slashes rejected or decoded, slashes kept', async () => {
    const reject = await start({ pathNormalization: { escapedSlashes: 'reject' } });
    expect(statusOf(await rawExchange(reject, 'GET /public/@scope%2fname HTTP/1.1\r\nHost: p.test\r\n\r\n'))).toBe(400);
    const decode = await start({ pathNormalization: { escapedSlashes: 'decode' } });
    expect((await fetchVia(decode, { host: 'q.test', path: '/public/..%2finternal' })).body).toBe('other /internal');
    const unmerged = await start({ pathNormalization: { mergeSlashes: false } });
    expect((await fetchVia(unmerged, { host: 'p.test', path: '/public//a' })).body).toBe('public /public//a');
  });

  it('refuses TRACE with 405 and answers OPTIONS * itself; neither reaches an endpoint', async () => {
    const before = publicBackend.requests + rootBackend.requests;
    const trace = await get('/public/x', 'q.test', 'TRACE');
    expect(statusOf(trace)).toBe(405);
    expect(trace).toMatch(/\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n/);
    const options = await get('*', 'q.test', 'OPTIONS');
    expect(statusOf(options)).toBe(200);
    expect(options).toMatch(/\r\nAllow: /);
    // Still keep-alive: a request after OPTIONS * on the same connection is served.
    const both = await rawExchange(port, 'OPTIONS * HTTP/1.1\r\nHost: q.test\r\n\r\nGET /public/y HTTP/1.1\r\nHost: q.test\r\nConnection: close\r\n\r\n');
    expect(both).toContain('public /public/y');
    expect(publicBackend.requests + rootBackend.requests).toBe(before + 1);
  });
});
