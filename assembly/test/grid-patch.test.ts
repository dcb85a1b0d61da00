// patchGrid against assembleGrid (host-grid.md step 4, test 1): random units on small grids (1 KiB
// buckets, so tables span many buckets and overflow), changed one random op at a time — a unit
// added, taken away, renamed (taken away here, added there), a path added, grown past S/2, wildcard,
// any-host and condition units among them, names crowding the slot tables' homes. After each op a
// patch is given exactly when the full layout keeps what a patch cannot move (the stated reason
// otherwise), and then its bytes, plan and layout are the full assembly's and every block whose
// bytes it did not change is the previous version's very object. A change set that is no change of
// the table's units is refused naming the field, the table unchanged.
import { describe, expect, it } from 'vitest';
import { TableBlocks, assembleGrid, encodeChunk, patchGrid } from '../src/host/encode.ts';
import type { GridChange, GridLayout, GridOptions, GridUnit, LaidOutTable } from '../src/host/encode.ts';
import { Header, HostRecord } from '../src/host/layout.ts';
import type { HostEntry, RouteEntry } from '../src/host/table.ts';
import { gridOf } from './grid-support.ts';
import { crowdedHosts, lcg } from './slot-support.ts';

const SETS: readonly (readonly number[])[] = Array.from({ length: 12 }, (_, s) => [s, s + 1, (s * 7) % 40]);
const ENDPOINTS = 40;
const word = (table: Uint8Array, at: number): number => new DataView(table.buffer, table.byteOffset).getUint32(at, true);

/** A laid-out table of `units` as patchGrid takes it (no catch-all). */
function laidOut(units: readonly GridUnit[], grid: GridOptions): LaidOutTable & { bytes: Uint8Array; layout: GridLayout } {
  const { table, layout, chunks, routes } = gridOf(units, SETS, ENDPOINTS, { grid });
  return { table: TableBlocks.of(table), bytes: table, layout, chunks, routes, sets: SETS, endpointCount: ENDPOINTS, fallback: -1 };
}

/** Why the full layout of `next` cannot be had by patching `previous` (units compared by chunk), or undefined when it can. */
function refusal(previous: { units: readonly GridUnit[]; layout: GridLayout; bytes: Uint8Array }, next: { units: readonly GridUnit[]; layout: GridLayout; bytes: Uint8Array }): string | undefined {
  const a = previous.layout;
  const b = next.layout;
  if (a.plan.buckets !== b.plan.buckets) return 'another bucket count';
  for (const field of [Header.EXACT_HOSTS_CAP, Header.WILD_HOSTS_CAP, Header.DEEP_HOSTS_CAP]) if (word(previous.bytes, field) !== word(next.bytes, field)) return 'a slot table of another capacity';
  if ((a.hostCounts.deep === 0) !== (b.hostCounts.deep === 0)) return 'a deep slot table comes or goes';
  // The list of hosts with conditions lies between its header field and the set index: its room must stay.
  const listRoom = (bytes: Uint8Array): number => word(bytes, Header.SET_INDEX) - word(bytes, Header.COND_HOSTS);
  if (listRoom(previous.bytes) !== listRoom(next.bytes)) return 'the list of hosts with conditions changes room';
  // The overflow area: place by place the same home bucket, offset and ids (then the same extents),
  // and the same unit, or one taken away there and one added in its place.
  const [was, is] = [new Set(previous.units.map((unit) => unit.chunk)), new Set(next.units.map((unit) => unit.chunk))];
  const overflowOf = (units: readonly GridUnit[], layout: GridLayout) => Array.from(layout.plan.overflow, (u) => ({ chunk: units[u]!.chunk, home: layout.plan.home[u], at: layout.plan.at[u], first: layout.plan.firstRoute[u] }));
  const [before, after] = [overflowOf(previous.units, a), overflowOf(next.units, b)];
  if (before.length !== after.length || a.plan.overflowBytes !== b.plan.overflowBytes || a.plan.routeCount !== b.plan.routeCount) return 'the overflow area changes';
  for (let k = 0; k < before.length; k++) {
    const [x, y] = [before[k]!, after[k]!];
    if (x.home !== y.home || x.at !== y.at || x.first !== y.first) return 'the overflow area changes';
    if (x.chunk !== y.chunk && (is.has(x.chunk) || was.has(y.chunk))) return 'the overflow area changes';
  }
  return undefined;
}

/** The kept runs of `next` against `previous` (units by chunk identity, both in name order). */
function keptRuns(previous: readonly GridUnit[], next: readonly GridUnit[]): number[] {
  const index = new Map(previous.map((unit, u) => [unit.chunk, u]));
  const runs: number[] = [];
  next.forEach((unit, u) => {
    const o = index.get(unit.chunk);
    if (o === undefined) return;
    const last = runs.length - 3;
    if (last >= 0 && runs[last + 1] === u && runs[last + 2] === o - u) runs[last + 1] = u + 1;
    else runs.push(u, u + 1, o - u);
  });
  return runs;
}

const withConditions = (unit: GridUnit): boolean => unit.chunk.hosts.some((host) => word(unit.chunk.bytes, host.at + HostRecord.COND_COUNT) !== 0);

const OPS = ['add', 'remove', 'rename', 'addPath', 'growBig', 'anyHost'] as const;

describe('patchGrid == assembleGrid (format 7, host-grid step 4)', () => {
  it.each([
    { seed: 21, hosts: 300, steps: 150, grid: { bucketBytes: 1024, bucketRoutes: 8 } },
    { seed: 22, hosts: 40, steps: 150, grid: { bucketBytes: 1024, bucketRoutes: 4 } },
    { seed: 23, hosts: 600, steps: 100, grid: { bucketBytes: 2048, bucketRoutes: 16 } },
    // Hosts with conditions everywhere (a path in three has a header condition): they come, go and move in their buckets.
    { seed: 24, hosts: 300, steps: 150, grid: { bucketBytes: 1024, bucketRoutes: 8 }, condEvery: 3 },
    // Big units everywhere (one in four over R routes, in the overflow area): paths added to them, made again, taken away.
    { seed: 25, hosts: 200, steps: 150, grid: { bucketBytes: 1024, bucketRoutes: 8 }, bigEvery: 4 },
  ])('seed $seed: $hosts units, $steps random ops, S $grid.bucketBytes R $grid.bucketRoutes', ({ seed, hosts: count, steps, grid, condEvery = 48, bigEvery = 0 }) => {
    const random = lcg(seed);
    const names = crowdedHosts(count * 3, `s${seed}.test`);
    let serial = 0;
    const makeUnit = (name: string, paths: number): GridUnit => {
      const wild = name.startsWith('*.');
      const entry: HostEntry = {
        host: name,
        ...(wild ? { labels: random(2) === 0 ? ('one' as const) : ('many' as const) } : {}),
        paths: Array.from({ length: paths }, (_, k) => ({ pathType: 'Prefix' as const, path: `/p${serial++}`, route: k, ...(random(condEvery) === 0 ? { conditions: { headers: [{ name: 'x-env', value: `v${k}` }] } } : {}) })),
        fallback: -1,
      };
      const routes: RouteEntry[] = Array.from({ length: paths }, () => ({ backends: [{ weight: 1 + random(3), set: random(SETS.length) }] }));
      return { name, chunk: encodeChunk([entry], paths), routes };
    };
    let nextName = 0;
    const freshName = (): string => {
      const name = names[nextName++ % names.length]!;
      return random(5) === 0 ? `*.${name}` : name;
    };
    const sorted = (units: GridUnit[]): GridUnit[] => units.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const unique = (units: GridUnit[]): GridUnit[] => units.filter((unit, u) => units.findIndex((other) => other.name === unit.name) === u);
    const pathCount = (): number => (bigEvery > 0 && random(bigEvery) === 0 ? 9 + random(30) : 1 + random(3));
    let units = sorted(unique(Array.from({ length: count }, () => makeUnit(freshName(), pathCount()))));
    let previous = laidOut(units, grid);
    let prevUnits = units;
    const tally: Record<string, number> = {};
    const conditioned: Record<string, number> = {};
    const inOverflow: Record<string, number> = {};
    for (let step = 1; step <= steps; step++) {
      const op = OPS[random(OPS.length)]!;
      const u = random(units.length);
      const unit = units[u]!;
      if (op === 'add') units = sorted(unique([...units, makeUnit(freshName(), pathCount())]));
      else if (op === 'remove') units = units.toSpliced(u, 1);
      else if (op === 'rename') units = sorted(unique([...units.toSpliced(u, 1), makeUnit(freshName(), unit.routes.length)]));
      else if (op === 'addPath') units = units.with(u, makeUnit(unit.name, unit.routes.length + 1));
      else if (op === 'growBig') units = units.with(u, makeUnit(unit.name, 40));
      else units = units.some((one) => one.name === '*') ? units.filter((one) => one.name !== '*') : sorted([...units, makeUnit('*', 1)]);
      const full = laidOut(units, grid);
      const why = refusal({ units: prevUnits, layout: previous.layout, bytes: previous.table.bytes() }, { units, layout: full.layout, bytes: full.bytes });
      const next = units;
      const change: GridChange = { count: units.length, kept: keptRuns(prevUnits, units), unitAt: (i) => next[i]! };
      const patched = patchGrid(previous, change, SETS, ENDPOINTS, -1);
      const what = `step ${step}: ${op} ${unit.name}`;
      tally[`${op}: ${why ?? 'patched'}`] = (tally[`${op}: ${why ?? 'patched'}`] ?? 0) + 1;
      // The units with conditions that came or went (a host renamed or a path added is both).
      const chunksOf = (list: readonly GridUnit[]): Set<GridUnit['chunk']> => new Set(list.map((one) => one.chunk));
      const [was, is] = [chunksOf(prevUnits), chunksOf(units)];
      if ([...prevUnits.filter((one) => !is.has(one.chunk)), ...units.filter((one) => !was.has(one.chunk))].some(withConditions)) conditioned[why ?? 'patched'] = (conditioned[why ?? 'patched'] ?? 0) + 1;
      const overflowed = new Set(Array.from(previous.layout.plan.overflow, (o) => prevUnits[o]!.chunk));
      if (prevUnits.some((one) => !is.has(one.chunk) && overflowed.has(one.chunk))) inOverflow[why ?? 'patched'] = (inOverflow[why ?? 'patched'] ?? 0) + 1;
      if (why !== undefined) {
        expect(patched, `${what}: refused (${why})`).toBeUndefined();
      } else {
        expect(patched, `${what}: the full layout keeps what a patch cannot move, so a patch must be given`).toBeDefined();
        const bytes = patched!.table.bytes();
        expect(Buffer.from(bytes).equals(Buffer.from(full.bytes)), `${what}: the patched bytes are the full assembly's`).toBe(true);
        expect(patched!.layout, what).toEqual(full.layout);
        patched!.table.blocks.forEach((block, b) => {
          const before = previous.table.blocks[b];
          if (before !== undefined && Buffer.from(block).equals(Buffer.from(before))) expect(block, `${what}: block ${b} holds what it held, the previous version's object`).toBe(before);
        });
        for (let i = 0; i < units.length; i++) expect(patched!.chunks.at(i), `${what}: chunk ${i}`).toEqual(full.chunks.at(i));
        for (let id = 0; id < full.routes.length; id++) expect(patched!.routes.at(id), `${what}: route ${id}`).toBe(full.routes.at(id));
      }
      // Each step continues from the full assembly, so a refusal never ends the run.
      previous = why === undefined ? { ...patched!, bytes: patched!.table.bytes(), layout: patched!.layout } : full;
      prevUnits = units;
    }
    const patchedOps = ['add', 'remove', 'rename', 'addPath', 'anyHost'].map((op) => tally[`${op}: patched`] ?? 0);
    expect(patchedOps.every((n) => n > 0), JSON.stringify(tally)).toBe(true);
    expect(Object.keys(tally).some((outcome) => outcome.startsWith('growBig')), JSON.stringify(tally)).toBe(true);
    // Units in the overflow area edited in their extents patch too (a big unit's path added, a big unit made again).
    if (bigEvery > 0) expect(inOverflow['patched'] ?? 0, JSON.stringify(inOverflow)).toBeGreaterThan(5);
    // Units with conditions come and go by patches too (their list is by record offset).
    if (condEvery <= 3) expect(conditioned['patched'] ?? 0, JSON.stringify(conditioned)).toBeGreaterThan(10);
  });

  it('refuses a change set that is no change of the units, naming the field, the table unchanged', () => {
    const grid = { bucketBytes: 1024, bucketRoutes: 8 };
    const random = lcg(5);
    const units = crowdedHosts(30, 'hostile.test').map((name) => ({ name, chunk: encodeChunk([{ host: name, paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }], 1), routes: [{ backends: [{ weight: 1, set: random(SETS.length) }] }] }));
    const previous = laidOut(units, grid);
    const before = previous.table.blocks.map((block) => Buffer.from(block));
    const unitAt = (u: number): GridUnit => units[u]!;
    const cases: [GridChange, RegExp][] = [
      [{ count: 30, kept: [0, 10, 0, 5, 30, 0], unitAt }, /change\.kept\[3\]/],
      [{ count: 30, kept: [0, 31, 0], unitAt }, /change\.kept\[0\]/],
      [{ count: 30, kept: [0, 28, 5], unitAt }, /change\.kept\[2\]/],
      [{ count: 30, kept: [0, 15, 0, 15, 30, -5], unitAt }, /change\.kept\[5\]/],
      [{ count: -1, kept: [], unitAt }, /change\.count/],
      [{ count: 30, kept: [0, 29, 0], unitAt: () => ({ name: '', chunk: units[0]!.chunk, routes: [] }) }, /change\.unitAt\(29\)/],
      [{ count: 30, kept: [1, 30, 0], unitAt: () => ({ name: 'x.hostile.test', chunk: units[0]!.chunk, routes: [{ backends: [{ weight: 1, set: 99 }] }] }) }, /routes\[0\]\.backends\[0\]\.set/],
    ];
    for (const [change, field] of cases) {
      expect(() => patchGrid(previous, change, SETS, ENDPOINTS, -1), field.source).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(field) }));
      previous.table.blocks.forEach((block, b) => expect(Buffer.from(block).equals(before[b]!)).toBe(true));
    }
    // The assembled table still assembles the same (nothing shared was written).
    expect(Buffer.from(assembleGrid(units, null, SETS, ENDPOINTS, { grid }).table).equals(Buffer.from(previous.table.bytes()))).toBe(true);
  });

  it('refuses a previous table whose list of hosts with conditions misses one taken away, naming the field', () => {
    const grid = { bucketBytes: 1024, bucketRoutes: 8 };
    const units = crowdedHosts(20, 'cond.test').map((name) => ({ name, chunk: encodeChunk([{ host: name, paths: [{ pathType: 'Prefix', path: '/', route: 0, conditions: { headers: [{ name: 'x-env', value: name }] } }], fallback: -1 }], 1), routes: [{ backends: [{ weight: 1, set: 0 }] }] }));
    const good = laidOut(units, grid);
    const change: GridChange = { count: 19, kept: [0, 19, 1], unitAt: (u) => units[u + 1]! };
    // The same table with the entry of the unit taken away made another's: it is not on the list.
    const bytes = good.bytes.slice();
    const list = word(bytes, Header.COND_HOSTS);
    const gone = good.layout.chunkAt[0]! + units[0]!.chunk.hosts[0]!.at;
    const k = Array.from({ length: 20 }, (_, i) => word(bytes, list + 4 * i)).indexOf(gone);
    expect(k).toBeGreaterThanOrEqual(0);
    new DataView(bytes.buffer).setUint32(list + 4 * k, word(bytes, list + 4 * (k === 0 ? 1 : k - 1)), true);
    const tampered = { ...good, table: TableBlocks.of(bytes) };
    expect(() => patchGrid(tampered, change, SETS, ENDPOINTS, -1)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/Header\.COND_HOSTS/) }));
    // The untampered table patches to the full assembly.
    const patched = patchGrid(good, change, SETS, ENDPOINTS, -1);
    expect(Buffer.from(patched!.table.bytes()).equals(Buffer.from(laidOut(units.slice(1), grid).bytes))).toBe(true);
  });
});
