import { METHODS } from 'node:http';
import { describe, expect, it } from 'vitest';
import { K_CONNECTION, K_HOP, K_HOST, K_OTHER, K_XFF, LLHTTP_METHODS } from './request-fields.ts';
import { NEED_MORE, RequestHead } from './request-head.ts';

const limits = { maxHeaderSize: 1024, maxTargetLength: 64 };

function parse(text: string): { result: number; head: RequestHead; buf: Buffer } {
  const head = new RequestHead(limits);
  const buf = Buffer.from(text, 'latin1');
  return { result: head.parse(buf), head, buf };
}

describe('LLHTTP_METHODS', () => {
  it("is Node's own http.METHODS for this Node version", () => {
    expect(LLHTTP_METHODS).toEqual(METHODS);
  });
});

describe('RequestHead', () => {
  it('parses a simple request and keeps offsets into the buffer', () => {
    const { result, head, buf } = parse('GET /a/b?c=d HTTP/1.1\r\nHost: Example.COM:8080\r\nX-Forwarded-For: 1.2.3.4\r\nAccept: */*\r\n\r\nrest');
    expect(result).toBe(buf.length - 4);
    expect(head.method).toBe('GET');
    expect(buf.latin1Slice(head.targetStart, head.targetEnd)).toBe('/a/b?c=d');
    expect(buf.latin1Slice(head.hostStart, head.hostEnd)).toBe('Example.COM:8080');
    expect(head.minor).toBe(1);
    expect(head.lineCount).toBe(3);
    expect([head.lines[2], head.lines[5], head.lines[8]]).toEqual([K_HOST, K_XFF, K_OTHER]);
    expect(head.contentLength).toBe(-1);
    expect(head.hasBody).toBe(false);
  });

  it('resumes across partial buffers, one byte at a time', () => {
    const text = 'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: keep-alive, X-Custom\r\nKeep-Alive: 5\r\n\r\n';
    const head = new RequestHead(limits);
    for (let length = 1; length < text.length; length++) expect(head.parse(Buffer.from(text.slice(0, length), 'latin1'))).toBe(NEED_MORE);
    expect(head.parse(Buffer.from(text, 'latin1'))).toBe(text.length);
    expect(head.method).toBe('POST');
    expect(head.contentLength).toBe(5);
    expect(head.connectionTokens).toEqual(['x-custom']);
    expect(head.lines[8]).toBe(K_CONNECTION);
    expect(head.lines[11]).toBe(K_HOP);
  });

  it('skips empty lines before the request line', () => {
    const { result, head } = parse('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(result).toBeGreaterThan(0);
    expect(head.requestStart).toBe(4);
  });

  it('reads chunked, Connection: close/upgrade and HTTP/1.0 without Host', () => {
    expect(parse('POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n').head.chunked).toBe(true);
    const upgrade = parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n').head;
    expect([upgrade.connectionUpgrade, upgrade.hasUpgrade]).toEqual([true, true]);
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n').head.connectionClose).toBe(true);
    const old = parse('GET / HTTP/1.0\r\n\r\n');
    expect(old.result).toBeGreaterThan(0);
    expect(old.head.minor).toBe(0);
  });

  it('accepts OPTIONS *, the methods llhttp knows, and field values with obs-text and tabs', () => {
    expect(parse('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').result).toBeGreaterThan(0);
    expect(parse('PROPFIND / HTTP/1.1\r\nHost: a\r\n\r\n').head.method).toBe('PROPFIND');
    expect(parse('M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n').head.method).toBe('M-SEARCH');
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\nX: caf\xe9 \tlatte\t\r\n\r\n').result).toBeGreaterThan(0);
  });

  const refused: [string, string, number][] = [
    ['CL and TE together', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', -400],
    ['TE and CL together', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', -400],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', -400],
    ['two equal Content-Lengths (llhttp refuses these too)', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n', -400],
    ['a Content-Length list', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n', -400],
    ['a signed Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n', -400],
    ['an empty Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n', -400],
    ['a huge Content-Length', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n', -400],
    ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n', -400],
    ['Transfer-Encoding: chunked, identity', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n', -400],
    ['chunked then another TE line', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n', -400],
    ['chunked twice', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', -400],
    ['an empty Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n', -400],
    ['Transfer-Encoding with a space inside a coding', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chun ked\r\n\r\n', -400],
    ['Transfer-Encoding from HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', -400],
    ['gzip, chunked (not implemented)', 'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', -501],
    ['bare LF after the request line', 'GET / HTTP/1.1\nHost: a\r\n\r\n', -400],
    ['bare LF after a field', 'GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n', -400],
    ['bare LF ending the head', 'GET / HTTP/1.1\r\nHost: a\r\n\n', -400],
    ['bare CR inside a field', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n', -400],
    ['bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  b\r\n\r\n', -400],
    ['obs-fold with a tab', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n', -400],
    ['space before the colon', 'GET / HTTP/1.1\r\nHost : a\r\n\r\n', -400],
    ['tab before the colon', 'GET / HTTP/1.1\r\nHost\t: a\r\n\r\n', -400],
    ['an empty field name', 'GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n', -400],
    ['a field without colon', 'GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n', -400],
    ['a NUL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n', -400],
    ['DEL in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n', -400],
    ['a separator in a field name', 'GET / HTTP/1.1\r\nHost: a\r\nX(y): z\r\n\r\n', -400],
    ['missing Host', 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n', -400],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', -400],
    ['a Host with a slash', 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', -400],
    ['a Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', -400],
    ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: user@a\r\n\r\n', -400],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['a tab as separator', 'GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['a method with a separator', 'GE(T / HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['no version', 'GET /\r\nHost: a\r\n\r\n', -400],
    ['lower-case version', 'GET / http/1.1\r\nHost: a\r\n\r\n', -400],
    ['trailing space after the version', 'GET / HTTP/1.1 \r\nHost: a\r\n\r\n', -400],
    ['HTTP/2.0', 'GET / HTTP/2.0\r\nHost: a\r\n\r\n', -505],
    ['HTTP/1.2', 'GET / HTTP/1.2\r\nHost: a\r\n\r\n', -505],
    ['absolute-form', 'GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['authority-form', 'CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['asterisk-form with GET', 'GET * HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['an unknown method', 'FOO / HTTP/1.1\r\nHost: a\r\n\r\n', -501],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: a\r\n\r\n', -501],
    ['raw non-ASCII in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['a control byte in the target', 'GET /a\x01b HTTP/1.1\r\nHost: a\r\n\r\n', -400],
    ['a target over the limit', `GET /${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\n\r\n`, -414],
    ['a head over the limit', `GET / HTTP/1.1\r\nHost: a\r\nX: ${'a'.repeat(1100)}\r\n\r\n`, -431],
  ];

  it.each(refused)('refuses %s', (_name, text, status) => {
    expect(parse(text).result).toBe(status);
  });

  it('refuses an endless head without a line end once it passes the limit', () => {
    expect(parse(`GET / HTTP/1.1\r\nX: ${'a'.repeat(2000)}`).result).toBe(-431);
    expect(parse(`GET /${'a'.repeat(2000)}`).result).toBe(-414);
  });

  it('reset() forgets the previous request', () => {
    const head = new RequestHead(limits);
    expect(head.parse(Buffer.from('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close, X\r\n\r\n'))).toBeGreaterThan(0);
    head.reset();
    expect(head.parse(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'))).toBeGreaterThan(0);
    expect([head.contentLength, head.connectionClose, head.connectionTokens.length, head.lineCount]).toEqual([-1, false, 0, 1]);
  });
});
