/**
 * Gateways and their listeners: which GatewayClasses are Portico's, which Gateways it serves, and
 * for each listener whether it is accepted (protocol, port), whether its references resolve
 * (certificates, route kinds), whether it conflicts with another, and what routes may attach.
 * Pure over ClusterState; the results are both routing input and status (the spec's reasons).
 */
import type { ClusterState } from '../../state/cluster-state.ts';
import { compareStrings, objectKey } from '../../state/cluster-state.ts';
import type { Gateway, GatewayClass, Listener, RouteGroupKind } from '../../state/gateway-objects.ts';
import { GATEWAY_GROUP, selectorMatches } from '../../state/gateway-objects.ts';
import { scopeLabel } from '../../snapshot/scope.ts';
import { loadCertificate } from '../tls.ts';
import { referenceAllowed } from './references.ts';

/** The `controllerName` of GatewayClasses Portico serves. */
export const GATEWAY_CONTROLLER_NAME = 'portico.dev/gateway-controller';

/** Route kinds Portico attaches to HTTP and HTTPS listeners. */
export const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;
export type RouteKind = (typeof ROUTE_KINDS)[number];

/**
 * The listener ports that reach the data plane, per protocol: the ports clients connect to (the
 * edge's 80 and 443, whatever port the container listens on), plus any the operator adds.
 */
export interface GatewayPorts {
  readonly http: readonly number[];
  readonly https: readonly number[];
  /**
   * Addresses the data planes listen on besides the edge (`--gateway-address`), each given to at
   * most one Gateway, whose routes are then served there alone (scopes: snapshot/scope.ts).
   */
  readonly addresses?: readonly string[] | undefined;
}

/** Listener ports the data plane serves by default: the classic 80 and 443 of the edge. */
export const DEFAULT_GATEWAY_PORTS: GatewayPorts = { http: [80], https: [443] };

/** A `metav1.Condition` as the build sees it (the status writer adds times and generation). */
export interface StatusCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

/** One listener, resolved. */
export interface ListenerView {
  readonly gateway: Gateway;
  readonly gatewayKey: string;
  readonly index: number;
  readonly listener: Listener;
  /** Lower-case hostname, or undefined for any host. */
  readonly hostname: string | undefined;
  readonly protocol: 'HTTP' | 'HTTPS' | undefined;
  /** Routes may attach (Accepted and not Conflicted). */
  readonly usable: boolean;
  /** Kinds that may attach (status `supportedKinds`). */
  readonly supportedKinds: readonly RouteKind[];
  /** `namespace/name` of the first usable certificate (HTTPS), or undefined. */
  readonly certificate: { readonly namespace: string; readonly name: string } | undefined;
  /** Accepted, ResolvedRefs, Conflicted, Programmed. */
  readonly conditions: StatusCondition[];
  /** The routing scope of the Gateway's own address for this protocol, or undefined on the shared edge. */
  readonly scope: string | undefined;
}

/** One Gateway Portico serves, resolved. */
export interface GatewayView {
  readonly gateway: Gateway;
  readonly key: string;
  readonly listeners: ListenerView[];
  /** Accepted (and Programmed, completed once addresses are known, by the status stage). */
  readonly accepted: StatusCondition;
  /** The Gateway's own address (`--gateway-address`), or undefined when it shares the edge addresses. */
  readonly address: string | undefined;
}

/** Whether Portico serves GatewayClass `name` (exists, names Portico's controller, and asks for no parameters Portico cannot read). */
export function ownsClass(state: ClusterState, name: string): GatewayClass | undefined {
  const gatewayClass = state.gatewayClasses.get(name);
  return gatewayClass?.spec.controllerName === GATEWAY_CONTROLLER_NAME && gatewayClass.spec.parametersRef === undefined ? gatewayClass : undefined;
}

const condition = (type: string, ok: boolean, reason: string, message: string): StatusCondition => ({ type, status: ok ? 'True' : 'False', reason, message });

function protocolOf(listener: Listener): ListenerView['protocol'] {
  return listener.protocol === 'HTTP' || listener.protocol === 'HTTPS' ? listener.protocol : undefined;
}

/** The route kinds a listener names that Portico supports, and whether it named any other. */
function routeKinds(listener: Listener): { kinds: RouteKind[]; invalid: RouteGroupKind[] } {
  const named = listener.allowedRoutes?.kinds;
  if (named === undefined || named.length === 0) return { kinds: [...ROUTE_KINDS], invalid: [] };
  const kinds: RouteKind[] = [];
  const invalid: RouteGroupKind[] = [];
  for (const entry of named) {
    const group = entry.group ?? GATEWAY_GROUP;
    if (group === GATEWAY_GROUP && (ROUTE_KINDS as readonly string[]).includes(entry.kind)) {
      if (!kinds.includes(entry.kind as RouteKind)) kinds.push(entry.kind as RouteKind);
    } else invalid.push(entry);
  }
  return { kinds, invalid };
}

/** The first problem with an HTTPS listener's certificates (reason + message), or the usable certificate. */
function resolveCertificates(state: ClusterState, gateway: Gateway, listener: Listener): { certificate?: { namespace: string; name: string }; reason?: string; message?: string } {
  const namespace = gateway.metadata.namespace ?? 'default';
  if (listener.tls?.mode === 'Passthrough') return { reason: 'UnsupportedValue', message: 'tls.mode Passthrough is not supported on an HTTPS listener' };
  const refs = listener.tls?.certificateRefs ?? [];
  if (refs.length === 0) return { reason: 'InvalidCertificateRef', message: 'an HTTPS listener needs tls.certificateRefs' };
  let first: { namespace: string; name: string } | undefined;
  for (const [i, ref] of refs.entries()) {
    const field = `tls.certificateRefs[${i}]`;
    if ((ref.group ?? '') !== '' || (ref.kind ?? 'Secret') !== 'Secret') return { reason: 'InvalidCertificateRef', message: `${field}: only core Secrets are supported, not ${ref.group ?? ''}/${ref.kind ?? 'Secret'}` };
    const secretNamespace = ref.namespace ?? namespace;
    if (!referenceAllowed(state, { group: GATEWAY_GROUP, kind: 'Gateway', namespace }, { group: '', kind: 'Secret', namespace: secretNamespace }, ref.name)) {
      return { reason: 'RefNotPermitted', message: `${field}: Secret ${secretNamespace}/${ref.name} is in another namespace and no ReferenceGrant there permits it` };
    }
    const loaded = loadCertificate(state, secretNamespace, ref.name);
    if (!loaded.ok) return { reason: 'InvalidCertificateRef', message: `${field}: ${loaded.message}` };
    first ??= { namespace: secretNamespace, name: ref.name };
  }
  return { certificate: first };
}

/** Resolves one listener alone (conflicts are settled across listeners afterwards). */
function viewListener(state: ClusterState, gateway: Gateway, key: string, listener: Listener, index: number, ports: GatewayPorts, address: string | undefined): ListenerView {
  const protocol = protocolOf(listener);
  const conditions: StatusCondition[] = [];
  let accepted = true;
  if (protocol === undefined) {
    accepted = false;
    conditions.push(condition('Accepted', false, 'UnsupportedProtocol', `protocol ${listener.protocol} is not supported (HTTP and HTTPS are)`));
  } else if (Object.keys(listener.tls?.options ?? {}).length > 0) {
    accepted = false;
    conditions.push(condition('Accepted', false, 'UnsupportedValue', `tls.options ${Object.keys(listener.tls!.options!).join(', ')} are not supported`));
  } else if (!ports[protocol === 'HTTP' ? 'http' : 'https'].includes(listener.port)) {
    accepted = false;
    conditions.push(condition('Accepted', false, 'PortUnavailable', `the data plane serves ${protocol} on port ${ports[protocol === 'HTTP' ? 'http' : 'https'].join(', ')}, not ${listener.port} (more with --gateway-${protocol.toLowerCase()}-port)`));
  } else conditions.push(condition('Accepted', true, 'Accepted', 'listener accepted'));

  const { kinds, invalid } = protocol === undefined ? { kinds: [], invalid: [] } : routeKinds(listener);
  let refsProblem: { reason: string; message: string } | undefined;
  if (invalid.length > 0) refsProblem = { reason: 'InvalidRouteKinds', message: `route kinds not supported: ${invalid.map((k) => `${k.group ?? GATEWAY_GROUP}/${k.kind}`).join(', ')}` };
  let certificate: ListenerView['certificate'];
  if (protocol === 'HTTPS') {
    const resolved = resolveCertificates(state, gateway, listener);
    certificate = resolved.certificate;
    if (resolved.reason !== undefined) refsProblem ??= { reason: resolved.reason, message: resolved.message ?? '' };
  }
  conditions.push(refsProblem === undefined ? condition('ResolvedRefs', true, 'ResolvedRefs', 'references resolved') : condition('ResolvedRefs', false, refsProblem.reason, refsProblem.message));
  return {
    gateway,
    gatewayKey: key,
    index,
    listener,
    hostname: listener.hostname?.toLowerCase(),
    protocol,
    usable: accepted,
    supportedKinds: kinds,
    certificate,
    conditions,
    scope: address === undefined || protocol === undefined ? undefined : scopeLabel(address, protocol === 'HTTP' ? 'http' : 'https'),
  };
}

/**
 * Listeners that cannot share their port: the same port with different protocols
 * (ProtocolConflict), or the same port, protocol and hostname (HostnameConflict). Within one
 * Gateway the later listener loses; across Gateways the data plane merges hosts, so only a
 * protocol clash on one port can conflict there — and every served port has one protocol.
 */
function settleConflicts(listeners: ListenerView[]): void {
  for (const [i, view] of listeners.entries()) {
    let conflict: { reason: string; message: string } | undefined;
    for (const earlier of listeners.slice(0, i)) {
      if (earlier.listener.port !== view.listener.port) continue;
      if (earlier.listener.protocol !== view.listener.protocol) {
        conflict = { reason: 'ProtocolConflict', message: `port ${view.listener.port} is already used with protocol ${earlier.listener.protocol} by listener ${earlier.listener.name}` };
        break;
      }
      if (earlier.hostname === view.hostname) {
        conflict = { reason: 'HostnameConflict', message: `listener ${earlier.listener.name} already has port ${view.listener.port}, protocol ${view.listener.protocol} and hostname ${view.hostname ?? '(any)'}` };
        break;
      }
    }
    const mutable = view as { usable: boolean };
    if (conflict !== undefined) mutable.usable = false;
    view.conditions.push(conflict === undefined ? condition('Conflicted', false, 'NoConflicts', 'no conflicts') : condition('Conflicted', true, conflict.reason, conflict.message));
    const ready = view.usable && view.conditions.every((c) => c.type !== 'ResolvedRefs' || c.status === 'True');
    view.conditions.push(ready ? condition('Programmed', true, 'Programmed', 'listener programmed') : condition('Programmed', false, 'Invalid', 'listener is not accepted, conflicted or has unresolved references'));
  }
}

/** Every Gateway of a GatewayClass Portico serves, in namespace/name order, with its listeners resolved. */
export function viewGateways(state: ClusterState, ports: GatewayPorts): GatewayView[] {
  const views: GatewayView[] = [];
  const addresses = assignGatewayAddresses(state, ports.addresses ?? []);
  for (const key of [...state.gateways.keys()].sort(compareStrings)) {
    const view = viewGateway(state, key, ports, addresses.get(key));
    if (view !== undefined) views.push(view);
  }
  return views;
}

/**
 * Gateway `key` (`namespace/name`) with its listeners resolved; undefined when it is absent or not
 * of a GatewayClass Portico serves. `address`: its own address (`assignGatewayAddresses`), or
 * undefined on the edge.
 */
export function viewGateway(state: ClusterState, key: string, ports: GatewayPorts, address: string | undefined): GatewayView | undefined {
  const gateway = state.gateways.get(key);
  if (gateway === undefined || ownsClass(state, gateway.spec.gatewayClassName) === undefined) return undefined;
  const listeners = gateway.spec.listeners.map((listener, index) => viewListener(state, gateway, key, listener, index, ports, address));
  settleConflicts(listeners);
  let accepted: StatusCondition;
  if ((gateway.spec.addresses ?? []).length > 0) accepted = condition('Accepted', false, 'UnsupportedAddress', 'spec.addresses is not supported: the Gateway takes the edge addresses');
  else if (listeners.every((l) => l.usable)) accepted = condition('Accepted', true, 'Accepted', 'Gateway accepted');
  else if (listeners.some((l) => l.usable)) accepted = condition('Accepted', true, 'ListenersNotValid', 'some listeners are not valid');
  else accepted = condition('Accepted', false, 'ListenersNotValid', 'no listener is valid');
  return { gateway, key, listeners, accepted, address };
}

/** The first `status.addresses` value of a Gateway, as last written. */
function statusAddress(gateway: Gateway): string | undefined {
  const status = gateway.status as { addresses?: unknown } | undefined;
  const first: unknown = Array.isArray(status?.addresses) ? status.addresses[0] : undefined;
  const value = typeof first === 'object' && first !== null ? (first as { value?: unknown }).value : undefined;
  return typeof value === 'string' ? value : undefined;
}

/** A small stable hash of a Gateway key, for its preferred slot in the address pool. */
function slotOf(key: string, size: number): number {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 16777619);
  return (hash >>> 0) % size;
}

/**
 * Which Gateways of Portico's (not asking for `spec.addresses`, which is refused) get an address of their own from
 * `pool`, and which: oldest Gateway first (creationTimestamp, then namespace/name). A Gateway keeps
 * the pool address its status already shows while no older Gateway holds it; the others take the
 * first free address from a slot their key hashes to, so adding or deleting one Gateway seldom
 * moves another. Gateways left without one share the edge addresses. Pure over the state.
 */
export function assignGatewayAddresses(state: ClusterState, pool: readonly string[]): Map<string, string> {
  const assigned = new Map<string, string>();
  if (pool.length === 0) return assigned;
  const candidates = [...state.gateways.entries()]
    .filter(([, gateway]) => (gateway.spec.addresses ?? []).length === 0 && ownsClass(state, gateway.spec.gatewayClassName) !== undefined)
    .sort(([a, ga], [b, gb]) => compareStrings(ga.metadata.creationTimestamp ?? '', gb.metadata.creationTimestamp ?? '') || compareStrings(a, b));
  const taken = new Set<string>();
  for (const [key, gateway] of candidates) {
    const previous = statusAddress(gateway);
    if (previous !== undefined && pool.includes(previous) && !taken.has(previous)) {
      assigned.set(key, previous);
      taken.add(previous);
    }
  }
  for (const [key] of candidates) {
    if (assigned.has(key) || taken.size === pool.length) continue;
    const start = slotOf(key, pool.length);
    for (let i = 0; i < pool.length; i++) {
      const address = pool[(start + i) % pool.length]!;
      if (taken.has(address)) continue;
      assigned.set(key, address);
      taken.add(address);
      break;
    }
  }
  return assigned;
}

/** Whether a listener lets a route of `kind` in `namespace` attach (allowedRoutes). */
export function listenerAllows(state: ClusterState, view: ListenerView, kind: RouteKind, namespace: string): boolean {
  if (!view.supportedKinds.includes(kind)) return false;
  const from = view.listener.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Same') return namespace === (view.gateway.metadata.namespace ?? 'default');
  const selector = view.listener.allowedRoutes?.namespaces?.selector;
  if (selector === undefined) return false;
  // The API server labels every Namespace with its name; a manifest directory may not say so.
  return selectorMatches(selector, { ...state.namespaces.get(namespace)?.metadata.labels, 'kubernetes.io/metadata.name': namespace });
}

/** `namespace/name` of a Gateway. */
export function gatewayKey(namespace: string, name: string): string {
  return objectKey(namespace, name);
}
