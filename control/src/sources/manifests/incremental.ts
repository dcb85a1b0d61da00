/**
 * Parsing a manifest file again after an edit at the cost of the edit: the file's previous parse is
 * kept as pieces (a YAML document with the `---` line after it; a JSON `List`'s head, each item with
 * the separators before it, its tail), each with its length in bytes and a SHA-256 of its bytes,
 * and the bytes they were cut from while within a budget (pieces.ts). The new bytes are matched
 * with the pieces from the start, from the end, and between (an edited piece skipped to where the
 * next one is found again): with the previous bytes kept, by comparing bytes at memcmp speed, a
 * whole run of unchanged pieces at once (found by binary search over the pieces' offsets, not a
 * step each: the ends, and the bytes between two edits of one save); else by hash, a piece at a
 * time. Only the edited runs of bytes are decoded, scanned and parsed, and the result is exactly
 * parseManifestKnown's of the whole new text: the same objects, in the same order, and the same
 * problems. Anything the pieces cannot decide alone (a parse error, a limit, text that is not
 * plain enough: YAML directives, `...`, a marker line with more than `---`) takes the full
 * parse, which reports it exactly: file, document, line and column.
 */
import { followJson, wholeJson } from './follow-json.ts';
import { followYaml } from './follow-yaml.ts';
import type { ParseLimits } from './bounded.ts';
import type { KnownFingerprints, KnownParseResult } from './parse.ts';
import { parseManifestKnown } from './parse.ts';
import type { BlockedBounds, Followed, KeptBytes, Piece, SameEnds } from './pieces.ts';
import { blockedBounds, sameEnds, startsOf } from './pieces.ts';

const sameLimits = (a: ParseLimits, b: ParseLimits): boolean => a.maxBytes === b.maxBytes && a.maxKeys === b.maxKeys && a.maxDepth === b.maxDepth && a.maxAliasCount === b.maxAliasCount;

/** What a kept file counts against maxPieces: its pieces, and at least one (so the file count is bounded). */
const weight = (parse: FileParse): number => Math.max(1, parse.pieces.length);

/** A file's previous parse (a Reuse for the next parse relative to its answer). */
interface FileParse extends BlockedBounds {
  readonly format: 'json' | 'yaml';
  /** The limits its pieces were validated within (a piece's depth and aliases are not checked again). */
  readonly limits: ParseLimits;
  readonly pieces: readonly Piece[];
  /**
   * The bytes the pieces were cut from, when kept (within maxKeptBytes): the next parse compares
   * them with the new bytes at memcmp speed and hashes only the edited pieces. A buffer of its own,
   * reused for the file's next bytes when they fit (only the edited bytes copied in).
   */
  readonly bytes: Buffer | undefined;
  /** How many of `bytes` are the file's. */
  readonly length: number;
  /** Where each piece starts in the file (startsOf): the kept bytes of a run of pieces are compared at once. */
  readonly starts: Float64Array;
  /** The answer these pieces gave (parseAnswer's `id`), if any: a parse answering relative to it may take over their ends. */
  readonly answer: number | undefined;
}

/**
 * A parse answered relative to an earlier answer the caller holds the objects of (parseAnswer):
 * `entries` are only those between the first `head` and the last `tail` entries of that answer,
 * which stand as they were. Both 0 when the answer is whole.
 */
export interface RelativeParseResult extends KnownParseResult {
  readonly head: number;
  readonly tail: number;
}

/** Options of a ManifestParseCache. */
export interface ManifestParseCacheOptions {
  /** Most pieces kept for one file (a larger file is parsed whole on every change); default 65,536. */
  readonly maxPiecesPerFile?: number;
  /** Most pieces kept over all files, the least recently parsed file dropped first; default 262,144. */
  readonly maxPieces?: number;
  /**
   * Most bytes of files' previous contents kept over all files, the least recently parsed file's
   * dropped first (a file whose bytes are not kept has its pieces hashed to find the edit); default
   * 64 MiB. 0 keeps none.
   */
  readonly maxKeptBytes?: number;
}

/**
 * Keeps the previous parse of each manifest file as pieces, and its bytes within maxKeptBytes
 * (64 MiB by default: bench:fleet's 20 files at 50k Ingresses take ~60 MB; ~150 bytes of heap a
 * piece, 10.6 MB for bench:fleet's 20 files at 50k Ingresses; at most maxPiecesPerFile a file and
 * maxPieces over all, so ~10 MB a file and ~40 MB in all at most) and parses a file's new bytes
 * following the edit. Files are kept by a key naming the file across every source sharing the
 * cache (its full path), and each file counts as at least one piece, so the number of files kept
 * is bounded by maxPieces too: an empty file takes room like any other. Nobody tells the cache that
 * a file was deleted; a deleted file's entry is dropped as the least recently parsed one when room
 * is needed.
 */
export class ManifestParseCache {
  private readonly kept = new Map<string, FileParse>();
  private readonly maxPiecesPerFile: number;
  private readonly maxPieces: number;
  private total = 0;
  private readonly maxKeptBytes: number;
  private keptBytes = 0;
  /** Parses that followed an edit (reused pieces of the file's previous parse). */
  followed = 0;
  /** Parses of the whole text. */
  whole = 0;
  /** Bytes the last parse decoded and parsed (the whole file when it did not follow an edit). */
  lastScanned = 0;

  constructor(options: ManifestParseCacheOptions = {}) {
    this.maxPiecesPerFile = options.maxPiecesPerFile ?? 65_536;
    this.maxPieces = options.maxPieces ?? 262_144;
    this.maxKeptBytes = options.maxKeptBytes ?? 64 * 1024 * 1024;
  }

  /** Bytes of previous file contents kept (their buffers' sizes). */
  get bytes(): number {
    return this.keptBytes;
  }

  /** Pieces kept over all files (a file without pieces counting as one). */
  get pieces(): number {
    return this.total;
  }

  /** Files kept. */
  get files(): number {
    return this.kept.size;
  }

  /**
   * parseManifestKnown of `bytes` (the file's content, decoded as UTF-8), reusing the pieces of the
   * file's previous parse that the bytes still hold. `file` names the file in problems; `key` names
   * it in the cache, unique over every source sharing it (default `file`). Never throws for input.
   */
  parse(bytes: Uint8Array, file: string, limits: ParseLimits, known: KnownFingerprints, key: string = file): KnownParseResult {
    const { entries, problems } = this.parseAnswer(bytes, file, limits, known, key, undefined, undefined);
    return { entries, problems };
  }

  /**
   * parse, answered as `id` (unique over every answer given) and relative to answer `base` (one
   * this cache gave for `key`, whose objects the caller holds in order, or undefined): when the
   * file's pieces are still those `base` gave, the unchanged pieces at the start and at the end
   * are neither emitted nor looked at, and the result names how many of `base`'s entries they
   * stand for (an edit of one document among thousands: one entry, whatever the file's size).
   * Otherwise the answer is whole (`head` and `tail` 0). Never throws for input.
   */
  parseAnswer(bytes: Uint8Array, file: string, limits: ParseLimits, known: KnownFingerprints, key: string, id: number | undefined, base: number | undefined): RelativeParseResult {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const format = /\.json$/i.test(file) ? 'json' : 'yaml';
    const previous = this.kept.get(key);
    const before = previous?.bytes?.subarray(0, previous.length);
    const same = before === undefined ? undefined : sameEnds(before, buffer);
    const context = { buffer, file, limits, known, format } as const;
    let followed: Followed | undefined;
    if (previous?.format === format && sameLimits(previous.limits, limits)) {
      const kept: KeptBytes | undefined = before === undefined || same === undefined ? undefined : { bytes: before, starts: previous.starts, same };
      const following = kept === undefined ? context : { ...context, kept };
      // The caller holds the objects of the answer these pieces gave: their unchanged ends stand.
      const reuse = base !== undefined && previous.answer === base ? previous : undefined;
      followed = format === 'json' ? followJson(previous.pieces, following, reuse) : followYaml(previous.pieces, following, reuse);
    }
    if (followed !== undefined) this.followed++;
    else {
      this.whole++;
      // A YAML file is an edit of an empty one; a JSON List is found by a scan of the whole text.
      followed = format === 'json' ? wholeJson(context) : followYaml([], context);
    }
    if (followed === undefined) {
      // Not plain, or broken: the full parse, whose problems are exact. The pieces kept stay: the
      // last plain version of the file is as good a start for the next edit as any, though they
      // no longer stand for the last answer.
      this.lastScanned = buffer.length;
      if (previous !== undefined) this.kept.set(key, { ...previous, answer: undefined });
      return { ...parseManifestKnown(buffer.toString('utf8'), file, limits, known), head: 0, tail: 0 };
    }
    this.lastScanned = followed.scanned;
    this.keep(key, format, limits, followed, buffer, same, id);
    return { entries: followed.result.entries, problems: followed.result.problems, head: followed.ends.headEntries, tail: followed.ends.tailEntries };
  }

  /** Drops what is kept under `key`. */
  forget(key: string): void {
    const kept = this.kept.get(key);
    if (kept === undefined) return;
    this.kept.delete(key);
    this.total -= weight(kept);
    this.keptBytes -= kept.bytes?.length ?? 0;
  }

  /** Keeps `pieces` and `content` under `key`; `same`: what `content` shares with the bytes kept there before. */
  private keep(key: string, format: 'json' | 'yaml', limits: ParseLimits, followed: Followed, content: Buffer, same: SameEnds | undefined, answer: number | undefined): void {
    const { pieces } = followed;
    const previous = this.kept.get(key);
    const before = previous?.bytes;
    this.forget(key);
    if (pieces.length > this.maxPiecesPerFile) return;
    let bytes: Buffer | undefined;
    if (content.length <= this.maxKeptBytes) {
      // The previous contents' buffer again when the new ones fit: no allocation per edit, and only
      // the edited bytes copied (the unchanged last ones moved when the length changed: memmove).
      if (before !== undefined && before.length >= content.length && same !== undefined) {
        const end = content.length - same.suffix;
        if (content.length !== previous!.length) before.copy(before, end, previous!.length - same.suffix, previous!.length);
        content.copy(before, same.prefix, same.prefix, end);
        bytes = before;
      } else {
        bytes = Buffer.allocUnsafeSlow(Math.ceil((content.length + 1) / 4096) * 4096);
        content.copy(bytes);
      }
    }
    const parse: FileParse = { format, limits, pieces, bytes, length: content.length, starts: startsOf(pieces), ...blockedBounds(pieces), answer };
    this.kept.set(key, parse);
    this.total += weight(parse);
    this.keptBytes += bytes?.length ?? 0;
    for (const [oldest] of this.kept) {
      if (this.total <= this.maxPieces) break;
      this.forget(oldest);
    }
    // Over the bytes budget: the least recently parsed files keep their pieces, not their bytes.
    for (const [name, kept] of this.kept) {
      if (this.keptBytes <= this.maxKeptBytes) break;
      if (kept.bytes === undefined) continue;
      this.keptBytes -= kept.bytes.length;
      this.kept.set(name, { ...kept, bytes: undefined });
    }
  }
}
