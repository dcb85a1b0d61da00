/**
 * The build stage: ClusterState -> RoutingModel + conditions. Pure: no I/O, no clock, no randomness.
 */
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import type { DefaultRoute, EndpointSet, RedirectPolicy, Route, RoutingModel, VirtualHost } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings } from '../state/cluster-state.ts';
import { redirectPolicyOf } from '../model/shared.ts';
import { compareHosts, mergeSorted } from '../snapshot/order.ts';
import type { IngressAnnotations } from './annotations.ts';
import { EndpointSets } from './backends.ts';
import { withAuthEndpoints } from './external-auth.ts';
import type { AliasClaim } from './host-aliases.ts';
import type { AliasClaims } from './host-alias-index.ts';
import { HostAliasIndex } from './host-alias-index.ts';
import type { ClassSelection } from './ingress-class.ts';
import { servesIngress } from './ingress-class.ts';
import type { ClaimOrder, DefaultClaim, IngressContribution, RouteClaim, TlsClaim } from './ingress.ts';
import { compareClaims } from './ingress.ts';
import { readIngress } from './ingress.ts';
import { CertificateBook } from './tls.ts';
import { regexRouteUsable } from './regex-paths.ts';
import { hostClientAuth, withHostClientAuth } from './client-auth.ts';
import { pathClaimKey } from './validate.ts';
import { isCanaryClaim, joinCanaries, withCanaries } from './canary.ts';
import type { GatewayApiStatus, GatewayContribution, GatewayRouteClaim } from './gateway/index.ts';
import { buildGateway } from './gateway/index.ts';
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
}

/** Endpoint sets by key, as far as settling a host needs them (auth-url endpoints). */
export type SetLookup = Pick<ReadonlyMap<string, EndpointSet>, 'get'>;


/** Compares field paths with their indexes as numbers (`spec.rules[2]` before `spec.rules[10]`). */
function compareFields(a: string, b: string): number {
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
  return redirectPolicyOf(hostHasTls && annotations.sslRedirect, annotations.forceSslRedirect);
}

function toDefaultRoute(claim: DefaultClaim | undefined, hostHasTls: boolean, sets: SetLookup): DefaultRoute | undefined {
  if (claim === undefined) return undefined;
  return { source: claim.source, field: claim.field, backends: claim.backends, redirect: redirectPolicy(claim.annotations, hostHasTls), created: claim.order.created, refused: claim.annotations.refused, policies: withAuthEndpoints(claim.annotations.policies, sets) };
}

/** The claims on one host (or, under CATCH_ALL, the Ingress-wide default backends), each list sorted by compareClaims. */
export interface HostClaims {
  readonly routes: readonly RouteClaim[];
  readonly gatewayRoutes: readonly GatewayRouteClaim[];
  readonly defaults: readonly DefaultClaim[];
  readonly tls: readonly TlsClaim[];
  /** Under `*` only: certificates of HTTPS listeners without hostname (gateway/index.ts `anyHostCertificates`). */
  readonly anyHostCertificates: readonly TlsClaim[];
}

/** What one host's claims settle into. */
export interface HostOutcome {
  /** Absent when the host ends up with no usable route and no default backend. */
  readonly virtualHost: VirtualHost | undefined;
  /** The catch-all default route; only under CATCH_ALL. */
  readonly catchAll: DefaultRoute | undefined;
  readonly conditions: readonly Condition[];
  /** The winning claims that ask for host-level annotations (server-alias, from-to-www-redirect). */
  readonly aliasClaims: AliasClaims;
}

function aliasClaim(claim: RouteClaim | DefaultClaim): AliasClaim[] {
  const wanted = claim.annotations.hosts;
  if (claim.host === undefined || (wanted.serverAliases.length === 0 && !wanted.fromToWww)) return [];
  return [{ host: claim.host, source: claim.source, hostAnnotations: wanted, order: claim.order }];
}

const NO_ALIASES: HostOutcome['aliasClaims'] = Object.freeze({ routes: Object.freeze([]), defaults: Object.freeze([]) });

/**
 * `virtualHosts` (sorted, the settled hosts of `outcomes`) with the alias and from-to-www hosts
 * the outcomes' claims ask for (host-aliases.ts, decided by a HostAliasIndex as the incremental
 * build decides them), sorted as hosts are; their Warnings appended to `conditions`.
 */
export function applyHostAliases(virtualHosts: readonly VirtualHost[], outcomes: ReadonlyMap<string, HostOutcome>, conditions: Condition[]): readonly VirtualHost[] {
  const index = new HostAliasIndex((host) => outcomes.get(host)?.virtualHost);
  for (const [host, outcome] of outcomes) if (outcome.aliasClaims !== NO_ALIASES) index.settle(host, outcome.virtualHost, outcome.aliasClaims);
  const added: VirtualHost[] = [];
  index.refresh({
    placed: (name) => added.push(index.hostOf(name)!),
    dropped: () => undefined,
    added: (warnings) => {
      for (const warning of warnings) conditions.push(warning);
    },
  });
  // The few added hosts merged into the sorted list (no added host is one of `virtualHosts`); `virtualHosts` itself when none asks.
  return mergeSorted(virtualHosts, added.sort(compareVirtualHosts), compareVirtualHosts);
}

/** Virtual hosts in the snapshot's order (compareHosts of their hosts). */
const compareVirtualHosts = (a: VirtualHost, b: VirtualHost): number => compareHosts(a.host, b.host);

/** The partition key of Ingress-wide default backends (no host is empty: a hostless rule is `*`). */
export const CATCH_ALL = '';

/** The partition a claim belongs to: its host, or CATCH_ALL for an Ingress-wide default backend. */
function partitionOf(claim: { readonly host: string | undefined }): string {
  return claim.host ?? CATCH_ALL;
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

/**
 * Settles the claims on one host: conflicts (oldest first wins, Ingress paths and Gateway API
 * matches competing for the same keys; losers become Conflict conditions), canaries, TLS, regex
 * paths, auth-url endpoints (looked up in `sets`), the host's default route. Everything the build
 * decides is decided per host, so the full build and the incremental one (build/incremental.ts)
 * both call this.
 */
export function settleHost(host: string, claims: HostClaims, sets: SetLookup): HostOutcome {
  const conditions: Condition[] = [];
  // One host, one table: Ingress paths and Gateway API matches compete for the same keys, the older object winning (docs/gateway-api.md).
  // Canaries never claim a host/path (so never win a conflict): they join the main rule that won.
  const all: AnyRouteClaim[] = [
    ...claims.routes.filter((claim) => !isCanaryClaim(claim)).map((claim): AnyRouteClaim => ({ key: pathClaimKey(claim.host, claim.pathType, claim.path), host: claim.host, order: claim.order, source: claim.source, field: claim.field, ingress: claim })),
    ...claims.gatewayRoutes.map((claim): AnyRouteClaim => ({ key: claim.key, host: claim.host, order: claim.order, source: claim.route.source, field: claim.route.field, gateway: claim })),
  ].sort((a, b) => compareClaims(a.order, b.order) || compareStrings(a.source.kind, b.source.kind));
  const settled = settle(all, (claim) => claim.key, (c) => `host ${c.host} path ${c.ingress?.path ?? c.gateway!.route.path} (${c.ingress?.pathType ?? c.gateway!.route.pathType})`, conditions);
  const routes = new Map<string, RouteClaim>();
  const gatewayRoutes: GatewayRouteClaim[] = [];
  for (const [key, claim] of settled) {
    if (claim.ingress !== undefined) routes.set(key, claim.ingress);
    else gatewayRoutes.push(claim.gateway!);
  }
  const canaries = joinCanaries(routes, claims.routes.filter(isCanaryClaim), conditions);
  for (const claim of claims.defaults.filter(isCanaryClaim)) {
    conditions.push({ source: claim.source, field: claim.field, reason: 'CanaryRefused', severity: 'Warning', message: 'a canary Ingress\'s defaultBackend is not used (Portico joins canaries to path rules only); the main default backend serves' });
  }
  const defaults = settle(claims.defaults.filter((claim) => !isCanaryClaim(claim)), (c) => c.host ?? '', (c) => (c.host === undefined ? 'the catch-all default backend' : `the default backend of host ${c.host}`), conditions);
  if (host === CATCH_ALL) return { virtualHost: undefined, catchAll: toDefaultRoute(defaults.get(''), false, sets), conditions: exactList(conditions), aliasClaims: NO_ALIASES };
  const aliasRoutes = [...routes.values()].flatMap(aliasClaim);
  const aliasDefaults = [...defaults.values()].flatMap(aliasClaim);
  // Almost no host asks for aliases: those share one empty pair (kept per host by the incremental build).
  const aliasClaims = aliasRoutes.length + aliasDefaults.length === 0 ? NO_ALIASES : { routes: aliasRoutes, defaults: aliasDefaults };

  // TLS is a property of the host: the oldest Ingress with a usable certificate for it provides the certificate.
  const tls = claims.tls.length > 0;
  const tlsCertificate = claims.tls.find((claim) => claim.certificate !== undefined)?.certificate;
  // An HTTPS listener without hostname: its certificate answers any SNI name without one of its own (it does not make the host TLS).
  const anyHost = tlsCertificate === undefined ? claims.anyHostCertificates[0]?.certificate : undefined;
  const certificate = tlsCertificate ?? anyHost;
  // ingress-nginx: use-regex or rewrite-target on any Ingress makes all of its hosts' paths regexes.
  let regex = false;
  for (const claim of routes.values()) if (claim.annotations.regexPaths) regex = true;
  // ingress-nginx: the oldest Ingress with auth-tls-* on the host gives every path of the host its client-certificate check.
  const clientAuth = hostClientAuth(all.flatMap((claim) => (claim.ingress === undefined ? [] : [claim.ingress])));
  const clientAuthReported = new Set<string>();
  const hostRoutes: Route[] = [];
  for (const [key, claim] of routes) {
    const main: Route = {
      source: claim.source,
      field: claim.field,
      pathType: claim.pathType,
      path: claim.path,
      backends: claim.backends,
      redirect: redirectPolicy(claim.annotations, tls),
      created: claim.order.created,
      refused: claim.annotations.refused,
      policies: withAuthEndpoints(claim.annotations.policies, sets),
      regex: regex || undefined,
    };
    const route = withCanaries(withHostClientAuth(main, host, clientAuth, conditions, clientAuthReported), canaries.get(key));
    if (route.regex === true && !regexRouteUsable(route, conditions)) continue;
    hostRoutes.push(route);
  }
  for (const claim of gatewayRoutes) {
    if (regex) {
      const route = claim.route;
      conditions.push({ source: route.source, field: route.field, reason: 'Conflict', severity: 'Error', message: `host ${claim.host} has ingress-nginx regex paths (use-regex or rewrite-target on an Ingress there); Gateway API rules are not mixed into it and this one is not served` });
      continue;
    }
    hostRoutes.push(claim.route);
  }
  const defaultClaim = defaults.get(host);
  if (hostRoutes.length === 0 && defaultClaim === undefined && anyHost === undefined) return { virtualHost: undefined, catchAll: undefined, conditions: exactList(conditions), aliasClaims };
  const defaultRoute = toDefaultRoute(defaultClaim, tls, sets);
  // The model keeps the host's routes (and the incremental build keeps each outcome) until the host changes: lists at their own length.
  const virtualHost: VirtualHost = { host, routes: hostRoutes.sort(compareRoutes).slice(), defaultRoute: defaultRoute === undefined ? undefined : withHostClientAuth(defaultRoute, host, clientAuth, conditions, clientAuthReported), certificate, tls };
  return { virtualHost, catchAll: undefined, conditions: exactList(conditions), aliasClaims };
}

/** Claims being gathered per partition. */
export interface ClaimLists {
  routes: RouteClaim[];
  gatewayRoutes: GatewayRouteClaim[];
  defaults: DefaultClaim[];
  tls: TlsClaim[];
  anyHostCertificates: TlsClaim[];
}

/** Empty claim lists. */
export function claimLists(): ClaimLists {
  return { routes: [], gatewayRoutes: [], defaults: [], tls: [], anyHostCertificates: [] };
}

/**
 * The claims of an Ingress's or a Gateway API contribution (the processor's, one route's or one Gateway's listeners'), grouped by the partition
 * (host, or CATCH_ALL) they fall in, each list in contribution order. Grouped once per derivation,
 * so settling a host costs its own claims, not every claim of every contribution that touches it.
 */
export function claimsByPartition(
  contribution: Pick<IngressContribution, 'routes' | 'defaults' | 'tls'> | { readonly routes: readonly GatewayRouteClaim[]; readonly tls: readonly TlsClaim[]; readonly anyHostCertificates: readonly TlsClaim[] },
): ReadonlyMap<string, HostClaims> {
  const byPartition = new Map<string, ClaimLists>();
  const at = (partition: string): ClaimLists => {
    let lists = byPartition.get(partition);
    if (lists === undefined) byPartition.set(partition, (lists = claimLists()));
    return lists;
  };
  if ('defaults' in contribution) for (const claim of contribution.routes) at(claim.host).routes.push(claim);
  else for (const claim of contribution.routes) at(claim.host).gatewayRoutes.push(claim);
  for (const claim of contribution.tls) at(claim.host).tls.push(claim);
  if ('defaults' in contribution) for (const claim of contribution.defaults) at(partitionOf(claim)).defaults.push(claim);
  // `*` on the edge, `*.~scope` on a Gateway's own address (snapshot/scope.ts).
  else for (const claim of contribution.anyHostCertificates) at(claim.host).anyHostCertificates.push(claim);
  // Kept for as long as the contribution is (the incremental build's derivations): each list at its own length, an empty one shared.
  const compact = new Map<string, HostClaims>();
  for (const [partition, lists] of byPartition) {
    compact.set(partition, { routes: exactList(lists.routes), gatewayRoutes: exactList(lists.gatewayRoutes), defaults: exactList(lists.defaults), tls: exactList(lists.tls), anyHostCertificates: exactList(lists.anyHostCertificates) });
  }
  return compact;
}

/** The one shared empty list (frozen: lists handed out by claimsByPartition and settleHost are only read). */
const NO_CLAIMS: readonly never[] = Object.freeze([]);

/**
 * `list` at its own length (a list grown by `push` holds room for more), or the shared empty list:
 * at 10k Ingresses, claim lists kept per derivation are most of the build's arrays.
 */
function exactList<T>(list: readonly T[]): readonly T[] {
  return list.length === 0 ? NO_CLAIMS : list.slice();
}

/** Appends the claim lists `from` (one contribution's, on one partition) to `into`. */
export function addClaims(into: ClaimLists, from: HostClaims): void {
  // Item by item: a spread of a list as long as every route on `*` could pass the engine's argument limit.
  const append = <T>(list: T[], items: readonly T[]): void => {
    for (const item of items) list.push(item);
  };
  append(into.routes, from.routes);
  append(into.gatewayRoutes, from.gatewayRoutes);
  append(into.defaults, from.defaults);
  append(into.tls, from.tls);
  append(into.anyHostCertificates, from.anyHostCertificates);
}

/** Sorts each list of `claims` by compareClaims, in place. */
export function sortClaims(claims: ClaimLists): HostClaims {
  claims.routes.sort((a, b) => compareClaims(a.order, b.order));
  claims.defaults.sort((a, b) => compareClaims(a.order, b.order));
  claims.tls.sort((a, b) => compareClaims(a.order, b.order));
  claims.anyHostCertificates.sort((a, b) => compareClaims(a.order, b.order));
  return claims;
}

/** Runs the Gateway processor over `state`. */
export function readGateways(state: ClusterState, sets: EndpointSets, useCertificate: UseCertificate, options: BuildOptions): GatewayContribution {
  return buildGateway(state, options.gatewayPorts ?? DEFAULT_GATEWAY_PORTS, sets, useCertificate);
}

/**
 * Builds the routing model from every Ingress Portico serves and every Gateway API route in
 * `state`, from scratch: the reference the incremental build (build/incremental.ts) must equal
 * byte for byte.
 */
export function buildModel(state: ClusterState, selection: ClassSelection, options: BuildOptions = {}): BuildResult {
  const conditions: Condition[] = [];
  const sets = new EndpointSets(state);
  const certificates = new CertificateBook(state);
  const useCertificate = certificates.use.bind(certificates);
  const contributions: (IngressContribution | GatewayContribution)[] = [];
  for (const ingress of state.ingresses.values()) {
    if (servesIngress(ingress, state, selection)) contributions.push(readIngress(ingress, state, sets, useCertificate));
  }
  const gateway = readGateways(state, sets, useCertificate, options);
  contributions.push(gateway);
  const byHost = new Map<string, ClaimLists>();
  for (const contribution of contributions) {
    conditions.push(...contribution.conditions);
    for (const [host, claims] of claimsByPartition(contribution)) {
      let lists = byHost.get(host);
      if (lists === undefined) byHost.set(host, (lists = claimLists()));
      addClaims(lists, claims);
    }
  }
  const virtualHosts: VirtualHost[] = [];
  const outcomes = new Map<string, HostOutcome>();
  let catchAll: DefaultRoute | undefined;
  for (const [host, claims] of byHost) {
    const outcome = settleHost(host, sortClaims(claims), sets);
    outcomes.set(host, outcome);
    if (outcome.virtualHost !== undefined) virtualHosts.push(outcome.virtualHost);
    if (host === CATCH_ALL) catchAll = outcome.catchAll;
    conditions.push(...outcome.conditions);
  }
  const withAliases = applyHostAliases(virtualHosts.sort(compareVirtualHosts), outcomes, conditions);
  return {
    model: { virtualHosts: withAliases, defaultRoute: catchAll, endpointSets: sets.all(), certificates: certificates.all() },
    conditions: conditions.sort(compareConditions),
    gateway: gateway.status,
  };
}
