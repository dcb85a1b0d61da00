/**
 * One client connection: reads request heads, routes them, answers what Portico answers itself
 * (400/404/503/308...) and hands proxied requests to its Exchange, one request at a time. Bytes
 * that arrive while a request is in flight (pipelining) wait, with the socket paused, and are
 * parsed once the response is done, so responses always go out in request order.
 */
import type { Socket } from 'node:net';
import { normalizePath } from '@portico/assembly/normalize';
import type { LocalAnswer } from '@portico/control/snapshot/policies/module';
import type { ProxyContext } from './context.ts';
import { Exchange } from './exchange.ts';
import type { ForwardContext } from './http/forward.ts';
import { RequestHead } from './http/request-head.ts';
import { localResponse, policyResponse, redirectResponse } from './http/respond.ts';
import { ResponseRelay } from './relay.ts';
import type { ClientProtocol, ConnectionInfo, Downstream } from './seam.ts';
import { dispatchRequest, forwardContext, recordRequest } from './seam.ts';
import { HTTP_1_1_REQUIRED } from './h2/codes.ts';
import { Tunnel } from './tunnel.ts';
import type { Upstream } from './upstream/pool.ts';

/** Connection states. */
export const READING = 0;
export const EXCHANGING = 1;
export const TUNNELING = 2;
export const CLOSED = 3;

/** How long a connection we ended lingers (reading and discarding) for the client to close, before it is destroyed. */
const LINGER_MS = 2000;

/** The request line of the HTTP/2 connection preface (RFC 9113 §3.4). */
const H2_PREFACE_LINE = Buffer.from('PRI * HTTP/2.0\r\n', 'latin1');

/**
 * What a prior-knowledge HTTP/2 client gets on a port that serves HTTP/1.1 only: the server's
 * connection preface (an empty SETTINGS frame), then GOAWAY HTTP_1_1_REQUIRED naming the cause in
 * its debug data, so the client can say why (curl does, and retries over HTTP/1.1) instead of
 * reading an HTTP/1.1 status line it cannot parse.
 */
const H2C_REFUSAL = ((): Buffer => {
  const reason = Buffer.from('h2c (HTTP/2 without TLS) is not served on this port: portico serves it with --h2c', 'latin1');
  const settings = Buffer.from([0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
  const goaway = Buffer.alloc(9 + 8 + reason.length);
  goaway.writeUIntBE(8 + reason.length, 0, 3);
  goaway[3] = 0x7;
  goaway.writeUInt32BE(HTTP_1_1_REQUIRED, 13);
  reason.copy(goaway, 17);
  return Buffer.concat([settings, goaway]);
})();

/** Whether buf[start, end) holds exactly the (latin1) characters of `text`. */
function sameText(buf: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Drives one client socket (plain or TLS) through HTTP/1.1 requests until it closes: the HTTP/1.1 adapter of the request seam. */
export class ClientConnection implements Downstream {
  readonly socket: Socket;
  readonly context: ProxyContext;
  readonly info: ConnectionInfo;
  readonly forward: ForwardContext;
  readonly head: RequestHead;
  readonly exchange: Exchange;
  state = READING;
  tunnel: Tunnel | undefined;
  /** A request head that is still incomplete: store[0, stored), grown by doubling (slow senders cost O(n), not O(n²)). */
  #store: Buffer | undefined;
  #stored = 0;
  /** When the connection started waiting for the current request head (coarse clock). */
  #since = 0;
  /** When the current head's first byte came (coarse clock); the accept time for the first request. */
  #headSince = 0;
  /** No request head has been completed on this connection yet. */
  #first = true;
  #host = '';
  #target = '';
  /** normalizePath(#target): what is matched and forwarded (or why the target is refused). */
  #path = '';
  /** The client sent FIN. */
  #ended = false;

  constructor(socket: Socket, context: ProxyContext, info: ConnectionInfo) {
    this.socket = socket;
    this.context = context;
    this.info = info;
    this.forward = forwardContext(context, socket.remoteAddress, info);
    this.head = new RequestHead(context.options);
    this.exchange = new Exchange(this, new ResponseRelay(context.options.maxHeaderSize, socket));
    // Half-close is ours to handle: a client may send FIN right after its request and still read the answer.
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, context.options.tcpKeepAliveMs);
    this.#since = this.#headSince = context.now;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('drain', () => this.#onDrain());
    socket.on('error', () => {});
    socket.on('close', () => this.#onClose());
  }

  /** Closes the connection now if it is between requests; otherwise the current response will close it. */
  shutdown(): void {
    if (this.state === READING && this.#stored === 0) this.end();
  }

  /**
   * Called on every timeout tick. A request head that is not whole headerTimeoutMs after its
   * first byte (after accept, for the first request) is answered 408 (closed silently when no
   * byte came); a keep-alive connection idle for keepAliveTimeoutMs is closed; requests in flight
   * and upgraded connections check their own deadlines.
   */
  checkTimeouts(now: number): void {
    const state = this.state;
    if (state === EXCHANGING) {
      this.exchange.checkTimeouts(now);
      return;
    }
    if (state === TUNNELING) {
      this.tunnel?.checkTimeouts(now);
      return;
    }
    if (state === CLOSED) {
      if (now - this.#since > LINGER_MS) this.socket.destroy();
      return;
    }
    const options = this.context.options;
    const waiting = this.#stored !== 0 || this.#first;
    if (waiting ? now - this.#headSince <= options.headerTimeoutMs : now - this.#since <= options.keepAliveTimeoutMs) return;
    if (this.#stored !== 0) {
      this.#stored = 0;
      this.exchange.requestBuffer = undefined;
      this.reply(408, false, '', '', performance.now());
    } else {
      this.socket.destroy();
    }
  }

  /** Whether the connection holds no request (waiting for one, or closing): closing it loses nothing. */
  get idle(): boolean {
    return (this.state === READING && this.#stored === 0) || this.state === CLOSED;
  }

  /** Since when (coarse clock) the connection has been waiting or closing. */
  get idleSince(): number {
    return this.#since;
  }

  /** Ends the connection after what was written; the tick destroys it if the client does not close soon. */
  end(): void {
    if (this.state === CLOSED) return;
    this.state = CLOSED;
    this.#since = this.context.now;
    this.socket.end();
  }

  /** Answers `status` itself (error or not-found). Closes the connection unless `keepAlive`. */
  reply(status: number, keepAlive: boolean, route: string, upstream: string, started: number): void {
    const head = this.head;
    this.socket.write(localResponse(status, !keepAlive, head.method === 'HEAD'));
    this.record(status, route, upstream, started, '');
    if (!keepAlive) this.end();
  }

  /** Metrics and access log for one finished request. `requestId` is '' when there was none. */
  record(status: number, route: string, upstream: string, started: number, requestId: string): void {
    recordRequest(this, status, route, upstream, started, requestId);
  }

  get protocol(): ClientProtocol {
    return this.head.minor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
  }

  pauseBody(): void {
    this.socket.pause();
  }

  resumeBody(): void {
    this.socket.resume();
  }

  get responseBacklogged(): boolean {
    return this.socket.writableNeedDrain;
  }

  beginExchange(): void {
    this.state = EXCHANGING;
  }

  answerPolicy(answer: LocalAnswer, keepAlive: boolean, route: string, started: number): void {
    this.socket.write(policyResponse(answer, !keepAlive));
    this.record(answer.status, route, '', started, '');
    if (!keepAlive) this.end();
  }

  answerRedirect(location: string, keepAlive: boolean, route: string, started: number): void {
    this.socket.write(redirectResponse(location, !keepAlive));
    this.record(308, route, '', started, '');
    if (!keepAlive) this.end();
  }

  sendError(status: number, close: boolean, isHead: boolean): void {
    this.socket.write(localResponse(status, close, isHead));
  }

  cut(): void {
    this.socket.destroy();
  }

  upgraded(upstream: Upstream, endpointKey: string, stash: Buffer | undefined): void {
    this.state = TUNNELING;
    this.tunnel = new Tunnel(this, upstream, endpointKey, stash);
  }

  /** The exchange is over: go on with the next request (from `stash`), or close. */
  exchangeDone(keepAlive: boolean, stash: Buffer | undefined): void {
    if (this.state !== EXCHANGING) return;
    // A client that half-closed sends nothing more: what it sent before the FIN is all there is.
    if (!keepAlive || this.context.closing || (this.#ended && stash === undefined)) {
      this.end();
      return;
    }
    this.state = READING;
    this.#since = this.context.now;
    this.head.reset();
    if (stash !== undefined) this.#onHeadBytes(stash);
    if (this.state !== READING) return;
    if (this.#ended) this.end();
    else if (this.socket.isPaused()) this.socket.resume();
  }

  #onData(chunk: Buffer): void {
    switch (this.state) {
      case READING:
        this.#onHeadBytes(chunk);
        return;
      case EXCHANGING:
        this.exchange.onClientData(chunk);
        return;
      case TUNNELING:
        this.tunnel?.fromClient(chunk);
        return;
      default:
        // CLOSED: a refused request's leftovers are read and dropped until the linger ends.
        return;
    }
  }

  #onHeadBytes(chunk: Buffer): void {
    let buf = chunk;
    if (this.#stored !== 0) buf = this.#append(chunk);
    const head = this.head;
    // A loop, not recursion: one read may carry many pipelined requests answered locally.
    while (this.state === READING) {
      const headEnd = head.parse(buf);
      if (headEnd === 0) {
        this.#keep(buf);
        return;
      }
      this.#stored = 0;
      const first = this.#first;
      this.#first = false;
      // The exchange keeps the request's buffer: the next incomplete head gets new memory.
      this.#store = undefined;
      if (headEnd < 0) {
        this.exchange.requestBuffer = undefined;
        if (first && buf.length >= H2_PREFACE_LINE.length && buf.compare(H2_PREFACE_LINE, 0, H2_PREFACE_LINE.length, 0, H2_PREFACE_LINE.length) === 0) {
          this.socket.write(H2C_REFUSAL);
          this.record(-headEnd, '', '', performance.now(), '');
          this.end();
          return;
        }
        this.reply(-headEnd, false, '', '', performance.now());
        return;
      }
      const rest = headEnd < buf.length ? buf.subarray(headEnd) : undefined;
      if (!this.#request(buf, headEnd, rest)) return;
      // Answered here and reading on: the next request needs a clean parser and a fresh idle
      // clock whether or not its bytes are already here.
      head.reset();
      this.#since = this.context.now;
      if (rest === undefined) return;
      buf = rest;
    }
  }

  /** Adds `chunk` to the incomplete head; returns the whole of it. */
  #append(chunk: Buffer): Buffer {
    const need = this.#stored + chunk.length;
    let store = this.#store as Buffer;
    if (need > store.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, store.length * 2));
      store.copy(grown, 0, 0, this.#stored);
      this.#store = store = grown;
    }
    chunk.copy(store, this.#stored);
    this.#stored = need;
    return store.subarray(0, need);
  }

  /** Keeps an incomplete head until more bytes come. */
  #keep(buf: Buffer): void {
    if (this.#stored === 0 && !this.#first) this.#headSince = this.context.now;
    if (this.#store === undefined || buf.buffer !== this.#store.buffer || buf.byteOffset !== this.#store.byteOffset) {
      this.#store = Buffer.allocUnsafe(Math.max(1024, buf.length * 2));
      buf.copy(this.#store);
    }
    this.#stored = buf.length;
  }

  /** Routes one parsed request. Returns true when it was answered here and the connection reads on. */
  #request(buf: Buffer, headEnd: number, rest: Buffer | undefined): boolean {
    const started = this.context.accessLog !== undefined ? performance.now() : 0;
    const head = this.head;
    // Requests on one connection mostly repeat the host (and often the path): reuse the strings.
    let host = this.#host;
    if (head.hostStart < 0) host = '';
    else if (!sameText(buf, head.hostStart, head.hostEnd, host)) host = this.#host = buf.latin1Slice(head.hostStart, head.hostEnd);
    let target = this.#target;
    let path = this.#path;
    if (!sameText(buf, head.targetStart, head.targetEnd, target)) {
      target = this.#target = buf.latin1Slice(head.targetStart, head.targetEnd);
      path = this.#path = normalizePath(target, this.context.normalization);
    }
    return dispatchRequest(this, buf, headEnd, rest, host, target, path, started);
  }

  #onEnd(): void {
    this.#ended = true;
    if (this.state === READING) this.end();
    else if (this.state === EXCHANGING) this.exchange.onClientEnd();
    else if (this.state === TUNNELING) this.tunnel?.onClientEnd();
  }

  #onDrain(): void {
    if (this.state === EXCHANGING) this.exchange.onClientDrain();
    else if (this.state === TUNNELING) this.tunnel?.onClientDrain();
  }

  #onClose(): void {
    const state = this.state;
    this.state = CLOSED;
    if (state === EXCHANGING) this.exchange.abort();
    else if (state === TUNNELING) this.tunnel?.destroy();
    this.context.connectionClosed(this);
  }
}
