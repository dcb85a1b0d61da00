/**
 * Strict, bounded, linear-time parsing of configuration text (manifest files and API bodies).
 *
 * - Duplicate keys are refused, in JSON too, with one hash-set lookup per key (the `yaml`
 *   package's own `uniqueKeys` check compares every key with every earlier one: quadratic, 47 s
 *   of stalled event loop for a 189 KB body).
 * - Limits on size, total key count, nesting depth and alias expansion are checked before any
 *   value is built; a limit that is hit is named in the failure.
 * - Never throws for any input: a failure is a value, so it can cross a worker-thread boundary.
 *
 * Pure and synchronous; `parser-thread.ts` runs it off the event loop that serves traffic.
 */
import type { Document, Node as YamlNode } from 'yaml';
import { isAlias, isCollection, isMap, isPair, isScalar, isSeq, parseAllDocuments } from 'yaml';

/** Bounds on one parse. */
export interface ParseLimits {
  /** Largest text, in UTF-8 bytes. */
  readonly maxBytes: number;
  /** Most mapping keys in the whole text (all documents). */
  readonly maxKeys: number;
  /** Deepest nesting of mappings and sequences. */
  readonly maxDepth: number;
  /** YAML alias budget (the `yaml` package's maxAliasCount): billion-laughs documents fail. */
  readonly maxAliasCount: number;
}

/** Limits of an API request body (the body itself is also capped while it is read). */
export const API_BODY_LIMITS: ParseLimits = { maxBytes: 1024 * 1024, maxKeys: 10_000, maxDepth: 64, maxAliasCount: 50 };

/** Limits of one manifest file: room for thousands of Ingresses in one `List` (the yaml package parses a few hundred KB/s, so 4 MiB is tens of seconds of the parser thread on a loaded core), not for a memory bomb. */
export const MANIFEST_FILE_LIMITS: ParseLimits = { maxBytes: 4 * 1024 * 1024, maxKeys: 500_000, maxDepth: 64, maxAliasCount: 100 };

/** Limits of one `.json` manifest file: JSON parses a hundred times faster than YAML, so it may be larger (a 100k-Ingress fleet in 20 files). */
export const MANIFEST_JSON_LIMITS: ParseLimits = { maxBytes: 16 * 1024 * 1024, maxKeys: 2_000_000, maxDepth: 64, maxAliasCount: 100 };

/** The limits that apply to the manifest file `file` (by its extension). */
export function manifestLimits(file: string): ParseLimits {
  return /\.json$/i.test(file) ? MANIFEST_JSON_LIMITS : MANIFEST_FILE_LIMITS;
}

/** Which limit a text broke. */
export type LimitName = 'bytes' | 'keys' | 'depth' | 'aliases';

/** Why a text (or one document of it) was refused. */
export interface ParseFailure {
  /** `syntax`: not valid JSON/YAML; `duplicate-key`: a key appears twice in one mapping; `limit`: a bound was hit. */
  readonly kind: 'syntax' | 'duplicate-key' | 'limit';
  readonly message: string;
  /** Which limit, for `limit`. */
  readonly limit?: LimitName;
  /** 1-based position of the problem, when known. */
  readonly line?: number;
  readonly column?: number;
  /** JSON pointer of the offending key, when known. */
  readonly pointer?: string;
}

/** One parsed document, or why it was refused. */
export type ParsedDocument = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly failure: ParseFailure };

function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

function pointerOf(path: readonly (string | number)[]): string {
  return path.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

function tooBig(text: string, limits: ParseLimits): ParseFailure | undefined {
  // Cheap upper bound first: a UTF-16 unit is at most 3 UTF-8 bytes.
  if (text.length * 3 <= limits.maxBytes) return undefined;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= limits.maxBytes) return undefined;
  return { kind: 'limit', limit: 'bytes', message: `the document is ${bytes} bytes; the limit is ${limits.maxBytes} bytes` };
}

const limitFailure = (limit: LimitName, message: string, at?: { line: number; column: number }, pointer?: string): ParseFailure => ({ kind: 'limit', limit, message, ...at, ...(pointer === undefined ? {} : { pointer }) });

/** One open JSON container while scanning: its keys (objects) and where in it the scan is. */
interface JsonFrame {
  readonly keys: Set<string> | undefined;
  /** The current key (object) or element index (array). */
  at: string | number;
}

/**
 * Where the elements of the array under the root object's `items` key (a kubectl `List`) are in
 * JSON text, as scanJson found them: only its container elements are listed, so a scalar element
 * shows as text between the spans.
 */
export interface JsonListSpans {
  /** Offsets of the array's `[` and `]` (-1: not found). */
  open: number;
  close: number;
  /** Start and end (exclusive) offset of each container element, in pairs. */
  readonly items: number[];
  /** The running count of keys at the start and at the end of each container element (pairs, as `items`): an element's own keys are the difference. */
  readonly keys: number[];
  /** Keys in the whole text, when `complete`. */
  totalKeys: number;
  /** Whether the scan went through the whole text. */
  complete: boolean;
}

/**
 * Checks JSON text for duplicate keys and limits in one pass, without building values; syntax is
 * left to JSON.parse. Returns the first failure, or undefined. With `spans`, notes where a List's
 * items are on the way.
 */
function scanJson(text: string, limits: ParseLimits, spans?: JsonListSpans): ParseFailure | undefined {
  const stack: JsonFrame[] = [];
  let keys = 0;
  const n = text.length;
  const path = () => stack.map((frame) => frame.at);
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22) {
      let j = i + 1;
      let escaped = false;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === 0x5c) {
          escaped = true;
          j += 2;
          continue;
        }
        if (c === 0x22) break;
        j++;
      }
      const top = stack[stack.length - 1];
      if (top?.keys !== undefined) {
        let k = j + 1;
        while (k < n && (text.charCodeAt(k) === 0x20 || text.charCodeAt(k) === 0x0a || text.charCodeAt(k) === 0x0d || text.charCodeAt(k) === 0x09)) k++;
        if (text.charCodeAt(k) === 0x3a) {
          let key: string;
          try {
            key = escaped ? (JSON.parse(text.slice(i, j + 1)) as string) : text.slice(i + 1, j);
          } catch {
            return undefined; // a broken string: JSON.parse names it
          }
          top.at = key;
          if (top.keys.has(key)) return { kind: 'duplicate-key', message: `duplicate key ${JSON.stringify(key)}`, ...position(text, i), pointer: pointerOf(path()) };
          top.keys.add(key);
          if (++keys > limits.maxKeys) return limitFailure('keys', `more than ${limits.maxKeys} keys`, position(text, i));
        }
      }
      i = j;
    } else if (ch === 0x7b || ch === 0x5b) {
      stack.push({ keys: ch === 0x7b ? new Set() : undefined, at: ch === 0x7b ? '' : 0 });
      if (stack.length > limits.maxDepth) return limitFailure('depth', `nested deeper than ${limits.maxDepth} levels`, position(text, i), pointerOf(path().slice(0, -1)));
      if (spans !== undefined) {
        if (stack.length === 2 && ch === 0x5b && spans.open < 0 && stack[0]!.keys !== undefined && stack[0]!.at === 'items') spans.open = i;
        else if (stack.length === 3 && spans.open >= 0 && spans.close < 0) {
          spans.items.push(i);
          spans.keys.push(keys);
        }
      }
    } else if (ch === 0x7d || ch === 0x5d) {
      if (spans !== undefined && spans.open >= 0 && spans.close < 0) {
        if (stack.length === 3) {
          spans.items.push(i + 1);
          spans.keys.push(keys);
        } else if (stack.length === 2) spans.close = i;
      }
      stack.pop();
    } else if (ch === 0x2c) {
      const top = stack[stack.length - 1];
      if (top !== undefined && top.keys === undefined) (top.at as number)++;
    }
  }
  if (spans !== undefined) {
    spans.complete = true;
    spans.totalKeys = keys;
  }
  return undefined;
}

/**
 * The checks parseJsonBounded makes before JSON.parse (size, duplicate keys, limits), noting
 * where a List's items are (`spans`). A failure here is what parseJsonBounded would report.
 */
export function scanJsonList(text: string, limits: ParseLimits): { readonly failure?: ParseFailure; readonly spans: JsonListSpans } {
  const spans: JsonListSpans = { open: -1, close: -1, items: [], keys: [], totalKeys: 0, complete: false };
  const failure = tooBig(text, limits) ?? scanJson(text, limits, spans);
  return failure === undefined ? { spans } : { failure, spans };
}

/** Parses one JSON value strictly: duplicate keys refused, limits enforced, trailing text refused. */
export function parseJsonBounded(text: string, limits: ParseLimits): ParsedDocument {
  const failure = tooBig(text, limits) ?? scanJson(text, limits);
  if (failure !== undefined) return { ok: false, failure };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (error) {
    const message = (error as Error).message;
    const at = /position (\d+)/.exec(message);
    return { ok: false, failure: { kind: 'syntax', message: `not valid JSON: ${message}`, ...(at ? position(text, Number(at[1])) : {}) } };
  }
}

/** The key of a YAML mapping entry as the JavaScript object will have it. */
function keyText(key: unknown): string {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return '';
  return String(key);
}

/**
 * Walks one YAML document's syntax tree without recursion: duplicate keys per mapping (a hash
 * set), the running key count and the depth. Returns the first failure, or undefined.
 */
function checkYamlTree(doc: Document, text: string, limits: ParseLimits, counter: { keys: number }): ParseFailure | undefined {
  const stack: { node: unknown; depth: number; path: (string | number)[] }[] = [{ node: doc.contents, depth: 0, path: [] }];
  while (stack.length > 0) {
    const { node, depth, path } = stack.pop()!;
    if (!isCollection(node)) continue;
    const at = () => (node.range ? position(text, node.range[0]) : undefined);
    if (depth + 1 > limits.maxDepth) return limitFailure('depth', `nested deeper than ${limits.maxDepth} levels`, at(), pointerOf(path));
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = keyText(pair.key);
        if (seen.has(key)) {
          const range = (pair.key as YamlNode | null)?.range;
          return { kind: 'duplicate-key', message: `duplicate key ${JSON.stringify(key)}`, ...(range ? position(text, range[0]) : {}), pointer: pointerOf([...path, key]) };
        }
        seen.add(key);
        if (++counter.keys > limits.maxKeys) return limitFailure('keys', `more than ${limits.maxKeys} keys`, at());
        if (isCollection(pair.key)) stack.push({ node: pair.key, depth: depth + 1, path: [...path, key] });
        if (pair.value !== null && !isAlias(pair.value)) stack.push({ node: pair.value, depth: depth + 1, path: [...path, key] });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, index) => {
        if (isCollection(item)) stack.push({ node: item, depth: depth + 1, path: [...path, index] });
      });
    }
  }
  return undefined;
}

/**
 * What the prescan (prescanYaml) finds in one piece of YAML text, enough to prescan a text made
 * of pieces without reading the pieces again (composePrescans). The flow nesting is a walk that
 * never goes below 0: started at depth d, it ends at max(d + net, floor) and its highest point
 * after an opening bracket is max(d + rise, peak) (a walk reflected at 0 is the unreflected one
 * or the one started at 0, whichever is higher).
 */
export interface YamlPrescan {
  /** The quote the piece starts inside (0: none, 0x22 `"`, 0x27 `'`), as it was scanned. */
  readonly quoteIn: number;
  /** The quote open at its end (0: none; -1: an escape pending across the end, which no piece continues). */
  readonly quoteOut: number;
  readonly colons: number;
  /** Openings minus closings. */
  readonly net: number;
  /** Depth at its end when started at 0. */
  readonly floor: number;
  /** Highest openings-minus-closings after an opening (-Infinity: no opening). */
  readonly rise: number;
  /** Highest depth after an opening when started at 0 (-Infinity: no opening). */
  readonly peak: number;
}

/**
 * The prescan's one pass over `text`, started inside quote `quoteIn`. With `bounds`, stops at the
 * first colon past `keys` or opening past `depth` (started at depth 0) and says where.
 */
function prescanPiece(text: string, quoteIn: number, bounds?: { readonly keys: number; readonly depth: number }): { readonly summary: YamlPrescan; readonly over?: { readonly limit: 'keys' | 'depth'; readonly at: number } } {
  const n = text.length;
  let colons = 0;
  let net = 0;
  let depth = 0;
  let rise = -Infinity;
  let peak = -Infinity;
  let quoteOut = 0;
  // Quoted scalar from `from` on: the offset of its closing quote, or past the end ("" escapes with \\, '' doubles the quote).
  const closing = (quote: number, from: number): number => {
    let i = from;
    for (; i < n && text.charCodeAt(i) !== quote; i++) if (quote === 0x22 && text.charCodeAt(i) === 0x5c) i++;
    if (i >= n) quoteOut = i > n ? -1 : quote;
    return i;
  };
  let i = quoteIn === 0 ? 0 : closing(quoteIn, 0) + 1;
  for (; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 || ch === 0x27) {
      i = closing(ch, i + 1);
    } else if (ch === 0x23 && (i === 0 || text.charCodeAt(i - 1) === 0x20 || text.charCodeAt(i - 1) === 0x0a || text.charCodeAt(i - 1) === 0x09)) {
      while (i < n && text.charCodeAt(i) !== 0x0a) i++;
    } else if (ch === 0x3a) {
      colons++;
      if (bounds !== undefined && colons > bounds.keys) return { summary: { quoteIn, quoteOut, colons, net, floor: depth, rise, peak }, over: { limit: 'keys', at: i } };
    } else if (ch === 0x5b || ch === 0x7b) {
      net++;
      depth++;
      if (net > rise) rise = net;
      if (depth > peak) peak = depth;
      if (bounds !== undefined && depth > bounds.depth) return { summary: { quoteIn, quoteOut, colons, net, floor: depth, rise, peak }, over: { limit: 'depth', at: i } };
    } else if (ch === 0x5d || ch === 0x7d) {
      net--;
      if (depth > 0) depth--;
    }
  }
  return { summary: { quoteIn, quoteOut, colons, net, floor: depth, rise, peak } };
}

/** The prescan's bounds: brackets and colons inside plain scalars (URLs, times) count too, so four and two times the limits. */
const prescanBounds = (limits: ParseLimits) => ({ keys: limits.maxKeys * 2, depth: limits.maxDepth * 4 });

/**
 * One pass over YAML text before it is parsed, outside quotes and comments: an upper bound of the
 * flow-collection nesting (`[`, `{`; the `yaml` composer recurses per level and overflows the
 * stack 100k levels deep) and of the mapping keys (every `:` counts). Texts far past either limit
 * are refused here in milliseconds instead of after seconds of parsing. Brackets and colons
 * inside plain scalars (URLs, times) count too, which is why the bounds applied are four and two
 * times the limits; the tree walk enforces the real ones.
 */
function prescanYaml(text: string, limits: ParseLimits): ParseFailure | undefined {
  const { over } = prescanPiece(text, 0, prescanBounds(limits));
  if (over === undefined) return undefined;
  return over.limit === 'keys' ? limitFailure('keys', `more than ${limits.maxKeys} keys`, position(text, over.at)) : limitFailure('depth', `nested deeper than ${limits.maxDepth} levels`, position(text, over.at));
}

/**
 * The prescan summary of one piece of YAML text that starts inside quote `quoteIn` (the
 * `quoteOut` of the piece before it; 0 for the first). A piece must start at the start of a line.
 */
export function prescanYamlPiece(text: string, quoteIn: number): YamlPrescan {
  return prescanPiece(text, quoteIn).summary;
}

/**
 * Whether text made of `pieces` (in order, each summarised by prescanYamlPiece) passes the
 * prescan yamlPrecheck makes: true when it does, false when it is refused, undefined when the
 * summaries do not chain (a piece was scanned starting inside another quote than the one the
 * piece before it ends in) and the text must be prescanned whole.
 */
export function composePrescans(pieces: Iterable<YamlPrescan>, limits: ParseLimits): boolean | undefined {
  const bounds = prescanBounds(limits);
  let quote = 0;
  let depth = 0;
  let colons = 0;
  for (const piece of pieces) {
    if (piece.quoteIn !== quote) return undefined;
    colons += piece.colons;
    if (colons > bounds.keys || Math.max(depth + piece.rise, piece.peak) > bounds.depth) return false;
    depth = Math.max(depth + piece.net, piece.floor);
    quote = piece.quoteOut;
  }
  return true;
}

/**
 * The checks parseYamlBounded makes on the whole text before parsing it (its size, and the
 * prescan's bounds on keys and flow nesting): a failure here is the one entry it would return.
 */
export function yamlPrecheck(text: string, limits: ParseLimits): ParseFailure | undefined {
  return tooBig(text, limits) ?? prescanYaml(text, limits);
}

/**
 * Parses multi-document YAML (JSON included) strictly and within `limits`. One entry per
 * non-empty document, in order; a failure in one document never hides the others, except the
 * `bytes` and `keys` limits and a flow nesting far past the depth limit, which refuse the whole text (one failed entry).
 * `counter.keys` counts the mapping keys of the documents walked (the `keys` limit is on the total).
 */
export function parseYamlBounded(text: string, limits: ParseLimits, counter: { keys: number } = { keys: 0 }): ParsedDocument[] {
  const big = yamlPrecheck(text, limits);
  if (big !== undefined) return [{ ok: false, failure: big }];
  let docs: Document[];
  try {
    // uniqueKeys: false — the package's check is quadratic; checkYamlTree does it in linear time.
    docs = parseAllDocuments(text, { uniqueKeys: false, strict: true, prettyErrors: false, stringKeys: false }) as Document[];
  } catch (error) {
    return [{ ok: false, failure: { kind: 'syntax', message: `not valid YAML: ${(error as Error).message}` } }];
  }
  if (!Array.isArray(docs)) return [{ ok: false, failure: { kind: 'syntax', message: 'not valid YAML' } }];
  const results: ParsedDocument[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      const error = doc.errors[0]!;
      const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      results.push({ ok: false, failure: { kind: 'syntax', message, ...position(text, error.pos[0]) } });
      continue;
    }
    if (doc.contents === null) continue; // an empty document (a trailing `---`) is not a document
    const failure = checkYamlTree(doc, text, limits, counter);
    if (failure !== undefined) {
      if (failure.limit === 'keys') return [{ ok: false, failure }];
      results.push({ ok: false, failure });
      continue;
    }
    try {
      results.push({ ok: true, value: doc.toJS({ maxAliasCount: limits.maxAliasCount }) as unknown });
    } catch (error) {
      const range = doc.contents?.range;
      const message = (error as Error).message;
      const aliases = /alias/i.test(message);
      results.push({
        ok: false,
        failure: aliases
          ? limitFailure('aliases', `aliases expand beyond the limit of ${limits.maxAliasCount} (a YAML bomb?)`, range ? position(text, range[0]) : undefined)
          : { kind: 'syntax', message: `not valid YAML: ${message}`, ...(range ? position(text, range[0]) : {}) },
      });
    }
  }
  return results;
}

/** One line describing a failure: the message with its position. */
export function describeFailure(failure: ParseFailure): string {
  const at = failure.line === undefined ? '' : ` at line ${failure.line}, column ${failure.column ?? 1}`;
  return `${failure.message}${at}`;
}
