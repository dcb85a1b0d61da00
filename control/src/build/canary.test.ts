import { describe, expect, it } from 'vitest';
import { canaryWeights } from './canary.ts';

describe('canaryWeights', () => {
  it.each([
    { name: 'one canary at 50 of 100', main: [100], rules: [[50, 100]], want: [1, 1] },
    { name: 'weight 0: the main only', main: [100], rules: [[0, 100]], want: [1, 0] },
    { name: 'weight = total: the canary only', main: [100], rules: [[1000, 1000]], want: [0, 1] },
    { name: '100 of 200', main: [100], rules: [[100, 200]], want: [1, 1] },
    { name: 'two canaries take their shares oldest first', main: [100], rules: [[20, 100], [30, 100]], want: [5, 2, 3] },
    { name: 'shares past the whole are cut, oldest first', main: [100], rules: [[70, 100], [50, 100]], want: [0, 7, 3] },
    { name: 'different totals use their common multiple', main: [100], rules: [[1, 300], [1, 200]], want: [595, 2, 3] },
    { name: 'the main backends keep their own proportions', main: [2, 1], rules: [[50, 100]], want: [2, 1, 3] },
    { name: 'huge coprime totals round to a million', main: [100], rules: [[1, 999_983], [1, 999_979]], want: [999_998, 1, 1] },
  ])('$name', ({ main, rules, want }) => {
    expect(canaryWeights(main, rules.map(([weight, weightTotal]) => ({ weight: weight as number, weightTotal: weightTotal as number })))).toEqual(want);
  });
});
