/**
 * The pieces a manifest file's previous parse is kept as (ManifestParseCache): a YAML document with
 * the `---` line after it, or a JSON `List`'s head, one item with the separators before it, or its
 * tail; each with its length in bytes and the SHA-256 of its bytes. And how new bytes are aligned
 * with them: which pieces they still hold, where, and which runs of bytes between were edited
 * (against the previous bytes when they were kept: a run of pieces per memcmp, not a hash each).
 */
import { hash } from 'node:crypto';
import type { ParseLimits, YamlPrescan } from './bounded.ts';
import type { KnownEntry, KnownFingerprints, KnownParseResult, ManifestProblem } from './parse.ts';
import { acceptKnownDocument } from './parse.ts';

/** One piece of a file's previous parse. */
export interface Piece {
  /** Its length in bytes. */
  readonly bytes: number;
  /** The base64 SHA-256 of its bytes (`j:`/`y:` before it: the fingerprint of its object when `outcome` is `clean`). */
  readonly hash: string;
  /**
   * fingerprintOf its hash ('' for a frame), made once: an edit steps over thousands of kept pieces,
   * and a string made afresh for each would be allocated and hashed again for each lookup.
   */
  readonly fingerprint: string;
  /** Mapping keys in it (the keys limit is on the whole file). */
  readonly keys: number;
  /** Document indices it takes (a YAML `List` takes one per item; an empty document none). */
  readonly documents: number;
  /**
   * `clean`: exactly one object and no problem (the caller holds the object by `hash`);
   * `problems`: no object, only `problems`; `reparse`: anything else (validated again each time);
   * `frame`: a JSON List's head or tail.
   */
  readonly outcome: 'clean' | 'problems' | 'reparse' | 'frame';
  /** For `problems`: its problems, `document` counted from the piece's first. */
  readonly problems: readonly ManifestProblem[] | undefined;
  /** For YAML: the prescan's summary of it. */
  readonly prescan: YamlPrescan | undefined;
}

/** A Piece, always of one shape (tens of thousands are kept). */
export const piece = (bytes: number, hash: string, fingerprint: string, accepted: Accepted, prescan?: YamlPrescan): Piece => ({ bytes, hash, fingerprint, keys: accepted.keys, documents: accepted.documents, outcome: accepted.outcome, problems: accepted.problems, prescan });

/**
 * A parse that can be kept: its result, its pieces, and the bytes it decoded and parsed. With
 * `ends` taken over from the previous parse (see Reuse), `result.entries` are only those between
 * them: the first `ends.headEntries` and last `ends.tailEntries` are the previous answer's.
 */
export interface Followed {
  readonly result: KnownParseResult;
  readonly pieces: Piece[];
  readonly scanned: number;
  readonly ends: Ends;
}

/**
 * What a parse may take over whole from the previous one, given that the caller holds exactly the
 * objects of the previous parse's answer: where the previous pieces start, and the first and last
 * of them that are validated again on every parse (n and -1 when none: blockedBounds), which the
 * ends stop before.
 */
export interface Reuse extends BlockedBounds {
  readonly starts: Float64Array;
}

/** The first and the last of a parse's pieces validated again on every parse (`problems`, `reparse`); n and -1 when none. */
export interface BlockedBounds {
  readonly firstBlocked: number;
  readonly lastBlocked: number;
}

/** Whether a piece is validated again on every parse (a kept one is never taken over whole). */
const blocks = (kept: Piece): boolean => kept.outcome === 'problems' || kept.outcome === 'reparse';

/** The BlockedBounds of `pieces`: a step per piece at most, as startsOf (the kept parse makes both). */
export function blockedBounds(pieces: readonly Piece[]): BlockedBounds {
  const n = pieces.length;
  let first = 0;
  while (first < n && !blocks(pieces[first]!)) first++;
  if (first === n) return { firstBlocked: n, lastBlocked: -1 };
  let last = n - 1;
  while (last > first && !blocks(pieces[last]!)) last--;
  return { firstBlocked: first, lastBlocked: last };
}

/**
 * The previous pieces a parse takes over whole (neither emitted nor looked at): the first `head`
 * and the last `tail`, which stand for the previous answer's first `headEntries` and last
 * `tailEntries` entries (a frame stands for none, every other such piece for one).
 */
export interface Ends {
  readonly head: number;
  readonly tail: number;
  readonly headEntries: number;
  readonly tailEntries: number;
  /** `Reuse.starts` (undefined when nothing is taken over). */
  readonly starts: Float64Array | undefined;
}

/** Nothing taken over: the whole answer. */
export const NO_ENDS: Ends = { head: 0, tail: 0, headEntries: 0, tailEntries: 0, starts: undefined };

/**
 * The ends of `segments` (align over `previous`) the parse takes over whole: the kept runs from the
 * very start and to the very end (so in place, and every piece before them too), short of a piece
 * validated on every parse. Only clean pieces and frames are taken: a clean piece gave exactly one
 * object and no problem, and its bytes (so its object) are the same; where it now sits changes only
 * the index of its document, which no object holds. The last piece is never in `head`, so the two
 * never overlap. Nothing without `reuse`.
 */
export function reusedEnds(previous: readonly Piece[], segments: readonly Segment[], reuse: Reuse | undefined): Ends {
  const n = previous.length;
  if (reuse === undefined || n === 0) return NO_ENDS;
  let inPlace = 0;
  for (const segment of segments) {
    if (segment.kept !== inPlace) break;
    inPlace += segment.count;
  }
  let fromEnd = n;
  for (let i = segments.length - 1; i >= 0; i--) {
    const segment = segments[i]!;
    if (segment.kept === undefined || segment.kept + segment.count !== fromEnd) break;
    fromEnd = segment.kept;
  }
  const head = Math.max(0, Math.min(inPlace, reuse.firstBlocked, n - 1));
  const tail = Math.max(0, Math.min(n - fromEnd, n - 1 - reuse.lastBlocked, n - head));
  // Frames (a JSON List's head and tail) can only be the first and the last piece.
  const frames = (from: number, to: number): number => (from === 0 && to > 0 && previous[0]!.outcome === 'frame' ? 1 : 0) + (to === n && from < n && n > 1 && previous[n - 1]!.outcome === 'frame' ? 1 : 0);
  return { head, tail, headEntries: head - frames(0, head), tailEntries: tail - frames(n - tail, n), starts: reuse.starts };
}

/** `pieces` followed by the previous pieces `ends` takes over at the end (one copy, not a push each). */
export function withTail(pieces: Piece[], previous: readonly Piece[], ends: Ends): Piece[] {
  return ends.tail === 0 ? pieces : pieces.concat(previous.slice(previous.length - ends.tail));
}

/**
 * Emits the pieces of the kept run `segment` that `ends` does not take over (emitKept each, at
 * its offset in the new bytes), pushing each to `pieces`. False when one no longer parses alone.
 */
export function emitKeptRun(previous: readonly Piece[], segment: Segment & { readonly kept: number }, ends: Ends, context: Context, out: Output, pieces: Piece[], reparse: (text: string, fingerprint: string, keys: number) => Accepted | undefined): boolean {
  const from = Math.max(segment.kept, ends.head);
  const to = Math.min(segment.kept + segment.count, previous.length - ends.tail);
  let offset = segment.start + (from > segment.kept ? ends.starts![from]! - ends.starts![segment.kept]! : 0);
  for (let k = from; k < to; k++) {
    const kept = emitKept(previous[k]!, offset, context, out, reparse);
    if (kept === undefined) return false;
    pieces.push(kept);
    offset += kept.bytes;
  }
  return true;
}

/** What parsing one piece alone gave. */
export interface Accepted {
  readonly outcome: Piece['outcome'];
  readonly documents: number;
  readonly keys: number;
  readonly problems?: readonly ManifestProblem[];
}

/** The entries and problems of a parse being put together, with the document index reached. */
export interface Output {
  readonly entries: KnownEntry[];
  readonly problems: ManifestProblem[];
  document: number;
  /** Bytes decoded and parsed. */
  scanned: number;
}

export const pieceHash = (bytes: Buffer, start: number, end: number): string => hash('sha256', bytes.subarray(start, end), 'base64');

/** The fingerprint of the object of a clean piece. */
export const fingerprintOf = (format: 'json' | 'yaml', pieceHash: string): string => `${format === 'json' ? 'j' : 'y'}:${pieceHash}`;
export interface Context {
  readonly buffer: Buffer;
  readonly file: string;
  readonly limits: ParseLimits;
  readonly known: KnownFingerprints;
  readonly format: 'json' | 'yaml';
  /** The previous parse's bytes, when they were kept. */
  readonly kept?: KeptBytes;
}

/** The bytes a file's previous parse was cut from, as ManifestParseCache keeps them, and what the new bytes share with them. */
export interface KeptBytes {
  /** Exactly the previous bytes. */
  readonly bytes: Buffer;
  /** Where each previous piece starts in `bytes` (startsOf the pieces; the last one is `bytes.length`). */
  readonly starts: Float64Array;
  /** sameEnds(bytes, the new bytes). */
  readonly same: SameEnds;
}

/** Where each of `pieces` starts when they are laid end to end, and (last) where they end: n + 1 offsets. */
export function startsOf(pieces: readonly Piece[]): Float64Array {
  const starts = new Float64Array(pieces.length + 1);
  for (let k = 0; k < pieces.length; k++) starts[k + 1] = starts[k]! + pieces[k]!.bytes;
  return starts;
}

/** The first index in [from, to) whose offset is above `value` (`to` when none): `starts` ascends. */
function firstAbove(starts: Float64Array, value: number, from: number, to: number): number {
  let low = from;
  let high = to;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (starts[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/**
 * The new bytes as runs of kept pieces of the previous parse (`kept`: the first one's index,
 * `count` of them, laid end to end from `start`) and edited runs between them, in order: an edit
 * of one piece among thousands is three segments, not thousands.
 */
export type Segment = { readonly kept: number; readonly count: number; readonly start: number; readonly end: number } | { readonly kept: undefined; readonly start: number; readonly end: number };

/** Where the piece starting at byte `from` of the new bytes ends (a JSON item, a YAML document's `---` line); undefined when that cannot be told. */
export type Boundary = (buffer: Buffer, from: number, end: number) => number | undefined;

/** How many bytes at the start and at the end the new bytes have in common with the previous ones (not overlapping). */
export interface SameEnds {
  readonly prefix: number;
  readonly suffix: number;
}

/** Block of the memcmp-speed comparisons of sameEnds (then a byte loop within the first block that differs). */
const BLOCK = 16_384;

/**
 * How many bytes from `a[aFrom]` on are those from `b[bFrom]` on, `most` at most: compared a block
 * at a time (Buffer.compare, memcmp speed, no views made), then byte by byte within the block that differs.
 */
function sameRun(a: Buffer, aFrom: number, b: Buffer, bFrom: number, most: number): number {
  let run = 0;
  while (run + BLOCK <= most && a.compare(b, bFrom + run, bFrom + run + BLOCK, aFrom + run, aFrom + run + BLOCK) === 0) run += BLOCK;
  while (run < most && a[aFrom + run] === b[bFrom + run]) run++;
  return run;
}

/**
 * The bytes `previous` and `next` have in common at the start and, after those, at the end: compared
 * a block at a time (memcmp speed), then byte by byte within the block that differs, so a one-item
 * edit of a 3 MB file costs well under a millisecond where hashing it cost ~3 ms.
 */
export function sameEnds(previous: Buffer, next: Buffer): SameEnds {
  const most = Math.min(previous.length, next.length);
  const prefix = sameRun(previous, 0, next, 0, most);
  const room = most - prefix;
  const p = previous.length;
  const q = next.length;
  let suffix = 0;
  while (suffix + BLOCK <= room && previous.subarray(p - suffix - BLOCK, p - suffix).equals(next.subarray(q - suffix - BLOCK, q - suffix))) suffix += BLOCK;
  while (suffix < room && previous[p - suffix - 1] === next[q - suffix - 1]) suffix++;
  return { prefix, suffix };
}

/**
 * Which pieces of the previous parse the new bytes still hold, and where: from the start and from
 * the end first, then between, where an edited piece is skipped by `boundary` and the pieces after
 * it are looked for where it ends (replaced), at its start (deleted) or after it (inserted). No
 * piece is kept unless its bytes are the previous ones: with the previous bytes `kept`, compared
 * with them at memcmp speed, a whole run of pieces at once (the pieces within the unchanged ends,
 * and those of each unchanged run between edits, found by binary search over their offsets, not a
 * step each); without them, by hash, each byte hashed a bounded number of times.
 */
export function align(pieces: readonly Piece[], buffer: Buffer, boundary: Boundary, kept?: KeptBytes): Segment[] {
  const n = pieces.length;
  let memo = { k: -1, at: -1, equal: false };
  // The first piece (a BOM may start it) only at the start; the last (it may end without a `---` line or `]`) only at the end.
  const fits = (k: number, at: number, limit: number): boolean => {
    const bytes = pieces[k]!.bytes;
    return at + bytes <= limit && (k !== 0 || at === 0) && (k !== n - 1 || at + bytes === buffer.length);
  };
  // How many pieces from k on (before `below`) hold from byte `at` on, before `limit`: 0 or 1 by hash, a run by the kept bytes.
  const run = (k: number, at: number, limit: number, below: number): number => {
    if (!fits(k, at, limit)) return 0;
    if (kept === undefined) {
      if (memo.k !== k || memo.at !== at) memo = { k, at, equal: pieceHash(buffer, at, at + pieces[k]!.bytes) === pieces[k]!.hash };
      return memo.equal ? 1 : 0;
    }
    const { bytes: previous, starts } = kept;
    const most = Math.min(limit - at, starts[below]! - starts[k]!);
    // From the very start: the unchanged first bytes sameEnds found (no second pass over them).
    const same = k === 0 && at === 0 ? Math.min(kept.same.prefix, most) : sameRun(previous, starts[k]!, buffer, at, most);
    if (same < pieces[k]!.bytes) return 0;
    let count = firstAbove(starts, starts[k]! + same, k + 1, below + 1) - 1 - k;
    if (k + count === n && !fits(n - 1, at + starts[n - 1]! - starts[k]!, limit)) count--;
    return count;
  };
  // Bytes of pieces [k, k + count): by the kept offsets when there are some (a run), else a piece at a time (count 1).
  const runBytes = (k: number, count: number): number => {
    if (kept !== undefined) return kept.starts[k + count]! - kept.starts[k]!;
    let bytes = 0;
    for (let i = k; i < k + count; i++) bytes += pieces[i]!.bytes;
    return bytes;
  };
  const head: Segment[] = [];
  let prefix = 0;
  let start = 0;
  const keep = (count: number): void => {
    const bytes = runBytes(prefix, count);
    head.push({ kept: prefix, count, start, end: start + bytes });
    start += bytes;
    prefix += count;
  };
  // From the start, piece k is where it was (with the kept bytes: every piece within the unchanged first bytes at once).
  for (let count: number; prefix < n && (count = run(prefix, start, buffer.length, n)) > 0; ) keep(count);
  const tail: Segment[] = [];
  let suffix = n;
  let end = buffer.length;
  // From the end, piece k is as far from the end as it was: within the unchanged last bytes by binary search, then a step each.
  if (kept !== undefined) {
    const { starts, same } = kept;
    const shift = buffer.length - starts[n]!;
    let first = Math.max(prefix, firstAbove(starts, starts[n]! - same.suffix - 1, 0, n));
    while (first < n && (starts[first]! + shift < start || !fits(first, starts[first]! + shift, buffer.length))) first++;
    if (first < n) tail.push({ kept: first, count: n - first, start: starts[first]! + shift, end: starts[n]! + shift });
    suffix = Math.min(suffix, first);
    if (suffix < n) end = starts[suffix]! + shift;
  }
  while (suffix > prefix && end - pieces[suffix - 1]!.bytes >= start && run(suffix - 1, end - pieces[suffix - 1]!.bytes, end, suffix) > 0) {
    suffix--;
    tail.push({ kept: suffix, count: 1, start: end - pieces[suffix]!.bytes, end });
    end -= pieces[suffix]!.bytes;
  }
  let at = start;
  let k = prefix;
  let edited = -1;
  const flush = () => {
    if (edited >= 0) head.push({ kept: undefined, start: edited, end: at });
    edited = -1;
  };
  while (at < end && k < suffix) {
    const count = run(k, at, end, suffix);
    if (count > 0) {
      flush();
      const bytes = runBytes(k, count);
      head.push({ kept: k, count, start: at, end: at + bytes });
      at += bytes;
      k += count;
      continue;
    }
    if (k + 1 < suffix && run(k + 1, at, end, k + 2) > 0) {
      k++; // piece k was deleted
      continue;
    }
    const next = boundary(buffer, at, end);
    if (next === undefined || next <= at) break;
    if (edited < 0) edited = at;
    at = next;
    if (run(k, at, end, k + 1) === 0) k++; // piece k was replaced (else a piece was inserted before it)
  }
  if (at < end && edited < 0) edited = at;
  at = end;
  flush();
  return head.concat(tail.reverse());
}
/**
 * Emits what a kept piece at byte `offset` of the new bytes gives: its fingerprint when the caller
 * holds its object, its problems, or else what `reparse` makes of its text again. Undefined when
 * it no longer parses alone (never, short of a hash collision).
 */
export function emitKept(kept: Piece, offset: number, context: Context, out: Output, reparse: (text: string, fingerprint: string, keys: number) => Accepted | undefined): Piece | undefined {
  if (kept.outcome === 'frame') return kept;
  const fingerprint = kept.fingerprint;
  if (kept.outcome === 'clean' && context.known.has(fingerprint)) {
    out.entries.push({ fingerprint });
    out.document++;
    return kept;
  }
  if (kept.outcome === 'problems') {
    for (const problem of kept.problems ?? []) out.problems.push({ ...problem, document: problem.document + out.document });
    out.document += kept.documents;
    return kept;
  }
  // An object the caller does not hold, or one that comes with problems: validated again, from its text.
  const text = context.buffer.toString('utf8', offset, offset + kept.bytes);
  out.scanned += kept.bytes;
  const accepted = reparse(text, fingerprint, kept.keys);
  return accepted === undefined ? undefined : piece(kept.bytes, kept.hash, kept.fingerprint, { ...accepted, keys: kept.keys }, kept.prescan);
}
/** Validates one document's value as parseManifestKnown does, noting the outcome. */
export function accept(value: unknown, fingerprint: string, keys: number, context: Context, out: Output): Accepted {
  const entries = out.entries.length;
  const problems = out.problems.length;
  const first = out.document;
  acceptKnownDocument(value, context.file, out.document++, fingerprint, out.entries, out.problems);
  return outcomeOf(out, entries, problems, first, keys, false);
}

/** The outcome of what was emitted since `entries`/`problems`/`first`. */
export function outcomeOf(out: Output, entries: number, problems: number, first: number, keys: number, list: boolean): Accepted {
  const documents = out.document - first;
  const objects = out.entries.length - entries;
  if (objects === 0) return { outcome: 'problems', documents, keys, problems: out.problems.slice(problems).map((problem) => ({ ...problem, document: problem.document - first })) };
  const clean = !list && objects === 1 && out.problems.length === problems && out.entries[entries]!.fingerprint !== undefined;
  return { outcome: clean ? 'clean' : 'reparse', documents, keys };
}
/** The total of the pieces' keys, when within the limit. */
export function keysWithin(pieces: readonly Piece[], limits: ParseLimits): boolean {
  let keys = 0;
  for (const kept of pieces) keys += kept.keys;
  return keys <= limits.maxKeys;
}
