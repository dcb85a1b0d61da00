// Endpoint choice: nginx's smooth weighted round robin, twice. First among the route's backends
// (weight > 0 and at least one healthy endpoint), then among the chosen backend's healthy
// endpoints, each of weight 1. Ties go to the earliest candidate, as in nginx; skipped
// candidates keep their current weight, as in nginx. Backend current weights live inline in the
// route record, endpoint ones in the backend's endpoint set record, shared by every route on the
// set (see table.ts for their widths).
import {
  BACKEND_CURRENT, BACKEND_SET, BACKEND_SIZE, BACKEND_WEIGHT, ENDPOINT_CURRENT, ENDPOINT_ID, ENDPOINT_SIZE,
  ROUTE_BACKENDS, ROUTE_BACKEND_COUNT, SET_COUNT, SET_SLOTS, endpointCount, routeCount, routeIndexBase, setCount, setIndexBase, tableBase,
} from './table';
import { matchedRecord, matchedRoute } from './conditions';
import { fmix } from './hash';

/** One down flag (u8) per endpoint id, outside the table; all zero (healthy) at load. */
let down: usize = 0;
/** One hashing seed (u32) per endpoint id, after the down flags, kept mixed (fmix of what the host set in setSeed). */
let seeds: usize = 0;
let lastBackendIndex: i32 = -1;

/** One load score (f64, lower is better) per endpoint id, after the seeds; set by the host (setScore). */
let scores: usize = 0;

/** One bit per set id, after the scores: 1 when the set has an endpoint slot (markLiveSets, at load). */
let liveSets: usize = 0;

/** How many endpoints are marked down: while none is, a set has a healthy endpoint exactly when its liveSets bit is set. */
let downCount: u32 = 0;

/**
 * One u16 per set id, after the live-set bits: what a pick last found of the set's endpoints while
 * some endpoint was down, valid while it names the current health epoch: epoch << 2, then CLEAN
 * (none of its endpoints is down) and SERVABLE (one is healthy). Endpoints down in other sets
 * then cost a pick one load per candidate backend instead of its set record and every flag.
 */
let setStates: usize = 0;

/**
 * Bumped by every health flag that changes, so a change is O(1) however many sets hold the
 * endpoint (no endpoint-to-set index): each set's state is surveyed again on its next pick.
 * Starts at 1, as zeroed states (epoch 0) must read as stale.
 */
let healthEpoch: u32 = 1;

/**
 * Largest epoch a set state holds (14 bits): past it every state is cleared (2 bytes a set, once
 * in 16,383 changes) and counting restarts. Two bytes, not four, keep the states of 100k sets in
 * 200 KB for the picks' cache lines.
 */
@inline const EPOCH_LIMIT: u32 = 0x3fff;
/** Set state bit: a healthy endpoint is in the set. */
@inline const SERVABLE: u32 = 1;
/** Set state bit: no endpoint of the set is down (its flags need not be read). */
@inline const CLEAN: u32 = 2;

/**
 * One byte per 64 KiB block of the table, set when a pick writes a current weight into that block
 * (current weights live inline in the route and set records): the host, which reuses an instance whose
 * table bytes it knows by block, then copies that block again instead of trusting it.
 */
let written: usize = 0;

/** Bytes of the written-block map for a table of `len` bytes (one per 64 KiB block). */
export function writtenSize(len: u32): usize {
  return (<usize>len + 0xffff) >>> 16;
}

/** Places the (zeroed) written-block map at `at`. */
export function bindWritten(at: usize): void {
  written = at;
}

/** Address of the written-block map (writtenSize(table length) bytes, 1 = a pick wrote into that block since init). */
export function writtenAddress(): usize {
  return written;
}

/** Marks the table blocks holding the `size` bytes at address `at` as written. */
@inline function wrote(at: usize, size: usize): void {
  store<u8>(written + ((at - tableBase) >>> 16), 1);
  store<u8>(written + ((at + size - 1 - tableBase) >>> 16), 1);
}

@inline function seedsOffset(): usize {
  return (<usize>endpointCount + 7) & ~7;
}

@inline function scoresOffset(): usize {
  return seedsOffset() + ((<usize>endpointCount * 4 + 7) & ~7);
}

@inline function liveSetsOffset(): usize {
  return scoresOffset() + (<usize>endpointCount << 3);
}

@inline function setStatesOffset(): usize {
  return liveSetsOffset() + (((<usize>setCount + 63) >>> 6) << 3);
}

/** Bytes of health state (down flags, seeds, load scores, live-set bits, set states; 8-byte aligned parts) the loaded table needs. */
export function healthSize(): usize {
  return setStatesOffset() + (((<usize>setCount << 1) + 7) & ~7);
}

/** Places the (zeroed) health flags, seeds, scores, live-set bits and set states at `at` (8-byte aligned); every endpoint starts healthy. */
export function bindHealth(at: usize): void {
  down = at;
  seeds = at + seedsOffset();
  scores = at + scoresOffset();
  liveSets = at + liveSetsOffset();
  setStates = at + setStatesOffset();
  downCount = 0;
  healthEpoch = 1;
  lastBackendIndex = -1;
}

/**
 * Sets the liveSets bit of every set with an endpoint slot, once per load (O(sets); the zeroed
 * bits must be in place): a pick then judges a backend with every endpoint up without reading
 * its set index entry and set record, two dependent loads elsewhere in the table.
 */
export function markLiveSets(): void {
  for (let set: u32 = 0; set < setCount; set++) {
    if (load<u32>(setRecord(set) + SET_COUNT) != 0) {
      let at = liveSets + (<usize>set >>> 3);
      store<u8>(at, load<u8>(at) | (<u8>1 << <u8>(set & 7)));
    }
  }
}

/** Sets endpoint `id`'s load score (load-balance: ewma); returns -1 for an id out of range. */
export function setScore(id: u32, score: f64): i32 {
  if (id >= endpointCount) return -1;
  store<f64>(scores + (<usize>id << 3), score);
  return 0;
}

/** Sets endpoint `id`'s hashing seed; returns -1 for an id out of range. */
export function setSeed(id: u32, seed: u32): i32 {
  if (id >= endpointCount) return -1;
  // Mixed here, once per load, not for every endpoint of every hashed pick.
  store<u32>(seeds + (<usize>id << 2), fmix(seed));
  return 0;
}

/** True when endpoint `id` is healthy (ids are checked by the caller); while none is down, without reading its flag. */
@inline export function healthy(id: u32): bool {
  return downCount == 0 || load<u8>(down + <usize>id) == 0;
}

/** Marks endpoint `id` healthy or not; returns -1 for an id out of range. */
export function setHealth(id: u32, ok: bool): i32 {
  if (id >= endpointCount) return -1;
  let at = down + <usize>id;
  if ((load<u8>(at) == 0) != ok) {
    if (ok) downCount--;
    else downCount++;
    store<u8>(at, ok ? 0 : 1);
    if (++healthEpoch > EPOCH_LIMIT) {
      // A state of an old epoch must not read as current when the count comes round.
      memory.fill(setStates, 0, <usize>setCount << 1);
      healthEpoch = 1;
    }
  }
  return 0;
}

/** Backend index (within its route) of the last pick, or -1 when it found none. */
export function lastBackend(): i32 {
  return lastBackendIndex;
}

/**
 * The state (SERVABLE, CLEAN) of set `set` (below setCount) under the current flags, while some
 * endpoint is down: its stored one when surveyed since the last health change, else surveyed now
 * from its slots' flags and stored (the pick's only write outside the table).
 */
function setState(set: u32): u32 {
  let at = setStates + (<usize>set << 1);
  let state = <u32>load<u16>(at);
  if (state >>> 2 == healthEpoch) return state & (SERVABLE | CLEAN);
  let rec = setRecord(set);
  let slot = rec + SET_SLOTS;
  let count = load<u32>(rec + SET_COUNT);
  let downs: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    downs += <u32>load<u8>(down + <usize>load<u32>(slot + ENDPOINT_ID));
    slot += ENDPOINT_SIZE;
  }
  state = (downs < count ? SERVABLE : 0) | (downs == 0 ? CLEAN : 0);
  store<u16>(at, <u16>((healthEpoch << 2) | state));
  return state;
}

/**
 * True when no endpoint of the backend record at `backend`'s set is down, so its flags need not be
 * read: always while none is down anywhere. A set id out of range has no slot: true.
 */
@inline function clean(backend: usize): bool {
  if (downCount == 0) return true;
  let set = load<u32>(backend + BACKEND_SET);
  return set >= setCount || (setState(set) & CLEAN) != 0;
}

/** True when endpoint `id` of a set judged by clean() (`all`) is healthy: its flag is read only when the set has one down. */
@inline function live(all: bool, id: u32): bool {
  return all || load<u8>(down + <usize>id) == 0;
}

/** What a backend whose set id is out of range reads: a set record of no endpoint (never written, as it has no slot). */
const NO_SET = memory.data(8);

/** The record of set `set` (below setCount), through the set index. */
@inline function setRecord(set: u32): usize {
  return tableBase + <usize>load<u32>(setIndexBase + (<usize>set << 2));
}

/** The endpoint set record of the backend record at `backend` (NO_SET for a set id out of range). */
@inline function setOf(backend: usize): usize {
  let set = load<u32>(backend + BACKEND_SET);
  return set < setCount ? setRecord(set) : NO_SET;
}

/** True when the backend record at `backend` has a healthy endpoint (none when its set id is out of range). */
@inline function servable(backend: usize): bool {
  let set = load<u32>(backend + BACKEND_SET);
  if (set >= setCount) return false;
  if (downCount != 0) return (setState(set) & SERVABLE) != 0;
  return (load<u8>(liveSets + (<usize>set >>> 3)) & (<u8>1 << <u8>(set & 7))) != 0;
}

/** Route record of route `route`, or 0 when there is none. */
@inline function routeRecord(route: i32): usize {
  if (route < 0 || <u32>route >= routeCount) return 0;
  // pick() usually follows match() for the route it returned: reuse the record offset its entry had.
  let off = route == matchedRoute ? matchedRecord : load<u32>(routeIndexBase + (<usize>route << 2));
  return tableBase + <usize>off;
}

/** Whether backend `k` may be chosen under `allowed` (bit k; every backend when all bits are set). */
@inline function allows(allowed: u32, k: u32): bool {
  return allowed == 0xffffffff || (k < 32 && (allowed & (<u32>1 << k)) != 0);
}

/**
 * The backend record chosen for route record `rec` by smooth WRR among the backends `allowed`
 * names (advancing the WRR state), or 0 when none has weight > 0 and a healthy endpoint. When
 * `allowed` is not every backend, a request-level choice (a canary header or cookie) named them:
 * if none of them has weight > 0, the first with a healthy endpoint is taken whatever its weight
 * (a canary at weight 0 still answers its header). Sets lastBackendIndex.
 */
function chooseBackend(rec: usize, allowed: u32): usize {
  let count = load<u32>(rec + ROUTE_BACKEND_COUNT);
  let forced = allowed != 0xffffffff;
  let backend = rec + ROUTE_BACKENDS;
  let best: usize = 0;
  let bestIndex: i32 = -1;
  let bestCurrent: i64 = 0;
  let total: i64 = 0;
  let fallback: usize = 0;
  let fallbackIndex: i32 = -1;
  for (let k: u32 = 0; k < count; k++) {
    let weight = load<u32>(backend + BACKEND_WEIGHT);
    // A backend not allowed, or of weight 0 when no fallback is wanted, can neither win nor be the
    // fallback: its set is not looked at.
    if (allows(allowed, k) && (weight != 0 || (forced && fallback == 0)) && servable(backend)) {
      if (weight != 0) {
        let current = load<i64>(backend + BACKEND_CURRENT) + <i64>weight;
        store<i64>(backend + BACKEND_CURRENT, current);
        wrote(backend + BACKEND_CURRENT, 8);
        total += <i64>weight;
        if (best == 0 || current > bestCurrent) {
          best = backend;
          bestIndex = <i32>k;
          bestCurrent = current;
        }
      } else {
        fallback = backend;
        fallbackIndex = <i32>k;
      }
    }
    backend += BACKEND_SIZE;
  }
  if (best == 0) {
    best = fallback;
    bestIndex = fallbackIndex;
  } else {
    // Its block was marked written when the loop advanced its current weight.
    store<i64>(best + BACKEND_CURRENT, bestCurrent - total);
  }
  lastBackendIndex = bestIndex;
  return best;
}

/**
 * Endpoint id picked for route `route` among the backends `allowed` names (see chooseBackend),
 * by smooth WRR over the chosen backend's healthy endpoints (weight 1 each; the rotation is the
 * endpoint set's, shared by the routes on it), or -1 when it has none eligible (or does not exist).
 */
export function pickEndpoint(route: i32, allowed: u32): i32 {
  lastBackendIndex = -1;
  let rec = routeRecord(route);
  if (rec == 0) return -1;
  let best = chooseBackend(rec, allowed);
  if (best == 0) return -1;
  let all = clean(best);
  let set = setOf(best);
  let slot = set + SET_SLOTS;
  let slots = load<u32>(set + SET_COUNT);
  let chosen: usize = 0;
  let chosenCurrent: i32 = 0;
  let healthyCount: i32 = 0;
  for (let k: u32 = 0; k < slots; k++) {
    if (live(all, load<u32>(slot + ENDPOINT_ID))) {
      let current = load<i32>(slot + ENDPOINT_CURRENT) + 1;
      store<i32>(slot + ENDPOINT_CURRENT, current);
      wrote(slot + ENDPOINT_CURRENT, 4);
      healthyCount++;
      if (chosen == 0 || current > chosenCurrent) {
        chosen = slot;
        chosenCurrent = current;
      }
    }
    slot += ENDPOINT_SIZE;
  }
  // Its block was marked written when the loop advanced its current weight.
  store<i32>(chosen + ENDPOINT_CURRENT, chosenCurrent - healthyCount);
  return <i32>load<u32>(chosen + ENDPOINT_ID);
}


/** Largest hash subset (upstream-hash-by-subset-size) the matcher keeps. */
@inline export const MAX_SUBSET: u32 = 16;

/** The best-scored endpoints of a subset pick: ids, then scores (static, no allocation per pick). */
const subsetIds = memory.data(<i32>(MAX_SUBSET * 4));
const subsetScores = memory.data(<i32>(MAX_SUBSET * 4));

/**
 * Endpoint id for route `route` by consistent hashing of `key` (a hash of the request's key, from
 * the host): the backend as pickEndpoint chooses it, then among its healthy endpoints those with
 * the highest fmix(key ^ fmix(seed)) (rendezvous hashing): the first one, or with `subset` > 1 (at most
 * MAX_SUBSET) one of the `subset` best chosen by `random` (upstream-hash-by-subset). Seeds come
 * from the endpoint's address, so a key keeps its endpoints across snapshots, and only the keys
 * of an endpoint that leaves (or of the share a new one takes) move. -1 when none is eligible.
 */
export function pickHashed(route: i32, allowed: u32, key: u32, subset: u32, random: u32): i32 {
  lastBackendIndex = -1;
  let rec = routeRecord(route);
  if (rec == 0) return -1;
  let best = chooseBackend(rec, allowed);
  if (best == 0) return -1;
  let size: u32 = subset < 1 ? 1 : subset > MAX_SUBSET ? MAX_SUBSET : subset;
  let all = clean(best);
  let set = setOf(best);
  let slot = set + SET_SLOTS;
  let slots = load<u32>(set + SET_COUNT);
  let kept: u32 = 0;
  for (let k: u32 = 0; k < slots; k++) {
    let id = load<u32>(slot + ENDPOINT_ID);
    slot += ENDPOINT_SIZE;
    if (!live(all, id)) continue;
    let score = fmix(key ^ load<u32>(seeds + (<usize>id << 2)));
    // Insertion into the kept list, best first; ties keep the earlier endpoint.
    let at = kept;
    while (at > 0 && score > load<u32>(subsetScores + (<usize>(at - 1) << 2))) at--;
    if (at >= size) continue;
    let last = kept < size ? kept : size - 1;
    for (let j = last; j > at; j--) {
      store<u32>(subsetIds + (<usize>j << 2), load<u32>(subsetIds + (<usize>(j - 1) << 2)));
      store<u32>(subsetScores + (<usize>j << 2), load<u32>(subsetScores + (<usize>(j - 1) << 2)));
    }
    store<u32>(subsetIds + (<usize>at << 2), id);
    store<u32>(subsetScores + (<usize>at << 2), score);
    if (kept < size) kept++;
  }
  if (kept == 0) return -1;
  return <i32>load<u32>(subsetIds + (<usize>(random % kept) << 2));
}

/**
 * `endpoint` when it is healthy and behind one of route `route`'s backends that `allowed` names
 * (a session cookie naming it), else -1. No WRR state changes.
 */
export function pickNamed(route: i32, allowed: u32, endpoint: u32): i32 {
  lastBackendIndex = -1;
  let rec = routeRecord(route);
  if (rec == 0 || endpoint >= endpointCount || !healthy(endpoint)) return -1;
  let count = load<u32>(rec + ROUTE_BACKEND_COUNT);
  let backend = rec + ROUTE_BACKENDS;
  for (let k: u32 = 0; k < count; k++) {
    if (allows(allowed, k)) {
      let set = setOf(backend);
      let slots = load<u32>(set + SET_COUNT);
      let slot = set + SET_SLOTS;
      for (let e: u32 = 0; e < slots; e++) {
        if (load<u32>(slot + ENDPOINT_ID) == endpoint) {
          lastBackendIndex = <i32>k;
          return <i32>endpoint;
        }
        slot += ENDPOINT_SIZE;
      }
    }
    backend += BACKEND_SIZE;
  }
  return -1;
}

/**
 * Endpoint id for route `route` by the power of two choices (ingress-nginx's ewma): the backend
 * as pickEndpoint chooses it, then two of its healthy endpoints drawn from `random`, the one with
 * the lower load score (setScore; ties to the first). -1 when none is eligible.
 */
export function pickTwo(route: i32, allowed: u32, random: u32): i32 {
  lastBackendIndex = -1;
  let rec = routeRecord(route);
  if (rec == 0) return -1;
  let best = chooseBackend(rec, allowed);
  if (best == 0) return -1;
  let all = clean(best);
  let set = setOf(best);
  let slots = load<u32>(set + SET_COUNT);
  let healthyCount: u32 = 0;
  let slot = set + SET_SLOTS;
  for (let k: u32 = 0; k < slots; k++) {
    if (live(all, load<u32>(slot + ENDPOINT_ID))) healthyCount++;
    slot += ENDPOINT_SIZE;
  }
  // The a-th and b-th healthy endpoints, a != b when there are two.
  let a = (random & 0xffff) % healthyCount;
  let b = healthyCount > 1 ? (a + 1 + ((random >>> 16) % (healthyCount - 1))) % healthyCount : a;
  let first: i32 = -1;
  let second: i32 = -1;
  let seen: u32 = 0;
  slot = set + SET_SLOTS;
  for (let k: u32 = 0; k < slots; k++) {
    let id = load<u32>(slot + ENDPOINT_ID);
    if (live(all, id)) {
      if (seen == a) first = <i32>id;
      if (seen == b) second = <i32>id;
      seen++;
    }
    slot += ENDPOINT_SIZE;
  }
  if (first == second) return first;
  return load<f64>(scores + (<usize>second << 3)) < load<f64>(scores + (<usize>first << 3)) ? second : first;
}
