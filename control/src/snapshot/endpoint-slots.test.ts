import { describe, expect, it } from 'vitest';
import { EndpointSlots, endpointCapacity, endpointHome } from './endpoint-slots.ts';
import { lcg } from './test-support.ts';


const layout = (slots: EndpointSlots): (string | undefined)[] => Array.from({ length: slots.capacity }, (_, id) => slots.at(id));

function shuffled<T>(items: readonly T[], next: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('endpointCapacity', () => {
  it('is 0 for none, at least 8, holds the keys at load 0.7, in steps of at most 12.5 % (from 64)', () => {
    expect(endpointCapacity(0)).toBe(0);
    expect(endpointCapacity(1)).toBe(8);
    expect(endpointCapacity(7)).toBe(10);
    let last = 8;
    for (let count = 1; count < 20_000; count++) {
      const capacity = endpointCapacity(count);
      expect(count / capacity).toBeLessThanOrEqual(0.7);
      expect(capacity).toBeGreaterThanOrEqual(last);
      // Below that, one key more is a larger share of the table than a step.
      if (capacity !== last && last >= 64) expect(capacity / last).toBeLessThanOrEqual(1.125 + 1e-9);
      last = capacity;
    }
  });
});

describe('EndpointSlots', () => {
  it('places each key once, at or after its home, with no gap between', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `10.0.${i >> 8}.${i & 255}|8080`);
    const slots = EndpointSlots.of(keys);
    const seen = layout(slots).filter((key) => key !== undefined);
    expect(seen.sort()).toEqual(keys.slice().sort());
    for (let id = 0; id < slots.capacity; id++) {
      const key = slots.at(id);
      if (key === undefined) continue;
      // Every slot from the key's home to its own is held (linear probing's invariant).
      for (let at = endpointHome(key, slots.capacity); at !== id; at = (at + 1) % slots.capacity) expect(slots.at(at)).toBeDefined();
    }
  });

  it('is a function of the key set: any insertion order gives the same layout', () => {
    const next = lcg(7);
    const keys = Array.from({ length: 500 }, (_, i) => `fd00::${i.toString(16)}|${80 + (i % 3)}`);
    const first = layout(EndpointSlots.of(keys));
    for (let round = 0; round < 5; round++) expect(layout(EndpointSlots.of(shuffled(keys, next)))).toEqual(first);
  });

  it('keeps a random sequence of adds, removes and moves equal to a fresh layout of the keys it ends with', () => {
    const next = lcg(42);
    const pool = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.0.${i & 255}|${i % 2 === 0 ? 80 : 443}`);
    let held = new Set(pool.slice(0, 200));
    let slots = EndpointSlots.of([...held]);
    let incremental = 0;
    let wrapped = false;
    let sharedHome = false;
    for (let step = 0; step < 1500; step++) {
      const removed = shuffled([...held], next).slice(0, Math.floor(next() * 3));
      const free = pool.filter((key) => !held.has(key));
      const added = shuffled(free, next).slice(0, Math.floor(next() * 3));
      const before = layout(slots);
      const changed = slots.apply(removed, added);
      held = new Set([...held].filter((key) => !removed.includes(key)).concat(added));
      if (changed === undefined) {
        // Another capacity: unchanged, made whole by the caller.
        expect(layout(slots)).toEqual(before);
        expect(endpointCapacity(held.size)).not.toBe(slots.capacity);
        slots = EndpointSlots.of([...held]);
        continue;
      }
      incremental++;
      const fresh = EndpointSlots.of(shuffled([...held], next));
      expect(layout(slots)).toEqual(layout(fresh));
      // The slots it names changed are exactly those that differ.
      const after = layout(slots);
      expect(changed).toEqual(after.flatMap((key, id) => (key !== before[id] ? [id] : [])));
      for (let id = 0; id < slots.capacity; id++) {
        const key = slots.at(id);
        if (key !== undefined && endpointHome(key, slots.capacity) > id) wrapped = true;
        if (key !== undefined && key !== after[id - 1] && after[id - 1] !== undefined && endpointHome(after[id - 1]!, slots.capacity) === endpointHome(key, slots.capacity)) sharedHome = true;
      }
    }
    expect(incremental).toBeGreaterThan(1000);
    // The sequence went through the cases that matter: a cluster wrapping past the end, keys sharing a home.
    expect(wrapped).toBe(true);
    expect(sharedHome).toBe(true);
  });

  it('changes one or two ids when one key is added or removed within a capacity step', () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `10.1.${i >> 8}.${i & 255}|8080`);
    const slots = EndpointSlots.of(keys.slice(0, 4000));
    let most = 0;
    let total = 0;
    for (let i = 4000; i < 4100; i++) {
      const changed = slots.apply([], [keys[i]!])!;
      const back = slots.apply([keys[i]!], [])!;
      most = Math.max(most, changed.length, back.length);
      total += changed.length + back.length;
    }
    expect(total / 200).toBeLessThan(4);
    expect(most).toBeLessThan(40);
  });

  it('refuses, unchanged, a change that needs another capacity (growth across a step)', () => {
    const keys = Array.from({ length: 100 }, (_, i) => `10.2.0.${i}|80`);
    let count = 1;
    while (endpointCapacity(count + 1) === endpointCapacity(count)) count++;
    const slots = EndpointSlots.of(keys.slice(0, count));
    const before = layout(slots);
    expect(slots.apply([], [keys[count]!])).toBeUndefined();
    expect(layout(slots)).toEqual(before);
    const grown = EndpointSlots.of(keys.slice(0, count + 1));
    expect(grown.capacity).toBeGreaterThan(slots.capacity);
  });
});
