/**
 * The response side of an exchange: parses what the endpoint sends, relays it to the client as it
 * arrives and says when the message ends. Framing per RFC 9112 §6.3: no body for HEAD, 1xx, 204
 * and 304; chunked (validated, forwarded byte for byte); Content-Length; else until the endpoint
 * closes. 1xx heads are relayed and the real response follows; a 101 ends relaying (a tunnel
 * takes over). The head is cleaned in place so that head and body leave in one write. The part
 * of this that does not depend on the client's protocol is the Relay base class, which the
 * HTTP/2 relay (h2/relay.ts) shares.
 */
import type { Socket } from 'node:net';
import { CHUNKED_INVALID, ChunkedDecoder } from './http/chunked.ts';
import type { ResponseExtra } from './http/respond.ts';
import { clientHead, compactHead, needsServer } from './http/respond.ts';
import { ResponseHead } from './http/response-head.ts';
import type { Upstream } from './upstream/pool.ts';

/** feed() outcomes. */
export const RELAY_MORE = 0;
export const RELAY_DONE = 1;
export const RELAY_INVALID = 2;
export const RELAY_UPGRADE = 3;
/** The final response head has a status `retryOn` wants retried elsewhere: nothing went to the client. */
export const RELAY_RETRY = 4;

/** Body framings of a response (responseFraming). */
export const NONE = 0;
export const LENGTH = 1;
export const CHUNKED = 2;
export const UNTIL_CLOSE = 3;

/**
 * How the body of a parsed final response is framed (RFC 9112 §6.3), whoever the client is: none
 * for HEAD, 204 and 304; chunked; close-delimited for another Transfer-Encoding or neither header;
 * else Content-Length (none when 0).
 */
export function responseFraming(head: ResponseHead, isHead: boolean): number {
  const status = head.status;
  if (isHead || status === 204 || status === 304) return NONE;
  if (head.transferEncoding) return head.chunked ? CHUNKED : UNTIL_CLOSE;
  if (head.contentLength >= 0) return head.contentLength === 0 ? NONE : LENGTH;
  return UNTIL_CLOSE;
}

/**
 * The response side of an Exchange, whatever the client speaks: ResponseRelay writes HTTP/1.1 to a
 * socket, H2ResponseRelay (h2/relay.ts) writes to an HTTP/2 stream. Shared here: the state the
 * Exchange reads, the response head read across as many endpoint reads as it takes (1xx heads
 * passed to `informational`), and the framing of the final one; a relay says how heads and body
 * bytes reach its client.
 */
export abstract class Relay {
  readonly head: ResponseHead;
  /** The response head has gone to the client (or a 101 has). */
  started = false;
  /** The final status (0 before the head). */
  status = 0;
  /** The client connection closes after this response (an HTTP/1.1 client was sent `Connection: close`). */
  closeClient = false;
  /**
   * Asked with the final status before its head goes to the client: true drops the response
   * (feed answers RELAY_RETRY) so the request can go to another endpoint (proxy-next-upstream
   * http_*). Undefined: every response is relayed.
   */
  retryOn: ((status: number) => boolean) | undefined;
  protected readonly decoder: ChunkedDecoder;
  /** The final response's body framing (NONE, LENGTH, CHUNKED, UNTIL_CLOSE). */
  protected mode = NONE;
  /** Content-Length body bytes still to come. */
  protected remaining = 0;
  /** Bytes came past the response's end: the endpoint connection is not reused. */
  protected leftover = false;
  protected isHead = false;
  protected extra: ResponseExtra | undefined;
  /** Head bytes read so far, while the head is incomplete. */
  #pending: Buffer | undefined;

  /** Reads heads of up to `maxHeaderSize` bytes (and chunked trailer sections as large). */
  constructor(maxHeaderSize: number) {
    this.head = new ResponseHead(maxHeaderSize);
    this.decoder = new ChunkedDecoder(maxHeaderSize);
  }

  /**
   * Prepares for the response to a request: `isHead` (no body follows), `keepAlive` (the client
   * connection may stay open), `http11` (the client speaks HTTP/1.1: 1xx heads are relayed),
   * `upgrade` (the request asked for a protocol upgrade, so a 101 is expected), `extra` (header
   * lines the route's policies set on the final response). The last three mean nothing to an
   * HTTP/2 stream.
   */
  reset(isHead: boolean, _keepAlive: boolean, _http11: boolean, _upgrade: boolean, extra?: ResponseExtra): void {
    this.extra = extra;
    this.isHead = isHead;
    this.restart();
  }

  /** Forgets the response read so far (none of it was sent), keeping reset()'s settings, for a retry. */
  restart(): void {
    this.head.reset();
    this.started = this.closeClient = this.leftover = false;
    this.status = 0;
    this.#pending = undefined;
  }

  /** The endpoint connection can carry another request: the message was framed and nothing followed it. */
  get reusable(): boolean {
    return this.mode !== UNTIL_CLOSE && !this.leftover && this.head.minor === 1 && !this.head.connectionClose;
  }

  /** The endpoint closing its side ends the response (it is close-delimited and has started). */
  get endsOnClose(): boolean {
    return this.started && this.mode === UNTIL_CLOSE;
  }

  /**
   * Takes buffer[0, length) from the endpoint and passes what the client gets on:
   * RELAY_MORE, RELAY_DONE, RELAY_INVALID, RELAY_RETRY or RELAY_UPGRADE. Marks
   * `upstream.retained` when the buffer stays referenced, pauses the endpoint when the client
   * pushes back. `closing`: the proxy is shutting down, so the client connection will close.
   */
  feed(buffer: Buffer, length: number, upstream: Upstream, closing: boolean): number {
    if (this.started) return this.body(buffer, 0, length, upstream);
    let buf = buffer;
    let limit = length;
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, buffer.subarray(0, length)]);
      limit = buf.length;
      this.#pending = undefined;
    }
    const head = this.head;
    for (;;) {
      const headEnd = head.parse(buf, limit);
      if (headEnd === 0) {
        this.#pending = buf.subarray(0, limit);
        upstream.retained = true;
        return RELAY_MORE;
      }
      if (headEnd < 0) return RELAY_INVALID;
      const status = head.status;
      if (status === 101) return this.switched(buf, headEnd, limit, upstream);
      if (status >= 200) return this.retryOn?.(status) === true ? RELAY_RETRY : this.respond(buf, headEnd, limit, upstream, closing);
      // 1xx: the real response follows on the same connection.
      this.informational(buf, headEnd, upstream);
      head.reset();
      if (headEnd === limit) return RELAY_MORE;
      buf = buf.subarray(headEnd, limit);
      limit = buf.length;
    }
  }

  /** The final head is parsed: takes its status and body framing; the response has started. */
  protected begin(): void {
    const head = this.head;
    this.status = head.status;
    this.mode = responseFraming(head, this.isHead);
    this.remaining = head.contentLength;
    if (this.mode === CHUNKED) this.decoder.reset();
    this.started = true;
  }

  /** Counts off the bytes of buf[from, length) that a Content-Length body still expects: where they end. */
  protected takeLength(from: number, length: number): number {
    const take = Math.min(this.remaining, length - from);
    this.remaining -= take;
    return from + take;
  }

  /** The final head buf[0, headEnd) (limit: bytes read) goes to the client with what body follows it. */
  protected abstract respond(buf: Buffer, headEnd: number, limit: number, upstream: Upstream, closing: boolean): number;

  /** Relays more body bytes buf[from, length) of a started response. */
  protected abstract body(buf: Buffer, from: number, length: number, upstream: Upstream): number;

  /** A 1xx head buf[0, headEnd) (not 101). */
  protected abstract informational(buf: Buffer, headEnd: number, upstream: Upstream): void;

  /** A 101 head buf[0, headEnd): RELAY_UPGRADE when the relay takes it, else RELAY_INVALID. */
  protected abstract switched(buf: Buffer, headEnd: number, limit: number, upstream: Upstream): number;
}

/** One response at a time to an HTTP/1.1 client socket; reset() before each. */
export class ResponseRelay extends Relay {
  #keepAlive = false;
  #http11 = true;
  #upgrade = false;
  readonly #client: Socket;

  /** Relays to `client` (the socket of one client connection). */
  constructor(maxHeaderSize: number, client: Socket) {
    super(maxHeaderSize);
    this.#client = client;
  }

  /** See Relay.reset. */
  override reset(isHead: boolean, keepAlive: boolean, http11: boolean, upgrade: boolean, extra?: ResponseExtra): void {
    super.reset(isHead, keepAlive, http11, upgrade, extra);
    this.#keepAlive = keepAlive;
    this.#http11 = http11;
    this.#upgrade = upgrade;
  }

  /** Relayed to HTTP/1.1 clients only. */
  protected informational(buf: Buffer, headEnd: number, upstream: Upstream): void {
    if (!this.#http11) return;
    const client = this.#client;
    client.write(clientHead(buf, this.head, headEnd, false, false));
    if (client.writableLength !== 0) upstream.retained = true;
  }

  protected body(buf: Buffer, from: number, length: number, upstream: Upstream): number {
    return this.#relay(buf, from, length, -1, undefined, this.#client, upstream);
  }

  protected respond(buf: Buffer, headEnd: number, limit: number, upstream: Upstream, closing: boolean): number {
    const head = this.head;
    const client = this.#client;
    this.begin();
    this.closeClient = !this.#keepAlive || this.mode === UNTIL_CLOSE || closing;
    // Usually nothing is added to the head: clean it in place and send head and body in one write.
    if (this.closeClient || needsServer(head) || this.extra !== undefined) return this.#relay(buf, headEnd, limit, -1, clientHead(buf, head, headEnd, this.closeClient, false, this.extra), client, upstream);
    return this.#relay(buf, headEnd, limit, head.hopByHop ? compactHead(buf, head, headEnd) : 0, undefined, client, upstream);
  }

  /**
   * Relays response bytes buf[from, length). The head goes first: buf[headStart, from) when
   * headStart >= 0, else `head`; neither when relaying more body.
   */
  #relay(buf: Buffer, from: number, length: number, headStart: number, head: Buffer | undefined, client: Socket, upstream: Upstream): number {
    let end = length;
    let done = false;
    switch (this.mode) {
      case NONE:
        end = from;
        done = true;
        break;
      case LENGTH:
        end = this.takeLength(from, length);
        done = this.remaining === 0;
        break;
      case CHUNKED:
        end = this.decoder.feed(buf, from, length);
        if (end === CHUNKED_INVALID) return RELAY_INVALID;
        done = this.decoder.done;
        break;
      default:
        break;
    }
    // Bytes past the response's end: the endpoint's framing cannot be trusted for another request.
    if (end < length) this.leftover = true;
    let ok = true;
    if (headStart >= 0) {
      ok = client.write(headStart === 0 && end === buf.length ? buf : buf.subarray(headStart, end));
    } else if (head === undefined) {
      if (end > from) ok = client.write(from === 0 && end === buf.length ? buf : buf.subarray(from, end));
    } else if (end > from) {
      client.cork();
      client.write(head);
      ok = client.write(buf.subarray(from, end));
      client.uncork();
    } else {
      ok = client.write(head);
    }
    // The client socket did not take everything at once: the endpoint's read buffer stays referenced.
    if (client.writableLength !== 0) upstream.retained = true;
    if (done) return RELAY_DONE;
    if (!ok) upstream.socket.pause();
    return RELAY_MORE;
  }

  /** A 101 to an upgrade request: relays its head and whatever followed it; the caller builds the tunnel. */
  protected switched(buf: Buffer, headEnd: number, limit: number, upstream: Upstream): number {
    if (!this.#upgrade) return RELAY_INVALID;
    const client = this.#client;
    this.status = 101;
    this.started = true;
    client.write(clientHead(buf, this.head, headEnd, false, true));
    if (headEnd < limit) client.write(buf.subarray(headEnd, limit));
    if (client.writableLength !== 0) upstream.retained = true;
    return RELAY_UPGRADE;
  }
}
