// The matcher module's exports. Memory layout, from low to high: static data, the table (copied
// in by the host at tableAddress()), health flags, the written-block map, the header-condition
// bitset, then the request scratch, which runs to the end of memory so the host can grow it for
// long requests.
// Only numbers cross the boundary; nothing here allocates.
import { findHost } from './host';
import { findRoute } from './path';
import { bindHeaderBits, forgetMatched } from './conditions';
import { bindHealth, bindWritten, healthSize, healthy, lastBackend as lastBackendIndex, markLiveSets, pickEndpoint, pickHashed, pickNamed, pickTwo, setHealth, setScore, setSeed, writtenAddress, writtenSize } from './wrr';
import {
  HOST_COND_COUNT, HOST_CONDS, HOST_FALLBACK, LIMIT_HOST_CONDITIONS, PAIR_KIND, PAIR_NAME_LEN, PAIR_NAME_OFF, PAIR_SIZE, PAIR_VALUE_LEN, PAIR_VALUE_OFF,
  bindTable, condHostCount, condHostsBase, endpointCount as endpoints, refusedSet, routeCount as routes, tableBase, tableFallback,
} from './table';

@inline const PAGE: usize = 65536;
@inline const MIN_SCRATCH: usize = 65536;

let scratchBase: usize = 0;
let bitsBase: usize = 0;
/** The host record match() stopped at for the host side to fill its condition bits, or 0. */
let pendingHost: usize = 0;

@inline function align(at: usize, to: usize): usize {
  return (at + to - 1) & ~(to - 1);
}

/** Address where the host must copy the table bytes before calling init. */
export function tableAddress(): usize {
  return align(__heap_base, 16);
}

/**
 * Binds the `len`-byte table at tableAddress(), lays out health flags, header bitset and scratch
 * after it, grows memory to hold them and clears them. Returns 0, or a negative code: -1..-4 from
 * the header check (magic, version, length, section bounds), -5 memory could not grow, -6..-8
 * from the endpoint set check (set index, set record, endpoint id: setRefused() names the set). May be
 * called again on the same instance with another table (the host pools instances, so a swap need
 * not allocate): everything a previous table left behind (health flags, seeds, scores, condition
 * bits, the last match and pick) is forgotten. After a failed init the instance holds no usable
 * table until the next successful one.
 */
export function init(len: u32): i32 {
  let base = tableAddress();
  let status = bindTable(base, len);
  if (status != 0) return status;
  let health = align(base + <usize>len, 8);
  // Health flags, hashing seeds, load scores, live-set bits and set states (wrr.ts).
  bindHealth(health);
  // Then the written-block map (wrr.ts): which table blocks a pick has written into since.
  let writtenAt = align(health + healthSize(), 8);
  bindWritten(writtenAt);
  bitsBase = align(writtenAt + writtenSize(len), 8);
  bindHeaderBits(bitsBase);
  // Bits are each host's own: the bitset holds as many as one host may have, whatever the table.
  scratchBase = align(bitsBase + (<usize>(LIMIT_HOST_CONDITIONS >>> 5) << 2), 16);
  let need = (scratchBase + MIN_SCRATCH + PAGE - 1) / PAGE;
  let have = <usize>memory.size();
  if (need > have && memory.grow(<i32>(need - have)) < 0) return -5;
  // A fresh instance's memory is zero; a reused one holds the previous table's state here.
  memory.fill(health, 0, scratchBase - health);
  markLiveSets();
  pendingHost = 0;
  forgetMatched();
  return 0;
}

/** Address of the request scratch: host bytes, then path bytes, then lookup candidates. */
export function scratch(): usize {
  return scratchBase;
}

/**
 * Address of the written-block map: one byte per 64 KiB block of the table (from tableAddress()),
 * 1 when a pick wrote a current weight into that block since init, so the block no longer holds
 * the bytes the host copied in (a host reusing the instance copies it again).
 */
export function writtenBlocksAddress(): usize {
  return writtenAddress();
}

/** Address of the condition bitset (one u32 per 32 conditions of the chosen host) the host fills per request. */
export function headerBitsAddress(): usize {
  return bitsBase;
}

/**
 * Route id for the request in scratch (`hostLen` UTF-8 host bytes, then `pathLen` UTF-8 path
 * bytes, query included), or -1. `methodBit` is 1 << index in METHODS, or 0 for another method.
 * When the chosen host has match conditions, answers -2 - (its record offset >> 3) instead: the
 * host side then fills that host's condition bits and calls `resume` with the same arguments.
 */
export function match(hostLen: u32, pathLen: u32, methodBit: u32): i32 {
  let host = findHost(scratchBase, hostLen);
  if (host == 0) {
    forgetMatched();
    return tableFallback;
  }
  if (load<u32>(host + HOST_COND_COUNT) != 0) {
    pendingHost = host;
    return -2 - <i32>((host - tableBase) >>> 3);
  }
  return matchIn(host, hostLen, pathLen, methodBit);
}

/** The route for the request match() stopped at (see match), or -1 when there is none pending. */
export function resume(hostLen: u32, pathLen: u32, methodBit: u32): i32 {
  let host = pendingHost;
  if (host == 0) return -1;
  pendingHost = 0;
  return matchIn(host, hostLen, pathLen, methodBit);
}

/** Route id for the request in scratch inside the host record `host`, with the fallbacks. */
function matchIn(host: usize, hostLen: u32, pathLen: u32, methodBit: u32): i32 {
  let path = scratchBase + <usize>hostLen;
  let route = findRoute(host, path, pathLen, methodBit, align(path + <usize>pathLen + 4, 8));
  if (route >= 0) return route;
  forgetMatched();
  let fallback = load<i32>(host + HOST_FALLBACK);
  return fallback >= 0 ? fallback : tableFallback;
}

/** Endpoint id for route `route` by two-level smooth WRR, or -1; advances the WRR state. */
export function pick(route: i32): i32 {
  return pickEndpoint(route, 0xffffffff);
}

/**
 * Like pick, among the backends whose bit is set in `allowed` (bit k = backend k), for a choice
 * a request made (canary header/cookie): when none of them has weight > 0, the first with a
 * healthy endpoint is taken. Returns -1 when none of them has a healthy endpoint.
 */
export function pickIn(route: i32, allowed: u32): i32 {
  return pickEndpoint(route, allowed);
}

/**
 * Endpoint id for route `route` by consistent hashing of `key` among `allowed` backends: the
 * best-scored endpoint, or with `subset` > 1 one of that many best, chosen by `random` (see wrr.ts
 * pickHashed); -1 when none is eligible.
 */
export function pickHash(route: i32, allowed: u32, key: u32, subset: u32, random: u32): i32 {
  return pickHashed(route, allowed, key, subset, random);
}

/** `endpoint` when healthy and behind an `allowed` backend of route `route` (a session cookie), else -1. */
export function pickId(route: i32, allowed: u32, endpoint: i32): i32 {
  return endpoint < 0 ? -1 : pickNamed(route, allowed, <u32>endpoint);
}

/** Endpoint id for route `route` by the power of two choices over load scores (see wrr.ts pickTwo), or -1. */
export function pickLeastLoaded(route: i32, allowed: u32, random: u32): i32 {
  return pickTwo(route, allowed, random);
}

/** Sets endpoint `id`'s load score (lower is better); -1 when out of range. */
export function setEndpointScore(id: i32, score: f64): i32 {
  return id < 0 ? -1 : setScore(<u32>id, score);
}

/** Sets endpoint `id`'s consistent-hashing seed (from its address); -1 when out of range. */
export function setEndpointSeed(id: i32, seed: u32): i32 {
  return id < 0 ? -1 : setSeed(<u32>id, seed);
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

/** The set id whose record the last init refused (codes -6..-8). */
export function setRefused(): u32 {
  return refusedSet;
}

/** Number of hosts with match conditions. */
export function conditionHostCount(): u32 {
  return condHostCount;
}

/** Record offset (from the table start) of the `index`th host with match conditions, in table order. */
export function conditionHost(index: u32): u32 {
  return load<u32>(condHostsBase + (<usize>index << 2));
}

/** Number of match conditions of the host whose record is at table offset `host` (its bits are 0 up to it). */
export function hostConditionCount(host: u32): u32 {
  return load<u32>(tableBase + <usize>host + HOST_COND_COUNT);
}

/**
 * Match condition `index` (its bit) of the host whose record is at table offset `host`: field 0
 * name address, 1 name length, 2 value address, 3 value length (UTF-8), 4 kind.
 */
export function hostCondition(host: u32, index: u32, field: u32): usize {
  let pair = tableBase + <usize>load<u32>(tableBase + <usize>host + HOST_CONDS) + <usize>index * PAIR_SIZE;
  if (field == 0) return tableBase + <usize>load<u32>(pair + PAIR_NAME_OFF);
  if (field == 1) return <usize>load<u32>(pair + PAIR_NAME_LEN);
  if (field == 2) return tableBase + <usize>load<u32>(pair + PAIR_VALUE_OFF);
  if (field == 3) return <usize>load<u32>(pair + PAIR_VALUE_LEN);
  return <usize>load<u32>(pair + PAIR_KIND);
}
