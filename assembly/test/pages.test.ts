// Paged copy-on-write lists: a version with a few items replaced shares every other page, and the
// version it came from keeps its items.
import { describe, expect, it } from 'vitest';
import { PAGE_ITEMS, Pages } from '../src/host/pages.ts';

describe('Pages', () => {
  it('replaces items in copies of their pages only, and the old version keeps its items', () => {
    const items = Array.from({ length: 3 * PAGE_ITEMS + 7 }, (_, i) => ({ i }));
    const first = Pages.of(items);
    expect(first.length).toBe(items.length);
    expect(first.at(PAGE_ITEMS + 5)).toBe(items[PAGE_ITEMS + 5]);
    expect(first.at(-1)).toBeUndefined();
    expect(first.at(items.length)).toBeUndefined();
    const replaced = { i: -1 };
    const second = first.with(new Map([[PAGE_ITEMS + 5, replaced], [3 * PAGE_ITEMS + 6, replaced]]));
    expect(second.at(PAGE_ITEMS + 5)).toBe(replaced);
    expect(second.at(3 * PAGE_ITEMS + 6)).toBe(replaced);
    expect(first.at(PAGE_ITEMS + 5)).toBe(items[PAGE_ITEMS + 5]);
    const expected = items.slice();
    expected[PAGE_ITEMS + 5] = replaced;
    expected[3 * PAGE_ITEMS + 6] = replaced;
    expect(second.toArray()).toEqual(expected);
    expect(first.toArray()).toEqual(items);
    // The list does not follow later writes to the array it was made from; Pages.of of Pages is itself.
    items[0] = { i: 99 };
    expect(first.at(0)).toEqual({ i: 0 });
    expect(Pages.of(second)).toBe(second);
    expect(second.with(new Map())).toBe(second);
    // Pages by number: the untouched ones are the very arrays of the version before, the replaced ones new.
    expect(second.pageCount).toBe(4);
    expect([0, 1, 2, 3].map((p) => second.page(p) === first.page(p))).toEqual([true, false, true, false]);
    expect(second.page(1)![5]).toBe(replaced);
    expect(second.page(3)).toHaveLength(7);
    expect(second.page(4)).toBeUndefined();
  });

  it('refuses to replace an item outside the list', () => {
    const list = Pages.of([1, 2, 3]);
    expect(() => list.with(new Map([[3, 4]]))).toThrow(RangeError);
    expect(() => list.with(new Map([[-1, 4]]))).toThrow(RangeError);
    expect(Pages.of([]).toArray()).toEqual([]);
  });
});
