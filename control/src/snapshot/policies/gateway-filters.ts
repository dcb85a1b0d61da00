/**
 * Reads an HTTPRoute rule's `filters` and `timeouts` into route policies (the Gateway API
 * filter modules: gateway-headers.ts, gateway-redirect.ts, gateway-timeouts.ts). Every value is
 * checked as the CRD and the spec say; what Portico cannot honour or what is invalid becomes a
 * problem naming its field (`spec.rules[0].filters[1].requestRedirect.statusCode`) and why.
 * The build stage turns problems into the route's Accepted=False condition and does not serve
 * the rule as written: a filter is never silently dropped.
 */
import type { RoutePolicies } from './registry.ts';
import { FIELD_NAME, FIELD_VALUE } from './gateway-headers.ts';
import type { HeaderModifier } from './gateway-headers.ts';
import { PRECISE_HOSTNAME, REDIRECT_STATUSES, REPLACEMENT_PATH } from './gateway-redirect.ts';
import type { PathModifier, RequestRedirect, UrlRewrite } from './gateway-redirect.ts';
import { parseDuration } from './gateway-timeouts.ts';
import type { Mirror } from './gateway-mirror.ts';
import type { RouteTimeouts } from './gateway-timeouts.ts';

/** Why part of a rule cannot be served as written. */
export interface FilterProblem {
  /** The offending field, e.g. `spec.rules[0].filters[1].requestRedirect.statusCode`. */
  readonly field: string;
  /** `UnsupportedValue`: Portico does not do it; `IncompatibleFilters`: the combination is not allowed; `Invalid`: a bad value. */
  readonly reason: 'UnsupportedValue' | 'IncompatibleFilters' | 'Invalid';
  readonly message: string;
}

/** What a rule's filters or timeouts ask for. */
export interface FilterReading {
  /** The policies for every route of the rule, or undefined when none apply. */
  readonly policies: RoutePolicies | undefined;
  /** Empty when everything can be honoured. */
  readonly problems: readonly FilterProblem[];
}

/** A RequestMirror backend as the build resolved it. */
export interface MirrorBackend {
  readonly namespace: string;
  readonly service: string;
  readonly port: number | string;
  /** Key into the model's endpoint sets, or undefined when the Service has none yet. */
  readonly endpointSet: string | undefined;
}

/** Facts about the rule the filters belong to. */
export interface FilterContext {
  /** The path match types of the rule's matches (`Exact`, `PathPrefix`, `RegularExpression`); a rule without matches is `PathPrefix /`. */
  readonly matchPathTypes?: readonly string[];
  /**
   * Resolves a RequestMirror `backendRef` (at `field`) as the build resolves backendRefs
   * (kind, namespace, ReferenceGrant, Service and port): the backend, or why it cannot be used.
   * Without it, RequestMirror is refused.
   */
  readonly resolveMirror?: (backendRef: unknown, field: string) => MirrorBackend | string;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Collects problems for one rule. */
class Checker {
  readonly problems: FilterProblem[] = [];

  invalid(field: string, message: string): undefined {
    this.problems.push({ field, reason: 'Invalid', message });
    return undefined;
  }

  unsupported(field: string, message: string): undefined {
    this.problems.push({ field, reason: 'UnsupportedValue', message });
    return undefined;
  }

  incompatible(field: string, message: string): undefined {
    this.problems.push({ field, reason: 'IncompatibleFilters', message });
    return undefined;
  }

  /** An object at `value`, or undefined with a problem. */
  object(value: unknown, field: string): Json | undefined {
    return isObject(value) ? value : this.invalid(field, 'must be an object');
  }

  /** An array of at most `max` items at `value` (absent: empty), or undefined with a problem. */
  list(value: unknown, field: string, max: number): unknown[] | undefined {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return this.invalid(field, 'must be a list');
    if (value.length > max) return this.invalid(field, `has ${value.length} entries, at most ${max} are allowed`);
    return value;
  }
}

/** HTTPHeaderFilter: `set`/`add` entries with a token name (unique per list, any case) and a plain value; `remove` names. */
function readHeaderFilter(check: Checker, value: unknown, field: string, side: 'request' | 'response'): HeaderModifier | undefined {
  const filter = check.object(value, field);
  if (filter === undefined) return undefined;
  const before = check.problems.length;
  const pairs = (key: 'set' | 'add'): { name: string; value: string }[] => {
    const seen = new Set<string>();
    const out: { name: string; value: string }[] = [];
    (check.list(filter[key], `${field}.${key}`, 16) ?? []).forEach((entry, i) => {
      const at = `${field}.${key}[${i}]`;
      if (!isObject(entry)) return check.invalid(at, 'must be an object with name and value');
      const { name, value: headerValue } = entry;
      if (typeof name !== 'string' || name.length > 256 || !FIELD_NAME.test(name)) return check.invalid(`${at}.name`, `${JSON.stringify(name)} is not an HTTP header name (a token of at most 256 characters)`);
      if (typeof headerValue !== 'string' || headerValue.length > 4096 || !FIELD_VALUE.test(headerValue)) return check.invalid(`${at}.value`, 'must be a header value of at most 4096 characters without CR, LF, NUL or other control characters, and without leading or trailing spaces');
      if (seen.has(name.toLowerCase())) return check.invalid(`${at}.name`, `${name} is listed twice (names are case-insensitive)`);
      if (side === 'request' && key === 'add' && name.toLowerCase() === 'host') return check.unsupported(`${at}.name`, 'a second Host header cannot be added; use set');
      seen.add(name.toLowerCase());
      out.push({ name, value: headerValue });
    });
    return out;
  };
  const set = pairs('set');
  const add = pairs('add');
  const seen = new Set<string>();
  const remove: string[] = [];
  (check.list(filter.remove, `${field}.remove`, 16) ?? []).forEach((name, i) => {
    const at = `${field}.remove[${i}]`;
    if (typeof name !== 'string' || name.length > 256 || !FIELD_NAME.test(name)) return check.invalid(at, `${JSON.stringify(name)} is not an HTTP header name`);
    if (side === 'request' && name.toLowerCase() === 'host') return check.unsupported(at, 'the Host header cannot be removed');
    if (seen.has(name.toLowerCase())) return check.invalid(at, `${name} is listed twice (names are case-insensitive)`);
    seen.add(name.toLowerCase());
    remove.push(name);
  });
  if (check.problems.length !== before) return undefined;
  if (set.length === 0 && add.length === 0 && remove.length === 0) return check.invalid(field, 'sets, adds and removes nothing');
  return { set, add, remove };
}

/** HTTPPathModifier; ReplacePrefixMatch only when every match of the rule is a PathPrefix. */
function readPathModifier(check: Checker, value: unknown, field: string, context: FilterContext): PathModifier | undefined {
  const path = check.object(value, field);
  if (path === undefined) return undefined;
  const type = path.type;
  const key = type === 'ReplaceFullPath' ? 'replaceFullPath' : type === 'ReplacePrefixMatch' ? 'replacePrefixMatch' : undefined;
  if (key === undefined) return check.invalid(`${field}.type`, `${JSON.stringify(type)} is not ReplaceFullPath or ReplacePrefixMatch`);
  const replacement = path[key];
  if (typeof replacement !== 'string') return check.invalid(`${field}.${key}`, `must be set when type is ${type as string}`);
  const other = key === 'replaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (path[other] !== undefined) return check.invalid(`${field}.${other}`, `must not be set when type is ${type as string}`);
  if (replacement.length > 1024 || !REPLACEMENT_PATH.test(replacement)) return check.invalid(`${field}.${key}`, `${JSON.stringify(replacement)} must be an absolute path of at most 1024 characters, without query, fragment, spaces or control characters`);
  if (type === 'ReplacePrefixMatch') {
    const types = context.matchPathTypes ?? ['PathPrefix'];
    const wrong = types.findIndex((t) => t !== 'PathPrefix');
    if (wrong >= 0) return check.incompatible(`${field}.type`, `ReplacePrefixMatch needs PathPrefix matches, but match ${wrong} is ${types[wrong]}`);
  }
  return { type, value: replacement } as PathModifier;
}

function readHostname(check: Checker, value: unknown, field: string): string | undefined {
  if (typeof value === 'string' && value.length <= 253 && PRECISE_HOSTNAME.test(value)) return value;
  return check.invalid(field, `${JSON.stringify(value)} is not a lower-case DNS host name (no wildcard, no port)`);
}

function readRedirect(check: Checker, value: unknown, field: string, context: FilterContext): RequestRedirect | undefined {
  const redirect = check.object(value, field);
  if (redirect === undefined) return undefined;
  const before = check.problems.length;
  const { scheme, hostname, path, port } = redirect;
  const statusCode = redirect.statusCode ?? 302;
  if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') check.invalid(`${field}.scheme`, `${JSON.stringify(scheme)} is not http or https`);
  const host = hostname === undefined ? undefined : readHostname(check, hostname, `${field}.hostname`);
  const modifier = path === undefined ? undefined : readPathModifier(check, path, `${field}.path`, context);
  if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)) check.invalid(`${field}.port`, `${JSON.stringify(port)} is not a port number (1-65535)`);
  if (typeof statusCode !== 'number' || !REDIRECT_STATUSES.includes(statusCode)) check.invalid(`${field}.statusCode`, `${JSON.stringify(statusCode)} is not one of ${REDIRECT_STATUSES.join(', ')}`);
  if (check.problems.length !== before) return undefined;
  return {
    ...(scheme === undefined ? {} : { scheme: scheme as 'http' | 'https' }),
    ...(host === undefined ? {} : { hostname: host }),
    ...(modifier === undefined ? {} : { path: modifier }),
    ...(port === undefined ? {} : { port: port as number }),
    statusCode: statusCode as RequestRedirect['statusCode'],
  };
}

/** HTTPRequestMirrorFilter: the resolved backend and the share of requests (percent or fraction; all by default). */
function readMirror(check: Checker, value: unknown, field: string, context: FilterContext): Mirror | undefined {
  const mirror = check.object(value, field);
  if (mirror === undefined) return undefined;
  if (context.resolveMirror === undefined) return check.unsupported(field, 'RequestMirror needs its backendRef resolved, which this source cannot do');
  const backend = context.resolveMirror(mirror.backendRef, `${field}.backendRef`);
  if (typeof backend === 'string') return check.invalid(`${field}.backendRef`, backend);
  const { percent, fraction } = mirror;
  if (percent !== undefined && fraction !== undefined) return check.invalid(field, 'percent and fraction cannot both be set');
  let numerator = 100;
  let denominator = 100;
  if (percent !== undefined) {
    if (!Number.isInteger(percent) || (percent as number) < 0 || (percent as number) > 100) return check.invalid(`${field}.percent`, `${JSON.stringify(percent)} is not an integer in 0-100`);
    numerator = percent as number;
  } else if (fraction !== undefined) {
    const parts = check.object(fraction, `${field}.fraction`);
    if (parts === undefined) return undefined;
    const top = parts.numerator;
    const bottom = parts.denominator ?? 100;
    if (!Number.isInteger(top) || (top as number) < 0 || (top as number) > 1_000_000) return check.invalid(`${field}.fraction.numerator`, `${JSON.stringify(top)} is not an integer in 0-1000000`);
    if (!Number.isInteger(bottom) || (bottom as number) < 1 || (bottom as number) > 1_000_000) return check.invalid(`${field}.fraction.denominator`, `${JSON.stringify(bottom)} is not an integer in 1-1000000`);
    if ((top as number) > (bottom as number)) return check.invalid(`${field}.fraction`, 'numerator must not exceed denominator');
    numerator = top as number;
    denominator = bottom as number;
  }
  return { namespace: backend.namespace, service: backend.service, port: backend.port, endpointSet: backend.endpointSet ?? null, numerator, denominator };
}

function readRewrite(check: Checker, value: unknown, field: string, context: FilterContext): UrlRewrite | undefined {
  const rewrite = check.object(value, field);
  if (rewrite === undefined) return undefined;
  const before = check.problems.length;
  const host = rewrite.hostname === undefined ? undefined : readHostname(check, rewrite.hostname, `${field}.hostname`);
  const modifier = rewrite.path === undefined ? undefined : readPathModifier(check, rewrite.path, `${field}.path`, context);
  if (check.problems.length !== before) return undefined;
  if (host === undefined && modifier === undefined) return check.invalid(field, 'rewrites neither hostname nor path');
  return { ...(host === undefined ? {} : { hostname: host }), ...(modifier === undefined ? {} : { path: modifier }) };
}

/** The member of a filter object that holds its settings, per filter type. */
const FILTER_KEYS: Record<string, string> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
};

/**
 * Reads an HTTPRoute rule's `filters` (`field` is the rule, e.g. `spec.rules[2]`). Returns the
 * policies they ask for, and a problem for every filter Portico cannot honour or that is invalid:
 * then do not serve the rule as written (its policies are undefined).
 */
export function httpRouteFilters(filters: readonly unknown[] | undefined, field: string, context: FilterContext = {}): FilterReading {
  const check = new Checker();
  const policies: { -readonly [K in keyof RoutePolicies]: RoutePolicies[K] } = {};
  const list = check.list(filters, `${field}.filters`, 16) ?? [];
  list.forEach((raw, i) => {
    const at = `${field}.filters[${i}]`;
    const filter = check.object(raw, at);
    if (filter === undefined) return;
    const type = filter.type;
    const key = typeof type === 'string' ? FILTER_KEYS[type] : undefined;
    if (key === undefined) return check.invalid(`${at}.type`, `${JSON.stringify(type)} is not a Gateway API HTTPRoute filter type`);
    for (const other of Object.values(FILTER_KEYS)) if (other !== key && filter[other] !== undefined) check.invalid(`${at}.${other}`, `must not be set when type is ${type as string}`);
    const settings = filter[key];
    const here = `${at}.${key}`;
    if (settings === undefined) return check.invalid(here, `must be set when type is ${type as string}`);
    const once = (member: keyof RoutePolicies): boolean => (policies[member] === undefined ? true : (check.invalid(`${at}.type`, `${type as string} may appear only once in a rule`), false));
    switch (type) {
      case 'RequestHeaderModifier': {
        const data = readHeaderFilter(check, settings, here, 'request');
        if (data !== undefined && once('requestHeaderModifier')) policies.requestHeaderModifier = data;
        return;
      }
      case 'ResponseHeaderModifier': {
        const data = readHeaderFilter(check, settings, here, 'response');
        if (data !== undefined && once('responseHeaderModifier')) policies.responseHeaderModifier = data;
        return;
      }
      case 'RequestRedirect': {
        const data = readRedirect(check, settings, here, context);
        if (data !== undefined && once('requestRedirect')) policies.requestRedirect = data;
        return;
      }
      case 'URLRewrite': {
        const data = readRewrite(check, settings, here, context);
        if (data !== undefined && once('urlRewrite')) policies.urlRewrite = data;
        return;
      }
      case 'RequestMirror': {
        const data = readMirror(check, settings, here, context);
        if (data === undefined) return;
        if ((policies.requestMirror?.mirrors.length ?? 0) >= 16) return check.invalid(`${at}.type`, 'at most 16 RequestMirror filters per rule');
        policies.requestMirror = { mirrors: [...(policies.requestMirror?.mirrors ?? []), data] };
        return;
      }
      default:
        return check.unsupported(`${at}.type`, `${type as string} filters are not supported by Portico`);
    }
  });
  if (policies.requestRedirect !== undefined && policies.urlRewrite !== undefined) check.incompatible(`${field}.filters`, 'RequestRedirect and URLRewrite cannot be used in the same rule');
  if (check.problems.length !== 0) return { policies: undefined, problems: check.problems };
  return { policies: Object.keys(policies).length === 0 ? undefined : policies, problems: [] };
}

/**
 * Reads an HTTPRoute rule's `timeouts` (`field` is the rule): Durations up to 24h, `0s` to switch
 * one off, `backendRequest` no longer than `request` when both are set and not zero.
 */
export function httpRouteTimeouts(timeouts: unknown, field: string): FilterReading {
  if (timeouts === undefined || timeouts === null) return { policies: undefined, problems: [] };
  const check = new Checker();
  const at = `${field}.timeouts`;
  const object = check.object(timeouts, at);
  if (object === undefined) return { policies: undefined, problems: check.problems };
  const read = (key: 'request' | 'backendRequest'): number | undefined => {
    const value = object[key];
    if (value === undefined) return undefined;
    const ms = typeof value === 'string' ? parseDuration(value) : undefined;
    if (ms === undefined) return check.invalid(`${at}.${key}`, `${JSON.stringify(value)} is not a Gateway API Duration (like 500ms, 10s, 1m30s)`);
    if (ms > 86_400_000) return check.unsupported(`${at}.${key}`, `${value} is longer than 24h, the longest timeout Portico takes`);
    return ms;
  };
  const requestMs = read('request');
  const backendRequestMs = read('backendRequest');
  if (requestMs !== undefined && backendRequestMs !== undefined && requestMs > 0 && backendRequestMs > requestMs) check.invalid(`${at}.backendRequest`, `${object.backendRequest as string} is longer than request (${object.request as string})`);
  if (check.problems.length !== 0) return { policies: undefined, problems: check.problems };
  const data: RouteTimeouts = { ...(requestMs === undefined ? {} : { requestMs }), ...(backendRequestMs === undefined ? {} : { backendRequestMs }) };
  return { policies: Object.keys(data).length === 0 ? undefined : { timeouts: data }, problems: [] };
}

/** The filter types Portico honours on a backendRef: the header modifiers. */
const BACKEND_FILTER_TYPES = new Set(['RequestHeaderModifier', 'ResponseHeaderModifier']);

/** What one backendRef's `filters` ask for: its header modifiers, or the problems (then the rule is not served as written). */
export interface BackendFilterReading {
  readonly requestHeaderModifier?: HeaderModifier | undefined;
  readonly responseHeaderModifier?: HeaderModifier | undefined;
  /** Empty when everything can be honoured. */
  readonly problems: readonly FilterProblem[];
}

/**
 * Reads the `filters` of one backendRef (`field` is the backendRef, e.g.
 * `spec.rules[0].backendRefs[1]`): checked as a rule's filters are (gateway-filters' own reading),
 * then every type other than RequestHeaderModifier and ResponseHeaderModifier is refused
 * (`UnsupportedValue`): Portico runs a backend's filters after the pick, where a redirect, a
 * rewrite or a mirror cannot be honoured as the rule's could.
 */
export function backendRefFilters(filters: readonly unknown[] | undefined, field: string): BackendFilterReading {
  const reading = httpRouteFilters(filters, field);
  const refused: FilterProblem[] = [];
  (Array.isArray(filters) ? filters : []).forEach((filter, i) => {
    const type = isObject(filter) ? filter.type : undefined;
    if (typeof type === 'string' && FILTER_KEYS[type] !== undefined && !BACKEND_FILTER_TYPES.has(type)) {
      refused.push({ field: `${field}.filters[${i}].type`, reason: 'UnsupportedValue', message: `${type} is not supported on a backendRef by Portico (RequestHeaderModifier and ResponseHeaderModifier are); use it in the rule's filters` });
    }
  });
  // A filter refused here is not also reported for its settings (a RequestMirror has no resolver here): one problem per filter.
  const prefixes = refused.map((r) => r.field.slice(0, -'type'.length));
  const problems = [...refused, ...reading.problems.filter((p) => !prefixes.some((prefix) => p.field.startsWith(prefix)))];
  if (problems.length !== 0) return { problems };
  const policies = reading.policies;
  return { requestHeaderModifier: policies?.requestHeaderModifier, responseHeaderModifier: policies?.responseHeaderModifier, problems: [] };
}
