/** AuthAnswerCache below the proxy: the default bounds, the exact expiry edge, inactivity, and a route whose settings change. */
import { describe, expect, it } from 'vitest';
import type { PreparedAuthCache } from '@portico/control/snapshot/policies/auth-cache';
import type { AuthResponse } from '@portico/control/snapshot/policies/external-auth';
import { AuthAnswerCache, keyOf } from './auth-cache.ts';

const prepared = (settings = 'a'): PreparedAuthCache => ({ parts: [], rules: [{ codes: [200], seconds: 60 }], slot: 'web/app\n/', settings, credentials: true });
const ok = (user = 'alice'): AuthResponse => ({ status: 200, cookies: [], header: (name) => (name === 'x-user' ? user : undefined) });

describe('AuthAnswerCache', () => {
  it('keeps at most 16,384 answers by default, the least recently used out first', () => {
    const cache = new AuthAnswerCache(16_384, 16 * 1024 * 1024);
    const route = prepared();
    const slot = cache.slotId(route);
    for (let i = 0; i < 20_000; i++) cache.put(route, slot, keyOf(slot, 'h', `k${i}`), ok(), ['x-user'], 0);
    expect(cache.size).toBe(16_384);
    expect(cache.stats.evicted).toBe(20_000 - 16_384);
    expect(cache.get(keyOf(slot, 'h', 'k0'), 1)).toBeUndefined();
    expect(cache.get(keyOf(slot, 'h', 'k19999'), 1)?.header('x-user')).toBe('alice');
  });

  it('keeps at most its bytes: 1 MiB answers in a 16 MiB cache', () => {
    const cache = new AuthAnswerCache(16_384, 16 * 1024 * 1024);
    const route = prepared();
    const slot = cache.slotId(route);
    for (let i = 0; i < 40; i++) cache.put(route, slot, keyOf(slot, 'h', `k${i}`), ok('u'.repeat(1024 * 1024)), ['x-user'], 0);
    expect(cache.bytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(cache.size).toBe(15);
    // One answer larger than the whole cache is not kept at all.
    const small = new AuthAnswerCache(10, 1000);
    small.put(route, small.slotId(route), 'big', ok('u'.repeat(2000)), ['x-user'], 0);
    expect(small.size).toBe(0);
  });

  it('an answer is served until just before its expiry (sent at + duration), never at it; an entry unused 30 min is dropped', () => {
    const cache = new AuthAnswerCache(10, 100_000);
    const route = prepared();
    const slot = cache.slotId(route);
    cache.put(route, slot, 'k', ok(), ['x-user'], 1000);
    expect(cache.get('k', 1000 + 59_999)).toBeDefined();
    expect(cache.get('k', 1000 + 60_000)).toBeUndefined();
    expect(cache.size).toBe(0);
    const long = { ...route, rules: [{ codes: [200], seconds: 3600 }] };
    cache.put(long, slot, 'k', ok(), ['x-user'], 0);
    expect(cache.get('k', 29 * 60_000)).toBeDefined();
    // Used at 29 min: kept until 59 min.
    expect(cache.get('k', 59 * 60_000 - 1)).toBeDefined();
    cache.put(long, slot, 'idle', ok(), ['x-user'], 0);
    expect(cache.get('idle', 30 * 60_000)).toBeUndefined();
  });

  it('a route whose settings changed gets a new slot; an answer asked under the old one is not stored; changing back is a new slot again', () => {
    const cache = new AuthAnswerCache(10, 100_000);
    const first = cache.slotId(prepared('a'));
    expect(cache.slotId(prepared('a'))).toBe(first);
    const second = cache.slotId(prepared('b'));
    expect(second).not.toBe(first);
    cache.put(prepared('a'), first, keyOf(first, 'h', 'k'), ok(), ['x-user'], 0);
    expect(cache.size).toBe(0);
    expect(cache.stats.notStored).toBe(1);
    expect(cache.slotId(prepared('a'))).not.toBe(first);
  });
});
