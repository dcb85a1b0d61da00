import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { RunningProxy } from './test-support.ts';
import { LOOPBACK, rawExchange, snapshotOf, startProxy, startRawBackend, statusOf } from './test-support.ts';

const H = 'Host: smuggle.test\r\n';

/** Request-smuggling and malformed-message shapes, each with the status Portico must answer. */
const VECTORS: [name: string, bytes: string, status: number][] = [
  ['CL + TE', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, 400],
  ['TE + CL', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGPOST / HTTP/1.1\r\n\r\n0\r\n\r\n`, 400],
  ['two different Content-Lengths', `POST / HTTP/1.1\r\n${H}Content-Length: 8\r\nContent-Length: 7\r\n\r\n12345\r\na`, 400],
  ['Transfer-Encoding: xchunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding: chunked, identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding: chunked + identity lines', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding with space before colon', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding folded', `POST / HTTP/1.1\r\n${H}Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n`, 400],
  ['Transfer-Encoding from HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400],
  ['chunk size -1', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n0\r\n\r\n`, 400],
  ['chunk size 0x10', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n0x10\r\n0123456789abcdef\r\n0\r\n\r\n`, 400],
  ['chunk size " 5"', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk size "5 "', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n`, 400],
  ['chunk size too long', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nx\r\n0\r\n\r\n`, 400],
  ['chunk data without CRLF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n`, 400],
  ['chunk data followed by bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n`, 400],
  ['chunk size line with bare LF', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, 400],
  ['bare LF in the request line', `GET / HTTP/1.1\n${H}\r\n`, 400],
  ['bare LF in headers', `GET / HTTP/1.1\r\n${H}X-A: 1\nX-B: 2\r\n\r\n`, 400],
  ['bare LF ending headers', `GET / HTTP/1.1\r\n${H}\n`, 400],
  ['bare CR in a header value', `GET / HTTP/1.1\r\n${H}X-A: 1\rX-B: 2\r\n\r\n`, 400],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: 1\r\n 2\r\n\r\n`, 400],
  ['space before colon', `GET / HTTP/1.1\r\nHost : smuggle.test\r\n\r\n`, 400],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: 1\x002\r\n\r\n`, 400],
  ['missing Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', 400],
  ['two Hosts', `GET / HTTP/1.1\r\n${H}Host: other.test\r\n\r\n`, 400],
  ['oversized headers', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(40 * 1024)}\r\n\r\n`, 431],
  ['Content-Length with a sign', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ['whitespace in the method', `G ET / HTTP/1.1\r\n${H}\r\n`, 501],
];

/** Borderline messages, valid and not: wherever llhttp refuses one, Portico must refuse it too. */
const EDGE_CASES: string[] = [
  `GET / HTTP/1.1\r\n${H}X:  \r\n\r\n`,
  `GET /?a=b#frag HTTP/1.1\r\n${H}\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 00005\r\n\r\nhello`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a\r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5;a="b c"\r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5 ;a\r\nhello\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding:  CHUNKED \r\n\r\n0\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`,
  'GET / HTTP/1.1\r\nHost: a_b\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: \r\n\r\n',
  `GET / HTTP/1.1\r\n${H}X: caf\xe9\r\n\r\n`,
  `GET /caf\xe9 HTTP/1.1\r\n${H}\r\n`,
  `GET /a"b{c}\\d HTTP/1.1\r\n${H}\r\n`,
  `get / HTTP/1.1\r\n${H}\r\n`,
  `FOO / HTTP/1.1\r\n${H}\r\n`,
  `PROPFIND / HTTP/1.1\r\n${H}\r\n`,
  `\r\nGET / HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}X:\tv\t\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\x01b\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X: a\x7fb\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}X\xff: v\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`,
  `GET / HTTP/1.1\r\n${H}Connection: close, , keep-alive\r\n\r\n`,
  `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
  `GET http://smuggle.test/ HTTP/1.1\r\n${H}\r\n`,
  `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.2\r\n${H}\r\n`,
  `GET / HTTP/0.9\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}Content-Length: 1a\r\n\r\n`,
  `GET / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`,
  `GET  /  HTTP/1.1\r\n${H}\r\n`,
  `GET / HTTP/1.1\r\n\t${H}\r\n`,
  `GET / HTTP/1.1\r\n${H}X-\x00: v\r\n\r\n`,
];

describe('proxy: strict parsing', () => {
  let backend: Awaited<ReturnType<typeof startRawBackend>>;
  let proxy: RunningProxy;

  beforeAll(async () => {
    backend = await startRawBackend((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const router = new Router();
    router.load(snapshotOf([{ host: 'smuggle.test', routes: [{ endpoints: [backend.port] }] }]));
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  it.each(VECTORS)('refuses %s and forwards nothing', async (_name, bytes, status) => {
    const before = backend.received().length;
    const raw = await rawExchange(proxy.port, bytes, 500);
    expect(statusOf(raw)).toBe(status);
    expect(raw).toMatch(/\r\nConnection: close\r\n/);
    expect(raw.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(backend.received().length).toBe(before);
  });

  it('forwarded nothing at all to the backend across every vector', () => {
    expect(backend.connections()).toBe(0);
  });

  it('still forwards a well-formed chunked request byte for byte', async () => {
    const body = '5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n';
    const raw = await rawExchange(proxy.port, `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n${body}`);
    expect(statusOf(raw)).toBe(200);
    expect(backend.received()).toContain(`\r\n\r\n${body}`);
    expect(backend.received()).toMatch(/^POST \/c HTTP\/1\.1\r\nHost: smuggle\.test\r\nTransfer-Encoding: chunked\r\n/);
  });

  it('refuses everything Node’s own llhttp refuses (differential over the vectors and edge cases)', async () => {
    let accepted = 0;
    const server = createServer((request, response) => {
      accepted++;
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    const port = (server.address() as AddressInfo).port;
    const weaker: string[] = [];
    let llhttpRefused = 0;
    for (const bytes of [...VECTORS.map(([, vector]) => vector), ...EDGE_CASES]) {
      const before = accepted;
      const llhttp = await rawExchange(port, bytes, 100);
      if (accepted > before && statusOf(llhttp) < 400) continue;
      llhttpRefused++;
      const ours = await rawExchange(proxy.port, bytes, 100);
      if (statusOf(ours) < 400) weaker.push(bytes);
    }
    server.close();
    expect(weaker).toEqual([]);
    expect(llhttpRefused).toBeGreaterThan(20);
  });
});
