/**
 * Test-only reference matcher: the matching semantics written the plainest way, straight from
 * MatcherTable, with strings and loops. It is the yardstick the wasm matcher is compared with,
 * so clarity beats speed everywhere here.
 */
import { RE2JS } from 're2js';
import type { BackendEntry, HeaderCondition, HostEntry, MatcherTable, PathEntry, QueryCondition } from '../src/host/table.ts';
import { percentDecode } from '../src/host/conditions.ts';
import type { Matcher, RequestHeaders } from '../src/host/matcher.ts';
import { PorticoError } from '../src/host/errors.ts';
import { validateTable } from '../src/host/encode.ts';

/** Lower-cases ASCII letters only, as DNS does (other letters are compared as given). */
function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The request host as it is looked up: port dropped, lower-cased, one trailing dot dropped. */
export function normalizeHost(raw: string): string {
  // Requests are matched as UTF-8, where a lone surrogate can only stand for U+FFFD.
  let host = raw.toWellFormed();
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close >= 0) host = host.slice(0, close + 1);
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  host = asciiLower(host);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}

/** The request path as it is matched: query removed, empty path read as `/`. */
export function requestPath(raw: string): string {
  const query = raw.indexOf('?');
  const path = (query >= 0 ? raw.slice(0, query) : raw).toWellFormed();
  return path === '' ? '/' : path;
}

/** Path elements of a Prefix rule; trailing slashes are insignificant, so `/` has none. */
function ruleElements(rule: string): string[] {
  const elements = rule.split('/');
  while (elements.length > 0 && elements[elements.length - 1] === '') elements.pop();
  return elements;
}

/** Kubernetes element-wise prefix: every rule element equals the request element at its place. */
function prefixMatches(rule: string, path: string): boolean {
  const want = ruleElements(rule);
  const have = path.split('/');
  return want.length <= have.length && want.every((element, i) => element === have[i]);
}

/**
 * Exact host, else the one-label wildcard, else the multi-label wildcard with the longest suffix
 * (the labels it stands for all non-empty), else the any-host entry.
 */
function selectHost(byKey: ReadonlyMap<string, HostEntry>, host: string): HostEntry | undefined {
  const exact = byKey.get(host);
  if (exact !== undefined && exact.host !== '*' && !exact.host.startsWith('*.')) return exact;
  const labels = host.split('.');
  if (!host.startsWith('[') && labels.length >= 2 && labels[0] !== '') {
    for (let taken = 1; taken < labels.length; taken++) {
      if (labels[taken - 1] === '') break;
      const suffix = labels.slice(taken).join('.');
      if (suffix === '') break;
      const wildcard = byKey.get(taken === 1 ? `*.${suffix}` : `*.${suffix} deeper`);
      if (wildcard !== undefined) return wildcard;
    }
  }
  return byKey.get('*');
}

/** Host entries by lookup key: the host for exact and one-label lookups, `host deeper` for deeper ones. */
function hostKeys(hosts: readonly HostEntry[]): Map<string, HostEntry> {
  const byKey = new Map<string, HostEntry>();
  for (const entry of hosts) {
    if (entry.labels !== 'deeper') byKey.set(entry.host, entry);
    if (entry.labels === 'many' || entry.labels === 'deeper') byKey.set(`${entry.host} deeper`, entry);
  }
  return byKey;
}

const compiled = new Map<string, RE2JS>();
/** `pattern` compiled (once) as an RE2 regex; its `matches` takes the whole value. */
function re2(pattern: string): RE2JS {
  let regex = compiled.get(pattern);
  if (regex === undefined) compiled.set(pattern, (regex = RE2JS.compile(pattern)));
  return regex;
}

/** Whether `value` satisfies a header or query condition. */
function valueHolds(condition: HeaderCondition | QueryCondition, value: string): boolean {
  return condition.type === 'RegularExpression' ? re2(condition.value).matches(value) : value === condition.value;
}

/** The first value of query parameter `name` in the raw request path, percent-decoded, or undefined. */
function queryParam(rawPath: string, name: string): string | undefined {
  const query = rawPath.indexOf('?');
  if (query < 0) return undefined;
  for (const pair of rawPath.slice(query + 1).split('&')) {
    if (pair === '') continue;
    const [key = '', ...value] = pair.split('=');
    if (percentDecode(key) === name) return percentDecode(value.join('='));
  }
  return undefined;
}

function conditionsHold(entry: PathEntry, method: string, headers: RequestHeaders | undefined, rawPath: string): boolean {
  const methods = entry.conditions?.methods ?? [];
  if (methods.length > 0 && !methods.includes(method)) return false;
  const headersHold = (entry.conditions?.headers ?? []).every((condition) => {
    const got = headers?.[condition.name.toLowerCase()];
    const values = got === undefined ? [] : typeof got === 'string' ? [got] : got;
    return values.some((value) => valueHolds(condition, value));
  });
  return headersHold && (entry.conditions?.query ?? []).every((condition) => {
    const got = queryParam(rawPath, condition.name);
    return got !== undefined && valueHolds(condition, got);
  });
}

function pathMatches(entry: PathEntry, path: string): boolean {
  if (entry.pathType === 'Exact') return entry.path === path;
  if (entry.pathType === 'RegularExpression') return re2(entry.path).matches(path);
  return prefixMatches(entry.path, path);
}

/** Route of the best matching rule of `host` whose conditions hold, or -1. */
function matchPaths(host: HostEntry, path: string, method: string, headers: RequestHeaders | undefined, rawPath: string): number {
  const candidates = host.paths
    .map((entry, index) => ({ entry, index }))
    .filter(({ entry }) => pathMatches(entry, path));
  // Exact first, then regexes, then the longest prefix (by elements), then table order.
  const rank = (entry: PathEntry): number => (entry.pathType === 'Exact' ? Infinity : entry.pathType === 'RegularExpression' ? Number.MAX_SAFE_INTEGER : ruleElements(entry.path).length);
  candidates.sort((a, b) => rank(b.entry) - rank(a.entry) || a.index - b.index);
  const chosen = candidates.find(({ entry }) => conditionsHold(entry, method, headers, rawPath));
  return chosen === undefined ? -1 : chosen.entry.route;
}

/** nginx smooth WRR over `weights` (0 = not eligible); updates `current`, returns the index or -1. */
function smoothPick(weights: readonly number[], current: number[]): number {
  let best = -1;
  let total = 0;
  weights.forEach((weight, i) => {
    if (weight <= 0) return;
    current[i] = (current[i] ?? 0) + weight;
    total += weight;
    if (best < 0 || (current[i] ?? 0) > (current[best] ?? 0)) best = i;
  });
  if (best >= 0) current[best] = (current[best] ?? 0) - total;
  return best;
}

/** murmur3's 32-bit finalizer. */
function mix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** Builds the reference matcher; throws PORTICO_E_TABLE_INVALID like loadMatcher does. */
export function loadReference(table: MatcherTable): Matcher {
  validateTable(table);
  const byKey = hostKeys(table.hosts);
  const healthy = Array.from({ length: table.endpointCount }, () => true);
  const backendCurrent = table.routes.map((route) => route.backends.map(() => 0));
  // Endpoint rotation is the set's: every route on one set shares it.
  const endpointCurrent = table.sets.map((set) => set.map(() => 0));
  const endpointsOf = (backend: BackendEntry | undefined): readonly number[] => (backend === undefined ? [] : (table.sets[backend.set] ?? []));
  const seeds = Array.from({ length: table.endpointCount }, () => 0);
  const scores = Array.from({ length: table.endpointCount }, () => 0);
  let last = -1;
  const checkEndpoint = (endpoint: number): void => {
    if (!Number.isInteger(endpoint) || endpoint < 0 || endpoint >= table.endpointCount) {
      throw new PorticoError('PORTICO_E_ENDPOINT_RANGE', `endpoint id ${endpoint} is out of range`);
    }
  };

  return {
    routeCount: table.routes.length,
    endpointCount: table.endpointCount,
    match(rawHost, rawPath, method, headers) {
      const host = selectHost(byKey, normalizeHost(rawHost));
      if (host === undefined) return table.fallback;
      const route = matchPaths(host, requestPath(rawPath), method, headers, rawPath);
      if (route >= 0) return route;
      return host.fallback >= 0 ? host.fallback : table.fallback;
    },
    pick(route) {
      return pickAmong(route, -1, false);
    },
    pickIn(route, allowed) {
      return pickAmong(route, allowed | 0, (allowed | 0) !== -1);
    },
    pickHash(route, allowed, key, subset = 1, random = 0) {
      return pickAmong(route, allowed | 0, (allowed | 0) !== -1, key >>> 0, Math.min(16, Math.max(1, subset)), random >>> 0);
    },
    pickId(route, allowed, endpoint) {
      last = -1;
      const backends = table.routes[route]?.backends;
      if (backends === undefined || !healthy[endpoint]) return -1;
      const every = (allowed | 0) === -1;
      const index = backends.findIndex((backend, k) => (every || (k < 32 && ((allowed >>> k) & 1) === 1)) && endpointsOf(backend).includes(endpoint));
      if (index < 0) return -1;
      last = index;
      return endpoint;
    },
    pickLeastLoaded(route, allowed, random) {
      last = -1;
      const backends = table.routes[route]?.backends;
      if (backends === undefined) return -1;
      const b = chooseBackendIndex(route, allowed | 0, (allowed | 0) !== -1);
      if (b < 0) return -1;
      last = b;
      const live = endpointsOf(backends[b]).filter((id) => healthy[id]);
      const r = random >>> 0;
      const a = (r & 0xffff) % live.length;
      const other = live.length > 1 ? (a + 1 + ((r >>> 16) % (live.length - 1))) % live.length : a;
      const [first, second] = [live[a] as number, live[other] as number];
      return (scores[second] ?? 0) < (scores[first] ?? 0) ? second : first;
    },
    setScore(endpoint, score) {
      checkEndpoint(endpoint);
      scores[endpoint] = score;
    },
    setSeed(endpoint, seed) {
      checkEndpoint(endpoint);
      seeds[endpoint] = seed >>> 0;
    },
    lastBackend: () => last,
    setHealthy(endpoint, ok) {
      checkEndpoint(endpoint);
      healthy[endpoint] = ok;
    },
    isHealthy(endpoint) {
      checkEndpoint(endpoint);
      return healthy[endpoint] ?? false;
    },
  };

  function chooseBackendIndex(route: number, allowed: number, forced: boolean): number {
    const backends = table.routes[route]?.backends ?? [];
    const every = allowed === -1;
    const eligible = (index: number): boolean => every || (index < 32 && ((allowed >>> index) & 1) === 1);
    const live = (b: BackendEntry): boolean => endpointsOf(b).some((id) => healthy[id]);
    const weights = backends.map((b, index) => (eligible(index) && live(b) ? b.weight : 0));
    const b = smoothPick(weights, backendCurrent[route] ?? []);
    // A request-level choice takes its first live backend whatever its weight.
    return b < 0 && forced ? backends.findIndex((entry, index) => eligible(index) && live(entry)) : b;
  }

  function pickAmong(route: number, allowed: number, forced: boolean, key?: number, subset = 1, random = 0): number {
    last = -1;
    const backends = table.routes[route]?.backends;
    if (backends === undefined) return -1;
    const b = chooseBackendIndex(route, allowed, forced);
    if (b < 0) return -1;
    const endpoints = endpointsOf(backends[b]);
    last = b;
    if (key !== undefined) {
      // Rendezvous hashing: the healthy endpoints by mix(key ^ mix(seed)), highest first (stable on ties); one of the best `subset`.
      const ranked = endpoints.filter((id) => healthy[id]).map((id, order) => ({ id, order, score: mix32((key ^ mix32(seeds[id] ?? 0)) >>> 0) }));
      ranked.sort((a, b) => b.score - a.score || a.order - b.order);
      const kept = ranked.slice(0, subset);
      return kept.length === 0 ? -1 : (kept[random % kept.length] as { id: number }).id;
    }
    const e = smoothPick(endpoints.map((id) => (healthy[id] ? 1 : 0)), endpointCurrent[backends[b]!.set] ?? []);
    return endpoints[e] ?? -1;
  }
}
