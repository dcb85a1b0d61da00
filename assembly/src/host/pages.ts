/**
 * A list held as pages of PAGE_ITEMS items, copy-on-write: the next version of a list where a few
 * items changed shares every other page with the version it came from, so a change to 3 of
 * 100,000 route records copies one or two pages, not the list. Versions are immutable.
 */

const PAGE_SHIFT = 10;
/** Items per page. */
export const PAGE_ITEMS = 1 << PAGE_SHIFT;

/** What patchOwnChunks reads of its chunk and route lists: an array, or Pages. */
export interface ItemList<T> {
  readonly length: number;
  at(index: number): T | undefined;
}

/** An immutable paged list (see the file comment). */
export class Pages<T> implements ItemList<T> {
  readonly length: number;
  readonly #pages: readonly (readonly T[])[];

  private constructor(length: number, pages: readonly (readonly T[])[]) {
    this.length = length;
    this.#pages = pages;
  }

  /** The pages of `items` (copied: the list does not change when `items` does). */
  static of<T>(items: ItemList<T>): Pages<T> {
    if (items instanceof Pages) return items as Pages<T>;
    const pages: T[][] = [];
    // An array's pages are native copies (a loop of at() calls was 4 ms for 50,000 items).
    if (Array.isArray(items)) {
      for (let at = 0; at < items.length; at += PAGE_ITEMS) pages.push((items as T[]).slice(at, at + PAGE_ITEMS));
      return new Pages(items.length, pages);
    }
    for (let at = 0; at < items.length; at += PAGE_ITEMS) {
      const page: T[] = [];
      for (let i = at; i < Math.min(at + PAGE_ITEMS, items.length); i++) page.push(items.at(i) as T);
      pages.push(page);
    }
    return new Pages(items.length, pages);
  }

  /** Item `index` (undefined outside the list). */
  at(index: number): T | undefined {
    if (!(index >= 0 && index < this.length)) return undefined;
    return this.#pages[index >>> PAGE_SHIFT]![index & (PAGE_ITEMS - 1)];
  }

  /** The next version: the items at the keys of `changes` (each inside the list) replaced by its values. */
  with(changes: ReadonlyMap<number, T>): Pages<T> {
    if (changes.size === 0) return this;
    const pages = this.#pages.slice();
    const copied = new Set<number>();
    for (const [index, item] of changes) {
      if (!(index >= 0 && index < this.length)) throw new RangeError(`item ${index} is outside the list of ${this.length}`);
      const p = index >>> PAGE_SHIFT;
      if (!copied.has(p)) {
        pages[p] = pages[p]!.slice();
        copied.add(p);
      }
      (pages[p] as T[])[index & (PAGE_ITEMS - 1)] = item;
    }
    return new Pages(this.length, pages);
  }

  /** The number of pages: items [p * PAGE_ITEMS, (p + 1) * PAGE_ITEMS) are page p. */
  get pageCount(): number {
    return this.#pages.length;
  }

  /**
   * Page `p`'s items (never changed: a version that changes one of them has a page of its own), or
   * undefined outside the list. The same array in every version that shares the page, so a reader
   * that kept what it derived from a page can tell by identity that it still holds.
   */
  page(p: number): readonly T[] | undefined {
    return this.#pages[p];
  }

  /**
   * A list of `count` items made of stretches of this one: flat triples `from, to, offset` (ascending)
   * say that items [from, to) are this list's [from + offset, to + offset); `fill(i)` gives every
   * other item. Native copies of the stretches, a call per other item: the cost of a list whose items
   * were inserted or taken away, not a call per item.
   */
  remapped(runs: readonly number[], count: number, fill: (index: number) => T): T[] {
    const out: T[] = [];
    let end = 0;
    for (let i = 0; i <= runs.length; i += 3) {
      const from = i < runs.length ? runs[i]! : count;
      for (let k = end; k < from; k++) out.push(fill(k));
      if (i === runs.length) break;
      // The stretch page by page (a plain push per item: flat() and concat of a 50,000-item list were slower).
      for (let at = from + runs[i + 2]!, to = runs[i + 1]! + runs[i + 2]!; at < to; ) {
        const page = this.#pages[at >>> PAGE_SHIFT]!;
        const inside = at & (PAGE_ITEMS - 1);
        const n = Math.min(to - at, PAGE_ITEMS - inside);
        for (let k = 0; k < n; k++) out.push(page[inside + k]!);
        at += n;
      }
      end = runs[i + 1]!;
    }
    return out;
  }

  /** The items in order, as one array (a copy). */
  toArray(): T[] {
    return this.#pages.flat() as T[];
  }
}
