// The matcher module's exports. Memory layout, from low to high: static data, the table (copied
// in by the host at tableAddress()), WRR/health state, the header-condition bitset, then the
// request scratch, which runs to the end of memory so the host can grow it for long requests.
// Only numbers cross the boundary; nothing here allocates.
import { findHost } from './host';
import { findRoute } from './path';
import { bindHeaderBits } from './conditions';
import { bindState, healthy, lastBackend as lastBackendIndex, pickEndpoint, setHealth, stateSize } from './wrr';
import {
  HEADER_NAME_LEN, HEADER_NAME_OFF, HEADER_PAIR_SIZE, HEADER_VALUE_LEN, HEADER_VALUE_OFF, HOST_FALLBACK, HOST_SIZE,
  bindTable, endpointCount as endpoints, headerCount, headersBase, hostsBase, poolBase, routeCount as routes, tableFallback,
} from './table';

@inline const PAGE: usize = 65536;
@inline const MIN_SCRATCH: usize = 65536;

let scratchBase: usize = 0;
let loaded = false;

@inline function align(at: usize, to: usize): usize {
  return (at + to - 1) & ~(to - 1);
}

/** Address where the host must copy the table bytes before calling init. */
export function tableAddress(): usize {
  return align(__heap_base, 16);
}

/**
 * Binds the `len`-byte table at tableAddress(), lays out state and scratch after it and grows
 * memory to hold them. Returns 0, or a negative code: -1..-4 from the header check (magic,
 * version, length, section bounds), -5 memory could not grow, -6 already initialized.
 */
export function init(len: u32): i32 {
  if (loaded) return -6;
  let base = tableAddress();
  let status = bindTable(base, len);
  if (status != 0) return status;
  let state = align(base + <usize>len, 8);
  bindState(state);
  let bits = align(state + stateSize(), 8);
  bindHeaderBits(bits);
  scratchBase = align(bits + (<usize>((headerCount + 31) >>> 5) << 2), 16);
  let need = (scratchBase + MIN_SCRATCH + PAGE - 1) / PAGE;
  let have = <usize>memory.size();
  if (need > have && memory.grow(<i32>(need - have)) < 0) return -5;
  loaded = true;
  return 0;
}

/** Address of the request scratch: host bytes, then path bytes, then lookup candidates. */
export function scratch(): usize {
  return scratchBase;
}

/** Address of the header bitset (one u32 per 32 header conditions) the host fills per request. */
export function headerBitsAddress(): usize {
  return bits();
}

@inline function bits(): usize {
  return scratchBase - align((<usize>((headerCount + 31) >>> 5) << 2), 16) ;
}

/**
 * Route id for the request in scratch (`hostLen` host bytes then `pathLen` path bytes, query
 * already removed), or -1. `methodBit` is 1 << index in METHODS, or 0 for another method.
 */
export function match(hostLen: u32, pathLen: u32, methodBit: u32): i32 {
  let host = findHost(scratchBase, hostLen);
  if (host < 0) return tableFallback;
  let path = scratchBase + <usize>hostLen;
  let candidates = align(path + <usize>pathLen, 8);
  let route = findRoute(<u32>host, path, pathLen, methodBit, candidates);
  if (route >= 0) return route;
  let fallback = load<i32>(hostsBase + <usize>host * HOST_SIZE + HOST_FALLBACK);
  return fallback >= 0 ? fallback : tableFallback;
}

/** Endpoint id for route `route` by two-level smooth WRR, or -1; advances the WRR state. */
export function pick(route: i32): i32 {
  return route < 0 ? -1 : pickEndpoint(<u32>route);
}

/** Backend index (within the route) chosen by the last pick, or -1. */
export function lastBackend(): i32 {
  return lastBackendIndex();
}

/** Marks endpoint `id` healthy (ok != 0) or not; -1 when the id is out of range. */
export function setHealthy(id: i32, ok: i32): i32 {
  return id < 0 ? -1 : setHealth(<u32>id, ok != 0);
}

/** 1 when endpoint `id` is healthy, 0 when not, -1 when out of range. */
export function isHealthy(id: i32): i32 {
  if (id < 0 || <u32>id >= endpoints) return -1;
  return healthy(<u32>id) ? 1 : 0;
}

/** Number of routes in the loaded table. */
export function routeCount(): u32 {
  return routes;
}

/** Number of endpoints in the loaded table. */
export function endpointCount(): u32 {
  return endpoints;
}

/** Number of distinct header conditions (bits of the header bitset). */
export function headerConditionCount(): u32 {
  return headerCount;
}

/** Header condition `index`: field 0 name address, 1 name length, 2 value address, 3 value length. */
export function headerCondition(index: u32, field: u32): usize {
  let pair = headersBase + <usize>index * HEADER_PAIR_SIZE;
  if (field == 0) return poolBase + <usize>load<u32>(pair + HEADER_NAME_OFF);
  if (field == 1) return <usize>load<u32>(pair + HEADER_NAME_LEN);
  if (field == 2) return poolBase + <usize>load<u32>(pair + HEADER_VALUE_OFF);
  return <usize>load<u32>(pair + HEADER_VALUE_LEN);
}
