/**
 * custom-headers and auth-proxy-set-headers through the real proxy (manifests with ConfigMaps ->
 * compile -> router -> proxy -> echo backends and an auth server on loopback that report what they
 * received), modelled on ingress-nginx's test/e2e/annotations/customheaders.go and the
 * auth-proxy-set-headers case of auth.go: the ConfigMap's entries on the response (literal
 * `$remote_addr`, replacing the endpoint's own field) and on the auth subrequest (replacing the
 * client's field, variables filled in); a missing ConfigMap, one in another namespace, a bad name
 * or value, a framing field, a field Portico sets itself or an oversized ConfigMap refuses the
 * Ingress (503 and an Error naming the key), never served without it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { parseManifestText } from '@portico/control/manifests/parse';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** A ConfigMap manifest document (JSON, so any key and value can be written). */
function configMap(namespace: string, name: string, data: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data });
}

describe('custom-headers and auth-proxy-set-headers (ingress-nginx e2e: customheaders.go, auth.go)', () => {
  const authSeen: IncomingHttpHeaders[] = [];
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`X-Many-${i}`, 'v']));
    const authUrl = { [`${A}auth-url`]: 'http://authsvc.web.svc.cluster.local/verify' };
    proxy = await AnnotatedProxy.start(
      [
        { name: 'plain', hosts: ['plain.test'] },
        { name: 'custom', hosts: ['custom.test'], annotations: { [`${A}custom-headers`]: 'web/custom-headers' } },
        { name: 'replace', hosts: ['replace.test'], annotations: { [`${A}custom-headers`]: 'custom-headers' }, paths: [{ path: '/', service: 'own' }] },
        { name: 'missing', hosts: ['missing.test'], annotations: { [`${A}custom-headers`]: 'web/custom-headers-missing' } },
        { name: 'elsewhere', hosts: ['elsewhere.test'], annotations: { [`${A}custom-headers`]: 'other/custom-headers' } },
        { name: 'bad-name', hosts: ['bad-name.test'], annotations: { [`${A}custom-headers`]: 'bad-name' } },
        { name: 'bad-value', hosts: ['bad-value.test'], annotations: { [`${A}custom-headers`]: 'bad-value' } },
        { name: 'framing', hosts: ['framing.test'], annotations: { [`${A}custom-headers`]: 'framing' } },
        { name: 'many', hosts: ['many.test'], annotations: { [`${A}custom-headers`]: 'many' } },
        { name: 'auth-headers', hosts: ['auth-headers.test'], annotations: { ...authUrl, [`${A}auth-proxy-set-headers`]: 'web/auth-headers' } },
        { name: 'auth-reserved', hosts: ['auth-reserved.test'], annotations: { ...authUrl, [`${A}auth-proxy-set-headers`]: 'auth-reserved' } },
        { name: 'auth-variable', hosts: ['auth-variable.test'], annotations: { ...authUrl, [`${A}auth-proxy-set-headers`]: 'auth-variable' } },
        { name: 'auth-missing', hosts: ['auth-missing.test'], annotations: { ...authUrl, [`${A}auth-proxy-set-headers`]: 'nothing-here' } },
        { name: 'auth-alone', hosts: ['auth-alone.test'], annotations: { [`${A}auth-proxy-set-headers`]: 'auth-headers' } },
      ],
      ['echo', 'own', 'authsvc'],
      {},
      {
        own: (_request, response) => {
          response.setHeader('My-Custom-Header', 'from-endpoint');
          response.setHeader('X-Endpoint', 'kept');
          response.end('own');
        },
        authsvc: (request, response) => {
          authSeen.push(request.headers);
          response.end();
        },
      },
      [
        configMap('web', 'custom-headers', { 'My-Custom-Header': '42', 'My-Custom-Header-Dollar': '$remote_addr' }),
        configMap('other', 'custom-headers', { 'My-Custom-Header': '42' }),
        configMap('web', 'bad-name', { 'Good-Header': '1', 'Bad Header': '1' }),
        configMap('web', 'bad-value', { 'X-Split': 'a\r\nInjected: 1' }),
        configMap('web', 'framing', { 'Content-Length': '0' }),
        configMap('web', 'many', many),
        configMap('web', 'auth-headers', { 'My-Custom-Header': '42', 'X-Asked-Host': '$host', 'X-Literal': 'plain value' }),
        configMap('web', 'auth-reserved', { 'X-Original-URL': 'http://elsewhere/' }),
        configMap('web', 'auth-variable', { 'X-Addr': '$remote_addr' }),
      ],
    );
  });

  afterAll(() => proxy.close());

  it('without custom-headers the response has no such header (200)', async () => {
    const response = await proxy.fetch('plain.test', '/');
    expect(response.status).toBe(200);
    expect(response.headers['my-custom-header']).toBeUndefined();
  });

  it('sets every entry of the ConfigMap on the response, values literal ($remote_addr as written)', async () => {
    const response = await proxy.fetch('custom.test', '/');
    expect(response.status).toBe(200);
    expect(response.headers['my-custom-header']).toBe('42');
    expect(response.headers['my-custom-header-dollar']).toBe('$remote_addr');
    expect((JSON.parse(response.body) as { service: string }).service).toBe('echo');
    expect(proxy.explainer.explain({ host: 'custom.test', path: '/' }).policies?.join('\n')).toMatch(/response headers from ConfigMap web\/custom-headers: My-Custom-Header: 42/);
  });

  it('replaces a field of the same name the endpoint sent (more_set_headers), keeps the others', async () => {
    const response = await proxy.fetch('replace.test', '/');
    expect(response.status).toBe(200);
    expect(response.headers['my-custom-header']).toBe('42');
    expect(response.headers['x-endpoint']).toBe('kept');
  });

  it.each([
    ['missing', 'ConfigMap web/custom-headers-missing not found'],
    ['elsewhere', "ConfigMap other/custom-headers is not in the Ingress's namespace"],
    ['bad-name', 'key "Bad Header" is not a header name'],
    ['bad-value', 'key X-Split: the value must be 1-4096 printable ASCII characters'],
    ['framing', 'key Content-Length frames the message'],
    ['many', 'has 65 entries; at most 64 headers are allowed'],
  ])('%s: the Ingress is refused (503, an Error naming the annotation and why), the endpoint never asked', async (name, message) => {
    const before = proxy.backendRequests;
    const response = await proxy.fetch(`${name}.test`, '/');
    expect(response.status).toBe(503);
    expect(response.headers['my-custom-header']).toBeUndefined();
    expect(proxy.backendRequests).toBe(before);
    const condition = proxy.conditions.find((c) => c.source.name === name && c.severity === 'Error');
    expect(condition?.field).toBe(`metadata.annotations['${A}custom-headers']`);
    expect(condition?.message).toContain(message);
  });

  it('auth-proxy-set-headers: the auth subrequest carries the entries, replacing the client\'s field, $host filled in', async () => {
    authSeen.length = 0;
    const response = await proxy.fetch('auth-headers.test', '/x', { headers: { 'my-custom-header': 'spoofed', 'x-client': 'c' } });
    expect(response.status).toBe(200);
    expect(authSeen).toHaveLength(1);
    const seen = authSeen[0]!;
    expect(seen['my-custom-header']).toBe('42');
    expect(seen['x-asked-host']).toBe('auth-headers.test');
    expect(seen['x-literal']).toBe('plain value');
    expect(seen['x-client']).toBe('c');
    // The endpoint gets the client's own request, not the auth subrequest's fields.
    expect((JSON.parse(response.body) as { headers: IncomingHttpHeaders }).headers['my-custom-header']).toBe('spoofed');
  });

  it.each([
    ['auth-reserved', 'key X-Original-URL: Portico sets this field of the auth subrequest itself'],
    ['auth-variable', 'key X-Addr: uses the nginx variable $remote_addr'],
    ['auth-missing', 'ConfigMap web/nothing-here not found'],
  ])('auth-proxy-set-headers %s: refused (503), neither the auth server nor the endpoint asked', async (name, message) => {
    authSeen.length = 0;
    const before = proxy.backendRequests;
    expect((await proxy.fetch(`${name}.test`, '/')).status).toBe(503);
    expect(authSeen).toHaveLength(0);
    expect(proxy.backendRequests).toBe(before);
    const condition = proxy.conditions.find((c) => c.source.name === name && c.severity === 'Error');
    expect(condition?.field).toBe(`metadata.annotations['${A}auth-proxy-set-headers']`);
    expect(condition?.message).toContain(message);
  });

  it('auth-proxy-set-headers without auth-url is a Warning and changes nothing', async () => {
    expect((await proxy.fetch('auth-alone.test', '/')).status).toBe(200);
    expect(proxy.conditionsOf('auth-alone')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}auth-proxy-set-headers']`]]);
  });

  it('a ConfigMap past 1 MiB of data is a manifest problem naming it, never held', () => {
    const parsed = parseManifestText(configMap('web', 'huge', { big: 'x'.repeat(1024 * 1024 + 1) }), 'huge.yaml');
    expect(parsed.objects).toHaveLength(0);
    expect(parsed.problems[0]?.message).toMatch(/ConfigMap.*huge.*data.*more than 1048576 characters/);
  });
});
