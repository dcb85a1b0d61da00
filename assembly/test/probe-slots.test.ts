// probe-slots.ts against a reference placement written out here (sort by priority, probe from the
// home, wrap at the end): the full placement, and `apply` over random add/remove sequences of up to
// 1,000 keys whose homes crowd on a few slots (the last ones among them, so clusters wrap), under
// three rules: arbitrary priority against the homes, homes ascending with priority and a capacity
// that is no power of two (the endpoint ids' shape), and the host hash tables' rule (hash-slots.ts).
import { describe, expect, it } from 'vitest';
import { ProbeSlots, probePlace } from '../src/host/probe-slots.ts';
import type { ProbeRule } from '../src/host/probe-slots.ts';
import { hostSlotCapacity, hostSlotRule } from '../src/host/hash-slots.ts';
import { crowdedHosts, expectSame, hostHash, layoutOf, lcg } from './slot-support.ts';

function shuffled<T>(items: readonly T[], next: (n: number) => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = next(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** The layout by definition: the keys sorted by priority, each inserted at the first empty slot from its home. */
function reference<K>(keys: readonly K[], rule: ProbeRule<K>, capacity: number): (K | undefined)[] {
  const slots = new Array<K | undefined>(capacity).fill(undefined);
  const ordered = keys.slice().sort((a, b) => (rule.before(a, b) ? -1 : 1));
  for (const key of ordered) {
    let slot = rule.home(key, capacity);
    while (slots[slot] !== undefined) slot = (slot + 1) % capacity;
    slots[slot] = key;
  }
  return slots;
}

/** The held run around `slot` in `layout` (walking both ways to an empty slot), as a list of slots. */
function clusterAround<K>(layout: readonly (K | undefined)[], slot: number): number[] {
  const n = layout.length;
  let start = slot;
  while (layout[(start + n - 1) % n] !== undefined) start = (start + n - 1) % n;
  const run: number[] = [];
  for (let s = start; run.length === 0 || layout[s] !== undefined; s = (s + 1) % n) run.push(s);
  return run;
}

/** Power of two with room for load <= ~0.87: dense enough for long clusters, changing capacity now and then. */
const denseCapacity = (count: number): number => {
  let capacity = 16;
  while (capacity < count * 1.15 + 1) capacity *= 2;
  return capacity;
};

/** Keys 0..999; a third crowd on the last two slots (wrap-around), a third on slot 5, the rest spread; priority is a fixed shuffle. */
function crowdedRule(): ProbeRule<number> {
  const rank = shuffled(Array.from({ length: 1000 }, (_, i) => i), lcg(99));
  return {
    home: (key, capacity) => (key % 3 === 0 ? capacity - 1 - (key % 2) : key % 3 === 1 ? 5 % capacity : (key * 2654435761) % capacity),
    before: (a, b) => rank[a]! < rank[b]!,
    capacity: denseCapacity,
  };
}

/** Homes ascend with priority (home = the priority's top bits) and the capacity is m * 2^e, m in 8..15 (the endpoint ids' shape); ties on a home go by key. */
function ascendingRule(): ProbeRule<number> {
  const priority = (key: number): number => (key % 4 === 0 ? 0xffff_ff00 + (key % 97) : Math.imul(key + 1, 0x9e3779b1) >>> 0);
  return {
    home: (key, capacity) => Math.floor((priority(key) * capacity) / 2 ** 32),
    before: (a, b) => (priority(a) !== priority(b) ? priority(a) < priority(b) : a < b),
    capacity: (count) => {
      const need = Math.max(8, Math.ceil((count * 10) / 8));
      let unit = 1;
      while (unit * 16 <= need) unit *= 2;
      return Math.ceil(need / unit) * unit;
    },
  };
}

describe('probePlace', () => {
  it('puts each key at the first slot from its home that no earlier key took, wrapping at the end', () => {
    expect([...probePlace([3, 3, 0, 3, 2], 6)]).toEqual([3, 4, 0, 5, 2]);
    expect([...probePlace([5, 5, 5], 6)]).toEqual([5, 0, 1]);
  });

  it('refuses keys that leave no slot empty', () => {
    expect(() => probePlace([0, 1, 2, 3], 4)).toThrow(RangeError);
  });
});

describe('ProbeSlots', () => {
  it('lays out a key set alike whatever order the keys come in, as the reference does', () => {
    const next = lcg(1);
    const rule = crowdedRule();
    const keys = shuffled(Array.from({ length: 1000 }, (_, i) => i), next).slice(0, 600);
    const first = layoutOf(ProbeSlots.of(keys, rule));
    expect(first).toEqual(reference(keys, rule, denseCapacity(600)));
    for (let round = 0; round < 3; round++) expect(layoutOf(ProbeSlots.of(shuffled(keys, next), rule))).toEqual(first);
    const slots = ProbeSlots.of(keys, rule);
    for (const key of keys) expect(slots.at(slots.slotOf(key))).toBe(key);
    expect(slots.slotOf(keys.length + 1000)).toBe(-1);
  });

  it.each([
    ['priority unrelated to crowded, wrapping homes', crowdedRule(), Array.from({ length: 1000 }, (_, i) => i)],
    ['homes ascending with priority, capacity m * 2^e', ascendingRule(), Array.from({ length: 1000 }, (_, i) => i)],
  ] as const)('keeps random adds and removes equal to a fresh layout, naming exactly the changed slots (%s)', (_name, rule, pool) => {
    const next = lcg(42);
    let held = new Set(pool.slice(0, 300));
    let slots = ProbeSlots.of([...held], rule);
    const seen = { patched: 0, refused: 0, wrapped: 0, merged: 0, split: 0, moved: 0 };
    for (let step = 0; step < 1000; step++) {
      // Mostly one key at a time (a typical change), sometimes a few at once; drifting in size so capacities change.
      const grow = step % 400 < 200;
      const removed = shuffled([...held], next).slice(0, next(grow ? 2 : 4));
      const added = shuffled(pool.filter((key) => !held.has(key)), next).slice(0, next(grow ? 4 : 2));
      const before = layoutOf(slots);
      const changed = slots.apply(removed, added);
      held = new Set([...held].filter((key) => !removed.includes(key)).concat(added));
      if (changed === undefined) {
        seen.refused++;
        expectSame(layoutOf(slots), before);
        expect(rule.capacity(held.size)).not.toBe(slots.capacity);
        slots = ProbeSlots.of([...held], rule);
        continue;
      }
      seen.patched++;
      const after = layoutOf(slots);
      expectSame(after, reference([...held], rule, slots.capacity));
      expectSame(changed, after.flatMap((key, s) => (key !== before[s] ? [s] : [])));
      if (changed.length > removed.length + added.length) seen.moved++;
      // The cases a one-key change must get right: a wrapped cluster, an add joining two clusters, a remove splitting one.
      const wraps = (key: number | undefined, s: number): boolean => key !== undefined && rule.home(key, slots.capacity) > s;
      if (changed.some((s) => wraps(before[s], s) || wraps(after[s], s))) seen.wrapped++;
      if (removed.length === 0 && added.length === 1) {
        const n = before.length;
        let empty = rule.home(added[0]!, n);
        while (before[empty] !== undefined) empty = (empty + 1) % n;
        if (before[(empty + n - 1) % n] !== undefined && before[(empty + 1) % n] !== undefined) seen.merged++;
      }
      if (removed.length === 1 && added.length === 0) {
        const run = clusterAround(before, before.indexOf(removed[0]));
        if (run.filter((s) => after[s] === undefined).length > 1 || (after[run[0]!] !== undefined && after[run.at(-1)!] !== undefined && run.some((s) => after[s] === undefined))) seen.split++;
      }
    }
    expect(seen.patched).toBeGreaterThan(650);
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.wrapped).toBeGreaterThan(100);
    expect(seen.merged).toBeGreaterThan(5);
    expect(seen.split).toBeGreaterThan(5);
    expect(seen.moved).toBeGreaterThan(100);
  });

  it('takes a key out and back in within one apply, and refuses keys that break the contract, unchanged', () => {
    const rule = crowdedRule();
    const slots = ProbeSlots.of([0, 3, 6, 9, 1, 2], rule);
    const before = layoutOf(slots);
    expect(slots.apply([3], [3])).toEqual([]);
    expect(() => slots.apply([4], [])).toThrow(RangeError);
    expect(() => slots.apply([], [6])).toThrow(RangeError);
    expect(() => slots.apply([3, 3], [])).toThrow(RangeError);
    expect(() => slots.apply([], [7, 7])).toThrow(RangeError);
    expect(layoutOf(slots)).toEqual(before);
  });

  it('holds no keys in no slots when its rule gives capacity 0 for none, and refuses the first add as a capacity change', () => {
    const rule: ProbeRule<string> = { home: () => 0, before: (a, b) => a < b, capacity: (count) => (count === 0 ? 0 : 8) };
    const empty = ProbeSlots.of([], rule);
    expect([empty.capacity, empty.size, empty.slotOf('a')]).toEqual([0, 0, -1]);
    expect(empty.apply([], ['a'])).toBeUndefined();
    const one = ProbeSlots.of(['a'], rule);
    expect(one.apply(['a'], [])).toBeUndefined();
    expect(one.slotOf('a')).toBe(0);
  });

  it('changes one slot, or a few, when one key of 50,000 spread keys comes or goes', () => {
    const rule = hostSlotRule<string>(hostHash, (a, b) => a < b);
    const names = Array.from({ length: 50_000 }, (_, i) => `host-${i}.fleet.example`);
    const slots = ProbeSlots.of(names, rule);
    let most = 0;
    let total = 0;
    for (let i = 0; i < 200; i++) {
      const name = `new-${i}.fleet.example`;
      const changed = [...slots.apply([], [name])!, ...slots.apply([name], [])!];
      most = Math.max(most, changed.length);
      total += changed.length;
    }
    expect(total / 400).toBeLessThan(3);
    expect(most).toBeLessThan(30);
  });
});

describe('hostSlotRule', () => {
  it('keeps a host table equal to a fresh one over random adds and removes of crowded, wrapping host names', () => {
    const next = lcg(7);
    const pool = crowdedHosts(1000);
    const rule = hostSlotRule<string>(hostHash, (a, b) => a < b);
    let held = new Set(pool.slice(0, 200));
    let slots = ProbeSlots.of([...held], rule);
    let patched = 0;
    let wrapped = 0;
    for (let step = 0; step < 600; step++) {
      const removed = shuffled([...held], next).slice(0, next(step % 300 < 150 ? 2 : 4));
      const added = shuffled(pool.filter((key) => !held.has(key)), next).slice(0, next(step % 300 < 150 ? 4 : 2));
      const before = layoutOf(slots);
      const changed = slots.apply(removed, added);
      held = new Set([...held].filter((key) => !removed.includes(key)).concat(added));
      if (changed === undefined) {
        expect(hostSlotCapacity(held.size)).not.toBe(slots.capacity);
        slots = ProbeSlots.of([...held], rule);
        continue;
      }
      patched++;
      const after = layoutOf(slots);
      expectSame(after, reference([...held], rule, slots.capacity));
      expectSame(changed, after.flatMap((key, s) => (key !== before[s] ? [s] : [])));
      if (changed.some((s) => after[s] !== undefined && rule.home(after[s], slots.capacity) > s)) wrapped++;
    }
    expect(patched).toBeGreaterThan(450);
    expect(wrapped).toBeGreaterThan(50);
  });
});
