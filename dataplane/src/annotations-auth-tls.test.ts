/**
 * auth-tls-* (client-certificate authentication) through the real HTTPS listener of a data plane,
 * modelled on ingress-nginx's test/e2e/annotations/authtls.go and nginx's `ssl_verify_client`
 * answers: no certificate → 400, a good one → 200 with the ssl-client-* headers at the echo
 * backend, one of another CA / expired / too deep → 400, `optional`, `optional_no_ca`, the error
 * page's 302, match-cn's 403; a connection made for another host (SNI) never reaches a protected
 * Host (421), over HTTP/1.1 and HTTP/2; hostile chains and ClientHellos; a revoked certificate
 * (ca.crl) → 400; Secrets Portico cannot read refuse the Ingress (503 + condition). Certificates
 * are made in the test (selfsigned; the revocation list with openssl ca).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectHttp2 } from 'node:http2';
import type { ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { connect as connectTcp } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlane } from './dataplane.ts';
import { h2Request } from './h2/test-support.ts';
import { startServing } from './serve.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, appManifests, compileManifests, httpGet, startBackend } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';
type Extensions = NonNullable<NonNullable<Parameters<typeof generate>[1]>['extensions']>;
const DAY = 86_400_000;

interface Issued {
  readonly cert: string;
  readonly key: string;
}

/** A CA (self-signed, or signed by `issuer`) or, with `client`, a client certificate. */
async function issue(cn: string, options: { issuer?: Issued; ca?: boolean; organization?: string; notBefore?: Date; notAfter?: Date } = {}): Promise<Issued> {
  const attrs = [{ name: 'commonName', value: cn }, ...(options.organization === undefined ? [] : [{ name: 'organizationName', value: options.organization }])];
  const extensions: Extensions = options.ca === true ? [{ name: 'basicConstraints', cA: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true }] : [{ name: 'basicConstraints', cA: false }, { name: 'extKeyUsage', clientAuth: true }];
  const pems = await generate(attrs, {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions,
    notBeforeDate: options.notBefore ?? new Date(Date.now() - DAY),
    notAfterDate: options.notAfter ?? new Date(Date.now() + 30 * DAY),
    ...(options.issuer === undefined ? {} : { ca: { key: options.issuer.key, cert: options.issuer.cert } }),
  });
  return { cert: pems.cert, key: pems.private };
}

/** A revocation list `issuer` signs (openssl ca -gencrl) naming `revoked`, made in `dir`. */
function crlOf(dir: string, issuer: Issued, revoked: readonly Issued[]): string {
  const file = (name: string) => join(dir, name);
  writeFileSync(file('ca.crt'), issuer.cert);
  writeFileSync(file('ca.key'), issuer.key);
  writeFileSync(file('index.txt'), '');
  writeFileSync(file('crlnumber'), '01\n');
  writeFileSync(file('ca.cnf'), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${file('index.txt')}\ncrlnumber = ${file('crlnumber')}\ndefault_md = sha256\ndefault_crl_days = 7\n`);
  const ca = ['ca', '-config', file('ca.cnf'), '-keyfile', file('ca.key'), '-cert', file('ca.crt')];
  revoked.forEach((certificate, i) => {
    writeFileSync(file(`revoked-${i}.crt`), certificate.cert);
    execFileSync('openssl', [...ca, '-revoke', file(`revoked-${i}.crt`)], { stdio: 'pipe' });
  });
  execFileSync('openssl', [...ca, '-gencrl', '-out', file('crl.pem')], { stdio: 'pipe' });
  return readFileSync(file('crl.pem'), 'utf8');
}

function secret(name: string, data: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'web' }, type: 'Opaque', data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])) }) + '\n';
}

function ingress(name: string, host: string, annotations: Record<string, string>, path = '/'): string {
  return (
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'web', annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [A + k, v])) },
      spec: { ingressClassName: 'portico', rules: [{ host, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }] },
    }) + '\n'
  );
}

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** What the echo backend received (its request headers), when it answered. */
  readonly echo: Record<string, string> | undefined;
}

let root: Issued;
let alice: Issued;
let bob: Issued;
let expired: Issued;
let stranger: Issued;
let strangerCa: Issued;
let intermediate1: Issued;
let intermediate2: Issued;
let deepLeaf: Issued;
let backend: Backend;
let plane: DataPlane;
let conditions: ReturnType<typeof compileManifests>['conditions'];
let snapshot: ReturnType<typeof compileManifests>['snapshot'];

/** One HTTPS request on a fresh connection: SNI `servername` ('' for none), Host `host`, optional client certificate. */
function get(host: string, options: { servername?: string; client?: Issued; chain?: string; headers?: Record<string, string>; path?: string; port?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest(
      {
        host: LOOPBACK,
        port: options.port ?? plane.ports.https,
        path: options.path ?? '/',
        agent: false,
        rejectUnauthorized: false,
        servername: options.servername ?? host,
        headers: { host, ...options.headers },
        ...(options.client === undefined ? {} : { cert: `${options.client.cert.trim()}\n${options.chain ?? ''}`, key: options.client.key }),
        timeout: 10_000,
      },
      (response) => {
        let body = '';
        response.on('data', (chunk: Buffer) => (body += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, echo: body.startsWith('{') ? (JSON.parse(body) as Record<string, string>) : undefined }));
      },
    );
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

async function h2(servername: string, client?: Issued): Promise<ClientHttp2Session> {
  const session = connectHttp2(`https://${LOOPBACK}:${plane.ports.https}`, { servername, rejectUnauthorized: false, ...(client === undefined ? {} : { cert: client.cert, key: client.key }) });
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

beforeAll(async () => {
  root = await issue('Test Root CA', { ca: true });
  alice = await issue('alice', { issuer: root, organization: 'Portico Test' });
  bob = await issue('bob', { issuer: root });
  expired = await issue('alice', { issuer: root, notBefore: new Date(Date.now() - 10 * DAY), notAfter: new Date(Date.now() - DAY) });
  strangerCa = await issue('Stranger CA', { ca: true });
  stranger = await issue('alice', { issuer: strangerCa });
  intermediate1 = await issue('Intermediate One', { issuer: root, ca: true });
  intermediate2 = await issue('Intermediate Two', { issuer: intermediate1, ca: true });
  deepLeaf = await issue('deep', { issuer: intermediate2 });
  backend = await startBackend((request, response) => response.end(JSON.stringify(request.headers)));
  const dir = mkdtempSync(join(tmpdir(), 'portico-auth-tls-'));
  let crl: string;
  try {
    crl = crlOf(dir, root, [bob]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const compiled = compileManifests(
    appManifests(backend.port, [
      secret('ca', { 'ca.crt': root.cert }),
      secret('garbage', { 'ca.crt': 'this is not a certificate' }),
      secret('with-crl', { 'ca.crt': root.cert, 'ca.crl': crl }),
      secret('bad-crl', { 'ca.crt': root.cert, 'ca.crl': '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n' }),
      ingress('mtls', 'mtls.test', { 'auth-tls-secret': 'web/ca', 'auth-tls-pass-certificate-to-upstream': 'true' }),
      ingress('optional', 'optional.test', { 'auth-tls-secret': 'ca', 'auth-tls-verify-client': 'optional' }),
      ingress('no-ca', 'noca.test', { 'auth-tls-secret': 'ca', 'auth-tls-verify-client': 'optional_no_ca' }),
      ingress('off', 'off.test', { 'auth-tls-secret': 'ca', 'auth-tls-verify-client': 'off' }),
      ingress('error-page', 'errors.test', { 'auth-tls-secret': 'ca', 'auth-tls-error-page': 'https://errors.example/denied' }),
      ingress('deep', 'deep.test', { 'auth-tls-secret': 'ca', 'auth-tls-verify-depth': '2' }),
      ingress('cn', 'cn.test', { 'auth-tls-secret': 'ca', 'auth-tls-match-cn': 'CN=alice' }),
      ingress('garbage', 'garbage.test', { 'auth-tls-secret': 'garbage' }),
      ingress('crl', 'crl.test', { 'auth-tls-secret': 'with-crl' }),
      ingress('bad-crl', 'badcrl.test', { 'auth-tls-secret': 'bad-crl' }),
      ingress('no-secret', 'nosecret.test', { 'auth-tls-verify-client': 'on' }),
      ingress('other-namespace', 'elsewhere.test', { 'auth-tls-secret': 'kube-system/ca' }),
      ingress('open', 'open.test', {}),
      ingress('wild', '*.wild.test', { 'auth-tls-secret': 'ca' }),
      // Other Ingresses on mtls.test (names after "mtls": younger at equal creation time).
      ingress('z-api', 'mtls.test', {}, '/api'),
      ingress('z-other', 'mtls.test', { 'auth-tls-secret': 'ca', 'auth-tls-verify-client': 'optional' }, '/other'),
      ingress('a-broken', 'broken.test', { 'auth-tls-secret': 'missing' }),
      ingress('b-open', 'broken.test', {}, '/open'),
    ]),
  );
  conditions = compiled.conditions;
  snapshot = compiled.snapshot;
  plane = await DataPlane.start({ address: LOOPBACK, httpPort: 0, httpsPort: 0, tlsHandshakeTimeoutMs: 1000, proxy: { endpointAddresses: { allowLoopback: true } } });
  plane.load(compiled.snapshot);
}, 60_000);

afterAll(async () => {
  await plane?.close(500);
  await backend?.close();
});

describe('auth-tls (ingress-nginx e2e: authtls.go) through the real HTTPS listener', () => {
  it('verify-client on (default): no certificate → 400, a certificate of the CA → 200 with the ssl-client-* headers', async () => {
    const before = backend.requests;
    expect((await get('mtls.test')).status).toBe(400);
    expect(backend.requests).toBe(before);
    const good = await get('mtls.test', { client: alice });
    expect(good.status).toBe(200);
    expect(good.echo).toMatchObject({ 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'O=Portico Test,CN=alice', 'ssl-client-issuer-dn': 'CN=Test Root CA' });
    expect(decodeURIComponent(good.echo?.['ssl-client-cert'] ?? '').trim()).toBe(alice.cert.trim().replace(/\r\n/g, '\n'));
  });

  it('a certificate of another CA, an expired one, or one deeper than verify-depth → 400', async () => {
    expect((await get('mtls.test', { client: stranger })).status).toBe(400);
    expect((await get('mtls.test', { client: expired })).status).toBe(400);
    // Two intermediates: more than the default depth 1, within depth 2.
    const chain = `${intermediate2.cert.trim()}\n${intermediate1.cert.trim()}\n`;
    expect((await get('mtls.test', { client: deepLeaf, chain })).status).toBe(400);
    expect((await get('deep.test', { client: deepLeaf, chain })).status).toBe(200);
    // Without the intermediates it sent, the chain does not reach the CA.
    expect((await get('deep.test', { client: deepLeaf })).status).toBe(400);
  });

  it('what a client sends as ssl-client-* never reaches the backend', async () => {
    const forged = { 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=admin', 'ssl-client-cert': 'forged' };
    const none = await get('optional.test', { headers: forged });
    expect(none.status).toBe(200);
    expect(none.echo?.['ssl-client-verify']).toBe('NONE');
    expect(none.echo?.['ssl-client-subject-dn']).toBeUndefined();
    expect(none.echo?.['ssl-client-cert']).toBeUndefined();
    const real = await get('mtls.test', { client: bob, headers: forged });
    expect(real.echo).toMatchObject({ 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'CN=bob' });
    expect(real.echo?.['ssl-client-cert']).not.toBe('forged');
  });

  it('optional: no certificate passes (NONE), a bad one → 400; optional_no_ca: an unknown CA passes (FAILED:…), an expired one does not; off asks for nothing', async () => {
    expect((await get('optional.test', { client: alice })).echo?.['ssl-client-verify']).toBe('SUCCESS');
    expect((await get('optional.test', { client: stranger })).status).toBe(400);
    const noCa = await get('noca.test', { client: stranger });
    expect(noCa.status).toBe(200);
    expect(noCa.echo?.['ssl-client-verify']).toMatch(/^FAILED:unable to verify the first certificate$/);
    expect((await get('noca.test', { client: expired })).status).toBe(400);
    expect((await get('noca.test')).echo?.['ssl-client-verify']).toBe('NONE');
    const off = await get('off.test', { client: alice });
    expect([off.status, off.echo?.['ssl-client-verify']]).toEqual([200, 'NONE']);
  });

  it('auth-tls-error-page: a refused client gets 302 to it, a good one is served', async () => {
    const refused = await get('errors.test');
    expect([refused.status, refused.headers.location]).toEqual([302, 'https://errors.example/denied']);
    expect((await get('errors.test', { client: stranger })).headers.location).toBe('https://errors.example/denied');
    expect((await get('errors.test', { client: alice })).status).toBe(200);
  });

  it('auth-tls-match-cn: a subject DN without a match → 403', async () => {
    expect((await get('cn.test', { client: alice })).status).toBe(200);
    expect((await get('cn.test', { client: bob })).status).toBe(403);
    expect((await get('cn.test')).status).toBe(400);
  });

  it('ca.crl: a revoked certificate → 400, one the list does not name → 200', async () => {
    expect((await get('crl.test', { client: alice })).status).toBe(200);
    expect((await get('crl.test', { client: bob })).status).toBe(400);
    expect((await get('mtls.test', { client: bob })).status).toBe(200);
  });

  it('the settings are the host\'s (ingress-nginx\'s server block): another Ingress\'s path on it inherits them over HTTPS; different own settings, or unusable ones of the oldest, refuse (503 + Conflict)', async () => {
    expect((await get('mtls.test', { path: '/api' })).status).toBe(400);
    const inherited = await get('mtls.test', { path: '/api', client: alice });
    expect([inherited.status, inherited.echo?.['ssl-client-verify'], inherited.echo?.['ssl-client-cert'] !== undefined]).toEqual([200, 'SUCCESS', true]);
    // Plain HTTP is not checked for inherited settings (nginx checks nothing there): an ACME challenge Ingress keeps working.
    expect((await httpGet(plane.ports.http, '/api', 'mtls.test')).status).toBe(200);
    expect((await get('mtls.test', { path: '/other', client: alice })).status).toBe(503);
    expect((await get('broken.test', { path: '/open', client: alice })).status).toBe(503);
    const conflicts = conditions.filter((c) => c.reason === 'Conflict').map((c) => `${c.source.name}: ${c.message}`);
    expect(conflicts).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^z-other: host mtls\.test: its auth-tls-\* settings differ from those of Ingress web\/mtls/),
        expect.stringMatching(/^b-open: host broken\.test: the client-certificate settings of Ingress web\/a-broken .* cannot be used/),
      ]),
    );
  });

  it('a one-label wildcard host asks for and checks certificates too', async () => {
    expect((await get('a.wild.test')).status).toBe(400);
    expect((await get('a.wild.test', { client: alice })).status).toBe(200);
  });

  it('SNI/Host mismatch: a connection made for another host never reaches the protected Host (421), nor does one without SNI (400)', async () => {
    const before = backend.requests;
    expect((await get('mtls.test', { servername: 'open.test' })).status).toBe(421);
    expect((await get('mtls.test', { servername: 'open.test', client: alice })).status).toBe(421);
    // cn.test asks for a certificate and bob's passes the handshake; mtls.test is still another host.
    expect((await get('mtls.test', { servername: 'cn.test', client: bob })).status).toBe(421);
    expect((await get('mtls.test', { servername: 'MTLS.test', client: alice })).status).toBe(200);
    expect(backend.requests).toBe(before + 1);
    // No SNI at all (as a client connecting to an address sends): no certificate was asked for.
    expect((await get('mtls.test', { servername: '', client: alice })).status).toBe(400);
    // The other way round is fine: the unprotected host does not care about the certificate.
    expect((await get('open.test', { servername: 'mtls.test', client: alice })).status).toBe(200);
  });

  it('HTTP/2: the certificate is checked per stream, and a connection coalesced from another host gets 421', async () => {
    const authenticated = await h2('mtls.test', alice);
    try {
      const ok = await h2Request(authenticated, { ':path': '/', ':authority': 'mtls.test' });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body.toString())).toMatchObject({ 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'O=Portico Test,CN=alice' });
      expect((await h2Request(authenticated, { ':path': '/', ':authority': 'open.test' })).status).toBe(200);
      expect((await h2Request(authenticated, { ':path': '/', ':authority': 'cn.test' })).status).toBe(421);
    } finally {
      authenticated.close();
    }
    const coalesced = await h2('open.test', alice);
    try {
      expect((await h2Request(coalesced, { ':path': '/', ':authority': 'open.test' })).status).toBe(200);
      expect((await h2Request(coalesced, { ':path': '/', ':authority': 'mtls.test' })).status).toBe(421);
    } finally {
      coalesced.close();
    }
    const anonymous = await h2('mtls.test');
    try {
      expect((await h2Request(anonymous, { ':path': '/', ':authority': 'mtls.test' })).status).toBe(400);
    } finally {
      anonymous.close();
    }
  });

  it('plain HTTP to a route that requires a certificate → 400 (never served without one)', async () => {
    expect((await httpGet(plane.ports.http, '/', 'mtls.test')).status).toBe(400);
    expect((await httpGet(plane.ports.http, '/', 'optional.test')).status).toBe(200);
  });

  it('refuses what it cannot honour (503 + InvalidAnnotation Error naming the annotation): a ca.crt that is not PEM, an unreadable ca.crl, no Secret, another namespace', async () => {
    for (const host of ['garbage.test', 'badcrl.test', 'nosecret.test', 'elsewhere.test']) expect([host, (await get(host, { client: alice })).status]).toEqual([host, 503]);
    const messages = conditions.filter((c) => c.reason === 'InvalidAnnotation' && c.severity === 'Error').map((c) => `${c.source.name} ${c.field}: ${c.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^garbage .*auth-tls-secret'\]: Secret web\/garbage: ca\.crt holds no PEM certificate/),
        expect.stringMatching(/^bad-crl .*auth-tls-secret'\]: Secret web\/bad-crl: ca\.crl revocation list 1 is not readable/),
        expect.stringMatching(/^no-secret .*auth-tls-verify-client'\]: set without auth-tls-secret/),
        expect.stringMatching(/^other-namespace .*auth-tls-secret'\]: Secret kube-system\/ca is not in the Ingress's namespace/),
      ]),
    );
  });
});

describe('auth-tls: worker processes', () => {
  it('every worker reads ClientHellos ahead and checks certificates (the bundle carries the hosts that ask)', async () => {
    const serving = await startServing({ workers: 2, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent', proxy: { endpointAddresses: { allowLoopback: true } } });
    try {
      await serving.load(snapshot);
      const port = serving.ports.https as number;
      // Fresh connections from fresh source ports: the kernel spreads them over both workers.
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) statuses.push((await get('mtls.test', { port })).status, (await get('mtls.test', { port, client: alice })).status, (await get('mtls.test', { port, servername: 'open.test', client: alice })).status);
      expect(statuses).toEqual(Array.from({ length: 6 }, () => [400, 200, 421]).flat());
    } finally {
      await serving.close(2000);
    }
  }, 60_000);
});

describe('auth-tls: hostile clients', () => {
  it('a long chain of unrelated certificates is refused (400) quickly, and the listener keeps serving', async () => {
    const unrelated = await Promise.all(Array.from({ length: 12 }, (_, i) => issue(`noise ${i}`, { ca: true })));
    const started = performance.now();
    expect((await get('mtls.test', { client: stranger, chain: unrelated.map((u) => `${u.cert.trim()}\n`).join('') })).status).toBe(400);
    expect(performance.now() - started).toBeLessThan(5000);
    expect((await get('mtls.test', { client: alice })).status).toBe(200);
  });

  it('garbage instead of a ClientHello, and a ClientHello that never finishes, are closed; good clients are still served', async () => {
    const closed = (bytes: Buffer): Promise<number> =>
      new Promise((resolve) => {
        const started = performance.now();
        const socket = connectTcp(plane.ports.https as number, LOOPBACK, () => socket.write(bytes));
        socket.on('data', () => {});
        socket.on('error', () => {});
        socket.on('close', () => resolve(performance.now() - started));
        setTimeout(() => socket.destroy(), 8000);
      });
    expect(await closed(Buffer.from('GET / HTTP/1.1\r\nHost: mtls.test\r\n\r\n'))).toBeLessThan(5000);
    // A handshake record header announcing 16 KiB, then silence: the read-ahead gives up at the handshake timeout (1 s here).
    expect(await closed(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01]))).toBeLessThan(5000);
    // A record announcing more than a TLS record may hold is handed to the TLS server, which refuses it.
    expect(await closed(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff]), Buffer.alloc(64)]))).toBeLessThan(5000);
    expect((await get('mtls.test', { client: alice })).status).toBe(200);
  });
});
