/**
 * The MatcherTable contract, checked before encoding. A violation is a programmer mistake in
 * whoever built the table (user mistakes are filtered out upstream as conditions), so it throws.
 */
import { PorticoError } from './errors.ts';
import { METHODS } from './table.ts';
import type { HostEntry, MatcherTable, PathEntry, RouteConditions, RouteEntry } from './table.ts';
import { compileWholeRegex } from './conditions.ts';

/** Most endpoints a table may have: health flags take one byte each in wasm memory. */
export const MAX_ENDPOINTS = 1 << 24;
/** Largest backend weight (kept in a u32 field; WRR sums run in i64, so any mix is safe). */
export const MAX_WEIGHT = 0x7fffffff;

// One DNS-style label: no upper case (the contract says lower-case) and none of the characters a
// normalized request host can never contain at that place.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
const LABEL = /^[^A-Z.:/?#@*[\]\\\x00-\x20\x7f]+$/;
const IPV6_LITERAL = /^\[[0-9a-f:.]+\]$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

function invalid(where: string, problem: string): never {
  throw new PorticoError('PORTICO_E_TABLE_INVALID', `matcher table ${where}: ${problem}`);
}

/** Throws unless `value` is an array (typed tables can still arrive from JSON). */
function requireArray(value: unknown, where: string): asserts value is readonly unknown[] {
  if (!Array.isArray(value)) invalid(where, 'must be an array');
}

function isName(name: string): boolean {
  return name.split('.').every((label) => LABEL.test(label));
}

/** Why `host` is not a valid HostEntry.host, or undefined when it is. */
export function hostProblem(host: unknown): string | undefined {
  if (typeof host !== 'string' || host === '') return 'host must be a non-empty string';
  if (!host.isWellFormed()) return 'host must be well-formed UTF-16 (no lone surrogates)';
  if (host === '*') return undefined;
  if (host.startsWith('*.')) return isName(host.slice(2)) ? undefined : 'wildcard must be `*.` followed by a lower-case DNS name';
  if (host.startsWith('[')) return IPV6_LITERAL.test(host) ? undefined : 'IPv6 literal must be `[` lower-case hex, `:` and `.` `]`';
  if (/[A-Z]/.test(host)) return 'host must be lower-case';
  return isName(host) ? undefined : 'host must be a lower-case DNS name (non-empty labels; no port, `*` only as `*.` prefix)';
}

function isIndex(value: unknown, below: number): value is number {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) < below;
}

function checkRouteId(value: unknown, routes: number, where: string, allowNone: boolean): void {
  if (allowNone && value === -1) return;
  if (!isIndex(value, routes)) invalid(where, `route id ${String(value)} is out of range [${allowNone ? '-1' : '0'}, ${routes})`);
}

/** Throws unless `type` is a ValueMatchType (absent counts as Exact) and a regex `value` compiles. */
function checkValueMatch(type: unknown, value: string, where: string): void {
  if (type === undefined || type === 'Exact') return;
  if (type !== 'RegularExpression') invalid(where, `type ${JSON.stringify(type)} is not Exact or RegularExpression`);
  const compiled = compileWholeRegex(value);
  if (typeof compiled === 'string') invalid(where, `pattern ${JSON.stringify(value)} ${compiled}`);
}

function checkConditions(conditions: RouteConditions | undefined, where: string): void {
  if (conditions === undefined) return;
  if (typeof conditions !== 'object' || conditions === null) invalid(where, 'conditions must be an object');
  const { methods, headers, query } = conditions;
  if (methods !== undefined) {
    requireArray(methods, `${where}.methods`);
    methods.forEach((method, m) => {
      if (!KNOWN_METHODS.has(method)) invalid(`${where}.methods[${m}]`, `method ${JSON.stringify(method)} is not one of ${METHODS.join(', ')}`);
    });
  }
  if (headers !== undefined) {
    requireArray(headers, `${where}.headers`);
    headers.forEach((header, k) => {
      if (typeof header?.name !== 'string' || !TOKEN.test(header.name)) invalid(`${where}.headers[${k}]`, `header name ${JSON.stringify(header?.name)} is not an HTTP token`);
      if (typeof header.value !== 'string' || !header.value.isWellFormed()) invalid(`${where}.headers[${k}]`, `header ${header.name}: value must be a well-formed string`);
      checkValueMatch(header.type, header.value, `${where}.headers[${k}]`);
    });
  }
  if (query !== undefined) {
    requireArray(query, `${where}.query`);
    query.forEach((param, k) => {
      // eslint-disable-next-line no-control-regex -- control characters are exactly what must be refused
      if (typeof param?.name !== 'string' || param.name === '' || !param.name.isWellFormed() || /[\x00-\x1f\x7f]/.test(param.name)) invalid(`${where}.query[${k}]`, `query parameter name ${JSON.stringify(param?.name)} must be a non-empty well-formed string without control characters`);
      if (typeof param.value !== 'string' || !param.value.isWellFormed()) invalid(`${where}.query[${k}]`, `query parameter ${param.name}: value must be a well-formed string`);
      checkValueMatch(param.type, param.value, `${where}.query[${k}]`);
    });
  }
}

function checkPath(entry: PathEntry, routes: number, where: string): void {
  if (typeof entry !== 'object' || entry === null) invalid(where, 'path entry must be an object');
  if (entry.pathType !== 'Exact' && entry.pathType !== 'Prefix' && entry.pathType !== 'RegularExpression') invalid(where, `pathType ${JSON.stringify(entry.pathType)} is not Exact, Prefix or RegularExpression`);
  if (typeof entry.path !== 'string') invalid(where, 'path must be a string');
  if (!entry.path.isWellFormed()) invalid(where, `path ${JSON.stringify(entry.path)} has a lone surrogate`);
  if (entry.pathType === 'RegularExpression') checkValueMatch(entry.pathType, entry.path, where);
  else if (!entry.path.startsWith('/')) invalid(where, `path ${JSON.stringify(entry.path)} must start with '/'`);
  checkRouteId(entry.route, routes, `${where} (${entry.pathType} ${entry.path})`, false);
  checkConditions(entry.conditions, `${where}.conditions`);
}

/**
 * Throws PorticoError PORTICO_E_TABLE_INVALID, naming the offending host, path, route or set,
 * when `table` breaks the MatcherTable contract; returns normally when it holds.
 */
export function validateTable(table: MatcherTable): void {
  if (typeof table !== 'object' || table === null) invalid('(root)', 'must be an object');
  requireArray(table.hosts, 'hosts');
  requireArray(table.routes, 'routes');
  validateSets(table.sets, table.endpointCount);
  validateRoutes(table.routes, table.sets.length, table.fallback);
  validateHosts(table.hosts, table.routes.length);
}

/**
 * The host half of validateTable: host entries whose route ids are below `routes` (a chunk's
 * local ids, or a whole table's), no lookup claimed twice among them. Throws PORTICO_E_TABLE_INVALID.
 */
export function validateHosts(hosts: readonly HostEntry[], routes: number): void {
  requireArray(hosts, 'hosts');
  // A wildcard is looked up one label deep (labels 'one', 'many') and deeper ('many', 'deeper'): one entry per lookup.
  const seen = new Map<string, number>();
  hosts.forEach((entry, h) => {
    const host: unknown = entry?.host;
    const where = `hosts[${h}] (${JSON.stringify(host)})`;
    const problem = hostProblem(host);
    if (problem !== undefined) invalid(where, problem);
    const labels: unknown = entry.labels;
    if (labels !== undefined && labels !== 'one' && labels !== 'many' && labels !== 'deeper') invalid(where, `labels ${JSON.stringify(labels)} is not one, many or deeper`);
    if (labels !== undefined && labels !== 'one' && !entry.host.startsWith('*.')) invalid(where, `labels ${labels} is only for \`*.\` wildcard hosts`);
    const lookups = labels === 'many' ? [entry.host, `${entry.host} deeper`] : labels === 'deeper' ? [`${entry.host} deeper`] : [entry.host];
    for (const lookup of lookups) {
      const first = seen.get(lookup);
      if (first !== undefined) invalid(where, `duplicate host, already hosts[${first}]`);
      seen.set(lookup, h);
    }
    requireArray(entry.paths, `${where}.paths`);
    entry.paths.forEach((path, p) => checkPath(path, routes, `${where}.paths[${p}]`));
    checkRouteId(entry.fallback, routes, `${where}.fallback`, true);
    if (entry.extraRoutes !== undefined) {
      requireArray(entry.extraRoutes, `${where}.extraRoutes`);
      entry.extraRoutes.forEach((route, i) => checkRouteId(route, routes, `${where}.extraRoutes[${i}]`, false));
    }
  });
}

/** The route half of validateTable: weights, set ids below `setCount`, the catch-all route. Throws PORTICO_E_TABLE_INVALID. */
export function validateRoutes(routes: readonly RouteEntry[], setCount: number, fallback: number): void {
  requireArray(routes, 'routes');
  checkRouteId(fallback, routes.length, 'fallback', true);
  for (let r = 0; r < routes.length; r++) checkRoute(routes[r]!, r, setCount);
}

/** validateRoutes for route `r` alone (its weights and set ids below `setCount`). Throws PORTICO_E_TABLE_INVALID naming `routes[r]`. */
export function checkRoute(route: RouteEntry, r: number, setCount: number): void {
  // Plain loops, messages built only on failure: this runs over every route of every version.
  const backends = route?.backends;
  requireArray(backends, `routes[${r}].backends`);
  for (let b = 0; b < backends.length; b++) {
    const backend = backends[b]!;
    const at = (): string => `routes[${r}].backends[${b}]`;
    const weight = backend?.weight;
    if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) invalid(`${at()}.weight`, `${String(weight)} is not an integer in [0, ${MAX_WEIGHT}]`);
    if (!isIndex(backend.set, setCount)) invalid(`${at()}.set`, `set id ${String(backend.set)} is out of range [0, ${setCount})`);
  }
}

/** The set half of validateTable: the endpoint count, and every set's endpoint ids below it. Throws PORTICO_E_TABLE_INVALID naming `sets[s]`. */
export function validateSets(sets: readonly (readonly number[])[], endpointCount: number): void {
  requireArray(sets, 'sets');
  checkEndpointCount(endpointCount);
  for (let s = 0; s < sets.length; s++) checkSet(sets[s]!, s, endpointCount);
}

/** Throws PORTICO_E_TABLE_INVALID naming `endpointCount` unless it is an integer in [0, MAX_ENDPOINTS]. */
export function checkEndpointCount(endpointCount: number): void {
  if (!Number.isInteger(endpointCount) || endpointCount < 0 || endpointCount > MAX_ENDPOINTS) {
    invalid('endpointCount', `${String(endpointCount)} is not an integer in [0, ${MAX_ENDPOINTS}]`);
  }
}

/** validateSets for set `s` alone. Throws PORTICO_E_TABLE_INVALID naming `sets[s]`. */
export function checkSet(set: readonly number[], s: number, endpointCount: number): void {
  requireArray(set, `sets[${s}]`);
  for (let e = 0; e < set.length; e++) {
    if (!isIndex(set[e], endpointCount)) invalid(`sets[${s}][${e}]`, `endpoint id ${String(set[e])} is out of range [0, ${endpointCount})`);
  }
}
