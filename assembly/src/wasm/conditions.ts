// Conditions of one path entry: method mask and header equalities. Header values are compared on
// the host (as JS strings) for just the names the table mentions; wasm only sees the resulting
// bitset, one bit per distinct (name, value) condition of the table.
import { ENTRY_COND_COUNT, ENTRY_COND_START, ENTRY_METHODS, ENTRY_ROUTE, ENTRY_SIZE, condsBase, entriesBase } from './table';

/** Where the host writes the per-request header bitset; set by `init`. */
export let headerBits: usize = 0;

/** Points the header bitset at `at`. */
export function bindHeaderBits(at: usize): void {
  headerBits = at;
}

/** True when entry `entry` (an address) accepts a request with method bit `methodBit` (0 = unknown method). */
@inline function holds(entry: usize, methodBit: u32): bool {
  let methods = load<u32>(entry + ENTRY_METHODS);
  // An unknown method has bit 0, so it passes only entries without a method condition.
  if (methods != 0 && (methods & methodBit) == 0) return false;
  let count = load<u32>(entry + ENTRY_COND_COUNT);
  let cond = condsBase + (<usize>load<u32>(entry + ENTRY_COND_START) << 2);
  for (let k: u32 = 0; k < count; k++) {
    let bit = load<u32>(cond + (<usize>k << 2));
    if ((load<u32>(headerBits + (<usize>(bit >>> 5) << 2)) & (1 << (bit & 31))) == 0) return false;
  }
  return true;
}

/** Route of the first of `count` entries from index `start` whose conditions hold, or -1. */
export function firstHolding(start: u32, count: u32, methodBit: u32): i32 {
  let entry = entriesBase + <usize>start * ENTRY_SIZE;
  for (let k: u32 = 0; k < count; k++) {
    if (holds(entry, methodBit)) return <i32>load<u32>(entry + ENTRY_ROUTE);
    entry += ENTRY_SIZE;
  }
  return -1;
}
