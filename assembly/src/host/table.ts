/**
 * The matcher's input: a routing table reduced to what lookup and endpoint choice need.
 *
 * This is the contract between whoever produces routes (the control plane's snapshot) and the
 * WebAssembly matcher. It knows nothing of Kubernetes. Route and endpoint *ids* are indexes into
 * the arrays below; the matcher answers with those ids and the host keeps the metadata.
 *
 * Semantics (see docs/matching.md):
 * - A request picks exactly one host entry: exact host, else the one-label wildcard (`labels`
 *   'one' or 'many'), else the longest multi-label wildcard suffix (`labels` 'many' or 'deeper'),
 *   else the any-host entry (`host: '*'`). There is no fall-through to a less specific host's paths.
 * - Inside that host: an Exact path equal to the request path, else the RegularExpression
 *   entries in array order, else the longest element-wise Prefix. Among entries with the same
 *   path key, the first (in array order) whose conditions hold wins; when none holds the search
 *   goes on (to the regex entries, then to shorter prefixes).
 * - Nothing matched inside the host: the host's `fallback` route, else the table's `fallback`,
 *   else no match (404).
 */
export interface MatcherTable {
  readonly hosts: readonly HostEntry[];
  readonly routes: readonly RouteEntry[];
  /**
   * The endpoint sets, by set id: each the endpoint ids (below `endpointCount`, each of weight 1)
   * behind the backends that name it. Routes on one set share its endpoint rotation.
   */
  readonly sets: readonly (readonly number[])[];
  /** Number of distinct endpoints; health flags are kept per endpoint id. */
  readonly endpointCount: number;
  /** Route id that catches requests no host entry or path handles, or -1 for 404. */
  readonly fallback: number;
}

/** One virtual host. */
export interface HostEntry {
  /**
   * Lower-case `foo.com`, wildcard `*.foo.com`, or `*` for any host. Unique in a table, except
   * that a wildcard may appear twice: once with `labels` 'one' (or absent) and once 'deeper'.
   */
  readonly host: string;
  /**
   * How many labels a wildcard's `*` stands for: 'one' (absent; Kubernetes Ingress), 'many' (one
   * or more; Gateway API), 'deeper' (two or more: the Gateway API routes of a wildcard host whose
   * one-label entry also holds Ingress routes). Only for `*.` hosts.
   */
  readonly labels?: WildcardLabels;
  readonly paths: readonly PathEntry[];
  /** Route id for requests to this host that match no path, or -1 (then the table's fallback applies). */
  readonly fallback: number;
  /**
   * Route ids that belong with this host though no path of it names them (its mirror and
   * default-backend routes, a regex host's later paths): the encoder keeps them in the host's part
   * of the table, so they move with it. Absent means none.
   */
  readonly extraRoutes?: readonly number[];
}

/** How many labels a wildcard host's `*` stands for (see HostEntry.labels). */
export type WildcardLabels = 'one' | 'many' | 'deeper';

/**
 * How a rule's path compares with the request path. `ImplementationSpecific` is mapped to Prefix
 * upstream. `RegularExpression`: `path` is an RE2 pattern the whole request path (query excluded)
 * must match, case-sensitively.
 */
export type PathType = 'Exact' | 'Prefix' | 'RegularExpression';

/** One path rule inside a host. */
export interface PathEntry {
  readonly pathType: PathType;
  /** Starts with `/` (a regex: any RE2 pattern). For Prefix, trailing slashes are insignificant (`/foo/` ≡ `/foo`). */
  readonly path: string;
  /** The route id this rule selects. */
  readonly route: number;
  /** Extra conditions; all must hold. Absent means none. */
  readonly conditions?: RouteConditions;
}

/** Request conditions beyond host and path; all must hold. */
export interface RouteConditions {
  /** Upper-case methods; absent or empty means any method. */
  readonly methods?: readonly string[];
  /** Headers (name case-insensitive); a header sent on several lines matches when any line's value does. */
  readonly headers?: readonly HeaderCondition[];
  /** Query parameters (name case-sensitive, percent-decoded; a repeated parameter is judged by its first value). */
  readonly query?: readonly QueryCondition[];
}

/** How a condition compares a value: equality, or an RE2 pattern the whole value must match. */
export type ValueMatchType = 'Exact' | 'RegularExpression';

/** A header that must be present with exactly this value (or, with `type` RegularExpression, a value the pattern matches whole). */
export interface HeaderCondition {
  readonly name: string;
  readonly value: string;
  /** Absent means Exact. */
  readonly type?: ValueMatchType;
}

/** A query parameter that must be present with this value (see HeaderCondition). */
export interface QueryCondition {
  readonly name: string;
  readonly value: string;
  readonly type?: ValueMatchType;
}

/** A route's weighted backends. A route with no backend (or no healthy endpoint) answers 503. */
export interface RouteEntry {
  readonly backends: readonly BackendEntry[];
}

/** One backend of a route: a weight and the endpoint set behind it. */
export interface BackendEntry {
  /** Non-negative integer. Weight 0 never receives traffic. */
  readonly weight: number;
  /** Its endpoint set: an index into `MatcherTable.sets` (an empty set gets no traffic). */
  readonly set: number;
}

/** Methods the matcher knows by bit; any other method only matches routes without a method condition. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
