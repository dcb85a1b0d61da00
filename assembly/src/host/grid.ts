/**
 * The table laid out as a grid (format 7): every snapshot host is a unit — its chunk, then its
 * route records (mirror and default-backend routes included) — placed and numbered by planGrid,
 * so that a unit's place and ids depend on the state alone, not on the hosts before it. Sections:
 *
 *   header | host slot tables | grid: B buckets of S bytes, from a multiple of S | route index (a
 *   u32 record offset per id, B·R + 1 + overflow routes) | overflow area: the shared empty record
 *   (every unused id), the catch-all's record, the overflow units | hosts with conditions (their
 *   record offsets ascending, in condListCapacity words) | set
 *   index | endpoint area in buckets, then its overflow tail (area.ts; last: a set that grows rewrites its bucket).
 *
 * The host slot tables are filled in unit order (linear probing: one layout per key set). The
 * relocations of a chunk are those of chunk.ts (writeChunk): offsets by the unit's place, route
 * ids by its first id, records by the route index. wasm reads the grid as it read the dense
 * table: through slots, entries and the route index.
 */
import type { RouteEntry } from './table.ts';
import type { TableChunk, TableLayout } from './chunk.ts';
import { HostTables, routeRecordBytes, writeChunk, writeRoute } from './chunk.ts';
import { AREA_GEOMETRY, indexWordsOf, planArea, writeArea } from './area.ts';
import type { AreaGeometry } from './area.ts';
import { hashCapacity, hashSlots, hostSlotCapacity } from './hash-slots.ts';
import { FlatSink } from './blocks.ts';
import { checkChunkShape, hostHasConditions } from './chunk-check.ts';
import { GRID, gridInvalid, planGrid } from './grid-plan.ts';
import type { GridOptions, GridPlan, UnitSize } from './grid-plan.ts';
import { Format, Header, RouteRecord, Slot } from './layout.ts';
import { checkRoute, validateSets } from './validate.ts';

/** A snapshot host as the grid places it: its chunk (route ids local: its run is its first routes) and its routes by local id. */
export interface GridUnit {
  /** Its host name (its home bucket follows it). */
  readonly name: string;
  readonly chunk: TableChunk;
  /** Its route records, local ids 0.. (the chunk's run first, then routes no entry names). */
  readonly routes: readonly RouteEntry[];
}

/** Where assembleGrid put what (chunkAt by unit, routeOffsets by route id: what writeChunk relocates with). */
export interface GridLayout extends TableLayout {
  readonly plan: GridPlan;
  readonly gridAt: number;
  readonly routeIndexAt: number;
  /** The shared empty record of unused ids (the overflow area's start). */
  readonly emptyAt: number;
  /** Hosts in the exact, one-label and deep slot tables, and hosts with conditions (their capacities and the list's length follow them). */
  readonly hostCounts: Readonly<HostCounts>;
}

/** The record of a route id no route has (the grid's ids are sparse): what a laid-out table's route list holds there. */
export const NO_ROUTE: RouteEntry = Object.freeze({ backends: Object.freeze([]) });

/** The catch-all: its own record (id plan.catchAll), a route of a unit that a host also names (its id there), or none. */
export type GridCatchAll = RouteEntry | { readonly unit: number; readonly local: number } | null;

/** How to assemble: S and R (tests), a plan to follow (else planGrid's), whether the units come from elsewhere. */
export interface GridAssembleOptions {
  readonly grid?: GridOptions;
  /** Endpoint choice alone: the same ids, no host (nothing matches), no grid: the route records packed in id order after the route index. */
  readonly balancingOnly?: boolean;
  /** A plan of these very units (checked: a unit past its bucket or its id range is refused). */
  readonly plan?: GridPlan;
  /** Units from elsewhere (shipped chunks): every chunk's shape and lookups are checked. */
  readonly check?: boolean;
  /** The endpoint area's geometry (area.ts): the format's unless a test asks for another. */
  readonly area?: AreaGeometry;
}

const pad8 = (n: number): number => (n + 7) & ~7;

/** A unit's bytes in the grid: its chunk's and its route records'. */
export function unitBytes(unit: Pick<GridUnit, 'chunk' | 'routes'>): number {
  let bytes = unit.chunk.bytes.length;
  for (const route of unit.routes) bytes += routeRecordBytes(route);
  return bytes;
}

/** What planGrid needs of `units`. */
export function unitSizes(units: readonly GridUnit[]): UnitSize[] {
  return units.map((unit) => ({ name: unit.name, bytes: unitBytes(unit), routes: unit.routes.length }));
}

/**
 * The table of `units` (snapshot host order), the catch-all `catchAll` (its own record at id
 * plan.catchAll, a unit's route, or null: the table's fallback is -1), `sets` and `endpointCount`,
 * and where everything went.
 * Throws PORTICO_E_TABLE_INVALID naming the unit, route, set or plan field when the routes or sets
 * break the MatcherTable contract, or (with `check` or a given plan) a chunk or the plan does.
 */
export function assembleGrid(units: readonly GridUnit[], catchAllOf: GridCatchAll, sets: readonly (readonly number[])[], endpointCount: number, options: GridAssembleOptions = {}): { table: Uint8Array; layout: GridLayout } {
  validateSets(sets, endpointCount);
  const sizes = unitSizes(units);
  if (options.check === true) checkUnits(units);
  const plan = options.plan ?? planGrid(sizes, options.grid ?? GRID);
  if (options.plan !== undefined) checkPlan(plan, sizes);
  units.forEach((unit, u) => unit.routes.forEach((route, local) => checkRoute(route, plan.firstRoute[u]! + local, sets.length)));
  const catchAll = catchAllOf !== null && 'backends' in catchAllOf ? catchAllOf : null;
  let fallback = catchAll === null ? -1 : plan.catchAll;
  if (catchAll !== null) checkRoute(catchAll, plan.catchAll, sets.length);
  else if (catchAllOf !== null && 'unit' in catchAllOf) {
    const { unit, local } = catchAllOf;
    if (!Number.isInteger(unit) || unit < 0 || unit >= units.length || !Number.isInteger(local) || local < 0 || local >= units[unit]!.routes.length) gridInvalid('catchAll', `unit ${unit} has no route ${local}`);
    fallback = plan.firstRoute[unit]! + local;
  }
  const balancingOnly = options.balancingOnly === true;
  const { bucketBytes: size } = plan.options;

  const hostCounts: HostCounts = { exact: 0, wild: 0, deep: 0, cond: 0 };
  if (!balancingOnly) for (const { chunk } of units) tallyHosts(hostCounts, chunk, 1);
  const { exact: exactCount, wild: wildCount, deep: deepCount, cond: condHostCount } = hostCounts;
  let end: number = Header.SIZE;
  const place = (bytes: number): number => {
    const at = end;
    end = pad8(end + bytes);
    return at;
  };
  const exactCap = hostSlotCapacity(exactCount);
  const wildCap = hostSlotCapacity(wildCount);
  const deepCap = hostSlotCapacity(deepCount);
  const exactHostsAt = place(exactCap * Slot.SIZE);
  const wildHostsAt = place(wildCap * Slot.SIZE);
  const deepHostsAt = deepCount === 0 ? 0 : place(deepCap * Slot.SIZE);
  // Buckets start at a multiple of S: four of them make one 64 KiB table block. A balancing-only
  // table has no grid: the same ids, its route records packed in id order after the index.
  const gridAt = balancingOnly ? end : Math.ceil(end / size) * size;
  end = gridAt;
  place(balancingOnly ? 0 : plan.buckets * size);
  const routeIndexAt = place(plan.routeCount * 4);
  const emptyAt = place(RouteRecord.BACKENDS);
  const catchAllAt = catchAll === null ? 0 : place(routeRecordBytes(catchAll));
  const recordsOnly = balancingOnly ? recordsInIdOrder(units, plan) : undefined;
  const overflowAt = place(recordsOnly?.bytes ?? plan.overflowBytes);
  const condHostsAt = place(condListCapacity(condHostCount) * 4);
  // The endpoint sets last (area.ts): buckets aligned to their size, then the area's overflow tail, which ends the table.
  const geometry = options.area ?? AREA_GEOMETRY;
  const area = planArea(sets, geometry);
  const setIndexAt = place(indexWordsOf(area.bucketCount, geometry) * 4);
  const areaAt = Math.ceil(end / geometry.bucketBytes) * geometry.bucketBytes;
  const areaLength = area.bucketCount * geometry.bucketBytes;
  const areaOverflowAt = areaAt + areaLength;
  end = areaOverflowAt + area.overflowBytes;

  const routeOffsets = new Uint32Array(plan.routeCount).fill(emptyAt);
  const chunkAt = new Uint32Array(units.length);
  units.forEach((unit, u) => {
    const b = plan.bucket[u]!;
    let at = recordsOnly !== undefined ? overflowAt + recordsOnly.at[u]! : (b < 0 ? overflowAt : gridAt + b * size) + plan.at[u]!;
    chunkAt[u] = at;
    if (recordsOnly === undefined) at += unit.chunk.bytes.length;
    for (let local = 0; local < unit.routes.length; local++) {
      routeOffsets[plan.firstRoute[u]! + local] = at;
      at += routeRecordBytes(unit.routes[local]!);
    }
  });
  if (catchAll !== null) routeOffsets[plan.catchAll] = catchAllAt;
  const layout: GridLayout = { chunkAt, routeOffsets, setIndexAt, areaAt, area, plan, gridAt, routeIndexAt, emptyAt, hostCounts };

  const out = new Uint8Array(end);
  const sink = new FlatSink(out);
  const words = new Uint32Array(out.buffer);
  words.set(routeOffsets, routeIndexAt >>> 2);
  const exactSlots: { hash: number; offset: number }[] = [];
  const wildSlots: { hash: number; offset: number }[] = [];
  const deepSlots: { hash: number; offset: number }[] = [];
  let anyAt = 0;
  const condHosts: number[] = [];
  units.forEach((unit, u) => {
    const firstRoute = plan.firstRoute[u]!;
    unit.routes.forEach((route, local) => writeRoute(sink, routeIndexAt, firstRoute + local, routeOffsets[firstRoute + local]!, route));
    if (balancingOnly) return;
    writeChunk(sink, unit.chunk, firstRoute, layout, u);
    for (const host of unit.chunk.hosts) {
      const slot = { hash: host.hash, offset: chunkAt[u]! + host.at };
      if (host.tables & HostTables.EXACT) exactSlots.push(slot);
      if (host.tables & HostTables.ONE_LABEL) wildSlots.push(slot);
      if (host.tables & HostTables.DEEP) deepSlots.push(slot);
      if (host.tables & HostTables.ANY) anyAt = slot.offset;
      if (hostHasConditions(unit.chunk, host)) condHosts.push(slot.offset);
    }
  });
  if (catchAll !== null) writeRoute(sink, routeIndexAt, plan.catchAll, catchAllAt, catchAll);
  const header: [number, number][] = [
    [Header.MAGIC, Format.MAGIC], [Header.VERSION, Format.VERSION], [Header.LENGTH, end],
    [Header.ROUTE_COUNT, plan.routeCount], [Header.ENDPOINT_COUNT, endpointCount],
    [Header.FALLBACK, balancingOnly ? -1 : fallback], [Header.ANY_HOST, anyAt],
    [Header.EXACT_HOSTS, exactHostsAt], [Header.EXACT_HOSTS_CAP, exactCap],
    [Header.WILD_HOSTS, wildHostsAt], [Header.WILD_HOSTS_CAP, wildCap],
    [Header.HOSTS, gridAt], [Header.HOSTS_LEN, balancingOnly ? 0 : plan.buckets * size],
    [Header.COND_HOSTS, condHostsAt], [Header.COND_HOST_COUNT, condHostCount],
    [Header.ROUTE_INDEX, routeIndexAt], [Header.ROUTES, emptyAt], [Header.ROUTES_LEN, condHostsAt - emptyAt],
    [Header.DEEP_HOSTS, deepHostsAt], [Header.DEEP_HOSTS_CAP, deepCap],
    [Header.SET_INDEX, setIndexAt], [Header.SET_COUNT, sets.length], [Header.AREA, areaAt], [Header.AREA_LEN, areaLength],
    [Header.OVERFLOW, areaOverflowAt], [Header.OVERFLOW_LEN, area.overflowBytes],
  ];
  for (const [field, value] of header) words[field >>> 2] = value >>> 0;
  // By offset, not unit order: a host coming, going or moving rewrites its entry alone (patchGrid).
  words.set(condHosts.sort((a, b) => a - b), condHostsAt >>> 2);
  words.set(hashSlots(exactSlots, exactCap), exactHostsAt >>> 2);
  words.set(hashSlots(wildSlots, wildCap), wildHostsAt >>> 2);
  if (deepCount !== 0) words.set(hashSlots(deepSlots, deepCap), deepHostsAt >>> 2);
  writeArea(words, setIndexAt, areaAt, sets, area);
  return { table: out, layout };
}

/** A balancing-only table's route records: each unit's at its offset in id order (`at`), `bytes` in all. */
function recordsInIdOrder(units: readonly GridUnit[], plan: GridPlan): { at: Uint32Array; bytes: number } {
  const order = units.map((_, u) => u).sort((a, b) => plan.firstRoute[a]! - plan.firstRoute[b]!);
  const at = new Uint32Array(units.length);
  let bytes = 0;
  for (const u of order) {
    at[u] = bytes;
    for (const route of units[u]!.routes) bytes += routeRecordBytes(route);
  }
  return { at, bytes };
}

/** Checks units from elsewhere: each chunk's shape, its run inside its routes, no lookup claimed twice. */
function checkUnits(units: readonly GridUnit[]): void {
  const seen = new Map<string, number>();
  units.forEach((unit, u) => {
    if (typeof unit?.name !== 'string' || unit.name === '' || !Array.isArray(unit.routes)) gridInvalid(`units[${u}]`, 'a unit needs a name and its routes');
    checkChunkShape(unit.chunk);
    if (unit.chunk.routeCount > unit.routes.length) gridInvalid(`units[${u}] (${unit.name}).chunk.routeCount`, `its entries name ${unit.chunk.routeCount} routes, the unit has ${unit.routes.length}`);
    for (const host of unit.chunk.hosts) {
      for (const lookup of host.lookups) {
        const first = seen.get(lookup);
        if (first !== undefined) gridInvalid(`units[${u}] (${unit.name})`, `duplicate host ${JSON.stringify(lookup)}, already units[${first}]`);
        seen.set(lookup, u);
      }
    }
  });
}

/**
 * Checks a given plan against the units it is to place: every unit inside its bucket (bytes and
 * ids) or inside the overflow run, no two overlapping, the id space as the plan's own rule makes it.
 */
function checkPlan(plan: GridPlan, sizes: readonly UnitSize[]): void {
  const { bucketBytes: size, bucketRoutes: perBucket } = plan.options;
  if (plan.bucket.length !== sizes.length || plan.at.length !== sizes.length || plan.firstRoute.length !== sizes.length) gridInvalid('plan', `it places ${plan.bucket.length} units, not ${sizes.length}`);
  // What a later patch re-packs from must be these units' own (patchGrid).
  sizes.forEach((unit, u) => {
    if (plan.unitBytes[u] !== unit.bytes || plan.unitRoutes[u] !== unit.routes) gridInvalid(`plan.unitBytes[${u}]`, `unit ${unit.name} takes ${unit.bytes} bytes and ${unit.routes} routes, the plan says ${plan.unitBytes[u]} and ${plan.unitRoutes[u]}`);
  });
  if (!Number.isInteger(plan.buckets) || plan.buckets < 1 || plan.catchAll !== plan.buckets * perBucket) gridInvalid('plan.catchAll', `${plan.catchAll} is not B·R for ${plan.buckets} buckets`);
  // Per bucket (and the overflow run as bucket B), the units' byte and id ranges sorted by start: each must end before the next starts.
  const spans: { bucket: number; at: number; bytes: number; first: number; routes: number; u: number }[] = [];
  sizes.forEach((unit, u) => {
    const b = plan.bucket[u]!;
    const at = plan.at[u]!;
    const first = plan.firstRoute[u]!;
    const bytesEnd = b < 0 ? plan.overflowBytes : size;
    const [idFrom, idTo] = b < 0 ? [plan.catchAll + 1, plan.routeCount] : [b * perBucket, (b + 1) * perBucket];
    if (b >= plan.buckets) gridInvalid(`plan.bucket[${u}]`, `bucket ${b} is not below ${plan.buckets}`);
    if (at + unit.bytes > bytesEnd || at % 8 !== 0) gridInvalid(`plan.at[${u}]`, `unit ${unit.name} (${unit.bytes} bytes at ${at}) overruns its ${b < 0 ? 'overflow area' : 'bucket'} of ${bytesEnd} bytes`);
    if (first < idFrom || first + unit.routes > idTo) gridInvalid(`plan.firstRoute[${u}]`, `unit ${unit.name}'s ids [${first}, ${first + unit.routes}) are outside [${idFrom}, ${idTo})`);
    spans.push({ bucket: b < 0 ? plan.buckets : b, at, bytes: unit.bytes, first, routes: unit.routes, u });
  });
  for (const [key, length] of [['at', 'bytes'], ['first', 'routes']] as const) {
    spans.sort((a, b) => a.bucket - b.bucket || a[key] - b[key]);
    for (let i = 1; i < spans.length; i++) {
      const before = spans[i - 1]!;
      const span = spans[i]!;
      if (span.bucket === before.bucket && before[key] + before[length] > span[key]) gridInvalid(`plan.${key === 'at' ? 'at' : 'firstRoute'}[${span.u}]`, `unit ${sizes[span.u]!.name} overlaps unit ${sizes[before.u]!.name}`);
    }
  }
}

/**
 * The words the list of hosts with conditions takes for `count` of them: a power of two, at least
 * twice the count (and 8), so that the list's place and all that follows it in the table stay put
 * while the count moves inside its doubling (patchGrid rewrites the list alone). The words past
 * the count are 0.
 */
export function condListCapacity(count: number): number {
  return hashCapacity(count, 8);
}

/** Hosts in the exact, one-label and deep slot tables, and hosts with conditions (GridLayout.hostCounts). */
export interface HostCounts {
  exact: number;
  wild: number;
  deep: number;
  cond: number;
}

/** Adds `sign` (1: the chunk comes, -1: it goes) per host of `chunk` to `counts`: assembleGrid and patchGrid count alike. */
export function tallyHosts(counts: HostCounts, chunk: TableChunk, sign: number): void {
  for (const host of chunk.hosts) {
    if (host.tables & HostTables.EXACT) counts.exact += sign;
    if (host.tables & HostTables.ONE_LABEL) counts.wild += sign;
    if (host.tables & HostTables.DEEP) counts.deep += sign;
    if (hostHasConditions(chunk, host)) counts.cond += sign;
  }
}
