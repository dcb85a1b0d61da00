// Key hashing: MurmurHash3 x86_32, four bytes per step (a byte-at-a-time hash is a serial
// multiply chain and showed up in profiles). src/host/layout.ts computes the same function for
// the encoder. Request bytes live in the scratch, which has slack after them, so the tail may be
// read as one (masked) u32.

@inline const C1: u32 = 0xcc9e2d51;
@inline const C2: u32 = 0x1b873593;
@inline const SEED_MIX: u32 = 0x9e3779b1;

/** Seed of host keys. */
@inline export const HOST_SEED: u32 = 0;

/** Seed of path keys of kind `kind`; each host has its own path table, so the host is not part of it (host blocks are position-independent). */
@inline export function pathSeed(kind: u32): u32 {
  return SEED_MIX + kind;
}

@inline function scramble(k: u32): u32 {
  return rotl<u32>(k * C1, 15) * C2;
}

/** MurmurHash3 x86_32 of `len` bytes at `key` (up to 3 bytes past the end may be read). */
export function murmur(key: usize, len: u32, seed: u32): u32 {
  let h = seed;
  let end = key + <usize>(len & ~3);
  let p = key;
  while (p < end) {
    h ^= scramble(load<u32>(p));
    h = rotl<u32>(h, 13) * 5 + 0xe6546b64;
    p += 4;
  }
  let rest = len & 3;
  if (rest != 0) h ^= scramble(load<u32>(p) & ((<u32>1 << (rest << 3)) - 1));
  return fmix(h ^ len);
}

/** murmur3's finalizer: a bijection on u32 with full avalanche. */
@inline export function fmix(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85ebca6b;
  h ^= h >>> 13;
  h *= 0xc2b2ae35;
  h ^= h >>> 16;
  return h;
}

/** True when `len` bytes at `a` equal `len` bytes at `b`. */
export function bytesEqual(a: usize, b: usize, len: u32): bool {
  let n = <usize>len;
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
