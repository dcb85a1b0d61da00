/**
 * One HTTP/2 stream as a Downstream of the request seam: its fields are translated (refusing what
 * could smuggle, see translate.ts) into HTTP/1.1 head bytes, parsed by the same strict parser as
 * every HTTP/1.1 request, and dispatched like one. The request body's DATA frames go to the
 * Exchange (as chunked HTTP/1.1 when the client sent no Content-Length, whose agreement with the
 * DATA is checked), the response comes back through an H2ResponseRelay.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { normalizePath } from '@portico/assembly/normalize';
import type { GrpcAnswer, LocalAnswer } from '@portico/control/snapshot/policies/module';
import type { ProxyContext } from '../context.ts';
import { Exchange } from '../exchange.ts';
import type { ForwardContext } from '../http/forward.ts';
import { RequestHead } from '../http/request-head.ts';
import { ALLOWED_METHODS, localBody } from '../http/respond.ts';
import type { ClientProtocol, ConnectionInfo, Downstream } from '../seam.ts';
import { dispatchRequest, recordRequest } from '../seam.ts';
import type { Upstream } from '../upstream/pool.ts';
import { H2ResponseRelay } from './relay.ts';
import { translateRequest } from './translate.ts';
import { INTERNAL_ERROR, NO_ERROR, PROTOCOL_ERROR } from './codes.ts';
import { GRPC_UNAVAILABLE, grpcErrorHeaders, isGrpcContentType } from '../grpc.ts';

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

/** What a stream needs of its connection. */
export interface H2Owner {
  readonly context: ProxyContext;
  readonly info: ConnectionInfo;
  readonly forward: ForwardContext;
  /** The stream is over (closed, reset or answered). */
  streamClosed(request: H2Request): void;
  /** The client reset a stream Portico was working on (counted against rapid reset). */
  streamReset(): void;
}

/** One request on an HTTP/2 connection. */
export class H2Request implements Downstream {
  readonly stream: ServerHttp2Stream;
  /** The request's fields as received (name, value, …), for forwarders that speak HTTP/2 to the endpoint. */
  readonly raw: readonly string[];
  readonly context: ProxyContext;
  readonly info: ConnectionInfo;
  readonly forward: ForwardContext;
  readonly head: RequestHead;
  readonly exchange: Exchange;
  readonly protocol: ClientProtocol = 'HTTP/2.0';
  readonly #owner: H2Owner;
  #chunked = false;
  /** Content-Length the client declared (-1: none), and DATA bytes received. */
  #declared = -1;
  #received = 0;
  #exchanging = false;
  #finished = false;
  /** Portico reset the stream itself (not the client). */
  #resetHere = false;
  /** The client ended its side (END_STREAM seen). */
  #ended = false;
  /** A gRPC call (content-type application/grpc…): Portico's own errors answer as gRPC statuses. */
  readonly #grpc: boolean;
  readonly #relay: H2ResponseRelay;

  /** Takes over `stream` (its HEADERS arrived with `raw` fields; `endStream`: no body follows). */
  constructor(owner: H2Owner, stream: ServerHttp2Stream, raw: readonly string[], endStream: boolean) {
    this.#owner = owner;
    this.stream = stream;
    this.raw = raw;
    this.context = owner.context;
    this.info = owner.info;
    this.forward = owner.forward;
    this.#ended = endStream;
    this.head = new RequestHead(this.context.options);
    this.#relay = new H2ResponseRelay(this.context.options.maxHeaderSize, stream);
    this.exchange = new Exchange(this, this.#relay);
    this.#grpc = isGrpcContentType(fieldOf(raw, 'content-type'));
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#onEnd());
    stream.on('drain', () => this.exchange.onClientDrain());
    stream.on('error', () => {});
    stream.on('close', () => this.#onClose());
    this.#start(raw, endStream);
  }

  #start(raw: readonly string[], endStream: boolean): void {
    const started = this.context.accessLog !== undefined ? performance.now() : 0;
    const translated = translateRequest(raw, endStream);
    if (!translated.ok) {
      this.context.logger?.debug({ reason: translated.reason }, 'HTTP/2 request refused');
      this.reply(translated.status, false, '', '', started);
      return;
    }
    this.#chunked = translated.chunked;
    this.#declared = translated.contentLength;
    const buf = translated.head;
    const headEnd = this.head.parse(buf);
    // The same strict parser as HTTP/1.1: what it refuses (431, 414, 400) is refused here too.
    if (headEnd <= 0) {
      this.reply(headEnd < 0 ? -headEnd : 400, false, '', '', started);
      return;
    }
    const target = translated.target;
    dispatchRequest(this, buf, headEnd, undefined, translated.authority, target, normalizePath(target, this.context.normalization), started);
  }

  #onData(chunk: Buffer): void {
    this.#received += chunk.length;
    // nghttp2 checks this too; a body longer than declared is never forwarded.
    if (this.#declared >= 0 && this.#received > this.#declared) {
      this.#reset(PROTOCOL_ERROR);
      return;
    }
    if (!this.#exchanging || chunk.length === 0) return;
    this.exchange.onClientData(this.#chunked ? Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, CRLF]) : chunk);
  }

  #onEnd(): void {
    this.#ended = true;
    if (this.#declared >= 0 && this.#received !== this.#declared) {
      this.#reset(PROTOCOL_ERROR);
      return;
    }
    if (!this.#exchanging) return;
    if (this.#chunked) this.exchange.onClientData(LAST_CHUNK);
    // A body that ended before its framing did is a truncated request (cut there).
    if (this.#exchanging) this.exchange.onClientEnd();
  }

  #onClose(): void {
    // A reset Portico did not send came from the client: counted against rapid reset (CVE-2023-44487).
    const stream = this.stream;
    if (!this.#resetHere && stream.rstCode !== undefined && stream.rstCode !== NO_ERROR && !stream.session?.destroyed) this.#owner.streamReset();
    if (this.#exchanging) {
      this.#exchanging = false;
      this.exchange.abort();
    }
    this.#finish();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#owner.streamClosed(this);
  }

  /** Resets the stream (RST_STREAM `code`); the exchange, if any, is aborted by the close. */
  #reset(code: number): void {
    this.#resetHere = true;
    if (!this.stream.destroyed) this.stream.close(code);
  }

  pauseBody(): void {
    this.stream.pause();
  }

  resumeBody(): void {
    this.stream.resume();
  }

  get responseBacklogged(): boolean {
    return this.stream.writableNeedDrain;
  }

  beginExchange(): void {
    this.#exchanging = true;
  }

  /** Answers with `headers` and a text body (none for HEAD), then ends the stream. */
  #answer(status: number, headers: Record<string, string | number>, body: string, grpc?: GrpcAnswer): void {
    const stream = this.stream;
    if (stream.destroyed || stream.headersSent) {
      this.#reset(INTERNAL_ERROR);
      return;
    }
    // A gRPC client gets Portico's own errors as a trailers-only response (grpc.ts), never a text body.
    if (this.#grpc && status >= 400) {
      stream.respond({ ...grpcErrorHeaders(status, grpc), server: 'portico' }, { endStream: true });
      this.#closeReading();
      return;
    }
    const isHead = this.head.method === 'HEAD';
    stream.respond({ ':status': status, server: 'portico', ...headers, 'content-length': Buffer.byteLength(body, 'latin1') }, { endStream: isHead || body.length === 0 });
    if (!isHead && body.length !== 0) stream.end(body, 'latin1');
    this.#closeReading();
  }

  /** After a complete answer, a request body still coming is not wanted: RST_STREAM NO_ERROR (RFC 9113 §8.1) once the answer is out. */
  #closeReading(bodyTaken = false): void {
    const stream = this.stream;
    // The body already went whole to the endpoint: its END_STREAM is on the way, nothing to stop.
    if (this.#ended || bodyTaken || stream.destroyed) return;
    stream.close(NO_ERROR);
  }

  reply(status: number, _keepAlive: boolean, route: string, upstream: string, started: number, grpc?: GrpcAnswer): void {
    this.#answer(status, { 'content-type': 'text/plain', ...(status === 405 || status === 200 ? { allow: ALLOWED_METHODS } : {}) }, localBody(status), grpc);
    this.record(status, route, upstream, started, '');
  }

  answerPolicy(answer: LocalAnswer, _keepAlive: boolean, route: string, started: number): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of answer.headers) headers[name.toLowerCase()] = value;
    this.#answer(answer.status, headers, '', answer.grpc);
    this.record(answer.status, route, '', started, '');
  }

  answerRedirect(location: string, _keepAlive: boolean, route: string, started: number): void {
    this.#answer(308, { location }, '');
    this.record(308, route, '', started, '');
  }

  sendError(status: number): void {
    this.#answer(status, { 'content-type': 'text/plain' }, localBody(status));
  }

  cut(): void {
    this.#exchanging = false;
    const stream = this.stream;
    // A gRPC response under way (relayed with waitForTrailers) ends with an UNAVAILABLE status, which gRPC clients may retry.
    if (this.#grpc && this.#relay.awaitsTrailers && !stream.destroyed && !stream.writableEnded) {
      stream.once('wantTrailers', () => {
        stream.sendTrailers({ 'grpc-status': String(GRPC_UNAVAILABLE), 'grpc-message': encodeURIComponent('the endpoint failed mid-stream (Portico)') });
        // A client still sending (bidi) is told to stop only once the status is out.
        this.#closeReading();
      });
      stream.end();
      return;
    }
    this.#reset(INTERNAL_ERROR);
  }

  exchangeDone(): void {
    this.#exchanging = false;
    const stream = this.stream;
    if (!stream.destroyed && !stream.writableEnded) stream.end();
    this.#closeReading(this.exchange.requestDone);
  }

  record(status: number, route: string, upstream: string, started: number, requestId: string): void {
    recordRequest(this, status, route, upstream, started, requestId);
  }

  /** Never happens: an HTTP/2 request never asks for an upgrade (the translation refuses Upgrade). */
  upgraded(upstream: Upstream): void {
    upstream.destroy();
    this.cut();
  }
}

/** The value of field `name` (lower-case) in HTTP/2 raw fields (name, value, …), or undefined. */
function fieldOf(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
  return undefined;
}
