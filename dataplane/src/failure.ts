/**
 * What a failed exchange with an endpoint means, as one pure decision: retry (where), answer
 * (which status) or cut the client off, and whether the endpoint's passive health pays for it.
 * Semantics: a refused connection or a reset before any response byte → a retry on another
 * endpoint, up to RETRIES times, when the request is idempotent and its body was not consumed
 * (nginx's `proxy_next_upstream error` with ingress-nginx's 3 tries: endpoints of a rollout go
 * away several at once, and one that is shutting down refuses or resets), else 502; a connect
 * timeout (a pod whose address is already gone) the same, else 504; other timeouts → 504; a
 * kept-alive connection that turns out closed is replayed once on a fresh connection, at no cost
 * to the endpoint; a connect abandoned because a new snapshot removed its endpoint, or a closed
 * kept-alive connection to such an endpoint, goes on like a refused one (never a new connection
 * to it), at no cost to the endpoint; once the response has started, only cutting the connection
 * is honest.
 */

import type { NextUpstreamPolicy } from '@portico/control/snapshot/policies/module';
import { NEXT_UPSTREAM } from '@portico/control/snapshot/policies/next-upstream';

/** Why an exchange failed. */
export const CONNECT_FAILED = 0;
export const CONNECT_TIMEOUT = 1;
/** The endpoint closed or reset the connection before the response was complete. */
export const RESET = 2;
export const READ_TIMEOUT = 3;
/** The endpoint broke HTTP (unusable head, bad chunked framing, unexpected 101). */
export const BAD_RESPONSE = 4;
export const SEND_TIMEOUT = 5;
/** The client stalled (sending its body or reading the response). */
export const CLIENT_TIMEOUT = 6;
/** The deadline the client set (gRPC's `grpc-timeout`) passed: 504, never the endpoint's fault. */
export const DEADLINE = 7;

/** The endpoint answered a status the route's proxy-next-upstream retries on (http_5xx, …). */
export const RETRY_STATUS = 8;
/**
 * The connection was still connecting when a new snapshot removed its endpoint (a scale-down or
 * rollout the snapshot caught up with): nothing was sent, and the address may never answer.
 */
export const ENDPOINT_REMOVED = 9;

/** Failure kinds by number, for logs. */
export const FAILURE_NAMES: readonly string[] = ['connect-failed', 'connect-timeout', 'reset', 'read-timeout', 'bad-response', 'send-timeout', 'client-timeout', 'deadline', 'retry-status', 'endpoint-removed'];

/** What the exchange knows when it fails. */
export interface FailureFacts {
  /** Part of the response has gone to the client. */
  readonly started: boolean;
  /** Idempotent, no request body byte consumed, no response byte received: safe to send again. */
  readonly replayable: boolean;
  /** The endpoint connection had carried requests before. */
  readonly reused: boolean;
  /** A fresh-connection replay was already tried. */
  readonly staleRetried: boolean;
  /** A snapshot loaded since the request started removed the endpoint: no new connection to it (a replay goes elsewhere). */
  readonly endpointRemoved?: boolean;
  /** Retries on another endpoint so far. */
  readonly attempts: number;
  /** The route's `proxy-next-upstream*`; undefined: the built-in policy above. */
  readonly nextUpstream?: NextUpstreamFacts | undefined;
}

/** What a route's proxy-next-upstream decision needs beyond FailureFacts. */
export interface NextUpstreamFacts {
  readonly policy: NextUpstreamPolicy;
  readonly idempotent: boolean;
  /** The request head went to the endpoint (a connect failure: it did not). */
  readonly sent: boolean;
  /** Part of the body went to the endpoint and is not kept for another. */
  readonly bodyStreamed: boolean;
  /** ms since the request arrived. */
  readonly elapsedMs: number;
}

/**
 * Other endpoints an idempotent request may go to after refused, timed-out or reset connections:
 * one try plus two more, as ingress-nginx's default proxy-next-upstream-tries 3. Sending an
 * idempotent request again is allowed whatever the endpoint saw of it (RFC 9110 §9.2.2); with one
 * retry after a reset or connect timeout, a scale-down that stops two endpoints at once answered
 * 502 or 504 when the retry met the second one (refused by one, then reset by the other or its
 * address gone).
 */
export const RETRIES = 2;

/** The decision. `status` is what to answer when no retry happens (or the retry finds no endpoint). */
export interface FailureAction {
  readonly action: 'cut' | 'fresh-connection' | 'other-endpoint' | 'answer';
  readonly status: number;
  /** Count a failure against the endpoint's passive health. */
  readonly countsAgainstEndpoint: boolean;
}

const CUT: FailureAction = { action: 'cut', status: 0, countsAgainstEndpoint: true };
const CUT_CLIENT: FailureAction = { action: 'cut', status: 0, countsAgainstEndpoint: false };
const FRESH: FailureAction = { action: 'fresh-connection', status: 502, countsAgainstEndpoint: false };
const CLIENT_TOO_SLOW: FailureAction = { action: 'answer', status: 408, countsAgainstEndpoint: false };
const RETRY_502: FailureAction = { action: 'other-endpoint', status: 502, countsAgainstEndpoint: true };
const RETRY_504: FailureAction = { action: 'other-endpoint', status: 504, countsAgainstEndpoint: true };
const ANSWER_502: FailureAction = { action: 'answer', status: 502, countsAgainstEndpoint: true };
const ANSWER_504: FailureAction = { action: 'answer', status: 504, countsAgainstEndpoint: true };
const DEADLINE_504: FailureAction = { action: 'answer', status: 504, countsAgainstEndpoint: false };
const REMOVED_RETRY: FailureAction = { action: 'other-endpoint', status: 502, countsAgainstEndpoint: false };
const REMOVED_502: FailureAction = { action: 'answer', status: 502, countsAgainstEndpoint: false };

/** The proxy-next-upstream condition a failure kind is, as nginx names them. */
function conditionOf(kind: number): number {
  if (kind === CONNECT_FAILED || kind === RESET || kind === ENDPOINT_REMOVED) return NEXT_UPSTREAM.error;
  if (kind === BAD_RESPONSE) return NEXT_UPSTREAM.invalid_header;
  if (kind === CONNECT_TIMEOUT || kind === READ_TIMEOUT || kind === SEND_TIMEOUT) return NEXT_UPSTREAM.timeout;
  return 0;
}

/**
 * Whether a route's proxy-next-upstream lets a request go on to another endpoint after a failure
 * of condition `condition` (a NEXT_UPSTREAM bit, or a status bit): the condition is listed, a try
 * is left, the timeout has not passed, the body can be sent again, and a request that reached the
 * endpoint is idempotent unless `non_idempotent` is listed.
 */
export function nextUpstreamAllows(condition: number, attempts: number, facts: NextUpstreamFacts): boolean {
  const { policy } = facts;
  if ((policy.when & condition) === 0 || attempts + 1 >= policy.tries || facts.bodyStreamed) return false;
  if (policy.timeoutMs !== 0 && facts.elapsedMs >= policy.timeoutMs) return false;
  return facts.idempotent || !facts.sent || (policy.when & NEXT_UPSTREAM.non_idempotent) !== 0;
}

/** Decides what a failure of `kind` means given `facts`. */
export function decideFailure(kind: number, facts: FailureFacts): FailureAction {
  // The client's own deadline says nothing about the endpoint: no retry, no health penalty (else any client could eject endpoints).
  if (facts.started) return kind === CLIENT_TIMEOUT || kind === DEADLINE ? CUT_CLIENT : CUT;
  if (kind === CLIENT_TIMEOUT) return CLIENT_TOO_SLOW;
  if (kind === DEADLINE) return DEADLINE_504;
  const staleConnection = kind === RESET && facts.reused && facts.replayable && !facts.staleRetried;
  if (staleConnection && facts.endpointRemoved !== true) return FRESH;
  // The endpoint is gone from the snapshot, not failing: as a refused connect, never charged to it.
  if (kind === ENDPOINT_REMOVED || staleConnection) {
    const next = facts.nextUpstream;
    const retry = next === undefined ? facts.replayable && facts.attempts < RETRIES : nextUpstreamAllows(conditionOf(kind), facts.attempts, next);
    return retry ? REMOVED_RETRY : REMOVED_502;
  }
  const timeout = kind === CONNECT_TIMEOUT || kind === READ_TIMEOUT || kind === SEND_TIMEOUT;
  const next = facts.nextUpstream;
  if (next !== undefined) {
    if (nextUpstreamAllows(conditionOf(kind), facts.attempts, next)) return timeout ? RETRY_504 : RETRY_502;
    return timeout ? ANSWER_504 : ANSWER_502;
  }
  // Only failures before any response byte are retried elsewhere.
  const beforeResponse = kind === CONNECT_FAILED || kind === CONNECT_TIMEOUT || kind === RESET;
  if (beforeResponse && facts.replayable && facts.attempts < RETRIES) return timeout ? RETRY_504 : RETRY_502;
  return timeout ? ANSWER_504 : ANSWER_502;
}

/** Methods a retry may send twice (RFC 9110 §9.2.2). */
export function isIdempotent(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'PUT' || method === 'DELETE' || method === 'OPTIONS' || method === 'TRACE';
}

/** Timeouts that apply to an exchange. */
export interface ExchangeTimeouts {
  readonly connectTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly clientTimeoutMs: number;
}

/** Where an exchange stands, for its deadline. */
export interface ExchangeProgress {
  /** ms since the last progress. */
  readonly idleMs: number;
  readonly connected: boolean;
  readonly requestDone: boolean;
  readonly responseStarted: boolean;
  /** The client socket has more queued than it takes. */
  readonly clientBacklogged: boolean;
  /** The endpoint socket has more queued than it takes. */
  readonly endpointBacklogged: boolean;
}

/**
 * The failure kind whose deadline has passed, or -1. Connecting: connectTimeoutMs. The client is
 * the slow side (it does not send the rest of its body, or does not read the response):
 * clientTimeoutMs. The endpoint does not take the body: sendTimeoutMs. Waiting for the response
 * or between two of its reads: readTimeoutMs.
 */
export function overdue(progress: ExchangeProgress, timeouts: ExchangeTimeouts): number {
  const idle = progress.idleMs;
  if (!progress.connected) return idle > timeouts.connectTimeoutMs ? CONNECT_TIMEOUT : -1;
  const clientSlow = progress.responseStarted ? progress.clientBacklogged : !progress.requestDone && !progress.endpointBacklogged;
  if (clientSlow) return idle > timeouts.clientTimeoutMs ? CLIENT_TIMEOUT : -1;
  if (!progress.requestDone) return idle > timeouts.sendTimeoutMs ? SEND_TIMEOUT : -1;
  return idle > timeouts.readTimeoutMs ? READ_TIMEOUT : -1;
}
