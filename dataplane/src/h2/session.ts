/**
 * HTTP/2 connections (node:http2 server sessions over sockets the listeners accepted: TLS after
 * ALPN chose `h2`, or plain sockets that opened with the prior-knowledge preface) and their
 * bounds. Each stream becomes an H2Request on the shared request seam.
 *
 * Defences, besides nghttp2's own (CONTINUATION flood limits, invalid-frame and refused-stream
 * counts, SETTINGS and PING floods):
 * - SETTINGS_MAX_CONCURRENT_STREAMS and SETTINGS_MAX_HEADER_LIST_SIZE are advertised and enforced
 *   (streams beyond are refused; a header list beyond is reset with ENHANCE_YOUR_CALM);
 * - rapid reset (CVE-2023-44487): streams the client resets are counted in a token bucket, and a
 *   connection that resets faster gets GOAWAY ENHANCE_YOUR_CALM and is closed; nghttp2's own
 *   RST_STREAM rate limit is set too;
 * - deadlines on the coarse tick: the client's SETTINGS within the header timeout, an idle
 *   connection (no stream) closed after the keep-alive timeout, a connection whose streams make
 *   no progress either way for the client timeout closed; requests in flight keep the Exchange's
 *   own deadlines.
 */
import type { Http2Server, ServerHttp2Session, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { ProxyContext } from '../context.ts';
import { PorticoError } from '../errors.ts';
import type { ForwardContext } from '../http/forward.ts';
import type { ClientSession, ConnectionInfo } from '../seam.ts';
import { forwardContext } from '../seam.ts';
import { CANCEL, ENHANCE_YOUR_CALM, FLAG_END_STREAM, REFUSED_STREAM, SETTINGS_TIMEOUT } from './codes.ts';
import { H2Request } from './stream.ts';
import type { H2Owner } from './stream.ts';

/** HTTP/2 limits; every field has a default. */
export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS. Default 128 (nginx's http2_max_concurrent_streams). */
  readonly maxConcurrentStreams?: number;
  /** Streams the client may reset in a burst before the connection is closed (refilled by `resetsPerSecond`). Default 100. */
  readonly resetBurst?: number;
  /** Refill of the reset budget per second. Default 10. */
  readonly resetsPerSecond?: number;
}

/** H2Limits with defaults applied. */
interface ResolvedLimits {
  readonly maxConcurrentStreams: number;
  readonly resetBurst: number;
  readonly resetsPerSecond: number;
}

/** The limits with defaults applied. Throws PORTICO_E_CONFIG for a value that is not an integer >= 1. */
export function resolveH2Limits(limits: H2Limits = {}): ResolvedLimits {
  const resolved = { maxConcurrentStreams: limits.maxConcurrentStreams ?? 128, resetBurst: limits.resetBurst ?? 100, resetsPerSecond: limits.resetsPerSecond ?? 10 };
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isInteger(value) || value < 1 || value > 2 ** 31 - 1) throw new PorticoError('PORTICO_E_CONFIG', `http2.${name} must be an integer from 1 to 2^31-1, not ${value}`);
  }
  return resolved;
}


/** One HTTP/2 client connection. */
export class H2Connection implements H2Owner, ClientSession {
  readonly socket: Socket;
  readonly session: ServerHttp2Session;
  readonly context: ProxyContext;
  readonly info: ConnectionInfo;
  readonly forward: ForwardContext;
  readonly #streams = new Set<H2Request>();
  readonly #limits: ResolvedLimits;
  readonly #opened: number;
  #since: number;
  #settled = false;
  #resetTokens: number;
  #resetAt: number;
  #lastRead = -1;
  #lastWritten = -1;
  #stalledSince = 0;

  constructor(session: ServerHttp2Session, socket: Socket, context: ProxyContext, info: ConnectionInfo, limits: ResolvedLimits) {
    this.session = session;
    this.socket = socket;
    this.context = context;
    this.info = info;
    this.#limits = limits;
    this.forward = forwardContext(context, socket.remoteAddress, info);
    this.#opened = this.#since = this.#resetAt = this.#stalledSince = context.now;
    this.#resetTokens = limits.resetBurst;
    session.on('stream', (stream: ServerHttp2Stream, _headers: unknown, flags: number, raw: string[]) => this.#onStream(stream, raw, (flags & FLAG_END_STREAM) !== 0));
    session.on('remoteSettings', () => {
      this.#settled = true;
    });
    session.on('error', (error: Error & { code?: string }) => {
      context.metrics?.countH2Closed('protocol-error');
      context.logger?.debug({ err: error }, 'HTTP/2 connection failed');
    });
    session.on('frameError', () => {});
    session.on('close', () => this.#onClose());
  }

  #onStream(stream: ServerHttp2Stream, raw: string[], endStream: boolean): void {
    if (this.context.closing) {
      stream.close(REFUSED_STREAM);
      return;
    }
    const request = new H2Request(this, stream, raw, endStream);
    if (!stream.closed) this.#streams.add(request);
  }

  streamClosed(request: H2Request): void {
    if (this.#streams.delete(request) && this.#streams.size === 0) this.#since = this.context.now;
  }

  streamReset(): void {
    const now = this.context.now;
    const limits = this.#limits;
    this.#resetTokens = Math.min(limits.resetBurst, this.#resetTokens + ((now - this.#resetAt) / 1000) * limits.resetsPerSecond);
    this.#resetAt = now;
    if (--this.#resetTokens >= 0) return;
    this.context.metrics?.countH2Closed('rapid-reset');
    this.context.logger?.warn({ client: this.forward.peer.latin1Slice(0, this.forward.peer.length) }, 'HTTP/2 client resets streams too fast (rapid reset): connection closed');
    this.#abandon(ENHANCE_YOUR_CALM);
  }

  /** GOAWAY with `code` and close now, streams and all. */
  #abandon(code: number): void {
    const session = this.session;
    if (session.destroyed) return;
    session.goaway(code);
    session.destroy();
  }

  get idle(): boolean {
    return this.#streams.size === 0;
  }

  get idleSince(): number {
    return this.#since;
  }

  checkTimeouts(now: number): void {
    const options = this.context.options;
    if (!this.#settled) {
      if (now - this.#opened > options.headerTimeoutMs) {
        this.context.metrics?.countH2Closed('settings-timeout');
        this.#abandon(SETTINGS_TIMEOUT);
      }
      return;
    }
    const streams = this.#streams;
    if (streams.size === 0) {
      if (now - this.#since > options.keepAliveTimeoutMs) this.shutdown();
      return;
    }
    let exchanging = false;
    for (const request of streams) {
      if (request.exchange.active) {
        exchanging = true;
        request.exchange.checkTimeouts(now);
      }
    }
    // Streams answered here but not taken by the client: no byte either way for the client timeout.
    const read = this.socket.bytesRead;
    const written = this.socket.bytesWritten;
    if (exchanging || read !== this.#lastRead || written !== this.#lastWritten) {
      this.#lastRead = read;
      this.#lastWritten = written;
      this.#stalledSince = now;
    } else if (now - this.#stalledSince > options.clientTimeoutMs) {
      this.#abandon(CANCEL);
    }
  }

  shutdown(): void {
    if (!this.session.closed && !this.session.destroyed) this.session.close();
  }

  #onClose(): void {
    for (const request of [...this.#streams]) if (request.exchange.active) request.exchange.abort();
    this.#streams.clear();
    if (!this.socket.destroyed) this.socket.destroy();
    this.context.connectionClosed(this);
  }
}

/** The node:http2 server every HTTP/2 connection of one proxy is made by (it never listens: sockets are handed to it). */
export class H2Sessions {
  readonly #server: Http2Server;
  #pending: { socket: Socket; info: ConnectionInfo } | undefined;

  /** `opened` gets each new connection. */
  constructor(context: ProxyContext, limits: ResolvedLimits, opened: (connection: H2Connection) => void) {
    // Loaded on the first HTTP/2 connection only (see codes.ts).
    const { createServer } = process.getBuiltinModule('node:http2');
    this.#server = createServer({
      settings: {
        maxConcurrentStreams: limits.maxConcurrentStreams,
        maxHeaderListSize: context.options.maxHeaderSize,
        enablePush: false,
        enableConnectProtocol: false,
      },
      // Each field line counts; the HTTP/1.1 parser's size limit applies to the translated head as well.
      maxHeaderListPairs: 256,
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 100,
      streamResetBurst: limits.resetBurst * 4,
      streamResetRate: limits.resetsPerSecond * 4,
      maxSettings: 32,
      maxOutstandingPings: 10,
      maxSessionMemory: 10,
    });
    this.#server.on('session', (session: ServerHttp2Session) => {
      const pending = this.#pending;
      this.#pending = undefined;
      if (pending === undefined) {
        session.destroy();
        return;
      }
      opened(new H2Connection(session, pending.socket, context, pending.info, limits));
    });
  }

  /** Serves HTTP/2 on `socket` (TLS with ALPN h2, or plain with the preface, possibly already read into its buffer). */
  handle(socket: Socket, info: ConnectionInfo): void {
    this.#pending = { socket, info };
    // The server makes the session synchronously and emits 'session' before this returns.
    this.#server.emit('connection', socket);
    if (this.#pending !== undefined) {
      this.#pending = undefined;
      socket.destroy();
    }
  }
}
