// Host selection: normalize the request host in place, then exact name, else one-label wildcard,
// else the longest multi-label (Gateway API) wildcard suffix, else the any-host entry. Exactly one host entry is chosen; its paths never fall through to a
// less specific host's.
import { HOST_SEED, bytesEqual, murmur } from './hash';
import {
  HOST_KEY, HOST_KEY_LEN, SLOT_HASH, SLOT_RECORD, SLOT_SIZE,
  anyHost, deepHostsBase, deepHostsMask, exactHostsBase, exactHostsMask, tableBase, wildHostsBase, wildHostsMask,
} from './table';

@inline const COLON: u32 = 0x3a;
@inline const DOT: u32 = 0x2e;
@inline const OPEN_BRACKET: u32 = 0x5b;
@inline const CLOSE_BRACKET: u32 = 0x5d;

/** Probes a host hash table; returns the address of the host record whose key equals `len` bytes at `key`, or 0. */
function probeHosts(table: usize, mask: u32, key: usize, len: u32): usize {
  let hash = murmur(key, len, HOST_SEED);
  let i = hash & mask;
  // Bounded by the capacity so a damaged table cannot spin forever.
  for (let n: u32 = 0; n <= mask; n++) {
    let slot = table + <usize>i * SLOT_SIZE;
    let off = load<u32>(slot + SLOT_RECORD);
    if (off == 0) return 0;
    if (load<u32>(slot + SLOT_HASH) == hash) {
      let rec = tableBase + <usize>off;
      if (load<u32>(rec + HOST_KEY_LEN) == len && bytesEqual(rec + HOST_KEY, key, len)) return rec;
    }
    i = (i + 1) & mask;
  }
  return 0;
}

/**
 * The multi-label wildcard whose suffix is longest among those leaving two or more non-empty
 * labels before it: the host's bytes [`from`, `end`) start after its first label and dot.
 * Only tables with Gateway API wildcards get here.
 */
function findDeep(start: usize, from: u32, end: u32): usize {
  let at = from;
  while (at < end) {
    let next = at;
    while (next < end && <u32>load<u8>(start + <usize>next) != DOT) next++;
    // An empty label cannot be part of what `*` stands for; no dot left means no shorter suffix.
    if (next == at || next + 1 >= end) return 0;
    let off = next + 1;
    let found = probeHosts(deepHostsBase, deepHostsMask, start + <usize>off, end - off);
    if (found != 0) return found;
    at = off;
  }
  return 0;
}

/** Lane numbers 0..15, to keep a partial last chunk's extra lanes as they were. */
@inline function lanes(): v128 {
  return i8x16(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
}

/**
 * Address of the host record for the `len` request-host bytes at `start`, or 0 when no entry (not
 * even `*`) applies. Normalization: a `:port` is dropped (for `[v6]:port` only after the `]`),
 * ASCII letters are lower-cased (in place), and one trailing dot is dropped. Works 16 bytes at a
 * time: a byte loop with four data-dependent branches per byte showed up in profiles. The
 * scratch has slack after the request, so a chunk may read (not write) past the host.
 */
export function findHost(start: usize, len: u32): usize {
  let bracket = len > 0 && <u32>load<u8>(start) == OPEN_BRACKET;
  let stop = i8x16.splat(<i8>(bracket ? CLOSE_BRACKET : COLON));
  let end = len;
  let dot: i32 = -1;
  for (let i: u32 = 0; i < len; i += 16) {
    let p = start + <usize>i;
    let v = v128.load(p);
    let rest = len - i;
    let valid: i32 = rest >= 16 ? 0xffff : (1 << rest) - 1;
    let upper = v128.and(i8x16.ge_u(v, i8x16.splat(0x41)), i8x16.le_u(v, i8x16.splat(0x5a)));
    let lowered = v128.or(v, v128.and(upper, i8x16.splat(0x20)));
    // Bytes past the host belong to the path, which is case-sensitive: leave them be.
    let mine = i8x16.lt_u(lanes(), i8x16.splat(<i8>(rest >= 16 ? 16 : rest)));
    v128.store(p, v128.bitselect(lowered, v, mine));
    let dots = i8x16.bitmask(i8x16.eq(v, i8x16.splat(<i8>DOT))) & valid;
    let stops = i8x16.bitmask(i8x16.eq(v, stop)) & valid;
    if (stops != 0) {
      let at = <u32>ctz(stops);
      // `]` stays part of an IPv6 literal; `:` is the start of the port.
      end = i + at + (bracket ? 1 : 0);
      dots &= (1 << at) - 1;
    }
    if (dot < 0 && dots != 0) dot = <i32>(i + <u32>ctz(dots));
    if (stops != 0) break;
  }
  if (end > 0 && <u32>load<u8>(start + <usize>end - 1) == DOT) end--;

  let found = probeHosts(exactHostsBase, exactHostsMask, start, end);
  if (found != 0) return found;
  // `*.foo.com` takes exactly one more non-empty label: the first label must be non-empty and
  // the rest must equal the wildcard's suffix (which never has empty labels).
  if (!bracket && dot > 0 && <u32>dot + 1 < end) {
    let off = <u32>dot + 1;
    found = probeHosts(wildHostsBase, wildHostsMask, start + <usize>off, end - off);
    if (found != 0) return found;
    if (deepHostsBase != 0) {
      found = findDeep(start, off, end);
      if (found != 0) return found;
    }
  }
  return anyHost;
}
