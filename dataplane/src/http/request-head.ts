/**
 * A strict, resumable HTTP/1.1 request-head parser over Buffers (RFC 9112). It is at least as
 * strict as Node's llhttp and never forwards what it cannot frame unambiguously: CRLF only, tchar
 * methods and names, no whitespace before a colon, no obs-fold, exactly one Host (HTTP/1.1), one
 * Content-Length, Transfer-Encoding only as a list ending in `chunked`, never both. The parse keeps
 * offsets into the buffer; nothing is copied except the few strings routing needs.
 */
import { COLON, CR, HOST, LF, SP, TARGET, TCHAR, equalsLower } from './chars.ts';
import type { FieldSpan, Span } from './fields.ts';
import { LINE_INCOMPLETE, LINE_INVALID, listElement, parseFieldLine, pushFieldLine } from './fields.ts';
import { K_CONNECTION, K_CONTENT_LENGTH, K_HOST, K_OTHER, K_REQUEST_ID, K_TRANSFER_ENCODING, K_UPGRADE, K_XFF, K_XF_HOST, K_XF_PORT, K_XF_PROTO, fieldKind, methodString } from './request-fields.ts';

/** parse() result: the head is not complete yet. */
export const NEED_MORE = 0;

/** Limits of the request parser. */
export interface RequestLimits {
  /** Request line plus header section, in bytes; larger answers 431. */
  readonly maxHeaderSize: number;
  /** Request-target length in bytes; longer answers 414. */
  readonly maxTargetLength: number;
}

const PHASE_LINE = 0;
const PHASE_FIELDS = 1;
const MAX_METHOD = 32;

/**
 * One request head, parsed in place. parse() may be called again with a longer buffer (same
 * start) and resumes at the first incomplete line. reset() prepares for the next request.
 */
export class RequestHead {
  readonly limits: RequestLimits;
  method = '';
  /** Offset of the request line (after any empty lines that preceded it). */
  requestStart = 0;
  targetStart = 0;
  targetEnd = 0;
  /** HTTP minor version: 1 or 0. */
  minor = 1;
  /** Offset of the first field line (after the request line's CRLF). */
  fieldsStart = 0;
  /** Field lines as triples [start, end (CRLF excluded), kind]. */
  lines = new Int32Array(96);
  lineCount = 0;
  hostStart = -1;
  hostEnd = -1;
  /** -1 when absent. */
  contentLength = -1;
  chunked = false;
  connectionClose = false;
  connectionUpgrade = false;
  /** Lower-case names the Connection header lists besides close/keep-alive/upgrade. */
  readonly connectionTokens: string[] = [];
  hasUpgrade = false;
  /** X-Forwarded-For values as [start, end) pairs. */
  readonly forwardedFor: number[] = [];
  requestIdStart = -1;
  requestIdEnd = -1;
  /** Whether X-Forwarded-Proto/-Host/-Port/X-Real-IP came in (they are kept from trusted peers). */
  hasForwardedProto = false;
  hasForwardedHost = false;
  hasForwardedPort = false;
  #pos = 0;
  #phase = PHASE_LINE;
  #hostCount = 0;
  #teSeen = false;
  #teLastChunked = false;
  #teOther = false;
  readonly #value: FieldSpan = { start: 0, end: 0, colon: 0 };
  readonly #element: Span = { start: 0, end: 0 };

  constructor(limits: RequestLimits) {
    this.limits = limits;
  }

  /** Clears everything for the next request. */
  reset(): void {
    this.method = '';
    this.#pos = 0;
    this.#phase = PHASE_LINE;
    this.lineCount = 0;
    this.hostStart = this.hostEnd = -1;
    this.#hostCount = 0;
    this.contentLength = -1;
    this.chunked = this.connectionClose = this.connectionUpgrade = this.hasUpgrade = false;
    if (this.connectionTokens.length !== 0) this.connectionTokens.length = 0;
    if (this.forwardedFor.length !== 0) this.forwardedFor.length = 0;
    this.requestIdStart = this.requestIdEnd = -1;
    this.hasForwardedProto = this.hasForwardedHost = this.hasForwardedPort = false;
    this.#teSeen = this.#teLastChunked = this.#teOther = false;
  }

  /** Whether the message is framed with a body (Content-Length > 0 or chunked). */
  get hasBody(): boolean {
    return this.chunked || this.contentLength > 0;
  }

  /**
   * Parses buf (the head starts at offset 0). Returns the head's length (> 0) when complete,
   * NEED_MORE, or the negated status to answer: -400, -414 (target too long), -431 (head too
   * large), -501 (a method or transfer coding Portico does not implement), -505 (HTTP version).
   * One pass over the bytes: finding line ends and validating them is the same loop.
   */
  parse(buf: Buffer): number {
    const max = this.limits.maxHeaderSize;
    const limit = buf.length;
    let pos = this.#pos;
    for (;;) {
      if (pos >= limit) return limit > max ? -431 : NEED_MORE;
      if (buf[pos] === CR) {
        if (pos + 1 === limit) return limit > max ? -431 : NEED_MORE;
        if (buf[pos + 1] !== LF) return -400;
        pos += 2;
        if (pos > max) return -431;
        this.#pos = pos;
        // RFC 9112 §2.2: empty lines before the request-line are ignored.
        if (this.#phase === PHASE_LINE) continue;
        const status = this.#finish();
        return status === 0 ? pos : status;
      }
      let end: number;
      if (this.#phase === PHASE_LINE) {
        end = this.#requestLine(buf, pos, limit);
      } else {
        end = parseFieldLine(buf, pos, limit, this.#value);
        if (end === LINE_INVALID) return -400;
      }
      if (end === LINE_INCOMPLETE) return limit > max ? -431 : NEED_MORE;
      if (end < 0) return end;
      if (end + 2 > max) return -431;
      if (this.#phase === PHASE_LINE) {
        this.requestStart = pos;
        this.fieldsStart = end + 2;
        this.#phase = PHASE_FIELDS;
      } else {
        const status = this.#fieldLine(buf, pos, end);
        if (status !== 0) return status;
      }
      pos = end + 2;
      this.#pos = pos;
    }
  }

  /** Parses the request line at buf[start]; returns the offset of its CR, LINE_INCOMPLETE, or a negated status. */
  #requestLine(buf: Buffer, start: number, limit: number): number {
    let at = start;
    while (at < limit && TCHAR[buf[at] as number] === 1) at++;
    if (at === limit) return LINE_INCOMPLETE;
    if (at === start || at - start > MAX_METHOD || buf[at] !== SP) return -400;
    const method = methodString(buf, start, at);
    if (method === '') return -501;
    this.method = method;
    const targetStart = ++at;
    while (at < limit && TARGET[buf[at] as number] === 1) at++;
    if (at - targetStart > this.limits.maxTargetLength) return -414;
    if (at === limit) return LINE_INCOMPLETE;
    if (at === targetStart || buf[at] !== SP) return -400;
    this.targetStart = targetStart;
    this.targetEnd = at;
    // origin-form only, and asterisk-form for OPTIONS; absolute- and authority-form are refused.
    const first = buf[targetStart];
    if (first !== 0x2f && !(first === 0x2a && at - targetStart === 1 && method === 'OPTIONS')) return -400;
    at++;
    if (limit - at < 10) {
      // A line end already here is early: the version is cut short or ends in a bare LF.
      for (let i = at; i < limit; i++) if (buf[i] === LF || (buf[i] === CR && i !== at + 8)) return -400;
      return LINE_INCOMPLETE;
    }
    // Exactly "HTTP/1.1" or "HTTP/1.0" then CRLF; another well-formed version is 505.
    if (buf[at] !== 0x48 || buf[at + 1] !== 0x54 || buf[at + 2] !== 0x54 || buf[at + 3] !== 0x50 || buf[at + 4] !== 0x2f || buf[at + 6] !== 0x2e) return -400;
    if (buf[at + 8] !== CR || buf[at + 9] !== LF) return -400;
    const major = (buf[at + 5] as number) - 0x30;
    const minor = (buf[at + 7] as number) - 0x30;
    if (major < 0 || major > 9 || minor < 0 || minor > 9) return -400;
    if (major !== 1 || minor > 1) return -505;
    this.minor = minor;
    return at + 8;
  }

  #fieldLine(buf: Buffer, start: number, end: number): number {
    const value = this.#value;
    const kind = fieldKind(buf, start, value.colon);
    this.lines = pushFieldLine(this.lines, this.lineCount++, start, end, kind);
    switch (kind) {
      case K_OTHER: return 0;
      case K_HOST: return this.#host(buf, value.start, value.end);
      case K_CONTENT_LENGTH: return this.#contentLength(buf, value.start, value.end);
      case K_TRANSFER_ENCODING: return this.#transferEncoding(buf, value.start, value.end);
      case K_CONNECTION: return this.#connection(buf, value.start, value.end);
      case K_UPGRADE:
        this.hasUpgrade = true;
        return 0;
      case K_XFF:
        this.forwardedFor.push(value.start, value.end);
        return 0;
      case K_XF_PROTO:
        this.hasForwardedProto = true;
        return 0;
      case K_XF_HOST:
        this.hasForwardedHost = true;
        return 0;
      case K_XF_PORT:
        this.hasForwardedPort = true;
        return 0;
      case K_REQUEST_ID:
        if (this.requestIdStart < 0 && value.end > value.start) {
          this.requestIdStart = value.start;
          this.requestIdEnd = value.end;
        }
        return 0;
      default: return 0;
    }
  }

  #host(buf: Buffer, start: number, end: number): number {
    if (++this.#hostCount > 1) return -400;
    for (let at = start; at < end; at++) if (HOST[buf[at] as number] !== 1) return -400;
    this.hostStart = start;
    this.hostEnd = end;
    return 0;
  }

  #contentLength(buf: Buffer, start: number, end: number): number {
    // Duplicates are refused even when equal (llhttp does the same); no lists, no signs, no spaces.
    if (this.contentLength >= 0 || end === start || end - start > 15) return -400;
    let length = 0;
    for (let at = start; at < end; at++) {
      const digit = (buf[at] as number) - 0x30;
      if (digit < 0 || digit > 9) return -400;
      length = length * 10 + digit;
    }
    this.contentLength = length;
    return 0;
  }

  #transferEncoding(buf: Buffer, start: number, end: number): number {
    this.#teSeen = true;
    if (start === end) return -400;
    const element = this.#element;
    let at = start;
    while (at < end) {
      at = listElement(buf, at, end, element);
      if (at < 0 || element.start === element.end) return -400;
      if (equalsLower(buf, element.start, element.end, 'chunked')) {
        // chunked applied twice is never valid (RFC 9112 §6.1).
        if (this.chunked) return -400;
        this.chunked = true;
        this.#teLastChunked = true;
      } else {
        this.#teOther = true;
        this.#teLastChunked = false;
      }
    }
    return 0;
  }

  #connection(buf: Buffer, start: number, end: number): number {
    const element = this.#element;
    let at = start;
    while (at < end) {
      at = listElement(buf, at, end, element);
      if (at < 0) return -400;
      if (element.start === element.end) continue;
      if (equalsLower(buf, element.start, element.end, 'close')) this.connectionClose = true;
      else if (equalsLower(buf, element.start, element.end, 'upgrade')) this.connectionUpgrade = true;
      else if (!equalsLower(buf, element.start, element.end, 'keep-alive')) this.connectionTokens.push(buf.latin1Slice(element.start, element.end).toLowerCase());
    }
    return 0;
  }

  #finish(): number {
    if (this.#hostCount === 0 && this.minor === 1) return -400;
    if (this.#teSeen) {
      // Both framings, TE from an HTTP/1.0 client, or chunked not last: the length is unknowable.
      if (this.contentLength >= 0 || this.minor === 0 || !this.#teLastChunked) return -400;
      if (this.#teOther) return -501;
    }
    return 0;
  }

  /** Name of field line `index` is buf[start, colon); returns the colon offset. */
  colonOf(buf: Buffer, index: number): number {
    return buf.indexOf(COLON, this.lines[index * 3] as number);
  }
}
