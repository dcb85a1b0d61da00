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
 * rewrites one Ingress's `/api` path (or, `--kind endpoints`, one endpoint of its Service; `--kind hosts`, the path and a host added or taken away; `--kind scale`, an endpoint added or taken away)
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
import { childPids, cpuTicks, peakRssBytes, resetPeakRss, rssBytes, TICKS_PER_SECOND } from '../test/support/metrics.ts';
import { freePort, PORTICO } from '../test/support/processes.ts';
import { GcTrace, summarizeGc } from '../test/support/gc-trace.ts';
import { readThreadTicks } from '../test/support/thread-cpu.ts';
import { benchArgs, integerArg, usageFailure } from './args.ts';
import { gcReasonsReport, groupMs, summarizeSplit, threadCpuSource } from '../test/support/fleet-accounts.ts';
import type { GroupMs } from '../test/support/fleet-accounts.ts';
import { httpCall, Probe, SimulatedFleet } from './fleet-sim.ts';
import { fleetJson, growthLines, growthsOf, runLines } from './fleet-report.ts';
import { compilePathsBetween, counterSamples } from './compile-paths.ts';
import type { ChangeTimeline, EditKind, RunResult } from './fleet-report.ts';

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
  --kind path|endpoints|hosts|scale  What each edit changes: one Ingress path (default), one endpoint
                       of its Service, the path and a second host of that Ingress (added on even
                       edits, taken away on odd ones: the number of hosts changes every edit), or a
                       fourth endpoint of its Service (added on even edits, taken away on odd ones).
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
if (values.kind !== 'path' && values.kind !== 'endpoints' && values.kind !== 'hosts' && values.kind !== 'scale') usageFailure(NAME, `--kind must be path, endpoints, hosts or scale, not ${JSON.stringify(values.kind)}`);
const KIND: EditKind = values.kind;
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

  /** The admin port's counters now (counterSamples: summed over workers), one scrape for the measured changes' compile paths and worker bundle bytes; undefined when the scrape failed. */
  const adminCounters = async (): Promise<Map<string, number> | undefined> =>
    httpCall(agent, adminPort, { path: '/metrics', keepBody: true, timeoutMs: 10_000 })
      .then((answer) => counterSamples(answer.body!.toString()))
      .catch(() => undefined);

  /** Bytes the primary sent its workers in bundles (`portico_worker_bundle_bytes_total`, whole and deltas) as of `counters`; NaN without workers or counters. */
  const workerBundleBytes = (counters: ReadonlyMap<string, number> | undefined): number => {
    let total = Number.NaN;
    for (const [key, value] of counters ?? []) if (key.startsWith('portico_worker_bundle_bytes_total{')) total = (Number.isNaN(total) ? 0 : total) + value;
    return total;
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
    compile_paths: null,
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
    let countersBefore: Map<string, number> | undefined;
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
        countersBefore = await adminCounters();
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
      const text = fleetFile(shape, fleetFileOf(shape, target), { ingress: target, edit: index + WARMUP, endpoints: KIND === 'endpoints', hosts: KIND === 'hosts', scale: KIND === 'scale' });
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
    const countersAfter = await adminCounters();
    result.worker_bundle_bytes_per_change = (workerBundleBytes(countersAfter) - workerBundleBytes(countersBefore)) / Math.max(1, workers.length) / done;
    if (countersBefore !== undefined && countersAfter !== undefined) result.compile_paths = compilePathsBetween(countersBefore, countersAfter);
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
  for (const text of runLines(result, { workers: WORKERS, kind: KIND })) log(text);
}
const growths = growthsOf(results);
for (const text of growthLines(growths)) log(text);
if (values.json) console.log(JSON.stringify(fleetJson({ date: new Date().toISOString(), commit, loadAverage: loadavg(), nodeOptions: values['node-options'], nodeArgs: values['node-args'], results, growths, totalS: Math.round(ms(runDeadlines) / 1000) })));
process.exit(results.every((r) => r.incomplete === undefined) ? 0 : 1);
