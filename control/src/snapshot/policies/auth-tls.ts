/**
 * Client-certificate authentication (mTLS at the edge), ingress-nginx's `auth-tls-*`
 * (docs/user-guide/nginx-configuration/annotations.md "Client Certificate Authentication",
 * test/e2e/annotations/authtls.go, and its template's `ssl_verify_client` server block):
 *
 * - `auth-tls-secret`: `namespace/name` (own namespace only) of a Secret whose `ca.crt` is the
 *   CA bundle client certificates must chain to; its `ca.crl` (optional, PEM revocation lists),
 *   checked for every issuing CA of the chain (nginx's `ssl_crl`).
 * - `auth-tls-verify-client`: `on` (default): no certificate → 400 (nginx's 496 "No required SSL
 *   certificate was sent"), a bad one → 400 (nginx's 495 "The SSL certificate error");
 *   `optional`: no certificate passes, a bad one → 400; `optional_no_ca`: a certificate whose
 *   only fault is an untrusted issuer passes too; `off`: no certificate is asked for.
 * - `auth-tls-verify-depth` (default 1): intermediate certificates allowed.
 * - `auth-tls-error-page`: instead of the 400, a 302 to this URL (nginx `error_page 495 496 = URL`).
 * - `auth-tls-pass-certificate-to-upstream`: the client certificate as URL-escaped PEM in
 *   `ssl-client-cert`. `ssl-client-verify`, `ssl-client-subject-dn`, `ssl-client-issuer-dn` are
 *   always set (nginx's `proxy_set_header`s), replacing anything the client sent under those names.
 * - `auth-tls-match-cn`: an RE2 regex searched in the subject DN (`CN=…,O=…`); no match → 403
 *   ("client certificate unauthorized").
 *
 * The handshake asks for a certificate only when the client's SNI names a host with such a route
 * (dataplane/src/client-hello.ts); a request whose Host is not the SNI name it connected with gets
 * 421 Misdirected Request (nginx does the same when the Host's server verifies clients), so a
 * connection made for another host, or an HTTP/2 connection coalesced across hosts, never reaches
 * the route; and every request is checked against the route's own CA bundle whatever the
 * connection did. A plain-HTTP request that the HTTPS redirect does not take gets 400 (`on`).
 * The settings are the host's (build/client-auth.ts): other Ingresses' paths on it inherit them.
 */
import type { X509Certificate } from 'node:crypto';
import type { RE2JS } from 're2js';
import { compileWholeRegex } from '@portico/assembly/conditions';
import type { AnnotationReader, ClientTls, LocalAnswer, PolicyModule } from './module.ts';
import type { ClientVerdict } from './client-certificate.ts';
import { NO_CERTIFICATE, parseCaBundle, verifyClientChain } from './client-certificate.ts';
import type { RevocationList } from './crl.ts';
import { parseCrlBundle } from './crl.ts';

/** How strictly a client certificate is asked for (nginx `ssl_verify_client`). */
export type VerifyClient = 'on' | 'optional' | 'optional_no_ca' | 'off';

/** A route's client-certificate policy. */
export interface AuthTlsData {
  /** `namespace/name` of the Secret, for explain. */
  readonly secret: string;
  /** Its `ca.crt`: the certificates a client's chain must end at. */
  readonly caPem: string;
  /** Its `ca.crl`: revocation lists, when it has one. */
  readonly crlPem?: string | undefined;
  readonly verify: VerifyClient;
  readonly depth: number;
  readonly errorPage?: string | undefined;
  readonly passCertificate: boolean;
  readonly matchCn?: string | undefined;
  /**
   * `namespace/name` of the Ingress whose settings these are, when the route's own Ingress sets
   * none and inherits the host's (build/client-auth.ts); its plain-HTTP requests are not checked.
   */
  readonly from?: string | undefined;
}

const VERIFY_VALUES: readonly VerifyClient[] = ['on', 'optional', 'optional_no_ca', 'off'];
const MAX_DEPTH = 99;
const MAX_ERROR_PAGE = 2048;
/** An absolute http(s) URL or an absolute path, of visible ASCII (a header value as it is). */
const ERROR_PAGE = /^(?:https?:\/\/[^\s/?#]+)?\/[\x21-\x7e]*$/;
const FAMILY = ['auth-tls-secret', 'auth-tls-verify-client', 'auth-tls-verify-depth', 'auth-tls-error-page', 'auth-tls-pass-certificate-to-upstream', 'auth-tls-match-cn'] as const;

function readSecret(reader: AnnotationReader): { secret: string; caPem: string; crlPem?: string } | undefined {
  const name = reader.localReference('auth-tls-secret', 'Secret');
  if (name === 'refused') return undefined;
  if (name === undefined) {
    const set = FAMILY.find((annotation) => reader.raw(annotation) !== undefined) as string;
    reader.refuse(set, 'set without auth-tls-secret (the CA bundle client certificates are checked against); ingress-nginx then asks for no certificate at all, and Portico refuses to serve the routes open');
    return undefined;
  }
  const secret = `${reader.namespace}/${name}`;
  const caPem = reader.secretKey(name, 'ca.crt');
  if (caPem === undefined || caPem.trim() === '') {
    reader.refuse('auth-tls-secret', `Secret ${secret} not found, or it has no ca.crt`);
    return undefined;
  }
  try {
    parseCaBundle(caPem);
  } catch (error) {
    reader.refuse('auth-tls-secret', `Secret ${secret}: ca.crt ${(error as Error).message}`);
    return undefined;
  }
  const crlPem = reader.secretKey(name, 'ca.crl');
  if (crlPem === undefined) return { secret, caPem };
  try {
    parseCrlBundle(crlPem);
  } catch (error) {
    reader.refuse('auth-tls-secret', `Secret ${secret}: ca.crl ${(error as Error).message}; refused rather than served without the revocation check it asks for`);
    return undefined;
  }
  return { secret, caPem, crlPem };
}

function readVerify(reader: AnnotationReader): VerifyClient {
  const value = reader.string('auth-tls-verify-client');
  if (value === undefined) return 'on';
  if ((VERIFY_VALUES as readonly string[]).includes(value)) return value as VerifyClient;
  reader.warn('auth-tls-verify-client', `${JSON.stringify(value)} is not on, off, optional or optional_no_ca; using on (as ingress-nginx does)`);
  return 'on';
}

function readDepth(reader: AnnotationReader): number {
  const depth = reader.integer('auth-tls-verify-depth', 1) ?? 1;
  if (depth >= 1 && depth <= MAX_DEPTH) return depth;
  reader.warn('auth-tls-verify-depth', `${depth} is not between 1 and ${MAX_DEPTH}; using 1 (as ingress-nginx does for 0)`);
  return 1;
}

function readErrorPage(reader: AnnotationReader): string | undefined {
  const page = reader.string('auth-tls-error-page');
  if (page === undefined) return undefined;
  if (page.length <= MAX_ERROR_PAGE && ERROR_PAGE.test(page)) return page;
  reader.warn('auth-tls-error-page', `${JSON.stringify(page.slice(0, 80))} is not an http(s) URL or an absolute path of visible ASCII characters; not applied (a refused client gets 400)`);
  return undefined;
}

function readMatchCn(reader: AnnotationReader): string | 'refused' | undefined {
  const pattern = reader.string('auth-tls-match-cn');
  if (pattern === undefined) return undefined;
  const compiled = compileWholeRegex(pattern);
  if (typeof compiled !== 'string') return pattern;
  reader.refuse('auth-tls-match-cn', `${JSON.stringify(pattern.slice(0, 64))} ${compiled}`);
  return 'refused';
}

/** The host part of a Host header value, lower-case (port and IPv6 brackets kept apart). */
function hostName(host: string): string {
  const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.lastIndexOf(':');
  return (end > 0 ? host.slice(0, end) : host).toLowerCase();
}

const SSL_HEADERS = ['ssl-client-verify', 'ssl-client-subject-dn', 'ssl-client-issuer-dn', 'ssl-client-cert'] as const;

/** The auth-tls module. */
export const authTlsModule: PolicyModule<AuthTlsData> = {
  key: 'authTls',
  phase: 'access',
  annotations: [
    { name: 'auth-tls-secret', support: 'honoured', note: 'ca.crt of a Secret in the Ingress\'s namespace is the CA bundle client certificates must chain to; its ca.crl is checked for every issuing CA of the chain' },
    { name: 'auth-tls-verify-client', support: 'honoured', note: 'on (default; no or bad certificate: 400), optional, optional_no_ca, off; the handshake asks for a certificate only for SNI names of such hosts, another Host than the SNI name gets 421' },
    { name: 'auth-tls-verify-depth', support: 'honoured', note: 'intermediate certificates allowed between the client\'s and the CA (default 1)' },
    { name: 'auth-tls-error-page', support: 'approximated', note: 'a refused client gets 302 to this URL instead of 400; an absolute path is redirected to too (nginx serves it internally)' },
    { name: 'auth-tls-pass-certificate-to-upstream', support: 'honoured', note: 'the client certificate, URL-escaped PEM, in ssl-client-cert; ssl-client-verify / -subject-dn / -issuer-dn are always set' },
    { name: 'auth-tls-match-cn', support: 'approximated', note: 'RE2 regex searched in the subject DN (CN=…,O=…); no match: 403. An invalid regex refuses the Ingress (503)' },
  ],
  schema: (z) => z.strictObject({
    secret: z.string().min(1),
    caPem: z.string().min(1),
    crlPem: z.string().min(1).optional(),
    verify: z.enum(['on', 'optional', 'optional_no_ca', 'off']),
    depth: z.number().int().min(1).max(MAX_DEPTH),
    errorPage: z.string().max(MAX_ERROR_PAGE).regex(ERROR_PAGE).optional(),
    passCertificate: z.boolean(),
    matchCn: z.string().optional(),
    from: z.string().min(1).optional(),
  }),
  read(reader) {
    if (!FAMILY.some((annotation) => reader.raw(annotation) !== undefined)) return undefined;
    const secret = readSecret(reader);
    const verify = readVerify(reader);
    const depth = readDepth(reader);
    const errorPage = readErrorPage(reader);
    const passCertificate = reader.boolean('auth-tls-pass-certificate-to-upstream', false);
    const matchCn = readMatchCn(reader);
    if (secret === undefined || matchCn === 'refused') return undefined;
    return { ...secret, verify, depth, ...(errorPage === undefined ? {} : { errorPage }), passCertificate, ...(matchCn === undefined ? {} : { matchCn }) };
  },
  prepare(data) {
    // Checked at build time; a snapshot whose bundle does not parse here refuses every request (fail closed).
    let anchors: X509Certificate[] | undefined;
    let crls: RevocationList[] | undefined;
    try {
      anchors = parseCaBundle(data.caPem);
      if (data.crlPem !== undefined) crls = parseCrlBundle(data.crlPem);
    } catch {
      anchors = undefined;
    }
    let pattern: RE2JS | undefined;
    if (data.matchCn !== undefined) {
      const compiled = compileWholeRegex(data.matchCn);
      if (typeof compiled === 'string') anchors = undefined;
      else pattern = compiled;
    }
    const refused: LocalAnswer = data.errorPage === undefined ? { status: 400, headers: [] } : { status: 302, headers: [['Location', data.errorPage]] };
    const unavailable: LocalAnswer = { status: 503, headers: [] };
    const misdirected: LocalAnswer = { status: 421, headers: [] };
    const unauthorized: LocalAnswer = { status: 403, headers: [] };
    // One verification per connection (and route): the chain does not change within it.
    const verdicts = new WeakMap<ClientTls, ClientVerdict>();
    const verdictOf = (tls: ClientTls | undefined): ClientVerdict => {
      if (tls === undefined || anchors === undefined) return NO_CERTIFICATE;
      let verdict = verdicts.get(tls);
      if (verdict === undefined) {
        verdict = verifyClientChain(tls.peerCertificates(), anchors, data.depth, new Date(), crls);
        verdicts.set(tls, verdict);
      }
      return verdict;
    };
    return (facts, outcome) => {
      if (anchors === undefined) {
        outcome.answer = unavailable;
        return;
      }
      const tls = facts.tls;
      if (data.verify !== 'off' && tls !== undefined && tls.servername !== '' && tls.servername !== hostName(facts.host)) {
        outcome.answer = misdirected;
        return;
      }
      const verdict = data.verify === 'off' ? NO_CERTIFICATE : verdictOf(tls);
      // Inherited settings leave plain HTTP alone, as nginx's server-level check does (an ACME challenge Ingress keeps working).
      const required = data.verify === 'on' && (data.from === undefined || facts.scheme === 'https');
      if (verdict.verify === 'NONE' ? required : verdict.verify !== 'SUCCESS' && !(data.verify === 'optional_no_ca' && verdict.untrustedIssuerOnly)) {
        outcome.answer = refused;
        return;
      }
      if (pattern !== undefined && !pattern.matcher(verdict.subject).find()) {
        outcome.answer = unauthorized;
        return;
      }
      outcome.removeHeaders.push(...SSL_HEADERS);
      outcome.setHeaders.push(['ssl-client-verify', verdict.verify]);
      if (verdict.subject !== '') outcome.setHeaders.push(['ssl-client-subject-dn', verdict.subject], ['ssl-client-issuer-dn', verdict.issuer]);
      if (data.passCertificate && verdict.escapedPem !== '') outcome.setHeaders.push(['ssl-client-cert', verdict.escapedPem]);
    };
  },
  describe(data) {
    const extras = [`depth ${data.depth}`, data.errorPage === undefined ? '' : `error page ${data.errorPage}`, data.passCertificate ? 'certificate passed upstream' : '', data.matchCn === undefined ? '' : `subject ~ ${JSON.stringify(data.matchCn)}`].filter((part) => part !== '');
    return `client certificate${data.from === undefined ? '' : ` (the host's, from Ingress ${data.from})`} ${data.verify === 'off' ? 'not asked for' : data.verify} against ca.crt${data.crlPem === undefined ? '' : ' and ca.crl'} of Secret ${data.secret} (${extras.join(', ')}); without a valid one: ${data.errorPage === undefined ? '400' : `302 to ${data.errorPage}`}`;
  },
};
