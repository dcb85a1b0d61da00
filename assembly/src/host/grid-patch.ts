/**
 * Patching a grid table (format 7) when units are added or taken away (docs/proposals/host-grid.md
 * step 4): the grid's plan is a pure function of the units, and a unit added or taken away changes
 * it only in the unit's home bucket — the bucket packs its homed units in unit order, and the other
 * units keep their relative order whatever their indices become. So, while the bucket count, the
 * slot tables' capacities, the capacity of the hosts-with-conditions list and the overflow area
 * stay as they were,
 * the new table is the previous one with each touched bucket packed again and written whole (its
 * bytes and its slice of the route index), and the host slots of the probe clusters that the
 * added, removed and moved hosts fall in placed again (probe-slots.ts: one layout per key set) —
 * exactly the bytes assembleGrid gives (the tests hold them equal) — into copies of the blocks
 * those writes fall in (blocks.ts); the list of hosts with conditions (record offsets, ascending)
 * gets the entries of the hosts that came, went or moved. Otherwise the patch is refused (undefined): the caller assembles.
 */
import type { PlacedChunk, TableChunk } from './chunk.ts';
import { HostTables, routeRecordBytes, writeChunk, writeRoute } from './chunk.ts';
import { NO_ROUTE, condListCapacity, tallyHosts, unitBytes } from './grid.ts';
import type { GridLayout, GridUnit, HostCounts } from './grid.ts';
import { bucketCount, gridInvalid, homeOf, overflowExtent, packBucket } from './grid-plan.ts';
import type { GridPlan } from './grid-plan.ts';
import { hostSlotCapacity } from './hash-slots.ts';
import { patchEndpointArea } from './area.ts';
import type { BlockEditor } from './blocks.ts';
import { Pages } from './pages.ts';
import type { ItemList } from './pages.ts';
import { RecordSink, changedItems } from './patch.ts';
import type { LaidOutTable } from './patch.ts';
import { corrupt, hostHasConditions } from './chunk-check.ts';
import { patchSlots } from './grid-slots.ts';
import type { SlotKey } from './grid-slots.ts';
import { Header } from './layout.ts';
import type { RouteEntry } from './table.ts';
import { checkEndpointCount, checkRoute } from './validate.ts';

/** What changed between the previous table's units and the new ones. */
export interface GridChange {
  /** How many units the new table has. */
  readonly count: number;
  /**
   * Flat triples `from, to, offset`, ascending and disjoint: the new units [from, to) are the
   * previous units [from + offset, to + offset), unchanged (the same chunk and route records; the
   * caller's word: they are not compared). Every other new unit is added, every other previous one
   * taken away (a unit replaced is both).
   */
  readonly kept: readonly number[];
  /** The new unit `u`, asked only for units outside the kept runs. */
  unitAt(u: number): GridUnit;
}

/** A patched grid table, with what moved in it. */
export interface PatchedGrid extends LaidOutTable {
  readonly layout: GridLayout;
  /** The new units placed again (every unit of a re-packed bucket: added, or its offset or ids may have moved; an added unit written in the overflow extent of one taken away), ascending. */
  readonly placed: readonly number[];
  /** The buckets packed again, ascending. */
  readonly buckets: readonly number[];
}

/** The slot tables: header fields of their place and capacity, the HostTables bit of their hosts. */
const SLOT_TABLES = [
  { at: Header.EXACT_HOSTS, cap: Header.EXACT_HOSTS_CAP, bit: HostTables.EXACT },
  { at: Header.WILD_HOSTS, cap: Header.WILD_HOSTS_CAP, bit: HostTables.ONE_LABEL },
  { at: Header.DEEP_HOSTS, cap: Header.DEEP_HOSTS_CAP, bit: HostTables.DEEP },
] as const;


/**
 * The table assembleGrid gives for the units `change` describes (the catch-all, `sets`,
 * `endpointCount` and `fallback` as given), patched from `previous` (a full table: its chunks
 * listed), or undefined when that would move more than the touched buckets and slot clusters:
 * another bucket count, a slot table of another capacity (or a deep table appearing or going), the
 * hosts with conditions crossing a power of two (condListCapacity: the list's words), a unit taken
 * away from or added to the overflow area other than one added in the extent of one taken away
 * (the same size class: overflowExtent), a bucket that packs another set of units into the
 * overflow area, another fallback, fewer sets or another endpoint area bucket count, a table
 * without chunks (balancing-only: its records are packed in id order), or more than a quarter of
 * the units changed. The added units' route records are validated as assembleGrid validates them.
 * Throws PORTICO_E_TABLE_INVALID naming the field when `change` is not a change of `previous`'s
 * units (runs out of order or out of range), or an added unit or its routes are invalid;
 * `previous.table` is never modified.
 */
export function patchGrid(previous: LaidOutTable, change: GridChange, sets: ItemList<readonly number[]>, endpointCount: number, fallback: number, changedSets?: readonly number[]): PatchedGrid | undefined {
  const { layout } = previous;
  const { plan } = layout;
  const oldCount = plan.bucket.length;
  const runs = checkChange(change, oldCount);
  checkEndpointCount(endpointCount);
  if (previous.chunks.length !== oldCount || fallback !== previous.fallback || (fallback >= 0 && fallback !== plan.catchAll) || sets.length < previous.sets.length) return undefined;
  const { added, removed } = outsideRuns(runs, change.count, oldCount);
  if ((added.length + removed.length) * 4 > Math.max(oldCount, 8)) return undefined;
  const { bucketBytes: size, bucketRoutes: perBucket } = plan.options;
  const newUnits = new Map<number, GridUnit>();
  for (const u of added) {
    const unit = change.unitAt(u);
    if (typeof unit?.name !== 'string' || unit.name === '' || !Array.isArray(unit.routes) || unit.chunk?.bytes === undefined) gridInvalid(`change.unitAt(${u})`, 'a unit needs a name, a chunk and its routes');
    if (unit.chunk.routeCount > unit.routes.length) gridInvalid(`change.unitAt(${u}) (${unit.name}).chunk.routeCount`, `its entries name ${unit.chunk.routeCount} routes, the unit has ${unit.routes.length}`);
    // Checked before anything can refuse: a bad unit is an error whether or not the patch is given (routes by local id).
    unit.routes.forEach((route, local) => checkRoute(route, local, sets.length));
    newUnits.set(u, unit);
  }
  const oldChunk = (o: number): TableChunk => previous.chunks.at(o)!.chunk;

  // The bucket count, the slot capacities and the hosts with conditions must stay.
  let total = plan.totalBytes;
  const counts: HostCounts = { ...layout.hostCounts };
  const tally = (chunk: TableChunk, sign: number): void => tallyHosts(counts, chunk, sign);
  for (const o of removed) {
    total -= plan.unitBytes[o]!;
    tally(oldChunk(o), -1);
  }
  for (const unit of newUnits.values()) {
    total += unitBytes(unit);
    tally(unit.chunk, 1);
  }
  const was = layout.hostCounts;
  if (bucketCount(total, plan.options) !== plan.buckets || (counts.deep === 0) !== (was.deep === 0)) return undefined;
  if ((['exact', 'wild', 'deep'] as const).some((kind) => hostSlotCapacity(counts[kind]) !== hostSlotCapacity(was[kind])) || condListCapacity(counts.cond) !== condListCapacity(was.cond)) return undefined;

  // The per-unit plan in the new units' order: the kept runs copied, the added units homed.
  const n = change.count;
  const next = { bucket: new Int32Array(n).fill(-1), at: new Uint32Array(n), firstRoute: new Uint32Array(n), home: new Int32Array(n), unitBytes: new Uint32Array(n), unitRoutes: new Uint32Array(n) };
  const chunkAt = new Uint32Array(n);
  for (let i = 0; i < runs.length; i += 3) {
    const from = runs[i]!;
    const to = runs[i + 1]!;
    const offset = runs[i + 2]!;
    for (const field of ['bucket', 'at', 'firstRoute', 'home', 'unitBytes', 'unitRoutes'] as const) next[field].set(plan[field].subarray(from + offset, to + offset), from);
    chunkAt.set(layout.chunkAt.subarray(from + offset, to + offset), from);
  }
  // The added units' places are set below with the rest of their buckets'.
  const chunks: PlacedChunk[] = Pages.of(previous.chunks).remapped(runs, n, (u) => ({ chunk: newUnits.get(u)!.chunk, firstRoute: 0 }));
  const buckets = new Set<number>();
  for (const o of removed) buckets.add(plan.home[o]!);
  for (const [u, unit] of newUnits) {
    next.home[u] = homeOf(unit.name, plan.buckets);
    next.unitBytes[u] = unitBytes(unit);
    next.unitRoutes[u] = unit.routes.length;
    buckets.add(next.home[u]!);
  }
  const touched = [...buckets].sort((a, b) => a - b);
  const members = new Map<number, number[]>(touched.map((b) => [b, []]));
  const isTouched = new Uint8Array(plan.buckets);
  for (const b of touched) isTouched[b] = 1;
  for (let u = 0; u < n; u++) if (isTouched[next.home[u]!] === 1) members.get(next.home[u]!)!.push(u);

  const { gridAt, emptyAt, routeIndexAt } = layout;
  const oldOf = (u: number): number => {
    const run = runAt(runs, u, 0);
    return run < 0 ? -1 : u + runs[run + 2]!;
  };
  // Each touched bucket packed again. Its overflow, place by place, must be the units it overflowed
  // before: the same unit, or an added one in the extent of one taken away (overflowExtent: the
  // same size class), written there in place. Then no other overflow unit moves.
  const packed: { u: number; at: number; firstRoute: number; b: number; place: number }[] = [];
  const replaced = new Map<number, number>();
  for (const b of touched) {
    const homed = members.get(b)!;
    const overflow: number[] = [];
    const placed = packBucket(homed, (u) => ({ name: '', bytes: next.unitBytes[u]!, routes: next.unitRoutes[u]! }), b, plan.options, overflow);
    const before = overflowHomedAt(plan, b);
    if (overflow.length !== before.length) return undefined;
    for (let k = 0; k < overflow.length; k++) {
      const u = overflow[k]!;
      const o = before[k]!;
      if (!newUnits.has(u)) {
        if (oldOf(u) !== o) return undefined;
        continue;
      }
      const [was, is] = [overflowExtent(plan.unitBytes[o]!, plan.unitRoutes[o]!), overflowExtent(next.unitBytes[u]!, next.unitRoutes[u]!)];
      if (newOf(runs, o) >= 0 || was.bytes !== is.bytes || was.routes !== is.routes) return undefined;
      replaced.set(o, u);
      packed.push({ u, at: plan.at[o]!, firstRoute: plan.firstRoute[o]!, b: -1, place: layout.chunkAt[o]! });
    }
    for (const unit of placed) packed.push({ ...unit, b, place: gridAt + b * size + unit.at });
  }
  const moved: number[] = [];
  for (const { u, at, firstRoute, b, place } of packed) {
    if (!newUnits.has(u) && (chunkAt[u] !== place || next.firstRoute[u] !== firstRoute)) moved.push(u);
    next.bucket[u] = b;
    next.at[u] = at;
    next.firstRoute[u] = firstRoute;
    chunkAt[u] = place;
  }
  const area = patchEndpointArea(previous, sets, changedSets ?? changedItems(previous.sets, sets), endpointCount);
  if (area === undefined) return undefined;

  // The new plan and layout: the touched buckets' ids pointed at their records (the empty one where no route is).
  const overflow = Uint32Array.from(plan.overflow, (o) => replaced.get(o) ?? newOf(runs, o));
  const newPlan: GridPlan = { ...plan, ...next, overflow, totalBytes: total };
  const routeOffsets = layout.routeOffsets.slice();
  const routeAt = (u: number, local: number): RouteEntry => newUnits.get(u)?.routes[local] ?? previous.routes.at(plan.firstRoute[oldOf(u)]! + local)!;
  const routeChanges = new Map<number, RouteEntry>();
  // What is written whole: each touched bucket with its units, each overflow extent written in place with its one.
  const regions = new Map<number, Region>(touched.map((b) => [b, { base: gridAt + b * size, bytes: size, firstId: b * perBucket, ids: perBucket, units: [] }]));
  const written: Region[] = [...regions.values()];
  for (const { u, b, place, firstRoute } of packed) {
    if (b >= 0) regions.get(b)!.units.push(u);
    else {
      const extent = overflowExtent(next.unitBytes[u]!, next.unitRoutes[u]!);
      written.push({ base: place, bytes: extent.bytes, firstId: firstRoute, ids: extent.routes, units: [u] });
    }
  }
  for (const { firstId, ids } of written) {
    routeOffsets.fill(emptyAt, firstId, firstId + ids);
    for (let id = firstId; id < firstId + ids; id++) routeChanges.set(id, NO_ROUTE);
  }
  const chunkOf = (u: number): TableChunk => newUnits.get(u)?.chunk ?? chunks[u]!.chunk;
  for (const { u } of packed) {
    let rec = chunkAt[u]! + chunkOf(u).bytes.length;
    for (let local = 0; local < next.unitRoutes[u]!; local++) {
      const route = routeAt(u, local);
      routeOffsets[next.firstRoute[u]! + local] = rec;
      routeChanges.set(next.firstRoute[u]! + local, route);
      rec += routeRecordBytes(route);
    }
  }
  const newLayout: GridLayout = { ...layout, chunkAt, routeOffsets, area: area.area, plan: newPlan, hostCounts: counts };

  const edit = area.table.edit();
  edit.setWord(Header.ENDPOINT_COUNT >>> 2, endpointCount);
  for (const { base, bytes, firstId, ids, units } of written) {
    // The region made whole off the table, then written at once: one of the same bytes leaves its block shared.
    const region = new RecordSink(new Uint8Array(bytes), base, edit);
    for (const u of units) {
      writeChunk(region, chunkOf(u), next.firstRoute[u]!, newLayout, u);
      for (let local = 0; local < next.unitRoutes[u]!; local++) {
        const id = next.firstRoute[u]! + local;
        writeRoute(region, routeIndexAt, id, routeOffsets[id]!, routeChanges.get(id)!);
      }
    }
    for (let id = firstId; id < firstId + ids; id++) edit.setWord((routeIndexAt >>> 2) + id, routeOffsets[id]!);
    edit.set(region.bytes, base);
  }

  // The host slots: taken away, added, and moved (their offsets) in their probe clusters.
  const oldMembers = new Map<number, number[]>();
  const oldUnitAt = (offset: number): number => {
    const inGrid = offset >= gridAt && offset < gridAt + plan.buckets * size;
    const b = inGrid ? Math.floor((offset - gridAt) / size) : -1;
    let list = oldMembers.get(b);
    if (list === undefined) {
      list = [];
      if (b < 0) list.push(...plan.overflow);
      else for (let o = 0; o < oldCount; o++) if (plan.bucket[o] === b) list.push(o);
      oldMembers.set(b, list);
    }
    for (const o of list) if (offset >= layout.chunkAt[o]! && offset < layout.chunkAt[o]! + oldChunk(o).bytes.length) return o;
    return corrupt(`host slot offset ${offset} lies in no unit`);
  };
  const resolve = (hash: number, offset: number): SlotKey => {
    const oldUnit = oldUnitAt(offset);
    const host = oldChunk(oldUnit).hosts.findIndex((h) => layout.chunkAt[oldUnit]! + h.at === offset);
    if (host < 0) corrupt(`host slot offset ${offset} is no host record of unit ${oldUnit}`);
    const newUnit = newOf(runs, oldUnit);
    return { hash, oldOffset: offset, oldUnit, newUnit, host, newOffset: newUnit < 0 ? -1 : chunkAt[newUnit]! + oldChunk(oldUnit).hosts[host]!.at };
  };
  for (const { at, cap, bit } of SLOT_TABLES) {
    const capacity = edit.word(cap >>> 2);
    // A table with no deep host has no deep slot table (its place is 0).
    if (capacity === 0 || edit.word(at >>> 2) === 0) continue;
    const keysOf = (units: readonly number[], chunk: (u: number) => TableChunk, offsetOf: (u: number) => number): { hash: number; offset: number; u: number; host: number }[] =>
      units.flatMap((u) => chunk(u).hosts.flatMap((host, h) => (host.tables & bit ? [{ hash: host.hash, offset: offsetOf(u) + host.at, u, host: h }] : [])));
    const gone = keysOf(removed, oldChunk, (o) => layout.chunkAt[o]!);
    const come = keysOf([...newUnits.keys()], chunkOf, (u) => chunkAt[u]!);
    const shifted = keysOf(moved, chunkOf, (u) => layout.chunkAt[oldOf(u)]!);
    if (gone.length + come.length + shifted.length === 0) continue;
    patchSlots(edit, edit.word(at >>> 2), capacity, resolve, {
      removed: gone,
      moved: shifted,
      added: come.map(({ hash, offset, u, host }) => ({ hash, oldOffset: -1, oldUnit: -1, newUnit: u, host, newOffset: offset })),
    });
  }
  const offsetsOf = (units: readonly number[], chunk: (u: number) => TableChunk, offsetOf: (u: number) => number): number[] => units.flatMap((u) => chunk(u).hosts.filter((host) => hostHasConditions(chunk(u), host)).map((host) => offsetOf(u) + host.at));
  patchCondList(edit, offsetsOf([...removed, ...moved.map(oldOf)], oldChunk, (o) => layout.chunkAt[o]!), offsetsOf([...newUnits.keys(), ...moved], chunkOf, (u) => chunkAt[u]!));

  // The any-host entry's record offset, when its unit came, went or moved.
  let anyAt: number | undefined;
  for (const o of removed) if (oldChunk(o).hosts.some((host) => host.tables & HostTables.ANY)) anyAt = 0;
  for (const { u } of packed) for (const host of chunkOf(u).hosts) if (host.tables & HostTables.ANY) anyAt = chunkAt[u]! + host.at;
  if (anyAt !== undefined) edit.setWord(Header.ANY_HOST >>> 2, anyAt);

  for (const { u } of packed) chunks[u] = { chunk: chunkOf(u), firstRoute: next.firstRoute[u]! };
  const placed = packed.map(({ u }) => u).sort((a, b) => a - b);
  return { table: edit.done(), layout: newLayout, chunks: Pages.of(chunks), routes: Pages.of(previous.routes).with(routeChanges), sets, endpointCount, fallback, placed, buckets: touched };
}

/**
 * The list of hosts with conditions (record offsets, ascending: grid.ts) with the offsets `gone`
 * taken out and `come` put in, and its count, written through `edit` when they differ: the
 * list's words are the hosts with conditions alone, not the units. Its capacity (condListCapacity)
 * is the caller's to keep. Throws PORTICO_E_TABLE_INVALID when an offset to take out is not on it.
 */
function patchCondList(edit: BlockEditor, gone: readonly number[], come: readonly number[]): void {
  if (gone.length + come.length === 0) return;
  const at = edit.word(Header.COND_HOSTS >>> 2) >>> 2;
  const count = edit.word(Header.COND_HOST_COUNT >>> 2);
  const list: number[] = [];
  for (let k = 0; k < count; k++) list.push(edit.word(at + k));
  const out = new Set(gone);
  const kept = list.filter((offset) => !out.delete(offset));
  if (out.size !== 0) gridInvalid('Header.COND_HOSTS', `host record ${[...out][0]} has conditions but is not on the table's list of them`);
  const next = [...kept, ...come].sort((a, b) => a - b);
  for (let k = 0; k < Math.max(count, next.length); k++) edit.setWord(at + k, next[k] ?? 0);
  edit.setWord(Header.COND_HOST_COUNT >>> 2, next.length);
}

/** A stretch of the table a patch writes whole: `bytes` at `base`, the route ids [firstId, firstId + ids) and the units in it. */
interface Region {
  readonly base: number;
  readonly bytes: number;
  readonly firstId: number;
  readonly ids: number;
  readonly units: number[];
}

/** The previous units bucket `b` sent to the overflow area, in order: a run of plan.overflow (it is in (home, unit) order), found by binary search. */
function overflowHomedAt(plan: GridPlan, b: number): number[] {
  const { overflow, home } = plan;
  let low = 0;
  let high = overflow.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (home[overflow[mid]!]! < b) low = mid + 1;
    else high = mid;
  }
  const out: number[] = [];
  for (let k = low; k < overflow.length && home[overflow[k]!] === b; k++) out.push(overflow[k]!);
  return out;
}

/** Checks `change` against `oldCount` previous units and gives its runs (see GridChange.kept). */
function checkChange(change: GridChange, oldCount: number): readonly number[] {
  const { count, kept } = change;
  if (!Number.isInteger(count) || count < 0) gridInvalid('change.count', `${String(count)} is not a unit count`);
  if (!Array.isArray(kept) || kept.length % 3 !== 0) gridInvalid('change.kept', 'it is not a list of (from, to, offset) triples');
  let newEnd = 0;
  let oldEnd = 0;
  for (let i = 0; i < kept.length; i += 3) {
    const from = kept[i];
    const to = kept[i + 1];
    const offset = kept[i + 2];
    if (!Number.isInteger(from) || !Number.isInteger(to) || !Number.isInteger(offset)) gridInvalid(`change.kept[${i}]`, 'a run is three integers');
    if (from! < newEnd || to! <= from! || to! > count) gridInvalid(`change.kept[${i}]`, `run [${from}, ${to}) is not inside [${newEnd}, ${count}) after the run before it`);
    if (from! + offset! < oldEnd || to! + offset! > oldCount) gridInvalid(`change.kept[${i + 2}]`, `run [${from}, ${to}) names previous units [${from! + offset!}, ${to! + offset!}), not inside [${oldEnd}, ${oldCount}) after the run before it`);
    newEnd = to!;
    oldEnd = to! + offset!;
  }
  return kept;
}

/** The new units outside the runs (added) and the previous ones outside them (taken away), ascending. */
function outsideRuns(runs: readonly number[], count: number, oldCount: number): { added: number[]; removed: number[] } {
  const added: number[] = [];
  const removed: number[] = [];
  let newEnd = 0;
  let oldEnd = 0;
  for (let i = 0; i <= runs.length; i += 3) {
    const from = i < runs.length ? runs[i]! : count;
    const oldFrom = i < runs.length ? from + runs[i + 2]! : oldCount;
    for (let u = newEnd; u < from; u++) added.push(u);
    for (let o = oldEnd; o < oldFrom; o++) removed.push(o);
    if (i < runs.length) {
      newEnd = runs[i + 1]!;
      oldEnd = newEnd + runs[i + 2]!;
    }
  }
  return { added, removed };
}

/** The index (a multiple of 3) of the run holding new unit `u` (side 0) or previous unit `u` (side 1), or -1. */
function runAt(runs: readonly number[], u: number, side: 0 | 1): number {
  let low = 0;
  let high = runs.length / 3 - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    const shift = side === 0 ? 0 : runs[mid * 3 + 2]!;
    if (u < runs[mid * 3]! + shift) high = mid - 1;
    else if (u >= runs[mid * 3 + 1]! + shift) low = mid + 1;
    else return mid * 3;
  }
  return -1;
}

/** The new index of previous unit `o`, or -1 when it was taken away. */
function newOf(runs: readonly number[], o: number): number {
  const run = runAt(runs, o, 1);
  return run < 0 ? -1 : o - runs[run + 2]!;
}
