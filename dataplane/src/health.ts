/**
 * Passive health: endpoints are judged by the traffic they serve, not by probes. N consecutive
 * failures eject an endpoint for a back-off period; it comes back by itself when the period ends.
 * A failure right after coming back ejects it again for twice as long (up to a cap); one success
 * forgives everything. State is kept by endpoint key (`address:port`), so it outlives snapshots.
 */
import { PorticoError } from './errors.ts';

/** Tuning of passive health checking. */
export interface HealthOptions {
  /** Consecutive failures that eject an endpoint. Default 3. */
  readonly failureThreshold?: number;
  /** First ejection period in ms. Default 10 000. */
  readonly backoffMs?: number;
  /** Longest ejection period in ms; the period doubles up to this. Default 300 000. */
  readonly maxBackoffMs?: number;
}

interface EndpointRecord {
  failures: number;
  ejected: boolean;
  /** The period the next ejection lasts. */
  nextBackoffMs: number;
  timer: NodeJS.Timeout | undefined;
}

/** Called when an endpoint is ejected (`false`) or comes back (`true`). */
export type HealthListener = (endpointKey: string, healthy: boolean) => void;

/** Consecutive-failure counting with exponential back-off per endpoint key. */
export class PassiveHealth {
  readonly failureThreshold: number;
  readonly backoffMs: number;
  readonly maxBackoffMs: number;
  // Only endpoints with a failure or an ejection history are here, so the all-good path is one size check.
  readonly #records = new Map<string, EndpointRecord>();
  readonly #listener: HealthListener;

  /** Throws PORTICO_E_CONFIG for a threshold below 1 or a non-positive period. */
  constructor(listener: HealthListener, options: HealthOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.backoffMs = options.backoffMs ?? 10_000;
    this.maxBackoffMs = Math.max(options.maxBackoffMs ?? 300_000, this.backoffMs);
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) throw new PorticoError('PORTICO_E_CONFIG', `failureThreshold must be an integer >= 1, not ${this.failureThreshold}`);
    if (!(this.backoffMs > 0)) throw new PorticoError('PORTICO_E_CONFIG', `backoffMs must be > 0, not ${this.backoffMs}`);
    this.#listener = listener;
  }

  /** Counts a failure; returns true when this failure ejected the endpoint. Failures of an ejected endpoint are ignored. */
  reportFailure(endpointKey: string): boolean {
    let record = this.#records.get(endpointKey);
    if (record === undefined) {
      record = { failures: 0, ejected: false, nextBackoffMs: this.backoffMs, timer: undefined };
      this.#records.set(endpointKey, record);
    }
    if (record.ejected) return false;
    record.failures++;
    if (record.failures < this.failureThreshold) return false;
    const period = record.nextBackoffMs;
    record.ejected = true;
    record.nextBackoffMs = Math.min(period * 2, this.maxBackoffMs);
    record.timer = setTimeout(() => this.#recover(endpointKey), period);
    // Health timers must never keep a process alive that is otherwise done.
    record.timer.unref();
    this.#listener(endpointKey, false);
    return true;
  }

  /** Forgets the endpoint's failures and back-off. Cheap when nothing ever failed. */
  reportSuccess(endpointKey: string): void {
    if (this.#records.size === 0) return;
    const record = this.#records.get(endpointKey);
    // An ejected endpoint's late successes (requests started before ejection) do not cut the period short.
    if (record === undefined || record.ejected) return;
    this.#records.delete(endpointKey);
  }

  /** Whether the endpoint is currently ejected. */
  isEjected(endpointKey: string): boolean {
    return this.#records.get(endpointKey)?.ejected === true;
  }

  /** Keys of the endpoints ejected right now. */
  ejectedKeys(): string[] {
    const keys: string[] = [];
    for (const [key, record] of this.#records) if (record.ejected) keys.push(key);
    return keys;
  }

  /** Stops every back-off timer (ejected endpoints stay ejected). */
  close(): void {
    for (const record of this.#records.values()) clearTimeout(record.timer);
  }

  #recover(endpointKey: string): void {
    const record = this.#records.get(endpointKey);
    if (record === undefined || !record.ejected) return;
    record.ejected = false;
    record.timer = undefined;
    // On probation: one more failure ejects again, for the doubled period.
    record.failures = this.failureThreshold - 1;
    this.#listener(endpointKey, true);
  }
}
