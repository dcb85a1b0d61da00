/**
 * Endpoint ids that do not depend on history: the id of an endpoint key (`address|port`) is its
 * slot in a linear-probing table of capacity `endpointCapacity(keys)`, laid out as if the keys were
 * inserted in one fixed priority order (Blelloch & Golovin's history-independent linear probing).
 * The layout is a pure function of the key set and the capacity, so every replica and node numbers
 * alike whatever the order of events, and adding or removing one key re-places only its probe
 * cluster (a scale changes one or two ids, not every later one). Unused slots are gaps.
 */
import { hashKey } from './policies/upstream-hash.ts';

/** The least capacity of a table with keys: small worlds do not change capacity on every add. */
const MIN_CAPACITY = 8;

/**
 * The capacity for `count` distinct keys: 0 for none, else the least `m * 2^e` (m in 8..15, steps
 * of at most 12.5 %) holding them at load 0.7, and at least MIN_CAPACITY. A function of the count
 * alone: crossing a step renumbers every endpoint once (rare: a 6–12 % change of the key count).
 */
export function endpointCapacity(count: number): number {
  if (count === 0) return 0;
  // At most 7 keys in 10 slots (probe clusters stay short below it); in integers, as 0.7 is not exact.
  const need = Math.max(MIN_CAPACITY, Math.ceil((count * 10) / 7));
  let unit = 1;
  while (unit * 16 <= need) unit *= 2;
  return Math.ceil(need / unit) * unit;
}

/** A key's priority: 32 bits of its mixed hash (ties, a rare collision, go by the key). */
function priorityOf(key: string): number {
  // murmur3's finaliser: FNV-1a's low bits alone cluster for keys that differ in their last characters.
  let h = hashKey(key);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A key's home slot in a table of `capacity` slots (the top bits of its priority: homes ascend with priority). */
function homeOf(priority: number, capacity: number): number {
  return Math.floor((priority * capacity) / 0x1_0000_0000);
}

/** The home slot of `key` in a table of `capacity` slots: where its probe starts. */
export function endpointHome(key: string, capacity: number): number {
  return homeOf(priorityOf(key), capacity);
}

/** Whether key `a` (priority `pa`) goes before key `b` (priority `pb`). */
function before(pa: number, a: string, pb: number, b: string): boolean {
  return pa !== pb ? pa < pb : a < b;
}

/**
 * The slots of a set of endpoint keys: `at(id)` is the key of endpoint id `id`, undefined for a
 * gap. Made whole by `of`; `apply` changes it in place by a few keys (the compiler keeps one).
 */
export class EndpointSlots {
  readonly capacity: number;
  readonly #slots: (string | undefined)[];
  readonly #priority: Map<string, number>;

  private constructor(capacity: number, slots: (string | undefined)[], priority: Map<string, number>) {
    this.capacity = capacity;
    this.#slots = slots;
    this.#priority = priority;
  }

  /** The slots of the distinct keys `keys` (each given once) at capacity endpointCapacity(keys.length). */
  static of(keys: readonly string[]): EndpointSlots {
    const capacity = endpointCapacity(keys.length);
    const priority = new Map<string, number>();
    for (const key of keys) priority.set(key, priorityOf(key));
    const slots = new EndpointSlots(capacity, Array.from<string | undefined>({ length: capacity }), priority);
    slots.#place(keys);
    return slots;
  }

  /** How many keys it holds. */
  get size(): number {
    return this.#priority.size;
  }

  /** The key at slot `id`, undefined for a gap. */
  at(id: number): string | undefined {
    return this.#slots[id];
  }

  /**
   * Takes `removed` keys away and `added` keys in (each distinct, removed ones held, added ones
   * not), re-placing the probe clusters they touch: the result equals `EndpointSlots.of` of the
   * resulting keys. Returns the slots whose key changed (ascending), or undefined, leaving this
   * unchanged, when the resulting count needs another capacity (the caller makes it whole).
   */
  apply(removed: readonly string[], added: readonly string[]): number[] | undefined {
    if (endpointCapacity(this.size - removed.length + added.length) !== this.capacity) return undefined;
    // The key each touched slot held before: a slot changed when it holds another now.
    const was = new Map<number, string | undefined>();
    for (const key of removed) {
      const slot = this.#slotOf(key);
      this.#priority.delete(key);
      if (!was.has(slot)) was.set(slot, key);
      this.#slots[slot] = undefined;
      // The cluster it was in, without it: bounded by empty slots that stay empty.
      this.#replace(this.#clusterStart(slot), this.#clusterEnd(slot), was);
    }
    for (const key of added) {
      const priority = priorityOf(key);
      this.#priority.set(key, priority);
      const home = homeOf(priority, this.capacity);
      // The key fills the first empty slot at or after its home, joining the clusters on either side
      // of it: that whole run, bounded by empty slots, is placed again.
      let empty = home;
      while (this.#slots[empty] !== undefined) empty = (empty + 1) % this.capacity;
      if (!was.has(empty)) was.set(empty, undefined);
      this.#slots[empty] = key;
      this.#replace(this.#clusterStart(empty), this.#clusterEnd(empty), was);
    }
    return [...was].flatMap(([slot, key]) => (this.#slots[slot] === key ? [] : [slot])).sort((a, b) => a - b);
  }

  /** The slot (endpoint id) of `key`, or -1 when it is not held. */
  idOf(key: string): number {
    return this.#priority.has(key) ? this.#slotOf(key) : -1;
  }

  /** The slot of a held key (its probe from its home). */
  #slotOf(key: string): number {
    let slot = homeOf(this.#priority.get(key)!, this.capacity);
    while (this.#slots[slot] !== key) slot = (slot + 1) % this.capacity;
    return slot;
  }

  /** The first slot of the run of held slots ending at or after `slot` (walking back to a gap). */
  #clusterStart(slot: number): number {
    let start = slot;
    for (let back = (start + this.capacity - 1) % this.capacity; this.#slots[back] !== undefined; back = (back + this.capacity - 1) % this.capacity) start = back;
    return start;
  }

  /** The last slot of the run of held slots starting at or before `slot` (`slot` itself when the next is a gap). */
  #clusterEnd(slot: number): number {
    let end = slot;
    for (let next = (end + 1) % this.capacity; this.#slots[next] !== undefined; next = (next + 1) % this.capacity) end = next;
    return end;
  }

  /** Empties slots start..end (circular) and places their keys again in priority order, noting in `was` what each held first. */
  #replace(start: number, end: number, was: Map<number, string | undefined>): void {
    const keys: string[] = [];
    for (let slot = start; ; slot = (slot + 1) % this.capacity) {
      const key = this.#slots[slot];
      if (!was.has(slot)) was.set(slot, key);
      if (key !== undefined) keys.push(key);
      this.#slots[slot] = undefined;
      if (slot === end) break;
    }
    this.#place(keys);
  }

  /** Inserts `keys` (their priorities known, their slots empty) in priority order by linear probing. */
  #place(keys: readonly string[]): void {
    const priorities = Float64Array.from(keys, (key) => this.#priority.get(key)!);
    const order = Array.from(keys, (_, i) => i).sort((a, b) => (before(priorities[a]!, keys[a]!, priorities[b]!, keys[b]!) ? -1 : 1));
    for (const i of order) {
      let slot = homeOf(priorities[i]!, this.capacity);
      while (this.#slots[slot] !== undefined) slot = (slot + 1) % this.capacity;
      this.#slots[slot] = keys[i];
    }
  }
}
