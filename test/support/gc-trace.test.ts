import { describe, expect, it } from 'vitest';
import { gcReasons, GcTrace, parseMarkingStartLine, parseTraceGcLine, summarizeGc } from './gc-trace.ts';

// Lines as Node 24 prints them with --trace-gc (from a bench:fleet run at 10k Ingresses).
const SCAVENGE = '[14671:0x14dd8000]      186 ms: Scavenge 9.2 (10.1) -> 8.7 (11.1) MB, pooled: 0 MB, 0.91 / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; ';
const MARK_COMPACT =
  '[14671:0x14dd8000]    10834 ms: Mark-Compact 226.7 (312.2) -> 151.2 (294.7) MB, pooled: 0 MB, 63.64 / 0.25 ms  (+ 338.0 ms in 78 steps since start of marking, biggest step 50.1 ms, walltime since start of marking 539 ms) (average mu = 0.950, current mu = 0.940) finalize incremental marking via stack guard; GC in old space requested';
const WORKER_MARK_COMPACT = '[14671:0x7f932c001000]      177 ms: Mark-Compact 11.5 (16.1) -> 10.4 (20.1) MB, pooled: 0 MB, 3.42 / 0.00 ms  (+ 4.9 ms in 8 steps since start of marking, biggest step 4.6 ms, walltime since start of marking 19 ms) (average mu = 0.979, current mu = 0.979) finalize incremental marking via stack guard; GC in old space requested';
// --trace-incremental-marking: the isolate carries its id after a second colon.
const MARKING_START = '[14671:0x14dd8000:0]    10295 ms: [IncrementalMarking] Start (external memory pressure): (size/waste/limit/slack) v8: 150MB / 0MB / 300MB / 150MB global: 150MB / 0MB / 300MB / 150MB';
const WORKER_MARKING_START = '[14671:0x7f932c001000:1]      170 ms: [IncrementalMarking] Start (allocation failure): (size/waste/limit/slack) v8: 11MB / 0MB / 12MB / 1MB global: 11MB / 0MB / 12MB / 1MB';
const REDUCE = '[1:0x1]     5000 ms: Mark-Compact (reduce) 100.0 (120.0) -> 90.5 (110.0) MB, 12.50 / 0.00 ms  (average mu = 0.9, current mu = 0.9) memory reducer; GC in old space requested';

describe('--trace-gc lines', () => {
  it.each([
    { name: 'scavenge', line: SCAVENGE, event: { isolate: '0x14dd8000', at: 186, kind: 'scavenge', heapAfterMb: 8.7, pauseMs: 0.91, incrementalMs: 0, biggestStepMs: 0, reason: 'allocation failure' } },
    { name: 'mark-compact after incremental marking', line: MARK_COMPACT, event: { isolate: '0x14dd8000', at: 10834, kind: 'mark-compact', heapAfterMb: 151.2, pauseMs: 63.64, incrementalMs: 338, biggestStepMs: 50.1, reason: 'finalize incremental marking via stack guard' } },
    { name: 'mark-compact (reduce), no pooled figure, no incremental part', line: REDUCE, event: { isolate: '0x1', at: 5000, kind: 'mark-compact', heapAfterMb: 90.5, pauseMs: 12.5, incrementalMs: 0, biggestStepMs: 0, reason: 'memory reducer' } },
  ])('reads a $name', ({ line, event }) => {
    expect(parseTraceGcLine(line)).toEqual(event);
  });

  it('reads why an incremental marking started', () => {
    expect(parseMarkingStartLine(MARKING_START)).toEqual({ isolate: '0x14dd8000', at: 10295, reason: 'external memory pressure' });
  });

  // Hostile: lines cut short (V8 and a log line writing at once) and look-alikes.
  it('a collection whose line was cut before its reason counts with reason "unknown"', () => {
    expect(parseTraceGcLine(MARK_COMPACT.slice(0, MARK_COMPACT.indexOf('finalize') + 12))).toMatchObject({ kind: 'mark-compact', pauseMs: 63.64, reason: 'unknown' });
    expect(parseTraceGcLine(SCAVENGE.slice(0, 60))).toBeUndefined();
  });

  it.each([
    MARKING_START.slice(0, MARKING_START.indexOf('pressure')),
    '[14671:0x14dd8000:0]    10295 ms: [IncrementalMarking] Start marking',
    '[14671:0x14dd8000:0]    10295 ms: [IncrementalMarking] Start ((nested)): x',
    'x [14671:0x14dd8000:0] 1 ms: [IncrementalMarking] Start (task):',
    '[14671:0x14dd8000:0] ms: [IncrementalMarking] Start (task):',
  ])('ignores a marking line that is not a whole start: %j', (line) => {
    expect(parseMarkingStartLine(line)).toBeUndefined();
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

  it('counts a window by reason: the main isolate\'s mark-compacts and marking starts, most frequent first, and its scavenges', () => {
    const trace = new GcTrace();
    const second = MARK_COMPACT.replace('10834 ms', '10900 ms').replace('finalize incremental marking via stack guard', 'external memory pressure');
    const third = MARK_COMPACT.replace('10834 ms', '10950 ms');
    trace.push([SCAVENGE, WORKER_MARKING_START, MARKING_START, MARK_COMPACT, second, third, ''].join('\n'));
    expect(trace.markingStarts).toEqual([{ isolate: '0x14dd8000', at: 10295, reason: 'external memory pressure' }]);
    expect(gcReasons(trace, 0, 20_000)).toEqual({
      markCompacts: { 'finalize incremental marking via stack guard': 2, 'external memory pressure': 1 },
      markingStarts: { 'external memory pressure': 1 },
      scavenges: 1,
      scavengePauseMs: 0.91,
    });
    expect(Object.keys(gcReasons(trace, 0, 20_000).markCompacts)[0]).toBe('finalize incremental marking via stack guard');
    expect(gcReasons(trace, 10_850, 10_920)).toEqual({ markCompacts: { 'external memory pressure': 1 }, markingStarts: {}, scavenges: 0, scavengePauseMs: 0 });
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
