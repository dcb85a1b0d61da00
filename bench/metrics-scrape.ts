/**
 * The data plane's admin `GET /metrics`, scraped in process (not a test): a Router with N
 * endpoints (one per route, as bench:fleet's 10k Ingresses have 6,000), traffic counted on some
 * routes, and the real admin server. Prints per scenario the heap allocated per scrape (V8's
 * sampling heap profiler, collected objects included, around each scrape alone; client side
 * included), the external
 * (Buffer) memory allocated, and the server's time per scrape (median over the scrapes):
 * nothing changed, one health flip before each scrape, a snapshot swap (one route's path
 * edited, endpoints as they were) before each scrape. Loopback only.
 *
 *   node bench/metrics-scrape.ts [--endpoints 6000] [--scrapes 20]
 */
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { Session } from 'node:inspector/promises';
import type { HeapProfiler } from 'node:inspector';
import { prometheusMetrics, startAdminServer } from '../dataplane/src/admin.ts';
import { ProxyMetrics } from '../dataplane/src/metrics.ts';
import { Router } from '../dataplane/src/router.ts';
import { snapshotOf } from '../dataplane/src/test-support.ts';
import { benchArgs, integerArg } from './args.ts';

const NAME = 'node bench/metrics-scrape.ts';
const USAGE = `Usage: node bench/metrics-scrape.ts [options]

The data plane's admin GET /metrics scraped in process: heap and external memory allocated per
scrape and the server's time per scrape, when nothing changed, after one health flip, after a
snapshot swap. Loopback only.

Options:
  --endpoints N   Endpoints, one per route (default 6000).
  --scrapes N     Scrapes per scenario (default 20).
  -h, --help      Show this help.`;

const values = benchArgs(NAME, USAGE, { endpoints: { type: 'string' }, scrapes: { type: 'string' } });
const endpoints = integerArg(NAME, 'endpoints', values.endpoints ?? '6000', 1, 50_000);
const scrapes = integerArg(NAME, 'scrapes', values.scrapes ?? '20', 1, 1000);

const snapshot = (edit: number) => snapshotOf(Array.from({ length: endpoints }, (_, i) => ({ host: `h${i}.bench.test`, routes: [{ path: i === 0 ? `/edit-${edit}` : '/', endpoints: [10_000 + i] }] })));
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
    request({ host: '127.0.0.1', port, path: '/metrics' }, (response) => {
      let bytes = 0;
      response.on('data', (chunk: Buffer) => (bytes += chunk.length));
      response.on('end', () => resolve(bytes));
    })
      .on('error', reject)
      .end();
  });

let edits = 0;
const keys = router.current!.endpoints.toArray().map((endpoint) => endpoint.key);
const scenarios: Record<string, () => void> = {
  unchanged: () => {},
  'health flip': () => {
    // Eject one endpoint (passive health: connect failures), a different one each time.
    const key = keys[edits++ % keys.length]!;
    for (let i = 0; i < 10 && router.reportFailure(key) === false; i++);
  },
  'snapshot swap': () => void router.load(snapshot(++edits)),
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
    const externalBefore = process.memoryUsage().arrayBuffers;
    const { bytes, result } = await allocated(scrape);
    size = result;
    heap += bytes;
    external += Math.max(0, process.memoryUsage().arrayBuffers - externalBefore);
  }
  // Timed apart: the sampling profiler slows what it watches.
  for (let i = 0; i < scrapes; i++) {
    before();
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
