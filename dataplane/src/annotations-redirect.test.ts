/**
 * permanent-redirect / temporal-redirect through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/redirect.go: the status and Location exactly as configured, the backend
 * never reached, and bad values handled as ingress-nginx does (a Warning and the default).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

describe('redirect annotations (ingress-nginx e2e: redirect.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start([
      { name: 'permanent', hosts: ['permanent.test'], annotations: { [`${A}permanent-redirect`]: 'https://redirect.example/new?from=portico' }, paths: [{ path: '/something' }] },
      { name: 'permanent-code', hosts: ['code.test'], annotations: { [`${A}permanent-redirect`]: 'http://redirect.example/', [`${A}permanent-redirect-code`]: '308' } },
      { name: 'temporal', hosts: ['temporal.test'], annotations: { [`${A}temporal-redirect`]: 'http://temp.example/x', [`${A}permanent-redirect`]: 'http://perm.example/' } },
      { name: 'bad-code', hosts: ['bad-code.test'], annotations: { [`${A}permanent-redirect`]: 'http://redirect.example/', [`${A}permanent-redirect-code`]: '999' } },
      { name: 'bad-url', hosts: ['bad-url.test'], annotations: { [`${A}permanent-redirect`]: 'javascript:alert(1)' } },
      { name: 'crlf', hosts: ['crlf.test'], annotations: { [`${A}temporal-redirect`]: 'http://a.example/\r\nSet-Cookie: x=1' } },
      { name: 'https-too', hosts: ['tls.test'], tlsHosts: ['tls.test'], annotations: { [`${A}permanent-redirect`]: 'https://moved.example/' } },
      { name: 'plain', hosts: ['plain.test'] },
      { name: 'secure', hosts: ['secure.test'], tlsHosts: ['secure.test'] },
      { name: 'slash', hosts: ['slash.test'], tlsHosts: ['slash.test'], annotations: { [`${A}preserve-trailing-slash`]: 'true' } },
    ]);
  });

  afterAll(() => proxy.close());

  it('permanent-redirect answers 301 with Location exactly the URL, without reaching the backend', async () => {
    const before = proxy.backendRequests;
    const response = await proxy.fetch('permanent.test', '/something/deeper?q=1');
    expect(response.status).toBe(301);
    expect(response.headers.location).toBe('https://redirect.example/new?from=portico');
    expect(proxy.backendRequests).toBe(before);
    const explained = proxy.explainer.explain({ host: 'permanent.test', path: '/something' });
    expect(explained.status).toBe(301);
    expect(explained.location).toBe('https://redirect.example/new?from=portico');
    expect(explained.policies).toEqual(['redirected (301) to https://redirect.example/new?from=portico by permanent-redirect/temporal-redirect']);
  });

  it('permanent-redirect-code sets the code', async () => {
    const response = await proxy.fetch('code.test', '/');
    expect([response.status, response.headers.location]).toEqual([308, 'http://redirect.example/']);
  });

  it('temporal-redirect answers 302 and wins over permanent-redirect', async () => {
    const response = await proxy.fetch('temporal.test', '/a', { method: 'POST', body: 'x' });
    expect([response.status, response.headers.location]).toEqual([302, 'http://temp.example/x']);
  });

  it('a redirect on an HTTPS host comes before the redirect to HTTPS (nginx rewrite-phase return)', async () => {
    const response = await proxy.fetch('tls.test', '/');
    expect([response.status, response.headers.location]).toEqual([301, 'https://moved.example/']);
  });

  it('a code out of range is 301 with a Warning naming the annotation', async () => {
    const response = await proxy.fetch('bad-code.test', '/');
    expect([response.status, response.headers.location]).toEqual([301, 'http://redirect.example/']);
    expect(proxy.conditionsOf('bad-code')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}permanent-redirect-code']`]]);
  });

  it.each(['bad-url', 'crlf'])('%s: a URL ingress-nginx would not accept is not applied (Warning); the route is proxied', async (name) => {
    const echo = await proxy.echo(`${name}.test`, '/x');
    expect(echo.url).toBe('/x');
    const [condition] = proxy.conditionsOf(name);
    expect(condition?.[0]).toBe('InvalidAnnotation');
    expect(condition?.[1]).toBe('Warning');
  });

  it.each([
    ['/', 'https://secure.test'],
    ['/a/', 'https://secure.test/a'],
    ['/a/?x=1', 'https://secure.test/a/?x=1'],
    ['/a%7Eb/c', 'https://secure.test/a%7Eb/c'],
  ])('ssl-redirect Location as ingress-nginx writes it (request_uri as received, one trailing slash removed): %s -> %s', async (path, location) => {
    const response = await proxy.fetch('Secure.test:80', path);
    expect([response.status, response.headers.location]).toEqual([308, location]);
  });

  it('preserve-trailing-slash keeps the slash in the HTTPS redirect', async () => {
    const response = await proxy.fetch('slash.test', '/a/');
    expect([response.status, response.headers.location]).toEqual([308, 'https://slash.test/a/']);
    expect(proxy.explainer.explain({ host: 'slash.test', path: '/a/' }).location).toBe('https://slash.test/a/');
    expect(proxy.explainer.explain({ host: 'secure.test', path: '/a/' }).location).toBe('https://secure.test/a');
  });

  it('routes without annotations are proxied untouched and carry no policies in the snapshot', async () => {
    const echo = await proxy.echo('plain.test', '/p?x=1');
    expect(echo.url).toBe('/p?x=1');
    const host = proxy.snapshot.hosts.find((h) => h.host === 'plain.test');
    expect(host?.routes.every((route) => route.policies === undefined)).toBe(true);
    expect(proxy.conditionsOf('plain')).toEqual([]);
  });
});
