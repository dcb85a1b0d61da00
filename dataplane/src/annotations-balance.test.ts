/**
 * upstream-hash-by and affinity: cookie through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/{upstreamhashby,affinity}.go: a Service with four echo endpoints that say
 * which of them answered; the same key (or session cookie) keeps its endpoint, different keys
 * spread; the cookie's attributes as ingress-nginx writes them and never an address in it; a
 * tampered cookie or one naming a gone endpoint falls back to a new choice and a new cookie.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';
import type { Echo } from './annotation-support.ts';
import type { FetchedResponse } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';
const pool = (name: string, host: string, annotations: Record<string, string>) => ({ name, hosts: [host], paths: [{ path: '/info', service: 'pool' }], annotations });

describe('balancing annotations (ingress-nginx e2e: upstreamhashby.go, affinity.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        pool('uri', 'uri.test', { [`${A}upstream-hash-by`]: '$request_uri' }),
        pool('combo', 'combo.test', { [`${A}upstream-hash-by`]: '${arg_user}-$http_x_team' }),
        pool('remote', 'remote.test', { [`${A}upstream-hash-by`]: '$remote_addr' }),
        pool('badvar', 'badvar.test', { [`${A}upstream-hash-by`]: '$upstream_addr', [`${A}load-balance`]: 'fastest', [`${A}upstream-hash-by-subset`]: 'true', [`${A}upstream-hash-by-subset-size`]: '99' }),
        pool('subset', 'subset.test', { [`${A}upstream-hash-by`]: '$request_uri', [`${A}upstream-hash-by-subset`]: 'true', [`${A}upstream-hash-by-subset-size`]: '2' }),
        pool('sticky', 'sticky.test', { [`${A}affinity`]: 'cookie', [`${A}session-cookie-name`]: 'SERVERID', [`${A}session-cookie-expires`]: '172800', [`${A}session-cookie-max-age`]: '259200', [`${A}session-cookie-samesite`]: 'None', [`${A}session-cookie-conditional-samesite-none`]: 'true' }),
        pool('persistent', 'persistent.test', { [`${A}affinity`]: 'cookie', [`${A}affinity-mode`]: 'persistent', [`${A}session-cookie-path`]: '/', [`${A}session-cookie-domain`]: 'foo.bar', [`${A}session-cookie-secure`]: 'true' }),
        pool('plain', 'plain.test', {}),
        pool('badcookie', 'badcookie.test', { [`${A}affinity`]: 'cookie', [`${A}session-cookie-name`]: 'bad name;', [`${A}session-cookie-max-age`]: '1d', [`${A}session-cookie-samesite`]: 'sometimes', [`${A}affinity-mode`]: 'forever' }),
      ],
      ['pool*4'],
    );
  });

  afterAll(() => proxy.close());

  const replicaOf = async (host: string, path = '/info', headers: Record<string, string> = {}): Promise<number> => (await proxy.echo(host, path, { headers })).replica;
  const cookieOf = (response: FetchedResponse, name: string): string | undefined => [response.headers['set-cookie'] ?? []].flat().find((line) => line.startsWith(`${name}=`));

  it('upstream-hash-by $request_uri: one URI, one endpoint; many URIs spread over the endpoints', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 24; i++) {
      const first = await replicaOf('uri.test', `/info?page=${i}`);
      seen.add(first);
      expect(await replicaOf('uri.test', `/info?page=${i}`)).toBe(first);
      expect(await replicaOf('uri.test', `/info?page=${i}`)).toBe(first);
    }
    expect(seen.size).toBeGreaterThanOrEqual(3);
  });

  it('upstream-hash-by with $arg_ and $http_ variables and text: the same pair keeps its endpoint', async () => {
    const seen = new Set<number>();
    for (let i = 0; i < 16; i++) {
      const first = await replicaOf('combo.test', `/info?user=u${i}&x=1`, { 'X-Team': 'red' });
      seen.add(first);
      expect(await replicaOf('combo.test', `/info?x=2&user=u${i}`, { 'X-Team': 'red' })).toBe(first);
    }
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  it('upstream-hash-by $remote_addr: one client, one endpoint', async () => {
    const first = await replicaOf('remote.test');
    for (let i = 0; i < 8; i++) expect(await replicaOf('remote.test', `/info?i=${i}`)).toBe(first);
  });

  it('upstream-hash-by-subset: a URI keeps to its 2 endpoints, spread over both', async () => {
    for (let i = 0; i < 4; i++) {
      const seen = new Set<number>();
      for (let n = 0; n < 24; n++) seen.add(await replicaOf('subset.test', `/info?doc=${i}`));
      expect(seen.size).toBe(2);
    }
  });

  it('a huge key (a 12 KiB header) is hashed on its first characters: answered, and consistently', async () => {
    const team = 'x'.repeat(12 * 1024);
    const first = await replicaOf('combo.test', '/info?user=big', { 'X-Team': team });
    expect(await replicaOf('combo.test', '/info?user=big', { 'X-Team': team })).toBe(first);
  });

  it('an unknown variable, an unknown load-balance and subsets are Warnings naming each annotation; round robin applies', async () => {
    expect(proxy.conditionsOf('badvar').map(([reason, severity, field]) => `${reason}/${severity}/${field}`)).toEqual([
      `InvalidAnnotation/Warning/metadata.annotations['${A}load-balance']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}upstream-hash-by']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}upstream-hash-by-subset-size']`,
    ]);
    const replicas = new Set<number>();
    for (let i = 0; i < 8; i++) replicas.add(await replicaOf('badvar.test'));
    expect(replicas.size).toBe(4);
  });

  it('affinity cookie (balanced): Set-Cookie as ingress-nginx writes it, beside the application\'s cookie, no address in it', async () => {
    const response = await proxy.fetch('sticky.test', '/info', { headers: { 'User-Agent': 'curl/8', 'X-Echo-Set-Cookie': 'app=1; Path=/' } });
    const cookie = cookieOf(response, 'SERVERID') as string;
    expect(cookie).toMatch(/^SERVERID=[0-9a-f]{32}; Expires=[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT; Max-Age=259200; Path=\/info; HttpOnly; SameSite=None$/);
    expect(cookie).not.toContain('127.0.0.1');
    expect(cookieOf(response, 'app')).toBe('app=1; Path=/');
    const expires = Date.parse(/Expires=([^;]+)/.exec(cookie)?.[1] ?? '');
    expect(Math.abs(expires - (Date.now() + 172800 * 1000))).toBeLessThan(120_000);
  });

  it('conditional SameSite=None: left out for a browser ingress-nginx lists as incompatible', async () => {
    const response = await proxy.fetch('sticky.test', '/info', { headers: { 'User-Agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) Safari' } });
    expect(cookieOf(response, 'SERVERID')).not.toContain('SameSite');
  });

  it('affinity (balanced): a session stays on its endpoint; sessions spread; a request with the cookie gets no new one', async () => {
    const seen = new Set<number>();
    for (let s = 0; s < 12; s++) {
      const response = await proxy.fetch('sticky.test', '/info');
      const value = (cookieOf(response, 'SERVERID') as string).split(';')[0] as string;
      const first = (JSON.parse(response.body) as Echo).replica;
      seen.add(first);
      for (let i = 0; i < 4; i++) {
        const again = await proxy.fetch('sticky.test', '/info', { headers: { Cookie: `other=1; ${value}` } });
        expect((JSON.parse(again.body) as Echo).replica).toBe(first);
        expect(cookieOf(again, 'SERVERID')).toBeUndefined();
      }
    }
    expect(seen.size).toBeGreaterThanOrEqual(2);
  });

  it('a tampered session cookie is treated as none: balanced, with a new cookie', async () => {
    for (const value of ['10.0.0.1:8080', '../../etc', 'x'.repeat(4000), '0123456789abcdef0123456789abcdeg']) {
      const response = await proxy.fetch('sticky.test', '/info', { headers: { Cookie: `SERVERID=${value}` } });
      expect(response.status).toBe(200);
      expect(cookieOf(response, 'SERVERID')).toMatch(/^SERVERID=[0-9a-f]{32};/);
    }
  });

  it('affinity (persistent): the token keeps its endpoint; an unknown token falls back with a new cookie', async () => {
    const response = await proxy.fetch('persistent.test', '/info');
    const cookie = cookieOf(response, 'INGRESSCOOKIE') as string;
    expect(cookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{32}; Domain=foo\.bar; Path=\/; Secure; HttpOnly$/);
    const value = cookie.split(';')[0] as string;
    const first = (JSON.parse(response.body) as Echo).replica;
    for (let i = 0; i < 6; i++) {
      const again = await proxy.fetch('persistent.test', '/info', { headers: { Cookie: value } });
      expect([(JSON.parse(again.body) as Echo).replica, cookieOf(again, 'INGRESSCOOKIE')]).toEqual([first, undefined]);
    }
    const unknown = await proxy.fetch('persistent.test', '/info', { headers: { Cookie: `INGRESSCOOKIE=${'0'.repeat(32)}` } });
    expect(cookieOf(unknown, 'INGRESSCOOKIE')).toMatch(/^INGRESSCOOKIE=[0-9a-f]{32};/);
  });

  it('affinity (persistent): when its endpoint goes away, requests are answered by others and a new cookie follows', async () => {
    const response = await proxy.fetch('persistent.test', '/info');
    const value = (cookieOf(response, 'INGRESSCOOKIE') as string).split(';')[0] as string;
    const gone = (JSON.parse(response.body) as Echo).replica;
    const key = gone === 0 ? 'pool' : `pool#${gone}`;
    await proxy.backends.get(key)?.close();
    proxy.backends.delete(key);
    let fresh: string | undefined;
    for (let i = 0; i < 6 && fresh === undefined; i++) {
      const again = await proxy.fetch('persistent.test', '/info', { headers: { Cookie: value } });
      expect(again.status).toBe(200);
      expect((JSON.parse(again.body) as Echo).replica).not.toBe(gone);
      fresh = cookieOf(again, 'INGRESSCOOKIE');
    }
    expect(fresh).toMatch(/^INGRESSCOOKIE=[0-9a-f]{32};/);
    const moved = await proxy.fetch('persistent.test', '/info', { headers: { Cookie: (fresh as string).split(';')[0] as string } });
    expect(cookieOf(moved, 'INGRESSCOOKIE')).toBeUndefined();
    expect((JSON.parse(moved.body) as Echo).replica).not.toBe(gone);
  });

  it('bad session-cookie values are Warnings naming each; the defaults apply', async () => {
    expect(proxy.conditionsOf('badcookie').map(([reason, , field]) => `${reason} ${field}`)).toEqual([
      `InvalidAnnotation metadata.annotations['${A}affinity-mode']`,
      `InvalidAnnotation metadata.annotations['${A}session-cookie-max-age']`,
      `InvalidAnnotation metadata.annotations['${A}session-cookie-name']`,
      `InvalidAnnotation metadata.annotations['${A}session-cookie-samesite']`,
    ]);
    const response = await proxy.fetch('badcookie.test', '/info');
    expect(cookieOf(response, 'INGRESSCOOKIE')).toMatch(/^INGRESSCOOKIE=[0-9a-f]{32}; Path=\/info; HttpOnly$/);
  });

  it('a route without these annotations is round robin and sets no cookie', async () => {
    const response = await proxy.fetch('plain.test', '/info');
    expect(cookieOf(response, 'INGRESSCOOKIE')).toBeUndefined();
    const replicas = new Set<number>();
    for (let i = 0; i < 4; i++) replicas.add(await replicaOf('plain.test'));
    expect(replicas.size).toBeGreaterThanOrEqual(3);
  });
});

describe('load-balance: ewma (ingress-nginx balancer/ewma.lua)', () => {
  let proxy: AnnotatedProxy;
  const slowPorts = new Set<number>();

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [pool('ewma', 'ewma.test', { [`${A}load-balance`]: 'ewma' }), pool('rr', 'rr.test', {})],
      ['pool*3'],
      {},
      {
        pool: (request, response) => {
          const port = request.socket.localPort ?? 0;
          request.resume();
          // One endpoint answers 300 ms late: ewma learns that and sends it (almost) nothing.
          setTimeout(() => response.end(JSON.stringify({ service: 'pool', replica: port, method: request.method, url: request.url, headers: {}, bodyBytes: 0 })), slowPorts.has(port) ? 300 : 0);
        },
      },
    );
    slowPorts.add(proxy.backends.get('pool')?.port as number);
  });

  afterAll(() => proxy.close());

  it('the slow endpoint gets few requests once measured; round robin gives it a third', async () => {
    const slow = proxy.backends.get('pool')?.port as number;
    const count = async (host: string, n: number): Promise<number> => {
      let toSlow = 0;
      for (let i = 0; i < n; i++) if ((await proxy.echo(host, '/info')).replica === slow) toSlow++;
      return toSlow;
    };
    expect(await count('rr.test', 9)).toBe(3);
    expect(await count('ewma.test', 30)).toBeLessThanOrEqual(4);
    expect(proxy.explainer.explain({ host: 'ewma.test', path: '/info' }).policies).toEqual(['load-balance: ewma (the less loaded of two endpoints by response time)']);
  });
});
