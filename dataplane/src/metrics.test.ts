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
});

describe('renderPrometheus', () => {
  it('writes HELP, TYPE and escaped label values', () => {
    expect(renderPrometheus(family('sum', 1, { route: 'a"b\\c\nd' }))).toBe('# HELP portico_x X.\n# TYPE portico_x counter\nportico_x{route="a\\"b\\\\c\\nd"} 1\n');
  });
});
