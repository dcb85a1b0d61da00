/**
 * Parsing a manifest file again after an edit at the cost of the edit: the file's previous parse is
 * kept as pieces (a YAML document with the `---` line after it; a JSON `List`'s head, each item with
 * the separator before it, its tail), each with its length in bytes and a SHA-256 of its bytes,
 * never the bytes themselves. The new bytes are compared piece by piece from the start and from
 * the end (hashing each byte at most once); only the bytes between the pieces that still match are
 * decoded, scanned and parsed, and the result is exactly parseManifestKnown's of the whole new
 * text: the same objects, in the same order, and the same problems. Anything the pieces cannot
 * decide alone (a parse error, a limit, text that is not plain enough) takes the full parse, which
 * reports it exactly, file, document, line and column.
 */
import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import type { ParseLimits, YamlPrescan } from './bounded.ts';
import { composePrescans, parseYamlBounded, prescanYamlPiece, scanJsonList } from './bounded.ts';
import type { KnownEntry, KnownParseResult, ManifestProblem } from './parse.ts';
import { acceptKnownDocument, documentFingerprint, isRecord, parseManifestKnown, separatorsOnly, yamlDocumentSpans } from './parse.ts';

/** One piece of a file's previous parse. */
interface Piece {
  /** Its length in bytes. */
  readonly bytes: number;
  /** The base64 SHA-256 of its bytes (`j:`/`y:` before it: the fingerprint of its object when `outcome` is `clean`). */
  readonly hash: string;
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
const piece = (bytes: number, hash: string, accepted: Accepted, prescan?: YamlPrescan): Piece => ({ bytes, hash, keys: accepted.keys, documents: accepted.documents, outcome: accepted.outcome, problems: accepted.problems, prescan });

/** A parse that can be kept: its result, its pieces, and the bytes it decoded and parsed. */
interface Followed {
  readonly result: KnownParseResult;
  readonly pieces: Piece[];
  readonly scanned: number;
}

interface FileParse {
  readonly format: 'json' | 'yaml';
  readonly pieces: readonly Piece[];
}

/** Options of a ManifestParseCache. */
export interface ManifestParseCacheOptions {
  /** Most pieces kept for one file (a larger file is parsed whole on every change); default 65,536. */
  readonly maxPiecesPerFile?: number;
  /** Most pieces kept over all files, the least recently parsed file dropped first; default 262,144. */
  readonly maxPieces?: number;
}

/** What parsing one piece alone gave. */
interface Accepted {
  readonly outcome: Piece['outcome'];
  readonly documents: number;
  readonly keys: number;
  readonly problems?: readonly ManifestProblem[];
}

/** The entries and problems of a parse being put together, with the document index reached. */
interface Output {
  readonly entries: KnownEntry[];
  readonly problems: ManifestProblem[];
  document: number;
  /** Bytes decoded and parsed. */
  scanned: number;
}

const pieceHash = (bytes: Buffer, start: number, end: number): string => hash('sha256', bytes.subarray(start, end), 'base64');

/** The fingerprint of the object of a clean piece. */
const fingerprintOf = (format: 'json' | 'yaml', pieceHash: string): string => `${format === 'json' ? 'j' : 'y'}:${pieceHash}`;

const isJsonSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c;

/**
 * Keeps the previous parse of each manifest file as pieces (no file bytes: about 150–250 bytes of
 * heap a piece, bounded by the options) and parses a file's new bytes following the edit.
 */
export class ManifestParseCache {
  private readonly files = new Map<string, FileParse>();
  private readonly maxPiecesPerFile: number;
  private readonly maxPieces: number;
  private total = 0;
  /** Parses that followed an edit (reused pieces of the file's previous parse). */
  followed = 0;
  /** Parses of the whole text. */
  whole = 0;
  /** Bytes the last parse decoded and parsed (the whole file when it did not follow an edit). */
  lastScanned = 0;

  constructor(options: ManifestParseCacheOptions = {}) {
    this.maxPiecesPerFile = options.maxPiecesPerFile ?? 65_536;
    this.maxPieces = options.maxPieces ?? 262_144;
  }

  /** Pieces kept over all files. */
  get pieces(): number {
    return this.total;
  }

  /**
   * parseManifestKnown of `bytes` (the file's content, decoded as UTF-8), reusing the pieces of the
   * file's previous parse that the bytes still hold. Never throws for input.
   */
  parse(bytes: Uint8Array, file: string, limits: ParseLimits, known: ReadonlySet<string>): KnownParseResult {
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const format = /\.json$/i.test(file) ? 'json' : 'yaml';
    const previous = this.files.get(file);
    const context = { buffer, file, limits, known, format } as const;
    let followed: Followed | undefined;
    if (previous?.format === format) followed = format === 'json' ? followJson(previous.pieces, context) : followYaml(previous.pieces, context);
    if (followed !== undefined) this.followed++;
    else {
      this.whole++;
      // A YAML file is an edit of an empty one; a JSON List is found by a scan of the whole text.
      followed = format === 'json' ? wholeJson(context) : followYaml([], context);
    }
    if (followed === undefined) {
      // Not plain, or broken: the full parse, whose problems are exact. The pieces kept stay: the
      // last plain version of the file is as good a start for the next edit as any.
      this.lastScanned = buffer.length;
      return parseManifestKnown(buffer.toString('utf8'), file, limits, known);
    }
    this.lastScanned = followed.scanned;
    this.keep(file, { format, pieces: followed.pieces });
    return followed.result;
  }

  /** Drops what is kept of `file`. */
  forget(file: string): void {
    const kept = this.files.get(file);
    if (kept === undefined) return;
    this.files.delete(file);
    this.total -= kept.pieces.length;
  }

  private keep(file: string, parse: FileParse): void {
    this.forget(file);
    if (parse.pieces.length > this.maxPiecesPerFile) return;
    this.files.set(file, parse);
    this.total += parse.pieces.length;
    for (const [oldest] of this.files) {
      if (this.total <= this.maxPieces) break;
      this.forget(oldest);
    }
  }
}

interface Context {
  readonly buffer: Buffer;
  readonly file: string;
  readonly limits: ParseLimits;
  readonly known: ReadonlySet<string>;
  readonly format: 'json' | 'yaml';
}

/**
 * How much of `pieces` the new bytes still hold: the first `prefix` pieces at the start (ending at
 * byte `start`), the last ones from `suffix` on at the end (starting at byte `end`).
 */
function matching(pieces: readonly Piece[], context: Context): { prefix: number; start: number; suffix: number; end: number } {
  const { buffer } = context;
  let prefix = 0;
  let start = 0;
  while (prefix < pieces.length) {
    const piece = pieces[prefix]!;
    // The last piece may end without a `---` line (or `]`): at the start only when it still ends the file.
    if (prefix === pieces.length - 1 ? start + piece.bytes !== buffer.length : start + piece.bytes > buffer.length) break;
    if (pieceHash(buffer, start, start + piece.bytes) !== piece.hash) break;
    start += piece.bytes;
    prefix++;
  }
  let suffix = pieces.length;
  let end = buffer.length;
  while (suffix > prefix) {
    const piece = pieces[suffix - 1]!;
    // The first piece (which a BOM may start) at the end only when it still starts the file.
    if (suffix === 1 ? end - piece.bytes !== 0 : end - piece.bytes < start) break;
    if (pieceHash(buffer, end - piece.bytes, end) !== piece.hash) break;
    end -= piece.bytes;
    suffix--;
  }
  return { prefix, start, suffix, end };
}

/** Emits what a kept piece at byte `offset` of the new bytes gives; false when it no longer parses alone (never, short of a hash collision). */
function emitKept(kept: Piece, offset: number, context: Context, out: Output): Piece | undefined {
  if (kept.outcome === 'frame') return kept;
  const fingerprint = fingerprintOf(context.format, kept.hash);
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
  const accepted = context.format === 'json' ? acceptJsonPiece(text, fingerprint, kept.keys, context, out) : acceptYamlPiece(text, fingerprint, context, out);
  return accepted === undefined ? undefined : piece(kept.bytes, kept.hash, { ...accepted, keys: kept.keys }, kept.prescan);
}

/** Validates a JSON List item piece (separators, then the item); undefined when it is not JSON. */
function acceptJsonPiece(text: string, fingerprint: string, keys: number, context: Context, out: Output): Accepted | undefined {
  let at = 0;
  while (at < text.length && isJsonSpace(text.charCodeAt(at))) at++;
  let value: unknown;
  try {
    value = JSON.parse(text.slice(at));
  } catch {
    return undefined;
  }
  return accept(value, fingerprint, keys, context, out);
}

/** Validates one document's value as parseManifestKnown does, noting the outcome. */
function accept(value: unknown, fingerprint: string, keys: number, context: Context, out: Output): Accepted {
  const entries = out.entries.length;
  const problems = out.problems.length;
  const first = out.document;
  acceptKnownDocument(value, context.file, out.document++, fingerprint, out.entries, out.problems);
  return outcomeOf(out, entries, problems, first, keys, false);
}

/** The outcome of what was emitted since `entries`/`problems`/`first`. */
function outcomeOf(out: Output, entries: number, problems: number, first: number, keys: number, list: boolean): Accepted {
  const documents = out.document - first;
  const objects = out.entries.length - entries;
  if (objects === 0) return { outcome: 'problems', documents, keys, problems: out.problems.slice(problems).map((problem) => ({ ...problem, document: problem.document - first })) };
  const clean = !list && objects === 1 && out.problems.length === problems && out.entries[entries]!.fingerprint !== undefined;
  return { outcome: clean ? 'clean' : 'reparse', documents, keys };
}

/**
 * Validates a YAML piece (a document and the `---` line after it) parsed alone, as
 * parseManifestKnown does; undefined when it does not parse cleanly alone.
 */
function acceptYamlPiece(text: string, fingerprint: string, context: Context, out: Output): Accepted | undefined {
  const spans = yamlDocumentSpans(text);
  if (spans === undefined) return undefined;
  const counter = { keys: 0 };
  const documents = parseYamlBounded(text.slice(spans[0], spans[1]), context.limits, counter);
  const entries = out.entries.length;
  const problems = out.problems.length;
  const first = out.document;
  let list = false;
  for (const document of documents) {
    if (!document.ok) return undefined;
    const value = document.value;
    if (value === null || value === undefined) continue;
    if (isRecord(value) && value.kind === 'List' && Array.isArray(value.items)) {
      list = true;
      for (const item of value.items) {
        const itemFingerprint = documentFingerprint(item);
        if (itemFingerprint !== undefined && context.known.has(itemFingerprint)) {
          out.entries.push({ fingerprint: itemFingerprint });
          out.document++;
        } else acceptKnownDocument(item, context.file, out.document++, itemFingerprint, out.entries, out.problems);
      }
      continue;
    }
    acceptKnownDocument(value, context.file, out.document++, fingerprint, out.entries, out.problems);
  }
  return outcomeOf(out, entries, problems, first, counter.keys, list || documents.length > 1);
}

/** The total of the pieces' keys, when within the limit. */
function keysWithin(pieces: readonly Piece[], limits: ParseLimits): boolean {
  let keys = 0;
  for (const kept of pieces) keys += kept.keys;
  return keys <= limits.maxKeys;
}

/**
 * The new parse of a YAML file from its previous pieces (none: the whole text). Undefined when the
 * text is not plain (directives, `...`, a marker line with more than `---`), a document does not
 * parse cleanly alone, or a limit of the whole text may be broken: the caller takes the full parse.
 */
function followYaml(previous: readonly Piece[], context: Context): Followed | undefined {
  const { buffer, limits } = context;
  if (buffer.length > limits.maxBytes) return undefined;
  const { prefix, start, suffix, end } = matching(previous, context);
  const middle = buffer.subarray(start, end);
  // Invalid UTF-8 decodes to U+FFFD, whose length is not the bytes' (limits count the decoded text);
  // a BOM anywhere but at the start is read differently in a document parsed alone.
  if (!isUtf8(middle)) return undefined;
  const text = middle.toString('utf8');
  if (text.includes('\uFEFF', start === 0 ? 1 : 0)) return undefined;
  const spans = yamlDocumentSpans(text);
  if (spans === undefined) return undefined;
  // Piece boundaries: after each `---` line. Before kept pieces, the edited text must end at one.
  const cuts: number[] = [0];
  for (let k = 2; k < spans.length; k += 2) if (spans[k]! > cuts.at(-1)!) cuts.push(spans[k]!);
  if (text.length > cuts.at(-1)!) cuts.push(text.length);
  if (suffix < previous.length && (cuts.at(-1) !== text.length || (text.length > 0 && (spans.at(-2) !== text.length || text.charCodeAt(text.length - 1) !== 0x0a)))) return undefined;
  const out: Output = { entries: [], problems: [], document: 0, scanned: 0 };
  const pieces: Piece[] = [];
  let offset = 0;
  let quote = 0;
  for (let k = 0; k < prefix; k++) {
    const kept = emitKept(previous[k]!, offset, context, out);
    if (kept === undefined) return undefined;
    pieces.push(kept);
    offset += kept.bytes;
    quote = kept.prescan!.quoteOut;
  }
  for (let k = 0; k + 1 < cuts.length; k++) {
    const pieceText = text.slice(cuts[k], cuts[k + 1]);
    const bytes = Buffer.byteLength(pieceText);
    const digest = pieceHash(buffer, offset, offset + bytes);
    const accepted = acceptYamlPiece(pieceText, fingerprintOf('yaml', digest), context, out);
    if (accepted === undefined) return undefined;
    const prescan = prescanYamlPiece(pieceText, quote);
    quote = prescan.quoteOut;
    pieces.push(piece(bytes, digest, accepted, prescan));
    offset += bytes;
  }
  for (let k = suffix; k < previous.length; k++) {
    const kept = emitKept(previous[k]!, offset, context, out);
    if (kept === undefined) return undefined;
    pieces.push(kept);
    offset += kept.bytes;
  }
  // The whole text's prescan from the pieces' summaries (undefined: a quote runs across the edit's end).
  if (composePrescans(pieces.map((kept) => kept.prescan!), limits) !== true || !keysWithin(pieces, limits)) return undefined;
  return { result: { entries: out.entries, problems: out.problems }, pieces, scanned: out.scanned + middle.length };
}

/** Piece lengths in bytes from offsets into `text` (the decoded `buffer`). */
function byteLengths(text: string, buffer: Buffer, offsets: readonly number[]): number[] {
  const ascii = text.length === buffer.length;
  const lengths: number[] = [];
  for (let k = 0; k + 1 < offsets.length; k++) lengths.push(ascii ? offsets[k + 1]! - offsets[k]! : Buffer.byteLength(text.slice(offsets[k], offsets[k + 1])));
  return lengths;
}

/**
 * The parse of a `.json` file that is a kubectl `List` in plain JSON (as parseManifestKnown's
 * List path takes it), cut into pieces: head, each item with the separator before it, tail.
 * Undefined when it is anything else (the caller takes the full parse).
 */
function wholeJson(context: Context): Followed | undefined {
  const { buffer, limits } = context;
  if (!isUtf8(buffer)) return undefined;
  const text = buffer.toString('utf8');
  const { failure, spans } = scanJsonList(text, limits);
  if (failure !== undefined || !spans.complete || spans.open < 0 || spans.close < 0 || !separatorsOnly(text, spans)) return undefined;
  let root: unknown;
  try {
    root = JSON.parse(text.slice(0, spans.open + 1) + text.slice(spans.close));
  } catch {
    return undefined;
  }
  if (!isRecord(root) || root.kind !== 'List' || !Array.isArray(root.items)) return undefined;
  const offsets = [0, spans.open + 1];
  for (let k = 1; k < spans.items.length; k += 2) offsets.push(spans.items[k]!);
  offsets.push(text.length);
  const lengths = byteLengths(text, buffer, offsets);
  const out: Output = { entries: [], problems: [], document: 0, scanned: 0 };
  let itemKeys = 0;
  let offset = lengths[0]!;
  const pieces: Piece[] = [];
  for (let k = 0; k < spans.items.length; k += 2) {
    const bytes = lengths[k / 2 + 1]!;
    const keys = spans.keys[k + 1]! - spans.keys[k]!;
    itemKeys += keys;
    const digest = pieceHash(buffer, offset, offset + bytes);
    const accepted = jsonItem(text.slice(spans.items[k], spans.items[k + 1]), fingerprintOf('json', digest), keys, context, out);
    if (accepted === undefined) return undefined;
    pieces.push(piece(bytes, digest, accepted));
    offset += bytes;
  }
  const head = piece(lengths[0]!, pieceHash(buffer, 0, lengths[0]!), { outcome: 'frame', documents: 0, keys: spans.totalKeys - itemKeys });
  const tailBytes = lengths.at(-1)!;
  const tail = piece(tailBytes, pieceHash(buffer, buffer.length - tailBytes, buffer.length), { outcome: 'frame', documents: 0, keys: 0 });
  return { result: { entries: out.entries, problems: out.problems }, pieces: [head, ...pieces, tail], scanned: buffer.length };
}

/** One List item's text: known by its fingerprint, else parsed and validated. */
function jsonItem(item: string, fingerprint: string, keys: number, context: Context, out: Output): Accepted | undefined {
  if (context.known.has(fingerprint)) {
    // Only a piece that gave exactly one object and no problem is ever known.
    out.entries.push({ fingerprint });
    out.document++;
    return { outcome: 'clean', documents: 1, keys };
  }
  let value: unknown;
  try {
    value = JSON.parse(item);
  } catch {
    return undefined;
  }
  return accept(value, fingerprint, keys, context, out);
}

/** The synthetic List the edited items of a JSON List are scanned in: the same depth, `{}` standing for the items before and after them. */
const LIST_OPEN = '{"items":[';

/**
 * The new parse of a `.json` List from its previous pieces: the head and tail unchanged, the edited
 * items scanned in a synthetic List between stand-ins of their neighbours (so separators, depth,
 * duplicate keys and the key count are checked as the whole scan checks them). Undefined when the
 * edit reaches the head or tail, or the edited items are not plain JSON.
 */
function followJson(previous: readonly Piece[], context: Context): Followed | undefined {
  const { buffer, limits } = context;
  if (buffer.length > limits.maxBytes) return undefined;
  const { prefix, start, suffix, end } = matching(previous, context);
  const identical = prefix === previous.length && start === buffer.length;
  if (prefix === 0 || (suffix === previous.length && !identical)) return undefined;
  const middle = buffer.subarray(start, end);
  if (!isUtf8(middle)) return undefined;
  const text = middle.toString('utf8');
  // Items before the edit (pieces 1..prefix-1) and after it (suffix..length-2) stand in as `{}`.
  const before = prefix > 1 ? `${LIST_OPEN}{}` : LIST_OPEN;
  const after = suffix < previous.length - 1 ? ',{}]}' : ']}';
  const synthetic = before + text + after;
  const { failure, spans } = scanJsonList(synthetic, limits);
  if (failure !== undefined || !spans.complete || spans.open !== LIST_OPEN.length - 1 || spans.close !== synthetic.length - 2 || !separatorsOnly(synthetic, spans)) return undefined;
  const first = prefix > 1 ? 2 : 0;
  const last = spans.items.length - (suffix < previous.length - 1 ? 2 : 0);
  // The edited text is whole pieces: each ends with an item; nothing after the last.
  if ((last > first ? spans.items[last - 1]! : before.length) !== before.length + text.length) return undefined;
  const out: Output = { entries: [], problems: [], document: 0, scanned: 0 };
  const pieces: Piece[] = [];
  let offset = 0;
  for (let k = 0; k < prefix; k++) {
    const kept = emitKept(previous[k]!, offset, context, out);
    if (kept === undefined) return undefined;
    pieces.push(kept);
    offset += kept.bytes;
  }
  let from = before.length;
  for (let k = first; k < last; k += 2) {
    const to = spans.items[k + 1]!;
    const bytes = Buffer.byteLength(synthetic.slice(from, to));
    const digest = pieceHash(buffer, offset, offset + bytes);
    const keys = spans.keys[k + 1]! - spans.keys[k]!;
    const accepted = jsonItem(synthetic.slice(spans.items[k], to), fingerprintOf('json', digest), keys, context, out);
    if (accepted === undefined) return undefined;
    pieces.push(piece(bytes, digest, accepted));
    offset += bytes;
    from = to;
  }
  for (let k = suffix; k < previous.length; k++) {
    const kept = emitKept(previous[k]!, offset, context, out);
    if (kept === undefined) return undefined;
    pieces.push(kept);
    offset += kept.bytes;
  }
  if (!keysWithin(pieces, limits)) return undefined;
  return { result: { entries: out.entries, problems: out.problems }, pieces, scanned: out.scanned + middle.length };
}
