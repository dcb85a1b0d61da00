/**
 * The `portico_endpoint_healthy` series of one data-plane process, kept between scrapes and
 * brought up to date by what changed since the last one, not made again from every endpoint
 * (150,000 at 50k Ingresses): its pages follow the snapshot's endpoint pages (Pages: a page of
 * refs that did not change is the very array it was), so an endpoint added, taken away or moved
 * encodes the one page of ids it is in, under a new key; its flags follow the snapshot's health
 * writes (`LoadedSnapshot.healthWrites`), so a scrape reads the health of the endpoints written
 * since the last one, not every endpoint's.
 */
import { PAGE_ITEMS } from '@portico/assembly/encode';
import { lastAtOrBefore } from '@portico/control/snapshot/order';
import type { Pages } from '@portico/assembly/encode';
import type { EndpointRef } from './endpoints.ts';
import type { FlagPage, FlagSeries } from './metric-families.ts';
import { escapeLabelValue } from './metric-families.ts';
import type { HealthWrites } from './health.ts';

/** What the series reads of a snapshot (a LoadedSnapshot has it). */
export interface HealthSource {
  /** Refs by endpoint id. */
  readonly endpoints: Pages<EndpointRef>;
  /** The ids whose health was written since the snapshot was loaded (all healthy). */
  readonly healthWrites: HealthWrites;
  /** Endpoint health as the balancer has it now. */
  readonly balancer: { isHealthy(id: number): boolean };
}

const encoder = new TextEncoder();

/** The series of one page of endpoint ids (ids [p * PAGE_ITEMS, (p + 1) * PAGE_ITEMS)). */
interface HealthPage {
  /** The snapshot's page of refs it was encoded from, or one with the very same refs. */
  refs: readonly (EndpointRef | undefined)[];
  /** The ids with a series, ascending. */
  readonly ids: Uint32Array;
  /** Their keys and flags (the flags written in place). */
  readonly page: FlagPage & { readonly flags: Uint8Array };
}

/**
 * Whether an endpoint has a series: not the stand-in of invalid backends (no address), nor an id
 * with no endpoint (a gap: ids need not be dense).
 */
function listed(ref: EndpointRef | undefined): ref is EndpointRef {
  return ref !== undefined && ref.address !== '';
}

/** Whether `a` and `b` hold the very same refs (a page read again whole keeps the refs that stayed). */
function sameRefs(a: readonly (EndpointRef | undefined)[], b: readonly (EndpointRef | undefined)[]): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Where `id` is in the ascending `ids`, or -1. */
function indexOf(ids: Uint32Array, id: number): number {
  const at = lastAtOrBefore(ids, id);
  return ids[at] === id ? at : -1;
}

/**
 * One process's endpoint health series (see the file comment). `of` answers the series of the
 * current snapshot; its pages' `flags` are rewritten by the next call (a renderer or a worker's
 * IPC copies what it keeps), its `values` never (a page that changes is a new one).
 */
export class EndpointHealthSeries {
  #pages: HealthPage[] = [];
  #series: FlagSeries = { label: 'endpoint', pages: [] };
  /** The endpoint list the pages follow (weak: an old snapshot's list is not kept alive by metrics). */
  #list: WeakRef<Pages<EndpointRef>> | undefined;
  /** The snapshot the flags are of, and its health writes read so far. */
  #snapshot: WeakRef<HealthSource> | undefined;
  #mark = 0;
  /** The ids whose flag is 0 in the pages: a new snapshot starts all healthy, so these are what it resets. */
  readonly #down = new Set<number>();
  /** The last page key given (FlagPage.valuesKey): a new one for each page encoded. */
  #keys = 0;

  /** Pages encoded so far (tests: what an endpoint change costs). */
  get pagesEncoded(): number {
    return this.#keys;
  }

  /**
   * The health series of `snapshot`'s endpoints in id order: pages whose endpoints changed since
   * the last call encoded again, flags read for the endpoints whose health was written since (every
   * endpoint when more were written than the snapshot keeps track of).
   */
  of(snapshot: HealthSource): FlagSeries {
    if (this.#snapshot?.deref() !== snapshot) {
      if (this.#list?.deref() !== snapshot.endpoints) this.#follow(snapshot.endpoints);
      // A snapshot is loaded all healthy: the flags shown down go back to 1, the writes since its load are read below.
      const down = [...this.#down];
      for (const id of down) this.#write(id, true);
      this.#snapshot = new WeakRef(snapshot);
      this.#mark = 0;
    }
    const writes = snapshot.healthWrites;
    const written = writes.since(this.#mark);
    this.#mark = writes.count;
    const balancer = snapshot.balancer;
    if (written !== undefined) {
      for (const id of written) this.#write(id, balancer.isHealthy(id));
    } else {
      for (const { ids } of this.#pages) for (const id of ids) this.#write(id, balancer.isHealthy(id));
    }
    return this.#series;
  }

  /** The pages for `endpoints`: each kept while its refs are the same, else encoded again. */
  #follow(endpoints: Pages<EndpointRef>): void {
    const pages = this.#pages;
    const count = endpoints.pageCount;
    pages.length = Math.min(pages.length, count);
    for (let p = 0; p < count; p++) {
      const refs = endpoints.page(p)!;
      const held = pages[p];
      if (held !== undefined && (held.refs === refs || sameRefs(held.refs, refs))) held.refs = refs;
      else pages[p] = this.#encode(refs, p * PAGE_ITEMS);
    }
    this.#list = new WeakRef(endpoints);
    this.#series = { label: 'endpoint', pages: pages.map((page) => page.page) };
  }

  /** The series of `refs` (ids from `first`), all healthy, under a new key. */
  #encode(refs: readonly (EndpointRef | undefined)[], first: number): HealthPage {
    const ids: number[] = [];
    let text = '';
    for (const [index, ref] of refs.entries()) {
      if (!listed(ref)) continue;
      ids.push(first + index);
      text += `${escapeLabelValue(ref.key)}\n`;
    }
    const flags = new Uint8Array(ids.length).fill(1);
    return { refs, ids: Uint32Array.from(ids), page: { values: encoder.encode(text), flags, valuesKey: String(++this.#keys) } };
  }

  /** Endpoint `id`'s flag (nothing when it has no series). */
  #write(id: number, healthy: boolean): void {
    const page = this.#pages[Math.floor(id / PAGE_ITEMS)];
    const index = page === undefined ? -1 : indexOf(page.ids, id);
    if (index < 0) {
      this.#down.delete(id);
      return;
    }
    page!.page.flags[index] = healthy ? 1 : 0;
    if (healthy) this.#down.delete(id);
    else this.#down.add(id);
  }
}
