/**
 * The matcher's input: a routing table reduced to what lookup and endpoint choice need.
 *
 * This is the contract between whoever produces routes (the control plane's snapshot) and the
 * WebAssembly matcher. It knows nothing of Kubernetes. Route and endpoint *ids* are indexes into
 * the arrays below; the matcher answers with those ids and the host keeps the metadata.
 *
 * Semantics (see docs/matching.md):
 * - A request picks exactly one host entry: exact host, else the one-label wildcard, else the
 *   any-host entry (`host: '*'`). There is no fall-through to a less specific host's paths.
 * - Inside that host: an Exact path equal to the request path, else the longest element-wise
 *   Prefix. Among entries with the same path key, the first (in array order) whose conditions
 *   hold wins; when none holds the search goes on to shorter prefixes.
 * - Nothing matched inside the host: the host's `fallback` route, else the table's `fallback`,
 *   else no match (404).
 */
export interface MatcherTable {
  readonly hosts: readonly HostEntry[];
  readonly routes: readonly RouteEntry[];
  /** Number of distinct endpoints; health flags are kept per endpoint id. */
  readonly endpointCount: number;
  /** Route id that catches requests no host entry or path handles, or -1 for 404. */
  readonly fallback: number;
}

/** One virtual host. */
export interface HostEntry {
  /** Lower-case `foo.com`, one-label wildcard `*.foo.com`, or `*` for any host. Unique in a table. */
  readonly host: string;
  readonly paths: readonly PathEntry[];
  /** Route id for requests to this host that match no path, or -1 (then the table's fallback applies). */
  readonly fallback: number;
}

/** How a rule's path compares with the request path. `ImplementationSpecific` is mapped to Prefix upstream. */
export type PathType = 'Exact' | 'Prefix';

/** One path rule inside a host. */
export interface PathEntry {
  readonly pathType: PathType;
  /** Starts with `/`. For Prefix, trailing slashes are insignificant (`/foo/` ≡ `/foo`). */
  readonly path: string;
  /** The route id this rule selects. */
  readonly route: number;
  /** Extra conditions; all must hold. Absent means none. */
  readonly conditions?: RouteConditions;
}

/** Request conditions beyond host and path. */
export interface RouteConditions {
  /** Upper-case methods; absent or empty means any method. */
  readonly methods?: readonly string[];
  /** Header equality (name case-insensitive, value exact). */
  readonly headers?: readonly HeaderCondition[];
}

/** A header that must be present with exactly this value. */
export interface HeaderCondition {
  readonly name: string;
  readonly value: string;
}

/** A route's weighted backends. A route with no backend (or no healthy endpoint) answers 503. */
export interface RouteEntry {
  readonly backends: readonly BackendEntry[];
}

/** One backend of a route: a weight and the endpoint ids behind it. */
export interface BackendEntry {
  /** Non-negative integer. Weight 0 never receives traffic. */
  readonly weight: number;
  /** Endpoint ids (indexes below `MatcherTable.endpointCount`), each with weight 1. */
  readonly endpoints: readonly number[];
}

/** Methods the matcher knows by bit; any other method only matches routes without a method condition. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;
