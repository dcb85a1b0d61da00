/**
 * What sealing a list against the previous version's list found, kept apart from hash.ts so that
 * the bundle compiler (bundled into data-plane workers) can ask where two lists may differ without
 * loading the snapshot schemas (zod) that sealing needs.
 */
/**
 * Stretches of a list that are, item for item, stretches of the list it was made from: flat
 * triples `from, to, offset` in increasing order, each saying that items [from, to) are, by
 * identity, the other list's [from + offset, to + offset). What lies between them changed.
 */
export type KeptRuns = readonly number[];

/**
 * What sealing a list against the previous one found: the items before `head` and the last `tail`
 * are that list's (held weakly: no chain of old lists is kept alive), and, when compile said so,
 * every stretch that is (`runs`).
 */
interface SealedAgainst {
  readonly previous: WeakRef<readonly unknown[]>;
  readonly head: number;
  readonly tail: number;
  readonly runs: KeptRuns | undefined;
}

const sealedAgainst = new WeakMap<readonly unknown[], SealedAgainst>();

/** Links of the sealedAgainst chain followed at most (an edit, then a few endpoint changes that keep the hosts list). */
const MAX_LINKS = 4;

/**
 * The fewest items at the start (`head`) and at the end (`tail`) that each link from `items` back
 * to `before` kept as they were (by identity), following at most MAX_LINKS links; with
 * `sameLength`, only through lists as long as `items`. Undefined when the chain does not reach
 * `before`. Each link's own head and tail hold in every list of the chain: the fewest hold from
 * `items` to `before`, whatever the lengths in between.
 */
function chainEnds(items: readonly unknown[], before: readonly unknown[], sameLength: boolean): { head: number; tail: number } | undefined {
  let head = items.length;
  let tail = items.length;
  let list: readonly unknown[] = items;
  for (let links = 0; list !== before; links++) {
    const link = sealedAgainst.get(list);
    const previous = link?.previous.deref();
    if (link === undefined || previous === undefined || (sameLength && previous.length !== items.length) || links === MAX_LINKS) return undefined;
    head = Math.min(head, link.head);
    tail = Math.min(tail, link.tail);
    list = previous;
  }
  return { head, tail };
}

/**
 * Where `items` may differ from `before` (a list of as many items it was sealed against, directly
 * or through up to MAX_LINKS lists of the same length): every item outside [from, to) is the very
 * item of `before` at that place. Undefined when that is not known (the caller compares them all).
 */
export function changedRange(items: readonly unknown[], before: readonly unknown[]): { readonly from: number; readonly to: number } | undefined {
  if (before.length !== items.length) return undefined;
  const ends = chainEnds(items, before, true);
  if (ends === undefined) return undefined;
  return { from: ends.head, to: Math.max(ends.head, items.length - ends.tail) };
}

/**
 * How many items at the start (`head`) and at the end (`tail`) of `a` are, by identity, the items of
 * `b` at the same place from its start and from its end, as far as sealing knows: one list sealed
 * against the other directly or through up to MAX_LINKS lists (of any lengths), in either
 * direction. `head + tail` never exceeds either length; the same list is all head. Undefined when
 * sealing does not link them (the caller compares them all).
 */
export function sharedEnds(a: readonly unknown[], b: readonly unknown[]): { readonly head: number; readonly tail: number } | undefined {
  if (a === b) return { head: a.length, tail: 0 };
  const ends = chainEnds(a, b, false) ?? chainEnds(b, a, false);
  if (ends === undefined) return undefined;
  const head = Math.min(ends.head, a.length, b.length);
  return { head, tail: Math.min(ends.tail, a.length - head, b.length - head) };
}

/**
 * How many items at the start (`head`) and at the end (`tail`) of `a` are, by identity, the items of
 * `b` at the same place from its start and from its end, found by comparing them (one step per
 * shared item; `sharedEnds` is the free answer when sealing knows it). `head + tail` never exceeds
 * either length; the same list is all head.
 */
export function identicalEnds(a: readonly unknown[], b: readonly unknown[]): { readonly head: number; readonly tail: number } {
  const n = a.length;
  const m = b.length;
  let head = 0;
  while (head < n && head < m && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < n - head && tail < m - head && a[n - 1 - tail] === b[m - 1 - tail]) tail++;
  return { head, tail };
}

/** Whether two lists hold the very same items (by identity: numbers by value) in the same order. */
export function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Records that `items` was made from (or sealed against) `previous`: its first `head` and last
 * `tail` items are `previous`'s, and so is every stretch of `runs` when given.
 */
export function recordSealedAgainst(items: readonly unknown[], previous: readonly unknown[], head: number, tail: number, runs?: KeptRuns): void {
  sealedAgainst.set(items, { previous: new WeakRef(previous), head, tail, runs });
}

/** Appends to `runs` (see KeptRuns) that items [from, to) are the other list's [from + offset, to + offset), joining the last run when it continues it. */
export function addRun(runs: number[], from: number, to: number, offset: number): void {
  if (to <= from) return;
  const last = runs.length - 3;
  if (last >= 0 && runs[last + 1] === from && runs[last + 2] === offset) runs[last + 1] = to;
  else runs.push(from, to, offset);
}

/** The runs (see KeptRuns) of the first `head` and the last `tail` items of a list of `n` items made from one of `m`. */
export function endsAsRuns(head: number, tail: number, n: number, m: number): number[] {
  const runs: number[] = [];
  if (head > 0) runs.push(0, head, 0);
  if (tail > 0) runs.push(n - tail, n, m - n);
  return runs;
}

/**
 * How many items at the start (`head`) and at the end (`tail`) of a list of `n` items `runs` say
 * are those of the list of `m` it was made from, at the same place from its start and from its end
 * (`head + tail` never exceeds either length).
 */
export function runEnds(runs: KeptRuns, n: number, m: number): { head: number; tail: number } {
  const head = runs.length > 0 && runs[0] === 0 && runs[2] === 0 ? Math.min(runs[1]!, m) : 0;
  const last = runs.length - 3;
  const tail = last >= 0 && runs[last + 1] === n && runs[last + 2] === m - n ? Math.max(0, Math.min(n - runs[last]!, n - head, m - head)) : 0;
  return { head, tail };
}

/**
 * The stretches of `items` that are `before`'s (see KeptRuns): as recorded when `items` was made
 * from `before` (compile knows every stretch it took over), else its two unchanged ends, as far as
 * sealing links them (`sharedEnds`) or found by comparing them (`identicalEnds`).
 */
export function keptRuns(items: readonly unknown[], before: readonly unknown[]): KeptRuns {
  const link = sealedAgainst.get(items);
  if (link?.runs !== undefined && link.previous.deref() === before) return link.runs;
  const { head, tail } = sharedEnds(items, before) ?? identicalEnds(items, before);
  return endsAsRuns(head, tail, items.length, before.length);
}
