// The endpoint area's buckets and overflow tail (table format 6; docs/proposals/endpoint-area.md,
// test 1). patchEndpointArea against the full assembly over random sets and random edits, on a
// tiny geometry that makes buckets overflow often: a patch is given exactly when the bucket count
// stays, and then its bytes are the full assembly's and wasm loads them. On the format's geometry:
// a one-set edit writes at most two blocks (its bucket's and its index slice's), and a big set
// scaling within its size class writes its extent alone.
import { describe, expect, it } from 'vitest';
import { TABLE_BLOCK_BYTES, TableBlocks, encodeChunk } from '../src/host/encode.ts';
import { gridOf } from './grid-support.ts';
import type { LaidOutTable } from '../src/host/encode.ts';
import { AREA_GEOMETRY, bucketCountOf, extentBytes, patchEndpointArea, setRecordBytes } from '../src/host/area.ts';
import type { AreaGeometry } from '../src/host/area.ts';
import { Header } from '../src/host/layout.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { RouteEntry } from '../src/host/table.ts';
import { lcg } from './slot-support.ts';

/** 8 sets a bucket of 256 bytes (about 3 endpoints each), records over 96 bytes (11 endpoints) overflow, classes in 50 % steps. */
const TINY: AreaGeometry = { bucketBytes: 256, bucketShift: 3, setMax: 96, classSteps: 2 };
/** One route on set 0 (never taken away): a loaded table answers picks from it. */
const ROUTES: readonly RouteEntry[] = [{ backends: [{ weight: 1, set: 0 }] }];

/** The full assembly of `sets` (the routes a unit without hosts), laid out as a patch starts from. */
function laidOut(sets: readonly (readonly number[])[], endpointCount: number, geometry: AreaGeometry): LaidOutTable & { flat: Uint8Array } {
  const { table, layout, routes } = gridOf([{ name: 'routes', chunk: encodeChunk([], ROUTES.length), routes: ROUTES }], sets, endpointCount, { area: geometry });
  return { flat: table, table: TableBlocks.of(table), layout, chunks: [], routes, sets, endpointCount, fallback: -1 };
}

/** patchEndpointArea as patchOwnChunks applies it (the endpoint count in the header is the caller's), as a LaidOutTable. */
function patched(previous: LaidOutTable, sets: readonly (readonly number[])[], changed: readonly number[], endpointCount: number): LaidOutTable | undefined {
  const area = patchEndpointArea(previous, sets, changed, endpointCount);
  if (area === undefined) return undefined;
  const edit = area.table.edit();
  edit.setWord(Header.ENDPOINT_COUNT >>> 2, endpointCount);
  return { ...previous, table: edit.done(), layout: { ...previous.layout, area: area.area }, sets, endpointCount };
}

const OPS = ['grow', 'shrink', 'move', 'growBig', 'addSet', 'removeSet', 'renumber', 'countShrinks'] as const;

describe('patchEndpointArea == the full assembly (tiny buckets, overflow)', () => {
  it.each([
    { seed: 1, sets: 1000, steps: 300 },
    { seed: 2, sets: 60, steps: 400 },
    { seed: 3, sets: 9, steps: 300 },
  ])('seed $seed: $sets sets, $steps random edits', ({ seed, sets: setCount, steps }) => {
    const random = lcg(seed);
    let endpointCount = 400;
    const draw = (length: number): number[] => Array.from({ length }, () => random(endpointCount));
    // Mostly small sets, some past the bucket's limit, a few empty.
    const size = (): number => (random(10) === 0 ? 12 + random(20) : random(6));
    let sets: (readonly number[])[] = Array.from({ length: setCount }, () => draw(size()));
    let previous: LaidOutTable = laidOut(sets, endpointCount, TINY);
    const tally: Record<string, number> = {};
    for (let step = 1; step <= steps; step++) {
      const op = OPS[random(OPS.length)]!;
      const id = random(sets.length);
      const set = sets[id]!;
      const changed: number[] = [];
      const replace = (at: number, next: readonly number[]): void => {
        sets = sets.with(at, next);
        changed.push(at);
      };
      if (op === 'grow') replace(id, [...set, random(endpointCount)]);
      else if (op === 'shrink') replace(id, set.slice(0, -1));
      else if (op === 'move') replace(id, draw(set.length));
      else if (op === 'growBig') {
        const big = sets.findIndex((s) => setRecordBytes(s.length) > TINY.setMax);
        if (big < 0) replace(id, draw(13));
        else replace(big, [...sets[big]!, random(endpointCount)]);
      } else if (op === 'addSet') sets = [...sets, draw(size())];
      else if (op === 'removeSet') {
        if (sets.length < 2) continue;
        sets = sets.slice(0, -1);
      } else if (op === 'renumber') {
        // Dense ids renumbered from a threshold on (an endpoint added before them): every set naming one is a new array.
        const from = random(endpointCount);
        endpointCount++;
        sets.forEach((s, at) => s.some((e) => e >= from) && replace(at, s.map((e) => (e >= from ? e + 1 : e))));
      } else {
        // The count shrinks to what the sets name: no set changes, the buckets' largest ids say none is past it.
        endpointCount = Math.max(1, ...sets.flat()) + 1;
      }
      // A caller may list a set that did not change: it is re-packed to the same bytes.
      if (random(4) === 0) changed.push(random(sets.length));
      const what = `step ${step}: ${op}`;
      const full = laidOut(sets, endpointCount, TINY);
      const result = patched(previous, sets, changed, endpointCount);
      const moved = bucketCountOf(sets.length, TINY) !== previous.layout.area.bucketCount;
      tally[`${op}: ${moved ? 'refused' : 'patched'}`] = (tally[`${op}: ${moved ? 'refused' : 'patched'}`] ?? 0) + 1;
      if (moved) {
        expect(result, `${what}: the bucket count changed, so no patch`).toBeUndefined();
        previous = full;
        continue;
      }
      expect(result, `${what}: the bucket count stayed, so a patch must be given`).toBeDefined();
      expect(Buffer.from(result!.table.bytes()).equals(Buffer.from(full.flat)), `${what}: the patched bytes are the full assembly's`).toBe(true);
      expect(result!.layout, what).toEqual(full.layout);
      if (step % 10 === 0) {
        // wasm accepts every layout the encoder makes (records inside their region, none overlapping) and picks from set 0.
        const matcher = loadMatcherFromBinary(result!.table.bytes());
        const pick = matcher.pick(0);
        expect(pick === -1 ? sets[0]!.length : sets[0]!.indexOf(pick), what).toBeGreaterThanOrEqual(0);
      }
      previous = result!;
    }
    for (const op of ['grow', 'shrink', 'move', 'growBig', 'renumber', 'countShrinks']) expect(tally[`${op}: patched`] ?? 0, `${op} in ${JSON.stringify(tally)}`).toBeGreaterThan(0);
    // Some edits overflowed a bucket: the tail is exercised, not just the buckets.
    expect(previous.layout.area.overflow.length).toBeGreaterThan(0);
  }, 60_000);

  it('refuses a count shrunk past an unchanged set\'s endpoint id, naming the set', () => {
    const sets = [[0], [1], [5], [2]];
    const previous = laidOut(sets, 6, TINY);
    expect(() => patchEndpointArea(previous, sets, [], 5)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/sets\[2\]\[0\]/) }));
    expect(() => patchEndpointArea(previous, sets, [7], 6)).toThrow(RangeError);
  });

  it('refuses an added set naming an endpoint id past the count, listed as changed or not, and the table it was given is unchanged', () => {
    const sets = [[0], [1], [2], [3]];
    const previous = laidOut(sets, 6, TINY);
    const before = Buffer.from(previous.table.bytes());
    const added = [...sets, [999]];
    for (const changed of [[], [4]]) {
      expect(() => patchEndpointArea(previous, added, changed, 6), `changed ${JSON.stringify(changed)}`).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/sets\[4\]\[0\]/) }));
    }
    expect(Buffer.from(previous.table.bytes()).equals(before)).toBe(true);
    // A valid added set, unlisted, patches to the full assembly's bytes.
    const valid = [...sets, [5]];
    expect(Buffer.from(patched(previous, valid, [], 6)!.table.bytes()).equals(Buffer.from(laidOut(valid, 6, TINY).flat))).toBe(true);
  });
});

describe('patchEndpointArea on the format geometry: what a one-set edit writes', () => {
  const random = lcg(7);
  // 6,000 sets of 1 to 6 endpoints (a bucket of 64 such never overflows) and a few over 2 KiB (the overflow tail).
  const endpointCount = 20_000;
  const bigAt = [100, 3000, 5999];
  const sets: (readonly number[])[] = Array.from({ length: 6000 }, (_, id) => Array.from({ length: bigAt.includes(id) ? 300 : 1 + random(6) }, () => random(endpointCount)));
  const previous = laidOut(sets, endpointCount, AREA_GEOMETRY);

  /** The blocks of `next` that are not `previous`'s objects. */
  const written = (next: LaidOutTable): number[] => next.table.blocks.flatMap((block, b) => (block === previous.table.blocks[b] ? [] : [b]));
  const blockOf = (at: number): number => Math.floor(at / TABLE_BLOCK_BYTES);

  it('lays the area out in buckets aligned to their size, the big sets in the overflow tail', () => {
    expect(previous.layout.areaAt % AREA_GEOMETRY.bucketBytes).toBe(0);
    expect(previous.layout.area.bucketCount).toBe(Math.ceil(6000 / 64));
    expect(previous.layout.area.overflow).toEqual(bigAt);
  });

  it.each([
    { name: 'a set grows', id: 2500, next: (set: readonly number[]) => [...set, 1] },
    { name: 'a set shrinks', id: 4100, next: (set: readonly number[]) => set.slice(0, -1) },
    { name: 'a set\'s endpoints renumbered', id: 17, next: (set: readonly number[]) => set.map((e) => (e + 1) % endpointCount) },
  ])('$name: its bucket\'s block and its index slice\'s, no other', ({ id, next }) => {
    const after = sets.with(id, next(sets[id]!));
    const result = patched(previous, after, [id], endpointCount)!;
    expect(Buffer.from(result.table.bytes()).equals(Buffer.from(laidOut(after, endpointCount, AREA_GEOMETRY).flat))).toBe(true);
    const bucketAt = previous.layout.areaAt + (id >> AREA_GEOMETRY.bucketShift) * AREA_GEOMETRY.bucketBytes;
    const allowed = new Set([blockOf(bucketAt), blockOf(previous.layout.setIndexAt + id * 4)]);
    expect(written(result).length).toBeLessThanOrEqual(2);
    for (const b of written(result)) expect(allowed.has(b), `block ${b}`).toBe(true);
  });

  it('a big set scaling within its size class writes its extent alone (its index entry and every other block kept)', () => {
    const id = bigAt[1]!;
    const grown = [...sets[id]!, 2];
    expect(extentBytes(setRecordBytes(grown.length), AREA_GEOMETRY.classSteps)).toBe(extentBytes(setRecordBytes(sets[id]!.length), AREA_GEOMETRY.classSteps));
    const after = sets.with(id, grown);
    const result = patched(previous, after, [id], endpointCount)!;
    expect(Buffer.from(result.table.bytes()).equals(Buffer.from(laidOut(after, endpointCount, AREA_GEOMETRY).flat))).toBe(true);
    const at = previous.table.word((previous.layout.setIndexAt >>> 2) + id);
    const extent = extentBytes(setRecordBytes(grown.length), AREA_GEOMETRY.classSteps);
    expect(written(result).length).toBeGreaterThan(0);
    for (const b of written(result)) expect(b >= blockOf(at) && b <= blockOf(at + extent - 1), `block ${b}`).toBe(true);
  });

  it('a big set past its class re-packs the tail from its extent on: the table grows, the buckets keep their blocks', () => {
    const id = bigAt[0]!;
    const grown = [...sets[id]!, ...Array.from({ length: 60 }, () => 3)];
    const after = sets.with(id, grown);
    const result = patched(previous, after, [id], endpointCount)!;
    const full = laidOut(after, endpointCount, AREA_GEOMETRY);
    expect(Buffer.from(result.table.bytes()).equals(Buffer.from(full.flat))).toBe(true);
    expect(result.table.length).toBeGreaterThan(previous.table.length);
    const overflowAt = previous.layout.areaAt + previous.layout.area.bucketCount * AREA_GEOMETRY.bucketBytes;
    for (let b = 1; b < blockOf(overflowAt); b++) if (b !== blockOf(previous.layout.setIndexAt + id * 4) && b !== blockOf(previous.layout.setIndexAt + bigAt[1]! * 4) && b !== blockOf(previous.layout.setIndexAt + bigAt[2]! * 4)) expect(result.table.blocks[b], `block ${b}`).toBe(previous.table.blocks[b]);
  });
});
