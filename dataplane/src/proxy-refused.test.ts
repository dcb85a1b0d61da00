import { Explainer } from '@portico/control/explain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, RunningProxy } from './test-support.ts';
import { annotatedIngress, appManifests, compileManifests, fetchVia, startBackend, startProxy } from './test-support.ts';

/** Manifests as a user writes them: one Service on a loopback backend, Ingresses with and without access annotations. */
function manifests(port: number): string {
  return appManifests(port, [
    annotatedIngress('basic-auth', 'admin.test', { 'nginx.ingress.kubernetes.io/auth-type': 'basic', 'nginx.ingress.kubernetes.io/auth-secret': 'htpasswd' }),
    annotatedIngress('external-auth', 'sso.test', { 'nginx.ingress.kubernetes.io/auth-url': 'http://auth.example/verify', 'nginx.ingress.kubernetes.io/auth-snippet': 'proxy_set_header X-Team $http_x_team;' }),
    annotatedIngress('allowlist', 'office.test', { 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' }),
    annotatedIngress('legacy-denylist', 'legacy.test', { 'ingress.kubernetes.io/denylist-source-range': '0.0.0.0/0' }),
    annotatedIngress('modsecurity', 'waf.test', { 'nginx.ingress.kubernetes.io/enable-modsecurity': 'true' }),
    annotatedIngress('satisfy', 'satisfy.test', { 'nginx.ingress.kubernetes.io/satisfy': 'any' }),
    annotatedIngress('deny-snippet', 'snippet.test', { 'nginx.ingress.kubernetes.io/configuration-snippet': 'deny all;' }),
    annotatedIngress('open', 'open.test', { 'nginx.ingress.kubernetes.io/proxy-buffer-size': '8k', 'nginx.ingress.kubernetes.io/server-snippet': 'gzip on;' }),
  ]);
}

/** Hosts whose Ingress asks for access control Portico does not enforce (auth-url with auth-snippet, legacy prefix, ModSecurity, a deny snippet). */
const PROTECTED = ['sso.test', 'legacy.test', 'waf.test', 'snippet.test'];

describe('never serve a protected route open (annotation policy through the real proxy)', () => {
  let backend: Backend;
  let proxy: RunningProxy;
  let explainer: Explainer;
  let conditions: ReturnType<typeof compileManifests>['conditions'];

  beforeAll(async () => {
    backend = await startBackend((_request, response) => response.end('secret'));
    const compiled = compileManifests(manifests(backend.port));
    conditions = compiled.conditions;
    proxy = await startProxy(compiled.router);
    explainer = new Explainer(compiled.snapshot);
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  it.each(PROTECTED)('%s answers 503 and never reaches the backend', async (host) => {
    const before = backend.requests;
    const response = await fetchVia(proxy.port, { host, path: '/anything' });
    expect(response.status).toBe(503);
    expect(response.body).not.toContain('secret');
    expect(backend.requests).toBe(before);
    const explained = explainer.explain({ host, path: '/anything' });
    expect(explained.status).toBe(503);
    expect(explained.reason).toMatch(/refused rather than served open: (nginx\.)?ingress\.kubernetes\.io\//);
  });

  it('honoured access annotations decide instead: basic auth whose Secret is missing is refused (503), an allowlist answers 403, satisfy alone restricts nobody', async () => {
    const admin = await fetchVia(proxy.port, { host: 'admin.test', path: '/' });
    expect([admin.status, admin.body.includes('secret')]).toEqual([503, false]);
    expect(explainer.explain({ host: 'admin.test', path: '/' }).reason).toMatch(/refused: nginx\.ingress\.kubernetes\.io\/auth-secret: Secret web\/htpasswd not found/);
    expect((await fetchVia(proxy.port, { host: 'office.test', path: '/' })).status).toBe(403);
    expect((await fetchVia(proxy.port, { host: 'satisfy.test', path: '/' })).status).toBe(200);
  });

  it('serves the Ingress whose unknown annotations restrict nobody, with a warning per annotation', async () => {
    const response = await fetchVia(proxy.port, { host: 'open.test', path: '/' });
    expect(response.status).toBe(200);
    expect(response.body).toBe('secret');
    expect(explainer.explain({ host: 'open.test', path: '/' }).status).toBe(200);
    const open = conditions.filter((c) => c.source.name === 'open');
    expect(open.map((c) => [c.reason, c.severity, c.field])).toEqual([
      ['UnsupportedAnnotation', 'Warning', "metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffer-size']"],
      ['UnsupportedAnnotation', 'Warning', "metadata.annotations['nginx.ingress.kubernetes.io/server-snippet']"],
    ]);
    expect(open[1]!.message).toMatch(/never applies snippets, by design/);
  });

  it('names each refusing annotation in an Error condition (the status writer turns it into a Warning Event)', () => {
    const refused = conditions.filter((c) => c.reason === 'AccessPolicyRefused');
    expect(refused.map((c) => c.source.name).sort()).toEqual(['deny-snippet', 'external-auth', 'legacy-denylist', 'modsecurity']);
    expect(refused.every((c) => c.severity === 'Error' && /not enforce it; the Ingress is not served \(503\)/.test(c.message))).toBe(true);
  });
});
