/**
 * Explain: which rule a request reaches and why, decided by the same WebAssembly matcher the
 * data plane runs, with the rules that lost and why they lost.
 */
import type { Matcher } from '@portico/assembly/matcher';
import { loadMatcher } from '@portico/assembly/matcher';
import { isPathRefusal, normalizePath } from '@portico/assembly/normalize';
import { pathRuleMatches } from '../build/validate.ts';
import { applyPolicy, preparePolicies } from '../snapshot/policies/registry.ts';
import { httpsRedirectTarget } from '../snapshot/policies/trailing-slash.ts';
import { compilePathRegex } from '../snapshot/regex.ts';
import type { Snapshot, SnapshotBackend, SnapshotRoute } from '../snapshot/schema.ts';
import type { CompiledTable, RouteTarget } from '../snapshot/table.ts';
import type { RegexDispatch } from '../snapshot/regex.ts';
import { isGatewayRoute, regexDispatchOf, resolveRoute, toMatcherTable } from '../snapshot/table.ts';

/** A request to explain. */
export interface ExplainRequest {
  readonly host: string;
  readonly path: string;
  readonly method?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** The scheme the request arrives with; redirects apply to `http` only. Default `http`. */
  readonly scheme?: 'http' | 'https' | undefined;
  /** The client address source-range and limit policies see; default none (inside no allowlist). */
  readonly client?: string | undefined;
}

/** The route a request reached, as a user would look it up with kubectl. */
export interface ExplainedRoute {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** The rule's host (`*` for a rule without host), or null for the catch-all default backend. */
  readonly host: string | null;
  /** null for a default backend. */
  readonly path: string | null;
  readonly pathType: SnapshotRoute['pathType'] | null;
  readonly field: string;
}

/** A candidate backend with its effective weight (0 when it has no endpoint). */
export interface ExplainedBackend {
  readonly namespace: string;
  readonly service: string;
  readonly port: number | string;
  readonly weight: number;
  readonly endpoints: number;
}

/** A rule that could have applied and did not. */
export interface LosingRule {
  readonly route: ExplainedRoute;
  readonly reason: string;
}

/** The answer for one request. */
export interface ExplainResult {
  /**
   * 200 would be proxied; 308 redirect to HTTPS; 400 the path is refused; 404 no rule; 503 no
   * endpoint, or the rule is refused; or what an annotation policy answers (e.g. 301).
   */
  readonly status: number;
  /** The path (and query) as matched and forwarded, when normalization changed it. */
  readonly normalizedPath?: string;
  readonly backends: readonly ExplainedBackend[];
  readonly route: ExplainedRoute | null;
  readonly location?: string;
  /** The request-target forwarded upstream, when an annotation policy rewrites it. */
  readonly forwardedTarget?: string;
  /** The annotation policies of the rule, one line each (absent when it has none). */
  readonly policies?: readonly string[];
  /** One sentence: why this rule won (or why nothing did). */
  readonly reason: string;
  readonly lost: readonly LosingRule[];
}

/** Options that change what the data plane would answer. */
export interface ExplainOptions {
  /** HTTPS port used in redirect locations (omitted from the URL when 443). */
  readonly httpsPort?: number;
}

/** A snapshot loaded for explaining many requests. */
export class Explainer {
  readonly snapshot: Snapshot;
  private readonly compiled: CompiledTable;
  private readonly matcher: Matcher;
  /** Regex hosts' dispatch by route id, as the data plane has it. */
  readonly regex: readonly (RegexDispatch | undefined)[];

  constructor(snapshot: Snapshot) {
    this.snapshot = snapshot;
    this.compiled = toMatcherTable(snapshot);
    this.matcher = loadMatcher(this.compiled.table);
    this.regex = regexDispatchOf(this.compiled.regexHosts);
  }

  /**
   * Explains one request. Never throws for any request shape. The path is normalized first, as
   * the data plane does (default choices of docs/matching.md); a path it refuses explains as 400.
   */
  explain(request: ExplainRequest, options: ExplainOptions = {}): ExplainResult {
    const normalized = normalizePath(request.path);
    if (isPathRefusal(normalized)) return { status: 400, backends: [], route: null, reason: `the path is refused before matching (${normalized}): see docs/matching.md`, lost: [] };
    if (normalized !== request.path) return { ...this.explainNormalized({ ...request, path: normalized }, options), normalizedPath: normalized };
    return this.explainNormalized(request, options);
  }

  private explainNormalized(request: ExplainRequest, options: ExplainOptions): ExplainResult {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    const id = resolveRoute(this, this.matcher.match(request.host, request.path, (request.method ?? 'GET').toUpperCase(), headers), request.path);
    const host = normalizeHost(request.host);
    const path = request.path.split('?')[0] ?? request.path;
    if (id < 0) {
      return { status: 404, backends: [], route: null, reason: `no rule matches host ${host} path ${path}, and there is no default backend`, lost: this.losers(host, path, undefined) };
    }
    const target = this.compiled.routes[id]!;
    const route = describeRoute(target);
    const backends = target.route.backends.map((backend: SnapshotBackend, index: number) => {
      const endpoints = target.endpointIds[index]?.length ?? 0;
      return { namespace: backend.namespace, service: backend.service, port: backend.port, weight: endpoints > 0 ? backend.weight : 0, endpoints };
    });
    const lost = this.losers(host, path, target);
    const reason = winReason(target, host);
    const redirect = target.route.redirect;
    const scheme = request.scheme ?? 'http';
    const toHttps = scheme === 'http' && (redirect.sslRedirect || redirect.forceSslRedirect);
    const unavailable = target.route.refused !== undefined || backends.every((backend) => backend.weight === 0);
    // The same pipeline the data plane runs, in the same phase order around the HTTPS redirect.
    const policy = preparePolicies(target.route.policies, { path: route.path ?? undefined, regex: 'regex' in target.route && target.route.regex === true });
    const outcome = policy === undefined ? undefined : applyPolicy(policy, toHttps ? 'redirect' : unavailable ? 'unavailable' : 'proxy', {
            scheme,
            host: request.host,
            path: request.path,
            target: request.path,
            method: (request.method ?? 'GET').toUpperCase(),
            client: request.client ?? '',
            header: (name) => headers[name],
          });
    const applied = policy === undefined ? {} : { policies: policy.descriptions };
    if (outcome?.answer !== undefined) {
      const location = outcome.answer.headers.find(([name]) => name === 'Location')?.[1];
      return { status: outcome.answer.status, backends, route, ...(location === undefined ? {} : { location }), reason: `${reason}; answered by its annotation policies: ${policy!.descriptions.join('; ')}`, lost, ...applied };
    }
    if (toHttps) {
      const port = options.httpsPort !== undefined && options.httpsPort !== 443 ? `:${options.httpsPort}` : '';
      const why = redirect.forceSslRedirect ? 'force-ssl-redirect is "true"' : 'the host has TLS and ssl-redirect is not "false"';
      const uri = httpsRedirectTarget(request.path, target.route.policies?.preserveTrailingSlash === true);
      return { status: 308, backends, route, location: `https://${host}${port}${uri}`, reason: `${reason}; redirected to HTTPS because ${why}`, lost, ...applied };
    }
    if (target.route.refused !== undefined) {
      return { status: 503, backends, route, reason: `${reason}; but the rule is refused: ${target.route.refused}`, lost, ...applied };
    }
    if (unavailable && target.route.backends.some((backend) => backend.invalid === true)) {
      return { status: 500, backends, route, reason: `${reason}; but its backend references are invalid (Gateway API: their share answers 500)`, lost, ...applied };
    }
    const fallback = target.route.policies?.defaultBackend;
    const fallbackEndpoints = fallback?.endpointSet == null ? 0 : (this.snapshot.endpointSets.find((set) => set.key === fallback.endpointSet)?.endpoints.length ?? 0);
    if (unavailable && fallback !== undefined && fallbackEndpoints > 0 && target.kind !== 'default') {
      return { status: 200, backends, route, reason: `${reason}; no backend has a ready endpoint, so its default backend Service ${fallback.namespace}/${fallback.service}:${fallback.port} answers (X-Code: 503; its status reaches the client)`, lost, ...applied };
    }
    if (unavailable) {
      return { status: 503, backends, route, reason: `${reason}; but no backend has a ready endpoint${fallback === undefined ? '' : ', nor its default backend'}`, lost, ...applied };
    }
    const forwarded = outcome?.target === undefined ? {} : { forwardedTarget: outcome.target };
    return { status: 200, backends, route, reason, lost, ...forwarded, ...applied };
  }

  /** Rules on hosts that match the request which did not win, each with why. */
  private losers(host: string, path: string, winner: RouteTarget | undefined): LosingRule[] {
    const lost: LosingRule[] = [];
    const chosenHost = winner?.host;
    for (const vhost of this.snapshot.hosts) {
      const hostMatch = hostMatches(vhost.host, host, vhost.routes.some(isGatewayRoute));
      if (hostMatch === undefined) continue;
      const hostLost = chosenHost !== undefined && vhost.host !== chosenHost;
      for (const route of vhost.routes) {
        if (winner !== undefined && winner.route === route) continue;
        const target: RouteTarget = { kind: 'path', host: vhost.host, route, endpointIds: [] };
        const explained = describeRoute(target);
        if (hostLost) {
          lost.push({ route: explained, reason: `host ${vhost.host} (${hostMatch}) matches, but the more specific host ${chosenHost} was chosen` });
        } else if (route.regex === true) {
          const compiled = compilePathRegex(route.path);
          const matches = !('problem' in compiled) && compiled.regex.matcher(path).find();
          lost.push({ route: explained, reason: matches ? `regex path ^${route.path} matches, but a longer regex path comes first` : `regex path ^${route.path} (case-insensitive) does not match ${path}` });
        } else if (!pathRuleMatches(route.pathType, route.path, path)) {
          lost.push({ route: explained, reason: `${route.pathType} path ${route.path} does not match ${path}` });
        } else if (route.match !== undefined) {
          lost.push({ route: explained, reason: `${route.pathType} path ${route.path} matches, but its method/header/query conditions do not hold, or a rule of higher precedence wins` });
        } else {
          lost.push({ route: explained, reason: `${route.pathType} path ${route.path} matches, but a longer (or Exact) rule wins` });
        }
      }
    }
    return lost;
  }
}

/** Lower-case host without port or trailing dot. */
function normalizeHost(raw: string): string {
  let host = raw.trim().toLowerCase();
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    host = end > 0 ? host.slice(0, end + 1) : host;
  } else {
    const colon = host.indexOf(':');
    if (colon >= 0) host = host.slice(0, colon);
  }
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

/**
 * How a snapshot host matches a request host, or undefined. `deep`: the wildcard takes one or
 * more labels (Gateway API routes), else exactly one (Ingress).
 */
function hostMatches(ruleHost: string, host: string, deep = false): 'exact' | 'wildcard' | 'any host' | undefined {
  if (ruleHost === '*') return 'any host';
  if (ruleHost === host) return 'exact';
  if (ruleHost.startsWith('*.')) {
    const dot = host.indexOf('.');
    if (dot > 0 && host.slice(dot) === ruleHost.slice(1)) return 'wildcard';
    const suffix = ruleHost.slice(1);
    if (deep && host.endsWith(suffix) && host.length > suffix.length && !host.slice(0, -suffix.length).split('.').includes('')) return 'wildcard';
  }
  return undefined;
}

function describeRoute(target: RouteTarget): ExplainedRoute {
  const route = target.route;
  const isPath = 'path' in route;
  return {
    kind: route.source.kind,
    namespace: route.source.namespace,
    name: route.source.name,
    host: target.host ?? null,
    path: isPath ? route.path : null,
    pathType: isPath ? route.pathType : null,
    field: route.field,
  };
}

function winReason(target: RouteTarget, host: string): string {
  const route = target.route;
  const hostKind = target.host === undefined ? '' : (hostMatches(target.host, host, isGatewayRoute(route)) ?? 'any host');
  if (target.kind === 'default') return 'no rule matches; the catch-all default backend answers';
  if (target.kind === 'host-default') return `host ${target.host} (${hostKind}) has no matching path; its default backend answers`;
  const pathRoute = route as SnapshotRoute;
  const how = pathRoute.regex === true ? 'the first (longest) matching case-insensitive regex path:' : pathRoute.pathType === 'Exact' ? 'the Exact path equal to the request path:' : pathRoute.pathType === 'RegularExpression' ? 'no Exact path, the first regular expression matching the whole path:' : 'the longest matching Prefix:';
  const conditions = pathRoute.match === undefined ? '' : ' whose method/header/query conditions hold';
  return `host ${target.host} (${hostKind}) selected; ${how} ${pathRoute.path} (${pathRoute.pathType})${conditions}`;
}
