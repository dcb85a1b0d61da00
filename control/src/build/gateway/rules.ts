/**
 * HTTPRoute and GRPCRoute rules -> model routes, one per rule × match × host name. A rule that asks
 * for something Portico does not honour yet is dropped whole (never served as if it matched more),
 * and named in the route's status; the other rules still serve.
 */
import type { Backend, PathType, Route, RouteMatch, SourceRef, ValueMatch } from '../../model/types.ts';
import { redirectPolicyOf } from '../../model/shared.ts';
import { regexProblem } from '../../snapshot/regex.ts';
import { backendRefFilters, httpRouteFilters, httpRouteTimeouts } from '../../snapshot/policies/gateway-filters.ts';
import type { FilterProblem, MirrorBackend } from '../../snapshot/policies/gateway-filters.ts';
import type { BackendFilterEntry } from '../../snapshot/policies/gateway-backend-filters.ts';
import type { RoutePolicies } from '../../snapshot/policies/registry.ts';
import type { ClusterState } from '../../state/cluster-state.ts';
import type { BackendRef, GRPCRoute, GRPCRouteMatch, HeaderMatch, HTTPRoute, HTTPRouteMatch, HTTPRouteRule } from '../../state/gateway-objects.ts';
import type { EndpointSets } from '../backends.ts';
import { pathProblem } from '../validate.ts';
import type { GatewayBackend } from './backends.ts';
import { resolveBackendRef } from './backends.ts';

/** One path match of a rule, before hosts are applied. */
export interface RuleMatch {
  readonly field: string;
  readonly pathType: PathType;
  readonly path: string;
  /** Method, header and query conditions; undefined when the match has none. */
  readonly match?: RouteMatch | undefined;
  /** Position of the match inside the route (rule-major), for the spec's tie-break. */
  readonly position: number;
}

type MatchRead = { pathType: PathType; path: string; match?: RouteMatch | undefined };

/**
 * Header or query conditions: the first of each name counts (names compared case-insensitively
 * for headers, exactly for query parameters), as the spec says; regexes must compile in RE2.
 */
function valueMatches(list: readonly HeaderMatch[] | undefined, field: string, caseInsensitive: boolean): ValueMatch[] | string {
  const seen = new Set<string>();
  const out: ValueMatch[] = [];
  for (const [k, entry] of (list ?? []).entries()) {
    const name = caseInsensitive ? entry.name.toLowerCase() : entry.name;
    if (seen.has(name)) continue;
    seen.add(name);
    const type = entry.type ?? 'Exact';
    if (type === 'RegularExpression') {
      const problem = regexProblem(entry.value);
      if (problem !== undefined) return `${field}[${k}].value: ${problem}`;
    }
    out.push({ name: entry.name, value: entry.value, type });
  }
  return out;
}

/** A RouteMatch from its parts, or undefined when it has none. */
function routeMatch(methods: readonly string[], headers: readonly ValueMatch[], query: readonly ValueMatch[]): RouteMatch | undefined {
  if (methods.length === 0 && headers.length === 0 && query.length === 0) return undefined;
  return { ...(methods.length > 0 ? { methods } : {}), ...(headers.length > 0 ? { headers } : {}), ...(query.length > 0 ? { query } : {}) };
}

/** A rule Portico serves: its matches, backends and filter/timeout policies. */
export interface ServedRule {
  readonly matches: readonly RuleMatch[];
  readonly backends: readonly Backend[];
  readonly policies?: RoutePolicies | undefined;
}

/** What a route's rules come to. */
export interface RouteRules {
  readonly served: ServedRule[];
  /** Rules dropped, with the field and why (status: PartiallyInvalid, or Accepted=False when none is left). */
  readonly dropped: { readonly field: string; readonly message: string; readonly reason?: 'UnsupportedValue' | 'IncompatibleFilters' }[];
  /** Backends that did not resolve (status: ResolvedRefs=False with the first reason). */
  readonly backendProblems: NonNullable<GatewayBackend['problem']>[];
}

/** Rules beyond this many matches per rule are the CRD's limit; positions are spaced by it. */
const MATCHES_PER_RULE = 64;

/** A rule's backends, and the filters of those that have their own (the route policy `backendFilters`). */
interface RuleBackends {
  readonly backends: Backend[];
  readonly filters: BackendFilterEntry[];
}

/**
 * Resolves a rule's backendRefs (at `field`) and reads each one's own filters; a filter Portico
 * cannot honour or that is invalid is a problem naming its backendRef and filter, and the rule is
 * not served as written (the first problem's reason goes to the route's status).
 */
function resolveAll(refs: readonly BackendRef[] | undefined, source: SourceRef, field: string, state: ClusterState, sets: EndpointSets, grpc: boolean, problems: RouteRules['backendProblems']): RuleBackends | FilterProblem[] {
  const backends: Backend[] = [];
  const filters: BackendFilterEntry[] = [];
  const refused: FilterProblem[] = [];
  for (const [k, ref] of (refs ?? []).entries()) {
    if ((ref.filters ?? []).length === 0) continue;
    const reading = backendRefFilters(ref.filters, `${field}.backendRefs[${k}]`);
    refused.push(...reading.problems);
    const { requestHeaderModifier, responseHeaderModifier } = reading;
    if (requestHeaderModifier !== undefined || responseHeaderModifier !== undefined) {
      const name = `${ref.namespace ?? source.namespace}/${ref.name}:${ref.port ?? ''}`;
      filters.push({ backend: k, name, ...(requestHeaderModifier === undefined ? {} : { requestHeaderModifier }), ...(responseHeaderModifier === undefined ? {} : { responseHeaderModifier }) });
    }
  }
  // A rule that is not served registers no endpoint sets and reports no references.
  if (refused.length !== 0) return refused;
  for (const [k, ref] of (refs ?? []).entries()) {
    const resolved = resolveBackendRef(ref, source, `${field}.backendRefs[${k}]`, state, sets, grpc);
    if (resolved.problem !== undefined) problems.push(resolved.problem);
    backends.push(resolved.backend);
  }
  return { backends, filters };
}

/** A dropped rule for `problems` (joined, with the spec reason of the worst). */
function droppedFor(field: string, problems: readonly FilterProblem[]): RouteRules['dropped'][number] {
  const reason = problems.some((p) => p.reason === 'IncompatibleFilters') ? 'IncompatibleFilters' : 'UnsupportedValue';
  return { field, message: problems.map((p) => `${p.field}: ${p.message}`).join('; '), reason };
}

/** `policies` with the backends' own filters added (undefined when there are neither). */
function withBackendFilters(policies: RoutePolicies | undefined, filters: readonly BackendFilterEntry[]): RoutePolicies | undefined {
  if (filters.length === 0) return policies;
  return { ...policies, backendFilters: { backends: [...filters] } };
}

/**
 * The matches of rule `index` (at `field`; `undefined` stands for a rule without matches, which
 * matches every path), or the first reason one cannot be honoured.
 */
function readMatches<M>(declared: readonly (M | undefined)[], field: string, index: number, read: (match: M, at: string) => MatchRead | string): RuleMatch[] | string {
  const matches: RuleMatch[] = [];
  for (const [j, match] of declared.entries()) {
    const at = match === undefined ? field : `${field}.matches[${j}]`;
    const got = match === undefined ? { pathType: 'Prefix' as const, path: '/' } : read(match, at);
    if (typeof got === 'string') return got;
    matches.push({ field: at, ...got, position: index * MATCHES_PER_RULE + j });
  }
  return matches;
}

/** Why an HTTPRoute match cannot be honoured, or its path and conditions. */
function httpMatch(match: HTTPRouteMatch, field: string): MatchRead | string {
  const headers = valueMatches(match.headers, `${field}.headers`, true);
  if (typeof headers === 'string') return headers;
  const query = valueMatches(match.queryParams, `${field}.queryParams`, false);
  if (typeof query === 'string') return query;
  const type = match.path?.type ?? 'PathPrefix';
  const path = match.path?.value ?? '/';
  if (type === 'RegularExpression') {
    const problem = regexProblem(path);
    if (problem !== undefined) return `${field}.path.value: ${problem}`;
  } else {
    const problem = pathProblem(path);
    if (problem !== undefined) return `${field}.path.value: ${problem}`;
  }
  const pathType: PathType = type === 'Exact' ? 'Exact' : type === 'RegularExpression' ? 'RegularExpression' : 'Prefix';
  return { pathType, path, match: routeMatch(match.method === undefined ? [] : [match.method], headers, query) };
}

/** A RequestMirror backendRef resolved as rule backendRefs are (its endpoint set registered), or why it cannot be used. */
function resolveMirror(ref: unknown, field: string, source: SourceRef, state: ClusterState, sets: EndpointSets): MirrorBackend | string {
  if (typeof ref !== 'object' || ref === null || typeof (ref as { name?: unknown }).name !== 'string') return `${field}: must name a Service (name, port)`;
  const resolved = resolveBackendRef(ref as BackendRef, source, field, state, sets, false);
  if (resolved.problem !== undefined) return resolved.problem.message;
  if (resolved.backend.protocol !== undefined) return `${field}: copies go out as HTTP/1.1, so an HTTP/2 (h2c) Service cannot be a mirror`;
  const { namespace, service, port, endpointSet } = resolved.backend;
  return { namespace, service, port, endpointSet };
}

/** Reads the rules of an HTTPRoute. Pure over `state`; registers endpoint sets in `sets`. */
export function httpRouteRules(route: HTTPRoute, source: SourceRef, state: ClusterState, sets: EndpointSets): RouteRules {
  const result: RouteRules = { served: [], dropped: [], backendProblems: [] };
  // The CRD defaults a missing rule list to one rule matching every path (without backends).
  const rules: readonly HTTPRouteRule[] = route.spec.rules ?? [{}];
  for (const [i, rule] of rules.entries()) {
    const field = `spec.rules[${i}]`;
    const declared = rule.matches === undefined || rule.matches.length === 0 ? [undefined] : rule.matches;
    const matches = readMatches(declared, field, i, httpMatch);
    if (typeof matches === 'string') {
      result.dropped.push({ field, message: matches });
      continue;
    }
    const unsupported = (['retry', 'sessionPersistence'] as const).find((key) => (rule as Record<string, unknown>)[key] !== undefined);
    if (unsupported !== undefined) {
      result.dropped.push({ field, message: `${field}.${unsupported}: not supported by Portico` });
      continue;
    }
    // Filters and timeouts are policy modules (gateway-filters.ts); any problem drops the rule whole.
    const matchPathTypes = declared.map((match) => match?.path?.type ?? 'PathPrefix');
    const filters = httpRouteFilters(rule.filters, field, { matchPathTypes, resolveMirror: (ref, at) => resolveMirror(ref, at, source, state, sets) });
    const timeouts = httpRouteTimeouts(rule.timeouts, field);
    const problems = [...filters.problems, ...timeouts.problems];
    if (problems.length > 0) {
      result.dropped.push(droppedFor(field, problems));
      continue;
    }
    const resolved = resolveAll(rule.backendRefs, source, field, state, sets, false, result.backendProblems);
    if (Array.isArray(resolved)) {
      result.dropped.push(droppedFor(field, resolved));
      continue;
    }
    const backends = resolved.backends;
    const policies = withBackendFilters(filters.policies === undefined && timeouts.policies === undefined ? undefined : { ...filters.policies, ...timeouts.policies }, resolved.filters);
    // The spec's 500: every backendRef invalid, or none at all and nothing that answers without one.
    const invalid = backends.length > 0 && backends.every((backend) => backend.endpointSet === undefined);
    const reason = invalid ? `every backendRef of ${field} is invalid` : backends.length === 0 && policies?.requestRedirect === undefined ? `${field} has no backendRefs` : undefined;
    result.served.push({ matches, backends, policies: reason === undefined ? policies : { ...policies, backendError: { status: 500, reason } } });
  }
  return result;
}

const GRPC_NAME = /^[A-Za-z0-9_.]+$/;

/** RE2 text matching `text` literally. */
function literal(text: string): string {
  return text.replace(/[\\^$.|?*+()[\]{}]/g, (c) => `\\${c}`);
}

/** Why a GRPCRoute match cannot be honoured, or the path it stands for (`/service/method`) and its header conditions. */
function grpcMatch(match: GRPCRouteMatch, field: string): MatchRead | string {
  const headers = valueMatches(match.headers, `${field}.headers`, true);
  if (typeof headers === 'string') return headers;
  const conditions = routeMatch([], headers, []);
  const method = match.method;
  if (method === undefined || (method.service === undefined && method.method === undefined)) return { pathType: 'Prefix', path: '/', match: conditions };
  if ((method.type ?? 'Exact') === 'RegularExpression') {
    const pattern = `/${method.service ?? '[^/]+'}/${method.method ?? '[^/]+'}`;
    const problem = regexProblem(pattern);
    if (problem !== undefined) return `${field}.method: the path pattern ${JSON.stringify(pattern)} ${problem}`;
    return { pathType: 'RegularExpression', path: pattern, match: conditions };
  }
  const bad = (['service', 'method'] as const).find((part) => method[part] !== undefined && !GRPC_NAME.test(method[part]));
  if (bad !== undefined) return `${field}.method.${bad}: ${JSON.stringify(method[bad])} is not a valid gRPC ${bad} name`;
  if (method.service !== undefined && method.method !== undefined) return { pathType: 'Exact', path: `/${method.service}/${method.method}`, match: conditions };
  if (method.service !== undefined) return { pathType: 'Prefix', path: `/${method.service}`, match: conditions };
  return { pathType: 'RegularExpression', path: `/[^/]+/${literal(method.method!)}`, match: conditions };
}

/** Reads the rules of a GRPCRoute: methods become paths (`/service/method`), backends speak gRPC. */
export function grpcRouteRules(route: GRPCRoute, source: SourceRef, state: ClusterState, sets: EndpointSets): RouteRules {
  const result: RouteRules = { served: [], dropped: [], backendProblems: [] };
  const rules = route.spec.rules ?? [{}];
  for (const [i, rule] of rules.entries()) {
    const field = `spec.rules[${i}]`;
    // GRPCRoute filters: the header modifiers (RequestRedirect and URLRewrite are not GRPCRoute filters).
    const filters = httpRouteFilters(rule.filters, field);
    const wrong = (rule.filters ?? []).findIndex((f) => f.type === 'RequestRedirect' || f.type === 'URLRewrite');
    if (filters.problems.length > 0 || wrong >= 0) {
      const message = wrong >= 0 ? `${field}.filters[${wrong}].type: ${rule.filters![wrong]!.type} is not a GRPCRoute filter` : filters.problems.map((p) => `${p.field}: ${p.message}`).join('; ');
      result.dropped.push({ field, message });
      continue;
    }
    const matches = readMatches(rule.matches === undefined || rule.matches.length === 0 ? [undefined] : rule.matches, field, i, grpcMatch);
    if (typeof matches === 'string') {
      result.dropped.push({ field, message: matches });
      continue;
    }
    const resolved = resolveAll(rule.backendRefs, source, field, state, sets, true, result.backendProblems);
    if (Array.isArray(resolved)) {
      result.dropped.push(droppedFor(field, resolved));
      continue;
    }
    result.served.push({ matches, backends: resolved.backends, policies: withBackendFilters(filters.policies, resolved.filters) });
  }
  return result;
}

/** The model route for one match on one host. */
export function toModelRoute(source: SourceRef, created: string, match: RuleMatch, rule: ServedRule): Route {
  return {
    source,
    field: match.field,
    pathType: match.pathType,
    path: match.path,
    backends: rule.backends,
    redirect: redirectPolicyOf(false, false),
    created,
    ...(match.match === undefined ? {} : { match: match.match }),
    ...(rule.policies === undefined ? {} : { policies: rule.policies }),
  };
}
