/**
 * Backend resolution: an Ingress backend -> Service port -> EndpointSlice addresses.
 */
import type { Condition } from '../model/conditions.ts';
import type { Backend, Endpoint, EndpointSet, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings, objectKey } from '../state/cluster-state.ts';
import { addressClass, externalNameClass } from '../snapshot/address.ts';
import { SECTIONS, lowerBound } from '../snapshot/order.ts';
import type { IngressBackend, Service, ServicePort } from '../state/objects.ts';
import type { MemberIndex } from '../state/member-index.ts';
import { ListEdits } from '../model/list-edits.ts';
import { addMember, membersOf, removeMember } from '../state/member-index.ts';

/** The weight of a route's only backend; canary splits divide it. */
export const FULL_WEIGHT = 100;

/**
 * Collects endpoint sets while backends are resolved, so each set is computed once. A full build
 * uses one per build; the incremental build keeps one across builds, dropping sets nobody uses
 * any more and recomputing the sets of a Service whose Service object or EndpointSlices changed.
 */
export class EndpointSets {
  private readonly sets = new Map<string, EndpointSet>();
  /** Set keys by Service key (`namespace/name`). */
  private readonly byService: MemberIndex = new Map();
  private readonly state: ClusterState;
  /** Where `resolve` notes the keys it returns while a recording is on. */
  private recording: string[] | undefined;
  /** Every set, sorted by key: patched in place (a binary search and a move) as sets come, go and change. */
  private readonly sorted: EndpointSet[] = [];
  /** `all()`'s answer, until a set is added, dropped or changed: an unchanged list is the same object, so compile knows it by identity. */
  private out: readonly EndpointSet[] | undefined;
  /** Where `sorted` was patched since that copy: compile and sealing follow the change instead of comparing every set. */
  private readonly edits = new ListEdits<EndpointSet>();

  constructor(state: ClusterState) {
    this.state = state;
  }

  /** Every set resolved so far, sorted by key: the same list as the last call while no set was added, dropped or changed (never change it). */
  all(): readonly EndpointSet[] {
    return (this.out ??= this.edits.copy(this.sorted));
  }

  /** Appends the key every later `resolve` call returns to `keys` (undefined stops recording), so a derivation knows the sets it used. */
  record(keys: string[] | undefined): void {
    this.recording = keys;
  }

  /**
   * The key of the set for this Service port, computing it on first use. With `clusterIP`
   * (`service-upstream`), the set is the Service's ClusterIP and port alone (`<key>@clusterIP`).
   */
  resolve(service: Service, servicePort: ServicePort, ingressPort: number | string, clusterIP = false): string {
    const namespace = service.metadata.namespace ?? 'default';
    const serviceKey = objectKey(namespace, service.metadata.name);
    const made = `${serviceKey}:${ingressPort}${clusterIP ? '@clusterIP' : ''}`;
    // The key the set already has, when it has one: derivations and routes keep that one string, not a copy each.
    const key = this.sets.get(made)?.key ?? made;
    this.recording?.push(key);
    if (!this.sets.has(key)) {
      const origin = { namespace, service: service.metadata.name, servicePort: servicePort.name ?? servicePort.port, ...(clusterIP ? { clusterIP: true as const } : {}) };
      const set = { key, endpoints: clusterIP ? clusterEndpoint(service, servicePort) : this.endpointsOf(service, servicePort), origin };
      this.sets.set(key, set);
      addMember(this.byService, serviceKey, key);
      const at = lowerBoundByKey(this.sorted, key);
      this.sorted.splice(at, 0, set);
      this.edits.note('insert', at, this.sorted.length);
      this.out = undefined;
    }
    return key;
  }

  /** The set `key`, if resolved. */
  get(key: string): EndpointSet | undefined {
    return this.sets.get(key);
  }

  /** Forgets the set `key` (no route uses it any more). */
  drop(key: string): void {
    const set = this.sets.get(key);
    if (set === undefined) return;
    this.sets.delete(key);
    const serviceKey = objectKey(set.origin.namespace, set.origin.service);
    removeMember(this.byService, serviceKey, key);
    const at = lowerBoundByKey(this.sorted, key);
    if (this.sorted[at]?.key === key) {
      this.sorted.splice(at, 1);
      this.edits.note('remove', at, this.sorted.length);
    }
    this.out = undefined;
  }

  /**
   * Recomputes the endpoints of every set of the Service `serviceKey` from the current state; a
   * set whose endpoints did not change keeps its object. A Service or port that vanished yields an
   * empty set (the Ingresses that read the Service are re-derived by the same build anyway).
   * Adds the keys of the sets whose endpoints changed to `changed`.
   */
  refreshService(serviceKey: string, changed: Set<string>): void {
    for (const key of membersOf(this.byService, serviceKey)) {
      const set = this.sets.get(key)!;
      const service = this.state.services.get(serviceKey);
      const servicePort = service?.spec.ports?.find((p) => (p.name ?? p.port) === set.origin.servicePort) ?? (service?.spec.type === 'ExternalName' && typeof set.origin.servicePort === 'number' ? { port: set.origin.servicePort } : undefined);
      const endpoints = service === undefined || servicePort === undefined ? [] : set.origin.clusterIP === true ? clusterEndpoint(service, servicePort) : this.endpointsOf(service, servicePort);
      if (sameEndpoints(endpoints, set.endpoints)) continue;
      const next = { ...set, endpoints };
      this.sets.set(key, next);
      // Same key, same place (`all()` hands out copies).
      const at = lowerBoundByKey(this.sorted, key);
      this.sorted[at] = next;
      this.edits.note('set', at, this.sorted.length);
      this.out = undefined;
      changed.add(key);
    }
  }

  private endpointsOf(service: Service, servicePort: ServicePort): Endpoint[] {
    if (service.spec.type === 'ExternalName' && service.spec.externalName) {
      return [{ address: service.spec.externalName, port: servicePort.port, terminating: false }];
    }
    const wantedName = servicePort.name ?? '';
    const ready = new Map<string, Endpoint>();
    const terminating = new Map<string, Endpoint>();
    for (const slice of this.state.endpointSlicesFor(service.metadata.namespace ?? 'default', service.metadata.name)) {
      const slicePort = slice.ports?.find((p) => (p.name ?? '') === wantedName);
      // A slice without a matching port carries no address for this Service port.
      if (slicePort?.port == null) continue;
      for (const endpoint of slice.endpoints ?? []) {
        const isReady = endpoint.conditions?.ready ?? true;
        const isTerminating = endpoint.conditions?.terminating ?? false;
        const isServing = endpoint.conditions?.serving ?? isReady;
        for (const address of endpoint.addresses) {
          const id = `${address}|${slicePort.port}`;
          if (isReady && !isTerminating) ready.set(id, { address, port: slicePort.port, terminating: false });
          else if (isServing && isTerminating) terminating.set(id, { address, port: slicePort.port, terminating: true });
        }
      }
    }
    // Serving-but-terminating endpoints take traffic only when nothing else is left (KEP-1669).
    const chosen = ready.size > 0 ? ready : terminating;
    return [...chosen.values()].sort((a, b) => compareStrings(a.address, b.address) || a.port - b.port);
  }
}

/** A Service's ClusterIP (`spec.clusterIP`) as an address, or undefined for none, `None` (headless) or an ExternalName. */
export function clusterAddress(service: Service): string | undefined {
  const address = service.spec.clusterIP;
  return address !== undefined && address !== '' && address !== 'None' && service.spec.type !== 'ExternalName' ? address : undefined;
}

/** The one endpoint of `service-upstream`: the ClusterIP and the Service port (none when the Service has no ClusterIP any more). */
function clusterEndpoint(service: Service, servicePort: ServicePort): Endpoint[] {
  const address = clusterAddress(service);
  return address === undefined ? [] : [{ address, port: servicePort.port, terminating: false }];
}

function sameEndpoints(a: readonly Endpoint[], b: readonly Endpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => e.address === b[i]!.address && e.port === b[i]!.port && e.terminating === b[i]!.terminating);
}

/** A resolved backend plus what went wrong resolving it. */
export interface ResolvedBackend {
  readonly backend: Backend;
  readonly conditions: Condition[];
  /** The resolved Service port's `appProtocol` and how messages name it (`ns/svc:port`); absent when unresolved. */
  readonly servicePort?: { readonly appProtocol: string | undefined; readonly label: string };
}

/**
 * Resolves one Ingress backend. An unknown Service or port still yields a Backend (with no
 * endpoint set, so it answers 503, as ingress-nginx does) plus an Error condition: traffic for that
 * path must not silently fall through to another rule.
 */
export function resolveBackend(
  backend: IngressBackend,
  namespace: string,
  source: SourceRef,
  field: string,
  state: ClusterState,
  sets: EndpointSets,
  serviceUpstream = false,
): ResolvedBackend {
  const ref = backend.service;
  if (ref === undefined) {
    const what = backend.resource ? `resource backend ${backend.resource.kind}/${backend.resource.name}` : 'backend without service';
    return {
      backend: { namespace, service: '', port: 0, weight: FULL_WEIGHT, endpointSet: undefined },
      conditions: [{ source, field, reason: 'UnsupportedBackend', severity: 'Error', message: `${what} is not supported; requests answer 503` }],
    };
  }
  const port: number | string = ref.port.number ?? ref.port.name ?? 0;
  const unresolved: Backend = { namespace, service: ref.name, port, weight: FULL_WEIGHT, endpointSet: undefined };
  const service = state.services.get(objectKey(namespace, ref.name));
  if (service === undefined) {
    return {
      backend: unresolved,
      conditions: [{ source, field: `${field}.service.name`, reason: 'ServiceNotFound', severity: 'Error', message: `Service ${namespace}/${ref.name} not found; requests answer 503` }],
    };
  }
  const servicePort =
    service.spec.type === 'ExternalName' && typeof port === 'number'
      ? { port }
      : service.spec.ports?.find((p) => (typeof port === 'number' ? p.port === port : p.name === port));
  if (servicePort === undefined) {
    const known = (service.spec.ports ?? []).map((p) => (p.name ? `${p.name}(${p.port})` : String(p.port))).join(', ') || 'none';
    return {
      backend: unresolved,
      conditions: [
        {
          source,
          field: `${field}.service.port.${typeof port === 'number' ? 'number' : 'name'}`,
          reason: 'ServicePortNotFound',
          severity: 'Error',
          message: `Service ${namespace}/${ref.name} has no port ${port} (ports: ${known}); requests answer 503`,
        },
      ],
    };
  }
  // service-upstream: the ClusterIP when the Service has one; else its endpoints, as ingress-nginx falls back.
  const clusterIP = serviceUpstream && clusterAddress(service) !== undefined;
  const resolved: Backend = { ...unresolved, endpointSet: sets.resolve(service, servicePort, port, clusterIP) };
  const described = { appProtocol: 'appProtocol' in servicePort ? servicePort.appProtocol : undefined, label: `${namespace}/${ref.name}:${port}` };
  if (serviceUpstream && !clusterIP) {
    const message = `service-upstream: Service ${namespace}/${ref.name} has no ClusterIP (${service.spec.type === 'ExternalName' ? 'ExternalName' : 'headless or none'}); its endpoints are used, as ingress-nginx does`;
    return { backend: resolved, conditions: [{ source, field: `metadata.annotations['nginx.ingress.kubernetes.io/service-upstream']`, reason: 'InvalidAnnotation', severity: 'Warning', message }], servicePort: described };
  }
  // Loopback or link-local behind an ExternalName (or a ClusterIP) publishes what only the node should reach; data planes refuse it.
  const special = clusterIP ? addressClass(clusterAddress(service) as string) : service.spec.type === 'ExternalName' && service.spec.externalName ? externalNameClass(service.spec.externalName) : undefined;
  if (special === undefined) return { backend: resolved, conditions: [], servicePort: described };
  const flag = special === 'link-local' ? '--allow-link-local-endpoints' : '--allow-loopback-endpoints';
  const what = clusterIP ? `has ClusterIP ${clusterAddress(service)} (service-upstream)` : `is ExternalName ${service.spec.externalName}`;
  const message = `Service ${namespace}/${ref.name} ${what}, a ${special} address: data planes refuse to proxy to it (502) unless started with ${flag}`;
  return { backend: resolved, conditions: [{ source, field: `${field}.service.name`, reason: 'EndpointAddressRefused', severity: 'Warning', message }], servicePort: described };
}

/** The first index in `sets` (sorted as the snapshot's endpointSets, by key) whose key is not before `key`. */
function lowerBoundByKey(sets: readonly EndpointSet[], key: string): number {
  return lowerBound(sets, key, SECTIONS.endpointSets.keyOf, SECTIONS.endpointSets.compare);
}
