/**
 * The canary family through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/canary.go: echo backends report which Service answered; header, cookie and
 * weight in ingress-nginx's precedence; several canaries per rule (Portico's extension), oldest
 * first; canaries never claim a host/path; a canary without a main is refused; bad values are
 * Warnings naming the annotation.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';
import type { TestIngress } from './annotation-support.ts';
import { keepAliveAgent } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';
const OLD = '2026-01-01T00:00:00Z';
const NEW = '2026-02-01T00:00:00Z';
const NEWER = '2026-03-01T00:00:00Z';

/** A main Ingress for `host` /info -> `main`, and canaries for it. */
function main(host: string, extra: Partial<TestIngress> = {}): TestIngress {
  return { name: `${host}-main`, hosts: [host], paths: [{ path: '/info', service: 'main' }], creationTimestamp: NEW, ...extra };
}
function canary(host: string, annotations: Record<string, string>, extra: Partial<TestIngress> = {}): TestIngress {
  return { name: `${host}-canary`, hosts: [host], paths: [{ path: '/info', service: 'canary' }], annotations: { [`${A}canary`]: 'true', ...annotations }, creationTimestamp: NEW, ...extra };
}

describe('canary annotations (ingress-nginx e2e: canary.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        main('header.test'),
        canary('header.test', { [`${A}canary-by-header`]: 'CanaryByHeader' }),
        main('value.test'),
        canary('value.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}canary-by-header-value`]: 'DoCanary', [`${A}canary-by-cookie`]: 'CanaryByCookie' }),
        main('pattern.test'),
        canary('pattern.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}canary-by-header-pattern`]: '^Do[A-Z][a-z]+y$' }),
        main('both.test'),
        canary('both.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}canary-by-header-value`]: 'DoCanary', [`${A}canary-by-header-pattern`]: '^Do[A-Z][a-z]+y$' }),
        main('badregex.test'),
        canary('badregex.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}canary-by-header-pattern`]: '[][**da?$&*', [`${A}canary-by-cookie`]: 'CanaryByCookie' }),
        main('cookie.test'),
        canary('cookie.test', { [`${A}canary-by-cookie`]: 'Canary' }),
        main('w0.test'),
        canary('w0.test', { [`${A}canary-weight`]: '0' }),
        main('w100.test'),
        canary('w100.test', { [`${A}canary-weight`]: '100', [`${A}canary-by-header`]: 'CanaryByHeader' }),
        main('wtotal.test'),
        canary('wtotal.test', { [`${A}canary-weight`]: '1000', [`${A}canary-weight-total`]: '1000' }),
        main('w50.test'),
        canary('w50.test', { [`${A}canary-weight`]: '50' }),
        main('w200.test'),
        canary('w200.test', { [`${A}canary-weight`]: '100', [`${A}canary-weight-total`]: '200' }),
        // Several canaries on one rule, the older first.
        main('multi.test'),
        canary('multi.test', { [`${A}canary-weight`]: '20', [`${A}canary-by-header`]: 'X-A', [`${A}canary-by-cookie`]: 'a' }, { name: 'multi-a', paths: [{ path: '/info', service: 'canary' }], creationTimestamp: NEW }),
        canary('multi.test', { [`${A}canary-weight`]: '30', [`${A}canary-by-header`]: 'X-B', [`${A}canary-by-cookie`]: 'b' }, { name: 'multi-b', paths: [{ path: '/info', service: 'canary2' }], creationTimestamp: NEWER }),
        // An older canary still does not take the rule from its main.
        main('older.test'),
        canary('older.test', { [`${A}canary-by-header`]: 'CanaryByHeader' }, { creationTimestamp: OLD }),
        // No main: refused, 404.
        canary('orphan.test', { [`${A}canary-by-header`]: 'CanaryByHeader' }),
        // A canary's access annotation is not applied by ingress-nginx; Portico refuses the canary.
        main('guarded.test'),
        canary('guarded.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}whitelist-source-range`]: '10.0.0.0/8' }),
        // Other annotations of a canary are ignored (the main's apply).
        main('ignored.test', { annotations: { [`${A}upstream-vhost`]: 'main.internal' } }),
        canary('ignored.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}upstream-vhost`]: 'canary.internal' }),
        // A canary whose Service does not exist: weight goes to the main, the header gets 503.
        main('gone.test'),
        canary('gone.test', { [`${A}canary-by-header`]: 'CanaryByHeader', [`${A}canary-weight`]: '50' }, { paths: [{ path: '/info', service: 'nosuch' }] }),
        // Hostile values.
        main('bad.test'),
        canary('bad.test', { [`${A}canary-weight`]: 'lots', [`${A}canary-by-header`]: 'Bad Header', [`${A}canary-by-cookie`]: 'a;b', [`${A}canary-by-header-pattern`]: 'x'.repeat(5000) }),
        { name: 'notcanary', hosts: ['notcanary.test'], paths: [{ path: '/info', service: 'main' }], annotations: { [`${A}canary-weight`]: '100' } },
      ],
      ['main', 'canary', 'canary2'],
    );
  });

  afterAll(() => proxy.close());

  const serviceOf = async (host: string, headers: Record<string, string> = {}): Promise<string> => (await proxy.echo(host, '/info', { headers })).service;

  /** How many of `n` requests (one keep-alive connection) each Service answered. */
  async function spread(host: string, n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
    const agent = keepAliveAgent();
    const counts: Record<string, number> = {};
    try {
      for (let i = 0; i < n; i++) {
        const echo = await proxy.echo(host, '/info', { headers, agent });
        counts[echo.service] = (counts[echo.service] ?? 0) + 1;
      }
    } finally {
      agent.destroy();
    }
    return counts;
  }

  it('by header: always goes to the canary, never and other values to the main', async () => {
    expect(await serviceOf('header.test')).toBe('main');
    expect(await serviceOf('header.test', { CanaryByHeader: 'always' })).toBe('canary');
    expect(await serviceOf('header.test', { CanaryByHeader: 'never' })).toBe('main');
    expect(await serviceOf('header.test', { CanaryByHeader: 'badvalue' })).toBe('main');
  });

  it('by header value: only that value goes to the canary (always does not); the cookie applies after', async () => {
    expect(await serviceOf('value.test', { CanaryByHeader: 'DoCanary' })).toBe('canary');
    expect(await serviceOf('value.test', { CanaryByHeader: 'always' })).toBe('main');
    expect(await serviceOf('value.test', { CanaryByHeader: 'otherVal' })).toBe('main');
    expect(await serviceOf('value.test', { CanaryByHeader: 'otherVal', Cookie: 'CanaryByCookie=always' })).toBe('canary');
    expect(await serviceOf('value.test', { CanaryByHeader: 'DoCanary', Cookie: 'CanaryByCookie=never' })).toBe('canary');
  });

  it('by header pattern: a match goes to the canary; value wins over pattern', async () => {
    expect(await serviceOf('pattern.test', { CanaryByHeader: 'DoCanary' })).toBe('canary');
    expect(await serviceOf('pattern.test', { CanaryByHeader: 'Docanary' })).toBe('main');
    expect(await serviceOf('both.test', { CanaryByHeader: 'DoCananry' })).toBe('main');
    expect(await serviceOf('both.test', { CanaryByHeader: 'DoCanary' })).toBe('canary');
  });

  it('a pattern that cannot run keeps requests carrying the header on the main, even with the cookie; Warning names it', async () => {
    expect(await serviceOf('badregex.test', { CanaryByHeader: 'DoCanary', Cookie: 'CanaryByCookie=always' })).toBe('main');
    expect(await serviceOf('badregex.test', { Cookie: 'CanaryByCookie=always' })).toBe('canary');
    expect(proxy.conditionsOf('badregex.test-canary')).toContainEqual(['InvalidAnnotation', 'Warning', `metadata.annotations['${A}canary-by-header-pattern']`]);
  });

  it('by cookie: always and never; any other value falls through to the weight', async () => {
    expect(await serviceOf('cookie.test', { Cookie: 'other=1; Canary=always' })).toBe('canary');
    expect(await serviceOf('cookie.test', { Cookie: 'Canary=never' })).toBe('main');
    expect(await serviceOf('cookie.test', { Cookie: 'Canary=maybe' })).toBe('main');
    expect(await serviceOf('cookie.test', { Cookie: 'NotCanary=always' })).toBe('main');
  });

  it('by weight: 0 only main, 100 only canary, weight equal to weight-total only canary', async () => {
    expect(await spread('w0.test', 10)).toEqual({ main: 10 });
    expect(await spread('w100.test', 10)).toEqual({ canary: 10 });
    expect(await spread('wtotal.test', 10)).toEqual({ canary: 10 });
  });

  it('by weight: 50 (and 100 of 200) split between main and canary', async () => {
    for (const host of ['w50.test', 'w200.test']) {
      const counts = await spread(host, 40);
      expect(counts.main ?? 0).toBeGreaterThanOrEqual(15);
      expect(counts.canary ?? 0).toBeGreaterThanOrEqual(15);
      expect((counts.main ?? 0) + (counts.canary ?? 0)).toBe(40);
    }
  });

  it('header never beats a weight of 100 (the main answers although its weight share is 0)', async () => {
    expect(await spread('w100.test', 4, { CanaryByHeader: 'never' })).toEqual({ main: 4 });
  });

  it('several canaries: weights taken oldest first, the main the rest', async () => {
    const counts = await spread('multi.test', 100);
    // 20% to the older canary, 30% to the newer, 50% to the main (smooth WRR: exact over 100).
    expect(counts.canary ?? 0).toBeGreaterThanOrEqual(15);
    expect(counts.canary ?? 0).toBeLessThanOrEqual(25);
    expect(counts.canary2 ?? 0).toBeGreaterThanOrEqual(25);
    expect(counts.canary2 ?? 0).toBeLessThanOrEqual(35);
    expect(counts.main ?? 0).toBeGreaterThanOrEqual(45);
    expect(counts.main ?? 0).toBeLessThanOrEqual(55);
  });

  it('several canaries: headers before cookies, the older canary first; never excludes only its canary', async () => {
    expect(await serviceOf('multi.test', { 'X-A': 'always', 'X-B': 'always' })).toBe('canary');
    expect(await serviceOf('multi.test', { 'X-B': 'always' })).toBe('canary2');
    expect(await serviceOf('multi.test', { 'X-B': 'always', Cookie: 'a=always' })).toBe('canary2');
    expect(await serviceOf('multi.test', { 'X-A': 'never', Cookie: 'a=always; b=always' })).toBe('canary2');
    const counts = await spread('multi.test', 30, { 'X-A': 'never', 'X-B': 'never' });
    expect(counts).toEqual({ main: 30 });
    const explained = proxy.explainer.explain({ host: 'multi.test', path: '/info' });
    expect(explained.backends.map((backend) => [backend.service, backend.weight])).toEqual([['main', 5], ['canary', 2], ['canary2', 3]]);
    expect(explained.policies).toEqual(['canary: backend 1: header X-A always/never, then cookie a always/never, then weight 20/100; backend 2: header X-B always/never, then cookie b always/never, then weight 30/100']);
  });

  it('an older canary never wins the host/path from its main (no Conflict)', async () => {
    expect(await serviceOf('older.test')).toBe('main');
    expect(await serviceOf('older.test', { CanaryByHeader: 'always' })).toBe('canary');
    expect(proxy.conditions.filter((c) => c.reason === 'Conflict')).toEqual([]);
  });

  it('a canary without a main is refused with a condition and answers 404', async () => {
    const response = await proxy.fetch('orphan.test', '/info', { headers: { CanaryByHeader: 'always' } });
    expect(response.status).toBe(404);
    expect(proxy.conditionsOf('orphan.test-canary')).toEqual([['CanaryWithoutMain', 'Error', 'spec.rules[0].http.paths[0]']]);
  });

  it('a canary with an access annotation is not joined (fail closed): every request goes to the main', async () => {
    expect(await serviceOf('guarded.test', { CanaryByHeader: 'always' })).toBe('main');
    const reasons = proxy.conditionsOf('guarded.test-canary').map(([reason, severity]) => `${reason}/${severity}`);
    expect(reasons).toEqual(expect.arrayContaining(['AccessPolicyRefused/Error', 'CanaryRefused/Error']));
  });

  it("a canary's other annotations are ignored, with a Warning: the main's policies apply to canary traffic", async () => {
    const echo = await proxy.echo('ignored.test', '/info', { headers: { CanaryByHeader: 'always' } });
    expect([echo.service, echo.headers.host]).toEqual(['canary', 'main.internal']);
    expect(proxy.conditionsOf('ignored.test-canary')).toEqual([['UnsupportedAnnotation', 'Warning', `metadata.annotations['${A}upstream-vhost']`]]);
  });

  it('a canary without endpoints gets no weighted traffic; asked for by header it answers 503', async () => {
    expect(await spread('gone.test', 6)).toEqual({ main: 6 });
    expect((await proxy.fetch('gone.test', '/info', { headers: { CanaryByHeader: 'always' } })).status).toBe(503);
  });

  it('hostile values: each a Warning naming its annotation; nothing reaches the canary by them', async () => {
    expect(proxy.conditionsOf('bad.test-canary').map(([reason, severity, field]) => `${reason}/${severity}/${field}`)).toEqual([
      `InvalidAnnotation/Warning/metadata.annotations['${A}canary-by-cookie']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}canary-by-header']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}canary-by-header-pattern']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}canary-weight']`,
    ]);
    expect(await spread('bad.test', 6, { Cookie: 'a;b=always', 'Bad-Header': 'always' })).toEqual({ main: 6 });
    expect(proxy.conditionsOf('notcanary')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}canary']`]]);
    expect(await serviceOf('notcanary.test')).toBe('main');
  });

  it('a huge header value is matched in linear time and goes nowhere special', async () => {
    expect(await serviceOf('pattern.test', { CanaryByHeader: `Do${'a'.repeat(6000)}` })).toBe('main');
  });
});
