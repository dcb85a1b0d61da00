/**
 * A strict, resumable HTTP/1.x response-head parser for what comes back from endpoints. It reads
 * just what framing and forwarding need (status, Content-Length, Transfer-Encoding, Connection)
 * and rejects what would make the framing ambiguous (both lengths, duplicate Content-Length, bad
 * syntax): the proxy answers 502 and never reuses such a connection.
 */
import { CR, FIELD_VALUE, LF, LOWER, equalsLower } from './chars.ts';
import type { FieldSpan, Span } from './fields.ts';
import { LINE_INCOMPLETE, LINE_INVALID, listElement, parseFieldLine, pushFieldLine } from './fields.ts';

/** Field-line kinds of a response. */
export const R_OTHER = 0;
export const R_CONTENT_LENGTH = 1;
export const R_TRANSFER_ENCODING = 2;
export const R_CONNECTION = 3;
/** Keep-Alive, Proxy-Connection: always dropped. */
export const R_HOP = 4;
export const R_UPGRADE = 5;

function fieldKind(buf: Uint8Array, start: number, end: number): number {
  const first = LOWER[buf[start] as number];
  switch (end - start) {
    case 7: return first === 0x75 && equalsLower(buf, start, end, 'upgrade') ? R_UPGRADE : R_OTHER;
    case 10:
      if (first === 0x63) return equalsLower(buf, start, end, 'connection') ? R_CONNECTION : R_OTHER;
      return first === 0x6b && equalsLower(buf, start, end, 'keep-alive') ? R_HOP : R_OTHER;
    case 14: return first === 0x63 && equalsLower(buf, start, end, 'content-length') ? R_CONTENT_LENGTH : R_OTHER;
    case 16: return first === 0x70 && equalsLower(buf, start, end, 'proxy-connection') ? R_HOP : R_OTHER;
    case 17: return first === 0x74 && equalsLower(buf, start, end, 'transfer-encoding') ? R_TRANSFER_ENCODING : R_OTHER;
    default: return R_OTHER;
  }
}

/** One response head, parsed in place; parse() resumes on a longer buffer, reset() starts over. */
export class ResponseHead {
  readonly maxHeaderSize: number;
  status = 0;
  minor = 1;
  /** Offset of the first field line. */
  fieldsStart = 0;
  /** Field lines as triples [start, end (CRLF excluded), kind]. */
  lines = new Int32Array(96);
  lineCount = 0;
  contentLength = -1;
  /** Transfer-Encoding present (the body is chunked when `chunked`, else close-delimited). */
  transferEncoding = false;
  /** Transfer-Encoding's last coding is chunked. */
  chunked = false;
  connectionClose = false;
  connectionKeepAlive = false;
  /** Lower-case names listed in Connection besides close/keep-alive/upgrade. */
  readonly connectionTokens: string[] = [];
  /** Any line the client must not see (Connection, Keep-Alive, Proxy-Connection, Upgrade). */
  hopByHop = false;
  /** The endpoint sent a Server line (else Portico adds its own to a final response). */
  hasServer = false;
  #pos = 0;
  #lineDone = false;
  readonly #value: FieldSpan = { start: 0, end: 0, colon: 0 };
  readonly #element: Span = { start: 0, end: 0 };

  constructor(maxHeaderSize: number) {
    this.maxHeaderSize = maxHeaderSize;
  }

  /** Clears everything for the next response. */
  reset(): void {
    this.#pos = 0;
    this.#lineDone = false;
    this.lineCount = 0;
    this.contentLength = -1;
    this.transferEncoding = this.chunked = this.connectionClose = this.connectionKeepAlive = this.hopByHop = this.hasServer = false;
    if (this.connectionTokens.length !== 0) this.connectionTokens.length = 0;
  }

  /**
   * Parses buf[0, limit) (the head starts at 0). Returns the head length (> 0) when complete, 0
   * when more bytes are needed, or -502 when the head is unusable.
   */
  parse(buf: Buffer, limit = buf.length): number {
    const max = this.maxHeaderSize;
    let pos = this.#pos;
    for (;;) {
      if (pos >= limit) return limit > max ? -502 : 0;
      let end: number;
      if (!this.#lineDone) {
        end = this.#statusLine(buf, pos, limit);
      } else if (buf[pos] === CR) {
        if (pos + 1 === limit) return limit > max ? -502 : 0;
        if (buf[pos + 1] !== LF || pos + 2 > max) return -502;
        this.#pos = pos + 2;
        // Both framings at once is how response smuggling starts; nginx refuses it too.
        if (this.transferEncoding && this.contentLength >= 0) return -502;
        return pos + 2;
      } else {
        end = parseFieldLine(buf, pos, limit, this.#value);
        if (end >= 0 && !this.#fieldLine(buf, pos, end)) return -502;
      }
      if (end === LINE_INCOMPLETE) return limit > max ? -502 : 0;
      if (end < 0 || end + 2 > max) return -502;
      if (!this.#lineDone) {
        this.#lineDone = true;
        this.fieldsStart = end + 2;
      }
      pos = end + 2;
      this.#pos = pos;
    }
  }

  /** Parses "HTTP/1.x SSS[ reason]" at buf[start]; returns the offset of its CR, LINE_INCOMPLETE or LINE_INVALID. */
  #statusLine(buf: Buffer, start: number, limit: number): number {
    if (limit - start < 14) {
      for (let i = start; i < limit; i++) if (buf[i] === LF) return LINE_INVALID;
      return LINE_INCOMPLETE;
    }
    if (buf[start] !== 0x48 || buf[start + 1] !== 0x54 || buf[start + 2] !== 0x54 || buf[start + 3] !== 0x50) return LINE_INVALID;
    if (buf[start + 4] !== 0x2f || buf[start + 5] !== 0x31 || buf[start + 6] !== 0x2e || buf[start + 8] !== 0x20) return LINE_INVALID;
    const minor = buf[start + 7];
    if (minor !== 0x30 && minor !== 0x31) return LINE_INVALID;
    this.minor = minor - 0x30;
    let status = 0;
    for (let at = start + 9; at < start + 12; at++) {
      const digit = (buf[at] as number) - 0x30;
      if (digit < 0 || digit > 9) return LINE_INVALID;
      status = status * 10 + digit;
    }
    if (status < 100) return LINE_INVALID;
    this.status = status;
    let at = start + 12;
    if (buf[at] !== CR) {
      if (buf[at] !== 0x20) return LINE_INVALID;
      for (at++; at < limit; at++) {
        const byte = buf[at] as number;
        if (FIELD_VALUE[byte] !== 1) break;
      }
      if (at === limit) return LINE_INCOMPLETE;
      if (buf[at] !== CR) return LINE_INVALID;
    }
    if (at + 1 === limit) return LINE_INCOMPLETE;
    return buf[at + 1] === LF ? at : LINE_INVALID;
  }

  #fieldLine(buf: Buffer, start: number, end: number): boolean {
    const value = this.#value;
    const kind = fieldKind(buf, start, value.colon);
    this.lines = pushFieldLine(this.lines, this.lineCount++, start, end, kind);
    switch (kind) {
      case R_CONTENT_LENGTH: return this.#contentLength(buf, value.start, value.end);
      case R_TRANSFER_ENCODING: return this.#transferEncoding(buf, value.start, value.end);
      case R_CONNECTION:
        this.hopByHop = true;
        return this.#connection(buf, value.start, value.end);
      case R_HOP:
      case R_UPGRADE:
        this.hopByHop = true;
        return true;
      default:
        if (value.colon - start === 6 && equalsLower(buf, start, value.colon, 'server')) this.hasServer = true;
        return true;
    }
  }

  #contentLength(buf: Buffer, start: number, end: number): boolean {
    if (this.contentLength >= 0 || end === start || end - start > 15) return false;
    let length = 0;
    for (let at = start; at < end; at++) {
      const digit = (buf[at] as number) - 0x30;
      if (digit < 0 || digit > 9) return false;
      length = length * 10 + digit;
    }
    this.contentLength = length;
    return true;
  }

  #transferEncoding(buf: Buffer, start: number, end: number): boolean {
    this.transferEncoding = true;
    const element = this.#element;
    let at = start;
    while (at < end) {
      at = listElement(buf, at, end, element);
      if (at < 0) return false;
      if (element.start === element.end) continue;
      this.chunked = equalsLower(buf, element.start, element.end, 'chunked');
    }
    return true;
  }

  #connection(buf: Buffer, start: number, end: number): boolean {
    const element = this.#element;
    let at = start;
    while (at < end) {
      at = listElement(buf, at, end, element);
      if (at < 0) return false;
      if (element.start === element.end) continue;
      if (equalsLower(buf, element.start, element.end, 'close')) this.connectionClose = true;
      else if (equalsLower(buf, element.start, element.end, 'keep-alive')) this.connectionKeepAlive = true;
      else if (!equalsLower(buf, element.start, element.end, 'upgrade')) this.connectionTokens.push(buf.latin1Slice(element.start, element.end).toLowerCase());
    }
    return true;
  }
}
