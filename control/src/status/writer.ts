/**
 * The Ingress status writer: takes the latest plan of status updates and writes it with bounded
 * concurrency, level-triggered, so nothing is lost and nothing is written twice for nothing.
 *
 * - A plan replaces the previous one: an Ingress's pending update is always the newest wanted
 *   (repeated updates for the same Ingress coalesce into one write), and an update the new plan
 *   no longer wants is dropped.
 * - A plan may arrive at any time, also while writes are in flight: it is merged at once, and an
 *   Ingress whose write is in flight gets the newer update written right after (one write per
 *   Ingress at a time, the last one wins).
 * - An update already written from the same observed object (`observed` resourceVersion, the
 *   informer not having caught up yet) is not written again.
 * - A write that fails for a transient reason (network, 409, 429, 5xx) is retried after a
 *   jittered exponential back-off unless a newer plan replaced it; 404 (the Ingress is gone) is
 *   dropped; any other answer is reported through `onError` and waits for the next plan.
 * Memory is bounded by the number of Ingresses planned plus `concurrency`.
 */
import type { StatusUpdate } from './ingress-status.ts';

/** Options of the writer (for Ingress updates unless `keyOf` and `fingerprint` say how to read others). */
export interface StatusWriterOptions<U extends { readonly observed?: string | undefined } = StatusUpdate> {
  /** Writes one update (PATCH of the status subresource); rejects with an error carrying `statusCode` for HTTP answers. */
  readonly write: (update: U) => Promise<void>;
  /** The object an update is for (one write per object at a time); default `namespace/name`. */
  readonly keyOf?: (update: U) => string;
  /** What an update writes, to tell two updates of one object apart; default the Ingress points. */
  readonly fingerprint?: (update: U) => string;
  /** Writes in flight at most (default 8). */
  readonly concurrency?: number;
  /** Back-off after a transient failure: first and largest delay (defaults 500 ms and 30 s). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  /** A write failed (transient ones too, with `willRetry`). */
  readonly onError?: (update: U, error: unknown, willRetry: boolean) => void;
  /** Injected for tests. */
  readonly random?: () => number;
}

const ingressKey = (update: unknown) => `${(update as StatusUpdate).namespace}/${(update as StatusUpdate).name}`;
const pointsKey = (update: unknown) => (update as StatusUpdate).points.map((p) => `${p.ip ?? ''}|${p.hostname ?? ''}`).join(',');

/** True for failures worth retrying: no HTTP answer, or 409 / 429 / 5xx. */
export function retryableStatusError(error: unknown): boolean {
  const status = (error as { statusCode?: unknown } | undefined)?.statusCode;
  if (typeof status !== 'number') return true;
  return status === 409 || status === 429 || status >= 500;
}

/** Writes planned status updates; see the module comment for what it guarantees. */
export class StatusWriter<U extends { readonly observed?: string | undefined } = StatusUpdate> {
  /** Counts for tests and metrics. */
  readonly stats = { written: 0, coalesced: 0, skipped: 0, retries: 0, failed: 0, gone: 0 };
  private readonly options: StatusWriterOptions<U>;
  private readonly concurrency: number;
  private readonly keyOf: (update: U) => string;
  private readonly fingerprint: (update: U) => string;
  /** The next write wanted per Ingress (insertion order = order of the plan). */
  private readonly pending = new Map<string, U>();
  /** Writes in flight per Ingress. */
  private readonly inflight = new Map<string, U>();
  /** Writes that succeeded, kept until a plan no longer asks for them (the informer caught up). */
  private readonly written = new Map<string, U>();
  private failures = 0;
  private retryAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: StatusWriterOptions<U>) {
    this.options = options;
    this.keyOf = options.keyOf ?? ingressKey;
    this.fingerprint = options.fingerprint ?? pointsKey;
    this.concurrency = Math.max(1, options.concurrency ?? 8);
  }

  /** Updates waiting to be written (not counting writes in flight). */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Writes in flight now. */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Everything the writer keeps, by map: each stays within the Ingresses planned (plus `concurrency` in flight). */
  get retained(): { pending: number; inflight: number; written: number } {
    return { pending: this.pending.size, inflight: this.inflight.size, written: this.written.size };
  }

  /**
   * Makes `updates` (a complete plan: every Ingress whose status differs from what it should be)
   * the work to do, replacing whatever earlier plan is still pending, and starts writing.
   */
  plan(updates: readonly U[]): void {
    if (this.closed) return;
    const wanted = new Set<string>();
    const previous = new Map(this.pending);
    this.pending.clear();
    for (const update of updates) {
      const key = this.keyOf(update);
      wanted.add(key);
      if (this.same(this.inflight.get(key), update) || (!this.inflight.has(key) && this.same(this.written.get(key), update))) {
        this.stats.skipped++;
        continue;
      }
      const replaced = previous.get(key);
      if (replaced !== undefined && !this.same(replaced, update)) this.stats.coalesced++;
      this.pending.set(key, update);
    }
    for (const key of this.written.keys()) if (!wanted.has(key)) this.written.delete(key);
    this.pump();
  }

  /** Forgets all pending work (leadership lost); writes in flight finish. */
  clear(): void {
    this.pending.clear();
    this.written.clear();
    this.notifyIdle();
  }

  /** Resolves once nothing is pending or in flight (pending work waiting for a back-off counts as pending). */
  idle(): Promise<void> {
    if (this.pending.size === 0 && this.inflight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops writing: drops pending work and waits for the writes in flight. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.pending.clear();
    await this.idle();
  }

  private same(a: U | undefined, b: U): boolean {
    return a !== undefined && a.observed === b.observed && this.fingerprint(a) === this.fingerprint(b);
  }

  private pump(): void {
    if (this.closed) return this.notifyIdle();
    const wait = this.retryAt - Date.now();
    if (wait > 0) {
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump();
        }, wait);
      }
      return;
    }
    for (const [key, update] of this.pending) {
      if (this.inflight.size >= this.concurrency) break;
      if (this.inflight.has(key)) continue;
      this.pending.delete(key);
      this.inflight.set(key, update);
      void this.options.write(update).then(
        () => this.settled(key, update, undefined),
        (error: unknown) => this.settled(key, update, error ?? new Error('status write failed')),
      );
    }
    this.notifyIdle();
  }

  private settled(key: string, update: U, error: unknown): void {
    this.inflight.delete(key);
    if (error === undefined) {
      this.failures = 0;
      this.stats.written++;
      this.written.set(key, update);
    } else if ((error as { statusCode?: unknown }).statusCode === 404) {
      this.stats.gone++;
    } else if (!this.closed && retryableStatusError(error)) {
      this.stats.retries++;
      this.options.onError?.(update, error, true);
      // A newer plan's update for this Ingress wins over the retry of an older one.
      if (!this.pending.has(key)) this.pending.set(key, update);
      this.retryAt = Math.max(this.retryAt, Date.now() + this.backoff());
    } else {
      this.stats.failed++;
      this.options.onError?.(update, error, false);
    }
    this.pump();
  }

  /** Jittered exponential back-off: a delay in [d/2, d], d doubling per consecutive failure up to the maximum. */
  private backoff(): number {
    const initial = this.options.backoffInitialMs ?? 500;
    const ceiling = Math.min(this.options.backoffMaxMs ?? 30_000, initial * 2 ** Math.min(this.failures++, 20));
    return Math.round(ceiling / 2 + (this.options.random ?? Math.random)() * (ceiling / 2));
  }

  private notifyIdle(): void {
    if (this.pending.size > 0 || this.inflight.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
