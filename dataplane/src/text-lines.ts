/**
 * A worker's copy of a bundle's text of lines (its route labels, its endpoints) held as the blocks
 * the part's digest hashes (LINE_BLOCK lines each, `lineBlocks`), each with its SHA-256 once
 * hashed. A delta's splice makes the next version by re-cutting only the blocks it touched and
 * sharing every other block (string and digest) with the version it came from, so a path edit at
 * 50,000 Ingresses allocates and hashes a block or two of labels, not the 1.5 MB text; the whole
 * text is joined only if someone reads `text` (nothing in a worker does).
 */
import { LINE_BLOCK, blockDigest, blocksDigestOf, endpointLinesOf, labelLinesOf, lineBlocks } from '@portico/control/snapshot/bundle';
import type { EndpointLines, TableBundle } from '@portico/control/snapshot/bundle';
import { lastAtOrBefore } from '@portico/control/snapshot/order';

/** Newlines in `text` before `end` (default: in all of it); no slice is made. */
export function newlines(text: string, end = text.length): number {
  let count = 0;
  for (let at = text.indexOf('\n'); at >= 0 && at < end; at = text.indexOf('\n', at + 1)) count++;
  return count;
}

/** `text` cut after every LINE_BLOCK-th line; at least one block ('' is one empty line here). */
function cut(text: string): string[] {
  const blocks = lineBlocks(text);
  return blocks.length === 0 ? [''] : blocks;
}

/**
 * `text`'s blocks as strings of their own. A block cut from a spliced region is a slice of it, and
 * V8 keeps the whole region alive for each slice: after splices that move lines (the region is
 * every block after the splice, joined), the blocks a version keeps from earlier ones would hold
 * many such regions, each up to the whole text (70 MB for a 3 MB text in 49 splices). A structured
 * clone of a string is a fresh copy of its characters alone, whatever it was made from.
 */
function cutApart(text: string): string[] {
  return cut(text).map((block) => structuredClone(block));
}

/** A text of lines with a few lines replaced in place (FieldEdit `lines`). */
export interface LinesEdit {
  readonly kind: 'lines';
  readonly at: readonly number[];
  readonly lines: readonly string[];
}

/** Throws, naming `field`, unless `edit` names lines of a text of `count` lines in ascending order, each a line (no newline). */
export function checkLinesEdit(edit: LinesEdit, count: number, field: string): void {
  if (!Array.isArray(edit.at) || !Array.isArray(edit.lines) || edit.at.length !== edit.lines.length) throw new Error(`${field}: a lines edit of ${String(edit.at?.length)} lines and ${String(edit.lines?.length)} texts`);
  let last = -1;
  edit.at.forEach((line, i) => {
    if (!Number.isInteger(line) || line <= last || line >= count) throw new Error(`${field}: line ${String(line)} is not after ${last} and below ${count}`);
    const text = edit.lines[i];
    if (typeof text !== 'string' || text.includes('\n')) throw new Error(`${field}: line ${line} is not one line of text`);
    last = line;
  });
}

/**
 * A bundle's text of lines joined by '\n' (its endpoints, `address port`, or its route labels) as
 * LINE_BLOCK-line blocks, with where each block and (once read) each of its lines starts; one made
 * by a splice of another knows which lines the splice touched. A worker gives every bundle it
 * holds one of each (withEndpointLines, withLabelLines): an endpoint-only delta is read by its
 * changed lines (SnapshotEndpoints), a route's label is found without the whole text (RouteLabels),
 * and the part's digest (`linesDigest`) is the digest of its blocks' digests, of which a spliced
 * version hashes only the blocks it re-cut.
 */
export class TextLines implements EndpointLines {
  /** Lines in all (0 for the empty text). */
  readonly lines: number;
  /** Block b: lines [b * LINE_BLOCK, (b + 1) * LINE_BLOCK) joined by '\n', as `lineBlocks` cuts the text. */
  readonly #blocks: readonly string[];
  /** Where block b starts in the text; entry blocks.length is the text's length + 1. */
  readonly #offsets: Int32Array;
  /** Per block, its SHA-256 once hashed (an untouched block's is its source version's, hashed from the same string). */
  readonly #digests: (Buffer | undefined)[];
  /** Per block, where each of its lines starts in it (and its length + 1 last), made on the first read of one of its lines. */
  readonly #starts: (Int32Array | undefined)[];
  #text: string | undefined;
  /** The version this was spliced from (weakly: a chain of versions is never kept) and the lines [first, end) that may differ from it. */
  readonly #from: WeakRef<TextLines> | undefined;
  readonly #first: number;
  readonly #end: number;
  /** The lines (ascending) that differ from `#from`'s when made by `withLines` (then not the range [first, end)). */
  readonly #changed: readonly number[] | undefined;

  private constructor(blocks: readonly string[], lines: number, parts: { digests?: (Buffer | undefined)[]; starts?: (Int32Array | undefined)[]; text?: string; from?: TextLines; first?: number; end?: number; changed?: readonly number[] } = {}) {
    this.#blocks = blocks;
    this.lines = lines;
    const offsets = new Int32Array(blocks.length + 1);
    let at = 0;
    for (let b = 0; b < blocks.length; b++) {
      offsets[b] = at;
      at += blocks[b]!.length + 1;
    }
    offsets[blocks.length] = blocks.length === 0 ? 1 : at;
    this.#offsets = offsets;
    this.#digests = parts.digests ?? new Array<Buffer | undefined>(blocks.length).fill(undefined);
    this.#starts = parts.starts ?? new Array<Int32Array | undefined>(blocks.length).fill(undefined);
    this.#text = parts.text;
    this.#from = parts.from === undefined ? undefined : new WeakRef(parts.from);
    this.#first = parts.first ?? 0;
    this.#end = parts.end ?? 0;
    this.#changed = parts.changed;
  }

  /** The lines of `text` ('' has none): one scan for its newlines; its blocks are views of `text`, which is kept as the joined text. */
  static of(text: string): TextLines {
    const blocks = lineBlocks(text);
    const lines = blocks.length === 0 ? 0 : (blocks.length - 1) * LINE_BLOCK + newlines(blocks[blocks.length - 1]!) + 1;
    return new TextLines(blocks, lines, { text });
  }

  /** The text's length in UTF-16 units. */
  get length(): number {
    return this.#offsets[this.#blocks.length]! - 1;
  }

  /** The whole text, joined from the blocks on the first read and kept (a worker never reads it: the digest and every line come from the blocks). */
  get text(): string {
    return (this.#text ??= this.#blocks.join('\n'));
  }

  /** Blocks (of LINE_BLOCK lines; the last may hold fewer). */
  get blocks(): number {
    return this.#blocks.length;
  }

  line(line: number): string | undefined {
    if (!Number.isInteger(line) || line < 0 || line >= this.lines) return undefined;
    const b = Math.floor(line / LINE_BLOCK);
    const block = this.#blocks[b]!;
    let starts = this.#starts[b];
    if (starts === undefined) {
      starts = new Int32Array(Math.min(LINE_BLOCK, this.lines - b * LINE_BLOCK) + 1);
      let n = 1;
      for (let at = block.indexOf('\n'); at >= 0; at = block.indexOf('\n', at + 1)) starts[n++] = at + 1;
      starts[n] = block.length + 1;
      this.#starts[b] = starts;
    }
    const within = line - b * LINE_BLOCK;
    return block.slice(starts[within], starts[within + 1]! - 1);
  }

  changedSince(earlier: EndpointLines, limit: number): readonly number[] | undefined {
    if (earlier === this) return [];
    if (this.#from?.deref() !== earlier || earlier.lines !== this.lines) return undefined;
    if (this.#changed !== undefined) return this.#changed.length > limit ? undefined : this.#changed;
    if (this.#end - this.#first > limit) return undefined;
    return Array.from({ length: this.#end - this.#first }, (_, i) => this.#first + i);
  }

  /** Whether block `b`'s digest is known (hashed in this version or kept from the one it was spliced from). */
  hashed(b: number): boolean {
    return this.#digests[b] !== undefined;
  }

  /** Hashes block `b` unless its digest is known; returns the UTF-16 units hashed (0 when known). */
  hashBlock(b: number): number {
    if (this.#digests[b] !== undefined) return 0;
    const block = this.#blocks[b]!;
    this.#digests[b] = blockDigest(block);
    return block.length;
  }

  /** The part digest (hex) of the text, `linesDigest(text)`: from its blocks' digests, hashing those not known yet. */
  digest(): string {
    for (let b = 0; b < this.#blocks.length; b++) this.hashBlock(b);
    return blocksDigestOf(this.#digests as Buffer[]);
  }

  /**
   * The lines of this text with its first `keep` and last `tail` characters kept and `middle`
   * between them. Only the blocks the splice touched are re-cut (and later hashed): the others are
   * shared with this version, string and digest; when the splice changes the number of lines,
   * every block after it moves and is re-cut too (the digest's blocks are counted from line 0).
   * Throws, naming `field`, when the splice does not fit this text.
   */
  after(keep: number, tail: number, middle: string, field = 'endpoints'): TextLines {
    const length = this.length;
    if (!Number.isInteger(keep) || !Number.isInteger(tail) || keep < 0 || tail < 0 || keep + tail > length || typeof middle !== 'string') throw new Error(`${field}: splice keeps ${keep}+${tail} of ${length}`);
    if (keep + middle.length + tail === 0 || this.lines === 0) {
      const made = TextLines.of(keep + middle.length + tail === 0 ? '' : middle);
      return new TextLines(made.#blocks, made.lines, { text: made.#text, from: this, first: 0, end: made.lines });
    }
    const offsets = this.#offsets;
    const count = this.#blocks.length;
    // Block b holds positions [offsets[b], offsets[b + 1]): its characters and the newline after them.
    const blockAt = (position: number): number => lastAtOrBefore(offsets, position, count);
    const from = length - tail;
    const a = blockAt(keep);
    let z = blockAt(from);
    const base = offsets[a]!;
    const was = this.#blocks.slice(a, z + 1).join('\n');
    let region = was.slice(0, keep - base) + middle + was.slice(from - base);
    const first = a * LINE_BLOCK + newlines(was, keep - base);
    const lastWas = a * LINE_BLOCK + newlines(was, from - base);
    // Lines the splice adds (negative: removes), counted on the touched blocks alone.
    const added = newlines(region) - newlines(was);
    const same = added === 0;
    if (!same && z + 1 < count) {
      // Lines moved: every later block is cut again from the lines after the splice.
      region += `\n${this.#blocks.slice(z + 1).join('\n')}`;
      z = count - 1;
    }
    // A region of lines that moved holds every later block: cut apart so no block keeps it whole.
    const cuts = same ? cut(region) : cutApart(region);
    const blocks = [...this.#blocks.slice(0, a), ...cuts, ...this.#blocks.slice(z + 1)];
    const lines = this.lines + added;
    const fresh = <T>(kept: readonly (T | undefined)[]): (T | undefined)[] => [...kept.slice(0, a), ...new Array<T | undefined>(cuts.length).fill(undefined), ...kept.slice(z + 1)];
    return new TextLines(blocks, lines, { digests: fresh(this.#digests), starts: fresh(this.#starts), from: this, first, end: same ? lastWas + 1 : lines });
  }

  /**
   * The lines of this text with those at `edit.at` (ascending) replaced by `edit.lines` (a worker's
   * `lines` delta: the endpoints, whose ids are slots, so a move changes two distant lines). Only
   * the blocks holding them are cut again (and later hashed); the version knows exactly which
   * lines changed (changedSince). Throws, naming `field`, when the edit does not fit this text.
   */
  withLines(edit: LinesEdit, field = 'endpoints'): TextLines {
    checkLinesEdit(edit, this.lines, field);
    const blocks = this.#blocks.slice();
    const digests = this.#digests.slice();
    const starts = this.#starts.slice();
    for (let i = 0; i < edit.at.length; ) {
      const b = Math.floor(edit.at[i]! / LINE_BLOCK);
      const lines = blocks[b]!.split('\n');
      for (; i < edit.at.length && Math.floor(edit.at[i]! / LINE_BLOCK) === b; i++) lines[edit.at[i]! - b * LINE_BLOCK] = edit.lines[i]!;
      blocks[b] = lines.join('\n');
      digests[b] = undefined;
      starts[b] = undefined;
    }
    return new TextLines(blocks, this.lines, { digests, starts, from: this, changed: edit.at });
  }
}

/**
 * The TextLines a worker gave `bundle`'s `field` (withLabelLines, withEndpointLines: their text is
 * the field's, and what the worker serves is read from them), or undefined (a bundle made in this
 * process reads the compiler's LineText; one from elsewhere, its text).
 */
export function textLinesOf(bundle: TableBundle, field: 'routeLabels' | 'endpoints'): TextLines | undefined {
  const lines = field === 'routeLabels' ? labelLinesOf(bundle) : endpointLinesOf(bundle);
  return lines instanceof TextLines ? lines : undefined;
}
