/**
 * Endpoints a new snapshot removes while requests are connecting to them (a scale-down or rollout
 * faster than the snapshot: the pod's address may already be gone and never answer the SYN). The
 * requests go on to an endpoint that is still there at once, instead of waiting out the connect
 * timeout and then perhaps trying another removed endpoint of the snapshot they started on.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http2';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { FetchedResponse, RouteSpec } from './test-support.ts';
import { LOOPBACK, annotatedIngress, compileManifests, fetchVia, snapshotOf, startBackend, startProxy, startRawBackend } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * A loopback port whose connects hang, as a gone pod's address does: a listener (backlog 1) in a
 * child process stopped with SIGSTOP, its accept queue filled, so the kernel drops further SYNs.
 */
async function silentPort(): Promise<number> {
  const script = "const s = require('node:net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => process.stdout.write(s.address().port + '\\n'));";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'ignore'] });
  const fillers: Socket[] = [];
  cleanups.push(() => {
    for (const socket of fillers) socket.destroy();
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.once('data', (data: Buffer) => resolve(Number(data.toString().trim())));
    child.once('exit', () => reject(new Error('the silent listener exited')));
  });
  child.kill('SIGSTOP');
  // Backlog 1 takes two completed connections; a third connect is a SYN nobody answers.
  for (let i = 0; i < 2; i++) {
    const socket = connect(port, LOOPBACK);
    socket.on('error', () => {});
    fillers.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
  }
  return port;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function routes(endpoints: readonly number[]): RouteSpec[] {
  return [{ endpoints }];
}

/** Manifests: Service web/app with one ready endpoint 127.0.0.1:port per port, behind an h2c Ingress for h2.test. */
function h2cApp(ports: readonly number[]): string {
  const slices = ports.map((port, i) => `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: app-${i}, namespace: web, labels: {kubernetes.io/service-name: app}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`);
  const service = 'apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: web}\nspec: {ports: [{port: 80}]}\n';
  return [service, ...slices, annotatedIngress('app', 'h2.test', { 'nginx.ingress.kubernetes.io/backend-protocol': 'H2C' })].join('---\n');
}

describe('proxy: endpoints removed while requests connect to them', () => {
  it('GETs connecting to removed endpoints go to one still there at once, never to another removed one; a POST answers 502 at once', async () => {
    const [goneA, goneB] = [await silentPort(), await silentPort()];
    const good = await startBackend((_request, response) => response.end('good'));
    cleanups.push(() => good.close());
    // The default connect timeout is 5 s: the swap below comes long before it.
    const router = new Router({ health: { failureThreshold: 100 } });
    // `/post` has only one silent endpoint, so the POST surely connects to a removed one.
    router.load(snapshotOf([{ host: 'gone.test', routes: [{ endpoints: [goneA, goneB, good.port] }, { path: '/post', endpoints: [goneB] }] }]));
    const proxy = await startProxy(router, { connectTimeoutMs: 5_000 });
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });

    // Round robin over three endpoints: 4 of 6 requests start connecting to the two silent ones.
    const started = performance.now();
    const gets: Promise<FetchedResponse>[] = [];
    for (let i = 0; i < 6; i++) gets.push(fetchVia(proxy.port, { host: 'gone.test', path: `/${i}` }));
    const post = fetchVia(proxy.port, { host: 'gone.test', path: '/post', method: 'POST', body: 'x' });
    await until(() => good.requests >= 2 && proxy.proxy.pool.connectingCount >= 5, 3_000);
    const connecting = proxy.proxy.pool.connectingCount;
    const swappedAt = performance.now();
    // The scale-down reaches the data plane: only the good endpoint is left.
    router.load(snapshotOf([{ host: 'gone.test', routes: [{ endpoints: [good.port] }, { path: '/post', endpoints: [good.port] }] }]));

    const answers = await Promise.all(gets);
    const doneAt = performance.now();
    expect(answers.map((answer) => `${answer.status} ${answer.body}`)).toEqual(Array(6).fill('200 good'));
    // Right after the swap, not at the connect timeout (nor one later for a retry that met the other silent endpoint).
    expect(doneAt - swappedAt).toBeLessThan(1_500);
    expect(doneAt - started).toBeLessThan(4_500);
    // A POST is not sent to another endpoint by the built-in policy: connecting to a removed one, it is answered 502 at once.
    expect((await post).status).toBe(502);
    expect(performance.now() - swappedAt).toBeLessThan(1_500);
    expect(good.requests).toBe(6);
    expect(connecting).toBeGreaterThanOrEqual(5);
    // Abandoned sockets are forgotten once closed: the pool holds nothing for removed endpoints.
    await until(() => proxy.proxy.pool.connectingCount === 0, 1_000);
    // Removed, not failing: no passive-health record for them.
    expect(router.health.size).toBe(0);
  }, 15_000);

  it('a swap that removes nothing being connected to leaves connecting requests alone', async () => {
    const silent = await silentPort();
    const good = await startBackend((_request, response) => response.end('good'));
    cleanups.push(() => good.close());
    const router = new Router({ health: { failureThreshold: 100 } });
    router.load(snapshotOf([{ host: 'gone.test', routes: routes([silent]) }]));
    const proxy = await startProxy(router, { connectTimeoutMs: 600 });
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    const started = performance.now();
    const answer = fetchVia(proxy.port, { host: 'gone.test' });
    await until(() => proxy.proxy.pool.connectingCount === 1, 3_000);
    // Another route appears; the silent endpoint stays: its connect is not abandoned, the connect timeout decides (504).
    router.load(snapshotOf([{ host: 'gone.test', routes: routes([silent]) }, { host: 'other.test', routes: routes([good.port]) }]));
    expect((await answer).status).toBe(504);
    expect(performance.now() - started).toBeGreaterThanOrEqual(600);
    await until(() => proxy.proxy.pool.connectingCount === 0, 1_000);
  }, 15_000);

  it('a kept-alive connection to an endpoint removed since, closed under a GET: the GET goes to one still there, never on a new connection to the removed one', async () => {
    // The removed endpoint answers the first request of a connection and resets the second when told (a pod closing idle connections on SIGTERM).
    let connections = 0;
    const held: Socket[] = [];
    const removed = createNetServer((socket) => {
      connections++;
      let n = 0;
      socket.on('error', () => {});
      socket.on('data', () => {
        if (++n === 1) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nremoved');
        else held.push(socket);
      });
    });
    await new Promise<void>((resolve) => removed.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => removed.close(() => resolve())));
    const removedPort = (removed.address() as AddressInfo).port;
    const good = await startBackend((_request, response) => response.end('good'));
    cleanups.push(() => good.close());
    const router = new Router({ health: { failureThreshold: 100 } });
    router.load(snapshotOf([{ host: 'gone.test', routes: routes([removedPort, good.port]) }]));
    const proxy = await startProxy(router);
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    // Round robin: one of two requests opens (and leaves in the pool) a connection to the endpoint to be removed.
    const first = [await fetchVia(proxy.port, { host: 'gone.test' }), await fetchVia(proxy.port, { host: 'gone.test' })].map((answer) => answer.body);
    expect(first.sort()).toEqual(['good', 'removed']);
    // The next two: one takes that pooled connection, and the endpoint holds it.
    const next = [fetchVia(proxy.port, { host: 'gone.test', path: '/a' }), fetchVia(proxy.port, { host: 'gone.test', path: '/b' })];
    await until(() => held.length === 1, 3_000);
    router.load(snapshotOf([{ host: 'gone.test', routes: routes([good.port]) }]));
    (held[0] as Socket).resetAndDestroy();
    expect((await Promise.all(next)).map((answer) => `${answer.status} ${answer.body}`)).toEqual(['200 good', '200 good']);
    expect(connections).toBe(1);
    expect(router.health.size).toBe(0);
  }, 15_000);

  it('HTTP/2 endpoints: requests waiting on a session that never connects (no SETTINGS) go to one still there when the snapshot removes it', async () => {
    const silent = await startRawBackend();
    cleanups.push(() => silent.close());
    const good = createServer();
    let streams = 0;
    good.on('stream', (stream) => {
      streams++;
      stream.respond({ ':status': 200 });
      stream.end('good');
    });
    await new Promise<void>((resolve) => good.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => good.close(() => resolve())));
    const goodPort = (good.address() as AddressInfo).port;
    const { router } = compileManifests(h2cApp([silent.port, goodPort]));
    const proxy = await startProxy(router, { connectTimeoutMs: 5_000 });
    cleanups.push(() => proxy.close());
    const gets = Array.from({ length: 4 }, (_, i) => fetchVia(proxy.port, { host: 'h2.test', path: `/${i}` }));
    await until(() => streams >= 2 && silent.connections() >= 1, 3_000);
    const swappedAt = performance.now();
    router.load(compileManifests(h2cApp([goodPort])).snapshot);
    const answers = await Promise.all(gets);
    expect(answers.map((answer) => `${answer.status} ${answer.body}`)).toEqual(Array(4).fill('200 good'));
    expect(performance.now() - swappedAt).toBeLessThan(1_500);
    expect(streams).toBe(4);
  }, 15_000);
});
