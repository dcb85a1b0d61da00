// The endpointSets part's digest by blocks of sets: a list made from the last one (the compiler's
// next numbering, a worker's list after a delta) hashes only the blocks that are not the last
// list's arrays, and always gives the digest of the list hashed from nothing.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { SetList } from './bundle-sets.ts';
import { SET_BLOCK, knownSetDigests, setBlocksEdit, setListAfter, setsDigest } from './bundle-sets.ts';
import { lcg } from './test-support.ts';

const sha = (text: string): Buffer => createHash('sha256').update(text).digest();

/** The part digest as docs/control-api.md spells it: SHA-256 over the SHA-256 of the JSON of each block of SET_BLOCK sets. */
function spelled(sets: SetList): string {
  const blocks: Buffer[] = [];
  for (let from = 0; from < sets.length; from += SET_BLOCK) blocks.push(sha(JSON.stringify(sets.slice(from, from + SET_BLOCK))));
  return createHash('sha256').update(Buffer.concat(blocks)).digest('hex');
}

/** A deep copy: the same content, no array shared, no digest known. */
const copy = (sets: SetList): SetList => sets.map((set) => [...set]);

describe('setsDigest', () => {
  it('property: over random edits of a list of several blocks, the digest from the last list is the one spelled out and the one of a copy, hashing only the blocks with a new array', () => {
    const random = lcg(8);
    const draw = (n: number) => Math.floor(random() * n);
    let sets: SetList = Array.from({ length: 3 * SET_BLOCK + 17 }, (_, s) => [s, s + 1]);
    expect(setsDigest(sets)).toBe(spelled(sets));
    for (let step = 0; step < 40; step++) {
      const next = sets.slice();
      const edits = 1 + draw(3);
      const touched = new Set<number>();
      for (let e = 0; e < edits; e++) {
        const at = draw(next.length);
        next[at] = [draw(9000), draw(9000)];
        touched.add(Math.floor(at / SET_BLOCK));
      }
      const hashed: number[] = [];
      const digest = setsDigest(next, sets, hashed);
      expect(digest, `step ${step}`).toBe(spelled(next));
      expect(digest, `step ${step}`).toBe(setsDigest(copy(next)));
      expect(hashed, `step ${step}`).toEqual([...touched].sort((a, b) => a - b));
      sets = next;
    }
  });

  it('a list of another length, or one of no known ancestor, is hashed whole; the empty list has no block', () => {
    const sets: SetList = Array.from({ length: 2 * SET_BLOCK + 1 }, (_, s) => [s]);
    setsDigest(sets);
    const shorter = sets.slice(1);
    const hashed: number[] = [];
    expect(setsDigest(shorter, sets, hashed)).toBe(spelled(shorter));
    expect(hashed).toEqual([0, 1]);
    expect(knownSetDigests(copy(sets)).every((digest) => digest === undefined)).toBe(true);
    expect(setsDigest([])).toBe(createHash('sha256').digest('hex'));
  });
});

describe('setBlocksEdit / setListAfter (the endpoint sets of a worker delta)', () => {
  const base: SetList = Array.from({ length: 2 * SET_BLOCK + 5 }, (_, s) => [s, s + 1]);
  setsDigest(base);

  it('carries the blocks with a new array; the list made of it shares every other array and hashes the carried blocks alone', () => {
    const next = base.slice();
    next[SET_BLOCK + 3] = [7, 8, 9];
    const edit = setBlocksEdit(base, next)!;
    expect(edit.at).toEqual([1]);
    const made = setListAfter(base, structuredClone(edit));
    expect(made).toEqual(next);
    expect(made[0]).toBe(base[0]);
    expect(made[2 * SET_BLOCK]).toBe(base[2 * SET_BLOCK]);
    const hashed: number[] = [];
    expect(setsDigest(made, undefined, hashed)).toBe(spelled(next));
    expect(hashed).toEqual([1]);
    expect(setBlocksEdit(base, base.slice(1))).toBeUndefined();
  });

  it('hostile: an edit of another length, a block out of the base or of the wrong size, a set that is no array is refused', () => {
    const block = base.slice(SET_BLOCK, 2 * SET_BLOCK);
    const cases: [string, Parameters<typeof setListAfter>[1], RegExp][] = [
      ['another length', { length: base.length + 1, at: [], blocks: [] }, new RegExp(`edit is of ${base.length + 1} sets, the base has ${base.length}`)],
      ['a block past the end', { length: base.length, at: [3], blocks: [block] }, /block 3 does not fit/],
      ['a negative block', { length: base.length, at: [-1], blocks: [block] }, /block -1 does not fit/],
      ['a short block', { length: base.length, at: [1], blocks: [block.slice(1)] }, /block 1 does not fit/],
      ['the last block too long', { length: base.length, at: [2], blocks: [block.slice(0, 6)] }, /block 2 does not fit/],
      ['a set that is no array', { length: base.length, at: [1], blocks: [[...block.slice(1), 'x' as unknown as number[]]] }, new RegExp(`endpointSets\\[${2 * SET_BLOCK - 1}\\]: not an array`)],
    ];
    for (const [name, edit, error] of cases) expect(() => setListAfter(base, edit), name).toThrow(error);
  });
});
