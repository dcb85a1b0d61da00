/**
 * Snapshot history: the published snapshots (newest last, bounded), what changed in each, and
 * subscribers that want the current one. One instance per control process.
 */
import type { Condition } from '../model/conditions.ts';
import type { SnapshotDiff } from '../snapshot/diff.ts';
import { diffSnapshots } from '../snapshot/diff.ts';
import type { Snapshot } from '../snapshot/schema.ts';

/** One published version. */
export interface PublishedSnapshot {
  readonly snapshot: Snapshot;
  readonly conditions: readonly Condition[];
  /** ISO 8601 time of publication. */
  readonly publishedAt: string;
  /** Difference from the previous version; undefined for the first. */
  readonly changes: SnapshotDiff | undefined;
}

/** Listener for newly published snapshots. */
export type SnapshotListener = (published: PublishedSnapshot) => void;

/** Bounded history of published snapshots. */
export class SnapshotHistory {
  private readonly entries: PublishedSnapshot[] = [];
  private readonly listeners = new Set<SnapshotListener>();
  private readonly limit: number;
  private readonly now: () => Date;

  constructor(options: { limit?: number; now?: () => Date } = {}) {
    this.limit = options.limit ?? 50;
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Publishes a snapshot. Returns false (and notifies nobody) when its version is already current:
   * identical state yields identical versions, so a no-op rebuild costs nothing downstream.
   */
  publish(snapshot: Snapshot, conditions: readonly Condition[]): boolean {
    const previous = this.current();
    if (previous?.snapshot.version === snapshot.version) return false;
    const entry: PublishedSnapshot = {
      snapshot,
      conditions,
      publishedAt: this.now().toISOString(),
      changes: previous === undefined ? undefined : diffSnapshots(previous.snapshot, snapshot),
    };
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
    for (const listener of this.listeners) listener(entry);
    return true;
  }

  /** The newest published snapshot, or undefined before the first publish. */
  current(): PublishedSnapshot | undefined {
    return this.entries.at(-1);
  }

  /** A retained version, or undefined when unknown or already dropped from history. */
  get(version: string): PublishedSnapshot | undefined {
    return this.entries.find((entry) => entry.snapshot.version === version);
  }

  /** Retained versions, newest first. */
  list(): readonly PublishedSnapshot[] {
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
    const current = this.current();
    if (current !== undefined && current.snapshot.version !== known) return Promise.resolve(current);
    return new Promise((resolve) => {
      const done = (value: PublishedSnapshot | undefined) => {
        clearTimeout(timer);
        unsubscribe();
        signal?.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = () => done(undefined);
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const unsubscribe = this.subscribe((published) => done(published));
      signal?.addEventListener('abort', onAbort);
    });
  }
}
