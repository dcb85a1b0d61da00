/**
 * Passive health: endpoints are judged by the traffic they serve, not by probes. N consecutive
 * failures eject an endpoint for a back-off period; it comes back by itself when the period ends.
 * A failure right after coming back ejects it again for twice as long (up to a cap); one success
 * forgives everything. State is kept by endpoint key (`address:port`), so it outlives snapshots.
 *
 * It cannot be turned into a weapon by clients: by default only connection-level failures
 * (connect refused or timed out) count, never a reset, a slow or a broken response, which one
 * request URL can provoke; and when most of a Service's endpoints are ejected, the panic
 * threshold (Envoy's, 50 %) routes to all of them, so ejection never turns a Service into 503s.
 */
import { PorticoError } from './errors.ts';

/** Tuning of passive health checking. */
export interface HealthOptions {
  /** Consecutive failures that eject an endpoint. Default 3. */
  readonly failureThreshold?: number;
  /** First ejection period in ms. Default 10 000. */
  readonly backoffMs?: number;
  /** Longest ejection period in ms; the period doubles up to this. Default 60 000. */
  readonly maxBackoffMs?: number;
  /**
   * Which failures count: `connect` (connect refused or timed out; the default) or `any` (also
   * resets, timeouts and broken responses, which a client can provoke with one URL).
   */
  readonly ejectOn?: 'connect' | 'any';
  /**
   * An endpoint set with fewer than this percentage of its endpoints healthy routes to all of
   * them, ejected or not (Envoy's panic threshold). 0 turns it off. Default 50.
   */
  readonly panicThresholdPercent?: number;
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
  readonly ejectOn: 'connect' | 'any';
  readonly panicThresholdPercent: number;
  // Only endpoints with a failure or an ejection history are here, so the all-good path is one size check.
  readonly #records = new Map<string, EndpointRecord>();
  readonly #listener: HealthListener;

  /** Throws PORTICO_E_CONFIG for a threshold below 1 or a non-positive period. */
  constructor(listener: HealthListener, options: HealthOptions = {}) {
    this.failureThreshold = options.failureThreshold ?? 3;
    this.backoffMs = options.backoffMs ?? 10_000;
    this.maxBackoffMs = Math.max(options.maxBackoffMs ?? 60_000, this.backoffMs);
    this.ejectOn = options.ejectOn ?? 'connect';
    this.panicThresholdPercent = options.panicThresholdPercent ?? 50;
    if (this.ejectOn !== 'connect' && this.ejectOn !== 'any') throw new PorticoError('PORTICO_E_CONFIG', `ejectOn must be connect or any, not ${String(this.ejectOn)}`);
    if (!Number.isInteger(this.panicThresholdPercent) || this.panicThresholdPercent < 0 || this.panicThresholdPercent > 100) throw new PorticoError('PORTICO_E_CONFIG', `panicThresholdPercent must be an integer from 0 to 100, not ${this.panicThresholdPercent}`);
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) throw new PorticoError('PORTICO_E_CONFIG', `failureThreshold must be an integer >= 1, not ${this.failureThreshold}`);
    if (!(this.backoffMs > 0)) throw new PorticoError('PORTICO_E_CONFIG', `backoffMs must be > 0, not ${this.backoffMs}`);
    this.#listener = listener;
  }

  /**
   * Counts a failure; returns true when this failure ejected the endpoint. `connectionLevel` says
   * the endpoint could not be connected to at all; other failures count only with `ejectOn: any`.
   * Failures of an ejected endpoint are ignored.
   */
  reportFailure(endpointKey: string, connectionLevel = true): boolean {
    if (!connectionLevel && this.ejectOn === 'connect') return false;
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

  /** Forgets the records (and stops the timers) of endpoints not in `keys`: the map follows the snapshot. */
  prune(keys: { has(key: string): boolean }): void {
    for (const [key, record] of this.#records) {
      if (keys.has(key)) continue;
      clearTimeout(record.timer);
      this.#records.delete(key);
    }
  }

  /** Records held (for tests: bounded by the endpoints of the current snapshot). */
  get size(): number {
    return this.#records.size;
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

/**
 * The endpoint ids whose health flag a snapshot had written, in order, so a reader that saw the
 * flags up to some point (`/metrics`) reads again only those written since, not every endpoint's.
 * Bounded: once `max` ids are held they are dropped, and a reader whose mark is older is told to
 * read every flag (`since` answers undefined).
 */
export class HealthWrites {
  #ids: number[] = [];
  /** Writes before the first one held. */
  #dropped = 0;
  readonly #max: number;

  /** Holds at most `max` ids (at least 1). */
  constructor(max: number) {
    this.#max = Math.max(1, max);
  }

  /** Records a write of endpoint `id`'s flag. */
  add(id: number): void {
    if (this.#ids.length >= this.#max) {
      this.#dropped += this.#ids.length;
      this.#ids = [];
    }
    this.#ids.push(id);
  }

  /** Writes so far: the mark a reader keeps to ask what was written after it. */
  get count(): number {
    return this.#dropped + this.#ids.length;
  }

  /** The ids written since `mark` (an earlier `count`; repeats kept), or undefined when some of them were dropped (the reader reads every flag). */
  since(mark: number): readonly number[] | undefined {
    if (mark < this.#dropped) return undefined;
    return this.#ids.slice(mark - this.#dropped);
  }
}

/** A bundle's endpoint sets: the id arrays of its table's sets that are not empty (TableBundle.endpointSets). */
export type SetList = readonly (readonly number[])[];

/**
 * The endpoint sets (a backend's endpoints) of one snapshot and which sets each endpoint id is
 * in: what the panic threshold looks at. Built on first use, i.e. on the first ejection; a later
 * snapshot's is patched from it (`after`) by the sets that are not the same arrays.
 */
export class EndpointSets {
  /** The set list these were made from. */
  readonly list: SetList;
  /** How: from the whole list, or patched from an earlier list's by the sets that are not the same arrays. */
  readonly made: 'whole' | 'patched';
  /** Per endpoint id, the sets (arrays of the list) holding it, once per list entry; shared with the version patched from where untouched. */
  readonly #setsOf: (readonly (readonly number[])[])[];

  private constructor(list: SetList, setsOf: (readonly (readonly number[])[])[], made: 'whole' | 'patched') {
    this.list = list;
    this.made = made;
    this.#setsOf = setsOf;
  }

  /** Made from the whole list: O(endpoint ids in all sets). */
  static of(list: SetList, endpointCount: number): EndpointSets {
    const setsOf: (readonly number[])[][] = Array.from({ length: endpointCount }, () => []);
    for (const set of list) for (const id of set) setsOf[id]?.push(set);
    return new EndpointSets(list, setsOf, 'whole');
  }

  /**
   * The sets of `list`, patched from `before`'s: the lists' common first and last entries (the
   * same arrays, so the same ids) are kept, the entries between are taken out and put in.
   * Undefined when more than half of the list differs (e.g. a list that came by IPC: no array is
   * the same): the caller then makes it whole on first use (`of`), not on every load.
   */
  static after(before: EndpointSets, list: SetList, endpointCount: number): EndpointSets | undefined {
    const old = before.list;
    if (old === list && before.#setsOf.length === endpointCount) return before;
    let head = 0;
    const shorter = Math.min(old.length, list.length);
    while (head < shorter && old[head] === list[head]) head++;
    let tail = 0;
    while (tail < shorter - head && old[old.length - 1 - tail] === list[list.length - 1 - tail]) tail++;
    const removed = old.slice(head, old.length - tail);
    const added = list.slice(head, list.length - tail);
    if ((removed.length + added.length) * 2 > list.length + 16) return undefined;
    const setsOf = before.#setsOf.slice(0, endpointCount);
    while (setsOf.length < endpointCount) setsOf.push([]);
    // Each touched id gets a new array once (the old one may be shared with `before`).
    const copied = new Set<number>();
    // Ids that are no index of `setsOf` are skipped, as `of` skips them.
    const own = (id: number): (readonly number[])[] | undefined => {
      if (setsOf[id] === undefined) return undefined;
      if (!copied.has(id)) {
        copied.add(id);
        setsOf[id] = [...(setsOf[id] as (readonly number[])[])];
      }
      return setsOf[id] as (readonly number[])[];
    };
    for (const set of removed) {
      for (const id of set) {
        const sets = own(id);
        const at = sets === undefined ? -1 : sets.indexOf(set);
        if (at >= 0) sets!.splice(at, 1);
      }
    }
    for (const set of added) for (const id of set) own(id)?.push(set);
    return new EndpointSets(list, setsOf, 'patched');
  }

  /**
   * Writes, through `setHealthy`, the flag of every endpoint that shares a set with `ids`: down
   * when `ejected` and no set holding it is in panic (fewer than `thresholdPercent` % of its
   * endpoints healthy; in panic a set routes to all its endpoints).
   */
  apply(ids: Iterable<number>, ejected: (id: number) => boolean, thresholdPercent: number, setHealthy: (id: number, healthy: boolean) => void): void {
    const affected = new Set<number>();
    for (const id of ids) for (const set of this.#setsOf[id] ?? []) for (const member of set) affected.add(member);
    const panicking = new Map<readonly number[], boolean>();
    const inPanic = (members: readonly number[]): boolean => {
      let panic = panicking.get(members);
      if (panic === undefined) {
        let healthy = 0;
        for (const member of members) if (!ejected(member)) healthy++;
        panic = healthy * 100 < thresholdPercent * members.length;
        panicking.set(members, panic);
      }
      return panic;
    };
    for (const id of affected) setHealthy(id, !ejected(id) || (this.#setsOf[id] ?? []).some(inPanic));
  }
}
