import { describe, expect, it } from 'vitest';
import type { MetricFamily } from './metric-families.ts';
import { mergeWorkers, renderPrometheus } from './metric-families.ts';

const family = (merge: MetricFamily['merge'], value: number, labels: Record<string, string> = {}): MetricFamily[] => [{ name: 'portico_x', help: 'X.', type: merge === 'sum' ? 'counter' : 'gauge', merge, samples: [{ suffix: '', labels, value }] }];

describe('mergeWorkers', () => {
  it('sums `sum` families sample by sample', () => {
    const merged = mergeWorkers([
      { worker: '1', families: family('sum', 2, { route: 'a' }) },
      { worker: '2', families: family('sum', 3, { route: 'a' }) },
      { worker: '3', families: family('sum', 5, { route: 'b' }) },
    ]);
    expect(merged[0]!.samples).toEqual([{ suffix: '', labels: { route: 'a' }, value: 5 }, { suffix: '', labels: { route: 'b' }, value: 5 }]);
  });

  it('keeps `per-worker` families apart under a worker label', () => {
    const merged = mergeWorkers([{ worker: '1', families: family('per-worker', 1, { version: 'v' }) }, { worker: '2', families: family('per-worker', 1, { version: 'v' }) }]);
    expect(merged[0]!.samples).toEqual([{ suffix: '', labels: { version: 'v', worker: '1' }, value: 1 }, { suffix: '', labels: { version: 'v', worker: '2' }, value: 1 }]);
  });

  it('sums only samples with the same labels, however the values read when written one after another', () => {
    // Without each value's length in the key, {a: 'x,b=y'} and {a: 'x', b: 'y'} (or a value holding the separators) would be one series.
    const one = (labels: Record<string, string>): MetricFamily => ({ name: 'portico_x', help: 'X.', type: 'counter', merge: 'sum', samples: [{ suffix: '', labels, value: 1 }] });
    const sets: Record<string, string>[] = [{ a: 'x,b=y' }, { a: 'x', b: 'y' }, { a: 'x,b=1:y,' }, { a: 'x', b: '1:y' }, { a: '3:x,b=1:y' }, { a: '' }, {}];
    const merged = mergeWorkers([{ worker: '1', families: sets.map(one) }, { worker: '2', families: sets.map(one) }]);
    expect(merged[0]!.samples).toEqual(sets.map((labels) => ({ suffix: '', labels, value: 2 })));
  });
});

describe('renderPrometheus', () => {
  it('writes HELP, TYPE and escaped label values', () => {
    expect(renderPrometheus(family('sum', 1, { route: 'a"b\\c\nd' }))).toBe('# HELP portico_x X.\n# TYPE portico_x counter\nportico_x{route="a\\"b\\\\c\\nd"} 1\n');
  });

  it('escapes a value holding only one of the characters to escape, and writes several labels in order', () => {
    const samples = ['\\', '\n', '"', 'plain', ''].map((value, i) => ({ suffix: '' as const, labels: { route: value, n: String(i) }, value: i }));
    expect(renderPrometheus([{ name: 'portico_x', help: 'X.', type: 'gauge', merge: 'sum', samples }, { name: 'portico_y', help: 'Y.', type: 'gauge', merge: 'sum', samples: [{ suffix: '', labels: {}, value: 1 }] }])).toBe(
      ['# HELP portico_x X.', '# TYPE portico_x gauge', 'portico_x{route="\\\\",n="0"} 0', 'portico_x{route="\\n",n="1"} 1', 'portico_x{route="\\"",n="2"} 2', 'portico_x{route="plain",n="3"} 3', 'portico_x{route="",n="4"} 4', '# HELP portico_y Y.', '# TYPE portico_y gauge', 'portico_y 1', ''].join('\n'),
    );
  });
});
