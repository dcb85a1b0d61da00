/**
 * The data plane's request seam (DESIGN rule 8): between "a request arrived" and "route and
 * forward it". A protocol adapter — HTTP/1.1 on a raw socket (client.ts), HTTP/2 streams (h2/) —
 * parses and validates a request into a RequestHead over a buffer of HTTP/1.1 head bytes and calls
 * `dispatchRequest`. From there on everything is shared: path normalization, the router, the
 * route's policies, and the Exchange (endpoint pool, failure decisions, passive health, timeouts,
 * metrics and access log). The adapter only says how bytes and answers reach its client, through
 * the `Downstream` it implements.
 */
import type { Socket } from 'node:net';
import type { Upstream } from './upstream/pool.ts';
import type { RequestHeaders } from '@portico/assembly/matcher';
import { isPathRefusal } from '@portico/assembly/normalize';
import { applyPolicy } from '@portico/control/snapshot/policies';
import { plainAddress } from '@portico/control/snapshot/policies/cidr';
import type { ClientTls, GrpcAnswer, LocalAnswer, RequestFacts } from '@portico/control/snapshot/policies/module';
import { INVALID_BACKEND_GRPC } from '@portico/control/snapshot/policies/module';
import type { ProxyContext } from './context.ts';
import type { Exchange } from './exchange.ts';
import type { ForwardContext } from './http/forward.ts';
import { untrustedLines } from './http/forward.ts';
import { addField } from './http/fields.ts';
import type { RequestHead } from './http/request-head.ts';
import { extraHeaders, localAnswerOf } from './policy.ts';
import { isGrpcContentType } from './grpc.ts';
import { mirrorRequest, startMirrorCopy } from './mirror.ts';

/** Where a connection came in. */
export interface ConnectionInfo {
  readonly scheme: 'http' | 'https';
  /** The local port the client connected to (X-Forwarded-Port). */
  readonly localPort: number;
  /** The routing scope when the client connected to a Gateway's own address (snapshot/scope.ts); undefined on the edge. */
  readonly scope?: string | undefined;
  /** The TLS connection's SNI name and client certificates (auth-tls); undefined on plain HTTP. */
  readonly tls?: ClientTls | undefined;
}

/** What a proxy keeps of each client connection, whatever its protocol (ClientConnection, H2Connection). */
export interface ClientSession {
  readonly socket: Socket;
  /** Holds no request: closing it loses nothing. */
  readonly idle: boolean;
  /** Since when (coarse clock) it has been idle. */
  readonly idleSince: number;
  checkTimeouts(now: number): void;
  /** Stop taking requests; close once what is in flight is done. */
  shutdown(): void;
}

/** Protocols as the access log and metrics name them (nginx's $server_protocol). */
export type ClientProtocol = 'HTTP/1.0' | 'HTTP/1.1' | 'HTTP/2.0';

/**
 * The client side of one request in flight, as the shared path sees it: an HTTP/1.1 connection
 * (one request at a time) or one HTTP/2 stream. The Exchange drives the forwarding through it.
 */
export interface Downstream {
  readonly context: ProxyContext;
  readonly info: ConnectionInfo;
  readonly forward: ForwardContext;
  /** The request head, parsed from `exchange.requestBuffer` (for HTTP/2, HTTP/1.1 head bytes made from its validated fields). */
  readonly head: RequestHead;
  readonly exchange: Exchange;
  /** What the client speaks, for the access log and metrics. */
  readonly protocol: ClientProtocol;
  /** Stop taking request body bytes from the client (backpressure: the endpoint is not taking them). */
  pauseBody(): void;
  /** Take request body bytes again. */
  resumeBody(): void;
  /** Response bytes wait that the client has not taken yet (it reads slowly). */
  readonly responseBacklogged: boolean;
  /** The request goes to an endpoint: the exchange owns it until `exchangeDone`. */
  beginExchange(): void;
  /** Portico answers `status` itself (not-found, unavailable, refusals); `keepAlive` keeps an HTTP/1.1 connection open; `grpc`: what a gRPC client gets instead of the mapped status. */
  reply(status: number, keepAlive: boolean, route: string, upstream: string, started: number, grpc?: GrpcAnswer): void;
  /** A policy's own answer (redirect, refusal). */
  answerPolicy(answer: LocalAnswer, keepAlive: boolean, route: string, started: number): void;
  /** The HTTPS redirect of a route. */
  answerRedirect(location: string, keepAlive: boolean, route: string, started: number): void;
  /** Portico's error response for a request whose exchange failed before any response byte (not recorded here). */
  sendError(status: number, close: boolean, isHead: boolean): void;
  /** Part of the response is out and the exchange failed: abort the client's request (close or reset). */
  cut(): void;
  /** The exchange is over; `stash` holds bytes read past the request (HTTP/1.1 pipelining). */
  exchangeDone(keepAlive: boolean, stash: Buffer | undefined): void;
  /** Metrics and access log for one finished request; `requestId` is '' when there was none. */
  record(status: number, route: string, upstream: string, started: number, requestId: string): void;
  /** The endpoint switched protocols (HTTP/1.1 upgrade): splice the client to `upstream`. */
  upgraded(upstream: Upstream, endpointKey: string, stash: Buffer | undefined): void;
}

/** What a connection from `remoteAddress` forwards about its client (computed once per connection). */
export function forwardContext(context: ProxyContext, remoteAddress: string | undefined, info: ConnectionInfo): ForwardContext {
  const peer = plainAddress(remoteAddress ?? '');
  const trusted = context.trusted.has(peer);
  const protoLine = Buffer.from(`X-Forwarded-Proto: ${info.scheme}\r\n`, 'latin1');
  const portLine = Buffer.from(`X-Forwarded-Port: ${info.localPort}\r\n`, 'latin1');
  const untrusted = untrustedLines(peer, protoLine, portLine, context.ids);
  return {
    trusted,
    peer: Buffer.from(peer, 'latin1'),
    protoLine,
    portLine,
    untrustedLines: untrusted.lines,
    untrustedIdAt: untrusted.idAt,
    realIp: trusted ? (forwardedFor) => context.trusted.clientAddress(forwardedFor, peer) : undefined,
  };
}

/** Lower-case name -> value of every field line, for routes with header conditions (rare). */
export function headerRecord(buf: Buffer, head: RequestHead): RequestHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let index = 0; index < head.lineCount; index++) {
    const start = head.lines[index * 3] as number;
    const end = head.lines[index * 3 + 1] as number;
    const colon = head.colonOf(buf, index);
    const name = buf.latin1Slice(start, colon).toLowerCase();
    addField(headers, name, buf.latin1Slice(colon + 1, end).trim());
  }
  return headers;
}

/**
 * Routes one parsed request (`down.head` over buf[0, headEnd); `rest`: body bytes already read)
 * and either starts its exchange or answers it here. `host` is the Host value ('' when none),
 * `target` the request-target as received, `path` its normalization (normalizePath). Returns
 * true when the request was answered here and the client may send the next one (HTTP/1.1
 * keep-alive); false when an exchange took it or the connection closes.
 */
export function dispatchRequest(down: Downstream, buf: Buffer, headEnd: number, rest: Buffer | undefined, host: string, target: string, path: string, started: number): boolean {
  const head = down.head;
  const { router, closing } = down.context;
  down.exchange.requestBuffer = buf;
  // A path that hides a traversal (or is not valid percent-encoding) is never matched or forwarded.
  if (isPathRefusal(path)) {
    down.reply(400, false, '', '', started);
    return false;
  }
  // TRACE would echo the request (cookies and all) from wherever it lands; `OPTIONS *` asks the
  // server itself, which is Portico. Neither goes to an endpoint.
  if (head.method === 'TRACE' || target === '*') {
    const keepAlive = head.minor === 1 && !head.connectionClose && !closing && !head.hasBody;
    down.reply(head.method === 'TRACE' ? 405 : head.method === 'OPTIONS' ? 200 : 400, keepAlive, '', '', started);
    return keepAlive;
  }
  let decision = router.route(host, path, head.method, router.needsHeaders ? headerRecord(buf, head) : undefined, down.info.scheme, target, down.info.scope);
  const policy = decision.policy;
  const outcome = policy === undefined || decision.kind === 'not-found' ? undefined : applyPolicy(policy, decision.kind === 'choose' ? 'proxy' : decision.kind === 'invalid-backend' ? 'unavailable' : decision.kind, requestFacts(down, buf, host, path, target));
  // The route's policies chose among its backends (canary): the endpoint is picked now, unless they answered.
  if (decision.kind === 'choose' && outcome?.answer === undefined) decision = router.choose(decision, outcome);
  // gRPC needs HTTP/2 to the client (trailers carry its status): an HTTP/1.x gRPC call to an HTTP/2 backend is answered 505, never half-served.
  if (decision.kind === 'proxy' && outcome?.answer === undefined && decision.protocol !== undefined && down.protocol !== 'HTTP/2.0' && isGrpcContentType(headerRecord(buf, head)['content-type'] as string | undefined)) {
    if (outcome !== undefined) for (const release of outcome.done) release();
    down.reply(505, false, decision.route, '', started);
    return false;
  }
  if (decision.kind === 'proxy' && outcome?.answer === undefined) {
    down.beginExchange();
    const forwardTarget = outcome?.target ?? (path === target ? undefined : path);
    // mirror-target: the copy's head is made now, its body as the exchange reads it.
    const copy = outcome?.mirrorTarget === undefined ? undefined : startMirrorCopy(outcome.mirrorTarget, { context: down.context, forward: down.forward, head, buf, headEnd }, decision.snapshot);
    down.exchange.start(buf, headEnd, rest, decision, started, forwardTarget, outcome, copy);
    // Copies go out after the real exchange started, and nothing about them reaches it.
    if (outcome !== undefined && outcome.mirrors.length !== 0) mirrorRequest({ context: down.context, forward: down.forward, head, buf, headEnd, rest, target: forwardTarget, extra: extraHeaders(outcome) }, decision.snapshot, outcome.mirrors);
    return false;
  }
  // Answered here: what the policy steps took (a concurrency slot) is given back now.
  if (outcome !== undefined) for (const release of outcome.done) release();
  // A body we do not read would be taken for the next request: close instead of skipping it.
  const keepAlive = head.minor === 1 && !head.connectionClose && !closing && !head.hasBody;
  if (outcome?.answer !== undefined) down.answerPolicy(localAnswerOf(outcome.answer, outcome), keepAlive, decision.route, started);
  else if (decision.kind === 'redirect') down.answerRedirect(decision.location, keepAlive, decision.route, started);
  else if (decision.kind === 'invalid-backend') down.reply(500, keepAlive, decision.route, '', started, INVALID_BACKEND_GRPC);
  else down.reply(decision.kind === 'not-found' ? 404 : 503, keepAlive, decision.route, '', started);
  return keepAlive;
}

/** What the route's policy steps see of this request; the client address and headers only when asked. */
function requestFacts(down: Downstream, buf: Buffer, host: string, path: string, target: string): RequestFacts {
  const { forward, head } = down;
  let client = forward.peer.latin1Slice(0, forward.peer.length);
  if (forward.realIp !== undefined) {
    const values: string[] = [];
    const offsets = head.forwardedFor;
    for (let i = 0; i < offsets.length; i += 2) values.push(buf.latin1Slice(offsets[i] as number, offsets[i + 1] as number));
    client = forward.realIp(values);
  }
  let headers: RequestHeaders | undefined;
  return {
    scheme: down.info.scheme,
    port: down.info.localPort,
    host,
    path,
    target,
    method: head.method,
    client,
    tls: down.info.tls,
    header: (name) => {
      const value = (headers ??= headerRecord(buf, head))[name];
      return typeof value === 'string' ? value : undefined;
    },
  };
}

/** Metrics and the access log line of one finished request (the Downstream's `record`). */
export function recordRequest(down: Downstream, status: number, route: string, upstream: string, started: number, requestId: string): void {
  const { metrics, accessLog } = down.context;
  if (metrics !== undefined) metrics.countRequest(route, status, down.protocol);
  if (accessLog !== undefined) {
    const head = down.head;
    const buf = down.exchange.requestBuffer;
    accessLog.info({
      method: head.method,
      host: head.hostStart >= 0 && buf !== undefined ? buf.latin1Slice(head.hostStart, head.hostEnd) : '',
      path: buf !== undefined ? buf.latin1Slice(head.targetStart, head.targetEnd) : '',
      protocol: down.protocol,
      status,
      route,
      upstream,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      request_id: requestId,
    });
  }
}
