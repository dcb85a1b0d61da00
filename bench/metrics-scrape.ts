/**
 * The data plane's admin `GET /metrics`, scraped in process (not a test): a Router with N
 * endpoints (one per route, as bench:fleet's 10k Ingresses have 6,000), traffic counted on some
 * routes, and the real admin server. Prints per scenario the heap allocated per scrape (V8's
 * sampling heap profiler, collected objects included, around each scrape alone; client side
 * included), the external
 * (Buffer) memory allocated, and the server's time per scrape (median over the scrapes):
 * nothing changed, one health flip before each scrape, a snapshot swap (one route's path
 * edited, endpoints as they were) before each scrape, a swap that moves one endpoint (another
 * port) before each scrape. Loopback only.
 *
 *   node [--expose-gc] bench/metrics-scrape.ts [--endpoints 6000] [--scrapes 20]
 *
 * With --expose-gc, a full collection runs after each scenario's change and before its scrape: at
 * 50,000 endpoints a swap's compile leaves enough garbage that a collection may otherwise land in
 * the scrape it precedes.
 */
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { Session } from 'node:inspector/promises';
import type { HeapProfiler } from 'node:inspector';
import { prometheusMetrics, startAdminServer } from '../dataplane/src/admin.ts';
import { ProxyMetrics } from '../dataplane/src/metrics.ts';
import { isGap } from '../dataplane/src/endpoints.ts';
import { Router } from '../dataplane/src/router.ts';
import { snapshotOf } from '../dataplane/src/test-support.ts';
import { benchArgs, integerArg } from './args.ts';

const NAME = 'node bench/metrics-scrape.ts';
const USAGE = `Usage: node [--expose-gc] bench/metrics-scrape.ts [options]

The data plane's admin GET /metrics scraped in process: heap and external memory allocated per
scrape and the server's time per scrape, when nothing changed, after one health flip, after a
snapshot swap, after a swap that moves one endpoint. Loopback only. With --expose-gc, a full
collection runs between each change and its scrape (a swap's garbage is not timed as the scrape's).

Options:
  --endpoints N   Endpoints, one per route (default 6000).
  --scrapes N     Scrapes per scenario (default 20).
  -h, --help      Show this help.`;

const values = benchArgs(NAME, USAGE, { endpoints: { type: 'string' }, scrapes: { type: 'string' } });
const endpoints = integerArg(NAME, 'endpoints', values.endpoints ?? '6000', 1, 200_000);
const scrapes = integerArg(NAME, 'scrapes', values.scrapes ?? '20', 1, 1000);

/** Endpoint `i`'s `address:port` (150,000 at 50k Ingresses: more than one address's ports); the endpoint `moved` listens on another port. */
const endpointOf = (i: number, moved: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:${i === moved ? 9090 : 8080}`;
const snapshot = (edit: number, moved = -1) => snapshotOf(Array.from({ length: endpoints }, (_, i) => ({ host: `h${i}.bench.test`, routes: [{ path: i === 0 ? `/edit-${edit}` : '/', endpoints: [endpointOf(i, moved)] }] })));
const router = new Router();
router.load(snapshot(0));
const metrics = new ProxyMetrics(router);
// Traffic on 200 routes: requests_total has series, as on a node that serves.
const labels = router.current!.routeLabels;
for (let i = 0; i < 200; i++) metrics.countRequest(labels.at(i) ?? '', 200);
let serverMs = 0;
const source = prometheusMetrics(() => metrics.families());
const timed = async () => {
  const start = performance.now();
  const answer = await source();
  serverMs += performance.now() - start;
  return answer;
};
const admin = await startAdminServer({ version: () => router.version, metrics: timed }, '127.0.0.1', 0);
const port = (admin.address() as { port: number }).port;

const session = new Session();
session.connect();
/** Bytes the sampling heap profiler saw allocated while `run` ran (objects already collected included). */
async function allocated<T>(run: () => Promise<T>): Promise<{ bytes: number; result: T }> {
  await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
  const result = await run();
  // The protocol has returned `samples` (each sampled allocation, collected ones included) since
  // V8 6.9; @types/node's generated SamplingHeapProfile still lists only the tree (`head`).
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as HeapProfiler.StopSamplingReturnType & { profile: { samples: { size: number }[] } };
  return { bytes: profile.samples.reduce((sum, sample) => sum + sample.size, 0), result };
}

const scrape = () =>
  new Promise<number>((resolve, reject) => {
    // A connection per scrape: a kept-alive one may have been closed by the server while a large swap held the event loop (ECONNRESET).
    request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve(bytes));
    })
      .on('error', reject)
      .end();
  });

/** A full collection, when run with --expose-gc: a swap's garbage (its compile) is collected before the scrape, not timed as the scrape's. */
const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});

let edits = 0;
const keys = router.current!.endpoints.toArray().flatMap((endpoint) => (isGap(endpoint) ? [] : [endpoint.key]));
const scenarios: Record<string, () => void> = {
  unchanged: () => {},
  'health flip': () => {
    // Eject one endpoint (passive health: connect failures), a different one each time.
    const key = keys[edits++ % keys.length]!;
    for (let i = 0; i < 10 && router.reportFailure(key) === false; i++);
  },
  'snapshot swap': () => void router.load(snapshot(++edits)),
  // A different endpoint each time (the last one moved goes back): the set changes by one endpoint.
  'endpoint moved': () => void router.load(snapshot(edits, (++edits * 7919) % endpoints)),
};

await scrape();
for (const [name, before] of Object.entries(scenarios)) {
  before();
  await scrape();
  const times: number[] = [];
  let heap = 0;
  let external = 0;
  let size = 0;
  for (let i = 0; i < scrapes; i++) {
    before();
    collect();
    const externalBefore = process.memoryUsage().arrayBuffers;
    const { bytes, result } = await allocated(scrape);
    size = result;
    heap += bytes;
    external += Math.max(0, process.memoryUsage().arrayBuffers - externalBefore);
  }
  // Timed apart: the sampling profiler slows what it watches.
  for (let i = 0; i < scrapes; i++) {
    before();
    collect();
    serverMs = 0;
    await scrape();
    times.push(serverMs);
  }
  times.sort((a, b) => a - b);
  const kb = (bytes: number) => `${(bytes / scrapes / 1024).toFixed(0)} KiB`;
  console.log(`${name.padEnd(14)} ${size} bytes; per scrape: heap ${kb(heap)}, external ${kb(external)}, server ${times[Math.floor(times.length / 2)]!.toFixed(2)} ms (median)`);
}
console.log(`load ${loadavg().map((load) => load.toFixed(1)).join(' ')}`);
admin.close();
router.close();
session.disconnect();
