/**
 * The Gateway processor (DESIGN: one build processor per route kind): GatewayClasses, Gateways,
 * HTTPRoutes, GRPCRoutes and ReferenceGrants -> route claims and TLS claims for the shared
 * assembly in build/index.ts, model conditions (for explain and Events), and the status the
 * leader writes (the spec's conditions and reasons). Pure: no I/O, no clock.
 */
import type { Condition } from '../../model/conditions.ts';
import type { Route, SourceRef } from '../../model/types.ts';
import type { ClusterState } from '../../state/cluster-state.ts';
import { compareStrings } from '../../state/cluster-state.ts';
import type { GRPCRoute, HTTPRoute, ParentReference } from '../../state/gateway-objects.ts';
import type { EndpointSets } from '../backends.ts';
import type { ClaimOrder, TlsClaim, UseCertificate } from '../ingress.ts';
import { scopedHost } from '../../snapshot/scope.ts';
import { pathClaimKey } from '../validate.ts';
import { attachRoute } from './attach.ts';
import type { GatewayPorts, GatewayView, ListenerView, RouteKind, StatusCondition } from './listeners.ts';
import { GATEWAY_CONTROLLER_NAME, viewGateways } from './listeners.ts';
import type { RouteRules, RuleMatch } from './rules.ts';
import { grpcRouteRules, httpRouteRules, toModelRoute } from './rules.ts';

/** A route a Gateway API rule claims on a host, before conflicts with other claims are settled. */
export interface GatewayRouteClaim {
  readonly host: string;
  readonly route: Route;
  /** Two claims with one key are the same match: the older wins. */
  readonly key: string;
  readonly order: ClaimOrder;
}

/** Status of one route towards one parent Portico serves. */
export interface RouteParentStatus {
  readonly parentRef: ParentReference;
  readonly conditions: readonly StatusCondition[];
}

/** The status of every Gateway API object Portico answers for. */
export interface GatewayApiStatus {
  /** GatewayClasses naming Portico's controller. */
  readonly classes: readonly { readonly name: string; readonly generation: number | undefined; readonly accepted: StatusCondition }[];
  readonly gateways: readonly {
    readonly namespace: string;
    readonly name: string;
    readonly generation: number | undefined;
    readonly accepted: StatusCondition;
    /** The Gateway's own address (`--gateway-address`), or undefined when it takes the edge addresses. */
    readonly address: string | undefined;
    readonly listeners: readonly { readonly name: string; readonly supportedKinds: readonly RouteKind[]; readonly attachedRoutes: number; readonly conditions: readonly StatusCondition[] }[];
  }[];
  readonly routes: readonly { readonly kind: RouteKind; readonly namespace: string; readonly name: string; readonly generation: number | undefined; readonly parents: readonly RouteParentStatus[] }[];
}

/** What the Gateway processor contributes to a build. */
export interface GatewayContribution {
  readonly routes: GatewayRouteClaim[];
  readonly tls: TlsClaim[];
  /**
   * Certificates of HTTPS listeners without hostname, for any SNI name no host has a certificate
   * for (the any-host entry `*`, or `*.~scope` for a listener on its Gateway's own address; it
   * does not make hosts TLS for redirects).
   */
  readonly anyHostCertificates: TlsClaim[];
  readonly conditions: Condition[];
  readonly status: GatewayApiStatus;
}

/** The status entry of one route (present when the route names a parent Portico serves). */
export type GatewayRouteStatus = GatewayApiStatus['routes'][number];
/** The status entry of one Gateway. */
export type GatewayStatusEntry = GatewayApiStatus['gateways'][number];
/** Gateway views by `namespace/name`, as far as attaching routes needs them. */
export type GatewayLookup = Pick<ReadonlyMap<string, GatewayView>, 'get'>;

/**
 * What one HTTPRoute or GRPCRoute contributes: claims, TLS claims (HTTPS listener certificates
 * for its hosts), conditions, the listeners it attached to and its status. Shaped as a
 * contribution (no any-host certificates) so both builds group its claims by host alike.
 */
export interface RouteContribution {
  readonly routes: GatewayRouteClaim[];
  readonly tls: TlsClaim[];
  readonly anyHostCertificates: readonly TlsClaim[];
  readonly conditions: Condition[];
  /** `listenerKey` of every listener it attached to, once per attachment. */
  readonly attached: string[];
  readonly status: GatewayRouteStatus | undefined;
}

/** What one Gateway's listeners contribute: the certificates of hostname-less HTTPS listeners (host `*`) and listener conditions. */
export interface ListenerContribution {
  readonly routes: readonly GatewayRouteClaim[];
  readonly tls: readonly TlsClaim[];
  readonly anyHostCertificates: TlsClaim[];
  readonly conditions: Condition[];
}

/** The key of one listener in `attachedRoutes` counts: `namespace/name/index`. */
export function listenerKey(listener: Pick<ListenerView, 'gatewayKey' | 'index'>): string {
  return `${listener.gatewayKey}/${listener.index}`;
}

/** The Gateway key (`namespace/name`) of a `listenerKey`. */
export function gatewayOfListener(key: string): string {
  return key.slice(0, key.lastIndexOf('/'));
}

/**
 * The key under which two matches are the same rule: the Ingress path key (so a path-only match
 * and an Ingress path on one host compete), a regex by its pattern, plus the conditions.
 */
function matchClaimKey(host: string, match: RuleMatch): string {
  const path = match.pathType === 'RegularExpression' ? `${host} RegularExpression ${match.path}` : pathClaimKey(host, match.pathType, match.path);
  return match.match === undefined ? path : `${path} ${JSON.stringify(match.match)}`;
}

/**
 * Reads one route against the Gateways Portico serves (there must be at least one: without any,
 * routes are not read at all); `useCertificate` registers HTTPS listener certificates for its
 * hosts. Pure over `state` and `gateways`.
 */
export function readGatewayRoute(state: ClusterState, gateways: GatewayLookup, sets: EndpointSets, useCertificate: UseCertificate, kind: RouteKind, route: HTTPRoute | GRPCRoute): RouteContribution {
  const namespace = route.metadata.namespace ?? 'default';
  const source: SourceRef = { kind, namespace, name: route.metadata.name };
  const created = route.metadata.creationTimestamp ?? '';
  const parents = attachRoute(state, gateways, kind, namespace, route.spec.parentRefs ?? [], route.spec.hostnames);
  const out = { routes: [] as GatewayRouteClaim[], tls: [] as TlsClaim[], anyHostCertificates: [], conditions: [] as Condition[], attached: [] as string[], status: undefined as GatewayRouteStatus | undefined };
  if (parents.length === 0) {
    if ((route.spec.parentRefs ?? []).length > 0) out.conditions.push({ source, field: 'spec.parentRefs', reason: 'RouteNotAccepted', severity: 'Warning', message: 'no parentRef names a Gateway of a GatewayClass Portico serves (portico.dev/gateway-controller); not served' });
    return out;
  }
  const rules: RouteRules = kind === 'HTTPRoute' ? httpRouteRules(route as HTTPRoute, source, state, sets) : grpcRouteRules(route as GRPCRoute, source, state, sets);
  const hosts = new Set<string>();
  const order = (position: number): ClaimOrder => ({ created, namespace, name: route.metadata.name, position });
  for (const parent of parents) {
    for (const attachment of parent.attachments) {
      // A listener on its Gateway's own address serves its hosts in that address's scope alone.
      const scope = attachment.listener.scope;
      for (const host of attachment.hosts) hosts.add(scope === undefined ? host : scopedHost(host, scope));
      const certificate = attachment.listener.certificate;
      if (certificate === undefined) continue;
      const field = `spec.parentRefs[${parent.index}]`;
      const secret = useCertificate(certificate.namespace, certificate.name, attachment.hosts, source, field, out.conditions);
      for (const host of attachment.hosts) out.tls.push({ host: scope === undefined ? host : scopedHost(host, scope), certificate: secret, order: order(0) });
    }
  }
  const sortedHosts = [...hosts].sort(compareStrings);
  for (const rule of rules.served) {
    for (const match of rule.matches) {
      const route = toModelRoute(source, created, match, rule);
      for (const host of sortedHosts) out.routes.push({ host, route, key: matchClaimKey(host, match), order: order(match.position) });
    }
  }
  for (const dropped of rules.dropped) out.conditions.push({ source, field: dropped.field, reason: 'UnsupportedValue', severity: 'Error', message: `${dropped.message}; the rule is not served` });
  const droppedReason = rules.dropped.some((d) => d.reason === 'IncompatibleFilters') ? 'IncompatibleFilters' : 'UnsupportedValue';
  for (const problem of rules.backendProblems) out.conditions.push({ source, field: problem.field, reason: problem.reason, severity: 'Error', message: `${problem.message}; its share of requests fails` });

  const resolved: StatusCondition =
    rules.backendProblems.length === 0 ? { type: 'ResolvedRefs', status: 'True', reason: 'ResolvedRefs', message: 'all references resolved' } : { type: 'ResolvedRefs', status: 'False', reason: rules.backendProblems[0]!.reason, message: rules.backendProblems.map((p) => p.message).join('; ') };
  const droppedText = rules.dropped.map((d) => d.message).join('; ');
  const statuses: RouteParentStatus[] = [];
  for (const parent of parents) {
    for (const attachment of parent.attachments) out.attached.push(listenerKey(attachment.listener));
    const conditions: StatusCondition[] = [];
    if (parent.accepted.status !== 'True') conditions.push(parent.accepted);
    else if (rules.served.length === 0 && rules.dropped.length > 0) conditions.push({ type: 'Accepted', status: 'False', reason: droppedReason, message: `no rule can be served: ${droppedText}` });
    else {
      conditions.push(parent.accepted);
      if (rules.dropped.length > 0) conditions.push({ type: 'PartiallyInvalid', status: 'True', reason: 'UnsupportedValue', message: `rules not served: ${droppedText}` });
    }
    conditions.push(resolved);
    statuses.push({ parentRef: parent.parentRef, conditions });
  }
  out.status = { kind, namespace, name: route.metadata.name, generation: route.metadata.generation, parents: statuses };
  return out;
}

/** The status of every GatewayClass naming Portico's controller, by name. */
export function gatewayClassStatuses(state: ClusterState): GatewayApiStatus['classes'] {
  const classes: GatewayApiStatus['classes'][number][] = [];
  for (const gatewayClass of [...state.gatewayClasses.values()].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name))) {
    if (gatewayClass.spec.controllerName !== GATEWAY_CONTROLLER_NAME) continue;
    const accepted: StatusCondition =
      gatewayClass.spec.parametersRef === undefined
        ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: `handled by ${GATEWAY_CONTROLLER_NAME}` }
        : { type: 'Accepted', status: 'False', reason: 'InvalidParameters', message: 'spec.parametersRef: Portico takes no GatewayClass parameters; its Gateways are not served' };
    classes.push({ name: gatewayClass.metadata.name, generation: gatewayClass.metadata.generation, accepted });
  }
  return classes;
}

/** What the listeners of one Gateway contribute beyond routes: any-host certificates and the conditions of listeners that are not fine. */
export function readGatewayListeners(view: GatewayView, useCertificate: UseCertificate): ListenerContribution {
  const out: ListenerContribution = { routes: [], tls: [], anyHostCertificates: [], conditions: [] };
  const source: SourceRef = { kind: 'Gateway', namespace: view.gateway.metadata.namespace ?? 'default', name: view.gateway.metadata.name };
  for (const listener of view.listeners) {
    if (listener.usable && listener.hostname === undefined && listener.certificate !== undefined) {
      const secret = useCertificate(listener.certificate.namespace, listener.certificate.name, ['*'], source, `spec.listeners[${listener.index}]`, out.conditions);
      const order = { created: view.gateway.metadata.creationTimestamp ?? '', namespace: source.namespace, name: source.name, position: listener.index };
      // On the Gateway's own address the certificate is its scope's any-host one; on the edge, the edge's.
      if (secret !== undefined) out.anyHostCertificates.push({ host: listener.scope === undefined ? '*' : scopedHost('*', listener.scope), certificate: secret, order });
    }
    for (const c of listener.conditions) {
      const bad = (c.type === 'Conflicted' && c.status === 'True') || (c.type !== 'Conflicted' && c.status === 'False' && c.type !== 'Programmed');
      if (bad) out.conditions.push({ source, field: `spec.listeners[${listener.index}]`, reason: 'ListenerInvalid', severity: 'Error', message: `listener ${listener.listener.name}: ${c.type} ${c.status} (${c.reason}): ${c.message}` });
    }
  }
  return out;
}

/** The status of one Gateway, with the number of routes attached to each listener (`attachedRoutes(listenerKey)`). */
export function gatewayStatusOf(view: GatewayView, attachedRoutes: (listener: string) => number): GatewayStatusEntry {
  return {
    namespace: view.gateway.metadata.namespace ?? 'default',
    name: view.gateway.metadata.name,
    generation: view.gateway.metadata.generation,
    accepted: view.accepted,
    address: view.address,
    listeners: view.listeners.map((l) => ({ name: l.listener.name, supportedKinds: l.supportedKinds, attachedRoutes: attachedRoutes(listenerKey(l)), conditions: l.conditions })),
  };
}

/** Route kinds in the order the processor reads them (status lists them so). */
export const ROUTE_READ_ORDER: readonly RouteKind[] = ['GRPCRoute', 'HTTPRoute'];

/** The routes of `kind` in `state`. */
export function routesOf(state: ClusterState, kind: RouteKind): ReadonlyMap<string, HTTPRoute | GRPCRoute> {
  return kind === 'HTTPRoute' ? state.httpRoutes : state.grpcRoutes;
}

/**
 * Runs the processor over `state`: the Gateways Portico serves (listeners on `ports`), then every
 * route, for claims, TLS claims, conditions, and the status of every class, Gateway (with
 * `attachedRoutes` per listener) and route. Routes in kind, namespace/name order. The incremental
 * build (build/incremental.ts) runs the same parts one Gateway and one route at a time.
 */
export function buildGateway(state: ClusterState, ports: GatewayPorts, sets: EndpointSets, useCertificate: UseCertificate): GatewayContribution {
  const gateways = new Map(viewGateways(state, ports).map((view) => [view.key, view]));
  const result = { routes: [] as GatewayRouteClaim[], tls: [] as TlsClaim[], anyHostCertificates: [] as TlsClaim[], conditions: [] as Condition[] };
  const routes: GatewayRouteStatus[] = [];
  const attached = new Map<string, number>();
  if (gateways.size > 0) {
    for (const kind of ROUTE_READ_ORDER) {
      const all = routesOf(state, kind);
      for (const key of [...all.keys()].sort(compareStrings)) {
        const contribution = readGatewayRoute(state, gateways, sets, useCertificate, kind, all.get(key)!);
        result.routes.push(...contribution.routes);
        result.tls.push(...contribution.tls);
        result.conditions.push(...contribution.conditions);
        for (const listener of contribution.attached) attached.set(listener, (attached.get(listener) ?? 0) + 1);
        if (contribution.status !== undefined) routes.push(contribution.status);
      }
    }
  }
  const statuses: GatewayStatusEntry[] = [];
  for (const view of gateways.values()) {
    const listeners = readGatewayListeners(view, useCertificate);
    result.anyHostCertificates.push(...listeners.anyHostCertificates);
    result.conditions.push(...listeners.conditions);
    statuses.push(gatewayStatusOf(view, (listener) => attached.get(listener) ?? 0));
  }
  return { ...result, status: { classes: gatewayClassStatuses(state), gateways: statuses, routes } };
}
