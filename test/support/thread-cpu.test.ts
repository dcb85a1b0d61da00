import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { parseSchedstat, parseTaskStat, readThreadTicks, runNsByGroup, threadGroup, ticksByGroup } from './thread-cpu.ts';
import type { ThreadTicks } from './thread-cpu.ts';

// A thread's stat line as Linux 6 writes it (utime 1234, stime 56 at fields 14 and 15).
const stat = (comm: string, utime = '1234', stime = '56') => `4242 (${comm}) S 1 4242 4242 0 -1 4194368 2109 0 0 0 ${utime} ${stime} 0 0 20 0 11 0 123456 1257472000 31000 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 -1 1 0 0 0 0 0`;

describe('/proc task stat lines', () => {
  it.each([
    { name: 'a plain name', comm: 'V8Worker' },
    { name: 'a name with spaces', comm: 'V8 DefaultWorke' },
    { name: 'a name with parentheses and spaces', comm: ') S 1 2 (x) 9' },
    { name: 'an empty name', comm: '' },
  ])('reads $name and the ticks after it', ({ comm }) => {
    expect(parseTaskStat(stat(comm))).toEqual({ comm, ticks: 1290 });
  });

  it.each([
    { name: 'empty', text: '' },
    { name: 'cut inside the name', text: '4242 (V8Wor' },
    { name: 'cut before utime', text: stat('V8Worker').split(' 1234 ')[0]! },
    { name: 'cut after utime', text: `${stat('V8Worker').split(' 56 ')[0]!} ` },
    { name: 'cut inside stime', text: `${stat('V8Worker').split(' 56 ')[0]!} 5` },
    { name: 'cut right after stime', text: `${stat('V8Worker').split(' 56 ')[0]!} 56` },
    { name: 'no space after the name', text: stat('V8Worker').replace(') S', ')S') },
    { name: 'non-numeric utime', text: stat('V8Worker', '12x4') },
    { name: 'negative stime', text: stat('V8Worker', '1', '-5') },
  ])('refuses a line $name', ({ text }) => {
    expect(parseTaskStat(text)).toBeUndefined();
  });
});

describe('/proc task schedstat lines', () => {
  it('reads the ns on a CPU', () => {
    expect(parseSchedstat('62288979 146536598 47\n')).toBe(62_288_979);
  });

  it.each(['', '62288979', '62288979 146536598', '6228x979 1 2\n', '1 2 3 4\n', '-1 2 3\n'])('refuses %j', (text) => {
    expect(parseSchedstat(text)).toBeUndefined();
  });
});

describe('thread groups', () => {
  it.each([
    { comm: 'MainThread', isMain: true, group: 'main' },
    { comm: 'renamed', isMain: true, group: 'main' },
    { comm: 'MainThread', isMain: false, group: 'other' },
    { comm: 'V8Worker', isMain: false, group: 'v8' },
    { comm: 'V8 DefaultWorke', isMain: false, group: 'v8' },
    { comm: 'DelayedTaskSche', isMain: false, group: 'v8' },
    { comm: 'manifest-parser', isMain: false, group: 'parser' },
    { comm: 'libuv-worker', isMain: false, group: 'libuv' },
    { comm: 'WorkerThread', isMain: false, group: 'workers' },
    { comm: 'SignalInspector', isMain: false, group: 'other' },
    { comm: 'V8Worker2', isMain: false, group: 'other' },
  ])('$comm (main: $isMain) counts as $group', ({ comm, isMain, group }) => {
    expect(threadGroup(comm, isMain)).toBe(group);
  });

  it('sums each group between two readings; a thread born in between counts from 0', () => {
    const before: ThreadTicks = new Map([
      [1, { group: 'main', ticks: 100 }],
      [2, { group: 'v8', ticks: 40 }],
      [3, { group: 'v8', ticks: 7 }],
    ]);
    const after: ThreadTicks = new Map([
      [1, { group: 'main', ticks: 130 }],
      [2, { group: 'v8', ticks: 45 }],
      [3, { group: 'v8', ticks: 9 }],
      [9, { group: 'parser', ticks: 4 }],
    ]);
    expect(ticksByGroup(before, after)).toEqual({ main: 30, v8: 7, parser: 4, libuv: 0, workers: 0, other: 0 });
    expect(runNsByGroup(before, after)).toBeUndefined();
  });

  it('sums ns on a CPU by group only when every thread of both readings has them', () => {
    const before: ThreadTicks = new Map([[1, { group: 'main', ticks: 1, runNs: 1_000 }]]);
    const after: ThreadTicks = new Map([
      [1, { group: 'main', ticks: 1, runNs: 4_000 }],
      [2, { group: 'v8', ticks: 0, runNs: 500 }],
    ]);
    expect(runNsByGroup(before, after)).toEqual({ main: 3_000, v8: 500, parser: 0, libuv: 0, workers: 0, other: 0 });
    expect(runNsByGroup(new Map([[1, { group: 'main', ticks: 1 }]]), after)).toBeUndefined();
  });
});

describe.runIf(process.platform === 'linux')('reading a live process', () => {
  it('finds its main thread and a named worker thread in their groups; undefined for a process that is gone', async () => {
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true, name: 'manifest-parser' });
    try {
      await new Promise((resolve) => worker.once('online', resolve));
      const threads = readThreadTicks(process.pid)!;
      expect(threads.get(process.pid)?.group).toBe('main');
      expect(threads.get(process.pid)?.runNs).toBeGreaterThan(0);
      expect([...threads.values()].filter((thread) => thread.group === 'parser')).toHaveLength(1);
    } finally {
      await worker.terminate();
    }
    expect(readThreadTicks(2 ** 30)).toBeUndefined();
  });
});
