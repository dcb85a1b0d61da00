/**
 * Patching an assembled table instead of assembling it again: when a new version's chunks and
 * route records are those of the last one except a few that fit exactly where their predecessors
 * were (same sizes, same hosts), and its endpoint area has as many buckets, the new table is the
 * last one with only those rewritten and the buckets of the changed sets re-packed (area.ts: a set
 * that grows or shrinks moves nothing outside its bucket) — by the very functions assemble writes
 * them with, so the bytes are those assembleGrid gives (the tests hold them equal) — into
 * copies of the blocks they fall in (blocks.ts): the last version's bytes stay as they were, and
 * the cost is the changed parts and their blocks, not a copy of the table.
 */
import type { PlacedChunk, TableChunk } from './chunk.ts';
import type { GridLayout } from './grid.ts';
import { routeRecordBytes, writeChunk, writeRoute } from './chunk.ts';
import { patchEndpointArea } from './area.ts';
import type { TableBlocks, TableSink } from './blocks.ts';
import type { ItemList } from './pages.ts';
import { hostHasConditions } from './chunk-check.ts';
import { Header } from './layout.ts';
import type { RouteEntry } from './table.ts';
import { checkEndpointCount, checkRoute } from './validate.ts';

/** A table assembled (or patched) from own chunks, with what it was made of. */
export interface LaidOutTable {
  /** Its bytes, as blocks shared with the versions patched from it (or it from). */
  readonly table: TableBlocks;
  readonly layout: GridLayout;
  /** Its chunks and route records (arrays, or Pages shared with the versions patched from it). */
  readonly chunks: ItemList<PlacedChunk>;
  readonly routes: ItemList<RouteEntry>;
  readonly sets: ItemList<readonly number[]>;
  readonly endpointCount: number;
  readonly fallback: number;
}

/** A part of the table being made off it (a route record, a grid bucket): writes inside it (from `at`) go to `bytes`, any other write (an index entry) to `table`. */
export class RecordSink implements TableSink {
  readonly bytes: Uint8Array;
  readonly #at: number;
  readonly #table: TableSink;
  readonly #words: Uint32Array;

  constructor(bytes: Uint8Array, at: number, table: TableSink) {
    this.bytes = bytes;
    this.#at = at;
    this.#table = table;
    // Records are whole u32 fields at a multiple of 4.
    this.#words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
  }

  #inside(at: number, length: number): boolean {
    return at >= this.#at && at + length <= this.#at + this.bytes.length;
  }

  set(bytes: Uint8Array, at: number): void {
    if (this.#inside(at, bytes.length)) this.bytes.set(bytes, at - this.#at);
    else this.#table.set(bytes, at);
  }

  word(index: number): number {
    return this.#inside(index << 2, 4) ? this.#words[((index << 2) - this.#at) >>> 2]! : this.#table.word(index);
  }

  setWord(index: number, value: number): void {
    if (this.#inside(index << 2, 4)) this.#words[((index << 2) - this.#at) >>> 2] = value;
    else this.#table.setWord(index, value);
  }
}

/**
 * Whether `next` can be written where `previous` is: the same bytes taken, the same hosts (hash
 * slots), each with conditions or without as before (the table's list of hosts with conditions).
 * Condition bits are the host's own, so a host whose condition count changed fits if its size did not.
 */
function fits(previous: TableChunk, next: TableChunk): boolean {
  if (next.bytes.length !== previous.bytes.length || next.routeCount !== previous.routeCount || next.hosts.length !== previous.hosts.length) return false;
  for (let h = 0; h < next.hosts.length; h++) {
    const a = previous.hosts[h]!;
    const b = next.hosts[h]!;
    if (a.at !== b.at || a.hash !== b.hash || a.tables !== b.tables || a.lookups.length !== b.lookups.length || a.lookups.some((lookup, i) => lookup !== b.lookups[i])) return false;
    if (hostHasConditions(previous, a) !== hostHasConditions(next, b)) return false;
  }
  return true;
}

/**
 * The table assembleGrid gives for `chunks` (placed at the plan's first ids), `routes` (by grid
 * id, the empty record at ids no route has), `sets`, `endpointCount` and `fallback`, made by
 * patching `previous` (chunks, routes and sets compared by identity; the caller's own chunks,
 * trusted as assembleGrid trusts them; a caller that lists no chunks, a balancing-only table, must
 * itself hold the units' names and sizes unchanged: the grid's plan follows them); undefined when the layout would
 * change — another number of chunks or routes, fewer sets (an unchanged route could name one taken
 * away) or another number of the endpoint area's buckets, a chunk's route run moved, a changed
 * chunk or route record of another size (another backend count) — and the caller assembles. The
 * changed route records and sets are validated as assembleGrid validates every one (throws
 * PORTICO_E_TABLE_INVALID naming the route or set). `previous.table` is not modified. With
 * `only`, the chunks, routes and (when `only.sets` is given) sets at the other indices are known
 * to be `previous`'s (the caller replaced those alone): only these are compared, so the cost
 * follows the change; the endpoint area re-packs the buckets of the changed sets (patchEndpointArea).
 */
export function patchOwnChunks(previous: LaidOutTable, chunks: ItemList<PlacedChunk>, routes: ItemList<RouteEntry>, sets: ItemList<readonly number[]>, endpointCount: number, fallback: number, only?: { readonly chunks: readonly number[]; readonly routes: readonly number[]; readonly sets?: readonly number[] }): LaidOutTable | undefined {
  if (chunks.length !== previous.chunks.length || routes.length !== previous.routes.length || sets.length < previous.sets.length || fallback !== previous.fallback) return undefined;
  const changedChunks: number[] = [];
  const chunkCount = only?.chunks.length ?? chunks.length;
  for (let i = 0; i < chunkCount; i++) {
    const c = only === undefined ? i : only.chunks[i]!;
    const before = previous.chunks.at(c)!;
    const after = chunks.at(c)!;
    if (after.firstRoute !== before.firstRoute) return undefined;
    if (after.chunk === before.chunk) continue;
    if (!fits(before.chunk, after.chunk)) return undefined;
    changedChunks.push(c);
  }
  const changedRoutes: number[] = [];
  const routeCount = only?.routes.length ?? routes.length;
  for (let i = 0; i < routeCount; i++) {
    const r = only === undefined ? i : only.routes[i]!;
    const before = previous.routes.at(r)!;
    const after = routes.at(r)!;
    if (after === before) continue;
    // A record's size is its backend count's (set ids, not endpoints, are inside).
    if (before.backends.length !== after.backends.length) return undefined;
    checkRoute(after, r, sets.length);
    changedRoutes.push(r);
  }
  checkEndpointCount(endpointCount);
  const changedSets = only?.sets ?? changedItems(previous.sets, sets);
  const area = patchEndpointArea(previous, sets, changedSets, endpointCount);
  if (area === undefined) return undefined;
  const layout = area.area === previous.layout.area ? previous.layout : { ...previous.layout, area: area.area };
  const edit = area.table.edit();
  edit.setWord(Header.ENDPOINT_COUNT >>> 2, endpointCount);
  for (const c of changedChunks) {
    writeChunk(edit, chunks.at(c)!.chunk, chunks.at(c)!.firstRoute, layout, c);
  }
  const routeIndexAt = edit.word(Header.ROUTE_INDEX >>> 2);
  for (const r of changedRoutes) {
    // A record of the same size at the same place: its bytes are made whole (WRR state zero, as
    // assembled) and written at once, so a record of the same content (a host edited, its routes'
    // backends as they were) leaves its block shared; its index entry is the same offset.
    const rec = layout.routeOffsets[r]!;
    const record = new RecordSink(new Uint8Array(routeRecordBytes(routes.at(r)!)), rec, edit);
    writeRoute(record, routeIndexAt, r, rec, routes.at(r)!);
    edit.set(record.bytes, rec);
  }
  return { table: edit.done(), layout, chunks, routes, sets, endpointCount, fallback };
}

/** The indices at which `after` holds another item than `before` (by identity), and those past the shorter list: without a caller that knows (patchOwnChunks without `only`). */
export function changedItems<T>(before: ItemList<T>, after: ItemList<T>): number[] {
  const changed: number[] = [];
  for (let i = 0; i < Math.max(before.length, after.length); i++) if (i >= before.length || i >= after.length || before.at(i) !== after.at(i)) changed.push(i);
  return changed;
}
