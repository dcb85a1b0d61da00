// The pool's /metrics through real worker processes: each worker sends its endpoint keys when they
// change and only its flags otherwise (the primary names the keys it holds); every scrape still
// shows each worker's series for exactly the endpoints of the snapshot it serves.
import { afterEach, describe, expect, it } from 'vitest';
import { startServing } from './serve.ts';
import type { Serving } from './serve.ts';
import { LOOPBACK, httpGet, snapshotOf } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** `count` hosts, host i on its own endpoint `127.0.0.1:${first + i}`; `path` names the version (a path edit keeps the endpoints). */
const world = (count: number, first: number, path = '/') => snapshotOf(Array.from({ length: count }, (_, i) => ({ host: `h${i}.metrics.test`, routes: [{ path, endpoints: [first + i] }] })));

/** The endpoint-health lines of one scrape, sorted. */
async function healthLines(serving: Serving): Promise<string[]> {
  const { body } = await httpGet(serving.ports.admin, '/metrics');
  return body.split('\n').filter((line) => line.startsWith('portico_endpoint_healthy{')).sort();
}

/** The lines a pool of workers 1 and 2 serving endpoints [first, first + count) shows, all healthy. */
const expected = (count: number, first: number) => ['1', '2'].flatMap((worker) => Array.from({ length: count }, (_, i) => `portico_endpoint_healthy{endpoint="127.0.0.1:${first + i}",worker="${worker}"} 1`)).sort();

describe('worker pool /metrics: endpoint keys cross when they change', () => {
  it('every scrape shows each worker\'s series of the served endpoints, across path edits and endpoint changes', async () => {
    const serving = await startServing({ workers: 2, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent' });
    cleanups.push(() => serving.close(2000));
    await serving.load(world(40, 20_000));
    // The first scrape carries the keys, the next ones flags alone: the same lines.
    for (let scrape = 0; scrape < 3; scrape++) expect(await healthLines(serving), `scrape ${scrape}`).toEqual(expected(40, 20_000));
    // A path edit keeps the endpoints (and their keys).
    await serving.load(world(40, 20_000, '/edited'));
    for (let scrape = 0; scrape < 2; scrape++) expect(await healthLines(serving)).toEqual(expected(40, 20_000));
    // Other endpoints: the new keys cross once, then flags alone again.
    await serving.load(world(30, 31_000));
    for (let scrape = 0; scrape < 3; scrape++) expect(await healthLines(serving), `scrape ${scrape}`).toEqual(expected(30, 31_000));
    await serving.load(world(40, 20_000));
    expect(await healthLines(serving)).toEqual(expected(40, 20_000));
    // Concurrent scrapes, each whole.
    const many = await Promise.all(Array.from({ length: 8 }, () => healthLines(serving)));
    for (const lines of many) expect(lines).toEqual(expected(40, 20_000));
  }, 60_000);

  it('hostile: scrapes sent during swaps that move one endpoint each show, per worker, exactly the endpoints of one version (1,500 endpoints, 2 pages of keys)', async () => {
    const serving = await startServing({ workers: 2, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent' });
    cleanups.push(() => serving.close(2000));
    const count = 1500;
    /** Version k: endpoint (k * 311) % count moved to another port (version 0: none). */
    const ports = (k: number) => Array.from({ length: count }, (_, i) => (k > 0 && i === (k * 311) % count ? 40_000 + k : 20_000 + i));
    const version = (k: number) => snapshotOf(ports(k).map((port, i) => ({ host: `h${i}.metrics.test`, routes: [{ endpoints: [port] }] })));
    /** Per worker (cluster ids go on from the pools before), the endpoints its lines show, in order; every line says 1. */
    const byWorker = (lines: readonly string[]) => {
      const shown = new Map<string, string[]>();
      for (const line of lines) {
        const [, endpoint, worker] = /^portico_endpoint_healthy\{endpoint="([^"]*)",worker="(\d+)"\} 1$/.exec(line) ?? [];
        expect(worker, line).toBeDefined();
        const endpoints = shown.get(worker!) ?? [];
        if (endpoints.length === 0) shown.set(worker!, endpoints);
        endpoints.push(endpoint!);
      }
      return shown;
    };
    const endpointsOf = (k: number) => ports(k).map((port) => `127.0.0.1:${port}`).sort();
    await serving.load(version(0));
    const workers = [...byWorker(await healthLines(serving)).keys()];
    expect(workers).toHaveLength(2);
    for (let k = 1; k <= 3; k++) {
      // Scrapes asked before, while and after the workers load the next version.
      const during = [healthLines(serving), healthLines(serving)];
      const loading = serving.load(version(k));
      during.push(healthLines(serving));
      await loading;
      during.push(healthLines(serving));
      for (const [index, lines] of (await Promise.all(during)).entries()) {
        const shown = byWorker(lines);
        expect([...shown.keys()].sort(), `version ${k}, scrape ${index}`).toEqual([...workers].sort());
        for (const [worker, endpoints] of shown) expect([k - 1, k].some((v) => JSON.stringify(endpoints.sort()) === JSON.stringify(endpointsOf(v))), `version ${k}, scrape ${index}, worker ${worker}`).toBe(true);
      }
      // Settled: each worker shows this version's endpoints (the differences listed, not 3,000 lines).
      for (const [worker, endpoints] of byWorker(await healthLines(serving))) {
        const want = new Set(endpointsOf(k));
        const has = new Set(endpoints);
        expect({ missing: [...want].filter((e) => !has.has(e)), extra: endpoints.filter((e) => !want.has(e)) }, `version ${k}, worker ${worker}`).toEqual({ missing: [], extra: [] });
      }
    }
  }, 120_000);
});
