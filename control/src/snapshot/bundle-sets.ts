/**
 * The bundle's `endpointSets` part (the table's sets that are not empty, as endpoint id arrays)
 * and its digest. The digest is SHA-256 over the SHA-256 (32 bytes each, in order) of the JSON of
 * each block of SET_BLOCK sets (`JSON.stringify` of the block's sets as one array), like the
 * table's and the line texts'. A move or a scale changes a few sets in place: a list made from the
 * last one (the compiler's next numbering, a worker's list after a delta) hashes again only the
 * blocks holding a set that is not the last list's very array, not the JSON of every set (10,000
 * sets at 50,000 Ingresses in bench:fleet's world).
 */
import { blockDigest, blocksDigestOf } from './bundle-lines.ts';

/**
 * Endpoint sets per hashed block. Small: a move changes the sets naming the keys its probe cluster
 * moved, anywhere in the list (4 to 27 of 10,000 at 50,000 Ingresses), and each costs its block.
 */
export const SET_BLOCK = 64;

/** A bundle's endpoint sets (TableBundle.endpointSets). */
export type SetList = readonly (readonly number[])[];

/** The digests of each block of a list whose digest was worked out, by list (lists are immutable once made, like their arrays). */
const digestsOf = new WeakMap<SetList, readonly Buffer[]>();

/** The list a list was made from (`setListAfter`): its blocks whose arrays are all that list's have its digests. */
const madeFrom = new WeakMap<SetList, SetList>();

/** Blocks of `sets`. */
export function setBlockCount(sets: SetList): number {
  return Math.ceil(sets.length / SET_BLOCK);
}

/** The sets of block `b` of `sets`. */
export function setBlock(sets: SetList, b: number): SetList {
  return sets.slice(b * SET_BLOCK, (b + 1) * SET_BLOCK);
}

/** Whether block `b` of `sets` and of `before` hold the same arrays (so the same JSON). */
function sameBlock(sets: SetList, before: SetList, b: number): boolean {
  const to = Math.min((b + 1) * SET_BLOCK, sets.length);
  if (to !== Math.min((b + 1) * SET_BLOCK, before.length)) return false;
  for (let i = b * SET_BLOCK; i < to; i++) if (sets[i] !== before[i]) return false;
  return true;
}

/**
 * The block digests of `sets` known without hashing: all of them when its digest was worked out
 * before, else those of the blocks it shares (the same arrays) with `before` (default: the list it
 * was made from), undefined for the others. Costs a comparison of references, no JSON.
 */
export function knownSetDigests(sets: SetList, before: SetList | undefined = madeFrom.get(sets)): (Buffer | undefined)[] {
  const known = digestsOf.get(sets);
  if (known !== undefined) return known.slice();
  const count = setBlockCount(sets);
  const digests = new Array<Buffer | undefined>(count).fill(undefined);
  const old = before === undefined ? undefined : digestsOf.get(before);
  if (old === undefined) return digests;
  for (let b = 0; b < count; b++) if (b < old.length && sameBlock(sets, before!, b)) digests[b] = old[b];
  return digests;
}

/** The digest of block `b` of `sets` (its sets' JSON hashed). */
export function hashSetBlock(sets: SetList, b: number): Buffer {
  return blockDigest(JSON.stringify(setBlock(sets, b)));
}

/** The part digest (hex) of `sets` from every block's digest, remembered for the list (a list made from it reuses them). */
export function setsDigestOf(sets: SetList, digests: readonly Buffer[]): string {
  digestsOf.set(sets, digests);
  return blocksDigestOf(digests);
}

/**
 * The digest (hex) of the endpointSets part `sets`: only the blocks not known from `before` (or
 * from the list `sets` was made from) are hashed. `hashed` (optional) gets the blocks hashed.
 */
export function setsDigest(sets: SetList, before?: SetList, hashed?: number[]): string {
  const digests = knownSetDigests(sets, before);
  for (let b = 0; b < digests.length; b++) {
    if (digests[b] !== undefined) continue;
    digests[b] = hashSetBlock(sets, b);
    hashed?.push(b);
  }
  return setsDigestOf(sets, digests as Buffer[]);
}

/** A set list as the change from another: the blocks at `at` (ascending) replaced by `blocks`, `length` sets in all. */
export interface SetBlocksEdit {
  readonly length: number;
  readonly at: readonly number[];
  readonly blocks: readonly SetList[];
}

/** The blocks of `next` that are not `base`'s (the same arrays), or undefined when the lists differ in length (every later block moved). */
export function setBlocksEdit(base: SetList, next: SetList): SetBlocksEdit | undefined {
  if (base.length !== next.length) return undefined;
  const at: number[] = [];
  const blocks: SetList[] = [];
  for (let b = 0; b < setBlockCount(next); b++) {
    if (sameBlock(next, base, b)) continue;
    at.push(b);
    blocks.push(setBlock(next, b));
  }
  return { length: next.length, at, blocks };
}

/**
 * The list `edit` makes of `base`: its arrays (the same objects) but in the blocks replaced, and
 * recorded as made from `base`, so its digest hashes those blocks alone. Throws when the edit
 * does not fit `base` (another length, a block out of place or of the wrong size, a set that is
 * not an array).
 */
export function setListAfter(base: SetList, edit: SetBlocksEdit): SetList {
  if (edit.length !== base.length) throw new Error(`endpointSets: the edit is of ${edit.length} sets, the base has ${base.length}`);
  const list = base.slice();
  edit.at.forEach((b, i) => {
    const block = edit.blocks[i];
    const size = Math.min(SET_BLOCK, base.length - b * SET_BLOCK);
    if (!Number.isInteger(b) || b < 0 || b * SET_BLOCK >= base.length || !Array.isArray(block) || block.length !== size) throw new Error(`endpointSets: block ${b} does not fit the base`);
    block.forEach((set, k) => {
      if (!Array.isArray(set)) throw new Error(`endpointSets[${b * SET_BLOCK + k}]: not an array`);
      list[b * SET_BLOCK + k] = set;
    });
  });
  madeFrom.set(list, base);
  return list;
}
