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

  it('marks --down endpoints down in both (still no disagreement), or --base-down in the base alone (not compared)', () => {
    const pair = (args: readonly string[]): { down: { head: number; base: number }; sizes: { disagree?: unknown; endpointsDown: { head: number; base: number }; matchPick: { head: number; base: number } }[] } => {
      const run = spawnSync(process.execPath, [`${ROOT}bench/matcher-pair.ts`, '--base', ROOT, '--sizes', '300', '--rounds', '1', '--round-ms', '5', '--json', ...args], { encoding: 'utf8', timeout: 60_000 });
      expect(run.stderr).toBe('');
      expect(run.status).toBe(0);
      return JSON.parse(run.stdout) as ReturnType<typeof pair>;
    };
    const both = pair(['--down', '40']);
    expect(both.down).toEqual({ head: 40, base: 40 });
    expect(both.sizes[0]!.endpointsDown).toEqual({ head: 40, base: 40 });
    expect(both.sizes[0]!.disagree).toEqual({ found: 0, picked: 0 });
    const baseOnly = pair(['--base-down', '40']);
    expect(baseOnly.down).toEqual({ head: 0, base: 40 });
    expect(baseOnly.sizes[0]!.endpointsDown).toEqual({ head: 0, base: 40 });
    expect(baseOnly.sizes[0]).not.toHaveProperty('disagree');
    expect(baseOnly.sizes[0]!.matchPick.head).toBeGreaterThan(0);
  });
});
