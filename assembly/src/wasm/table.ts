// Binary routing table, version 8: byte offsets and record sizes.
// src/host/layout.ts mirrors every `export const` here; test/layout.test.ts keeps the two equal.
// All fields are little-endian u32 (i32 where -1 means "none"). Section and record offsets are
// relative to the table start (0 therefore means "none": the header sits there), string offsets
// in condition records too. Records are variable-length and 8-byte aligned, and hold their key
// and entries inline so one lookup touches as few cache lines as possible.

@inline export const MAGIC: u32 = 0x4d545250; // "PRTM"
@inline export const VERSION: u32 = 8;

// Header.
@inline export const H_MAGIC: u32 = 0;
@inline export const H_VERSION: u32 = 4;
@inline export const H_LENGTH: u32 = 8;
@inline export const H_ROUTE_COUNT: u32 = 12;
@inline export const H_ENDPOINT_COUNT: u32 = 16;
@inline export const H_FALLBACK: u32 = 20;
@inline export const H_ANY_HOST: u32 = 24;
@inline export const H_EXACT_HOSTS: u32 = 28;
@inline export const H_EXACT_HOSTS_CAP: u32 = 32;
@inline export const H_WILD_HOSTS: u32 = 36;
@inline export const H_WILD_HOSTS_CAP: u32 = 40;
// The grid (src/host/grid.ts): B buckets of S bytes, each holding whole hosts and their route records;
// hosts that fit no bucket, with theirs, are in the overflow area (H_ROUTES, after the route index).
@inline export const H_HOSTS: u32 = 44;
@inline export const H_HOSTS_LEN: u32 = 48;
// The record offsets (u32 each, in host order) of the hosts with match conditions: the host side
// reads their conditions at load without walking every host.
@inline export const H_COND_HOSTS: u32 = 52;
@inline export const H_COND_HOST_COUNT: u32 = 56;
// The route index: a record offset per route id. Ids are sparse (bucket b's are b·R + k, the
// catch-all's B·R, the overflow hosts' after it); an id no route has points to the shared empty
// record at the start of the overflow area (H_ROUTES).
@inline export const H_ROUTE_INDEX: u32 = 60;
@inline export const H_ROUTES: u32 = 64;
@inline export const H_ROUTES_LEN: u32 = 68;
// Multi-label wildcard hosts (Gateway API `*.x` = one or more labels), probed by suffix after the
// one-label table missed; 0 when the table has none.
@inline export const H_DEEP_HOSTS: u32 = 72;
@inline export const H_DEEP_HOSTS_CAP: u32 = 76;
// Endpoint sets: the set index (one u32 record offset per set id) and the endpoint area it points
// into, the table's last sections: the area's buckets (AREA, AREA_LEN: a set that grows or shrinks
// rewrites its bucket alone), then its overflow tail (OVERFLOW, OVERFLOW_LEN: sets too large for
// their bucket, each in an extent of a size class). Which set lies where is the encoder's choice.
@inline export const H_SET_INDEX: u32 = 80;
@inline export const H_SET_COUNT: u32 = 84;
@inline export const H_AREA: u32 = 88;
@inline export const H_AREA_LEN: u32 = 92;
@inline export const H_OVERFLOW: u32 = 96;
@inline export const H_OVERFLOW_LEN: u32 = 100;
@inline export const H_SIZE: u32 = 104;

// Hash slot (host tables and each host's path table): full key hash, then record offset (0 = empty).
@inline export const SLOT_HASH: u32 = 0;
@inline export const SLOT_RECORD: u32 = 4;
@inline export const SLOT_SIZE: u32 = 8;

// Host block: everything one host's lookups touch, contiguous (a few cache lines, one page in
// the common case): fixed fields, the key (name, or the suffix after `*.`) padded to 8, the root
// Prefix entries (rule `/`, kept out of the hash), the host's own path hash table and its path
// groups, then its match conditions. The depth masks say which path depths (count of '/') have
// Exact / Prefix keys, so absent depths cost no probe. A host with match conditions has
// COND_COUNT condition records at CONDS and its own bits 0..COND_COUNT-1 (the host side fills
// them once the host is known), so a host's block depends on no other host; its
// RegularExpression path entries (REGEX_COUNT) follow the root entries and are tried after
// Exact, before Prefix.
@inline export const HOST_CONDS: u32 = 0;
@inline export const HOST_FALLBACK: u32 = 4;
@inline export const HOST_EXACT_DEPTHS: u32 = 8;
@inline export const HOST_PREFIX_DEPTHS: u32 = 12;
@inline export const HOST_ROOT_COUNT: u32 = 16;
@inline export const HOST_KEY_LEN: u32 = 20;
@inline export const HOST_PATHS: u32 = 24;
@inline export const HOST_PATHS_MASK: u32 = 28;
@inline export const HOST_COND_COUNT: u32 = 32;
@inline export const HOST_REGEX_COUNT: u32 = 36;
@inline export const HOST_KEY: u32 = 40;

// Path group: one (kind, key) of a host with its entries in table order; key padded to 8, then entries.
@inline export const GROUP_KIND: u32 = 0;
@inline export const GROUP_COUNT: u32 = 4;
@inline export const GROUP_KEY_LEN: u32 = 8;
@inline export const GROUP_KEY: u32 = 16;
@inline export const KIND_EXACT: u32 = 0;
@inline export const KIND_PREFIX: u32 = 1;

// Path entry: route id and its record's offset (so pick() after match() skips the route index),
// method mask (0 = any), and the offset of its run of COND_COUNT condition bits (u32 each, in its
// host's block; 0 when it has none).
@inline export const ENTRY_ROUTE: u32 = 0;
@inline export const ENTRY_RECORD: u32 = 4;
@inline export const ENTRY_METHODS: u32 = 8;
@inline export const ENTRY_COND_START: u32 = 12;
@inline export const ENTRY_COND_COUNT: u32 = 16;
@inline export const ENTRY_SIZE: u32 = 20;

// Match condition of a host (kind, name and value as offsets of UTF-8 bytes in the host's block);
// its index among the host's is its bit in the request bitset. Kinds: header Exact /
// RegularExpression, query Exact / RegularExpression, path RegularExpression. wasm never judges
// them: the host side evaluates them per request.
@inline export const PAIR_NAME_OFF: u32 = 0;
@inline export const PAIR_NAME_LEN: u32 = 4;
@inline export const PAIR_VALUE_OFF: u32 = 8;
@inline export const PAIR_VALUE_LEN: u32 = 12;
@inline export const PAIR_KIND: u32 = 16;
@inline export const PAIR_SIZE: u32 = 20;
// Most match conditions one host may have: the request bitset holds this many bits.
@inline export const LIMIT_HOST_CONDITIONS: u32 = 65536;

// Route record (found through the route index, one u32 offset per route id): its backends, each
// its WRR state, weight and endpoint set id. The set's record (through the set index) holds the
// endpoint slots. CURRENT fields are the smooth-WRR state: zero in the encoded table, updated in
// place by pick(): a backend's per route, an endpoint's per set (every route on one Service port
// shares its endpoint rotation, as ingress-nginx shares one balancer per upstream). Backend
// currents are i64 (weights go up to 2^31-1); endpoint currents are i32, as every endpoint weighs
// 1 and a current never exceeds the slot count in magnitude. A route record's size depends on its
// backend count alone: endpoints added or taken away never move a route record. A host's route
// records follow its block in its grid bucket (format 7; before, they had a section of their own).
@inline export const ROUTE_BACKEND_COUNT: u32 = 0;
@inline export const ROUTE_BACKENDS: u32 = 8;
@inline export const BACKEND_CURRENT: u32 = 0;
@inline export const BACKEND_WEIGHT: u32 = 8;
@inline export const BACKEND_SET: u32 = 12;
@inline export const BACKEND_SIZE: u32 = 16;
// Endpoint set record: endpoint count, then the slots. Records are packed in set id order.
@inline export const SET_COUNT: u32 = 0;
@inline export const SET_SLOTS: u32 = 4;
@inline export const ENDPOINT_CURRENT: u32 = 0;
@inline export const ENDPOINT_ID: u32 = 4;
@inline export const ENDPOINT_SIZE: u32 = 8;

/** Where the loaded table and its sections sit in linear memory; set once by `bindTable`. */
export let tableBase: usize = 0;
export let routeCount: u32 = 0;
export let endpointCount: u32 = 0;
export let tableFallback: i32 = -1;
export let anyHost: usize = 0;
export let exactHostsBase: usize = 0;
export let exactHostsMask: u32 = 0;
export let wildHostsBase: usize = 0;
export let wildHostsMask: u32 = 0;
export let deepHostsBase: usize = 0;
export let deepHostsMask: u32 = 0;
export let condHostsBase: usize = 0;
export let condHostCount: u32 = 0;
export let routeIndexBase: usize = 0;
export let setIndexBase: usize = 0;
export let setCount: u32 = 0;
/** Set id whose record bindTable refused (-6..-8), for the host's message. */
export let refusedSet: u32 = 0;

/** Reads a header field of the table at `base`. */
@inline export function header(base: usize, field: u32): u32 {
  return load<u32>(base + <usize>field);
}

/** `n` rounded up to the 8-byte record alignment. */
@inline export function pad8(n: u32): u32 {
  return (n + 7) & ~7;
}

/** True when a section of `count` items of `size` bytes at `off` lies inside a table of `len` bytes. */
function sectionFits(off: u32, count: u32, size: u32, len: u32): bool {
  let end = <u64>off + <u64>count * <u64>size;
  return off >= H_SIZE && (off & 7) == 0 && end <= <u64>len;
}

/** True when `cap` is a usable hash capacity (a power of two). */
function isCapacity(cap: u32): bool {
  return cap != 0 && (cap & (cap - 1)) == 0;
}

/**
 * Checks the header of the table at `base` and points the section globals at it.
 * Returns 0, or a negative code: -1 magic, -2 version, -3 length, -4 a section out of bounds,
 * -6..-8 an endpoint set record (checkSets; refusedSet names it). Host and route records are not
 * checked one by one: bytes come from encodeTable, and a bad offset can only read wrong data or
 * trap inside the sandbox (a backend's set id out of range reads as an empty set, wrr.ts). The
 * endpoint area is checked whole, as the health area is cleared whole: O(endpoints) per load.
 */
export function bindTable(base: usize, len: u32): i32 {
  if (len < H_SIZE) return -3;
  if (header(base, H_MAGIC) != MAGIC) return -1;
  if (header(base, H_VERSION) != VERSION) return -2;
  if (header(base, H_LENGTH) != len) return -3;
  let exactCap = header(base, H_EXACT_HOSTS_CAP);
  let wildCap = header(base, H_WILD_HOSTS_CAP);
  let deepAt = header(base, H_DEEP_HOSTS);
  let deepCap = header(base, H_DEEP_HOSTS_CAP);
  if (!isCapacity(exactCap) || !isCapacity(wildCap) || (deepAt != 0 && !isCapacity(deepCap))) return -4;
  let routes = header(base, H_ROUTE_COUNT);
  if (
    !sectionFits(header(base, H_EXACT_HOSTS), exactCap, SLOT_SIZE, len) ||
    !sectionFits(header(base, H_WILD_HOSTS), wildCap, SLOT_SIZE, len) ||
    (deepAt != 0 && !sectionFits(deepAt, deepCap, SLOT_SIZE, len)) ||
    !sectionFits(header(base, H_HOSTS), header(base, H_HOSTS_LEN), 1, len) ||
    !sectionFits(header(base, H_COND_HOSTS), header(base, H_COND_HOST_COUNT), 4, len) ||
    !sectionFits(header(base, H_ROUTE_INDEX), routes, 4, len) ||
    !sectionFits(header(base, H_ROUTES), header(base, H_ROUTES_LEN), 1, len) ||
    !sectionFits(header(base, H_SET_INDEX), header(base, H_SET_COUNT), 4, len) ||
    !sectionFits(header(base, H_AREA), header(base, H_AREA_LEN), 1, len) ||
    !sectionFits(header(base, H_OVERFLOW), header(base, H_OVERFLOW_LEN), 1, len) ||
    <u64>header(base, H_AREA) + <u64>header(base, H_AREA_LEN) > <u64>header(base, H_OVERFLOW)
  ) return -4;
  let sets = checkSets(base, header(base, H_SET_INDEX), header(base, H_SET_COUNT), header(base, H_AREA), header(base, H_AREA_LEN), header(base, H_OVERFLOW), header(base, H_OVERFLOW_LEN), header(base, H_ENDPOINT_COUNT));
  if (sets != 0) return sets;
  let fallback = <i32>header(base, H_FALLBACK);
  let any = header(base, H_ANY_HOST);
  if (fallback < -1 || fallback >= <i32>routes || any >= len) return -4;

  tableBase = base;
  routeCount = routes;
  endpointCount = header(base, H_ENDPOINT_COUNT);
  tableFallback = fallback;
  anyHost = any == 0 ? 0 : base + <usize>any;
  exactHostsBase = base + <usize>header(base, H_EXACT_HOSTS);
  exactHostsMask = exactCap - 1;
  wildHostsBase = base + <usize>header(base, H_WILD_HOSTS);
  wildHostsMask = wildCap - 1;
  deepHostsBase = deepAt == 0 ? 0 : base + <usize>deepAt;
  deepHostsMask = deepAt == 0 ? 0 : deepCap - 1;
  condHostsBase = base + <usize>header(base, H_COND_HOSTS);
  condHostCount = header(base, H_COND_HOST_COUNT);
  routeIndexBase = base + <usize>header(base, H_ROUTE_INDEX);
  setIndexBase = base + <usize>header(base, H_SET_INDEX);
  setCount = header(base, H_SET_COUNT);
  return 0;
}

/**
 * Checks the endpoint sets of the table at `base`: set `i`'s index entry points into the buckets
 * ([area, area + areaLen)) or into the overflow tail ([overflow, overflow + overflowLen)), at or
 * past where the previous record in the same region ends (records lie in set id order in each, so
 * none overlaps another: -6); its slots end inside that region (-7); each slot's endpoint id is
 * below `endpoints` (-8). Returns 0, or the code with refusedSet naming the set.
 */
function checkSets(base: usize, index: u32, count: u32, area: u32, areaLen: u32, overflow: u32, overflowLen: u32, endpoints: u32): i32 {
  let areaEnd = <u64>area + <u64>areaLen;
  let overflowEnd = <u64>overflow + <u64>overflowLen;
  // Where the last record placed in the buckets and in the overflow tail ends.
  let inBuckets = <u64>area;
  let inOverflow = <u64>overflow;
  for (let i: u32 = 0; i < count; i++) {
    refusedSet = i;
    let at = <u64>load<u32>(base + <usize>index + (<usize>i << 2));
    let bucketed = at < areaEnd;
    let from = bucketed ? inBuckets : inOverflow;
    let end = bucketed ? areaEnd : overflowEnd;
    if (at < from || at >= end || (at & 3) != 0) return -6;
    if (at + <u64>SET_SLOTS > end) return -7;
    let slots = <u64>load<u32>(base + <usize>at);
    let next = at + <u64>SET_SLOTS + slots * <u64>ENDPOINT_SIZE;
    if (next > end) return -7;
    for (let slot = at + <u64>SET_SLOTS; slot < next; slot += <u64>ENDPOINT_SIZE) {
      if (load<u32>(base + <usize>slot + ENDPOINT_ID) >= endpoints) return -8;
    }
    if (bucketed) inBuckets = next;
    else inOverflow = next;
  }
  return 0;
}
