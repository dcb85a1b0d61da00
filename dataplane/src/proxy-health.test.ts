import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { HealthOptions } from './health.ts';
import { Router } from './router.ts';
import { LOOPBACK, closedPort, fetchVia, snapshotOf, startProxy } from './test-support.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A backend with one poisoned URL: `/reset` resets the connection, `/slow` never answers, `/broken`
 * answers garbage; everything else is 200 with `name`. This is what any client can aim at.
 */
async function poisonedBackend(name: string): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (data) => {
      text += data.toString('latin1');
      if (!text.includes('\r\n\r\n')) return;
      const path = text.split(' ')[1];
      text = '';
      if (path === '/reset') socket.resetAndDestroy();
      else if (path === '/broken') socket.end('HTTP/1.1 banana\r\n\r\n');
      else if (path !== '/slow') socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${name.length}\r\n\r\n${name}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as { port: number }).port;
}

async function proxyFor(endpoints: number[], health: HealthOptions) {
  const router = new Router({ health });
  router.load(snapshotOf([{ host: 'svc.test', routes: [{ path: '/', endpoints }] }]));
  // Short enough for the /slow requests, long enough that a loaded machine's 200 is not a 504.
  const proxy = await startProxy(router, { readTimeoutMs: 1_000 });
  cleanups.push(async () => {
    await proxy.close();
    router.close();
  });
  return { router, port: proxy.port };
}

async function statuses(port: number, path: string, count: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push((await fetchVia(port, { host: 'svc.test', path })).status);
  return out;
}

describe('passive health that clients cannot weaponize', () => {
  it('the issue: 3 requests to a URL that resets do not turn a single-endpoint Service into 503s', async () => {
    const backend = await poisonedBackend('ok');
    const { router, port } = await proxyFor([backend], {});
    // What the probe did: three failing requests, then normal traffic.
    expect(await statuses(port, '/reset', 3)).toEqual([502, 502, 502]);
    expect(await statuses(port, '/slow', 3)).toEqual([504, 504, 504]);
    expect(await statuses(port, '/broken', 3)).toEqual([502, 502, 502]);
    expect(router.health.isEjected(`127.0.0.1:${backend}`)).toBe(false);
    expect(await statuses(port, '/', 50)).toEqual(Array.from({ length: 50 }, () => 200));
  });

  it('with ejectOn: any, the panic threshold still routes to the only endpoint', async () => {
    const backend = await poisonedBackend('ok');
    const { router, port } = await proxyFor([backend], { ejectOn: 'any', failureThreshold: 3 });
    await statuses(port, '/reset', 3);
    // Ejected on the books, but a set with no healthy endpoint left is in panic and routes to all.
    expect(router.health.isEjected(`127.0.0.1:${backend}`)).toBe(true);
    expect(await statuses(port, '/', 20)).toEqual(Array.from({ length: 20 }, () => 200));
  });

  it('ejects a dead endpoint of two (connection refused), and routes to both once both are ejected', async () => {
    const good = await poisonedBackend('good');
    const dead = await closedPort();
    const { router, port } = await proxyFor([dead, good], { failureThreshold: 1 });
    // The connect failure is retried on the good endpoint: clients see 200 throughout.
    expect(await statuses(port, '/', 6)).toEqual(Array.from({ length: 6 }, () => 200));
    expect(router.health.isEjected(`127.0.0.1:${dead}`)).toBe(true);
    // Half the set healthy is not below 50 %: the dead endpoint stays out.
    expect(router.endpointHealth().find((e) => e.key === `127.0.0.1:${dead}`)?.healthy).toBe(false);
    // Both ejected (the good one through the API, as if it had failed too): panic, both routed to.
    router.reportFailure(`127.0.0.1:${good}`);
    expect(router.endpointHealth().every((e) => e.healthy)).toBe(true);
    expect(await statuses(port, '/', 4)).toContain(200);
  });

  it('keeps an ejected endpoint ejected across scales of its set (ids are slots of the keys: its id may move)', async () => {
    const dead = await closedPort();
    const good = [await poisonedBackend('a'), await poisonedBackend('b'), await poisonedBackend('c')];
    const { router, port } = await proxyFor([dead, good[0]!, good[1]!], { failureThreshold: 1 });
    expect(await statuses(port, '/', 6)).toEqual(Array.from({ length: 6 }, () => 200));
    expect(router.health.isEjected(`127.0.0.1:${dead}`)).toBe(true);
    // A Deployment scaled up, then down by another endpoint: the dead one stays out, by its key.
    for (const endpoints of [[dead, good[0]!, good[1]!, good[2]!], [dead, good[1]!, good[2]!]]) {
      router.load(snapshotOf([{ host: 'svc.test', routes: [{ path: '/', endpoints }] }]));
      const health = router.endpointHealth();
      expect(health.map((e) => e.key).sort()).toEqual(endpoints.map((p) => `127.0.0.1:${p}`).sort());
      expect(health.find((e) => e.key === `127.0.0.1:${dead}`)?.healthy).toBe(false);
      expect(health.filter((e) => e.healthy)).toHaveLength(endpoints.length - 1);
      expect(await statuses(port, '/', 6)).toEqual(Array.from({ length: 6 }, () => 200));
    }
  });

  it('with the panic threshold off, ejection can empty a set (the operator asked for it)', async () => {
    const backend = await poisonedBackend('ok');
    const { port } = await proxyFor([backend], { ejectOn: 'any', failureThreshold: 1, panicThresholdPercent: 0 });
    await statuses(port, '/reset', 1);
    expect(await statuses(port, '/', 2)).toEqual([503, 503]);
  });

  it('bounds the back-off at 60 s by default and forgets health records of endpoints that left', async () => {
    const router = new Router();
    expect(router.health.maxBackoffMs).toBe(60_000);
    router.load(snapshotOf([{ host: 'svc.test', routes: [{ path: '/', endpoints: [1001, 1002, 1003] }] }]));
    for (const key of ['127.0.0.1:1001', '127.0.0.1:1002']) router.reportFailure(key);
    expect(router.health.size).toBe(2);
    router.load(snapshotOf([{ host: 'svc.test', routes: [{ path: '/', endpoints: [1002, 1003] }] }]));
    expect(router.health.size).toBe(1);
    router.close();
  });
});
