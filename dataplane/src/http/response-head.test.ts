import { describe, expect, it } from 'vitest';
import { clientHead, compactHead, responseExtra } from './respond.ts';
import { ResponseHead } from './response-head.ts';

function parse(text: string): { result: number; head: ResponseHead; buf: Buffer } {
  const head = new ResponseHead(1024);
  const buf = Buffer.from(text, 'latin1');
  return { result: head.parse(buf), head, buf };
}

describe('ResponseHead', () => {
  it('reads status and framing', () => {
    const { result, head } = parse('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nbody');
    expect(result).toBeGreaterThan(0);
    expect([head.status, head.minor, head.contentLength, head.chunked, head.connectionKeepAlive, head.hopByHop]).toEqual([200, 1, 12, false, true, true]);
  });

  it('reads chunked, close and an empty reason phrase', () => {
    const { head } = parse('HTTP/1.0 404\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n');
    expect([head.status, head.minor, head.transferEncoding, head.chunked, head.connectionClose]).toEqual([404, 0, true, true, true]);
    expect(parse('HTTP/1.1 200 \r\nTransfer-Encoding: gzip\r\n\r\n').head.chunked).toBe(false);
  });

  it.each([
    ['both framings', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'],
    ['duplicate Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n'],
    ['bare LF', 'HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n'],
    ['HTTP/2', 'HTTP/2.0 200 OK\r\n\r\n'],
    ['a short status', 'HTTP/1.1 20 OK\r\n\r\n'],
    ['a control byte in the reason', 'HTTP/1.1 200 O\x01K\r\n\r\n'],
  ])('refuses %s', (_name, text) => {
    expect(parse(text).result).toBe(-502);
  });

  it('clientHead passes an untouched head through as a view, and strips hop-by-hop lines', () => {
    const plain = parse('HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 2\r\n\r\nok');
    const same = clientHead(plain.buf, plain.head, plain.result, false, false);
    expect(same.buffer).toBe(plain.buf.buffer);
    expect(same.length).toBe(plain.result);

    const hop = parse('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nX-Secret: 1\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nok');
    expect(clientHead(hop.buf, hop.head, hop.result, true, false).toString('latin1')).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: portico\r\nConnection: close\r\n\r\n');
    const upgrade = parse('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n');
    expect(clientHead(upgrade.buf, upgrade.head, upgrade.result, false, true).toString('latin1')).toBe('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\nConnection: upgrade\r\n\r\n');
  });

  it('adds Server: portico to a final response without one, never to an interim one, and keeps the endpoint\'s own', () => {
    const bare = parse('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    expect(clientHead(bare.buf, bare.head, bare.result, false, false).toString('latin1')).toBe('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: portico\r\n\r\n');
    const own = parse('HTTP/1.1 404 Not Found\r\nSERVER: nginx\r\nContent-Length: 0\r\n\r\n');
    expect(clientHead(own.buf, own.head, own.result, true, false).toString('latin1')).toBe('HTTP/1.1 404 Not Found\r\nSERVER: nginx\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    const interim = parse('HTTP/1.1 100 Continue\r\n\r\n');
    expect(clientHead(interim.buf, interim.head, interim.result, false, false).toString('latin1')).toBe('HTTP/1.1 100 Continue\r\n\r\n');
    const lookalike = parse('HTTP/1.1 200 OK\r\nServer-Timing: x\r\nServe: y\r\n\r\n');
    expect(clientHead(lookalike.buf, lookalike.head, lookalike.result, false, false).toString('latin1')).toContain('Server: portico\r\n');
  });

  it('clientHead sets policy lines over the endpoint\'s of the same names (any case)', () => {
    const cors = parse('HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nServer: up\r\nContent-Length: 2\r\nconnection: keep-alive\r\n\r\nok');
    const extra = responseExtra([['access-control-allow-origin', 'https://a.test'], ['access-control-max-age', '60']]);
    expect(clientHead(cors.buf, cors.head, cors.result, false, false, extra).toString('latin1')).toBe('HTTP/1.1 200 OK\r\nServer: up\r\nContent-Length: 2\r\naccess-control-allow-origin: https://a.test\r\naccess-control-max-age: 60\r\n\r\n');
    expect(responseExtra([])).toBeUndefined();
  });

  // compactHead never adds a line: the relay uses it only for heads that carry a Server line.
  it.each([
    ['no hop-by-hop lines', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: up\r\nX: 1\r\n\r\n'],
    ['one in the middle', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nServer: up\r\nX: 1\r\n\r\n'],
    ['adjacent ones first and last', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nConnection: keep-alive, X-Private\r\nServer: up\r\nContent-Length: 2\r\nX-Private: p\r\n\r\n'],
    ['only hop-by-hop lines', 'HTTP/1.1 200 OK\r\nServer: up\r\nConnection: keep-alive\r\nKeep-Alive: 1\r\n\r\n'],
  ])('compactHead cleans %s in place, exactly like clientHead', (_name, text) => {
    const expected = parse(`${text}ok`);
    const want = clientHead(expected.buf, expected.head, expected.result, false, false).toString('latin1');
    const inPlace = parse(`${text}ok`);
    const start = compactHead(inPlace.buf, inPlace.head, inPlace.result);
    expect(inPlace.buf.subarray(start).toString('latin1')).toBe(`${want}ok`);
  });
});
