/**
 * Giving a worker's memory back after swaps. Each swap leaves garbage outside the JS heap about
 * three times the size of its table: the IPC message's buffers (the chunks read and their
 * concatenation) and the replaced table's wasm memory, about 15 MB at 30,000 routes. V8 collects
 * such memory on its own schedule, and during a run of changes a worker sat 60-70 MiB above its
 * idle size. The reclaimer runs one full collection, on a turn after the swap, once the tables
 * loaded since the last one add up to `thresholdBytes`: large tables pay a pause every change or
 * two, small ones every few dozen, and a worker that does not swap never. Its pauses are metrics
 * (`portico_worker_reclaim_pause_seconds`), since traffic on that worker waits for them.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { MetricFamily } from './metric-families.ts';

/**
 * V8's full collection, or null when it cannot be had. `--expose-gc` set at run time reaches
 * contexts made after it: the function is taken from a new one.
 */
export function fullCollection(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as unknown;
    return typeof gc === 'function' ? () => void (gc as () => void)() : null;
  } catch {
    return null;
  }
}

/** Runs a full collection once enough table bytes were swapped in (see the module comment). */
export class SwapReclaimer {
  readonly #threshold: number;
  readonly #collect: (() => void) | null;
  /** Table bytes loaded since the last collection. */
  #loaded = 0;
  #scheduled = false;
  /** Collections run, and the last and longest pause they took (ms). */
  readonly stats = { collections: 0, lastPauseMs: 0, maxPauseMs: 0 };

  /**
   * `thresholdBytes` (> 0): the table bytes swapped in that call for a collection. `collect` is
   * injected by tests (default: V8's full collection; null: none, the reclaimer does nothing). Throws RangeError for a threshold that is
   * not a positive integer.
   */
  constructor(thresholdBytes: number, collect: (() => void) | null = fullCollection()) {
    if (!Number.isInteger(thresholdBytes) || thresholdBytes <= 0) throw new RangeError(`thresholdBytes must be a positive integer, not ${thresholdBytes}`);
    this.#threshold = thresholdBytes;
    this.#collect = collect;
  }

  /** A table of `tableBytes` was swapped in: schedules one collection (on a later turn) once they add up to the threshold. */
  afterSwap(tableBytes: number): void {
    const collect = this.#collect;
    if (collect === null) return;
    this.#loaded += tableBytes;
    if (this.#scheduled || this.#loaded < this.#threshold) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      this.#loaded = 0;
      const started = performance.now();
      collect();
      const pause = performance.now() - started;
      this.stats.collections++;
      this.stats.lastPauseMs = pause;
      this.stats.maxPauseMs = Math.max(this.stats.maxPauseMs, pause);
    });
  }

  /** The reclaimer's metric families (one series per worker). */
  families(): MetricFamily[] {
    return [
      { name: 'portico_worker_reclaims_total', help: 'Full garbage collections a worker ran after swaps to give the replaced tables back (reclaim.ts), one series per worker.', type: 'counter', merge: 'per-worker', samples: [{ suffix: '', labels: {}, value: this.stats.collections }] },
      {
        name: 'portico_worker_reclaim_pause_seconds',
        help: "How long a worker's last and longest reclaiming collection held its event loop; one series per worker.",
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
