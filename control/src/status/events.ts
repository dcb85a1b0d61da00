/**
 * Kubernetes Events for conditions: an invalid Ingress (or Gateway, HTTPRoute, GRPCRoute) gets a
 * Warning Event naming the field and reason, visible in `kubectl describe`. Each (object generation, field, reason) is
 * reported once while it is remembered: the recorder remembers the last `EVENT_MEMORY` keys
 * (least recently seen forgotten first) and queues at most `EVENT_QUEUE` Events, so a flood of
 * distinct conditions costs bounded memory; what does not fit is posted by a later pass.
 */
import type { Condition } from '../model/conditions.ts';
import { identicalEnds } from '../snapshot/sealed-against.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';

/** Keys of reported Events remembered at most (least recently seen forgotten first). */
export const EVENT_MEMORY = 4096;
/** Events waiting to be posted at most; more in one pass wait for a later pass. */
export const EVENT_QUEUE = 256;

/** One Event to post: its namespace, body, and the key that says it was already reported. */
export interface PendingEvent {
  readonly namespace: string;
  readonly event: unknown;
  readonly dedupeKey: string;
  /** The object, field and reason it reports, for a log line about it (a failed post); undefined when the maker gave none. */
  readonly about?: string;
}

/** What identifies one version of an object: its uid, generation and resourceVersion. */
export interface ObjectVersion {
  readonly uid?: string | undefined;
  readonly generation?: number | undefined;
  readonly resourceVersion?: string | undefined;
}

/** The kinds whose conditions become Events, with where ClusterState keeps them. */
const EVENT_KINDS: Record<string, { apiVersion: string; objects: (state: ClusterState) => ReadonlyMap<string, { metadata: ObjectVersion }> }> = {
  Ingress: { apiVersion: 'networking.k8s.io/v1', objects: (state) => state.ingresses },
  Gateway: { apiVersion: 'gateway.networking.k8s.io/v1', objects: (state) => state.gateways },
  HTTPRoute: { apiVersion: 'gateway.networking.k8s.io/v1', objects: (state) => state.httpRoutes },
  GRPCRoute: { apiVersion: 'gateway.networking.k8s.io/v1', objects: (state) => state.grpcRoutes },
};

/**
 * The Event for one condition about an object Portico holds, or undefined when the object is gone
 * (or was deleted and made again since `derivedFrom`: the new one's derivation makes its own
 * conditions). The Event names `derivedFrom`, the object version the condition was derived from
 * (ConditionOrigins), else the object as the state holds it now. Its body is made when first read
 * (the recorder reads it only to post it): a status pass offers every condition again, and those
 * already reported cost their key alone.
 */
export function conditionEvent(condition: Condition, state: ClusterState, component: string, instance: string, now: Date, derivedFrom?: ObjectVersion): PendingEvent | undefined {
  const kind = EVENT_KINDS[condition.source.kind];
  if (kind === undefined) return undefined;
  const object = kind.objects(state).get(objectKey(condition.source.namespace, condition.source.name));
  if (object === undefined) return undefined;
  // Not the object as it is now: the state may have moved on since the build (a status pass awaits
  // I/O before it offers), and the problem of generation N may be gone in N + 1.
  const version = derivedFrom ?? object.metadata;
  if (version.uid !== undefined && object.metadata.uid !== undefined && version.uid !== object.metadata.uid) return undefined;
  const namespace = condition.source.namespace;
  // The generation moves with the spec only: Portico's own status write does not repeat the Event.
  const dedupeKey = `${version.uid ?? ''}/${version.generation ?? version.resourceVersion ?? ''}/${condition.field}/${condition.reason}`;
  let body: unknown;
  return {
    namespace,
    dedupeKey,
    get about() {
      return `${condition.source.kind} ${namespace}/${condition.source.name} ${condition.field}: ${condition.reason}`;
    },
    get event() {
      if (body !== undefined) return body;
      const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
      body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${condition.source.name}.`, namespace },
        involvedObject: { apiVersion: kind.apiVersion, kind: condition.source.kind, namespace, name: condition.source.name, uid: version.uid, resourceVersion: version.resourceVersion },
        reason: condition.reason,
        message: `${condition.field}: ${condition.message}`.slice(0, 1024),
        type: condition.severity === 'Error' || condition.severity === 'Warning' ? 'Warning' : 'Normal',
        source: { component },
        reportingComponent: component,
        reportingInstance: instance,
        firstTimestamp: time,
        lastTimestamp: time,
        count: 1,
      };
      return body;
    },
  };
}

/**
 * The object version each condition was derived from, noted right after the build that made it:
 * the build is synchronous, so the state then holds what it read. A condition object is made by
 * one derivation (the build keeps an unchanged object's condition objects, and re-derives with new
 * ones), so it is noted once, when it first appears; a note looks only at the conditions that are
 * not the last list's at the same place from either end (one edit: the conditions around it).
 */
export class ConditionOrigins {
  private readonly origins = new WeakMap<Condition, ObjectVersion>();
  private last: readonly Condition[] = [];

  /** Notes the origin of each new condition of `conditions`, the list the build just made from `state`. */
  note(conditions: readonly Condition[], state: ClusterState): void {
    if (conditions === this.last) return;
    const { head, tail } = identicalEnds(conditions, this.last);
    for (let i = head; i < conditions.length - tail; i++) {
      const condition = conditions[i]!;
      if (this.origins.has(condition)) continue;
      const object = EVENT_KINDS[condition.source.kind]?.objects(state).get(objectKey(condition.source.namespace, condition.source.name));
      // The metadata object itself: the state replaces an object on every change, never edits it.
      if (object !== undefined) this.origins.set(condition, object.metadata);
    }
    this.last = conditions;
  }

  /** The object version `condition` was derived from; undefined when it was never noted (or its object was not held). */
  of(condition: Condition): ObjectVersion | undefined {
    return this.origins.get(condition);
  }
}

/** Options of the recorder. */
export interface EventRecorderOptions {
  /** Posts one Event (POST /api/v1/namespaces/{namespace}/events); rejects (or throws) when it could not. */
  readonly post: (event: PendingEvent) => Promise<void>;
  /** Keys remembered at most (default EVENT_MEMORY) and Events queued at most (default EVENT_QUEUE). */
  readonly memory?: number;
  readonly maxQueued?: number;
  /** Posts in flight at most (default 4). */
  readonly concurrency?: number;
  readonly onError?: (event: PendingEvent, error: unknown) => void;
}

/** Posts each condition's Event once, with bounded memory, queue and concurrency. */
export class EventRecorder {
  /** Counts for tests and metrics. */
  readonly stats = { posted: 0, duplicates: 0, deferred: 0, failed: 0, forgotten: 0 };
  private readonly options: EventRecorderOptions;
  private readonly memory: number;
  private readonly maxQueued: number;
  /** Reported keys, least recently seen first (a Set keeps insertion order; a hit re-inserts). */
  private readonly seen = new Set<string>();
  private readonly queue: PendingEvent[] = [];
  private active = 0;
  private idleWaiters: (() => void)[] = [];
  /** Events whose post failed since `takeFailed` last answered (at most the queue bound), and whether more failed than that. */
  private failed: PendingEvent[] = [];
  private failedPastBound = false;

  constructor(options: EventRecorderOptions) {
    this.options = options;
    this.memory = Math.max(1, options.memory ?? EVENT_MEMORY);
    this.maxQueued = Math.max(1, options.maxQueued ?? EVENT_QUEUE);
  }

  /** Keys remembered now (never more than the memory bound). */
  get remembered(): number {
    return this.seen.size;
  }

  /** Events queued now (never more than the queue bound). */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Queues the Events not reported yet; a full queue leaves the rest unremembered, for the next
   * pass. Returns those it left (empty when it took every one: queued or reported before).
   */
  record(events: Iterable<PendingEvent>): PendingEvent[] {
    const left: PendingEvent[] = [];
    for (const event of events) {
      if (this.seen.has(event.dedupeKey)) {
        this.seen.delete(event.dedupeKey);
        this.seen.add(event.dedupeKey);
        this.stats.duplicates++;
        continue;
      }
      if (this.queue.length >= this.maxQueued) {
        this.stats.deferred++;
        left.push(event);
        continue;
      }
      this.seen.add(event.dedupeKey);
      while (this.seen.size > this.memory) {
        this.seen.delete(this.seen.values().next().value!);
        this.stats.forgotten++;
      }
      this.queue.push(event);
    }
    this.pump();
    return left;
  }

  /**
   * The Events whose post failed (their keys forgotten) since the last call, oldest first; undefined
   * when more failed than the queue bound holds (the caller then offers every Event again).
   */
  takeFailed(): readonly PendingEvent[] | undefined {
    const failed = this.failedPastBound ? undefined : this.failed;
    if (this.failed.length > 0) this.failed = [];
    this.failedPastBound = false;
    return failed;
  }

  /**
   * Drops the Events queued and not posted yet, forgetting their keys (leadership lost: only the
   * leader posts, and a later pass as leader offers them again); posts in flight finish.
   */
  clear(): void {
    for (const event of this.queue) this.seen.delete(event.dedupeKey);
    this.queue.length = 0;
    this.pump();
  }

  /** Resolves once nothing is queued or being posted. */
  idle(): Promise<void> {
    if (this.queue.length === 0 && this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.active < (this.options.concurrency ?? 4) && this.queue.length > 0) {
      const event = this.queue.shift()!;
      this.active++;
      let posting: Promise<void>;
      try {
        posting = this.options.post(event);
      } catch (error) {
        // A post that throws before it returns a promise fails like one that rejects: its slot is freed below.
        posting = Promise.reject(error);
      }
      void posting
        .then(
          () => void this.stats.posted++,
          (error: unknown) => {
            // Forgotten, so a later pass reports it again.
            this.seen.delete(event.dedupeKey);
            this.stats.failed++;
            if (this.failed.length < this.maxQueued) this.failed.push(event);
            else this.failedPastBound = true;
            this.options.onError?.(event, error);
          },
        )
        .finally(() => {
          this.active--;
          this.pump();
        });
    }
    if (this.queue.length === 0 && this.active === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

/**
 * A leader's status passes offering their conditions to an EventRecorder, each condition until the
 * recorder took its Event once: a condition object taken is not offered again (the build keeps an
 * unchanged object's condition objects; a new derivation, a new generation, makes new ones), so
 * the recorder's bounded key memory never has to hold every condition of the cluster, and a
 * cluster with more conditions than it remembers does not get their Events posted again and again.
 * A pass looks only at the conditions that are not, by identity, the last pass's at the same place
 * from either end of the list, when the recorder took every Event of the last pass: one edit costs
 * the conditions around it, not a step per condition of the cluster. After a post failed (the
 * recorder forgot it) the pass looks at the whole list and offers that condition again (the
 * others stay taken: a failure never re-posts Events the recorder no longer remembers); after
 * `reset` (or more failures than the recorder lists), every condition is offered again.
 */
export class ConditionEvents {
  private readonly recorder: EventRecorder;
  /** Conditions whose Event the recorder took (queued, or reported before). */
  private taken = new WeakSet<Condition>();
  /** The list the last pass offered, when the recorder took all of it; undefined: look at the whole next list. */
  private offered: readonly Condition[] | undefined;
  /** The condition each Event the recorder took was made for, so a failed post makes that condition offered again. */
  private sourceOf = new WeakMap<PendingEvent, Condition>();

  constructor(recorder: EventRecorder) {
    this.recorder = recorder;
  }

  /** Offers `conditions` (sorted, as the build hands them out); `eventOf` makes a condition's Event (undefined: none now). Returns how many were looked at. */
  offer(conditions: readonly Condition[], eventOf: (condition: Condition) => PendingEvent | undefined): number {
    const failed = this.recorder.takeFailed();
    if (failed === undefined) this.reset();
    else if (failed.length > 0) {
      for (const event of failed) {
        const condition = this.sourceOf.get(event);
        if (condition !== undefined) this.taken.delete(condition);
      }
      // A failed condition may lie in the unchanged ends: the whole list, each taken one a lookup.
      this.offered = undefined;
    }
    let from = 0;
    let to = conditions.length;
    const offered = this.offered;
    if (offered === conditions) from = to;
    else if (offered !== undefined) {
      const { head, tail } = identicalEnds(conditions, offered);
      from = head;
      to -= tail;
    }
    const events: PendingEvent[] = [];
    const sources: Condition[] = [];
    for (let i = from; i < to; i++) {
      const condition = conditions[i]!;
      if (this.taken.has(condition)) continue;
      const event = eventOf(condition);
      // No Event (not a kind that gets one, or its object is gone: a change that re-derives it makes a new condition).
      if (event === undefined) this.taken.add(condition);
      else {
        events.push(event);
        sources.push(condition);
      }
    }
    const left = new Set(this.recorder.record(events));
    events.forEach((event, i) => {
      if (left.has(event)) return;
      this.taken.add(sources[i]!);
      this.sourceOf.set(event, sources[i]!);
    });
    this.offered = left.size === 0 ? conditions : undefined;
    return to - from;
  }

  /** Offers every condition again next time (leadership lost). */
  reset(): void {
    this.taken = new WeakSet();
    this.sourceOf = new WeakMap();
    this.offered = undefined;
  }
}
