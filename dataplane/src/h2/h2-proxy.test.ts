import type { ClientHttp2Session } from 'node:http2';
import { connect as connectHttp2 } from 'node:http2';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataPlane } from '../dataplane.ts';
import type { Backend } from '../test-support.ts';
import { rawExchange, snapshotOf, startBackend } from '../test-support.ts';
import { connect as connectTls } from 'node:tls';
import { PREFACE, h2Request, h2Session, startH2DataPlane } from './test-support.ts';

describe('HTTP/2 downstream: the same routing and forwarding as HTTP/1.1', () => {
  let backend: Backend;
  let plane: DataPlane;
  let tls: ClientHttp2Session;
  let h2c: ClientHttp2Session;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    backend = await startBackend((request, response) => {
      if (request.url?.startsWith('/trailers') === true) {
        request.resume();
        const grpc = request.url === '/trailers/grpc';
        response.writeHead(200, grpc ? { 'content-type': 'application/grpc' } : { trailer: 'x-checksum' });
        response.write('part one, ');
        response.write('part two');
        response.addTrailers(grpc ? { 'grpc-status': '0', 'grpc-message': 'fine' } : { 'x-checksum': 'abc', 'content-length': '99' });
        response.end();
        return;
      }
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        response.setHeader('x-seen', JSON.stringify({ method: request.method, url: request.url, headers: request.headers, body: Buffer.concat(chunks).toString('latin1').slice(0, 100), bytes: Buffer.concat(chunks).length, version: request.httpVersion }));
        response.setHeader('connection', 'keep-alive');
        response.setHeader('keep-alive', 'timeout=5');
        response.end(`hello ${request.url}`);
      });
    });
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n')) if (line !== '') logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    plane = await startH2DataPlane(snapshotOf([{ host: 'app.test', routes: [{ path: '/', endpoints: [backend.port] }] }]), { accessLog: pino(sink) });
    tls = await h2Session(plane, true);
    h2c = await h2Session(plane, false);
  });

  afterAll(async () => {
    tls.close();
    h2c.close();
    await plane.close(1000);
    await backend.close();
  });

  it('serves h2 over TLS (ALPN) and h2c with prior knowledge, as HTTP/1.1 to the endpoint', async () => {
    for (const [session, scheme] of [[tls, 'https'], [h2c, 'http']] as const) {
      const response = await h2Request(session, { ':path': '/a?b=1', ':authority': 'app.test', ':scheme': scheme });
      expect(response.status).toBe(200);
      expect(response.body.toString()).toBe('hello /a?b=1');
      expect(response.headers.connection).toBeUndefined();
      expect(response.headers['keep-alive']).toBeUndefined();
      expect(response.headers.server).toBe('portico');
      const seen = JSON.parse(String(response.headers['x-seen']));
      expect(seen).toMatchObject({ method: 'GET', url: '/a?b=1', version: '1.1', headers: { host: 'app.test', 'x-forwarded-proto': scheme } });
    }
  });

  it('forwards request bodies: with content-length as is, without as chunked', async () => {
    const sized = await h2Request(tls, { ':method': 'POST', ':path': '/p', ':authority': 'app.test', 'content-length': '5' }, 'abcde');
    expect(JSON.parse(String(sized.headers['x-seen']))).toMatchObject({ body: 'abcde', headers: { 'content-length': '5' } });
    const streamed = await h2Request(tls, { ':method': 'POST', ':path': '/p', ':authority': 'app.test' }, 'x'.repeat(100_000));
    const seen = JSON.parse(String(streamed.headers['x-seen']));
    expect(seen.bytes).toBe(100_000);
    expect(seen.headers['transfer-encoding']).toBe('chunked');
  });

  it('answers what Portico answers itself: 404 for an unknown host, 405 for TRACE', async () => {
    expect((await h2Request(tls, { ':path': '/', ':authority': 'nope.test' })).status).toBe(404);
    const trace = await h2Request(tls, { ':method': 'TRACE', ':path': '/', ':authority': 'app.test' });
    expect(trace.status).toBe(405);
    expect(trace.headers.allow).toContain('GET');
  });

  it('carries many concurrent streams on one connection', async () => {
    const before = backend.requests;
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => h2Request(h2c, { ':path': `/c/${i}`, ':authority': 'app.test' })));
    expect(responses.map((response) => response.body.toString())).toEqual(Array.from({ length: 50 }, (_, i) => `hello /c/${i}`));
    expect(backend.requests - before).toBe(50);
  });

  it('relays a chunked body without its framing, and its trailer section as HTTP/2 trailers', async () => {
    const announced = await h2Request(tls, { ':path': '/trailers', ':authority': 'app.test' });
    expect(announced.body.toString()).toBe('part one, part two');
    expect(announced.headers['transfer-encoding']).toBeUndefined();
    expect(announced.headers.trailer).toBeUndefined();
    // Content-Length has no place in a trailer section: dropped.
    expect(announced.trailers).toEqual({ 'x-checksum': 'abc' });
    const grpc = await h2Request(h2c, { ':path': '/trailers/grpc', ':authority': 'app.test' });
    expect(grpc.body.toString()).toBe('part one, part two');
    expect(grpc.trailers).toEqual({ 'grpc-status': '0', 'grpc-message': 'fine' });
  });

  it('records the protocol in the access log and the metrics', async () => {
    const before = logLines.length;
    const protocolCount = (): number => plane.metrics.families().find((family) => family.name === 'portico_requests_by_protocol_total')!.samples.find((sample) => sample.labels.protocol === 'HTTP/2.0')!.value;
    const counted = protocolCount();
    await h2Request(tls, { ':path': '/logged', ':authority': 'app.test', 'x-request-id': 'h2-log' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logLines.slice(before)).toEqual([expect.objectContaining({ method: 'GET', host: 'app.test', path: '/logged', protocol: 'HTTP/2.0', status: 200, request_id: 'h2-log', upstream: `127.0.0.1:${backend.port}` })]);
    expect(protocolCount()).toBe(counted + 1);
  });
});

describe('HTTP/2 downstream: what the flags turn off, and graceful close', () => {
  it('offers only http/1.1 by ALPN with http2: false (--no-http2), and answers a prior-knowledge preface without h2c with GOAWAY HTTP_1_1_REQUIRED naming --h2c', async () => {
    const backend = await startBackend((_request, response) => response.end('ok'));
    const plane = await startH2DataPlane(snapshotOf([{ host: 'app.test', routes: [{ path: '/', endpoints: [backend.port] }] }]), { http2: false, h2c: false });
    try {
      const socket = connectTls({ host: '127.0.0.1', port: plane.ports.https!, ALPNProtocols: ['h2', 'http/1.1'], rejectUnauthorized: false });
      await new Promise((resolve) => socket.once('secureConnect', resolve));
      expect(socket.alpnProtocol).toBe('http/1.1');
      socket.destroy();
      const answer = Buffer.from(await rawExchange(plane.ports.http, PREFACE), 'latin1');
      // The server preface (an empty SETTINGS frame), then GOAWAY (type 7) on stream 0 with
      // last-stream-id 0, error code HTTP_1_1_REQUIRED (0xd) and the reason as debug data.
      expect(answer.subarray(0, 9)).toEqual(Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]));
      expect(answer[12]).toBe(7);
      expect(answer.readUInt32BE(18)).toBe(0);
      expect(answer.readUInt32BE(22)).toBe(0xd);
      expect(answer.subarray(26).toString('latin1')).toBe('h2c (HTTP/2 without TLS) is not served on this port: portico serves it with --h2c');
      expect(answer.readUIntBE(9, 3)).toBe(answer.length - 18);
      // Node's own HTTP/2 client reads it as the GOAWAY it is, and HTTP/1.1 still works there.
      const refused = await new Promise<number>((resolve) => {
        const session = connectHttp2(`http://127.0.0.1:${plane.ports.http}`);
        session.on('error', () => {});
        session.once('goaway', (code) => resolve(code));
      });
      expect(refused).toBe(0xd);
      expect(await rawExchange(plane.ports.http, 'GET / HTTP/1.1\r\nhost: app.test\r\nconnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 /);
    } finally {
      await plane.close(500);
      await backend.close();
    }
  });

  it('lets a stream in flight finish on close, with GOAWAY for the connection', async () => {
    let release: (() => void) | undefined;
    const backend = await startBackend((_request, response) => {
      release = () => response.end('finished');
    });
    const plane = await startH2DataPlane(snapshotOf([{ host: 'app.test', routes: [{ path: '/', endpoints: [backend.port] }] }]));
    const session = await h2Session(plane, true);
    const goaway = new Promise((resolve) => session.once('goaway', resolve));
    const pending = h2Request(session, { ':path': '/slow', ':authority': 'app.test' });
    while (release === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    const closed = plane.close(5000);
    await goaway;
    release();
    const response = await pending;
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('finished');
    await closed;
    await backend.close();
  });
});
