// Conditions of path entries: method mask and condition bits. Headers, query parameters and
// regex paths are judged on the host side (as JS strings, regexes by RE2) for just the chosen
// host's conditions; wasm only sees the resulting bitset, one bit per distinct condition of that
// host (its bits are its own, from 0).
import { ENTRY_COND_COUNT, ENTRY_COND_START, ENTRY_METHODS, ENTRY_RECORD, ENTRY_ROUTE, ENTRY_SIZE, tableBase } from './table';

/** Route id and record offset of the entry the last match chose (-1: none), for pick() to reuse. */
export let matchedRoute: i32 = -1;
export let matchedRecord: u32 = 0;

/** Forgets the last matched entry (the match ended in a fallback, or nothing). */
export function forgetMatched(): void {
  matchedRoute = -1;
}

/** Where the host writes the per-request header bitset; set by `init`. */
let headerBits: usize = 0;

/** Points the header bitset at `at`. */
export function bindHeaderBits(at: usize): void {
  headerBits = at;
}

/** True when the entry at `entry` accepts a request with method bit `methodBit` (0 = other method). */
@inline function holds(entry: usize, methodBit: u32): bool {
  let methods = load<u32>(entry + ENTRY_METHODS);
  // Another method has bit 0, so it passes only entries without a method condition.
  if (methods != 0 && (methods & methodBit) == 0) return false;
  let count = load<u32>(entry + ENTRY_COND_COUNT);
  let cond = tableBase + <usize>load<u32>(entry + ENTRY_COND_START);
  for (let k: u32 = 0; k < count; k++) {
    let bit = load<u32>(cond + (<usize>k << 2));
    if ((load<u32>(headerBits + (<usize>(bit >>> 5) << 2)) & (1 << (bit & 31))) == 0) return false;
  }
  return true;
}

/** Route of the first of the `count` entries at `entry` whose conditions hold, or -1. */
export function firstHolding(entry: usize, count: u32, methodBit: u32): i32 {
  for (let k: u32 = 0; k < count; k++) {
    if (holds(entry, methodBit)) {
      matchedRoute = <i32>load<u32>(entry + ENTRY_ROUTE);
      matchedRecord = load<u32>(entry + ENTRY_RECORD);
      return matchedRoute;
    }
    entry += ENTRY_SIZE;
  }
  return -1;
}
