/**
 * Reusing wasm instances across table swaps. Each instance owns its memory (grown to its table,
 * about 4 MB at 30,000 routes), and V8 gives a dropped instance's memory back only when a full
 * collection finds it dead: a data plane that made a fresh instance per swap sat tens of MiB
 * above idle during a run of changes. A pool keeps the instances whose last holder (a snapshot,
 * kept by the router while current and by each request in flight on it) let go, and loads the
 * next table into one of them: its memory is already grown and touched, so a swap is a copy and
 * an init, no allocation. A table that fails to load leaves every matcher in use untouched (it
 * was copied into a spare). Instances still held are never reused, however many swaps pass.
 */
import type { MatcherExports, PooledMatcher } from './matcher.ts';
import { loadIntoInstance, newMatcherInstance } from './matcher.ts';

/** What a pool did so far (metrics, tests). */
export interface MatcherPoolStats {
  /** Instances made (each a new wasm memory). */
  readonly created: number;
  /** Loads into an instance a previous table had used. */
  readonly reused: number;
  /** Instances given back while the pool was full: left to the GC. */
  readonly dropped: number;
  /** Instances kept for the next load now. */
  readonly spare: number;
  /** Matchers loaded and not yet released by their last holder. */
  readonly inUse: number;
}

/** Wasm instances of the matcher, reused once nobody holds their table (see the module comment). */
export class MatcherPool {
  readonly #maxSpare: number;
  readonly #spare: MatcherExports[] = [];
  #created = 0;
  #reused = 0;
  #dropped = 0;
  #inUse = 0;

  /**
   * `maxSpare` (>= 0): instances kept for reuse; more given back are dropped. Two cover a swap
   * (the replaced full table) plus an endpoint-only one (its small balancing table). Throws
   * RangeError for a count that is not a non-negative integer.
   */
  constructor(maxSpare = 2) {
    if (!Number.isInteger(maxSpare) || maxSpare < 0) throw new RangeError(`maxSpare must be a non-negative integer, not ${maxSpare}`);
    this.#maxSpare = maxSpare;
  }

  /**
   * Loads pre-encoded table bytes into a spare instance (the smallest whose memory holds them,
   * else the largest, grown) or a new one: a matcher with one holder. Throws
   * PORTICO_E_TABLE_CORRUPT (the instance stays spare) and PORTICO_E_MATCHER_NOT_BUILT as
   * loadMatcherFromBinary does.
   */
  load(bytes: Uint8Array): PooledMatcher {
    const wasm = this.#take(bytes.length);
    let matcher: PooledMatcher;
    try {
      matcher = loadIntoInstance(wasm, bytes, (given) => this.#giveBack(given));
    } catch (error) {
      this.#keep(wasm);
      throw error;
    }
    this.#inUse++;
    return matcher;
  }

  /** Counts so far. */
  get stats(): MatcherPoolStats {
    return { created: this.#created, reused: this.#reused, dropped: this.#dropped, spare: this.#spare.length, inUse: this.#inUse };
  }

  #take(length: number): MatcherExports {
    const spare = this.#spare;
    if (spare.length === 0) {
      this.#created++;
      return newMatcherInstance();
    }
    let best = -1;
    for (let i = 0; i < spare.length; i++) {
      const room = (spare[i] as MatcherExports).memory.buffer.byteLength;
      const bestRoom = best < 0 ? -1 : (spare[best] as MatcherExports).memory.buffer.byteLength;
      // Best fit: a small endpoint-only table leaves the big instance for the next full one.
      const fits = room >= length;
      const bestFits = bestRoom >= length;
      if (best < 0 || (fits && (!bestFits || room < bestRoom)) || (!fits && !bestFits && room > bestRoom)) best = i;
    }
    this.#reused++;
    return spare.splice(best, 1)[0] as MatcherExports;
  }

  #giveBack(wasm: MatcherExports): void {
    this.#inUse--;
    this.#keep(wasm);
  }

  #keep(wasm: MatcherExports): void {
    if (this.#spare.length < this.#maxSpare) this.#spare.push(wasm);
    else this.#dropped++;
  }
}
