/**
 * The endpoint numbering of a bundle: each endpoint's id is its key's slot in the
 * history-independent EndpointSlots of the snapshot's keys (toMatcherTable's rule), the stand-in of
 * invalid backends comes after every slot. A version whose endpoint sets changed in a few places
 * is numbered from the last one: its keys added and removed re-place their probe clusters, and only
 * the sets in the changed stretch and the sets naming a key whose id changed get a new id array.
 * A scale or a move then costs its sets and a few endpoint lines, not every set.
 */
import { Pages } from '@portico/assembly/encode';
import type { SnapshotEndpointSet } from './schema.ts';
import type { SetIds } from './table.ts';
import { EndpointSlots } from './endpoint-slots.ts';
import { sameItems, sharedEnds, identicalEnds } from './sealed-against.ts';
import { recordSetsMadeFrom } from './set-changes.ts';
import { INVALID_BACKEND_PORT, endpointSlotKey, setIdsOf } from './table.ts';

/** Set ids (setIdsOf), each set's endpoint ids (by set id) and the endpoints' lines, for one version's sets. */
export interface Numbering {
  readonly of: readonly SnapshotEndpointSet[];
  /** Route records depend on these alone: the same object while the set keys and the stand-in are. */
  readonly setIds: SetIds;
  /**
   * The table's sets by set id (the snapshot's, then the empty set, then the stand-in's): a set
   * whose ids did not change is the same array, and the list the same while none changed. Paged:
   * a numbering worked out from the last one shares the pages it did not change.
   */
  readonly sets: Pages<readonly number[]>;
  /** The sets that are not empty: the bundle's endpointSets (the same list while `sets` is). */
  readonly nonEmpty: readonly (readonly number[])[];
  /** By id: `address port`, '' for a gap, then the stand-in's line. Paged like `sets`. */
  readonly endpoints: Pages<string>;
  /** The stand-in endpoint of invalid backends (-1: none). */
  readonly invalid: number;
  /**
   * The numbering this one was worked out from (weakly: a numbering never keeps its predecessors
   * alive) and the lines that differ from its (by id); undefined when made afresh. (The set ids
   * whose array is not that one's are recorded with `sets`: set-changes.ts.)
   */
  readonly from: { readonly numbering: WeakRef<Numbering>; readonly lines: ReadonlyMap<number, string> } | undefined;
}

/** Sets changed (on either side) at most for a numbering to be worked out from the last one (else it is made afresh). */
const RENUMBER_MAX = 64;

const NO_ENDPOINTS: readonly number[] = Object.freeze([]);

/** The line of endpoint key `address|port`: `address port`. */
function lineOf(key: string): string {
  const bar = key.lastIndexOf('|');
  return `${key.slice(0, bar)} ${key.slice(bar + 1)}`;
}

/** The key of an endpoint line (not a gap). */
function keyOf(line: string): string {
  const space = line.lastIndexOf(' ');
  return `${line.slice(0, space)}|${line.slice(space + 1)}`;
}

/** The set keys naming each endpoint key: one string for the usual one owner (no array per endpoint). */
type Owners = Map<string, string | string[]>;

/** Adds `owner` to the set keys naming `key`. */
function addOwner(owners: Owners, key: string, owner: string): void {
  const held = owners.get(key);
  if (held === undefined) owners.set(key, owner);
  else if (typeof held === 'string') owners.set(key, [held, owner]);
  else held.push(owner);
}

/** Takes one `owner` away from the set keys naming `key`. */
function removeOwner(owners: Owners, key: string, owner: string): void {
  const held = owners.get(key);
  if (held === owner) owners.delete(key);
  else if (typeof held !== 'string' && held !== undefined) {
    held.splice(held.indexOf(owner), 1);
    if (held.length === 1) owners.set(key, held[0]!);
  }
}

/** How many set entries name `key`. */
function ownerCount(owners: Owners, key: string): number {
  const held = owners.get(key);
  return held === undefined ? 0 : typeof held === 'string' ? 1 : held.length;
}

function ownersOf(owners: Owners, key: string): readonly string[] {
  const held = owners.get(key);
  return held === undefined ? [] : typeof held === 'string' ? [held] : held;
}

/** Whether two lists of endpoint sets have the same keys in the same order (then they have the same set ids). */
function sameKeys(a: readonly SnapshotEndpointSet[], b: readonly SnapshotEndpointSet[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.key !== b[i]!.key) return false;
  return true;
}

/** The sets of a set list that are not empty, in order. */
function nonEmptyOf(sets: Pages<readonly number[]>): (readonly number[])[] {
  const out: (readonly number[])[] = [];
  for (let p = 0; p < sets.pageCount; p++) for (const set of sets.page(p)!) if (set.length > 0) out.push(set);
  return out;
}

/**
 * Numbers the endpoints of successive versions (one per bundle compiler): the last numbering,
 * its slots and which sets name each key are kept for the next.
 */
export class EndpointNumberer {
  #last: { readonly numbering: Numbering; readonly slots: EndpointSlots; readonly owners: Owners } | undefined;
  readonly #stats: { numberedAfresh: number };

  /** A numberer counting in `stats.numberedAfresh` the numberings it makes from scratch (walking every set), not from the last one. */
  constructor(stats: { numberedAfresh: number }) {
    this.#stats = stats;
  }

  /**
   * The numbering of `sets` (with a stand-in endpoint when `invalid`): the last one when the sets
   * are the same items; worked out from it when a few sets changed; else made afresh. Ids equal to
   * the last numbering's are that very array (a table patched from the last one keeps the set's record).
   */
  number(sets: readonly SnapshotEndpointSet[], invalid: boolean): Numbering {
    const last = this.#last;
    if (last !== undefined && (last.numbering.invalid >= 0) === invalid) {
      if (last.numbering.of === sets) return last.numbering;
      const numbering = this.#renumber(sets);
      if (numbering !== undefined) return numbering;
    }
    return this.#afresh(sets, invalid);
  }

  #afresh(sets: readonly SnapshotEndpointSet[], invalid: boolean): Numbering {
    this.#stats.numberedAfresh++;
    const previous = this.#last?.numbering;
    const owners: Owners = new Map();
    for (const set of sets) for (const endpoint of set.endpoints) addOwner(owners, endpointSlotKey(endpoint), set.key);
    const slots = EndpointSlots.of([...owners.keys()]);
    const lines: string[] = [];
    for (let id = 0; id < slots.capacity; id++) {
      const key = slots.at(id);
      lines.push(key === undefined ? '' : lineOf(key));
    }
    // Invalid backends share one stand-in endpoint, after every slot, in a set of its own after the empty set (setIdsOf).
    const stand = invalid ? lines.push(` ${INVALID_BACKEND_PORT}`) - 1 : -1;
    const setIds = previous !== undefined && sameKeys(previous.of, sets) && (previous.invalid >= 0) === invalid ? previous.setIds : setIdsOf(sets, invalid);
    const arrays: (readonly number[])[] = [];
    let kept = previous !== undefined && previous.setIds === setIds && previous.invalid === stand;
    for (const set of sets) {
      const own = set.endpoints.map((endpoint) => slots.idOf(endpointSlotKey(endpoint)));
      const at = previous?.setIds.byKey.get(set.key);
      const before = at === undefined ? undefined : previous!.sets.at(at);
      const same = before !== undefined && sameItems(before, own);
      kept &&= same;
      arrays.push(same ? before : own);
    }
    arrays.push(NO_ENDPOINTS);
    if (invalid) arrays.push(previous !== undefined && previous.invalid === stand ? previous.sets.at(previous.sets.length - 1)! : [stand]);
    const paged = kept ? previous!.sets : Pages.of(arrays);
    // The same set ids: a table patched from the last numbering's re-packs the sets that are new arrays alone.
    if (!kept && previous !== undefined && setIds === previous.setIds) {
      const changed: number[] = [];
      for (let id = 0; id < paged.length; id++) if (paged.at(id) !== previous.sets.at(id)) changed.push(id);
      recordSetsMadeFrom(paged, previous.sets, changed);
    }
    const numbering: Numbering = { of: sets, setIds, sets: paged, nonEmpty: kept ? previous!.nonEmpty : nonEmptyOf(paged), endpoints: Pages.of(lines), invalid: stand, from: undefined };
    this.#last = { numbering, slots, owners };
    return numbering;
  }

  /**
   * The numbering of `sets` from the last one, when they differ from its sets in one stretch of
   * at most RENUMBER_MAX sets each side: the keys no longer named leave the slots, the keys newly
   * named enter them, and the sets in the stretch plus those naming a key that moved get new ids.
   * Undefined when the stretch is longer or the key count needs another capacity (made afresh).
   */
  #renumber(sets: readonly SnapshotEndpointSet[]): Numbering | undefined {
    const { numbering: previous, slots, owners } = this.#last!;
    const before = previous.of;
    const { head, tail } = sharedEnds(sets, before) ?? identicalEnds(sets, before);
    const gone = before.slice(head, before.length - tail);
    const come = sets.slice(head, sets.length - tail);
    if (gone.length + come.length > RENUMBER_MAX) return undefined;
    const touched = new Map<string, number>();
    for (const set of gone) {
      for (const endpoint of set.endpoints) {
        const key = endpointSlotKey(endpoint);
        if (!touched.has(key)) touched.set(key, ownerCount(owners, key));
        removeOwner(owners, key, set.key);
      }
    }
    for (const set of come) {
      for (const endpoint of set.endpoints) {
        const key = endpointSlotKey(endpoint);
        if (!touched.has(key)) touched.set(key, ownerCount(owners, key));
        addOwner(owners, key, set.key);
      }
    }
    const removed: string[] = [];
    const added: string[] = [];
    for (const [key, had] of touched) {
      const has = ownerCount(owners, key);
      if (had > 0 && has === 0) removed.push(key);
      else if (had === 0 && has > 0) added.push(key);
    }
    const changed = slots.apply(removed, added);
    // The owners were changed already: #afresh makes them again from the sets.
    if (changed === undefined) return undefined;
    const lines = new Map<number, string>();
    // Old id -> new id of the keys that stayed but moved (their sets' other ids are as they were).
    const moved = new Map<number, number>();
    const movedKeys: string[] = [];
    for (const id of changed) {
      const key = slots.at(id);
      lines.set(id, key === undefined ? '' : lineOf(key));
      const line = previous.endpoints.at(id)!;
      if (line === '') continue;
      const was = keyOf(line);
      if (ownerCount(owners, was) === 0) continue;
      moved.set(id, slots.idOf(was));
      movedKeys.push(was);
    }
    const invalid = previous.invalid >= 0;
    // The same keys in the stretch: every set keeps its id, and only the changed arrays are replaced.
    const keysKept = gone.length === come.length && gone.every((set, i) => set.key === come[i]!.key);
    const setIds = keysKept ? previous.setIds : setIdsOf(sets, invalid);
    const arrays = new Map<string, readonly number[]>();
    for (const set of come) {
      const own = set.endpoints.map((endpoint) => slots.idOf(endpointSlotKey(endpoint)));
      const at = previous.setIds.byKey.get(set.key);
      const was = at === undefined ? undefined : previous.sets.at(at);
      arrays.set(set.key, was !== undefined && sameItems(was, own) ? was : own);
    }
    // The other sets naming a key that moved: their ids with the moved ones replaced.
    for (const key of movedKeys) {
      for (const owner of ownersOf(owners, key)) {
        if (arrays.has(owner)) continue;
        arrays.set(owner, previous.sets.at(previous.setIds.byKey.get(owner)!)!.map((id) => moved.get(id) ?? id));
      }
    }
    let paged: Pages<readonly number[]>;
    const changedSets: number[] = [];
    if (keysKept) {
      const replaced = new Map<number, readonly number[]>();
      for (const [key, ids] of arrays) {
        const id = setIds.byKey.get(key)!;
        if (previous.sets.at(id) === ids) continue;
        replaced.set(id, ids);
        changedSets.push(id);
      }
      paged = previous.sets.with(replaced);
    } else {
      // Set ids moved (a set added or taken away): every route record over them changes too, so the list is made again.
      const list: (readonly number[])[] = sets.map((set) => arrays.get(set.key) ?? previous.sets.at(previous.setIds.byKey.get(set.key)!)!);
      list.push(NO_ENDPOINTS);
      if (invalid) list.push(previous.sets.at(previous.sets.length - 1)!);
      paged = Pages.of(list);
      for (let id = 0; id < paged.length; id++) if (paged.at(id) !== previous.sets.at(id)) changedSets.push(id);
    }
    changedSets.sort((a, b) => a - b);
    if (changedSets.length > 0) recordSetsMadeFrom(paged, previous.sets, changedSets);
    const numbering: Numbering = {
      of: sets,
      setIds,
      sets: changedSets.length === 0 ? previous.sets : paged,
      nonEmpty: changedSets.length === 0 ? previous.nonEmpty : nonEmptyOf(paged),
      endpoints: previous.endpoints.with(lines),
      invalid: previous.invalid,
      from: { numbering: new WeakRef(previous), lines },
    };
    this.#last = { numbering, slots, owners };
    return numbering;
  }
}
