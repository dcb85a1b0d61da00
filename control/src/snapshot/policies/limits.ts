/**
 * `limit-rps`, `limit-rpm`, `limit-burst-multiplier`, `limit-whitelist` (and `limit-connections`,
 * see below) per client address with nginx's limit_req semantics (rate-limit.ts):
 * a request beyond the rate and burst gets 503, ingress-nginx's default limit-req-status-code
 * (test/e2e/annotations/limitrate.go, limitconnections.go).
 *
 * The counters live in the data-plane process, per route, for as long as the route's snapshot
 * does (a new snapshot starts them afresh) and per worker process: with `--workers N` a client
 * whose connections land on several workers may get up to N times the rate. ingress-nginx shares
 * one zone between the workers of a node. Each route holds at most DEFAULT_MAX_KEYS addresses.
 *
 * Difference from ingress-nginx: an unreadable value there means "no limit"; here it refuses the
 * Ingress (503, Error condition), because a limit a team believes is in place must not silently
 * be absent (fail closed).
 */
import { CidrSet, parseCidrList } from './cidr.ts';
import type { AnnotationWarning } from './cors.ts';
import type { PolicyModule } from './module.ts';
import { ConcurrencyLimit, RateLimit, admitRate } from './rate-limit.ts';

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

const LIMITED = { status: 503, headers: [] } as const;

/** The limits module. */
export const limitsModule: PolicyModule<LimitPolicy> = {
  key: 'limits',
  phase: 'access',
  annotations: [
    { name: 'limit-rps', support: 'approximated', note: 'requests per second per client address, burst rps × limit-burst-multiplier, 503 beyond; counted per data-plane worker process (ingress-nginx: per node)' },
    { name: 'limit-rpm', support: 'approximated', note: 'as limit-rps, per minute' },
    { name: 'limit-burst-multiplier', support: 'honoured', note: 'burst = rate × multiplier (default 5), nginx limit_req nodelay' },
    { name: 'limit-connections', support: 'approximated', note: 'requests in flight per client address (a WebSocket until its upgrade), 503 beyond; per data-plane worker process' },
    { name: 'limit-whitelist', support: 'honoured', note: 'client CIDRs no limit applies to; an invalid entry refuses the Ingress' },
  ],
  schema: (z) => {
    const count = z.number().int().min(1).max(1_000_000);
    return z.strictObject({
      rps: count.optional(),
      rpm: count.optional(),
      burstMultiplier: count,
      connections: count.optional(),
      whitelist: z.array(z.string().refine((entry) => typeof CidrSet.of([entry]) !== 'string')),
    });
  },
  read(reader) {
    const annotations: Record<string, string> = {};
    for (const name of LIMIT_ANNOTATIONS) {
      const value = reader.raw(name);
      if (value !== undefined) annotations[name] = value;
    }
    const errors: AnnotationWarning[] = [];
    const policy = readLimits(annotations, errors);
    for (const error of errors) reader.refuse(error.annotation, error.message);
    return errors.length === 0 ? policy : undefined;
  },
  prepare(data) {
    const rates: RateLimit[] = [];
    if (data.rps !== undefined) rates.push(new RateLimit(data.rps, data.rps * data.burstMultiplier));
    if (data.rpm !== undefined) rates.push(new RateLimit(data.rpm / 60, data.rpm * data.burstMultiplier));
    const whitelist = data.whitelist.length === 0 ? undefined : (CidrSet.of(data.whitelist) as CidrSet);
    const concurrency = data.connections === undefined ? undefined : new ConcurrencyLimit(data.connections);
    return (facts, outcome) => {
      const client = facts.client;
      if (whitelist !== undefined && whitelist.has(client)) return;
      if (rates.length !== 0 && !admitRate(rates, client, Math.floor(performance.now()))) {
        outcome.answer = LIMITED;
        return;
      }
      if (concurrency !== undefined) {
        if (!concurrency.acquire(client)) outcome.answer = LIMITED;
        else outcome.done.push(() => concurrency.release(client));
      }
    };
  },
  describe: (data) =>
    [data.rps === undefined ? '' : `${data.rps} req/s`, data.rpm === undefined ? '' : `${data.rpm} req/min`, data.connections === undefined ? '' : `${data.connections} in flight`]
      .filter((part) => part !== '')
      .join(', ') + ` per client address (burst ×${data.burstMultiplier}${data.whitelist.length === 0 ? '' : `, except ${data.whitelist.join(', ')}`}), else 503`,
};
