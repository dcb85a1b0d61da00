/**
 * One proxied request at a time for a client connection (the object is reused for the next):
 * forwards the rewritten head and the body as it arrives, relays the response head and body as
 * they arrive, with backpressure both ways, and decides what a failure means: a retry on another
 * endpoint (connect failure or reset before any response byte, idempotent, body not consumed),
 * 502, 504, or cutting the client off when the response had already started. A route with a
 * default backend (`default-backend`, `custom-http-errors`) sends the request there once instead
 * of relaying a listed status (see #redispatch).
 */
import type { Downstream } from './seam.ts';
import { headerRecord } from './seam.ts';
import { parseGrpcTimeout } from './grpc.ts';
import type { RequestHead } from './http/request-head.ts';
import { BAD_RESPONSE, CONNECT_FAILED, CONNECT_TIMEOUT, DEADLINE, ENDPOINT_REMOVED, FAILURE_NAMES, READ_TIMEOUT, RESET, RETRY_STATUS, decideFailure, isIdempotent, nextUpstreamAllows, overdue } from './failure.ts';
import type { NextUpstreamFacts } from './failure.ts';
import { CHUNKED_INVALID } from './http/chunked.ts';
import { forwardHead, requestIdOf, scratchRetained } from './http/forward.ts';
import type { ResponseExtra } from './http/respond.ts';
import { withCookies } from './http/respond.ts';
import { RELAY_DONE, RELAY_INVALID, RELAY_RETRY, RELAY_UPGRADE } from './relay.ts';
import type { Relay } from './relay.ts';
import { RequestBody } from './request-body.ts';
import type { MirrorBodyTap } from './mirror.ts';
import type { ExtraHeaders } from './policy.ts';
import { extraHeaders, mergeHeaders, responseExtraOf } from './policy.ts';
import type { ExchangeTimeouts } from './failure.ts';
import type { LocalAnswer, NextUpstreamPolicy, PolicyOutcome, UpstreamSettings } from '@portico/control/snapshot/policies/module';
import { STATUS_BITS, statusBit } from '@portico/control/snapshot/policies/next-upstream';
import type { AuthResponse, ExternalAuthRequest } from '@portico/control/snapshot/policies/external-auth';
import { decideAuth } from '@portico/control/snapshot/policies/external-auth';
import { applyBackendPolicy } from '@portico/control/snapshot/policies';
import type { AuthCall, AuthWaiter } from './external-auth.ts';
import type { LoadedSnapshot, ProxyDecision } from './router.ts';
import { FAILURE_PENALTY_MS } from './router.ts';
import { POOL_FULL, endpointRemoved } from './upstream/pool.ts';
import type { Upstream, UpstreamOwner } from './upstream/pool.ts';

/** Request body bytes kept for sending again to an HTTP/2 endpoint that refuses a stream unprocessed. */
const REPLAY_BYTES = 64 * 1024;

function append(first: Buffer | undefined, second: Buffer): Buffer {
  return first === undefined ? second : Buffer.concat([first, second]);
}

/** The request in flight on a client connection (or HTTP/2 stream), and the endpoint connection serving it. */
export class Exchange implements UpstreamOwner, AuthWaiter {
  readonly conn: Downstream;
  /** The buffer the request head was parsed from (the access log reads host and path there). */
  requestBuffer: Buffer | undefined;
  active = false;
  decision: ProxyDecision | undefined;
  /** The snapshot this exchange holds (LoadedSnapshot.hold) from its start to its end, so its wasm instance is not reused under it. */
  #held: LoadedSnapshot | undefined;
  upstream: Upstream | undefined;
  #started = 0;
  #upstreamStarted = 0;
  #keepAlive = false;
  #isHead = false;
  #idempotent = false;
  #upgrade = false;
  #attempts = 0;
  /** Endpoints this request already failed on, so a retry goes elsewhere. */
  readonly #tried: number[] = [];
  #staleRetried = false;
  /** The route's proxy-next-upstream, or undefined for the built-in retry policy. */
  #nextUpstream: NextUpstreamPolicy | undefined;
  /** When the request arrived (context clock), for proxy-next-upstream-timeout. */
  #arrived = 0;
  /** The request head went to the current endpoint. */
  #sent = false;
  /** Body bytes went straight to an endpoint (not kept in #firstBody): the request cannot be sent again. */
  #bodyStreamed = false;
  /** When the request went to a `measured` endpoint (load-balance: ewma), else 0. */
  #measuredFrom = 0;
  /** The endpoint a status retry goes to (chosen while the relay asked). */
  #statusRetry: ProxyDecision | undefined;
  /** The default backend's endpoint an intercepted status goes to (custom-http-errors; chosen while the relay asked). */
  #fallbackTo: ProxyDecision | undefined;
  /** The request goes without its body (it went to the default backend after an intercepted status). */
  #bodyless = false;
  #reused = false;
  #replayable = false;
  #headEnd = 0;
  #requestId = 0;
  #firstBody: Buffer | undefined;
  /** The normalized (or policy-rewritten) request-target to forward, when it differs from the received one. */
  #target: string | undefined;
  /** Called once when this exchange is over (policy steps giving back what they took). */
  #whenDone: readonly (() => void)[] | undefined;
  /** Request header lines the route's policies set, if any. */
  #extra: ExtraHeaders | undefined;
  /** The rule's outcome, kept while the route's backends have filters of their own (a retry onto another backend starts from it); else undefined. */
  #ruleOutcome: PolicyOutcome | undefined;
  #stash: Buffer | undefined;
  #requestDone = false;
  readonly #body: RequestBody;
  /** The route's mirror-target copy, fed the body as it is read (mirror.ts); undefined for none. */
  #mirror: MirrorBodyTap | undefined;
  readonly #relay: Relay;
  /** Any byte came back from the endpoint (the request can no longer be replayed). */
  #gotBytes = false;
  /** Last progress of the exchange (coarse clock): timeouts count from here. */
  #since = 0;
  /** The route's largest request body in bytes (proxy-body-size), 0 for no limit. */
  #maxBody = 0;
  /** Request body bytes received so far (chunked framing included). */
  #bodyBytes = 0;
  /** The route's timeouts, when it overrides the global ones. */
  #timeouts: ExchangeTimeouts | undefined;
  /** The auth-url subrequest while one is out for this request, with what its answer applies to. */
  #authCall: AuthCall | undefined;
  #authRequest: ExternalAuthRequest | undefined;
  #authResponse: ResponseExtra | undefined;
  /**
   * The whole-exchange deadline, when there is one: the route's (Gateway API timeouts) or a gRPC
   * call's `grpc-timeout`, whichever is sooner. A timer, finer than the tick.
   */
  #deadline: NodeJS.Timeout | undefined;
  #deadlineMs = 0;
  /** What passing the deadline fails the exchange with: READ_TIMEOUT (the route's) or DEADLINE (the client's own). */
  #deadlineKind = READ_TIMEOUT;

  /** Every byte of the request body has been taken (true at once for a request without body). */
  get requestDone(): boolean {
    return this.#requestDone;
  }

  /** Serves the requests of `conn`, relaying responses through `relay` (which writes in the client's protocol). */
  constructor(conn: Downstream, relay: Relay) {
    this.conn = conn;
    this.#body = new RequestBody(conn.context.options.maxHeaderSize);
    this.#relay = relay;
  }

  /**
   * Starts proxying the request parsed from buf[0, headEnd); `rest` holds the bytes read after
   * the head; `target` replaces the received request-target (the normalized one) when given;
   * `outcome`, what the route's policies decided, brings the request and response header lines
   * they set, what to call once when the exchange is over (however it ends), the route's body
   * limit and timeouts, and the auth-url subrequest that must allow the request before anything
   * is sent to an endpoint. The client connection is kept open after it when the client (HTTP/1.1
   * without `Connection: close`) and the proxy (not closing) both allow. `mirror`, a mirror-target
   * copy, gets the body as it is read and is told when the request is allowed or over.
   */
  start(buf: Buffer, headEnd: number, rest: Buffer | undefined, decision: ProxyDecision, started: number, target: string | undefined, outcome?: PolicyOutcome, mirror?: MirrorBodyTap): void {
    const head = this.conn.head;
    const keepAlive = head.minor === 1 && !head.connectionClose && !this.conn.context.closing;
    // Gateway API backendRef filters: the picked backend's own header changes, over the rule's.
    this.#ruleOutcome = decision.backend === undefined ? undefined : outcome;
    if (outcome !== undefined && decision.backend !== undefined) outcome = applyBackendPolicy(decision.policy, decision.backend, outcome);
    const response = outcome === undefined ? undefined : responseExtraOf(outcome);
    this.#whenDone = outcome !== undefined && outcome.done.length !== 0 ? outcome.done : undefined;
    this.requestBuffer = buf;
    this.#target = target;
    this.#extra = outcome === undefined ? undefined : extraHeaders(outcome);
    this.active = true;
    this.decision = decision;
    this.#hold(decision.snapshot);
    this.#started = started;
    this.#keepAlive = keepAlive;
    this.#isHead = head.method === 'HEAD';
    this.#idempotent = isIdempotent(head.method);
    this.#upgrade = head.connectionUpgrade && head.hasUpgrade;
    this.#attempts = 0;
    // Emptied, not replaced: no allocation per request for a list only retries fill.
    this.#tried.length = 0;
    this.#staleRetried = this.#gotBytes = this.#sent = this.#bodyStreamed = false;
    this.#measuredFrom = 0;
    this.#arrived = this.conn.context.now;
    this.#relay.reset(this.#isHead, keepAlive, head.minor === 1, this.#upgrade, response);
    this.#bodyless = false;
    this.#fallbackTo = undefined;
    this.#mirror = mirror;
    // The route had no ready endpoint and its default backend answers (X-Code: 503), with the route's own request policies.
    if (decision.fallback !== undefined) this.#extra = mergeHeaders(this.#extra, this.#fallbackFields(decision, false), []);
    this.#applySettings(outcome?.upstream);
    // Set before any refusal: a refusal custom-http-errors lists still sends this request's head to the default backend.
    this.#headEnd = headEnd;
    this.#requestId = this.conn.context.ids.next();
    if (decision.protocol !== undefined) this.#armDeadline(buf, head);
    // Frame (and for chunked, validate) the body bytes already here before anything is sent.
    let body: Buffer | undefined;
    let extra = rest;
    const requestBody = this.#body;
    requestBody.reset(head);
    // Over the route's limit by its Content-Length: 413, and the endpoint never sees it.
    if (this.#maxBody !== 0 && head.contentLength > this.#maxBody) return this.#refuse(413);
    if (!requestBody.done && rest !== undefined) {
      const end = requestBody.feed(rest);
      if (end === CHUNKED_INVALID) return this.#refuse(400);
      if (this.#overLimit(end)) return this.#refuse(413);
      body = end === rest.length ? rest : rest.subarray(0, end);
      extra = end === rest.length ? undefined : rest.subarray(end);
    }
    this.#requestDone = requestBody.done;
    this.#stash = extra;
    this.#firstBody = body;
    if (mirror !== undefined) {
      if (body !== undefined) mirror.body(body);
      if (this.#requestDone) mirror.end();
    }
    this.#replayable = true;
    // Until the endpoint takes the head, read no more body (it keeps the request replayable).
    if (!this.#requestDone || extra !== undefined) this.conn.pauseBody();
    const auth = outcome?.externalAuth;
    if (auth !== undefined) return this.#authorize(auth, response);
    this.#mirror?.allow();
    this.#attach(false);
  }

  /**
   * Holds the request (body unread, client paused) until the route's auth server answers
   * (auth-url): allowed, it goes to an endpoint with the auth server's headers and cookies;
   * denied or unanswered, Portico answers (401/403/302/500) and the endpoint never sees it.
   */
  #authorize(auth: ExternalAuthRequest, response: ResponseExtra | undefined): void {
    this.#authRequest = auth;
    this.#authResponse = response;
    this.#authCall = this.conn.context.externalAuth.ask(auth, this.requestBuffer as Buffer, this.conn.head, this);
  }

  /** The auth server's answer (undefined: none) to this request's subrequest; never called after the call was cancelled. */
  onAuthAnswer(answer: AuthResponse | undefined): void {
    const auth = this.#authRequest as ExternalAuthRequest;
    const response = this.#authResponse;
    this.#authCall = this.#authRequest = this.#authResponse = undefined;
    if (!this.active) return;
    const conn = this.conn;
    const verdict = decideAuth(auth, answer);
    if (!verdict.allow) return this.#deny(verdict.answer);
    if (verdict.setHeaders.length + verdict.dropHeaders.length !== 0) this.#extra = mergeHeaders(this.#extra, verdict.setHeaders, verdict.dropHeaders);
    if (verdict.cookies.length !== 0) this.#relay.reset(this.#isHead, this.#keepAlive, conn.head.minor === 1, this.#upgrade, withCookies(response, verdict.cookies, verdict.cookiesAlways));
    this.#since = conn.context.now;
    this.#mirror?.allow();
    this.#attach(false);
  }

  /** The auth server refused the request (or did not answer): Portico's answer, the body left unread. */
  #deny(answer: LocalAnswer): void {
    this.active = false;
    this.#endMirror();
    // An unread body would be taken for the next request: close unless it is all here.
    const keepAlive = this.#keepAlive && this.#requestDone;
    const whenDone = this.#whenDone;
    this.#whenDone = undefined;
    if (whenDone !== undefined) for (const release of whenDone) release();
    this.#hold(undefined);
    this.conn.answerPolicy(answer, keepAlive, (this.decision as ProxyDecision).route, this.#started);
    this.#done(keepAlive);
  }

  /**
   * A call to an HTTP/2 endpoint that carries `grpc-timeout` is bounded by it as a whole (the
   * route's own timeouts still apply): past it, 504 (DEADLINE_EXCEEDED to a gRPC client) or, once
   * the response started, the client's stream is cut. A timer, not the coarse tick: gRPC
   * deadlines are often shorter than the tick.
   */
  #armDeadline(buf: Buffer, head: RequestHead): void {
    const ms = parseGrpcTimeout(headerRecord(buf, head)['grpc-timeout'] as string | undefined);
    if (ms >= 0) this.#setDeadline(ms, DEADLINE);
  }

  /** Bounds the exchange to `ms` from now (failing it with `kind`), unless a sooner deadline is set. */
  #setDeadline(ms: number, kind: number): void {
    if (this.#deadline !== undefined) {
      if (ms >= this.#deadlineMs) return;
      clearTimeout(this.#deadline);
    }
    this.#deadlineMs = ms;
    this.#deadlineKind = kind;
    this.#deadline = setTimeout(() => this.#pastDeadline(), ms).unref();
  }

  /** Takes the route's body limit and timeouts (the global timeouts where it sets none). */
  #applySettings(settings: UpstreamSettings | undefined): void {
    this.#bodyBytes = 0;
    const next = (this.#nextUpstream = settings?.nextUpstream);
    const decision = this.decision as ProxyDecision;
    // custom-http-errors: a listed status goes to the default backend, once (never from the default backend itself).
    const intercepting = decision.fallback === undefined && decision.policy?.fallback !== undefined && !this.#upgrade;
    this.#relay.retryOn = intercepting || (next !== undefined && (next.when & STATUS_BITS) !== 0) ? this.#retryOnStatus : undefined;
    this.#maxBody = settings?.maxBodyBytes ?? 0;
    const total = settings?.totalTimeoutMs;
    if (total !== undefined) this.#setDeadline(total, READ_TIMEOUT);
    if (settings === undefined || (settings.connectTimeoutMs === undefined && settings.readTimeoutMs === undefined && settings.sendTimeoutMs === undefined)) {
      this.#timeouts = undefined;
      return;
    }
    const global = this.conn.context.options;
    this.#timeouts = {
      connectTimeoutMs: settings.connectTimeoutMs ?? global.connectTimeoutMs,
      readTimeoutMs: settings.readTimeoutMs ?? global.readTimeoutMs,
      sendTimeoutMs: settings.sendTimeoutMs ?? global.sendTimeoutMs,
      clientTimeoutMs: global.clientTimeoutMs,
    };
  }

  /** Counts `bytes` more of request body: whether the route's limit is now exceeded. */
  #overLimit(bytes: number): boolean {
    if (this.#maxBody === 0) return false;
    this.#bodyBytes += bytes;
    return this.#bodyBytes > this.#maxBody;
  }

  #attach(fresh: boolean): void {
    const decision = this.decision as ProxyDecision;
    const context = this.conn.context;
    // HTTP/2 endpoints: a stream of a pooled session, behind the same Upstream face (upstream/h2-link.ts).
    const upstream = decision.protocol === undefined ? context.pool.acquire(decision.poolKey, decision.endpointKey, decision.address, decision.port, this, fresh, decision.tls) : context.h2.acquire(decision.poolKey, decision.endpointKey, decision.address, decision.port, this, fresh, decision.tls, decision.protocol === 'grpc');
    // Nothing was sent: the endpoint has as many connections as it may (503), or its address is refused (502).
    if (typeof upstream === 'number') return this.#refuse(decision.fallback ?? (upstream === POOL_FULL ? 503 : 502));
    this.upstream = upstream;
    this.#since = context.now;
    this.#sent = false;
    this.#reused = upstream.uses > 0;
    if (upstream.connected) this.#send(upstream);
  }

  #send(upstream: Upstream): void {
    const socket = upstream.socket;
    const { context, forward } = this.conn;
    if (context.metrics !== undefined) this.#upstreamStarted = performance.now();
    // Built at send time (again for a retry): the head lives in scratch memory only while written.
    const head = forwardHead(this.requestBuffer as Buffer, this.conn.head, this.#headEnd, forward, context.ids, this.#requestId, this.#upgrade, this.#target, this.#extra, this.#bodyless);
    this.#sent = true;
    if ((this.decision as ProxyDecision).measured === true) this.#measuredFrom = performance.now();
    let ok: boolean;
    if (this.#firstBody !== undefined) {
      socket.cork();
      socket.write(head);
      ok = socket.write(this.#firstBody);
      socket.uncork();
    } else {
      ok = socket.write(head);
    }
    if (socket.writableLength !== 0) scratchRetained(head);
    this.#since = context.now;
    if (!this.#requestDone && ok && !this.#bodyless) this.conn.resumeBody();
  }

  /** Client bytes while this exchange is active: more request body, or the next pipelined request. */
  onClientData(chunk: Buffer): void {
    if (this.#requestDone) {
      this.#stash = append(this.#stash, chunk);
      this.conn.pauseBody();
      return;
    }
    const end = this.#body.feed(chunk);
    if (end === CHUNKED_INVALID) return this.#refuse(400);
    // A streamed body crossing the route's limit: cut off the endpoint, 413 unless the response started.
    if (this.#overLimit(end)) return this.#refuse(413);
    const body = end === chunk.length ? chunk : chunk.subarray(0, end);
    const extra = end === chunk.length ? undefined : chunk.subarray(end);
    const done = this.#body.done;
    const upstream = this.upstream;
    this.#since = this.conn.context.now;
    this.#mirror?.body(body);
    if (upstream === undefined || !upstream.connected) {
      this.#firstBody = append(this.#firstBody, body);
    } else {
      // An HTTP/2 endpoint may refuse a stream unprocessed (REFUSED_STREAM, GOAWAY): up to REPLAY_BYTES of body are kept to send it again.
      const h2 = (this.decision as ProxyDecision).protocol !== undefined;
      if (this.#replayable && h2 && (this.#firstBody?.length ?? 0) + body.length <= REPLAY_BYTES) this.#firstBody = append(this.#firstBody, body);
      else {
        this.#replayable = false;
        // No replay any more: a long HTTP/2 stream (gRPC bidi) holds no body bytes for it.
        if (h2) this.#firstBody = undefined;
      }
      this.#bodyStreamed = true;
      if (!upstream.socket.write(body) && !done) this.conn.pauseBody();
    }
    if (!done) return;
    this.#requestDone = true;
    this.#mirror?.end();
    this.#stash = extra;
    if (extra !== undefined) this.conn.pauseBody();
  }

  /** Checked on the proxy's tick: fails the exchange whose deadline passed (see failure.ts `overdue`). */
  checkTimeouts(now: number): void {
    const upstream = this.upstream;
    if (!this.active || upstream === undefined) return;
    const kind = overdue(
      {
        idleMs: now - this.#since,
        connected: upstream.connected,
        requestDone: this.#requestDone,
        responseStarted: this.#relay.started,
        clientBacklogged: this.conn.responseBacklogged,
        endpointBacklogged: upstream.socket.writableNeedDrain,
      },
      this.#timeouts ?? this.conn.context.options,
    );
    if (kind >= 0) this.#fail(kind);
  }

  /** The client half-closed: fine once the request is complete, a truncated request otherwise. */
  onClientEnd(): void {
    this.#keepAlive = false;
    if (!this.#requestDone) this.conn.cut();
  }

  /** The client took what was written: let the endpoint send more. */
  onClientDrain(): void {
    this.#since = this.conn.context.now;
    if (this.active && this.upstream?.socket.isPaused() === true) this.upstream.socket.resume();
  }

  /** The client connection is gone mid-exchange. */
  abort(): void {
    if (!this.active) return;
    this.active = false;
    this.#drop();
    this.#record(this.#relay.started ? this.#relay.status : 499);
  }

  onUpstreamConnect(upstream: Upstream): void {
    if (upstream === this.upstream) this.#send(upstream);
  }

  onUpstreamDrain(upstream: Upstream): void {
    this.#since = this.conn.context.now;
    if (upstream === this.upstream && !this.#requestDone && !this.#bodyless) this.conn.resumeBody();
  }

  onUpstreamData(upstream: Upstream, buffer: Buffer, length: number): void {
    if (upstream !== this.upstream) return;
    const context = this.conn.context;
    this.#since = context.now;
    this.#gotBytes = true;
    this.#replayable = false;
    // An answer came: an HTTP/2 stream's body bytes kept for a replay are not needed any more.
    if ((this.decision as ProxyDecision).protocol !== undefined) this.#firstBody = undefined;
    const relay = this.#relay;
    const started = relay.started;
    const outcome = relay.feed(buffer, length, upstream, context.closing);
    // A response head (any status) is what passive health counts as success.
    if (!started && relay.started) context.router.reportSuccess((this.decision as ProxyDecision).endpointKey);
    if (outcome === RELAY_DONE) this.#finish();
    else if (outcome === RELAY_INVALID) this.#fail(BAD_RESPONSE);
    else if (outcome === RELAY_RETRY) {
      if (this.#fallbackTo !== undefined) this.#redispatch();
      else this.#retryElsewhere();
    }
    else if (outcome === RELAY_UPGRADE) this.#tunnel(upstream);
  }

  onUpstreamEnd(upstream: Upstream): void {
    if (upstream !== this.upstream) return;
    if (this.#relay.endsOnClose) this.#finish();
    else this.#fail(RESET);
  }

  onUpstreamClose(upstream: Upstream): void {
    if (upstream !== this.upstream) return;
    const decision = this.decision as ProxyDecision;
    // Still connecting when a new snapshot removed the endpoint (the pool closed it): go elsewhere now, not after the connect timeout.
    if (!upstream.connected && endpointRemoved(upstream.error)) return this.#fail(ENDPOINT_REMOVED);
    // A TLS handshake or verification failure says why (wrong CA, name, depth) at warn level.
    if (!upstream.connected && decision.tls !== undefined && upstream.error !== undefined) {
      const error = upstream.error as Error & { code?: string };
      this.conn.context.logger?.warn({ endpoint: decision.endpointKey, route: decision.route, code: error.code, reason: error.message }, 'TLS to endpoint failed');
    }
    this.#fail(upstream.connected ? RESET : CONNECT_FAILED, upstream.unprocessed === true);
  }

  #finish(): void {
    const upstream = this.upstream;
    const context = this.conn.context;
    this.upstream = undefined;
    this.active = false;
    const relay = this.#relay;
    if (upstream !== undefined) {
      if (relay.reusable && this.#requestDone) {
        if (upstream.socket.isPaused()) upstream.socket.resume();
        upstream.release();
      } else {
        upstream.owner = undefined;
        upstream.destroy();
      }
    }
    if (context.metrics !== undefined) context.metrics.observeUpstream((performance.now() - this.#upstreamStarted) / 1000);
    this.#measure(0);
    this.#record(relay.status);
    this.#done(!relay.closeClient && this.#requestDone);
  }

  /** `unprocessed`: the endpoint said it never acted on the request (HTTP/2 REFUSED_STREAM): it may go again whatever its method, first on a fresh connection. */
  #fail(kind: number, unprocessed = false): void {
    const decision = this.decision as ProxyDecision;
    const router = this.conn.context.router;
    const relay = this.#relay;
    this.#measure(FAILURE_PENALTY_MS);
    const action = decideFailure(kind, {
      started: relay.started,
      replayable: this.#replayable && (this.#idempotent || unprocessed) && !this.#gotBytes,
      reused: this.#reused || unprocessed,
      staleRetried: this.#staleRetried,
      // Asked only when a replay on a fresh connection is in question (a map lookup, on failures only).
      endpointRemoved: kind === RESET && this.#reused && router.removedSince(decision),
      attempts: this.#attempts,
      nextUpstream: this.#nextUpstream === undefined ? undefined : this.#nextFacts(this.#nextUpstream),
    });
    this.#drop();
    const logger = this.conn.context.logger;
    logger?.debug({ endpoint: decision.endpointKey, route: decision.route, failure: FAILURE_NAMES[kind], action: action.action }, 'upstream exchange failed');
    if (action.countsAgainstEndpoint && router.reportFailure(decision.endpointKey, kind === CONNECT_FAILED || kind === CONNECT_TIMEOUT)) {
      logger?.warn({ endpoint: decision.endpointKey }, 'endpoint ejected by passive health checking');
    }
    switch (action.action) {
      case 'cut':
        return this.#cut();
      case 'fresh-connection':
        this.#staleRetried = true;
        return this.#attach(true);
      case 'other-endpoint': {
        this.#tried.push(decision.endpointId);
        const next = router.retryPick(decision, this.#tried);
        if (next === undefined) break;
        this.#attempts++;
        this.#toBackendOf(decision, next);
        this.decision = next;
        return this.#attach(true);
      }
      default:
        break;
    }
    // The default backend failed too: the client gets the status it stood in for (the original response is gone).
    this.#localError(decision.fallback ?? action.status);
  }

  /** Reports the response time of a measured exchange (load-balance: ewma), plus `penaltyMs` for a failure. */
  #measure(penaltyMs: number): void {
    if (this.#measuredFrom === 0) return;
    const decision = this.decision as ProxyDecision;
    decision.snapshot.observeLatency(decision.endpointId, performance.now() - this.#measuredFrom + penaltyMs);
    this.#measuredFrom = 0;
  }

  /** What proxy-next-upstream decides on, now. */
  #nextFacts(policy: NextUpstreamPolicy): NextUpstreamFacts {
    return { policy, idempotent: this.#idempotent, sent: this.#sent, bodyStreamed: this.#bodyStreamed, elapsedMs: this.conn.context.now - this.#arrived };
  }

  /**
   * The relay asks about a final status (proxy-next-upstream http_*): true when the route retries
   * it and another endpoint is there (then kept in #statusRetry); false relays the response as is.
   */
  readonly #retryOnStatus = (status: number): boolean => {
    const policy = this.#nextUpstream;
    const decision = this.decision;
    if (decision === undefined) return false;
    if (policy === undefined || (policy.when & STATUS_BITS) === 0 || !nextUpstreamAllows(statusBit(status), this.#attempts, this.#nextFacts(policy))) return this.#intercepts(decision, status);
    this.#tried.push(decision.endpointId);
    this.#statusRetry = this.conn.context.router.retryPick(decision, this.#tried);
    if (this.#statusRetry === undefined) {
      this.#tried.pop();
      return this.#intercepts(decision, status);
    }
    return true;
  };

  /**
   * Whether a final status goes to the route's default backend instead of the client
   * (custom-http-errors, nginx's `proxy_intercept_errors` + `error_page <code> = @custom_…`): a
   * listed status, of the route's own endpoint or Portico's answer for it, and the default backend
   * has a ready endpoint (kept in #fallbackTo). Else the response is relayed (or answered) as is.
   */
  #intercepts(decision: ProxyDecision, status: number): boolean {
    const plan = decision.policy?.fallback;
    if (plan === undefined || decision.fallback !== undefined || this.#upgrade || status >= 600 || plan.intercepted[status] !== 1) return false;
    this.#fallbackTo = this.conn.context.router.fallback(decision.snapshot, decision.route, decision.policy as NonNullable<ProxyDecision['policy']>, status);
    return this.#fallbackTo !== undefined;
  }

  /**
   * The endpoint answered an intercepted status: its response is dropped unread (the connection
   * closed, so whatever body it has costs nothing) and the request goes once to the default
   * backend: `/` with the query kept (nginx's `rewrite (.*) / break`), without its body, with
   * the X-Code … X-Service-Port fields and the same X-Request-ID, and none of the route's own
   * request header policies (the error location sets its own). Its answer reaches the client
   * unchanged, without the route's response header policies; a body the client is still sending
   * is not read further and the client connection closes after the answer.
   */
  #redispatch(): void {
    const decision = this.decision as ProxyDecision;
    const next = this.#fallbackTo as ProxyDecision;
    const conn = this.conn;
    this.#fallbackTo = undefined;
    conn.context.logger?.debug({ endpoint: decision.endpointKey, route: decision.route, status: next.fallback }, 'upstream status sent to the default backend');
    this.#drop();
    const hadBody = conn.head.hasBody;
    this.#endMirror();
    if (!this.#requestDone) {
      this.#keepAlive = false;
      conn.pauseBody();
    }
    this.#requestDone = true;
    this.#bodyless = true;
    this.#firstBody = undefined;
    this.#bodyStreamed = false;
    this.#replayable = false;
    this.#gotBytes = false;
    this.#upgrade = false;
    this.#statusRetry = undefined;
    this.#tried.length = 0;
    this.#attempts = 0;
    const buf = this.requestBuffer as Buffer;
    const received = buf.latin1Slice(conn.head.targetStart, conn.head.targetEnd);
    const query = received.indexOf('?');
    this.#target = query < 0 ? '/' : `/${received.slice(query)}`;
    const fields = this.#fallbackFields(next, true);
    if (hadBody) fields.push(['Content-Length', '0']);
    this.#extra = mergeHeaders(undefined, fields, []);
    this.#relay.reset(this.#isHead, this.#keepAlive, conn.head.minor === 1, false, undefined);
    this.#relay.retryOn = undefined;
    this.decision = next;
    this.#attach(true);
  }

  /**
   * The fields a request to the default backend carries (ingress-nginx's template): X-Code, X-Format
   * (the client's Accept), with `originalUri` X-Original-URI (the custom-http-errors location sets
   * it, the no-endpoint one does not), then the route's X-Namespace … X-Service-Port. X-Request-ID
   * is the one the endpoint saw (forwardHead).
   */
  #fallbackFields(decision: ProxyDecision, originalUri: boolean): [string, string][] {
    const conn = this.conn;
    const buf = this.requestBuffer as Buffer;
    const accept = headerRecord(buf, conn.head)['accept'];
    const fields: [string, string][] = [['X-Code', String(decision.fallback)], ['X-Format', Array.isArray(accept) ? accept.join(', ') : (accept ?? '')]];
    if (originalUri) fields.push(['X-Original-URI', buf.latin1Slice(conn.head.targetStart, conn.head.targetEnd)]);
    for (const [name, value] of decision.policy?.fallback?.fields ?? []) fields.push([name, value]);
    // nginx's proxy_set_header sends no field whose value is empty (no Accept: no X-Format).
    return fields.filter(([, value]) => value !== '');
  }

  /** The endpoint's response had a status the route retries: dropped unread, the request goes to #statusRetry. */
  #retryElsewhere(): void {
    const decision = this.decision as ProxyDecision;
    const next = this.#statusRetry as ProxyDecision;
    this.#statusRetry = undefined;
    this.conn.context.logger?.debug({ endpoint: decision.endpointKey, route: decision.route, failure: FAILURE_NAMES[RETRY_STATUS] }, 'upstream status retried on another endpoint');
    this.#drop();
    this.#relay.restart();
    this.#gotBytes = false;
    this.#attempts++;
    this.#toBackendOf(decision, next);
    this.decision = next;
    this.#attach(true);
  }

  /**
   * A retry moves the request from `from` to `to`'s endpoint: when that is behind another backend
   * of a route whose backends have filters of their own, its header changes replace the ones of
   * the backend left (nothing was sent to the client yet, so the response changes may change too).
   */
  #toBackendOf(from: ProxyDecision, to: ProxyDecision): void {
    const rule = this.#ruleOutcome;
    if (rule === undefined || to.backend === from.backend || to.backend === undefined) return;
    const outcome = applyBackendPolicy(to.policy, to.backend, rule);
    this.#extra = extraHeaders(outcome);
    this.#relay.reset(this.#isHead, this.#keepAlive, this.conn.head.minor === 1, this.#upgrade, responseExtraOf(outcome));
  }

  /** The request body broke the chunked syntax (or the head's first bytes did): 400, never forwarded further. */
  #refuse(status: number): void {
    this.#drop();
    if (this.#relay.started) return this.#cut();
    this.#requestDone = false;
    this.#localError(status);
  }

  /** The whole-exchange deadline passed: 504, or a cut once the response started (never retried). */
  #pastDeadline(): void {
    this.#deadline = undefined;
    if (this.active) this.#fail(this.#deadlineKind);
  }

  /** Part of the response is out: the only honest signal left is cutting the connection. */
  #cut(): void {
    this.active = false;
    this.#record(this.#relay.status);
    this.conn.cut();
  }

  /**
   * Portico answers `status` itself: unless the route's custom-http-errors lists it, then the
   * default backend answers instead (nginx's `error_page` covers the 502/503/504 it makes itself).
   */
  #localError(status: number): void {
    const decision = this.decision as ProxyDecision;
    if (decision.fallback === undefined && !this.#relay.started && this.#intercepts(decision, status)) return this.#redispatch();
    this.active = false;
    const keepAlive = this.#keepAlive && this.#requestDone;
    this.conn.sendError(status, !keepAlive, this.#isHead);
    this.#record(status);
    this.#done(keepAlive);
  }

  /** The endpoint switched protocols (the relay sent the 101 on): splice the two sockets. */
  #tunnel(upstream: Upstream): void {
    const decision = this.decision as ProxyDecision;
    this.upstream = undefined;
    this.active = false;
    this.#record(101);
    const stash = this.#stash;
    this.#stash = undefined;
    this.#firstBody = undefined;
    this.conn.upgraded(upstream, decision.endpointKey, stash);
  }

  /** Holds `snapshot` (undefined: none), letting go of the one held before. */
  #hold(snapshot: LoadedSnapshot | undefined): void {
    const held = this.#held;
    if (held === snapshot) return;
    this.#held = snapshot;
    snapshot?.hold();
    held?.letGo();
  }

  /** Forgets and closes the endpoint connection, if any. */
  #drop(): void {
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream !== undefined) {
      upstream.owner = undefined;
      upstream.destroy();
    }
  }

  #done(keepAlive: boolean): void {
    const stash = this.#stash;
    this.#stash = undefined;
    this.#firstBody = undefined;
    this.conn.exchangeDone(keepAlive, stash);
  }

  /** The exchange reads no more of the request: a mirror copy still waiting for its body is dropped. */
  #endMirror(): void {
    const mirror = this.#mirror;
    this.#mirror = undefined;
    mirror?.drop();
  }

  #record(status: number): void {
    this.#endMirror();
    // Over while its auth subrequest is out (the client left, the route's deadline passed): stop asking.
    if (this.#authCall !== undefined) {
      this.#authCall.cancel();
      this.#authCall = this.#authRequest = this.#authResponse = undefined;
    }
    if (this.#deadline !== undefined) {
      clearTimeout(this.#deadline);
      this.#deadline = undefined;
    }
    const conn = this.conn;
    const decision = this.decision as ProxyDecision;
    let requestId = '';
    if (conn.context.accessLog !== undefined && this.requestBuffer !== undefined) requestId = requestIdOf(this.requestBuffer, conn.head, conn.context.ids, this.#requestId);
    conn.record(status, decision.route, decision.endpointKey, this.#started, requestId);
    this.#ruleOutcome = undefined;
    // Over: no pick, retry or score reaches its snapshot any more (an upgraded connection needs none).
    this.#hold(undefined);
    const whenDone = this.#whenDone;
    if (whenDone !== undefined) {
      this.#whenDone = undefined;
      for (const release of whenDone) release();
    }
  }
}
