import { describe, expect, it } from 'vitest';
import { CHUNKED_INVALID, ChunkedDecoder } from './chunked.ts';

function feedAll(text: string): number {
  const decoder = new ChunkedDecoder(1024);
  const buf = Buffer.from(text, 'latin1');
  return decoder.feed(buf, 0, buf.length);
}

describe('ChunkedDecoder', () => {
  it('finds the end of a message and leaves what follows', () => {
    const body = '5\r\nhello\r\n6;name=value;flag;q="a \\"b\\""\r\n world\r\n0\r\nTrailer-One: x\r\n\r\n';
    expect(feedAll(`${body}GET / HTTP/1.1\r\n`)).toBe(body.length);
  });

  it('accepts upper-case hex and leading zeros, and an empty body', () => {
    expect(feedAll('A\r\n0123456789\r\n000\r\n\r\n')).toBe(22);
    expect(feedAll('0\r\n\r\n')).toBe(5);
  });

  it('works byte by byte', () => {
    const text = '3\r\nabc\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX: y\r\n\r\n';
    const decoder = new ChunkedDecoder(1024);
    const buf = Buffer.from(text, 'latin1');
    for (let at = 0; at < buf.length - 1; at++) expect(decoder.feed(buf, at, at + 1)).toBe(at + 1);
    expect(decoder.done).toBe(false);
    expect(decoder.feed(buf, buf.length - 1, buf.length)).toBe(buf.length);
    expect(decoder.done).toBe(true);
  });

  it('skips data without looking at it (CRLF inside data is data)', () => {
    expect(feedAll('4\r\n\r\n\r\n\r\n0\r\n\r\nX')).toBe(14);
  });

  const invalid: [string, string][] = [
    ['a negative size', '-1\r\nx\r\n0\r\n\r\n'],
    ['a 0x prefix', '0x10\r\n'],
    ['a leading space', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['a trailing space', '5 \r\nhello\r\n0\r\n\r\n'],
    ['a space before an extension', '5 ;a=b\r\nhello\r\n0\r\n\r\n'],
    ['a size past 16 hex digits', '00000000000000001\r\nx\r\n0\r\n\r\n'],
    ['a size past 2^53', 'fffffffffffffff\r\n'],
    ['an empty size', '\r\nhello\r\n'],
    ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n'],
    ['no CRLF after data', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['a bare LF after data', '5\r\nhello\n0\r\n\r\n'],
    ['a bare LF ending the message', '0\r\n\n'],
    ['an extension without name', '5;=x\r\nhello\r\n0\r\n\r\n'],
    ['an unterminated quoted extension', '5;a="x\r\nhello\r\n'],
    ['obs-fold in trailers', '0\r\nX: a\r\n b\r\n\r\n'],
    ['space before a trailer colon', '0\r\nX : a\r\n\r\n'],
    ['a NUL in a trailer', '0\r\nX: a\x00\r\n\r\n'],
  ];

  it.each(invalid)('refuses %s', (_name, text) => {
    expect(feedAll(text)).toBe(CHUNKED_INVALID);
  });

  it('refuses trailers over the limit', () => {
    const decoder = new ChunkedDecoder(16);
    const buf = Buffer.from(`0\r\nX: ${'a'.repeat(32)}\r\n\r\n`, 'latin1');
    expect(decoder.feed(buf, 0, buf.length)).toBe(CHUNKED_INVALID);
  });
});
