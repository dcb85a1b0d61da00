/**
 * Password hashes of htpasswd files, checked with node:crypto alone: MD5-crypt (`$1$`) and
 * Apache's variant (`$apr1$`), SHA-crypt (`$5$` SHA-256, `$6$` SHA-512, Drepper's specification),
 * `{SHA}` and `{SSHA}` (base64 SHA-1), `{PLAIN}`. These are the schemes nginx's auth_basic checks
 * (through the system crypt for `$1$`/`$5$`/`$6$`). bcrypt (`$2a$`/`$2b$`/`$2y$`) and
 * traditional DES crypt are not implemented: hashScheme says so, and the caller refuses the entry.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** SHA-crypt rounds above this are refused: one wrong password would hold the proxy's event loop for too long. */
export const MAX_SHA_CRYPT_ROUNDS = 50_000;

/** A scheme Portico checks, or why a hash cannot be checked. */
export type HashScheme = { readonly ok: true; readonly scheme: 'md5-crypt' | 'apr1' | 'sha256-crypt' | 'sha512-crypt' | 'sha1' | 'ssha' | 'plain' } | { readonly ok: false; readonly reason: string };

/** The scheme of `hash` when Portico can check it; else a reason naming the scheme. */
export function hashScheme(hash: string): HashScheme {
  if (hash.startsWith('$apr1$')) return md5Parts(hash, '$apr1$') ? { ok: true, scheme: 'apr1' } : { ok: false, reason: 'malformed $apr1$ (Apache MD5) hash' };
  if (hash.startsWith('$1$')) return md5Parts(hash, '$1$') ? { ok: true, scheme: 'md5-crypt' } : { ok: false, reason: 'malformed $1$ (MD5-crypt) hash' };
  if (hash.startsWith('$5$') || hash.startsWith('$6$')) {
    const parts = shaParts(hash);
    if (parts === undefined) return { ok: false, reason: `malformed ${hash.slice(0, 3)} (SHA-crypt) hash` };
    if (parts.rounds > MAX_SHA_CRYPT_ROUNDS) return { ok: false, reason: `SHA-crypt with rounds=${parts.rounds} is refused (more than ${MAX_SHA_CRYPT_ROUNDS}: every wrong password would stall the proxy)` };
    return { ok: true, scheme: hash[1] === '5' ? 'sha256-crypt' : 'sha512-crypt' };
  }
  if (hash.startsWith('{SHA}')) return Buffer.from(hash.slice(5), 'base64').length === 20 ? { ok: true, scheme: 'sha1' } : { ok: false, reason: 'malformed {SHA} hash' };
  if (hash.startsWith('{SSHA}')) return Buffer.from(hash.slice(6), 'base64').length > 20 ? { ok: true, scheme: 'ssha' } : { ok: false, reason: 'malformed {SSHA} hash' };
  if (hash.startsWith('{PLAIN}')) return { ok: true, scheme: 'plain' };
  if (/^\$2[abxy]?\$/.test(hash)) return { ok: false, reason: 'bcrypt ($2y$, htpasswd -B) is not supported by Portico; re-create the entry with htpasswd -m (apr1) or openssl passwd -6 (SHA-512-crypt)' };
  if (/^[./0-9A-Za-z]{13}$/.test(hash)) return { ok: false, reason: 'traditional DES crypt (htpasswd -d) is not supported by Portico (it only reads 8 password characters); re-create the entry with htpasswd -m or openssl passwd -6' };
  return { ok: false, reason: 'unrecognised password hash scheme' };
}

function md5Parts(hash: string, magic: string): { salt: string } | undefined {
  const rest = hash.slice(magic.length);
  const dollar = rest.indexOf('$');
  if (dollar < 0 || dollar > 8) return undefined;
  return /^[./0-9A-Za-z]{22}$/.test(rest.slice(dollar + 1)) ? { salt: rest.slice(0, dollar) } : undefined;
}

function shaParts(hash: string): { salt: string; rounds: number; explicit: boolean } | undefined {
  const match = /^\$[56]\$(?:rounds=(\d{1,9})\$)?([^$]{0,16})\$([./0-9A-Za-z]+)$/.exec(hash);
  if (match === null) return undefined;
  const length = hash[1] === '5' ? 43 : 86;
  if (match[3]!.length !== length) return undefined;
  const requested = match[1] === undefined ? 5000 : Number(match[1]);
  return { salt: match[2]!, rounds: Math.max(1000, requested), explicit: match[1] !== undefined };
}

function to64(value: number, count: number): string {
  let out = '';
  for (let i = 0; i < count; i++) {
    out += ITOA64[value & 0x3f];
    value >>>= 6;
  }
  return out;
}

/** MD5-crypt (`$1$`) or Apache's `$apr1$`: same algorithm, different magic. */
function md5Crypt(password: Buffer, salt: string, magic: string): string {
  const saltBytes = Buffer.from(salt);
  const alternate = createHash('md5').update(password).update(saltBytes).update(password).digest();
  const context = createHash('md5').update(password).update(magic).update(saltBytes);
  for (let left = password.length; left > 0; left -= 16) context.update(alternate.subarray(0, Math.min(16, left)));
  for (let i = password.length; i > 0; i >>>= 1) context.update(i & 1 ? Buffer.of(0) : password.subarray(0, 1));
  let digest = context.digest();
  for (let i = 0; i < 1000; i++) {
    const round = createHash('md5');
    round.update(i & 1 ? password : digest);
    if (i % 3) round.update(saltBytes);
    if (i % 7) round.update(password);
    round.update(i & 1 ? digest : password);
    digest = round.digest();
  }
  const d = digest;
  const encoded =
    to64((d[0]! << 16) | (d[6]! << 8) | d[12]!, 4) +
    to64((d[1]! << 16) | (d[7]! << 8) | d[13]!, 4) +
    to64((d[2]! << 16) | (d[8]! << 8) | d[14]!, 4) +
    to64((d[3]! << 16) | (d[9]! << 8) | d[15]!, 4) +
    to64((d[4]! << 16) | (d[10]! << 8) | d[5]!, 4) +
    to64(d[11]!, 2);
  return `${magic}${salt}$${encoded}`;
}

const SHA256_ORDER = [0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29];
const SHA512_ORDER = [0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51, 31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41];

/** `length` bytes of `block` repeated. */
function repeated(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

/** SHA-crypt (`$5$` / `$6$`) as Drepper's specification defines it. */
function shaCrypt(password: Buffer, hash: string): string | undefined {
  const parts = shaParts(hash);
  if (parts === undefined) return undefined;
  const algorithm = hash[1] === '5' ? 'sha256' : 'sha512';
  const size = algorithm === 'sha256' ? 32 : 64;
  const salt = Buffer.from(parts.salt);
  const b = createHash(algorithm).update(password).update(salt).update(password).digest();
  const a = createHash(algorithm).update(password).update(salt).update(repeated(b, password.length));
  for (let i = password.length; i > 0; i >>>= 1) a.update(i & 1 ? b : password);
  const aDigest = a.digest();
  const dp = createHash(algorithm);
  for (let i = 0; i < password.length; i++) dp.update(password);
  const p = repeated(dp.digest(), password.length);
  const ds = createHash(algorithm);
  for (let i = 0; i < 16 + aDigest[0]!; i++) ds.update(salt);
  const s = repeated(ds.digest(), salt.length);
  let c = aDigest;
  for (let i = 0; i < parts.rounds; i++) {
    const round = createHash(algorithm);
    round.update(i & 1 ? p : c);
    if (i % 3) round.update(s);
    if (i % 7) round.update(p);
    round.update(i & 1 ? c : p);
    c = round.digest();
  }
  const order = size === 32 ? SHA256_ORDER : SHA512_ORDER;
  let encoded = '';
  for (let i = 0; i < order.length; i += 3) encoded += to64((c[order[i]!]! << 16) | (c[order[i + 1]!]! << 8) | c[order[i + 2]!]!, 4);
  encoded += size === 32 ? to64((c[31]! << 8) | c[30]!, 3) : to64(c[63]!, 2);
  const rounds = parts.explicit ? `rounds=${parts.rounds}$` : '';
  return `$${hash[1]}$${rounds}${parts.salt}$${encoded}`;
}

function sameText(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/**
 * Whether `password` matches `hash`; false for a hash whose scheme hashScheme refuses. Comparison
 * is constant-time in the hash's length.
 */
export function verifyPassword(hash: string, password: string): boolean {
  const scheme = hashScheme(hash);
  if (!scheme.ok) return false;
  const secret = Buffer.from(password);
  switch (scheme.scheme) {
    case 'apr1':
    case 'md5-crypt': {
      const magic = scheme.scheme === 'apr1' ? '$apr1$' : '$1$';
      return sameText(md5Crypt(secret, md5Parts(hash, magic)!.salt, magic), hash);
    }
    case 'sha256-crypt':
    case 'sha512-crypt':
      return sameText(shaCrypt(secret, hash) ?? '', hash);
    case 'sha1':
      return sameText(`{SHA}${createHash('sha1').update(secret).digest('base64')}`, hash);
    case 'ssha': {
      const raw = Buffer.from(hash.slice(6), 'base64');
      const digest = createHash('sha1').update(secret).update(raw.subarray(20)).digest();
      return timingSafeEqual(digest, raw.subarray(0, 20));
    }
    case 'plain':
      return sameText(`{PLAIN}${password}`, hash);
  }
}
