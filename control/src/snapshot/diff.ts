/**
 * What changed between two snapshots, by identity: hosts by name, routes by host + pathType +
 * path (Gateway API routes also by their match conditions, and named by object and field, e.g.
 * `shop.test Prefix /api [HTTPRoute shop/web spec.rules[0].matches[1]]`), backends by route +
 * Service port, endpoints by set + address:port.
 *
 * Every identity lives inside one item (a host, an endpoint set, a certificate, the catch-all
 * route), so only the items that differ (found by `sectionWalk`: by identity, then by hash)
 * are looked into: the cost follows the change, not the size of the snapshots.
 */
import { catchAllChanged, sectionWalk } from './delta.ts';
import type { Snapshot, SnapshotRoute } from './schema.ts';

/**
 * A route's identity in a diff: Ingress routes by host, pathType and path (one per key); Gateway
 * API routes, several of which may share a path, add their conditions and name their object and
 * field, as explain does.
 */
function routeKey(host: string, route: SnapshotRoute): string {
  const base = `${host} ${route.pathType} ${route.path}`;
  if (route.source.kind === 'Ingress') return base;
  const match = route.match === undefined ? '' : ` ${JSON.stringify(route.match)}`;
  return `${base}${match} [${route.source.kind} ${route.source.namespace}/${route.source.name} ${route.field}]`;
}

/** Added, removed and changed identities of one kind, each list sorted. */
export interface ChangeSet {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
}

/** The difference between snapshot `from` and snapshot `to`. */
export interface SnapshotDiff {
  readonly from: string;
  readonly to: string;
  readonly hosts: ChangeSet;
  readonly routes: ChangeSet;
  readonly backends: ChangeSet;
  readonly endpoints: ChangeSet;
  readonly certificates: ChangeSet;
}

function compare(before: Map<string, string>, after: Map<string, string>): ChangeSet {
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [key, value] of after) {
    const old = before.get(key);
    if (old === undefined) added.push(key);
    else if (old !== value) changed.push(key);
  }
  for (const key of before.keys()) if (!after.has(key)) removed.push(key);
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

/** The parts of a snapshot `index` looks into (lists may be any subset of a snapshot's items). */
interface Indexable {
  readonly hosts: readonly Snapshot['hosts'][number][];
  readonly defaultRoute: Snapshot['defaultRoute'];
  readonly endpointSets: readonly Snapshot['endpointSets'][number][];
  readonly certificates: readonly Snapshot['certificates'][number][];
}

function index(snapshot: Indexable) {
  const hosts = new Map<string, string>();
  const routes = new Map<string, string>();
  const backends = new Map<string, string>();
  const endpoints = new Map<string, string>();
  const certificates = new Map<string, string>();
  // Everything that changes how a route answers is its value: a new policy or a refusal is a route change (and never an endpoints-only one).
  const addRoute = (key: string, route: { source: unknown; backends: readonly { namespace: string; service: string; port: number | string }[]; redirect: unknown; refused?: string | undefined; policies?: unknown; regex?: true | undefined }) => {
    routes.set(key, JSON.stringify({ source: route.source, redirect: route.redirect, refused: route.refused, policies: route.policies, regex: route.regex, backends: route.backends.map((b) => `${b.namespace}/${b.service}:${b.port}`) }));
    for (const backend of route.backends) backends.set(`${key} -> ${backend.namespace}/${backend.service}:${backend.port}`, JSON.stringify(backend));
  };
  for (const host of snapshot.hosts) {
    hosts.set(host.host, JSON.stringify({ tls: host.tls, certificate: host.certificate }));
    for (const route of host.routes) addRoute(routeKey(host.host, route), route);
    if (host.defaultRoute) addRoute(`${host.host} default`, host.defaultRoute);
  }
  if (snapshot.defaultRoute) addRoute('* catch-all default', snapshot.defaultRoute);
  for (const set of snapshot.endpointSets) for (const e of set.endpoints) endpoints.set(`${set.key} ${e.address}:${e.port}`, JSON.stringify(e));
  for (const c of snapshot.certificates) certificates.set(c.secret, JSON.stringify(c));
  return { hosts, routes, backends, endpoints, certificates };
}

/** Diffs two snapshots. Pure; a pointer comparison per shared item plus the changed items. */
export function diffSnapshots(from: Snapshot, to: Snapshot): SnapshotDiff {
  const hosts = sectionWalk('hosts', from.hosts, to.hosts);
  const endpointSets = sectionWalk('endpointSets', from.endpointSets, to.endpointSets);
  const certificates = sectionWalk('certificates', from.certificates, to.certificates);
  const catchAll = catchAllChanged(from, to);
  const a = index({ hosts: hosts.replaced, defaultRoute: catchAll ? from.defaultRoute : null, endpointSets: endpointSets.replaced, certificates: certificates.replaced });
  const b = index({ hosts: hosts.set, defaultRoute: catchAll ? to.defaultRoute : null, endpointSets: endpointSets.set, certificates: certificates.set });
  return {
    from: from.version,
    to: to.version,
    hosts: compare(a.hosts, b.hosts),
    routes: compare(a.routes, b.routes),
    backends: compare(a.backends, b.backends),
    endpoints: compare(a.endpoints, b.endpoints),
    certificates: compare(a.certificates, b.certificates),
  };
}

/** True when only endpoints changed: the data plane can keep its routes and update endpoints. */
export function onlyEndpointsChanged(diff: SnapshotDiff): boolean {
  const none = (c: ChangeSet) => c.added.length === 0 && c.removed.length === 0 && c.changed.length === 0;
  return none(diff.hosts) && none(diff.routes) && none(diff.backends) && none(diff.certificates) && !none(diff.endpoints);
}
