import { describe, expect, it } from 'vitest';
import type { FailureFacts, NextUpstreamFacts } from './failure.ts';
import { NEXT_UPSTREAM } from '@portico/control/snapshot/policies/next-upstream';
import { BAD_RESPONSE, CLIENT_TIMEOUT, CONNECT_FAILED, CONNECT_TIMEOUT, DEADLINE, ENDPOINT_REMOVED, READ_TIMEOUT, RESET, SEND_TIMEOUT, decideFailure, isIdempotent, overdue } from './failure.ts';

const fresh: FailureFacts = { started: false, replayable: true, reused: false, staleRetried: false, attempts: 0 };

describe('decideFailure', () => {
  const cases: [string, number, Partial<FailureFacts>, string, number, boolean][] = [
    ['connect refused, replayable: another endpoint, else 502', CONNECT_FAILED, {}, 'other-endpoint', 502, true],
    ['connect timeout, replayable: another endpoint, else 504', CONNECT_TIMEOUT, {}, 'other-endpoint', 504, true],
    ['reset before any byte on a new connection: another endpoint', RESET, {}, 'other-endpoint', 502, true],
    ['reset on a reused connection: replay on a fresh one, no health cost', RESET, { reused: true }, 'fresh-connection', 502, false],
    ['reset on a reused connection after that replay: another endpoint', RESET, { reused: true, staleRetried: true }, 'other-endpoint', 502, true],
    ['refused again: a third endpoint (a rollout takes several away at once)', CONNECT_FAILED, { attempts: 1 }, 'other-endpoint', 502, true],
    ['refused a third time: 502', CONNECT_FAILED, { attempts: 2 }, 'answer', 502, true],
    ['reset on the retry: a third endpoint (idempotent: sending it again is allowed; a scale-down stops two at once)', RESET, { attempts: 1 }, 'other-endpoint', 502, true],
    ['reset on a fresh connection after a refused one: a third endpoint', RESET, { attempts: 1, staleRetried: true }, 'other-endpoint', 502, true],
    ['reset a third time: 502', RESET, { attempts: 2 }, 'answer', 502, true],
    ['reset on the retry, not replayable (POST, or body consumed): 502', RESET, { attempts: 1, replayable: false }, 'answer', 502, true],
    ['connect timeout on the retry (refused by one pod, the next one\'s address gone): a third endpoint', CONNECT_TIMEOUT, { attempts: 1 }, 'other-endpoint', 504, true],
    ['connect timeout a third time: 504', CONNECT_TIMEOUT, { attempts: 2 }, 'answer', 504, true],
    ['connect timeout, not replayable: 504', CONNECT_TIMEOUT, { replayable: false }, 'answer', 504, true],
    ['not replayable (POST, or body consumed): 502', CONNECT_FAILED, { replayable: false }, 'answer', 502, true],
    ['read timeout is never retried: 504', READ_TIMEOUT, {}, 'answer', 504, true],
    ['send timeout: 504', SEND_TIMEOUT, {}, 'answer', 504, true],
    ['bad response: 502', BAD_RESPONSE, {}, 'answer', 502, true],
    ['client too slow: 408, not the endpoint’s fault', CLIENT_TIMEOUT, {}, 'answer', 408, false],
    ['anything after the response started: cut', RESET, { started: true }, 'cut', 0, true],
    ['client too slow after the response started: cut, no health cost', CLIENT_TIMEOUT, { started: true }, 'cut', 0, false],
    ['the client\'s grpc-timeout passed: 504, never retried, no health cost', DEADLINE, { replayable: true }, 'answer', 504, false],
    ['the client\'s grpc-timeout passed mid-response: cut, no health cost', DEADLINE, { started: true }, 'cut', 0, false],
    ['connecting when a new snapshot removed the endpoint: another endpoint, no health cost (it is gone, not failing)', ENDPOINT_REMOVED, {}, 'other-endpoint', 502, false],
    ['endpoint removed on the third try: 502, no health cost', ENDPOINT_REMOVED, { attempts: 2 }, 'answer', 502, false],
    ['endpoint removed, not replayable (POST): 502 at once, no health cost', ENDPOINT_REMOVED, { replayable: false }, 'answer', 502, false],
    ['reset on a reused connection to an endpoint removed since: another endpoint, never a new connection to it, no health cost', RESET, { reused: true, endpointRemoved: true }, 'other-endpoint', 502, false],
    ['the same on the third try: 502, no health cost', RESET, { reused: true, endpointRemoved: true, attempts: 2 }, 'answer', 502, false],
    ['reset on a fresh connection to an endpoint removed since: as any reset', RESET, { reused: true, staleRetried: true, endpointRemoved: true }, 'other-endpoint', 502, true],
  ];
  it.each(cases)('%s', (_name, kind, facts, action, status, counts) => {
    expect(decideFailure(kind, { ...fresh, ...facts })).toEqual({ action, status, countsAgainstEndpoint: counts });
  });

  const next = (when: number, extra: Partial<NextUpstreamFacts> = {}): Partial<FailureFacts> => ({ nextUpstream: { policy: { when, tries: 3, timeoutMs: 0 }, idempotent: true, sent: true, bodyStreamed: false, elapsedMs: 0, ...extra } });
  const E = NEXT_UPSTREAM.error;
  const T = NEXT_UPSTREAM.timeout;
  const policyCases: [string, number, Partial<FailureFacts>, string, number][] = [
    ['error listed: a reset goes on', RESET, next(E), 'other-endpoint', 502],
    ['timeout listed: a read timeout goes on (nginx), unlike the built-in policy', READ_TIMEOUT, next(T), 'other-endpoint', 504],
    ['timeout not listed: 504', READ_TIMEOUT, next(E), 'answer', 504],
    ['invalid_header listed: a bad response goes on', BAD_RESPONSE, next(NEXT_UPSTREAM.invalid_header), 'other-endpoint', 502],
    ['off: nothing goes on', CONNECT_FAILED, next(0), 'answer', 502],
    ['tries used up (3 endpoints tried)', RESET, { ...next(E), attempts: 2 }, 'answer', 502],
    ['past proxy-next-upstream-timeout', RESET, next(E, { policy: { when: E, tries: 3, timeoutMs: 1000 }, elapsedMs: 1000 }), 'answer', 502],
    ['a POST that reached the endpoint: 502', RESET, next(E, { idempotent: false }), 'answer', 502],
    ['a POST whose connection was refused (never sent) goes on', CONNECT_FAILED, next(E, { idempotent: false, sent: false }), 'other-endpoint', 502],
    ['non_idempotent listed: a POST goes on', RESET, next(E | NEXT_UPSTREAM.non_idempotent, { idempotent: false }), 'other-endpoint', 502],
    ['a body already streamed cannot be sent again', RESET, next(E, { bodyStreamed: true }), 'answer', 502],
    ['started: cut, whatever the policy', RESET, { ...next(E), started: true }, 'cut', 0],
    ['error listed: a connect to a removed endpoint goes on, a POST too (never sent)', ENDPOINT_REMOVED, next(E, { idempotent: false, sent: false }), 'other-endpoint', 502],
    ['off: a connect to a removed endpoint answers 502', ENDPOINT_REMOVED, next(0), 'answer', 502],
  ];
  it.each(policyCases)('proxy-next-upstream: %s', (_name, kind, facts, action, status) => {
    expect(decideFailure(kind, { ...fresh, ...facts })).toMatchObject({ action, status });
  });

  it('knows the idempotent methods', () => {
    expect(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS', 'TRACE'].every(isIdempotent)).toBe(true);
    expect(['POST', 'PATCH', 'CONNECT', 'PROPFIND'].some(isIdempotent)).toBe(false);
  });
});

describe('overdue', () => {
  const timeouts = { connectTimeoutMs: 10, sendTimeoutMs: 20, readTimeoutMs: 30, clientTimeoutMs: 40 };
  const base = { idleMs: 0, connected: true, requestDone: true, responseStarted: false, clientBacklogged: false, endpointBacklogged: false };
  const cases: [string, Partial<typeof base>, number][] = [
    ['connecting within the limit', { connected: false, idleMs: 10 }, -1],
    ['connecting too long', { connected: false, idleMs: 11 }, CONNECT_TIMEOUT],
    ['endpoint not taking the body', { requestDone: false, endpointBacklogged: true, idleMs: 21 }, SEND_TIMEOUT],
    ['client not sending the rest of its body', { requestDone: false, idleMs: 39 }, -1],
    ['client not sending the rest of its body, too long', { requestDone: false, idleMs: 41 }, CLIENT_TIMEOUT],
    ['waiting for the response', { idleMs: 31 }, READ_TIMEOUT],
    ['client not reading the response', { responseStarted: true, clientBacklogged: true, idleMs: 35 }, -1],
    ['client not reading the response, too long', { responseStarted: true, clientBacklogged: true, idleMs: 41 }, CLIENT_TIMEOUT],
    ['endpoint stalls mid-response', { responseStarted: true, idleMs: 31 }, READ_TIMEOUT],
  ];
  it.each(cases)('%s', (_name, progress, kind) => {
    expect(overdue({ ...base, ...progress }, timeouts)).toBe(kind);
  });
});
