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
});
