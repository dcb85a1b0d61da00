import { describe, expect, it } from 'vitest';
import { runEnds } from '../snapshot/sealed-against.ts';
import { ListEdits, keptRunsOf } from './list-edits.ts';

/** The unchanged ends the build's record of `list` says it kept of `previous`, or undefined. */
function keptEndsOf(list: readonly object[], previous: readonly object[]): { head: number; tail: number } | undefined {
  const runs = keptRunsOf(list, previous);
  return runs === undefined ? undefined : runEnds(runs, list.length, previous.length);
}

/** The items at both ends of `a` that are `b`'s at the same place from its start and its end, by identity (the most a record may claim). */
function actualEnds(a: readonly object[], b: readonly object[]): { head: number; tail: number } {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  return { head, tail };
}

/** One random set, insert or remove (an insert when `list` is empty) made to `list` and noted in `edits`; `e` marks the new object. */
function editAtRandom(list: object[], edits: ListEdits<object>, random: () => number, e: number): void {
  const kind = list.length === 0 ? 'insert' : (['set', 'insert', 'remove'] as const)[Math.floor(random() * 3)]!;
  const at = Math.floor(random() * (kind === 'insert' ? list.length + 1 : list.length));
  if (kind === 'set') list[at] = { set: e };
  else if (kind === 'insert') list.splice(at, 0, { inserted: e });
  else list.splice(at, 1);
  edits.note(kind, at, list.length);
}

describe('ListEdits', () => {
  it('records for each copy ends that are the previous copy\'s, exactly those of a single edit, over random edits', () => {
    let state = 12345;
    const random = (): number => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 200; round++) {
      const list: object[] = Array.from({ length: Math.floor(random() * 30) }, (_, i) => ({ i }));
      const edits = new ListEdits<object>();
      let last = edits.copy(list);
      expect(keptEndsOf(last, [])).toBeUndefined();
      for (let copy = 0; copy < 6; copy++) {
        const count = Math.floor(random() * 6);
        for (let e = 0; e < count; e++) editAtRandom(list, edits, random, e);
        const out = edits.copy(list);
        expect(out).toEqual(list);
        expect(out).not.toBe(list);
        const kept = keptEndsOf(out, last)!;
        const actual = actualEnds(out, last);
        const where = `round ${round} copy ${copy} (${count} edits)`;
        expect(kept.head, where).toBeLessThanOrEqual(actual.head);
        expect(kept.head + kept.tail, where).toBeLessThanOrEqual(Math.min(out.length, last.length));
        for (let i = 0; i < kept.head; i++) expect(out[i], where).toBe(last[i]);
        for (let k = 1; k <= kept.tail; k++) expect(out[out.length - k], where).toBe(last[last.length - k]);
        // No edit: the whole list is kept; one edit: exactly the ends it did not touch.
        if (count === 0) expect(kept, where).toEqual({ head: out.length, tail: 0 });
        if (count === 1 && out.length === last.length) expect(kept.head + kept.tail, where).toBe(out.length - 1);
        if (count === 1 && out.length !== last.length) expect(kept.head + kept.tail, where).toBe(Math.min(out.length, last.length));
        // Every stretch it claims is the last copy's, item for item, and it claims every item no edit touched (each edit makes or drops objects).
        const runs = keptRunsOf(out, last)!;
        let claimed = 0;
        for (let k = 0; k < runs.length; k += 3) {
          expect(runs[k]!, where).toBeGreaterThanOrEqual(k === 0 ? 0 : runs[k - 2]!);
          for (let i = runs[k]!; i < runs[k + 1]!; i++, claimed++) expect(out[i], `${where} item ${i}`).toBe(last[i + runs[k + 2]!]);
        }
        const before = new Set<object>(last);
        expect(claimed, where).toBe(out.filter((item) => before.has(item)).length);
        // Only the copy right after another answers for it.
        expect(keptEndsOf(out, list)).toBeUndefined();
        last = out;
      }
    }
  });

  it('past 64 stretches drops the middle ones, and every stretch it keeps is still the last copy\'s item for item', () => {
    let state = 777;
    const random = (): number => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 20; round++) {
      const list: object[] = Array.from({ length: 2000 }, (_, i) => ({ i }));
      const edits = new ListEdits<object>();
      const last = edits.copy(list);
      // 200 scattered edits of every kind: far more stretches than the record keeps.
      for (let e = 0; e < 200; e++) editAtRandom(list, edits, random, e);
      const out = edits.copy(list);
      expect(out).toEqual(list);
      const runs = keptRunsOf(out, last)!;
      const where = `round ${round}`;
      expect(runs.length / 3, where).toBeLessThanOrEqual(64);
      let claimed = 0;
      for (let k = 0; k < runs.length; k += 3) {
        expect(runs[k + 1]!, where).toBeGreaterThan(runs[k]!);
        for (let i = runs[k]!; i < runs[k + 1]!; i++, claimed++) expect(out[i], `${where} item ${i}`).toBe(last[i + runs[k + 2]!]);
      }
      // The cap dropped stretches on the way: fewer items claimed than the edits left untouched.
      const before = new Set<object>(last);
      expect(claimed, where).toBeLessThan(out.filter((item) => before.has(item)).length);
      // The ends it claims are ends both copies share.
      const kept = keptEndsOf(out, last)!;
      const actual = actualEnds(out, last);
      expect(kept.head, where).toBeLessThanOrEqual(actual.head);
      expect(kept.tail, where).toBeLessThanOrEqual(actual.tail);
    }
  });
});
