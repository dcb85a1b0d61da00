import { describe, expect, it } from 'vitest';
import { GcTrace, parseTraceGcLine, summarizeGc } from './gc-trace.ts';

// Lines as Node 24 prints them with --trace-gc (from a bench:fleet run at 10k Ingresses).
const SCAVENGE = '[14671:0x14dd8000]      186 ms: Scavenge 9.2 (10.1) -> 8.7 (11.1) MB, pooled: 0 MB, 0.91 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ';
const MARK_COMPACT =
  '[14671:0x14dd8000]    10834 ms: Mark-Compact 226.7 (312.2) -> 151.2 (294.7) MB, pooled: 0 MB, 63.64 / 0.25 ms  (+ 338.0 ms in 78 steps since start of marking, biggest step 50.1 ms, walltime since start of marking 539 ms) (average mu = 0.950, current mu = 0.940) finalize incremental marking via stack guard; GC in old space requested';
const WORKER_MARK_COMPACT = '[14671:0x7f932c001000]      177 ms: Mark-Compact 11.5 (16.1) -> 10.4 (20.1) MB, pooled: 0 MB, 3.42 / 0.00 ms  (+ 4.9 ms in 8 steps since start of marking, biggest step 4.6 ms, walltime since start of marking 19 ms) (average mu = 0.979, current mu = 0.979) finalize incremental marking via stack guard; GC in old space requested';
const REDUCE = '[1:0x1]     5000 ms: Mark-Compact (reduce) 100.0 (120.0) -> 90.5 (110.0) MB, 12.50 / 0.00 ms  (average mu = 0.9, current mu = 0.9) memory reducer; GC in old space requested';

describe('--trace-gc lines', () => {
  it.each([
    { name: 'scavenge', line: SCAVENGE, event: { isolate: '0x14dd8000', at: 186, kind: 'scavenge', heapAfterMb: 8.7, pauseMs: 0.91, incrementalMs: 0, biggestStepMs: 0 } },
    { name: 'mark-compact after incremental marking', line: MARK_COMPACT, event: { isolate: '0x14dd8000', at: 10834, kind: 'mark-compact', heapAfterMb: 151.2, pauseMs: 63.64, incrementalMs: 338, biggestStepMs: 50.1 } },
    { name: 'mark-compact (reduce), no pooled figure, no incremental part', line: REDUCE, event: { isolate: '0x1', at: 5000, kind: 'mark-compact', heapAfterMb: 90.5, pauseMs: 12.5, incrementalMs: 0, biggestStepMs: 0 } },
  ])('reads a $name', ({ line, event }) => {
    expect(parseTraceGcLine(line)).toEqual(event);
  });

  it.each(['{"level":30,"msg":"serving snapshot"}', '', '[14671:0x14dd8000] 186 ms: Scavenge (garbled)', 'Mark-Compact 1 (2) -> 3 (4) MB, 5 / 6 ms'])('ignores any other line: %j', (line) => {
    expect(parseTraceGcLine(line)).toBeUndefined();
  });

  it('keeps the main isolate (the first to report) and joins lines split across chunks', () => {
    const trace = new GcTrace();
    const output = `${SCAVENGE}\n{"msg":"log line"}\n${WORKER_MARK_COMPACT}\n${MARK_COMPACT}\n`;
    for (let i = 0; i < output.length; i += 37) trace.push(output.slice(i, i + 37));
    expect(trace.events.map((event) => [event.kind, event.at])).toEqual([
      ['scavenge', 186],
      ['mark-compact', 10834],
    ]);
  });

  it('sums a window: pauses by kind, incremental marking, the longest pause and step; NaN maxima when none', () => {
    const events = [parseTraceGcLine(SCAVENGE)!, parseTraceGcLine(REDUCE)!, parseTraceGcLine(MARK_COMPACT)!];
    expect(summarizeGc(events, 0, 20_000)).toEqual({ scavenges: 1, scavengePauseMs: 0.91, markCompacts: 2, markCompactPauseMs: 76.14, markCompactPauseMaxMs: 63.64, incrementalMarkingMs: 338, biggestStepMs: 50.1 });
    expect(summarizeGc(events, 1000, 6000)).toMatchObject({ scavenges: 0, markCompacts: 1, markCompactPauseMs: 12.5 });
    const none = summarizeGc(events, 20_001, 30_000);
    expect(none.markCompacts).toBe(0);
    expect(none.markCompactPauseMaxMs).toBeNaN();
  });
});
