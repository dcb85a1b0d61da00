import { describe, expect, it } from 'vitest';
import { gcReasonsReport, groupMs, reasonsText, splitText, summarizeSplit, threadCpuSource } from './fleet-accounts.ts';
import type { GroupMs } from './fleet-accounts.ts';
import { GcTrace } from './gc-trace.ts';
import type { ThreadTicks } from './thread-cpu.ts';

const ms = (figures: Partial<GroupMs>): GroupMs => ({ main: 0, v8: 0, parser: 0, libuv: 0, workers: 0, other: 0, ...figures });

describe('per-thread split of a change', () => {
  it('turns two readings into ms per group (100 ticks per second); undefined when a reading is missing', () => {
    const before: ThreadTicks = new Map([[10, { group: 'main', ticks: 5 }]]);
    const after: ThreadTicks = new Map([
      [10, { group: 'main', ticks: 7 }],
      [11, { group: 'v8', ticks: 3 }],
    ]);
    expect(groupMs(before, after, 100)).toEqual(ms({ main: 20, v8: 30 }));
    expect(groupMs(undefined, after, 100)).toBeUndefined();
    expect(groupMs(before, undefined, 100)).toBeUndefined();
    expect(threadCpuSource(after)).toBe('stat');
  });

  it('uses the ns on a CPU when every thread of both readings has them, else the ticks', () => {
    const before: ThreadTicks = new Map([[10, { group: 'main', ticks: 5, runNs: 50_000_000 }]]);
    const after: ThreadTicks = new Map([
      [10, { group: 'main', ticks: 5, runNs: 53_500_000 }],
      [11, { group: 'v8', ticks: 1, runNs: 250_000 }],
    ]);
    expect(groupMs(before, after, 100)).toEqual(ms({ main: 3.5, v8: 0.25 }));
    expect(threadCpuSource(after)).toBe('schedstat');
    const oneWithout: ThreadTicks = new Map([...after, [12, { group: 'libuv', ticks: 1 }]]);
    expect(groupMs(before, oneWithout, 100)).toEqual(ms({ main: 0, v8: 10, libuv: 10 }));
    expect(threadCpuSource(oneWithout)).toBe('stat');
  });

  it('summarizes changes as the mean and median per group, and prints only the groups that used CPU', () => {
    const split = summarizeSplit([ms({ main: 10, v8: 30 }), ms({ main: 20, v8: 0 }), ms({ main: 20, v8: 0, parser: 10 })])!;
    expect(split.main).toEqual({ mean_ms: 50 / 3, p50_ms: 20 });
    expect(split.v8).toEqual({ mean_ms: 10, p50_ms: 0 });
    expect(split.libuv).toEqual({ mean_ms: 0, p50_ms: 0 });
    expect(splitText(split)).toBe('main thread 16.7 (p50 20.0), V8 helper threads (GC, JIT) 10.0 (p50 0.0), manifest parser thread 3.3 (p50 0.0)');
    expect(summarizeSplit([])).toBeNull();
    expect(splitText(summarizeSplit([ms({})])!)).toBe('no CPU in any thread');
  });
});

// The main isolate's lines at the given ms: a scavenge, a mark-compact and a marking start.
const scavenge = (at: number, pause: number) => `[1:0xa]  ${at} ms: Scavenge 9.2 (10.1) -> 8.7 (11.1) MB, pooled: 0 MB, ${pause} / 0.00 ms  (average mu = 1.000, current mu = 1.000) allocation failure; `;
const markCompact = (at: number, reason: string) => `[1:0xa]  ${at} ms: Mark-Compact 226.7 (312.2) -> 151.2 (294.7) MB, pooled: 0 MB, 63.64 / 0.25 ms  (average mu = 0.950, current mu = 0.940) ${reason}; GC in old space requested`;
const start = (at: number, reason: string) => `[1:0xa:0]  ${at} ms: [IncrementalMarking] Start (${reason}): (size/waste/limit/slack) v8: 1MB / 0MB / 2MB / 1MB`;

describe('--gc-reasons windows', () => {
  const trace = new GcTrace();
  trace.push(
    [
      scavenge(100, 1),
      start(500, 'external memory pressure'),
      markCompact(900, 'finalize incremental marking via stack guard'),
      // Warm-up edits at 1000 and 2000; measured edits at 3000 and 4000; the end at 5000.
      start(1000, 'allocation limit'),
      scavenge(2999, 2),
      scavenge(3000, 3),
      scavenge(3500, 4),
      scavenge(4000, 5),
      markCompact(4999, 'memory reducer'),
      scavenge(5001, 100),
      '',
    ].join('\n'),
  );

  it('splits start-up, warm-up and the measured changes at the edits (an event at an edit belongs to the later window)', () => {
    const report = gcReasonsReport(trace, [1000, 2000], [3000, 4000], 5000);
    expect(report.startup).toEqual({ markCompacts: { 'finalize incremental marking via stack guard': 1 }, markingStarts: { 'external memory pressure': 1 }, scavenges: 1, scavengePauseMs: 1 });
    expect(report.warmup).toEqual({ markCompacts: {}, markingStarts: { 'allocation limit': 1 }, scavenges: 1, scavengePauseMs: 2 });
    expect(report.changes).toEqual({ markCompacts: { 'memory reducer': 1 }, markingStarts: {}, scavenges: 3, scavengePauseMs: 12 });
    // Change 1: the scavenges at 3000 and 3500; change 2: the one at 4000 (5001 is after the end).
    expect(report.scavenges_per_change).toEqual({ count_mean: 1.5, count_p50: 1, pause_ms_mean: 6, pause_ms_p50: 5 });
    expect(reasonsText(report.changes)).toBe('1 mark-compacts (1× memory reducer); 0 incremental markings started (none); 3 scavenges, 12.0 ms');
  });

  it('without warm-up, start-up runs to the first measured edit', () => {
    const report = gcReasonsReport(trace, [], [3000], 5000);
    expect(report.warmup).toBeNull();
    expect(report.startup.scavenges).toBe(2);
    expect(report.startup.markingStarts).toEqual({ 'external memory pressure': 1, 'allocation limit': 1 });
  });
});
