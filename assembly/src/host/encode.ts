/**
 * The one encoder of the binary routing table that src/wasm decodes (layout: src/wasm/table.ts).
 * Deterministic: the same table always gives the same bytes (everything is laid out in table
 * order, each host's conditions sorted), so encoded tables can be hashed and compared byte for byte.
 */
import type { MatcherTable } from './table.ts';
import { validateTable } from './validate.ts';
import { assembleValid, chunksOfValid } from './chunk.ts';

export { hostProblem, validateTable } from './validate.ts';
export { prefixKey } from './draft.ts';
export type { PlacedChunk, TableChunk } from './chunk.ts';
export type { TableLayout } from './chunk.ts';
export { assembleOwnChunks, assembleOwnChunksLaidOut, assembleTable, encodeChunk } from './chunk.ts';
export { checkChunkShape } from './chunk-check.ts';
export type { LaidOutTable } from './patch.ts';
export { patchOwnChunks } from './patch.ts';
export { chunkFromBytes, chunkToBytes } from './chunk-wire.ts';
export { TABLE_BLOCK_BYTES, TableBlocks } from './blocks.ts';
export { PAGE_ITEMS, Pages } from './pages.ts';
export { Format } from './layout.ts';
export type { ItemList } from './pages.ts';

/**
 * Encodes `table` into the binary layout the wasm matcher loads: each host entry encoded as a
 * chunk (chunk.ts), the chunks assembled. Throws PorticoError PORTICO_E_TABLE_INVALID (naming
 * the offending host, path or route) when the table breaks the MatcherTable contract.
 */
export function encodeTable(table: MatcherTable): Uint8Array {
  validateTable(table);
  return assembleValid(chunksOfValid(table.hosts, table.routes.length), table.routes, table.sets, table.endpointCount, table.fallback);
}
