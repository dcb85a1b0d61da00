/**
 * bench:fleet's results (bench/fleet.ts): what one run measured, as `--json` has it, and the
 * text and JSON it is printed as. Nothing here measures, reads a clock or writes: fleet.ts does.
 */
import { fleetShape } from '../test/support/fleet.ts';
import type { Summary } from '../test/support/fleet.ts';
import type { GcSummary } from '../test/support/gc-trace.ts';
import { compilePathsText } from './compile-paths.ts';
import type { CompilePaths } from './compile-paths.ts';
import { reasonsText, splitText } from '../test/support/fleet-accounts.ts';
import type { GcReasonsReport, GroupMs, ThreadSplit } from '../test/support/fleet-accounts.ts';

/** What one run at one size measured (a run of `--json`'s `runs`). Times in ms, bytes in bytes, NaN when not measured. */
export interface RunResult {
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
  /** Over all the measured changes: which path their bundle compiles and data-plane loads took (admin `/metrics` counters, after minus before); null when a scrape failed. */
  compile_paths: CompilePaths | null;
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
export interface WarmupResult {
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
export interface ChangeTimeline {
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

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const kib = (bytes: number) => (bytes >= 2 ** 20 ? `${(bytes / 2 ** 20).toFixed(2)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`);
const num = (value: number) => (Number.isNaN(value) ? 'n/a' : value >= 100 ? value.toFixed(0) : value.toFixed(1));
const line = (s: Summary) => (s.n === 0 ? 'n/a' : `p50 ${num(s.p50)} ms  p99 ${num(s.p99)} ms  max ${num(s.max)} ms  (n=${s.n})`);

/** How the runs were made, as the text report names it. */
export interface RunSetup {
  /** `--workers`: the data plane's worker processes. */
  workers: number;
  /** `--kind`: what each edit changed. */
  kind: EditKind;
}

/** What each edit of a run changes (`--kind`): one path, one endpoint, the path and a host added or taken away, or an endpoint added or taken away. */
export type EditKind = 'path' | 'endpoints' | 'hosts' | 'scale';

const EDIT_NAMES: Record<EditKind, string> = { path: 'one-path', endpoints: 'one-endpoint', hosts: 'one-host (added or taken away) and one-path', scale: 'one-endpoint-added-or-taken-away' };

/** The text report of one run, a line per element (no trailing newlines). */
export function runLines(r: RunResult, setup: RunSetup): string[] {
  const lines: string[] = [];
  lines.push(`fleet: ${r.ingresses} Ingresses (${r.routes} paths, ${r.services} Services with EndpointSlices, ${fleetShape(r.ingresses).files} List files), ${r.nodes} simulated data planes, ${r.changes_done}/${r.changes_planned} ${EDIT_NAMES[setup.kind]} edits`);
  lines.push(`  portico standalone --workers ${setup.workers} --no-access-log: first snapshot listed ${num(r.startup_ms / 1000)} s after start; all nodes' first sync ${num(r.first_sync_all_nodes_ms / 1000)} s, ${kib(r.first_sync_bytes_per_node)} per node`);
  const w = r.warmup;
  if (w !== null) {
    const split = w.thread_cpu_ms_per_change === null ? '' : `: ${splitText(w.thread_cpu_ms_per_change)}`;
    lines.push(`  warm-up (${w.edits_done}/${w.edits_planned} edits before the measured ones, in no other figure): edit → served ${line(w.edit_to_served_ms)}; edit → every node ACKed ${line(w.edit_to_all_acked_ms)}; control CPU per edit ${num(w.control_cpu_ms_per_change)} ms${split}; after each ${num(w.after_change_cpu_ms_per_change)} ms`);
  }
  lines.push(`  edit → version listed by GET /v1/nodes:  ${line(r.edit_to_published_ms)}`);
  lines.push(`  edit → served by Portico's data plane:   ${line(r.edit_to_served_ms)}`);
  lines.push(`  edit → every node ACKed:                 ${line(r.edit_to_all_acked_ms)}`);
  lines.push(`  data-plane swap stall (worker event loop held by loading the bundle, per change): ${line(r.swap_stall_ms)}`);
  lines.push(`  edit → each node's ACK:                  ${line(r.edit_to_node_ack_ms)}`);
  const inProcess = Number.isNaN(r.worker_cpu_ms_per_change);
  lines.push(`  CPU per change: control process ${num(r.control_cpu_ms_per_change)} ms${inProcess ? ' (the data plane runs inside it: no worker process at --workers 1)' : `, data-plane workers ${num(r.worker_cpu_ms_per_change)} ms`}`);
  lines.push(`  of which this benchmark's own requests, estimated from their CPU measured idle: ${num(r.bench_load_cpu_ms_per_change)} ms (${num(r.listing_polls_per_change)} GET /v1/nodes polls per change at ${num(r.listing_poll_cpu_ms)} ms each; the API and traffic-port probes ${num(r.probes_cpu_ms_per_s)} ms per s)`);
  lines.push(`  CPU after each change, until the next (the /metrics scrapes and what the change left running, e.g. GC; not in the CPU per change): ${num(r.after_change_cpu_ms_per_change)} ms of Portico's processes`);
  if (r.thread_cpu_ms_per_change !== null) lines.push(`  control CPU per change by thread (${r.thread_cpu_source === 'schedstat' ? 'ns on a CPU, schedstat' : '10 ms ticks, stat'}), ms mean (p50): ${splitText(r.thread_cpu_ms_per_change)}`);
  if (r.thread_cpu_after_ms_per_change !== null) lines.push(`    after each change, by thread: ${splitText(r.thread_cpu_after_ms_per_change)}`);
  if (r.thread_split_unavailable !== undefined) lines.push(`  ${r.thread_split_unavailable}`);
  lines.push(`  bytes sent per node per change: ${kib(r.bytes_per_node_per_change)} (sync bodies as sent; ${Math.round(r.gzip_share * 100)}% gzip); sync errors: ${r.sync_errors}`);
  lines.push(`  control RSS: idle ${MiB(r.control_rss_idle_bytes)}, peak during changes ${Number.isNaN(r.control_rss_peak_during_changes_bytes) ? 'n/a' : MiB(r.control_rss_peak_during_changes_bytes)}, peak through start-up and first sync ${MiB(r.control_rss_peak_startup_bytes)}`);
  if (r.compile_paths !== null) lines.push(`  over the ${r.changes_done} measured changes, ${compilePathsText(r.compile_paths)}`);
  if (!inProcess) lines.push(`  bundle bytes the primary sent each worker per change: ${kib(r.worker_bundle_bytes_per_change)} (tables and texts, whole or as deltas)`);
  if (!inProcess) lines.push(`  data-plane workers' RSS (sum): idle ${MiB(r.worker_rss_idle_bytes)}, peak ${MiB(r.worker_rss_peak_bytes)}`);
  for (const [index, w] of r.worker_rss_each.entries()) lines.push(`    worker ${index + 1}: RSS idle ${MiB(w.idle_bytes)}, peak during changes ${Number.isNaN(w.peak_during_changes_bytes) ? 'n/a' : MiB(w.peak_during_changes_bytes)}, peak through start-up and first sync ${MiB(w.peak_startup_bytes)}`);
  lines.push(`  API responsiveness, GET /v1/nodes every 100 ms during changes: ${line(r.api_probe_ms)}; during the first sync: ${line(r.api_probe_first_sync_ms)}; failed probes: ${r.api_probe_failures}`);
  lines.push(`  control event loop, longest block per change: ${line(r.control_loop_block_ms)}; during the first sync: ${num(r.control_loop_block_first_sync_ms)} ms`);
  lines.push(`  traffic-port 404 every 20 ms (the data plane's stall as a request sees it${inProcess ? ', on the control process\'s event loop' : ''}): idle ${line(r.traffic_probe_idle_ms)}; during changes ${line(r.traffic_probe_during_changes_ms)}`);
  const gc = r.gc_during_changes;
  if (gc !== null) {
    lines.push(`  control GC during the changes (--trace-gc, main thread): ${gc.markCompacts} mark-compacts, pauses ${num(gc.markCompactPauseMs)} ms in all (longest ${num(gc.markCompactPauseMaxMs)} ms) + ${num(gc.incrementalMarkingMs)} ms of incremental marking (longest step ${num(gc.biggestStepMs)} ms); ${gc.scavenges} young-generation collections, ${num(gc.scavengePauseMs)} ms`);
    lines.push(`  edit → served, changes during which a mark-compact ended: ${line(r.edit_to_served_with_mark_compact_ms)}; the others: ${line(r.edit_to_served_without_mark_compact_ms)}`);
  }
  const reasons = r.gc_reasons;
  if (reasons !== null) {
    lines.push(`  V8 on the control main isolate (--gc-reasons), start-up: ${reasonsText(reasons.startup)}`);
    if (reasons.warmup !== null) lines.push(`    warm-up: ${reasonsText(reasons.warmup)}`);
    lines.push(`    measured changes (with the pauses after them): ${reasonsText(reasons.changes)}`);
    const young = reasons.scavenges_per_change;
    lines.push(`    scavenges per change: p50 ${num(young.count_p50)} (mean ${num(young.count_mean)}), pause p50 ${num(young.pause_ms_p50)} ms (mean ${num(young.pause_ms_mean)} ms)`);
  }
  const kinds = Object.entries(r.sync_error_kinds).slice(0, 3);
  if (kinds.length > 0) lines.push(`  failed node requests, most frequent first: ${kinds.map(([kind, n]) => `${n}× ${kind}`).join('; ')}`);
  if (r.incomplete !== undefined) lines.push(`  INCOMPLETE: ${r.incomplete}`);
  return lines;
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

/** One later run's figures as ratios to the first run's (`--json`'s `growth`). */
export type Growth = { from: number; to: number } & ReturnType<typeof growth>;

/** Each run after the first compared with the first; empty for a single run. */
export function growthsOf(results: readonly RunResult[]): Growth[] {
  return results.slice(1).map((r) => ({ from: results[0]!.ingresses, to: r.ingresses, ...growth(results[0]!, r) }));
}

/** The text report of `growths` (none for a single run). */
export function growthLines(growths: readonly Growth[]): string[] {
  if (growths.length === 0) return [];
  return [
    `how one change's cost grows with the number of Ingresses (ratio to ${growths[0]!.from}):`,
    ...growths.map((g) => `  ×${g.ingresses} Ingresses (${g.to}): edit→listed ×${g.edit_to_published_p50}, edit→all ACKed ×${g.edit_to_all_acked_p50}, control CPU ×${g.control_cpu_per_change}, bytes/node ×${g.bytes_per_node_per_change}, idle RSS ×${g.control_rss_idle}`),
  ];
}

/** `--json`'s document: when and on what it ran, every run, their growth, the total seconds. */
export function fleetJson(run: { date: string; commit: string; loadAverage: number[]; nodeOptions: string | undefined; nodeArgs: string | undefined; results: readonly RunResult[]; growths: readonly Growth[]; totalS: number }) {
  return { date: run.date, commit: run.commit, load_average: run.loadAverage, node_options: run.nodeOptions ?? null, node_args: run.nodeArgs ?? null, runs: run.results, growth: run.growths, total_s: run.totalS };
}
