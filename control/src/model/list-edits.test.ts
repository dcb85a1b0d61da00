import { describe, expect, it } from 'vitest';
import { ListEdits, keptEndsOf } from './list-edits.ts';

/** The items at both ends of `a` that are `b`'s at the same place from its start and its end, by identity (the most a record may claim). */
function actualEnds(a: readonly object[], b: readonly object[]): { head: number; tail: number } {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  return { head, tail };
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
        const count = Math.floor(random() * 4);
        for (let e = 0; e < count; e++) {
          const kind = list.length === 0 ? 'insert' : (['set', 'insert', 'remove'] as const)[Math.floor(random() * 3)]!;
          const at = Math.floor(random() * (kind === 'insert' ? list.length + 1 : list.length));
          if (kind === 'set') list[at] = { set: e };
          else if (kind === 'insert') list.splice(at, 0, { inserted: e });
          else list.splice(at, 1);
          edits.note(kind, at, list.length);
        }
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
        // Only the copy right after another answers for it.
        expect(keptEndsOf(out, list)).toBeUndefined();
        last = out;
      }
    }
  });
});
