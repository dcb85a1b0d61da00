/**
 * A streaming validator for chunked transfer coding (RFC 9112 §7.1). The proxy forwards chunked
 * bodies byte for byte, so it only needs to know where the message ends and that every byte up
 * to there is well-formed: hex sizes without sign, whitespace, `0x` or overflow; CRLF after each
 * chunk's data; chunk extensions as `;name[=token|quoted-string]` without whitespace; trailer
 * fields with field-line syntax. Data bytes are skipped, never inspected or copied.
 */
import { CR, FIELD_VALUE, HEX, HTAB, LF, QDTEXT, TCHAR } from './chars.ts';

const SIZE_START = 0;
const SIZE = 1;
const EXT_NAME_START = 2;
const EXT_NAME = 3;
const EXT_VALUE_START = 4;
const EXT_TOKEN = 5;
const EXT_QUOTED = 6;
const EXT_QUOTED_PAIR = 7;
const EXT_AFTER_QUOTED = 8;
const SIZE_LF = 9;
const DATA = 10;
const DATA_CR = 11;
const DATA_LF = 12;
const TRAILER_START = 13;
const TRAILER_NAME = 14;
const TRAILER_VALUE = 15;
const TRAILER_LF = 16;
const END_LF = 17;
const DONE = 18;

/** More than 16 hex digits (or a size past 2^53) is refused as an overflow attempt. */
const MAX_SIZE_DIGITS = 16;
/** Longest chunk-size line (size plus extensions) accepted. */
const MAX_SIZE_LINE = 4096;

/** feed() result: the bytes are malformed. */
export const CHUNKED_INVALID = -1;

/** Tracks one chunked message body across any number of buffers. */
export class ChunkedDecoder {
  readonly maxTrailerSize: number;
  /**
   * When set, feed() pushes the [start, end) offsets of the chunk data it passes over (an HTTP/2
   * client gets the data without the chunked framing); the reader empties it. Unset for
   * HTTP/1.1, which forwards the framing as it came.
   */
  spans: number[] | undefined;
  /**
   * With `spans` set: the trailer section's field lines as received (latin1, CRLF-separated), for
   * a client that gets them as HTTP/2 trailers (gRPC's grpc-status); bounded by maxTrailerSize.
   */
  trailerText = '';
  #state = SIZE_START;
  #size = 0;
  #digits = 0;
  #lineBytes = 0;
  #trailerBytes = 0;

  constructor(maxTrailerSize: number) {
    this.maxTrailerSize = maxTrailerSize;
  }

  /** Starts a new message. */
  reset(): void {
    this.#state = SIZE_START;
    this.#size = 0;
    this.#digits = 0;
    this.#lineBytes = 0;
    this.#trailerBytes = 0;
    this.trailerText = '';
  }

  /** Whether the last chunk and trailer section have been seen. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /**
   * Consumes buf[start, end). Returns the offset just past the message's final CRLF when the
   * message ends inside this range, `end` when all of it belongs to the message and more is
   * expected, or CHUNKED_INVALID.
   */
  feed(buf: Uint8Array, start: number, end: number): number {
    let state = this.#state;
    let at = start;
    while (at < end) {
      if (state === DATA) {
        const take = Math.min(this.#size, end - at);
        if (this.spans !== undefined && take !== 0) this.spans.push(at, at + take);
        at += take;
        this.#size -= take;
        if (this.#size === 0) state = DATA_CR;
        continue;
      }
      const byte = buf[at++] as number;
      switch (state) {
        case SIZE_START: {
          const digit = HEX[byte] as number;
          if (digit < 0) return CHUNKED_INVALID;
          this.#size = digit;
          this.#digits = 1;
          this.#lineBytes = 1;
          state = SIZE;
          break;
        }
        case SIZE: {
          const digit = HEX[byte] as number;
          if (digit >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) return CHUNKED_INVALID;
            this.#size = this.#size * 16 + digit;
            if (this.#size > Number.MAX_SAFE_INTEGER) return CHUNKED_INVALID;
          } else if (byte === 0x3b) state = EXT_NAME_START;
          else if (byte === CR) state = SIZE_LF;
          else return CHUNKED_INVALID;
          break;
        }
        case EXT_NAME_START:
          if (TCHAR[byte] !== 1) return CHUNKED_INVALID;
          state = EXT_NAME;
          break;
        case EXT_NAME:
          if (byte === 0x3d) state = EXT_VALUE_START;
          else if (byte === 0x3b) state = EXT_NAME_START;
          else if (byte === CR) state = SIZE_LF;
          else if (TCHAR[byte] !== 1) return CHUNKED_INVALID;
          break;
        case EXT_VALUE_START:
          if (byte === 0x22) state = EXT_QUOTED;
          else if (TCHAR[byte] === 1) state = EXT_TOKEN;
          else return CHUNKED_INVALID;
          break;
        case EXT_TOKEN:
          if (byte === 0x3b) state = EXT_NAME_START;
          else if (byte === CR) state = SIZE_LF;
          else if (TCHAR[byte] !== 1) return CHUNKED_INVALID;
          break;
        case EXT_QUOTED:
          if (byte === 0x22) state = EXT_AFTER_QUOTED;
          else if (byte === 0x5c) state = EXT_QUOTED_PAIR;
          else if (QDTEXT[byte] !== 1) return CHUNKED_INVALID;
          break;
        case EXT_QUOTED_PAIR:
          if (byte !== HTAB && (byte < 0x20 || byte === 0x7f)) return CHUNKED_INVALID;
          state = EXT_QUOTED;
          break;
        case EXT_AFTER_QUOTED:
          if (byte === 0x3b) state = EXT_NAME_START;
          else if (byte === CR) state = SIZE_LF;
          else return CHUNKED_INVALID;
          break;
        case SIZE_LF:
          if (byte !== LF) return CHUNKED_INVALID;
          state = this.#size === 0 ? TRAILER_START : DATA;
          break;
        case DATA_CR:
          if (byte !== CR) return CHUNKED_INVALID;
          state = DATA_LF;
          break;
        case DATA_LF:
          if (byte !== LF) return CHUNKED_INVALID;
          state = SIZE_START;
          break;
        case TRAILER_START:
          if (byte === CR) state = END_LF;
          else if (TCHAR[byte] === 1) {
            state = TRAILER_NAME;
            if (this.spans !== undefined) this.trailerText += String.fromCharCode(byte);
          }
          // A leading space is obs-fold; anything else is not a field line.
          else return CHUNKED_INVALID;
          break;
        case TRAILER_NAME:
          if (byte === 0x3a) state = TRAILER_VALUE;
          else if (TCHAR[byte] !== 1) return CHUNKED_INVALID;
          if (this.spans !== undefined) this.trailerText += String.fromCharCode(byte);
          break;
        case TRAILER_VALUE:
          if (byte === CR) state = TRAILER_LF;
          else if (FIELD_VALUE[byte] !== 1) return CHUNKED_INVALID;
          if (this.spans !== undefined) this.trailerText += String.fromCharCode(byte);
          break;
        case TRAILER_LF:
          if (byte !== LF) return CHUNKED_INVALID;
          state = TRAILER_START;
          if (this.spans !== undefined) this.trailerText += '\n';
          break;
        case END_LF:
          if (byte !== LF) return CHUNKED_INVALID;
          this.#state = DONE;
          return at;
        default:
          // DONE: the caller must not feed past the end.
          return CHUNKED_INVALID;
      }
      if (state >= SIZE && state <= EXT_AFTER_QUOTED && ++this.#lineBytes > MAX_SIZE_LINE) return CHUNKED_INVALID;
      if (state >= TRAILER_START && state <= END_LF && ++this.#trailerBytes > this.maxTrailerSize) return CHUNKED_INVALID;
    }
    this.#state = state;
    return end;
  }
}
