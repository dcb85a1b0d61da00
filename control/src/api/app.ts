/**
 * The control API: one Hono application for both modes (the composition root picks the store and
 * the authenticator). Serve it with `serve({ fetch: app.fetch, ... })` from @hono/node-server.
 *
 * Unauthenticated and read-only: `/healthz`, `/readyz` (ready after the first snapshot),
 * `/metrics`, `/openapi.json`. Everything under `/v1` needs `Authorization: Bearer TOKEN`.
 * Errors are `application/problem+json` with a stable `code`; no stack trace ever leaves the
 * process. CORS is off unless origins are configured.
 */
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { routePath } from 'hono/route';
import { NodeRegistry } from '../nodes/registry.ts';
import { healthRoutes } from './health.ts';
import { createControlMetrics } from './metrics.ts';
import type { ApiEnv, ApiOptions } from './context.ts';
import { ApiSpec } from './openapi.ts';
import { ApiError, problemOf, sendProblem } from './problem.ts';
import { registerRoutes } from './routes.ts';
import { registerSnapshots } from './snapshots.ts';
import { registerSync } from './sync.ts';

export type { ApiOptions } from './context.ts';

/** The application and the parts a composition root may want to reach. */
export interface ControlApi {
  readonly app: Hono<ApiEnv>;
  readonly nodes: NodeRegistry;
  /** The OpenAPI 3.1 document (also served at /openapi.json). */
  readonly openapi: Record<string, unknown>;
  /**
   * Resolves once the long-polls answered by the last publish have been written (their delta
   * encoded, every answer's turn come): a local data plane loads after them (standalone).
   */
  answered(): Promise<void>;
}

/** Builds the control API. Never throws for a request; see ApiOptions for what it needs. */
export function createApp(options: ApiOptions): ControlApi {
  const metrics = options.metrics ?? createControlMetrics();
  const nodes = options.nodes ?? new NodeRegistry();
  const ready = options.ready ?? (() => options.history.current() !== undefined);
  metrics.trackNodes(nodes, () => options.history.current()?.snapshot.version);
  const app = new Hono<ApiEnv>();
  const spec = new ApiSpec();

  app.onError((error, c) => {
    const problem = problemOf(error);
    if (problem.status >= 500 && !(error instanceof ApiError)) options.logger?.error({ err: error, method: c.req.method, path: c.req.path }, 'API request failed');
    if (problem.status === 401) c.header('WWW-Authenticate', 'Bearer realm="portico"');
    return sendProblem(c, problem);
  });
  app.notFound((c) => sendProblem(c, problemOf(new ApiError('PORTICO_E_NOT_FOUND', `no such endpoint: ${c.req.method} ${c.req.path}`))));

  app.use('*', async (c, next) => {
    const start = performance.now();
    c.header('X-Content-Type-Options', 'nosniff');
    try {
      await next();
    } finally {
      // The matched pattern, not the URL: metric labels stay bounded whatever clients send.
      const route = c.res.status === 404 && routePath(c) === '*' ? 'unmatched' : routePath(c);
      metrics.recordRequest(c.req.method, route, c.res.status, (performance.now() - start) / 1000);
    }
  });
  if (options.corsOrigins !== undefined && options.corsOrigins.length > 0) {
    app.use('/v1/*', cors({ origin: [...options.corsOrigins], allowHeaders: ['Authorization', 'Content-Type', 'If-Match', 'If-None-Match'], exposeHeaders: ['ETag', 'Location'] }));
  }

  app.use('/v1/*', async (c, next) => {
    c.header('Cache-Control', 'no-store');
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer +([^\s]+) *$/i.exec(header);
    if (match === null) throw new ApiError('PORTICO_E_UNAUTHENTICATED', 'send Authorization: Bearer <token>');
    const principal = await options.auth.authenticate(match[1]!);
    if (principal === undefined) throw new ApiError('PORTICO_E_UNAUTHENTICATED', 'the bearer token is not valid');
    c.set('principal', principal);
    await next();
  });

  registerRoutes(app, spec, options);
  registerSnapshots(app, spec, options);
  const sync = registerSync(app, spec, options, nodes);
  const feed = sync.feed;
  metrics.trackSync(() => ({ encodes: { full: feed.stats.fullEncodes, delta: feed.stats.deltaEncodes }, versions: options.history.kept(), retainedBytes: options.history.retainedBytes }));
  spec.methodNotAllowed(app);

  const health = healthRoutes({ ready, ...(options.notReady ? { notReady: options.notReady } : {}), registry: metrics.registry });
  app.route('/', health as unknown as Hono<ApiEnv>);
  const openapi = spec.document({
    title: 'Portico control API',
    version: '1',
    description: 'Routes (friendly objects or networking.k8s.io/v1 Ingresses), snapshot history/export/diff, explain, and data-plane sync with ACK/NACK.',
  });
  addHealthPaths(openapi);
  app.get('/openapi.json', (c) => c.json(openapi));
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    app.all(path, (c) => {
      c.header('Allow', 'GET');
      throw new ApiError('PORTICO_E_BAD_REQUEST', 'method not allowed here; allowed: GET', { status: 405 });
    });
  }
  return { app, nodes, openapi, answered: sync.answered };
}

/** Documents the unauthenticated health endpoints (they live in health.ts as plain Hono routes). */
function addHealthPaths(document: Record<string, unknown>): void {
  const paths = document.paths as Record<string, unknown>;
  const text = (description: string) => ({ description, content: { 'text/plain': { schema: { type: 'string' } } } });
  paths['/healthz'] = { get: { operationId: 'healthz', summary: 'Liveness', tags: ['health'], security: [], responses: { 200: text('Alive.') } } };
  paths['/readyz'] = { get: { operationId: 'readyz', summary: 'Readiness: a snapshot has been published', tags: ['health'], security: [], responses: { 200: text('Ready.'), 503: text('No snapshot yet.') } } };
  paths['/metrics'] = { get: { operationId: 'metrics', summary: 'Prometheus metrics', tags: ['health'], security: [], responses: { 200: text('Prometheus text format.') } } };
}
