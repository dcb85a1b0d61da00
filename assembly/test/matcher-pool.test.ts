// Reusing wasm instances (matcher-pool.ts): a reused instance must answer exactly as a fresh one
// would (no WRR cursor, health flag, seed, score or matched entry of its previous table left), a
// retired matcher must never touch the instance it gave back, and a bad table must leave every
// matcher in use as it was.
import { describe, expect, it } from 'vitest';
import { encodeGrid, encodeTable } from '../src/host/encode.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import { MatcherPool } from '../src/host/matcher-pool.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { withSets } from './sets.ts';

const WRR: MatcherTable = withSets({
  hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/', route: 0 }, { pathType: 'Prefix', path: '/h', route: 1, conditions: { headers: [{ name: 'x-a', value: '1' }] } }], fallback: -1 }],
  routes: [{ backends: [{ weight: 3, endpoints: [0, 1] }, { weight: 1, endpoints: [2] }] }, { backends: [{ weight: 1, endpoints: [2] }] }],
  endpointCount: 3,
  fallback: -1,
});

/** Another table, larger, with different hosts and more endpoints. */
function other(hosts: number): MatcherTable {
  return withSets({
    hosts: Array.from({ length: hosts }, (_, i) => ({ host: `h${i}.com`, paths: [{ pathType: 'Prefix' as const, path: '/', route: i }], fallback: -1 })),
    routes: Array.from({ length: hosts }, (_, i) => ({ backends: [{ weight: 1, endpoints: [i % 5, (i + 1) % 5] }] })),
    endpointCount: 5,
    fallback: -1,
  });
}

/** What a matcher answers for a fixed script of requests: the same script on a fresh instance must give the same. */
function script(matcher: ReturnType<typeof loadMatcherFromBinary>): number[] {
  const out = [matcher.match('a.com', '/x', 'GET'), matcher.match('a.com', '/h', 'GET'), matcher.match('a.com', '/h', 'GET', { 'x-a': '1' })];
  for (let i = 0; i < 8; i++) out.push(matcher.pick(0), matcher.lastBackend());
  out.push(matcher.pickHash(0, -1, 12345), matcher.pickLeastLoaded(0, -1, 7), ...[0, 1, 2].map((id) => (matcher.isHealthy(id) ? 1 : 0)));
  return out;
}

describe('MatcherPool', () => {
  it('loads the next table into the instance a released one gave back, answering as a fresh instance', () => {
    const pool = new MatcherPool();
    const bytes = encodeTable(WRR);
    const expected = script(loadMatcherFromBinary(bytes));
    const first = pool.load(bytes);
    // Leave every kind of state behind: cursors, a down flag, seeds, scores, a pending match.
    first.setHealthy(0, false);
    first.setSeed(1, 99);
    first.setScore(2, 5);
    for (let i = 0; i < 5; i++) first.pick(0);
    first.match('a.com', '/x', 'GET');
    first.release();
    expect(pool.stats).toMatchObject({ created: 1, reused: 0, spare: 1, inUse: 0 });
    const second = pool.load(bytes);
    expect(pool.stats).toMatchObject({ created: 1, reused: 1, spare: 0, inUse: 1 });
    expect(script(second)).toEqual(expected);
  });

  it('a retired matcher answers "nothing" and never writes into the instance that now holds another table', () => {
    const pool = new MatcherPool();
    const old = pool.load(encodeTable(WRR));
    old.release();
    expect(old.retired).toBe(true);
    const current = pool.load(encodeTable(other(50)));
    const expected = [current.match('h7.com', '/', 'GET'), current.pick(7)];
    // Long host and path: were they written into the reused memory, they would overwrite the new table.
    expect(old.match('x'.repeat(5000), `/${'y'.repeat(50_000)}`, 'GET')).toBe(-1);
    expect([old.pick(0), old.pickIn(0, 1), old.pickHash(0, -1, 1), old.pickId(0, -1, 0), old.pickLeastLoaded(0, -1, 1), old.lastBackend()]).toEqual([-1, -1, -1, -1, -1, -1]);
    old.setHealthy(0, false);
    old.setScore(0, 1);
    old.setSeed(0, 1);
    expect(old.isHealthy(0)).toBe(false);
    expect(current.isHealthy(0)).toBe(true);
    expect(current.match('h7.com', '/', 'GET')).toBe(expected[0]);
    expect(current.match('h49.com', '/', 'GET')).toBe(49);
    expect(current.pick(7)).not.toBe(-1);
  });

  it('counts holders: the instance goes back at the last release, and one release too many throws', () => {
    const pool = new MatcherPool();
    const matcher = pool.load(encodeTable(WRR));
    matcher.retain();
    matcher.release();
    expect(matcher.retired).toBe(false);
    expect(pool.stats.spare).toBe(0);
    matcher.release();
    expect(pool.stats).toMatchObject({ spare: 1, inUse: 0 });
    expect(() => matcher.release()).toThrow(expect.objectContaining({ code: 'PORTICO_E_MATCHER_RETIRED' }));
    expect(() => matcher.retain()).toThrow(expect.objectContaining({ code: 'PORTICO_E_MATCHER_RETIRED' }));
    expect(pool.stats.spare).toBe(1);
  });

  it('a corrupt table goes into a spare: the matcher in use keeps answering, the spare stays for the next load', () => {
    const pool = new MatcherPool();
    const current = pool.load(encodeTable(WRR));
    pool.load(encodeTable(other(3))).release();
    const before = current.match('a.com', '/x', 'GET');
    const corrupt = encodeTable(other(3));
    corrupt[4] = 99; // the version field
    expect(() => pool.load(corrupt)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
    expect(() => pool.load(new Uint8Array(10))).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
    expect(pool.stats).toMatchObject({ created: 2, spare: 1, inUse: 1 });
    expect(current.match('a.com', '/x', 'GET')).toBe(before);
    expect([current.pick(0), current.pick(0), current.pick(0), current.pick(0)]).toEqual([0, 1, 2, 0]);
    const next = pool.load(encodeTable(other(3)));
    expect(next.match('h2.com', '/', 'GET')).toBe(2);
    expect(pool.stats).toMatchObject({ created: 2, inUse: 2, spare: 0 });
  });

  it('keeps at most maxSpare instances, and gives a small table the smallest spare that holds it', () => {
    const pool = new MatcherPool(2);
    const big = pool.load(encodeTable(other(3000)));
    const small = pool.load(encodeTable(WRR));
    const third = pool.load(encodeTable(WRR));
    big.release();
    small.release();
    third.release();
    expect(pool.stats).toMatchObject({ created: 3, spare: 2, dropped: 1 });
    // The small table takes a small spare; the big one is left for the next big table, which then needs no growth.
    pool.load(encodeTable(WRR));
    const again = pool.load(encodeTable(other(3000)));
    expect(pool.stats).toMatchObject({ created: 3, reused: 2, spare: 0 });
    expect(again.match('h2999.com', '/', 'GET')).toBe(encodeGrid(other(3000)).routeIds[2999]);
    expect(() => new MatcherPool(-1)).toThrow(RangeError);
  });

  it('bounded: over a thousand swaps, instances alive never exceed those held plus the spares; one held at a time needs two in all', () => {
    const tables = [encodeTable(WRR), encodeTable(other(40)), encodeTable(other(400))];
    const steady = new MatcherPool(2);
    let current = steady.load(tables[0] as Uint8Array);
    for (let swap = 1; swap <= 1000; swap++) {
      const next = steady.load(tables[swap % 3] as Uint8Array);
      current.release();
      current = next;
    }
    expect(steady.stats).toMatchObject({ created: 2, reused: 999, inUse: 1, spare: 1 });

    // Up to four snapshots held at once (the current one and some with requests in flight), let go in bursts.
    const pool = new MatcherPool(2);
    const held: ReturnType<MatcherPool['load']>[] = [];
    for (let swap = 0; swap < 1000; swap++) {
      held.push(pool.load(tables[swap % 3] as Uint8Array));
      const { inUse, spare } = pool.stats;
      expect(inUse).toBe(held.length);
      expect(inUse + spare).toBeLessThanOrEqual(4 + 2);
      if (held.length > 1 + (swap % 4)) for (const matcher of held.splice(0, held.length - 1)) matcher.release();
    }
    expect(pool.stats.spare).toBeLessThanOrEqual(2);
  });
});
