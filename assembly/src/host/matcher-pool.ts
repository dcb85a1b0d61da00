/**
 * Reusing wasm instances across table swaps. Each instance owns its memory (grown to its table,
 * about 4 MB at 30,000 routes), and V8 gives a dropped instance's memory back only when a full
 * collection finds it dead: a data plane that made a fresh instance per swap sat tens of MiB
 * above idle during a run of changes. A pool keeps the instances whose last holder (a snapshot,
 * kept by the router while current and by each request in flight on it) let go, and loads the
 * next table into one of them: its memory is already grown and touched, so a swap is a copy and
 * an init, no allocation. A table that fails to load leaves every matcher in use untouched (it
 * was copied into a spare). Instances still held are never reused, however many swaps pass.
 *
 * A table given as blocks (TableBlocks: a patched version shares the blocks it did not write with
 * the one it was patched from) is copied only where the reused instance does not already hold it:
 * the pool remembers which block objects each instance's memory holds, and a block held at the
 * same index, that no pick has written into since (wasm keeps a map of the blocks whose inline
 * WRR weights changed), is left as it is. A one-path edit at 50,000 Ingresses then copies a few
 * 64 KiB blocks of a 20 MB table, not the table. Blocks are compared by identity: the same object
 * is the same bytes (a block is never written once its version is made, blocks.ts).
 */
import type { MatcherExports, PooledMatcher } from './matcher.ts';
import { loadIntoInstance, newMatcherInstance } from './matcher.ts';
import { TABLE_BLOCK_BYTES, TableBlocks } from './blocks.ts';

/** Bytes in a wasm memory page. */
const PAGE = 65536;

/** What a pool did so far (metrics, tests). */
export interface MatcherPoolStats {
  /** Instances a load made (each a new wasm memory). */
  readonly created: number;
  /** Loads into a spare instance: one a previous table had used, or one `prepare` made. */
  readonly reused: number;
  /** Spare instances `prepare` made ahead of a load (each a new wasm memory). */
  readonly prepared: number;
  /** Instances given back while the pool was full: left to the GC. */
  readonly dropped: number;
  /** Instances kept for the next load now. */
  readonly spare: number;
  /** Matchers loaded and not yet released by their last holder. */
  readonly inUse: number;
  /** Table blocks copied into instances by loads so far. */
  readonly blocksCopied: number;
  /** Table blocks loads found already in the reused instance's memory (not copied). */
  readonly blocksKept: number;
  /** Table blocks `prepare` copied into a spare ahead of a load. */
  readonly blocksPrepared: number;
}

/** Wasm instances of the matcher, reused once nobody holds their table (see the module comment). */
export class MatcherPool {
  readonly #maxSpare: number;
  readonly #spare: MatcherExports[] = [];
  /**
   * Per instance, the blocks of the table its memory holds (by index) as of its last successful
   * init; none while a load into it runs or after one failed.
   */
  readonly #holds = new WeakMap<MatcherExports, readonly (Uint8Array | undefined)[]>();
  /** Instances a table was initialised in (their written-block map is laid out): a prepared one never was, so nothing was ever written into it. */
  readonly #initialised = new WeakSet<MatcherExports>();
  /** The spare `prepare` is filling, until it holds its table (or a load took it). */
  #preparing: MatcherExports | undefined;
  #prepared = 0;
  #blocksPrepared = 0;
  #created = 0;
  #blocksCopied = 0;
  #blocksKept = 0;
  #reused = 0;
  #dropped = 0;
  #inUse = 0;

  readonly #newInstance: () => MatcherExports;

  /**
   * `maxSpare` (>= 0): instances kept for reuse; more given back are dropped. Two cover a swap
   * (the replaced full table) plus an endpoint-only one (its small balancing table).
   * `newInstance`: how an instance is made (newMatcherInstance; a test keeps them to read their
   * memory). Throws RangeError for a count that is not a non-negative integer.
   */
  constructor(maxSpare = 2, newInstance: () => MatcherExports = newMatcherInstance) {
    if (!Number.isInteger(maxSpare) || maxSpare < 0) throw new RangeError(`maxSpare must be a non-negative integer, not ${maxSpare}`);
    this.#maxSpare = maxSpare;
    this.#newInstance = newInstance;
  }

  /**
   * Loads a pre-encoded table (bytes, or its blocks) into a spare instance (the one holding most
   * of its blocks, else the smallest whose memory holds it, else the largest, grown) or a new one:
   * a matcher with one holder. Only the blocks the instance does not hold already are copied.
   * Throws PORTICO_E_TABLE_CORRUPT (the instance stays spare, marked as holding no table) and
   * PORTICO_E_MATCHER_NOT_BUILT as loadMatcherFromBinary does.
   */
  load(table: Uint8Array | TableBlocks): PooledMatcher {
    const blocks = table instanceof TableBlocks ? table : TableBlocks.of(table);
    const wasm = this.#take(blocks);
    if (wasm === this.#preparing) this.#preparing = undefined;
    const held = this.#intact(wasm);
    // Nothing is known of the memory while the copy runs: a failed load leaves it so.
    this.#holds.delete(wasm);
    let loaded: { matcher: PooledMatcher; copied: number };
    try {
      loaded = loadIntoInstance(wasm, blocks, (given) => this.#giveBack(given), held === undefined ? undefined : (b, block) => held[b] === block);
    } catch (error) {
      this.#keep(wasm);
      throw error;
    }
    this.#holds.set(wasm, blocks.blocks);
    this.#initialised.add(wasm);
    this.#blocksCopied += loaded.copied;
    this.#blocksKept += blocks.blocks.length - loaded.copied;
    this.#inUse++;
    return loaded.matcher;
  }

  /**
   * One step towards a spare instance holding `table` (the current version's), taken only while the
   * pool has no spare of its own: a new instance, its memory grown to the table, then at most
   * `maxBlocks` of the table's blocks copied per call. The next load takes it and copies only the
   * blocks it lacks (those its version changed) into memory already touched, where a load into a
   * new instance copies the whole table into fresh pages (about 10 ms at 20 MB: one page fault per
   * 4 KiB). The caller runs the steps on separate event-loop turns, so the copy is paid in slices
   * of `maxBlocks` × 64 KiB rather than inside a swap. Returns true while steps remain; false once
   * the spare holds `table`, or when the pool already has a spare (none is made then).
   */
  prepare(table: TableBlocks, maxBlocks = 16): boolean {
    // A load that took it ends its preparation (load clears #preparing).
    let wasm = this.#preparing;
    if (wasm === undefined) {
      if (this.#spare.length !== 0 || this.#maxSpare === 0) return false;
      wasm = this.#newInstance();
      this.#prepared++;
      this.#holds.set(wasm, []);
      this.#spare.push(wasm);
      this.#preparing = wasm;
    }
    const base = wasm.tableAddress();
    const need = base + table.length - wasm.memory.buffer.byteLength;
    if (need > 0) wasm.memory.grow(Math.ceil(need / PAGE));
    const held = (this.#holds.get(wasm) ?? []).slice(0, table.blocks.length);
    const into = new Uint8Array(wasm.memory.buffer);
    let copied = 0;
    for (let b = 0; b < table.blocks.length; b++) {
      const block = table.blocks[b]!;
      if (held[b] === block) continue;
      if (copied === maxBlocks) {
        this.#holds.set(wasm, held);
        return true;
      }
      into.set(block, base + b * TABLE_BLOCK_BYTES);
      held[b] = block;
      copied++;
      this.#blocksPrepared++;
    }
    this.#holds.set(wasm, held);
    this.#preparing = undefined;
    return false;
  }

  /** Counts so far. */
  get stats(): MatcherPoolStats {
    return { created: this.#created, reused: this.#reused, dropped: this.#dropped, spare: this.#spare.length, inUse: this.#inUse, blocksCopied: this.#blocksCopied, blocksKept: this.#blocksKept, prepared: this.#prepared, blocksPrepared: this.#blocksPrepared };
  }

  /**
   * The blocks `wasm`'s memory holds unchanged, by index (a hole where a pick wrote into the
   * block since its init), or undefined when nothing is known of it (new, or its last load failed).
   */
  #intact(wasm: MatcherExports): (Uint8Array | undefined)[] | undefined {
    const held = this.#holds.get(wasm);
    if (held === undefined) return undefined;
    // Prepared, never initialised: no pick ever ran in it (and it has no written map yet).
    if (!this.#initialised.has(wasm)) return held.slice();
    const written = new Uint8Array(wasm.memory.buffer, wasm.writtenBlocksAddress(), held.length);
    const intact: (Uint8Array | undefined)[] = held.slice();
    for (let b = 0; b < intact.length; b++) if (written[b] !== 0) intact[b] = undefined;
    return intact;
  }

  /** How many of `table`'s blocks `wasm` holds at their place (by identity; written ones counted too, as they are few). */
  #shared(wasm: MatcherExports, table: TableBlocks): number {
    const held = this.#holds.get(wasm);
    if (held === undefined) return 0;
    const blocks = table.blocks;
    const most = Math.min(held.length, blocks.length);
    let same = 0;
    for (let b = 0; b < most; b++) if (held[b] === blocks[b]) same++;
    return same;
  }

  #take(table: TableBlocks): MatcherExports {
    const spare = this.#spare;
    if (spare.length === 0) {
      this.#created++;
      return this.#newInstance();
    }
    const length = table.length;
    let best = -1;
    let bestShared = 0;
    for (let i = 0; i < spare.length; i++) {
      const wasm = spare[i] as MatcherExports;
      const shared = this.#shared(wasm, table);
      const room = wasm.memory.buffer.byteLength;
      const bestRoom = best < 0 ? -1 : (spare[best] as MatcherExports).memory.buffer.byteLength;
      // The instance holding most of the table copies least; else best fit: a small endpoint-only
      // table leaves the big instance for the next full one.
      const fits = room >= length;
      const bestFits = bestRoom >= length;
      if (best < 0 || shared > bestShared || (shared === bestShared && ((fits && (!bestFits || room < bestRoom)) || (!fits && !bestFits && room > bestRoom)))) {
        best = i;
        bestShared = shared;
      }
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
