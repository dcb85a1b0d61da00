/**
 * The orders a snapshot's lists are kept in. Part of the contract: the control plane emits the
 * lists sorted this way, a data plane applying a delta re-sorts with the same functions, and
 * `parseSnapshot` refuses a snapshot whose lists are out of order (or hold a key twice).
 */

/** Code-unit string order, the one order every emitted list uses for ties (locale-independent). */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The first index of `sorted` (in `compare` order of `keyOf`) whose key does not order before
 * `key`: where `key` sits, or would be inserted. `sorted.length` when every key orders before it.
 */
export function lowerBound<T>(sorted: readonly T[], key: string, keyOf: (item: T) => string, compare: (a: string, b: string) => number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(keyOf(sorted[mid]!), key) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Pieces `concatenated` joins with one native concat at most (its spread arguments live on the stack). */
const MAX_SPREAD = 8192;

/**
 * The items (objects, never arrays: concat would open those) of `pieces` one list after another, in
 * one new list. A few large pieces, the usual case, go through one native concat (about 3x a loop
 * of pushes at 50,000 items); many go through the loop: a spread of ~120,000 pieces (a delta that
 * changes as many items of a list) throws RangeError.
 */
export function concatenated<T extends object>(pieces: readonly (readonly T[])[]): T[] {
  if (pieces.length <= MAX_SPREAD) return ([] as T[]).concat(...pieces);
  const out: T[] = [];
  for (const piece of pieces) for (let i = 0; i < piece.length; i++) out.push(piece[i]!);
  return out;
}

/**
 * The merge of `a` and `b`, both sorted by `compare`, into one sorted list (on a tie, `a`'s item
 * first); `a` itself when `b` is empty.
 */
export function mergeSorted<T>(a: readonly T[], b: readonly T[], compare: (x: T, y: T) => number): readonly T[] {
  if (b.length === 0) return a;
  const merged: T[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) merged.push(compare(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!);
  while (i < a.length) merged.push(a[i++]!);
  while (j < b.length) merged.push(b[j++]!);
  return merged;
}

/**
 * The last index among the first `count` of ascending `starts` whose value is at or before `value`
 * (the block, segment or page a position falls in); 0 when none is, or when `count` is 0.
 */
export function lastAtOrBefore(starts: ArrayLike<number>, value: number, count = starts.length): number {
  let low = 0;
  let high = count - 1;
  while (low < high) {
    const mid = (low + high + 1) >>> 1;
    if (starts[mid]! <= value) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** Exact hosts, then wildcards, then the any-host entry; alphabetical inside each group. */
export function compareHosts(a: string, b: string): number {
  const rank = (host: string): number => (host === '*' ? 2 : host.startsWith('*.') ? 1 : 0);
  return rank(a) - rank(b) || compareStrings(a, b);
}

/** The keyed lists of a snapshot: how an item is named and how the list is ordered. */
export const SECTIONS = {
  hosts: { keyOf: (item: { host: string }): string => item.host, compare: compareHosts },
  endpointSets: { keyOf: (item: { key: string }): string => item.key, compare: compareStrings },
  certificates: { keyOf: (item: { secret: string }): string => item.secret, compare: compareStrings },
} as const;

/** The name of a keyed list. */
export type SectionName = keyof typeof SECTIONS;
