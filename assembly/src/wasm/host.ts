// Host selection: normalize the request host in place, then exact name, else one-label wildcard,
// else the any-host entry. Exactly one host entry is chosen; its paths never fall through to a
// less specific host's.
import { FNV_OFFSET, bytesEqual, finish, fnvStep } from './hash';
import {
  HOST_KEY_LEN, HOST_KEY_OFF, HOST_SIZE, SLOT_HASH, SLOT_INDEX, SLOT_SIZE,
  anyHost, exactHostsBase, exactHostsMask, hostsBase, poolBase, wildHostsBase, wildHostsMask,
} from './table';

@inline const COLON: u32 = 0x3a;
@inline const DOT: u32 = 0x2e;
@inline const OPEN_BRACKET: u32 = 0x5b;
@inline const CLOSE_BRACKET: u32 = 0x5d;

/** Address of host record `index`. */
@inline export function hostRecord(index: u32): usize {
  return hostsBase + <usize>index * HOST_SIZE;
}

/** Probes a host hash table; returns the host index whose key equals `len` bytes at `key`, or -1. */
function probeHosts(table: usize, mask: u32, hash: u32, key: usize, len: u32): i32 {
  let i = hash & mask;
  // Bounded by the capacity so a damaged table cannot spin forever.
  for (let n: u32 = 0; n <= mask; n++) {
    let slot = table + <usize>i * SLOT_SIZE;
    let index = load<u32>(slot + SLOT_INDEX);
    if (index == 0) return -1;
    if (load<u32>(slot + SLOT_HASH) == hash) {
      let rec = hostRecord(index - 1);
      if (load<u32>(rec + HOST_KEY_LEN) == len && bytesEqual(poolBase + <usize>load<u32>(rec + HOST_KEY_OFF), key, len)) {
        return <i32>(index - 1);
      }
    }
    i = (i + 1) & mask;
  }
  return -1;
}

/**
 * Host index for the `len` request-host bytes at `start`, or -1 when no entry (not even `*`) applies.
 * Normalization: a `:port` is dropped (for `[v6]:port` only after the `]`), ASCII letters are
 * lower-cased, and one trailing dot is dropped. The bytes are lower-cased in place.
 */
export function findHost(start: usize, len: u32): i32 {
  let bracket = len > 0 && <u32>load<u8>(start) == OPEN_BRACKET;
  let h = FNV_OFFSET;
  let hPrev = h;
  // Hash of the part after the first dot, for the wildcard probe, built in the same pass.
  let suffix = FNV_OFFSET;
  let suffixPrev = suffix;
  let dot: i32 = -1;
  let i: u32 = 0;
  while (i < len) {
    let p = start + <usize>i;
    let b = <u32>load<u8>(p);
    if (b == COLON && !bracket) break;
    if (b - 0x41 < 26) {
      b |= 0x20;
      store<u8>(p, <u8>b);
    }
    hPrev = h;
    h = fnvStep(h, b);
    if (dot >= 0) {
      suffixPrev = suffix;
      suffix = fnvStep(suffix, b);
    } else if (b == DOT) {
      dot = <i32>i;
    }
    i++;
    if (b == CLOSE_BRACKET && bracket) break;
  }
  let end = i;
  if (end > 0 && <u32>load<u8>(start + <usize>end - 1) == DOT) {
    end--;
    h = hPrev;
    suffix = suffixPrev;
  }

  let found = probeHosts(exactHostsBase, exactHostsMask, finish(h), start, end);
  if (found >= 0) return found;
  // `*.foo.com` takes exactly one more non-empty label: the first label must be non-empty and
  // the rest must equal the wildcard's suffix (which never has empty labels).
  if (!bracket && dot > 0 && <u32>dot + 1 < end) {
    let off = <u32>dot + 1;
    found = probeHosts(wildHostsBase, wildHostsMask, finish(suffix), start + <usize>off, end - off);
    if (found >= 0) return found;
  }
  return anyHost;
}
