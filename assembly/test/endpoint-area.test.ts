// The endpoint area (table format 6): route records hold set ids, so their bytes follow their
// backends alone, never the endpoints behind them; a table whose endpoint sets are damaged is
// refused at load, naming the field and the set; a set id past the count reads as an empty set.
import { describe, expect, it } from 'vitest';
import { encodeTable } from '../src/host/encode.ts';
import { BackendRecord, Endpoint, Header, RouteRecord, SetRecord } from '../src/host/layout.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';

const TABLE: MatcherTable = {
  hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }],
  routes: [{ backends: [{ weight: 1, set: 0 }, { weight: 1, set: 1 }] }, { backends: [{ weight: 1, set: 1 }] }],
  sets: [[0, 1], [2], []],
  endpointCount: 3,
  fallback: -1,
};

const word = (table: Uint8Array, at: number): number => new DataView(table.buffer, table.byteOffset, table.byteLength).getUint32(at, true);

/** A copy of `table` with the u32 at `at` set to `value`. */
function withWord(table: Uint8Array, at: number, value: number): Uint8Array {
  const copy = table.slice();
  new DataView(copy.buffer).setUint32(at, value, true);
  return copy;
}

it('route records and everything before the set index keep their bytes whatever their sets hold', () => {
  const small = encodeTable(TABLE);
  const large = encodeTable({ ...TABLE, sets: [[0, 1, 2, 3, 4, 5, 6], [7, 8], [9]], endpointCount: 10 });
  expect(word(large, Header.SET_INDEX)).toBe(word(small, Header.SET_INDEX));
  expect(Buffer.from(large).equals(Buffer.from(small))).toBe(false);
  expect(Buffer.from(large.subarray(Header.SIZE, word(large, Header.SET_INDEX)))).toEqual(Buffer.from(small.subarray(Header.SIZE, word(small, Header.SET_INDEX))));
  // A route record is its backends: 8 + 16 bytes each.
  expect(word(small, word(small, Header.ROUTE_INDEX) + 4) - word(small, word(small, Header.ROUTE_INDEX))).toBe(RouteRecord.BACKENDS + 2 * BackendRecord.SIZE);
});

describe('a damaged endpoint area is refused at load, naming the field and the set', () => {
  const table = encodeTable(TABLE);
  const index = word(table, Header.SET_INDEX);
  const area = word(table, Header.AREA);
  // Set 1's record follows set 0's (two slots).
  const set1 = area + SetRecord.SLOTS + 2 * Endpoint.SIZE;
  // Sets 0 and 1 of 300 endpoints lie in the overflow tail, set 2 in the first bucket.
  const big = encodeTable({ ...TABLE, sets: [Array.from({ length: 300 }, (_, i) => i % 3), Array.from({ length: 300 }, () => 1), [2]] });
  const bigIndex = word(big, Header.SET_INDEX);
  it.each([
    { name: 'a set index entry inside the previous record (overlapping it)', bad: withWord(table, index + 4, area + 4), message: /set index.*\(set 1\)/ },
    { name: 'a set index entry past the area', bad: withWord(table, index + 8, table.length + 64), message: /set index.*\(set 2\)/ },
    { name: 'a COUNT running past the area', bad: withWord(table, area + SetRecord.COUNT, 1000), message: /set record: its COUNT.*\(set 0\)/ },
    { name: 'an endpoint ID not below the endpoint count', bad: withWord(table, set1 + SetRecord.SLOTS + Endpoint.ID, 3), message: /ID is not below the endpoint count \(set 1\)/ },
    { name: 'a set count past the index section', bad: withWord(table, Header.SET_COUNT, 1 << 20), message: /section lies outside/ },
    // Format 6: buckets, then the overflow tail (the big sets: over 2 KiB each).
    { name: 'a set index entry not on a u32 field', bad: withWord(table, index + 4, word(table, index + 4) + 2), message: /set index.*\(set 1\)/ },
    { name: 'a set index entry before the area (in the index itself)', bad: withWord(table, index, index), message: /set index.*\(set 0\)/ },
    { name: 'an overflow set overlapping the one before it in the tail', bad: withWord(big, bigIndex + 4, word(big, bigIndex) + 8), message: /set index.*\(set 1\)/ },
    { name: 'an overflow set\'s COUNT running past the tail', bad: withWord(big, word(big, bigIndex + 4) + SetRecord.COUNT, 400), message: /set record: its COUNT.*\(set 1\)/ },
    { name: 'a bucketed set whose COUNT runs into the tail', bad: withWord(big, word(big, bigIndex + 8) + SetRecord.COUNT, 600), message: /set record: its COUNT.*\(set 2\)/ },
    { name: 'an overflow tail starting inside the buckets', bad: withWord(big, Header.OVERFLOW, word(big, Header.AREA)), message: /section lies outside/ },
  ])('$name', ({ bad, message }) => {
    expect(() => loadMatcherFromBinary(bad)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT', message: expect.stringMatching(message) }));
  });

  it('loads the undamaged tables', () => {
    expect(loadMatcherFromBinary(table).pick(1)).toBe(2);
    expect(word(big, bigIndex)).toBe(word(big, Header.OVERFLOW));
    expect(word(big, bigIndex + 8)).toBe(word(big, Header.AREA));
    expect(loadMatcherFromBinary(big).pick(1)).toBe(1);
  });
});

it('a backend whose set id is past the set count gets no pick (as an empty set); the others do', () => {
  const table = encodeTable(TABLE);
  const route0 = word(table, word(table, Header.ROUTE_INDEX));
  const bad = withWord(table, route0 + RouteRecord.BACKENDS + BackendRecord.SIZE + BackendRecord.SET, 7);
  const matcher = loadMatcherFromBinary(bad);
  const picks = [0, 1, 2, 3].map(() => [matcher.pick(0), matcher.lastBackend()]);
  expect(picks).toEqual([[0, 0], [1, 0], [0, 0], [1, 0]]);
  expect(matcher.pickIn(0, 0b10)).toBe(-1);
  expect(matcher.pick(1)).toBe(2);
});
