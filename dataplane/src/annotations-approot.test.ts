/**
 * app-root and x-forwarded-prefix through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/approot.go (302 with Location `http://<host>/foo`) and
 * xforwardedprefix.go (the backend sees the header only when the annotation is set).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

describe('app-root and x-forwarded-prefix (ingress-nginx e2e: approot.go, xforwardedprefix.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start([
      { name: 'approot', hosts: ['approot.bar.com'], annotations: { [`${A}app-root`]: '/foo' } },
      { name: 'prefix', hosts: ['prefix.test'], annotations: { [`${A}x-forwarded-prefix`]: '/test/value' } },
      { name: 'both', hosts: ['both.test'], annotations: { [`${A}x-forwarded-prefix`]: '/api', [`${A}rewrite-target`]: '/$1', [`${A}use-regex`]: 'true' }, paths: [{ path: '/api/(.*)', pathType: 'ImplementationSpecific' }] },
      { name: 'bad', hosts: ['bad.test'], annotations: { [`${A}app-root`]: 'http://evil.example/', [`${A}x-forwarded-prefix`]: '/a"b' } },
      { name: 'none', hosts: ['none.test'] },
    ]);
  });

  afterAll(() => proxy.close());

  it('app-root: GET / answers 302 to http://<Host>/foo (port as the client sent it), without the backend', async () => {
    const before = proxy.backendRequests;
    const response = await proxy.fetch('approot.bar.com', '/');
    expect([response.status, response.headers.location]).toEqual([302, 'http://approot.bar.com/foo']);
    const withPort = await proxy.fetch('approot.bar.com:8080', '/?x=1');
    expect([withPort.status, withPort.headers.location]).toEqual([302, 'http://approot.bar.com:8080/foo']);
    expect(proxy.backendRequests).toBe(before);
  });

  it('app-root: any other path is proxied', async () => {
    expect((await proxy.echo('approot.bar.com', '/foo')).url).toBe('/foo');
    expect((await proxy.echo('approot.bar.com', '/x/')).url).toBe('/x/');
  });

  it('x-forwarded-prefix: the backend gets the header, replacing a received one', async () => {
    const echo = await proxy.echo('prefix.test', '/', { headers: { 'x-forwarded-prefix': '/spoofed' } });
    expect(echo.headers['x-forwarded-prefix']).toBe('/test/value');
  });

  it('x-forwarded-prefix with rewrite-target: the rewritten path and the prefix', async () => {
    const echo = await proxy.echo('both.test', '/api/users?id=1');
    expect([echo.url, echo.headers['x-forwarded-prefix']]).toEqual(['/users?id=1', '/api']);
  });

  it('without the annotation the backend gets no X-Forwarded-Prefix from Portico (a client one passes as any header)', async () => {
    expect((await proxy.echo('none.test', '/')).headers['x-forwarded-prefix']).toBeUndefined();
  });

  it('values ingress-nginx would not accept are not applied, each with a Warning', async () => {
    expect((await proxy.fetch('bad.test', '/')).status).toBe(200);
    expect((await proxy.echo('bad.test', '/')).headers['x-forwarded-prefix']).toBeUndefined();
    expect(proxy.conditionsOf('bad')).toEqual([
      ['InvalidAnnotation', 'Warning', `metadata.annotations['${A}app-root']`],
      ['InvalidAnnotation', 'Warning', `metadata.annotations['${A}x-forwarded-prefix']`],
    ]);
  });
});
