import { describe, expect, it } from 'vitest';
import { RequestHead } from '../http/request-head.ts';
import { translateRequest } from './translate.ts';

const BASE = [':method', 'GET', ':scheme', 'https', ':authority', 'app.test', ':path', '/a?b'];

function refused(raw: readonly string[], endStream = true): string | undefined {
  const result = translateRequest(raw, endStream);
  return result.ok ? undefined : `${result.status} ${result.reason}`;
}

describe('HTTP/2 request fields -> HTTP/1.1 head', () => {
  it('writes the request line, Host from :authority, the fields, and parses with the strict HTTP/1.1 parser', () => {
    const result = translateRequest([...BASE, 'accept', '*/*', 'cookie', 'a=1', 'x-y', 'z', 'cookie', 'b=2', 'te', 'trailers'], true);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.head.toString('latin1')).toBe('GET /a?b HTTP/1.1\r\nhost: app.test\r\ncookie: a=1; b=2\r\naccept: */*\r\nx-y: z\r\n\r\n');
    const head = new RequestHead({ maxHeaderSize: 32 * 1024, maxTargetLength: 8 * 1024 });
    expect(head.parse(result.head)).toBe(result.head.length);
    expect(head.method).toBe('GET');
  });

  it('frames a body without content-length as chunked, keeps one with it as is', () => {
    const streamed = translateRequest([...BASE.slice(0, 1), 'POST', ...BASE.slice(2)], false);
    expect(streamed.ok && streamed.chunked).toBe(true);
    expect(streamed.ok && streamed.head.toString('latin1')).toContain('transfer-encoding: chunked\r\n');
    const sized = translateRequest([':method', 'POST', ...BASE.slice(2), 'content-length', '5', 'content-length', '5'], false);
    expect(sized.ok && !sized.chunked && sized.contentLength).toBe(5);
    expect(sized.ok && sized.head.toString('latin1').match(/content-length/g)?.length).toBe(1);
  });

  it('takes host when :authority is absent, and a host that agrees after scheme-based normalization', () => {
    const hostOnly = translateRequest([':method', 'GET', ':scheme', 'http', ':path', '/', 'host', 'app.test'], true);
    expect(hostOnly.ok && hostOnly.authority).toBe('app.test');
    expect(refused([...BASE, 'host', 'APP.test:443'])).toBeUndefined();
    expect(refused([...BASE, 'host', 'app.test:'])).toBeUndefined();
  });

  it.each([
    ['CR in a value', [...BASE, 'x', 'a\rb']],
    ['LF in a value', [...BASE, 'x', 'a\nGET /smuggled HTTP/1.1']],
    ['NUL in a value', [...BASE, 'x', 'a\0b']],
    ['another control byte', [...BASE, 'x', 'a\x01b']],
    ['leading whitespace', [...BASE, 'x', ' a']],
    ['an upper-case name', [...BASE, 'X-Y', 'a']],
    ['a space in a name', [...BASE, 'x y', 'a']],
    ['connection', [...BASE, 'connection', 'close']],
    ['keep-alive', [...BASE, 'keep-alive', 'timeout=5']],
    ['proxy-connection', [...BASE, 'proxy-connection', 'keep-alive']],
    ['transfer-encoding', [...BASE, 'transfer-encoding', 'chunked']],
    ['upgrade', [...BASE, 'upgrade', 'websocket']],
    ['te other than trailers', [...BASE, 'te', 'gzip']],
    ['host naming another authority', [...BASE, 'host', 'evil.test']],
    ['host with another port', [...BASE, 'host', 'app.test:8443']],
    ['two host fields', [':method', 'GET', ':scheme', 'http', ':path', '/', 'host', 'a', 'host', 'b']],
    ['userinfo in :authority', [':method', 'GET', ':scheme', 'https', ':authority', 'u@app.test', ':path', '/']],
    ['neither :authority nor host', [':method', 'GET', ':scheme', 'https', ':path', '/']],
    ['content-length fields that disagree', [...BASE, 'content-length', '1', 'content-length', '2']],
    ['a content-length that is not a number', [...BASE, 'content-length', '+1']],
    ['a pseudo-header after a regular field', [':method', 'GET', 'x', 'y', ':path', '/', ':scheme', 'https', ':authority', 'a']],
    ['two :method', [...BASE, ':method', 'POST']],
    ['an unknown pseudo-header', [...BASE, ':foo', 'bar']],
    [':protocol (extended CONNECT is not offered)', [...BASE, ':protocol', 'websocket']],
    ['no :path', [':method', 'GET', ':scheme', 'https', ':authority', 'a']],
    ['a :path that is not absolute', [':method', 'GET', ':scheme', 'https', ':authority', 'a', ':path', 'a/b']],
    ['a :scheme other than http(s)', [':method', 'GET', ':scheme', 'ftp', ':authority', 'a', ':path', '/']],
    ['no :method', [':scheme', 'https', ':authority', 'a', ':path', '/']],
  ])('refuses %s', (_name, raw) => {
    expect(refused(raw)).toMatch(/^400 /);
  });

  it('refuses CONNECT (405) and a content-length on a stream that already ended', () => {
    expect(refused([':method', 'CONNECT', ':authority', 'a:443'])).toMatch(/^405 /);
    expect(refused([...BASE, 'content-length', '3'], true)).toMatch(/^400 .*body/);
  });
});
