// Copy-on-write block tables: an edit writes into copies of the blocks it touches and nothing
// else; the version it started from keeps its bytes, and the untouched blocks are shared.
import { describe, expect, it } from 'vitest';
import { TABLE_BLOCK_BYTES, TableBlocks } from '../src/host/blocks.ts';

/** A deterministic table of `n` bytes (n a multiple of 4). */
function table(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = x = (x * 1103515245 + 12345) & 0xff;
  return out;
}

describe('TableBlocks', () => {
  it('cuts a table into views of it, and gives the table itself back', () => {
    const flat = table(2 * TABLE_BLOCK_BYTES + 40);
    const blocks = TableBlocks.of(flat);
    expect(blocks.blocks.map((block) => block.length)).toEqual([TABLE_BLOCK_BYTES, TABLE_BLOCK_BYTES, 40]);
    expect(blocks.bytes()).toBe(flat);
    expect(TableBlocks.of(new Uint8Array(0)).blocks).toEqual([]);
  });

  it('writes bytes and words across block boundaries like a flat copy, sharing the blocks it did not write and leaving the old version as it was', () => {
    const flat = table(3 * TABLE_BLOCK_BYTES + 64);
    const before = TableBlocks.of(flat);
    const original = Buffer.from(flat);
    const expected = Buffer.from(flat);
    const edit = before.edit();
    // Straddles blocks 0 and 1.
    const bytes = table(24, 7);
    edit.set(bytes, TABLE_BLOCK_BYTES - 8);
    expected.set(bytes, TABLE_BLOCK_BYTES - 8);
    // The last word of block 1, then a read of a word written and of one not written.
    edit.setWord((2 * TABLE_BLOCK_BYTES) / 4 - 1, 0xdeadbeef);
    expected.writeUInt32LE(0xdeadbeef, 2 * TABLE_BLOCK_BYTES - 4);
    expect(edit.word((2 * TABLE_BLOCK_BYTES) / 4 - 1)).toBe(0xdeadbeef);
    expect(edit.word(3)).toBe(expected.readUInt32LE(12));
    expect(edit.word((3 * TABLE_BLOCK_BYTES) / 4 + 2)).toBe(expected.readUInt32LE(3 * TABLE_BLOCK_BYTES + 8));
    edit.set(new Uint8Array(4), TABLE_BLOCK_BYTES - 2);
    expected.fill(0, TABLE_BLOCK_BYTES - 2, TABLE_BLOCK_BYTES + 2);
    const after = edit.done();
    expect(Buffer.from(after.bytes()).equals(expected)).toBe(true);
    expect(Buffer.from(before.bytes()).equals(original)).toBe(true);
    expect(after.blocks[0]).not.toBe(before.blocks[0]);
    expect(after.blocks[1]).not.toBe(before.blocks[1]);
    expect(after.blocks[2]).toBe(before.blocks[2]);
    expect(after.blocks[3]).toBe(before.blocks[3]);
    // A second version from the first shares what neither wrote, and copies again what it writes.
    const next = after.edit();
    next.setWord(1, 5);
    const third = next.done();
    expect(third.blocks[0]).not.toBe(after.blocks[0]);
    expect(third.blocks[1]).toBe(after.blocks[1]);
    expect(Buffer.from(after.bytes()).equals(expected)).toBe(true);
  });

  it('gives the bytes of a flat copy after many random writes (bounded), and the old version never changes', () => {
    const flat = table(5 * TABLE_BLOCK_BYTES + 16, 3);
    const original = Buffer.from(flat);
    let version = TableBlocks.of(flat);
    const expected = Buffer.from(flat);
    let x = 99;
    const next = (n: number): number => (x = (x * 1103515245 + 12345) >>> 0) % n;
    for (let round = 0; round < 20; round++) {
      const edit = version.edit();
      for (let w = 0; w < 50; w++) {
        if (next(2) === 0) {
          const word = next(flat.length / 4);
          const value = next(0xffffffff);
          edit.setWord(word, value);
          expected.writeUInt32LE(value, word * 4);
        } else {
          const length = next(3 * 1024);
          const at = next(flat.length - length);
          const bytes = table(length, round * 100 + w);
          edit.set(bytes, at);
          expected.set(bytes, at);
        }
      }
      version = edit.done();
      expect(Buffer.from(version.bytes()).equals(expected), `round ${round}`).toBe(true);
    }
    expect(Buffer.from(flat).equals(original)).toBe(true);
  });

  it('splices like a flat splice, sharing the whole blocks before it; refuses a splice outside the table', () => {
    const flat = table(4 * TABLE_BLOCK_BYTES + 100, 5);
    const version = TableBlocks.of(flat);
    for (const [keep, middle, tail] of [
      [2 * TABLE_BLOCK_BYTES + 12, 40, 2 * TABLE_BLOCK_BYTES + 48],
      [2 * TABLE_BLOCK_BYTES, 0, 2 * TABLE_BLOCK_BYTES + 96],
      [0, 3 * TABLE_BLOCK_BYTES, 100],
      [100, 8, 0],
      [4 * TABLE_BLOCK_BYTES + 100, 4, 0],
    ] as const) {
      const inserted = table(middle, keep + 1);
      const spliced = version.splice(keep, inserted, tail);
      const expected = Buffer.concat([flat.subarray(0, keep), inserted, flat.subarray(flat.length - tail)]);
      expect(Buffer.from(spliced.bytes()).equals(expected), `keep ${keep} middle ${middle} tail ${tail}`).toBe(true);
      expect(spliced.length).toBe(expected.length);
      const shared = Math.floor(keep / TABLE_BLOCK_BYTES);
      spliced.blocks.forEach((block, b) => {
        if (b < shared) expect(block).toBe(version.blocks[b]);
        else expect(block.length).toBe(Math.min(TABLE_BLOCK_BYTES, spliced.length - b * TABLE_BLOCK_BYTES));
      });
    }
    expect(Buffer.from(version.bytes()).equals(Buffer.from(table(4 * TABLE_BLOCK_BYTES + 100, 5)))).toBe(true);
    expect(() => version.splice(-1, new Uint8Array(0), 0)).toThrow(RangeError);
    expect(() => version.splice(flat.length, new Uint8Array(0), 1)).toThrow(RangeError);
    expect(() => version.splice(4, new Uint8Array(3), 0)).toThrow(/multiple of 4/);
  });

  it('copies no block for a write of the bytes or word already there, and only the block a write changes', () => {
    const flat = table(3 * TABLE_BLOCK_BYTES + 64);
    const before = TableBlocks.of(flat);
    const edit = before.edit();
    // The same bytes across blocks 0 and 1, the same word in block 2: nothing copied.
    edit.set(flat.slice(TABLE_BLOCK_BYTES - 8, TABLE_BLOCK_BYTES + 8), TABLE_BLOCK_BYTES - 8);
    edit.setWord((2 * TABLE_BLOCK_BYTES) / 4 + 3, edit.word((2 * TABLE_BLOCK_BYTES) / 4 + 3));
    // A word whose top bit is set, written again as the negative number it is in 32 bits.
    const high = new DataView(flat.buffer).getUint32(8, true) | 0x80000000;
    const first = before.edit();
    first.setWord(2, high);
    const withHigh = first.done();
    const again = withHigh.edit();
    again.setWord(2, high | 0);
    expect(again.done().blocks[0]).toBe(withHigh.blocks[0]);
    // The same bytes but the last one, straddling blocks 0 and 1: block 1 alone is copied.
    const changed = flat.slice(TABLE_BLOCK_BYTES - 8, TABLE_BLOCK_BYTES + 8);
    changed[15] = changed[15]! ^ 0xff;
    edit.set(changed, TABLE_BLOCK_BYTES - 8);
    const after = edit.done();
    expect(after.blocks[0]).toBe(before.blocks[0]);
    expect(after.blocks[1]).not.toBe(before.blocks[1]);
    expect(after.blocks[2]).toBe(before.blocks[2]);
    const expected = Buffer.from(flat);
    expected[TABLE_BLOCK_BYTES + 7]! ^= 0xff;
    expect(Buffer.from(after.bytes()).equals(expected)).toBe(true);
    expect(Buffer.from(before.bytes()).equals(Buffer.from(table(3 * TABLE_BLOCK_BYTES + 64)))).toBe(true);
    // Once a block is copied, a write of the bytes it held before the edit is still written.
    const back = after.edit();
    back.set(changed.map((b, i) => (i === 15 ? b ^ 0xff : b)), TABLE_BLOCK_BYTES - 8);
    expect(Buffer.from(back.done().bytes()).equals(Buffer.from(flat))).toBe(true);
  });

  it('refuses writes outside the table and writes after the edit is done', () => {
    const edit = TableBlocks.of(table(TABLE_BLOCK_BYTES + 8)).edit();
    expect(() => edit.set(new Uint8Array(16), TABLE_BLOCK_BYTES)).toThrow(RangeError);
    expect(() => edit.set(new Uint8Array(1), -1)).toThrow(RangeError);
    expect(() => edit.setWord((TABLE_BLOCK_BYTES + 8) / 4, 1)).toThrow(RangeError);
    edit.setWord(0, 1);
    edit.done();
    expect(() => edit.setWord(1, 1)).toThrow(/after it was done/);
    // Also a write that would change nothing.
    expect(() => edit.setWord(0, 1)).toThrow(/after it was done/);
    expect(() => edit.set(new Uint8Array(0), 0)).toThrow(/after it was done/);
  });
});
