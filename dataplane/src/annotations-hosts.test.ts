/**
 * server-alias and from-to-www-redirect through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/alias.go and fromtowwwredirect.go: an alias serves the whole host (paths of
 * other Ingresses on it too), unknown hosts stay 404, the www host answers 308 to the Ingress's
 * host with the port and request URI (one trailing slash removed), and conflicting or unreadable
 * values are Warnings that leave existing hosts as they were.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

describe('server-alias and from-to-www-redirect (ingress-nginx e2e: alias.go, fromtowwwredirect.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        { name: 'app-a', hosts: ['foo'], paths: [{ path: '/app-a' }], creationTimestamp: '2026-01-01T00:00:00Z' },
        { name: 'app-b', hosts: ['foo'], paths: [{ path: '/app-b', service: 'other' }], annotations: { [`${A}server-alias`]: ' bar , Alias.Example.com,bad_host!,x\r\ny' }, creationTimestamp: '2026-01-01T00:00:01Z' },
        { name: 'taken', hosts: ['taken.test'], annotations: { [`${A}server-alias`]: 'foo' } },
        { name: 'www', hosts: ['fromtowwwredirect.bar.com'], annotations: { [`${A}from-to-www-redirect`]: 'true' } },
        { name: 'www-first', hosts: ['www.example.org'], annotations: { [`${A}from-to-www-redirect`]: 'true' } },
        { name: 'www-exists', hosts: ['exists.test'], annotations: { [`${A}from-to-www-redirect`]: 'true' } },
        { name: 'www-owner', hosts: ['www.exists.test'] },
        { name: 'www-bad', hosts: ['bad.test'], annotations: { [`${A}from-to-www-redirect`]: 'yes' } },
      ],
      ['echo', 'other'],
    );
  });

  afterAll(async () => {
    await proxy.close();
  });

  it("without an alias: 200 for host 'foo', 404 for 'baz'", async () => {
    expect((await proxy.echo('foo', '/app-a')).service).toBe('echo');
    expect((await proxy.fetch('baz', '/app-a')).status).toBe(404);
  });

  it('an alias serves every path of the host, from any Ingress on it, with the Host the client sent', async () => {
    for (const host of ['bar', 'alias.example.com']) {
      const a = await proxy.echo(host, '/app-a');
      expect([a.service, a.headers.host]).toEqual(['echo', host]);
      expect((await proxy.echo(host, '/app-b')).service).toBe('other');
    }
    expect((await proxy.fetch('bar', '/nothing')).status).toBe(404);
  });

  it('an alias that is already a host is ignored with a Warning; unreadable aliases (CR/LF too) are left out', async () => {
    expect(proxy.conditions.filter((c) => c.source.name === 'taken').map((c) => [c.reason, c.severity, c.field])).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}server-alias']`]]);
    expect((await proxy.echo('foo', '/app-b')).service).toBe('other');
    const warnings = proxy.conditions.filter((c) => c.source.name === 'app-b').map((c) => c.message);
    expect(warnings).toHaveLength(2);
    expect(warnings.join()).toContain('bad_host!');
    expect((await proxy.fetch('taken.test', '/')).status).toBe(200);
  });

  it('from-to-www-redirect: www.<host> answers 308 to <scheme>://<host>:<port><request URI>, one trailing slash removed, and the host itself is served', async () => {
    const port = proxy.proxy.port;
    const foo = await proxy.fetch('www.fromtowwwredirect.bar.com', '/foo');
    expect(foo.status).toBe(308);
    expect(foo.headers.location).toBe(`http://fromtowwwredirect.bar.com:${port}/foo`);
    expect((await proxy.fetch('www.fromtowwwredirect.bar.com', '/a/?q=1')).headers.location).toBe(`http://fromtowwwredirect.bar.com:${port}/a/?q=1`);
    expect((await proxy.fetch('www.fromtowwwredirect.bar.com', '/x/')).headers.location).toBe(`http://fromtowwwredirect.bar.com:${port}/x`);
    expect((await proxy.fetch('www.fromtowwwredirect.bar.com', '/')).headers.location).toBe(`http://fromtowwwredirect.bar.com:${port}`);
    // Following the redirect lands on the host itself: no loop.
    expect((await proxy.fetch('fromtowwwredirect.bar.com', '/foo')).status).toBe(200);
    expect(proxy.backendRequests).toBeGreaterThan(0);
  });

  it('a host that starts with www. redirects from the name without it', async () => {
    const response = await proxy.fetch('example.org', '/path?x=1');
    expect(response.status).toBe(308);
    expect(response.headers.location).toBe(`http://www.example.org:${proxy.proxy.port}/path?x=1`);
  });

  it('a www name that is already a host is not taken over (Warning); an unreadable value is a Warning and no redirect', async () => {
    expect((await proxy.echo('www.exists.test', '/')).headers.host).toBe('www.exists.test');
    expect(proxy.conditionsOf('www-exists')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}from-to-www-redirect']`]]);
    expect(proxy.conditionsOf('www-bad')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}from-to-www-redirect']`]]);
    expect((await proxy.fetch('www.bad.test', '/')).status).toBe(404);
  });

  it('explain shows the redirect', () => {
    const result = proxy.explainer.explain({ host: 'www.fromtowwwredirect.bar.com', path: '/foo' });
    expect(result.status).toBe(308);
  });
});
