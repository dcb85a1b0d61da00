/**
 * Text gzipped as it is written, through two scratch buffers reused for the whole body. A zlib
 * stream given a string makes a Buffer of it; for a full sync body at 50,000 hosts that was
 * ~80 MB of ArrayBuffers made and dropped per body, and ArrayBuffer bytes are what V8 weighs to
 * start a full collection early ("external memory pressure") of a heap the size of the world.
 * Here a body costs the two scratch buffers and its gzipped bytes.
 */
import { createGzip } from 'node:zlib';

/** Bytes of each scratch buffer. */
const SCRATCH_BYTES = 128 * 1024;

const encoder = new TextEncoder();

/** One gzipped body being written: `write` text, then `end` for the gzip bytes. Not reusable after `end`. */
export class GzipText {
  readonly #zip = createGzip();
  readonly #out: Buffer[] = [];
  readonly #finished: Promise<void>;
  readonly #scratch: readonly [Uint8Array, Uint8Array];
  /** The scratch buffer being filled (0 or 1) and its bytes filled so far. */
  #filling = 0;
  #filled = 0;
  /** Per scratch buffer, the write of it the stream has not consumed yet (it is not filled again before). */
  readonly #inStream: [Promise<void> | undefined, Promise<void> | undefined] = [undefined, undefined];
  #ended = false;

  /** `scratchBytes` (>= 16) per scratch buffer; the default suits bodies of any size. */
  constructor(scratchBytes = SCRATCH_BYTES) {
    if (!Number.isInteger(scratchBytes) || scratchBytes < 16) throw new RangeError(`scratch buffers must be at least 16 bytes, not ${scratchBytes}`);
    this.#scratch = [new Uint8Array(scratchBytes), new Uint8Array(scratchBytes)];
    this.#zip.on('data', (chunk: Buffer) => this.#out.push(chunk));
    this.#finished = new Promise<void>((resolve, reject) => {
      this.#zip.on('end', resolve);
      this.#zip.on('error', reject);
    });
    // Awaited by `end`; a failure before that must not count as unhandled.
    this.#finished.catch(() => undefined);
  }

  /** Appends `text` (UTF-8). Resolves once it is in a scratch buffer or the stream; waits while both buffers are in the stream. Throws after `end`. */
  async write(text: string): Promise<void> {
    if (this.#ended) throw new Error('GzipText: write after end');
    let rest = text;
    while (rest.length > 0) {
      const { read, written } = encoder.encodeInto(rest, this.#scratch[this.#filling]!.subarray(this.#filled));
      this.#filled += written;
      // A slice of a flat string is a view of it (no copy), so a long text is not copied per buffer.
      rest = read === rest.length ? '' : rest.slice(read);
      // Full, or too full for the next character: into the stream, and fill the other buffer.
      if (rest.length > 0) await this.#pass();
    }
  }

  /** Ends the body: the gzip bytes of all the text written. Rejects when the stream failed. */
  async end(): Promise<Buffer> {
    if (this.#ended) throw new Error('GzipText: ended twice');
    if (this.#filled > 0) await this.#pass();
    this.#ended = true;
    this.#zip.end();
    await this.#finished;
    return this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out);
  }

  /** Hands the buffer being filled to the stream, then waits until the other one is consumed (the stream reads a write's bytes until its callback). */
  async #pass(): Promise<void> {
    const index = this.#filling;
    const bytes = this.#scratch[index]!.subarray(0, this.#filled);
    const consumed = new Promise<void>((resolve, reject) => this.#zip.write(bytes, (error) => (error ? reject(error) : resolve())));
    consumed.catch(() => undefined);
    this.#inStream[index] = consumed;
    this.#filling = index ^ 1;
    this.#filled = 0;
    const other = this.#inStream[this.#filling];
    this.#inStream[this.#filling] = undefined;
    await other;
  }
}
