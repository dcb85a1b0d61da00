// Pick with endpoints down. The wasm matcher keeps, per endpoint set, what a pick last found of its
// flags (a healthy one? none down?) for the current health epoch (wrr.ts setState), so endpoints
// down in other sets cost a pick nothing more. These tests hold the answers to what they were:
// the same as with none down for sets with none down, never a down endpoint, every health change
// seen by the next pick (however many sets share the endpoint, however often the epoch comes
// round), and all down still -1 (what the data plane's panic threshold then acts on).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadMatcher } from '../src/host/matcher.ts';
import type { Matcher } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { IMPLEMENTATIONS } from './implementations.ts';
import { loadReference } from './reference.ts';
import { withSets } from './sets.ts';
import type { ListedBackend } from './sets.ts';

const backends = (...list: [number, readonly number[]][]): { backends: ListedBackend[] } => ({ backends: list.map(([weight, endpoints]) => ({ weight, endpoints })) });
/** Two sets sharing endpoint 7. */
const LEFT = [6, 7];
const RIGHT = [7, 8];
const TABLE: MatcherTable = withSets({
  hosts: [],
  routes: [backends([2, [0, 1]], [1, [2]]), backends([1, [3, 4, 5]]), backends([1, LEFT], [1, RIGHT]), backends([1, [9]], [3, [10, 11]]), backends([1, [12]])],
  endpointCount: 13,
  fallback: -1,
});
const KEYS = Array.from({ length: 64 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0);

/** `count` picks of each kind on `route`: WRR [endpoint, backend] pairs, then hashed, then least-loaded answers. */
function picks(matcher: Matcher, route: number, count: number): { wrr: [number, number][]; hashed: number[]; two: number[] } {
  const wrr = Array.from({ length: count }, () => [matcher.pick(route), matcher.lastBackend()] as [number, number]);
  return { wrr, hashed: KEYS.map((key) => matcher.pickHash(route, -1, key)), two: KEYS.map((key) => matcher.pickLeastLoaded(route, -1, key)) };
}

/** Every endpoint any pick of `p` answered. */
const answered = (p: ReturnType<typeof picks>): Set<number> => new Set([...p.wrr.map(([e]) => e), ...p.hashed, ...p.two]);

function loaded(load: (table: MatcherTable) => Matcher, down: readonly number[] = []): Matcher {
  const matcher = load(TABLE);
  for (let id = 0; id < TABLE.endpointCount; id++) {
    matcher.setSeed(id, Math.imul(id + 5, 0x01000193) >>> 0);
    matcher.setScore(id, (id * 7) % 5);
  }
  for (const id of down) matcher.setHealthy(id, false);
  return matcher;
}

describe.each(IMPLEMENTATIONS)('%s: pick with endpoints down', (_name, load) => {
  it('a set with none down picks as it does with none down anywhere', () => {
    const none = loaded(load);
    const elsewhere = loaded(load, [4, 9, 12]);
    expect(picks(elsewhere, 0, 30)).toEqual(picks(none, 0, 30));
  });

  it('an endpoint down is never picked; the rest of its set take turns', () => {
    const matcher = loaded(load, [4]);
    const got = picks(matcher, 1, 30);
    expect(got.wrr.map(([e]) => e)).toEqual(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 3 : 5)));
    expect(answered(got)).toEqual(new Set([3, 5]));
  });

  it('the next pick sees each change: a set picked with none down, then one down, then another', () => {
    const matcher = loaded(load, [12]);
    expect(answered(picks(matcher, 1, 6))).toEqual(new Set([3, 4, 5]));
    matcher.setHealthy(3, false);
    expect(answered(picks(matcher, 1, 12))).toEqual(new Set([4, 5]));
    matcher.setHealthy(3, true);
    matcher.setHealthy(5, false);
    expect(answered(picks(matcher, 1, 12))).toEqual(new Set([3, 4]));
    matcher.setHealthy(5, true);
    expect(answered(picks(matcher, 1, 12))).toEqual(new Set([3, 4, 5]));
  });

  it('an endpoint in two sets is down in both', () => {
    const matcher = loaded(load, [12]);
    expect(answered(picks(matcher, 2, 8))).toEqual(new Set([6, 7, 8]));
    matcher.setHealthy(7, false);
    const got = picks(matcher, 2, 8);
    expect(answered(got)).toEqual(new Set([6, 8]));
    expect(got.wrr.map(([, b]) => b)).toEqual([0, 1, 0, 1, 0, 1, 0, 1]);
  });

  it('hostile: a set all down gets no turn, its backend\'s share goes to the others; all down is -1 until one is up', () => {
    const matcher = loaded(load, [9]);
    const rest = picks(matcher, 3, 8);
    expect(rest.wrr.map(([, b]) => b)).toEqual([1, 1, 1, 1, 1, 1, 1, 1]);
    expect(answered(rest)).toEqual(new Set([10, 11]));
    matcher.setHealthy(10, false);
    matcher.setHealthy(11, false);
    const none = picks(matcher, 3, 4);
    expect(none.wrr).toEqual([[-1, -1], [-1, -1], [-1, -1], [-1, -1]]);
    expect(answered(none)).toEqual(new Set([-1]));
    expect(matcher.pickIn(3, 0b01)).toBe(-1);
    // What the data plane does when a set is in panic: marks its endpoints up again.
    matcher.setHealthy(9, true);
    expect(answered(picks(matcher, 3, 4))).toEqual(new Set([9]));
  });
});

describe('the health epoch coming round', () => {
  // wrr.ts EPOCH_LIMIT: a set state holds 14 bits of epoch, so the count comes back to the same
  // value after this many changes; a state stored then must not be read as current.
  const PERIOD = 0x3fff;

  it.each([PERIOD - 1, PERIOD, PERIOD + 1])('a set judged all down, then up, is picked again after %i changes', (changes) => {
    const table = withSets({ hosts: [], routes: [backends([1, [0]], [1, [1]]), backends([1, [2]]), backends([1, [3]])], endpointCount: 4, fallback: -1 });
    const wasm = loadMatcher(table);
    const reference = loadReference(table);
    const both = (id: number, ok: boolean): void => {
      wasm.setHealthy(id, ok);
      reference.setHealthy(id, ok);
    };
    // Endpoint 2 stays down throughout, so picks go by the set states.
    both(2, false);
    both(0, false);
    expect(wasm.pick(0)).toBe(1);
    expect(reference.pick(0)).toBe(1);
    both(0, true);
    // Flipped, not set twice: only a change bumps the epoch.
    for (let n = 1; n < changes; n++) both(3, n % 2 === 0);
    const got = [0, 1, 2, 3].map(() => wasm.pick(0));
    expect(got).toEqual([0, 1, 2, 3].map(() => reference.pick(0)));
    expect(got).toContain(0);
  });
});

describe('wasm and reference agree on every pick kind under random health changes', () => {
  const SEED = Number(process.env.PORTICO_FC_SEED ?? 0x5e7_d0a);
  const ENDPOINTS = 8;
  // Sets drawn from few endpoints, so they share endpoints often; weights 0 now and then.
  const table: fc.Arbitrary<MatcherTable> = fc
    .tuple(
      fc.array(fc.uniqueArray(fc.nat({ max: ENDPOINTS - 1 }), { maxLength: 4 }), { minLength: 1, maxLength: 6 }),
      fc.array(fc.array(fc.tuple(fc.nat({ max: 5 }), fc.nat()), { maxLength: 3 }), { minLength: 1, maxLength: 5 }),
    )
    .map(([sets, routes]) => ({
      hosts: [],
      routes: routes.map((list) => ({ backends: list.map(([weight, set]) => ({ weight, set: set % sets.length })) })),
      sets,
      endpointCount: ENDPOINTS,
      fallback: -1,
    }));
  type Op = { kind: 'pick' | 'pickIn' | 'hash' | 'two'; route: number; arg: number } | { kind: 'health'; endpoint: number; ok: boolean };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constantFrom('pick' as const, 'pickIn' as const, 'hash' as const, 'two' as const), route: fc.nat({ max: 5 }), arg: fc.nat() }),
    fc.record({ kind: fc.constant('health' as const), endpoint: fc.nat({ max: ENDPOINTS - 1 }), ok: fc.boolean() }),
  );
  const ask = (m: Matcher, o: Op & { kind: 'pick' | 'pickIn' | 'hash' | 'two' }): [number, number] => {
    const allowed = o.arg & 0b111;
    const answer = o.kind === 'pick' ? m.pick(o.route) : o.kind === 'pickIn' ? m.pickIn(o.route, allowed) : o.kind === 'hash' ? m.pickHash(o.route, -1, o.arg) : m.pickLeastLoaded(o.route, -1, o.arg);
    return [answer, m.lastBackend()];
  };

  it(`over random tables with shared endpoints (seed ${SEED})`, { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(table, fc.array(op, { minLength: 20, maxLength: 80 }), (t, ops) => {
        const wasm = loadMatcher(t);
        const reference = loadReference(t);
        for (const o of ops) {
          if (o.kind === 'health') {
            wasm.setHealthy(o.endpoint, o.ok);
            reference.setHealthy(o.endpoint, o.ok);
          } else if (o.route < t.routes.length) {
            expect(ask(wasm, o), JSON.stringify(o)).toEqual(ask(reference, o));
          }
        }
      }),
      { seed: SEED, numRuns: 400 },
    );
  });
});
