import { readFileSync } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TEST_TOKEN, listen, serviceWithEndpoints } from '@portico/control/api/test-support';
import type { Snapshot } from '@portico/control/snapshot';
import { describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import type { AppliedHow, SnapshotSyncOptions } from './sync.ts';
import { LAST_GOOD_FILE, SnapshotSync } from './sync.ts';
import { json, route, syncTestbed, until } from './sync-testbed.ts';
import type { RunningProxy } from './test-support.ts';
import { closedPort, fetchVia, startProxy } from './test-support.ts';

describe('SnapshotSync', () => {
  const bed = syncTestbed('portico-sync-');
  const { cleanup } = bed;

  async function startSync(overrides: Partial<SnapshotSyncOptions> = {}, router = new Router()) {
    const applied: { version: string; how: AppliedHow }[] = [];
    const rejected: { version: string; error: string }[] = [];
    const disconnected: number[] = [];
    const sync = new SnapshotSync({ controlUrls: [bed.server.url], node: 'edge-1', router, dataDir: bed.dataDir, token: TEST_TOKEN, pollSeconds: 2, backoffInitialMs: 20, backoffMaxMs: 200, ...overrides });
    sync.on('applied', (event) => applied.push(event));
    // 'settled' comes once the last-good file is in place and the ACK sent (the primary collects garbage then).
    const settled: { version: string; how: AppliedHow; persisted: string | undefined; acked: boolean }[] = [];
    sync.on('settled', (event) => settled.push({ ...event, persisted: JSON.parse(readFileSync(join(bed.dataDir, LAST_GOOD_FILE), 'utf8')).version as string | undefined, acked: bed.control.nodes.list()[0]?.lastReport?.version === event.version }));
    sync.on('rejected', (event) => rejected.push(event));
    sync.on('disconnected', (event) => disconnected.push(event.delayMs));
    const started = await sync.start();
    cleanup.push(() => sync.stop());
    return { sync, router, applied, settled, rejected, disconnected, started };
  }

  async function proxyFor(router: Router): Promise<RunningProxy> {
    const proxy = await startProxy(router);
    cleanup.push(() => proxy.close());
    return proxy;
  }

  it('applies the current snapshot, ACKs it, and persists it as the last good one (0600, atomic)', async () => {
    const { router, applied, settled } = await startSync();
    const current = bed.control.history.current()!.snapshot.version;
    await until(() => router.version === current, 5000, 'first snapshot');
    expect(applied).toEqual([{ version: current, how: 'full' }]);
    await until(() => settled.length > 0 || undefined, 5000, 'settled');
    expect(settled).toEqual([{ version: current, how: 'full', persisted: current, acked: true }]);
    await until(() => bed.control.nodes.list()[0]?.lastReport?.ok === true || undefined, 5000, 'ACK');
    expect(bed.control.nodes.list()[0]).toMatchObject({ name: 'edge-1', appliedVersion: current, lastReport: { version: current, ok: true, error: null } });
    // The file is written before the ACK is sent.
    expect(((await stat(join(bed.dataDir, LAST_GOOD_FILE))).mode & 0o777).toString(8)).toBe('600');
    expect((await readdir(bed.dataDir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });

  it('serves a routing change made through the API within 1 s, through the proxy', async () => {
    const { router } = await startSync();
    const proxy = await proxyFor(router);
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 5000, 'first snapshot');
    expect((await fetchVia(proxy.port, { host: 'second.example.com' })).status).toBe(404);
    const changedAt = Date.now();
    expect((await bed.control.request('/v1/routes', json(route('second', 'second.example.com')))).status).toBe(201);
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 1000, 'the change within 1 s');
    expect(Date.now() - changedAt).toBeLessThan(1000);
    const answer = await fetchVia(proxy.port, { host: 'second.example.com' });
    expect([answer.status, answer.body]).toEqual([200, 'backend']);
  });

  it('takes endpoint-only changes as endpoint sets and verifies them against the announced version', async () => {
    const { sync, router, applied } = await startSync();
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 5000, 'first snapshot');
    const routing = router.current!.matcher;
    bed.control.state.upsert(serviceWithEndpoints('default', 'web', 80, ['127.0.0.1', '127.0.0.2'], bed.backend.port)[1]!);
    bed.control.rebuild();
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 3000, 'endpoint change');
    expect(applied.at(-1)).toEqual({ version: router.version, how: 'endpoints' });
    expect(sync.stats.endpointDeltas).toBe(1);
    // No route reload on the node either: the routing matcher is the one it had.
    expect(router.current!.matcher).toBe(routing);
    expect(router.current!.endpoints.toArray().map((e) => e.key)).toContain(`127.0.0.2:${bed.backend.port}`);
  });

  it('NACKs a corrupted snapshot with the error, keeps serving the last good one, and does not fetch it again', async () => {
    const { sync, router, rejected } = await startSync();
    const proxy = await proxyFor(router);
    const good = bed.control.history.current()!.snapshot;
    await until(() => router.version === good.version, 5000, 'first snapshot');
    // A snapshot whose content no longer matches its hash (a bit flipped in transit or in a bug).
    const corrupted: Snapshot = { ...good, hosts: good.hosts.map((h) => ({ ...h, host: 'evil.example.com' })), version: `sha256:${'e'.repeat(64)}` };
    bed.control.history.publish(corrupted, []);
    await until(() => rejected.length === 1 || undefined, 3000, 'NACK');
    expect(rejected[0]!.version).toBe(corrupted.version);
    // The node holds the good version, so it gets a delta: applied, it does not hash to what was announced.
    expect(rejected[0]!.error).toMatch(/^PORTICO_E_SNAPSHOT_INVALID: delta from .* yields .*, not the announced /);
    await until(() => bed.control.nodes.list()[0]?.lastReport?.ok === false || undefined, 3000, 'NACK recorded');
    expect(bed.control.nodes.list()[0]).toMatchObject({ appliedVersion: good.version, lastReport: { version: corrupted.version, ok: false } });
    expect(router.version).toBe(good.version);
    expect((await fetchVia(proxy.port, { host: 'first.example.com' })).status).toBe(200);
    expect((await fetchVia(proxy.port, { host: 'evil.example.com' })).status).toBe(404);
    const polls = sync.stats.polls;
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sync.stats.rejected).toBe(1);
    expect(sync.stats.polls - polls).toBeLessThanOrEqual(1);
    // The next good version is taken again.
    await bed.control.request('/v1/routes', json(route('after', 'after.example.com')));
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 3000, 'recovery');
  });

  it('NACKs a snapshot the router cannot load (PORTICO_E_SNAPSHOT_LOAD) and keeps the previous one', async () => {
    const real = new Router();
    let failNext = false;
    const router = {
      get version() {
        return real.version;
      },
      load(snapshot: Snapshot) {
        if (failNext) throw Object.assign(new Error(`snapshot ${snapshot.version} cannot be loaded: table too large`), { code: 'PORTICO_E_SNAPSHOT_LOAD' });
        return real.load(snapshot);
      },
    };
    const { rejected } = await startSync({ router });
    await until(() => real.version === bed.control.history.current()!.snapshot.version, 5000, 'first snapshot');
    const good = real.version;
    failNext = true;
    await bed.control.request('/v1/routes', json(route('second', 'second.example.com')));
    await until(() => rejected.length === 1 || undefined, 3000, 'NACK');
    expect(rejected[0]!.error).toMatch(/^PORTICO_E_SNAPSHOT_LOAD: /);
    expect(real.version).toBe(good);
    await until(() => bed.control.nodes.list()[0]?.lastReport?.error?.startsWith('PORTICO_E_SNAPSHOT_LOAD') || undefined, 3000, 'NACK recorded');
  });

  it('starts from the persisted snapshot while the control plane is down, backs off with jitter, and reconnects', async () => {
    const first = await startSync();
    const version = bed.control.history.current()!.snapshot.version;
    await until(() => first.router.version === version, 5000, 'first snapshot');
    await until(() => bed.control.nodes.list()[0]?.lastReport?.ok === true || undefined, 5000, 'ACK (the snapshot is on disk)');
    await first.sync.stop();
    const port = bed.server.port;
    await bed.server.close();

    const router = new Router();
    const cold = await startSync({ controlUrls: [`http://127.0.0.1:${await closedPort()}`, `http://127.0.0.1:${port}`], random: () => 1 }, router);
    expect(cold.started).toEqual({ restored: true });
    expect(router.version).toBe(version);
    expect(cold.applied[0]).toEqual({ version, how: 'restored' });
    const proxy = await proxyFor(router);
    expect((await fetchVia(proxy.port, { host: 'first.example.com' })).status).toBe(200);
    await until(() => cold.disconnected.length >= 4 || undefined, 5000, 'back-off');
    expect(cold.disconnected.slice(0, 4)).toEqual([20, 40, 80, 160]);

    bed.server = await listen(bed.control.app, port);
    await bed.control.request('/v1/routes', json(route('later', 'later.example.com')));
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 5000, 'reconnect');
    // The restored version is still held by the control plane: the node catches up by a delta.
    expect(cold.applied.at(-1)!.how).toBe('delta');
  });

  it('ignores a damaged last-good file and waits for the control plane', async () => {
    await writeFile(join(bed.dataDir, LAST_GOOD_FILE), '{"not":"a snapshot"}');
    const { started, router } = await startSync();
    expect(started).toEqual({ restored: false });
    await until(() => router.version === bed.control.history.current()!.snapshot.version, 5000, 'snapshot from control');
  });
});
