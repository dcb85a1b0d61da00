/**
 * gRPC at the edge, as pure decisions: whether a request is a gRPC call (its content-type), its
 * deadline (`grpc-timeout`), and how an answer Portico gives itself (no endpoint, connect failure,
 * timeout, refusal) is said to a gRPC client: a trailers-only response (`:status` 200,
 * `content-type: application/grpc`, `grpc-status`, `grpc-message`) instead of an HTML or text
 * body, with the status the gRPC spec's HTTP mapping gives, except that Portico's own timeouts
 * (504) are DEADLINE_EXCEEDED.
 */

import type { GrpcAnswer } from '@portico/control/snapshot/policies/module';

/** gRPC status codes Portico answers with (grpc/doc/statuscodes.md). */
export const GRPC_UNKNOWN = 2;
export const GRPC_DEADLINE_EXCEEDED = 4;
export const GRPC_PERMISSION_DENIED = 7;
export const GRPC_RESOURCE_EXHAUSTED = 8;
export const GRPC_UNIMPLEMENTED = 12;
export const GRPC_INTERNAL = 13;
export const GRPC_UNAVAILABLE = 14;
export const GRPC_UNAUTHENTICATED = 16;

const GRPC_CONTENT_TYPE = /^application\/grpc/i;

/** Whether a content-type names a gRPC call (`application/grpc`, `application/grpc+proto`, `application/grpc-web…`). Makes no string (it runs per request). */
export function isGrpcContentType(contentType: string | undefined): boolean {
  return contentType !== undefined && GRPC_CONTENT_TYPE.test(contentType);
}

/**
 * The gRPC status for an HTTP status Portico answers with: 400 → INTERNAL, 401 → UNAUTHENTICATED,
 * 403 → PERMISSION_DENIED, 404/405/501 → UNIMPLEMENTED, 408/504 → DEADLINE_EXCEEDED, 413/431 →
 * RESOURCE_EXHAUSTED, 429/502/503 → UNAVAILABLE, anything else → UNKNOWN.
 */
export function grpcStatusOf(httpStatus: number): number {
  switch (httpStatus) {
    case 400: return GRPC_INTERNAL;
    case 401: return GRPC_UNAUTHENTICATED;
    case 403: return GRPC_PERMISSION_DENIED;
    case 404:
    case 405:
    case 501: return GRPC_UNIMPLEMENTED;
    case 408:
    case 504: return GRPC_DEADLINE_EXCEEDED;
    case 413:
    case 431: return GRPC_RESOURCE_EXHAUSTED;
    case 429:
    case 502:
    case 503: return GRPC_UNAVAILABLE;
    default: return GRPC_UNKNOWN;
  }
}

const MESSAGES: Record<number, string> = {
  400: 'request refused by Portico (malformed)',
  401: 'authentication required by Portico',
  403: 'forbidden by Portico',
  404: 'no route for this host and path in Portico',
  405: 'method not allowed by Portico',
  408: 'client too slow for Portico',
  413: 'request too large for Portico',
  429: 'rate limited by Portico',
  431: 'request headers too large for Portico',
  501: 'not implemented by Portico',
  502: 'Portico could not reach a healthy endpoint (connect failed or endpoint broke the exchange)',
  503: 'no endpoint available in Portico (none ready, refused route, or endpoint at its connection limit)',
  504: 'deadline exceeded in Portico (connect, read or grpc-timeout)',
};

/**
 * The headers of Portico's trailers-only gRPC answer for `httpStatus`, or for `grpc` when the
 * answer names its own gRPC status (grpc-message percent-encoded as the spec asks).
 */
export function grpcErrorHeaders(httpStatus: number, grpc?: GrpcAnswer): Record<string, string | number> {
  const message = grpc?.message ?? MESSAGES[httpStatus] ?? `Portico answered HTTP ${httpStatus}`;
  return { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(grpc?.status ?? grpcStatusOf(httpStatus)), 'grpc-message': encodeURIComponent(message) };
}

/** Milliseconds per `grpc-timeout` unit. */
const UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The deadline a `grpc-timeout` value gives, in whole milliseconds (at least 1), or -1 when the
 * value is not `1*8DIGIT unit` (unit H, M, S, m, u, n): an unreadable deadline is ignored, as
 * the route's own timeouts still apply.
 */
export function parseGrpcTimeout(value: string | undefined): number {
  if (value === undefined || value.length < 2 || value.length > 9) return -1;
  const unit = UNITS[value[value.length - 1] as string];
  const digits = value.slice(0, -1);
  if (unit === undefined || !/^\d+$/.test(digits)) return -1;
  return Math.max(1, Math.ceil(Number(digits) * unit));
}
