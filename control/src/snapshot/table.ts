/**
 * Snapshot -> matcher table: the one place that turns the published contract into what the
 * WebAssembly matcher loads. Used by the data plane and by `explain`, so both decide alike.
 */
import type { HostEntry, MatcherTable, PathEntry, RouteConditions, RouteEntry } from '@portico/assembly/table';
import { RegexDispatch } from './regex.ts';
import { mirrorTargetBackend } from './policies/mirror-target.ts';
import type { Snapshot, SnapshotBackend, SnapshotDefaultRoute, SnapshotEndpointSet, SnapshotRoute } from './schema.ts';
import type { ItemList } from '@portico/assembly/encode';
import { EndpointSlots } from './endpoint-slots.ts';

/** What a matcher route id stands for. */
export interface RouteTarget {
  /** `path`: a rule; `host-default`: a host's default backend; `default`: the catch-all. */
  /** `mirror`: a hidden route holding one RequestMirror backend of a `path` route, or the mirror-target Service of a `path` or `host-default` route (never matched). */
  /** `fallback`: a hidden route holding the default-backend Service of a `path` or `host-default` route (never matched). */
  readonly kind: 'path' | 'host-default' | 'default' | 'mirror' | 'fallback';
  /** The snapshot host the rule belongs to (`*` for any host), or undefined for the catch-all. */
  readonly host: string | undefined;
  readonly route: SnapshotRoute | SnapshotDefaultRoute;
  /** Per backend (same order as `route.backends`), the endpoint ids behind it. */
  readonly endpointIds: readonly (readonly number[])[];
  /** The route ids of its RequestMirror backends' hidden routes, in the order of its mirrors, then its mirror-target Service's; absent for none. */
  readonly mirrors?: readonly number[];
  /** The route id of its default backend's hidden route (`default-backend`); absent for none. */
  readonly fallback?: number;
}

/** A network endpoint by id. Port 0 (address '') is the invalid-backend stand-in (see INVALID_BACKEND_PORT). */
export interface EndpointTarget {
  readonly address: string;
  readonly port: number;
}

/**
 * The port of the stand-in endpoint that invalid backends (Gateway API) hold in the matcher
 * table: WRR picks it for their weight share, and the data plane answers 500 instead of
 * connecting. No real endpoint has port 0.
 */
export const INVALID_BACKEND_PORT = 0;

/** An endpoint's key in the endpoint slots (endpoint-slots.ts): its id is where that key lies. */
export function endpointSlotKey(endpoint: Pick<SnapshotEndpointSet['endpoints'][number], 'address' | 'port'>): string {
  return `${endpoint.address}|${endpoint.port}`;
}

/** An endpoint's line in a bundle's `endpoints` text: `address port`, '' for a gap (an unused id). */
export function endpointLine(endpoint: EndpointTarget | null): string {
  return endpoint === null ? '' : `${endpoint.address} ${endpoint.port}`;
}

/** The matcher's endpoint set ids of a snapshot (setIdsOf). */
export interface SetIds {
  /** The id of each endpoint set, by key. */
  readonly byKey: ReadonlyMap<string, number>;
  /** The id of the empty set: backends without endpoints (no Service, a refused route). */
  readonly empty: number;
  /** The id of the set holding the invalid-backend stand-in, or -1 when no backend is invalid. */
  readonly standIn: number;
}

/**
 * The set ids of a table over `sets` (a snapshot's endpoint sets), `invalid` when any backend is
 * invalid: the sets' positions (dense, in set order), then the empty set, then the stand-in's.
 * The one place set ids are decided: route records hold them, so ids that do not follow the set
 * positions (a key's hash) would be decided here alone.
 */
export function setIdsOf(sets: readonly SnapshotEndpointSet[], invalid: boolean): SetIds {
  const byKey = new Map<string, number>();
  sets.forEach((set, id) => byKey.set(set.key, id));
  return { byKey, empty: sets.length, standIn: invalid ? sets.length + 1 : -1 };
}

/** The set id of `route`'s backend `backend` (setIdsOf): the stand-in's for an invalid backend, the empty set's when it has no endpoints to pick (no Service, a refused route). */
function backendSet(route: SnapshotRoute | SnapshotDefaultRoute, backend: SnapshotBackend, ids: SetIds): number {
  if (route.refused !== undefined) return ids.empty;
  if (backend.invalid === true) return ids.standIn;
  return backend.endpointSet === null ? ids.empty : (ids.byKey.get(backend.endpointSet) ?? ids.empty);
}

/**
 * The endpoint ids behind each of `route`'s backends (RouteTarget.endpointIds), `sets` being the
 * table's sets by set id (setIdsOf): its set's ids; none for a refused route or a backend without a set.
 */
export function endpointIdsOf(route: SnapshotRoute | SnapshotDefaultRoute, ids: SetIds, sets: ItemList<readonly number[]>): (readonly number[])[] {
  return route.backends.map((backend) => sets.at(backend.endpointSet === null || route.refused !== undefined ? ids.empty : (ids.byKey.get(backend.endpointSet) ?? ids.empty))!);
}

/** `route`'s matcher route record: its backends' weights and set ids (setIdsOf). */
export function routeRecord(route: SnapshotRoute | SnapshotDefaultRoute, ids: SetIds): RouteEntry {
  return { backends: route.backends.map((backend) => ({ weight: backend.weight, set: backendSet(route, backend, ids) })) };
}

/** The matcher table plus the metadata its ids index. */
export interface CompiledTable {
  readonly table: MatcherTable;
  readonly routes: readonly RouteTarget[];
  /** By id: the endpoint slots (null: a gap, never in a set), then the stand-in when a backend is invalid. */
  readonly endpoints: readonly (EndpointTarget | null)[];
  /**
   * The hosts with regex paths (plain data, for bundles): the matcher sends every request of such
   * a host to its first route's id, and `regexDispatchOf` turns these into the dispatch that
   * decides the real route (see resolveRoute). Empty when no host has regex paths (and always
   * with `balancingOnly`).
   */
  readonly regexHosts: readonly RegexHost[];
}

/** A host with regex paths: the route id the matcher gives, its paths in order, and where no match goes. */
export interface RegexHost {
  readonly first: number;
  readonly paths: readonly { readonly pattern: string; readonly route: number }[];
  readonly fallback: number;
}

/** Per route id, the regex dispatch of the host whose requests the matcher gives that id (sparse). */
export function regexDispatchOf(hosts: readonly RegexHost[]): (RegexDispatch | undefined)[] {
  const regex: (RegexDispatch | undefined)[] = [];
  for (const host of hosts) regex[host.first] = new RegexDispatch(host.paths, host.fallback);
  return regex;
}

/**
 * The route for a matcher result: `id` itself, or for a regex host the route its regex paths
 * pick for `path` (the host's default backend, the catch-all, or -1 when none matches). The data
 * plane and explain both resolve with this.
 */
export function resolveRoute(compiled: { readonly regex: readonly (RegexDispatch | undefined)[] }, id: number, path: string): number {
  if (id < 0) return id;
  const dispatch = compiled.regex[id];
  return dispatch === undefined ? id : dispatch.match(path);
}

/** Whether a route follows Gateway API semantics (wildcard hosts take one or more labels). */
export function isGatewayRoute(route: { readonly source: { readonly kind: string } }): boolean {
  return route.source.kind === 'HTTPRoute' || route.source.kind === 'GRPCRoute';
}

/**
 * The matcher conditions of a route's match, or undefined when it has none. Only the first
 * condition per header name (case-insensitive) or query parameter name is kept, as the Gateway
 * API says.
 */
function routeConditions(match: SnapshotRoute['match']): RouteConditions | undefined {
  if (match === undefined) return undefined;
  const firstOf = <T extends { readonly name: string }>(list: readonly T[] | undefined, key: (name: string) => string): T[] => {
    const seen = new Set<string>();
    const kept: T[] = [];
    for (const m of list ?? []) {
      if (seen.has(key(m.name))) continue;
      seen.add(key(m.name));
      kept.push(m);
    }
    return kept;
  };
  const headers = firstOf(match.headers, (name) => name.toLowerCase());
  const query = firstOf(match.query, (name) => name);
  return {
    ...(match.methods === undefined || match.methods.length === 0 ? {} : { methods: match.methods }),
    ...(headers.length === 0 ? {} : { headers }),
    ...(query.length === 0 ? {} : { query }),
  };
}

/** The matcher's path type for a snapshot route (ImplementationSpecific is a Prefix). */
function matcherPathType(pathType: SnapshotRoute['pathType']): PathEntry['pathType'] {
  return pathType === 'Exact' || pathType === 'RegularExpression' ? pathType : 'Prefix';
}

/**
 * Appends the hidden routes of each host's routes (`addRoute` is told the id of the route each hides behind) (after every other route, so the ids of the
 * others do not depend on them): one per RequestMirror backend of a path route and one for a
 * mirror-target Service, then one for the
 * default-backend Service of a path or host-default route; records their ids on the route. A
 * hidden route keeps its route's `refused`, so a refused rule's default backend has no endpoint.
 */
function addHiddenRoutes(routes: RouteTarget[], addRoute: (kind: RouteTarget['kind'], host: string | undefined, route: SnapshotRoute | SnapshotDefaultRoute, of: number) => number): void {
  const count = routes.length;
  for (let id = 0; id < count; id++) {
    const target = routes[id]!;
    if (target.kind === 'default') continue;
    const { policies, ...route } = target.route;
    const mirrors = target.kind === 'path' ? (policies?.requestMirror?.mirrors ?? []) : [];
    // mirror-target naming a Service: its endpoints, after any RequestMirror's (the module takes the last id).
    const mirrorTarget = mirrorTargetBackend(policies?.mirrorTarget);
    const fallback = policies?.defaultBackend;
    let hidden: RouteTarget = target;
    if (mirrors.length !== 0 || mirrorTarget !== undefined) {
      const backends = [...mirrors, ...(mirrorTarget === undefined ? [] : [mirrorTarget])];
      hidden = { ...hidden, mirrors: backends.map((mirror) => addRoute('mirror', target.host, { ...route, backends: [{ namespace: mirror.namespace, service: mirror.service, port: mirror.port, weight: 1, endpointSet: mirror.endpointSet }] } as SnapshotRoute, id)) };
    }
    if (fallback !== undefined && fallback.endpointSet !== null && fallback.service !== null && fallback.port !== null) {
      hidden = { ...hidden, fallback: addRoute('fallback', target.host, { ...route, backends: [{ namespace: fallback.namespace, service: fallback.service, port: fallback.port, weight: 1, endpointSet: fallback.endpointSet }] }, id) };
    }
    routes[id] = hidden;
  }
}

/**
 * Builds the matcher table for a snapshot. Endpoint ids are shared by address:port across Services:
 * each is its key's slot in the history-independent EndpointSlots of the snapshot's keys (a
 * function of the key set, so one endpoint added moves one or two ids, not every later one); set
 * ids are setIdsOf's. Every route of a snapshot host that its entries do not name (its hidden
 * routes, a regex host's later paths) is in its first entry's `extraRoutes`, so the encoder keeps
 * a host's routes together (grid units).
 */
export function toMatcherTable(snapshot: Snapshot): CompiledTable {
  const targets = new Map<string, EndpointTarget>();
  for (const set of snapshot.endpointSets) for (const endpoint of set.endpoints) targets.set(endpointSlotKey(endpoint), { address: endpoint.address, port: endpoint.port });
  const slots = EndpointSlots.of([...targets.keys()]);
  const endpoints: (EndpointTarget | null)[] = Array.from({ length: slots.capacity }, (_, id) => {
    const key = slots.at(id);
    return key === undefined ? null : targets.get(key)!;
  });
  const sets: (readonly number[])[] = snapshot.endpointSets.map((set) => set.endpoints.map((endpoint) => slots.idOf(endpointSlotKey(endpoint))));

  const routes: RouteTarget[] = [];
  const entries: RouteEntry[] = [];
  // Per route id, the snapshot host it belongs to (-1: the catch-all).
  const owners: number[] = [];
  let owner = -1;
  // Invalid backends share one stand-in endpoint (id: the capacity, after every slot) in a set of its own, so their weight share is picked like any other.
  const invalid = snapshot.hosts.some((vhost) => vhost.routes.some((route) => route.backends.some((backend) => backend.invalid === true)));
  const ids = setIdsOf(snapshot.endpointSets, invalid);
  sets.push([]);
  if (invalid) sets.push([endpoints.push({ address: '', port: INVALID_BACKEND_PORT }) - 1]);
  const addRoute = (kind: RouteTarget['kind'], host: string | undefined, route: SnapshotRoute | SnapshotDefaultRoute): number => {
    // A refused route has no endpoint to pick: the data plane answers 503, and explain says why.
    routes.push({ kind, host, route, endpointIds: endpointIdsOf(route, ids, sets) });
    entries.push(routeRecord(route, ids));
    owners.push(owner);
    return routes.length - 1;
  };

  const regexHosts: RegexHost[] = [];
  const perHost = snapshot.hosts.map((vhost, h): HostEntry[] => {
    owner = h;
    const paths: PathEntry[] = vhost.routes.map((route) => {
      const conditions = routeConditions(route.match);
      return { pathType: matcherPathType(route.pathType), path: route.path, route: addRoute('path', vhost.host, route), ...(conditions === undefined ? {} : { conditions }) };
    });
    const fallback = vhost.defaultRoute === null ? -1 : addRoute('host-default', vhost.host, vhost.defaultRoute);
    if (paths.length > 0 && vhost.routes.some((route) => route.regex === true)) {
      // Plain lookups stay in the wasm matcher; only a regex host's requests reach the regexes.
      regexHosts.push({ first: paths[0]!.route, paths: paths.map((entry) => ({ pattern: entry.path, route: entry.route })), fallback });
      return [{ host: vhost.host, paths: [{ pathType: 'Prefix' as const, path: '/', route: paths[0]!.route }], fallback }];
    }
    if (!vhost.host.startsWith('*.')) return [{ host: vhost.host, paths, fallback }];
    // Gateway API wildcards take one or more labels, Ingress ones exactly one: a mixed host's
    // deeper names see only its Gateway API routes.
    const gateway = paths.filter((_, i) => isGatewayRoute(vhost.routes[i]!));
    if (gateway.length === 0) return [{ host: vhost.host, paths, fallback }];
    if (gateway.length === paths.length) return [{ host: vhost.host, labels: 'many', paths, fallback }];
    return [{ host: vhost.host, paths, fallback }, { host: vhost.host, labels: 'deeper', paths: gateway, fallback: -1 }];
  });
  owner = -1;
  const fallback = snapshot.defaultRoute === null ? -1 : addRoute('default', undefined, snapshot.defaultRoute);
  addHiddenRoutes(routes, (kind, host, route, of) => {
    // A hidden route belongs with the route it hides behind.
    owner = owners[of]!;
    return addRoute(kind, host, route);
  });
  // A regex host without a default backend falls to the catch-all, like a plain host with no matching path.
  const withFallback = regexHosts.map((host) => (host.fallback >= 0 ? host : { ...host, fallback }));
  return { table: { hosts: withExtraRoutes(perHost, owners), routes: entries, sets, endpointCount: endpoints.length, fallback }, routes, endpoints, regexHosts: withFallback };
}

/**
 * The host entries of each snapshot host (`perHost`), flat, the first of each listing in
 * `extraRoutes` the routes the host owns (`owners`: per route id, its host) that no entry of it names.
 */
function withExtraRoutes(perHost: readonly HostEntry[][], owners: readonly number[]): HostEntry[] {
  const owned: number[][] = perHost.map(() => []);
  owners.forEach((h, id) => {
    if (h >= 0) owned[h]!.push(id);
  });
  return perHost.flatMap((entries, h) => {
    const named = new Set<number>();
    for (const entry of entries) {
      for (const path of entry.paths) named.add(path.route);
      if (entry.fallback >= 0) named.add(entry.fallback);
    }
    const extraRoutes = owned[h]!.filter((id) => !named.has(id));
    if (extraRoutes.length === 0 || entries.length === 0) return entries;
    return [{ ...entries[0]!, extraRoutes }, ...entries.slice(1)];
  });
}
