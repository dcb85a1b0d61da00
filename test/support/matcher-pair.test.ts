/**
 * bench:matcher-pair runs end to end: this tree compared with itself on a tiny table, one short
 * round. Both sides load the same format, so the tables are byte-identical, the two matchers
 * answer every request alike, and each figure and ratio is a positive finite number.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('bench:matcher-pair', () => {
  it('compares this tree with itself: equal bytes, no disagreement, finite ratios', () => {
    const run = spawnSync(process.execPath, [`${ROOT}bench/matcher-pair.ts`, '--base', ROOT, '--sizes', '60,300', '--rounds', '1', '--round-ms', '5', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as {
      head: { format: number };
      base: { format: number };
      loadAverage: { start: number[]; end: number[] };
      sizes: { routes: number; bytes: { base: number; head: number }; disagree: { found: number; picked: number }; rounds: unknown[]; match: Record<string, unknown>; matchPick: Record<string, unknown> }[];
    };
    expect(out.head.format).toBe(out.base.format);
    expect(out.loadAverage.start).toHaveLength(3);
    expect(out.sizes.map((s) => s.routes)).toEqual([expect.any(Number), expect.any(Number)]);
    for (const size of out.sizes) {
      expect(size.routes).toBeGreaterThanOrEqual(60);
      expect(size.bytes.head).toBe(size.bytes.base);
      expect(size.bytes.head).toBeGreaterThan(0);
      expect(size.disagree).toEqual({ found: 0, picked: 0 });
      expect(size.rounds).toHaveLength(1);
      for (const figure of [size.match, size.matchPick]) {
        const { base, head, ratio } = figure as { base: number; head: number; ratio: { median: number; min: number; max: number } };
        for (const value of [base, head, ratio.median, ratio.min, ratio.max]) {
          expect(Number.isFinite(value) && value > 0, JSON.stringify(figure)).toBe(true);
        }
        expect(ratio.median).toBeCloseTo(head / base, 10);
      }
    }
  });
});
