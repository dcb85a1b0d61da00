/**
 * One declaration per operation, used twice: to register the Hono handler (with zod-validated
 * path and query parameters) and to generate the OpenAPI 3.1 document served at `/openapi.json`.
 * The document's schemas come from the same zod schemas the handlers use (`z.toJSONSchema`,
 * JSON Schema 2020-12, which OpenAPI 3.1 speaks natively), so the two cannot drift apart.
 */
import type { Context, Hono } from 'hono';
import type { ApiEnv } from './context.ts';
import { z } from 'zod';
import { ApiError, Problem, jsonPointer } from './problem.ts';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** A documented response. */
export interface ResponseSpec {
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default `application/json`. */
  readonly mediaType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A documented operation. */
export interface OperationSpec<P extends z.ZodType = z.ZodType, Q extends z.ZodType = z.ZodType> {
  readonly method: Method;
  /** OpenAPI path, `{param}` style. */
  readonly path: string;
  readonly operationId: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly params?: P;
  readonly query?: Q;
  /** Request headers worth documenting (If-Match and the like). */
  readonly headers?: readonly { name: string; description: string }[];
  readonly body?: { readonly schema: z.ZodType; readonly mediaTypes: readonly string[]; readonly description?: string };
  readonly responses: Readonly<Record<number, ResponseSpec>>;
  /** False for the unauthenticated endpoints. Default true. */
  readonly authenticated?: boolean;
}

/** Parsed inputs handed to a handler. */
export interface Inputs<P, Q> {
  readonly params: P;
  readonly query: Q;
}

const ERROR_RESPONSES: Record<number, string> = {
  400: 'Malformed request (parameters or body).',
  401: 'No or invalid bearer token.',
  403: 'The token may not do this.',
  404: 'Not found.',
  405: 'Method not allowed on this path.',
  500: 'Internal error (no details are given out).',
  503: 'Not ready, or a dependency (store, Kubernetes API) is unavailable.',
};

function toSchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  // Named sub-schemas are emitted once as components; point at those instead of local copies.
  delete json.$defs;
  const id = z.globalRegistry.get(schema)?.id;
  if (id !== undefined) return { $ref: `#/components/schemas/${id}` };
  return JSON.parse(JSON.stringify(json).replaceAll('"#/$defs/', '"#/components/schemas/')) as Record<string, unknown>;
}

/** The collected operations of one API. */
export class ApiSpec {
  private readonly operations: OperationSpec[] = [];
  private readonly paths = new Map<string, Set<string>>();

  /** Registers `operation` on `app` with `handler`; parameters failing their schema answer 400 (path) or 400 (query). */
  define<P extends z.ZodType, Q extends z.ZodType>(app: Hono<ApiEnv>, operation: OperationSpec<P, Q>, handler: (c: Context<ApiEnv>, inputs: Inputs<z.output<P>, z.output<Q>>) => Promise<Response> | Response): void {
    this.operations.push(operation as unknown as OperationSpec);
    const honoPath = operation.path.replace(/\{([^}]+)\}/g, ':$1');
    const methods = this.paths.get(honoPath) ?? new Set<string>();
    methods.add(operation.method.toUpperCase());
    this.paths.set(honoPath, methods);
    app.on(operation.method.toUpperCase(), honoPath, async (c) => {
      const params = parse(operation.params, c.req.param(), 'path parameter');
      const query = parse(operation.query, Object.fromEntries(new URL(c.req.url).searchParams), 'query parameter');
      return handler(c, { params: params as z.output<P>, query: query as z.output<Q> });
    });
  }

  /** Registers 405 answers (with `Allow`) for every other method on the defined paths; call after every define. */
  methodNotAllowed(app: Hono<ApiEnv>): void {
    for (const [path, methods] of this.paths) {
      const allow = [...methods].sort().join(', ');
      app.all(path, (c) => {
        c.header('Allow', allow);
        throw new ApiError('PORTICO_E_BAD_REQUEST', `method not allowed here; allowed: ${allow}`, { status: 405 });
      });
    }
  }

  /** The OpenAPI 3.1 document. */
  document(info: { title: string; version: string; description: string }): Record<string, unknown> {
    const components = z.toJSONSchema(z.globalRegistry, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any', uri: (id) => `#/components/schemas/${id}` }) as { schemas: Record<string, Record<string, unknown>> };
    for (const schema of Object.values(components.schemas)) delete schema.$schema;
    const paths: Record<string, Record<string, unknown>> = {};
    for (const op of this.operations) {
      const parameters: unknown[] = [];
      for (const [location, schema] of [['path', op.params], ['query', op.query]] as const) {
        if (schema === undefined) continue;
        const json = toSchema(schema) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
        for (const [name, property] of Object.entries(json.properties ?? {})) {
          const { description, ...rest } = property;
          parameters.push({ name, in: location, required: location === 'path' || (json.required ?? []).includes(name), schema: rest, ...(description ? { description } : {}) });
        }
      }
      for (const header of op.headers ?? []) parameters.push({ name: header.name, in: 'header', required: false, description: header.description, schema: { type: 'string' } });
      const responses: Record<string, unknown> = {};
      const errors = { ...ERROR_RESPONSES };
      if (op.authenticated === false) {
        delete errors[401];
        delete errors[403];
      }
      for (const [status, description] of Object.entries(errors)) responses[status] = { description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
      for (const [status, response] of Object.entries(op.responses)) {
        const isProblem = Number(status) >= 400;
        responses[status] = {
          description: response.description,
          ...(response.headers ? { headers: Object.fromEntries(Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
          ...(response.schema || isProblem
            ? { content: { [response.mediaType ?? (isProblem ? 'application/problem+json' : 'application/json')]: { schema: response.schema ? toSchema(response.schema) : { $ref: '#/components/schemas/Problem' } } } }
            : {}),
        };
      }
      (paths[op.path] ??= {})[op.method] = {
        operationId: op.operationId,
        summary: op.summary,
        ...(op.description ? { description: op.description } : {}),
        tags: [op.tag],
        ...(parameters.length > 0 ? { parameters } : {}),
        ...(op.body
          ? { requestBody: { required: true, ...(op.body.description ? { description: op.body.description } : {}), content: Object.fromEntries(op.body.mediaTypes.map((type) => [type, { schema: toSchema(op.body!.schema) }])) } }
          : {}),
        responses,
        security: op.authenticated === false ? [] : [{ bearerAuth: [] }],
      };
    }
    return {
      openapi: '3.1.0',
      info,
      paths,
      components: { schemas: components.schemas, securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    };
  }
}

function parse(schema: z.ZodType | undefined, value: unknown, what: string): unknown {
  if (schema === undefined) return {};
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new ApiError('PORTICO_E_BAD_REQUEST', `${what} ${issue.path.map(String).join('.') || ''}: ${issue.message}`, {
    errors: parsed.error.issues.map((i) => ({ pointer: jsonPointer(i.path), reason: i.message })),
  });
}

// Referenced by every error response, so it must be a registered component.
void Problem;
