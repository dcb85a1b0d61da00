import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyMetrics } from './metrics.ts';
import { renderPrometheus } from './metric-families.ts';
import { Router } from './router.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { fetchVia, keepAliveAgent, rawExchange, snapshotOf, startBackend, startProxy, statusOf } from './test-support.ts';

/** Echoes what it received as JSON: which backend, method, url, headers. */
function echo(name: string) {
  return startBackend((request, response) => {
    response.setHeader('content-type', 'application/json');
    response.setHeader('connection', 'keep-alive, x-backend-private');
    response.setHeader('x-backend-private', 'hidden');
    response.end(JSON.stringify({ backend: name, method: request.method, url: request.url, headers: request.headers }));
  });
}

describe('proxy: routing and forwarding', () => {
  let one: Backend;
  let two: Backend;
  let router: Router;
  let proxy: RunningProxy;
  let trustedProxy: RunningProxy;
  let metrics: ProxyMetrics;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    [one, two] = await Promise.all([echo('one'), echo('two')]);
    router = new Router({ httpsPort: 8443 });
    router.load(
      snapshotOf([
        { host: 'app.test', routes: [{ path: '/', endpoints: [one.port] }, { path: '/api', endpoints: [two.port] }, { path: '/exact', pathType: 'Exact', endpoints: [two.port] }] },
        { host: '*.wild.test', routes: [{ path: '/', endpoints: [two.port] }] },
        { host: 'empty.test', routes: [{ path: '/', endpoints: [] }] },
        { host: 'secure.test', routes: [{ path: '/', endpoints: [one.port], sslRedirect: true }] },
      ]),
    );
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    proxy = await startProxy(router, { metrics: (metrics = new ProxyMetrics(router)), accessLog: pino(sink) });
    trustedProxy = await startProxy(router, { trustedProxies: ['127.0.0.0/8'] });
  });

  afterAll(async () => {
    await Promise.all([proxy.close(), trustedProxy.close()]);
    await Promise.all([one.close(), two.close()]);
  });

  const seen = async (host: string, path: string) => JSON.parse((await fetchVia(proxy.port, { host, path })).body) as { backend: string; url: string; headers: Record<string, string> };

  it('routes by host and path (longest prefix, exact, wildcard)', async () => {
    expect((await seen('app.test', '/')).backend).toBe('one');
    expect((await seen('app.test', '/api/v1?x=1')).backend).toBe('two');
    expect((await seen('app.test', '/apix')).backend).toBe('one');
    expect((await seen('app.test', '/exact')).backend).toBe('two');
    expect((await seen('app.test', '/exact/more')).backend).toBe('one');
    expect((await seen('APP.test:80', '/api')).backend).toBe('two');
    expect((await seen('x.wild.test', '/')).backend).toBe('two');
    expect((await seen('app.test', '/api/v1?x=1')).url).toBe('/api/v1?x=1');
  });

  it('answers 404 without a route, 503 without endpoints, 308 to HTTPS for ssl-redirect', async () => {
    expect((await fetchVia(proxy.port, { host: 'nowhere.test' })).status).toBe(404);
    expect((await fetchVia(proxy.port, { host: 'a.b.wild.test' })).status).toBe(404);
    expect((await fetchVia(proxy.port, { host: 'empty.test' })).status).toBe(503);
    const redirect = await fetchVia(proxy.port, { host: 'secure.test:8080', path: '/login?next=/x' });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe('https://secure.test:8443/login?next=/x');
    // ingress-nginx removes one trailing "/" of the request-target, query or not (lua_ingress.lua).
    expect((await fetchVia(proxy.port, { host: 'secure.test', path: '/login?next=/' })).headers.location).toBe('https://secure.test:8443/login?next=');
  });

  it('keeps a keep-alive connection usable after answering 404, 503 and 308 itself (shorter and longer next requests)', async () => {
    const agent = keepAliveAgent();
    const sequence: [string, string, number][] = [
      ['nowhere.test', '/a-rather-long-path-that-is-not-routed', 404],
      ['app.test', '/', 200],
      ['nowhere.test', '/x', 404],
      ['nowhere.test', '/y', 404],
      ['empty.test', '/', 503],
      ['secure.test', '/login', 308],
      ['app.test', '/a-much-longer-path-than-any-before-it-on-this-connection', 200],
    ];
    for (const [host, path, status] of sequence) expect((await fetchVia(proxy.port, { host, path, agent })).status, `${host}${path}`).toBe(status);
    agent.destroy();
  });

  it('removes hop-by-hop headers both ways and sets X-Forwarded-* for an untrusted peer', async () => {
    const raw = await rawExchange(
      proxy.port,
      [
        'GET / HTTP/1.1',
        'Host: app.test',
        'Connection: keep-alive, x-hop',
        'X-Hop: secret',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: x-t',
        'Upgrade: h2c',
        'Proxy-Authorization: Basic abc',
        'X-Forwarded-For: 6.6.6.6',
        'X-Forwarded-Proto: https',
        'X-Forwarded-Host: evil.test',
        'X-Forwarded-Port: 1',
        'X-Real-IP: 6.6.6.6',
        'X-Request-ID: given-id',
        'Connection: close',
        '',
        '',
      ].join('\r\n'),
      2000,
    );
    const response = { body: raw.slice(raw.indexOf('\r\n\r\n') + 4), head: raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase() };
    const { headers } = JSON.parse(response.body) as { headers: Record<string, string> };
    for (const name of ['x-hop', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade']) expect(headers).not.toHaveProperty(name);
    expect(headers['proxy-authorization']).toBe('Basic abc');
    expect(headers).toMatchObject({ host: 'app.test', 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'app.test', 'x-forwarded-port': String(proxy.port), 'x-real-ip': '127.0.0.1', 'x-request-id': 'given-id' });
    expect(response.head).not.toContain('x-backend-private');
    expect(response.head).not.toContain('keep-alive');
    expect(response.head).toContain('\r\nconnection: close');
  });

  it('generates distinct request ids', async () => {
    const a = (await seen('app.test', '/')).headers['x-request-id'];
    const b = (await seen('app.test', '/')).headers['x-request-id'];
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(b).toMatch(/^[0-9a-f]{32}$/);
    expect(a).not.toBe(b);
  });

  it('appends to X-Forwarded-For and keeps X-Forwarded-* from a trusted peer', async () => {
    const response = await fetchVia(trustedProxy.port, {
      host: 'app.test',
      headers: { 'x-forwarded-for': '203.0.113.9, 10.1.2.3', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.test', 'x-forwarded-port': '443' },
    });
    const { headers } = JSON.parse(response.body) as { headers: Record<string, string> };
    expect(headers).toMatchObject({ 'x-forwarded-for': '203.0.113.9, 10.1.2.3, 127.0.0.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'public.test', 'x-forwarded-port': '443', 'x-real-ip': '10.1.2.3' });
    const plain = JSON.parse((await fetchVia(trustedProxy.port, { host: 'app.test' })).body) as { headers: Record<string, string> };
    expect(plain.headers).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http', 'x-real-ip': '127.0.0.1' });
  });

  it('reuses keep-alive connections to the backend, from one client connection and from many', async () => {
    const solo = await echo('solo');
    const soloRouter = new Router();
    soloRouter.load(snapshotOf([{ host: 'solo.test', routes: [{ endpoints: [solo.port] }] }]));
    const soloProxy = await startProxy(soloRouter);
    const agent = keepAliveAgent();
    for (let i = 0; i < 20; i++) expect((await fetchVia(soloProxy.port, { host: 'solo.test', agent })).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await fetchVia(soloProxy.port, { host: 'solo.test' })).status).toBe(200);
    agent.destroy();
    expect(solo.requests).toBe(40);
    expect(solo.connections).toBe(1);
    await soloProxy.close();
    await solo.close();
  });

  it('answers pipelined requests in order', async () => {
    const raw = await rawExchange(proxy.port, 'GET /api/1 HTTP/1.1\r\nHost: app.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: app.test\r\n\r\nGET /3 HTTP/1.1\r\nHost: nowhere.test\r\n\r\nGET /api/4 HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n');
    const urls = [...raw.matchAll(/"url":"([^"]+)"/g)].map((match) => match[1]);
    expect(urls).toEqual(['/api/1', '/2', '/api/4']);
    expect([...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1])).toEqual(['200', '200', '404', '200']);
    expect(raw.indexOf('"/2"')).toBeLessThan(raw.indexOf('404 Not Found'));
  });

  it('closes after Connection: close and after HTTP/1.0', async () => {
    const closeRaw = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 2000);
    expect(statusOf(closeRaw)).toBe(200);
    expect(closeRaw).toMatch(/\r\nConnection: close\r\n/i);
    const old = await rawExchange(proxy.port, 'GET / HTTP/1.0\r\nHost: app.test\r\n\r\n', 2000);
    expect(statusOf(old)).toBe(200);
  });

  it('counts requests by status class and route, and writes one access log line per request', async () => {
    const before = logLines.length;
    await fetchVia(proxy.port, { host: 'app.test', path: '/api/metrics-check', headers: { 'x-request-id': 'log-me' } });
    await fetchVia(proxy.port, { host: 'nowhere.test', path: '/missing' });
    const text = renderPrometheus(metrics.families());
    expect(text).toMatch(/portico_requests_total\{status_class="2xx",route="test\/ing-0@app.test\/api"\} \d+/);
    expect(text).toMatch(/portico_requests_total\{status_class="4xx",route=""\} \d+/);
    expect(text).toMatch(/portico_upstream_duration_seconds_count \d+/);
    expect(text).toContain(`portico_snapshot_info{version="${router.version}"} 1`);
    expect(text).toContain('portico_snapshot_swaps_total 1');
    expect(text).toContain(`portico_endpoint_healthy{endpoint="127.0.0.1:${one.port}"} 1`);
    expect(text).toMatch(/portico_active_connections \d+/);
    const lines = logLines.slice(before);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ method: 'GET', host: 'app.test', path: '/api/metrics-check', protocol: 'HTTP/1.1', status: 200, route: 'test/ing-0@app.test/api', upstream: `127.0.0.1:${two.port}`, request_id: 'log-me' });
    expect(typeof lines[0]?.duration_ms).toBe('number');
    expect(lines[1]).toMatchObject({ host: 'nowhere.test', path: '/missing', status: 404, route: '', upstream: '' });
  });

  it('answers HEAD without a body and keeps the connection usable', async () => {
    const raw = await rawExchange(proxy.port, 'HEAD / HTTP/1.1\r\nHost: app.test\r\n\r\nGET /after-head HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 2000);
    const heads = [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((match) => match[1]);
    expect(heads).toEqual(['200', '200']);
    // The HEAD response ends right after its head: the next thing on the wire is the GET's response.
    expect(raw.split('HTTP/1.1 200 OK')[1]?.endsWith('\r\n\r\n')).toBe(true);
    expect(raw).toContain('"url":"/after-head"');
  });

  it('answers a pipelined request that follows one with a body', async () => {
    const raw = await rawExchange(proxy.port, 'POST /api/with-body HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5\r\n\r\nhelloGET /api/next HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', 2000);
    expect([...raw.matchAll(/"url":"([^"]+)"/g)].map((match) => match[1])).toEqual(['/api/with-body', '/api/next']);
    expect(raw).toContain('"content-length":"5"');
  });

  it('answers a client that half-closes right after its request', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(proxy.port, '127.0.0.1', () => socket.end('GET /half HTTP/1.1\r\nHost: app.test\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('"url":"/half"');
  });

  it('assembles a head that arrives a byte at a time', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const request = 'GET /api/drip HTTP/1.1\r\nHost: app.test\r\nX-Padding: ' + 'p'.repeat(1500) + '\r\nConnection: close\r\n\r\n';
      const socket = connect(proxy.port, '127.0.0.1', async () => {
        for (let at = 0; at < request.length; at += 1 + (at % 97)) {
          socket.write(request.slice(at, at + 1 + (at % 97)));
          await new Promise((done) => setImmediate(done));
        }
      });
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('"url":"/api/drip"');
  });
});
