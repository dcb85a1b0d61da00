/**
 * A MatcherTable as grid units (grid.ts), for encodeTable. A unit is a snapshot host: its host
 * entries (a mixed wildcard has two) and the routes they name or list in `extraRoutes`. Host
 * entries that share a route are one unit (a route record is in one place, and its WRR state is
 * shared by whoever names it), named after its first entry; a unit's local route ids are its
 * routes in ascending table id, so a table numbered host by host (a host's routes, then its
 * hidden ones) keeps each host's order. Routes no host names, but the catch-all, make one last
 * unit without hosts. The grid gives every route another id: `routeIds` says which.
 */
import type { HostEntry, MatcherTable } from './table.ts';
import { encodeValidChunk } from './chunk.ts';
import { assembleGrid } from './grid.ts';
import type { GridCatchAll, GridLayout, GridUnit } from './grid.ts';
import type { GridOptions } from './grid-plan.ts';

/** The name of the unit of routes no host names (a space is never in a host name). */
const LOOSE = ' routes';

/** A table encoded as a grid, and the grid id of each of its route ids. */
export interface GridTable {
  readonly table: Uint8Array;
  readonly layout: GridLayout;
  /** By the MatcherTable's route id: the id the encoded table (wasm's match, pick) uses for it. */
  readonly routeIds: Uint32Array;
}

/** The routes of host entry `entry`: its paths', its fallback, its extra routes. */
function routesOf(entry: HostEntry): number[] {
  const routes = entry.paths.map((path) => path.route);
  if (entry.fallback >= 0) routes.push(entry.fallback);
  if (entry.extraRoutes !== undefined) routes.push(...entry.extraRoutes);
  return routes;
}

/** Encodes a table validateTable accepted as a grid (S and R from `grid`: tests; balancingOnly: assembleGrid's). */
export function encodeValidGrid(table: MatcherTable, options: { readonly grid?: GridOptions; readonly balancingOnly?: boolean } = {}): GridTable {
  const { hosts, routes } = table;
  // Union-find over host entries, joined by the routes they share.
  const parent = hosts.map((_, h) => h);
  const root = (h: number): number => {
    while (parent[h] !== h) h = parent[h] = parent[parent[h]!]!;
    return h;
  };
  const owner = new Int32Array(routes.length).fill(-1);
  hosts.forEach((entry, h) => {
    for (const route of routesOf(entry)) {
      const before = owner[route]!;
      if (before < 0) owner[route] = h;
      else parent[Math.max(root(before), root(h))] = Math.min(root(before), root(h));
    }
  });
  // Units in the order of their first entry; each unit's entries in table order.
  const unitOfRoot = new Map<number, number>();
  const entries: HostEntry[][] = [];
  const unitOfHost = hosts.map((_, h) => {
    const r = root(h);
    let u = unitOfRoot.get(r);
    if (u === undefined) unitOfRoot.set(r, (u = entries.push([]) - 1));
    entries[u]!.push(hosts[h]!);
    return u;
  });
  const unitRoutes: number[][] = entries.map(() => []);
  const loose: number[] = [];
  for (let route = 0; route < routes.length; route++) {
    const h = owner[route]!;
    if (h >= 0) unitRoutes[unitOfHost[h]!]!.push(route);
    else if (route !== table.fallback) loose.push(route);
  }
  const local = new Int32Array(routes.length).fill(-1);
  const unitOfRoute = new Int32Array(routes.length).fill(-1);
  unitRoutes.forEach((ids, u) => ids.forEach((route, k) => ((local[route] = k), (unitOfRoute[route] = u))));
  const units: GridUnit[] = entries.map((members, u) => {
    const mapped = members.map((entry): HostEntry => ({
      host: entry.host,
      ...(entry.labels === undefined ? {} : { labels: entry.labels }),
      paths: entry.paths.map((path) => ({ ...path, route: local[path.route]! })),
      fallback: entry.fallback < 0 ? -1 : local[entry.fallback]!,
    }));
    const ids = unitRoutes[u]!;
    return { name: members[0]!.host, chunk: encodeValidChunk(mapped, ids.length), routes: ids.map((route) => routes[route]!) };
  });
  if (loose.length > 0) {
    loose.forEach((route, k) => ((local[route] = k), (unitOfRoute[route] = units.length)));
    units.push({ name: LOOSE, chunk: encodeValidChunk([], loose.length), routes: loose.map((route) => routes[route]!) });
  }
  let catchAll: GridCatchAll = null;
  if (table.fallback >= 0) catchAll = unitOfRoute[table.fallback]! >= 0 ? { unit: unitOfRoute[table.fallback]!, local: local[table.fallback]! } : routes[table.fallback]!;
  const { table: bytes, layout } = assembleGrid(units, catchAll, table.sets, table.endpointCount, options);
  const routeIds = new Uint32Array(routes.length);
  for (let route = 0; route < routes.length; route++) {
    const u = unitOfRoute[route]!;
    routeIds[route] = u < 0 ? layout.plan.catchAll : layout.plan.firstRoute[u]! + local[route]!;
  }
  return { table: bytes, layout, routeIds };
}
