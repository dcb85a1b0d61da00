/** Stable error codes. Tests match on these, never on messages. */
export type PorticoErrorCode =
  | 'PORTICO_E_MANIFEST_READ'
  /** A cluster could not be read (`portico check --kubeconfig`): unreachable, refused, or not listed before the deadline. */
  | 'PORTICO_E_CLUSTER_READ'
  | 'PORTICO_E_MANIFEST_PARSE'
  | 'PORTICO_E_MANIFEST_SCHEMA'
  | 'PORTICO_E_SNAPSHOT_INVALID'
  | 'PORTICO_E_USAGE'
  | 'PORTICO_E_REQUESTS_FILE'
  // The control API (HTTP status in parentheses; see control/src/api/problem.ts).
  /** The request body or query is malformed: not JSON/YAML, trailing garbage, bad parameter (400). */
  | 'PORTICO_E_BAD_REQUEST'
  /** No or an unknown bearer token (401). */
  | 'PORTICO_E_UNAUTHENTICATED'
  /** The caller may not do this (403): RBAC said no, or a data plane asked for more than sync. */
  | 'PORTICO_E_FORBIDDEN'
  /** No such route, snapshot version, node or endpoint (404). */
  | 'PORTICO_E_NOT_FOUND'
  /** The snapshot version is listed but only as a summary: its full content is no longer kept (410). */
  | 'PORTICO_E_GONE'
  /** A route of that namespace/name already exists, or the name is taken by an object Portico does not manage (409). */
  | 'PORTICO_E_ROUTE_EXISTS'
  /** The route claims a host/path (or default backend) another route already claims (409). */
  | 'PORTICO_E_ROUTE_CONFLICT'
  /** If-Match named a version that is no longer current: someone else wrote first (412). */
  | 'PORTICO_E_PRECONDITION_FAILED'
  /** A replace of an existing route without If-Match (428): never a silent overwrite. */
  | 'PORTICO_E_PRECONDITION_REQUIRED'
  /** The body breaks a parsing limit other than its size: too many keys, too deep, too many aliases (422). */
  | 'PORTICO_E_BODY_LIMIT'
  /** Too many parses are waiting for the parser thread (503). */
  | 'PORTICO_E_PARSER_BUSY'
  /** The parser thread failed, ran out of memory or time (503 for a request). */
  | 'PORTICO_E_PARSER_FAILED'
  /** The body is larger than the limit (413). */
  | 'PORTICO_E_PAYLOAD_TOO_LARGE'
  /** The body's Content-Type is not one the endpoint reads (415). */
  | 'PORTICO_E_UNSUPPORTED_MEDIA_TYPE'
  /** The route or Ingress is invalid or cannot be represented 1:1 (422, with JSON-pointer fields). */
  | 'PORTICO_E_ROUTE_INVALID'
  /** No snapshot has been published yet (503). */
  | 'PORTICO_E_NOT_READY'
  /** The route store (SQLite file or Kubernetes API) failed (503 / 502). */
  | 'PORTICO_E_STORE'
  /** The Kubernetes API could not check a token or permission (503). */
  | 'PORTICO_E_AUTH_BACKEND'
  /** The control API answered a CLI or data-plane call with an error. */
  | 'PORTICO_E_API';

/** A programmer or operator mistake that stops the current operation; user object mistakes are conditions instead. */
export class PorticoError extends Error {
  readonly code: PorticoErrorCode;

  constructor(code: PorticoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PorticoError';
    this.code = code;
  }
}
