// Path selection inside one host: the Exact key equal to the request path, else the longest
// element-wise Prefix. A Prefix key is stored normalized (trailing slashes removed, `/` becomes
// the empty root key), so rule p matches path r when r == p or r starts with p + '/'. Candidate
// keys are therefore r itself and r cut before each '/', all hashed in one forward pass.
import { bytesEqual, pathHash, pathSeed, fnvStep } from './hash';
import { hostRecord } from './host';
import { firstHolding } from './conditions';
import {
  GROUP_COUNT, GROUP_HOST, GROUP_KEY_LEN, GROUP_KEY_OFF, GROUP_KIND, GROUP_SIZE, GROUP_START,
  HOST_EXACT_DEPTHS, HOST_PREFIX_DEPTHS, HOST_ROOT_COUNT, HOST_ROOT_START, KIND_EXACT, KIND_PREFIX,
  SLOT_HASH, SLOT_INDEX, SLOT_SIZE, groupsBase, pathsBase, pathsMask, poolBase,
} from './table';

@inline const SLASH: u32 = 0x2f;

/** Bit standing for keys with `depth` slashes; depths past 31 share the top bit (probe anyway). */
@inline function depthBit(depth: u32): u32 {
  return 1 << (depth < 31 ? depth : 31);
}

/** Group index of key (host, kind, `len` bytes at `key`) with final hash `hash`, or -1. */
function probePaths(hash: u32, host: u32, kind: u32, key: usize, len: u32): i32 {
  let i = hash & pathsMask;
  for (let n: u32 = 0; n <= pathsMask; n++) {
    let slot = pathsBase + <usize>i * SLOT_SIZE;
    let index = load<u32>(slot + SLOT_INDEX);
    if (index == 0) return -1;
    if (load<u32>(slot + SLOT_HASH) == hash) {
      let group = groupsBase + <usize>(index - 1) * GROUP_SIZE;
      if (
        load<u32>(group + GROUP_HOST) == host &&
        load<u32>(group + GROUP_KIND) == kind &&
        load<u32>(group + GROUP_KEY_LEN) == len &&
        bytesEqual(poolBase + <usize>load<u32>(group + GROUP_KEY_OFF), key, len)
      ) return <i32>(index - 1);
    }
    i = (i + 1) & pathsMask;
  }
  return -1;
}

/** Route of the first holding entry of the group for key (host, kind, bytes), or -1 (absent or none holds). */
@inline function tryKey(state: u32, host: u32, kind: u32, key: usize, len: u32, methodBit: u32): i32 {
  let g = probePaths(pathHash(state, kind), host, kind, key, len);
  if (g < 0) return -1;
  let group = groupsBase + <usize>g * GROUP_SIZE;
  return firstHolding(load<u32>(group + GROUP_START), load<u32>(group + GROUP_COUNT), methodBit);
}

/**
 * Route chosen by host `host`'s path rules for the `len` path bytes at `path`, or -1 when none
 * matches (the caller then applies the fallbacks). `scratch` holds up to one 8-byte candidate per
 * '/' in the path.
 */
export function findRoute(host: u32, path: usize, len: u32, methodBit: u32, scratch: usize): i32 {
  let rec = hostRecord(host);
  let exactDepths = load<u32>(rec + HOST_EXACT_DEPTHS);
  let prefixDepths = load<u32>(rec + HOST_PREFIX_DEPTHS);
  let h = pathSeed(host);
  let depth: u32 = 0;
  let prev: u32 = 0;
  let candidates: u32 = 0;
  if (prefixDepths != 0) {
    for (let i: u32 = 0; i < len; i++) {
      let b = <u32>load<u8>(path + <usize>i);
      // The prefix before this '/' is a candidate unless it is empty (the root, handled below)
      // or ends in '/' (normalized keys never do), or no key of its depth exists.
      if (b == SLASH) {
        if (i > 0 && prev != SLASH && (prefixDepths & depthBit(depth)) != 0) {
          let c = scratch + (<usize>candidates << 3);
          store<u32>(c, i);
          store<u32>(c, h, 4);
          candidates++;
        }
        depth++;
      }
      h = fnvStep(h, b);
      prev = b;
    }
  } else if (exactDepths != 0) {
    for (let i: u32 = 0; i < len; i++) {
      let b = <u32>load<u8>(path + <usize>i);
      if (b == SLASH) depth++;
      h = fnvStep(h, b);
    }
  }

  if ((exactDepths & depthBit(depth)) != 0) {
    let r = tryKey(h, host, KIND_EXACT, path, len, methodBit);
    if (r >= 0) return r;
  }
  if (len > 0 && prev != SLASH && (prefixDepths & depthBit(depth)) != 0) {
    let r = tryKey(h, host, KIND_PREFIX, path, len, methodBit);
    if (r >= 0) return r;
  }
  while (candidates > 0) {
    candidates--;
    let c = scratch + (<usize>candidates << 3);
    let r = tryKey(load<u32>(c, 4), host, KIND_PREFIX, path, load<u32>(c), methodBit);
    if (r >= 0) return r;
  }
  let rootCount = load<u32>(rec + HOST_ROOT_COUNT);
  if (rootCount != 0) return firstHolding(load<u32>(rec + HOST_ROOT_START), rootCount, methodBit);
  return -1;
}
