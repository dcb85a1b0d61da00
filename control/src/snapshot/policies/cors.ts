/**
 * CORS (`enable-cors` and every `cors-*` annotation) as ingress-nginx applies it
 * (test/e2e/annotations/cors.go): the annotations read into a CorsPolicy (control plane), and per
 * request the headers to set and whether Portico answers the preflight itself (data plane).
 *
 * ingress-nginx semantics kept: defaults (origin `*`, methods, headers, credentials true, max-age
 * 1728000); an allowed Origin is echoed back (`*` when the list is `*`); every OPTIONS request of
 * an allowed origin is answered 204 with the headers, `Content-Type: text/plain charset=UTF-8`
 * and `Content-Length: 0`, without reaching the backend; other requests of an allowed origin get
 * the headers set over the backend's. A request whose Origin is not allowed gets no CORS header
 * and is proxied as it is (its OPTIONS too), so the browser blocks it.
 * Difference: ingress-nginx's origin regex is anchored at the end only (`evil-https://a.com`
 * matches `https://a.com`); Portico compares whole origins (case-insensitive).
 */
import type { PolicyModule } from './module.ts';

/** The CORS configuration of a route. */
export interface CorsPolicy {
  /** `['*']`, or the allowed origins as written (`https://*.example.com` = one label). */
  readonly allowOrigins: readonly string[];
  readonly allowMethods: string;
  readonly allowHeaders: string;
  readonly exposeHeaders: string;
  readonly allowCredentials: boolean;
  /** Seconds. */
  readonly maxAge: number;
}

/** An annotation value that was not used, and why (becomes a Warning condition). */
export interface AnnotationWarning {
  /** The annotation name without prefix. */
  readonly annotation: string;
  readonly message: string;
}

/** ingress-nginx's default `cors-allow-methods`. */
export const DEFAULT_CORS_METHODS = 'GET, PUT, POST, DELETE, PATCH, OPTIONS';
/** ingress-nginx's default `cors-allow-headers`. */
export const DEFAULT_CORS_HEADERS = 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization';
/** ingress-nginx's default `cors-max-age` (20 days). */
export const DEFAULT_CORS_MAX_AGE = 1728000;

/** The annotations this policy reads (without prefix). */
export const CORS_ANNOTATIONS: readonly string[] = ['enable-cors', 'cors-allow-origin', 'cors-allow-methods', 'cors-allow-headers', 'cors-expose-headers', 'cors-allow-credentials', 'cors-max-age'];

const ORIGIN = /^([a-z][a-z0-9+.-]*:\/\/(\*\.)?[A-Za-z0-9.-]*(:\d{1,5})?|null)$/;
const METHODS = /^[A-Za-z]+(\s*,\s*[A-Za-z]+)*$/;
const HEADERS = /^[A-Za-z0-9_-]+(\s*,\s*[A-Za-z0-9_-]+)*$/;
const EXPOSE = /^([A-Za-z0-9_-]+|\*)(\s*,\s*([A-Za-z0-9_-]+|\*))*$/;

function text(value: string | undefined, pattern: RegExp, fallback: string, annotation: string, warnings: AnnotationWarning[]): string {
  if (value === undefined) return fallback;
  const trimmed = value.trim();
  if (pattern.test(trimmed)) return trimmed;
  warnings.push({ annotation, message: `${JSON.stringify(value)} is not a comma-separated list of ${annotation === 'cors-allow-methods' ? 'methods' : 'header names'}; using ${JSON.stringify(fallback)}` });
  return fallback;
}

function bool(value: string | undefined, fallback: boolean, annotation: string, warnings: AnnotationWarning[]): boolean {
  if (value === undefined) return fallback;
  const lower = value.trim().toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  warnings.push({ annotation, message: `expected "true" or "false", got ${JSON.stringify(value)}; using ${fallback}` });
  return fallback;
}

/**
 * Reads the CORS annotations (`annotations` keyed by name without prefix). Returns undefined when
 * `enable-cors` is not true. Bad values are warnings and the ingress-nginx default applies; a bad
 * origin entry is left out of the list (as ingress-nginx does), which allows fewer origins.
 */
export function readCors(annotations: Readonly<Record<string, string>>, warnings: AnnotationWarning[]): CorsPolicy | undefined {
  if (!bool(annotations['enable-cors'], false, 'enable-cors', warnings)) return undefined;
  let allowOrigins: string[] = ['*'];
  const origins = annotations['cors-allow-origin'];
  if (origins !== undefined) {
    allowOrigins = [];
    for (const raw of origins.split(',')) {
      const origin = raw.trim();
      if (origin === '*') {
        allowOrigins = ['*'];
        break;
      }
      if (ORIGIN.test(origin)) allowOrigins.push(origin);
      else warnings.push({ annotation: 'cors-allow-origin', message: `${JSON.stringify(origin)} is not an origin (scheme://host[:port], one leading "*." allowed, or "*"); left out` });
    }
  }
  let maxAge = DEFAULT_CORS_MAX_AGE;
  const age = annotations['cors-max-age'];
  if (age !== undefined) {
    if (/^\d{1,10}$/.test(age.trim()) && Number(age) <= 2 ** 31 - 1) maxAge = Number(age);
    else warnings.push({ annotation: 'cors-max-age', message: `${JSON.stringify(age)} is not a number of seconds; using ${DEFAULT_CORS_MAX_AGE}` });
  }
  return {
    allowOrigins,
    allowMethods: text(annotations['cors-allow-methods'], METHODS, DEFAULT_CORS_METHODS, 'cors-allow-methods', warnings),
    allowHeaders: text(annotations['cors-allow-headers'], HEADERS, DEFAULT_CORS_HEADERS, 'cors-allow-headers', warnings),
    exposeHeaders: text(annotations['cors-expose-headers'], EXPOSE, '', 'cors-expose-headers', warnings),
    allowCredentials: bool(annotations['cors-allow-credentials'], true, 'cors-allow-credentials', warnings),
    maxAge,
  };
}

/** What CORS does with one request. */
export interface CorsDecision {
  /** Answer 204 now (an OPTIONS of an allowed origin) instead of proxying. */
  readonly preflight: boolean;
  /** Response headers to set (replacing the backend's of the same name). */
  readonly headers: readonly (readonly [string, string])[];
}

/** A CorsPolicy made ready for requests: the origin list compiled once. */
export class CorsResponder {
  readonly #policy: CorsPolicy;
  readonly #any: boolean;
  readonly #exact: ReadonlySet<string>;
  /** `scheme://` + `.suffix[:port]` pairs of the wildcard origins. */
  readonly #wildcards: readonly (readonly [string, string])[];

  constructor(policy: CorsPolicy) {
    this.#policy = policy;
    this.#any = policy.allowOrigins.includes('*');
    this.#exact = new Set(policy.allowOrigins.filter((origin) => !origin.includes('://*.')).map((origin) => origin.toLowerCase()));
    this.#wildcards = policy.allowOrigins
      .filter((origin) => origin.includes('://*.'))
      .map((origin) => {
        const lower = origin.toLowerCase();
        const at = lower.indexOf('://*.');
        return [lower.slice(0, at + 3), lower.slice(at + 4)] as const;
      });
  }

  /** Whether `origin` (the request's Origin header) is allowed. */
  allows(origin: string): boolean {
    if (this.#any) return true;
    const lower = origin.toLowerCase();
    if (this.#exact.has(lower)) return true;
    for (const [scheme, suffix] of this.#wildcards) {
      if (!lower.startsWith(scheme) || !lower.endsWith(suffix)) continue;
      const label = lower.slice(scheme.length, lower.length - suffix.length);
      if (/^[a-z0-9-]+$/.test(label)) return true;
    }
    return false;
  }

  /**
   * The decision for a request with `method` and Origin header `origin` (undefined when absent), or
   * undefined when CORS does nothing (the origin is not allowed).
   */
  decide(method: string, origin: string | undefined): CorsDecision | undefined {
    const policy = this.#policy;
    let allowOrigin: string;
    if (this.#any) allowOrigin = '*';
    else if (origin !== undefined && this.allows(origin)) allowOrigin = origin;
    else return undefined;
    const headers: [string, string][] = [['access-control-allow-origin', allowOrigin]];
    if (policy.allowCredentials) headers.push(['access-control-allow-credentials', 'true']);
    headers.push(['access-control-allow-methods', policy.allowMethods], ['access-control-allow-headers', policy.allowHeaders]);
    if (policy.exposeHeaders !== '') headers.push(['access-control-expose-headers', policy.exposeHeaders]);
    headers.push(['access-control-max-age', String(policy.maxAge)]);
    const preflight = method === 'OPTIONS';
    // The local answer carries Content-Length: 0 itself.
    if (preflight) headers.push(['content-type', 'text/plain charset=UTF-8']);
    return { preflight, headers };
  }
}

const HEADER_LIST = /^[A-Za-z0-9_*, -]*$/;

/** The CORS module. */
export const corsModule: PolicyModule<CorsPolicy> = {
  key: 'cors',
  phase: 'redirect',
  annotations: [
    { name: 'enable-cors', support: 'honoured', note: 'CORS headers on responses to allowed origins; OPTIONS of an allowed origin answered 204 by Portico' },
    { name: 'cors-allow-origin', support: 'approximated', note: 'default *; scheme://host[:port] list, one leading *. label; an allowed Origin is echoed. Portico matches the whole origin (ingress-nginx anchors only its end)' },
    { name: 'cors-allow-methods', support: 'honoured', note: 'default GET, PUT, POST, DELETE, PATCH, OPTIONS; an invalid list falls back to it with a Warning' },
    { name: 'cors-allow-headers', support: 'honoured', note: 'default DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization' },
    { name: 'cors-expose-headers', support: 'honoured', note: 'Access-Control-Expose-Headers, absent by default' },
    { name: 'cors-allow-credentials', support: 'honoured', note: 'default true' },
    { name: 'cors-max-age', support: 'honoured', note: 'default 1728000 seconds' },
  ],
  schema: (z) => z.strictObject({
    allowOrigins: z.array(z.string().regex(/^[A-Za-z0-9+.:/*-]+$/)).min(0),
    allowMethods: z.string().regex(HEADER_LIST),
    allowHeaders: z.string().regex(HEADER_LIST),
    exposeHeaders: z.string().regex(HEADER_LIST),
    allowCredentials: z.boolean(),
    maxAge: z.number().int().min(0),
  }),
  read(reader) {
    const annotations: Record<string, string> = {};
    for (const name of CORS_ANNOTATIONS) {
      const value = reader.raw(name);
      if (value !== undefined) annotations[name] = value;
    }
    const warnings: AnnotationWarning[] = [];
    const policy = readCors(annotations, warnings);
    for (const warning of warnings) reader.warn(warning.annotation, warning.message);
    return policy;
  },
  prepare(data) {
    const cors = new CorsResponder(data);
    return (facts, outcome) => {
      const decision = cors.decide(facts.method, facts.header('origin'));
      if (decision === undefined) return;
      if (decision.preflight) outcome.answer = { status: 204, headers: decision.headers };
      else for (const [name, value] of decision.headers) outcome.responseHeaders.push([name, value]);
    };
  },
  describe: (data) => `CORS for ${data.allowOrigins.length === 0 ? 'no origin' : data.allowOrigins.join(', ')}; preflight answered by Portico (enable-cors)`,
};
