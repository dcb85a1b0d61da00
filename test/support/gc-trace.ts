/**
 * Node's `--trace-gc` lines, read by bench:fleet to set each change beside the garbage
 * collections of the Portico process (one line per collection, printed by V8 when it ends):
 *
 *   [pid:0x14dd8000]    10834 ms: Mark-Compact 226.7 (312.2) -> 151.2 (294.7) MB, pooled: 0 MB,
 *     63.64 / 0.25 ms  (+ 338.0 ms in 78 steps since start of marking, biggest step 50.1 ms, ...)
 *
 * The first figure is the main-thread pause; the `(+ N ms in S steps ...)` part is incremental
 * marking the main thread did before it, between tasks, since marking started. The line ends with
 * why the collection ran (`finalize incremental marking via stack guard`, `allocation failure`, …),
 * then `;` and the collector's own reason. With `--trace-incremental-marking`, V8 also says why
 * each incremental marking started:
 *
 *   [pid:0x14dd8000:0]    10295 ms: [IncrementalMarking] Start (external memory pressure): (size/...
 */

/** One collection: `at` is ms since the isolate started (the end of the pause). */
export interface GcEvent {
  readonly isolate: string;
  readonly at: number;
  readonly kind: 'scavenge' | 'mark-compact' | 'minor-mark-sweep';
  /** The atomic pause, ms. */
  readonly pauseMs: number;
  /** Incremental marking done on the main thread before the pause, ms (0 for scavenges). */
  readonly incrementalMs: number;
  /** The longest single incremental marking step, ms. */
  readonly biggestStepMs: number;
  /** Heap after the collection, MB. */
  readonly heapAfterMb: number;
  /** Why it ran, as V8 says (e.g. `allocation failure`); `unknown` when the line was cut before it. */
  readonly reason: string;
}

/** An incremental marking's start (`--trace-incremental-marking`): `at` is ms since the isolate started. */
export interface MarkingStart {
  readonly isolate: string;
  readonly at: number;
  readonly reason: string;
}

const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: (Scavenge|Mark-Compact(?: \(reduce\))?|Minor Mark-Sweep) [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps since start of marking, biggest step ([\d.]+) ms)?(?:.*?\(average mu = [\d.]+, current mu = [\d.]+\) ([^;]+);)?/;
const MARKING_START = /^\[\d+:(0x[0-9a-f]+)(?::\d+)?\]\s+(\d+) ms: \[IncrementalMarking\] Start \(([^()]+)\)/;

/** The collection a `--trace-gc` line reports, or undefined for any other line. */
export function parseTraceGcLine(line: string): GcEvent | undefined {
  const match = LINE.exec(line);
  if (match === null) return undefined;
  const kind = match[3]!.startsWith('Scavenge') ? 'scavenge' : match[3]!.startsWith('Minor') ? 'minor-mark-sweep' : 'mark-compact';
  return { isolate: match[1]!, at: Number(match[2]), kind, heapAfterMb: Number(match[4]), pauseMs: Number(match[5]), incrementalMs: Number(match[6] ?? 0), biggestStepMs: Number(match[7] ?? 0), reason: match[8]?.trim() || 'unknown' };
}

/** The incremental marking start a `--trace-incremental-marking` line reports, or undefined for any other line. */
export function parseMarkingStartLine(line: string): MarkingStart | undefined {
  const match = MARKING_START.exec(line);
  return match === null ? undefined : { isolate: match[1]!, at: Number(match[2]), reason: match[3]! };
}

/** The collections of one window, by kind (ms totals; NaN maxima when there were none). */
export interface GcSummary {
  readonly scavenges: number;
  readonly scavengePauseMs: number;
  readonly markCompacts: number;
  readonly markCompactPauseMs: number;
  readonly markCompactPauseMaxMs: number;
  readonly incrementalMarkingMs: number;
  readonly biggestStepMs: number;
}

/**
 * What the main thread spent in collections that ended in [from, to] (ms since the isolate
 * started): young-generation pauses, mark-compact pauses and the incremental marking before them.
 */
export function summarizeGc(events: readonly GcEvent[], from: number, to: number): GcSummary {
  const inWindow = events.filter((event) => event.at >= from && event.at <= to);
  const young = inWindow.filter((event) => event.kind !== 'mark-compact');
  const major = inWindow.filter((event) => event.kind === 'mark-compact');
  const total = (list: readonly GcEvent[], figure: (event: GcEvent) => number) => list.reduce((sum, event) => sum + figure(event), 0);
  return {
    scavenges: young.length,
    scavengePauseMs: total(young, (event) => event.pauseMs),
    markCompacts: major.length,
    markCompactPauseMs: total(major, (event) => event.pauseMs),
    markCompactPauseMaxMs: major.length === 0 ? Number.NaN : Math.max(...major.map((event) => event.pauseMs)),
    incrementalMarkingMs: total(major, (event) => event.incrementalMs),
    biggestStepMs: major.length === 0 ? Number.NaN : Math.max(...major.map((event) => event.biggestStepMs)),
  };
}

/** Counts by reason, most frequent first (then by name). */
export type ReasonCounts = Readonly<Record<string, number>>;

/** One window of the trace by reason: mark-compacts and incremental marking starts, and the young-generation collections. */
export interface GcReasons {
  readonly markCompacts: ReasonCounts;
  readonly markingStarts: ReasonCounts;
  readonly scavenges: number;
  readonly scavengePauseMs: number;
}

function countReasons(reasons: readonly string[]): ReasonCounts {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return Object.fromEntries([...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)));
}

/** Why the collections that ended, and the incremental markings that started, in [from, to] (ms since the isolate started) ran. */
export function gcReasons(trace: { readonly events: readonly GcEvent[]; readonly markingStarts: readonly MarkingStart[] }, from: number, to: number): GcReasons {
  const inWindow = <T extends { readonly at: number }>(list: readonly T[]) => list.filter((item) => item.at >= from && item.at <= to);
  const events = inWindow(trace.events);
  const young = events.filter((event) => event.kind !== 'mark-compact');
  return {
    markCompacts: countReasons(events.filter((event) => event.kind === 'mark-compact').map((event) => event.reason)),
    markingStarts: countReasons(inWindow(trace.markingStarts).map((start) => start.reason)),
    scavenges: young.length,
    scavengePauseMs: young.reduce((sum, event) => sum + event.pauseMs, 0),
  };
}

/**
 * Collects the main isolate's `--trace-gc` (and `--trace-incremental-marking` starts) lines from
 * a process's output, chunk by chunk (a line may be split across chunks). The main isolate is the
 * first to report: worker threads (the manifest parser) start later and are left out.
 */
export class GcTrace {
  readonly events: GcEvent[] = [];
  readonly markingStarts: MarkingStart[] = [];
  private partial = '';
  private main: string | undefined;

  /** Feeds one chunk of output. */
  push(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const event = parseTraceGcLine(line);
      const start = event === undefined ? parseMarkingStartLine(line) : undefined;
      const isolate = event?.isolate ?? start?.isolate;
      if (isolate === undefined) continue;
      this.main ??= isolate;
      if (isolate !== this.main) continue;
      if (event !== undefined) this.events.push(event);
      if (start !== undefined) this.markingStarts.push(start);
    }
  }
}
