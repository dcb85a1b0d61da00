// Key hashing: FNV-1a over bytes (cheap, and incremental, so every '/' prefix of a path gets its
// hash in the same pass), then the murmur3 finalizer so the low bits used by power-of-two tables
// are well mixed. src/host/layout.ts computes the same function for the encoder.

@inline export const FNV_OFFSET: u32 = 0x811c9dc5;
@inline const FNV_PRIME: u32 = 0x01000193;
@inline const SEED_MIX: u32 = 0x9e3779b1;

/** One FNV-1a step. */
@inline export function fnvStep(h: u32, b: u32): u32 {
  return (h ^ b) * FNV_PRIME;
}

/** Murmur3 fmix32: a bijection, so distinct inputs keep distinct hashes. */
@inline export function finish(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

/** Starting state for path keys of host `host`: the host index is part of every path key. */
@inline export function pathSeed(host: u32): u32 {
  return FNV_OFFSET ^ ((host + 1) * SEED_MIX);
}

/** Final hash of a path key whose FNV state is `h`; `kind` keeps Exact and Prefix keys apart. */
@inline export function pathHash(h: u32, kind: u32): u32 {
  return finish(h ^ kind);
}

/** True when `len` bytes at `a` equal `len` bytes at `b`. */
export function bytesEqual(a: usize, b: usize, len: u32): bool {
  let n = <usize>len;
  // Eight bytes at a time: keys are short, but long paths are common enough to matter.
  while (n >= 8) {
    if (load<u64>(a) != load<u64>(b)) return false;
    a += 8;
    b += 8;
    n -= 8;
  }
  while (n > 0) {
    if (load<u8>(a) != load<u8>(b)) return false;
    a++;
    b++;
    n--;
  }
  return true;
}
