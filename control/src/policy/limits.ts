/**
 * `limit-rps`, `limit-rpm`, `limit-connections`, `limit-burst-multiplier`, `limit-whitelist` read
 * into a LimitPolicy (control plane). The data plane enforces it (rate-limit.ts, run by the data plane)
 * per client address, answering 503 (ingress-nginx's default limit-req-status-code and
 * limit-conn-status-code).
 *
 * Difference from ingress-nginx: an unreadable value there means "no limit"; here it is an error
 * and the route is not served, because a limit a team believes is in place must not silently be
 * absent (fail closed).
 */
import { parseCidrList } from './cidr.ts';
import type { AnnotationWarning } from './cors.ts';

/** The limits of a route; every count > 0 when present. */
export interface LimitPolicy {
  /** `limit-rps`: requests per second per client address. */
  readonly rps?: number;
  /** `limit-rpm`: requests per minute per client address. */
  readonly rpm?: number;
  /** `limit-burst-multiplier` (default 5): burst = rate × multiplier. */
  readonly burstMultiplier: number;
  /** `limit-connections`: requests in flight per client address. */
  readonly connections?: number;
  /** `limit-whitelist`: client networks no limit applies to (sorted CIDRs). */
  readonly whitelist: readonly string[];
}

/** The annotations this policy reads (without prefix). */
export const LIMIT_ANNOTATIONS: readonly string[] = ['limit-rps', 'limit-rpm', 'limit-connections', 'limit-burst-multiplier', 'limit-whitelist'];

/** ingress-nginx's default `limit-burst-multiplier`. */
export const DEFAULT_BURST_MULTIPLIER = 5;

/** Largest value accepted for a rate, a count or the multiplier. */
const MAX_COUNT = 1_000_000;

function count(annotations: Readonly<Record<string, string>>, name: string, errors: AnnotationWarning[]): number | undefined {
  const raw = annotations[name];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (!/^\d{1,7}$/.test(text) || Number(text) > MAX_COUNT) {
    errors.push({ annotation: name, message: `${JSON.stringify(raw)} is not a whole number from 0 to ${MAX_COUNT}` });
    return undefined;
  }
  // 0 switches the limit off, as in ingress-nginx.
  return Number(text) === 0 ? undefined : Number(text);
}

/**
 * Reads the limit annotations (`annotations` keyed by name without prefix). Returns undefined when
 * no limit is set. Every unreadable value is pushed to `errors` (the caller refuses the route).
 */
export function readLimits(annotations: Readonly<Record<string, string>>, errors: AnnotationWarning[]): LimitPolicy | undefined {
  const rps = count(annotations, 'limit-rps', errors);
  const rpm = count(annotations, 'limit-rpm', errors);
  const connections = count(annotations, 'limit-connections', errors);
  let burstMultiplier = DEFAULT_BURST_MULTIPLIER;
  if (annotations['limit-burst-multiplier'] !== undefined) {
    const value = count(annotations, 'limit-burst-multiplier', errors);
    // ingress-nginx reads 0 as "not set", which is the default.
    burstMultiplier = value ?? DEFAULT_BURST_MULTIPLIER;
  }
  let whitelist: readonly string[] = [];
  const raw = annotations['limit-whitelist'];
  if (raw !== undefined) {
    const parsed = parseCidrList(raw);
    if (parsed.ok) whitelist = parsed.cidrs;
    else errors.push({ annotation: 'limit-whitelist', message: `not an IPv4/IPv6 address or CIDR: ${parsed.invalid.join(', ')}` });
  }
  if (rps === undefined && rpm === undefined && connections === undefined) return undefined;
  return { ...(rps === undefined ? {} : { rps }), ...(rpm === undefined ? {} : { rpm }), burstMultiplier, ...(connections === undefined ? {} : { connections }), whitelist };
}
