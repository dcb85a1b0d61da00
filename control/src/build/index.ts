/**
 * The build stage: ClusterState -> RoutingModel + conditions. Pure: no I/O, no clock, no randomness.
 */
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import type { DefaultRoute, EndpointSet, RedirectPolicy, Route, RoutingModel, VirtualHost } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings } from '../state/cluster-state.ts';
import { compareHosts } from '../snapshot/order.ts';
import type { IngressAnnotations } from './annotations.ts';
import { EndpointSets } from './backends.ts';
import { refreshAuthEndpoints, withAuthEndpoints } from './external-auth.ts';
import { withHostAliases } from './host-aliases.ts';
import type { ClassSelection } from './ingress-class.ts';
import { servesIngress } from './ingress-class.ts';
import type { IngressCache } from './ingress-cache.ts';
import type { ClaimOrder, DefaultClaim, RouteClaim, TlsClaim } from './ingress.ts';
import { readIngress } from './ingress.ts';
import { CertificateBook } from './tls.ts';
import { regexRouteUsable } from './regex-paths.ts';
import { pathClaimKey } from './validate.ts';
import { isCanaryClaim, joinCanaries, withCanaries } from './canary.ts';
import type { GatewayCache } from './gateway/cache.ts';
import type { GatewayApiStatus, GatewayRouteClaim } from './gateway/index.ts';
import { buildGateway, gatewayViews, routeReader } from './gateway/index.ts';
import type { GatewayPorts } from './gateway/listeners.ts';
import { DEFAULT_GATEWAY_PORTS } from './gateway/listeners.ts';
import type { UseCertificate } from './ingress.ts';

/** What the build stage returns. */
export interface BuildResult {
  readonly model: RoutingModel;
  /** Sorted by object, field, reason. */
  readonly conditions: readonly Condition[];
  /** The status of the Gateway API objects Portico answers for (the leader writes it). */
  readonly gateway: GatewayApiStatus;
}

/** Build settings beyond the class selection. */
export interface BuildOptions {
  /** The ports the data plane serves HTTP and HTTPS on (Gateway listeners on other ports are not accepted). */
  readonly gatewayPorts?: GatewayPorts | undefined;
  /** Per-route derivations of the Gateway processor, reused across builds. */
  readonly gatewayCache?: GatewayCache | undefined;
}

/** Oldest first, then namespace/name, then position inside the object. */
export function compareClaims(a: ClaimOrder, b: ClaimOrder): number {
  // An object without a creationTimestamp sorts after every dated one.
  if (a.created !== b.created) {
    if (a.created === '') return 1;
    if (b.created === '') return -1;
    return compareStrings(a.created, b.created);
  }
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name) || a.position - b.position;
}


/** Compares field paths with their indexes as numbers (`spec.rules[2]` before `spec.rules[10]`). */
export function compareFields(a: string, b: string): number {
  const parts = (field: string) => field.split(/(\d+)/);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    return i % 2 === 1 ? Number(x) - Number(y) : compareStrings(x, y);
  }
  return pa.length - pb.length;
}

/**
 * The order of routes inside a host, most specific first (the matcher takes the first whose
 * conditions hold among equal paths): longest path first, Exact before Prefix at equal length,
 * then path; then, as Gateway API orders equal paths, a method condition, more header conditions,
 * more query conditions, the oldest object, namespace/name, and the position inside it (rule,
 * then match). Ingress routes never tie on a path (conflicts are
 * settled first), so for them only the path keys decide.
 */
export function compareRoutes(a: Route, b: Route): number {
  const exact = (route: Route): number => (route.pathType === 'Exact' ? 0 : 1);
  return (
    b.path.length - a.path.length ||
    exact(a) - exact(b) ||
    compareStrings(a.path, b.path) ||
    compareMatches(a, b) ||
    compareClaims({ created: a.created, namespace: a.source.namespace, name: a.source.name, position: 0 }, { created: b.created, namespace: b.source.namespace, name: b.source.name, position: 0 }) ||
    compareStrings(a.source.kind, b.source.kind) ||
    compareFields(a.field, b.field)
  );
}

/** Gateway API precedence among equal paths: a method condition first, then more headers, then more query parameters. */
function compareMatches(a: Route, b: Route): number {
  const method = (route: Route) => (route.match?.methods === undefined ? 1 : 0);
  return method(a) - method(b) || (b.match?.headers?.length ?? 0) - (a.match?.headers?.length ?? 0) || (b.match?.query?.length ?? 0) - (a.match?.query?.length ?? 0);
}

function describe(claim: { source: { kind: string; namespace: string; name: string }; field: string }): string {
  return `${claim.source.kind} ${claim.source.namespace}/${claim.source.name} ${claim.field}`;
}

/** Keeps the first claim per key (claims must be sorted), reporting every loser as a Conflict. */
function settle<T extends { source: Route['source']; field: string }>(sorted: readonly T[], keyOf: (claim: T) => string, what: (claim: T) => string, conditions: Condition[]): Map<string, T> {
  const winners = new Map<string, T>();
  for (const claim of sorted) {
    const key = keyOf(claim);
    const winner = winners.get(key);
    if (winner === undefined) {
      winners.set(key, claim);
      continue;
    }
    conditions.push({
      source: claim.source,
      field: claim.field,
      reason: 'Conflict',
      severity: 'Error',
      message: `${what(claim)} is already claimed by ${describe(winner)} (older, or first by namespace/name); this one is ignored`,
    });
  }
  return winners;
}

function redirectPolicy(annotations: IngressAnnotations, hostHasTls: boolean): RedirectPolicy {
  return { sslRedirect: hostHasTls && annotations.sslRedirect, forceSslRedirect: annotations.forceSslRedirect };
}

function toDefaultRoute(claim: DefaultClaim | undefined, hostHasTls: boolean, sets: ReadonlyMap<string, EndpointSet>): DefaultRoute | undefined {
  if (claim === undefined) return undefined;
  return { source: claim.source, field: claim.field, backends: claim.backends, redirect: redirectPolicy(claim.annotations, hostHasTls), created: claim.order.created, refused: claim.annotations.refused, policies: withAuthEndpoints(claim.annotations.policies, sets) };
}

/**
 * The endpoint-only fast path: the same routes with every endpoint set recomputed from `state`.
 * Valid only when nothing but EndpointSlices changed since `model` was built.
 */
export function refreshEndpoints(model: RoutingModel, state: ClusterState): RoutingModel {
  const sets = new EndpointSets(state);
  return refreshAuthEndpoints(model, { ...model, endpointSets: model.endpointSets.map((set) => sets.refresh(set)) });
}

/**
 * Builds the routing model from every Ingress Portico serves in `state`. With `cache`, unchanged
 * Ingresses reuse their derivation from the previous build (same result, byte for byte); conflict
 * resolution and assembly always run over every Ingress.
 */
export function buildModel(state: ClusterState, selection: ClassSelection, cache?: IngressCache, options: BuildOptions = {}): BuildResult {
  const conditions: Condition[] = [];
  const sets = new EndpointSets(state);
  const certificates = new CertificateBook(state);
  const routeClaims: RouteClaim[] = [];
  const defaultClaims: DefaultClaim[] = [];
  const tlsClaims: TlsClaim[] = [];
  const useCertificate = certificates.use.bind(certificates);
  cache?.begin(state);
  for (const [key, ingress] of state.ingresses) {
    if (!servesIngress(ingress, state, selection)) continue;
    const contribution = cache === undefined ? readIngress(ingress, state, sets, useCertificate) : cache.contribution(key, ingress, state, sets, useCertificate);
    routeClaims.push(...contribution.routes);
    defaultClaims.push(...contribution.defaults);
    tlsClaims.push(...contribution.tls);
    conditions.push(...contribution.conditions);
  }

  cache?.end();

  // The Gateway processor: its route and TLS claims join the Ingresses' on the same hosts.
  const gateways = gatewayViews(state, options.gatewayPorts ?? DEFAULT_GATEWAY_PORTS);
  const reader = (use: UseCertificate) => routeReader(state, gateways, sets, use);
  const gatewayCache = options.gatewayCache;
  gatewayCache?.begin(state);
  const gateway = buildGateway(state, gateways, (kind, key, route) => (gatewayCache === undefined ? reader(useCertificate)(kind, route) : gatewayCache.contribution(kind, key, route, sets, useCertificate, reader)), useCertificate);
  gatewayCache?.end();
  tlsClaims.push(...gateway.tls);
  conditions.push(...gateway.conditions);

  defaultClaims.sort((a, b) => compareClaims(a.order, b.order));
  tlsClaims.sort((a, b) => compareClaims(a.order, b.order));

  // One host, one table: Ingress paths and Gateway API matches compete for the same keys, the older object winning (docs/gateway-api.md).
  // Canaries never claim a host/path (so never win a conflict): they join the main rule that won.
  const claims: AnyRouteClaim[] = [
    ...routeClaims.filter((claim) => !isCanaryClaim(claim)).map((claim): AnyRouteClaim => ({ key: pathClaimKey(claim.host, claim.pathType, claim.path), host: claim.host, order: claim.order, source: claim.source, field: claim.field, ingress: claim })),
    ...gateway.routes.map((claim): AnyRouteClaim => ({ key: claim.key, host: claim.host, order: claim.order, source: claim.route.source, field: claim.route.field, gateway: claim })),
  ].sort((a, b) => compareClaims(a.order, b.order) || compareStrings(a.source.kind, b.source.kind));
  const settled = settle(claims, (claim) => claim.key, (c) => `host ${c.host} path ${c.ingress?.path ?? c.gateway!.route.path} (${c.ingress?.pathType ?? c.gateway!.route.pathType})`, conditions);
  const routes = new Map<string, RouteClaim>();
  const gatewayRoutes: GatewayRouteClaim[] = [];
  for (const [key, claim] of settled) {
    if (claim.ingress !== undefined) routes.set(key, claim.ingress);
    else gatewayRoutes.push(claim.gateway!);
  }
  const canaries = joinCanaries(routes, routeClaims.filter(isCanaryClaim), conditions);
  for (const claim of defaultClaims.filter(isCanaryClaim)) {
    conditions.push({ source: claim.source, field: claim.field, reason: 'CanaryRefused', severity: 'Warning', message: 'a canary Ingress\'s defaultBackend is not used (Portico joins canaries to path rules only); the main default backend serves' });
  }
  const defaults = settle(defaultClaims.filter((claim) => !isCanaryClaim(claim)), (c) => c.host ?? '', (c) => (c.host === undefined ? 'the catch-all default backend' : `the default backend of host ${c.host}`), conditions);

  // TLS is a property of the host: the oldest Ingress with a usable certificate for it provides the certificate.
  const tlsHosts = new Set<string>();
  const hostCertificate = new Map<string, string>();
  for (const claim of tlsClaims) {
    tlsHosts.add(claim.host);
    if (claim.certificate !== undefined && !hostCertificate.has(claim.host)) hostCertificate.set(claim.host, claim.certificate);
  }

  const endpointSets = sets.all();
  const setsByKey = new Map(endpointSets.map((set) => [set.key, set]));
  const byHost = new Map<string, Route[]>();
  // ingress-nginx: use-regex or rewrite-target on any Ingress makes all of its hosts' paths regexes.
  const regexHosts = new Set<string>();
  for (const claim of routes.values()) if (claim.annotations.regexPaths) regexHosts.add(claim.host);
  for (const [key, claim] of routes) {
    const main: Route = {
      source: claim.source,
      field: claim.field,
      pathType: claim.pathType,
      path: claim.path,
      backends: claim.backends,
      redirect: redirectPolicy(claim.annotations, tlsHosts.has(claim.host)),
      created: claim.order.created,
      refused: claim.annotations.refused,
      policies: withAuthEndpoints(claim.annotations.policies, setsByKey),
      regex: regexHosts.has(claim.host) || undefined,
    };
    const route = withCanaries(main, canaries.get(key));
    if (route.regex === true && !regexRouteUsable(route, conditions)) continue;
    const list = byHost.get(claim.host) ?? [];
    list.push(route);
    byHost.set(claim.host, list);
  }
  for (const claim of gatewayRoutes) {
    if (regexHosts.has(claim.host)) {
      const route = claim.route;
      conditions.push({ source: route.source, field: route.field, reason: 'Conflict', severity: 'Error', message: `host ${claim.host} has ingress-nginx regex paths (use-regex or rewrite-target on an Ingress there); Gateway API rules are not mixed into it and this one is not served` });
      continue;
    }
    const list = byHost.get(claim.host) ?? [];
    list.push(claim.route);
    byHost.set(claim.host, list);
  }
  for (const claim of defaults.values()) if (claim.host !== undefined && !byHost.has(claim.host)) byHost.set(claim.host, []);
  // An HTTPS listener without hostname: its certificate answers any SNI name without one of its own.
  const anyHost = gateway.anyHostCertificates.sort((a, b) => compareClaims(a.order, b.order))[0];
  if (anyHost !== undefined && !hostCertificate.has('*')) {
    hostCertificate.set('*', anyHost.certificate!);
    if (!byHost.has('*')) byHost.set('*', []);
  }

  const virtualHosts: VirtualHost[] = [...byHost.entries()]
    .sort(([a], [b]) => compareHosts(a, b))
    .map(([host, hostRoutes]) => ({
      host,
      routes: hostRoutes.sort(compareRoutes),
      defaultRoute: toDefaultRoute(defaults.get(host), tlsHosts.has(host), setsByKey),
      certificate: hostCertificate.get(host),
      tls: tlsHosts.has(host),
    }));

  const hostClaims = [...routes.values(), ...defaults.values()].flatMap((claim) => (claim.host === undefined ? [] : [{ host: claim.host, source: claim.source, created: claim.order.created, hostAnnotations: claim.annotations.hosts }]));
  return {
    model: {
      virtualHosts: withHostAliases(virtualHosts, hostClaims, conditions),
      defaultRoute: toDefaultRoute(defaults.get(''), false, setsByKey),
      endpointSets,
      certificates: certificates.all(),
    },
    conditions: conditions.sort(compareConditions),
    gateway: gateway.status,
  };
}

/** A route claim of either processor, keyed for conflict settling. */
interface AnyRouteClaim {
  readonly key: string;
  readonly host: string;
  readonly order: ClaimOrder;
  readonly source: Route['source'];
  readonly field: string;
  readonly ingress?: RouteClaim;
  readonly gateway?: GatewayRouteClaim;
}
