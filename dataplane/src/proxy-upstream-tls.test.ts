/**
 * TLS to endpoints through the real proxy: HTTPS backends (certificates made with openssl in the
 * test) reached with a snapshot backend's `tls` settings, as backend-protocol HTTPS / appProtocol
 * https compile them. Verification, SNI, client certificates, keep-alive reuse of TLS sockets,
 * and a backend that never finishes the handshake.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot, SnapshotUpstreamTls } from '@portico/control/snapshot';
import { parseSnapshot, snapshotVersion } from '@portico/control/snapshot';
import { Router } from './router.ts';
import { LOOPBACK, closedPort, fetchVia, keepAliveAgent, snapshotOf, startProxy, startRawBackend } from './test-support.ts';

interface Pki {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

let dir: string;
let good: Pki;
let other: Pki;
let client: Pki;

/** A CA and a certificate it signed: for `names` (serverAuth), or a client certificate when names is empty. */
function makePki(prefix: string, names: readonly string[]): Pki {
  const file = (name: string) => join(dir, `${prefix}-${name}`);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30', '-subj', `/CN=${prefix}-ca`, '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${prefix}`, '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('ext.cnf'), names.length === 0 ? 'extendedKeyUsage=clientAuth\n' : `subjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', file('ext.cnf'), '-out', file('tls.crt')]);
  return { ca: readFileSync(file('ca.crt'), 'utf8'), cert: readFileSync(file('tls.crt'), 'utf8'), key: readFileSync(file('tls.key'), 'utf8') };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'portico-upstream-tls-'));
  good = makePki('backend', ['backend.test']);
  other = makePki('other', ['backend.test']);
  client = makePki('portico-client', []);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The settings backend-protocol HTTPS compiles to with no other annotation. */
const PLAIN_HTTPS: SnapshotUpstreamTls = { serverName: null, verify: false, verifyName: 'svc.test.svc', verifyDepth: 1, secret: null, caPem: null, certificatePem: null, privateKeyPem: null };

/** `snapshotOf` with every backend spoken to in TLS with `tls`. */
function tlsSnapshot(port: number | number[], tls: SnapshotUpstreamTls): Snapshot {
  const plain = snapshotOf([{ host: 'tls.test', routes: [{ endpoints: typeof port === 'number' ? [port] : port }] }]);
  const { version: _version, ...content } = plain;
  const hosts = content.hosts.map((h) => ({ ...h, routes: h.routes.map((r) => ({ ...r, backends: r.backends.map((b) => ({ ...b, tls })) })) }));
  const next = { ...content, hosts };
  return parseSnapshot({ ...next, version: snapshotVersion(next) });
}

interface HttpsBackend {
  readonly port: number;
  /** SNI of each TLS connection (false when none was sent). */
  readonly servernames: (string | false)[];
  /** Subject CN of the client certificate per request, '' when none. */
  readonly clientNames: string[];
  handshakes: number;
}

async function startHttpsBackend(pki: Pki, options: { requireClientCa?: string } = {}): Promise<HttpsBackend> {
  const backend: HttpsBackend = { port: 0, servernames: [], clientNames: [], handshakes: 0 };
  const server: HttpsServer = createHttpsServer(
    { cert: pki.cert, key: pki.key, ...(options.requireClientCa === undefined ? {} : { ca: options.requireClientCa, requestCert: true, rejectUnauthorized: true }) },
    (request, response) => {
      const peer = (request.socket as TLSSocket).getPeerCertificate();
      backend.clientNames.push(typeof peer.subject?.CN === 'string' ? peer.subject.CN : '');
      response.end(`tls ${request.url}`);
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => {
    backend.handshakes++;
    backend.servernames.push(socket.servername ?? false);
  });
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return Object.assign(backend, { port: (server.address() as { port: number }).port });
}

async function proxyWith(snapshot: Snapshot, options: Parameters<typeof startProxy>[1] = {}) {
  const router = new Router();
  router.load(snapshot);
  const warnings: Record<string, unknown>[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const proxy = await startProxy(router, { logger, ...options });
  cleanups.push(async () => {
    await proxy.close();
    router.close();
  });
  return { proxy, warnings };
}

describe('proxy: TLS to endpoints', () => {
  it('speaks HTTPS to the endpoint (verification off by default, as ingress-nginx; no SNI unless asked)', async () => {
    const backend = await startHttpsBackend(good);
    const { proxy } = await proxyWith(tlsSnapshot(backend.port, PLAIN_HTTPS));
    const response = await fetchVia(proxy.port, { host: 'tls.test', path: '/hello' });
    expect(response.status).toBe(200);
    expect(response.body).toBe('tls /hello');
    expect(backend.servernames).toEqual([false]);
  });

  it('verifies against the CA when asked: the right CA answers 200, another CA 502 with a warning naming the reason', async () => {
    const backend = await startHttpsBackend(good);
    const verified = { ...PLAIN_HTTPS, verify: true, verifyName: 'backend.test', caPem: good.ca };
    const ok = await proxyWith(tlsSnapshot(backend.port, verified));
    expect((await fetchVia(ok.proxy.port, { host: 'tls.test' })).status).toBe(200);

    const wrong = await proxyWith(tlsSnapshot(backend.port, { ...verified, caPem: other.ca }));
    expect((await fetchVia(wrong.proxy.port, { host: 'tls.test' })).status).toBe(502);
    const warning = wrong.warnings.find((w) => w.msg === 'TLS to endpoint failed');
    expect(warning?.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  it('checks the name (proxy-ssl-name, else the Service name) and the chain depth when verifying', async () => {
    const backend = await startHttpsBackend(good);
    const verified = { ...PLAIN_HTTPS, verify: true, verifyName: 'backend.test', caPem: good.ca };
    const wrongName = await proxyWith(tlsSnapshot(backend.port, { ...verified, verifyName: 'svc.test.svc' }));
    expect((await fetchVia(wrongName.proxy.port, { host: 'tls.test' })).status).toBe(502);
    expect(wrongName.warnings.find((w) => w.msg === 'TLS to endpoint failed')?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');

    const shallow = await proxyWith(tlsSnapshot(backend.port, { ...verified, verifyDepth: 0 }));
    expect((await fetchVia(shallow.proxy.port, { host: 'tls.test' })).status).toBe(502);
    expect(shallow.warnings.find((w) => w.msg === 'TLS to endpoint failed')?.code).toBe('ERR_PORTICO_TLS_VERIFY_DEPTH');
  });

  it('sends SNI as configured (proxy-ssl-server-name on, proxy-ssl-name)', async () => {
    const backend = await startHttpsBackend(good);
    const { proxy } = await proxyWith(tlsSnapshot(backend.port, { ...PLAIN_HTTPS, serverName: 'backend.test', verifyName: 'backend.test' }));
    expect((await fetchVia(proxy.port, { host: 'tls.test' })).status).toBe(200);
    expect(backend.servernames).toEqual(['backend.test']);
  });

  it('presents the client certificate of proxy-ssl-secret to a backend that requires one', async () => {
    const backend = await startHttpsBackend(good, { requireClientCa: client.ca });
    const without = await proxyWith(tlsSnapshot(backend.port, PLAIN_HTTPS));
    expect((await fetchVia(without.proxy.port, { host: 'tls.test' })).status).toBe(502);

    const withCert = await proxyWith(tlsSnapshot(backend.port, { ...PLAIN_HTTPS, verify: true, verifyName: 'backend.test', caPem: good.ca, certificatePem: client.cert, privateKeyPem: client.key }));
    expect((await fetchVia(withCert.proxy.port, { host: 'tls.test' })).status).toBe(200);
    expect(backend.clientNames).toEqual(['portico-client']);
  });

  it('reuses the TLS connection across keep-alive requests: 50 requests, one handshake', async () => {
    const backend = await startHttpsBackend(good);
    const { proxy } = await proxyWith(tlsSnapshot(backend.port, PLAIN_HTTPS));
    const agent = keepAliveAgent();
    cleanups.push(() => agent.destroy());
    for (let i = 0; i < 50; i++) expect((await fetchVia(proxy.port, { host: 'tls.test', path: `/${i}`, agent })).status).toBe(200);
    expect(backend.handshakes).toBe(1);
    expect(proxy.proxy.pool.tlsConnects).toBe(1);
  });

  it('hostile: an endpoint that accepts TCP and never answers the ClientHello gets 504 after the connect timeout, and the client is answered', async () => {
    const silent = await startRawBackend();
    cleanups.push(() => silent.close());
    const { proxy } = await proxyWith(tlsSnapshot(silent.port, PLAIN_HTTPS), { connectTimeoutMs: 300 });
    const response = await fetchVia(proxy.port, { host: 'tls.test' });
    expect(response.status).toBe(504);
    expect(silent.connections()).toBeGreaterThan(0);
  });

  it('a GET refused by one endpoint whose retry times out connecting (a pod whose address is gone) reaches a third endpoint', async () => {
    const silent = await startRawBackend();
    cleanups.push(() => silent.close());
    const backend = await startHttpsBackend(good);
    const ports = [await closedPort(), silent.port, backend.port];
    const { proxy } = await proxyWith(tlsSnapshot(ports, PLAIN_HTTPS), { connectTimeoutMs: 300 });
    // Round robin: one of the three requests starts at the refusing endpoint and goes on to the silent one.
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetchVia(proxy.port, { host: 'tls.test' })).status);
    expect(statuses).toEqual([200, 200, 200]);
    expect(silent.connections()).toBeGreaterThan(0);
  });

  it('a GET waiting on the TLS handshake of an endpoint a new snapshot removes goes to one still there at once, without a TLS warning', async () => {
    const silent = await startRawBackend();
    cleanups.push(() => silent.close());
    const backend = await startHttpsBackend(good);
    const { proxy, warnings } = await proxyWith(tlsSnapshot([silent.port, backend.port], PLAIN_HTTPS), { connectTimeoutMs: 5_000 });
    const answers = [fetchVia(proxy.port, { host: 'tls.test', path: '/a' }), fetchVia(proxy.port, { host: 'tls.test', path: '/b' })];
    await expect.poll(() => backend.handshakes >= 1 && proxy.proxy.pool.connectingCount === 1, { timeout: 3000 }).toBe(true);
    const swappedAt = performance.now();
    proxy.proxy.router.load(tlsSnapshot(backend.port, PLAIN_HTTPS));
    expect((await Promise.all(answers)).map((answer) => answer.status)).toEqual([200, 200]);
    expect(performance.now() - swappedAt).toBeLessThan(1500);
    expect(warnings.filter((warning) => warning['msg'] === 'TLS to endpoint failed')).toEqual([]);
  });
});
