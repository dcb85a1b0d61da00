/**
 * Request-rate and concurrency limits (`limit-rps`, `limit-rpm`, `limit-connections`) with nginx's
 * semantics, keyed by client address.
 *
 * Rate: nginx's limit_req leaky bucket as ingress-nginx configures it (`burst = rate ×
 * limit-burst-multiplier`, `nodelay`): each key has an excess, in thousandths of a request, that
 * leaks at the rate; a request adds 1000; when the result exceeds burst × 1000 the request is
 * refused and changes nothing. With several limits on a route, a request counts against each only
 * when every one lets it through (nginx accounts the same way).
 *
 * Bounds: state lives per data-plane process (per worker with `--workers N`, so a client spread
 * over N workers may get up to N times the rate; ingress-nginx shares one zone between the
 * workers of a node). Each table holds at most `maxKeys` keys: the least recently seen key is
 * dropped when it has leaked empty (it would behave as new anyway); when it has not, the new key
 * is refused rather than forgetting someone's excess (nginx answers its error status when its
 * zone is full). Concurrency entries exist only while a key has requests in flight.
 */

/** One key's bucket. `last` is in ms. */
interface Bucket {
  excess: number;
  last: number;
}

/** Default most keys per rate table (nginx's default 5m ingress-nginx zone holds ~40k keys). */
export const DEFAULT_MAX_KEYS = 65_536;

/** The outcome of one bucket step: refused, or accepted with the new state. Pure. */
export function leak(bucket: Readonly<Bucket> | undefined, now: number, ratePerSecond: number, burst: number): { ok: boolean; excess: number } {
  if (bucket === undefined) return { ok: true, excess: 0 };
  let elapsed = now - bucket.last;
  // A clock that went back: nginx treats a big jump as 1 ms, a small one as 0.
  if (elapsed < -60_000) elapsed = 1;
  else if (elapsed < 0) elapsed = 0;
  const excess = Math.max(0, bucket.excess - Math.floor((ratePerSecond * 1000 * elapsed) / 1000) + 1000);
  return { ok: excess <= burst * 1000, excess };
}

/** One `limit_req` zone: a rate, a burst and the buckets by key. */
export class RateLimit {
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly maxKeys: number;
  readonly #buckets = new Map<string, Bucket>();

  /** `ratePerSecond` may be fractional (limit-rpm / 60); `burst` in requests. */
  constructor(ratePerSecond: number, burst: number, maxKeys = DEFAULT_MAX_KEYS) {
    this.ratePerSecond = ratePerSecond;
    this.burst = burst;
    this.maxKeys = maxKeys;
  }

  /** Keys held now. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Whether a request of `key` at `now` (ms) would pass; the new excess for commit(), or -1 when
   * the table is full of keys that have not leaked empty (refuse).
   */
  check(key: string, now: number): { ok: boolean; excess: number } {
    const bucket = this.#buckets.get(key);
    if (bucket === undefined && this.#buckets.size >= this.maxKeys && !this.#expireOldest(now)) return { ok: false, excess: -1 };
    return leak(bucket, now, this.ratePerSecond, this.burst);
  }

  /** Records an accepted request of `key` with the excess check() computed. */
  commit(key: string, now: number, excess: number): void {
    const bucket = this.#buckets.get(key);
    if (bucket !== undefined) {
      // Most recently seen last: the Map's order is the eviction order.
      this.#buckets.delete(key);
      if (now !== bucket.last) bucket.last = now;
      bucket.excess = excess;
      this.#buckets.set(key, bucket);
    } else {
      this.#expireOldest(now);
      this.#buckets.set(key, { excess, last: now });
    }
  }

  /** Drops the least recently seen key when it has leaked empty; true when there is room. */
  #expireOldest(now: number): boolean {
    const oldest = this.#buckets.entries().next();
    if (oldest.done === true) return true;
    const [key, bucket] = oldest.value;
    // Drained: its next request would leave no excess, exactly as a new key's does.
    if (bucket.excess + 1000 - this.ratePerSecond * (now - bucket.last) > 0) return this.#buckets.size < this.maxKeys;
    this.#buckets.delete(key);
    return true;
  }
}

/**
 * Checks a request of `key` against every limit and counts it against all of them only when all
 * let it through. Returns true when it may proceed.
 */
export function admitRate(limits: readonly RateLimit[], key: string, now: number): boolean {
  const excesses: number[] = [];
  for (const limit of limits) {
    const result = limit.check(key, now);
    if (!result.ok) return false;
    excesses.push(result.excess);
  }
  limits.forEach((limit, i) => limit.commit(key, now, excesses[i]!));
  return true;
}

/** `limit_conn`: requests in flight per key, at most `max`. */
export class ConcurrencyLimit {
  readonly max: number;
  readonly #inFlight = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  /** Keys with requests in flight now. */
  get size(): number {
    return this.#inFlight.size;
  }

  /** Takes a slot for `key`; false (nothing taken) when it already has `max` in flight. */
  acquire(key: string): boolean {
    const count = this.#inFlight.get(key) ?? 0;
    if (count >= this.max) return false;
    this.#inFlight.set(key, count + 1);
    return true;
  }

  /** Gives back a slot acquire() took. */
  release(key: string): void {
    const count = this.#inFlight.get(key) ?? 0;
    if (count <= 1) this.#inFlight.delete(key);
    else this.#inFlight.set(key, count - 1);
  }
}
