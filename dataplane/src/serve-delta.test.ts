import cluster from 'node:cluster';
import { describe, expect, it } from 'vitest';
import type { Serving, ServingOptions } from './serve.ts';
import { startServing } from './serve.ts';
import { httpGet as getText, snapshotOf } from './test-support.ts';

type Host = Parameters<typeof snapshotOf>[0][number];
/** 300 hosts; host h5 serves `path` (the one thing versions change). */
const version = (path: string) => snapshotOf(Array.from({ length: 300 }, (_, h): Host => ({ host: `h${h}.test`, routes: [{ path: h === 5 ? path : `/p${h}`, endpoints: [9] }] })));
const options: ServingOptions = { workers: 2, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent' };

/** The primary's transfer counters and what each worker serves, from the admin `/metrics`. */
async function state(serving: Serving) {
  const lines = (await getText(serving.ports.admin, '/metrics')).body.split('\n');
  const value = (prefix: string) => Number(lines.find((line) => line.startsWith(prefix))?.split(' ').at(-1) ?? Number.NaN);
  return {
    full: value('portico_worker_bundles_sent_total{how="full"}'),
    deltas: value('portico_worker_bundles_sent_total{how="delta"}'),
    fullBytes: value('portico_worker_bundle_bytes_total{how="full"}'),
    deltaBytes: value('portico_worker_bundle_bytes_total{how="delta"}'),
    resyncs: value('portico_worker_bundle_resyncs_total'),
    superseded: value('portico_worker_bundles_superseded_total'),
    versions: lines.filter((line) => line.startsWith('portico_snapshot_info{')).map((line) => /version="([^"]+)"/.exec(line)?.[1]),
  };
}

/** Whichever worker the kernel hands a connection to: h5.test routes `path` (no backend listens: 502/503) and no longer `gone` (404). */
async function servesOnly(serving: Serving, path: string, gone: string): Promise<void> {
  for (let i = 0; i < 16; i++) {
    expect((await getText(serving.ports.http, path, 'h5.test')).status).not.toBe(404);
    expect((await getText(serving.ports.http, gone, 'h5.test')).status).toBe(404);
  }
}

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 100 && !done(value); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    value = await read();
  }
  return value;
}

describe('primary → worker bundles: deltas from what each worker holds, whole when it holds nothing usable', () => {
  it('a new worker gets the whole bundle, the next version only what changed; a restarted worker gets it whole again', async () => {
    const serving = await startServing(options);
    try {
      const first = version('/old');
      await serving.load(first);
      const start = await state(serving);
      expect({ full: start.full, deltas: start.deltas }).toEqual({ full: 2, deltas: 0 });
      const second = version('/new');
      await serving.load(second);
      const next = await state(serving);
      expect({ full: next.full, deltas: next.deltas, resyncs: next.resyncs, versions: next.versions }).toEqual({ full: 2, deltas: 2, resyncs: 0, versions: [second.version, second.version] });
      // A one-path change crosses as a sliver of the bundle.
      expect(next.deltaBytes * 8).toBeLessThan(start.fullBytes);
      await servesOnly(serving, '/new', '/old');

      // A worker killed mid-run: its replacement holds nothing and is sent the whole current bundle.
      const victim = Object.values(cluster.workers ?? {})[0]!;
      victim.process.kill('SIGKILL');
      const replaced = await until(() => state(serving), (seen) => seen.full === 3 && seen.versions.length === 2 && seen.versions.every((v) => v === second.version));
      expect({ full: replaced.full, deltas: replaced.deltas, versions: replaced.versions }).toEqual({ full: 3, deltas: 2, versions: [second.version, second.version] });
      const third = version('/third');
      await serving.load(third);
      const after = await state(serving);
      expect({ full: after.full, deltas: after.deltas, versions: after.versions }).toEqual({ full: 3, deltas: 4, versions: [third.version, third.version] });
      await servesOnly(serving, '/third', '/new');
    } finally {
      await serving.close(2000);
    }
  }, 60_000);

  it('a version loaded while a replacement worker is still starting reaches it once it is ready (nothing is sent before)', async () => {
    const serving = await startServing(options);
    try {
      await serving.load(version('/old'));
      const victim = Object.values(cluster.workers ?? {})[0]!;
      const exited = new Promise((resolve) => victim.once('exit', resolve));
      victim.process.kill('SIGKILL');
      await exited;
      // The pool's own exit handler ran first and forked the replacement: it is starting, not ready.
      const next = version('/new');
      await serving.load(next);
      const seen = await until(() => state(serving), (value) => value.versions.length === 2 && value.versions.every((v) => v === next.version));
      expect({ versions: seen.versions, full: seen.full }).toEqual({ versions: [next.version, next.version], full: 3 });
      await servesOnly(serving, '/new', '/old');
    } finally {
      await serving.close(2000);
    }
  }, 90_000);

  it('a delta that does not reach the told digest is never served: the worker asks again and loads the whole bundle', async () => {
    const first = version('/old');
    const second = version('/new');
    // Worker 2 damages the table it makes from the delta to `second` (as applying it to a wrong base would).
    const serving = await startServing({ ...options, workerFaults: { damageDelta: { worker: 2, version: second.version } } });
    try {
      await serving.load(first);
      await serving.load(second);
      const seen = await state(serving);
      expect({ full: seen.full, deltas: seen.deltas, resyncs: seen.resyncs, versions: seen.versions }).toEqual({ full: 3, deltas: 2, resyncs: 1, versions: [second.version, second.version] });
      await servesOnly(serving, '/new', '/old');
    } finally {
      await serving.close(2000);
    }
  }, 60_000);

  it('hostile: a flood of versions while workers are busy sends each worker at most one waiting bundle, and all end on the last', async () => {
    const serving = await startServing(options);
    try {
      await serving.load(version('/v0'));
      const versions = Array.from({ length: 200 }, (_, i) => version(`/v${i + 1}`));
      const started = Date.now();
      // Not awaited one by one: each load supersedes the one before (which resolves), as a burst from the control plane would.
      const loads = versions.map((snapshot) => serving.load(snapshot));
      await Promise.all(loads);
      expect(Date.now() - started).toBeLessThan(30_000);
      const last = versions.at(-1)!.version;
      const seen = await until(() => state(serving), (value) => value.versions.every((v) => v === last));
      expect(seen.versions).toEqual([last, last]);
      // Per worker: one in flight and one waiting at a time, so far fewer sends than versions.
      expect(seen.full).toBe(2);
      expect(seen.deltas).toBeLessThan(2 * 20);
      expect(seen.superseded).toBeGreaterThan(100);
      await servesOnly(serving, '/v200', '/v199');
    } finally {
      await serving.close(2000);
    }
  }, 60_000);
});
