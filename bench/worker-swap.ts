/**
 * The data-plane worker's swap, taken apart (not a test): bench:fleet's synthetic cluster of N
 * Ingresses compiled into versions (one-path edits, then endpoint changes) and loaded, one after
 * the other, into a real pool of `portico` worker processes (`startServing`, the worker bundle
 * `npm run build` makes). Prints per change the primary's time until every worker confirmed,
 * the size and serialization time of what crosses to each worker, the workers' swap stall
 * (`portico_snapshot_swap_stall_seconds`), the workers' CPU, their collections after swaps and
 * wasm instances made, and each worker's RSS idle and peak (VmRSS / VmHWM, reset after the
 * first load). No traffic is sent anywhere.
 *
 *   node bench/worker-swap.ts [--ingresses 10000] [--workers 2] [--changes 10] [--reclaim-after-mb N] [--json]
 */
import { loadavg } from 'node:os';
import { serialize } from 'node:v8';
import { DEFAULT_CLASS_SELECTION } from '../control/src/build/ingress-class.ts';
import { SnapshotHistory } from '../control/src/publish/history.ts';
import { SnapshotPublisher } from '../control/src/publish/publisher.ts';
import { parseManifestText } from '../control/src/sources/manifests/parse.ts';
import { ClusterState } from '../control/src/state/cluster-state.ts';
import type { EndpointSlice } from '../control/src/state/objects.ts';
import type { Snapshot } from '../control/src/snapshot/schema.ts';
import { BundleCompiler } from '../control/src/snapshot/bundle-compile.ts';
import type { TableBundle } from '../control/src/snapshot/bundle.ts';
import { startServing } from '../dataplane/src/serve.ts';
import { bundleDelta } from '../dataplane/src/worker-delta.ts';
import { childPids, cpuTicks, peakRssBytes, resetPeakRss, rssBytes, TICKS_PER_SECOND } from '../test/support/metrics.ts';
import { fleetFile, fleetFileOf, fleetShape, summarize } from '../test/support/fleet.ts';
import type { Summary } from '../test/support/fleet.ts';
import { benchArgs, integerArg } from './args.ts';

const NAME = 'node bench/worker-swap.ts';
const USAGE = `Usage: node bench/worker-swap.ts [options]

bench:fleet's synthetic cluster compiled into versions and loaded into a real pool of data-plane
worker processes, one version after the other: per change, the primary's load until every worker
confirmed, what crosses to a worker (bytes, serialization time), the workers' swap stall and CPU,
their collections after swaps (young and full, with the longest pauses) and wasm matcher
instances made, and each worker's RSS idle and peak. Loopback only; no traffic.

Options:
  --ingresses N   Ingresses (default 10000; 3 paths each).
  --workers N     Worker processes (default 2).
  --changes N     One-path edits, then as many endpoint changes (default 10).
  --reclaim-after-mb N
                  The workers' --reclaim-after-mb: MiB of tables swapped in before a full
                  collection, 0 = never (default: the data plane's own default).
  --json          Print the figures as JSON.
  -h, --help      Show this help.`;

const values = benchArgs(NAME, USAGE, { ingresses: { type: 'string', default: '10000' }, workers: { type: 'string', default: '2' }, changes: { type: 'string', default: '10' }, 'reclaim-after-mb': { type: 'string' }, json: { type: 'boolean', default: false } });
const INGRESSES = integerArg(NAME, 'ingresses', values.ingresses, 1, 200_000);
const WORKERS = integerArg(NAME, 'workers', values.workers, 2, 16);
const CHANGES = integerArg(NAME, 'changes', values.changes, 1, 200);
const RECLAIM_AFTER_MB = values['reclaim-after-mb'] === undefined ? undefined : integerArg(NAME, 'reclaim-after-mb', values['reclaim-after-mb'], 0, 65536);
const log = (line: string) => {
  if (!values.json) process.stdout.write(`${line}\n`);
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

log(`worker-swap: ${INGRESSES} Ingresses, ${WORKERS} workers, ${CHANGES} + ${CHANGES} changes, --reclaim-after-mb ${RECLAIM_AFTER_MB ?? 'default'}, load average ${loadavg().map((n) => n.toFixed(1)).join(' ')}`);

// The versions, built as the control plane builds them (and kept: each is loaded in turn).
const shape = fleetShape(INGRESSES);
const state = new ClusterState();
for (let f = 0; f < shape.files; f++) for (const object of parseManifestText(fleetFile(shape, f), `fleet-${f}.json`).objects) state.upsert(object);
const history = new SnapshotHistory({});
const publisher = new SnapshotPublisher({ state, selection: { ...DEFAULT_CLASS_SELECTION, watchWithoutClass: true }, history });
publisher.rebuild();
const versions: { snapshot: Snapshot; endpointsOnly: boolean }[] = [{ snapshot: history.current()!.snapshot, endpointsOnly: false }];
for (let i = 1; i <= CHANGES; i++) {
  const ingress = (i * 7919) % INGRESSES;
  for (const object of parseManifestText(fleetFile(shape, fleetFileOf(shape, ingress), { ingress, edit: i }), 'edited.json').objects) state.upsert(object);
  publisher.rebuild();
  versions.push({ snapshot: history.current()!.snapshot, endpointsOnly: false });
}
const slices = [...state.endpointSlices.values()] as EndpointSlice[];
for (let i = 1; i <= CHANGES; i++) {
  const slice = slices[(i * 104729) % slices.length]!;
  state.upsert({ ...slice, endpoints: [...(slice.endpoints ?? []).slice(1), { addresses: [`10.255.${i}.1`], conditions: { ready: true } }] });
  publisher.rebuild();
  versions.push({ snapshot: history.current()!.snapshot, endpointsOnly: true });
}

// What one message to a worker costs to make and serialize (the pool sends it with advanced
// serialization), measured apart: as the pool sends it, the delta from the last bundle of the same
// mode the worker holds (worker-delta.ts; whole for the first of a mode), and the whole bundle.
const sizing = new BundleCompiler();
const held: [TableBundle | undefined, TableBundle | undefined] = [undefined, undefined];
const ipc = versions.map(({ snapshot, endpointsOnly }) => {
  const bundle = sizing.compile(snapshot, endpointsOnly);
  const whole = serialize({ type: 'bundle', bundle }).length;
  const started = performance.now();
  const base = held[endpointsOnly ? 1 : 0];
  const delta = base === undefined ? undefined : bundleDelta(base, bundle);
  const bytes = serialize(delta === undefined ? { type: 'bundle', bundle } : { type: 'bundle-delta', delta }).length;
  held[endpointsOnly ? 1 : 0] = bundle;
  return { bytes, whole, ms: performance.now() - started };
});

const compiler = new BundleCompiler();
const serving = await startServing({ workers: WORKERS, ...(RECLAIM_AFTER_MB === undefined ? {} : { reclaimAfterMb: RECLAIM_AFTER_MB }), address: '127.0.0.1', httpPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent', compiler });
const workers = childPids(process.pid);
const stallMs = async (): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${serving.ports.admin}/metrics`)).text();
  let last = 0;
  for (const match of text.matchAll(/^portico_snapshot_swap_stall_seconds\{[^}]*swap="last"[^}]*\} (\S+)$/gm)) last = Math.max(last, Number(match[1]) * 1000);
  return last;
};
const perWorker = (read: (pid: number) => Promise<number>) => Promise.all(workers.map((pid) => read(pid).catch(() => Number.NaN)));

interface Kind {
  load: number[];
  stall: number[];
  cpu: number[];
}
const route: Kind = { load: [], stall: [], cpu: [] };
const endpoint: Kind = { load: [], stall: [], cpu: [] };
let idle: number[] = [];
let peakStart: number[] = [];
let reset: boolean[] = [];
let peak: number[] = [];
let after: number[] = [];
const reclaims: number[] = [];
const reclaimMaxMs: number[] = [];
const scavenges: number[] = [];
const scavengeMaxMs: number[] = [];
const instancesMade: number[] = [];
try {
  for (const [index, { snapshot, endpointsOnly }] of versions.entries()) {
    const ticks = workers.reduce((sum, pid) => sum + cpuTicks(pid), 0);
    const started = performance.now();
    await (endpointsOnly ? serving.loadEndpoints(snapshot) : serving.load(snapshot));
    const loadMs = performance.now() - started;
    // Let each worker finish what follows its confirmation (the IPC reply, a GC) before the CPU is read.
    await sleep(300);
    const cpuMs = ((workers.reduce((sum, pid) => sum + cpuTicks(pid), 0) - ticks) * 1000) / TICKS_PER_SECOND / workers.length;
    if (index === 0) {
      await sleep(2000);
      idle = await perWorker(rssBytes);
      peakStart = await perWorker(peakRssBytes);
      reset = workers.map((pid) => resetPeakRss(pid));
      continue;
    }
    const into = endpointsOnly ? endpoint : route;
    into.load.push(loadMs);
    into.stall.push(await stallMs());
    into.cpu.push(cpuMs);
  }
  const text = await (await fetch(`http://127.0.0.1:${serving.ports.admin}/metrics`)).text();
  for (const match of text.matchAll(/^portico_worker_reclaims_total\{[^}]*\} (\S+)$/gm)) reclaims.push(Number(match[1]));
  for (const match of text.matchAll(/^portico_worker_reclaim_pause_seconds\{[^}]*pause="max"[^}]*\} (\S+)$/gm)) reclaimMaxMs.push(Number(match[1]) * 1000);
  for (const match of text.matchAll(/^portico_worker_scavenges_total\{[^}]*\} (\S+)$/gm)) scavenges.push(Number(match[1]));
  for (const match of text.matchAll(/^portico_worker_scavenge_pause_seconds\{[^}]*pause="max"[^}]*\} (\S+)$/gm)) scavengeMaxMs.push(Number(match[1]) * 1000);
  for (const match of text.matchAll(/^portico_matcher_loads_total\{[^}]*instance="new"[^}]*\} (\S+)$/gm)) instancesMade.push(Number(match[1]));
} finally {
  peak = await perWorker(peakRssBytes);
  after = await perWorker(rssBytes);
  await serving.close();
}

const MiB = (bytes: number) => (Number.isNaN(bytes) ? 'n/a' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
const line = (s: Summary) => `p50 ${s.p50.toFixed(1)} ms  p99 ${s.p99.toFixed(1)} ms  max ${s.max.toFixed(1)} ms (n=${s.n})`;
const result = {
  ingresses: INGRESSES,
  routes: versions[0]!.snapshot.hosts.reduce((sum, host) => sum + host.routes.length, 0),
  workers: WORKERS,
  load_average: loadavg(),
  /** Median bytes of the message each worker gets per change (a delta), and of the whole bundle. */
  message_bytes: { path_edit: summarize(ipc.slice(1, CHANGES + 1).map((m) => m.bytes)).p50, endpoints: summarize(ipc.slice(CHANGES + 2).map((m) => m.bytes)).p50, whole_path_edit: ipc[1]!.whole, whole_endpoints: ipc.at(-1)!.whole },
  /** Making the delta and serializing it, per message (the primary's side). */
  message_serialize_ms: { full: summarize(ipc.slice(1, CHANGES + 1).map((m) => m.ms)), endpoints: summarize(ipc.slice(CHANGES + 2).map((m) => m.ms)) },
  path_edit: { load_ms: summarize(route.load), stall_ms: summarize(route.stall), worker_cpu_ms: summarize(route.cpu) },
  endpoint_change: { load_ms: summarize(endpoint.load), stall_ms: summarize(endpoint.stall), worker_cpu_ms: summarize(endpoint.cpu) },
  /** Per worker: full collections run after swaps (reclaim.ts) and the longest pause of one. */
  reclaims,
  reclaim_max_pause_ms: reclaimMaxMs,
  /** Per worker: young collections run after swaps (reclaim.ts) and the longest pause of one; wasm matcher instances made (the rest of the loads reused one). */
  scavenges,
  scavenge_max_pause_ms: scavengeMaxMs,
  matcher_instances_made: instancesMade,
  worker_rss: workers.map((pid, i) => ({ pid, idle_bytes: idle[i]!, peak_first_load_bytes: peakStart[i]!, peak_changes_bytes: reset[i] === true ? peak[i]! : Number.NaN, after_bytes: after[i]! })),
};
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  log(`  ${result.routes} routes; one message to a worker (a delta from the bundle it holds): ${kib(result.message_bytes.path_edit)} for a path edit (whole bundle ${kib(result.message_bytes.whole_path_edit)}; delta + serialize ${line(result.message_serialize_ms.full)}), ${kib(result.message_bytes.endpoints)} for an endpoint change (whole ${kib(result.message_bytes.whole_endpoints)}; ${line(result.message_serialize_ms.endpoints)})`);
  for (const [what, kind] of [['path edit', result.path_edit], ['endpoint change', result.endpoint_change]] as const) {
    log(`  ${what}: primary load until all confirmed ${line(kind.load_ms)}`);
    log(`  ${what}: worker swap stall ${line(kind.stall_ms)}; worker CPU per change (each) ${line(kind.worker_cpu_ms)}`);
  }
  log(`  full collections per worker: ${reclaims.join(', ') || 'n/a'}; longest pause ${reclaimMaxMs.map((ms) => `${ms.toFixed(1)} ms`).join(', ') || 'n/a'}`);
  log(`  young collections per worker: ${scavenges.join(', ') || 'n/a'}; longest pause ${scavengeMaxMs.map((ms) => `${ms.toFixed(1)} ms`).join(', ') || 'n/a'}; wasm matcher instances made: ${instancesMade.join(', ') || 'n/a'} (for ${versions.length} loads each)`);
  for (const [i, w] of result.worker_rss.entries()) log(`  worker ${i + 1}: RSS idle ${MiB(w.idle_bytes)} (peak through the first load ${MiB(w.peak_first_load_bytes)}), peak during the changes ${MiB(w.peak_changes_bytes)}, after ${MiB(w.after_bytes)}`);
}
process.exit(0);
