/**
 * The build stage: ClusterState -> RoutingModel + conditions. Pure: no I/O, no clock, no randomness.
 */
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import type { DefaultRoute, RedirectPolicy, Route, RoutingModel, VirtualHost } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings } from '../state/cluster-state.ts';
import { compareHosts } from '../snapshot/order.ts';
import type { IngressAnnotations } from './annotations.ts';
import { EndpointSets } from './backends.ts';
import type { ClassSelection } from './ingress-class.ts';
import { servesIngress } from './ingress-class.ts';
import type { IngressCache } from './ingress-cache.ts';
import type { ClaimOrder, DefaultClaim, RouteClaim, TlsClaim } from './ingress.ts';
import { readIngress } from './ingress.ts';
import { CertificateBook } from './tls.ts';
import { regexRouteUsable } from './regex-paths.ts';
import { pathClaimKey } from './validate.ts';
import { isCanaryClaim, joinCanaries, withCanaries } from './canary.ts';

/** What the build stage returns. */
export interface BuildResult {
  readonly model: RoutingModel;
  /** Sorted by object, field, reason. */
  readonly conditions: readonly Condition[];
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


/** Longest path first, Exact before Prefix at equal length, then path and source. */
export function compareRoutes(a: Route, b: Route): number {
  const exact = (route: Route): number => (route.pathType === 'Exact' ? 0 : 1);
  return (
    b.path.length - a.path.length ||
    exact(a) - exact(b) ||
    compareStrings(a.path, b.path) ||
    compareStrings(a.source.namespace, b.source.namespace) ||
    compareStrings(a.source.name, b.source.name) ||
    compareStrings(a.field, b.field)
  );
}

function describe(claim: { source: { namespace: string; name: string }; field: string }): string {
  return `Ingress ${claim.source.namespace}/${claim.source.name} ${claim.field}`;
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

function toDefaultRoute(claim: DefaultClaim | undefined, hostHasTls: boolean): DefaultRoute | undefined {
  if (claim === undefined) return undefined;
  return { source: claim.source, field: claim.field, backends: claim.backends, redirect: redirectPolicy(claim.annotations, hostHasTls), created: claim.order.created, refused: claim.annotations.refused, policies: claim.annotations.policies };
}

/**
 * The endpoint-only fast path: the same routes with every endpoint set recomputed from `state`.
 * Valid only when nothing but EndpointSlices changed since `model` was built.
 */
export function refreshEndpoints(model: RoutingModel, state: ClusterState): RoutingModel {
  const sets = new EndpointSets(state);
  return { ...model, endpointSets: model.endpointSets.map((set) => sets.refresh(set)) };
}

/**
 * Builds the routing model from every Ingress Portico serves in `state`. With `cache`, unchanged
 * Ingresses reuse their derivation from the previous build (same result, byte for byte); conflict
 * resolution and assembly always run over every Ingress.
 */
export function buildModel(state: ClusterState, selection: ClassSelection, cache?: IngressCache): BuildResult {
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
  routeClaims.sort((a, b) => compareClaims(a.order, b.order));
  defaultClaims.sort((a, b) => compareClaims(a.order, b.order));
  tlsClaims.sort((a, b) => compareClaims(a.order, b.order));

  // Canaries never claim a host/path (so never win a conflict): they join the main rule that won.
  const routes = settle(routeClaims.filter((claim) => !isCanaryClaim(claim)), (claim: RouteClaim) => pathClaimKey(claim.host, claim.pathType, claim.path), (c) => `host ${c.host} path ${c.path} (${c.pathType})`, conditions);
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
      policies: claim.annotations.policies,
      regex: regexHosts.has(claim.host) || undefined,
    };
    const route = withCanaries(main, canaries.get(key));
    if (route.regex === true && !regexRouteUsable(route, conditions)) continue;
    const list = byHost.get(claim.host) ?? [];
    list.push(route);
    byHost.set(claim.host, list);
  }
  for (const claim of defaults.values()) if (claim.host !== undefined && !byHost.has(claim.host)) byHost.set(claim.host, []);

  const virtualHosts: VirtualHost[] = [...byHost.entries()]
    .sort(([a], [b]) => compareHosts(a, b))
    .map(([host, hostRoutes]) => ({
      host,
      routes: hostRoutes.sort(compareRoutes),
      defaultRoute: toDefaultRoute(defaults.get(host), tlsHosts.has(host)),
      certificate: hostCertificate.get(host),
      tls: tlsHosts.has(host),
    }));

  return {
    model: {
      virtualHosts,
      defaultRoute: toDefaultRoute(defaults.get(''), false),
      endpointSets: sets.all(),
      certificates: certificates.all(),
    },
    conditions: conditions.sort(compareConditions),
  };
}
