// Randomized differential test: the wasm matcher and the reference matcher must agree on every
// match() and every pick() for random tables and requests drawn from small alphabets (so hosts,
// wildcards and path elements collide often). Seeded: a failure prints the seed to replay with
// PORTICO_FC_SEED=<seed>.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { loadMatcher } from '../src/host/matcher.ts';
import type { RequestHeaders } from '../src/host/matcher.ts';
import type { HeaderCondition, HostEntry, MatcherTable, PathEntry, QueryCondition, RouteConditions, WildcardLabels } from '../src/host/table.ts';
import { loadReference } from './reference.ts';
import { encodeGrid } from '../src/host/encode.ts';
import type { GridOptions } from '../src/host/encode.ts';
import { TINY_GRID } from './grid-support.ts';

const SEED = Number(process.env.PORTICO_FC_SEED ?? 0x9047_1c0);
const TABLES = 1500;
const MIN_PAIRS = 10_000;
const MANY_HOST_TABLES = 150;

// A 15-byte label pushes hosts across the matcher's 16-byte chunks.
const label = fc.constantFrom('a', 'b', 'ab', 'é', 'abcdefghijklmno');
const name = fc.array(label, { minLength: 1, maxLength: 3 }).map((labels) => labels.join('.'));
const tableHost = fc.oneof(
  { weight: 4, arbitrary: name },
  { weight: 3, arbitrary: name.map((n) => `*.${n}`) },
  { weight: 1, arbitrary: fc.constantFrom('*', '[::1]') },
);

const segment = fc.constantFrom('', 'a', 'b', 'ab', 'A', 'é', '😀', '%61', '\uFFFD', 'abcdefghijklmn');
const rulePath = fc.tuple(fc.array(segment, { maxLength: 3 }), fc.boolean()).map(([segments, slash]) => `/${segments.join('/')}${slash && segments.length > 0 ? '/' : ''}`);

const REGEX = 'RegularExpression' as const;
const HEADER_CONDITIONS: HeaderCondition[] = [
  { name: 'x-a', value: '1' }, { name: 'x-a', value: '2' }, { name: 'X-B', value: '1' }, { name: 'x-c', value: '' },
  { name: 'x-a', value: '[12]', type: REGEX }, { name: 'X-C', value: '.*', type: REGEX },
];
const QUERY_CONDITIONS: QueryCondition[] = [
  { name: 'q', value: '1' }, { name: 'q', value: 'ab' }, { name: 'Q', value: '' }, { name: 'q', value: 'a.*', type: REGEX }, { name: 'é', value: '/a', type: 'Exact' },
];
const conditions: fc.Arbitrary<RouteConditions | undefined> = fc.option(
  fc.record({
    methods: fc.option(fc.subarray(['GET', 'POST', 'PUT', 'HEAD'], { maxLength: 2 }), { nil: undefined }),
    headers: fc.option(fc.subarray(HEADER_CONDITIONS, { maxLength: 2 }), { nil: undefined }),
    query: fc.option(fc.subarray(QUERY_CONDITIONS, { maxLength: 2 }), { nil: undefined, freq: 3 }),
  }),
  { nil: undefined, freq: 3 },
);

// Regex paths (Gateway API RegularExpression): they must match the whole path.
const regexPath = fc.constantFrom('/a.*', '/[ab]+', '/é/.*', '.*', '/a/b', '/(a|b)/?', '/A', '/ab.*/');

/** Route ids are drawn as naturals and folded into range once the route count is known. */
const pathEntry = fc.oneof(
  { weight: 5, arbitrary: fc.record({ pathType: fc.constantFrom<'Exact' | 'Prefix'>('Exact', 'Prefix'), path: rulePath, route: fc.nat(), conditions }) },
  { weight: 1, arbitrary: fc.record({ pathType: fc.constant(REGEX), path: regexPath, route: fc.nat(), conditions }) },
);
// Wildcard label semantics: Ingress one label, Gateway API one or more; 'both' is a mixed host
// (a one-label entry and a 'deeper' entry for the same wildcard).
const labels = fc.constantFrom<WildcardLabels | 'both' | undefined>(undefined, undefined, 'one', 'many', 'deeper', 'both');
const idOrNone = fc.integer({ min: -2, max: 20 });
// Small weights give interesting sequences; the largest allowed weight checks the WRR arithmetic.
const WEIGHT = fc.oneof({ weight: 9, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.constantFrom(0x7fffffff, 0x7ffffffe) });

/** Random tables of `minHosts` to `maxHosts` host entries (a mixed wildcard counts once). */
const tableOf = (minHosts: number, maxHosts: number): fc.Arbitrary<MatcherTable> => fc
  .record({
    hosts: fc.uniqueArray(fc.record({ host: tableHost, labels, paths: fc.array(pathEntry, { minLength: 1, maxLength: 6 }), fallback: idOrNone }), { minLength: minHosts, maxLength: maxHosts, selector: (h) => h.host }),
    routes: fc.array(fc.array(fc.record({ weight: WEIGHT, set: fc.nat() }), { maxLength: 3 }), { minLength: 1, maxLength: 6 }),
    // Few sets for the routes: backends share them (and their endpoint rotation), some are empty.
    sets: fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: 1, maxLength: 4 }),
    endpointCount: fc.integer({ min: 1, max: 5 }),
    fallback: idOrNone,
  })
  .map(({ hosts, routes, sets, endpointCount, fallback }) => {
    const fold = (id: number): number => (id < 0 ? -1 : id % routes.length);
    return {
      hosts: hosts.flatMap((h): HostEntry[] => {
        const entry = { host: h.host, fallback: fold(h.fallback), paths: h.paths.map((p): PathEntry => ({ ...p, route: p.route % routes.length })) };
        if (!h.host.startsWith('*.') || h.labels === undefined) return [entry];
        if (h.labels !== 'both') return [{ ...entry, labels: h.labels }];
        return [{ ...entry, labels: 'one' }, { ...entry, labels: 'deeper', paths: entry.paths.slice(1), fallback: -1 }];
      }),
      routes: routes.map((backends) => ({ backends: backends.map((b) => ({ weight: b.weight, set: b.set % sets.length })) })),
      sets: sets.map((set) => set.map((e) => e % endpointCount)),
      endpointCount,
      fallback: fold(fallback),
    };
  });

// Requests mostly derive from the table (so hosts, wildcards and paths really match) and are then
// bent: case, port, trailing dot, extra labels, extra/removed path elements, queries.
const decoration = fc.record({
  upper: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
  port: fc.constantFrom('', '', ':8080', ':'),
  dot: fc.boolean(),
});
const randomHost = fc.oneof(name, name.map((n) => `x.${n}`), fc.constantFrom('', '[::1]', '[::2]', '*', '.a', 'a..b'));
const randomPath = fc
  .tuple(fc.array(segment, { maxLength: 4 }), fc.constantFrom('', '/', '//'))
  .map(([segments, tail]) => `/${segments.join('/')}${segments.length > 0 ? tail : ''}`);
const headerValue = fc.option(fc.oneof({ weight: 3, arbitrary: fc.constantFrom('1', '2', '') }, { weight: 1, arbitrary: fc.subarray(['2', '1', 'x']) }), { nil: undefined, freq: 4 });
const request = fc.record({
  fromTable: fc.nat({ max: 11 }),
  hostPick: fc.nat(),
  wildLabel: fc.constantFrom('', 'a', 'ab', 'b.a', 'é', 'x.y.z', 'a..b', '.a'),
  randomHost,
  decoration,
  pathPick: fc.nat(),
  pathTail: fc.constantFrom('', '', '', '/', '/a', '/b/', 'b', '//a', '/é', '/\uD800', '\uDE00'),
  chop: fc.nat({ max: 4 }).map((n) => n === 0),
  randomPath: fc.oneof({ weight: 9, arbitrary: randomPath }, { weight: 1, arbitrary: fc.constantFrom('', '*', 'a/b') }),
  query: fc.constantFrom('', '', '?', '?q=/a', '?a#b', '?q=1', '?q=a%62', '?Q', '?q=1&q=2', '?x=1&q=ab', '?q=%ZZ', '?%C3%A9=%2Fa', '?q=a&Q='),
  method: fc.constantFrom('GET', 'GET', 'GET', 'POST', 'PUT', 'HEAD', 'PROPFIND', 'get'),
  headers: fc.option(fc.record({ 'x-a': headerValue, 'x-b': headerValue, 'x-c': headerValue }, { requiredKeys: [] }), { nil: undefined, freq: 3 }),
});
type RequestDraft = typeof request extends fc.Arbitrary<infer R> ? R : never;

/** Turns a request draft into (host, path) against table `t`. */
function concrete(t: MatcherTable, r: RequestDraft): { host: string; path: string } {
  const entry = t.hosts.length > 0 && r.fromTable > 0 ? t.hosts[r.hostPick % t.hosts.length] : undefined;
  let host = r.randomHost;
  if (entry !== undefined) {
    host = entry.host === '*' ? r.randomHost : entry.host.startsWith('*.') ? `${r.wildLabel}${entry.host.slice(1)}` : entry.host;
  }
  const { upper, port, dot } = r.decoration;
  host = `${[...host].map((c, i) => (upper[i % 8] ? c.toUpperCase() : c)).join('')}${dot ? '.' : ''}${port}`;
  // Mostly the chosen host's own rules; sometimes another host's, to probe no-fall-through.
  const paths = entry !== undefined && r.fromTable > 2 ? entry.paths : t.hosts.flatMap((h) => h.paths);
  let path = r.randomPath;
  if (paths.length > 0 && r.fromTable > 1) {
    path = (paths[r.pathPick % paths.length]?.path ?? '/') + r.pathTail;
    if (r.chop) path = path.slice(0, -1);
  }
  return { host, path: path + r.query };
}

type Op = { readonly pick: number } | { readonly endpoint: number; readonly healthy: boolean };
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ pick: fc.integer({ min: -1, max: 6 }) }) },
  { weight: 1, arbitrary: fc.record({ endpoint: fc.nat({ max: 4 }), healthy: fc.boolean() }) },
);

/** Asserts wasm and reference agree on `tables` random tables from `table`; returns the (match) pairs compared. */
function agree(table: fc.Arbitrary<MatcherTable>, tables: number, grid?: GridOptions): number {
  let pairs = 0;
  const property = fc.property(table, fc.array(request, { minLength: 25, maxLength: 40 }), fc.array(op, { maxLength: 40 }), (t, requests, ops) => {
    const wasm = loadMatcher(t, grid);
    const reference = loadReference(t);
    for (const draft of requests) {
      const { host, path } = concrete(t, draft);
      const headers: RequestHeaders | undefined = draft.headers;
      const got = wasm.match(host, path, draft.method, headers);
      const want = reference.match(host, path, draft.method, headers);
      if (got !== want) throw new Error(`match(${JSON.stringify([host, path, draft.method, headers])}): wasm ${got}, reference ${want}`);
      pairs++;
    }
    for (const [i, o] of ops.entries()) {
      if ('pick' in o) {
        const got = [wasm.pick(o.pick), wasm.lastBackend()];
        const want = [reference.pick(o.pick), reference.lastBackend()];
        if (got.join() !== want.join()) throw new Error(`op ${i} pick(${o.pick}): wasm ${got.join()}, reference ${want.join()}`);
      } else if (o.endpoint < t.endpointCount) {
        wasm.setHealthy(o.endpoint, o.healthy);
        reference.setHealthy(o.endpoint, o.healthy);
      }
    }
  });
  try {
    fc.assert(property, { seed: SEED, numRuns: tables });
  } catch (error) {
    console.error(`differential test failed; replay with PORTICO_FC_SEED=${SEED}`);
    throw error;
  }
  return pairs;
}

// A CPU-bound property over thousands of tables: generous, as the machine may be loaded.
it(`wasm and reference agree on random tables and requests (seed ${SEED})`, { timeout: 120_000 }, () => {
  expect(agree(tableOf(1, 6), TABLES)).toBeGreaterThanOrEqual(MIN_PAIRS);
});

// Many hosts with conditions in one table: each host's condition bits are its own (all start at 0),
// so requests going from host to host must never see another host's bits.
it(`wasm and reference agree on tables of many hosts with conditions (seed ${SEED})`, { timeout: 120_000 }, () => {
  expect(agree(tableOf(20, 40), MANY_HOST_TABLES)).toBeGreaterThanOrEqual(MANY_HOST_TABLES * 25);
});

// The same over a tiny grid (1 KiB buckets of 2 routes): many buckets, units packed up to the one
// that does not fit, the rest and the big ones in the overflow area, every id sparse.
/**
 * `table` with every host entry on routes of its own (copies of the ones it names, at ids h·n + r),
 * the catch-all's after them: hosts that share no route are units of their own on the grid.
 */
function ownRoutes(table: MatcherTable): MatcherTable {
  const n = table.routes.length;
  const own = (h: number, route: number): number => (route < 0 ? route : h * n + route);
  return {
    ...table,
    hosts: table.hosts.map((host, h) => ({ ...host, paths: host.paths.map((path) => ({ ...path, route: own(h, path.route) })), fallback: own(h, host.fallback) })),
    routes: [...Array.from({ length: table.hosts.length }, () => table.routes).flat(), ...table.routes],
    fallback: own(table.hosts.length, table.fallback),
  };
}

it(`wasm on a tiny grid and reference agree on tables of many hosts (seed ${SEED})`, { timeout: 120_000 }, () => {
  const tables = tableOf(20, 40).map(ownRoutes);
  // Such tables span many buckets, fill some and overflow into the area (else this would test one unit again).
  const plans = fc.sample(tables, { seed: SEED, numRuns: 30 }).map((t) => encodeGrid(t, { grid: TINY_GRID }).layout.plan);
  expect(plans.filter((plan) => plan.buckets >= 8 && plan.overflow.length > 2 && plan.bucket.filter((b) => b >= 0).length > 8).length).toBeGreaterThan(20);
  expect(agree(tables, MANY_HOST_TABLES, TINY_GRID)).toBeGreaterThanOrEqual(MANY_HOST_TABLES * 25);
});
