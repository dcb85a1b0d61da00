/**
 * Gateway API `RequestRedirect` and `URLRewrite` filters (sigs.k8s.io/gateway-api apis/v1
 * HTTPRequestRedirectFilter, HTTPURLRewriteFilter, HTTPPathModifier).
 *
 * RequestRedirect answers instead of proxying, with `Location` built as the spec says: the scheme
 * is the filter's or the request's; the host name the filter's or the request's (port dropped);
 * the port the filter's, else the well-known port of the filter's scheme when it sets one, else
 * the port the request came to (the Host header's, else the request scheme's default) — and the
 * port is left out when it is the scheme's own (80 for http, 443 for https). The path is
 * replaced in full or by prefix; the query is kept. URLRewrite changes what goes upstream: the
 * Host header and the path (query kept).
 */
import type { z } from 'zod';
import type { PolicyModule, PolicyOutcome, RequestFacts, RouteFacts, Zod } from './module.ts';

/** A PreciseHostname (RFC 1123 subdomain, lower-case). */
export const PRECISE_HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** What a replacement path may hold: an absolute path without query, fragment, CR, LF or spaces. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
export const REPLACEMENT_PATH = /^\/[^?#\s\x00-\x1f\x7f]*$|^$/;

/** HTTPPathModifier. */
function pathModifierSchema(z: Zod) {
  return z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('ReplaceFullPath'), value: z.string().max(1024).regex(REPLACEMENT_PATH) }),
    z.strictObject({ type: z.literal('ReplacePrefixMatch'), value: z.string().max(1024).regex(REPLACEMENT_PATH) }),
  ]);
}
export type PathModifier = z.infer<ReturnType<typeof pathModifierSchema>>;

/** The redirect statuses the Gateway API allows (301 and 302 standard, 303, 307 and 308 extended). */
export const REDIRECT_STATUSES: readonly number[] = [301, 302, 303, 307, 308];

/** HTTPRequestRedirectFilter as the snapshot keeps it. */
function requestRedirectSchema(z: Zod) {
  return z.strictObject({
    scheme: z.enum(['http', 'https']).optional(),
    hostname: z.string().max(253).regex(PRECISE_HOSTNAME).optional(),
    path: pathModifierSchema(z).optional(),
    port: z.number().int().min(1).max(65535).optional(),
    statusCode: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)]),
  });
}
export type RequestRedirect = z.infer<ReturnType<typeof requestRedirectSchema>>;

/** HTTPURLRewriteFilter as the snapshot keeps it. */
function urlRewriteSchema(z: Zod) {
  return z.strictObject({ hostname: z.string().max(253).regex(PRECISE_HOSTNAME).optional(), path: pathModifierSchema(z).optional() });
}
export type UrlRewrite = z.infer<ReturnType<typeof urlRewriteSchema>>;

/**
 * Pure: `path` (no query) with the modifier applied. ReplacePrefixMatch replaces the route's
 * matched prefix `prefix` (trailing slashes insignificant, element-wise as it matched): with
 * `/foo` replaced by `/xyz`, `/foo/bar` becomes `/xyz/bar`, `/foo/` becomes `/xyz/`; replaced by
 * `` or `/`, `/foo/bar` becomes `/bar` and `/foo` becomes `/` (the spec's table).
 */
export function modifyPath(path: string, modifier: PathModifier, prefix: string | undefined): string {
  if (modifier.type === 'ReplaceFullPath') return modifier.value === '' ? '/' : modifier.value;
  const matched = (prefix ?? '').replace(/\/+$/, '');
  const rest = path.startsWith(matched) ? path.slice(matched.length) : path;
  const result = modifier.value.replace(/\/+$/, '') + rest;
  if (result === '') return '/';
  return result.startsWith('/') ? result : `/${result}`;
}

/** The path and the query (`?...` or '') of a request path. */
function splitQuery(path: string): [string, string] {
  const at = path.indexOf('?');
  return at < 0 ? [path, ''] : [path.slice(0, at), path.slice(at)];
}

/** The Host header's name (lower-case, IPv6 brackets kept) and port (undefined when it has none). */
export function hostAndPort(host: string): { name: string; port: number | undefined } {
  const lower = host.toLowerCase();
  const close = lower.startsWith('[') ? lower.indexOf(']') : -1;
  const colon = lower.indexOf(':', close < 0 ? 0 : close);
  if (colon < 0) return { name: lower, port: undefined };
  const port = Number(lower.slice(colon + 1));
  return { name: lower.slice(0, colon), port: Number.isInteger(port) && port > 0 && port <= 65535 ? port : undefined };
}

const WELL_KNOWN: Record<string, number> = { http: 80, https: 443 };

/** Pure: the Location of a RequestRedirect for a request (see the file comment). */
export function redirectLocation(data: RequestRedirect, facts: Pick<RequestFacts, 'scheme' | 'host' | 'path'>, prefix: string | undefined): string {
  const scheme = data.scheme ?? facts.scheme;
  const requested = hostAndPort(facts.host);
  const name = data.hostname ?? requested.name;
  const port = data.port ?? (data.scheme !== undefined ? WELL_KNOWN[data.scheme] : (requested.port ?? WELL_KNOWN[facts.scheme]));
  const [path, query] = splitQuery(facts.path);
  const target = data.path === undefined ? path : modifyPath(path, data.path, prefix);
  const portPart = port === undefined || port === WELL_KNOWN[scheme] ? '' : `:${port}`;
  return `${scheme}://${name}${portPart}${target}${query}`;
}

/** RequestRedirect: answers with the status and Location, never proxies. */
export const requestRedirectModule: PolicyModule<RequestRedirect> = {
  key: 'requestRedirect',
  phase: 'redirect',
  annotations: [],
  schema: requestRedirectSchema,
  prepare(data, route: RouteFacts) {
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.answer = { status: data.statusCode, headers: [['Location', redirectLocation(data, facts, route.path)]] };
    };
  },
  describe: (data) => {
    const parts = [data.scheme && `scheme ${data.scheme}`, data.hostname && `host ${data.hostname}`, data.port && `port ${data.port}`, data.path && `path ${data.path.type} ${data.path.value}`].filter(Boolean);
    return `redirected (${data.statusCode}) by a Gateway API RequestRedirect${parts.length === 0 ? '' : `: ${parts.join(', ')}`}`;
  },
};

/** URLRewrite: the Host header and the path the endpoint gets. */
export const urlRewriteModule: PolicyModule<UrlRewrite> = {
  key: 'urlRewrite',
  phase: 'request',
  annotations: [],
  schema: urlRewriteSchema,
  prepare(data, route: RouteFacts) {
    const { hostname, path: modifier } = data;
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      if (hostname !== undefined) outcome.setHeaders.push(['Host', hostname]);
      if (modifier !== undefined) {
        const [path, query] = splitQuery(facts.path);
        outcome.target = modifyPath(path, modifier, route.path) + query;
      }
    };
  },
  describe: (data) => `rewritten by a Gateway API URLRewrite:${data.hostname === undefined ? '' : ` Host ${data.hostname}`}${data.path === undefined ? '' : ` path ${data.path.type} ${data.path.value}`}`,
};
