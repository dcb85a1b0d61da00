/**
 * The bundle's large texts of one line per id — `routeLabels` (a label per route id) and
 * `endpoints` (`address port` per endpoint id) — and their digests. A text's digest is SHA-256
 * over the SHA-256 (32 bytes each, in order) of each block of LINE_BLOCK lines (joined by `\n`,
 * UTF-8), so a version that changes a few lines in place hashes again only their blocks; a
 * compiler holds such a text as segments shared with the previous version and joins it only when
 * someone reads it (a data plane loading the bundle), never to hash it.
 */
import { createHash } from 'node:crypto';
import { Pages } from '@portico/assembly/encode';
import type { ItemList } from '@portico/assembly/encode';
import { lastAtOrBefore } from './order.ts';

/** Lines per hashed block. */
export const LINE_BLOCK = 1024;

/** Versions back `changedSince` looks for the one it is asked about (a reader that skipped more reads everything). */
const LINEAGE_HOPS = 8;

/** The SHA-256 of one hashed block: a line text's block (its lines joined by `\n`) or a table's (TABLE_BLOCK_BYTES from a multiple of them, or up to the end). */
export function blockDigest(block: string | Uint8Array): Buffer {
  return createHash('sha256').update(block).digest();
}

/** The digest (hex) of a part from its blocks' digests in order: SHA-256 over them (the table's and the line texts'). */
export function blocksDigestOf(blockDigests: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const digest of blockDigests) hash.update(digest);
  return hash.digest('hex');
}

/** The blocks of LINE_BLOCK lines of a `\n`-joined text ('' has no line), as substrings. */
export function lineBlocks(text: string): string[] {
  const blocks: string[] = [];
  let start = 0;
  while (start <= text.length && text !== '') {
    let end = start - 1;
    for (let n = 0; n < LINE_BLOCK; n++) {
      end = text.indexOf('\n', end + 1);
      if (end < 0) break;
    }
    if (end < 0) {
      blocks.push(text.slice(start));
      break;
    }
    blocks.push(text.slice(start, end));
    start = end + 1;
  }
  return blocks;
}

/** The digest (hex) of a line text: `blocksDigestOf` its LINE_BLOCK-line blocks. */
export function linesDigest(text: string): string {
  return blocksDigestOf(lineBlocks(text).map(blockDigest));
}

/**
 * A text of lines held as segments, each a run of whole lines joined by `\n` ('' for none), with
 * the line each starts at, and the digests of its blocks. Immutable: `with` makes the next version.
 */
export class LineText {
  /** Lines in all. */
  readonly lines: number;
  /** Paged: a version shares the pages of segments it did not change with the one it came from. */
  readonly #segments: Pages<string>;
  /** The first line of each segment (non-decreasing); undefined: segment i is line i alone. */
  readonly #firsts: ArrayLike<number> | undefined;
  readonly #blocks: readonly Uint8Array[];
  /** The part digest (hex). */
  readonly digest: string;
  #text: string | undefined;
  /**
   * The version `with` made this one from (weakly: a version never keeps its predecessors alive)
   * and the lines that differ from it, in ascending order; undefined for a text made by `of`.
   */
  #from: { readonly text: WeakRef<LineText>; readonly lines: readonly number[] } | undefined;

  private constructor(segments: Pages<string>, firsts: ArrayLike<number> | undefined, lines: number, blocks: readonly Uint8Array[]) {
    this.#segments = segments;
    this.#firsts = firsts;
    this.lines = lines;
    this.#blocks = blocks;
    this.digest = blocksDigestOf(blocks);
  }

  /**
   * The text of `segments` (segment i starting at line `firsts[i]`, `lines` lines in all; without
   * `firsts`, one line per segment), every block hashed.
   */
  static of(segments: ItemList<string>, firsts: ArrayLike<number> | undefined, lines: number): LineText {
    const paged = Pages.of(segments);
    const text = new LineText(paged, firsts, lines, []);
    const blocks: Uint8Array[] = [];
    for (let b = 0; b * LINE_BLOCK < lines; b++) blocks.push(blockDigest(text.#block(b)));
    return new LineText(paged, firsts, lines, blocks);
  }

  /**
   * The next version: the segments at the keys of `changes` replaced by its values (each holding
   * as many lines as the one it replaces, or, in a text with `firsts`, no more lines than there are
   * before the next segment's first: a grid bucket's labels); only their blocks are hashed again.
   */
  with(changes: ReadonlyMap<number, string>): LineText {
    if (changes.size === 0) return this;
    const firsts = this.#firsts;
    const segments = this.#segments.with(changes);
    const next = new LineText(segments, firsts, this.lines, []);
    const touched = new Set<number>();
    const changedLines = new Set<number>();
    for (const s of changes.keys()) {
      const first = firsts === undefined ? s : firsts[s]!;
      const last = firsts === undefined ? s : (s + 1 < firsts.length ? firsts[s + 1]! : this.lines) - 1;
      for (let b = Math.floor(first / LINE_BLOCK); b <= Math.floor(last / LINE_BLOCK); b++) touched.add(b);
      for (let line = first; line <= last; line++) changedLines.add(line);
    }
    const blocks = this.#blocks.slice();
    for (const b of touched) if (b * LINE_BLOCK < this.lines) blocks[b] = blockDigest(next.#block(b));
    const made = new LineText(segments, firsts, this.lines, blocks);
    made.#from = { text: new WeakRef(this), lines: [...changedLines].sort((a, b) => a - b) };
    return made;
  }

  /**
   * The lines (ascending) at which this text may differ from `earlier`, when this one was made
   * from it by `with` (up to LINEAGE_HOPS versions back, while they are alive), as many lines as
   * it: a reader holding `earlier` (a data plane's last load) reads those lines alone. Undefined
   * when this text is not known to descend from `earlier`, or more than `limit` lines changed.
   */
  changedSince(earlier: LineText, limit: number): readonly number[] | undefined {
    if (earlier === this) return [];
    const lines = new Set<number>();
    let from = this.#from;
    for (let hop = 0; hop < LINEAGE_HOPS; hop++) {
      if (from === undefined) return undefined;
      for (const line of from.lines) lines.add(line);
      if (lines.size > limit) return undefined;
      const before = from.text.deref();
      if (before === undefined) return undefined;
      if (before === earlier) return hop === 0 ? from.lines : [...lines].sort((x, y) => x - y);
      from = before.#from;
    }
    return undefined;
  }

  /** Segment `s` as held (undefined outside the segments): what a caller changing a few of its lines starts from. */
  segment(s: number): string | undefined {
    return this.#segments.at(s);
  }

  /** The whole text (the segments' lines, and '' for the lines between them, joined by `\n`), joined on the first ask and kept. */
  text(): string {
    this.#text ??= this.#firsts === undefined ? this.#segments.toArray().join('\n') : this.#range(0, this.lines);
    return this.#text;
  }

  /**
   * Line `line` alone (undefined outside the text; '' in a gap between segments): its segment's
   * line, cut without joining the text, so a reader of a few lines (a data plane labelling the
   * routes it serves) never pays for the whole text.
   */
  line(line: number): string | undefined {
    if (!(Number.isInteger(line) && line >= 0 && line < this.lines)) return undefined;
    const s = this.#segmentAt(line);
    const segment = this.#segments.at(s)!;
    if (this.#firsts === undefined) return segment;
    const first = this.#firsts[s]!;
    if (line < first || segment === '') return '';
    let start = 0;
    for (let skip = line - first; skip > 0; skip--) {
      const next = segment.indexOf('\n', start);
      // Past the segment's lines: a gap before the next segment.
      if (next < 0) return '';
      start = next + 1;
    }
    const end = segment.indexOf('\n', start);
    return end < 0 ? segment.slice(start) : segment.slice(start, end);
  }

  /** The segment holding line `line` (the last one starting at or before it). */
  #segmentAt(line: number): number {
    const firsts = this.#firsts;
    return firsts === undefined ? line : lastAtOrBefore(firsts, line);
  }

  /** The text of block `b`: lines [b * LINE_BLOCK, (b + 1) * LINE_BLOCK) joined by `\n`. */
  #block(b: number): string {
    const from = b * LINE_BLOCK;
    const to = Math.min(from + LINE_BLOCK, this.lines);
    if (this.#firsts !== undefined) return this.#range(from, to);
    const out: string[] = [];
    for (let line = from; line < to; line++) out.push(this.#segments.at(line)!);
    return out.join('\n');
  }

  /**
   * Lines [from, to) of a segmented text joined by `\n`: each segment's lines from its first, ''
   * for a line no segment holds (a segment may hold fewer lines than there are before the next
   * one: a route id no route has).
   */
  #range(from: number, to: number): string {
    const firsts = this.#firsts!;
    const out: string[] = [];
    let line = from;
    for (let s = this.#segmentAt(from); s < this.#segments.length && line < to; s++) {
      const first = firsts[s]!;
      if (first >= to) break;
      const segment = this.#segments.at(s)!;
      if (segment === '') continue;
      for (; line < first; line++) out.push('');
      const held = segment.split('\n');
      for (let k = line - first; k < held.length && line < to; k++, line++) out.push(held[k]!);
    }
    for (; line < to; line++) out.push('');
    return out.join('\n');
  }
}
