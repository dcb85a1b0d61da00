/**
 * HTTP/2 to endpoints (backend-protocol H2C / GRPCS, appProtocol kubernetes.io/h2c) for HTTP/1.1
 * clients, through the real proxy with configuration compiled from manifests: requests and
 * bodies (fixed and chunked) translated to HTTP/2 streams, responses back with chunked framing and
 * trailers, one pooled session for many requests, sessions per endpoint bounded, failures
 * (connect refused, a stream reset, GOAWAY) decided like HTTP/1.1 ones.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createSecureServer, createServer, constants } from 'node:http2';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOOPBACK, annotatedIngress, appManifests, closedPort, compileManifests, fetchVia, keepAliveAgent, rawExchange, startProxy, startRawBackend } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BP = 'nginx.ingress.kubernetes.io/backend-protocol';

/** An HTTP/2 backend (h2c, or TLS with `tls`) that counts sessions and streams and runs `handler` per stream. */
async function h2Backend(handler: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void, tls?: { key: string; cert: string }): Promise<{ port: number; sessions: () => number; streams: () => number; server: Http2Server | Http2SecureServer }> {
  const server = tls === undefined ? createServer() : createSecureServer({ key: tls.key, cert: tls.cert });
  let sessions = 0;
  let streams = 0;
  server.on('session', (session) => {
    sessions++;
    cleanups.push(() => session.destroy());
  });
  server.on('stream', (stream, headers) => {
    streams++;
    stream.on('error', () => {});
    handler(stream, headers);
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as AddressInfo).port, sessions: () => sessions, streams: () => streams, server };
}

/** Proxy in front of `port` with backend-protocol `protocol` (plus `extra` annotations). */
async function proxyTo(port: number, protocol: string, extra: Record<string, string> = {}, options = {}) {
  const { router, conditions } = compileManifests(appManifests(port, [annotatedIngress('app', 'h2.test', { [BP]: protocol, ...extra })]));
  expect(conditions.filter((c) => c.severity === 'Error')).toEqual([]);
  const proxy = await startProxy(router, options);
  cleanups.push(() => proxy.close());
  return proxy;
}

function echo(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'content-type': 'application/json', 'x-seen-scheme': String(headers[':scheme']) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-trailer': 'done' }));
    const { ':method': method, ':path': path, ':authority': authority } = headers;
    stream.end(JSON.stringify({ method, path, authority, te: headers.te, connection: headers.connection, xff: headers['x-forwarded-for'], body: Buffer.concat(chunks).toString() }));
  });
}

describe('proxy: HTTP/2 to endpoints, HTTP/1.1 clients', () => {
  it('translates requests and bodies to h2c streams and responses back, over one pooled session', async () => {
    const backend = await h2Backend(echo);
    const proxy = await proxyTo(backend.port, 'H2C');
    const agent = keepAliveAgent();
    cleanups.push(() => agent.destroy());
    const get = await fetchVia(proxy.port, { host: 'h2.test', path: '/a/b?c=1', agent, headers: { connection: 'keep-alive' } });
    expect(get.status).toBe(200);
    expect(JSON.parse(get.body)).toEqual({ method: 'GET', path: '/a/b?c=1', authority: 'h2.test', xff: '127.0.0.1', body: '' });
    expect(get.headers['x-seen-scheme']).toBe('http');
    // Trailers came as the last chunk of a chunked response.
    expect(get.headers['transfer-encoding']).toBe('chunked');
    const post = await fetchVia(proxy.port, { host: 'h2.test', method: 'POST', path: '/p', agent, body: 'x'.repeat(100_000), headers: { 'content-type': 'text/plain' } });
    expect(JSON.parse(post.body)).toMatchObject({ method: 'POST', body: 'x'.repeat(100_000) });
    const chunked = await rawExchange(proxy.port, 'POST /c HTTP/1.1\r\nHost: h2.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    expect(chunked).toMatch(/^HTTP\/1\.1 200 /);
    expect(chunked).toContain('"body":"hello world"');
    expect(chunked).toMatch(/\r\n0\r\nx-trailer: done\r\n\r\n$/);
    for (let i = 0; i < 20; i++) expect((await fetchVia(proxy.port, { host: 'h2.test', path: `/n${i}` })).status).toBe(200);
    expect(backend.sessions()).toBe(1);
    expect(backend.streams()).toBe(23);
  });

  it('HEAD and 204 carry no body; a trailers-only answer ends at once', async () => {
    const backend = await h2Backend((stream, headers) => {
      const path = headers[':path'];
      if (path === '/204') stream.respond({ ':status': 204 }, { endStream: true });
      else if (path === '/empty') stream.respond({ ':status': 200, 'grpc-status': '5' }, { endStream: true });
      else {
        stream.respond({ ':status': 200, 'content-length': '5' });
        stream.end(headers[':method'] === 'HEAD' ? undefined : 'hello');
      }
    });
    const proxy = await proxyTo(backend.port, 'H2C');
    expect((await fetchVia(proxy.port, { host: 'h2.test', path: '/204' })).status).toBe(204);
    const empty = await fetchVia(proxy.port, { host: 'h2.test', path: '/empty' });
    expect(empty).toMatchObject({ status: 200, body: '' });
    expect(empty.headers['grpc-status']).toBe('5');
    const head = await fetchVia(proxy.port, { host: 'h2.test', method: 'HEAD', path: '/x' });
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('5');
    expect((await fetchVia(proxy.port, { host: 'h2.test', path: '/x' })).body).toBe('hello');
  });

  it('GRPCS: HTTP/2 over TLS with ALPN h2, SNI as configured, one handshake for many requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-h2tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=app.web.svc', '-addext', 'subjectAltName=DNS:app.web.svc', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'pipe' });
    const tls = { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
    rmSync(dir, { recursive: true, force: true });
    const names: string[] = [];
    const backend = await h2Backend(echo, tls);
    (backend.server as Http2SecureServer).on('secureConnection', (socket) => names.push(String((socket as unknown as { servername: string }).servername)));
    const proxy = await proxyTo(backend.port, 'GRPCS', { 'nginx.ingress.kubernetes.io/proxy-ssl-server-name': 'on' });
    for (let i = 0; i < 5; i++) {
      const response = await fetchVia(proxy.port, { host: 'h2.test', path: `/t${i}` });
      expect(response.status).toBe(200);
      expect(response.headers['x-seen-scheme']).toBe('https');
      // GRPC backends get `te: trailers` on every request.
      expect(JSON.parse(response.body)).toMatchObject({ te: 'trailers' });
    }
    expect(names).toEqual(['app.web.svc']);
  });

  it('hostile: an HTTP/1.1-only TLS endpoint (no ALPN h2) answers 502, never spoken to in HTTP/1.1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-h2tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=x', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'pipe' });
    const tls = { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
    rmSync(dir, { recursive: true, force: true });
    const { createServer: createHttpsServer } = await import('node:https');
    let requests = 0;
    const server = createHttpsServer(tls, (_request, response) => {
      requests++;
      response.end('h1');
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy = await proxyTo((server.address() as AddressInfo).port, 'GRPCS');
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(502);
    expect(requests).toBe(0);
  });

  it('a refused connect is 502 (retried elsewhere first), and the endpoint pays for it', async () => {
    const port = await closedPort();
    const proxy = await proxyTo(port, 'H2C');
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(502);
  });

  it('hostile: a stream reset before the response is 502; after the response started the client is cut', async () => {
    const backend = await h2Backend((stream, headers) => {
      if (headers[':path'] === '/reset-now') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else {
        stream.respond({ ':status': 200 });
        stream.write('partial');
        // The endpoint's connection dies mid-response (node's stream.close after respond ends the stream cleanly).
        setTimeout(() => stream.session?.destroy(), 20);
      }
    });
    const proxy = await proxyTo(backend.port, 'H2C');
    // A GET reset before any response is replayable: retried once (same endpoint set has one), then 502.
    expect((await fetchVia(proxy.port, { host: 'h2.test', path: '/reset-now', method: 'POST', body: 'x' })).status).toBe(502);
    const cut = await rawExchange(proxy.port, 'GET /later HTTP/1.1\r\nHost: h2.test\r\n\r\n', 500);
    expect(cut).toMatch(/^HTTP\/1\.1 200 /);
    expect(cut).toContain('partial');
    // No last chunk: the client sees a truncated response, never a complete one.
    expect(cut).not.toMatch(/\r\n0\r\n\r\n$/);
  });

  it('hostile: GOAWAY mid-stream lets streams in flight finish; new requests get a new session', async () => {
    let goaway = false;
    const backend = await h2Backend((stream, headers) => {
      if (headers[':path'] === '/slow') {
        stream.respond({ ':status': 200 });
        stream.write('a');
        setTimeout(() => stream.end('b'), 100);
        if (!goaway) {
          goaway = true;
          stream.session?.goaway(constants.NGHTTP2_NO_ERROR, stream.id);
        }
      } else stream.respond({ ':status': 200 }, { endStream: true });
    });
    const proxy = await proxyTo(backend.port, 'H2C');
    const slow = fetchVia(proxy.port, { host: 'h2.test', path: '/slow' });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect((await fetchVia(proxy.port, { host: 'h2.test', path: '/fast' })).status).toBe(200);
    expect(await slow).toMatchObject({ status: 200, body: 'ab' });
    expect(backend.sessions()).toBe(2);
  });

  it('bounds: at most maxSessionsPerEndpoint sessions × the endpoint\'s stream limit; more answers 503', async () => {
    const held: ServerHttp2Stream[] = [];
    const backend = await h2Backend((stream) => {
      held.push(stream);
    });
    (backend.server as Http2Server).updateSettings({ maxConcurrentStreams: 2 });
    const proxy = await proxyTo(backend.port, 'H2C');
    // 8 sessions × 2 streams are taken by hanging requests; the 17th is refused at once.
    const hanging = Array.from({ length: 16 }, (_, i) => rawExchange(proxy.port, `GET /h${i} HTTP/1.1\r\nHost: h2.test\r\n\r\n`, 1500));
    await expect.poll(() => held.length, { timeout: 5000 }).toBe(16);
    expect((await fetchVia(proxy.port, { host: 'h2.test', path: '/one-more' })).status).toBe(503);
    expect(backend.sessions()).toBe(8);
    for (const stream of held) stream.respond({ ':status': 200 }, { endStream: true });
    for (const response of await Promise.all(hanging)) expect(response).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('hostile: an endpoint that takes the connection but never sends its SETTINGS: 504 at the connect timeout, the session destroyed', async () => {
    const silent = await startRawBackend();
    cleanups.push(() => silent.close());
    const proxy = await proxyTo(silent.port, 'H2C', {}, { connectTimeoutMs: 300 });
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(504);
    await expect.poll(() => proxy.proxy.h2.sessionCount, { timeout: 5000 }).toBe(0);
    // It did receive the HTTP/2 preface, and nothing it could mistake for HTTP/1.1.
    expect(silent.received()).toMatch(/^PRI \* HTTP\/2\.0\r\n\r\nSM\r\n\r\n/);
  });

  it('an idle session is closed after the idle timeout; the next request opens a new one', async () => {
    const backend = await h2Backend(echo);
    const proxy = await proxyTo(backend.port, 'H2C', {}, { upstreamIdleTimeoutMs: 200 });
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(200);
    expect(proxy.proxy.h2.sessionCount).toBe(1);
    await expect.poll(() => proxy.proxy.h2.sessionCount, { timeout: 5000 }).toBe(0);
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(200);
    expect(backend.sessions()).toBe(2);
  });

  it('GRPCS with proxy-ssl-verify on and an endpoint certificate no CA vouches for: 502, no request sent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-h2tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=app.web.svc', '-addext', 'subjectAltName=DNS:app.web.svc', '-keyout', join(dir, 'k.pem'), '-out', join(dir, 'c.pem')], { stdio: 'pipe' });
    const tls = { key: readFileSync(join(dir, 'k.pem'), 'utf8'), cert: readFileSync(join(dir, 'c.pem'), 'utf8') };
    rmSync(dir, { recursive: true, force: true });
    const backend = await h2Backend(echo, tls);
    const proxy = await proxyTo(backend.port, 'GRPCS', { 'nginx.ingress.kubernetes.io/proxy-ssl-verify': 'on' });
    expect((await fetchVia(proxy.port, { host: 'h2.test' })).status).toBe(502);
    expect(backend.streams()).toBe(0);
  });
});
