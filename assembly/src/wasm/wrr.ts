// Endpoint choice: nginx's smooth weighted round robin, twice. First among the route's backends
// (weight > 0 and at least one healthy endpoint), then among the chosen backend's healthy
// endpoints, each of weight 1. Ties go to the earliest candidate, as in nginx. Current weights
// are i64 so no weight the encoder accepts (up to 2^31-1) can overflow them.
import {
  BACKEND_SIZE, BACKEND_SLOT_COUNT, BACKEND_SLOT_START, BACKEND_WEIGHT, ROUTE_BACKEND_COUNT,
  ROUTE_BACKEND_START, ROUTE_SIZE, backendCount, backendsBase, endpointCount, routeCount,
  routesBase, slotCount, slotsBase,
} from './table';

/** Current weight per backend (i64), per endpoint slot (i64), and a down flag per endpoint id (u8). */
let backendCurrent: usize = 0;
let slotCurrent: usize = 0;
let down: usize = 0;
let lastBackendIndex: i32 = -1;

/** Bytes of WRR and health state the loaded table needs. */
export function stateSize(): usize {
  return (<usize>backendCount << 3) + (<usize>slotCount << 3) + <usize>endpointCount;
}

/** Places the (zeroed) state at `at`: every current weight 0, every endpoint healthy. */
export function bindState(at: usize): void {
  backendCurrent = at;
  slotCurrent = at + (<usize>backendCount << 3);
  down = slotCurrent + (<usize>slotCount << 3);
  lastBackendIndex = -1;
}

/** True when endpoint `id` is marked healthy (ids are checked by the caller). */
@inline export function healthy(id: u32): bool {
  return load<u8>(down + <usize>id) == 0;
}

/** Marks endpoint `id` healthy or not; returns -1 for an id out of range. */
export function setHealth(id: u32, ok: bool): i32 {
  if (id >= endpointCount) return -1;
  store<u8>(down + <usize>id, ok ? 0 : 1);
  return 0;
}

/** Backend index (within its route) of the last successful pick, or -1. */
export function lastBackend(): i32 {
  return lastBackendIndex;
}

/** True when any of `count` endpoint slots from `start` is healthy. */
function anyHealthy(start: u32, count: u32): bool {
  let slot = slotsBase + (<usize>start << 2);
  for (let k: u32 = 0; k < count; k++) {
    if (healthy(load<u32>(slot + (<usize>k << 2)))) return true;
  }
  return false;
}

/** Endpoint id picked for route `route`, or -1 when it has none eligible (or is out of range). */
export function pickEndpoint(route: u32): i32 {
  lastBackendIndex = -1;
  if (route >= routeCount) return -1;
  let rec = routesBase + <usize>route * ROUTE_SIZE;
  let first = load<u32>(rec + ROUTE_BACKEND_START);
  let count = load<u32>(rec + ROUTE_BACKEND_COUNT);

  let best: i32 = -1;
  let bestCurrent: i64 = 0;
  let total: i64 = 0;
  for (let k: u32 = 0; k < count; k++) {
    let backend = backendsBase + <usize>(first + k) * BACKEND_SIZE;
    let weight = load<u32>(backend + BACKEND_WEIGHT);
    if (weight == 0) continue;
    if (!anyHealthy(load<u32>(backend + BACKEND_SLOT_START), load<u32>(backend + BACKEND_SLOT_COUNT))) continue;
    let at = backendCurrent + (<usize>(first + k) << 3);
    let current = load<i64>(at) + <i64>weight;
    store<i64>(at, current);
    total += <i64>weight;
    if (best < 0 || current > bestCurrent) {
      best = <i32>k;
      bestCurrent = current;
    }
  }
  if (best < 0) return -1;
  store<i64>(backendCurrent + (<usize>(first + <u32>best) << 3), bestCurrent - total);

  let backend = backendsBase + <usize>(first + <u32>best) * BACKEND_SIZE;
  let slotStart = load<u32>(backend + BACKEND_SLOT_START);
  let slots = load<u32>(backend + BACKEND_SLOT_COUNT);
  let chosen: i32 = -1;
  let chosenCurrent: i64 = 0;
  let healthyCount: i64 = 0;
  for (let k: u32 = 0; k < slots; k++) {
    let id = load<u32>(slotsBase + (<usize>(slotStart + k) << 2));
    if (!healthy(id)) continue;
    let at = slotCurrent + (<usize>(slotStart + k) << 3);
    let current = load<i64>(at) + 1;
    store<i64>(at, current);
    healthyCount++;
    if (chosen < 0 || current > chosenCurrent) {
      chosen = <i32>k;
      chosenCurrent = current;
    }
  }
  store<i64>(slotCurrent + (<usize>(slotStart + <u32>chosen) << 3), chosenCurrent - healthyCount);
  lastBackendIndex = best;
  return <i32>load<u32>(slotsBase + (<usize>(slotStart + <u32>chosen) << 2));
}
