/**
 * Fleet benchmark (not a test): what one Ingress edit costs when many data planes sync.
 *
 *   npm run bench:fleet [-- --ingresses 10000 --nodes 100 --changes 20 --timeout 300 --json]
 *   npm run bench:fleet -- --sizes 1000,10000,50000 [--nodes N]   (how cost grows with size)
 *   npm run bench:fleet -- --workers 2   (the data plane in its own processes, measured apart)
 *   npm run bench:fleet -- --cpu-prof DIR   (V8 CPU profiles of the Portico process into DIR)
 *   npm run bench:fleet -- --node-options=--max-semi-space-size=8   (Node options of the Portico process only)
 *   npm run bench:fleet -- --node-args=--trace-gc --portico-log FILE --json   (GC pauses beside each change's timeline)
 *   npm run bench:fleet -- --warmup 3 --gc-reasons   (3 edits before the measured ones; why V8 collected, by window)
 *
 * Writes a synthetic manifest directory (N Ingresses with 3 paths each, a Service with a
 * 3-endpoint EndpointSlice per 5 Ingresses, 20 files of `List`s) into a temporary directory,
 * starts `portico standalone --manifests DIR --workers 1 --no-access-log` as a real process on
 * free loopback ports, simulates the data planes in this process (bench/fleet-sim.ts), then
 * rewrites one Ingress's `/api` path (or, `--kind endpoints`, one endpoint of its Service)
 * `--changes` times, one edit after every node ACKed the previous, and prints per change: edit →
 * version listed by `GET /v1/nodes` (`current`), edit → served by Portico's own data plane (its
 * local nodes in `GET /v1/nodes`), the workers' swap stall (`portico_snapshot_swap_stall_seconds`),
 * edit → every node ACKed (p50/p99/max), control CPU time (from /proc) and its split by thread
 * (main, V8 helper threads, manifest parser, libuv threadpool, …), body bytes sent per node,
 * control RSS idle / peak (VmRSS / VmHWM), the latency of a `GET /v1/nodes` probe every 100 ms
 * while nodes sync, and the latency of a local 404 on the traffic port every 20 ms (the data
 * plane's swap stall as a request sees it; at `--workers 1` it shares the control event loop).
 *
 * Bounded: each change waits at most `--change-timeout` seconds and the whole run `--timeout`
 * seconds (then it reports what it measured and says what did not finish). The Portico process
 * group and the temporary directory are removed on every exit, Ctrl-C included.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fleetFile, fleetFileName, fleetFileOf, fleetShape, parseSizes, summarize } from '../test/support/fleet.ts';
import type { Summary } from '../test/support/fleet.ts';
import { childPids, cpuTicks, peakRssBytes, resetPeakRss, rssBytes, TICKS_PER_SECOND } from '../test/support/metrics.ts';
import { freePort, PORTICO } from '../test/support/processes.ts';
import { GcTrace, summarizeGc } from '../test/support/gc-trace.ts';
import type { GcSummary } from '../test/support/gc-trace.ts';
import { readThreadTicks } from '../test/support/thread-cpu.ts';
import { benchArgs, integerArg, usageFailure } from './args.ts';
import { gcReasonsReport, groupMs, reasonsText, splitText, summarizeSplit, threadCpuSource } from '../test/support/fleet-accounts.ts';
import type { GcReasonsReport, GroupMs, ThreadSplit } from '../test/support/fleet-accounts.ts';
import { httpCall, Probe, SimulatedFleet } from './fleet-sim.ts';

const NAME = 'bench:fleet';
const USAGE = `Usage: npm run bench:fleet [-- options]

One Ingress edit served to a fleet: writes N Ingresses (3 paths each) into a manifest directory, runs
\`portico standalone --workers 1 --no-access-log\` on it, simulates the data planes' sync in this
process, rewrites one path (or one endpoint) --changes times and prints edit -> listed, edit -> served
by Portico's own data plane and edit -> every node ACKed (p50/p99/max), the data plane's swap stall,
control CPU per change and its split by thread, bytes per node per change, control RSS idle/peak, the GET /v1/nodes latency
and the traffic port's stall. Loopback only.

Options:
  --ingresses N        Ingresses (default 1000).
  --sizes N,N,...      Run each size in turn instead of --ingresses (how the figures grow).
  --nodes N            Simulated data planes (default 10).
  --changes N          Edits (default 20).
  --workers N          Portico data-plane workers; 2+ runs them in their own processes (default 1).
  --kind path|endpoints  What each edit changes: one Ingress path (default), or one endpoint of its Service.
  --timeout S          Bound on the whole run (default 600).
  --change-timeout S   Bound on each change (default 120).
  --cpu-prof DIR       V8 CPU profiles of the Portico process into DIR.
  --node-options STR   Node options for the Portico process only (NODE_OPTIONS), e.g. the control
                       Deployment's (deploy/base/control.yaml) to measure RSS as it runs there.
  --node-args STR      Node command-line options for the Portico process, space-separated, for those
                       NODE_OPTIONS refuses, e.g. --node-args=--trace-gc.
  --portico-log FILE   Keep Portico's stdout and stderr in FILE (e.g. with --node-args=--trace-gc,
                       whose "N ms:" are ms since Portico started, like each change's edit_at_ms in --json).
  --warmup N           Edits made and waited for before the measured ones, reported apart (default 0): a
                       fresh process pays start-up GC debt in its first changes.
  --gc-reasons         Run Portico with --trace-gc --trace-incremental-marking (added to --node-args) and
                       print its mark-compacts and incremental-marking starts by reason during start-up,
                       warm-up and the measured changes, and the scavenges per change (the trace lines
                       cost Portico a little CPU of their own).
  --json               Print the figures as JSON.
  -h, --help           Show this help.`;

const values = benchArgs(NAME, USAGE, {
  ingresses: { type: 'string', default: '1000' },
  nodes: { type: 'string', default: '10' },
  changes: { type: 'string', default: '20' },
  workers: { type: 'string', default: '1' },
  kind: { type: 'string', default: 'path' },
  sizes: { type: 'string' },
  timeout: { type: 'string', default: '600' },
  'change-timeout': { type: 'string', default: '120' },
  json: { type: 'boolean', default: false },
  'cpu-prof': { type: 'string' },
  'node-options': { type: 'string' },
  'portico-log': { type: 'string' },
  'node-args': { type: 'string' },
  warmup: { type: 'string', default: '0' },
  'gc-reasons': { type: 'boolean', default: false },
});

const NODES = integerArg(NAME, 'nodes', values.nodes, 1, 1000);
const CHANGES = integerArg(NAME, 'changes', values.changes, 1, 200);
const WORKERS = integerArg(NAME, 'workers', values.workers, 1, 16);
const WARMUP = integerArg(NAME, 'warmup', values.warmup, 0, 100);
const RUN_TIMEOUT_MS = integerArg(NAME, 'timeout', values.timeout, 1, 3600) * 1000;
const CHANGE_TIMEOUT_MS = integerArg(NAME, 'change-timeout', values['change-timeout'], 1, 600) * 1000;
if (values.kind !== 'path' && values.kind !== 'endpoints') usageFailure(NAME, `--kind must be path or endpoints, not ${JSON.stringify(values.kind)}`);
const ENDPOINT_EDITS = values.kind === 'endpoints';
let SIZES: number[];
try {
  SIZES = values.sizes === undefined ? [integerArg(NAME, 'ingresses', values.ingresses, 1, 200_000)] : parseSizes(values.sizes);
} catch (error) {
  usageFailure(NAME, (error as Error).message);
}
if (Number(process.versions.node.split('.')[0]) < 24) {
  process.stderr.write(`bench:fleet runs Portico on this node (${process.version}); run it through npm (Node 24 from node_modules/.bin)\n`);
  process.exit(2);
}
// Opened before anything starts, so a path that cannot be written is refused at once.
let logFd: number | undefined;
if (values['portico-log'] !== undefined) {
  try {
    logFd = openSync(values['portico-log'], 'a');
  } catch (error) {
    usageFailure(NAME, `--portico-log ${values['portico-log']}: ${(error as Error).message} (cannot open it to append Portico's output)`);
  }
}
const log = (line: string): void => {
  if (!values.json) process.stdout.write(`${line}\n`);
};

/** What one run at one size measured. Times in ms, bytes in bytes, NaN when not measured. */
interface RunResult {
  ingresses: number;
  routes: number;
  services: number;
  nodes: number;
  workers: number;
  changes_planned: number;
  changes_done: number;
  /** Why the run stopped early, if it did. */
  incomplete?: string;
  startup_ms: number;
  first_sync_all_nodes_ms: number;
  first_sync_bytes_per_node: number;
  edit_to_published_ms: Summary;
  /** Edit -> Portico's own data plane (every worker) serves the new version. */
  edit_to_served_ms: Summary;
  /** Per change, the longest time a worker's event loop was held by the swap (loading the bundle), ms. */
  swap_stall_ms: Summary;
  edit_to_all_acked_ms: Summary;
  edit_to_node_ack_ms: Summary;
  control_cpu_ms_per_change: number;
  /**
   * What of the control CPU per change this benchmark's own requests cost, estimated (ms): its
   * `GET /v1/nodes` polls every 5 ms until the change is served (a poll's CPU measured idle, times
   * the polls made) and the API and traffic-port probes running beside (their CPU per ms measured
   * idle, times the change's duration). Measured idle (the least of a few 1 s windows), so a lower
   * bound while the change's garbage is collected. NaN when not measured.
   */
  bench_load_cpu_ms_per_change: number;
  /** `GET /v1/nodes` polls per change (until the new version is listed and served). */
  listing_polls_per_change: number;
  /** One `GET /v1/nodes` poll's control CPU, measured idle (ms). */
  listing_poll_cpu_ms: number;
  /** The API and traffic-port probes' control CPU per second, measured idle (ms). */
  probes_cpu_ms_per_s: number;
  worker_cpu_ms_per_change: number;
  /**
   * CPU of Portico's processes (control and workers) after a change was ACKed everywhere, until the
   * next change starts, per change (ms): the admin `/metrics` scrape for the swap stall, the control
   * API scrape, and whatever the change left running (GC, mostly); not in the CPU per change.
   */
  after_change_cpu_ms_per_change: number;
  /** The control process's CPU per change (edit to every ACK) by thread group, from /proc/<pid>/task; null when it cannot be read. */
  thread_cpu_ms_per_change: ThreadSplit | null;
  /** The same over each change's "after" window (until the next change). */
  thread_cpu_after_ms_per_change: ThreadSplit | null;
  /** Why there is no per-thread split, when there is none. */
  thread_split_unavailable?: string;
  /** Where the split's figures come from: each thread's ns on a CPU (schedstat) or its 10 ms clock ticks (stat); null without a split. */
  thread_cpu_source: 'schedstat' | 'stat' | null;
  /** With --warmup N: the edits made before the measured ones; null without. */
  warmup: WarmupResult | null;
  /** With --gc-reasons: why V8 collected and started marking, by window; null without. */
  gc_reasons: GcReasonsReport | null;
  bytes_per_node_per_change: number;
  gzip_share: number;
  /** Bytes of tables and texts the primary sent each worker per change (`portico_worker_bundle_bytes_total`; NaN at --workers 1). */
  worker_bundle_bytes_per_change: number;
  sync_errors: number;
  /** Failed node requests by kind, most frequent first. */
  sync_error_kinds: Record<string, number>;
  control_rss_idle_bytes: number;
  control_rss_peak_during_changes_bytes: number;
  /** VmHWM through start-up and every node's first full sync (read before the reset). */
  control_rss_peak_startup_bytes: number;
  worker_rss_idle_bytes: number;
  /** The workers' VmHWM summed: the peak during the changes (through start-up too when the kernel refuses the reset). */
  worker_rss_peak_bytes: number;
  /** Per worker (pid order): VmRSS idle, VmHWM through start-up and first sync, VmHWM during the changes (NaN when the reset was refused). */
  worker_rss_each: { pid: number; idle_bytes: number; peak_startup_bytes: number; peak_during_changes_bytes: number }[];
  api_probe_ms: Summary;
  /** The same probe while every node takes its first (full) sync. */
  api_probe_first_sync_ms: Summary;
  api_probe_failures: number;
  /** Per change, the longest the control event loop went without a turn (prom-client's monitorEventLoopDelay max, reset by each scrape), ms. */
  control_loop_block_ms: Summary;
  /** The same over every node's first (full) sync. */
  control_loop_block_first_sync_ms: number;
  traffic_probe_idle_ms: Summary;
  traffic_probe_during_changes_ms: Summary;
  /** Each change: the edit's time in ms since Portico was spawned (to set beside its --trace-gc lines), then ms from the edit (NaN: not reached). */
  changes: ChangeTimeline[];
  /** With --node-args=--trace-gc: the control process's collections from the first edit to the last ACK (main thread); null without. */
  gc_during_changes: GcSummary | null;
  /** With --trace-gc: edit -> served of the changes during which a mark-compact ended, and of the others. */
  edit_to_served_with_mark_compact_ms: Summary;
  edit_to_served_without_mark_compact_ms: Summary;
}

/** The warm-up edits (--warmup): made and waited for like the measured ones, kept out of every other figure. */
interface WarmupResult {
  edits_planned: number;
  edits_done: number;
  edit_to_served_ms: Summary;
  edit_to_all_acked_ms: Summary;
  control_cpu_ms_per_change: number;
  after_change_cpu_ms_per_change: number;
  thread_cpu_ms_per_change: ThreadSplit | null;
  thread_cpu_after_ms_per_change: ThreadSplit | null;
  changes: ChangeTimeline[];
}

/** One change's timeline. */
interface ChangeTimeline {
  edit_at_ms: number;
  listed_ms: number;
  served_ms: number;
  all_acked_ms: number;
  loop_block_ms: number;
  /** With --trace-gc: the collections that ended between the edit and its last ACK (or served). */
  gc?: GcSummary;
  /** The control process's CPU from the edit to every ACK by thread group, and over the "after" window (ms). */
  threads_ms?: GroupMs;
  after_threads_ms?: GroupMs;
}

/** Everything to clean up: the Portico process group and the temporary directory. */
const live = { child: undefined as ChildProcess | undefined, tmp: undefined as string | undefined };

function killGroup(signal: NodeJS.Signals): void {
  const child = live.child;
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

function cleanup(): void {
  killGroup('SIGKILL');
  live.child = undefined;
  if (live.tmp !== undefined) rmSync(live.tmp, { recursive: true, force: true });
  live.tmp = undefined;
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

/** SIGTERM to the group, SIGKILL after 15 s; resolves when the primary has exited. */
async function stopPortico(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  killGroup('SIGTERM');
  const timer = setTimeout(() => killGroup('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

const ms = (start: number) => performance.now() - start;
const ticksToMs = (ticks: number) => (ticks * 1000) / TICKS_PER_SECOND;
const sum = (pids: readonly number[]) => pids.reduce((total, pid) => total + cpuTicks(pid), 0);

async function runOnce(ingresses: number, deadline: number): Promise<RunResult> {
  const shape = fleetShape(ingresses);
  const tmp = mkdtempSync(join(tmpdir(), 'portico-fleet-'));
  live.tmp = tmp;
  const manifests = join(tmp, 'manifests');
  mkdirSync(manifests);
  for (let f = 0; f < shape.files; f++) writeFileSync(join(manifests, fleetFileName(f)), fleetFile(shape, f));
  const token = randomBytes(24).toString('base64url');
  const [apiPort, httpPort, adminPort] = [await freePort(), await freePort(), await freePort()] as [number, number, number];
  const args = [
    ...['standalone', '--manifests', manifests, '--workers', String(WORKERS), '--no-access-log', '--data-dir', join(tmp, 'data')],
    ...['--address', '127.0.0.1', '--http-port', String(httpPort), '--https-port', 'off', '--admin-port', String(adminPort), '--api-port', String(apiPort)],
  ];
  const started = performance.now();
  // Its own process group, so the data-plane worker goes down with it whatever happens to this process.
  // --cpu-prof DIR: V8 CPU profiles of the Portico process (and its workers) land in DIR on exit.
  const profile = values['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']];
  const nodeOptions = values['node-options'] === undefined ? {} : { NODE_OPTIONS: values['node-options'] };
  const nodeArgs = values['node-args']?.split(/\s+/).filter((arg) => arg !== '') ?? [];
  if (values['gc-reasons']) for (const flag of ['--trace-gc', '--trace-incremental-marking']) if (!nodeArgs.includes(flag)) nodeArgs.push(flag);
  const child = spawn(process.execPath, [...profile, ...nodeArgs, PORTICO, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...nodeOptions, PORTICO_API_TOKEN: token }, detached: true });
  live.child = child;
  let tail = '';
  const keep = (chunk: Buffer) => {
    if (logFd !== undefined) writeSync(logFd, chunk);
    tail = (tail + chunk.toString()).slice(-4000);
  };
  // --trace-gc prints on stdout; its "N ms:" count from the isolate's start, a few ms after `started`.
  const gcTrace = nodeArgs.includes('--trace-gc') ? new GcTrace() : undefined;
  if (gcTrace !== undefined) child.stdout!.on('data', (chunk: Buffer) => gcTrace.push(chunk.toString()));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const auth = { Authorization: `Bearer ${token}` };
  /** The current version, and the version Portico's own data plane serves (its local nodes, one per worker, all ACKed it), from `GET /v1/nodes`. */
  const listing = async (timeoutMs = 30_000): Promise<{ current: string | undefined; served: string | undefined }> => {
    const answer = await httpCall(agent, apiPort, { path: '/v1/nodes', headers: auth, keepBody: true, timeoutMs });
    if (answer.status !== 200) throw new Error(`GET /v1/nodes: HTTP ${answer.status}`);
    const list = JSON.parse(answer.body!.toString()) as { current: string | null; nodes: { address: string | null; appliedVersion: string | null }[] };
    const local = new Set(list.nodes.filter((node) => node.address === 'local').map((node) => node.appliedVersion));
    return { current: list.current ?? undefined, served: local.size === 1 ? ([...local][0] ?? undefined) : undefined };
  };
  const current = async (timeoutMs = 30_000): Promise<string | undefined> => (await listing(timeoutMs)).current;
  /** The longest swap stall of any worker so far and of the last swaps (ms), from the admin port's `portico_snapshot_swap_stall_seconds`. */
  const swapStall = async (): Promise<{ last: number; max: number }> => {
    const answer = await httpCall(agent, adminPort, { path: '/metrics', keepBody: true, timeoutMs: 10_000 });
    const stall = { last: Number.NaN, max: Number.NaN };
    for (const match of answer.body!.toString().matchAll(/^portico_snapshot_swap_stall_seconds\{[^}]*swap="(last|max)"[^}]*\} (\S+)$/gm)) {
      const which = match[1] as 'last' | 'max';
      stall[which] = Math.max(Number.isNaN(stall[which]) ? 0 : stall[which], Number(match[2]) * 1000);
    }
    return stall;
  };

  /** Bytes the primary sent its workers in bundles so far (`portico_worker_bundle_bytes_total`, whole and deltas); NaN without workers. */
  const workerBundleBytes = async (): Promise<number> => {
    const answer = await httpCall(agent, adminPort, { path: '/metrics', keepBody: true, timeoutMs: 10_000 });
    const samples = [...answer.body!.toString().matchAll(/^portico_worker_bundle_bytes_total\{[^}]*\} (\S+)$/gm)];
    return samples.length === 0 ? Number.NaN : samples.reduce((total, match) => total + Number(match[1]), 0);
  };

  // The control event loop's longest block since the last scrape of the control API's /metrics
  // (prom-client's nodejs_eventloop_lag_max_seconds: monitorEventLoopDelay, reset when read).
  const loopBlock = async (): Promise<number> => {
    const answer = await httpCall(agent, apiPort, { path: '/metrics', keepBody: true, timeoutMs: 10_000 });
    const match = /^portico_control_nodejs_eventloop_lag_max_seconds(?:\{[^}]*\})? (\S+)$/m.exec(answer.body!.toString());
    return match === null ? Number.NaN : Number(match[1]) * 1000;
  };

  const result: RunResult = {
    ingresses,
    routes: ingresses * 3,
    services: Math.ceil(ingresses / shape.ingressesPerService),
    nodes: NODES,
    workers: WORKERS,
    changes_planned: CHANGES,
    changes_done: 0,
    startup_ms: Number.NaN,
    first_sync_all_nodes_ms: Number.NaN,
    first_sync_bytes_per_node: Number.NaN,
    edit_to_published_ms: summarize([]),
    edit_to_served_ms: summarize([]),
    swap_stall_ms: summarize([]),
    edit_to_all_acked_ms: summarize([]),
    edit_to_node_ack_ms: summarize([]),
    control_cpu_ms_per_change: Number.NaN,
    bench_load_cpu_ms_per_change: Number.NaN,
    listing_polls_per_change: Number.NaN,
    listing_poll_cpu_ms: Number.NaN,
    probes_cpu_ms_per_s: Number.NaN,
    worker_cpu_ms_per_change: Number.NaN,
    after_change_cpu_ms_per_change: Number.NaN,
    thread_cpu_ms_per_change: null,
    thread_cpu_after_ms_per_change: null,
    thread_cpu_source: null,
    warmup: WARMUP === 0 ? null : { edits_planned: WARMUP, edits_done: 0, edit_to_served_ms: summarize([]), edit_to_all_acked_ms: summarize([]), control_cpu_ms_per_change: Number.NaN, after_change_cpu_ms_per_change: Number.NaN, thread_cpu_ms_per_change: null, thread_cpu_after_ms_per_change: null, changes: [] },
    gc_reasons: null,
    bytes_per_node_per_change: Number.NaN,
    gzip_share: Number.NaN,
    worker_bundle_bytes_per_change: Number.NaN,
    sync_errors: 0,
    sync_error_kinds: {},
    control_rss_idle_bytes: Number.NaN,
    control_rss_peak_during_changes_bytes: Number.NaN,
    control_rss_peak_startup_bytes: Number.NaN,
    worker_rss_idle_bytes: Number.NaN,
    worker_rss_peak_bytes: Number.NaN,
    worker_rss_each: [],
    api_probe_ms: summarize([]),
    api_probe_first_sync_ms: summarize([]),
    api_probe_failures: 0,
    control_loop_block_ms: summarize([]),
    control_loop_block_first_sync_ms: Number.NaN,
    traffic_probe_idle_ms: summarize([]),
    traffic_probe_during_changes_ms: summarize([]),
    changes: [],
    gc_during_changes: null,
    edit_to_served_with_mark_compact_ms: summarize([]),
    edit_to_served_without_mark_compact_ms: summarize([]),
  };
  const fleet = new SimulatedFleet(apiPort, token, Array.from({ length: NODES }, (_, i) => `fleet-node-${String(i).padStart(4, '0')}`));
  let apiProbe: Probe | undefined;
  let trafficProbe: Probe | undefined;
  try {
    // Start-up: the first snapshot is listed once the manifests are compiled.
    let version: string | undefined;
    while (version === undefined) {
      if (child.exitCode !== null) throw new Error(`portico exited with ${child.exitCode}:\n${tail}`);
      if (performance.now() > deadline) throw new Error('timed out waiting for the first snapshot');
      version = await current(5_000).catch(() => undefined);
      if (version === undefined) await sleep(100);
    }
    result.startup_ms = ms(started);
    log(`  first snapshot listed ${(result.startup_ms / 1000).toFixed(1)} s after start; ${NODES} nodes syncing…`);

    const syncStart = performance.now();
    apiProbe = new Probe(async () => (await httpCall(agent, apiPort, { path: '/v1/nodes', headers: auth, timeoutMs: 60_000 })).status === 200, 100);
    await loopBlock().catch(() => undefined);
    fleet.start();
    const first = await fleet.waitAllAcked(version, Math.max(0, Math.min(CHANGE_TIMEOUT_MS, deadline - performance.now())));
    if (!first.complete) throw new Error(`only ${first.times.size}/${NODES} nodes ACKed the first version within the time allowed (last error: ${fleet.lastError ?? 'none'})`);
    result.first_sync_all_nodes_ms = ms(syncStart);
    result.first_sync_bytes_per_node = fleet.counters.bodyBytes / NODES;
    result.api_probe_first_sync_ms = summarize(apiProbe.between(syncStart, performance.now()));
    result.control_loop_block_first_sync_ms = await loopBlock().catch(() => Number.NaN);

    const workers = childPids(child.pid!);
    trafficProbe = new Probe(async () => (await httpCall(agent, httpPort, { path: '/', headers: { Host: 'fleet-probe.invalid' }, timeoutMs: 60_000 })).status === 404, 20);
    // This benchmark's own load on the control process, measured idle: the probes' CPU per ms, then
    // one GET /v1/nodes poll's (made as the changes poll: every 5 ms, one at a time). The least of a
    // few 1 s windows: a collection of what the first sync left (a large heap's mark-compact) falls
    // into one of them, not into what the probes cost.
    let probesCpuPerMs = Number.POSITIVE_INFINITY;
    for (let window = 0; window < 3; window++) {
      const ticks = cpuTicks(child.pid!);
      const start = performance.now();
      await sleep(1_000);
      probesCpuPerMs = Math.min(probesCpuPerMs, ticksToMs(cpuTicks(child.pid!) - ticks) / ms(start));
    }
    let pollCpuMs = Number.POSITIVE_INFINITY;
    for (let window = 0; window < 2; window++) {
      const ticks = cpuTicks(child.pid!);
      const start = performance.now();
      let polls = 0;
      while (ms(start) < 1_000) {
        await listing();
        polls++;
        await sleep(5);
      }
      pollCpuMs = Math.min(pollCpuMs, Math.max(0, ticksToMs(cpuTicks(child.pid!) - ticks) - probesCpuPerMs * ms(start)) / polls);
    }
    result.probes_cpu_ms_per_s = probesCpuPerMs * 1000;
    result.listing_poll_cpu_ms = pollCpuMs;
    result.control_rss_idle_bytes = await rssBytes(child.pid!);
    const workersRss = async (read: (pid: number) => Promise<number>) => {
      if (workers.length === 0) return Number.NaN;
      const each = await Promise.all(workers.map((pid) => read(pid).catch(() => 0)));
      return each.reduce((a, b) => a + b, 0);
    };
    result.worker_rss_idle_bytes = await workersRss(rssBytes);
    result.worker_rss_each = await Promise.all(workers.map(async (pid) => ({ pid, idle_bytes: await rssBytes(pid).catch(() => Number.NaN), peak_startup_bytes: await peakRssBytes(pid).catch(() => Number.NaN), peak_during_changes_bytes: Number.NaN })));
    result.control_rss_peak_startup_bytes = await peakRssBytes(child.pid!);
    const idleEnd = performance.now();

    /** What a run of edits measured: the warm-up's and the measured changes' are kept apart. */
    const tally = () => ({
      published: [] as number[],
      served: [] as number[],
      stalls: [] as number[],
      allAcked: [] as number[],
      loopBlocks: [] as number[],
      nodeAcks: [] as number[],
      cpu: { control: 0, worker: 0, after: 0 },
      // The changes' GET /v1/nodes polls and wall time (edit to every ACK), for the bench-load estimate.
      benchLoad: { polls: 0, ms: 0 },
      threads: [] as GroupMs[],
      afterThreads: [] as GroupMs[],
      timelines: [] as ChangeTimeline[],
    });
    const warm = tally();
    const measured = tally();
    const firstReading = readThreadTicks(child.pid!);
    if (firstReading === undefined) result.thread_split_unavailable = `/proc/${child.pid}/task cannot be read (not Linux?): no per-thread split`;
    else result.thread_cpu_source = threadCpuSource(firstReading);
    let hwmReset = false;
    let workerHwmReset: boolean[] = [];
    let measureStart = idleEnd;
    let bytesBefore = 0;
    let syncsBefore = 0;
    let gzippedBefore = 0;
    let workerBytesBefore = Number.NaN;
    const target = 0;
    const file = join(manifests, fleetFileName(fleetFileOf(shape, target)));
    // Warm-up edits are indexes -WARMUP..-1; the edit number keeps counting, so each edit changes the file.
    for (let index = -WARMUP; index < CHANGES; index++) {
      const warmingUp = index < 0;
      const t = warmingUp ? warm : measured;
      const what = warmingUp ? `warm-up edit ${index + WARMUP + 1}` : `change ${index + 1}`;
      if (index === 0) {
        // From here VmHWM is the peak during the measured changes (when the kernel lets us reset it).
        hwmReset = resetPeakRss(child.pid!);
        workerHwmReset = workers.map((pid) => resetPeakRss(pid));
        measureStart = performance.now();
        bytesBefore = fleet.counters.bodyBytes;
        syncsBefore = fleet.counters.syncs;
        gzippedBefore = fleet.counters.gzipped;
        workerBytesBefore = await workerBundleBytes().catch(() => Number.NaN);
      }
      if (performance.now() > deadline) {
        result.incomplete = warmingUp ? `--timeout reached after ${index + WARMUP} of ${WARMUP} warm-up edits` : `--timeout reached after ${index} of ${CHANGES} changes`;
        break;
      }
      await loopBlock().catch(() => undefined); // resets the max: what follows is this change's
      const controlTicks = cpuTicks(child.pid!);
      const threadTicks = readThreadTicks(child.pid!);
      const workerTicks = sum(workers);
      const before: string = version;
      const text = fleetFile(shape, fleetFileOf(shape, target), { ingress: target, edit: index + WARMUP, endpoints: ENDPOINT_EDITS });
      const t0 = performance.now();
      const timeline: ChangeTimeline = { edit_at_ms: t0 - started, listed_ms: Number.NaN, served_ms: Number.NaN, all_acked_ms: Number.NaN, loop_block_ms: Number.NaN };
      t.timelines.push(timeline);
      // Written beside and renamed over, as editors save: the watcher never reads half a file.
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
      const changeDeadline = Math.min(deadline, t0 + CHANGE_TIMEOUT_MS);
      let next: string | undefined;
      let servedAt: number | undefined;
      let listError = 'none';
      // Polled every 5 ms: the version listed, then Portico's own data plane serving it.
      while (next === undefined || next === before || servedAt === undefined) {
        if (performance.now() > changeDeadline) break;
        t.benchLoad.polls++;
        const seen = await listing(Math.max(1, changeDeadline - performance.now())).catch((error: unknown) => {
          listError = (error as Error).message;
          return undefined;
        });
        if (seen?.current !== undefined && seen.current !== before && (next === undefined || next === before)) {
          next = seen.current;
          t.published.push((timeline.listed_ms = ms(t0)));
        }
        if (next !== undefined && next !== before && seen?.served === next) servedAt = ms(t0);
        else await sleep(5);
      }
      if (servedAt !== undefined) t.served.push((timeline.served_ms = servedAt));
      if (next === undefined || next === before) {
        const why = performance.now() > deadline ? '--timeout reached' : `--change-timeout reached`;
        const exited = child.exitCode === null ? '' : `; portico exited with ${child.exitCode}:\n${tail}`;
        result.incomplete = `${what}: no new version listed within ${Math.round(ms(t0) / 1000)} s, ${why} (last GET /v1/nodes error: ${listError})${exited}`;
        break;
      }
      version = next;
      const acks = await fleet.waitAllAcked(version, Math.max(0, changeDeadline - performance.now()));
      for (const at of acks.times.values()) t.nodeAcks.push(at - t0);
      if (!acks.complete) {
        const why = performance.now() > deadline ? '--timeout reached' : `--change-timeout reached`;
        result.incomplete = `${what}: ${acks.times.size}/${NODES} nodes ACKed within ${Math.round(ms(t0) / 1000)} s, ${why} (last node error: ${fleet.lastError ?? 'none'})`;
        break;
      }
      t.allAcked.push((timeline.all_acked_ms = Math.max(...acks.times.values()) - t0));
      const controlNow = cpuTicks(child.pid!);
      const threadsNow = readThreadTicks(child.pid!);
      t.benchLoad.ms += ms(t0);
      const workersNow = sum(workers);
      t.cpu.control += controlNow - controlTicks;
      t.cpu.worker += workersNow - workerTicks;
      const afterTicks = controlNow + workersNow;
      const split = groupMs(threadTicks, threadsNow, TICKS_PER_SECOND);
      if (split !== undefined) t.threads.push((timeline.threads_ms = split));
      // Read after the CPU figures: a /metrics scrape is not part of the change.
      const stall = await swapStall().catch(() => undefined);
      if (stall !== undefined && !Number.isNaN(stall.last)) t.stalls.push(stall.last);
      const block = await loopBlock().catch(() => Number.NaN);
      if (!Number.isNaN(block)) t.loopBlocks.push((timeline.loop_block_ms = block));
      if (warmingUp) result.warmup!.edits_done = index + WARMUP + 1;
      else result.changes_done = index + 1;
      if (!values.json && !warmingUp && (index + 1) % 5 === 0) log(`  ${index + 1}/${CHANGES} changes served everywhere`);
      // A short pause, so each change starts from a settled system.
      await sleep(200);
      t.cpu.after += cpuTicks(child.pid!) + sum(workers) - afterTicks;
      const afterSplit = groupMs(threadsNow, readThreadTicks(child.pid!), TICKS_PER_SECOND);
      if (afterSplit !== undefined) t.afterThreads.push((timeline.after_threads_ms = afterSplit));
    }
    const changesEnd = performance.now();
    const done = Math.max(1, result.changes_done);
    const { published, served, stalls, allAcked, loopBlocks, nodeAcks, cpu, benchLoad } = measured;
    result.changes = measured.timelines;
    result.thread_cpu_ms_per_change = summarizeSplit(measured.threads);
    result.thread_cpu_after_ms_per_change = summarizeSplit(measured.afterThreads);
    if (result.warmup !== null) {
      const warmDone = Math.max(1, result.warmup.edits_done);
      Object.assign(result.warmup, {
        edit_to_served_ms: summarize(warm.served),
        edit_to_all_acked_ms: summarize(warm.allAcked),
        control_cpu_ms_per_change: ticksToMs(warm.cpu.control) / warmDone,
        after_change_cpu_ms_per_change: ticksToMs(warm.cpu.after) / warmDone,
        thread_cpu_ms_per_change: summarizeSplit(warm.threads),
        thread_cpu_after_ms_per_change: summarizeSplit(warm.afterThreads),
        changes: warm.timelines,
      });
    }
    result.edit_to_published_ms = summarize(published);
    result.edit_to_served_ms = summarize(served);
    result.swap_stall_ms = summarize(stalls);
    result.control_loop_block_ms = summarize(loopBlocks);
    result.edit_to_all_acked_ms = summarize(allAcked);
    result.edit_to_node_ack_ms = summarize(nodeAcks);
    result.control_cpu_ms_per_change = ticksToMs(cpu.control) / done;
    result.listing_polls_per_change = benchLoad.polls / done;
    result.bench_load_cpu_ms_per_change = (benchLoad.polls * result.listing_poll_cpu_ms + (benchLoad.ms * result.probes_cpu_ms_per_s) / 1000) / done;
    result.worker_cpu_ms_per_change = workers.length === 0 ? Number.NaN : ticksToMs(cpu.worker) / done;
    result.after_change_cpu_ms_per_change = ticksToMs(cpu.after) / done;
    result.bytes_per_node_per_change = (fleet.counters.bodyBytes - bytesBefore) / NODES / done;
    result.gzip_share = (fleet.counters.gzipped - gzippedBefore) / Math.max(1, fleet.counters.syncs - syncsBefore);
    result.worker_bundle_bytes_per_change = ((await workerBundleBytes().catch(() => Number.NaN)) - workerBytesBefore) / Math.max(1, workers.length) / done;
    result.control_rss_peak_during_changes_bytes = hwmReset ? await peakRssBytes(child.pid!) : Number.NaN;
    result.worker_rss_peak_bytes = await workersRss(peakRssBytes);
    for (const [index, each] of result.worker_rss_each.entries()) if (workerHwmReset[index] === true) each.peak_during_changes_bytes = await peakRssBytes(each.pid).catch(() => Number.NaN);
    await apiProbe.stop();
    await trafficProbe.stop();
    result.api_probe_ms = summarize(apiProbe.between(measureStart, changesEnd));
    result.api_probe_failures = apiProbe.samples.filter((s) => !s.ok).length;
    result.traffic_probe_idle_ms = summarize(trafficProbe.between(0, idleEnd));
    result.traffic_probe_during_changes_ms = summarize(trafficProbe.between(measureStart, changesEnd));
    if (gcTrace !== undefined && (result.changes.length > 0 || warm.timelines.length > 0)) {
      // V8 may print a moment after the collection: wait for the lines of the last change.
      await sleep(500);
      const windows = result.changes.map((c) => ({ c, end: c.edit_at_ms + Math.max(...[c.served_ms, c.all_acked_ms, c.listed_ms].filter((x) => !Number.isNaN(x)), 0) }));
      for (const { c, end } of windows) c.gc = summarizeGc(gcTrace.events, c.edit_at_ms, end);
      if (windows.length > 0) result.gc_during_changes = summarizeGc(gcTrace.events, windows[0]!.c.edit_at_ms, windows.at(-1)!.end);
      const served = (withMarkCompact: boolean) => result.changes.filter((c) => (c.gc!.markCompacts > 0) === withMarkCompact && !Number.isNaN(c.served_ms)).map((c) => c.served_ms);
      result.edit_to_served_with_mark_compact_ms = summarize(served(true));
      result.edit_to_served_without_mark_compact_ms = summarize(served(false));
      if (values['gc-reasons']) result.gc_reasons = gcReasonsReport(gcTrace, warm.timelines.map((c) => c.edit_at_ms), result.changes.map((c) => c.edit_at_ms), changesEnd - started);
    }
  } catch (error) {
    result.incomplete = (error as Error).message;
  } finally {
    await apiProbe?.stop();
    await trafficProbe?.stop();
    await fleet.stop();
    result.sync_errors = fleet.counters.errors;
    result.sync_error_kinds = Object.fromEntries([...fleet.errorKinds].sort((a, b) => b[1] - a[1]));
    agent.destroy();
    await stopPortico(child);
    live.child = undefined;
    rmSync(tmp, { recursive: true, force: true });
    live.tmp = undefined;
  }
  return result;
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const kib = (bytes: number) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
const num = (value: number) => (Number.isNaN(value) ? 'n/a' : value >= 100 ? value.toFixed(0) : value.toFixed(1));
const line = (s: Summary) => (s.n === 0 ? 'n/a' : `p50 ${num(s.p50)} ms  p99 ${num(s.p99)} ms  max ${num(s.max)} ms  (n=${s.n})`);

function printRun(r: RunResult): void {
  log(`fleet: ${r.ingresses} Ingresses (${r.routes} paths, ${r.services} Services with EndpointSlices, 20 List files), ${r.nodes} simulated data planes, ${r.changes_done}/${r.changes_planned} ${ENDPOINT_EDITS ? 'one-endpoint' : 'one-path'} edits`);
  log(`  portico standalone --workers ${WORKERS} --no-access-log: first snapshot listed ${num(r.startup_ms / 1000)} s after start; all nodes' first sync ${num(r.first_sync_all_nodes_ms / 1000)} s, ${kib(r.first_sync_bytes_per_node)} per node`);
  const w = r.warmup;
  if (w !== null) {
    const split = w.thread_cpu_ms_per_change === null ? '' : `: ${splitText(w.thread_cpu_ms_per_change)}`;
    log(`  warm-up (${w.edits_done}/${w.edits_planned} edits before the measured ones, in no other figure): edit → served ${line(w.edit_to_served_ms)}; edit → every node ACKed ${line(w.edit_to_all_acked_ms)}; control CPU per edit ${num(w.control_cpu_ms_per_change)} ms${split}; after each ${num(w.after_change_cpu_ms_per_change)} ms`);
  }
  log(`  edit → version listed by GET /v1/nodes:  ${line(r.edit_to_published_ms)}`);
  log(`  edit → served by Portico's data plane:   ${line(r.edit_to_served_ms)}`);
  log(`  edit → every node ACKed:                 ${line(r.edit_to_all_acked_ms)}`);
  log(`  data-plane swap stall (worker event loop held by loading the bundle, per change): ${line(r.swap_stall_ms)}`);
  log(`  edit → each node's ACK:                  ${line(r.edit_to_node_ack_ms)}`);
  const inProcess = Number.isNaN(r.worker_cpu_ms_per_change);
  log(`  CPU per change: control process ${num(r.control_cpu_ms_per_change)} ms${inProcess ? ' (the data plane runs inside it: no worker process at --workers 1)' : `, data-plane workers ${num(r.worker_cpu_ms_per_change)} ms`}`);
  log(`  of which this benchmark's own requests, estimated from their CPU measured idle: ${num(r.bench_load_cpu_ms_per_change)} ms (${num(r.listing_polls_per_change)} GET /v1/nodes polls per change at ${num(r.listing_poll_cpu_ms)} ms each; the API and traffic-port probes ${num(r.probes_cpu_ms_per_s)} ms per s)`);
  log(`  CPU after each change, until the next (the /metrics scrapes and what the change left running, e.g. GC; not in the CPU per change): ${num(r.after_change_cpu_ms_per_change)} ms of Portico's processes`);
  if (r.thread_cpu_ms_per_change !== null) log(`  control CPU per change by thread (${r.thread_cpu_source === 'schedstat' ? 'ns on a CPU, schedstat' : '10 ms ticks, stat'}), ms mean (p50): ${splitText(r.thread_cpu_ms_per_change)}`);
  if (r.thread_cpu_after_ms_per_change !== null) log(`    after each change, by thread: ${splitText(r.thread_cpu_after_ms_per_change)}`);
  if (r.thread_split_unavailable !== undefined) log(`  ${r.thread_split_unavailable}`);
  log(`  bytes sent per node per change: ${kib(r.bytes_per_node_per_change)} (sync bodies as sent; ${Math.round(r.gzip_share * 100)}% gzip); sync errors: ${r.sync_errors}`);
  log(`  control RSS: idle ${MiB(r.control_rss_idle_bytes)}, peak during changes ${Number.isNaN(r.control_rss_peak_during_changes_bytes) ? 'n/a' : MiB(r.control_rss_peak_during_changes_bytes)}, peak through start-up and first sync ${MiB(r.control_rss_peak_startup_bytes)}`);
  if (!inProcess) log(`  bundle bytes the primary sent each worker per change: ${kib(r.worker_bundle_bytes_per_change)} (tables and texts, whole or as deltas)`);
  if (!inProcess) log(`  data-plane workers' RSS (sum): idle ${MiB(r.worker_rss_idle_bytes)}, peak ${MiB(r.worker_rss_peak_bytes)}`);
  for (const [index, w] of r.worker_rss_each.entries()) log(`    worker ${index + 1}: RSS idle ${MiB(w.idle_bytes)}, peak during changes ${Number.isNaN(w.peak_during_changes_bytes) ? 'n/a' : MiB(w.peak_during_changes_bytes)}, peak through start-up and first sync ${MiB(w.peak_startup_bytes)}`);
  log(`  API responsiveness, GET /v1/nodes every 100 ms during changes: ${line(r.api_probe_ms)}; during the first sync: ${line(r.api_probe_first_sync_ms)}; failed probes: ${r.api_probe_failures}`);
  log(`  control event loop, longest block per change: ${line(r.control_loop_block_ms)}; during the first sync: ${num(r.control_loop_block_first_sync_ms)} ms`);
  log(`  traffic-port 404 every 20 ms (the data plane's stall as a request sees it${inProcess ? ', on the control process\'s event loop' : ''}): idle ${line(r.traffic_probe_idle_ms)}; during changes ${line(r.traffic_probe_during_changes_ms)}`);
  const gc = r.gc_during_changes;
  if (gc !== null) {
    log(`  control GC during the changes (--trace-gc, main thread): ${gc.markCompacts} mark-compacts, pauses ${num(gc.markCompactPauseMs)} ms in all (longest ${num(gc.markCompactPauseMaxMs)} ms) + ${num(gc.incrementalMarkingMs)} ms of incremental marking (longest step ${num(gc.biggestStepMs)} ms); ${gc.scavenges} young-generation collections, ${num(gc.scavengePauseMs)} ms`);
    log(`  edit → served, changes during which a mark-compact ended: ${line(r.edit_to_served_with_mark_compact_ms)}; the others: ${line(r.edit_to_served_without_mark_compact_ms)}`);
  }
  const reasons = r.gc_reasons;
  if (reasons !== null) {
    log(`  V8 on the control main isolate (--gc-reasons), start-up: ${reasonsText(reasons.startup)}`);
    if (reasons.warmup !== null) log(`    warm-up: ${reasonsText(reasons.warmup)}`);
    log(`    measured changes (with the pauses after them): ${reasonsText(reasons.changes)}`);
    const young = reasons.scavenges_per_change;
    log(`    scavenges per change: p50 ${num(young.count_p50)} (mean ${num(young.count_mean)}), pause p50 ${num(young.pause_ms_p50)} ms (mean ${num(young.pause_ms_mean)} ms)`);
  }
  const kinds = Object.entries(r.sync_error_kinds).slice(0, 3);
  if (kinds.length > 0) log(`  failed node requests, most frequent first: ${kinds.map(([kind, n]) => `${n}× ${kind}`).join('; ')}`);
  if (r.incomplete !== undefined) log(`  INCOMPLETE: ${r.incomplete}`);
}

/** How the figures of `b` compare with those of `a` (b / a). */
function growth(a: RunResult, b: RunResult) {
  const ratio = (x: number, y: number) => Math.round((y / x) * 10) / 10;
  return {
    ingresses: ratio(a.ingresses, b.ingresses),
    edit_to_published_p50: ratio(a.edit_to_published_ms.p50, b.edit_to_published_ms.p50),
    edit_to_all_acked_p50: ratio(a.edit_to_all_acked_ms.p50, b.edit_to_all_acked_ms.p50),
    control_cpu_per_change: ratio(a.control_cpu_ms_per_change, b.control_cpu_ms_per_change),
    bytes_per_node_per_change: ratio(a.bytes_per_node_per_change, b.bytes_per_node_per_change),
    control_rss_idle: ratio(a.control_rss_idle_bytes, b.control_rss_idle_bytes),
  };
}

/** The commit measured (with `+` when the tree has changes), so figures can be compared across commits. */
const git = (args: string[]) => spawnSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8' });
const head = git(['rev-parse', '--short', 'HEAD']).stdout?.trim() || 'unknown';
const commit = `${head}${git(['status', '--porcelain', '--untracked-files=no']).stdout?.trim() ? '+' : ''}`;
log(`bench:fleet on ${commit}, ${new Date().toISOString()}, load average ${loadavg().map((n) => n.toFixed(1)).join(' ')}${values['node-options'] === undefined ? '' : `, Portico with NODE_OPTIONS=${values['node-options']}`}${values['node-args'] === undefined ? '' : `, node ${values['node-args']}`}`);
const results: RunResult[] = [];
const runDeadlines = performance.now();
for (const [index, size] of SIZES.entries()) {
  log(`run ${index + 1}/${SIZES.length}: ${size} Ingresses, ${NODES} nodes, ${CHANGES} changes (at most ${RUN_TIMEOUT_MS / 1000} s)`);
  const result = await runOnce(size, performance.now() + RUN_TIMEOUT_MS);
  results.push(result);
  printRun(result);
}
const growths = results.slice(1).map((r) => ({ from: results[0]!.ingresses, to: r.ingresses, ...growth(results[0]!, r) }));
if (growths.length > 0 && !values.json) {
  log(`how one change's cost grows with the number of Ingresses (ratio to ${results[0]!.ingresses}):`);
  for (const g of growths) {
    log(`  ×${g.ingresses} Ingresses (${g.to}): edit→listed ×${g.edit_to_published_p50}, edit→all ACKed ×${g.edit_to_all_acked_p50}, control CPU ×${g.control_cpu_per_change}, bytes/node ×${g.bytes_per_node_per_change}, idle RSS ×${g.control_rss_idle}`);
  }
}
if (values.json) console.log(JSON.stringify({ date: new Date().toISOString(), commit, load_average: loadavg(), node_options: values['node-options'] ?? null, node_args: values['node-args'] ?? null, runs: results, growth: growths, total_s: Math.round(ms(runDeadlines) / 1000) }));
process.exit(results.every((r) => r.incomplete === undefined) ? 0 : 1);
