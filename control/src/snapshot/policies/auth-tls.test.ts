/** auth-tls: reading and validating the annotations, and the chain verification, without a listener (annotations-auth-tls.test.ts has those). */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthTlsData } from './auth-tls.ts';
import { authTlsModule } from './auth-tls.ts';
import { parseCaBundle, rfc2253, verifyClientChain } from './client-certificate.ts';
import { parseCrl, parseCrlBundle } from './crl.ts';
import type { ClientTls, PolicyCondition, RequestFacts } from './module.ts';
import { AnnotationReader, NGINX_PREFIX } from './module.ts';
import { applyPolicy, preparePolicies } from './registry.ts';

const DAY = 86_400_000;

interface Issued {
  readonly cert: string;
  readonly der: Uint8Array;
  readonly files: { readonly cert: string; readonly key: string };
}

let dir: string;
let serial = 0;
let root: Issued;
let caPem: string;
let ca: X509Certificate;
let clientDer: Uint8Array;

/** A certificate made with openssl, valid from now for 30 days: a CA (self-signed, or signed by `issuer`) or a leaf for `usage`. */
function issued(options: { ca?: boolean; issuer?: Issued; usage?: 'clientAuth' | 'serverAuth' } = {}): Issued {
  const name = `c${serial++}`;
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', files.key];
  const subject = ['-subj', options.ca === true ? '/CN=Unit CA' : '/CN=unit'];
  if (options.issuer === undefined) {
    openssl(['req', '-x509', ...key, '-days', '30', ...subject, '-addext', 'basicConstraints=critical,CA:TRUE', '-out', files.cert]);
  } else {
    const ext = join(dir, `${name}.cnf`);
    writeFileSync(ext, options.ca === true ? 'basicConstraints=critical,CA:TRUE\n' : `basicConstraints=CA:FALSE\nextendedKeyUsage=${options.usage ?? 'clientAuth'}\n`);
    openssl(['req', ...key, ...subject, '-out', join(dir, `${name}.csr`)]);
    openssl(['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', options.issuer.files.cert, '-CAkey', options.issuer.files.key, '-set_serial', String(1000 + serial), '-days', '30', '-extfile', ext, '-out', files.cert]);
  }
  const cert = readFileSync(files.cert, 'utf8');
  return { cert, der: new X509Certificate(cert).raw, files };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-auth-tls-'));
  root = issued({ ca: true });
  caPem = root.cert;
  ca = new X509Certificate(caPem);
  clientDer = issued({ issuer: root }).der;
});

/** A revocation list `issuer` signs (openssl ca -gencrl, next update in 7 days) naming `revoked`. */
function crlOf(issuer: Issued, revoked: readonly Issued[]): string {
  const name = `crl${serial++}`;
  const database = join(dir, `${name}.index`);
  writeFileSync(database, '');
  writeFileSync(join(dir, `${name}.number`), '01\n');
  const config = join(dir, `${name}.cnf`);
  writeFileSync(config, `[ca]\ndefault_ca = d\n[d]\ndatabase = ${database}\ncrlnumber = ${join(dir, `${name}.number`)}\ndefault_md = sha256\ndefault_crl_days = 7\n`);
  const ca = ['-config', config, '-keyfile', issuer.files.key, '-cert', issuer.files.cert];
  for (const certificate of revoked) execFileSync('openssl', ['ca', ...ca, '-revoke', certificate.files.cert], { stdio: 'pipe' });
  execFileSync('openssl', ['ca', ...ca, '-gencrl', '-out', join(dir, `${name}.pem`)], { stdio: 'pipe' });
  return readFileSync(join(dir, `${name}.pem`), 'utf8');
}
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function read(annotations: Record<string, string>, secrets: Record<string, Record<string, string>> = {}): { data: AuthTlsData | undefined; conditions: PolicyCondition[]; refusals: readonly string[] } {
  const conditions: PolicyCondition[] = [];
  const prefixed = Object.fromEntries(Object.entries(annotations).map(([k, v]) => [NGINX_PREFIX + k, v]));
  const reader = new AnnotationReader(prefixed, { kind: 'Ingress', namespace: 'web', name: 'app' }, (c) => conditions.push(c), (namespace, name, key = 'auth') => (namespace === 'web' ? secrets[name]?.[key] : undefined));
  return { data: authTlsModule.read!(reader), conditions, refusals: reader.refusals };
}

describe('reading auth-tls-*', () => {
  it('reads the family with ingress-nginx defaults (verify on, depth 1)', () => {
    const { data, conditions } = read({ 'auth-tls-secret': 'web/ca' }, { ca: { 'ca.crt': caPem } });
    expect(conditions).toEqual([]);
    expect(data).toEqual({ secret: 'web/ca', caPem, verify: 'on', depth: 1, passCertificate: false });
    expect(authTlsModule.describe(data!)).toMatch(/^client certificate on against ca.crt of Secret web\/ca \(depth 1\); without a valid one: 400$/);
  });

  it('falls back to ingress-nginx\'s defaults with a Warning for unreadable verify-client, depth and error page', () => {
    const { data, conditions, refusals } = read({ 'auth-tls-secret': 'ca', 'auth-tls-verify-client': 'maybe', 'auth-tls-verify-depth': '0', 'auth-tls-error-page': 'javascript:alert(1)', 'auth-tls-pass-certificate-to-upstream': 'yes' }, { ca: { 'ca.crt': caPem } });
    expect(refusals).toEqual([]);
    expect(data).toMatchObject({ verify: 'on', depth: 1, passCertificate: false });
    expect(data?.errorPage).toBeUndefined();
    expect(conditions.map((c) => [c.severity, c.field.replace(NGINX_PREFIX, '')])).toEqual([
      ['Warning', "metadata.annotations['auth-tls-verify-client']"],
      ['Warning', "metadata.annotations['auth-tls-verify-depth']"],
      ['Warning', "metadata.annotations['auth-tls-error-page']"],
      ['Warning', "metadata.annotations['auth-tls-pass-certificate-to-upstream']"],
    ]);
  });

  it.each([
    ['no Secret named', { 'auth-tls-verify-client': 'optional' }, {}, /auth-tls-verify-client: set without auth-tls-secret/],
    ['a missing Secret', { 'auth-tls-secret': 'gone' }, {}, /Secret web\/gone not found, or it has no ca.crt/],
    ['a Secret of another namespace', { 'auth-tls-secret': 'other/ca' }, {}, /not in the Ingress's namespace/],
    ['a ca.crt that is not PEM', { 'auth-tls-secret': 'ca' }, { ca: { 'ca.crt': 'garbage' } }, /ca.crt holds no PEM certificate/],
    ['a PEM block that is not a certificate', { 'auth-tls-secret': 'ca' }, { ca: { 'ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' } }, /ca.crt certificate 1 is not readable/],
    ['a ca.crl without a revocation list', { 'auth-tls-secret': 'ca' }, { ca: { 'ca.crt': 'PEM', 'ca.crl': 'x' } }, /Secret web\/ca: ca.crl holds no PEM revocation list/],
    ['an unreadable revocation list', { 'auth-tls-secret': 'ca' }, { ca: { 'ca.crt': 'PEM', 'ca.crl': '-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n' } }, /ca.crl revocation list 1 is not readable/],
    ['a match-cn RE2 cannot run', { 'auth-tls-secret': 'ca', 'auth-tls-match-cn': 'CN=(a)\\1' }, { ca: { 'ca.crt': 'PEM' } }, /auth-tls-match-cn: .* is not a regular expression Portico runs/],
  ])('refuses the Ingress (503) for %s', (_name, annotations, secrets, message) => {
    const filled = Object.fromEntries(Object.entries(secrets).map(([name, keys]) => [name, Object.fromEntries(Object.entries(keys).map(([k, v]) => [k, v === 'PEM' ? caPem : v]))]));
    const { data, refusals, conditions } = read(annotations, filled);
    expect(data).toBeUndefined();
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.join('\n')).toMatch(message);
    expect(conditions.some((c) => c.severity === 'Error' && c.reason === 'InvalidAnnotation')).toBe(true);
  });

  it('asks for nothing when no auth-tls annotation is set', () => {
    expect(read({}).data).toBeUndefined();
  });
});

describe('verifyClientChain', () => {
  it('accepts a certificate the CA signed, and refuses one it did not (the issuer only: what optional_no_ca lets through)', () => {
    expect(verifyClientChain([clientDer], [ca], 1, new Date())).toMatchObject({ verify: 'SUCCESS', subject: 'CN=unit', issuer: 'CN=Unit CA' });
    const other = issued({ issuer: issued({ ca: true }) });
    expect(verifyClientChain([other.der], [ca], 1, new Date())).toMatchObject({ verify: 'FAILED:unable to verify the first certificate', untrustedIssuerOnly: true });
    const selfSigned = issued({ ca: true });
    expect(verifyClientChain([selfSigned.der], [ca], 1, new Date())).toMatchObject({ verify: 'FAILED:self-signed certificate', untrustedIssuerOnly: true });
  });

  it('checks dates, the issuer\'s CA flag and the extended key usage', () => {
    expect(verifyClientChain([clientDer], [ca], 1, new Date(Date.now() + 60 * DAY)).verify).toBe('FAILED:certificate has expired');
    expect(verifyClientChain([clientDer], [ca], 1, new Date(Date.now() - 2 * DAY)).verify).toBe('FAILED:certificate is not yet valid');
    const notCa = issued({ issuer: root });
    const underNotCa = issued({ issuer: notCa });
    expect(verifyClientChain([underNotCa.der, notCa.der], [ca], 1, new Date()).verify).toBe('FAILED:invalid CA certificate');
    const server = issued({ issuer: root, usage: 'serverAuth' });
    expect(verifyClientChain([server.der], [ca], 1, new Date()).verify).toBe('FAILED:unsupported certificate purpose');
  });

  it('an unreadable certificate is a failure, never an exception; none is NONE', () => {
    expect(verifyClientChain([Buffer.from('garbage')], [ca], 1, new Date()).verify).toBe('FAILED:unable to decode certificate');
    expect(verifyClientChain([], [ca], 1, new Date()).verify).toBe('NONE');
  });

  it('parseCaBundle bounds the bundle', () => {
    expect(() => parseCaBundle(`${caPem.trim()}\n`.repeat(257))).toThrow(/more than 256/);
    expect(parseCaBundle(`${caPem.trim()}\n${caPem.trim()}\n`)).toHaveLength(2);
  });
});

describe('revocation lists (ca.crl)', () => {
  it('refuses a revoked certificate and passes one the list does not name', () => {
    const revoked = issued({ issuer: root });
    const kept = issued({ issuer: root });
    const lists = parseCrlBundle(crlOf(root, [revoked]));
    expect(verifyClientChain([revoked.der], [ca], 1, new Date(), lists).verify).toBe('FAILED:certificate revoked');
    expect(verifyClientChain([kept.der], [ca], 1, new Date(), lists).verify).toBe('SUCCESS');
    expect(verifyClientChain([kept.der], [ca], 1, new Date(Date.now() + 8 * DAY), lists).verify).toBe('FAILED:CRL has expired');
  });

  it('needs a current list of every issuing CA of the chain (CRL_CHECK_ALL), signed by that CA', () => {
    const intermediate = issued({ ca: true, issuer: root });
    const leaf = issued({ issuer: intermediate });
    const rootOnly = parseCrlBundle(crlOf(root, []));
    expect(verifyClientChain([leaf.der, intermediate.der], [ca], 1, new Date(), rootOnly).verify).toBe('FAILED:unable to get certificate CRL');
    const both = parseCrlBundle(crlOf(root, []) + crlOf(intermediate, []));
    expect(verifyClientChain([leaf.der, intermediate.der], [ca], 1, new Date(), both).verify).toBe('SUCCESS');
    const intermediateRevoked = parseCrlBundle(crlOf(root, [intermediate]) + crlOf(intermediate, []));
    expect(verifyClientChain([leaf.der, intermediate.der], [ca], 1, new Date(), intermediateRevoked).verify).toBe('FAILED:certificate revoked');
    const stranger = issued({ ca: true });
    expect(verifyClientChain([clientDer], [ca], 1, new Date(), parseCrlBundle(crlOf(stranger, []))).verify).toBe('FAILED:unable to get certificate CRL');
  });

  it('never hangs or crashes on cut or mutated DER', () => {
    const der = Buffer.from(crlOf(root, [issued({ issuer: root })]).replace(/-----[A-Z0-9 ]+-----|\s/g, ''), 'base64');
    let seed = 11;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff), seed);
    for (let round = 0; round < 3000; round++) {
      const mutated = Buffer.from(der.subarray(0, round % 3 === 0 ? random() % der.length : der.length));
      for (let flips = 0; flips < 3; flips++) if (mutated.length > 0) mutated[random() % mutated.length] = random() & 0xff;
      try {
        parseCrl(mutated);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
      }
    }
  });
});

describe('rfc2253', () => {
  it('prints most specific first and escapes what is not printable ASCII', () => {
    expect(rfc2253('C=DE\nO=Acme\\, Inc.\nCN=alice')).toBe('CN=alice,O=Acme\\, Inc.,C=DE');
    expect(rfc2253('CN=j\u00f6rg\r\nX')).toBe('X,CN=j\\c3\\b6rg\\0d');
  });
});

describe('the step (applyPolicy)', () => {
  const facts = (host: string, tls: ClientTls | undefined, scheme: 'http' | 'https' = 'https'): RequestFacts => ({ scheme, host, path: '/', target: '/', method: 'GET', client: '192.0.2.1', header: () => undefined, tls });
  const tls = (servername: string, chain: Uint8Array[]): ClientTls => {
    let reads = 0;
    return {
      servername,
      peerCertificates: () => {
        reads++;
        if (reads > 1) throw new Error('verified twice on one connection');
        return chain;
      },
    };
  };

  it('verifies once per connection, answers 421 to another Host than the SNI name, 400 on plain HTTP', () => {
    const policy = preparePolicies({ authTls: { secret: 'web/ca', caPem, verify: 'on', depth: 1, passCertificate: true } }, { path: '/', regex: false })!;
    const connection = tls('app.test', [clientDer]);
    const first = applyPolicy(policy, 'proxy', facts('App.Test:443', connection));
    expect(first.answer).toBeUndefined();
    expect(first.setHeaders.map(([name]) => name)).toEqual(['ssl-client-verify', 'ssl-client-subject-dn', 'ssl-client-issuer-dn', 'ssl-client-cert']);
    expect(applyPolicy(policy, 'proxy', facts('app.test', connection)).answer).toBeUndefined();
    expect(applyPolicy(policy, 'proxy', facts('other.test', connection)).answer?.status).toBe(421);
    expect(applyPolicy(policy, 'proxy', facts('app.test', undefined, 'http')).answer?.status).toBe(400);
  });

  it('a snapshot whose CA bundle does not parse on the data plane refuses every request (503)', () => {
    const policy = preparePolicies({ authTls: { secret: 'web/ca', caPem: 'garbage', verify: 'optional', depth: 1, passCertificate: false } }, { path: '/', regex: false })!;
    expect(applyPolicy(policy, 'proxy', facts('app.test', tls('app.test', [clientDer]))).answer?.status).toBe(503);
  });
});
