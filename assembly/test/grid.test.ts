// The grid (format 8): where planGrid puts each unit and which ids it gets, the bytes assembleGrid
// writes there, that a unit's bucket does not depend on the other buckets' units, and that a plan
// or units that would write outside their place are refused naming the field.
import { describe, expect, it } from 'vitest';
import { GRID, assembleGrid, encodeChunk, encodeGrid, planGrid, unitBytes } from '../src/host/encode.ts';
import type { GridUnit } from '../src/host/encode.ts';
import { bucketCount, homeOf, overflowExtent } from '../src/host/grid-plan.ts';
import { Header, RouteRecord } from '../src/host/layout.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { HostEntry, MatcherTable, RouteEntry } from '../src/host/table.ts';
import { TINY_GRID } from './grid-support.ts';

const word = (table: Uint8Array, at: number): number => new DataView(table.buffer, table.byteOffset).getUint32(at, true);

/** Host `name` with `paths` Prefix paths (`/p0`, `/p1`, ...), route k for path k. */
function hostEntry(name: string, paths: number): HostEntry {
  return { host: name, paths: Array.from({ length: paths }, (_, k) => ({ pathType: 'Prefix' as const, path: `/p${k}`, route: k })), fallback: -1 };
}

/** A unit per host: its chunk and a record per path, each on set 0. */
function unitsOf(hosts: readonly (readonly [string, number])[]): GridUnit[] {
  return hosts.map(([name, paths]) => ({ name, chunk: encodeChunk([hostEntry(name, paths)], paths), routes: Array.from({ length: paths }, (_, k) => ({ backends: [{ weight: 1 + k, set: 0 }] })) }));
}

const HOSTS = Array.from({ length: 60 }, (_, i) => [`h${i}.test`, 1 + (i % 3)] as const);
/** Room for a few small units per bucket. */
const ROOMY = { bucketBytes: 1024, bucketRoutes: 8 };

describe('planGrid', () => {
  it('counts buckets from the bytes at a fill of 0.7, in 12.5 % steps past 15', () => {
    expect([1, 7, 15].map((b) => bucketCount(b * 1024 * 0.7, TINY_GRID))).toEqual([1, 7, 15]);
    // 16..30 in steps of 2, 32..60 of 4: m * 2^e with m in 8..15.
    expect([16, 17, 31, 33, 61, 1000].map((b) => bucketCount(b * 1024 * 0.7, TINY_GRID))).toEqual([16, 18, 32, 36, 64, 1024]);
    expect(bucketCount(0, GRID)).toBe(1);
  });

  it('packs each bucket with its homed units in order up to the first that does not fit; that one, the later ones and the big ones overflow in (home, order)', () => {
    const units = unitsOf([...HOSTS, ['big.test', 40]]);
    const sizes = units.map((unit) => ({ name: unit.name, bytes: unitBytes(unit), routes: unit.routes.length }));
    const plan = planGrid(sizes, TINY_GRID);
    const { bucketBytes: S, bucketRoutes: R } = TINY_GRID;
    expect(plan.buckets).toBe(bucketCount(sizes.reduce((n, unit) => n + unit.bytes, 0), TINY_GRID));
    expect(plan.buckets).toBeGreaterThan(4);
    expect(plan.catchAll).toBe(plan.buckets * R);
    const overflowed: number[] = [];
    for (let b = 0; b < plan.buckets; b++) {
      const homed = sizes.map((_, u) => u).filter((u) => homeOf(sizes[u]!.name, plan.buckets) === b);
      let used = 0;
      let routes = 0;
      let full = false;
      for (const u of homed) {
        const unit = sizes[u]!;
        if (unit.bytes > S / 2 || unit.routes > R || full || used + unit.bytes > S || routes + unit.routes > R) {
          full ||= !(unit.bytes > S / 2 || unit.routes > R);
          expect(plan.bucket[u], unit.name).toBe(-1);
          overflowed.push(u);
          continue;
        }
        expect([plan.bucket[u], plan.at[u], plan.firstRoute[u]], unit.name).toEqual([b, used, b * R + routes]);
        used += unit.bytes;
        routes += unit.routes;
      }
    }
    expect(Array.from(plan.overflow)).toEqual(overflowed);
    expect(overflowed.length).toBeGreaterThan(0);
    expect(overflowed).toContain(sizes.length - 1);
    // Overflow units follow one another in overflow order, each in the extent of its size class; their ids follow the catch-all's alike.
    let next = plan.catchAll + 1;
    let at = 0;
    for (const u of overflowed) {
      expect([plan.at[u], plan.firstRoute[u]]).toEqual([at, next]);
      const extent = overflowExtent(sizes[u]!.bytes, sizes[u]!.routes);
      expect(extent.bytes).toBeGreaterThanOrEqual(sizes[u]!.bytes);
      expect(extent.routes).toBeGreaterThanOrEqual(sizes[u]!.routes);
      next += extent.routes;
      at += extent.bytes;
    }
    expect([plan.overflowBytes, plan.routeCount]).toEqual([at, next]);
  });

  it('gives an overflow unit the extent of its size class: 25 % steps of bytes and of route ids, exact while small', () => {
    expect(overflowExtent(24, 3)).toEqual({ bytes: 24, routes: 3 });
    // 8,200..10,240 bytes and 81..96 routes are one class: a big host edited inside it keeps its extent.
    expect(overflowExtent(9352, 91)).toEqual({ bytes: 10240, routes: 96 });
    expect(overflowExtent(8200, 81)).toEqual({ bytes: 10240, routes: 96 });
    expect(overflowExtent(10240, 96)).toEqual({ bytes: 10240, routes: 96 });
    expect(overflowExtent(10248, 97)).toEqual({ bytes: 12288, routes: 112 });
  });
});

describe('assembleGrid', () => {
  it('writes each unit at its place, every unused id to the one empty record, the catch-all at B·R', () => {
    const units = unitsOf(HOSTS);
    const catchAll: RouteEntry = { backends: [{ weight: 9, set: 0 }] };
    const { table, layout } = assembleGrid(units, catchAll, [[0]], 1, { grid: TINY_GRID });
    const { plan } = layout;
    expect(layout.gridAt % TINY_GRID.bucketBytes).toBe(0);
    expect([word(table, Header.HOSTS), word(table, Header.HOSTS_LEN), word(table, Header.ROUTE_COUNT), word(table, Header.FALLBACK)]).toEqual([layout.gridAt, plan.buckets * TINY_GRID.bucketBytes, plan.routeCount, plan.catchAll]);
    const index = word(table, Header.ROUTE_INDEX);
    const used = new Set<number>([plan.catchAll]);
    units.forEach((unit, u) => {
      const at = plan.bucket[u]! < 0 ? layout.chunkAt[u]! : layout.gridAt + plan.bucket[u]! * TINY_GRID.bucketBytes + plan.at[u]!;
      expect(layout.chunkAt[u]).toBe(at);
      expect(Buffer.from(table.subarray(at + unit.chunk.bytes.length - 8, at + unit.chunk.bytes.length)).length).toBe(8);
      // Its records follow its chunk, in local order, each named by its id's index entry.
      let rec = at + unit.chunk.bytes.length;
      unit.routes.forEach((route, k) => {
        const id = plan.firstRoute[u]! + k;
        used.add(id);
        expect(word(table, index + id * 4), `${unit.name} route ${k}`).toBe(rec);
        expect(word(table, rec + RouteRecord.BACKEND_COUNT)).toBe(route.backends.length);
        rec += RouteRecord.BACKENDS + route.backends.length * 16;
      });
    });
    for (let id = 0; id < plan.routeCount; id++) {
      if (used.has(id)) continue;
      expect(word(table, index + id * 4), `unused id ${id}`).toBe(layout.emptyAt);
    }
    expect(word(table, layout.emptyAt + RouteRecord.BACKEND_COUNT)).toBe(0);
    expect(word(table, word(table, index + plan.catchAll * 4) + RouteRecord.BACKENDS + 8)).toBe(9);
    // A route id no route has picks nothing; the catch-all answers an unknown host.
    const matcher = loadMatcherFromBinary(table);
    const unused = Array.from({ length: plan.routeCount }, (_, id) => id).find((id) => !used.has(id))!;
    expect(matcher.pick(unused)).toBe(-1);
    expect(matcher.match('nowhere.test', '/', 'GET')).toBe(plan.catchAll);
  });

  it('a balancing-only table keeps the ids, without hosts or grid: every id picks as in the full table', () => {
    const units = unitsOf([...HOSTS, ['big.test', 40]]).map((unit, u) => ({ ...unit, routes: unit.routes.map((_, k) => ({ backends: [{ weight: 1, set: (u + k) % 3 }, { weight: 2, set: (u * 7 + k) % 3 }] })) }));
    const sets = [[0, 1], [2], [3, 4, 5]];
    const catchAll: RouteEntry = { backends: [{ weight: 1, set: 2 }] };
    const full = assembleGrid(units, catchAll, sets, 6, { grid: TINY_GRID });
    const balancing = assembleGrid(units, catchAll, sets, 6, { grid: TINY_GRID, balancingOnly: true });
    expect(balancing.layout.plan).toEqual(full.layout.plan);
    expect(word(balancing.table, Header.HOSTS_LEN)).toBe(0);
    expect(balancing.table.length).toBeLessThan(full.table.length / 2);
    const [a, b] = [loadMatcherFromBinary(full.table), loadMatcherFromBinary(balancing.table)];
    expect(b.match(units[0]!.name, '/p0', 'GET')).toBe(-1);
    for (let id = 0; id < full.layout.plan.routeCount; id++) {
      const picks = (matcher: typeof a) => [matcher.pick(id), matcher.lastBackend(), matcher.pick(id), matcher.pick(id), matcher.lastBackend()];
      expect(picks(b), `id ${id}`).toEqual(picks(a));
    }
  });

  it('a unit added leaves every other bucket\'s bytes as they were while B stays', () => {
    const before = unitsOf(HOSTS);
    const a = assembleGrid(before, null, [[0]], 1, { grid: ROOMY });
    // A small host whose bucket has room (the first name that finds one): B and the slot capacities stay.
    const withNew = (n: number) => [...before.slice(0, 30), ...unitsOf([[`new${n}.test`, 1]]), ...before.slice(30)];
    let n = 0;
    while (assembleGrid(withNew(n), null, [[0]], 1, { grid: ROOMY }).layout.plan.bucket[30]! < 0) n++;
    const b = assembleGrid(withNew(n), null, [[0]], 1, { grid: ROOMY });
    expect(b.layout.plan.buckets).toBe(a.layout.plan.buckets);
    expect(b.layout.gridAt).toBe(a.layout.gridAt);
    const home = b.layout.plan.bucket[30]!;
    expect(home).toBeGreaterThanOrEqual(0);
    const S = ROOMY.bucketBytes;
    for (let bucket = 0; bucket < a.layout.plan.buckets; bucket++) {
      const at = a.layout.gridAt + bucket * S;
      const same = Buffer.from(a.table.subarray(at, at + S)).equals(Buffer.from(b.table.subarray(at, at + S)));
      // Offsets inside a bucket are absolute, and the slots point into buckets: only the new unit's bucket differs.
      expect(same, `bucket ${bucket}`).toBe(bucket !== home);
    }
  });

  it('refuses a plan under which a unit overruns its bucket or its ids, naming the field', () => {
    const units = unitsOf(HOSTS);
    const sizes = units.map((unit) => ({ name: unit.name, bytes: unitBytes(unit), routes: unit.routes.length }));
    const plan = planGrid(sizes, ROOMY);
    const u = plan.bucket.findIndex((b, i) => b >= 0 && plan.bucket.some((other, j) => j !== i && other === b));
    const refuse = (changed: Partial<typeof plan>, field: RegExp) =>
      expect(() => assembleGrid(units, null, [[0]], 1, { plan: { ...plan, ...changed } })).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(field) }));
    expect(() => assembleGrid(units, null, [[0]], 1, { plan })).not.toThrow();
    refuse({ at: plan.at.map((at, i) => (i === u ? ROOMY.bucketBytes - 8 : at)) }, new RegExp(`grid plan\\.at\\[${u}\\]: unit ${units[u]!.name} .* overruns its bucket of 1024 bytes`));
    refuse({ firstRoute: plan.firstRoute.map((id, i) => (i === u ? plan.catchAll : id)) }, new RegExp(`grid plan\\.firstRoute\\[${u}\\]: unit ${units[u]!.name}'s ids`));
    // Two units of one bucket made to overlap.
    const v = plan.bucket.findIndex((b, i) => i !== u && b === plan.bucket[u]);
    expect(v).toBeGreaterThanOrEqual(0);
    refuse({ at: plan.at.map((at, i) => (i === v ? plan.at[u]! : at)) }, /grid plan\.at\[\d+\]: unit .* overlaps unit/);
    refuse({ bucket: plan.bucket.map((b, i) => (i === u ? plan.buckets : b)) }, new RegExp(`grid plan\\.bucket\\[${u}\\]`));
    expect(() => assembleGrid(units, { unit: 0, local: 9 }, [[0]], 1)).toThrow(/grid catchAll: unit 0 has no route 9/);
    expect(() => assembleGrid(units, null, [[0]], 1, { grid: { bucketBytes: 1000, bucketRoutes: 2 } })).toThrow(/grid options\.bucketBytes/);
  });
});

describe('encodeGrid', () => {
  it('keeps a host\'s extra routes (hidden ones) in its unit, and joins hosts that share a route', () => {
    const table: MatcherTable = {
      hosts: [
        { host: 'a.test', paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1, extraRoutes: [3] },
        { host: 'b.test', paths: [{ pathType: 'Prefix', path: '/', route: 1 }], fallback: -1 },
        { host: 'c.test', paths: [{ pathType: 'Prefix', path: '/', route: 1 }], fallback: 2 },
      ],
      routes: Array.from({ length: 5 }, (_, r) => ({ backends: [{ weight: r + 1, set: 0 }] })),
      sets: [[0]],
      endpointCount: 1,
      fallback: 4,
    };
    const { routeIds, layout } = encodeGrid(table, { grid: TINY_GRID });
    // a.test: routes 0 and 3, consecutive ids; b.test and c.test one unit: 1 and 2; the catch-all at B·R.
    expect(routeIds[3]).toBe(routeIds[0]! + 1);
    expect(routeIds[2]).toBe(routeIds[1]! + 1);
    expect(routeIds[4]).toBe(layout.plan.catchAll);
    expect(layout.chunkAt.length).toBe(2);
  });
});
