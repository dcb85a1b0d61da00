/**
 * Host-side mirror of the binary table layout (src/wasm/table.ts) and of the key hash
 * (src/wasm/hash.ts). test/layout.test.ts checks the constants against the AssemblyScript source;
 * the differential tests would catch a hash mismatch (nothing would ever match).
 */

/** Format identity: magic ("PRTM", little-endian) and version, bumped on any incompatible change. */
export const Format = { MAGIC: 0x4d545250, VERSION: 8 } as const;

/**
 * Header field offsets (u32 each); section offsets are relative to the table start. COND_HOSTS
 * lists the record offsets of the hosts with match conditions, ascending: the host side
 * compiles their conditions once per load without walking every host. HOSTS is the grid (grid.ts),
 * ROUTES the overflow area (the shared empty record, the catch-all's, the hosts no bucket holds).
 */
export const Header = {
  MAGIC: 0, VERSION: 4, LENGTH: 8, ROUTE_COUNT: 12, ENDPOINT_COUNT: 16, FALLBACK: 20, ANY_HOST: 24,
  EXACT_HOSTS: 28, EXACT_HOSTS_CAP: 32, WILD_HOSTS: 36, WILD_HOSTS_CAP: 40, HOSTS: 44, HOSTS_LEN: 48,
  COND_HOSTS: 52, COND_HOST_COUNT: 56, ROUTE_INDEX: 60, ROUTES: 64, ROUTES_LEN: 68, DEEP_HOSTS: 72, DEEP_HOSTS_CAP: 76,
  SET_INDEX: 80, SET_COUNT: 84, AREA: 88, AREA_LEN: 92, OVERFLOW: 96, OVERFLOW_LEN: 100, SIZE: 104,
} as const;

/** Hash slot: full key hash, then record offset (0 marks an empty slot). */
export const Slot = { HASH: 0, RECORD: 4, SIZE: 8 } as const;

/**
 * Host block: fixed fields, key bytes padded to 8 at KEY, root Prefix entries, RegularExpression
 * entries, then the host's own path hash table (at PATHS, capacity PATHS_MASK + 1), its path
 * groups and its match conditions: COND_COUNT condition records at CONDS (0 when none), the
 * entries' runs of condition bits, the conditions' strings. Bits are the host's own (below
 * COND_COUNT), so nothing in a host block depends on another host.
 */
export const HostRecord = {
  CONDS: 0, FALLBACK: 4, EXACT_DEPTHS: 8, PREFIX_DEPTHS: 12, ROOT_COUNT: 16, KEY_LEN: 20, PATHS: 24, PATHS_MASK: 28,
  COND_COUNT: 32, REGEX_COUNT: 36, KEY: 40,
} as const;

/** Path group record: fixed fields, key bytes padded to 8 at KEY, then the entries. */
export const Group = { KIND: 0, COUNT: 4, KEY_LEN: 8, KEY: 16 } as const;

/** Path key kinds; part of the key hash seed so Exact and Prefix keys never meet. */
export const Kind = { EXACT: 0, PREFIX: 1 } as const;

/** Path entry: route id and route record offset, method mask (0 = any), run of condition bits (COND_START: its offset; 0 when COND_COUNT is 0). */
export const Entry = { ROUTE: 0, RECORD: 4, METHODS: 8, COND_START: 12, COND_COUNT: 16, SIZE: 20 } as const;

/** Match condition of a host: name and value (offsets of their UTF-8 bytes in the host's block), kind (CondKind); its index among the host's is its bit in the request bitset. */
export const HeaderPair = { NAME_OFF: 0, NAME_LEN: 4, VALUE_OFF: 8, VALUE_LEN: 12, KIND: 16, SIZE: 20 } as const;

/** Bounds of the format: most distinct match conditions one host may have (the request bitset holds that many bits). */
export const Limit = { HOST_CONDITIONS: 65536 } as const;

/** Condition kinds (host side only: wasm just reads the bits the host side sets). */
export const CondKind = { HEADER_EXACT: 0, HEADER_REGEX: 1, QUERY_EXACT: 2, QUERY_REGEX: 3, PATH_REGEX: 4 } as const;

/** Route record: backend count, then backends from BACKENDS. */
export const RouteRecord = { BACKEND_COUNT: 0, BACKENDS: 8 } as const;

/** Backend inside a route record: WRR state (i64, zero when encoded), weight, endpoint set id. */
export const BackendRecord = { CURRENT: 0, WEIGHT: 8, SET: 12, SIZE: 16 } as const;

/**
 * Endpoint set record in the endpoint area (found through the set index): endpoint count, then
 * the slots from SLOTS. The area is buckets (AREA, AREA_LEN), then the overflow tail (OVERFLOW,
 * OVERFLOW_LEN); where a set's record lies is the host side's choice (area.ts, AreaGeometry): wasm
 * only checks that the records lie inside one of the two and never overlap.
 */
export const SetRecord = { COUNT: 0, SLOTS: 4 } as const;

/**
 * The endpoint area's geometry (host side only: wasm reads records through the set index). Set id
 * i's record lies in bucket i >> BUCKET_SHIFT (BUCKET_BYTES each, aligned to their size, so one
 * never straddles two 64 KiB table blocks), packed in id order; a record over SET_MAX bytes, one
 * that does not fit and its bucket's later sets lie in the overflow tail, by id, each in an extent
 * of a size class (CLASS_STEPS per doubling: 12.5 % steps). 64 sets in 4 KiB: 64 B a set, room for
 * about 7 endpoints each before a bucket overflows (a 3-endpoint set takes 28 B).
 */
export const EndpointArea = { BUCKET_BYTES: 4096, BUCKET_SHIFT: 6, SET_MAX: 2048, CLASS_STEPS: 8 } as const;

/** Endpoint slot inside a set record: WRR state (i32, zero when encoded) and endpoint id. */
export const Endpoint = { CURRENT: 0, ID: 4, SIZE: 8 } as const;

/** Hash seed of host keys. */
export const HOST_SEED = 0;

/**
 * Hash seed of path keys of kind `kind` (Kind.EXACT or Kind.PREFIX). Every host has its own path
 * table, so the seed need not name the host: a host block's bytes do not depend on its position,
 * which is what lets a table be assembled from per-host chunks (chunk.ts).
 */
export function pathSeed(kind: number): number {
  return (0x9e3779b1 + kind) >>> 0;
}

function scramble(k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, 0x1b873593);
}

/** MurmurHash3 x86_32 of `bytes`, as an unsigned 32-bit value. */
export function murmur(bytes: Uint8Array, seed: number): number {
  let h = seed | 0;
  const len = bytes.length;
  const whole = len & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    h ^= scramble((bytes[i] ?? 0) | ((bytes[i + 1] ?? 0) << 8) | ((bytes[i + 2] ?? 0) << 16) | ((bytes[i + 3] ?? 0) << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (len & 3) {
    let k = 0;
    for (let j = len - 1; j >= i; j--) k = (k << 8) | (bytes[j] ?? 0);
    h ^= scramble(k);
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();

/** UTF-8 bytes of `s` (the form request strings take in wasm memory). */
export function utf8(s: string): Uint8Array {
  return encoder.encode(s);
}
