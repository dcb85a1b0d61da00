/**
 * The one encoder of the binary routing table that src/wasm decodes (layout: src/wasm/table.ts).
 * Deterministic: the same table always gives the same bytes (everything is laid out in table
 * order, each host's conditions sorted), so encoded tables can be hashed and compared byte for byte.
 */
import type { MatcherTable } from './table.ts';
import { validateTable } from './validate.ts';
import { encodeValidGrid } from './grid-table.ts';
import type { GridTable } from './grid-table.ts';
import type { GridOptions } from './grid-plan.ts';

export { hostProblem, validateTable } from './validate.ts';
export { prefixKey } from './draft.ts';
export type { PlacedChunk, TableChunk } from './chunk.ts';
export type { TableLayout } from './chunk.ts';
export { encodeChunk } from './chunk.ts';
export { checkChunkShape } from './chunk-check.ts';
export type { GridAssembleOptions, GridCatchAll, GridLayout, GridUnit } from './grid.ts';
export { NO_ROUTE, assembleGrid, unitBytes } from './grid.ts';
export type { GridChange, PatchedGrid } from './grid-patch.ts';
export { patchGrid } from './grid-patch.ts';
export type { GridOptions, GridPlan, UnitSize } from './grid-plan.ts';
export { GRID, bucketCount, homeOf, overflowExtent, packBucket, planGrid } from './grid-plan.ts';
export type { GridTable } from './grid-table.ts';
export type { LaidOutTable } from './patch.ts';
export { patchOwnChunks } from './patch.ts';
export { chunkFromBytes, chunkToBytes } from './chunk-wire.ts';
export { TABLE_BLOCK_BYTES, TableBlocks } from './blocks.ts';
export { PAGE_ITEMS, Pages } from './pages.ts';
export { Format } from './layout.ts';
export type { ItemList } from './pages.ts';

/**
 * Encodes `table` into the binary layout the wasm matcher loads: each host (with the routes it
 * names) a grid unit (grid-table.ts), the units assembled as a grid (grid.ts), whose route ids
 * `routeIds` gives by the table's ids. `grid` (S and R) is for tests; with `balancingOnly` the
 * table keeps the places and ids but holds no host (it serves pick alone). Throws PorticoError
 * PORTICO_E_TABLE_INVALID (naming the offending host, path or route) when the table breaks the
 * MatcherTable contract.
 */
export function encodeGrid(table: MatcherTable, options: { readonly grid?: GridOptions; readonly balancingOnly?: boolean } = {}): GridTable {
  validateTable(table);
  return encodeValidGrid(table, options);
}

/** encodeGrid's bytes: the table wasm loads, whose route ids are the grid's (encodeGrid's routeIds). */
export function encodeTable(table: MatcherTable, grid?: GridOptions): Uint8Array {
  return encodeGrid(table, grid === undefined ? {} : { grid }).table;
}
