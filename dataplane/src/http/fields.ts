/**
 * Field-line syntax shared by the request and response parsers (RFC 9112 §5): a tchar name, a
 * colon with no whitespace before it, optional whitespace, a value of field-value bytes. No
 * obs-fold, no bare CR. Results go into a caller-owned Span so nothing is allocated per line.
 */
import { CR, FIELD_VALUE, HTAB, LF, SP, TCHAR } from './chars.ts';

/** A mutable [start, end) pair, reused across calls. */
export interface Span {
  start: number;
  end: number;
}

/** A field line's colon and value bounds, reused across calls. */
export interface FieldSpan extends Span {
  colon: number;
}

/** parseFieldLine() results besides a line end: malformed, or the line is not complete in the buffer. */
export const LINE_INVALID = -1;
export const LINE_INCOMPLETE = -2;

/**
 * Parses the field line starting at buf[start], scanning at most up to `limit`, in one pass that
 * also finds its end: returns the offset of the CR of its CRLF, LINE_INCOMPLETE when `limit` came
 * first, or LINE_INVALID (a non-tchar name byte, whitespace before the colon, a leading space
 * (obs-fold), a control byte in the value, a bare CR or LF). The colon's offset goes into
 * `value.colon`, the value without surrounding whitespace into value.start/value.end.
 */
export function parseFieldLine(buf: Uint8Array, start: number, limit: number, value: FieldSpan): number {
  let at = start;
  while (at < limit && TCHAR[buf[at] as number] === 1) at++;
  if (at === limit) return LINE_INCOMPLETE;
  // An empty name, whitespace before the colon or any other byte: never a field line.
  if (at === start || buf[at] !== 0x3a) return LINE_INVALID;
  value.colon = at;
  at++;
  while (at < limit && (buf[at] === SP || buf[at] === HTAB)) at++;
  const valueStart = at;
  while (at < limit && FIELD_VALUE[buf[at] as number] === 1) at++;
  if (at === limit) return LINE_INCOMPLETE;
  let valueEnd = at;
  while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
  if (buf[at] !== CR) return LINE_INVALID;
  if (at + 1 === limit) return LINE_INCOMPLETE;
  if (buf[at + 1] !== LF) return LINE_INVALID;
  value.start = valueStart;
  value.end = valueEnd;
  return at;
}

/**
 * Scans one element of a comma-separated token list (`#token`) in buf[pos, end): puts the token in
 * `element` (empty when the element is empty) and returns where the next element starts (end
 * after the last one), or -1 when the element is not a single token.
 */
export function listElement(buf: Uint8Array, pos: number, end: number, element: Span): number {
  let at = pos;
  while (at < end && (buf[at] === SP || buf[at] === HTAB)) at++;
  const start = at;
  while (at < end && TCHAR[buf[at] as number] === 1) at++;
  element.start = start;
  element.end = at;
  while (at < end && (buf[at] === SP || buf[at] === HTAB)) at++;
  if (at === end) return end;
  if (buf[at] !== 0x2c) return -1;
  return at + 1;
}

/**
 * Records field line number `index` as the triple [start, end, kind] in `lines`, growing the
 * array (doubling) when full. Returns the array to keep: the same one unless it grew.
 */
export function pushFieldLine(lines: Int32Array<ArrayBuffer>, index: number, start: number, end: number, kind: number): Int32Array<ArrayBuffer> {
  let out = lines;
  const slot = index * 3;
  if (slot + 3 > out.length) {
    out = new Int32Array(out.length * 2);
    out.set(lines);
  }
  out[slot] = start;
  out[slot + 1] = end;
  out[slot + 2] = kind;
  return out;
}

/**
 * Adds `value` under `name` to a field record in node:http2's shape (`IncomingHttpHeaders`,
 * `OutgoingHttpHeaders`): the first value as it is, a repeated name's values gathered in an array.
 */
export function addField(fields: Record<string, string | string[] | number | undefined>, name: string, value: string): void {
  const seen = fields[name];
  if (seen === undefined) fields[name] = value;
  else if (Array.isArray(seen)) seen.push(value);
  else fields[name] = [String(seen), value];
}
