import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Decision, ProxyDecision, SwapEvent } from './router.ts';
import { endpointKey, isGap } from './endpoints.ts';
import { Router } from './router.ts';
import { snapshotOf } from './test-support.ts';

function proxied(decision: Decision): ProxyDecision {
  if (decision.kind !== 'proxy') throw new Error(`expected a proxy decision, got ${decision.kind}`);
  return decision;
}

const snapshot = snapshotOf([
  { host: 'a.test', routes: [{ path: '/', endpoints: [1001, 1002] }, { path: '/api', pathType: 'Prefix', endpoints: [1003] }, { path: '/down', endpoints: [] }] },
  { host: 'secure.test', routes: [{ path: '/', endpoints: [1004], sslRedirect: true }] },
  { host: 'forced.test', routes: [{ path: '/', endpoints: [1005], forceSslRedirect: true }] },
]);

describe('Router', () => {
  afterEach(() => vi.useRealTimers());

  it('answers 503 before the first snapshot', () => {
    expect(new Router().route('a.test', '/', 'GET', undefined, 'http')).toEqual({ kind: 'unavailable', route: '' });
  });

  it('routes by host and path, and labels the route', () => {
    const router = new Router();
    router.load(snapshot);
    expect(proxied(router.route('a.test', '/api/x', 'GET', undefined, 'http'))).toMatchObject({ port: 1003, address: '127.0.0.1', endpointKey: '127.0.0.1:1003', route: 'test/ing-0@a.test/api' });
    expect(proxied(router.route('A.TEST:8080', '/other?q', 'GET', undefined, 'http')).route).toBe('test/ing-0@a.test/');
    expect(router.route('b.test', '/', 'GET', undefined, 'http')).toEqual({ kind: 'not-found', route: '' });
    expect(router.route('a.test', '/down', 'GET', undefined, 'http')).toEqual({ kind: 'unavailable', route: 'test/ing-0@a.test/down' });
  });

  it('spreads requests over the endpoints of a route', () => {
    const router = new Router();
    router.load(snapshot);
    const ports = Array.from({ length: 4 }, () => proxied(router.route('a.test', '/', 'GET', undefined, 'http')).port);
    expect(ports.sort()).toEqual([1001, 1001, 1002, 1002]);
  });

  it('redirects plain HTTP to HTTPS for sslRedirect and forceSslRedirect, never HTTPS itself', () => {
    const router = new Router();
    router.load(snapshot);
    expect(router.route('Secure.test:80', '/a?b=c', 'GET', undefined, 'http')).toEqual({ kind: 'redirect', route: 'test/ing-1@secure.test/', location: 'https://secure.test/a?b=c' });
    expect(router.route('forced.test', '/', 'POST', undefined, 'http')).toMatchObject({ kind: 'redirect', location: 'https://forced.test' });
    expect(router.route('secure.test', '/', 'GET', undefined, 'https').kind).toBe('proxy');
    const on8443 = new Router({ httpsPort: 8443 });
    on8443.load(snapshot);
    expect(on8443.route('secure.test', '/x', 'GET', undefined, 'http')).toMatchObject({ location: 'https://secure.test:8443/x' });
  });

  it('swaps atomically: decisions keep their snapshot, events name removed endpoints', () => {
    const router = new Router();
    const events: SwapEvent[] = [];
    router.on('swap', (event) => events.push(event));
    router.load(snapshot);
    const before = proxied(router.route('a.test', '/api', 'GET', undefined, 'http'));
    const next = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [1001] }] }]);
    router.load(next);
    expect(router.version).toBe(next.version);
    expect(router.swapCount).toBe(2);
    expect(before.snapshot.version).toBe(snapshot.version);
    expect(proxied(router.route('a.test', '/api', 'GET', undefined, 'http')).port).toBe(1001);
    expect(events[0]).toMatchObject({ version: snapshot.version, previousVersion: undefined, removedEndpoints: [] });
    // In id order: ids are slots of the endpoint keys (endpoint-slots.ts), not the order of the ports.
    expect([...events[1]!.removedEndpoints].sort()).toEqual(['127.0.0.1:1002', '127.0.0.1:1003', '127.0.0.1:1004', '127.0.0.1:1005']);
    expect(events[1]!.endpointKeys.has('127.0.0.1:1001')).toBe(true);
    expect(router.current!.endpointIds.size).toBe(1);
  });

  it('after an endpoint change keeps the refs of endpoints that stay and patches its id map to exactly the new endpoints', () => {
    const router = new Router();
    const events: SwapEvent[] = [];
    router.on('swap', (event) => events.push(event));
    const hosts = (ports: number[]) => snapshotOf([{ host: 'a.test', routes: ports.map((port, i) => ({ path: `/p${i}`, endpoints: [port] })) }]);
    router.load(hosts([1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008]));
    const before = router.current!;
    // One endpoint replaced (same count: the ids stay), then the two swapped places, then one more.
    for (const ports of [[1001, 1002, 1009, 1004, 1005, 1006, 1007, 1008], [1001, 1002, 1004, 1009, 1005, 1006, 1007, 1008], [1001, 1002, 1004, 1009, 1005, 1006, 1007, 1008, 1010]]) {
      const previous = router.current!;
      router.load(hosts(ports));
      const current = router.current!;
      const held = current.endpoints.toArray().filter((endpoint) => !isGap(endpoint));
      expect(new Map(current.endpointIds)).toEqual(new Map(held.map((endpoint) => [endpoint.key, endpoint.id])));
      const kept = current.endpoints.toArray().filter((endpoint, id) => previous.endpoints.at(id)?.key === endpoint.key);
      for (const endpoint of kept) expect(endpoint).toBe(previous.endpoints.at(endpoint.id));
      expect(events.at(-1)!.removedEndpoints).toEqual(previous.endpoints.toArray().filter((endpoint) => !isGap(endpoint) && !current.endpointIds.has(endpoint.key)).map((endpoint) => endpoint.key));
    }
    expect(events[1]!.removedEndpoints).toEqual(['127.0.0.1:1003']);
    expect(before.endpointIds.has('127.0.0.1:1003')).toBe(true);
  });

  it('keeps the current snapshot when a load fails', () => {
    const router = new Router();
    router.load(snapshot);
    const broken = { ...snapshot, hosts: [{ ...snapshot.hosts[0]!, host: 'UPPER.case' }] };
    expect(() => router.load(broken)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
    expect(router.version).toBe(snapshot.version);
  });

  it('retryPick returns another endpoint of the route, or undefined when there is none', () => {
    const router = new Router();
    router.load(snapshot);
    const first = proxied(router.route('a.test', '/', 'GET', undefined, 'http'));
    for (let i = 0; i < 5; i++) expect(router.retryPick(first)?.port).toBe(first.port === 1001 ? 1002 : 1001);
    expect(router.retryPick(proxied(router.route('a.test', '/api', 'GET', undefined, 'http')))).toBeUndefined();
    // Every endpoint of / already tried: nothing left to retry on.
    const second = router.retryPick(first)!;
    expect(router.retryPick(first, [second.endpointId])).toBeUndefined();
    expect(router.retryPick(second, [first.endpointId])).toBeUndefined();
  });

  it('ejects an endpoint after N failures, brings it back after the back-off, and keeps health across swaps', () => {
    vi.useFakeTimers();
    const router = new Router({ health: { failureThreshold: 2, backoffMs: 1000 } });
    router.load(snapshot);
    router.reportFailure('127.0.0.1:1001');
    expect(router.endpointHealth().find((e) => e.key === '127.0.0.1:1001')?.healthy).toBe(true);
    router.reportFailure('127.0.0.1:1001');
    expect(router.endpointHealth().find((e) => e.key === '127.0.0.1:1001')?.healthy).toBe(false);
    for (let i = 0; i < 4; i++) expect(proxied(router.route('a.test', '/', 'GET', undefined, 'http')).port).toBe(1002);
    // A new snapshot with the same endpoint inherits the ejection.
    router.load(snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [1001, 1002] }] }]));
    expect(router.endpointHealth().find((e) => e.key === '127.0.0.1:1001')?.healthy).toBe(false);
    vi.advanceTimersByTime(1000);
    expect(router.endpointHealth().every((e) => e.healthy)).toBe(true);
    // On probation: one failure ejects again, for twice as long.
    router.reportFailure('127.0.0.1:1001');
    expect(router.health.isEjected('127.0.0.1:1001')).toBe(true);
    vi.advanceTimersByTime(1999);
    expect(router.health.isEjected('127.0.0.1:1001')).toBe(true);
    vi.advanceTimersByTime(1);
    expect(router.health.isEjected('127.0.0.1:1001')).toBe(false);
    // A success forgives everything: back to N failures and the base period.
    router.reportSuccess('127.0.0.1:1001');
    router.reportFailure('127.0.0.1:1001');
    expect(router.health.isEjected('127.0.0.1:1001')).toBe(false);
    router.close();
  });

  it('caps the back-off', () => {
    vi.useFakeTimers();
    const router = new Router({ health: { failureThreshold: 1, backoffMs: 100, maxBackoffMs: 250 } });
    router.load(snapshot);
    const periods: number[] = [];
    for (let round = 0; round < 4; round++) {
      router.reportFailure('127.0.0.1:1003');
      let waited = 0;
      while (router.health.isEjected('127.0.0.1:1003')) {
        vi.advanceTimersByTime(10);
        waited += 10;
      }
      periods.push(waited);
    }
    expect(periods).toEqual([100, 200, 250, 250]);
  });

  it('formats endpoint keys with IPv6 brackets', () => {
    expect(endpointKey('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(endpointKey('fd00::1', 80)).toBe('[fd00::1]:80');
  });

  it('rejects a bad https port and bad health options', () => {
    expect(() => new Router({ httpsPort: 0 })).toThrow(expect.objectContaining({ code: 'PORTICO_E_CONFIG' }));
    expect(() => new Router({ health: { failureThreshold: 0 } })).toThrow(expect.objectContaining({ code: 'PORTICO_E_CONFIG' }));
  });

  it('loadEndpoints keeps the routing matcher and recompiles only endpoint choice', () => {
    const router = new Router();
    const hosts = (ports: number[]) => [
      { host: 'a.test', routes: [{ path: '/api', endpoints: ports }, { path: '/', endpoints: [3001] }] },
      { host: 'b.test', routes: [{ path: '/', endpoints: [4001] }] },
    ];
    router.load(snapshotOf(hosts([2001, 2002])));
    const before = router.current!;
    router.health.reportFailure(endpointKey('127.0.0.1', 3001));
    const event = router.loadEndpoints(snapshotOf(hosts([2002, 2003])));
    const after = router.current!;
    expect(after.matcher).toBe(before.matcher);
    expect(after.balancer).not.toBe(before.balancer);
    expect(event.removedEndpoints).toEqual(['127.0.0.1:2001']);
    const picks = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const decision = router.route('a.test', '/api/x', 'GET', undefined, 'http') as ProxyDecision;
      expect(decision.kind).toBe('proxy');
      picks.add(decision.port);
    }
    expect([...picks].sort()).toEqual([2002, 2003]);
    expect((router.route('b.test', '/', 'GET', undefined, 'http') as ProxyDecision).port).toBe(4001);
    expect(router.route('c.test', '/', 'GET', undefined, 'http').kind).toBe('not-found');
    router.close();
  });

  it('refuses an endpoint-only update whose routes differ, keeping the current snapshot', () => {
    const router = new Router();
    router.load(snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [2001] }] }]));
    const version = router.version;
    // More routes than a grid bucket holds: the host goes to the overflow area and the id space grows.
    const many = Array.from({ length: 130 }, (_, i) => ({ path: `/r${i}`, endpoints: [2001] }));
    expect(() => router.loadEndpoints(snapshotOf([{ host: 'a.test', routes: many }]))).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
    expect(router.version).toBe(version);
    router.close();
  });
});
