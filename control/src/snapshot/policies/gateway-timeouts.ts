/**
 * Gateway API rule `timeouts` (sigs.k8s.io/gateway-api apis/v1 HTTPRouteTimeouts): `request`, the
 * longest the gateway may take to answer a request, and `backendRequest`, the longest one request
 * to a backend may take. Portico retries only connections an endpoint refused (never a request
 * that reached one), so both bound the same thing here: the whole exchange, from the request's
 * arrival to the end of the response, with the smaller of the two. Past it the client gets 504,
 * or is cut off when the response had started. `0s` switches a timeout off (the data plane's
 * global idle timeouts still apply).
 */
import type { z } from 'zod';
import type { PolicyModule, PolicyOutcome, RequestFacts, Zod } from './module.ts';

/** The rule's timeouts in ms; absent: not set; 0: switched off. */
function routeTimeoutsSchema(z: Zod) {
  return z.strictObject({
    requestMs: z.number().int().min(0).max(86_400_000).optional(),
    backendRequestMs: z.number().int().min(0).max(86_400_000).optional(),
  });
}
export type RouteTimeouts = z.infer<ReturnType<typeof routeTimeoutsSchema>>;

/** The exchange deadline in ms the timeouts give, or undefined when none applies. */
export function exchangeDeadlineMs(data: RouteTimeouts): number | undefined {
  const set = [data.requestMs, data.backendRequestMs].filter((ms): ms is number => ms !== undefined && ms > 0);
  return set.length === 0 ? undefined : Math.min(...set);
}

/** Gateway API Duration (`1h`, `30s`, `500ms`, `1m30s`: one to four number+unit parts): ms, or undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^(?:[0-9]{1,5}(?:h|ms|m|s)){1,4}$/.test(text)) return undefined;
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
  let total = 0;
  for (const [, digits, name] of text.matchAll(/([0-9]+)(h|ms|m|s)/g)) total += Number(digits) * (unit[name as string] ?? 0);
  return total;
}

/** `timeouts`: the exchange deadline. */
export const timeoutsModule: PolicyModule<RouteTimeouts> = {
  key: 'timeouts',
  phase: 'request',
  annotations: [],
  schema: routeTimeoutsSchema,
  prepare(data) {
    const totalTimeoutMs = exchangeDeadlineMs(data);
    if (totalTimeoutMs === undefined) return undefined;
    return (_facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.upstream = { ...outcome.upstream, totalTimeoutMs };
    };
  },
  describe: (data) => {
    const total = exchangeDeadlineMs(data);
    return total === undefined ? 'Gateway API timeouts switched off (0s): only the global idle timeouts apply' : `Gateway API timeouts: the whole exchange within ${total} ms, else 504`;
  },
};
