/**
 * auth-url's answer cache (`auth-cache-key`, `auth-cache-duration`), as ingress-nginx makes it
 * (internal/ingress/annotations/authreq/main.go; the auth location of
 * rootfs/etc/nginx/template/nginx.tmpl; rootfs/etc/nginx/lua/nginx/ngx_conf_rewrite_auth.lua):
 * with a key, the auth location gets `proxy_cache auth_cache`, one `proxy_cache_valid <entry>`
 * per comma-separated duration entry (default `200 202 401 5m`) and a cache key made of the
 * server name, the auth location and the filled-in key. nginx's cache then keeps the auth
 * server's answer, status and header fields, so a hit gives the same verdict and the same
 * auth-response-headers without asking (ngx_http_file_cache_valid: the first entry listing the
 * status, or `any`, gives its time; ngx_http_upstream.c: Set-Cookie, `Vary: *`,
 * Cache-Control no-cache/no-store/private or max-age=0, X-Accel-Expires: 0 and an expired
 * Expires keep an answer out of the cache).
 *
 * This module is pure: it reads and checks the two annotations, fills a key in for one request
 * and says how long one answer may be kept; the data plane keeps the answers
 * (dataplane/src/auth-cache.ts).
 */
import type { AnnotationReader, RequestFacts, RouteFacts } from './module.ts';

/** One `proxy_cache_valid` entry: the statuses it lists (null: `any`) and for how long (seconds; 0: not kept). */
export interface CacheRule {
  readonly codes: readonly number[] | null;
  readonly seconds: number;
}

/** A route's auth answer cache, as the snapshot carries it. */
export interface AuthCacheData {
  /** auth-cache-key as written (nginx variables in it). */
  readonly key: string;
  /** auth-cache-duration, in order: the first rule listing a status decides. */
  readonly rules: readonly CacheRule[];
  /** The Ingress (`namespace/name`) the route comes from: with the route's path, whose answers these are. */
  readonly source: string;
}

/** nginx's default when auth-cache-duration is not set (authreq DefaultCacheDuration). */
export const DEFAULT_CACHE_DURATION = '200 202 401 5m';
/** The longest time an answer may be kept: one year (nginx would take up to 68 years; no auth answer should live that long). */
export const MAX_CACHE_SECONDS = 365 * 24 * 3600;
/** A filled-in key longer than this is not cached (the request is asked): bounds what one entry holds. */
export const MAX_FILLED_KEY = 8192;

const UNIT_SECONDS: Readonly<Record<string, number>> = { y: 365 * 86400, M: 30 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1 };
/** Variables of the request line and host, filled in as in auth-url's other templates (external-auth.ts fillVariables). */
const REQUEST_VARIABLES = ['$escaped_request_uri', '$request_uri', '$pass_access_scheme', '$scheme', '$http_host', '$host', '$request_method', '$remote_addr', '$remote_user'] as const;

/** A variable of the request line, host or client a key may use. */
export type RequestVariable = (typeof REQUEST_VARIABLES)[number];

/** One piece of a key: literal text, a request variable, a header field (lower case) or a cookie. */
export type KeyPart = { readonly text: string } | { readonly variable: RequestVariable } | { readonly header: string } | { readonly cookie: string };

/** Parses auth-cache-duration; returns its rules or why it is unusable. */
export function parseCacheDuration(text: string): CacheRule[] | string {
  if (text.length > 1024) return 'is longer than 1024 characters';
  if (!/^[0-9A-Za-z ,]*$/.test(text)) return `${JSON.stringify(text)} may hold only status codes, times and "any", separated by spaces, entries by commas (e.g. "200 202 401 5m")`;
  const entries = text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  if (entries.length === 0) return 'is empty';
  if (entries.length > 16) return 'has more than 16 entries';
  const rules: CacheRule[] = [];
  for (const entry of entries) {
    const tokens = entry.split(/ +/);
    const time = tokens.pop()!;
    const seconds = parseTime(time);
    if (typeof seconds === 'string') return `entry ${JSON.stringify(entry)}: ${seconds}`;
    if (tokens.length > 64) return `entry ${JSON.stringify(entry)} lists more than 64 status codes`;
    let codes: number[] | null = [];
    for (const token of tokens) {
      if (token === 'any') codes = null;
      else if (!/^\d{3}$/.test(token) || Number(token) < 100 || Number(token) > 599) return `entry ${JSON.stringify(entry)}: ${JSON.stringify(token)} is not a status code 100-599 or "any" (one time per entry, after its codes)`;
      else if (codes !== null) codes.push(Number(token));
    }
    // nginx proxy_cache_valid with a time alone: 200, 301 and 302.
    rules.push({ codes: tokens.length === 0 ? [200, 301, 302] : codes, seconds });
  }
  return rules;
}

/** An nginx time of one unit (`30s`, `5m`, `1h`, `2d`, `1w`, `1M`, `1y`) in seconds, or why it is not one. */
function parseTime(token: string): number | string {
  if (/^\d+ms$/.test(token)) return `${JSON.stringify(token)}: proxy_cache_valid takes whole seconds (nginx refuses ms there)`;
  if (/^\d+$/.test(token)) return `${JSON.stringify(token)} has no unit (s, m, h, d, w, M, y), or the time is missing`;
  const match = /^(\d{1,12})([smhdwMy])$/.exec(token);
  if (match === null) return `${JSON.stringify(token)} is not a time (a number and one unit of s, m, h, d, w, M, y, e.g. 5m)`;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2]!]!;
  if (seconds > MAX_CACHE_SECONDS) return `${JSON.stringify(token)} is longer than one year`;
  return seconds;
}

/** Parses auth-cache-key into its parts; returns why it is unusable instead when it is. */
export function parseCacheKey(text: string): KeyPart[] | string {
  if (text.length > 1024) return 'is longer than 1024 characters';
  // ingress-nginx's validator for it (parser.NGINXVariable): letters, digits, -, _, $, { and }.
  if (!/^[A-Za-z0-9_${}-]+$/.test(text)) return `${JSON.stringify(text)} may hold only letters, digits, -, _ and nginx variables ($name or \${name})`;
  const parts: KeyPart[] = [];
  let at = 0;
  const pattern = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;
  for (const match of text.matchAll(pattern)) {
    if (match.index > at) parts.push({ text: text.slice(at, match.index) });
    at = match.index + match[0].length;
    const name = (match[1] ?? match[2])!;
    const variable = `$${name}`;
    if ((REQUEST_VARIABLES as readonly string[]).includes(variable)) parts.push({ variable: variable as RequestVariable });
    else if (/^http_[a-z0-9_]+$/i.test(name)) parts.push({ header: name.slice(5).toLowerCase().replaceAll('_', '-') });
    else if (/^cookie_[A-Za-z0-9_-]+$/.test(name)) parts.push({ cookie: name.slice(7) });
    else return `uses the nginx variable ${variable}, which Portico cannot fill in (known: ${REQUEST_VARIABLES.join(', ')}, $http_<header>, $cookie_<name>)`;
  }
  if (at < text.length) parts.push({ text: text.slice(at) });
  if (parts.some((part) => 'text' in part && part.text.includes('$'))) return `${JSON.stringify(text)} has a $ that starts no variable name`;
  return parts;
}

/** Whether a key part carries something only the client knows: a header field (not Host) or a cookie. */
function carriesCredential(part: KeyPart): boolean {
  return ('header' in part && part.header !== 'host') || 'cookie' in part;
}

/**
 * Reads auth-cache-key and auth-cache-duration (with auth-url set): the cache, undefined for none
 * (no key; a duration alone is a Warning, as ingress-nginx caches nothing without a key), or
 * 'refused' with an Error condition naming the annotation. A key that carries no header or cookie
 * is a Warning: one client's answer would be served to others.
 */
export function readAuthCache(reader: AnnotationReader): AuthCacheData | undefined | 'refused' {
  const key = reader.string('auth-cache-key');
  const duration = reader.string('auth-cache-duration');
  if (key === undefined) {
    if (duration !== undefined) reader.warn('auth-cache-duration', 'has no effect without auth-cache-key: auth answers are not cached');
    return undefined;
  }
  const parts = parseCacheKey(key);
  const rules = parseCacheDuration(duration ?? DEFAULT_CACHE_DURATION);
  if (typeof parts === 'string') reader.refuse('auth-cache-key', `${parts}; the Ingress is not served rather than served with another cache key`);
  if (typeof rules === 'string') reader.refuse('auth-cache-duration', `${rules}; the Ingress is not served rather than cache auth answers otherwise`);
  if (typeof parts === 'string' || typeof rules === 'string') return 'refused';
  if (!parts.some(carriesCredential)) {
    reader.warn('auth-cache-key', `${JSON.stringify(key)} uses no request header or cookie ($http_authorization, $cookie_<name>, ...): an answer cached for one client is given to every client with the same key until it expires (ingress-nginx does the same)`);
  } else if (parts.some((part) => 'variable' in part && part.variable === '$remote_user') && !parts.some((part) => 'header' in part && part.header === 'authorization')) {
    reader.warn('auth-cache-key', `${JSON.stringify(key)} uses $remote_user without $http_authorization: the password is not part of the key`);
  }
  return { key, rules, source: `${reader.namespace}/${reader.name}` };
}

/** A route's cache, prepared once per snapshot load. */
export interface PreparedAuthCache {
  readonly parts: readonly KeyPart[];
  readonly rules: readonly CacheRule[];
  /** Whose answers: the Ingress and the route's path (nginx: one cache key space per auth location). */
  readonly slot: string;
  /** The auth settings the answers were given under: a route whose settings change starts empty. */
  readonly settings: string;
  /** Whether some part carries a credential (then a request whose credential parts are all empty is not cached). */
  readonly credentials: boolean;
}

/** Prepares `cache` of a route whose auth settings are `settings` (a canonical text of them). */
export function prepareAuthCache(cache: AuthCacheData, route: RouteFacts, settings: string): PreparedAuthCache {
  const parts = parseCacheKey(cache.key);
  // The snapshot was checked when read; a key that no longer parses caches nothing.
  return {
    parts: typeof parts === 'string' ? [] : parts,
    rules: typeof parts === 'string' ? [] : cache.rules,
    slot: `${cache.source}\n${route.regex ? '~' : ''}${route.path ?? ''}`,
    settings,
    credentials: typeof parts !== 'string' && parts.some(carriesCredential),
  };
}

/**
 * A request's header field as a key needs it: its value, undefined when no field line carries it,
 * null when several do (ambiguous: such a request is never cached).
 */
export type HeaderLine = (lowerName: string) => string | undefined | null;

/** nginx's `$remote_user`: the user name of Basic credentials, '' for none. */
function basicUser(authorization: string | undefined): string {
  if (authorization === undefined || !/^basic /i.test(authorization)) return '';
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon < 0 ? '' : decoded.slice(0, colon);
}

/** The value of cookie `name` in a Cookie field (the first one, as Go's Request.Cookie), '' when absent. */
function cookieValue(cookies: string, name: string): string {
  for (const pair of cookies.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return '';
}

/**
 * The filled-in key of one request (header fields through `line`), or undefined when the request
 * must not be cached: a header or cookie it uses is carried by several field lines, every
 * credential part is empty (no credential: nothing to key one client's answer on), or the key is
 * longer than MAX_FILLED_KEY.
 */
export function fillCacheKey(cache: PreparedAuthCache, facts: RequestFacts, fill: (template: string, facts: RequestFacts) => string, line: HeaderLine): string | undefined {
  let key = '';
  let credential = false;
  for (const part of cache.parts) {
    let value: string;
    if ('text' in part) value = part.text;
    else if ('variable' in part) {
      if (part.variable === '$remote_addr') value = facts.client;
      else if (part.variable === '$remote_user') {
        const authorization = line('authorization');
        if (authorization === null) return undefined;
        value = basicUser(authorization);
      } else value = fill(part.variable, facts);
    } else if ('header' in part) {
      const found = line(part.header);
      if (found === null) return undefined;
      value = found ?? '';
      if (part.header !== 'host' && value !== '') credential = true;
    } else {
      const cookies = line('cookie');
      if (cookies === null) return undefined;
      value = cookies === undefined ? '' : cookieValue(cookies, part.cookie);
      if (value !== '') credential = true;
    }
    // Parts are separated so that "a"+"bc" and "ab"+"c" differ.
    key += `${value.length}:${value}|`;
    if (key.length > MAX_FILLED_KEY) return undefined;
  }
  return cache.credentials && !credential ? undefined : key;
}

/** The auth server's answer as the cache needs it. */
export interface CacheableAnswer {
  readonly status: number;
  header(name: string): string | undefined;
  readonly cookies: readonly string[];
}

/**
 * How long (ms) an answer may be kept: the first rule listing its status (or `any`) gives the
 * time; 0 (not kept) for an unlisted status, a Set-Cookie or Vary field, Cache-Control no-cache,
 * no-store or private, a max-age/s-maxage of 0 or not a number, X-Accel-Expires 0 or not a number,
 * an Expires not in the future. A shorter max-age, s-maxage, X-Accel-Expires or Expires shortens
 * the time; a longer one never lengthens it. `now` is the wall clock (ms) for Expires.
 */
export function cacheLifetimeMs(rules: readonly CacheRule[], answer: CacheableAnswer, now: number): number {
  const rule = rules.find((candidate) => candidate.codes === null || candidate.codes.includes(answer.status));
  if (rule === undefined || rule.seconds === 0) return 0;
  if (answer.cookies.length !== 0 || answer.header('vary') !== undefined) return 0;
  let ms = rule.seconds * 1000;
  const accel = answer.header('x-accel-expires');
  if (accel !== undefined) {
    const match = /^(@?)(\d{1,12})$/.exec(accel.trim());
    if (match === null) return 0;
    const limit = match[1] === '@' ? Number(match[2]) * 1000 - now : Number(match[2]) * 1000;
    if (limit <= 0) return 0;
    ms = Math.min(ms, limit);
  }
  const control = answer.header('cache-control')?.toLowerCase();
  let maxAge = false;
  if (control !== undefined) {
    if (/no-cache|no-store|private/.test(control)) return 0;
    const age = /(?:^|[\s,])s-maxage=([^,;\s]*)/.exec(control) ?? /(?:^|[\s,])max-age=([^,;\s]*)/.exec(control);
    if (age !== null) {
      if (!/^\d{1,12}$/.test(age[1]!) || Number(age[1]) === 0) return 0;
      ms = Math.min(ms, Number(age[1]) * 1000);
      maxAge = true;
    }
  }
  const expires = answer.header('expires');
  if (expires !== undefined && !maxAge) {
    const at = Date.parse(expires);
    if (Number.isNaN(at) || at <= now) return 0;
    ms = Math.min(ms, at - now);
  }
  return ms;
}

/** The duration rules as one line, for explain. */
export function describeRules(rules: readonly CacheRule[]): string {
  return rules.map((rule) => `${rule.codes === null ? 'any' : rule.codes.join(' ')} ${rule.seconds}s`).join(', ');
}
