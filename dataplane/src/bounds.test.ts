import { afterEach, describe, expect, it } from 'vitest';
import { ProxyMetrics } from './metrics.ts';
import { Router } from './router.ts';
import { fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('bounded maps and queues of the data plane', () => {
  it('caps the sockets to one endpoint: past --max-connections-per-endpoint a request answers 503 and the endpoint never sees more', async () => {
    let open = 0;
    let peak = 0;
    const held: (() => void)[] = [];
    const backend = await startBackend((_request, response) => {
      peak = Math.max(peak, ++open);
      held.push(() => {
        open--;
        response.end('ok');
      });
    });
    cleanups.push(() => backend.close());
    const router = new Router();
    router.load(snapshotOf([{ host: 'cap.test', routes: [{ path: '/', endpoints: [backend.port] }] }]));
    const proxy = await startProxy(router, { maxConnectionsPerEndpoint: 2 });
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    const slow = [fetchVia(proxy.port, { host: 'cap.test' }), fetchVia(proxy.port, { host: 'cap.test' })];
    while (held.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetchVia(proxy.port, { host: 'cap.test' })).status);
    expect(statuses).toEqual([503, 503, 503, 503, 503]);
    for (const release of held.splice(0)) release();
    expect((await Promise.all(slow)).map((response) => response.status)).toEqual([200, 200]);
    // Room again: served on a pooled socket.
    const after = fetchVia(proxy.port, { host: 'cap.test' });
    while (held.length < 1) await new Promise((resolve) => setTimeout(resolve, 10));
    held.pop()!();
    expect((await after).status).toBe(200);
    expect(peak).toBe(2);
  });

  it('keeps request counters only for routes of the served snapshot', async () => {
    const backend = await startBackend((_request, response) => response.end('ok'));
    cleanups.push(() => backend.close());
    const router = new Router();
    const metrics = new ProxyMetrics(router);
    const proxy = await startProxy(router, { metrics });
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    const routesIn = () => new Set(metrics.families().find((family) => family.name === 'portico_requests_total')!.samples.map((sample) => sample.labels.route));
    // 20 snapshots, each with a route of its own, each requested once.
    for (let i = 0; i < 20; i++) {
      router.load(snapshotOf([{ host: `gen-${i}.test`, routes: [{ path: '/', endpoints: [backend.port] }] }]));
      expect((await fetchVia(proxy.port, { host: `gen-${i}.test` })).status).toBe(200);
      expect((await fetchVia(proxy.port, { host: 'nothing.test' })).status).toBe(404);
      expect(routesIn().size).toBe(2);
    }
    expect(routesIn()).toEqual(new Set(['', 'test/ing-0@gen-19.test/']));
  });
});
