/**
 * `proxy-next-upstream`, `-tries` and `-timeout`, as ingress-nginx documents them (annotations.md
 * "Custom timeouts"; nginx `proxy_next_upstream`): which failures send the request to another
 * endpoint. Conditions: `error` (connect refused, connection reset before the response head was
 * complete), `timeout` (connect, send or read timeout before the response started), `invalid_header`
 * (an unusable response head), `http_500`/`502`/`503`/`504`/`403`/`404`/`429` (the endpoint
 * answered that status: the response is dropped unread and the request goes to another endpoint;
 * with no try left, that response is what the client gets, as nginx does), `non_idempotent` (POST,
 * PATCH, … may be sent again after they reached an endpoint), `off`.
 *
 * As in nginx, nothing retries once part of the response went to the client; unlike nginx (which
 * buffers the request body), a body Portico has already streamed to the endpoint cannot be sent
 * again, so such a request is not retried (a body that arrived with the head still can be).
 * Without the annotations the data plane's built-in policy stays (connect failures up to two more
 * endpoints, a reset or timeout once, idempotent requests only).
 */
import type { AnnotationReader, NextUpstreamPolicy, PolicyModule, PolicyOutcome, RequestFacts, UpstreamSettings } from './module.ts';

/** The conditions as bits of `NextUpstreamPolicy.when`. */
export const NEXT_UPSTREAM = {
  error: 1,
  timeout: 2,
  invalid_header: 4,
  http_500: 8,
  http_502: 16,
  http_503: 32,
  http_504: 64,
  http_403: 128,
  http_404: 256,
  http_429: 512,
  non_idempotent: 1024,
} as const;

/** The bit of a response status among the http_* conditions, or 0. */
export function statusBit(status: number): number {
  switch (status) {
    case 500: return NEXT_UPSTREAM.http_500;
    case 502: return NEXT_UPSTREAM.http_502;
    case 503: return NEXT_UPSTREAM.http_503;
    case 504: return NEXT_UPSTREAM.http_504;
    case 403: return NEXT_UPSTREAM.http_403;
    case 404: return NEXT_UPSTREAM.http_404;
    case 429: return NEXT_UPSTREAM.http_429;
    default: return 0;
  }
}

/** The bits of all http_* conditions. */
export const STATUS_BITS = NEXT_UPSTREAM.http_500 | NEXT_UPSTREAM.http_502 | NEXT_UPSTREAM.http_503 | NEXT_UPSTREAM.http_504 | NEXT_UPSTREAM.http_403 | NEXT_UPSTREAM.http_404 | NEXT_UPSTREAM.http_429;

/** Most endpoints one request tries (tries 0 means "no limit" in nginx; Portico bounds it). */
export const MAX_TRIES = 16;

/** ingress-nginx's default conditions when only -tries or -timeout is set. */
const DEFAULT_WHEN = NEXT_UPSTREAM.error | NEXT_UPSTREAM.timeout;

function readWhen(reader: AnnotationReader): number | undefined {
  const value = reader.string('proxy-next-upstream');
  if (value === undefined) return undefined;
  let when = 0;
  const unknown: string[] = [];
  for (const word of value.toLowerCase().split(/[\s,]+/).filter((w) => w !== '')) {
    if (word === 'off') continue;
    const bit = (NEXT_UPSTREAM as Record<string, number>)[word];
    if (bit === undefined) unknown.push(word);
    else when |= bit;
  }
  if (unknown.length !== 0) reader.warn('proxy-next-upstream', `${unknown.map((w) => JSON.stringify(w.slice(0, 32))).join(', ')} ${unknown.length === 1 ? 'is not a condition' : 'are not conditions'} (error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off); left out`);
  return when;
}

function readNextUpstream(reader: AnnotationReader): NextUpstreamPolicy | undefined {
  const when = readWhen(reader);
  let tries = reader.integer('proxy-next-upstream-tries', undefined);
  if (tries !== undefined && (tries < 0 || tries > 1000)) {
    reader.warn('proxy-next-upstream-tries', `${tries} is not between 0 and 1000; ingress-nginx's default 3 is used`);
    tries = 3;
  }
  const timeoutRaw = reader.string('proxy-next-upstream-timeout');
  let timeoutMs: number | undefined;
  if (timeoutRaw !== undefined) {
    if (/^\d{1,7}$/.test(timeoutRaw)) timeoutMs = Number(timeoutRaw) * 1000;
    else reader.warn('proxy-next-upstream-timeout', `${JSON.stringify(timeoutRaw.slice(0, 32))} is not a whole number of seconds; no time limit on retries`);
  }
  if (when === undefined && tries === undefined && timeoutMs === undefined) return undefined;
  const wanted = tries ?? 3;
  return { when: when ?? DEFAULT_WHEN, tries: wanted === 0 ? MAX_TRIES : Math.min(wanted, MAX_TRIES), timeoutMs: timeoutMs ?? 0 };
}

function describeWhen(when: number): string {
  const names = Object.entries(NEXT_UPSTREAM).filter(([, bit]) => (when & bit) !== 0).map(([name]) => name);
  return names.length === 0 ? 'off' : names.join(' ');
}

/** `proxy-next-upstream*`: when a request goes on to another endpoint. */
export const nextUpstreamModule: PolicyModule<NextUpstreamPolicy> = {
  key: 'nextUpstream',
  phase: 'request',
  annotations: [
    { name: 'proxy-next-upstream', support: 'approximated', note: 'error, timeout, invalid_header, http_500/502/503/504/403/404/429, non_idempotent, off, as nginx; a request body already streamed to the endpoint is not sent again (nginx buffers it), so such a request is not retried; without the annotation Portico\'s built-in policy (connect failures, one reset or timeout, idempotent requests)' },
    { name: 'proxy-next-upstream-tries', support: 'approximated', note: 'endpoints tried in all (default 3); 0 ("no limit") is bounded at 16 and by the route\'s endpoints' },
    { name: 'proxy-next-upstream-timeout', support: 'honoured', note: 'seconds since the request arrived after which no other endpoint is tried (0: none)' },
  ],
  schema: (z) => z.strictObject({ when: z.number().int().min(0).max(2047), tries: z.number().int().min(1).max(MAX_TRIES), timeoutMs: z.number().int().min(0).max(9_999_999_000) }),
  read: readNextUpstream,
  prepare: (policy) => {
    // Made once: a route without proxy-* settings hands out the same object to every request.
    const alone: UpstreamSettings = { nextUpstream: policy };
    return (_facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.upstream = outcome.upstream === undefined ? alone : { ...outcome.upstream, nextUpstream: policy };
    };
  },
  describe: (policy) => `proxy-next-upstream: ${describeWhen(policy.when)}, at most ${policy.tries} endpoints${policy.timeoutMs === 0 ? '' : ` within ${policy.timeoutMs / 1000}s`}`,
};
