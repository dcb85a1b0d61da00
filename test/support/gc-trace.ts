/**
 * Node's `--trace-gc` lines, read by bench:fleet to set each change beside the garbage
 * collections of the Portico process (one line per collection, printed by V8 when it ends):
 *
 *   [pid:0x14dd8000]    10834 ms: Mark-Compact 226.7 (312.2) -> 151.2 (294.7) MB, pooled: 0 MB,
 *     63.64 / 0.25 ms  (+ 338.0 ms in 78 steps since start of marking, biggest step 50.1 ms, ...)
 *
 * The first figure is the main-thread pause; the `(+ N ms in S steps ...)` part is incremental
 * marking the main thread did before it, between tasks, since marking started.
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
}

const LINE = /^\[\d+:(0x[0-9a-f]+)\]\s+(\d+) ms: (Scavenge|Mark-Compact(?: \(reduce\))?|Minor Mark-Sweep) [\d.]+ \([\d.]+\) -> ([\d.]+) \([\d.]+\) MB,(?: pooled: [\d.]+ MB,)? ([\d.]+) \/ [\d.]+ ms(?:\s+\(\+ ([\d.]+) ms in \d+ steps since start of marking, biggest step ([\d.]+) ms)?/;

/** The collection a `--trace-gc` line reports, or undefined for any other line. */
export function parseTraceGcLine(line: string): GcEvent | undefined {
  const match = LINE.exec(line);
  if (match === null) return undefined;
  const kind = match[3]!.startsWith('Scavenge') ? 'scavenge' : match[3]!.startsWith('Minor') ? 'minor-mark-sweep' : 'mark-compact';
  return { isolate: match[1]!, at: Number(match[2]), kind, heapAfterMb: Number(match[4]), pauseMs: Number(match[5]), incrementalMs: Number(match[6] ?? 0), biggestStepMs: Number(match[7] ?? 0) };
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

/**
 * Collects the main isolate's `--trace-gc` lines from a process's output, chunk by chunk (a
 * line may be split across chunks). The main isolate is the first to report: worker threads
 * (the manifest parser) start later and are left out.
 */
export class GcTrace {
  readonly events: GcEvent[] = [];
  private partial = '';
  private main: string | undefined;

  /** Feeds one chunk of output. */
  push(chunk: string): void {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop()!;
    for (const line of lines) {
      const event = parseTraceGcLine(line);
      if (event === undefined) continue;
      this.main ??= event.isolate;
      if (event.isolate === this.main) this.events.push(event);
    }
  }
}
