/**
 * ManifestParseCache's parse of multi-document YAML following the edit from the previous pieces
 * (no pieces: the whole text): exactly parseManifestKnown's, or undefined.
 */
import { isUtf8 } from 'node:buffer';
import { composePrescans, parseYamlBounded, prescanYamlPiece } from './bounded.ts';
import { acceptKnownDocument, documentFingerprint, isRecord, yamlDocumentSpans } from './parse.ts';
import type { Accepted, Boundary, Context, Followed, Output, Piece, Reuse } from './pieces.ts';
import { align, emitKeptRun, fingerprintOf, keysWithin, outcomeOf, piece, pieceHash, reusedEnds, withTail } from './pieces.ts';

/** Boundary of a YAML document: past the next `---` line (the whole check of the edited text is yamlDocumentSpans'). */
const yamlDocumentEnd: Boundary = (buffer, from, end) => {
  for (let at = buffer.indexOf('---', from); at >= 0 && at + 4 <= end; at = buffer.indexOf('---', at + 1)) {
    if (at !== from && buffer[at - 1] !== 0x0a && buffer[at - 1] !== 0x0d) continue;
    if (buffer[at + 3] === 0x0a) return at + 4;
    if (buffer[at + 3] === 0x0d && buffer[at + 4] === 0x0a && at + 5 <= end) return at + 5;
  }
  return undefined;
};

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
/**
 * The new parse of a YAML file from its previous pieces (none: the whole text). Undefined when the
 * text is not plain (directives, `...`, a marker line with more than `---`), a document does not
 * parse cleanly alone, or a limit of the whole text may be broken: the caller takes the full parse.
 */
export function followYaml(previous: readonly Piece[], context: Context, reuse?: Reuse): Followed | undefined {
  const { buffer, limits } = context;
  if (buffer.length > limits.maxBytes) return undefined;
  const segments = align(previous, buffer, yamlDocumentEnd, context.kept);
  const ends = reusedEnds(previous, segments, reuse);
  // The documents taken over at the start: each a clean piece, one document and one entry.
  const out: Output = { entries: [], problems: [], document: ends.headEntries, scanned: 0 };
  const pieces: Piece[] = previous.slice(0, ends.head);
  const reparse = (text: string, fingerprint: string) => acceptYamlPiece(text, fingerprint, context, out);
  for (const segment of segments) {
    if (segment.kept !== undefined) {
      if (!emitKeptRun(previous, segment, ends, context, out, pieces, reparse)) return undefined;
      continue;
    }
    // The quote the piece before ends in (its prescan's).
    let quote = pieces.at(-1)?.prescan!.quoteOut ?? 0;
    const edited = buffer.subarray(segment.start, segment.end);
    // Invalid UTF-8 decodes to U+FFFD, whose length is not the bytes' (limits count the decoded text);
    // a BOM anywhere but at the start is read differently in a document parsed alone.
    if (!isUtf8(edited)) return undefined;
    const text = edited.toString('utf8');
    out.scanned += edited.length;
    if (text.includes('\uFEFF', segment.start === 0 ? 1 : 0)) return undefined;
    const spans = yamlDocumentSpans(text);
    if (spans === undefined) return undefined;
    // Piece boundaries: after each `---` line. Before a kept piece, the edited text must end at one.
    const cuts: number[] = [0];
    for (let k = 2; k < spans.length; k += 2) if (spans[k]! > cuts.at(-1)!) cuts.push(spans[k]!);
    if (text.length > cuts.at(-1)!) cuts.push(text.length);
    if (segment.end < buffer.length && (spans.at(-2) !== text.length || text.charCodeAt(text.length - 1) !== 0x0a)) return undefined;
    let offset = segment.start;
    for (let k = 0; k + 1 < cuts.length; k++) {
      const pieceText = text.slice(cuts[k], cuts[k + 1]);
      const bytes = Buffer.byteLength(pieceText);
      const digest = pieceHash(buffer, offset, offset + bytes);
      const fingerprint = fingerprintOf('yaml', digest);
      const accepted = acceptYamlPiece(pieceText, fingerprint, context, out);
      if (accepted === undefined) return undefined;
      const prescan = prescanYamlPiece(pieceText, quote);
      quote = prescan.quoteOut;
      pieces.push(piece(bytes, digest, fingerprint, accepted, prescan));
      offset += bytes;
    }
  }
  const all = withTail(pieces, previous, ends);
  // The whole text's prescan from the pieces' summaries (undefined: a quote runs on across an edit's end).
  if (composePrescans(all.map((kept) => kept.prescan!), limits) !== true || !keysWithin(all, limits)) return undefined;
  return { result: { entries: out.entries, problems: out.problems }, pieces: all, scanned: out.scanned, ends };
}
