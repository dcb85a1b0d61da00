// Test support: a grid assembled from units, with what patchOwnChunks takes (chunks placed at their
// first ids, route records by grid id, the empty record at every id no route has).
import { NO_ROUTE, assembleGrid } from '../src/host/encode.ts';
import type { GridAssembleOptions, GridLayout, GridOptions, GridUnit, PlacedChunk } from '../src/host/encode.ts';
import type { RouteEntry } from '../src/host/table.ts';

/** A grid small enough that test tables span many buckets and overflow: 1 KiB buckets of 2 routes. */
export const TINY_GRID: GridOptions = { bucketBytes: 1024, bucketRoutes: 2 };

/** The record of an id no route has (what the grid points those ids at). */
export { NO_ROUTE };

/** A grid of `units` (no catch-all) and its chunks and routes as patchOwnChunks lists them. */
export function gridOf(units: readonly GridUnit[], sets: readonly (readonly number[])[], endpointCount: number, options: GridAssembleOptions = {}): { table: Uint8Array; layout: GridLayout; chunks: PlacedChunk[]; routes: RouteEntry[] } {
  const { table, layout } = assembleGrid(units, null, sets, endpointCount, options);
  const routes = new Array<RouteEntry>(layout.plan.routeCount).fill(NO_ROUTE);
  const chunks = units.map((unit, u) => {
    const first = layout.plan.firstRoute[u]!;
    unit.routes.forEach((route, k) => (routes[first + k] = route));
    return { chunk: unit.chunk, firstRoute: first };
  });
  return { table, layout, chunks, routes };
}
