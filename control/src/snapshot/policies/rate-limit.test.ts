import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit, RateLimit, admitRate, leak } from './rate-limit.ts';

/** Sends `count` requests of `key` at `now`; returns how many passed. */
function burst(limits: RateLimit[], key: string, now: number, count: number): number {
  let passed = 0;
  for (let i = 0; i < count; i++) if (admitRate(limits, key, now)) passed++;
  return passed;
}

describe('leak (nginx limit_req with nodelay)', () => {
  it('a new key passes with no excess', () => {
    expect(leak(undefined, 5, 1, 0)).toEqual({ ok: true, excess: 0 });
  });

  it('adds 1000 per request and leaks rate × 1000 per second', () => {
    expect(leak({ excess: 2000, last: 0 }, 500, 2, 5)).toEqual({ ok: true, excess: 2000 });
    expect(leak({ excess: 5000, last: 0 }, 0, 2, 5)).toEqual({ ok: false, excess: 6000 });
    // Drained: the excess floors at 0, as nginx's does.
    expect(leak({ excess: 500, last: 0 }, 10_000, 2, 0)).toEqual({ ok: true, excess: 0 });
  });

  it('a clock that went back leaks nothing', () => {
    expect(leak({ excess: 1000, last: 100 }, 50, 10, 5)).toEqual({ ok: true, excess: 2000 });
  });
});

describe('RateLimit', () => {
  it('limit-rps 5 × burst multiplier 5: 26 requests at once pass (excess 0..25), the rest are refused', () => {
    const rps = new RateLimit(5, 25);
    expect(burst([rps], '10.0.0.1', 0, 40)).toBe(26);
    // Another client has its own bucket.
    expect(burst([rps], '10.0.0.2', 0, 1)).toBe(1);
    // One second leaks five requests' worth.
    expect(burst([rps], '10.0.0.1', 1000, 10)).toBe(5);
  });

  it('limit-rpm 60 (one per second), burst 0: one per second', () => {
    const rpm = new RateLimit(60 / 60, 0);
    expect(burst([rpm], 'a', 0, 3)).toBe(1);
    expect(burst([rpm], 'a', 500, 3)).toBe(0);
    expect(burst([rpm], 'a', 1000, 3)).toBe(1);
  });

  it('a refused request counts against no limit', () => {
    const rps = new RateLimit(1, 0);
    const rpm = new RateLimit(100 / 60, 10);
    expect(burst([rps, rpm], 'a', 0, 5)).toBe(1);
    // rpm saw one request only: ten more pass it alone.
    expect(burst([rpm], 'a', 0, 20)).toBe(10);
  });

  it('holds at most maxKeys: a drained key makes room, a full one never is forgotten', () => {
    const rps = new RateLimit(1, 0, 2);
    expect(burst([rps], 'a', 0, 1)).toBe(1);
    expect(burst([rps], 'b', 0, 1)).toBe(1);
    // Full of keys that have not drained: a new key is refused, and 'a' keeps its excess.
    expect(burst([rps], 'c', 100, 1)).toBe(0);
    expect(rps.size).toBe(2);
    expect(burst([rps], 'a', 100, 1)).toBe(0);
    // A second later the least recently seen key, 'a', has drained: it makes room for 'c'.
    expect(burst([rps], 'c', 1000, 1)).toBe(1);
    // 'b' had drained too and was expired on the way: only 'c' is held.
    expect(rps.size).toBe(1);
  });

  it('stays bounded under a flood of distinct addresses', () => {
    const rps = new RateLimit(10, 50, 1000);
    for (let i = 0; i < 20_000; i++) admitRate([rps], `2001:db8::${i.toString(16)}`, i);
    expect(rps.size).toBeLessThanOrEqual(1000);
  });
});

describe('ConcurrencyLimit', () => {
  it('allows max in flight per key and forgets keys with none', () => {
    const limit = new ConcurrencyLimit(2);
    expect([limit.acquire('a'), limit.acquire('a'), limit.acquire('a'), limit.acquire('b')]).toEqual([true, true, false, true]);
    limit.release('a');
    expect(limit.acquire('a')).toBe(true);
    limit.release('a');
    limit.release('a');
    limit.release('b');
    expect(limit.size).toBe(0);
  });
});
