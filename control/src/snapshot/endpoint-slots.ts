/**
 * Endpoint ids that do not depend on history: the id of an endpoint key (`address|port`) is its
 * slot in a linear-probing table of capacity `endpointCapacity(keys)`, laid out as if the keys were
 * inserted in one fixed priority order (Blelloch & Golovin's history-independent linear probing).
 * The layout is a pure function of the key set and the capacity, so every replica and node numbers
 * alike whatever the order of events, and adding or removing one key re-places only its probe
 * cluster (a scale changes one or two ids, not every later one). Unused slots are gaps. The
 * probing itself is the matcher table's (@portico/assembly/probe-slots): this file gives its rule.
 */
import { ProbeSlots } from '@portico/assembly/probe-slots';
import type { ProbeRule } from '@portico/assembly/probe-slots';
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

/** The endpoint ids' probing rule over keys whose priorities `priority` holds (see the file comment). */
function ruleOf(priority: ReadonlyMap<string, number>): ProbeRule<string> {
  return {
    home: (key, capacity) => homeOf(priority.get(key)!, capacity),
    before: (a, b) => before(priority.get(a)!, a, priority.get(b)!, b),
    capacity: endpointCapacity,
  };
}

/**
 * The slots of a set of endpoint keys: `at(id)` is the key of endpoint id `id`, undefined for a
 * gap. Made whole by `of`; `apply` changes it in place by a few keys (the compiler keeps one).
 */
export class EndpointSlots {
  readonly #slots: ProbeSlots<string>;
  /** Each held key's priority (the rule reads it: a key's hash is mixed once). */
  readonly #priority: Map<string, number>;

  private constructor(slots: ProbeSlots<string>, priority: Map<string, number>) {
    this.#slots = slots;
    this.#priority = priority;
  }

  /** The slots of the distinct keys `keys` (each given once) at capacity endpointCapacity(keys.length). */
  static of(keys: readonly string[]): EndpointSlots {
    const priority = new Map<string, number>();
    const priorities = new Float64Array(keys.length);
    keys.forEach((key, i) => priority.set(key, (priorities[i] = priorityOf(key))));
    // Sorted here on typed numbers: ProbeSlots.of then checks the order in one pass, where its own
    // sort would read the priorities from the map at every comparison (2-4x slower at 50k keys).
    const order = Array.from(keys, (_, i) => i).sort((a, b) => (before(priorities[a]!, keys[a]!, priorities[b]!, keys[b]!) ? -1 : 1));
    return new EndpointSlots(ProbeSlots.of(order.map((i) => keys[i]!), ruleOf(priority)), priority);
  }

  /** The number of slots: endpointCapacity of the count it was made with. */
  get capacity(): number {
    return this.#slots.capacity;
  }

  /** The key at slot `id`, undefined for a gap. */
  at(id: number): string | undefined {
    return this.#slots.at(id);
  }

  /**
   * Takes `removed` keys away and `added` keys in (each distinct, removed ones held, added ones
   * not), re-placing the probe clusters they touch: the result equals `EndpointSlots.of` of the
   * resulting keys. Returns the slots whose key changed (ascending), or undefined, leaving this
   * unchanged, when the resulting count needs another capacity (the caller makes it whole).
   * Throws RangeError, unchanged, on keys that break that contract.
   */
  apply(removed: readonly string[], added: readonly string[]): number[] | undefined {
    const fresh = added.filter((key) => !this.#priority.has(key));
    for (const key of fresh) this.#priority.set(key, priorityOf(key));
    let changed: number[] | undefined;
    try {
      changed = this.#slots.apply(removed, added);
    } finally {
      // The priorities of the keys it holds, no more: the added ones' go when it refused them.
      const gone = changed === undefined ? fresh : removed.filter((key) => this.#slots.slotOf(key) === -1);
      for (const key of gone) this.#priority.delete(key);
    }
    return changed;
  }

  /** The slot (endpoint id) of `key`, or -1 when it is not held. */
  idOf(key: string): number {
    return this.#slots.slotOf(key);
  }
}
