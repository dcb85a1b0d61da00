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

  /** The items in order, as one array (a copy). */
  toArray(): T[] {
    return this.#pages.flat() as T[];
  }
}
