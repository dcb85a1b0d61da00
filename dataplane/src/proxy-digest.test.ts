/**
 * `auth-type: digest` through the real proxy (manifests -> compile -> router -> proxy -> a loopback
 * backend that reports what it received). ingress-nginx's own e2e suite has no digest case
 * (test/e2e/annotations/auth.go ends with "TODO: test Digest Auth": 401, realm name, auth ok, auth
 * error), so these are those four assertions plus nginx-http-auth-digest's documented behaviour:
 * stale=true, nc replay, the uri check, evasion; a client computing RFC 7616 answers, `curl
 * --digest` when the machine has curl, HTTP/2, worker processes, and hostile headers. Each test
 * speaks as its own client address (X-Forwarded-For from a trusted loopback peer), because failed
 * attempts count per address.
 */
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Explainer } from '@portico/control/explain';
import { DigestNonces, digestHa1, digestResponse } from '@portico/control/snapshot/policies/digest-auth';
import { Snapshot } from '@portico/control/snapshot';
import { redactSnapshot } from '@portico/control/snapshot/redact';
import type { Backend, FetchedResponse, RunningProxy } from './test-support.ts';
import { annotatedIngress, appManifests, compileManifests, fetchVia, rawExchange, startBackend, startProxy, statusOf } from './test-support.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';
import { startServing } from './serve.ts';

const P = 'nginx.ingress.kubernetes.io/';
const REALM = 'test auth';
const HA1 = digestHa1('foo', REALM, 'secret');
/** foo:secret in the realm; a line of another realm, a line that is no htdigest line, an uppercase HA1. */
const HTDIGEST = `foo:${REALM}:${HA1}\nbar:other:${digestHa1('bar', 'other', 'secret')}\nfoo\nbaz:${REALM}:${digestHa1('baz', REALM, 'secret').toUpperCase()}\n`;
const HTPASSWD = 'foo:$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0\n';
let clientCount = 0;
/** A client address of its own for one test. */
const newClient = () => `192.0.2.${++clientCount}`;

function manifests(port: number): string {
  const digest = { [`${P}auth-type`]: 'digest', [`${P}auth-secret`]: 'htdigest', [`${P}auth-realm`]: REALM };
  const secret = (name: string, text: string) => `apiVersion: v1\nkind: Secret\nmetadata: {name: ${name}, namespace: web}\ntype: Opaque\ndata: {auth: ${Buffer.from(text).toString('base64')}}\n`;
  return appManifests(port, [
    secret('htdigest', HTDIGEST),
    secret('htpasswd', HTPASSWD),
    annotatedIngress('digest', 'digest.test', digest),
    annotatedIngress('basic', 'basic.test', { [`${P}auth-type`]: 'basic', [`${P}auth-secret`]: 'htpasswd', [`${P}auth-realm`]: REALM }),
    annotatedIngress('no-realm', 'no-realm.test', { ...digest, [`${P}auth-realm`]: '' }),
    annotatedIngress('realm-off', 'realm-off.test', { ...digest, [`${P}auth-realm`]: 'off' }),
    annotatedIngress('auth-map', 'auth-map.test', { ...digest, [`${P}auth-secret-type`]: 'auth-map' }),
    annotatedIngress('no-secret', 'no-secret.test', { ...digest, [`${P}auth-secret`]: 'missing' }),
    annotatedIngress('cors', 'cors.test', { ...digest, [`${P}enable-cors`]: 'true' }),
    annotatedIngress('any-inside', 'any-inside.test', { ...digest, [`${P}whitelist-source-range`]: '192.0.2.0/24', [`${P}satisfy`]: 'any' }),
  ]);
}

/** The Authorization value a client answers `challenge` with, as RFC 7616 computes it. */
function answer(challenge: string | undefined, uri: string, options: { password?: string; nc?: number; method?: string; user?: string } = {}): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge ?? '')![1]!;
  const nc = (options.nc ?? 1).toString(16).padStart(8, '0');
  const user = options.user ?? 'foo';
  const response = digestResponse(digestHa1(user, REALM, options.password ?? 'secret'), options.method ?? 'GET', { nonce, nc, cnonce: 'abcdef01', uri });
  return `Digest username="${user}", realm="${REALM}", nonce="${nonce}", uri="${uri}", algorithm=MD5, response="${response}", qop=auth, nc=${nc}, cnonce="abcdef01"`;
}

const CHALLENGE = /^Digest realm="test auth", qop="auth", algorithm=MD5, nonce="[0-9a-f]{60}"$/;
const STALE_CHALLENGE = /^Digest realm="test auth", qop="auth", algorithm=MD5, nonce="[0-9a-f]{60}", stale=true$/;

/** Runs curl (bounded); undefined when the machine has none. */
function curl(args: readonly string[]): Promise<{ code: number; stdout: string } | undefined> {
  return new Promise((resolve) => {
    execFile('curl', ['--silent', '--show-error', '--max-time', '10', ...args], { timeout: 15_000 }, (error, stdout) => {
      if (error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT') resolve(undefined);
      else resolve({ code: typeof error?.code === 'number' ? error.code : 0, stdout });
    });
  });
}

describe('auth-type: digest through the real proxy', () => {
  let backend: Backend;
  let proxy: RunningProxy;
  let compiled: ReturnType<typeof compileManifests>;
  /** What the backend saw of the last request's Authorization header. */
  let lastAuthorization: string | undefined;

  beforeAll(async () => {
    backend = await startBackend((request, response) => {
      lastAuthorization = request.headers.authorization;
      response.end(`protected authorization=${request.headers.authorization ?? '-'}`);
    });
    compiled = compileManifests(manifests(backend.port));
    proxy = await startProxy(compiled.router, { trustedProxies: ['127.0.0.1/32'] });
  });

  afterAll(async () => {
    await proxy.close();
    await backend.close();
  });

  async function request(host: string, client: string, headers: Record<string, string> = {}, path = '/x', via = proxy): Promise<FetchedResponse> {
    return fetchVia(via.port, { host, path, headers: { 'x-forwarded-for': client, ...headers } });
  }

  async function expectRefused(response: FetchedResponse, before: number, stale: boolean): Promise<void> {
    expect(response.status).toBe(401);
    expect(response.body).not.toContain('protected');
    expect(backend.requests).toBe(before);
    expect(response.headers['www-authenticate']).toMatch(stale ? STALE_CHALLENGE : CHALLENGE);
  }

  it('401 with the realm, qop="auth" and a nonce; the right answer reaches the backend without the Authorization header; Authentication-Info comes back', async () => {
    const client = newClient();
    const before = backend.requests;
    const challenge = await request('digest.test', client);
    expect(challenge.status).toBe(401);
    expect(challenge.headers['www-authenticate']).toMatch(CHALLENGE);
    expect(challenge.body).not.toContain('protected');
    expect(backend.requests).toBe(before);

    const ok = await request('digest.test', client, { authorization: answer(challenge.headers['www-authenticate'], '/x?q=1') }, '/x?q=1');
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('protected authorization=-');
    expect(lastAuthorization).toBeUndefined();
    expect(ok.headers['authentication-info']).toMatch(/^qop=auth, rspauth="[0-9a-f]{32}", cnonce="abcdef01", nc=00000001$/);
    // The same nonce, the next nc: no new challenge needed.
    const next = await request('digest.test', client, { authorization: answer(challenge.headers['www-authenticate'], '/y', { nc: 2 }) }, '/y');
    expect(next.status).toBe(200);
  });

  it('with enable-cors, the 401 carries the CORS headers (as ingress-nginx\'s basic-auth + CORS e2e case)', async () => {
    const response = await request('cors.test', newClient(), { origin: 'https://app.example' });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(CHALLENGE);
    expect(response.headers['access-control-allow-origin']).toBe('*');
  });

  it('a wrong password, an unknown user, a user of another realm, an uppercase HA1 line and a uri that is not the request-target get 401 (not stale)', async () => {
    const client = newClient();
    const challenge = (await request('digest.test', client)).headers['www-authenticate'];
    const before = backend.requests;
    for (const authorization of [answer(challenge, '/x', { password: 'Secret' }), answer(challenge, '/x', { user: 'nobody' }), answer(challenge, '/x', { user: 'bar' }), answer(challenge, '/x', { user: 'baz' }), answer(challenge, '/other')]) {
      // Another address each time, so that these five do not lock one address out.
      await expectRefused(await request('digest.test', newClient(), { authorization }), before, false);
    }
  });

  it('a replayed nc gets 401; nc 20 and a nonce issued over 60 s ago get 401 stale=true (the password was right)', async () => {
    const client = newClient();
    const challenge = (await request('digest.test', client)).headers['www-authenticate'];
    const authorization = answer(challenge, '/x');
    expect((await request('digest.test', client, { authorization })).status).toBe(200);
    const before = backend.requests;
    await expectRefused(await request('digest.test', client, { authorization }), before, false);
    await expectRefused(await request('digest.test', client, { authorization: answer(challenge, '/x', { nc: 20 }) }), before, true);
    // Nonces are keyed by the realm and the user file, so a test that holds both can mint an old one.
    const old = `Digest realm="${REALM}", nonce="${new DigestNonces(REALM, [{ user: 'foo', ha1: HA1 }]).issue(Date.now() - 61_000)}"`;
    await expectRefused(await request('digest.test', client, { authorization: answer(old, '/x') }), before, true);
    await expectRefused(await request('digest.test', newClient(), { authorization: answer(old, '/x', { password: 'wrong' }) }), before, false);
  });

  it('a nonce from one node works on another node compiled from the same manifests (stateless nonces)', async () => {
    const other = compileManifests(manifests(backend.port));
    const otherProxy = await startProxy(other.router, { trustedProxies: ['127.0.0.1/32'] });
    try {
      const client = newClient();
      const challenge = (await request('digest.test', client)).headers['www-authenticate'];
      expect((await request('digest.test', client, { authorization: answer(challenge, '/x') }, '/x', otherProxy)).status).toBe(200);
    } finally {
      await otherProxy.close();
    }
  });

  it('five failed attempts from one address: a bare 401 (no challenge) even for the right answer, while other addresses log in', async () => {
    const attacker = newClient();
    const challenge = (await request('digest.test', attacker)).headers['www-authenticate'];
    for (let i = 1; i <= 5; i++) expect((await request('digest.test', attacker, { authorization: answer(challenge, '/x', { password: `guess${i}`, nc: i }) })).status).toBe(401);
    const locked = await request('digest.test', attacker, { authorization: answer(challenge, '/x', { nc: 6 }) });
    expect(locked.status).toBe(401);
    expect(locked.headers['www-authenticate']).toBeUndefined();
    expect((await request('digest.test', newClient(), { authorization: answer(challenge, '/x', { nc: 7 }) })).status).toBe(200);
  });

  it('curl --digest logs in against the real proxy (and fails with a wrong password)', async () => {
    const url = `http://127.0.0.1:${proxy.port}/x?a=1&b=2`;
    const base = ['-H', 'Host: digest.test', '-H', `X-Forwarded-For: ${newClient()}`, '-o', '/dev/null', '-w', '%{http_code}', '--digest'];
    const good = await curl([...base, '-u', 'foo:secret', url]);
    if (good === undefined) return; // no curl on this machine: the RFC client above covers the protocol
    expect(good.stdout).toBe('200');
    // Two URLs in one run: curl answers the second with the same nonce and nc=2.
    const two = await curl([...base, '-u', 'foo:secret', url, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${proxy.port}/second`]);
    expect(two!.stdout).toBe('200200');
    const bad = await curl(['-H', 'Host: digest.test', '-H', `X-Forwarded-For: ${newClient()}`, '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'foo:wrong', url]);
    expect(bad!.stdout).toBe('401');
  });

  it('HTTP/2 (h2c): challenge, then the right answer for :path reaches the backend without Authorization', async () => {
    const plane = await startH2DataPlane(compiled.snapshot, { proxy: { trustedProxies: ['127.0.0.1/32'] } });
    const session = await h2Session(plane, false);
    try {
      const client = newClient();
      const headers = { ':authority': 'digest.test', ':path': '/h2?x=1', 'x-forwarded-for': client };
      const challenge = await h2Request(session, headers);
      expect(challenge.status).toBe(401);
      expect(challenge.headers['www-authenticate']).toMatch(CHALLENGE);
      const ok = await h2Request(session, { ...headers, authorization: answer(challenge.headers['www-authenticate'] as string, '/h2?x=1') });
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toBe('protected authorization=-');
      expect(ok.headers['authentication-info']).toMatch(/^qop=auth, rspauth="[0-9a-f]{32}", cnonce="abcdef01", nc=00000001$/);
      const replay = await h2Request(session, { ...headers, authorization: answer(challenge.headers['www-authenticate'] as string, '/h2?x=1') });
      expect(replay.status).toBe(401);
    } finally {
      session.close();
      await plane.close(2000);
    }
  });

  it('worker processes: one nonce serves requests on fresh connections whichever worker takes them', async () => {
    const serving = await startServing({ workers: 2, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent', proxy: { endpointAddresses: { allowLoopback: true }, trustedProxies: ['127.0.0.1/32'] } });
    try {
      await serving.load(compiled.snapshot);
      const via = { port: serving.ports.http } as RunningProxy;
      const client = newClient();
      const challenge = (await request('digest.test', client, {}, '/x', via)).headers['www-authenticate'];
      const statuses: number[] = [];
      // Fresh connections from fresh source ports: the kernel spreads them over both workers.
      for (let nc = 1; nc <= 12; nc++) statuses.push((await request('digest.test', client, { authorization: answer(challenge, `/w${nc}`, { nc }) }, `/w${nc}`, via)).status);
      expect(statuses).toEqual(Array(12).fill(200));
    } finally {
      await serving.close(2000);
    }
  }, 60_000);

  it('basic and digest alike: the Authorization header is not forwarded (ingress-nginx: proxy_set_header Authorization "")', async () => {
    const basic = await request('basic.test', newClient(), { authorization: `Basic ${Buffer.from('foo:secret').toString('base64')}` });
    expect(basic.status).toBe(200);
    expect(basic.body).toBe('protected authorization=-');
    // satisfy any, let in by the source range without credentials: still not forwarded.
    const any = await request('any-inside.test', newClient(), { authorization: 'Bearer token-for-the-backend' });
    expect(any.status).toBe(200);
    expect(any.body).toBe('protected authorization=-');
  });

  it('hostile headers get 401 with a challenge and never crash the proxy: huge, duplicated, unterminated, escaped, repeated parameters, other schemes', async () => {
    const client = newClient();
    const challenge = (await request('digest.test', client)).headers['www-authenticate'];
    const good = answer(challenge, '/x');
    const before = backend.requests;
    for (const authorization of [
      `Digest username="${'a'.repeat(6000)}"`,
      good.replace('username="foo"', 'username="foo", username="foo"'),
      good.replace('cnonce="abcdef01"', 'cnonce="abcdef01'),
      good.replace('username="foo"', 'username="f\\oo\\"'),
      good.replace('qop=auth', 'qop=auth-int'),
      good.replace('algorithm=MD5', 'algorithm=SHA-256'),
      'Digest',
      'Basic Zm9vOnNlY3JldA==',
      `Digest ${'a=b,'.repeat(500)}`,
    ]) {
      await expectRefused(await request('digest.test', client, { authorization }), before, false);
    }
    // Two Authorization field lines: ambiguous, so absent (raw bytes: node:http would join them).
    const raw = await rawExchange(proxy.port, `GET /x HTTP/1.1\r\nHost: digest.test\r\nX-Forwarded-For: ${client}\r\nAuthorization: ${good}\r\nAuthorization: ${good}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(raw)).toBe(401);
    expect(backend.requests).toBe(before);
    // After all that, the untouched answer still logs in: none of the above was an attempt.
    expect((await request('digest.test', client, { authorization: good })).status).toBe(200);
  });

  it.each([
    ['no-realm', 'auth-realm'],
    ['realm-off', 'auth-realm'],
    ['auth-map', 'auth-secret-type'],
    ['no-secret', 'auth-secret'],
  ])('hostile: %s refuses the Ingress (503, Error condition naming %s), never serves it open', async (name, annotation) => {
    const response = await request(`${name}.test`, newClient());
    expect(response.status).toBe(503);
    const errors = compiled.conditions.filter((c) => c.source.name === name && c.severity === 'Error');
    expect(errors.map((c) => c.field)).toEqual([`metadata.annotations['${P}${annotation}']`]);
    expect(new Explainer(compiled.snapshot).explain({ host: `${name}.test`, path: '/' }).status).toBe(503);
  });

  it('bad htdigest lines are Warnings per line; no HA1 in conditions or in the redacted export', () => {
    const warned = compiled.conditions.filter((c) => c.source.name === 'digest' && c.severity === 'Warning').map((c) => c.message);
    expect(warned).toEqual([expect.stringMatching(/line 2 \(user "bar"\): realm "other" is not the auth-realm "test auth"/), expect.stringMatching(/line 3: not user:realm:HA1/), expect.stringMatching(/line 4 \(user "baz"\): the HA1 is not 32 lower-case hex digits/)]);
    expect(JSON.stringify(compiled.conditions)).not.toContain(HA1);
    expect(JSON.stringify(compiled.snapshot)).toContain(HA1);
    const redacted = redactSnapshot(compiled.snapshot);
    expect(JSON.stringify(redacted)).not.toContain(HA1);
    // The API's export schema is the snapshot schema: a redacted export still conforms to it.
    expect(Snapshot.safeParse(redacted).success).toBe(true);
  });
});
