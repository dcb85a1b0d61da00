/**
 * The endpoint area (table format 6): where each endpoint set's record lies, and patching it.
 *
 * The area is buckets, then an overflow tail (layout.ts EndpointArea). Set id i's record lies in
 * bucket i >> bucketShift, its bucket's sets packed in id order from the bucket's start; a record
 * over `setMax` bytes, the first that does not fit and every later set of its bucket lie in the
 * overflow tail, packed by id, each in an extent of its size class. Every placement is a function
 * of the sets alone (no free list, no history): the same sets give the same bytes on every replica.
 *
 * So a set that grows or shrinks rewrites its bucket (one block of the table) and the bucket's
 * slice of the set index; a big set scaling within its class rewrites its extent alone. The set
 * index has a word per set id of every bucket (zero past the last set), so a set added or taken
 * away within the last bucket moves nothing either: the area moves only when the bucket count does.
 */
import type { TableBlocks } from './blocks.ts';
import type { ItemList } from './pages.ts';
import { Endpoint, EndpointArea, Header, SetRecord } from './layout.ts';
import { checkSet } from './validate.ts';

/** An area's geometry: the format's (AREA_GEOMETRY); a test passes a tiny one to force overflow. */
export interface AreaGeometry {
  /** Bytes per bucket: a power of two, at least 8, dividing the table's block size. */
  readonly bucketBytes: number;
  /** Set ids per bucket, as a shift: set i lies in bucket i >> bucketShift. */
  readonly bucketShift: number;
  /** The largest set record a bucket takes (bytes); a larger one lies in the overflow tail. */
  readonly setMax: number;
  /** Size classes of overflow extents per doubling of their size (a power of two: 8 gives 12.5 % steps). */
  readonly classSteps: number;
}

/** The format's geometry. */
export const AREA_GEOMETRY: AreaGeometry = {
  bucketBytes: EndpointArea.BUCKET_BYTES,
  bucketShift: EndpointArea.BUCKET_SHIFT,
  setMax: EndpointArea.SET_MAX,
  classSteps: EndpointArea.CLASS_STEPS,
};

/** Where an area's sets lie beyond what its index says: what a patch needs to re-pack a few buckets. */
export interface AreaLayout {
  readonly geometry: AreaGeometry;
  readonly bucketCount: number;
  /** The sets in the overflow tail, by id (ascending). */
  readonly overflow: readonly number[];
  /** The overflow tail's length in bytes (the sum of its extents). */
  readonly overflowBytes: number;
  /** Per bucket: the largest endpoint id its sets name (wherever their records lie), -1 for none. */
  readonly maxIds: Int32Array;
}

/** The bytes of the record of a set of `count` endpoints. */
export function setRecordBytes(count: number): number {
  return SetRecord.SLOTS + count * Endpoint.SIZE;
}

/** Buckets of an area of `setCount` sets. */
export function bucketCountOf(setCount: number, geometry: AreaGeometry): number {
  return (setCount + (1 << geometry.bucketShift) - 1) >>> geometry.bucketShift;
}

/** Words of the set index of an area of `bucketCount` buckets: one per set id of every bucket. */
export function indexWordsOf(bucketCount: number, geometry: AreaGeometry): number {
  return bucketCount << geometry.bucketShift;
}

/**
 * The overflow extent of a record of `bytes`: its size rounded up to its size class, `steps` per
 * doubling (in 8-byte units: exact up to `steps` units, then to 1/steps of the power of two below).
 * A function of the size alone, so a set scaling within its class keeps its extent and moves nothing.
 */
export function extentBytes(bytes: number, steps: number): number {
  const units = Math.ceil(bytes / 8);
  const grain = units <= steps ? 1 : 2 ** Math.max(0, 32 - Math.clz32(units - 1) - Math.log2(steps) - 1);
  return Math.ceil(units / grain) * grain * 8;
}

/** The overflow extent of `set`'s record under `geometry`: where the tail is laid out, planned and patched alike. */
function extentOf(set: readonly number[], geometry: AreaGeometry): number {
  return extentBytes(setRecordBytes(set.length), geometry.classSteps);
}

const ID_WORD = Endpoint.ID >>> 2;
const SLOT_WORDS = Endpoint.SIZE >>> 2;

/** Writes `set`'s record at word `at` of `words` (CURRENT fields left zero: the initial WRR state). */
function writeRecord(words: Uint32Array, at: number, set: readonly number[]): void {
  words[at + (SetRecord.COUNT >>> 2)] = set.length;
  const slots = at + (SetRecord.SLOTS >>> 2) + ID_WORD;
  for (let k = 0; k < set.length; k++) words[slots + k * SLOT_WORDS] = set[k]!;
}

/**
 * Packs bucket `b` of `sets`: calls `place(id, at)` for each set its bucket takes (`at`: bytes from
 * the bucket's start), writing the record at word `base` + at / 4 of `words` when given, and
 * appends the others' ids to `overflow`. Returns the largest endpoint id its sets name (-1: none).
 */
function packBucket(sets: ItemList<readonly number[]>, b: number, geometry: AreaGeometry, overflow: number[], place: (id: number, at: number) => void, words?: Uint32Array, base = 0): number {
  const first = b << geometry.bucketShift;
  const end = Math.min(sets.length, first + (1 << geometry.bucketShift));
  let at = 0;
  let full = false;
  let max = -1;
  for (let id = first; id < end; id++) {
    const set = sets.at(id)!;
    for (let k = 0; k < set.length; k++) if (set[k]! > max) max = set[k]!;
    const bytes = setRecordBytes(set.length);
    // A big set goes alone (the bucket's later sets stay); the first that does not fit takes the rest with it, so a bucket holds a prefix of its small sets.
    if (bytes > geometry.setMax) overflow.push(id);
    else if (full || at + bytes > geometry.bucketBytes) {
      full = true;
      overflow.push(id);
    } else {
      if (words !== undefined) writeRecord(words, base + (at >>> 2), set);
      place(id, at);
      at += bytes;
    }
  }
  return max;
}

const nowhere = (): void => {};

/** The layout of the area of `sets` (which sets overflow, the tail's length): what assemble sizes the table by. */
export function planArea(sets: ItemList<readonly number[]>, geometry: AreaGeometry): AreaLayout {
  const bucketCount = bucketCountOf(sets.length, geometry);
  const overflow: number[] = [];
  const maxIds = new Int32Array(bucketCount);
  for (let b = 0; b < bucketCount; b++) maxIds[b] = packBucket(sets, b, geometry, overflow, nowhere);
  let overflowBytes = 0;
  for (const id of overflow) overflowBytes += extentOf(sets.at(id)!, geometry);
  return { geometry, bucketCount, overflow, overflowBytes, maxIds };
}

/**
 * Writes the area `plan` lays out for `sets` into a fresh (zeroed) table `words`: the records, at
 * `areaAt` (aligned to the bucket size) and in the overflow tail after the buckets, and their
 * offsets to the set index at `setIndexAt`.
 */
export function writeArea(words: Uint32Array, setIndexAt: number, areaAt: number, sets: ItemList<readonly number[]>, plan: AreaLayout): void {
  const { geometry } = plan;
  const index = setIndexAt >>> 2;
  for (let b = 0; b < plan.bucketCount; b++) {
    const bucketAt = areaAt + b * geometry.bucketBytes;
    packBucket(sets, b, geometry, [], (id, at) => void (words[index + id] = bucketAt + at), words, bucketAt >>> 2);
  }
  let at = areaAt + plan.bucketCount * geometry.bucketBytes;
  for (const id of plan.overflow) {
    const set = sets.at(id)!;
    words[index + id] = at;
    writeRecord(words, at >>> 2, set);
    at += extentOf(set, geometry);
  }
}

/** What patchEndpointArea reads of the table it patches (a LaidOutTable is one). */
export interface PatchableArea {
  readonly table: TableBlocks;
  readonly layout: { readonly setIndexAt: number; readonly areaAt: number; readonly area: AreaLayout };
  readonly sets: ItemList<readonly number[]>;
  readonly endpointCount: number;
}

/** Ids of two ascending lists, merged ascending. */
function merged(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) out.push(j >= b.length || (i < a.length && a[i]! < b[j]!) ? a[i++]! : b[j++]!);
  return out;
}

/**
 * The table `previous` with the area of `sets` (by set id; endpoint ids below `endpointCount`),
 * where `changed` lists every set id whose set is not `previous.sets`' item (by identity; ids added
 * or taken away count as changed whether listed or not): the buckets of those sets re-packed and
 * their index slices written, and the overflow tail re-packed from the first extent that moved —
 * the bytes writeArea gives (the property tests hold them equal). Blocks not written are
 * `previous.table`'s; the header's SET_COUNT, OVERFLOW_LEN and LENGTH follow, ENDPOINT_COUNT is the
 * caller's. Undefined only when the bucket count changes (every later section moves: the caller
 * assembles). Throws PORTICO_E_TABLE_INVALID naming a changed or added set with an endpoint id past
 * `endpointCount` (any set when the count shrank), RangeError for a changed id out of range.
 */
export function patchEndpointArea(previous: PatchableArea, sets: ItemList<readonly number[]>, changed: readonly number[], endpointCount: number): { table: TableBlocks; area: AreaLayout } | undefined {
  const { setIndexAt, areaAt, area } = previous.layout;
  const geometry = area.geometry;
  const shift = geometry.bucketShift;
  if (bucketCountOf(sets.length, geometry) !== area.bucketCount) return undefined;
  const before = previous.sets;
  const ids = Math.max(sets.length, before.length);
  const touched = new Set<number>();
  for (const id of changed) {
    if (!Number.isInteger(id) || id < 0 || id >= ids) throw new RangeError(`changed set id ${id} is outside the ${ids} sets`);
    if (id < sets.length) checkSet(sets.at(id)!, id, endpointCount);
    touched.add(id >>> shift);
  }
  for (let id = Math.min(sets.length, before.length); id < ids; id++) {
    // An added set is checked like a listed one: it is written whether the caller named it or not.
    if (id < sets.length) checkSet(sets.at(id)!, id, endpointCount);
    touched.add(id >>> shift);
  }
  const maxIds = touched.size === 0 ? area.maxIds : area.maxIds.slice();
  // Each run of touched buckets re-packed off the table (one write of each: a scale of half the sets is one run, not hundreds): their bytes, their index slice, their sets that overflow.
  const runs: { readonly first: number; readonly bytes: Uint8Array; readonly slice: Uint32Array; readonly overflow: number[] }[] = [];
  const order = [...touched].sort((x, y) => x - y);
  for (let i = 0; i < order.length; ) {
    let j = i + 1;
    while (j < order.length && order[j] === order[j - 1]! + 1) j++;
    const first = order[i]!;
    const bytes = new Uint8Array((j - i) * geometry.bucketBytes);
    const words = new Uint32Array(bytes.buffer);
    const slice = new Uint32Array((j - i) << shift);
    const overflow: number[] = [];
    for (let b = first; b < first + j - i; b++) {
      const bucketAt = (b - first) * geometry.bucketBytes;
      maxIds[b] = packBucket(sets, b, geometry, overflow, (id, at) => void (slice[id - (first << shift)] = areaAt + first * geometry.bucketBytes + bucketAt + at), words, bucketAt >>> 2);
    }
    runs.push({ first, bytes, slice, overflow });
    i = j;
  }
  if (endpointCount < previous.endpointCount) {
    // An unchanged set may name an id past a count that shrank: the buckets' largest ids say which to check.
    for (let b = 0; b < area.bucketCount; b++) {
      if (maxIds[b]! < endpointCount) continue;
      for (let id = b << shift; id < Math.min(sets.length, (b + 1) << shift); id++) checkSet(sets.at(id)!, id, endpointCount);
    }
  }
  const overflowAt = areaAt + area.bucketCount * geometry.bucketBytes;
  const overflow = merged(area.overflow.filter((id) => !touched.has(id >>> shift)), runs.flatMap((run) => run.overflow));
  // The extents before `k` are where they were (the same sets, the same classes); from `k` on the tail is re-packed.
  let k = 0;
  while (k < overflow.length && k < area.overflow.length && overflow[k] === area.overflow[k] && extentOf(sets.at(overflow[k]!)!, geometry) === extentOf(before.at(overflow[k]!)!, geometry)) k++;
  const word = (id: number): number => previous.table.word((setIndexAt >>> 2) + id);
  const start = k < area.overflow.length ? word(area.overflow[k]!) : overflowAt + area.overflowBytes;
  const offsets = new Map<number, number>();
  let end = start;
  for (let j = k; j < overflow.length; j++) {
    offsets.set(overflow[j]!, end);
    end += extentOf(sets.at(overflow[j]!)!, geometry);
  }
  const tail = new Uint8Array(end - start);
  const tailWords = new Uint32Array(tail.buffer);
  for (const [id, at] of offsets) writeRecord(tailWords, (at - start) >>> 2, sets.at(id)!);
  const overflowBytes = end - overflowAt;
  // The tail is the table's last section: one that changed length is spliced in, the rest of the table kept.
  let table = previous.table;
  if (overflowBytes !== area.overflowBytes) table = table.splice(start, tail, 0);
  const edit = table.edit();
  if (overflowBytes !== area.overflowBytes) {
    edit.setWord(Header.LENGTH >>> 2, table.length);
    edit.setWord(Header.OVERFLOW_LEN >>> 2, overflowBytes);
  } else if (tail.length > 0) edit.set(tail, start);
  edit.setWord(Header.SET_COUNT >>> 2, sets.length);
  // A changed set whose extent stayed where it was: the extent rewritten whole (its padding zero, as written afresh).
  for (let j = 0; j < k; j++) {
    const id = overflow[j]!;
    if (sets.at(id) === before.at(id)) continue;
    const extent = new Uint8Array(extentOf(sets.at(id)!, geometry));
    writeRecord(new Uint32Array(extent.buffer), 0, sets.at(id)!);
    edit.set(extent, word(id));
  }
  for (const { first, bytes, slice, overflow: spilled } of runs) {
    for (const id of spilled) slice[id - (first << shift)] = offsets.get(id) ?? word(id);
    edit.set(bytes, areaAt + first * geometry.bucketBytes);
    edit.set(new Uint8Array(slice.buffer), setIndexAt + (first << shift) * 4);
  }
  for (const [id, at] of offsets) edit.setWord((setIndexAt >>> 2) + id, at);
  return { table: edit.done(), area: { geometry, bucketCount: area.bucketCount, overflow, overflowBytes, maxIds } };
}
