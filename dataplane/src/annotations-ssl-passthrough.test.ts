/**
 * ssl-passthrough through the real HTTPS listener, as ingress-nginx documents it (docs/user-guide/
 * tls.md "SSL Passthrough") and its e2e test asserts (test/e2e/annotations/sslpassthrough.go: the
 * client sees the backend's own certificate for the passthrough host, the controller's for
 * others): a TLS backend with its own certificate answers the client directly (no
 * X-Forwarded-For: Portico did not terminate), HTTP/2 by ALPN passes untouched, SNI of another
 * host and no SNI are terminated by Portico, hostile ClientHellos are closed in bounded time, a
 * backend that is down closes the connection, plain HTTP for the host is proxied as usual, and
 * passthrough with an access-restricting annotation refuses the Ingress (503, never served open).
 */
import { createSecureServer, connect as connectHttp2 } from 'node:http2';
import type { Http2SecureServer } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { connect as connectTcp } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlane } from './dataplane.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, closedPort, compileManifests, httpGet, startBackend } from './test-support.ts';
import { passthroughStats } from './passthrough.ts';
import { startServing } from './serve.ts';

const A = 'nginx.ingress.kubernetes.io/';
const BACKEND_CN = 'passthrough-backend.test';

function service(name: string, port: number): string {
  return [
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: web}\nspec: {ports: [{port: 443}]}\n`,
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: web, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`,
  ].join('---\n');
}

function ingress(name: string, host: string, serviceName: string, annotations: Record<string, string>, path = '/'): string {
  return (
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'web', annotations: Object.fromEntries(Object.entries(annotations).map(([k, v]) => [A + k, v])) },
      spec: { ingressClassName: 'portico', rules: [{ host, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: serviceName, port: { number: 443 } } } }] } }] },
    }) + '\n'
  );
}

let tlsBackend: Http2SecureServer;
let tlsBackendPort: number;
let tlsConnections = 0;
let plain: Backend;
let plane: DataPlane;
let conditions: ReturnType<typeof compileManifests>['conditions'];
let snapshot: ReturnType<typeof compileManifests>['snapshot'];
let documents: string[];

/** What a TLS connection saw: the peer certificate's CN, the ALPN protocol, and the first response body (when asked). */
function tlsConnect(servername: string | undefined, alpn: string[] = ['http/1.1']): Promise<{ cn: string; alpn: string | false; socket: ReturnType<typeof connectTls> }> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: LOOPBACK, port: plane.ports.https!, rejectUnauthorized: false, ALPNProtocols: alpn, ...(servername === undefined ? {} : { servername }) });
    socket.setTimeout(10_000, () => socket.destroy(new Error('timed out')));
    socket.once('secureConnect', () => resolve({ cn: String((socket.getPeerCertificate() as PeerCertificate).subject.CN), alpn: socket.alpnProtocol ?? false, socket }));
    socket.once('error', reject);
    socket.once('close', () => reject(new Error('closed before the handshake')));
  });
}

/** One HTTPS/1.1 request; the peer certificate's CN and the echoed facts. */
function get(servername: string, host = servername, port = plane.ports.https): Promise<{ status: number; cn: string; echo: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = httpsRequest({ host: LOOPBACK, port, path: '/x', agent: false, rejectUnauthorized: false, servername, headers: { host }, timeout: 10_000 }, (response) => {
      const cn = String((response.socket as ReturnType<typeof connectTls>).getPeerCertificate().subject.CN);
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk.toString()));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, cn, echo: body.startsWith('{') ? (JSON.parse(body) as Record<string, unknown>) : {} }));
    });
    request.on('timeout', () => request.destroy(new Error('timed out')));
    request.on('error', reject);
    request.end();
  });
}

/** Writes `bytes` to the HTTPS port and resolves with the ms until Portico closes the connection. */
function closedAfter(bytes: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = connectTcp(plane.ports.https!, LOOPBACK, () => socket.write(bytes));
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error('not closed within 8 s'));
    }, 8000);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(guard);
      resolve(performance.now() - started);
    });
  });
}

beforeAll(async () => {
  const pems = await generate([{ name: 'commonName', value: BACKEND_CN }], { keyType: 'ec', curve: 'P-256', algorithm: 'sha256' });
  tlsBackend = createSecureServer({ cert: pems.cert, key: pems.private, allowHTTP1: true }, (request, response) => {
    const socket = request.socket as unknown as { alpnProtocol?: string; servername?: string };
    response.end(JSON.stringify({ httpVersion: request.httpVersion, alpn: socket.alpnProtocol ?? null, servername: socket.servername ?? null, xff: request.headers['x-forwarded-for'] ?? null, host: request.headers.host ?? request.headers[':authority'] ?? null }));
  });
  tlsBackend.on('connection', () => tlsConnections++);
  await new Promise<void>((resolve) => tlsBackend.listen(0, LOOPBACK, resolve));
  tlsBackendPort = (tlsBackend.address() as AddressInfo).port;
  plain = await startBackend((request, response) => response.end(JSON.stringify({ xff: request.headers['x-forwarded-for'] ?? null })));
  documents = [
      service('secure', tlsBackendPort),
      service('app', plain.port),
      service('gone', await closedPort()),
      // Two endpoints, the first of which refuses connections.
      service('mixed', await closedPort()),
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: mixed-2, namespace: web, labels: {kubernetes.io/service-name: mixed}}\naddressType: IPv4\nports: [{port: ${tlsBackendPort}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`,
      ingress('mixed', 'mixed.test', 'mixed', { 'ssl-passthrough': 'true' }),
      // Plain HTTP for the passthrough host is proxied to the same backend, over TLS (backend-protocol).
      ingress('pass', 'pass.test', 'secure', { 'ssl-passthrough': 'true', 'backend-protocol': 'HTTPS' }),
      ingress('open', 'open.test', 'app', {}),
      ingress('down', 'down.test', 'gone', { 'ssl-passthrough': 'true' }),
      ingress('guarded', 'guarded.test', 'secure', { 'ssl-passthrough': 'true', 'whitelist-source-range': '127.0.0.0/8' }),
      ingress('not-root', 'notroot.test', 'secure', { 'ssl-passthrough': 'true' }, '/api'),
      ingress('wild', '*.wild.test', 'secure', { 'ssl-passthrough': 'true' }),
  ];
  const compiled = compileManifests(documents.join('---\n'));
  conditions = compiled.conditions;
  snapshot = compiled.snapshot;
  plane = await DataPlane.start({ address: LOOPBACK, httpPort: 0, httpsPort: 0, tlsHandshakeTimeoutMs: 1000, proxy: { endpointAddresses: { allowLoopback: true }, tunnelIdleTimeoutMs: 3000, connectTimeoutMs: 2000 } });
  plane.load(compiled.snapshot);
}, 60_000);

afterAll(async () => {
  await plane?.close(500);
  await plain?.close();
  tlsBackend?.close();
});

describe('ssl-passthrough (ingress-nginx e2e: sslpassthrough.go) through the real HTTPS listener', () => {
  it('the passthrough host: the client sees the backend\'s own certificate and the backend gets the connection untouched (no X-Forwarded-For)', async () => {
    const answer = await get('pass.test');
    expect(answer.status).toBe(200);
    expect(answer.cn).toBe(BACKEND_CN);
    expect(answer.echo).toMatchObject({ httpVersion: '1.1', servername: 'pass.test', xff: null });
    // SNI is compared without case, as DNS names are.
    expect((await get('PASS.test', 'pass.test')).cn).toBe(BACKEND_CN);
  });

  it('HTTP/2 by ALPN passes through untouched: the backend negotiates h2 itself', async () => {
    const session = connectHttp2(`https://${LOOPBACK}:${plane.ports.https}`, { servername: 'pass.test', rejectUnauthorized: false });
    session.on('error', () => {});
    try {
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/', ':authority': 'pass.test' });
        let text = '';
        stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
        stream.end();
      });
      expect(JSON.parse(body)).toMatchObject({ httpVersion: '2.0', alpn: 'h2', xff: null });
      expect(String((session.socket as ReturnType<typeof connectTls>).getPeerCertificate().subject.CN)).toBe(BACKEND_CN);
    } finally {
      session.close();
    }
  });

  it('SNI of another host, and no SNI, are terminated by Portico', async () => {
    const other = await get('open.test');
    expect(other.status).toBe(200);
    expect(other.cn).not.toBe(BACKEND_CN);
    expect(other.echo.xff).toBe('127.0.0.1');
    const none = await tlsConnect(undefined);
    expect(none.cn).toBe('Portico Default Certificate');
    none.socket.destroy();
  });

  it('plain HTTP for the passthrough host is routed as usual (through Portico: X-Forwarded-For set)', async () => {
    const answer = await httpGet(plane.ports.http, '/x', 'pass.test');
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ xff: '127.0.0.1', httpVersion: '1.1' });
  });

  it('only the host\'s `/` path and exact host names carry passthrough, as ingress-nginx\'s root location and SNI lookup', async () => {
    // Never silently: a Warning names what is left terminated.
    expect(conditions).toContainEqual(expect.objectContaining({ source: expect.objectContaining({ name: 'not-root' }), severity: 'Warning', field: `metadata.annotations['${A}ssl-passthrough']`, message: expect.stringContaining('not for notroot.test') }));
    expect(conditions).toContainEqual(expect.objectContaining({ source: expect.objectContaining({ name: 'wild' }), severity: 'Warning', message: expect.stringContaining('not for *.wild.test') }));
    expect(conditions.filter((condition) => condition.source.name === 'pass' && condition.severity === 'Warning')).toEqual([]);
    for (const name of ['notroot.test', 'a.wild.test']) {
      const connection = await tlsConnect(name);
      connection.socket.destroy();
      expect(connection.cn).toBe('Portico Default Certificate');
    }
  });

  it('an access-restricting annotation beside it refuses the Ingress: TLS is terminated by Portico and answers 503, never spliced open', async () => {
    expect(conditions).toContainEqual(expect.objectContaining({ severity: 'Error', field: `metadata.annotations['${A}ssl-passthrough']`, message: expect.stringContaining('whitelist-source-range') }));
    const answer = await get('guarded.test');
    expect(answer.cn).not.toBe(BACKEND_CN);
    expect(answer.status).toBe(503);
  });

  it('a backend that is down: the client connection is closed (no handshake), and counted', async () => {
    const metric = (outcome: string): number => plane.metrics.families().find((family) => family.name === 'portico_tls_passthrough_connections_total')?.samples.find((sample) => sample.labels.outcome === outcome)?.value ?? -1;
    const failed = passthroughStats.failed;
    const failedMetric = metric('failed');
    const splicedMetric = metric('spliced');
    expect(splicedMetric).toBeGreaterThan(0);
    await expect(tlsConnect('down.test')).rejects.toThrow();
    expect(passthroughStats.failed).toBeGreaterThan(failed);
    expect(metric('failed')).toBe(failedMetric + 1);
    expect(metric('spliced')).toBe(splicedMetric);
  });

  it('an endpoint that refuses the connection is reported and another one is tried (no byte was sent to it): every connection reaches the live one', async () => {
    const cns: string[] = [];
    for (let i = 0; i < 6; i++) {
      const connection = await tlsConnect('mixed.test');
      cns.push(connection.cn);
      connection.socket.destroy();
    }
    expect(cns).toEqual(Array.from({ length: 6 }, () => BACKEND_CN));
  });

  it('hostile ClientHellos are closed in bounded time and never reach the backend', async () => {
    const before = tlsConnections;
    // A record header promising 512 bytes, 20 of them sent, then silence: closed at the handshake deadline (1 s).
    const partial = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]), Buffer.alloc(11, 3)]);
    const waited = await closedAfter(partial);
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(6000);
    // A record longer than TLS allows, garbage, plain HTTP on the TLS port: handed to TLS, which refuses them.
    for (const bytes of [Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0, 0, 0]), Buffer.from('not tls at all, not even close\r\n'), Buffer.from('GET / HTTP/1.1\r\nHost: pass.test\r\n\r\n')]) {
      expect(await closedAfter(bytes)).toBeLessThan(6000);
    }
    // 40 ClientHellos cut after the SNI-bearing record header, at once: all closed, none spliced.
    const cut = await Promise.all(Array.from({ length: 40 }, () => closedAfter(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40, 0x01]))));
    expect(cut.every((ms) => ms < 6000)).toBe(true);
    expect(tlsConnections).toBe(before);
  });

  it('a spliced connection counts in the connection budget while open and is closed after the idle timeout', async () => {
    // Sockets of earlier tests close asynchronously on the server side: wait (bounded) until none is open.
    for (let i = 0; i < 250 && plane.metrics.activeConnections !== 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    const baseline = plane.metrics.activeConnections;
    expect(baseline).toBe(0);
    const { socket } = await tlsConnect('pass.test');
    expect(plane.metrics.activeConnections).toBe(baseline + 1);
    const started = performance.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const idle = performance.now() - started;
    expect(idle).toBeGreaterThanOrEqual(2500);
    expect(idle).toBeLessThan(10_000);
    for (let i = 0; i < 50 && plane.metrics.activeConnections !== baseline; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(plane.metrics.activeConnections).toBe(baseline);
  });

  it('a snapshot without the annotation terminates new connections; a connection spliced before the swap keeps going (DESIGN rule 5)', async () => {
    const { socket } = await tlsConnect('pass.test');
    const ask = (): Promise<string> =>
      new Promise((resolve, reject) => {
        let text = '';
        const onData = (chunk: Buffer): void => {
          text += chunk.toString();
          if (text.includes('}')) {
            socket.off('data', onData);
            resolve(text);
          }
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.write('GET / HTTP/1.1\r\nHost: pass.test\r\n\r\n');
      });
    try {
      expect(await ask()).toContain('"xff":null');
      const without = compileManifests(documents.map((document) => document.replace('"nginx.ingress.kubernetes.io/ssl-passthrough":"true",', '')).join('---\n'));
      plane.load(without.snapshot);
      expect((await get('pass.test')).cn).not.toBe(BACKEND_CN);
      expect(await ask()).toContain('"xff":null');
    } finally {
      socket.destroy();
      plane.load(snapshot);
    }
    expect((await get('pass.test')).cn).toBe(BACKEND_CN);
  });
});

describe('ssl-passthrough: worker processes', () => {
  it('every worker splices the passthrough host and terminates the others (the bundle\'s TLS part carries the hosts)', async () => {
    const serving = await startServing({ workers: 2, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent', proxy: { endpointAddresses: { allowLoopback: true } } });
    try {
      await serving.load(snapshot);
      const port = serving.ports.https as number;
      // Fresh connections from fresh source ports: the kernel spreads them over both workers.
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) seen.push((await get('pass.test', 'pass.test', port)).cn === BACKEND_CN ? 'spliced' : 'terminated', (await get('open.test', 'open.test', port)).cn === BACKEND_CN ? 'spliced' : 'terminated');
      expect(seen).toEqual(Array.from({ length: 6 }, () => ['spliced', 'terminated']).flat());
    } finally {
      await serving.close(2000);
    }
  }, 60_000);
});
