/**
 * The checks a chunk from elsewhere (a bundle off the network, chunk-wire.ts) passes before it is
 * laid out: everything it holds stays inside it, and every condition bit an entry names is one
 * of its own host's (below HostRecord.COND_COUNT). Bits are host-local, so a bit past its host's
 * would read what another host's request left in the bitset: such a chunk is refused.
 */
import { PorticoError } from './errors.ts';
import type { ChunkHost, TableChunk } from './chunk.ts';
import { CondKind, Entry, Group, HeaderPair, HostRecord, Limit } from './layout.ts';

/** What a relocated field holds (low 3 bits of a relocation; the field's offset is above them). */
export const Relocation = {
  /** A record offset relative to the chunk: add the chunk's place in the table. */
  OFFSET: 0,
  /** A route id local to the chunk: add its first route id. */
  ROUTE: 1,
  /** A route record offset: holds a local route id; becomes that route's record offset. */
  RECORD: 2,
} as const;

/** Throws PORTICO_E_TABLE_INVALID for chunks: `problem` says what and where. */
export function corrupt(problem: string): never {
  throw new PorticoError('PORTICO_E_TABLE_INVALID', `matcher table chunks: ${problem}`);
}

/** The little-endian u32 at byte `at` of `bytes` (no view made: assemble reads one per host). */
export function chunkWord(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0;
}

/** Whether `host` (a host of `chunk`) has match conditions: its record's COND_COUNT is not 0 (it is then on the table's list of them, grid.ts). */
export function hostHasConditions(chunk: TableChunk, host: ChunkHost): boolean {
  return chunkWord(chunk.bytes, host.at + HostRecord.COND_COUNT) !== 0;
}

const pad8 = (n: number): number => (n + 7) & ~7;

/**
 * Checks what a chunk holds by itself: every relocated field is a u32 inside it whose value is
 * in range for its kind, host records lie inside it, and each host's conditions, path groups and
 * entries' condition runs lie inside it with every bit below its host's condition count. Throws
 * PORTICO_E_TABLE_INVALID naming the first problem and the field that holds it.
 */
export function checkChunkShape(chunk: TableChunk): void {
  const { bytes, relocations } = chunk;
  if (!(bytes instanceof Uint8Array) || bytes.length % 8 !== 0) corrupt('a chunk is not a multiple of 8 bytes');
  if (!(relocations instanceof Uint32Array) || !Array.isArray(chunk.hosts)) corrupt('a chunk is malformed');
  if (!Number.isInteger(chunk.routeCount) || chunk.routeCount < 0) corrupt(`route count ${String(chunk.routeCount)} is not a count`);
  // Which u32 fields are relocated as offsets: a condition run or record that is not would be read at a place in another host.
  const offsets = new Uint8Array(bytes.length >>> 2);
  for (let i = 0; i < relocations.length; i++) {
    const field = Math.floor(relocations[i]! / 8);
    if (field + 4 > bytes.length || field % 4 !== 0) corrupt(`a relocation at ${field} is outside its chunk of ${bytes.length} bytes or not a u32 field`);
    const value = chunkWord(bytes, field);
    const kind = relocations[i]! & 7;
    if (kind > Relocation.RECORD) corrupt(`relocation kind ${kind} is unknown`);
    const limit = kind === Relocation.OFFSET ? bytes.length : chunk.routeCount;
    if (value >= limit) corrupt(`a relocated field at ${field} holds ${value}, not below ${limit}`);
    if (kind === Relocation.OFFSET) offsets[field >>> 2] = 1;
  }
  for (const host of chunk.hosts) {
    if (!Number.isInteger(host?.at) || host.at < 0 || host.at + HostRecord.KEY > bytes.length || host.at % 8 !== 0) corrupt(`a host record at ${String(host?.at)} is outside its chunk`);
    if (!Number.isInteger(host.tables) || host.tables < 1 || host.tables > 15 || !Array.isArray(host.lookups)) corrupt(`a host record at ${host.at} is malformed`);
    checkHost(bytes, host.at, offsets);
  }
}

/** Checks host record `at`'s conditions and the condition runs of all its entries (see checkChunkShape). */
function checkHost(bytes: Uint8Array, at: number, offsets: Uint8Array): void {
  const word = (offset: number): number => chunkWord(bytes, offset);
  const inside = (from: number, length: number): boolean => from + length <= bytes.length;
  const where = `host record at ${at}`;
  const count = word(at + HostRecord.COND_COUNT);
  if (count > Limit.HOST_CONDITIONS) corrupt(`${where}: HostRecord.COND_COUNT ${count} is past ${Limit.HOST_CONDITIONS}`);
  if (count > 0) {
    const records = word(at + HostRecord.CONDS);
    if (offsets[(at + HostRecord.CONDS) >>> 2] !== 1 || records % 4 !== 0 || !inside(records, count * HeaderPair.SIZE)) corrupt(`${where}: HostRecord.CONDS (${records}) does not hold its ${count} condition records`);
    for (let i = 0; i < count; i++) {
      const rec = records + i * HeaderPair.SIZE;
      for (const [off, len, name] of [[HeaderPair.NAME_OFF, HeaderPair.NAME_LEN, 'NAME'], [HeaderPair.VALUE_OFF, HeaderPair.VALUE_LEN, 'VALUE']] as const) {
        if (word(rec + len) !== 0 && (offsets[(rec + off) >>> 2] !== 1 || !inside(word(rec + off), word(rec + len)))) corrupt(`${where}: condition ${i}: HeaderPair.${name}_OFF/${name}_LEN lie outside its chunk`);
      }
      if (word(rec + HeaderPair.KIND) > CondKind.PATH_REGEX) corrupt(`${where}: condition ${i}: HeaderPair.KIND ${word(rec + HeaderPair.KIND)} is unknown`);
    }
  }
  // Groups and runs of one host never overlap: more entries or bits than the chunk can hold means a damaged chunk (and bounds the work).
  let entriesLeft = Math.floor(bytes.length / Entry.SIZE);
  let bitsLeft = bytes.length >>> 2;
  const entries = (first: number, n: number, what: string): void => {
    if (n > entriesLeft || !inside(first, n * Entry.SIZE)) corrupt(`${where}: ${what}: ${n} entries lie outside its chunk`);
    entriesLeft -= n;
    for (let k = 0; k < n; k++) {
      const e = first + k * Entry.SIZE;
      const runLength = word(e + Entry.COND_COUNT);
      if (runLength === 0) continue;
      const start = word(e + Entry.COND_START);
      if (runLength > bitsLeft || offsets[(e + Entry.COND_START) >>> 2] !== 1 || start % 4 !== 0 || !inside(start, runLength * 4)) corrupt(`${where}: ${what}: entry ${k}: Entry.COND_START (${start}, ${runLength} bits) lies outside its chunk`);
      bitsLeft -= runLength;
      for (let b = 0; b < runLength; b++) {
        const bit = word(start + b * 4);
        if (bit >= count) corrupt(`${where}: ${what}: entry ${k}: condition bit ${bit} (Entry.COND_START run) is not below its host's HostRecord.COND_COUNT ${count}`);
      }
    }
  };
  const keyLength = word(at + HostRecord.KEY_LEN);
  if (!inside(at + HostRecord.KEY, keyLength)) corrupt(`${where}: HostRecord.KEY_LEN ${keyLength} runs past its chunk`);
  entries(at + HostRecord.KEY + pad8(keyLength), word(at + HostRecord.ROOT_COUNT) + word(at + HostRecord.REGEX_COUNT), 'root and regex entries');
  const paths = word(at + HostRecord.PATHS);
  if (paths === 0) return;
  const slots = word(at + HostRecord.PATHS_MASK) + 1;
  if ((slots & (slots - 1)) !== 0 || slots > bytes.length / 8 || !inside(paths, slots * 8)) corrupt(`${where}: HostRecord.PATHS/PATHS_MASK lie outside its chunk`);
  for (let i = 0; i < slots; i++) {
    const group = word(paths + i * 8 + 4);
    if (group === 0) continue;
    const groupKey = word(group + Group.KEY_LEN);
    if (!inside(group, Group.KEY) || !inside(group + Group.KEY, groupKey)) corrupt(`${where}: path group at ${group} lies outside its chunk`);
    entries(group + Group.KEY + pad8(groupKey), word(group + Group.COUNT), `path group at ${group}`);
  }
}
