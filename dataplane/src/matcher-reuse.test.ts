// Wasm instances reused across swaps (assembly matcher-pool.ts, router.ts LoadedSnapshot.hold):
// through the real serving path, a request in flight keeps the snapshot it was routed on (its
// retry picks from that snapshot's table however many swaps pass), an upgraded connection pins
// nothing, a table that fails to load leaves the current one serving, and a burst of swaps under
// requests in flight stays bounded in instances.
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { AddressInfo } from 'node:net';
import type { TableBundle } from './bundle.ts';
import { SnapshotCompiler, digestOf } from './bundle.ts';
import { Router } from './router.ts';
import { startServing } from './serve.ts';
import type { Serving } from './serve.ts';
import type { HostSpec } from './test-support.ts';
import { LOOPBACK, fetchVia, httpGet, snapshotOf, startBackend, startProxy } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serving(workers: number): Promise<Serving> {
  const started = await startServing({ workers, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent', proxy: { endpointAddresses: { allowLoopback: true } } });
  cleanups.push(() => started.close(2000));
  return started;
}

async function backend(name: string) {
  const started = await startBackend((_request, response) => response.end(name));
  cleanups.push(() => started.close());
  return started;
}

/** A backend that takes request heads and answers none: `release()` resets every connection it holds (a failure before any response byte: the request is retried elsewhere). */
async function holdingBackend(): Promise<{ port: number; held: () => number; release: () => void }> {
  const sockets = new Set<Socket>();
  let held = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', (data) => {
      if (data.includes('\r\n\r\n')) held++;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const release = () => {
    for (const socket of sockets) socket.resetAndDestroy();
  };
  cleanups.push(() => new Promise<void>((resolve) => {
    release();
    server.close(() => resolve());
  }));
  return { port: (server.address() as AddressInfo).port, held: () => held, release };
}

/** Per worker, the value of each series of `name` with label `label` = `value`, in worker order. */
async function perWorker(admin: number, name: string, label: string, value: string): Promise<number[]> {
  const text = (await httpGet(admin, '/metrics')).body;
  const values: number[] = [];
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(`${label}="${value}"`)) values.push(Number(line.slice(line.lastIndexOf(' ') + 1)));
  return values;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Filler hosts, so successive tables differ in size (and a reused instance must hold a larger one). */
function filler(round: number, count: number): HostSpec[] {
  return Array.from({ length: count }, (_, i) => ({ host: `f${round}-${i}.test`, routes: [{ path: '/', endpoints: [9] }] }));
}

describe('wasm instances reused across swaps', () => {
  it('the admin /metrics counts the table blocks each worker copied into an instance or kept (the reused instance held them)', async () => {
    const serve = await serving(2);
    const admin = serve.ports.admin;
    // Enough hosts for a table of several 64 KiB blocks; each version edits one path.
    const version = (path: string) => snapshotOf([{ host: 'a.test', routes: [{ path, endpoints: [9] }] }, ...filler(0, 3000)]);
    await serve.load(version('/one'));
    const blocks = await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'copied');
    expect(blocks.length).toBe(2);
    // A first load into a new instance copies every block and keeps none.
    expect(blocks.every((n) => n >= 2)).toBe(true);
    expect(await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'kept')).toEqual([0, 0]);
    // After the swap, a spare instance is prepared with the current table, a slice per turn (the first is current until the next swap).
    await until('a spare prepared in each worker', async () => (await perWorker(admin, 'portico_matcher_instances', 'state', 'spare')).every((n) => n === 1));
    expect(await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'prepared')).toEqual(blocks);
    // The second version goes into the prepared spare, the third into the first instance again: each copies only the blocks that differ from what its instance holds.
    let copiedBefore = blocks;
    let keptBefore = [0, 0];
    let preparedBefore = blocks;
    for (const [step, path] of ['/two', '/three'].entries()) {
      await serve.load(version(path));
      const copied = await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'copied');
      const kept = await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'kept');
      expect(await perWorker(admin, 'portico_matcher_loads_total', 'instance', 'reused')).toEqual([step + 1, step + 1]);
      expect(await perWorker(admin, 'portico_matcher_loads_total', 'instance', 'new')).toEqual([1, 1]);
      blocks.forEach((n, worker) => {
        const copiedNow = (copied[worker] as number) - (copiedBefore[worker] as number);
        const keptNow = (kept[worker] as number) - (keptBefore[worker] as number);
        expect(copiedNow).toBeGreaterThan(0);
        expect(keptNow).toBeGreaterThan(0);
        expect(copiedNow + keptNow).toBe(n);
      });
      // The instance the swap gave back (one version behind) is brought up to date: it gets the blocks this version changed, no more.
      const expected = copied.map((n, worker) => (preparedBefore[worker] as number) + n - (copiedBefore[worker] as number));
      await until('the given-back instance brought up to date', async () => String(await perWorker(admin, 'portico_matcher_table_blocks_total', 'block', 'prepared')) === String(expected));
      copiedBefore = copied;
      keptBefore = kept;
      preparedBefore = expected;
    }
    // No new instance was prepared: the given-back ones were.
    expect(await perWorker(admin, 'portico_matcher_instances', 'state', 'spare')).toEqual([1, 1]);
    const text = (await httpGet(admin, '/metrics')).body;
    expect(text).toContain('# TYPE portico_matcher_table_blocks_total counter');
  }, 60_000);

  it('a request in flight across 4 swaps is retried on its own snapshot\'s endpoints; the instance is reused once it ends', async () => {
    const holding = await holdingBackend();
    const first = await backend('first');
    const later = await backend('later');
    const serve = await serving(2);
    const admin = serve.ports.admin;
    // WRR picks endpoint 0 first: the holding one.
    await serve.load(snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [holding.port, first.port] }] }, ...filler(0, 5)]));
    const inFlight = fetchVia(serve.ports.http, { host: 'a.test', path: '/' });
    await until('the request to reach the holding endpoint', () => holding.held() === 1);
    for (let round = 1; round <= 4; round++) {
      // `first` stays an endpoint of the current snapshot (on another host): a retry goes only to endpoints the current snapshot has.
      await serve.load(snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [later.port] }] }, { host: 'b.test', routes: [{ path: '/', endpoints: [first.port] }] }, ...filler(round, 100 * round)]));
      // New requests see the new snapshot at once.
      expect(await fetchVia(serve.ports.http, { host: 'a.test', path: '/' })).toMatchObject({ status: 200, body: 'later' });
    }
    // The worker holding the request kept its snapshot's instance: one more in use than the other.
    expect((await perWorker(admin, 'portico_matcher_instances', 'state', 'in_use')).sort()).toEqual([1, 2]);
    holding.release();
    // Retried on the other endpoint of the snapshot it was routed on, which no later snapshot has for a.test.
    expect(await inFlight).toMatchObject({ status: 200, body: 'first' });
    await until('the held instance to be given back', async () => (await perWorker(admin, 'portico_matcher_instances', 'state', 'in_use')).every((n) => n === 1));
    const spare = await perWorker(admin, 'portico_matcher_instances', 'state', 'spare');
    // 5 loads per worker, each into a new instance or a spare (reused, or prepared after a swap that left none): the held one pinned one instance more at most, and up to three are kept spare.
    const made = await perWorker(admin, 'portico_matcher_loads_total', 'instance', 'new');
    const reused = await perWorker(admin, 'portico_matcher_loads_total', 'instance', 'reused');
    expect(made.every((n) => n >= 1 && n <= 3)).toBe(true);
    expect(made.map((n, i) => n + (reused[i] as number))).toEqual([5, 5]);
    const instances = (await perWorker(admin, 'portico_matcher_instances', 'state', 'in_use')).map((n, i) => n + (spare[i] as number));
    expect(instances.every((n) => n <= 4)).toBe(true);
    // A young collection after each swap in every worker, no full one by default.
    expect((await perWorker(admin, 'portico_worker_scavenge_pause_seconds', 'pause', 'max')).length).toBe(2);
    const scavenges = (await httpGet(admin, '/metrics')).body.split('\n').filter((line) => line.startsWith('portico_worker_scavenges_total{')).map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
    expect(scavenges.length).toBe(2);
    expect(scavenges.every((n) => n >= 1)).toBe(true);
  }, 60_000);

  it('an upgraded connection held across 6 swaps keeps relaying and pins no instance', async () => {
    const ws = new WebSocketServer({ host: LOOPBACK, port: 0 });
    ws.on('connection', (socket) => socket.on('message', (data) => socket.send(`echo ${data.toString()}`)));
    await new Promise<void>((resolve) => ws.once('listening', resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      for (const client of ws.clients) client.terminate();
      ws.close(() => resolve());
    }));
    const wsPort = (ws.address() as AddressInfo).port;
    const serve = await serving(2);
    const snapshot = (round: number) => snapshotOf([{ host: 'ws.test', routes: [{ path: '/', endpoints: [wsPort] }] }, ...filler(round, 50 + 50 * (round % 3))]);
    await serve.load(snapshot(0));
    const client = new WebSocket(`ws://${LOOPBACK}:${serve.ports.http}/`, { headers: { host: 'ws.test' } });
    cleanups.push(() => client.terminate());
    const messages: string[] = [];
    client.on('message', (data) => messages.push(data.toString()));
    await new Promise<void>((resolve, reject) => {
      client.once('open', () => resolve());
      client.once('error', reject);
    });
    for (let round = 1; round <= 6; round++) {
      await serve.load(snapshot(round));
      client.send(`m${round}`);
      await until(`echo ${round}`, () => messages.length === round);
    }
    expect(messages).toEqual(['echo m1', 'echo m2', 'echo m3', 'echo m4', 'echo m5', 'echo m6']);
    // The tunnel belongs to no snapshot: its request let go at the upgrade, so each worker holds only its current table and reused the rest.
    expect(await perWorker(serve.ports.admin, 'portico_matcher_instances', 'state', 'in_use')).toEqual([1, 1]);
    // Two instances each in all: the first load's, and the spare prepared after it (or made by the second load), reused in turn.
    expect((await perWorker(serve.ports.admin, 'portico_matcher_loads_total', 'instance', 'new')).every((n) => n === 1 || n === 2)).toBe(true);
    expect(await perWorker(serve.ports.admin, 'portico_matcher_instances', 'state', 'spare')).toEqual([1, 1]);
  }, 60_000);

  it('a table that fails to load (after the pool took it) leaves the current snapshot serving and its requests in flight untouched', async () => {
    const holding = await holdingBackend();
    const good = await backend('good');
    const serve = await serving(1);
    const dataPlane = serve.dataPlane!;
    const router = dataPlane.router;
    await serve.load(snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [holding.port, good.port] }] }, { host: 'c.test', routes: [{ path: '/', endpoints: [good.port] }] }]));
    const version = serve.version;
    const inFlight = fetchVia(serve.ports.http, { host: 'a.test', path: '/' });
    await until('the request to reach the holding endpoint', () => holding.held() === 1);
    const compiler = new SnapshotCompiler();
    const resealed = (bundle: TableBundle): TableBundle => {
      const { digest: _digest, ...content } = bundle;
      return { ...bundle, digest: digestOf(content) };
    };
    const next = compiler.compile(snapshotOf([{ host: 'b.test', routes: [{ path: '/', endpoints: [good.port] }] }, ...filler(1, 20)]));
    // A table the matcher rejects (its version field), under a digest that matches: only the pool load finds out.
    const table = next.table.slice();
    table[4] = 99;
    // Metadata that disagrees with a good table: the load succeeds, the snapshot does not.
    const failures = [resealed({ ...next, table }), resealed({ ...next, redirects: new Uint8Array(next.redirects.length + 1) })];
    for (const bad of failures) {
      const before = router.matcherPool;
      expect(() => dataPlane.loadBundle(bad)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
      expect(router.matcherPool.inUse, 'the failed load kept no instance').toBe(before.inUse);
      expect(serve.version).toBe(version);
      expect(await fetchVia(serve.ports.http, { host: 'c.test', path: '/' })).toMatchObject({ status: 200, body: 'good' });
    }
    holding.release();
    expect(await inFlight).toMatchObject({ status: 200, body: 'good' });
    // The good bundle still loads (into the spare the failures used).
    dataPlane.loadBundle(next);
    expect(await fetchVia(serve.ports.http, { host: 'b.test', path: '/' })).toMatchObject({ status: 200, body: 'good' });
    // Two instances in all: the first load's and the spare (prepared after it, or made by the first failed load).
    expect(router.matcherPool.created + router.matcherPool.prepared).toBe(2);
    expect(router.matcherPool.inUse).toBe(1);
  }, 60_000);

  it('hostile: 300 swaps in bursts while 40 requests are in flight and retried on their snapshots: every one answered, instances bounded', async () => {
    const holding = await holdingBackend();
    const goods = [await backend('g0'), await backend('g1'), await backend('g2')];
    const router = new Router({ health: { failureThreshold: 1000 } });
    // Each snapshot: the holding endpoint first (WRR's first pick), then one good endpoint, and filler of varying size.
    // Every good endpoint stays in every snapshot (all.test): a retry goes only to endpoints the current snapshot has.
    const snapshots = Array.from({ length: 6 }, (_, k) => snapshotOf([{ host: 'h.test', routes: [{ path: '/', endpoints: [holding.port, (goods[k % 3] as { port: number }).port] }] }, { host: 'all.test', routes: [{ path: '/', endpoints: goods.map((good) => good.port) }] }, ...filler(k, 10 + 40 * k)]));
    router.load(snapshots[0]!);
    const proxy = await startProxy(router);
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    const started = Date.now();
    const answers: Promise<{ status: number; body: string }>[] = [];
    let mostInUse = 0;
    for (let swap = 1; swap <= 300; swap++) {
      router.load(snapshots[swap % 6]!);
      mostInUse = Math.max(mostInUse, router.matcherPool.inUse);
      // Every 8th swap a request starts and lands on the holding endpoint of whatever snapshot is current then.
      if (swap % 8 === 0 && answers.length < 40) {
        const before = holding.held();
        answers.push(fetchVia(proxy.port, { host: 'h.test', path: '/' }));
        await until('the request to be held', () => holding.held() > before);
      }
      // Now and then the held requests fail together and go to their snapshots' other endpoint.
      if (swap % 50 === 0) holding.release();
    }
    holding.release();
    const settled = await Promise.all(answers);
    expect(settled.length).toBe(37);
    for (const answer of settled) expect(answer.status).toBe(200);
    expect(new Set(settled.map((answer) => answer.body))).toEqual(new Set(['g0', 'g1', 'g2']));
    // Instances alive at once never exceeded the snapshots held (at most 7 requests in flight between releases, plus the current one) and three spares.
    expect(mostInUse).toBeLessThanOrEqual(8);
    expect(router.matcherPool.created).toBeLessThanOrEqual(300);
    await until('every request to let go', () => router.matcherPool.inUse === 1);
    expect(router.matcherPool.spare).toBeLessThanOrEqual(3);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});
