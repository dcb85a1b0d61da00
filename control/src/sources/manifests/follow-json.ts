/**
 * ManifestParseCache's parse of a `.json` file that is a kubectl `List` in plain JSON: the whole
 * text cut into pieces (wholeJson), or the new bytes following the edit from the previous pieces
 * (followJson). Either is exactly parseManifestKnown's List path, or undefined.
 */
import { isUtf8 } from 'node:buffer';
import type { JsonListSpans } from './bounded.ts';
import { scanJsonList } from './bounded.ts';
import { jsonListSpans, separatorsOnly } from './parse.ts';
import type { Accepted, Boundary, Context, Followed, Output, Piece, Reuse } from './pieces.ts';
import { accept, align, emitKeptRun, fingerprintOf, keysWithin, NO_ENDS, piece, pieceHash, reusedEnds, withTail } from './pieces.ts';

const isJsonSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c;

/** Boundary of a JSON List item: past the separators, the end of the container that starts there. */
const jsonItemEnd: Boundary = (buffer, from, end) => {
  let at = from;
  while (at < end && isJsonSpace(buffer[at]!)) at++;
  if (at >= end || (buffer[at] !== 0x7b && buffer[at] !== 0x5b)) return undefined;
  let depth = 0;
  for (; at < end; at++) {
    const c = buffer[at]!;
    if (c === 0x22) {
      for (at++; at < end && buffer[at] !== 0x22; at++) if (buffer[at] === 0x5c) at++;
    } else if (c === 0x7b || c === 0x5b) depth++;
    else if ((c === 0x7d || c === 0x5d) && --depth === 0) return at + 1;
  }
  return undefined;
};
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
export function wholeJson(context: Context): Followed | undefined {
  const { buffer, limits } = context;
  if (!isUtf8(buffer)) return undefined;
  const text = buffer.toString('utf8');
  const spans = jsonListSpans(text, limits);
  if (spans === undefined) return undefined;
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
    const fingerprint = fingerprintOf('json', digest);
    const accepted = jsonItem(text.slice(spans.items[k], spans.items[k + 1]), fingerprint, keys, context, out);
    if (accepted === undefined) return undefined;
    pieces.push(piece(bytes, digest, fingerprint, accepted));
    offset += bytes;
  }
  const head = piece(lengths[0]!, pieceHash(buffer, 0, lengths[0]!), '', { outcome: 'frame', documents: 0, keys: spans.totalKeys - itemKeys });
  const tailBytes = lengths.at(-1)!;
  const tail = piece(tailBytes, pieceHash(buffer, buffer.length - tailBytes, buffer.length), '', { outcome: 'frame', documents: 0, keys: 0 });
  return { result: { entries: out.entries, problems: out.problems }, pieces: [head, ...pieces, tail], scanned: buffer.length, ends: NO_ENDS };
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
/** The synthetic List the edited items of a JSON List are scanned in: the same depth, `{}` standing for the items kept between them. */
const LIST_OPEN = '{"items":[';

/**
 * The new parse of a `.json` List from its previous pieces: the head and tail unchanged, the edited
 * runs of items scanned in one synthetic List, each run between stand-ins of the kept items around
 * it (`{}` for a run of them that starts with the List's first item, `,{}` otherwise), so that
 * separators, depth, duplicate keys and the key count are checked as the whole scan checks them.
 * Undefined when an edit reaches the head or tail, or the edited items are not plain JSON.
 */
export function followJson(previous: readonly Piece[], context: Context, reuse?: Reuse): Followed | undefined {
  const { buffer, limits } = context;
  if (buffer.length > limits.maxBytes) return undefined;
  const n = previous.length;
  const segments = align(previous, buffer, jsonItemEnd, context.kept);
  // The head and the tail kept, where they were.
  const last = segments.at(-1);
  if (segments[0]?.kept !== 0 || last?.kept === undefined || last.kept + last.count !== n) return undefined;
  let synthetic = LIST_OPEN;
  const runs: { readonly from: number; readonly to: number; readonly text: string }[] = [];
  let standIn: string | undefined;
  for (const segment of segments) {
    if (segment.kept !== undefined) {
      // The items of the run (not the List's head or tail piece).
      const first = Math.max(segment.kept, 1);
      if (first < Math.min(segment.kept + segment.count, n - 1)) standIn ??= first === 1 ? '{}' : ',{}';
      continue;
    }
    const edited = buffer.subarray(segment.start, segment.end);
    if (!isUtf8(edited)) return undefined;
    const text = edited.toString('utf8');
    synthetic += standIn ?? '';
    standIn = undefined;
    runs.push({ from: synthetic.length, to: synthetic.length + text.length, text });
    synthetic += text;
  }
  synthetic += `${standIn ?? ''}]}`;
  const ends = reusedEnds(previous, segments, reuse);
  // The items taken over at the start: each a clean piece, one document and one entry.
  const out: Output = { entries: [], problems: [], document: ends.headEntries, scanned: 0 };
  const pieces: Piece[] = previous.slice(0, ends.head);
  const reparse = (text: string, fingerprint: string, keys: number) => acceptJsonPiece(text, fingerprint, keys, context, out);
  let spans: JsonListSpans | undefined;
  if (runs.length > 0) {
    const scan = scanJsonList(synthetic, limits);
    spans = scan.spans;
    if (scan.failure !== undefined || !spans.complete || spans.open !== LIST_OPEN.length - 1 || spans.close !== synthetic.length - 2 || !separatorsOnly(synthetic, spans)) return undefined;
  }
  let run = 0;
  let item = 0;
  for (const segment of segments) {
    if (segment.kept !== undefined) {
      if (!emitKeptRun(previous, segment, ends, context, out, pieces, reparse)) return undefined;
      continue;
    }
    const { from, to, text } = runs[run++]!;
    out.scanned += segment.end - segment.start;
    while (spans!.items[item]! < from) item += 2;
    // The edited text is whole pieces: each ends with an item, nothing after the last.
    let at = from;
    let offset = segment.start;
    for (; item < spans!.items.length && spans!.items[item + 1]! <= to; item += 2) {
      const itemEnd = spans!.items[item + 1]!;
      const bytes = Buffer.byteLength(text.slice(at - from, itemEnd - from));
      const digest = pieceHash(buffer, offset, offset + bytes);
      const keys = spans!.keys[item + 1]! - spans!.keys[item]!;
      const fingerprint = fingerprintOf('json', digest);
      const accepted = jsonItem(synthetic.slice(spans!.items[item], itemEnd), fingerprint, keys, context, out);
      if (accepted === undefined) return undefined;
      pieces.push(piece(bytes, digest, fingerprint, accepted));
      offset += bytes;
      at = itemEnd;
    }
    if (at !== to) return undefined;
  }
  const all = withTail(pieces, previous, ends);
  if (!keysWithin(all, limits)) return undefined;
  return { result: { entries: out.entries, problems: out.problems }, pieces: all, scanned: out.scanned, ends };
}
