/**
 * A binary table held as fixed-size blocks, copy-on-write: a patched version of a table shares
 * every block it did not write with the version it was patched from, so patching a few chunks of
 * a 20 MB table copies a few blocks, not the table, and leaves the previous version's bytes as
 * they were (an older bundle, a sync answer in flight may still read them). The whole table is
 * concatenated only when someone asks for its bytes (a bundle sent whole), once per version: a
 * data plane verifies and loads a version block by block (a pool copies only the blocks its
 * reused instance does not hold, matcher-pool.ts).
 */

/** Bytes per block (a power of two: a u32 field at a multiple of 4 never straddles two blocks). */
export const TABLE_BLOCK_BYTES = 64 * 1024;
const BLOCK_SHIFT = 16;

/** Where the table writers (writeChunk, writeRoute) write: a flat table (assembly) or a block table being patched. */
export interface TableSink {
  /** Copies `bytes` to byte offset `at`. */
  set(bytes: Uint8Array, at: number): void;
  /** The u32 at word index `index` (byte offset `index * 4`). */
  word(index: number): number;
  setWord(index: number, value: number): void;
}

/** A flat table as a sink (assembly writes a fresh table this way). */
export class FlatSink implements TableSink {
  readonly #out: Uint8Array;
  readonly #words: Uint32Array;

  constructor(out: Uint8Array) {
    this.#out = out;
    // The table is little-endian, as wasm and every platform Node runs on.
    this.#words = new Uint32Array(out.buffer, out.byteOffset, out.byteLength >>> 2);
  }

  set(bytes: Uint8Array, at: number): void {
    this.#out.set(bytes, at);
  }

  word(index: number): number {
    return this.#words[index]!;
  }

  setWord(index: number, value: number): void {
    this.#words[index] = value;
  }
}

/** The blocks of a table version; immutable once made (patches make new versions). */
export class TableBlocks {
  /** The table's length in bytes. */
  readonly length: number;
  /** Its blocks in order, each TABLE_BLOCK_BYTES long but the last; shared with the versions that did not write them. */
  readonly blocks: readonly Uint8Array[];
  #flat: Uint8Array | undefined;

  private constructor(length: number, blocks: readonly Uint8Array[], flat: Uint8Array | undefined) {
    this.length = length;
    this.blocks = blocks;
    this.#flat = flat;
  }

  /** The blocks of `table` (views of it: `bytes()` is `table` itself). `table`'s length must be a multiple of 4. */
  static of(table: Uint8Array): TableBlocks {
    const blocks: Uint8Array[] = [];
    for (let at = 0; at < table.length; at += TABLE_BLOCK_BYTES) blocks.push(table.subarray(at, Math.min(at + TABLE_BLOCK_BYTES, table.length)));
    return new TableBlocks(table.length, blocks, table);
  }

  /** The whole table: the assembled array itself, or the blocks concatenated on the first ask (then kept). */
  bytes(): Uint8Array {
    if (this.#flat === undefined) {
      const flat = new Uint8Array(this.length);
      for (let b = 0; b < this.blocks.length; b++) flat.set(this.blocks[b]!, b << BLOCK_SHIFT);
      this.#flat = flat;
    }
    return this.#flat;
  }

  /**
   * A new version: this table's first `keep` bytes, then `middle`, then its last `tail` bytes
   * (a table that grew or shrank in the middle). The whole blocks of the kept start are shared;
   * the rest is copied (every later offset moved). Throws RangeError when `keep` and `tail`
   * overlap or lie outside the table, or the result's length is not a multiple of 4.
   */
  splice(keep: number, middle: Uint8Array, tail: number): TableBlocks {
    if (!Number.isInteger(keep) || !Number.isInteger(tail) || keep < 0 || tail < 0 || keep + tail > this.length) throw new RangeError(`a splice keeping ${keep} + ${tail} bytes is outside the table of ${this.length}`);
    const length = keep + middle.length + tail;
    if (length % 4 !== 0) throw new RangeError(`a splice gives ${length} bytes, not a multiple of 4`);
    const shared = keep >>> BLOCK_SHIFT;
    const from = shared << BLOCK_SHIFT;
    const rest = new Uint8Array(length - from);
    this.#copy(from, keep, rest, 0);
    rest.set(middle, keep - from);
    this.#copy(this.length - tail, this.length, rest, keep - from + middle.length);
    const blocks = this.blocks.slice(0, shared);
    for (let at = 0; at < rest.length; at += TABLE_BLOCK_BYTES) blocks.push(rest.subarray(at, Math.min(at + TABLE_BLOCK_BYTES, rest.length)));
    return new TableBlocks(length, blocks, undefined);
  }

  /** Copies this table's bytes [from, to) into `into` at `at`, block by block. */
  #copy(from: number, to: number, into: Uint8Array, at: number): void {
    while (from < to) {
      const b = from >>> BLOCK_SHIFT;
      const inside = from & (TABLE_BLOCK_BYTES - 1);
      const n = Math.min(to - from, TABLE_BLOCK_BYTES - inside);
      into.set(this.blocks[b]!.subarray(inside, inside + n), at);
      from += n;
      at += n;
    }
  }

  /** The u32 at word index `index` (byte offset `index * 4`). */
  word(index: number): number {
    const at = index << 2;
    const block = this.blocks[at >>> BLOCK_SHIFT]!;
    return new DataView(block.buffer, block.byteOffset, block.byteLength).getUint32(at & (TABLE_BLOCK_BYTES - 1), true);
  }

  /** An editor whose writes make a new version (`done`), copying each block on its first write. */
  edit(): BlockEditor {
    return new BlockEditor(this.length, this.blocks);
  }

  /** Internal: a version made by an editor. */
  static made(length: number, blocks: readonly Uint8Array[]): TableBlocks {
    return new TableBlocks(length, blocks, undefined);
  }
}

/** Whether `block` holds `bytes` at byte offset `at` (a native compare: a re-packed endpoint area writes whole blocks). */
function holds(block: Uint8Array, at: number, bytes: Uint8Array): boolean {
  return Buffer.from(block.buffer, block.byteOffset + at, bytes.length).equals(bytes);
}

/**
 * Writes into a copy-on-write version of a block table (see TableBlocks.edit). A write that leaves
 * a block's bytes as they were does not copy it: the new version shares it, and whoever keeps
 * blocks by identity (a data plane's loaded instance, the digest of the last version) keeps it too.
 */
export class BlockEditor implements TableSink {
  readonly #length: number;
  readonly #blocks: Uint8Array[];
  /** Word views of the blocks copied so far (by block index): only those are written. */
  readonly #words = new Map<number, Uint32Array>();
  #done = false;

  constructor(length: number, blocks: readonly Uint8Array[]) {
    this.#length = length;
    this.#blocks = blocks.slice();
  }

  /** Block `b`, copied on its first write, as words. */
  #writable(b: number): Uint32Array {
    if (this.#done) throw new Error('a block table edit was written after it was done');
    let words = this.#words.get(b);
    if (words === undefined) {
      const copy = this.#blocks[b]!.slice();
      this.#blocks[b] = copy;
      words = new Uint32Array(copy.buffer, 0, copy.length >>> 2);
      this.#words.set(b, words);
    }
    return words;
  }

  /** Copies `bytes` to byte offset `at`; a block whose bytes there are already these is not copied (nor written). */
  set(bytes: Uint8Array, at: number): void {
    if (this.#done) throw new Error('a block table edit was written after it was done');
    if (at < 0 || at + bytes.length > this.#length) throw new RangeError(`a write of ${bytes.length} bytes at ${at} is outside the table of ${this.#length}`);
    let done = 0;
    while (done < bytes.length) {
      const b = (at + done) >>> BLOCK_SHIFT;
      const into = (at + done) & (TABLE_BLOCK_BYTES - 1);
      const n = Math.min(bytes.length - done, TABLE_BLOCK_BYTES - into);
      const part = bytes.subarray(done, done + n);
      // A rewrite of what is there (a patched route record of the same content) shares the block.
      if (this.#words.has(b) || !holds(this.#blocks[b]!, into, part)) {
        const words = this.#writable(b);
        new Uint8Array(words.buffer, 0, this.#blocks[b]!.length).set(part, into);
      }
      done += n;
    }
  }

  word(index: number): number {
    const at = index << 2;
    const b = at >>> BLOCK_SHIFT;
    const words = this.#words.get(b);
    const inside = (at & (TABLE_BLOCK_BYTES - 1)) >>> 2;
    if (words !== undefined) return words[inside]!;
    const block = this.#blocks[b]!;
    return new DataView(block.buffer, block.byteOffset, block.byteLength).getUint32(inside << 2, true);
  }

  /** Sets the u32 at word `index`; a block already holding `value` there is not copied. */
  setWord(index: number, value: number): void {
    if (this.#done) throw new Error('a block table edit was written after it was done');
    const at = index << 2;
    if (at < 0 || at + 4 > this.#length) throw new RangeError(`a word at ${at} is outside the table of ${this.#length}`);
    const b = at >>> BLOCK_SHIFT;
    if (!this.#words.has(b) && this.word(index) === value >>> 0) return;
    this.#writable(b)[(at & (TABLE_BLOCK_BYTES - 1)) >>> 2] = value;
  }

  /** The new version; the editor takes no more writes. */
  done(): TableBlocks {
    this.#done = true;
    return TableBlocks.made(this.#length, this.#blocks);
  }
}
