// Endpoint choice: nginx's smooth weighted round robin, twice. First among the route's backends
// (weight > 0 and at least one healthy endpoint), then among the chosen backend's healthy
// endpoints, each of weight 1. Ties go to the earliest candidate, as in nginx; skipped
// candidates keep their current weight, as in nginx. Current weights live inline in the route
// record (see table.ts for their widths).
import {
  BACKEND_CURRENT, BACKEND_SLOTS, BACKEND_SLOT_COUNT, BACKEND_WEIGHT, ENDPOINT_CURRENT, ENDPOINT_ID, ENDPOINT_SIZE,
  ROUTE_BACKENDS, ROUTE_BACKEND_COUNT, endpointCount, routeCount, routeIndexBase, tableBase,
} from './table';
import { matchedRecord, matchedRoute } from './conditions';

/** One down flag (u8) per endpoint id, outside the table; all zero (healthy) at load. */
let down: usize = 0;
let lastBackendIndex: i32 = -1;

/** Bytes of health state the loaded table needs. */
export function healthSize(): usize {
  return <usize>endpointCount;
}

/** Places the (zeroed) health flags at `at`. */
export function bindHealth(at: usize): void {
  down = at;
  lastBackendIndex = -1;
}

/** True when endpoint `id` is healthy (ids are checked by the caller). */
@inline export function healthy(id: u32): bool {
  return load<u8>(down + <usize>id) == 0;
}

/** Marks endpoint `id` healthy or not; returns -1 for an id out of range. */
export function setHealth(id: u32, ok: bool): i32 {
  if (id >= endpointCount) return -1;
  store<u8>(down + <usize>id, ok ? 0 : 1);
  return 0;
}

/** Backend index (within its route) of the last pick, or -1 when it found none. */
export function lastBackend(): i32 {
  return lastBackendIndex;
}

/** True when any of the `count` endpoint slots at `slot` is healthy. */
@inline function anyHealthy(slot: usize, count: u32): bool {
  for (let k: u32 = 0; k < count; k++) {
    if (healthy(load<u32>(slot + ENDPOINT_ID))) return true;
    slot += ENDPOINT_SIZE;
  }
  return false;
}

/**
 * Endpoint id picked for route `route` among the backends whose bit is set in `allowed` (bit k =
 * backend k; backends past 31 only when every bit is set), or -1 when it has none eligible (or
 * does not exist). With `forced`, a request-level choice (a canary header or cookie) named the
 * backends: when none of them has weight > 0 and a healthy endpoint, the first one with a
 * healthy endpoint is taken whatever its weight (a canary at weight 0 still answers its header).
 */
export function pickEndpoint(route: i32, allowed: u32, forced: bool): i32 {
  lastBackendIndex = -1;
  if (route < 0 || <u32>route >= routeCount) return -1;
  // pick() usually follows match() for the route it returned: reuse the record offset its entry had.
  let off = route == matchedRoute ? matchedRecord : load<u32>(routeIndexBase + (<usize>route << 2));
  let rec = tableBase + <usize>off;
  let count = load<u32>(rec + ROUTE_BACKEND_COUNT);

  let backend = rec + ROUTE_BACKENDS;
  let best: usize = 0;
  let bestIndex: i32 = -1;
  let bestCurrent: i64 = 0;
  let total: i64 = 0;
  let every = allowed == 0xffffffff;
  let fallback: usize = 0;
  let fallbackIndex: i32 = -1;
  for (let k: u32 = 0; k < count; k++) {
    let weight = load<u32>(backend + BACKEND_WEIGHT);
    let slots = load<u32>(backend + BACKEND_SLOT_COUNT);
    let eligible = every || (k < 32 && (allowed & (<u32>1 << k)) != 0);
    if (eligible && forced && fallback == 0 && weight == 0 && anyHealthy(backend + BACKEND_SLOTS, slots)) {
      fallback = backend;
      fallbackIndex = <i32>k;
    }
    if (eligible && weight != 0 && anyHealthy(backend + BACKEND_SLOTS, slots)) {
      let current = load<i64>(backend + BACKEND_CURRENT) + <i64>weight;
      store<i64>(backend + BACKEND_CURRENT, current);
      total += <i64>weight;
      if (best == 0 || current > bestCurrent) {
        best = backend;
        bestIndex = <i32>k;
        bestCurrent = current;
      }
    }
    backend += <usize>BACKEND_SLOTS + <usize>slots * <usize>ENDPOINT_SIZE;
  }
  if (best == 0) {
    if (fallback == 0) return -1;
    best = fallback;
    bestIndex = fallbackIndex;
  } else {
    store<i64>(best + BACKEND_CURRENT, bestCurrent - total);
  }

  let slot = best + BACKEND_SLOTS;
  let slots = load<u32>(best + BACKEND_SLOT_COUNT);
  let chosen: usize = 0;
  let chosenCurrent: i32 = 0;
  let healthyCount: i32 = 0;
  for (let k: u32 = 0; k < slots; k++) {
    if (healthy(load<u32>(slot + ENDPOINT_ID))) {
      let current = load<i32>(slot + ENDPOINT_CURRENT) + 1;
      store<i32>(slot + ENDPOINT_CURRENT, current);
      healthyCount++;
      if (chosen == 0 || current > chosenCurrent) {
        chosen = slot;
        chosenCurrent = current;
      }
    }
    slot += ENDPOINT_SIZE;
  }
  store<i32>(chosen + ENDPOINT_CURRENT, chosenCurrent - healthyCount);
  lastBackendIndex = bestIndex;
  return <i32>load<u32>(chosen + ENDPOINT_ID);
}
