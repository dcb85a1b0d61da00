import { once } from 'node:events';
import { connect, createServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';
import { sealSnapshot } from '@portico/control/snapshot';
import type { Snapshot } from '@portico/control/snapshot';
import { compareHosts } from '@portico/control/snapshot/order';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateStore, generateDefaultCertificate } from './tls.ts';

async function pair(cn: string, dns: string[]) {
  const pems = await generate([{ name: 'commonName', value: cn }], { keyType: 'ec', curve: 'P-256', extensions: [{ name: 'subjectAltName', altNames: dns.map((value) => ({ type: 2 as const, value })) }] });
  return { certificatePem: pems.cert, privateKeyPem: pems.private };
}

function snapshotWith(hosts: { host: string; certificate: string | null }[], certificates: { secret: string; certificatePem: string; privateKeyPem: string }[]): Snapshot {
  return sealSnapshot({
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Snapshot',
    hosts: [...hosts].sort((a, b) => compareHosts(a.host, b.host)).map((h) => ({ ...h, tls: true, routes: [], defaultRoute: null })),
    defaultRoute: null,
    endpointSets: [],
    certificates: certificates.map((c) => ({ ...c, hosts: [] })),
  });
}

/** The subject CN of the certificate a TLS server presents for `servername`. */
async function presented(port: number, servername: string | undefined): Promise<string> {
  const socket = connect({ port, host: '127.0.0.1', servername, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const cn = socket.getPeerCertificate().subject.CN as string;
  socket.destroy();
  return cn;
}

describe('CertificateStore (SNI)', () => {
  const store = { current: undefined as CertificateStore | undefined };
  let server: ReturnType<typeof createServer>;
  let port = 0;

  beforeAll(async () => {
    store.current = new CertificateStore(await generateDefaultCertificate());
    const dashboard = await pair('dashboard', ['dashboard.example.com']);
    const wild = await pair('wildcard', ['*.apps.example.com']);
    store.current.load(
      snapshotWith(
        [
          { host: 'dashboard.example.com', certificate: 'tls/dashboard' },
          { host: 'missing.example.com', certificate: null },
          { host: '*.apps.example.com', certificate: 'tls/wild' },
        ],
        [
          { secret: 'tls/dashboard', ...dashboard },
          { secret: 'tls/wild', ...wild },
        ],
      ),
    );
    server = createServer(store.current.serverOptions(), (socket) => socket.end());
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => server.close());

  it.each([
    ['exact host', 'dashboard.example.com', 'dashboard'],
    ['exact host, any case', 'Dashboard.Example.COM', 'dashboard'],
    ['one-label wildcard', 'shop.apps.example.com', 'wildcard'],
    ['two labels: the wildcard too (a Gateway API listener hostname covers them)', 'a.b.apps.example.com', 'wildcard'],
    ['the wildcard never covers its own suffix', 'apps.example.com', 'Portico Default Certificate'],
    ['host whose Secret is missing', 'missing.example.com', 'Portico Default Certificate'],
    ['unknown host', 'other.example.org', 'Portico Default Certificate'],
  ])('%s: %s -> %s', async (_name, servername, cn) => {
    expect(await presented(port, servername)).toBe(cn);
  });

  it('serves the default certificate without SNI, and swaps certificates with the snapshot', async () => {
    expect(await presented(port, undefined)).toBe('Portico Default Certificate');
    const next = await pair('dashboard-renewed', ['dashboard.example.com']);
    store.current!.load(snapshotWith([{ host: 'dashboard.example.com', certificate: 'tls/dashboard' }], [{ secret: 'tls/dashboard', ...next }]));
    expect(await presented(port, 'dashboard.example.com')).toBe('dashboard-renewed');
    expect(await presented(port, 'shop.apps.example.com')).toBe('Portico Default Certificate');
  });

  it('serves the any-host entry’s certificate (a Gateway HTTPS listener without hostname) for names nothing else fits', async () => {
    const any = await pair('any-host', ['example.org']);
    const dashboard = await pair('dashboard', ['dashboard.example.com']);
    store.current!.load(snapshotWith([{ host: 'dashboard.example.com', certificate: 'tls/dashboard' }, { host: '*', certificate: 'tls/any' }], [{ secret: 'tls/any', ...any }, { secret: 'tls/dashboard', ...dashboard }]));
    expect(await presented(port, 'dashboard.example.com')).toBe('dashboard');
    expect(await presented(port, 'unknown-example.org')).toBe('any-host');
    // A client without SNI gets the default certificate (Node calls no SNICallback then).
    expect(await presented(port, undefined)).toBe('Portico Default Certificate');
    store.current!.load(snapshotWith([{ host: 'dashboard.example.com', certificate: 'tls/dashboard' }], [{ secret: 'tls/dashboard', ...dashboard }]));
    expect(await presented(port, 'unknown-example.org')).toBe('Portico Default Certificate');
  });

  it('on a Gateway\'s own address, looks in its scope first (exact, wildcard, the scope\'s any-host), then at the edge\'s', async () => {
    const scope = '~10-9-0-1-https';
    const [scoped, scopedAny, edge] = await Promise.all([pair('scoped', ['shop.test']), pair('scoped-any', ['x.test']), pair('edge', ['shop.test'])]);
    const scopedStore = new CertificateStore(await generateDefaultCertificate());
    scopedStore.load(
      snapshotWith(
        [
          { host: `shop.test.${scope}`, certificate: 'tls/scoped' },
          { host: `*.${scope}`, certificate: 'tls/scoped-any' },
          { host: 'shop.test', certificate: 'tls/edge' },
          { host: 'edge-only.test', certificate: 'tls/edge' },
        ],
        [
          { secret: 'tls/edge', ...edge },
          { secret: 'tls/scoped', ...scoped },
          { secret: 'tls/scoped-any', ...scopedAny },
        ],
      ),
    );
    const scopedServer = createServer(scopedStore.serverOptions(false, scope), (socket) => socket.end());
    const edgeServer = createServer(scopedStore.serverOptions(false), (socket) => socket.end());
    try {
      for (const s of [scopedServer, edgeServer]) {
        s.listen(0, '127.0.0.1');
        await once(s, 'listening');
      }
      const on = (s: typeof scopedServer) => (s.address() as AddressInfo).port;
      expect(await presented(on(scopedServer), 'shop.test')).toBe('scoped');
      expect(await presented(on(scopedServer), 'other.test')).toBe('scoped-any');
      expect(await presented(on(edgeServer), 'shop.test')).toBe('edge');
      expect(await presented(on(edgeServer), 'other.test')).toBe('Portico Default Certificate');
    } finally {
      scopedServer.close();
      edgeServer.close();
    }
  });
});
