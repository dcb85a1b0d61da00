/**
 * What sealing a list against the previous version's list found, kept apart from hash.ts so that
 * the bundle compiler (bundled into data-plane workers) can ask where two lists may differ without
 * loading the snapshot schemas (zod) that sealing needs.
 */
/** What sealing a list against the previous one found: the items before `head` and the last `tail` are that list's (held weakly: no chain of old lists is kept alive). */
interface SealedAgainst {
  readonly previous: WeakRef<readonly unknown[]>;
  readonly head: number;
  readonly tail: number;
}

const sealedAgainst = new WeakMap<readonly unknown[], SealedAgainst>();

/** Links of the sealedAgainst chain followed at most (an edit, then a few endpoint changes that keep the hosts list). */
const MAX_LINKS = 4;

/**
 * Where `items` may differ from `before` (a list of as many items it was sealed against, directly
 * or through up to MAX_LINKS lists of the same length): every item outside [from, to) is the very
 * item of `before` at that place. Undefined when that is not known (the caller compares them all).
 */
export function changedRange(items: readonly unknown[], before: readonly unknown[]): { readonly from: number; readonly to: number } | undefined {
  const n = items.length;
  if (before.length !== n) return undefined;
  let from = n;
  let to = 0;
  let list: readonly unknown[] = items;
  for (let links = 0; list !== before; links++) {
    const link = sealedAgainst.get(list);
    const previous = link?.previous.deref();
    if (link === undefined || previous === undefined || previous.length !== n || links === MAX_LINKS) return undefined;
    from = Math.min(from, link.head);
    to = Math.max(to, n - link.tail);
    list = previous;
  }
  return { from, to: Math.max(from, to) };
}

/** Records that `items` was sealed against `previous`: its first `head` and last `tail` items are `previous`'s (held weakly). */
export function recordSealedAgainst(items: readonly unknown[], previous: readonly unknown[], head: number, tail: number): void {
  sealedAgainst.set(items, { previous: new WeakRef(previous), head, tail });
}
