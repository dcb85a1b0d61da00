import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Serving } from './serve.ts';
import { startServing } from './serve.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, fetchVia, httpGet, snapshotOf, startBackend, statusOf } from './test-support.ts';

/** Opens a TCP connection from `from` (a loopback address) that sends nothing; resolves once connected. */
function silentSocket(port: number, from: string, sockets: Socket[]): Promise<Socket> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: LOOPBACK, localAddress: from });
    sockets.push(socket);
    socket.on('error', () => {});
    socket.once('connect', () => resolve(socket));
    socket.once('close', () => resolve(socket));
  });
}

/** Waits until the event loop turned a few times (server-side closes reach the client). */
const settle = (ms = 100) => new Promise((resolve) => setTimeout(resolve, ms));

/** Client sockets still open. */
const openCount = (sockets: readonly Socket[]) => sockets.filter((socket) => !socket.destroyed && socket.readyState === 'open').length;

/**
 * A client's connect completes in the kernel's accept queue, before the server has seen the
 * socket: wait (bounded) until the open count stops changing, then return it.
 */
async function heldAfterAccept(sockets: readonly Socket[]): Promise<number> {
  let last = -1;
  for (let round = 0; round < 50; round++) {
    await settle(100);
    const now = openCount(sockets);
    if (now === last) return now;
    last = now;
  }
  return last;
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('connection budget', () => {
  let backend: Backend;
  /** Caps of 100 (60 per address), default request timeouts. */
  let serving: Serving;
  /** Short timeouts: 300 ms TLS handshake, 400 ms head, keep-alive and tunnel idle. */
  let quick: Serving;
  const sockets: Socket[] = [];

  const start = async (extra: Partial<Parameters<typeof startServing>[0]>): Promise<Serving> => {
    const started = await startServing({ workers: 1, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent', ...extra, proxy: { endpointAddresses: { allowLoopback: true }, ...extra.proxy } });
    await started.load(snapshotOf([{ host: 'budget.test', routes: [{ path: '/', endpoints: [backend.port] }] }]));
    return started;
  };

  beforeAll(async () => {
    backend = await startBackend((_request, response) => response.end('ok'));
    serving = await start({ admission: { maxConnections: 100, maxConnectionsPerClient: 60 } });
    quick = await start({ tlsHandshakeTimeoutMs: 300, proxy: { headerTimeoutMs: 400, keepAliveTimeoutMs: 400, tunnelIdleTimeoutMs: 400 } });
  });

  afterEach(() => {
    for (const socket of sockets.splice(0)) socket.destroy();
  });

  afterAll(async () => {
    await serving.close(500);
    await quick.close(500);
    await backend.close();
  });

  it('keeps serving normal clients and the admin listener while 300 silent sockets push against a cap of 100', async () => {
    const { http, admin } = serving.ports;
    // Five attacking addresses, 60 silent sockets each (the per-client cap), 300 in all.
    for (let a = 2; a <= 6; a++) await Promise.all(Array.from({ length: 60 }, () => silentSocket(http, `127.0.0.${a}`, sockets)));
    const held = await heldAfterAccept(sockets);
    expect(held).toBeLessThanOrEqual(100);
    expect(held).toBeGreaterThan(50);
    // A normal client still gets every request through, each on a new connection.
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await fetchVia(http, { host: 'budget.test' })).status);
    expect(statuses).toEqual(Array.from({ length: 20 }, () => 200));
    expect((await httpGet(admin, '/healthz')).status).toBe(200);
    const metrics = (await httpGet(admin, '/metrics')).body;
    expect(metric(metrics, 'portico_connections_refused_total{reason="evicted"}')).toBeGreaterThan(150);
    expect(metric(metrics, 'portico_active_connections')).toBeGreaterThan(50);
    expect(metric(metrics, 'portico_active_connections')).toBeLessThanOrEqual(101);
  });

  it('refuses a client address past its own cap without touching other clients', async () => {
    const { http, admin } = serving.ports;
    await Promise.all(Array.from({ length: 70 }, () => silentSocket(http, '127.0.0.7', sockets)));
    const held = await heldAfterAccept(sockets);
    expect(held).toBe(60);
    expect((await fetchVia(http, { host: 'budget.test' })).status).toBe(200);
    const metrics = (await httpGet(admin, '/metrics')).body;
    expect(metric(metrics, 'portico_connections_refused_total{reason="client-limit"}')).toBeGreaterThanOrEqual(10);
  });

  it('counts TLS sockets in the handshake and closes silent ones at the handshake timeout', async () => {
    const { https, admin } = quick.ports;
    const silent = await Promise.all(Array.from({ length: 20 }, () => silentSocket(https as number, LOOPBACK, sockets)));
    // Every socket is counted once accepted; on a loaded machine accepting 20 can take longer than a fixed pause.
    let during = '';
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; await settle(25)) {
      during = (await httpGet(admin, '/metrics')).body;
      if (metric(during, 'portico_active_connections') >= 20) break;
    }
    expect(metric(during, 'portico_active_connections')).toBeGreaterThanOrEqual(20);
    await Promise.all(silent.map((socket) => new Promise((resolve) => (socket.destroyed ? resolve(undefined) : socket.once('close', resolve)))));
    const after = (await httpGet(admin, '/metrics')).body;
    expect(metric(after, 'portico_connections_refused_total{reason="tls-handshake"}')).toBeGreaterThanOrEqual(20);
  });

  it('answers 408 to a head trickled past the header timeout, and closes idle keep-alive connections', async () => {
    const { http } = quick.ports;
    const socket = connect(http, LOOPBACK);
    sockets.push(socket);
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: budget.test\r\n');
    // One header byte every 50 ms keeps the socket busy, never finishing the head.
    const trickle = setInterval(() => socket.writable && socket.write('X'), 50);
    await closed;
    clearInterval(trickle);
    expect(statusOf(received)).toBe(408);

    const idle = connect(http, LOOPBACK);
    sockets.push(idle);
    let answer = '';
    idle.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    idle.write('GET / HTTP/1.1\r\nHost: budget.test\r\n\r\n');
    await new Promise((resolve) => idle.once('close', resolve));
    expect(statusOf(answer)).toBe(200);
  });

  it('closes an upgraded connection silent both ways, keeps one that talks', async () => {
    const ws = new WebSocketServer({ host: LOOPBACK, port: 0 });
    ws.on('connection', (socket) => socket.on('message', (data) => socket.send(data.toString())));
    await new Promise((resolve) => ws.once('listening', resolve));
    const wsPort = (ws.address() as { port: number }).port;
    await quick.load(snapshotOf([{ host: 'budget.test', routes: [{ path: '/', endpoints: [backend.port] }, { path: '/ws', endpoints: [wsPort] }] }]));
    const open = (): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const client = new WebSocket(`ws://${LOOPBACK}:${quick.ports.http}/ws`, { headers: { host: 'budget.test' } });
        client.once('open', () => resolve(client));
        client.once('error', reject);
      });
    const quiet = await open();
    const chatty = await open();
    const ping = setInterval(() => chatty.send('x'), 100);
    const quietClosed = await new Promise<number>((resolve) => quiet.once('close', resolve));
    expect(quietClosed).toBe(1006);
    expect(chatty.readyState).toBe(WebSocket.OPEN);
    clearInterval(ping);
    chatty.terminate();
    ws.close();
  });

  it('sets TCP keepalive on client sockets', async () => {
    const socket = await silentSocket(quick.ports.http, LOOPBACK, sockets);
    await settle(20);
    const { execFileSync } = await import('node:child_process');
    const out = execFileSync('ss', ['-tnoH', 'state', 'established', `( sport = :${quick.ports.http} and dport = :${socket.localPort} )`], { encoding: 'utf8' });
    expect(out).toMatch(/timer:\(keepalive/);
  });
});
