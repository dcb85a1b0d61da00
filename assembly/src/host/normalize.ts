/**
 * Request-path normalization before matching, shared by the data plane (which matches and
 * forwards the normalized path) and `explain` (which shows it). RFC 3986 §6.2.2: percent-encoded
 * unreserved characters are decoded and the remaining escapes upper-cased; §5.2.4: dot-segments
 * are removed; optionally runs of `/` are merged. The query is never touched. See
 * docs/matching.md for the choices and what nginx and Envoy do.
 */

/** What to do with an escaped slash (`%2F`) or backslash (`%5C`) in a path. */
export type EscapedSlashes =
  /** Keep them escaped, but refuse a path in which they would hide a `.` or `..` element (default). */
  | 'reject-traversal'
  /** Refuse any path that has one (Envoy REJECT_REQUEST). */
  | 'reject'
  /** Decode `%2F` to `/` before removing dot-segments (nginx's `$uri`); `%5C` stays escaped. */
  | 'decode'
  /** Keep them escaped, no check (Envoy's KEEP_UNCHANGED default). */
  | 'keep';

/** Normalization choices; every field has a default. */
export interface PathNormalization {
  /** Default `reject-traversal`. */
  readonly escapedSlashes?: EscapedSlashes;
  /** Merge runs of `/` into one (nginx `merge_slashes on`, Envoy `merge_slashes`). Default true. */
  readonly mergeSlashes?: boolean;
}

/** Why a path was refused (answered 400). */
export type PathRefusal = 'bad-escape' | 'escaped-slash' | 'escaped-traversal';

/** The escaped slash options, for flag parsing. */
export const ESCAPED_SLASHES: readonly EscapedSlashes[] = ['reject-traversal', 'reject', 'decode', 'keep'];

const HEX = '0123456789ABCDEF';

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  const lower = code | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** ALPHA / DIGIT / "-" / "." / "_" / "~" (RFC 3986 §2.3). */
function unreserved(code: number): boolean {
  const lower = code | 0x20;
  return (lower >= 0x61 && lower <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x2d || code === 0x2e || code === 0x5f || code === 0x7e;
}

/** True when nothing in `path` can change: no `%`, `\`, `//`, and no `.` right after a `/`. The common case, checked without allocating. */
function alreadyNormal(path: string, merge: boolean): boolean {
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code === 0x25 || code === 0x5c) return false;
    if (code === 0x2f && i + 1 < path.length) {
      const next = path.charCodeAt(i + 1);
      if (next === 0x2e || (merge && next === 0x2f)) return false;
    }
  }
  return true;
}

/** RFC 3986 §5.2.4 remove_dot_segments over a path that starts with `/`, element by element. */
function removeDotSegments(path: string): string {
  const output: string[] = [];
  const elements = path.split('/');
  // elements[0] is the empty string before the leading '/'.
  for (let i = 1; i < elements.length; i++) {
    const element = elements[i] as string;
    const last = i === elements.length - 1;
    if (element === '.') {
      if (last) output.push('');
    } else if (element === '..') {
      output.pop();
      if (last) output.push('');
    } else {
      output.push(element);
    }
  }
  return `/${output.join('/')}`;
}

/**
 * The normalized form of an origin-form request target (`/path?query`), or a PathRefusal when
 * the request must be refused: a `%` not followed by two hex digits, or an escaped slash the
 * `escapedSlashes` choice refuses. A target that does not start with `/` (`*`, absolute form) is
 * returned unchanged. Returns the very same string when nothing changes.
 */
export function normalizePath(target: string, options: PathNormalization = {}): string | PathRefusal {
  if (target.charCodeAt(0) !== 0x2f) return target;
  const merge = options.mergeSlashes ?? true;
  const question = target.indexOf('?');
  const path = question < 0 ? target : target.slice(0, question);
  if (alreadyNormal(path, merge)) return target;
  const escaped = options.escapedSlashes ?? 'reject-traversal';

  // Decode unreserved escapes, upper-case the rest, and find escaped slashes.
  let decoded = '';
  let escapedSlash = false;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code !== 0x25) {
      decoded += path[i];
      continue;
    }
    const high = hexValue(path.charCodeAt(i + 1));
    const low = hexValue(path.charCodeAt(i + 2));
    if (high < 0 || low < 0) return 'bad-escape';
    const byte = high * 16 + low;
    i += 2;
    if (unreserved(byte)) {
      decoded += String.fromCharCode(byte);
    } else if (byte === 0x2f && escaped === 'decode') {
      decoded += '/';
    } else {
      if (byte === 0x2f || byte === 0x5c) escapedSlash = true;
      decoded += `%${HEX[high]}${HEX[low]}`;
    }
  }
  if (escapedSlash && escaped === 'reject') return 'escaped-slash';
  if (escaped === 'reject-traversal' && (escapedSlash || decoded.includes('\\'))) {
    // Split at every spelling of a slash a backend might honour: an element that is then `.` or `..` is a traversal in disguise.
    for (const element of decoded.split(/\/|\\|%2F|%5C/)) if (element === '.' || element === '..') return 'escaped-traversal';
  }
  // Slashes are merged first, as nginx does: `/a//../b` is `/b`.
  const normalized = removeDotSegments(merge ? decoded.replace(/\/{2,}/g, '/') : decoded);
  const result = question < 0 ? normalized : normalized + target.slice(question);
  return result === target ? target : result;
}

/** Whether `normalizePath` refused the target. */
export function isPathRefusal(result: string): result is PathRefusal {
  return result === 'bad-escape' || result === 'escaped-slash' || result === 'escaped-traversal';
}
