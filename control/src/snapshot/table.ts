/**
 * Snapshot -> matcher table: the one place that turns the published contract into what the
 * WebAssembly matcher loads. Used by the data plane and by `explain`, so both decide alike.
 */
import type { MatcherTable, PathEntry, RouteEntry } from '@portico/assembly/table';
import type { Snapshot, SnapshotBackend, SnapshotDefaultRoute, SnapshotRoute } from './schema.ts';

/** What a matcher route id stands for. */
export interface RouteTarget {
  /** `path`: a rule; `host-default`: a host's default backend; `default`: the catch-all. */
  readonly kind: 'path' | 'host-default' | 'default';
  /** The snapshot host the rule belongs to (`*` for any host), or undefined for the catch-all. */
  readonly host: string | undefined;
  readonly route: SnapshotRoute | SnapshotDefaultRoute;
  /** Per backend (same order as `route.backends`), the endpoint ids behind it. */
  readonly endpointIds: readonly (readonly number[])[];
}

/** A network endpoint by id. */
export interface EndpointTarget {
  readonly address: string;
  readonly port: number;
}

/** The matcher table plus the metadata its ids index. */
export interface CompiledTable {
  readonly table: MatcherTable;
  readonly routes: readonly RouteTarget[];
  readonly endpoints: readonly EndpointTarget[];
}

/**
 * Builds the matcher table for a snapshot. Endpoint ids are shared by address:port across Services.
 * With `balancingOnly`, the table has no hosts (nothing matches) and only serves `pick`: the data
 * plane's fast path when only endpoints changed. Route ids are the same either way.
 */
export function toMatcherTable(snapshot: Snapshot, options: { readonly balancingOnly?: boolean } = {}): CompiledTable {
  const endpoints: EndpointTarget[] = [];
  const endpointIdByAddress = new Map<string, number>();
  const setIds = new Map<string, number[]>();
  for (const set of snapshot.endpointSets) {
    setIds.set(
      set.key,
      set.endpoints.map((endpoint) => {
        const address = `${endpoint.address}|${endpoint.port}`;
        let id = endpointIdByAddress.get(address);
        if (id === undefined) {
          id = endpoints.length;
          endpoints.push({ address: endpoint.address, port: endpoint.port });
          endpointIdByAddress.set(address, id);
        }
        return id;
      }),
    );
  }

  const routes: RouteTarget[] = [];
  const entries: RouteEntry[] = [];
  const addRoute = (kind: RouteTarget['kind'], host: string | undefined, route: SnapshotRoute | SnapshotDefaultRoute): number => {
    // A refused route has no endpoint to pick: the data plane answers 503, and explain says why.
    const endpointIds = route.backends.map((backend: SnapshotBackend) => (backend.endpointSet === null || route.refused !== undefined ? [] : (setIds.get(backend.endpointSet) ?? [])));
    routes.push({ kind, host, route, endpointIds });
    entries.push({ backends: route.backends.map((backend, index) => ({ weight: backend.weight, endpoints: endpointIds[index] ?? [] })) });
    return routes.length - 1;
  };

  if (options.balancingOnly === true) {
    // Same traversal order as below, so route ids line up with the full table's.
    for (const vhost of snapshot.hosts) {
      for (const route of vhost.routes) addRoute('path', vhost.host, route);
      if (vhost.defaultRoute !== null) addRoute('host-default', vhost.host, vhost.defaultRoute);
    }
    if (snapshot.defaultRoute !== null) addRoute('default', undefined, snapshot.defaultRoute);
    return { table: { hosts: [], routes: entries, endpointCount: endpoints.length, fallback: -1 }, routes, endpoints };
  }
  const hosts = snapshot.hosts.map((vhost) => {
    const paths: PathEntry[] = vhost.routes.map((route) => ({
      pathType: route.pathType === 'Exact' ? 'Exact' : 'Prefix',
      path: route.path,
      route: addRoute('path', vhost.host, route),
    }));
    const fallback = vhost.defaultRoute === null ? -1 : addRoute('host-default', vhost.host, vhost.defaultRoute);
    return { host: vhost.host, paths, fallback };
  });
  const fallback = snapshot.defaultRoute === null ? -1 : addRoute('default', undefined, snapshot.defaultRoute);

  return { table: { hosts, routes: entries, endpointCount: endpoints.length, fallback }, routes, endpoints };
}
