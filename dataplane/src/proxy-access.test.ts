/**
 * Access annotations through the real proxy (manifests -> compile -> router -> proxy -> a loopback
 * backend), modelled on ingress-nginx's test/e2e/annotations/{ipallowlist,ipdenylist,auth,satisfy}.go:
 * who gets 403 / 401 / 200, that refused requests never reach the backend, and that a policy
 * Portico cannot honour (bad CIDR, missing Secret, auth-map, other namespace) refuses the
 * route (503 and an Error condition) rather than serving it open.
 */
import { Explainer } from '@portico/control/explain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, RunningProxy } from './test-support.ts';
import { annotatedIngress, appManifests, compileManifests, fetchVia, startBackend, startProxy } from './test-support.ts';

const P = 'nginx.ingress.kubernetes.io/';
/** `htpasswd -m` (apr1) for foo:secret, a bcrypt entry Portico cannot check, a {SHA} one. */
const HTPASSWD = 'foo:$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0\nblow:$2y$05$abcdefghijklmnopqrstuuLwyVuoaBzFIGgHDkB6NfEMDQmw2EyN.\nbar:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n';
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

function manifests(port: number): string {
  const ingress = (name: string, annotations: Record<string, string>) => annotatedIngress(name, `${name}.test`, annotations);
  const auth = { [`${P}auth-type`]: 'basic', [`${P}auth-secret`]: 'htpasswd', [`${P}auth-realm`]: 'test auth' };
  return appManifests(port, [
    `apiVersion: v1\nkind: Secret\nmetadata: {name: htpasswd, namespace: web}\ntype: Opaque\ndata: {auth: ${Buffer.from(HTPASSWD).toString('base64')}}\n`,
    `apiVersion: v1\nkind: Secret\nmetadata: {name: htpasswd, namespace: other}\ntype: Opaque\ndata: {auth: ${Buffer.from(HTPASSWD).toString('base64')}}\n`,
    ingress('allowed', { [`${P}allowlist-source-range`]: '10.0.0.0/8, 127.0.0.1/32' }),
    ingress('outside', { [`${P}whitelist-source-range`]: '10.0.0.0/8' }),
    ingress('denied', { [`${P}denylist-source-range`]: '127.0.0.0/8', [`${P}allowlist-source-range`]: '0.0.0.0/0' }),
    ingress('bad-cidr', { [`${P}whitelist-source-range`]: '10.0.0.0/8, 300.1.1.1' }),
    ingress('legacy', { 'ingress.kubernetes.io/whitelist-source-range': '127.0.0.1/32' }),
    ingress('basic', auth),
    ingress('no-secret', { ...auth, [`${P}auth-secret`]: 'missing' }),
    ingress('other-namespace', { ...auth, [`${P}auth-secret`]: 'other/htpasswd' }),
    ingress('auth-map', { ...auth, [`${P}auth-secret-type`]: 'auth-map' }),
    ingress('any-outside', { ...auth, [`${P}whitelist-source-range`]: '10.0.0.0/8', [`${P}satisfy`]: 'any' }),
    ingress('any-inside', { ...auth, [`${P}whitelist-source-range`]: '127.0.0.1', [`${P}satisfy`]: 'any' }),
    ingress('all-outside', { ...auth, [`${P}whitelist-source-range`]: '10.0.0.0/8' }),
  ]);
}

describe('access annotations through the real proxy', () => {
  let backend: Backend;
  let proxy: RunningProxy;
  let behindProxy: RunningProxy;
  let explainer: Explainer;
  let conditions: ReturnType<typeof compileManifests>['conditions'];

  beforeAll(async () => {
    backend = await startBackend((_request, response) => response.end('protected'));
    const compiled = compileManifests(manifests(backend.port));
    conditions = compiled.conditions;
    proxy = await startProxy(compiled.router);
    // The same routes behind a load balancer on loopback that Portico trusts.
    behindProxy = await startProxy(compiled.router, { trustedProxies: ['127.0.0.1/32'] });
    explainer = new Explainer(compiled.snapshot);
  });

  afterAll(async () => {
    await proxy.close();
    await behindProxy.close();
    await backend.close();
  });

  async function expectStatus(host: string, status: number, headers: Record<string, string> = {}, via = proxy): Promise<Awaited<ReturnType<typeof fetchVia>>> {
    const before = backend.requests;
    const response = await fetchVia(via.port, { host, path: '/x', headers });
    expect(response.status).toBe(status);
    expect(backend.requests - before).toBe(status === 200 ? 1 : 0);
    if (status !== 200) expect(response.body).not.toContain('protected');
    return response;
  }

  it('allowlist-source-range: a client inside the list reaches the backend', async () => {
    await expectStatus('allowed.test', 200);
  });

  it('whitelist-source-range: a client outside gets 403; a spoofed X-Forwarded-For from an untrusted peer changes nothing', async () => {
    await expectStatus('outside.test', 403);
    await expectStatus('outside.test', 403, { 'x-forwarded-for': '10.1.2.3' });
  });

  it('the client address from a trusted proxy\'s X-Forwarded-For chain decides', async () => {
    await expectStatus('outside.test', 200, { 'x-forwarded-for': '10.1.2.3' }, behindProxy);
    await expectStatus('outside.test', 403, { 'x-forwarded-for': '10.1.2.3, 192.0.2.7' }, behindProxy);
    await expectStatus('allowed.test', 403, { 'x-forwarded-for': '192.0.2.7' }, behindProxy);
  });

  it('denylist-source-range wins over an allowlist that also matches', async () => {
    await expectStatus('denied.test', 403);
  });

  it('hostile: an unreadable CIDR list refuses the Ingress (503, Error condition naming the entry), never serves it open', async () => {
    await expectStatus('bad-cidr.test', 503);
    const refused = conditions.filter((c) => c.source.name === 'bad-cidr' && c.severity === 'Error');
    expect(refused.map((c) => c.field)).toEqual([`metadata.annotations['${P}whitelist-source-range']`]);
    expect(refused[0]!.message).toContain('300.1.1.1');
    expect(explainer.explain({ host: 'bad-cidr.test', path: '/' }).status).toBe(503);
  });

  it('the legacy ingress.kubernetes.io/ prefix stays refused (503)', async () => {
    await expectStatus('legacy.test', 503);
  });

  it('auth-type basic: no credentials -> 401 with the realm; the right user and password -> 200', async () => {
    const challenge = await expectStatus('basic.test', 401);
    expect(challenge.headers['www-authenticate']).toBe('Basic realm="test auth"');
    await expectStatus('basic.test', 200, basic('foo', 'secret'));
    await expectStatus('basic.test', 200, basic('bar', 'secret'));
  });

  it('hostile: a wrong password, an unknown user, a malformed header and a bcrypt entry all get 401', async () => {
    for (const headers of [basic('foo', 'Secret'), basic('nobody', 'secret'), { authorization: 'Basic !!!' }, { authorization: 'Bearer x' }, basic('blow', 'secret')]) {
      const response = await expectStatus('basic.test', 401, headers);
      expect(response.headers['www-authenticate']).toBe('Basic realm="test auth"');
    }
    const warned = conditions.filter((c) => c.source.name === 'basic' && c.severity === 'Warning');
    expect(warned.map((c) => c.message).join('\n')).toMatch(/user "blow".*bcrypt/);
    expect(JSON.stringify(conditions)).not.toContain('LrttParrLPdxvgutaSXWJ0');
  });

  it.each(['no-secret', 'other-namespace', 'auth-map'])('hostile: %s refuses the Ingress (503, Error condition)', async (name) => {
    await expectStatus(`${name}.test`, 503, basic('foo', 'secret'));
    expect(conditions.some((c) => c.source.name === name && c.severity === 'Error')).toBe(true);
  });

  it('satisfy any: the source range or the password is enough; satisfy all needs both', async () => {
    await expectStatus('any-inside.test', 200);
    const challenge = await expectStatus('any-outside.test', 401);
    expect(challenge.headers['www-authenticate']).toBe('Basic realm="test auth"');
    await expectStatus('any-outside.test', 200, basic('foo', 'secret'));
    await expectStatus('all-outside.test', 403, basic('foo', 'secret'));
  });

  it('the snapshot export never shows a password hash', async () => {
    const { redactSnapshot } = await import('@portico/control/snapshot/redact');
    const compiled = compileManifests(manifests(backend.port));
    expect(JSON.stringify(compiled.snapshot)).toContain('LrttParrLPdxvgutaSXWJ0');
    expect(JSON.stringify(redactSnapshot(compiled.snapshot))).not.toContain('LrttParrLPdxvgutaSXWJ0');
  });
});
