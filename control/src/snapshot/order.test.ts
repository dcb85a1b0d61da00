import { describe, expect, it } from 'vitest';
import { concatenated } from './order.ts';

describe('concatenated', () => {
  it('joins the pieces in order, empty ones included', () => {
    const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    expect(concatenated([[a, b], [], [c]])).toEqual([a, b, c]);
    expect(concatenated<object>([])).toEqual([]);
    // Past the spread bound too.
    const many = Array.from({ length: 10_000 }, (_, i) => (i % 2 === 0 ? [] : [{ n: i }]));
    expect(concatenated(many).map((item) => item.n)).toEqual(many.flat().map((item) => item.n));
  });

  it('joins 300,000 pieces (hostile: a delta that changes every item of a large list; a spread of that many arguments overflows the stack)', () => {
    const pieces = Array.from({ length: 300_000 }, (_, i) => [{ i }]);
    const joined = concatenated(pieces);
    expect(joined).toHaveLength(300_000);
    expect(joined[299_999]).toBe(pieces[299_999]![0]);
  });
});
