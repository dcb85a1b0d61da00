/**
 * The table's hash slots (layout.ts `Slot`: key hash, record offset) as the encoder fills them:
 * a power-of-two capacity at load <= 1/2, a key's home is its hash's low bits (wasm probes from
 * `hash & mask`), keys inserted by linear probing in table order. That is probe-slots.ts's
 * history-independent layout with table order as the priority, so a host table can be patched by
 * re-placing one probe cluster (`hostSlotRule`) and still be byte for byte what the encoder lays out.
 */
import { probePlace } from './probe-slots.ts';
import type { ProbeRule } from './probe-slots.ts';

/** Power-of-two hash capacity for `n` keys at load factor <= 1/2 (at least `min`). */
export function hashCapacity(n: number, min: number): number {
  let cap = min;
  while (cap < n * 2) cap *= 2;
  return cap;
}

/** The capacity of a host hash table (exact, one-label or deep) of `count` hosts. */
export function hostSlotCapacity(count: number): number {
  return hashCapacity(count, 8);
}

/**
 * Slot words [hash, record offset] of `cap` slots (a power of two above the key count), keys
 * inserted in the given order from their hash's low bits; offsets are never 0 (0 marks an empty slot).
 */
export function hashSlots(keys: readonly { readonly hash: number; readonly offset: number }[], cap: number): Uint32Array {
  const homes = new Int32Array(keys.length);
  for (let i = 0; i < keys.length; i++) homes[i] = keys[i]!.hash & (cap - 1);
  const placed = probePlace(homes, cap);
  const slots = new Uint32Array(cap * 2);
  for (let i = 0; i < keys.length; i++) {
    const slot = placed[i]!;
    slots[slot * 2] = keys[i]!.hash;
    slots[slot * 2 + 1] = keys[i]!.offset;
  }
  return slots;
}

/**
 * The rule of a host hash table over host keys `K` (for ProbeSlots): `hashOf` gives a key's hash
 * (murmur of its lookup key with HOST_SEED, as ChunkHost.hash), `before` the table's host order.
 * A ProbeSlots under it holds, slot for slot, the hosts of the slots the encoder writes. `hashOf`
 * runs at every probe a patch starts (a cached hash, not a murmur per call, keeps a patch O(cluster)).
 */
export function hostSlotRule<K>(hashOf: (key: K) => number, before: (a: K, b: K) => boolean): ProbeRule<K> {
  return { home: (key, capacity) => hashOf(key) & (capacity - 1), before, capacity: hostSlotCapacity };
}
