/**
 * External authentication (`auth-url` and its family), as ingress-nginx does it with nginx's
 * auth_request (docs/user-guide/nginx-configuration/annotations.md "External Authentication",
 * rootfs/etc/nginx/template/nginx.tmpl, test/e2e/annotations/auth.go): before a request is
 * proxied, a subrequest without its body goes to the auth URL with the request's headers plus
 * X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-For and
 * X-Auth-Request-Redirect; a 2xx lets the request through (with `auth-response-headers` copied
 * from the auth response into the proxied request), 401 and 403 are answered as such (401
 * redirects to `auth-signin` with 302 when set), anything else, or no answer in time, is 500:
 * fail closed.
 *
 * This module is pure: the step records what to ask, `authRequestHeaders` says what the
 * subrequest carries and `decideAuth` what its answer means; the data plane does the I/O
 * (dataplane/src/external-auth.ts).
 */
import type { AuthCacheData, PreparedAuthCache } from './auth-cache.ts';
import { describeRules, prepareAuthCache, readAuthCache } from './auth-cache.ts';
import type { AuthEndpoint, AuthService } from './auth-url.ts';
import { HEADER_NAME, parseAuthUrl, readAuthMethod, readResponseHeaders, readTemplate } from './auth-url.ts';
import type { ConfigMapHeaders } from './header-configmap.ts';
import { configMapHeadersSchema, readHeaderConfigMap } from './header-configmap.ts';
import type { AnnotationReader, LocalAnswer, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** A route's external authentication, as the snapshot carries it. */
export interface ExternalAuthData extends AuthEndpoint {
  /** auth-method, or null for GET (nginx's subrequest method). */
  readonly method: string | null;
  /** auth-signin with the redirect parameter already appended (ingress-nginx's buildAuthSignURL), or null. */
  readonly signin: string | null;
  readonly responseHeaders: readonly string[];
  /** auth-request-redirect, or null for the request-target. */
  readonly requestRedirect: string | null;
  readonly alwaysSetCookie: boolean;
  /** The Service the URL's host names (`<svc>.<ns>.svc[.cluster.local]`), or null for any other host. */
  readonly service: AuthService | null;
  /** That Service port's endpoint set key, once the build resolved it; null when unresolved or no Service. */
  readonly endpointSet: string | null;
  /** The endpoints to ask, filled in by the build for a Service host; null for any other host (resolved by DNS). */
  readonly endpoints: readonly { readonly address: string; readonly port: number }[] | null;
  /** auth-proxy-set-headers: fields set on the subrequest (values may use VARIABLES); absent when not set. */
  readonly proxySetHeaders?: ConfigMapHeaders;
  /** auth-cache-key and auth-cache-duration: answers kept per filled-in key; absent when not cached. */
  readonly cache?: AuthCacheData;
}

/** The statuses nginx's `add_header` (without `always`) applies to: the auth cookie goes only on these by default. */
export const ADD_HEADER_STATUSES: ReadonlySet<number> = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

/** What the data plane needs to run one request's subrequest. */
export interface ExternalAuthRequest {
  readonly auth: ExternalAuthData;
  readonly facts: RequestFacts;
  /** The route's answer cache (auth-cache-key), prepared with the snapshot; undefined when answers are not cached. */
  readonly cache?: PreparedAuthCache | undefined;
}

/** The auth server's answer as the decision needs it. */
export interface AuthResponse {
  readonly status: number;
  /** The value of response header `name` (lower case); several field lines joined with ", "; undefined when absent. */
  header(name: string): string | undefined;
  /** Its Set-Cookie values, one per field line. */
  readonly cookies: readonly string[];
}

/** What the subrequest's answer means for the request. */
export type AuthVerdict =
  | {
      readonly allow: true;
      /** Request headers to set on the proxied request (auth-response-headers the auth server sent). */
      readonly setHeaders: readonly (readonly [string, string])[];
      /** auth-response-headers it did not send: removed from the proxied request (nginx sets them empty). */
      readonly dropHeaders: readonly string[];
      /** Set-Cookie values for the client response. */
      readonly cookies: readonly string[];
      /** Whether they go on every response status (auth-always-set-cookie), else only on ADD_HEADER_STATUSES. */
      readonly cookiesAlways: boolean;
    }
  | { readonly allow: false; readonly answer: LocalAnswer };

/** set-misc's set_escape_uri: every byte but unreserved characters percent-encoded. */
function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The host of a Host header without port, lower case (nginx's `$host`). */
export function hostOnly(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  return colon < 0 ? lower : lower.slice(0, colon);
}

/** Substitutes the known nginx variables (auth-url.ts VARIABLES) in `template` for one request. */
export function fillVariables(template: string, facts: RequestFacts): string {
  if (!template.includes('$')) return template;
  return template.replace(/\$[A-Za-z_][A-Za-z0-9_]*/g, (name) => {
    switch (name) {
      case '$escaped_request_uri':
        return escapeUri(facts.target);
      case '$request_uri':
        return facts.target;
      case '$scheme':
      case '$pass_access_scheme':
        return facts.scheme;
      case '$http_host':
        return facts.host;
      case '$host':
        return hostOnly(facts.host);
      case '$request_method':
        return facts.method;
      default:
        return name;
    }
  });
}

/** ingress-nginx's buildAuthSignURL: the redirect parameter appended unless the URL's query already sets it. */
export function signinTemplate(signin: string, param: string): string {
  const query = signin.indexOf('?');
  const redirect = `${param}=$pass_access_scheme://$http_host$escaped_request_uri`;
  if (query < 0) return `${signin}?${redirect}`;
  const present = signin
    .slice(query + 1)
    .split('&')
    .some((pair) => pair.startsWith(`${param}=`) && pair.length > param.length + 1);
  return present ? signin : `${signin}&${redirect}`;
}

/** Received request headers that never go to the auth server (hop-by-hop, the body's framing, and the ones set here). */
const NOT_FORWARDED = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'proxy-connection', 'expect', 'x-forwarded-proto', 'x-original-url', 'x-original-method', 'x-original-uri', 'x-scheme', 'x-sent-from', 'x-real-ip', 'x-forwarded-for', 'x-auth-request-redirect']);

/**
 * Whether a received request field named `lowerName` (lower case) goes to the auth server: not
 * hop-by-hop, not the body's framing, not one Portico sets itself, not one auth-proxy-set-headers
 * replaces (nginx proxy_set_header).
 */
export function forwardsToAuth(auth: ExternalAuthData, lowerName: string): boolean {
  if (NOT_FORWARDED.has(lowerName)) return false;
  const set = auth.proxySetHeaders?.headers;
  return set === undefined || !set.some((header) => header.name.length === lowerName.length && header.name.toLowerCase() === lowerName);
}

/** The fields Portico writes on the subrequest after the received ones: those nginx.tmpl sets for the auth location, then auth-proxy-set-headers. */
export function authAddedHeaders(request: ExternalAuthRequest): [string, string][] {
  const { auth, facts } = request;
  const headers: [string, string][] = [
    ['Host', auth.hostHeader],
    ['X-Original-URL', `${facts.scheme}://${facts.host}${facts.target}`],
    ['X-Original-Method', facts.method],
    ['X-Sent-From', 'nginx-ingress-controller'],
    ['X-Real-IP', facts.client],
    ['X-Forwarded-For', facts.client],
    ['X-Auth-Request-Redirect', auth.requestRedirect === null ? facts.target : fillVariables(auth.requestRedirect, facts)],
  ];
  if (auth.method !== null) {
    headers.push(['X-Original-URI', facts.target]);
    headers.push(['X-Scheme', facts.scheme]);
    // No body goes to the auth server; say so rather than let the method imply one.
    if (auth.method !== 'GET' && auth.method !== 'HEAD') headers.push(['Content-Length', '0']);
  }
  const set = auth.proxySetHeaders?.headers;
  if (set !== undefined) for (const header of set) headers.push([header.name, fillVariables(header.value, facts)]);
  return headers;
}

/**
 * The header fields of the subrequest for a request whose header fields were `received`: the
 * received ones `forwardsToAuth` lets through (hop-by-hop and body framing left out, as
 * `proxy_pass_request_body off` does), then `authAddedHeaders`.
 */
export function authRequestHeaders(request: ExternalAuthRequest, received: readonly (readonly [string, string])[]): [string, string][] {
  const headers: [string, string][] = [];
  for (const [name, value] of received) if (forwardsToAuth(request.auth, name.toLowerCase())) headers.push([name, value]);
  headers.push(...authAddedHeaders(request));
  return headers;
}

/** The subrequest's method and request-target. */
export function authRequestLine(request: ExternalAuthRequest): { method: string; path: string } {
  return { method: request.auth.method ?? 'GET', path: fillVariables(request.auth.path, request.facts) };
}

const cookieLines = (cookies: readonly string[]): [string, string][] => cookies.map((cookie) => ['Set-Cookie', cookie]);

/**
 * What the auth server's answer means (nginx auth_request): undefined (no answer: refused,
 * failed, timed out) and any status but 2xx/401/403 are 500; 401 is 401 with the auth server's
 * WWW-Authenticate, or a 302 to auth-signin when set; 403 is 403; 2xx lets the request through.
 */
export function decideAuth(request: ExternalAuthRequest, response: AuthResponse | undefined): AuthVerdict {
  const auth = request.auth;
  if (response === undefined) return { allow: false, answer: { status: 500, headers: [] } };
  const status = response.status;
  const always = auth.alwaysSetCookie ? cookieLines(response.cookies) : [];
  if (status >= 200 && status < 300) {
    const setHeaders: [string, string][] = [];
    const dropHeaders: string[] = [];
    for (const name of auth.responseHeaders) {
      const value = response.header(name.toLowerCase());
      if (value === undefined || value === '') dropHeaders.push(name);
      else setHeaders.push([name, value]);
    }
    return { allow: true, setHeaders, dropHeaders, cookies: response.cookies, cookiesAlways: auth.alwaysSetCookie };
  }
  if (status === 401 && auth.signin !== null) {
    // The signin location adds the auth cookie (add_header without always applies to a 302).
    return { allow: false, answer: { status: 302, headers: [['Location', fillVariables(auth.signin, request.facts)], ...cookieLines(response.cookies)] } };
  }
  if (status === 401) {
    const challenge = response.header('www-authenticate');
    return { allow: false, answer: { status: 401, headers: [...(challenge === undefined ? [] : [['WWW-Authenticate', challenge] as [string, string]]), ...always] } };
  }
  if (status === 403) return { allow: false, answer: { status: 403, headers: always } };
  return { allow: false, answer: { status: 500, headers: [] } };
}

function readExternalAuth(reader: AnnotationReader): ExternalAuthData | undefined {
  const raw = reader.string('auth-url');
  if (raw === undefined) {
    for (const name of ['auth-method', 'auth-signin', 'auth-response-headers', 'auth-request-redirect', 'auth-signin-redirect-param', 'auth-proxy-set-headers', 'auth-cache-key', 'auth-cache-duration']) {
      if (reader.raw(name) !== undefined) reader.warn(name, 'has no effect without auth-url');
    }
    return undefined;
  }
  const target = parseAuthUrl(raw);
  if (typeof target === 'string') {
    reader.refuse('auth-url', `could not parse auth-url annotation: ${JSON.stringify(raw)} ${target}`);
    return undefined;
  }
  const method = readAuthMethod(reader);
  const signin = readTemplate(reader, 'auth-signin', true);
  const requestRedirect = readTemplate(reader, 'auth-request-redirect', false);
  const responseHeaders = readResponseHeaders(reader);
  const param = reader.string('auth-signin-redirect-param') ?? 'rd';
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(param)) reader.refuse('auth-signin-redirect-param', `${JSON.stringify(param)} is not a query parameter name (letters, digits, _.-)`);
  if (reader.string('satisfy')?.toLowerCase() === 'any') reader.refuse('satisfy', 'satisfy: any together with auth-url is not supported by Portico');
  const alwaysSetCookie = reader.boolean('auth-always-set-cookie', false);
  const proxySetHeaders = readHeaderConfigMap(reader, 'auth-proxy-set-headers', { reserved: AUTH_SET_BY_PORTICO, variables: true });
  const cache = readAuthCache(reader);
  if (method === 'refused' || signin === 'refused' || requestRedirect === 'refused' || responseHeaders === 'refused' || proxySetHeaders === 'refused' || cache === 'refused') return undefined;
  return {
    url: target.url,
    scheme: target.scheme,
    host: target.host,
    port: target.port,
    hostHeader: target.hostHeader,
    path: target.path,
    method: method ?? null,
    signin: signin === undefined ? null : signinTemplate(signin, param),
    responseHeaders,
    requestRedirect: requestRedirect ?? null,
    alwaysSetCookie,
    service: target.service ?? null,
    endpointSet: null,
    endpoints: null,
    ...(proxySetHeaders === undefined ? {} : { proxySetHeaders }),
    ...(cache === undefined ? {} : { cache }),
  };
}

/** The settings an auth answer depends on, as one text (endpoints left out: the same Service answers). */
function authSettings(data: ExternalAuthData): string {
  return JSON.stringify({ ...data, endpointSet: null, endpoints: null });
}

/** Fields of the auth subrequest Portico writes itself (authRequestHeaders): a ConfigMap may not set them. */
const AUTH_SET_BY_PORTICO: ReadonlyMap<string, string> = new Map(
  ['x-original-url', 'x-original-method', 'x-original-uri', 'x-scheme', 'x-sent-from', 'x-real-ip', 'x-forwarded-for', 'x-auth-request-redirect'].map((name) => [name, 'Portico sets this field of the auth subrequest itself']),
);

/** The external authentication module (`auth-url` family). */
export const externalAuthModule: PolicyModule<ExternalAuthData> = {
  key: 'externalAuth',
  phase: 'access',
  annotations: [
    {
      name: 'auth-url',
      support: 'approximated',
      note: 'each request is first checked by a subrequest (no body) to the URL: 2xx proxies, 401/403 answer so, anything else or no answer within the auth deadline (default 5 s) is 500. A host <svc>.<ns>.svc[.cluster.local] goes to that Service port\'s endpoints from the model; any other name is resolved by DNS and, like endpoints, never reaches loopback/link-local unless allowed. Variables only in path and query; an unparsable URL refuses the Ingress (503)',
    },
    { name: 'auth-method', support: 'honoured', note: 'the subrequest method (default GET), with X-Original-URI and X-Scheme as ingress-nginx sends them' },
    { name: 'auth-signin', support: 'honoured', note: 'a 401 from the auth server becomes a 302 to this URL, with ?rd=<scheme>://<host><escaped request URI> appended unless the URL sets it; $host, $http_host, $scheme, $request_uri, $escaped_request_uri are filled in' },
    { name: 'auth-signin-redirect-param', support: 'honoured', note: 'the query parameter name for auth-signin (default rd)' },
    { name: 'auth-response-headers', support: 'honoured', note: 'these headers of a 2xx auth response replace the request\'s own on the way to the endpoint (removed when the auth server did not send them)' },
    { name: 'auth-request-redirect', support: 'honoured', note: 'the X-Auth-Request-Redirect sent to the auth server (default the request URI)' },
    { name: 'auth-proxy-set-headers', support: 'honoured', note: 'each entry of the ConfigMap (same namespace only) is a field of the auth subrequest, replacing a received one of that name; $host, $http_host, $scheme, $request_uri, $escaped_request_uri, $request_method are filled in. A missing ConfigMap, an invalid key or value, another variable, or a field Portico sets itself refuses the Ingress (503)' },
    { name: 'auth-always-set-cookie', support: 'honoured', note: 'the auth server\'s Set-Cookie goes on the response whatever its status (default: only 2xx and redirects, as nginx add_header)' },
    { name: 'auth-keepalive', support: 'approximated', note: 'Portico always keeps connections to auth servers alive (at most 64 idle per address, 1024 in flight per process); the value is not used' },
    { name: 'auth-keepalive-requests', support: 'approximated', note: 'not used: keep-alive connections to auth servers are reused without a request limit' },
    { name: 'auth-keepalive-timeout', support: 'approximated', note: 'not used: idle keep-alive connections to auth servers close after 30 s' },
    { name: 'auth-keepalive-share-vars', support: 'approximated', note: 'not used: each subrequest is independent' },
    {
      name: 'auth-cache-key',
      support: 'approximated',
      note: 'auth answers are kept per data-plane worker, per Ingress, route path, request host and filled-in key ($http_<name>, $cookie_<name>, $remote_user, $remote_addr, $host, $http_host, $scheme, $request_uri, $escaped_request_uri, $request_method); a hit gives the same verdict and auth-response-headers without asking. A key without a header or cookie is a Warning (one client\'s answer serves all); another variable or character refuses the Ingress (503). A request whose key headers are repeated or whose credential parts are all empty is asked, never cached',
    },
    { name: 'auth-cache-duration', support: 'approximated', note: 'comma-separated "codes time" entries (default 200 202 401 5m; a time alone is 200 301 302; any), the first listing the status decides, at most 1y; Set-Cookie, Vary, Cache-Control no-cache/no-store/private keep an answer out, a shorter max-age shortens it. Anything else (5x, abc, ms, codes outside 100-599) refuses the Ingress (503)' },
  ],
  schema: (z) => {
    const template = z.string().regex(/^[\x21-\x7e]{1,2200}$/);
    return z.strictObject({
      url: z.string().max(2048),
      scheme: z.enum(['http', 'https']),
      host: z.string().min(1).max(253),
      port: z.number().int().min(1).max(65535),
      hostHeader: z.string().regex(/^[\x21-\x7e]{1,260}$/),
      path: template.startsWith('/'),
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']).nullable(),
      signin: template.nullable(),
      responseHeaders: z.array(z.string().regex(HEADER_NAME)).max(64),
      requestRedirect: template.nullable(),
      alwaysSetCookie: z.boolean(),
      service: z.strictObject({ namespace: z.string().min(1), name: z.string().min(1), port: z.number().int().min(1).max(65535) }).nullable(),
      endpointSet: z.string().nullable(),
      endpoints: z.array(z.strictObject({ address: z.string().min(1), port: z.number().int().min(1).max(65535) })).nullable(),
      proxySetHeaders: configMapHeadersSchema(z).optional(),
      cache: z
        .strictObject({
          key: z.string().regex(/^[A-Za-z0-9_${}-]{1,1024}$/),
          rules: z.array(z.strictObject({ codes: z.array(z.number().int().min(100).max(599)).max(64).nullable(), seconds: z.number().int().min(0).max(365 * 24 * 3600) })).min(1).max(16),
          source: z.string().min(1).max(512),
        })
        .optional(),
    });
  },
  read: readExternalAuth,
  prepare: (data, route) => {
    if (data.cache === undefined) {
      return (facts: RequestFacts, outcome: PolicyOutcome) => {
        outcome.externalAuth = { auth: data, facts };
      };
    }
    const cache = prepareAuthCache(data.cache, route, authSettings(data));
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.externalAuth = { auth: data, facts, cache };
    };
  },
  describe: (data) =>
    `external authentication: each request is first checked by ${data.method ?? 'GET'} ${data.url}${data.service === null ? '' : ` (Service ${data.service.namespace}/${data.service.name}:${data.service.port}, ${data.endpoints?.length ?? 0} endpoints)`}; 2xx proxies, 401${data.signin === null ? '' : ' (302 to auth-signin)'}/403 answer so, else 500${data.proxySetHeaders === undefined ? '' : `; the subrequest carries ${data.proxySetHeaders.headers.map((header) => header.name).join(', ')} from ConfigMap ${data.proxySetHeaders.configMap}`}${data.cache === undefined ? '' : `; answers cached per route and key ${data.cache.key} (${describeRules(data.cache.rules)})`}`,
};
