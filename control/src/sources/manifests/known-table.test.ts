/**
 * The watcher's known table and the parser thread's copy of it: whatever happens to the jobs in
 * between (lost, answered stale, replaced by another table's, the copy dropped for room), a copy
 * the thread uses is exactly the table as it was when the job was made, and an update carries only
 * the slots that changed.
 */
import { describe, expect, it } from 'vitest';
import type { KnownCopy, KnownUpdate } from './known-table.ts';
import { KnownMirrors, KnownTable } from './known-table.ts';

/** A deterministic pseudo-random sequence (no flaky seeds). */
function sequence(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** The copy must hold exactly the table's fingerprints, each in the table's slot. */
function expectSame(copy: KnownCopy, table: KnownTable<number>): void {
  expect(copy.names).toEqual(table.names);
  const slots = new Map<string, number>();
  table.names.forEach((name, slot) => (name === '' ? undefined : slots.set(name, slot)));
  expect(new Map(copy.index)).toEqual(slots);
  table.forEach((value, fingerprint) => expect(table.get(fingerprint)).toBe(value));
}

describe('KnownTable and KnownMirrors', () => {
  it('a table of 3,000 with one fingerprint replaced sends one slot, not the list', () => {
    const table = new KnownTable<number>();
    const mirrors = new KnownMirrors();
    for (let i = 0; i < 3000; i++) table.set(`f${i}`, i);
    const whole = table.update();
    expect(whole.base).toBeUndefined();
    expect(whole.names).toHaveLength(3000);
    mirrors.apply('a', whole);
    table.confirm(whole);
    table.delete('f1500');
    table.set('g1500', 1500);
    const edit = table.update();
    expect(edit.base).toBe(whole.generation);
    expect(edit.names).toEqual(['g1500']);
    expectSame(mirrors.apply('a', edit)!, table);
  });

  it('random edits and hostile deliveries: every copy the thread would use is the table as sent', () => {
    const random = sequence(11);
    const mirrors = new KnownMirrors(5000);
    const tables = [new KnownTable<number>(), new KnownTable<number>()];
    const applied = { delta: 0, stale: 0, whole: 0 };
    let next = 0;
    for (let step = 0; step < 600; step++) {
      const which = random() < 0.85 ? 0 : 1;
      const table = tables[which]!;
      // An edit: a few fingerprints dropped, a few come (some of the dropped ones back again).
      const held = table.keys();
      for (let k = Math.floor(random() * 4); k > 0 && held.length > 0; k--) table.delete(held[Math.floor(random() * held.length)]!);
      for (let k = Math.floor(random() * (held.length < 50 ? 40 : 4)); k > 0; k--) table.set(random() < 0.2 && held.length > 0 ? held[Math.floor(random() * held.length)]! : `f${next++}`, step);
      const update: KnownUpdate = table.update();
      if (update.base !== undefined) expect(update.names.length).toBeLessThan(50);
      const fate = random();
      // Two tables share the key 'k' (each update of one makes the other's base stale); a job is lost 10% of the time.
      if (fate < 0.1) {
        table.lost();
        continue;
      }
      if (fate < 0.15) mirrors.apply(`other-${step}`, KnownTable.whole(Array.from({ length: 900 }, (_, i) => `o${step}-${i}`))); // room taken by other files
      const copy = mirrors.apply('k', update);
      if (copy === undefined) {
        applied.stale++;
        expect(update.base).toBeDefined();
        table.lost();
        const whole = table.update();
        expect(whole.base).toBeUndefined();
        expectSame(mirrors.apply('k', whole)!, table);
        table.confirm(whole);
        continue;
      }
      if (update.base === undefined) applied.whole++;
      else applied.delta++;
      expectSame(copy, table);
      // The reply lost on the way back (the thread restarted after answering): the table cannot know.
      if (fate < 0.2) table.lost();
      else table.confirm(update);
    }
    expect(applied.delta).toBeGreaterThan(300);
    expect(applied.stale).toBeGreaterThan(20);
    expect(mirrors.fingerprints).toBeLessThanOrEqual(5000);
  });

  it('an update made while another is in flight is the whole table, and the earlier one confirmed late does not count', () => {
    const table = new KnownTable<number>();
    const mirrors = new KnownMirrors();
    table.set('a', 1);
    const first = table.update();
    mirrors.apply('k', first);
    table.confirm(first);
    table.set('b', 2);
    const second = table.update();
    const third = table.update();
    expect(third.base).toBeUndefined();
    table.confirm(second);
    table.set('c', 3);
    // `second` confirmed after `third` was made: the copy is not known to be `second`'s.
    expect(table.update().base).toBeUndefined();
  });

  it('refuses an empty fingerprint (it marks a free slot) and an update whose slots do not fit', () => {
    expect(() => new KnownTable<number>().set('', 1)).toThrow(RangeError);
    const mirrors = new KnownMirrors();
    const whole = KnownTable.whole(['a']);
    mirrors.apply('k', whole);
    expect(() => mirrors.apply('k', { generation: whole.generation + 1000, base: whole.generation, slots: Int32Array.of(5), names: ['x'] })).toThrow(RangeError);
  });
});
