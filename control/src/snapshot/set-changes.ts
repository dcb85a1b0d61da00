/**
 * Which matcher endpoint sets changed between two versions of a table's sets list (by set id), as
 * recorded when each list was made from the one before: a table patched from the older list then
 * re-packs the buckets of those sets alone (patchOwnChunks' `only.sets`), and nothing compares
 * every set by identity.
 */
import type { ItemList } from '@portico/assembly/encode';

/** A table's endpoint sets by set id (each the endpoint ids of one set): an array, or Pages. */
type SetList = ItemList<readonly number[]>;

/** What a sets list was made from: the list before (held weakly: no chain of old lists is kept alive) and the set ids whose sets are not that list's item. */
interface MadeFrom {
  readonly from: WeakRef<SetList>;
  readonly ids: readonly number[];
}

const madeFrom = new WeakMap<SetList, MadeFrom>();

/** Links followed at most (a full and a balancing-only compile take turns on one numbering; a few versions may pass between two of one kind). */
const MAX_LINKS = 8;

/**
 * Records that `sets` was made from `previous`: at every set id but those of `ids` (and those past
 * the shorter list) it holds `previous`'s very item.
 */
export function recordSetsMadeFrom(sets: SetList, previous: SetList, ids: readonly number[]): void {
  madeFrom.set(sets, { from: new WeakRef(previous), ids });
}

/**
 * The set ids at which `sets` may hold another item than `before` (ids past the shorter list
 * included), following at most MAX_LINKS recorded links back from `sets`, each id once, ascending;
 * [] when they are the same list (`before` is compared by identity alone). Undefined when the links do not reach `before` (the caller
 * compares them).
 */
export function changedSetIds(sets: SetList, before: object): number[] | undefined {
  const ids = new Set<number>();
  let list: SetList = sets;
  for (let links = 0; list !== before; links++) {
    const link = madeFrom.get(list);
    const previous = link?.from.deref();
    if (link === undefined || previous === undefined || links === MAX_LINKS) return undefined;
    for (const id of link.ids) ids.add(id);
    for (let id = Math.min(list.length, previous.length); id < Math.max(list.length, previous.length); id++) ids.add(id);
    list = previous;
  }
  return [...ids].sort((a, b) => a - b);
}
