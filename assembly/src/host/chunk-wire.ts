/**
 * A table chunk as bytes, for shipping it (the control plane sends the chunks of changed hosts
 * to data planes): little-endian u32 fields, then the chunk's byte arrays, each padded to 4.
 *
 *   "PRTC" version | bytes length | hosts | relocations | conds | conditions | routeCount
 *   hosts: at, hash, tables, lookup count, then per lookup its UTF-8 length and bytes
 *   conditions: kind, host, name length, value length, name bytes, value bytes
 *
 * Decoding is strict: a truncated, padded or inconsistent chunk is refused (PORTICO_E_TABLE_INVALID),
 * and `verifyChunk` checks that what it holds stays inside it, so laying it out cannot go wrong.
 */
import { PorticoError } from './errors.ts';
import type { ChunkHost, TableChunk } from './chunk.ts';
import { checkChunkShape } from './chunk.ts';

/** "PRTC" little-endian, and the wire version. */
const MAGIC = 0x43545250;
const VERSION = 1;
/** Bounds on what one chunk may declare (a chunk is one host's blocks). */
const MAX_ITEMS = 1 << 22;

const pad4 = (n: number): number => (n + 3) & ~3;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function refused(problem: string): never {
  throw new PorticoError('PORTICO_E_TABLE_INVALID', `table chunk: ${problem}`);
}

/** The wire bytes of `chunk`. */
export function chunkToBytes(chunk: TableChunk): Uint8Array {
  const lookups = chunk.hosts.map((host) => host.lookups.map((lookup) => encoder.encode(lookup)));
  let size = 4 * 8 + pad4(chunk.bytes.length) + chunk.relocations.length * 4 + chunk.conds.length * 4;
  for (const list of lookups) size += 16 + list.reduce((n, bytes) => n + 4 + pad4(bytes.length), 0);
  for (const cond of chunk.conditions) size += 16 + pad4(cond.name.length) + pad4(cond.value.length);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (value: number): void => {
    view.setUint32(at, value >>> 0, true);
    at += 4;
  };
  const bytes = (value: Uint8Array): void => {
    out.set(value, at);
    at += pad4(value.length);
  };
  for (const value of [MAGIC, VERSION, chunk.bytes.length, chunk.hosts.length, chunk.relocations.length, chunk.conds.length, chunk.conditions.length, chunk.routeCount]) u32(value);
  bytes(chunk.bytes);
  chunk.hosts.forEach((host, i) => {
    for (const value of [host.at, host.hash, host.tables, lookups[i]!.length]) u32(value);
    for (const lookup of lookups[i]!) {
      u32(lookup.length);
      bytes(lookup);
    }
  });
  for (const value of chunk.relocations) u32(value);
  for (const value of chunk.conds) u32(value);
  for (const cond of chunk.conditions) {
    for (const value of [cond.kind, cond.host, cond.name.length, cond.value.length]) u32(value);
    bytes(cond.name);
    bytes(cond.value);
  }
  return out;
}

/**
 * The chunk in wire bytes `data`. Throws PORTICO_E_TABLE_INVALID when they are not exactly one
 * well-formed chunk whose contents stay inside it (see verifyChunk).
 */
export function chunkFromBytes(data: Uint8Array): TableChunk {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  const u32 = (): number => {
    if (at + 4 > data.length) refused(`truncated at byte ${at} of ${data.length}`);
    const value = view.getUint32(at, true);
    at += 4;
    return value;
  };
  const count = (what: string): number => {
    const value = u32();
    if (value > MAX_ITEMS) refused(`${what} count ${value} is past ${MAX_ITEMS}`);
    return value;
  };
  const bytes = (length: number): Uint8Array => {
    if (at + length > data.length) refused(`truncated at byte ${at} of ${data.length}`);
    const value = data.slice(at, at + length);
    at += pad4(length);
    return value;
  };
  const words = (length: number): Uint32Array => {
    const value = new Uint32Array(length);
    for (let i = 0; i < length; i++) value[i] = u32();
    return value;
  };
  if (u32() !== MAGIC) refused('not a table chunk (magic)');
  const version = u32();
  if (version !== VERSION) refused(`wire version ${version} is not ${VERSION}`);
  const byteLength = count('byte');
  const hostCount = count('host');
  const relocationCount = count('relocation');
  const condCount = count('condition run');
  const conditionCount = count('condition');
  const routeCount = count('route');
  const blocks = bytes(byteLength);
  const hosts: ChunkHost[] = [];
  for (let h = 0; h < hostCount; h++) {
    const [hostAt, hash, tables] = [u32(), u32(), u32()];
    const lookups: string[] = [];
    for (let n = count('lookup'); n > 0; n--) {
      try {
        lookups.push(decoder.decode(bytes(count('lookup byte'))));
      } catch (error) {
        if (error instanceof PorticoError) throw error;
        refused('a host lookup is not UTF-8');
      }
    }
    hosts.push({ at: hostAt, hash, tables, lookups });
  }
  const relocations = words(relocationCount);
  const conds = words(condCount);
  const conditions = [];
  for (let c = 0; c < conditionCount; c++) {
    const [kind, host, nameLength, valueLength] = [u32(), u32(), count('name byte'), count('value byte')];
    conditions.push({ kind, host, name: bytes(nameLength), value: bytes(valueLength) });
  }
  if (at !== data.length) refused(`${data.length - at} bytes past its end`);
  const chunk = { bytes: blocks, hosts, relocations, conds, conditions, routeCount };
  checkChunkShape(chunk);
  return chunk;
}
