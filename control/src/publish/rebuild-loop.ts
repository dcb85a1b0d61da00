/**
 * The debounced rebuild loop: sources say "something changed"; the loop coalesces bursts and
 * rebuilds from the whole state at most once per debounce window, and never later than
 * `maxDelayMs` after the first change of a burst (so a steady stream of events cannot starve it).
 */

/** Options of the loop. */
export interface RebuildLoopOptions {
  /** Quiet time that ends a burst (default 100 ms). */
  readonly debounceMs?: number;
  /** Upper bound from the first change to the rebuild (default 1000 ms). */
  readonly maxDelayMs?: number;
  /** The rebuild; exceptions are reported to `onError` and the loop goes on. */
  readonly rebuild: () => void | Promise<void>;
  readonly onError: (error: unknown) => void;
}

/** Coalesces change notifications into rebuilds; one rebuild runs at a time. */
export class RebuildLoop {
  private readonly options: Required<Omit<RebuildLoopOptions, 'rebuild' | 'onError'>> & Pick<RebuildLoopOptions, 'rebuild' | 'onError'>;
  private timer: NodeJS.Timeout | undefined;
  private firstChangeAt = 0;
  private running: Promise<void> | undefined;
  private pending = false;
  private closed = false;
  /** Number of rebuilds run so far. */
  rebuilds = 0;

  constructor(options: RebuildLoopOptions) {
    this.options = { debounceMs: 100, maxDelayMs: 1000, ...options };
  }

  /** Notes a change; the rebuild follows after the debounce window. */
  trigger(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.timer === undefined) this.firstChangeAt = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.options.debounceMs, this.firstChangeAt + this.options.maxDelayMs - now));
    this.timer = setTimeout(() => this.fire(), wait);
  }

  /** Rebuilds now (waiting for a rebuild in progress first). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.fire();
  }

  /** Stops scheduling rebuilds; resolves when the one in progress ends. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    if (this.running !== undefined) {
      // A change arrived during a rebuild: run once more afterwards, from the newer state.
      this.pending = true;
      return this.running;
    }
    const run = (async () => {
      try {
        this.rebuilds++;
        await this.options.rebuild();
      } catch (error) {
        this.options.onError(error);
      }
    })();
    this.running = run;
    await run;
    this.running = undefined;
    if (this.pending && !this.closed) {
      this.pending = false;
      await this.fire();
    }
  }
}
