/**
 * ClusterState: the last known version of every object Portico reads, whatever the source.
 *
 * Sources only ever call `upsert` / `remove`; the build stage only reads. Like Contour's cache,
 * `upsert` and `remove` say whether anything changed, so a source can skip a rebuild for a
 * no-op event (level-triggered: the rebuild always starts from the whole state).
 *
 * For the incremental build, the state also keeps a journal of which keys changed since the
 * journal was last taken (`takeChanges`), and can record which Services, Secrets, ConfigMaps, Namespaces,
 * GatewayClasses and ReferenceGrant lookups a derivation read (`recordReads`), misses included,
 * so a later change to one of them re-derives exactly the derivations that read it.
 */
import type { GatewayClass, Gateway, GRPCRoute, HTTPRoute, Namespace, ReferenceGrant } from './gateway-objects.ts';
import type { ConfigMap, EndpointSlice, Ingress, IngressClass, KubeObject, Secret, Service } from './objects.ts';
import { SERVICE_NAME_LABEL } from './objects.ts';
import { compareStrings } from '../snapshot/order.ts';
import { ObjectCompactor } from './compact.ts';
import type { MemberIndex } from './member-index.ts';
import { addMember, membersOf, removeMember } from './member-index.ts';

/**
 * `namespace/name`, the key of a namespaced object. One flat string (a join, not `+`): a
 * concatenation is a tree of string pieces, and keys are kept as long as their objects (at 50k
 * objects a concatenated key held ~2.5× the bytes of a flat one).
 */
export function objectKey(namespace: string | undefined, name: string): string {
  return [namespace ?? 'default', name].join('/');
}

/**
 * Keys changed since the journal was last taken, by kind. EndpointSlices are journaled by their
 * Service's key, ReferenceGrants by the lookup keys (`grantLookupKey`) of their `from` entries,
 * before and after the change.
 */
export type StateChanges = ReadonlyMap<KubeObject['kind'], ReadonlySet<string>>;

/** Which objects of some kinds were stored, replaced or removed (see `ClusterState.watch`). */
export interface StateWatch {
  /** The keys noted since the last call, by kind (an empty map when none), and starts anew. */
  take(): StateChanges;
  /** Stops noting (what was noted is dropped). */
  close(): void;
}

/** What a derivation read (by key, found or not) while a recording was on. */
export interface StateReads {
  readonly services: Set<string>;
  readonly secrets: Set<string>;
  /** ConfigMaps by key (custom-headers, auth-proxy-set-headers). */
  readonly configMaps: Set<string>;
  /** Namespaces by name (listener allowedRoutes selectors read their labels). */
  readonly namespaces: Set<string>;
  /** GatewayClasses by name. */
  readonly gatewayClasses: Set<string>;
  /** ReferenceGrant lookups (`grantLookupKey`), as `referenceGrantsFor` made them. */
  readonly referenceGrants: Set<string>;
}

/** One side of a cross-namespace reference as ReferenceGrants name it: the API group ('' for core), kind and namespace. */
export interface GrantFrom {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

/** The key of the ReferenceGrants in `toNamespace` that list `from` (group, kind, namespace) under `spec.from`. */
export function grantLookupKey(from: GrantFrom, toNamespace: string): string {
  return `${toNamespace}\0${from.group}\0${from.kind}\0${from.namespace}`;
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
  /** ConfigMaps (`custom-headers`, `auth-proxy-set-headers`), their `data` only. */
  readonly configMaps: Map<string, ConfigMap> = new ReadTrackingMap<ConfigMap>();
  readonly gateways = new Map<string, Gateway>();
  readonly httpRoutes = new Map<string, HTTPRoute>();
  readonly grpcRoutes = new Map<string, GRPCRoute>();
  readonly referenceGrants = new Map<string, ReferenceGrant>();
  /** Namespaces by name (their labels decide listener `allowedRoutes` selectors). */
  readonly namespaces: Map<string, Namespace> = new ReadTrackingMap<Namespace>();
  readonly gatewayClasses: Map<string, GatewayClass> = new ReadTrackingMap<GatewayClass>();
  /** The map of each kind, in the order `objects()` yields them. */
  private readonly stores: Readonly<Record<KubeObject['kind'], Map<string, KubeObject>>> = {
    Ingress: this.ingresses,
    IngressClass: this.ingressClasses,
    Service: this.services,
    EndpointSlice: this.endpointSlices,
    Secret: this.secrets,
    ConfigMap: this.configMaps,
    GatewayClass: this.gatewayClasses,
    Gateway: this.gateways,
    HTTPRoute: this.httpRoutes,
    GRPCRoute: this.grpcRoutes,
    ReferenceGrant: this.referenceGrants,
    Namespace: this.namespaces,
  };
  /** EndpointSlice keys by `namespace/service`, so resolving a Service is not a scan of every slice. */
  private readonly slicesByService: MemberIndex = new Map();
  /** ReferenceGrant keys by `grantLookupKey` of each `from` entry, so a reference check is not a scan of every grant. */
  private readonly grantsByLookup: MemberIndex = new Map();
  /**
   * Ingress keys by each host they claim (`ingressClaimHosts`), so a write's conflict check is not
   * a scan of every Ingress. Made on the first question (~3.5 MB at 50k Ingresses: a process whose
   * API takes no route writes never holds it), kept up to date from then on.
   */
  private ingressesByHost: MemberIndex | undefined;
  /** ReferenceGrant lookups made while a recording is on. */
  private grantRecorder: Set<string> | undefined;
  private journal = new Map<KubeObject['kind'], Set<string>>();
  /** Open watches: the kinds each follows and the keys noted for it since its last take. */
  private readonly watches = new Set<{ readonly kinds: ReadonlySet<KubeObject['kind']>; changes: Map<KubeObject['kind'], Set<string>> }>();
  /** Shares equal strings and subtrees among stored objects and drops what nothing reads (compact.ts). */
  private readonly compactor = new ObjectCompactor();

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
   * planning sees it. The state takes the object over: it is compacted in place (ObjectCompactor:
   * equal strings and subtrees shared with other stored objects, `metadata.managedFields`
   * dropped), so the caller must not change it afterwards.
   */
  upsert(object: KubeObject): boolean {
    const { map, key } = this.slot(object);
    const previous = map.get(key);
    if (previous !== undefined && sameVersion(previous, object)) return false;
    this.compactor.compact(object);
    this.unindex(key, previous);
    map.set(key, object);
    this.index(key, object);
    this.noteStored(object.kind, key);
    if (previous !== undefined && STATUS_BEARING.has(object.kind) && sameSpec(previous, object)) return false;
    this.note(object.kind, key, previous, object);
    return true;
  }

  /** Removes an object; returns false when it was not stored. */
  remove(object: Pick<KubeObject, 'kind' | 'metadata'>): boolean {
    const { map, key } = this.slot(object);
    const previous = map.get(key);
    this.unindex(key, previous);
    if (!map.delete(key)) return false;
    this.noteStored(object.kind, key);
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
   * Starts noting the keys of objects of `kinds` stored, replaced or removed, whatever changed in
   * them: unlike the build's journal (`takeChanges`), a change of status alone counts (status
   * planning reads it). Each watch has its own record, bounded by the objects of its kinds; an
   * object stored again identical is not noted.
   */
  watch(kinds: readonly KubeObject['kind'][]): StateWatch {
    const watch = { kinds: new Set(kinds), changes: new Map<KubeObject['kind'], Set<string>>() };
    this.watches.add(watch);
    return {
      take: () => {
        const changes = watch.changes;
        watch.changes = new Map();
        return changes;
      },
      close: () => void this.watches.delete(watch),
    };
  }

  private noteStored(kind: KubeObject['kind'], key: string): void {
    for (const watch of this.watches) {
      if (!watch.kinds.has(kind)) continue;
      let keys = watch.changes.get(kind);
      if (keys === undefined) watch.changes.set(kind, (keys = new Set()));
      keys.add(key);
    }
  }

  /**
   * Runs `read` and returns, with its result, the keys of every Service and Secret it looked up
   * (found or not). Recordings do not nest: an inner one would hide reads from the outer.
   */
  recordReads<T>(read: () => T): { result: T; reads: StateReads } {
    const reads: StateReads = { services: new Set(), secrets: new Set(), configMaps: new Set(), namespaces: new Set(), gatewayClasses: new Set(), referenceGrants: new Set() };
    const tracked = [
      [this.services, reads.services],
      [this.secrets, reads.secrets],
      [this.configMaps, reads.configMaps],
      [this.namespaces, reads.namespaces],
      [this.gatewayClasses, reads.gatewayClasses],
    ] as const;
    for (const [map, recorder] of tracked) (map as ReadTrackingMap<unknown>).recorder = recorder;
    this.grantRecorder = reads.referenceGrants;
    try {
      return { result: read(), reads };
    } finally {
      for (const [map] of tracked) (map as ReadTrackingMap<unknown>).recorder = undefined;
      this.grantRecorder = undefined;
    }
  }

  /** The ReferenceGrants in `toNamespace` that list `from` under `spec.from`, in key order (the lookup is recorded). */
  referenceGrantsFor(from: GrantFrom, toNamespace: string): ReferenceGrant[] {
    const lookup = grantLookupKey(from, toNamespace);
    this.grantRecorder?.add(lookup);
    return [...membersOf(this.grantsByLookup, lookup)].sort(compareStrings).map((key) => this.referenceGrants.get(key)!);
  }

  private note(kind: KubeObject['kind'], key: string, previous: KubeObject | undefined, next: KubeObject | undefined): void {
    let keys = this.journal.get(kind);
    if (keys === undefined) this.journal.set(kind, (keys = new Set()));
    if (kind === 'ReferenceGrant') {
      for (const grant of [previous, next]) if (grant !== undefined) for (const lookup of grantLookups(grant as ReferenceGrant)) keys.add(lookup);
      return;
    }
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
    const slices: EndpointSlice[] = [];
    for (const key of membersOf(this.slicesByService, objectKey(namespace, service))) {
      const slice = this.endpointSlices.get(key);
      if (slice !== undefined) slices.push(slice);
    }
    return slices.sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  }

  /**
   * Keys of the stored Ingresses that claim `host` (lower-cased; `*` for the catch-all: a rule
   * without host, or a default backend without rules), as `ingressClaimHosts` names their hosts;
   * empty when none. A host claimed by one Ingress costs one step, whatever else is stored.
   */
  ingressesClaiming(host: string): Iterable<string> {
    if (this.ingressesByHost === undefined) {
      const index: MemberIndex = new Map();
      for (const [key, ingress] of this.ingresses) for (const claimed of ingressClaimHosts(ingress)) addMember(index, claimed, key);
      this.ingressesByHost = index;
    }
    return membersOf(this.ingressesByHost, host);
  }

  private serviceKeyOf(slice: EndpointSlice): string | undefined {
    const service = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    return service === undefined ? undefined : objectKey(slice.metadata.namespace, service);
  }

  /** The index entries (EndpointSlices by Service, ReferenceGrants by lookup, Ingresses by claimed host) of a stored object. */
  private entries(object: KubeObject | undefined): { index: MemberIndex; keys: Iterable<string> } | undefined {
    if (object?.kind === 'Ingress') return this.ingressesByHost === undefined ? undefined : { index: this.ingressesByHost, keys: ingressClaimHosts(object) };
    if (object?.kind === 'EndpointSlice') {
      const serviceKey = this.serviceKeyOf(object);
      return serviceKey === undefined ? undefined : { index: this.slicesByService, keys: [serviceKey] };
    }
    if (object?.kind === 'ReferenceGrant') return { index: this.grantsByLookup, keys: grantLookups(object) };
    return undefined;
  }

  private index(key: string, object: KubeObject): void {
    const entries = this.entries(object);
    if (entries === undefined) return;
    for (const entry of entries.keys) addMember(entries.index, entry, key);
  }

  private unindex(key: string, object: KubeObject | undefined): void {
    const entries = this.entries(object);
    if (entries === undefined) return;
    for (const entry of entries.keys) removeMember(entries.index, entry, key);
  }

  private slot(object: Pick<KubeObject, 'kind' | 'metadata'>): { map: Map<string, KubeObject>; key: string } {
    const { namespace, name } = object.metadata;
    return { map: this.stores[object.kind], key: CLUSTER_SCOPED.has(object.kind) ? name : objectKey(namespace, name) };
  }
}

/** The host a rule claims: its host lower-cased, `*` (the catch-all) when it names none. */
export function ruleHost(rule: { readonly host?: string | undefined }): string {
  return rule.host === undefined || rule.host === '' ? '*' : rule.host.toLowerCase();
}

/**
 * The hosts an Ingress may claim paths or a default backend on: each rule's (`ruleHost`; a default
 * backend claims the rules' hosts too), and the catch-all `*` for any default backend. Whether a
 * host is valid is not asked here, so this is a superset of the claims: a default backend whose
 * rules all name invalid hosts claims the catch-all, and indexing a claim never made only costs a
 * lookup.
 */
export function ingressClaimHosts(ingress: Ingress): Set<string> {
  const hosts = new Set((ingress.spec.rules ?? []).map(ruleHost));
  if (ingress.spec.defaultBackend !== undefined) hosts.add('*');
  return hosts;
}

/** The lookup keys under which a ReferenceGrant answers (one per distinct `from` entry). */
function grantLookups(grant: ReferenceGrant): Set<string> {
  const namespace = grant.metadata.namespace ?? 'default';
  return new Set(grant.spec.from.map((from) => grantLookupKey(from, namespace)));
}

/** Whether `b` is the stored `a` again: the same resourceVersion, or equal but for managedFields (never stored). */
function sameVersion(a: KubeObject, b: KubeObject): boolean {
  const ra = a.metadata.resourceVersion;
  if (ra !== undefined && ra === b.metadata.resourceVersion) return true;
  return JSON.stringify(unmanaged(a)) === JSON.stringify(unmanaged(b));
}

/** `object` as the state stores it: without `metadata.managedFields` (ObjectCompactor drops them). */
function unmanaged(object: KubeObject): KubeObject {
  if (!('managedFields' in object.metadata)) return object;
  const { managedFields: _fields, ...metadata } = object.metadata as typeof object.metadata & { managedFields?: unknown };
  return { ...object, metadata } as KubeObject;
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
  const { status: _status, metadata, ...rest } = unmanaged(object) as KubeObject & { status?: unknown };
  const { resourceVersion: _version, ...meta } = metadata;
  return { ...rest, metadata: meta };
}

// The one string order lives with the snapshot contract (the data plane sorts with it too).
export { compareStrings } from '../snapshot/order.ts';
