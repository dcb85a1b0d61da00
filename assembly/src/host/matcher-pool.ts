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
 *
 * Spares are kept up to date ahead of the next load (`prepare`): the instance given back by a
 * replaced snapshot gets the blocks its successor changed, so in steady state neither a swap nor
 * the work between swaps copies more than the blocks a change wrote. A whole table is copied only
 * into a new instance (the first load of each table kind, or while older snapshots stay held).
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
  /**
   * Instances whose written-block map tells which held blocks picks wrote into: those a table was
   * initialised in, until `prepare` copies into them (no pick runs in a spare, so the pool's list
   * is then exact, and the map may lie under a longer table's blocks).
   */
  readonly #mapped = new WeakSet<MatcherExports>();
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
   * `maxSpare` (>= 0): instances kept for reuse; more given back are dropped. Three cover a data
   * plane whose endpoint-only changes load a balancing table beside the routing one: after a route
   * change the replaced routing instance and two balancing ones (the next endpoint-only load takes
   * one while the current holds the other) come back, and each is wanted again; with two, one is
   * dropped and the next endpoint-only load after a route change copies its whole table anew.
   * `newInstance`: how an instance is made (newMatcherInstance; a test keeps them to read their
   * memory). Throws RangeError for a count that is not a non-negative integer.
   */
  constructor(maxSpare = 3, newInstance: () => MatcherExports = newMatcherInstance) {
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
    this.#mapped.add(wasm);
    this.#blocksCopied += loaded.copied;
    this.#blocksKept += blocks.blocks.length - loaded.copied;
    this.#inUse++;
    return loaded.matcher;
  }

  /**
   * One step towards spare instances holding all of each of `tables` (the versions the next loads
   * are likely to ask for: the router's current routing table and, after an endpoint-only load,
   * its balancing table), in order. For each table the spare chosen is the one holding most of its
   * blocks, so an instance that held an earlier version (given back by the snapshot it served)
   * gets only the blocks changed since; else a spare holding none of any of `tables` (one with
   * nothing known first); else, while the pool has fewer than `maxSpare` spares, a new instance
   * (its memory grown to the table, then a whole copy: once per instance). A spare holding blocks
   * of another of `tables` is never overwritten: the next load of that table wants it. At most
   * `maxBlocks` blocks are copied per call; the caller runs the steps on separate event-loop turns,
   * so the copy is paid in slices rather than inside a swap, and a swap then copies the few blocks
   * left into memory already touched. Returns true while steps remain; false once every table is
   * held by a spare, or has none to fill and no room for one. Throws RangeError when memory cannot
   * grow (the spare is left holding what it held; nothing else changes).
   */
  prepare(tables: readonly TableBlocks[], maxBlocks = 16): boolean {
    const claimed = new Set<MatcherExports>();
    let budget = maxBlocks;
    for (const table of tables) {
      const wasm = this.#preparedFor(table, tables, claimed);
      if (wasm === undefined) continue;
      claimed.add(wasm);
      const left = this.#fill(wasm, table, budget);
      if (left < 0) return true;
      budget = left;
    }
    return false;
  }

  /**
   * Copies into spare `wasm` the blocks of `table` it does not hold, at most `budget` of them.
   * Returns the budget left, or -1 when blocks remain to copy.
   */
  #fill(wasm: MatcherExports, table: TableBlocks, budget: number): number {
    // Read the written-block map before any copy: it lies past the old table's end, where a longer
    // table's blocks land. From here the pool's list is all that is known of the memory.
    const held = (this.#intact(wasm) ?? []).slice(0, table.blocks.length);
    this.#mapped.delete(wasm);
    this.#holds.set(wasm, held);
    const base = wasm.tableAddress();
    const need = base + table.length - wasm.memory.buffer.byteLength;
    if (need > 0) wasm.memory.grow(Math.ceil(need / PAGE));
    const into = new Uint8Array(wasm.memory.buffer);
    for (let b = 0; b < table.blocks.length; b++) {
      const block = table.blocks[b]!;
      if (held[b] === block) continue;
      if (budget === 0) return -1;
      into.set(block, base + b * TABLE_BLOCK_BYTES);
      held[b] = block;
      budget--;
      this.#blocksPrepared++;
    }
    return budget;
  }

  /** The spare `prepare` fills with `table` (see there; none of `claimed`), a new one when there is room; undefined when none may be used. */
  #preparedFor(table: TableBlocks, tables: readonly TableBlocks[], claimed: ReadonlySet<MatcherExports>): MatcherExports | undefined {
    let best: MatcherExports | undefined;
    let bestShared = 0;
    let blank: MatcherExports | undefined;
    let stale: MatcherExports | undefined;
    for (const wasm of this.#spare) {
      if (claimed.has(wasm)) continue;
      const shared = this.#shared(wasm, table);
      if (shared > bestShared) {
        best = wasm;
        bestShared = shared;
      }
      const held = this.#holds.get(wasm);
      if (held === undefined || held.length === 0) blank ??= wasm;
      else if (shared === 0 && tables.every((other) => this.#shared(wasm, other) === 0)) stale ??= wasm;
    }
    // One holding it all gets nothing copied.
    const chosen = best ?? blank ?? stale;
    if (chosen !== undefined || this.#spare.length >= this.#maxSpare) return chosen;
    const made = this.#newInstance();
    this.#prepared++;
    this.#holds.set(made, []);
    this.#spare.push(made);
    return made;
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
    // No map to read (prepared since its last init, or never initialised): the list is exact.
    if (!this.#mapped.has(wasm)) return held.slice();
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
