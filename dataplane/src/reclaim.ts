/**
 * Giving a worker's memory back after swaps. Each swap leaves garbage outside the JS heap about
 * twice the size of its table: the IPC message's buffers (the chunks read and their
 * concatenation), about 11 MB at 30,000 routes. (The replaced table's wasm memory is no longer
 * garbage: the router reuses instances, matcher-pool.ts.) V8 frees such a buffer when the small
 * JS object holding it is collected, and does so on its own schedule: during a run of changes a
 * worker sat 60-70 MiB above its idle size. Those objects are young when the swap ends, so one
 * young-generation collection (a scavenge, about a millisecond) on a turn after each swap frees
 * the buffers; the swapped-in snapshot, still referenced, is kept. A full collection (tens of
 * milliseconds at 30,000 routes) stays available for an operator who wants the last MiB:
 * `--reclaim-after-mb N` runs one once the tables loaded since the last one add up to N MiB.
 * Both pauses are metrics (`portico_worker_scavenge_pause_seconds`,
 * `portico_worker_reclaim_pause_seconds`), since traffic on that worker waits for them.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MetricFamily } from './metric-families.ts';

/** V8's `gc` function, or null. `--expose-gc` set at run time reaches contexts made after it: the function is taken from a new one. */
function exposedGc(): ((options?: { type: 'major' | 'minor' }) => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? (gc as (options?: { type: 'major' | 'minor' }) => void) : null;
  } catch {
    return null;
  }
}

/** V8's full collection, or null when it cannot be had. */
export function fullCollection(): (() => void) | null {
  const gc = exposedGc();
  return gc === null ? null : () => gc();
}

/** V8's young-generation collection (a scavenge: only objects made since the last one are looked at), or null when it cannot be had. */
export function youngCollection(): (() => void) | null {
  const gc = exposedGc();
  return gc === null ? null : () => gc({ type: 'minor' });
}

/** A collection run on a turn after it was asked for, at most once per turn, with its pauses counted. */
class TimedCollection {
  readonly #collect: (() => void) | null;
  #scheduled = false;
  /** Collections run, and the last and longest pause they took (ms). */
  readonly stats = { collections: 0, lastPauseMs: 0, maxPauseMs: 0 };

  constructor(collect: (() => void) | null) {
    this.#collect = collect;
  }

  get available(): boolean {
    return this.#collect !== null;
  }

  get scheduled(): boolean {
    return this.#scheduled;
  }

  /** Runs it on a later turn (once, however often asked before), unless `skip()` says so by then. */
  schedule(skip: () => boolean, before?: () => void): void {
    const collect = this.#collect;
    if (collect === null || this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (skip()) return;
      before?.();
      const started = performance.now();
      collect();
      const pause = performance.now() - started;
      this.stats.collections++;
      this.stats.lastPauseMs = pause;
      this.stats.maxPauseMs = Math.max(this.stats.maxPauseMs, pause);
    });
  }

  families(name: string, what: string): MetricFamily[] {
    return [
      { name: `portico_worker_${name}s_total`, help: `${what} a worker ran after swaps (reclaim.ts), one series per worker.`, type: 'counter', merge: 'per-worker', samples: [{ suffix: '', labels: {}, value: this.stats.collections }] },
      {
        name: `portico_worker_${name}_pause_seconds`,
        help: `How long a worker's last and longest such collection (${what.toLowerCase()}) held its event loop; one series per worker.`,
        type: 'gauge',
        merge: 'per-worker',
        samples: [
          { suffix: '', labels: { pause: 'last' }, value: this.stats.lastPauseMs / 1000 },
          { suffix: '', labels: { pause: 'max' }, value: this.stats.maxPauseMs / 1000 },
        ],
      },
    ];
  }
}

/** After each swap a young collection; a full one once enough table bytes were swapped in, when asked for (see the module comment). */
export class SwapReclaimer {
  readonly #threshold: number;
  readonly #full: TimedCollection;
  readonly #young: TimedCollection;
  /** Table bytes loaded since the last full collection. */
  #loaded = 0;

  /**
   * `thresholdBytes` (>= 0): the table bytes swapped in that call for a full collection, 0 for
   * never. `collect` and `young` are injected by tests (default: V8's full and young collections;
   * null: none). Throws RangeError for a threshold that is not a non-negative integer.
   */
  constructor(thresholdBytes: number, collect: (() => void) | null = fullCollection(), young: (() => void) | null = youngCollection()) {
    if (!Number.isInteger(thresholdBytes) || thresholdBytes < 0) throw new RangeError(`thresholdBytes must be a non-negative integer, not ${thresholdBytes}`);
    this.#threshold = thresholdBytes;
    this.#full = new TimedCollection(thresholdBytes === 0 ? null : collect);
    this.#young = new TimedCollection(young);
  }

  /** Full collections run, and the last and longest pause (ms). */
  get stats(): { readonly collections: number; readonly lastPauseMs: number; readonly maxPauseMs: number } {
    return this.#full.stats;
  }

  /** Young collections run, and the last and longest pause (ms). */
  get youngStats(): { readonly collections: number; readonly lastPauseMs: number; readonly maxPauseMs: number } {
    return this.#young.stats;
  }

  /** A table of `tableBytes` was swapped in: schedules a young collection on a later turn, and a full one instead once the tables add up to the threshold. */
  afterSwap(tableBytes: number): void {
    if (this.#full.available) {
      this.#loaded += tableBytes;
      if (this.#loaded >= this.#threshold) this.#full.schedule(() => false, () => (this.#loaded = 0));
    }
    // A full collection run in between collected the young generation too.
    const fullRuns = this.#full.stats.collections;
    this.#young.schedule(() => this.#full.stats.collections !== fullRuns);
  }

  /** The reclaimer's metric families (one series per worker). */
  families(): MetricFamily[] {
    return [...this.#full.families('reclaim', 'Full garbage collections'), ...this.#young.families('scavenge', 'Young-generation collections')];
  }
}
