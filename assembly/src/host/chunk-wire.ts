/**
 * A table chunk as bytes, for shipping it (the control plane sends the chunks of changed hosts
 * to data planes): little-endian u32 fields, then the chunk's byte arrays, each padded to 4.
 *
 *   "PRTC" version | bytes length | host count | relocation count | routeCount | bytes | hosts | relocations
 *   hosts: at, hash, tables, lookup count, then per lookup its UTF-8 length and bytes
 *
 * (Version 2: a host's match conditions are in its bytes; version 1 carried them apart.)
 *
 * Decoding is strict: a truncated, padded or inconsistent chunk is refused (PORTICO_E_TABLE_INVALID),
 * and `verifyChunk` checks that what it holds stays inside it, so laying it out cannot go wrong.
 */
import { PorticoError } from './errors.ts';
import type { ChunkHost, TableChunk } from './chunk.ts';
import { checkChunkShape } from './chunk-check.ts';

/** "PRTC" little-endian, and the wire version. */
const MAGIC = 0x43545250;
const VERSION = 2;
/** Bounds on what one chunk may declare (a chunk is one host's blocks). */
const MAX_ITEMS = 1 << 22;

const pad4 = (n: number): number => (n + 3) & ~3;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function refused(problem: string): never {
  throw new PorticoError('PORTICO_E_TABLE_INVALID', `table chunk: ${problem}`);
}

/**
 * The wire bytes of `chunk`. With `into` long enough, they are written at its start (padding
 * zeroed: nothing of what `into` held shows) and a view of them is returned, which the next call
 * with the same `into` overwrites; else (or without `into`) a new array.
 */
export function chunkToBytes(chunk: TableChunk, into?: Uint8Array): Uint8Array {
  let size = 4 * 6 + pad4(chunk.bytes.length) + chunk.relocations.length * 4;
  for (const host of chunk.hosts) size += 16 + host.lookups.reduce((n, lookup) => n + 4 + pad4(Buffer.byteLength(lookup, 'utf8')), 0);
  const out = into !== undefined && into.length >= size ? into.subarray(0, size) : new Uint8Array(size);
  const view = new DataView(out.buffer, out.byteOffset, size);
  let at = 0;
  const u32 = (value: number): void => {
    view.setUint32(at, value >>> 0, true);
    at += 4;
  };
  const padTo4 = (length: number): void => {
    out.fill(0, at + length, at + pad4(length));
    at += pad4(length);
  };
  const bytes = (value: Uint8Array): void => {
    out.set(value, at);
    padTo4(value.length);
  };
  for (const value of [MAGIC, VERSION, chunk.bytes.length, chunk.hosts.length, chunk.relocations.length, chunk.routeCount]) u32(value);
  bytes(chunk.bytes);
  for (const host of chunk.hosts) {
    for (const value of [host.at, host.hash, host.tables, host.lookups.length]) u32(value);
    for (const lookup of host.lookups) {
      // Encoded in place: no array per lookup.
      const length = Buffer.byteLength(lookup, 'utf8');
      u32(length);
      encoder.encodeInto(lookup, out.subarray(at, at + length));
      padTo4(length);
    }
  }
  for (const value of chunk.relocations) u32(value);
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
  if (at !== data.length) refused(`${data.length - at} bytes past its end`);
  const chunk = { bytes: blocks, hosts, relocations, routeCount };
  checkChunkShape(chunk);
  return chunk;
}
