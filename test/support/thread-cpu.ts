/**
 * Where a process's CPU goes, thread by thread, from `/proc/<pid>/task/<tid>/stat` (Linux):
 * bench:fleet reads every thread of the Portico process at a change's start and end and sums the
 * difference by group — the main thread, V8's platform threads (concurrent marking, sweeping and
 * compaction, and the optimizing compilers' background jobs), the manifest parser thread, libuv's threadpool, other worker
 * threads, the rest. A thread's name is its `comm` (15 bytes at most; Node 24 names them
 * `MainThread`, `V8Worker`, `DelayedTaskSche`, `libuv-worker`, a Worker's `name` option or
 * `WorkerThread`). Stat's CPU time comes in clock ticks (10 ms), too coarse for one change's
 * share of a thread; `/proc/<pid>/task/<tid>/schedstat` has each thread's time on a CPU in ns
 * (kernels with scheduler statistics), and is used where every thread has it.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** The groups a thread's CPU is counted in, in the order they are printed. */
export const THREAD_GROUPS = ['main', 'v8', 'parser', 'libuv', 'workers', 'other'] as const;

/** One of `THREAD_GROUPS`. */
export type ThreadGroup = (typeof THREAD_GROUPS)[number];

/** What each group is, for the benchmark's output. */
export const THREAD_GROUP_LABELS: Readonly<Record<ThreadGroup, string>> = {
  main: 'main thread',
  v8: 'V8 helper threads (GC, JIT)',
  parser: 'manifest parser thread',
  libuv: 'libuv threadpool',
  workers: 'other worker threads',
  other: 'other threads',
};

/** One thread's name and CPU time (user + system, clock ticks) as its stat line says. */
export interface TaskStat {
  readonly comm: string;
  readonly ticks: number;
}

/**
 * The name and CPU ticks in a `/proc/.../stat` line, or undefined when the line is cut short or
 * garbled. The name sits between the first `(` and the last `)` and may itself hold spaces and
 * parentheses (a thread can name itself anything), so fields are counted after the last `)`.
 */
export function parseTaskStat(text: string): TaskStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open || text[close + 1] !== ' ') return undefined;
  // Fields from the state (field 3) on: utime is field 14 and stime field 15; the field after
  // stime must be there too, or a line cut inside stime would pass for a smaller number.
  const fields = text.slice(close + 2).split(' ');
  const [utime, stime] = [fields[11], fields[12]];
  if (utime === undefined || stime === undefined || fields[13] === undefined || !/^\d+$/.test(utime) || !/^\d+$/.test(stime)) return undefined;
  return { comm: text.slice(open + 1, close), ticks: Number(utime) + Number(stime) };
}

/** The group of a thread named `comm`; `isMain` is tid == pid (the main thread keeps its place whatever it is named). */
export function threadGroup(comm: string, isMain: boolean): ThreadGroup {
  if (isMain) return 'main';
  // V8's platform workers (`V8Worker` in Node 24, `V8 DefaultWorke` in older builds) and the
  // delayed-task thread that feeds them.
  if (comm === 'V8Worker' || comm.startsWith('V8 DefaultWorke') || comm === 'DelayedTaskSche') return 'v8';
  if (comm === 'manifest-parser') return 'parser';
  if (comm === 'libuv-worker') return 'libuv';
  if (comm === 'WorkerThread') return 'workers';
  return 'other';
}

/** The time on a CPU (ns) in a `/proc/.../schedstat` line (`run wait slices`), or undefined when it is not one. */
export function parseSchedstat(text: string): number | undefined {
  const match = /^(\d+) \d+ \d+\n?$/.exec(text);
  return match === null ? undefined : Number(match[1]);
}

/** Every thread of a process at one moment: tid -> its group, CPU ticks and (where the kernel keeps it) ns on a CPU. */
export type ThreadTicks = ReadonlyMap<number, { readonly group: ThreadGroup; readonly ticks: number; readonly runNs?: number }>;

/**
 * Every thread of `pid` with its group and CPU ticks; undefined when `/proc/<pid>/task` cannot be
 * read (not Linux, or the process is gone). A thread that ends while listed is left out.
 */
export function readThreadTicks(pid: number): ThreadTicks | undefined {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  const threads = new Map<number, { group: ThreadGroup; ticks: number; runNs?: number }>();
  for (const tid of tids) {
    let stat: TaskStat | undefined;
    try {
      stat = parseTaskStat(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1'));
    } catch {
      continue;
    }
    if (stat === undefined) continue;
    let runNs: number | undefined;
    try {
      runNs = parseSchedstat(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'latin1'));
    } catch {
      // No scheduler statistics in this kernel: ticks only.
    }
    threads.set(Number(tid), { group: threadGroup(stat.comm, Number(tid) === pid), ticks: stat.ticks, ...(runNs === undefined ? {} : { runNs }) });
  }
  return threads;
}

/** Ticks per group, every group present (0 when none). */
export type GroupTicks = Record<ThreadGroup, number>;

/**
 * The CPU ticks each group used between two readings. A thread born in between counts from 0; a
 * thread that ended in between is lost (its ticks are in the process's total, not here).
 */
export function ticksByGroup(before: ThreadTicks, after: ThreadTicks): GroupTicks {
  const groups = Object.fromEntries(THREAD_GROUPS.map((group) => [group, 0])) as GroupTicks;
  for (const [tid, thread] of after) groups[thread.group] += thread.ticks - (before.get(tid)?.ticks ?? 0);
  return groups;
}

/**
 * The ns on a CPU each group used between two readings, or undefined unless every thread of both
 * has it. Born and ended threads count as in `ticksByGroup`.
 */
export function runNsByGroup(before: ThreadTicks, after: ThreadTicks): GroupTicks | undefined {
  const groups = Object.fromEntries(THREAD_GROUPS.map((group) => [group, 0])) as GroupTicks;
  for (const [tid, thread] of after) {
    const was = before.get(tid);
    if (thread.runNs === undefined || (was !== undefined && was.runNs === undefined)) return undefined;
    groups[thread.group] += thread.runNs - (was?.runNs ?? 0);
  }
  return groups;
}
