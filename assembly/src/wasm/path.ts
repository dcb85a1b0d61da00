// Path selection inside one host: the Exact key equal to the request path, else the host's
// RegularExpression entries (their pattern is a condition bit the host side set), else the longest
// element-wise Prefix. A Prefix key is stored normalized (trailing slashes removed, `/` becomes
// the root kept in the host record), so rule p matches path r when r == p or r starts with
// p + '/'. Candidate keys are therefore r itself and r cut before each '/'. The scan reads whole
// 16-byte chunks; the scratch has slack after the path for that.
import { bytesEqual, murmur, pathSeed } from './hash';
import { firstHolding } from './conditions';
import {
  GROUP_COUNT, GROUP_KEY, GROUP_KEY_LEN, GROUP_KIND, HOST_EXACT_DEPTHS, HOST_KEY, HOST_KEY_LEN,
  HOST_PATHS, HOST_PATHS_MASK, HOST_PREFIX_DEPTHS, HOST_REGEX_COUNT, HOST_ROOT_COUNT, KIND_EXACT, KIND_PREFIX, SLOT_HASH,
  SLOT_RECORD, SLOT_SIZE, ENTRY_SIZE, pad8, tableBase,
} from './table';

@inline const SLASH: u32 = 0x2f;
@inline const QUESTION: u32 = 0x3f;

/** Bit standing for keys with `depth` slashes; depths past 31 share the top bit (probe anyway). */
@inline function depthBit(depth: u32): u32 {
  return 1 << (depth < 31 ? depth : 31);
}

/** Route of the first holding entry of the host's group for key (kind, `len` bytes at `key`), or -1. */
function tryKey(rec: usize, kind: u32, key: usize, len: u32, methodBit: u32): i32 {
  let hash = murmur(key, len, pathSeed(kind));
  let slots = tableBase + <usize>load<u32>(rec + HOST_PATHS);
  let mask = load<u32>(rec + HOST_PATHS_MASK);
  let i = hash & mask;
  for (let n: u32 = 0; n <= mask; n++) {
    let slot = slots + <usize>i * SLOT_SIZE;
    let off = load<u32>(slot + SLOT_RECORD);
    if (off == 0) return -1;
    if (load<u32>(slot + SLOT_HASH) == hash) {
      let group = tableBase + <usize>off;
      if (
        load<u32>(group + GROUP_KEY_LEN) == len &&
        load<u32>(group + GROUP_KIND) == kind &&
        bytesEqual(group + GROUP_KEY, key, len)
      ) {
        // Several groups can share a key's hash but only one has this exact key.
        return firstHolding(group + GROUP_KEY + <usize>pad8(len), load<u32>(group + GROUP_COUNT), methodBit);
      }
    }
    i = (i + 1) & mask;
  }
  return -1;
}

/**
 * Route chosen by the rules of the host record at `rec` for the `len` path bytes at `path` (a
 * query is cut off here; an empty path counts as `/`), or -1 when none matches (the caller then
 * applies the fallbacks). `scratch` has room for one u32 per path byte.
 */
export function findRoute(rec: usize, path: usize, len: u32, methodBit: u32, scratch: usize): i32 {
  let exactDepths = load<u32>(rec + HOST_EXACT_DEPTHS);
  let prefixDepths = load<u32>(rec + HOST_PREFIX_DEPTHS);
  let entries = rec + HOST_KEY + <usize>pad8(load<u32>(rec + HOST_KEY_LEN));
  let rootCount = load<u32>(rec + HOST_ROOT_COUNT);
  let regexCount = load<u32>(rec + HOST_REGEX_COUNT);
  let candidates: u32 = 0;
  let end = len;
  let wholePrefix = false;
  if ((exactDepths | prefixDepths) != 0) {
    let depth: u32 = 0;
    // 16 bytes at a time: find the '?' that ends the path and visit each '/' before it.
    for (let i: u32 = 0; i < len; i += 16) {
      let v = v128.load(path + <usize>i);
      let rest = len - i;
      let valid: i32 = rest >= 16 ? 0xffff : (1 << rest) - 1;
      let query = i8x16.bitmask(i8x16.eq(v, i8x16.splat(<i8>QUESTION))) & valid;
      let slashes = i8x16.bitmask(i8x16.eq(v, i8x16.splat(<i8>SLASH))) & valid;
      if (query != 0) {
        let at = <u32>ctz(query);
        slashes &= (1 << at) - 1;
        end = i + at;
      }
      while (slashes != 0) {
        let at = i + <u32>ctz(slashes);
        slashes &= slashes - 1;
        // The part before this '/' is a candidate unless it is empty (the root, handled below),
        // ends in '/' (normalized keys never do), or the host has no key of its depth.
        if (at > 0 && <u32>load<u8>(path + <usize>at - 1) != SLASH && (prefixDepths & depthBit(depth)) != 0) {
          store<u32>(scratch + (<usize>candidates << 2), at);
          candidates++;
        }
        depth++;
      }
      if (query != 0) break;
    }
    let prev: u32 = end > 0 ? <u32>load<u8>(path + <usize>end - 1) : 0;
    if (end == 0) {
      // RFC 9110 §4.2.3: an empty path is `/`. The byte at `path` is the '?' or scratch slack.
      store<u8>(path, <u8>SLASH);
      end = 1;
      depth = 1;
      prev = SLASH;
    }
    if ((exactDepths & depthBit(depth)) != 0) {
      let r = tryKey(rec, KIND_EXACT, path, end, methodBit);
      if (r >= 0) return r;
    }
    // The Prefix key of the whole path is tried after the regex entries, like the shorter ones.
    wholePrefix = prev != SLASH && (prefixDepths & depthBit(depth)) != 0;
  }
  if (regexCount != 0) {
    let r = firstHolding(entries + <usize>rootCount * ENTRY_SIZE, regexCount, methodBit);
    if (r >= 0) return r;
  }
  if ((exactDepths | prefixDepths) != 0) {
    if (wholePrefix) {
      let r = tryKey(rec, KIND_PREFIX, path, end, methodBit);
      if (r >= 0) return r;
    }
    while (candidates > 0) {
      candidates--;
      let r = tryKey(rec, KIND_PREFIX, path, load<u32>(scratch + (<usize>candidates << 2)), methodBit);
      if (r >= 0) return r;
    }
  }
  if (rootCount == 0) return -1;
  return firstHolding(entries, rootCount, methodBit);
}
