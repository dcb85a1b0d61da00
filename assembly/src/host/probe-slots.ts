/**
 * History-independent linear probing (Blelloch & Golovin, 2007): keys inserted by linear probing
 * in one fixed priority order give one layout per key set and capacity, whatever the order in
 * which the set came about. So a table laid out this way is a pure function of its keys (every
 * replica and node lays it out alike), and a patch can keep it so cheaply: adding or removing a
 * key changes only its probe cluster (the run of held slots around it, bounded by empty slots),
 * and placing that cluster's keys again in priority order gives the fresh layout.
 *
 * Why a cluster alone: a key's probe runs from its home to its slot over held slots only, so it
 * never leaves its cluster; the set of held slots does not depend on the insertion order; and an
 * add fills exactly the first empty slot at or after its home (joining the clusters on either
 * side), a remove empties one slot of one cluster (which may split). Nothing outside moves.
 *
 * The host hash tables of the matcher table (hash-slots.ts) and the endpoint ids of a snapshot
 * are both laid out this way; they differ only in the rule (home, priority, capacity).
 */

/** How a probing table of keys `K` is laid out. */
export interface ProbeRule<K> {
  /** The slot in [0, capacity) where `key`'s probe starts. */
  home(key: K, capacity: number): number;
  /** Whether `a` is inserted before `b`: a strict total order over the keys a table holds together. */
  before(a: K, b: K): boolean;
  /** The capacity of a table of `count` keys: a function of the count alone, above it (a slot stays empty) unless both are 0. */
  capacity(count: number): number;
}

/**
 * The full placement: key `i`, whose home is `homes[i]` (in [0, capacity)), inserted in index
 * order by linear probing (wrapping past the last slot). Returns the slot of each key, by index.
 * Throws RangeError when the keys do not fit with a slot to spare (no keys fit any capacity, 0 too).
 */
export function probePlace(homes: ArrayLike<number>, capacity: number): Int32Array {
  if (homes.length !== 0 && homes.length >= capacity) throw new RangeError(`${homes.length} keys do not fit ${capacity} slots with one to spare`);
  const held = new Uint8Array(capacity);
  const slots = new Int32Array(homes.length);
  for (let i = 0; i < homes.length; i++) {
    let slot = homes[i]!;
    while (held[slot] !== 0) slot = slot + 1 === capacity ? 0 : slot + 1;
    held[slot] = 1;
    slots[i] = slot;
  }
  return slots;
}

/**
 * The slots of a set of keys under a rule: `at(slot)` is the key there. Made whole by `of`;
 * `apply` changes it in place by a few keys, touching only their clusters. Keys are told apart as
 * Map keys are (SameValueZero): strings and numbers by value, objects by identity.
 */
export class ProbeSlots<K> {
  /** The number of slots (rule.capacity of the key count, fixed for this object's life). */
  readonly capacity: number;
  readonly #rule: ProbeRule<K>;
  readonly #slots: (K | undefined)[];
  #size = 0;

  private constructor(rule: ProbeRule<K>, capacity: number) {
    this.#rule = rule;
    this.capacity = capacity;
    this.#slots = new Array<K | undefined>(capacity).fill(undefined);
  }

  /**
   * The layout of the distinct keys `keys` (any order; keys already in priority order cost one
   * comparison each) at capacity `rule.capacity(keys.length)`. Throws RangeError when the
   * capacity leaves no slot empty. Distinctness is the caller's: a key given twice is held twice.
   */
  static of<K>(keys: readonly K[], rule: ProbeRule<K>): ProbeSlots<K> {
    const table = new ProbeSlots(rule, rule.capacity(keys.length));
    const ordered = table.#ordered(keys);
    const homes = new Int32Array(ordered.length);
    for (let i = 0; i < ordered.length; i++) homes[i] = table.#homeOf(ordered[i]!);
    const slots = probePlace(homes, table.capacity);
    for (let i = 0; i < ordered.length; i++) table.#slots[slots[i]!] = ordered[i];
    table.#size = ordered.length;
    return table;
  }

  /** How many keys it holds. */
  get size(): number {
    return this.#size;
  }

  /** The key at `slot`, undefined for an empty slot. */
  at(slot: number): K | undefined {
    return this.#slots[slot];
  }

  /** The slot of `key`, or -1 when it is not held. */
  slotOf(key: K): number {
    if (this.capacity === 0) return -1;
    // A held key sits in the run of held slots that starts at its home: an empty slot ends the search.
    for (let slot = this.#homeOf(key); ; slot = this.#next(slot)) {
      const held = this.#slots[slot];
      if (held === key) return slot;
      if (held === undefined) return -1;
    }
  }

  /**
   * Takes the `removed` keys out and the `added` keys in (removed ones held, added ones not held
   * once the removed are out, each given once), re-placing the clusters they touch, so that the
   * result equals `ProbeSlots.of` of the resulting keys. Returns the slots whose key changed,
   * ascending; or undefined, leaving this unchanged, when the resulting count needs another
   * capacity (the caller lays the keys out whole). Throws RangeError, unchanged, on keys that
   * break the contract.
   */
  apply(removed: readonly K[], added: readonly K[]): number[] | undefined {
    const out = new Set<K>();
    for (const key of removed) {
      if (out.has(key) || this.slotOf(key) === -1) throw new RangeError(`removed key ${String(key)} is not held (or given twice)`);
      out.add(key);
    }
    const into = new Set<K>();
    for (const key of added) {
      if (into.has(key) || (!out.has(key) && this.slotOf(key) !== -1)) throw new RangeError(`added key ${String(key)} is already held (or given twice)`);
      into.add(key);
    }
    if (this.#rule.capacity(this.size - removed.length + added.length) !== this.capacity) return undefined;
    // What each touched slot held first: it changed when it holds another key at the end.
    const was = new Map<number, K | undefined>();
    // Removals first: the table never holds more keys than it ends with, so a slot stays empty.
    for (const key of removed) {
      const slot = this.slotOf(key);
      this.#size--;
      if (!was.has(slot)) was.set(slot, key);
      this.#slots[slot] = undefined;
      this.#replace(this.#clusterStart(slot), this.#clusterEnd(slot), was);
    }
    for (const key of added) {
      this.#size++;
      let empty = this.#homeOf(key);
      while (this.#slots[empty] !== undefined) empty = this.#next(empty);
      if (!was.has(empty)) was.set(empty, undefined);
      this.#slots[empty] = key;
      this.#replace(this.#clusterStart(empty), this.#clusterEnd(empty), was);
    }
    const changed: number[] = [];
    for (const [slot, key] of was) if (this.#slots[slot] !== key) changed.push(slot);
    return changed.sort((a, b) => a - b);
  }

  #homeOf(key: K): number {
    const home = this.#rule.home(key, this.capacity);
    if (!Number.isInteger(home) || home < 0 || home >= this.capacity) throw new RangeError(`home ${home} of key ${String(key)} is outside ${this.capacity} slots`);
    return home;
  }

  #next(slot: number): number {
    return slot + 1 === this.capacity ? 0 : slot + 1;
  }

  #previous(slot: number): number {
    return slot === 0 ? this.capacity - 1 : slot - 1;
  }

  /** `keys` sorted in priority order (a copy; keys already in order cost one comparison each). */
  #ordered(keys: readonly K[]): K[] {
    const rule = this.#rule;
    return keys.slice().sort((a, b) => (rule.before(a, b) ? -1 : rule.before(b, a) ? 1 : 0));
  }

  /** The first slot of the run of held slots that ends at `slot` or goes on from it (walking back to an empty slot). */
  #clusterStart(slot: number): number {
    let start = slot;
    for (let back = this.#previous(start); this.#slots[back] !== undefined; back = this.#previous(back)) start = back;
    return start;
  }

  /** The last slot of the run of held slots that starts at `slot` or before it (`slot` itself when the next is empty). */
  #clusterEnd(slot: number): number {
    let end = slot;
    for (let next = this.#next(end); this.#slots[next] !== undefined; next = this.#next(next)) end = next;
    return end;
  }

  /** Empties slots start..end (circular) and inserts their keys again in priority order, noting in `was` what each slot held first. */
  #replace(start: number, end: number, was: Map<number, K | undefined>): void {
    const keys: K[] = [];
    for (let slot = start; ; slot = this.#next(slot)) {
      const key = this.#slots[slot];
      if (!was.has(slot)) was.set(slot, key);
      if (key !== undefined) keys.push(key);
      this.#slots[slot] = undefined;
      if (slot === end) break;
    }
    for (const key of this.#ordered(keys)) {
      let slot = this.#homeOf(key);
      while (this.#slots[slot] !== undefined) slot = this.#next(slot);
      this.#slots[slot] = key;
    }
  }
}
