/**
 * Snapshot history: the published versions (newest last), what changed in each, and subscribers
 * that want the current one. One instance per control process.
 *
 * Memory is bounded: the current snapshot is always kept in full; older versions stay in full
 * (for deltas to nodes a few versions behind, exports and diffs) only while there are at most
 * `fullVersions` of them and the items they no longer share with newer kept versions fit in
 * `memoryBudgetBytes`. Beyond that a version is kept as a compact summary (version, time,
 * counts, a sample of what changed) until `limit` versions are listed.
 */
import type { Condition } from '../model/conditions.ts';
import type { ChangeSet, SnapshotDiff } from '../snapshot/diff.ts';
import { diffSnapshots, onlyEndpointsChanged } from '../snapshot/diff.ts';
import { sectionWalk } from '../snapshot/delta.ts';
import { itemBytes } from '../snapshot/hash.ts';
import type { Snapshot, SnapshotEndpointSet, SnapshotHost } from '../snapshot/schema.ts';

/** Counts of added + removed + changed identities per kind since the previous version. */
export interface ChangeCounts {
  readonly hosts: number;
  readonly routes: number;
  readonly backends: number;
  readonly endpoints: number;
  readonly certificates: number;
  readonly onlyEndpoints: boolean;
}

/** What is kept of every version, retained in full or not. */
export interface VersionRecord {
  readonly version: string;
  /** ISO 8601 time of publication. */
  readonly publishedAt: string;
  /** Counts since the previous version; undefined for the first. */
  readonly counts: ChangeCounts | undefined;
  /** Differences from the previous version; once summarized, each list holds at most SAMPLE identities. */
  readonly changes: SnapshotDiff | undefined;
  readonly conditionCount: number;
  /** Items per list (and routes of all hosts, endpoints of all sets). */
  readonly size: { readonly hosts: number; readonly routes: number; readonly endpointSets: number; readonly endpoints: number; readonly certificates: number };
}

/** A version retained in full. */
export interface PublishedSnapshot extends VersionRecord {
  readonly snapshot: Snapshot;
  readonly conditions: readonly Condition[];
}

/** A version in the history: in full, or (`snapshot` absent) summarized. */
export type HistoryEntry = PublishedSnapshot | (VersionRecord & { readonly snapshot?: undefined });

/** Listener for newly published snapshots. */
export type SnapshotListener = (published: PublishedSnapshot) => void;

/** Options of the history. */
export interface SnapshotHistoryOptions {
  /** Versions listed, in full or summarized (default 500). */
  readonly limit?: number;
  /** Older versions kept in full, besides the current one (default 8). */
  readonly fullVersions?: number;
  /** Estimated memory for older full versions (default 64 MiB); see `retainedBytes`. */
  readonly memoryBudgetBytes?: number;
  readonly now?: () => Date;
}

/** Identities kept per change list of a summarized version. */
export const SAMPLE = 10;
/** Heap bytes per byte of item JSON, roughly (JS objects and strings vs their JSON). */
const HEAP_PER_JSON_BYTE = 3;

function counts(diff: SnapshotDiff): ChangeCounts {
  const count = (set: ChangeSet) => set.added.length + set.removed.length + set.changed.length;
  return { hosts: count(diff.hosts), routes: count(diff.routes), backends: count(diff.backends), endpoints: count(diff.endpoints), certificates: count(diff.certificates), onlyEndpoints: onlyEndpointsChanged(diff) };
}

function sample(diff: SnapshotDiff): SnapshotDiff {
  const cut = (set: ChangeSet): ChangeSet => ({ added: set.added.slice(0, SAMPLE), removed: set.removed.slice(0, SAMPLE), changed: set.changed.slice(0, SAMPLE) });
  return { from: diff.from, to: diff.to, hosts: cut(diff.hosts), routes: cut(diff.routes), backends: cut(diff.backends), endpoints: cut(diff.endpoints), certificates: cut(diff.certificates) };
}

/** Bounded history of published snapshots. */
export class SnapshotHistory {
  private readonly entries: HistoryEntry[] = [];
  private readonly listeners = new Set<SnapshotListener>();
  private readonly limit: number;
  private readonly fullVersions: number;
  private readonly budget: number;
  private readonly now: () => Date;
  /** Estimated bytes held by older full versions after the last publish. */
  retainedBytes = 0;
  /** `unshared(snapshot, newer)` of the pairs trim weighed, by the older snapshot: kept versions are neighbours, so each pair is walked once, not at every publish. */
  private readonly unsharedCosts = new WeakMap<Snapshot, { readonly newer: Snapshot; readonly bytes: number }>();

  constructor(options: SnapshotHistoryOptions = {}) {
    this.limit = Math.max(1, options.limit ?? 500);
    this.fullVersions = Math.max(0, options.fullVersions ?? 8);
    this.budget = options.memoryBudgetBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Publishes a snapshot. Returns false (and notifies nobody) when its version is already current:
   * identical state yields identical versions, so a no-op rebuild costs nothing downstream.
   */
  publish(snapshot: Snapshot, conditions: readonly Condition[]): boolean {
    const previous = this.current();
    if (previous?.snapshot.version === snapshot.version) return false;
    const changes = previous === undefined ? undefined : diffSnapshots(previous.snapshot, snapshot);
    const { routes, endpoints } = previous === undefined ? { routes: snapshot.hosts.reduce((n, host) => n + host.routes.length, 0), endpoints: snapshot.endpointSets.reduce((n, set) => n + set.endpoints.length, 0) } : this.weigh(previous, snapshot);
    const entry: PublishedSnapshot = {
      snapshot,
      conditions,
      version: snapshot.version,
      publishedAt: this.now().toISOString(),
      changes,
      counts: changes === undefined ? undefined : counts(changes),
      conditionCount: conditions.length,
      size: { hosts: snapshot.hosts.length, routes, endpointSets: snapshot.endpointSets.length, endpoints, certificates: snapshot.certificates.length },
    };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    this.trim();
    for (const listener of this.listeners) listener(entry);
    return true;
  }

  /**
   * The routes and endpoints of `snapshot`, from the previous version's counts and the hosts and
   * endpoint sets that differ from it; and, for `trim`, the weight of the items of the previous version `snapshot` does not
   * share. One walk by identity per list (none for a list `snapshot` shares whole), and only the
   * items that differ are looked into: not a pass over every host.
   */
  private weigh(previous: PublishedSnapshot, snapshot: Snapshot): { routes: number; endpoints: number } {
    let routes = previous.size.routes;
    let endpoints = previous.size.endpoints;
    let bytes = 0;
    for (const name of ['hosts', 'endpointSets', 'certificates'] as const) {
      if (previous.snapshot[name] === snapshot[name]) continue;
      const walk = sectionWalk(name, previous.snapshot[name] as readonly object[], snapshot[name] as readonly object[]);
      for (const item of walk.replaced) bytes += itemBytes(item) * HEAP_PER_JSON_BYTE;
      if (name === 'hosts') {
        for (const host of walk.set as readonly SnapshotHost[]) routes += host.routes.length;
        for (const host of walk.replaced as readonly SnapshotHost[]) routes -= host.routes.length;
      } else if (name === 'endpointSets') {
        for (const set of walk.set as readonly SnapshotEndpointSet[]) endpoints += set.endpoints.length;
        for (const set of walk.replaced as readonly SnapshotEndpointSet[]) endpoints -= set.endpoints.length;
      }
    }
    // The items of the previous version the new one does not hold, by identity then hash: what `unshared` would walk for this pair.
    this.unsharedCosts.set(previous.snapshot, { newer: snapshot, bytes });
    return { routes, endpoints };
  }

  /**
   * Summarizes older full versions beyond the count or the memory budget, newest kept first.
   * A kept version costs the items it does not share with the next newer kept version. Compile
   * shares an item only with the version just before, so an item held by two versions is held by
   * every version between them: comparing neighbours (a walk by identity) counts each item once.
   */
  private trim(): void {
    // Items of `snapshot` not held by `newer`, and their estimated weight (walked once per pair).
    const unshared = (snapshot: Snapshot, newer: Snapshot): number => {
      const known = this.unsharedCosts.get(snapshot);
      if (known?.newer === newer) return known.bytes;
      let bytes = 0;
      for (const name of ['hosts', 'endpointSets', 'certificates'] as const) {
        for (const item of sectionWalk(name, newer[name] as readonly object[], snapshot[name] as readonly object[]).set) bytes += itemBytes(item) * HEAP_PER_JSON_BYTE;
      }
      this.unsharedCosts.set(snapshot, { newer, bytes });
      return bytes;
    };
    let newer = this.entries.at(-1)!.snapshot!;
    let kept = 0;
    let bytes = 0;
    for (let i = this.entries.length - 2; i >= 0; i--) {
      const entry = this.entries[i]!;
      if (entry.snapshot === undefined) continue;
      const cost = kept < this.fullVersions ? unshared(entry.snapshot, newer) : undefined;
      if (cost !== undefined && bytes + cost <= this.budget) {
        kept++;
        bytes += cost;
        newer = entry.snapshot;
      } else {
        const { snapshot: _snapshot, conditions: _conditions, ...record } = entry;
        this.entries[i] = { ...record, changes: record.changes === undefined ? undefined : sample(record.changes) };
      }
    }
    this.retainedBytes = bytes;
  }

  /** The newest published snapshot, or undefined before the first publish. */
  current(): PublishedSnapshot | undefined {
    return this.entries.at(-1) as PublishedSnapshot | undefined;
  }

  /** How many listed versions are kept in full (the current one included) and as summaries. */
  kept(): { full: number; summary: number } {
    let full = 0;
    for (const entry of this.entries) if (entry.snapshot !== undefined) full++;
    return { full, summary: this.entries.length - full };
  }

  /** A version retained in full, or undefined when unknown or only summarized. */
  get(version: string): PublishedSnapshot | undefined {
    const entry = this.entry(version);
    return entry?.snapshot === undefined ? undefined : (entry as PublishedSnapshot);
  }

  /** A listed version (in full or summarized), or undefined when unknown. */
  entry(version: string): HistoryEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]!.version === version) return this.entries[i];
    return undefined;
  }

  /** Listed versions, newest first. */
  list(): readonly HistoryEntry[] {
    return [...this.entries].reverse();
  }

  /** Calls `listener` on every publish; returns the function that unsubscribes. */
  subscribe(listener: SnapshotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Resolves with the current snapshot as soon as its version differs from `known` (at once if
   * it already does), or with undefined after `timeoutMs` (long-poll).
   */
  waitForChange(known: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<PublishedSnapshot | undefined> {
    return this.waitFor((version) => version !== known, timeoutMs, signal);
  }

  /** Resolves with the current snapshot once `wanted` accepts its version, or undefined after `timeoutMs` / abort. */
  waitFor(wanted: (version: string) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<PublishedSnapshot | undefined> {
    const current = this.current();
    if (current !== undefined && wanted(current.version)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const done = (value: PublishedSnapshot | undefined) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const unsubscribe = this.subscribe((published) => {
        if (wanted(published.version)) done(published);
      });
      signal?.addEventListener('abort', onAbort);
    });
  }
}
