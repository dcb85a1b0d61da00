// The changed set ids a table patch re-packs: as recorded link by link, never found by comparing every set.
import { expect, it } from 'vitest';
import { changedSetIds, recordSetsMadeFrom } from './set-changes.ts';

it('follows the recorded links from a list back to an older one, each id once, ascending; undefined past them', () => {
  const a = [[0], [1], [2], [3]];
  const b = a.with(2, [4]);
  recordSetsMadeFrom(b, a, [2]);
  const c = [...b.with(0, [5]), [6]];
  recordSetsMadeFrom(c, b, [0]);
  expect(changedSetIds(c, c)).toEqual([]);
  expect(changedSetIds(b, a)).toEqual([2]);
  // The set added (past the shorter list) counts as changed, as recorded or not.
  expect(changedSetIds(c, a)).toEqual([0, 2, 4]);
  // Not linked: the caller compares.
  expect(changedSetIds(a, c)).toBeUndefined();
  expect(changedSetIds([[0]], a)).toBeUndefined();
});

it('gives up after a bounded number of links', () => {
  let list: (readonly number[])[] = [[0]];
  const first = list;
  for (let i = 1; i <= 9; i++) {
    const next = [[i]];
    recordSetsMadeFrom(next, list, [0]);
    list = next;
  }
  expect(changedSetIds(list, first)).toBeUndefined();
  expect(changedSetIds(list, list)).toEqual([]);
});
