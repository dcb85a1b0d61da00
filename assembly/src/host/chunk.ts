/**
 * Chunked tables: the binary table cut where it can be reused. A chunk holds the host blocks of a
 * few host entries (in practice: one snapshot host, one or two entries) exactly as encodeTable
 * lays them out, match conditions included, except that record offsets are relative to the chunk
 * and route ids are local to the chunk's run of routes. The fields that hold such values are
 * listed in `relocations`. Condition bits are each host's own, so they need no fixing up.
 *
 * The grid (grid.ts) places each chunk with its route records and fixes those fields up with
 * writeChunk (copies plus one add per listed field), then writes what is global — the header,
 * the host hash tables (from each host's cached key hash), the list of hosts with conditions and
 * the endpoint sets. Nothing is drafted, sorted or validated per path again. encodeTable is itself
 * "one chunk per host, assembled", so an assembled table is byte for byte the table encodeTable
 * gives for the same content.
 *
 * A chunk is plain data (numbers, typed arrays, strings): it crosses process boundaries by
 * structured clone and is serialised by whoever ships it.
 */
import { draftHost } from './draft.ts';
import type { EntryDraft, HostDraft } from './draft.ts';
import type { HostEntry, RouteEntry } from './table.ts';
import { validateHosts } from './validate.ts';
import type { TableSink } from './blocks.ts';
import { Relocation, corrupt } from './chunk-check.ts';
import { hashCapacity, hashSlots } from './hash-slots.ts';
import type { AreaLayout } from './area.ts';
import { BackendRecord, Entry, Group, HOST_SEED, HeaderPair, HostRecord, RouteRecord, Slot, murmur, pathSeed } from './layout.ts';

/** Which host hash tables list a chunk host (bits of ChunkHost.tables). */
export const HostTables = { EXACT: 1, ONE_LABEL: 2, DEEP: 4, ANY: 8 } as const;

/** One host entry of a chunk. */
export interface ChunkHost {
  /** Offset of its host record in `TableChunk.bytes`. */
  readonly at: number;
  /** Its key's hash in the host tables (murmur with HOST_SEED). */
  readonly hash: number;
  /** HostTables bits: the host hash tables that list it. */
  readonly tables: number;
  /** What it answers for (host, or host + " deeper"): no two hosts of a table may share one. */
  readonly lookups: readonly string[];
}

/** Host blocks ready to be assembled into a table (see the file comment). */
export interface TableChunk {
  /** The host blocks; a multiple of 8 bytes. */
  readonly bytes: Uint8Array;
  readonly hosts: readonly ChunkHost[];
  /** Per field to fix up: `(offset << 3) | Relocation kind`. */
  readonly relocations: Uint32Array;
  /** Routes the chunk's host entries use: local route ids are below this. */
  readonly routeCount: number;
}

const pad8 = (n: number): number => (n + 7) & ~7;

function tablesOf(host: HostDraft): number {
  if (host.host === '*') return HostTables.ANY;
  if (!host.host.startsWith('*.')) return HostTables.EXACT;
  return (host.labels !== 'deeper' ? HostTables.ONE_LABEL : 0) | (host.labels !== 'one' ? HostTables.DEEP : 0);
}

function lookupsOf(host: HostEntry): string[] {
  return host.labels === 'many' ? [host.host, `${host.host} deeper`] : host.labels === 'deeper' ? [`${host.host} deeper`] : [host.host];
}

/**
 * Encodes host entries whose route ids are local (below `routeCount`; -1 for none) into a chunk.
 * Throws PORTICO_E_TABLE_INVALID (naming the host, path or route) when an entry breaks the
 * MatcherTable contract; duplicates across chunks are caught by assembleGrid (with `check`) or by the table's owner.
 */
export function encodeChunk(hosts: readonly HostEntry[], routeCount: number): TableChunk {
  validateHosts(hosts, routeCount);
  return encodeValidChunk(hosts, routeCount);
}

/** encodeChunk for entries already validated (encodeTable validates the whole table first). */
export function encodeValidChunk(hosts: readonly HostEntry[], routeCount: number): TableChunk {
  const drafts = hosts.map((host) => draftHost(host));
  const offsets = new Map<object, number>();
  const pathsAt = new Map<HostDraft, number>();
  /** Per host with conditions: where its condition records, bit runs and strings start. */
  const condsAt = new Map<HostDraft, { readonly records: number; readonly bits: number; readonly strings: number }>();
  let size = 0;
  const place = (bytes: number): number => {
    const at = size;
    size = pad8(size + bytes);
    return at;
  };
  for (const h of drafts) {
    offsets.set(h, place(HostRecord.KEY + pad8(h.key.length) + (h.root.length + h.regex.length) * Entry.SIZE));
    pathsAt.set(h, place(h.groups.length === 0 ? 0 : hashCapacity(h.groups.length, 4) * Slot.SIZE));
    for (const g of h.groups) offsets.set(g, place(Group.KEY + pad8(g.key.length) + g.entries.length * Entry.SIZE));
    if (h.conditions.length > 0) {
      const records = place(h.conditions.length * HeaderPair.SIZE);
      const bits = place(h.condBits.length * 4);
      condsAt.set(h, { records, bits, strings: place(h.conditions.reduce((n, cond) => n + cond.name.length + cond.value.length, 0)) });
    }
  }
  const at = (record: object): number => offsets.get(record) ?? 0;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const relocations: number[] = [];
  const u32 = (offset: number, value: number, relocation?: number): void => {
    view.setUint32(offset, value >>> 0, true);
    if (relocation !== undefined) relocations.push(offset * 8 + relocation);
  };
  const writeEntries = (first: number, entries: readonly EntryDraft[], bits: number): void => {
    entries.forEach((e, k) => {
      const rec = first + k * Entry.SIZE;
      u32(rec + Entry.ROUTE, e.route, Relocation.ROUTE);
      u32(rec + Entry.RECORD, e.route, Relocation.RECORD);
      u32(rec + Entry.METHODS, e.methods);
      if (e.condCount !== 0) u32(rec + Entry.COND_START, bits + e.condStart * 4, Relocation.OFFSET);
      u32(rec + Entry.COND_COUNT, e.condCount);
    });
  };
  for (const h of drafts) {
    const rec = at(h);
    const conds = condsAt.get(h);
    const bits = conds?.bits ?? 0;
    if (conds !== undefined) {
      u32(rec + HostRecord.CONDS, conds.records, Relocation.OFFSET);
      writeConditions(h, conds, u32, out);
    }
    u32(rec + HostRecord.FALLBACK, h.fallback, h.fallback >= 0 ? Relocation.ROUTE : undefined);
    u32(rec + HostRecord.EXACT_DEPTHS, h.exactDepths);
    u32(rec + HostRecord.PREFIX_DEPTHS, h.prefixDepths);
    u32(rec + HostRecord.ROOT_COUNT, h.root.length);
    u32(rec + HostRecord.KEY_LEN, h.key.length);
    u32(rec + HostRecord.COND_COUNT, h.conditions.length);
    u32(rec + HostRecord.REGEX_COUNT, h.regex.length);
    out.set(h.key, rec + HostRecord.KEY);
    writeEntries(rec + HostRecord.KEY + pad8(h.key.length), h.root, bits);
    writeEntries(rec + HostRecord.KEY + pad8(h.key.length) + h.root.length * Entry.SIZE, h.regex, bits);
    if (h.groups.length > 0) {
      const cap = hashCapacity(h.groups.length, 4);
      const paths = pathsAt.get(h) ?? 0;
      u32(rec + HostRecord.PATHS, paths, Relocation.OFFSET);
      u32(rec + HostRecord.PATHS_MASK, cap - 1);
      const slots = hashSlots(h.groups.map((g) => ({ hash: murmur(g.key, pathSeed(g.kind)), offset: at(g) })), cap);
      for (let i = 0; i < slots.length; i += 2) {
        u32(paths + i * 4, slots[i] ?? 0);
        u32(paths + (i + 1) * 4, slots[i + 1] ?? 0, slots[i + 1] === 0 ? undefined : Relocation.OFFSET);
      }
    }
    for (const g of h.groups) {
      u32(at(g) + Group.KIND, g.kind);
      u32(at(g) + Group.COUNT, g.entries.length);
      u32(at(g) + Group.KEY_LEN, g.key.length);
      out.set(g.key, at(g) + Group.KEY);
      writeEntries(at(g) + Group.KEY + pad8(g.key.length), g.entries, bits);
    }
  }
  return {
    bytes: out,
    hosts: drafts.map((h, i) => ({ at: at(h), hash: murmur(h.key, HOST_SEED), tables: tablesOf(h), lookups: lookupsOf(hosts[i]!) })),
    relocations: Uint32Array.from(relocations),
    routeCount,
  };
}

/** Writes host `h`'s condition records (HostRecord.CONDS), its entries' bit runs and the conditions' strings at `at`. */
function writeConditions(h: HostDraft, at: { readonly records: number; readonly bits: number; readonly strings: number }, u32: (offset: number, value: number, relocation?: number) => void, out: Uint8Array): void {
  let strings = at.strings;
  // An empty string is never read: its offset stays 0 rather than pointing at the end of the chunk.
  const text = (bytes: Uint8Array, field: number): void => {
    if (bytes.length === 0) return;
    out.set(bytes, strings);
    u32(field, strings, Relocation.OFFSET);
    strings += bytes.length;
  };
  h.conditions.forEach((cond, i) => {
    const rec = at.records + i * HeaderPair.SIZE;
    text(cond.name, rec + HeaderPair.NAME_OFF);
    u32(rec + HeaderPair.NAME_LEN, cond.name.length);
    text(cond.value, rec + HeaderPair.VALUE_OFF);
    u32(rec + HeaderPair.VALUE_LEN, cond.value.length);
    u32(rec + HeaderPair.KIND, cond.kind);
  });
  h.condBits.forEach((bit, k) => u32(at.bits + k * 4, bit));
}

/** A chunk and the first route id of its run of routes in the table. */
export interface PlacedChunk {
  readonly chunk: TableChunk;
  readonly firstRoute: number;
}

/** Where assembleGrid put what a patch may rewrite in place (patch.ts): each chunk, each route record (grid.ts: GridLayout). */
export interface TableLayout {
  /** Per chunk: its byte offset. */
  readonly chunkAt: Uint32Array;
  /** Byte offset of each route record, by route id. */
  readonly routeOffsets: Uint32Array;
  /** Byte offsets of the set index and of the endpoint area (the last sections: a set record's offset is read from the index). */
  readonly setIndexAt: number;
  readonly areaAt: number;
  /** Where the area's sets lie (area.ts): what a patch re-packs from. */
  readonly area: AreaLayout;
}

/** Copies chunk number `c` (route run from `firstRoute`) to its place in `layout` and fixes up its relocated fields. */
export function writeChunk(out: TableSink, chunk: TableChunk, firstRoute: number, layout: TableLayout, c: number): void {
  const { routeOffsets } = layout;
  const chunkAt = layout.chunkAt[c]!;
  out.set(chunk.bytes, chunkAt);
  const relocations = chunk.relocations;
  // Every relocated field is a u32 at a multiple of 4 inside a chunk placed at a multiple of 8.
  const base = chunkAt >>> 2;
  for (let i = 0; i < relocations.length; i++) {
    const relocation = relocations[i]!;
    const field = base + (relocation >>> 5);
    const value = out.word(field);
    switch (relocation & 7) {
      case Relocation.OFFSET: out.setWord(field, value + chunkAt); break;
      case Relocation.ROUTE: out.setWord(field, value + firstRoute); break;
      case Relocation.RECORD: out.setWord(field, routeOffsets[value + firstRoute]!); break;
      default: corrupt(`relocation kind ${relocation & 7} is unknown`);
    }
  }
}

/** The bytes of a route record (what routeOffsets spaces): its backend count's, whatever their sets hold. */
export function routeRecordBytes(route: RouteEntry): number {
  return RouteRecord.BACKENDS + route.backends.length * BackendRecord.SIZE;
}

/** Writes route record `r` at `rec` (its CURRENT fields zero: the initial WRR state, as in a fresh table). */
export function writeRoute(out: TableSink, routeIndexAt: number, r: number, rec: number, route: RouteEntry): void {
  const backends = route.backends;
  out.setWord((routeIndexAt >>> 2) + r, rec);
  out.setWord((rec + RouteRecord.BACKEND_COUNT) >>> 2, backends.length);
  let backend = rec + RouteRecord.BACKENDS;
  for (let b = 0; b < backends.length; b++) {
    const { weight, set } = backends[b]!;
    out.setWord((backend + BackendRecord.WEIGHT) >>> 2, weight);
    out.setWord((backend + BackendRecord.SET) >>> 2, set);
    backend += BackendRecord.SIZE;
  }
}
