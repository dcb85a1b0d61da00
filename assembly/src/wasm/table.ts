// Binary routing table, version 1: byte offsets and record sizes.
// src/host/layout.ts mirrors every `export const` here; test/layout.test.ts keeps the two equal,
// so a change in one place that misses the other fails the build's tests, not production.
// All fields are little-endian u32 (i32 where -1 means "none"); section offsets are relative to
// the table start, string offsets relative to the pool start.

@inline export const MAGIC: u32 = 0x4d545250; // "PRTM"
@inline export const VERSION: u32 = 1;

// Header.
@inline export const H_MAGIC: u32 = 0;
@inline export const H_VERSION: u32 = 4;
@inline export const H_LENGTH: u32 = 8;
@inline export const H_ROUTE_COUNT: u32 = 12;
@inline export const H_ENDPOINT_COUNT: u32 = 16;
@inline export const H_FALLBACK: u32 = 20;
@inline export const H_ANY_HOST: u32 = 24;
@inline export const H_HOSTS: u32 = 28;
@inline export const H_HOST_COUNT: u32 = 32;
@inline export const H_EXACT_HOSTS: u32 = 36;
@inline export const H_EXACT_HOSTS_CAP: u32 = 40;
@inline export const H_WILD_HOSTS: u32 = 44;
@inline export const H_WILD_HOSTS_CAP: u32 = 48;
@inline export const H_GROUPS: u32 = 52;
@inline export const H_GROUP_COUNT: u32 = 56;
@inline export const H_PATHS: u32 = 60;
@inline export const H_PATHS_CAP: u32 = 64;
@inline export const H_ENTRIES: u32 = 68;
@inline export const H_ENTRY_COUNT: u32 = 72;
@inline export const H_CONDS: u32 = 76;
@inline export const H_COND_COUNT: u32 = 80;
@inline export const H_HEADERS: u32 = 84;
@inline export const H_HEADER_COUNT: u32 = 88;
@inline export const H_ROUTES: u32 = 92;
@inline export const H_BACKENDS: u32 = 96;
@inline export const H_BACKEND_COUNT: u32 = 100;
@inline export const H_SLOTS: u32 = 104;
@inline export const H_SLOT_COUNT: u32 = 108;
@inline export const H_POOL: u32 = 112;
@inline export const H_POOL_LEN: u32 = 116;
@inline export const HEADER_SIZE: u32 = 120;

// Host record: the lookup key (name, or the suffix after `*.`), the host fallback, the root
// Prefix group (`/`, kept out of the hash so every request can reach it without a probe) and two
// masks of which path depths (count of '/') have Exact / Prefix keys, so absent depths cost nothing.
@inline export const HOST_KEY_OFF: u32 = 0;
@inline export const HOST_KEY_LEN: u32 = 4;
@inline export const HOST_FALLBACK: u32 = 8;
@inline export const HOST_ROOT_START: u32 = 12;
@inline export const HOST_ROOT_COUNT: u32 = 16;
@inline export const HOST_EXACT_DEPTHS: u32 = 20;
@inline export const HOST_PREFIX_DEPTHS: u32 = 24;
@inline export const HOST_SIZE: u32 = 32;

// Hash slot (host tables and the path table): full hash, then index + 1 (0 = empty).
@inline export const SLOT_HASH: u32 = 0;
@inline export const SLOT_INDEX: u32 = 4;
@inline export const SLOT_SIZE: u32 = 8;

// Path group: one (host, kind, key) with its entries, in table order.
@inline export const GROUP_HOST: u32 = 0;
@inline export const GROUP_KIND: u32 = 4;
@inline export const GROUP_KEY_OFF: u32 = 8;
@inline export const GROUP_KEY_LEN: u32 = 12;
@inline export const GROUP_START: u32 = 16;
@inline export const GROUP_COUNT: u32 = 20;
@inline export const GROUP_SIZE: u32 = 24;
@inline export const KIND_EXACT: u32 = 0;
@inline export const KIND_PREFIX: u32 = 1;

// Path entry: route, method mask (0 = any), and a run of header-condition indexes in the conds list.
@inline export const ENTRY_ROUTE: u32 = 0;
@inline export const ENTRY_METHODS: u32 = 4;
@inline export const ENTRY_COND_START: u32 = 8;
@inline export const ENTRY_COND_COUNT: u32 = 12;
@inline export const ENTRY_SIZE: u32 = 16;

// Header condition (name, value); its index is its bit in the per-request bitset the host fills.
@inline export const HEADER_NAME_OFF: u32 = 0;
@inline export const HEADER_NAME_LEN: u32 = 4;
@inline export const HEADER_VALUE_OFF: u32 = 8;
@inline export const HEADER_VALUE_LEN: u32 = 12;
@inline export const HEADER_PAIR_SIZE: u32 = 16;

// Route: a run of backends. Backend: weight and a run of endpoint slots (u32 endpoint ids).
@inline export const ROUTE_BACKEND_START: u32 = 0;
@inline export const ROUTE_BACKEND_COUNT: u32 = 4;
@inline export const ROUTE_SIZE: u32 = 8;
@inline export const BACKEND_WEIGHT: u32 = 0;
@inline export const BACKEND_SLOT_START: u32 = 4;
@inline export const BACKEND_SLOT_COUNT: u32 = 8;
@inline export const BACKEND_SIZE: u32 = 12;
@inline export const ENDPOINT_SLOT_SIZE: u32 = 4;

/** Where the loaded table's sections start in linear memory; set once by `init`. */
export let tableBase: usize = 0;
export let routeCount: u32 = 0;
export let endpointCount: u32 = 0;
export let tableFallback: i32 = -1;
export let anyHost: i32 = -1;
export let hostsBase: usize = 0;
export let hostCount: u32 = 0;
export let exactHostsBase: usize = 0;
export let exactHostsMask: u32 = 0;
export let wildHostsBase: usize = 0;
export let wildHostsMask: u32 = 0;
export let groupsBase: usize = 0;
export let pathsBase: usize = 0;
export let pathsMask: u32 = 0;
export let entriesBase: usize = 0;
export let condsBase: usize = 0;
export let headersBase: usize = 0;
export let headerCount: u32 = 0;
export let routesBase: usize = 0;
export let backendsBase: usize = 0;
export let backendCount: u32 = 0;
export let slotsBase: usize = 0;
export let slotCount: u32 = 0;
export let poolBase: usize = 0;

/** Reads a header field of the table at `base`. */
@inline export function header(base: usize, field: u32): u32 {
  return load<u32>(base + <usize>field);
}

/** True when a section of `count` records of `size` bytes at `off` lies inside a table of `len` bytes. */
function sectionFits(off: u32, count: u32, size: u32, len: u32): bool {
  let end = <u64>off + <u64>count * <u64>size;
  return off >= HEADER_SIZE && end <= <u64>len;
}

/** True when `cap` is a usable hash capacity (a power of two). */
function isCapacity(cap: u32): bool {
  return cap != 0 && (cap & (cap - 1)) == 0;
}

/**
 * Checks the header of the table at `base` and points the section globals at it.
 * Returns 0, or a negative code: -1 magic, -2 version, -3 length, -4 a section out of bounds.
 * Record contents are not checked one by one: bytes come from encodeTable, and a bad offset can
 * only read wrong data or trap inside the sandbox.
 */
export function bindTable(base: usize, len: u32): i32 {
  if (len < HEADER_SIZE) return -3;
  if (header(base, H_MAGIC) != MAGIC) return -1;
  if (header(base, H_VERSION) != VERSION) return -2;
  if (header(base, H_LENGTH) != len) return -3;
  let exactCap = header(base, H_EXACT_HOSTS_CAP);
  let wildCap = header(base, H_WILD_HOSTS_CAP);
  let pathCap = header(base, H_PATHS_CAP);
  if (!isCapacity(exactCap) || !isCapacity(wildCap) || !isCapacity(pathCap)) return -4;
  if (
    !sectionFits(header(base, H_HOSTS), header(base, H_HOST_COUNT), HOST_SIZE, len) ||
    !sectionFits(header(base, H_EXACT_HOSTS), exactCap, SLOT_SIZE, len) ||
    !sectionFits(header(base, H_WILD_HOSTS), wildCap, SLOT_SIZE, len) ||
    !sectionFits(header(base, H_GROUPS), header(base, H_GROUP_COUNT), GROUP_SIZE, len) ||
    !sectionFits(header(base, H_PATHS), pathCap, SLOT_SIZE, len) ||
    !sectionFits(header(base, H_ENTRIES), header(base, H_ENTRY_COUNT), ENTRY_SIZE, len) ||
    !sectionFits(header(base, H_CONDS), header(base, H_COND_COUNT), 4, len) ||
    !sectionFits(header(base, H_HEADERS), header(base, H_HEADER_COUNT), HEADER_PAIR_SIZE, len) ||
    !sectionFits(header(base, H_ROUTES), header(base, H_ROUTE_COUNT), ROUTE_SIZE, len) ||
    !sectionFits(header(base, H_BACKENDS), header(base, H_BACKEND_COUNT), BACKEND_SIZE, len) ||
    !sectionFits(header(base, H_SLOTS), header(base, H_SLOT_COUNT), ENDPOINT_SLOT_SIZE, len) ||
    !sectionFits(header(base, H_POOL), header(base, H_POOL_LEN), 1, len)
  ) return -4;
  let fallback = <i32>header(base, H_FALLBACK);
  let any = <i32>header(base, H_ANY_HOST);
  let routes = header(base, H_ROUTE_COUNT);
  let hosts = header(base, H_HOST_COUNT);
  if (fallback < -1 || fallback >= <i32>routes || any < -1 || any >= <i32>hosts) return -4;

  tableBase = base;
  routeCount = routes;
  endpointCount = header(base, H_ENDPOINT_COUNT);
  tableFallback = fallback;
  anyHost = any;
  hostsBase = base + <usize>header(base, H_HOSTS);
  hostCount = hosts;
  exactHostsBase = base + <usize>header(base, H_EXACT_HOSTS);
  exactHostsMask = exactCap - 1;
  wildHostsBase = base + <usize>header(base, H_WILD_HOSTS);
  wildHostsMask = wildCap - 1;
  groupsBase = base + <usize>header(base, H_GROUPS);
  pathsBase = base + <usize>header(base, H_PATHS);
  pathsMask = pathCap - 1;
  entriesBase = base + <usize>header(base, H_ENTRIES);
  condsBase = base + <usize>header(base, H_CONDS);
  headersBase = base + <usize>header(base, H_HEADERS);
  headerCount = header(base, H_HEADER_COUNT);
  routesBase = base + <usize>header(base, H_ROUTES);
  backendsBase = base + <usize>header(base, H_BACKENDS);
  backendCount = header(base, H_BACKEND_COUNT);
  slotsBase = base + <usize>header(base, H_SLOTS);
  slotCount = header(base, H_SLOT_COUNT);
  poolBase = base + <usize>header(base, H_POOL);
  return 0;
}
