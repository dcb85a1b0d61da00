/**
 * Where the grid puts each unit (a snapshot host: its chunk and its route records) and which
 * route ids it gets: a pure function of the units' names, order, sizes and route counts, so the
 * same state gives the same places and ids whatever came before (docs/proposals/host-grid.md (b)).
 *
 * - B buckets of S bytes; B follows the total bytes at a fill of 0.7, rounded up to m·2^e with m
 *   in 8..15 (12.5 % steps): it changes only when the world grows or shrinks by several percent.
 * - A unit's home bucket is murmur(name, GRID_SEED) mod B. A bucket packs its homed units in unit
 *   order and stops at the first that does not fit (bytes ≤ S, routes ≤ R); that unit and the
 *   bucket's later ones go to the overflow area, as does any unit bigger than S/2 or with more
 *   than R routes (it would crowd out its whole bucket), in (home, order).
 * - Bucket b's routes get ids b·R + k; the catch-all's id is B·R; the overflow units' follow it.
 * - An overflow unit takes an extent of its size class (overflowExtent), bytes and ids alike, so
 *   one that grows or shrinks inside its class is written again in place, moving no other.
 */
import { PorticoError } from './errors.ts';
import { extentBytes } from './area.ts';
import { murmur, utf8 } from './layout.ts';

/** Bucket bytes (S) and routes (R). Tests shrink them to force many buckets and overflow. */
export interface GridOptions {
  readonly bucketBytes: number;
  readonly bucketRoutes: number;
}

/** The table's grid: 16 KiB buckets (four to a 64 KiB table block), 192 route ids each (85 B a route: a fleet host of 3 paths takes ~110 B a route, so the bytes, not the ids, fill a bucket first). */
export const GRID: GridOptions = { bucketBytes: 16 * 1024, bucketRoutes: 192 };

/** Hash seed of a unit's home bucket (any constant other than the host and path seeds). */
export const GRID_SEED = 0x4752_4944;

/** What the plan needs of a unit. */
export interface UnitSize {
  readonly name: string;
  /** Its chunk's bytes plus its route records'. */
  readonly bytes: number;
  readonly routes: number;
}

/** Places and ids of the units of one table (see the file comment). */
export interface GridPlan {
  readonly options: GridOptions;
  /** B. */
  readonly buckets: number;
  /** Per unit: its bucket, or -1 for the overflow area. */
  readonly bucket: Int32Array;
  /** Per unit: its byte offset in its bucket, or in the overflow units' run. */
  readonly at: Uint32Array;
  /** Per unit: the id of its first route (its routes take the ids after it, in order). */
  readonly firstRoute: Uint32Array;
  /** The overflow units in order, and the bytes they take. */
  readonly overflow: Uint32Array;
  readonly overflowBytes: number;
  /** The catch-all's route id (B·R), used or not. */
  readonly catchAll: number;
  /** The id space: every id below it is a route record (unused ones the shared empty record). */
  readonly routeCount: number;
  /** Per unit: its home bucket, its bytes and its route count (what a patch re-packs a bucket from: patchGrid). */
  readonly home: Int32Array;
  readonly unitBytes: Uint32Array;
  readonly unitRoutes: Uint32Array;
  /** The units' bytes in all (B follows it). */
  readonly totalBytes: number;
}

/** Throws PORTICO_E_TABLE_INVALID for a grid: `field` names what is wrong. */
export function gridInvalid(field: string, problem: string): never {
  throw new PorticoError('PORTICO_E_TABLE_INVALID', `matcher table grid ${field}: ${problem}`);
}

/** B for `bytes` of units: Σbytes / (S·0.7), rounded up to m·2^e with m in 8..15 (at least 1). */
export function bucketCount(bytes: number, options: GridOptions): number {
  const base = Math.max(1, Math.ceil((bytes * 10) / (options.bucketBytes * 7)));
  let step = 1;
  while (base > 15 * step) step *= 2;
  return Math.ceil(base / step) * step;
}

/** The home bucket of a unit named `name` among `buckets`. */
export function homeOf(name: string, buckets: number): number {
  return murmur(utf8(name), GRID_SEED) % buckets;
}

/** Throws PORTICO_E_TABLE_INVALID unless S and R make a grid (S a power of two ≥ 1 KiB, R ≥ 1). */
export function checkOptions(options: GridOptions): void {
  const { bucketBytes: s, bucketRoutes: r } = options;
  if (!Number.isInteger(s) || s < 1024 || s > 1 << 20 || (s & (s - 1)) !== 0) gridInvalid('options.bucketBytes', `${String(s)} is not a power of two in [1 KiB, 1 MiB]`);
  if (!Number.isInteger(r) || r < 1 || r > 1 << 16) gridInvalid('options.bucketRoutes', `${String(r)} is not in [1, 65536]`);
}

/**
 * Bucket `b` packed with `members` (its homed units, in unit order; `sizeOf` gives their sizes):
 * each placed unit's offset and first id; the units it does not hold are pushed on `overflow`, in
 * order. planGrid packs every bucket so; a compiler that changed a few units' sizes re-packs
 * their buckets alone to learn whether the plan moved.
 */
export function packBucket(members: readonly number[], sizeOf: (u: number) => UnitSize, b: number, options: GridOptions, overflow: number[]): { u: number; at: number; firstRoute: number }[] {
  const { bucketBytes: size, bucketRoutes: perBucket } = options;
  const placed: { u: number; at: number; firstRoute: number }[] = [];
  let used = 0;
  let routes = 0;
  let full = false;
  for (const u of members) {
    const unit = sizeOf(u);
    if (unit.bytes > size / 2 || unit.routes > perBucket) {
      overflow.push(u);
      continue;
    }
    // Stop at the first that does not fit: what a bucket holds then depends on its own units alone.
    full ||= used + unit.bytes > size || routes + unit.routes > perBucket;
    if (full) {
      overflow.push(u);
      continue;
    }
    placed.push({ u, at: used, firstRoute: b * perBucket + routes });
    used += unit.bytes;
    routes += unit.routes;
  }
  return placed;
}

/** Size classes per doubling of an overflow unit's extent: 4, so 25 % steps (a big host's path added stays in its class ~93 % of the time). */
const OVERFLOW_CLASS_STEPS = 4;

/**
 * The extent an overflow unit of `bytes` and `routes` takes in the overflow area: its bytes and its
 * route ids each rounded up to their size class (area.ts extentBytes; ids as 8-byte units). A
 * function of the unit's size alone: the room past its records is zeros, the ids past its routes
 * name the shared empty record.
 */
export function overflowExtent(bytes: number, routes: number): { readonly bytes: number; readonly routes: number } {
  return { bytes: extentBytes(bytes, OVERFLOW_CLASS_STEPS), routes: extentBytes(routes * 8, OVERFLOW_CLASS_STEPS) / 8 };
}

/** The plan of `units` (in snapshot host order). */
export function planGrid(units: readonly UnitSize[], options: GridOptions = GRID): GridPlan {
  checkOptions(options);
  const perBucket = options.bucketRoutes;
  let total = 0;
  for (const unit of units) total += unit.bytes;
  const buckets = bucketCount(total, options);
  const homed: number[][] = Array.from({ length: buckets }, () => []);
  const home = new Int32Array(units.length);
  const unitBytes = new Uint32Array(units.length);
  const unitRoutes = new Uint32Array(units.length);
  units.forEach((unit, u) => {
    home[u] = homeOf(unit.name, buckets);
    unitBytes[u] = unit.bytes;
    unitRoutes[u] = unit.routes;
    homed[home[u]!]!.push(u);
  });
  const bucket = new Int32Array(units.length).fill(-1);
  const at = new Uint32Array(units.length);
  const firstRoute = new Uint32Array(units.length);
  const overflow: number[] = [];
  homed.forEach((members, b) => {
    for (const { u, at: offset, firstRoute: first } of packBucket(members, (u) => units[u]!, b, options, overflow)) {
      bucket[u] = b;
      at[u] = offset;
      firstRoute[u] = first;
    }
  });
  const catchAll = buckets * perBucket;
  let next = catchAll + 1;
  let overflowBytes = 0;
  for (const u of overflow) {
    const extent = overflowExtent(units[u]!.bytes, units[u]!.routes);
    at[u] = overflowBytes;
    firstRoute[u] = next;
    overflowBytes += extent.bytes;
    next += extent.routes;
  }
  return { options, buckets, bucket, at, firstRoute, overflow: Uint32Array.from(overflow), overflowBytes, catchAll, routeCount: next, home, unitBytes, unitRoutes, totalBytes: total };
}
