/**
 * `affinity: cookie` and the `session-cookie-*` family, as ingress-nginx does it (annotations.md
 * "Session Affinity"; rootfs/etc/nginx/lua/balancer/sticky*.lua; test/e2e/annotations/affinity.go):
 * a request without the session cookie is balanced as usual and the response sets the cookie;
 * a request with it goes back to the same endpoint while that endpoint serves the route.
 *
 * - `affinity-mode: balanced` (default): the cookie holds a random session key (never an
 *   address); the endpoint is the key's consistent hash over the healthy endpoints (wasm
 *   `pickHash`), so scaling up moves only some sessions, as ingress-nginx's sticky_balanced.
 *   A tampered or unknown key is just another key: it maps to some healthy endpoint.
 * - `affinity-mode: persistent`: the cookie holds the endpoint's token (a SHA-256 digest of the
 *   endpoint's address, not the address); the endpoint stays while it serves (wasm `pickId`),
 *   whatever scaling happens. A token naming no serving endpoint (gone, ejected, tampered) falls
 *   back to a normal choice and a new cookie, as sticky_persistent does.
 *
 * Set-Cookie, as resty.cookie writes it: `<name>=<value>; Expires=…; Max-Age=…; Domain=…;
 * Path=<session-cookie-path or the rule's path>; Secure; HttpOnly; SameSite=…`. Secure when
 * `session-cookie-secure` is true or, unset, when the request came over HTTPS.
 */
import { HEADER_NAME } from './auth-url.ts';
import { cookieValue } from './cookie.ts';
import { hashKey } from './upstream-hash.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts, RouteFacts } from './module.ts';

/** A cookie name (an RFC 9110 token, as a header name), a cookie path or domain: ingress-nginx's BasicChars / URL character sets. */
const NAME = HEADER_NAME;
const PATH = /^\/[-._~a-zA-Z0-9/:,?&=]{0,1023}$/;
const DOMAIN = /^\.?[a-zA-Z0-9](?:[-a-zA-Z0-9.]{0,251}[a-zA-Z0-9])?$/;
/** What a session key or token looks like; anything else is treated as no cookie. */
const VALUE = /^[0-9a-f]{32}$/;

/** A route's session affinity. */
export interface AffinityData {
  readonly mode: 'balanced' | 'persistent';
  readonly name: string;
  readonly path?: string | undefined;
  readonly domain?: string | undefined;
  /** Seconds from now for Expires. */
  readonly expires?: number | undefined;
  readonly maxAge?: number | undefined;
  readonly sameSite?: 'None' | 'Lax' | 'Strict' | undefined;
  readonly conditionalSameSiteNone?: true | undefined;
  /** Secure: true/false as set, undefined: when the request is HTTPS. */
  readonly secure?: boolean | undefined;
  readonly changeOnFailure?: true | undefined;
}

function readSeconds(reader: AnnotationReader, name: string): number | undefined {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (/^\d{1,10}$/.test(value)) return Number(value);
  reader.warn(name, `${JSON.stringify(value)} is not a whole number of seconds; not set on the cookie`);
  return undefined;
}

function readPattern(reader: AnnotationReader, name: string, pattern: RegExp, what: string): string | undefined {
  const value = reader.string(name);
  if (value === undefined || pattern.test(value)) return value;
  reader.warn(name, `${JSON.stringify(value.slice(0, 64))} is not ${what}; ${name === 'session-cookie-name' ? 'INGRESSCOOKIE is used' : 'not set on the cookie'}`);
  return undefined;
}

const FAMILY = ['affinity-mode', 'affinity-canary-behavior', 'session-cookie-name', 'session-cookie-path', 'session-cookie-domain', 'session-cookie-expires', 'session-cookie-max-age', 'session-cookie-samesite', 'session-cookie-conditional-samesite-none', 'session-cookie-secure', 'session-cookie-change-on-failure'];

function readAffinity(reader: AnnotationReader): AffinityData | undefined {
  const type = reader.string('affinity');
  if (type === undefined) {
    const set = FAMILY.filter((name) => reader.string(name) !== undefined);
    if (set.length !== 0) reader.warn(set[0] as string, `${set.join(', ')} set without affinity: cookie; ignored`);
    return undefined;
  }
  if (type.toLowerCase() !== 'cookie') {
    reader.warn('affinity', `${JSON.stringify(type)} is not an affinity type (only "cookie"); not applied, round robin`);
    return undefined;
  }
  const rawMode = reader.string('affinity-mode')?.toLowerCase();
  if (rawMode !== undefined && rawMode !== 'balanced' && rawMode !== 'persistent') reader.warn('affinity-mode', `${JSON.stringify(rawMode)} is not balanced or persistent; balanced is used`);
  const behaviour = reader.string('affinity-canary-behavior')?.toLowerCase();
  if (behaviour !== undefined && behaviour !== 'sticky' && behaviour !== 'legacy') reader.warn('affinity-canary-behavior', `${JSON.stringify(behaviour)} is not sticky or legacy; ignored`);
  const sameSiteRaw = reader.string('session-cookie-samesite');
  const sameSite = sameSiteRaw === undefined ? undefined : ({ none: 'None', lax: 'Lax', strict: 'Strict' } as const)[sameSiteRaw.toLowerCase() as 'none'];
  if (sameSiteRaw !== undefined && sameSite === undefined) reader.warn('session-cookie-samesite', `${JSON.stringify(sameSiteRaw)} is not None, Lax or Strict; not set on the cookie`);
  const secure = reader.string('session-cookie-secure') === undefined ? undefined : reader.boolean('session-cookie-secure', false);
  const data: AffinityData = {
    mode: rawMode === 'persistent' ? 'persistent' : 'balanced',
    name: readPattern(reader, 'session-cookie-name', NAME, 'a cookie name') ?? 'INGRESSCOOKIE',
    path: readPattern(reader, 'session-cookie-path', PATH, 'a path of ingress-nginx\'s URL characters'),
    domain: readPattern(reader, 'session-cookie-domain', DOMAIN, 'a domain name'),
    expires: readSeconds(reader, 'session-cookie-expires'),
    maxAge: readSeconds(reader, 'session-cookie-max-age'),
    sameSite,
    conditionalSameSiteNone: reader.boolean('session-cookie-conditional-samesite-none', false) || undefined,
    secure,
    changeOnFailure: reader.boolean('session-cookie-change-on-failure', false) || undefined,
  };
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined)) as unknown as AffinityData;
}

/** ingress-nginx's util/same_site.lua: user agents that mishandle SameSite=None. */
export function sameSiteNoneCompatible(userAgent: string | undefined): boolean {
  if (userAgent === undefined) return true;
  if (/Chrome\/[456]/.test(userAgent) || userAgent.includes('CPU iPhone OS 12') || userAgent.includes('iPad; CPU OS 12')) return false;
  return !(userAgent.includes('Macintosh') && userAgent.includes('Intel Mac OS X 10_14') && userAgent.includes('Safari') && !userAgent.includes('Chrome'));
}

/** 32 random lower-case hex digits: a new session key. */
function sessionKey(): string {
  const words = crypto.getRandomValues(new Uint32Array(4));
  let key = '';
  for (const word of words) key += word.toString(16).padStart(8, '0');
  return key;
}

/** The Set-Cookie value for `value` on a request with `facts` (Expires and Secure depend on it). */
function setCookie(data: AffinityData, path: string, value: string, facts: RequestFacts): string {
  let cookie = `${data.name}=${value}`;
  if (data.expires !== undefined) cookie += `; Expires=${new Date(Date.now() + data.expires * 1000).toUTCString()}`;
  if (data.maxAge !== undefined) cookie += `; Max-Age=${data.maxAge}`;
  if (data.domain !== undefined) cookie += `; Domain=${data.domain}`;
  cookie += `; Path=${path}`;
  if (data.secure ?? facts.scheme === 'https') cookie += '; Secure';
  cookie += '; HttpOnly';
  if (data.sameSite !== undefined && !(data.sameSite === 'None' && data.conditionalSameSiteNone === true && !sameSiteNoneCompatible(facts.header('user-agent')))) cookie += `; SameSite=${data.sameSite}`;
  return cookie;
}

/** The cookie path: session-cookie-path, else the rule's path (a regex path cannot be one: `/`). */
function cookiePath(data: AffinityData, route: RouteFacts): string {
  if (data.path !== undefined) return data.path;
  if (route.regex || route.path === undefined || !PATH.test(route.path)) return '/';
  return route.path;
}

/** `affinity: cookie`: a session cookie keeps a client on one endpoint. */
export const affinityModule: PolicyModule<AffinityData> = {
  key: 'affinity',
  phase: 'balance',
  annotations: [
    { name: 'affinity', support: 'honoured', note: 'cookie: requests with the session cookie go back to the same endpoint while it serves the route; without it, balanced as usual and the cookie is set. The cookie never carries an address. Wins over upstream-hash-by, as in ingress-nginx' },
    { name: 'affinity-mode', support: 'honoured', note: 'balanced (default): a random session key, consistently hashed over the healthy endpoints (scaling moves some sessions); persistent: the endpoint\'s token (SHA-256 of its address), kept while it serves, else a new choice and cookie' },
    { name: 'affinity-canary-behavior', support: 'approximated', note: 'persistent mode is sticky across main and canaries (ingress-nginx\'s sticky); balanced mode re-applies the canary rules per request, like legacy' },
    { name: 'session-cookie-name', support: 'honoured', note: 'the cookie name (default INGRESSCOOKIE)' },
    { name: 'session-cookie-path', support: 'honoured', note: 'the cookie Path (default the rule\'s path; / on a regex host, where ingress-nginx asks for this annotation)' },
    { name: 'session-cookie-domain', support: 'honoured', note: 'the cookie Domain (none by default)' },
    { name: 'session-cookie-expires', support: 'honoured', note: 'Expires = now + seconds' },
    { name: 'session-cookie-max-age', support: 'honoured', note: 'Max-Age in seconds' },
    { name: 'session-cookie-samesite', support: 'honoured', note: 'SameSite None, Lax or Strict' },
    { name: 'session-cookie-conditional-samesite-none', support: 'honoured', note: 'SameSite=None left out for the user agents ingress-nginx\'s same_site.lua lists (Chrome 40-69, iOS 12, macOS 10.14 Safari)' },
    { name: 'session-cookie-secure', support: 'honoured', note: 'Secure as set; unset: Secure when the request came over HTTPS' },
    { name: 'session-cookie-change-on-failure', support: 'approximated', note: 'a failed request is retried on another endpoint within the request either way; the cookie is not rewritten by that retry. The next request finds its endpoint ejected (persistent: new endpoint and cookie; balanced: the key\'s next endpoint)' },
  ],
  schema: (z) => z.strictObject({
    mode: z.enum(['balanced', 'persistent']),
    name: z.string().regex(NAME),
    path: z.string().regex(PATH).optional(),
    domain: z.string().regex(DOMAIN).optional(),
    expires: z.number().int().nonnegative().max(9_999_999_999).optional(),
    maxAge: z.number().int().nonnegative().max(9_999_999_999).optional(),
    sameSite: z.enum(['None', 'Lax', 'Strict']).optional(),
    conditionalSameSiteNone: z.literal(true).optional(),
    secure: z.boolean().optional(),
    changeOnFailure: z.literal(true).optional(),
  }),
  read: readAffinity,
  prepare: (data, route) => {
    const path = cookiePath(data, route);
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      let value = cookieValue(facts.header('cookie'), data.name);
      if (value !== undefined && !VALUE.test(value)) value = undefined;
      if (data.mode === 'persistent') {
        outcome.sticky = value;
        outcome.picked = (token) => {
          outcome.responseAdd.push(['Set-Cookie', setCookie(data, path, token, facts)]);
        };
        return;
      }
      // upstream-hash-by does not apply when affinity does (ingress-nginx: sticky wins).
      if (value === undefined) {
        value = sessionKey();
        outcome.responseAdd.push(['Set-Cookie', setCookie(data, path, value, facts)]);
      }
      outcome.hash = hashKey(value);
      outcome.hashSubset = undefined;
    };
  },
  describe: (data) => `affinity: cookie ${data.name} (${data.mode}) keeps a client on one endpoint`,
};
