/**
 * The host slot tables of a grid table patched in place (grid-patch.ts): the probe clusters that
 * added, removed and moved hosts fall in placed again as probe-slots.ts's ProbeSlots.apply places
 * them, on the table's own slot words, so the slots are those hashSlots lays out for the new hosts.
 */
import type { BlockEditor } from './blocks.ts';
import { corrupt } from './chunk-check.ts';

/** A host key of a slot table during a patch: its hash, where it was (-1: added) and is (-1: taken away), by unit and host. */
export interface SlotKey {
  readonly hash: number;
  readonly oldOffset: number;
  readonly oldUnit: number;
  readonly newUnit: number;
  readonly host: number;
  readonly newOffset: number;
}

/** A key as read from the table: its hash and record offset, not yet resolved to its units. */
interface RawKey {
  readonly hash: number;
  readonly oldOffset: number;
}

const isResolved = (key: SlotKey | RawKey): key is SlotKey => 'newOffset' in key;

/**
 * Re-places the probe clusters of one host slot table (slot words [hash, offset] from `at`,
 * `capacity` a power of two) as probe-slots.ts's ProbeSlots.apply does: the removed keys taken out
 * one by one (their clusters placed again in the previous table order), then the added ones put in
 * (in the new order), and the moved keys' offsets brought up to date; every key read from the table
 * is `resolve`d to its units. Writes only the slots whose words changed.
 */
export function patchSlots(edit: BlockEditor, at: number, capacity: number, resolve: (hash: number, offset: number) => SlotKey, keys: { removed: readonly { hash: number; offset: number }[]; moved: readonly { hash: number; offset: number }[]; added: readonly SlotKey[] }): void {
  const mask = capacity - 1;
  const first = at >>> 2;
  // Slots read or placed: a key read from the table is resolved to its units only when a cluster
  // holding it is placed again or it is a moved key (a probe passing over a key needs its offset alone).
  const overlay = new Map<number, SlotKey | RawKey | null>();
  const peek = (slot: number): SlotKey | RawKey | null => {
    let key = overlay.get(slot);
    if (key === undefined) {
      const offset = edit.word(first + slot * 2 + 1);
      key = offset === 0 ? null : { hash: edit.word(first + slot * 2), oldOffset: offset };
      overlay.set(slot, key);
    }
    return key;
  };
  const read = (slot: number): SlotKey | null => {
    const key = peek(slot);
    if (key === null || isResolved(key)) return key;
    const resolved = resolve(key.hash, key.oldOffset);
    overlay.set(slot, resolved);
    return resolved;
  };
  const find = (hash: number, offset: number): number => {
    for (let slot = hash & mask, n = 0; n < capacity; slot = (slot + 1) & mask, n++) {
      const key = peek(slot);
      if (key === null) break;
      if (key.oldOffset === offset) return slot;
    }
    return corrupt(`host slot of the record at ${offset} is not in its probe run`);
  };
  // Empties the cluster around `slot` and inserts its keys again in `order` (ProbeSlots #replace).
  const replace = (slot: number, order: (a: SlotKey, b: SlotKey) => number): void => {
    let start = slot;
    while (read((start - 1) & mask) !== null) start = (start - 1) & mask;
    let end = slot;
    while (read((end + 1) & mask) !== null) end = (end + 1) & mask;
    const held: SlotKey[] = [];
    for (let s = start; ; s = (s + 1) & mask) {
      const key = read(s);
      if (key !== null) held.push(key);
      overlay.set(s, null);
      if (s === end) break;
    }
    for (const key of held.sort(order)) {
      let s = key.hash & mask;
      while (read(s) !== null) s = (s + 1) & mask;
      overlay.set(s, key);
    }
  };
  const byOld = (a: SlotKey, b: SlotKey): number => a.oldUnit - b.oldUnit || a.host - b.host;
  const byNew = (a: SlotKey, b: SlotKey): number => a.newUnit - b.newUnit || a.host - b.host;
  for (const { hash, offset } of keys.moved) read(find(hash, offset));
  for (const { hash, offset } of keys.removed) {
    const slot = find(hash, offset);
    overlay.set(slot, null);
    replace(slot, byOld);
  }
  for (const key of keys.added) {
    let slot = key.hash & mask;
    while (read(slot) !== null) slot = (slot + 1) & mask;
    overlay.set(slot, key);
    replace(slot, byNew);
  }
  for (const [slot, key] of overlay) {
    edit.setWord(first + slot * 2, key === null ? 0 : key.hash);
    // A key never resolved was passed over: neither moved nor placed again, its record stays.
    edit.setWord(first + slot * 2 + 1, key === null ? 0 : isResolved(key) ? key.newOffset : key.oldOffset);
  }
}
