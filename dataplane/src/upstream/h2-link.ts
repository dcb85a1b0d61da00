/**
 * One request to an HTTP/2 endpoint, behind the same face as an HTTP/1.1 endpoint connection
 * (`Upstream`): the Exchange writes the forwarded HTTP/1.1 request head and body to it and reads
 * HTTP/1.1 response bytes from it, so routing, policies, retries, failure decisions, passive
 * health, timeouts, metrics and every client protocol's relay stay one code path. Inside, the
 * head becomes HTTP/2 request headers on a new stream of a pooled session (h2-pool.ts), a chunked
 * body is unframed into DATA, and the response becomes an HTTP/1.1 head plus a chunked body
 * whose last chunk carries the HTTP/2 trailers (gRPC's `grpc-status` and `grpc-message`).
 *
 * Translation rules: connection-specific fields (Connection, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, Upgrade, TE, Trailer) are not sent; Host becomes `:authority`; a gRPC
 * request (content-type application/grpc…) gets `te: trailers`. A response with Content-Length
 * keeps it (trailers, if any, are dropped); any other response with a body is chunked.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { CANCEL, FLAG_END_STREAM, NO_ERROR, PROTOCOL_ERROR, REFUSED_STREAM } from '../h2/codes.ts';
import { isGrpcContentType } from '../grpc.ts';
import { reasonPhrase } from '../http/respond.ts';
import { addField } from '../http/fields.ts';
import type { H2Session } from './h2-pool.ts';
import type { Upstream, UpstreamOwner, UpstreamSocket } from './pool.ts';

/** Request fields never sent over HTTP/2 (RFC 9113 §8.2.2), plus Host (it is `:authority`). */
const NOT_SENT: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'http2-settings']);
/** Response fields never relayed as they came: the framing is Portico's. */
const NOT_RELAYED: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer']);
/** Trailer fields never relayed: framing and routing fields have no place in a trailer section (RFC 9110 §6.5.1). */
const TRAILERS_NOT_RELAYED: ReadonlySet<string> = new Set([...NOT_RELAYED, 'te', 'host', 'content-length', 'content-type', 'content-encoding', 'authorization', 'set-cookie']);
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** Body framing states of the HTTP/1.1 request written to the link. */
const HEAD = 0;
const NONE = 1;
const LENGTH = 2;
const CHUNK_SIZE = 3;
const CHUNK_DATA = 4;
const CHUNK_DATA_END = 5;
const TRAILERS = 6;
const DONE = 7;

/** A field name as HTTP/2 allows it (a lower-case token) and a field value without CR, LF or NUL (RFC 9113 §8.2.1). */
const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * The HTTP/1.1 field lines of `headers` (pseudo-headers and `skip` names left out), or undefined
 * when a name or value could not be written as HTTP/1.1 without changing its meaning (a CR or LF
 * would start another field: response splitting): the endpoint's response is then broken.
 */
function fieldLines(headers: IncomingHttpHeaders, skip: ReadonlySet<string>): string | undefined {
  let out = '';
  for (const name in headers) {
    if (name.charCodeAt(0) === 0x3a || skip.has(name)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (!FIELD_NAME.test(name)) return undefined;
    // Only set-cookie comes as a list; no list is made for the others.
    const count = typeof value === 'string' ? 1 : value.length;
    for (let i = 0; i < count; i++) {
      const one = typeof value === 'string' ? value : (value[i] as string);
      if (!FIELD_VALUE.test(one)) return undefined;
      out += `${name}: ${one}\r\n`;
    }
  }
  return out;
}

/** An HTTP/1.1-speaking link over one HTTP/2 stream. It is its own `socket`. */
export class H2Link implements Upstream, UpstreamSocket {
  readonly key: string;
  readonly socket: UpstreamSocket = this;
  owner: UpstreamOwner | undefined;
  connected: boolean;
  uses: number;
  retained = false;
  #session: H2Session;
  readonly #grpc: boolean;
  #stream: ClientHttp2Stream | undefined;
  #state = HEAD;
  /** Request body bytes (LENGTH) or chunk bytes (CHUNK_DATA) still to come. */
  #remaining = 0;
  /** An incomplete chunk-size or trailer line. */
  #line = '';
  #isHead = false;
  /** The response is chunked by us (no Content-Length from the endpoint, a body may follow). */
  #chunked = false;
  #trailers: IncomingHttpHeaders | undefined;
  #responded = false;
  #complete = false;
  #released = false;
  #notified = false;

  constructor(session: H2Session, owner: UpstreamOwner, grpc: boolean) {
    this.#session = session;
    this.key = session.key;
    this.owner = owner;
    this.#grpc = grpc;
    this.connected = session.connected;
    this.uses = session.started;
  }

  /** What broke the session, if anything (a TLS verification failure names its reason here). */
  get error(): Error | undefined {
    return this.#session.error;
  }

  /** The endpoint refused the stream unprocessed (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id). */
  get unprocessed(): boolean {
    return this.#stream?.rstCode === REFUSED_STREAM;
  }

  /** Whether the stream is open (the request head was written). */
  get opened(): boolean {
    return this.#stream !== undefined;
  }

  /** Takes its stream slot on `session` instead (before the stream is opened; see H2Pool.rehome). */
  moveTo(session: H2Session): void {
    this.#session = session;
    this.uses = session.started - 1;
    if (session.connected) this.sessionConnected();
  }

  /** The session is ready for streams. */
  sessionConnected(): void {
    if (this.connected) return;
    this.connected = true;
    this.owner?.onUpstreamConnect(this);
  }

  /** The session is gone. */
  sessionClosed(error: Error | undefined): void {
    // A stream of the session closes on its own (and says so); a link that never opened one is told here.
    if (this.#stream === undefined || this.#stream.closed) this.#close(error);
  }

  /** The exchange is over and the response was complete: the stream slot goes back. */
  release(): void {
    this.owner = undefined;
    if (this.#stream !== undefined && !this.#stream.closed && !this.#complete) this.#stream.close(CANCEL);
    this.#free();
  }

  /** Cancels the stream (never the session); the owner, if still set, gets onUpstreamClose. */
  destroy(): void {
    this.#reset(CANCEL);
  }

  /** Resets the stream with `code`, or (none open) closes the link on the next microtask; either way the owner hears of it once. */
  #reset(code: number): void {
    const stream = this.#stream;
    if (stream !== undefined && !stream.closed) stream.close(code);
    else queueMicrotask(() => this.#close(undefined));
  }

  // The socket face the Exchange and the relays use.

  get destroyed(): boolean {
    return this.#notified;
  }

  get writableLength(): number {
    return this.#stream?.writableLength ?? 0;
  }

  get writableNeedDrain(): boolean {
    return this.#stream?.writableNeedDrain ?? false;
  }

  /** Nothing to gather: the head opens the stream as it is written and the session frames the body (so nothing is copied to wait for uncork). */
  cork(): void {}

  uncork(): void {}

  isPaused(): boolean {
    return this.#stream?.isPaused() ?? false;
  }

  pause(): this {
    this.#stream?.pause();
    return this;
  }

  resume(): this {
    this.#stream?.resume();
    return this;
  }

  /** The request is complete by its framing; a half-close adds nothing. */
  end(): this {
    return this;
  }

  /** Takes HTTP/1.1 request bytes (head first, then body). Returns false when the stream pushes back. */
  write(chunk: Uint8Array): boolean {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#state === HEAD) return this.#head(buf);
    return this.#body(buf, 0);
  }

  /** Opens the stream with the request head at the start of `buf`; the rest is body. */
  #head(buf: Buffer): boolean {
    const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
    // forwardHead writes a whole head in one buffer; anything else is a bug, not input.
    if (end < 0) throw new Error('H2Link needs the whole request head in one write');
    const text = buf.latin1Slice(0, end);
    const lines = text.split('\r\n');
    const requestLine = lines[0] as string;
    const firstSpace = requestLine.indexOf(' ');
    const lastSpace = requestLine.lastIndexOf(' ');
    const method = requestLine.slice(0, firstSpace);
    let path = requestLine.slice(firstSpace + 1, lastSpace);
    // Absolute-form (a request meant for a proxy): HTTP/2 wants the path alone.
    if (path.charCodeAt(0) !== 0x2f) {
      const url = new URL(path);
      path = url.pathname + url.search;
    }
    this.#isHead = method === 'HEAD';
    const headers: OutgoingHttpHeaders = { ':method': method, ':scheme': this.#session.scheme, ':path': path };
    let chunked = false;
    let length = 0;
    let grpc = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'host') headers[':authority'] = value;
      if (name === 'transfer-encoding') chunked = true;
      if (name === 'content-length') length = Number(value);
      if (name === 'content-type' && isGrpcContentType(value)) grpc = true;
      if (NOT_SENT.has(name)) continue;
      addField(headers, name, value);
    }
    if (grpc || this.#grpc) headers.te = 'trailers';
    this.#state = chunked ? CHUNK_SIZE : length > 0 ? LENGTH : NONE;
    this.#remaining = length;
    const stream = this.#session.session.request(headers, { endStream: this.#state === NONE });
    this.#stream = stream;
    stream.on('response', (response, flags: number) => this.#onResponse(response, (flags & FLAG_END_STREAM) !== 0));
    stream.on('trailers', (trailers) => {
      this.#trailers = trailers;
    });
    stream.on('data', (data: Buffer) => this.#onData(data));
    stream.on('end', () => this.#onEnd());
    stream.on('drain', () => this.owner?.onUpstreamDrain(this));
    stream.on('error', () => {});
    stream.on('close', () => this.#streamClosed(stream));
    const rest = end + 4;
    return rest < buf.length ? this.#body(buf, rest) : true;
  }

  /** Forwards request body bytes buf[from, …), unframing chunked coding (already validated by the Exchange). */
  #body(buf: Buffer, from: number): boolean {
    const stream = this.#stream as ClientHttp2Stream;
    let ok = true;
    let at = from;
    while (at < buf.length && this.#state !== DONE) {
      switch (this.#state) {
        case LENGTH: {
          const take = Math.min(this.#remaining, buf.length - at);
          ok = stream.write(buf.subarray(at, at + take)) && ok;
          at += take;
          this.#remaining -= take;
          if (this.#remaining === 0) {
            this.#state = DONE;
            stream.end();
          }
          break;
        }
        case CHUNK_SIZE:
        case TRAILERS:
        case CHUNK_DATA_END: {
          const lf = buf.indexOf(0x0a, at);
          const stop = lf < 0 ? buf.length : lf + 1;
          this.#line += buf.latin1Slice(at, stop);
          at = stop;
          if (lf < 0) break;
          const line = this.#line;
          this.#line = '';
          if (this.#state === CHUNK_DATA_END) this.#state = CHUNK_SIZE;
          else if (this.#state === TRAILERS) {
            // Request trailers are not forwarded (gRPC sends none); the empty line ends the body.
            if (line === '\r\n') {
              this.#state = DONE;
              stream.end();
            }
          } else {
            const size = Number.parseInt(line, 16);
            if (size === 0) this.#state = TRAILERS;
            else {
              this.#remaining = size;
              this.#state = CHUNK_DATA;
            }
          }
          break;
        }
        case CHUNK_DATA: {
          const take = Math.min(this.#remaining, buf.length - at);
          ok = stream.write(buf.subarray(at, at + take)) && ok;
          at += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = CHUNK_DATA_END;
          break;
        }
        default:
          at = buf.length;
      }
    }
    return ok;
  }

  /** The final response head; `ended`: it came with END_STREAM (no body, e.g. a gRPC trailers-only answer). */
  #onResponse(response: IncomingHttpHeaders, ended: boolean): void {
    const status = Number(response[':status']);
    this.#responded = true;
    const bodiless = this.#isHead || status === 204 || status === 304;
    let framing = '';
    if (!bodiless && response['content-length'] === undefined) {
      if (ended) framing = 'content-length: 0\r\n';
      else {
        this.#chunked = true;
        framing = 'transfer-encoding: chunked\r\n';
      }
    }
    const fields = fieldLines(response, NOT_RELAYED);
    if (fields === undefined) return this.#broken();
    const head = `HTTP/1.1 ${status} ${reasonPhrase(status, 'Status')}\r\n${fields}${framing}\r\n`;
    if (bodiless || (ended && !this.#chunked)) this.#complete = true;
    this.#emit(Buffer.from(head, 'latin1'));
  }

  #onData(data: Buffer): void {
    if (!this.#responded || data.length === 0) return;
    if (!this.#chunked) return this.#emit(data);
    // One chunk, framed in one allocation: size line, data, CRLF.
    const size = data.length.toString(16);
    const chunk = Buffer.allocUnsafe(size.length + data.length + 4);
    let at = chunk.latin1Write(size, 0);
    chunk[at++] = 0x0d;
    chunk[at++] = 0x0a;
    at += data.copy(chunk, at);
    chunk[at++] = 0x0d;
    chunk[at] = 0x0a;
    this.#emit(chunk);
  }

  #onEnd(): void {
    // A reset also ends the readable side: that is a broken response, which 'close' reports.
    const code = this.#stream?.rstCode;
    if (!this.#responded || (code !== undefined && code !== NO_ERROR)) return;
    this.#complete = true;
    if (!this.#chunked) return;
    const trailers = this.#trailers;
    if (trailers === undefined) return this.#emit(LAST_CHUNK);
    const fields = fieldLines(trailers, TRAILERS_NOT_RELAYED);
    if (fields === undefined) {
      this.#complete = false;
      return this.#broken();
    }
    this.#emit(Buffer.from(`0\r\n${fields}\r\n`, 'latin1'));
  }

  /** The endpoint sent a field HTTP/1.1 cannot carry as it is: the response is broken (the owner hears of it when the stream closes). */
  #broken(): void {
    this.#reset(PROTOCOL_ERROR);
  }

  #emit(buf: Buffer): void {
    this.owner?.onUpstreamData(this, buf, buf.length);
  }

  /** The stream closed: an owner still set hears why its response ended early (the error is made for it only, not for every stream). */
  #streamClosed(stream: ClientHttp2Stream): void {
    if (this.owner === undefined || this.#notified) return this.#close(undefined);
    const code = stream.rstCode ?? 0;
    this.#close(Object.assign(new Error(`HTTP/2 stream closed before the response was complete (RST_STREAM ${code})`), { code: 'ERR_PORTICO_H2_STREAM', rstCode: code }));
  }

  #close(error: Error | undefined): void {
    this.#free();
    if (this.#notified) return;
    this.#notified = true;
    const owner = this.owner;
    this.owner = undefined;
    // An owner still set means its response is not over (a short body included).
    if (owner !== undefined) owner.onUpstreamClose(this, error ?? this.#session.error ?? new Error('HTTP/2 stream closed before the response was complete'));
  }

  #free(): void {
    if (this.#released) return;
    this.#released = true;
    this.#session.release(this);
  }
}
