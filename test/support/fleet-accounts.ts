/**
 * bench:fleet's accounts of where a change's CPU goes: the Portico process's CPU per change split
 * by thread group (test/support/thread-cpu.ts), and with `--gc-reasons` why V8 collected and
 * started marking (test/support/gc-trace.ts), per window of the run.
 */
import { summarize } from './fleet.ts';
import { gcReasons } from './gc-trace.ts';
import type { GcReasons, GcTrace, ReasonCounts } from './gc-trace.ts';
import { runNsByGroup, THREAD_GROUP_LABELS, THREAD_GROUPS, ticksByGroup } from './thread-cpu.ts';
import type { ThreadGroup, ThreadTicks } from './thread-cpu.ts';

/** CPU ms per thread group in one window. */
export type GroupMs = Record<ThreadGroup, number>;

/** Per group over a run's changes: the mean per change (the groups' means add up to the process's CPU per change, less threads that ended) and the median, ms. */
export type ThreadSplit = Record<ThreadGroup, { readonly mean_ms: number; readonly p50_ms: number }>;

/**
 * The CPU ms each group used between two readings: from the threads' ns on a CPU where both
 * readings have them for every thread, else from their clock ticks; undefined when either reading is missing.
 */
export function groupMs(before: ThreadTicks | undefined, after: ThreadTicks | undefined, ticksPerSecond: number): GroupMs | undefined {
  if (before === undefined || after === undefined) return undefined;
  const ns = runNsByGroup(before, after);
  if (ns !== undefined) return Object.fromEntries(THREAD_GROUPS.map((group) => [group, ns[group] / 1e6])) as GroupMs;
  const ticks = ticksByGroup(before, after);
  return Object.fromEntries(THREAD_GROUPS.map((group) => [group, (ticks[group] * 1000) / ticksPerSecond])) as GroupMs;
}

/** Whether `groupMs` over readings like `reading` is in ns (schedstat) or 10 ms ticks (stat), for the output. */
export function threadCpuSource(reading: ThreadTicks): 'schedstat' | 'stat' {
  return [...reading.values()].every((thread) => thread.runNs !== undefined) ? 'schedstat' : 'stat';
}

/** Mean and median per group over `windows` (one per change); null when there are none. */
export function summarizeSplit(windows: readonly GroupMs[]): ThreadSplit | null {
  if (windows.length === 0) return null;
  const split = (group: ThreadGroup) => {
    const each = windows.map((window) => window[group]);
    return { mean_ms: each.reduce((a, b) => a + b, 0) / each.length, p50_ms: summarize(each).p50 };
  };
  return Object.fromEntries(THREAD_GROUPS.map((group) => [group, split(group)])) as ThreadSplit;
}

const fixed = (value: number) => (value >= 100 ? value.toFixed(0) : value.toFixed(1));

/** One line of a split: each group that used any CPU, its mean per change and (median); groups that used none are left out. */
export function splitText(split: ThreadSplit): string {
  const used = THREAD_GROUPS.filter((group) => split[group].mean_ms > 0);
  if (used.length === 0) return 'no CPU in any thread';
  return used.map((group) => `${THREAD_GROUP_LABELS[group]} ${fixed(split[group].mean_ms)} (p50 ${fixed(split[group].p50_ms)})`).join(', ');
}

/** What --gc-reasons reports for one run (windows in ms since Portico started). */
export interface GcReasonsReport {
  /** From the start to the first edit (warm-up or measured). */
  readonly startup: GcReasons;
  /** The warm-up edits, to the first measured edit; null without --warmup. */
  readonly warmup: GcReasons | null;
  /** From the first measured edit to the end of the last one's "after" window. */
  readonly changes: GcReasons;
  /** Young-generation collections per measured change (from its edit to the next edit): count and pause, mean and median. */
  readonly scavenges_per_change: { readonly count_mean: number; readonly count_p50: number; readonly pause_ms_mean: number; readonly pause_ms_p50: number };
}

/**
 * The trace's reasons by window. `edits` are the measured edits' times and `warmupEdits` the
 * warm-up's (ms since start, in order); `end` is when the measured changes ended.
 */
export function gcReasonsReport(trace: GcTrace, warmupEdits: readonly number[], edits: readonly number[], end: number): GcReasonsReport {
  const firstEdit = warmupEdits[0] ?? edits[0] ?? end;
  const measuredFrom = edits[0] ?? end;
  // Windows meet at an edit: a collection at that very ms belongs to the later window.
  const before = (at: number) => Math.max(0, at - 1e-6);
  const perChange = edits.map((at, index) => gcReasons(trace, at, before(edits[index + 1] ?? end + 1e-6)));
  const mean = (values: readonly number[]) => (values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length);
  const counts = perChange.map((window) => window.scavenges);
  const pauses = perChange.map((window) => window.scavengePauseMs);
  return {
    startup: gcReasons(trace, 0, before(firstEdit)),
    warmup: warmupEdits.length === 0 ? null : gcReasons(trace, firstEdit, before(measuredFrom)),
    changes: gcReasons(trace, measuredFrom, end),
    scavenges_per_change: { count_mean: mean(counts), count_p50: summarize(counts).p50, pause_ms_mean: mean(pauses), pause_ms_p50: summarize(pauses).p50 },
  };
}

const counted = (counts: ReasonCounts) => {
  const entries = Object.entries(counts);
  return entries.length === 0 ? 'none' : entries.map(([reason, n]) => `${n}× ${reason}`).join(', ');
};

/** One line for one window of --gc-reasons. */
export function reasonsText(window: GcReasons): string {
  const markCompacts = Object.values(window.markCompacts).reduce((a, b) => a + b, 0);
  const starts = Object.values(window.markingStarts).reduce((a, b) => a + b, 0);
  return `${markCompacts} mark-compacts (${counted(window.markCompacts)}); ${starts} incremental markings started (${counted(window.markingStarts)}); ${window.scavenges} scavenges, ${fixed(window.scavengePauseMs)} ms`;
}
