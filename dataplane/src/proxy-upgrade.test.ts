import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { Router } from './router.ts';
import { LOOPBACK, fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function echoServer(): Promise<number> {
  const server = new WebSocketServer({ host: LOOPBACK, port: 0 });
  server.on('connection', (socket, request) => {
    socket.send(`hello ${request.headers['x-forwarded-for']} ${request.url}`);
    socket.on('message', (data, binary) => socket.send(data, { binary }));
  });
  await new Promise<void>((resolve) => server.once('listening', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

function open(port: number, host: string): Promise<{ socket: WebSocket; next: () => Promise<string>; closed: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`ws://${LOOPBACK}:${port}/chat?room=1`, { headers: { host } });
    const queue: string[] = [];
    const waiters: ((message: string) => void)[] = [];
    socket.on('message', (data) => {
      const text = data.toString();
      const waiter = waiters.shift();
      if (waiter) waiter(text);
      else queue.push(text);
    });
    const closed = new Promise<number>((resolveClosed) => socket.on('close', (code) => resolveClosed(code)));
    const next = (): Promise<string> => (queue.length > 0 ? Promise.resolve(queue.shift() as string) : new Promise((resolveNext) => waiters.push(resolveNext)));
    socket.once('open', () => resolve({ socket, next, closed }));
    socket.once('error', reject);
    cleanups.push(() => socket.terminate());
  });
}

describe('proxy: upgrades', () => {
  it('relays a WebSocket echo that survives 50 snapshot swaps', async () => {
    const wsPort = await echoServer();
    const http = await startBackend((_request, response) => response.end('plain'));
    cleanups.push(() => http.close());
    const router = new Router();
    const snapshotFor = (round: number) =>
      snapshotOf([
        { host: 'ws.test', routes: [{ path: '/', endpoints: [wsPort] }] },
        { host: `round-${round}.test`, routes: [{ path: '/', endpoints: [http.port] }] },
      ]);
    router.load(snapshotFor(0));
    const proxy = await startProxy(router);
    cleanups.push(() => proxy.close());
    const client = await open(proxy.port, 'ws.test');
    expect(await client.next()).toBe('hello 127.0.0.1 /chat?room=1');
    for (let round = 1; round <= 50; round++) {
      router.load(snapshotFor(round));
      client.socket.send(`message ${round}`);
      expect(await client.next()).toBe(`message ${round}`);
    }
    expect((await fetchVia(proxy.port, { host: 'round-50.test' })).body).toBe('plain');
    const big = Buffer.alloc(1024 * 1024, 7);
    client.socket.send(big);
    expect((await client.next()).length).toBe(big.length);
    expect(router.swapCount).toBe(51);
    expect(proxy.proxy.activeTunnels).toBe(1);
    client.socket.close();
    await client.closed;
  });

  it('closes an upgraded connection a drain period after its endpoint was removed, not before', async () => {
    const wsPort = await echoServer();
    const otherPort = await echoServer();
    const router = new Router();
    router.load(snapshotOf([{ host: 'ws.test', routes: [{ endpoints: [wsPort] }] }]));
    const proxy = await startProxy(router, { drainMs: 400 });
    cleanups.push(() => proxy.close());
    const client = await open(proxy.port, 'ws.test');
    await client.next();
    const removedAt = performance.now();
    router.load(snapshotOf([{ host: 'ws.test', routes: [{ endpoints: [otherPort] }] }]));
    await new Promise((resolve) => setTimeout(resolve, 200));
    client.socket.send('still here');
    expect(await client.next()).toBe('still here');
    await client.closed;
    expect(performance.now() - removedAt).toBeGreaterThanOrEqual(390);
    // New upgrades go to the endpoint that replaced it.
    const fresh = await open(proxy.port, 'ws.test');
    await fresh.next();
    fresh.socket.send('new');
    expect(await fresh.next()).toBe('new');
  });

  it('keeps an upgraded connection whose endpoint came back before the drain period ended', async () => {
    const wsPort = await echoServer();
    const router = new Router();
    const withEndpoint = snapshotOf([{ host: 'ws.test', routes: [{ endpoints: [wsPort] }] }]);
    router.load(withEndpoint);
    const proxy = await startProxy(router, { drainMs: 200 });
    cleanups.push(() => proxy.close());
    const client = await open(proxy.port, 'ws.test');
    await client.next();
    router.load(snapshotOf([{ host: 'ws.test', routes: [{ endpoints: [] }] }]));
    router.load(withEndpoint);
    await new Promise((resolve) => setTimeout(resolve, 350));
    client.socket.send('kept');
    expect(await client.next()).toBe('kept');
  });

  it('answers an upgrade the endpoint refuses like any response', async () => {
    const plain = await startBackend((_request, response) => response.end('no upgrade here'));
    cleanups.push(() => plain.close());
    const router = new Router();
    router.load(snapshotOf([{ host: 'plain.test', routes: [{ endpoints: [plain.port] }] }]));
    const proxy = await startProxy(router);
    cleanups.push(() => proxy.close());
    await expect(open(proxy.port, 'plain.test')).rejects.toThrow(/Unexpected server response: 200/);
  });
});
