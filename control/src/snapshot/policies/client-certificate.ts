/**
 * Client-certificate verification for `auth-tls-*` (policies/auth-tls.ts): the chain a client sent
 * in its TLS handshake, checked against the CA bundle of the Ingress's Secret with node:crypto's
 * X509Certificate, as nginx's `ssl_verify_client` has OpenSSL check it: a path from the client's
 * certificate to a self-signed certificate of the bundle, each link's issuer name and signature,
 * every certificate within its validity dates, issuers marked CA, at most `depth` intermediate
 * certificates between the client's and the trust anchor (OpenSSL >= 1.1's `ssl_verify_depth`),
 * a client certificate whose extended key usage, when present, allows client authentication, and,
 * with revocation lists, every certificate but the trust anchor checked against a current list of
 * its issuer (OpenSSL's CRL_CHECK + CRL_CHECK_ALL, as nginx's `ssl_crl` sets them).
 * Failure reasons are OpenSSL's strings, as nginx's `$ssl_client_verify` writes them (`FAILED:…`).
 * Pure: no I/O.
 */
import { X509Certificate } from 'node:crypto';
import type { RevocationList } from './crl.ts';
import { revocationProblem } from './crl.ts';

/** Most certificates of a client's chain looked at (the TLS stack already bounds the message). */
export const MAX_CLIENT_CHAIN = 10;

/** Most certificates one CA bundle may hold. */
export const MAX_CA_CERTIFICATES = 256;

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';

/** What the handshake's certificate amounts to for one CA bundle (nginx's `$ssl_client_verify` and DNs). */
export interface ClientVerdict {
  /** `SUCCESS`, `NONE` (no certificate) or `FAILED:<reason>`, as nginx's `$ssl_client_verify`. */
  readonly verify: string;
  /** Whether the failure only says the issuer is not trusted (what nginx's `optional_no_ca` lets through). */
  readonly untrustedIssuerOnly: boolean;
  /** The client certificate's subject and issuer DNs, RFC 2253 (`CN=client,O=Org`); '' without a certificate. */
  readonly subject: string;
  readonly issuer: string;
  /** The client certificate as PEM, URL-escaped (nginx's `$ssl_client_escaped_cert`); '' without one. */
  readonly escapedPem: string;
}

/** No certificate was sent. */
export const NO_CERTIFICATE: ClientVerdict = { verify: 'NONE', untrustedIssuerOnly: false, subject: '', issuer: '', escapedPem: '' };

/**
 * The certificates of a PEM bundle. Throws (with the reason) when it holds none, more than
 * MAX_CA_CERTIFICATES, or a block that is not an X.509 certificate.
 */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new Error('holds no PEM certificate');
  if (blocks.length > MAX_CA_CERTIFICATES) throw new Error(`holds ${blocks.length} certificates, more than ${MAX_CA_CERTIFICATES}`);
  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block);
    } catch (error) {
      throw new Error(`certificate ${index + 1} is not readable: ${(error as Error).message}`, { cause: error });
    }
  });
}

/**
 * A DN as nginx's `$ssl_client_s_dn` prints it (RFC 2253: most specific first, comma-separated)
 * from Node's one-RDN-per-line form; anything outside printable ASCII is hex-escaped, so the
 * value is always a safe header field value.
 */
export function rfc2253(name: string): string {
  const rdns = name.split('\n').filter((line) => line !== '');
  rdns.reverse();
  let out = '';
  for (const char of rdns.join(',')) {
    const code = char.codePointAt(0) as number;
    if (code >= 0x20 && code < 0x7f) out += char;
    else for (const byte of Buffer.from(char, 'utf8')) out += `\\${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** The fingerprints of a bundle, made once per bundle. */
const trustedSets = new WeakMap<readonly X509Certificate[], Set<string>>();

/** Answers for the bundle's certificates, which live as long as the snapshot's prepared step. */
const selfIssuedAnchors = new WeakMap<X509Certificate, boolean>();

function selfIssued(certificate: X509Certificate): boolean {
  let answer = selfIssuedAnchors.get(certificate);
  if (answer === undefined) {
    answer = certificate.checkIssued(certificate) && certificate.verify(certificate.publicKey);
    selfIssuedAnchors.set(certificate, answer);
  }
  return answer;
}

/**
 * Verifies `chain` (DER, the client's certificate first, then what else it sent, in any order)
 * against `anchors` (the CA bundle) at `now`, allowing `depth` intermediate certificates, and
 * against `crls` when given. Never throws: an unreadable certificate is a failure.
 */
export function verifyClientChain(chain: readonly Uint8Array[], anchors: readonly X509Certificate[], depth: number, now: Date, crls?: readonly RevocationList[]): ClientVerdict {
  if (chain.length === 0) return NO_CERTIFICATE;
  let leaf: X509Certificate;
  const pool: X509Certificate[] = [];
  try {
    leaf = new X509Certificate(chain[0] as Uint8Array);
    for (const der of chain.slice(1, MAX_CLIENT_CHAIN)) pool.push(new X509Certificate(der));
  } catch {
    return { ...NO_CERTIFICATE, verify: 'FAILED:unable to decode certificate' };
  }
  const described = { subject: rfc2253(leaf.subject), issuer: rfc2253(leaf.issuer), escapedPem: encodeURIComponent(leaf.toString()) };
  const fail = (reason: string, untrustedIssuerOnly = false): ClientVerdict => ({ ...described, verify: `FAILED:${reason}`, untrustedIssuerOnly });
  let trusted = trustedSets.get(anchors);
  if (trusted === undefined) trustedSets.set(anchors, (trusted = new Set(anchors.map((anchor) => anchor.fingerprint256))));
  // Walk up from the client's certificate, preferring the bundle's issuers, until a self-issued trusted one.
  const path: X509Certificate[] = [leaf];
  let current = leaf;
  while (!(trusted.has(current.fingerprint256) && selfIssued(current))) {
    if (path.length > depth + 2 || path.length > MAX_CLIENT_CHAIN + 1) return fail('certificate chain too long');
    const issuer = anchors.find((c) => c !== current && current.checkIssued(c) && current.verify(c.publicKey)) ?? pool.find((c) => !path.includes(c) && current.checkIssued(c) && current.verify(c.publicKey));
    if (issuer === undefined) {
      if (selfIssued(current)) return fail(path.length === 1 ? 'self-signed certificate' : 'self-signed certificate in certificate chain', true);
      return fail(path.length === 1 ? 'unable to verify the first certificate' : 'unable to get local issuer certificate', true);
    }
    if (issuer.ca !== true) return fail('invalid CA certificate');
    path.push(issuer);
    current = issuer;
  }
  // The trust anchor is not counted, nor the client's certificate (OpenSSL >= 1.1 semantics).
  if (path.length - 2 > depth) return fail('certificate chain too long');
  for (const certificate of path) {
    if (now < certificate.validFromDate) return fail('certificate is not yet valid');
    if (now > certificate.validToDate) return fail('certificate has expired');
  }
  const usage = leaf.keyUsage;
  if (usage !== undefined && usage.length > 0 && !usage.includes(CLIENT_AUTH) && !usage.includes(ANY_EXTENDED_KEY_USAGE)) return fail('unsupported certificate purpose');
  if (crls !== undefined) {
    for (let i = 0; i + 1 < path.length; i++) {
      const problem = revocationProblem(path[i] as X509Certificate, path[i + 1] as X509Certificate, crls, now);
      if (problem !== undefined) return fail(problem);
    }
  }
  return { ...described, verify: 'SUCCESS', untrustedIssuerOnly: false };
}
