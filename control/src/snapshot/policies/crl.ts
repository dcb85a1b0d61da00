/**
 * X.509 certificate revocation lists (RFC 5280 section 5) for `auth-tls-secret`'s `ca.crl`: a
 * small DER reader for the parts revocation needs (the signed part, its signature and algorithm,
 * thisUpdate, nextUpdate and the revoked serial numbers), and the signature checked with
 * node:crypto against the issuing certificate's key. Node has no CRL API of its own. Pure; the
 * reader is bounded by the input and throws on anything malformed.
 */
import { verify } from 'node:crypto';
import type { X509Certificate } from 'node:crypto';

/** Most revocation lists one Secret may hold. */
export const MAX_CRLS = 64;

/** One parsed revocation list. */
export interface RevocationList {
  /** The DER of tbsCertList: what the signature covers. */
  readonly signed: Uint8Array;
  /** The digest node:crypto verifies with (null for Ed25519/Ed448). */
  readonly digest: string | null;
  readonly signature: Uint8Array;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date | undefined;
  /** Revoked serial numbers, upper-case hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
}

const PEM_CRL = /-----BEGIN X509 CRL-----([\s\S]+?)-----END X509 CRL-----/g;

/** Signature algorithms by OID: RSA PKCS#1 v1.5 and ECDSA with SHA-2 (and SHA-1), EdDSA. */
const DIGESTS: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
  '1.3.101.113': null,
};

interface Element {
  readonly tag: number;
  /** Where the element's header starts, its content starts and ends. */
  readonly at: number;
  readonly start: number;
  readonly end: number;
}

/** The DER element at `at`, which must end by `limit`. Throws when it does not fit. */
function element(der: Uint8Array, at: number, limit: number): Element {
  if (at + 2 > limit) throw new Error('truncated');
  const tag = der[at] as number;
  let length = der[at + 1] as number;
  let start = at + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 4 || start + bytes > limit) throw new Error('bad length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = length * 256 + (der[start + i] as number);
    start += bytes;
  }
  if (start + length > limit) throw new Error('truncated');
  return { tag, at, start, end: start + length };
}

function must(found: Element, tag: number, what: string): Element {
  if (found.tag !== tag) throw new Error(`${what}: unexpected tag 0x${found.tag.toString(16)}`);
  return found;
}

function oidOf(der: Uint8Array, oid: Element): string {
  const parts: number[] = [];
  let value = 0;
  for (let i = oid.start; i < oid.end; i++) {
    const byte = der[i] as number;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

function timeOf(der: Uint8Array, time: Element): Date {
  const text = Buffer.from(der.subarray(time.start, time.end)).toString('latin1');
  const match = time.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : time.tag === 0x18 ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text) : null;
  if (match === null) throw new Error('bad time');
  const year = time.tag === 0x17 ? Number(match[1]) + (Number(match[1]) < 50 ? 2000 : 1900) : Number(match[1]);
  return new Date(Date.UTC(year, Number(match[2]) - 1, Number(match[3]), Number(match[4]), Number(match[5]), Number(match[6])));
}

/** A serial number as upper-case hex without leading zeros (how X509Certificate's serialNumber compares). */
export function serialKey(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, '');
}

/** One DER CertificateList. Throws (with the reason) when malformed or of an unknown signature algorithm. */
export function parseCrl(der: Uint8Array): RevocationList {
  const outer = must(element(der, 0, der.length), 0x30, 'CertificateList');
  const tbs = must(element(der, outer.start, outer.end), 0x30, 'tbsCertList');
  const algorithm = must(element(der, tbs.end, outer.end), 0x30, 'signatureAlgorithm');
  const oid = oidOf(der, must(element(der, algorithm.start, algorithm.end), 0x06, 'algorithm'));
  if (!Object.hasOwn(DIGESTS, oid)) throw new Error(`signature algorithm ${oid} is not supported`);
  const bits = must(element(der, algorithm.end, outer.end), 0x03, 'signatureValue');
  // An optional version, then the signature algorithm again, the issuer, thisUpdate.
  let next = element(der, tbs.start, tbs.end);
  if (next.tag === 0x02) next = element(der, next.end, tbs.end);
  let at = must(next, 0x30, 'signature').end;
  at = must(element(der, at, tbs.end), 0x30, 'issuer').end;
  const thisUpdateElement = element(der, at, tbs.end);
  const thisUpdate = timeOf(der, thisUpdateElement);
  at = thisUpdateElement.end;
  let nextUpdate: Date | undefined;
  const revoked = new Set<string>();
  if (at < tbs.end) {
    next = element(der, at, tbs.end);
    if (next.tag === 0x17 || next.tag === 0x18) {
      nextUpdate = timeOf(der, next);
      at = next.end;
      next = at < tbs.end ? element(der, at, tbs.end) : next;
    }
    if (at < tbs.end && next.tag === 0x30) {
      for (let entryAt = next.start; entryAt < next.end; ) {
        const entry = must(element(der, entryAt, next.end), 0x30, 'revokedCertificate');
        const serial = must(element(der, entry.start, entry.end), 0x02, 'userCertificate');
        revoked.add(serialKey(Buffer.from(der.subarray(serial.start, serial.end)).toString('hex')));
        entryAt = entry.end;
      }
    }
  }
  return { signed: der.subarray(tbs.at, tbs.end), digest: DIGESTS[oid] as string | null, signature: der.subarray(bits.start + 1, bits.end), thisUpdate, nextUpdate, revoked };
}

/** The revocation lists of a PEM text. Throws (with the reason) when it holds none, too many, or an unreadable one. */
export function parseCrlBundle(pem: string): RevocationList[] {
  const blocks = [...pem.matchAll(PEM_CRL)].map((match) => match[1] as string);
  if (blocks.length === 0) throw new Error('holds no PEM revocation list (-----BEGIN X509 CRL-----)');
  if (blocks.length > MAX_CRLS) throw new Error(`holds ${blocks.length} revocation lists, more than ${MAX_CRLS}`);
  return blocks.map((body, index) => {
    try {
      return parseCrl(Buffer.from(body.replace(/\s+/g, ''), 'base64'));
    } catch (error) {
      throw new Error(`revocation list ${index + 1} is not readable: ${(error as Error).message}`, { cause: error });
    }
  });
}

/** Whether `issuer`'s key signed `list`. Never throws. */
export function signedBy(list: RevocationList, issuer: X509Certificate): boolean {
  try {
    return verify(list.digest, list.signed, issuer.publicKey, list.signature);
  } catch {
    return false;
  }
}

/** Which lists each issuer signed, remembered per list (they live as long as the snapshot's prepared step). */
const signers = new WeakMap<RevocationList, Map<string, boolean>>();

/**
 * Why `certificate` (issued by `issuer`) fails revocation checking against `lists` at `now`, as
 * OpenSSL words it, or undefined when it passes: a list signed by the issuer must exist, be
 * current and not name the certificate's serial number.
 */
export function revocationProblem(certificate: X509Certificate, issuer: X509Certificate, lists: readonly RevocationList[], now: Date): string | undefined {
  let found = false;
  for (const list of lists) {
    let known = signers.get(list);
    if (known === undefined) signers.set(list, (known = new Map()));
    let signed = known.get(issuer.fingerprint256);
    if (signed === undefined) known.set(issuer.fingerprint256, (signed = signedBy(list, issuer)));
    if (!signed) continue;
    found = true;
    if (now < list.thisUpdate) return 'CRL is not yet valid';
    if (list.nextUpdate !== undefined && now > list.nextUpdate) return 'CRL has expired';
    if (list.revoked.has(serialKey(certificate.serialNumber))) return 'certificate revoked';
  }
  return found ? undefined : 'unable to get certificate CRL';
}
