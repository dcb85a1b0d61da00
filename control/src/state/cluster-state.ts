/**
 * ClusterState: the last known version of every object Portico reads, whatever the source.
 *
 * Sources only ever call `upsert` / `remove`; the build stage only reads. Like Contour's cache,
 * `upsert` and `remove` say whether anything changed, so a source can skip a rebuild for a
 * no-op event (level-triggered: the rebuild always starts from the whole state).
 *
 * For the incremental build, the state also keeps a journal of which keys changed since the
 * journal was last taken (`takeChanges`), and can record which Services and Secrets a
 * derivation read (`recordReads`), misses included, so a later change to one of them re-derives
 * exactly the derivations that read it.
 */
import type { GatewayClass, Gateway, GRPCRoute, HTTPRoute, Namespace, ReferenceGrant } from './gateway-objects.ts';
import type { EndpointSlice, Ingress, IngressClass, KubeObject, Secret, Service } from './objects.ts';
import { SERVICE_NAME_LABEL } from './objects.ts';
import { compareStrings } from '../snapshot/order.ts';

/** `namespace/name`, the key of a namespaced object. */
export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? 'default'}/${name}`;
}

/** Keys changed since the journal was last taken, by kind; EndpointSlices are journaled by their Service's key. */
export type StateChanges = ReadonlyMap<KubeObject['kind'], ReadonlySet<string>>;

/** Services and Secrets read (by key, found or not) while a recording was on. */
export interface StateReads {
  readonly services: Set<string>;
  readonly secrets: Set<string>;
}

/** A Map whose `get` also notes the key into a recorder while one is set. */
class ReadTrackingMap<V> extends Map<string, V> {
  recorder: Set<string> | undefined;

  override get(key: string): V | undefined {
    this.recorder?.add(key);
    return super.get(key);
  }
}

/** The mutable store of every object, by kind. */
export class ClusterState {
  readonly ingresses = new Map<string, Ingress>();
  readonly ingressClasses = new Map<string, IngressClass>();
  readonly services: Map<string, Service> = new ReadTrackingMap<Service>();
  readonly endpointSlices = new Map<string, EndpointSlice>();
  readonly secrets: Map<string, Secret> = new ReadTrackingMap<Secret>();
  readonly gatewayClasses = new Map<string, GatewayClass>();
  readonly gateways = new Map<string, Gateway>();
  readonly httpRoutes = new Map<string, HTTPRoute>();
  readonly grpcRoutes = new Map<string, GRPCRoute>();
  readonly referenceGrants = new Map<string, ReferenceGrant>();
  /** Namespaces by name (their labels decide listener `allowedRoutes` selectors). */
  readonly namespaces = new Map<string, Namespace>();
  /** The map of each kind, in the order `objects()` yields them. */
  private readonly stores: Readonly<Record<KubeObject['kind'], Map<string, KubeObject>>> = {
    Ingress: this.ingresses,
    IngressClass: this.ingressClasses,
    Service: this.services,
    EndpointSlice: this.endpointSlices,
    Secret: this.secrets,
    GatewayClass: this.gatewayClasses,
    Gateway: this.gateways,
    HTTPRoute: this.httpRoutes,
    GRPCRoute: this.grpcRoutes,
    ReferenceGrant: this.referenceGrants,
    Namespace: this.namespaces,
  };
  /** EndpointSlice keys by `namespace/service`, so resolving a Service is not a scan of every slice. */
  private readonly slicesByService = new Map<string, Set<string>>();
  private journal = new Map<KubeObject['kind'], Set<string>>();

  /** A state holding `objects` (later duplicates replace earlier ones). */
  static from(objects: Iterable<KubeObject>): ClusterState {
    const state = new ClusterState();
    for (const object of objects) state.upsert(object);
    return state;
  }

  /**
   * Inserts or replaces an object. Returns false when nothing the build reads changed: the stored
   * object was identical, or an Ingress or Gateway API object differs only in its `status`,
   * `resourceVersion` or `managedFields` (Portico's own status writes come back through the
   * informer; they must not cost a rebuild). The newer object is stored either way, so status
   * planning sees it.
   */
  upsert(object: KubeObject): boolean {
    const { map, key } = this.slot(object);
    const previous = map.get(key);
    if (previous !== undefined && sameVersion(previous, object)) return false;
    if (previous?.kind === 'EndpointSlice') this.unindexSlice(key, previous);
    map.set(key, object);
    if (object.kind === 'EndpointSlice') this.indexSlice(key, object);
    if (previous !== undefined && STATUS_BEARING.has(object.kind) && sameSpec(previous, object)) return false;
    this.note(object.kind, key, previous, object);
    return true;
  }

  /** Removes an object; returns false when it was not stored. */
  remove(object: Pick<KubeObject, 'kind' | 'metadata'>): boolean {
    const { map, key } = this.slot(object);
    const previous = map.get(key);
    if (previous?.kind === 'EndpointSlice') this.unindexSlice(key, previous);
    if (!map.delete(key)) return false;
    this.note(object.kind, key, previous, undefined);
    return true;
  }

  /**
   * The keys changed since the last call (an empty map when none), and starts a new journal.
   * An EndpointSlice change is journaled under the keys of the Services it belonged to before and after.
   */
  takeChanges(): StateChanges {
    const changes = this.journal;
    this.journal = new Map();
    return changes;
  }

  /**
   * Runs `read` and returns, with its result, the keys of every Service and Secret it looked up
   * (found or not). Recordings do not nest: an inner one would hide reads from the outer.
   */
  recordReads<T>(read: () => T): { result: T; reads: StateReads } {
    const reads: StateReads = { services: new Set(), secrets: new Set() };
    const services = this.services as ReadTrackingMap<Service>;
    const secrets = this.secrets as ReadTrackingMap<Secret>;
    services.recorder = reads.services;
    secrets.recorder = reads.secrets;
    try {
      return { result: read(), reads };
    } finally {
      services.recorder = undefined;
      secrets.recorder = undefined;
    }
  }

  private note(kind: KubeObject['kind'], key: string, previous: KubeObject | undefined, next: KubeObject | undefined): void {
    let keys = this.journal.get(kind);
    if (keys === undefined) this.journal.set(kind, (keys = new Set()));
    if (kind !== 'EndpointSlice') {
      keys.add(key);
      return;
    }
    for (const slice of [previous, next]) {
      const serviceKey = slice === undefined ? undefined : this.serviceKeyOf(slice as EndpointSlice);
      if (serviceKey !== undefined) keys.add(serviceKey);
    }
  }

  /** Every stored object, in no particular order. */
  *objects(): IterableIterator<KubeObject> {
    for (const map of Object.values(this.stores)) yield* map.values();
  }

  /** Removes every object of `kind` (its API went away, e.g. a CRD was deleted); returns whether any was stored. */
  clearKind(kind: KubeObject['kind']): boolean {
    const objects = [...this.stores[kind].values()];
    for (const object of objects) this.remove(object);
    return objects.length > 0;
  }

  /** EndpointSlices of the Service `namespace/name`, in key order. */
  endpointSlicesFor(namespace: string, service: string): EndpointSlice[] {
    const keys = this.slicesByService.get(objectKey(namespace, service));
    if (keys === undefined) return [];
    const slices: EndpointSlice[] = [];
    for (const key of keys) {
      const slice = this.endpointSlices.get(key);
      if (slice !== undefined) slices.push(slice);
    }
    return slices.sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  }

  private serviceKeyOf(slice: EndpointSlice): string | undefined {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    return service === undefined ? undefined : objectKey(slice.metadata.namespace, service);
  }

  private indexSlice(key: string, slice: EndpointSlice): void {
    const serviceKey = this.serviceKeyOf(slice);
    if (serviceKey === undefined) return;
    let keys = this.slicesByService.get(serviceKey);
    if (keys === undefined) this.slicesByService.set(serviceKey, (keys = new Set()));
    keys.add(key);
  }

  private unindexSlice(key: string, slice: EndpointSlice): void {
    const serviceKey = this.serviceKeyOf(slice);
    if (serviceKey === undefined) return;
    const keys = this.slicesByService.get(serviceKey);
    keys?.delete(key);
    if (keys?.size === 0) this.slicesByService.delete(serviceKey);
  }

  private slot(object: Pick<KubeObject, 'kind' | 'metadata'>): { map: Map<string, KubeObject>; key: string } {
    const { namespace, name } = object.metadata;
    return { map: this.stores[object.kind], key: CLUSTER_SCOPED.has(object.kind) ? name : objectKey(namespace, name) };
  }
}

function sameVersion(a: KubeObject, b: KubeObject): boolean {
  const ra = a.metadata.resourceVersion;
  if (ra !== undefined && ra === b.metadata.resourceVersion) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Kinds whose objects are not namespaced (keyed by name alone). */
const CLUSTER_SCOPED: ReadonlySet<KubeObject['kind']> = new Set(['IngressClass', 'GatewayClass', 'Namespace']);

/** Kinds whose `status` Portico writes itself: a status-only change is not a change for the build. */
const STATUS_BEARING: ReadonlySet<KubeObject['kind']> = new Set(['Ingress', 'GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute']);

/** Whether two objects agree on everything but what the build never reads (status, bookkeeping). */
function sameSpec(a: KubeObject, b: KubeObject): boolean {
  return JSON.stringify(buildView(a)) === JSON.stringify(buildView(b));
}

function buildView(object: KubeObject): unknown {
  const { status: _status, metadata, ...rest } = object as KubeObject & { status?: unknown };
  const { resourceVersion: _version, managedFields: _fields, ...meta } = metadata as typeof metadata & { managedFields?: unknown };
  return { ...rest, metadata: meta };
}

// The one string order lives with the snapshot contract (the data plane sorts with it too).
export { compareStrings } from '../snapshot/order.ts';
