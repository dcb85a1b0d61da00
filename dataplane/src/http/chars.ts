/**
 * Byte classes of RFC 9110/9112 as lookup tables, so the parsers test a byte with one array read.
 */

/** Byte values the parsers name. */
export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;

function table(accept: (byte: number) => boolean): Uint8Array {
  const bytes = new Uint8Array(256);
  for (let byte = 0; byte < 256; byte++) bytes[byte] = accept(byte) ? 1 : 0;
  return bytes;
}

const isAlpha = (b: number): boolean => (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
const isDigit = (b: number): boolean => b >= 0x30 && b <= 0x39;

/** 1 for `tchar` (RFC 9110 §5.6.2): the bytes of methods, header names and codings. */
export const TCHAR = table((b) => isAlpha(b) || isDigit(b) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(b)));

/** 1 for bytes allowed inside a field value: VCHAR, SP, HTAB and obs-text; never CR, LF, NUL or DEL. */
export const FIELD_VALUE = table((b) => b === SP || b === HTAB || (b >= 0x21 && b <= 0x7e) || b >= 0x80);

/** 1 for bytes allowed in a request-target: visible ASCII only (llhttp refuses raw non-ASCII too). */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

/** 1 for bytes allowed in a Host value: unreserved, sub-delims, `%`, `:` and IP-literal brackets. */
export const HOST = table((b) => isAlpha(b) || isDigit(b) || "-._~!$&'()*+,;=:[]%".includes(String.fromCharCode(b)));

/** 1 for qdtext of a quoted-string (RFC 9110 §5.6.4). */
export const QDTEXT = table((b) => b === HTAB || b === SP || b === 0x21 || (b >= 0x23 && b <= 0x5b) || (b >= 0x5d && b <= 0x7e) || b >= 0x80);

/** Value of a hex digit, or -1. */
export const HEX = Int8Array.from({ length: 256 }, (_, b) => (isDigit(b) ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : b >= 0x41 && b <= 0x46 ? b - 0x37 : -1));

/** ASCII lower-case of a byte (other bytes unchanged). */
export const LOWER = Uint8Array.from({ length: 256 }, (_, b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b));

/** Whether buf[start, start + lower.length) equals the lower-case ASCII string `lower`, ignoring case. */
export function equalsLower(buf: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if (LOWER[buf[start + i] as number] !== lower.charCodeAt(i)) return false;
  return true;
}
