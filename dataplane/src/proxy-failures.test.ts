import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { RouteSpec, RunningProxy } from './test-support.ts';
import { LOOPBACK, closedPort, fetchVia, keepAliveAgent, rawExchange, snapshotOf, startBackend, startProxy, statusOf } from './test-support.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxyFor(routes: RouteSpec[], options: Parameters<typeof startProxy>[1] = {}, router = new Router()): Promise<{ router: Router; proxy: RunningProxy }> {
  router.load(snapshotOf([{ host: 'fail.test', routes }]));
  const proxy = await startProxy(router, options);
  cleanups.push(async () => {
    await proxy.close();
    router.close();
  });
  return { router, proxy };
}

async function okBackend(name = 'ok') {
  const backend = await startBackend((_request, response) => response.end(name));
  cleanups.push(() => backend.close());
  return backend;
}

/** A raw backend: `onRequest(socket, n)` is called for the n-th request head (1-based) on each connection. */
async function rawBackend(onRequest: (socket: Socket, n: number) => void, port = 0): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    let n = 0;
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('latin1');
      while (text.includes('\r\n\r\n')) {
        text = text.slice(text.indexOf('\r\n\r\n') + 4);
        onRequest(socket, ++n);
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(port, LOOPBACK, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return { port: (server.address() as { port: number }).port, connections: () => connections };
}

describe('proxy: failures', () => {
  it('answers 502 when the only endpoint refuses connections', async () => {
    const { proxy } = await proxyFor([{ endpoints: [await closedPort()] }]);
    expect((await fetchVia(proxy.port, { host: 'fail.test' })).status).toBe(502);
  });

  it('answers 502 when the endpoint resets without answering, and 502 for a broken response head', async () => {
    const reset = await rawBackend((socket) => socket.resetAndDestroy());
    const garbage = await rawBackend((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n'));
    const { proxy } = await proxyFor([{ path: '/reset', endpoints: [reset.port] }, { path: '/garbage', endpoints: [garbage.port] }]);
    expect((await fetchVia(proxy.port, { host: 'fail.test', path: '/reset' })).status).toBe(502);
    expect((await fetchVia(proxy.port, { host: 'fail.test', path: '/garbage' })).status).toBe(502);
  });

  it('answers 502 for a 101 to a request that asked for no upgrade', async () => {
    const rogue = await rawBackend((socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n'));
    const { proxy } = await proxyFor([{ endpoints: [rogue.port] }]);
    expect((await fetchVia(proxy.port, { host: 'fail.test' })).status).toBe(502);
  });

  it('answers 504 when the endpoint does not answer within the read timeout', async () => {
    const silent = await rawBackend(() => {});
    const { proxy } = await proxyFor([{ endpoints: [silent.port] }], { readTimeoutMs: 200 });
    const started = performance.now();
    expect((await fetchVia(proxy.port, { host: 'fail.test' })).status).toBe(504);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('cuts the client off when the endpoint dies mid-response', async () => {
    const partial = await rawBackend((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part');
      setTimeout(() => socket.destroy(), 20);
    });
    const { proxy } = await proxyFor([{ endpoints: [partial.port] }]);
    const raw = await rawExchange(proxy.port, 'GET / HTTP/1.1\r\nHost: fail.test\r\n\r\n', 2000);
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*only part$/);
  });

  it('retries an idempotent request once on another endpoint when connecting fails', async () => {
    const good = await okBackend('good');
    const { router, proxy } = await proxyFor([{ endpoints: [await closedPort(), good.port] }], {}, new Router({ health: { failureThreshold: 100 } }));
    for (let i = 0; i < 6; i++) expect(await fetchVia(proxy.port, { host: 'fail.test' })).toMatchObject({ status: 200, body: 'good' });
    expect(good.requests).toBe(6);
    // A POST is not retried: the pick that lands on the dead endpoint answers 502.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetchVia(proxy.port, { host: 'fail.test', method: 'POST', body: 'x' })).status);
    expect(statuses.sort()).toEqual([200, 200, 502, 502]);
    expect(router.health.isEjected(`127.0.0.1:${good.port}`)).toBe(false);
  });

  it('a scale-down stopping two endpoints at once: a GET reset by one and reset or refused by the other reaches the third', async () => {
    // Two pods shutting down: one resets what it accepted (its listen backlog at close), one resets or refuses.
    const good = await okBackend('good');
    const resetA = await rawBackend((socket) => socket.resetAndDestroy());
    const resetB = await rawBackend((socket) => socket.resetAndDestroy());
    const routes: RouteSpec[] = [
      { path: '/resets', endpoints: [resetA.port, resetB.port, good.port] },
      { path: '/mixed', endpoints: [await closedPort(), resetA.port, good.port] },
    ];
    const { router, proxy } = await proxyFor(routes, {}, new Router({ health: { failureThreshold: 100 } }));
    for (const path of ['/resets', '/mixed']) {
      const statuses: number[] = [];
      for (let i = 0; i < 9; i++) statuses.push((await fetchVia(proxy.port, { host: 'fail.test', path })).status);
      expect(statuses, path).toEqual(Array(9).fill(200));
    }
    expect(good.requests).toBe(18);
    // A POST is never sent twice: the picks that land on a resetting endpoint answer 502.
    const posts: number[] = [];
    for (let i = 0; i < 6; i++) posts.push((await fetchVia(proxy.port, { host: 'fail.test', path: '/resets', method: 'POST', body: 'x' })).status);
    expect(posts.filter((status) => status === 502).length).toBe(4);
    expect(router.health.isEjected(`127.0.0.1:${good.port}`)).toBe(false);
  });

  it('ejects an endpoint that keeps failing and takes it back after the back-off', async () => {
    const good = await okBackend('good');
    const deadPort = await closedPort();
    const deadKey = `127.0.0.1:${deadPort}`;
    const { router, proxy } = await proxyFor([{ endpoints: [deadPort, good.port] }], {}, new Router({ health: { failureThreshold: 2, backoffMs: 300 } }));
    for (let i = 0; i < 4; i++) expect((await fetchVia(proxy.port, { host: 'fail.test' })).status).toBe(200);
    expect(router.health.isEjected(deadKey)).toBe(true);
    expect(router.endpointHealth().find((endpoint) => endpoint.key === deadKey)?.healthy).toBe(false);
    const before = good.requests;
    for (let i = 0; i < 4; i++) await fetchVia(proxy.port, { host: 'fail.test' });
    expect(good.requests - before).toBe(4);
    // The endpoint comes back by itself; now that it listens, it serves again.
    await rawBackend((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nrevived'), deadPort);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect(router.health.isEjected(deadKey)).toBe(false);
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await fetchVia(proxy.port, { host: 'fail.test' })).body);
    expect(bodies).toEqual(new Set(['good', 'revived']));
  });

  it('replays a request on a fresh connection when a kept-alive one was closed under it', async () => {
    // Every connection answers its first request and resets on the second, like a server closing an idle socket.
    const flaky = await rawBackend((socket, n) => {
      if (n === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.resetAndDestroy();
    });
    const { router, proxy } = await proxyFor([{ endpoints: [flaky.port] }], {}, new Router({ health: { failureThreshold: 1 } }));
    const agent = keepAliveAgent();
    for (let i = 0; i < 3; i++) expect((await fetchVia(proxy.port, { host: 'fail.test', agent })).status).toBe(200);
    agent.destroy();
    expect(flaky.connections()).toBe(3);
    expect(router.health.isEjected(`127.0.0.1:${flaky.port}`)).toBe(false);
  });

  it('answers 400 for a chunked body that turns invalid mid-stream and aborts the upstream request', async () => {
    const sink = await rawBackend(() => {});
    const { proxy } = await proxyFor([{ endpoints: [sink.port] }]);
    const raw = await new Promise<string>((resolve) => {
      let received = '';
      const client = connect(proxy.port, LOOPBACK, () => {
        client.write('POST / HTTP/1.1\r\nHost: fail.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setTimeout(() => client.write('zz\r\n'), 100);
      });
      client.on('data', (data) => (received += data.toString('latin1')));
      client.on('close', () => resolve(received));
    });
    expect(statusOf(raw)).toBe(400);
  });
});
