import { describe, expect, it } from 'vitest';
import { sameJson } from './same-json.ts';

describe('sameJson', () => {
  it.each([
    { what: 'equal nested values', a: { x: [1, { y: 'z' }], n: null }, b: { x: [1, { y: 'z' }], n: null }, same: true },
    { what: 'key order counts (it does in the text and the hash)', a: { x: 1, y: 2 }, b: { y: 2, x: 1 }, same: false },
    { what: 'an array is not an object with index keys', a: { 0: 'a' }, b: ['a'], same: false },
    { what: 'arrays of different lengths', a: [1, 2], b: [1, 2, 3], same: false },
    { what: 'null against an empty object', a: null, b: {}, same: false },
    { what: 'a member more', a: { x: 1 }, b: { x: 1, y: undefined }, same: false },
    { what: 'numbers and their text', a: [1], b: ['1'], same: false },
  ])('$what: $same', ({ a, b, same }) => {
    expect(sameJson(a, b)).toBe(same);
    expect(sameJson(b, a)).toBe(same);
  });
});
