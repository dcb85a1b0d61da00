/**
 * The data plane's auth answer cache (auth-cache-key / auth-cache-duration; what is kept and for
 * how long is decided by @portico/control/snapshot/policies/auth-cache). One per worker, bounded
 * in entries and bytes, least recently used first out.
 *
 * Answers are kept per slot (an Ingress and route path) and the settings it had: when a snapshot
 * changes a route's auth settings, its slot starts again under a new id, so no answer given under
 * the old settings is ever served again (they are unreachable and leave as the least recently
 * used). An answer is stored only when its slot is still the one it was asked under, and expires
 * counted from when the subrequest was sent, on the monotonic clock, never later.
 */
import type { AuthResponse } from '@portico/control/snapshot/policies/external-auth';
import type { PreparedAuthCache } from '@portico/control/snapshot/policies/auth-cache';
import { cacheLifetimeMs } from '@portico/control/snapshot/policies/auth-cache';

/** An entry not used for this long is dropped (nginx auth_cache's `inactive=30m`). */
const INACTIVE_MS = 30 * 60_000;
/** Bytes counted for an entry besides its key and field values. */
const ENTRY_OVERHEAD = 128;
/** Slots kept; past it they are all forgotten (their answers become unreachable). */
const MAX_SLOTS = 4096;

/** A kept answer: its status and the fields the verdict reads (no Set-Cookie: such answers are never kept). */
class CachedAnswer implements AuthResponse {
  readonly status: number;
  readonly cookies: readonly string[] = [];
  readonly #fields: readonly (readonly [string, string])[];

  constructor(status: number, fields: readonly (readonly [string, string])[]) {
    this.status = status;
    this.#fields = fields;
  }

  header(name: string): string | undefined {
    for (const [field, value] of this.#fields) if (field === name) return value;
    return undefined;
  }
}

interface Entry {
  readonly answer: CachedAnswer;
  /** performance.now() past which it is not served. */
  readonly expires: number;
  lastUsed: number;
  readonly bytes: number;
}

interface Slot {
  readonly id: number;
  readonly settings: string;
}

/** What became of cache lookups and answers, as `portico_auth_cache_total{outcome}` names them. */
export const AUTH_CACHE_OUTCOMES = ['hit', 'miss', 'uncacheable', 'stored', 'not-stored', 'evicted'] as const;
/** Those counts over every cache of this process (one per worker in production), by AUTH_CACHE_OUTCOMES index. */
export const authCacheTotals = new Float64Array(AUTH_CACHE_OUTCOMES.length);
const HIT = 0;
const MISS = 1;
const UNCACHEABLE = 2;
const STORED = 3;
const NOT_STORED = 4;
const EVICTED = 5;

function count(outcome: number): void {
  authCacheTotals[outcome] = (authCacheTotals[outcome] as number) + 1;
}

/** Counts, for tests and stats. */
export interface AuthCacheStats {
  hits: number;
  misses: number;
  stored: number;
  /** Answers not kept (status not listed, Set-Cookie, Cache-Control, ...). */
  notStored: number;
  /** Requests whose key could not be filled in (repeated header, no credential, too long): asked, never cached. */
  uncacheable: number;
  evicted: number;
}

/** Auth answers of one worker. */
export class AuthAnswerCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  bytes = 0;
  readonly stats: AuthCacheStats = { hits: 0, misses: 0, stored: 0, notStored: 0, uncacheable: 0, evicted: 0 };
  readonly #entries = new Map<string, Entry>();
  readonly #slots = new Map<string, Slot>();
  #nextSlot = 1;

  constructor(maxEntries: number, maxBytes: number) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  /** Entries held (some may be expired or unreachable until used or evicted). */
  get size(): number {
    return this.#entries.size;
  }

  /** The id of the route's slot under its current settings (a new id when they changed). */
  slotId(cache: PreparedAuthCache): number {
    const slot = this.#slots.get(cache.slot);
    if (slot !== undefined && slot.settings === cache.settings) return slot.id;
    if (slot === undefined && this.#slots.size >= MAX_SLOTS) this.#slots.clear();
    const id = this.#nextSlot++;
    this.#slots.set(cache.slot, { id, settings: cache.settings });
    return id;
  }

  /** The answer kept under `key` (made by `keyOf`) if it is still valid at `now` (performance.now()). */
  get(key: string, now: number): AuthResponse | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) {
      this.stats.misses++;
      count(MISS);
      return undefined;
    }
    this.#entries.delete(key);
    if (now >= entry.expires || now - entry.lastUsed >= INACTIVE_MS) {
      this.bytes -= entry.bytes;
      this.stats.misses++;
      count(MISS);
      return undefined;
    }
    entry.lastUsed = now;
    // Most recently used last: eviction takes the first.
    this.#entries.set(key, entry);
    this.stats.hits++;
    count(HIT);
    return entry.answer;
  }

  /**
   * Keeps `answer` under `key` when the route's rules allow it and the slot `slotId` is still the
   * route's (its settings did not change while the subrequest was out); `sentAt` is when the
   * subrequest was sent (performance.now()), `fields` the lower-case names the verdict reads.
   */
  put(cache: PreparedAuthCache, slotId: number, key: string, answer: AuthResponse, fields: readonly string[], sentAt: number): void {
    const lifetime = cacheLifetimeMs(cache.rules, answer, Date.now());
    if (lifetime <= 0 || this.#slots.get(cache.slot)?.id !== slotId) {
      this.stats.notStored++;
      count(NOT_STORED);
      return;
    }
    const kept: [string, string][] = [];
    let bytes = ENTRY_OVERHEAD + key.length;
    for (const name of fields) {
      const value = answer.header(name);
      if (value === undefined) continue;
      kept.push([name, value]);
      bytes += name.length + value.length;
    }
    if (bytes > this.maxBytes) {
      this.stats.notStored++;
      count(NOT_STORED);
      return;
    }
    const before = this.#entries.get(key);
    if (before !== undefined) {
      this.#entries.delete(key);
      this.bytes -= before.bytes;
    }
    this.#entries.set(key, { answer: new CachedAnswer(answer.status, kept), expires: sentAt + lifetime, lastUsed: sentAt, bytes });
    this.bytes += bytes;
    this.stats.stored++;
    count(STORED);
    while (this.#entries.size > this.maxEntries || this.bytes > this.maxBytes) {
      const oldest = this.#entries.keys().next().value as string;
      this.bytes -= this.#entries.get(oldest)!.bytes;
      this.#entries.delete(oldest);
      this.stats.evicted++;
      count(EVICTED);
    }
  }

  /** Counts a request whose key could not be filled in (asked, never cached). */
  uncacheable(): void {
    this.stats.uncacheable++;
    count(UNCACHEABLE);
  }

  /** Forgets every answer. */
  clear(): void {
    this.#entries.clear();
    this.#slots.clear();
    this.bytes = 0;
  }
}

/** The cache key of a request: its route's slot id, its host and its filled-in key. */
export function keyOf(slotId: number, host: string, filled: string): string {
  return `${slotId}\n${host}\n${filled}`;
}
