import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { LOOPBACK, rawExchange, snapshotOf, startBackend, startProxy, startRawBackend } from './test-support.ts';

const TOTAL = 50 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** Chunk `index` of the test body: position-dependent bytes, so reordering or loss shows in the hash. */
function chunkAt(index: number): Buffer {
  const chunk = Buffer.allocUnsafe(CHUNK);
  for (let at = 0; at < CHUNK; at += 4) chunk.writeUInt32LE((index * CHUNK + at) >>> 0, at);
  return chunk;
}

interface Transfer {
  sentHash: string;
  receivedHash: string;
  received: number;
  /** Bytes of response that had arrived when the client wrote its last request byte. */
  receivedBeforeSendDone: number;
  responseHeaders: Record<string, unknown>;
}

/** Streams TOTAL bytes through the proxy to an echo backend and reads the echo concurrently. */
function transfer(port: number, framing: 'chunked' | 'length'): Promise<Transfer> {
  return new Promise((resolve, reject) => {
    const sent = createHash('sha256');
    const got = createHash('sha256');
    let received = 0;
    let receivedBeforeSendDone = -1;
    const headers: Record<string, string | number> = { host: 'stream.test', 'x-framing': framing };
    if (framing === 'length') headers['content-length'] = TOTAL;
    const request = httpRequest({ host: LOOPBACK, port, method: 'POST', path: '/echo', headers, agent: false }, (response) => {
      response.on('data', (chunk: Buffer) => {
        received += chunk.length;
        got.update(chunk);
      });
      response.on('end', () => resolve({ sentHash: sent.digest('hex'), receivedHash: got.digest('hex'), received, receivedBeforeSendDone, responseHeaders: response.headers }));
      response.on('error', reject);
    });
    request.on('error', reject);
    let index = 0;
    const writeMore = (): void => {
      while (index * CHUNK < TOTAL) {
        const chunk = chunkAt(index++);
        sent.update(chunk);
        if (!request.write(chunk)) {
          request.once('drain', writeMore);
          return;
        }
      }
      receivedBeforeSendDone = received;
      request.end();
    };
    writeMore();
  });
}

describe('proxy: streaming bodies', () => {
  let backend: Backend;
  let proxy: RunningProxy;

  beforeAll(async () => {
    // Echoes the body as it arrives: chunked back for chunked requests, Content-Length back otherwise.
    backend = await startBackend((request, response) => {
      const length = request.headers['content-length'];
      if (length !== undefined) response.setHeader('content-length', length);
      response.setHeader('x-echo-framing', String(request.headers['transfer-encoding'] ?? 'length'));
      request.pipe(response);
    });
    const router = new Router();
    router.load(snapshotOf([{ host: 'stream.test', routes: [{ endpoints: [backend.port] }] }]));
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  it.each(['chunked', 'length'] as const)('streams 50 MB both ways (%s) without buffering a whole body', async (framing) => {
    const result = await transfer(proxy.port, framing);
    expect(result.received).toBe(TOTAL);
    expect(result.receivedHash).toBe(result.sentHash);
    expect(result.responseHeaders['x-echo-framing']).toBe(framing === 'chunked' ? 'chunked' : 'length');
    if (framing === 'chunked') expect(result.responseHeaders['transfer-encoding']).toBe('chunked');
    else expect(result.responseHeaders['content-length']).toBe(String(TOTAL));
    // The echo could only answer with what the proxy had passed on, so response bytes arriving
    // before the request was fully written prove both directions streamed.
    expect(result.receivedBeforeSendDone).toBeGreaterThan(TOTAL / 2);
  });

  it('relays a close-delimited response and closes the client connection after it', async () => {
    const raw = await startRawBackend((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ');
      setTimeout(() => socket.end('second part'), 50);
    });
    const router = new Router();
    router.load(snapshotOf([{ host: 'eof.test', routes: [{ endpoints: [raw.port] }] }]));
    const eofProxy = await startProxy(router);
    const response = await rawExchange(eofProxy.port, 'GET / HTTP/1.1\r\nHost: eof.test\r\n\r\n', 2000);
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response).toContain('\r\nConnection: close\r\n');
    expect(response.endsWith('\r\n\r\nfirst part, second part')).toBe(true);
    await eofProxy.close();
    await raw.close();
  });

  it('relays a response split into many small reads, head included', async () => {
    const head = 'HTTP/1.1 200 OK\r\nX-Long: ' + 'v'.repeat(3000) + '\r\nTransfer-Encoding: chunked\r\n\r\n';
    const body = '3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n';
    const raw = await startRawBackend(async (socket) => {
      for (const piece of (head + body).match(/[\s\S]{1,7}/g) ?? []) {
        socket.write(piece);
        await new Promise((resolve) => setImmediate(resolve));
      }
    });
    const router = new Router();
    router.load(snapshotOf([{ host: 'split.test', routes: [{ endpoints: [raw.port] }] }]));
    const splitProxy = await startProxy(router);
    // The head arrives in ~430 pieces before Portico sends a byte: on a loaded machine that silence
    // can outlast a short idle window, so wait longer than the endpoint can take.
    const response = await rawExchange(splitProxy.port, 'GET / HTTP/1.1\r\nHost: split.test\r\n\r\n', 3000);
    // The endpoint sent no Server line: Portico adds its own, and nothing else changes.
    expect(response).toBe(head.replace(/\r\n\r\n$/, '\r\nServer: portico\r\n\r\n') + body);
    await splitProxy.close();
    await raw.close();
  });

  it('relays 100 Continue and then the body the client sends', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      let continued = false;
      const request = httpRequest({ host: LOOPBACK, port: proxy.port, method: 'POST', path: '/continue', headers: { host: 'stream.test', expect: '100-continue', 'content-length': 5 }, agent: false }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve(`${continued} ${text}`));
      });
      request.on('continue', () => {
        continued = true;
        request.end('hello');
      });
      request.on('error', reject);
    });
    expect(body).toBe('true hello');
  });
});
