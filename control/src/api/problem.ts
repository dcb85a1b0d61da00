/**
 * Error answers of the control API: RFC 9457 `application/problem+json` bodies carrying the stable
 * `PORTICO_E_*` code, JSON-pointer field errors for validation failures, and the conflicting
 * objects for host/path conflicts. Never a stack trace: unknown errors become a bare 500.
 */
import type { Context } from 'hono';
import { z } from 'zod';
import type { PorticoErrorCode } from '../errors.ts';
import { PorticoError } from '../errors.ts';

/** One invalid field: an RFC 6901 JSON pointer into the request body, and why. */
export interface FieldError {
  readonly pointer: string;
  readonly reason: string;
}

/** An existing object whose claim a write collides with. */
export interface ConflictRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** What both claim, e.g. `host a.example.com Prefix /api`. */
  readonly claim: string;
  /** Dotted field of the existing object that holds the claim. */
  readonly field: string;
  /** JSON pointer of the colliding part of the request body. */
  readonly pointer: string;
}

/** An error the API answers with a specific status and extra members. */
export class ApiError extends PorticoError {
  readonly status: number;
  readonly errors: readonly FieldError[] | undefined;
  readonly conflicts: readonly ConflictRef[] | undefined;

  constructor(code: PorticoErrorCode, message: string, extra: { errors?: readonly FieldError[]; conflicts?: readonly ConflictRef[]; cause?: unknown; status?: number } = {}) {
    super(code, message, { cause: extra.cause });
    this.name = 'ApiError';
    this.status = extra.status ?? STATUS_BY_CODE[code] ?? 500;
    this.errors = extra.errors;
    this.conflicts = extra.conflicts;
  }
}

/** The HTTP status of each code the API answers with; anything else is a 500. */
export const STATUS_BY_CODE: Partial<Record<PorticoErrorCode, number>> = {
  PORTICO_E_BAD_REQUEST: 400,
  PORTICO_E_USAGE: 400,
  PORTICO_E_UNAUTHENTICATED: 401,
  PORTICO_E_FORBIDDEN: 403,
  PORTICO_E_NOT_FOUND: 404,
  PORTICO_E_GONE: 410,
  PORTICO_E_ROUTE_EXISTS: 409,
  PORTICO_E_ROUTE_CONFLICT: 409,
  PORTICO_E_PRECONDITION_FAILED: 412,
  PORTICO_E_PAYLOAD_TOO_LARGE: 413,
  PORTICO_E_UNSUPPORTED_MEDIA_TYPE: 415,
  PORTICO_E_ROUTE_INVALID: 422,
  PORTICO_E_BODY_LIMIT: 422,
  PORTICO_E_PARSER_BUSY: 503,
  PORTICO_E_PARSER_FAILED: 503,
  PORTICO_E_MANIFEST_SCHEMA: 422,
  PORTICO_E_PRECONDITION_REQUIRED: 428,
  PORTICO_E_STORE: 503,
  PORTICO_E_NOT_READY: 503,
  PORTICO_E_AUTH_BACKEND: 503,
};

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  428: 'Precondition Required',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
};

/** The problem document every error answer carries (also the OpenAPI component `Problem`). */
export const Problem = z
  .object({
    status: z.number().int(),
    title: z.string(),
    code: z.string().describe('Stable PORTICO_E_* code; match on this, never on detail.'),
    detail: z.string(),
    errors: z.array(z.object({ pointer: z.string(), reason: z.string() })).optional(),
    conflicts: z
      .array(z.object({ kind: z.string(), namespace: z.string(), name: z.string(), claim: z.string(), field: z.string(), pointer: z.string() }))
      .optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details with a stable Portico error code.' });
export type Problem = z.infer<typeof Problem>;

/** The problem document for an error; unknown errors say nothing about their insides. */
export function problemOf(error: unknown): Problem {
  if (error instanceof ApiError) {
    return {
      status: error.status,
      title: TITLES[error.status] ?? 'Error',
      code: error.code,
      detail: error.message,
      ...(error.errors ? { errors: [...error.errors] } : {}),
      ...(error.conflicts ? { conflicts: [...error.conflicts] } : {}),
    };
  }
  if (error instanceof PorticoError) {
    const status = STATUS_BY_CODE[error.code] ?? 500;
    return { status, title: TITLES[status] ?? 'Error', code: error.code, detail: status === 500 ? 'internal error' : error.message };
  }
  return { status: 500, title: TITLES[500]!, code: 'PORTICO_E_INTERNAL', detail: 'internal error; see the control plane log' };
}

/** Sends a problem document. */
export function sendProblem(c: Context, problem: Problem): Response {
  return c.body(JSON.stringify(problem), problem.status as 400, { 'Content-Type': 'application/problem+json' });
}

/** Renders a path of keys as an RFC 6901 JSON pointer (`/paths/0/backends/1/port`). */
export function jsonPointer(path: readonly PropertyKey[]): string {
  return path.map((part) => `/${String(part).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('');
}

/** Converts a dotted Kubernetes field path (`spec.rules[0].http.paths[1].path`) to a JSON pointer. */
export function pointerOfField(field: string): string {
  const parts: string[] = [];
  for (const match of field.matchAll(/([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]/g)) parts.push(match[1] ?? match[2] ?? match[3] ?? '');
  return jsonPointer(parts);
}

/** A 422 from zod issues, with pointers prefixed by `base`. */
export function invalid(message: string, issues: readonly { path: readonly PropertyKey[]; message: string }[], base: readonly PropertyKey[] = []): ApiError {
  return new ApiError('PORTICO_E_ROUTE_INVALID', message, { errors: issues.map((issue) => ({ pointer: jsonPointer([...base, ...issue.path]), reason: issue.message })) });
}
