/**
 * Where a request body ends: Content-Length counted down, or chunked coding validated byte by
 * byte (ChunkedDecoder). Bytes past the end belong to the next (pipelined) request.
 */
import { CHUNKED_INVALID, ChunkedDecoder } from './http/chunked.ts';
import type { RequestHead } from './http/request-head.ts';

const NONE = 0;
const LENGTH = 1;
const CHUNKED = 2;

/** The framing state of the body of the request in flight. */
export class RequestBody {
  /** Every byte of the body has been seen (true at once for a request without body). */
  done = true;
  #mode = NONE;
  #remaining = 0;
  readonly #decoder: ChunkedDecoder;

  constructor(maxTrailerSize: number) {
    this.#decoder = new ChunkedDecoder(maxTrailerSize);
  }

  /** Starts the body of the request parsed into `head`. */
  reset(head: RequestHead): void {
    if (head.chunked) {
      this.#mode = CHUNKED;
      this.#decoder.reset();
      this.done = false;
    } else if (head.contentLength > 0) {
      this.#mode = LENGTH;
      this.#remaining = head.contentLength;
      this.done = false;
    } else {
      this.#mode = NONE;
      this.done = true;
    }
  }

  /**
   * Takes client bytes: returns how many of chunk[0, …) belong to the body (all of them while it
   * goes on), or CHUNKED_INVALID when chunked framing is broken. Sets `done` at the body's end.
   */
  feed(chunk: Buffer): number {
    if (this.#mode === LENGTH) {
      const take = Math.min(this.#remaining, chunk.length);
      this.#remaining -= take;
      this.done = this.#remaining === 0;
      return take;
    }
    if (this.#mode === CHUNKED) {
      const end = this.#decoder.feed(chunk, 0, chunk.length);
      if (end !== CHUNKED_INVALID) this.done = this.#decoder.done;
      return end;
    }
    return 0;
  }
}
