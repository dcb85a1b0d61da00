/**
 * `/v1/routes`: CRUD of routes (friendly objects or plain Ingresses) with optimistic concurrency.
 *
 * - POST creates (409 when the name exists). PUT replaces: with `If-Match` only that version is
 *   replaced (412 otherwise); with `If-None-Match: *` it only creates; with neither it creates a
 *   new route but refuses (428) to replace an existing one: never a silent overwrite. An Ingress
 *   body's `metadata.resourceVersion` counts as If-Match, as with kubectl replace.
 * - PATCH is a JSON merge patch of the friendly route (or of the Ingress when the patch has
 *   `metadata`/`spec`, or the route has no friendly form), read-modify-write under the version read.
 * - Authorization comes before any body is parsed (the namespace and name are in the URL, or in
 *   `?namespace=` for POST), and again on the parsed object.
 * - Every write is validated (422) and checked for host/path conflicts with what Portico serves
 *   (409, naming the other object), inside one in-process lock so concurrent writes are checked
 *   against each other too.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { Ingress } from '../state/objects.ts';
import type { Precondition, StoredRoute } from '../sources/store/route-store.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, routeKey } from '../sources/store/route-store.ts';
import { mediaTypesOf, mergePatch, readBody } from './body.ts';
import { findConflicts, routePointer } from './conflicts.ts';
import type { ApiEnv, ApiOptions } from './context.ts';
import { authorize, authorizeAny, callerOf, etagHeader, parseEtag } from './context.ts';
import type { ApiSpec } from './openapi.ts';
import { ApiError } from './problem.ts';
import type { ParsedRoute } from './route-object.ts';
import { NamespaceName, ObjectName, ingressToRoute, routeResource } from './route-object.ts';
import { bodyResourceVersion, looksLikeIngress, parseRouteBody } from './route-input.ts';
import { RouteBody, RouteList, RouteResourceSchema } from './schemas.ts';

const Params = z.strictObject({ namespace: NamespaceName, name: ObjectName });
const ListQuery = z.strictObject({ namespace: NamespaceName.optional().describe('Only this namespace (needs list ingresses there); default: all.') });
const CreateQuery = z.strictObject({
  namespace: NamespaceName.optional().describe('Namespace of the new route (needs create ingresses there; checked before the body is read). Without it the caller needs create ingresses in all namespaces.'),
});
const WRITE_TYPES = mediaTypesOf(['json', 'yaml']);
const CONCURRENCY_HEADERS = [
  { name: 'If-Match', description: 'ETag of the version being replaced; 412 when it is no longer current.' },
  { name: 'If-None-Match', description: '`*`: create only; 409 when the route exists.' },
];

/** A tiny async mutex: conflict check and write happen as one step per process. */
class WriteLock {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work, work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

function sendRoute(c: Context, stored: StoredRoute, status: 200 | 201): Response {
  const resource = routeResource(stored.ingress, stored.etag);
  c.header('ETag', etagHeader(stored.etag));
  if (status === 201) c.header('Location', `/v1/routes/${resource.namespace}/${resource.name}`);
  return c.json(resource, status);
}

/** Registers the route endpoints. */
export function registerRoutes(app: Hono<ApiEnv>, spec: ApiSpec, options: ApiOptions): void {
  const { store, auth } = options;
  const lock = new WriteLock();
  const bodyLimit = options.bodyLimit;

  /** Validates the target against what is served, then writes; all under the lock. */
  const write = (c: Context<ApiEnv>, parsed: ParsedRoute, precondition: Precondition | 'replace-requires-match', creating: boolean) =>
    lock.run(async () => {
      const ingress = parsed.ingress;
      const namespace = ingress.metadata.namespace ?? 'default';
      const name = ingress.metadata.name;
      if (creating) foreignOwner(options, ingress);
      const conflicts = options.served === undefined ? [] : findConflicts(ingress, options.served, parsed.form === 'route' ? routePointer : undefined);
      if (conflicts.length > 0) {
        const first = conflicts[0]!;
        throw new ApiError('PORTICO_E_ROUTE_CONFLICT', `route ${routeKey(namespace, name)} claims ${first.claim}, which ${first.kind} ${first.namespace}/${first.name} (${first.field}) already claims`, { conflicts });
      }
      const caller = callerOf(c, store);
      if (precondition === 'replace-requires-match') {
        const current = await store.get(namespace, name, caller);
        if (current !== undefined) throw new ApiError('PORTICO_E_PRECONDITION_REQUIRED', `route ${routeKey(namespace, name)} exists; send If-Match: "${current.etag}" (from GET) to replace it`);
        return store.put(ingress, { ifAbsent: true }, caller);
      }
      return store.put(ingress, precondition, caller);
    });

  spec.define(app, { method: 'get', path: '/v1/routes', operationId: 'listRoutes', tag: 'routes', summary: 'List routes', query: ListQuery, responses: { 200: { description: 'Routes, sorted by namespace and name.', schema: RouteList } } }, async (c, { query }) => {
    await authorize(c, auth, { kind: 'ingresses', verb: 'list', ...(query.namespace ? { namespace: query.namespace } : {}) });
    const routes = await store.list(query.namespace, callerOf(c, store));
    return c.json({ items: routes.map((route) => routeResource(route.ingress, route.etag)) });
  });

  spec.define(
    app,
    {
      method: 'post',
      path: '/v1/routes',
      operationId: 'createRoute',
      tag: 'routes',
      summary: 'Create a route (friendly route or v1 Ingress; JSON or YAML)',
      query: CreateQuery,
      body: { schema: RouteBody, mediaTypes: WRITE_TYPES },
      responses: {
        201: { description: 'Created.', schema: RouteResourceSchema, headers: { ETag: 'Version of the route.', Location: 'URL of the route.' } },
        409: { description: 'The name exists, or a host/path is claimed by another route (conflicts names it).' },
        413: { description: 'Body too large.' },
        415: { description: 'Unsupported Content-Type.' },
        422: { description: 'Invalid route; errors carry JSON pointers into the body.' },
      },
    },
    async (c, { query }) => {
      try {
        await authorize(c, auth, { kind: 'ingresses', verb: 'create', ...(query.namespace ? { namespace: query.namespace } : {}) });
      } catch (error) {
        if (query.namespace !== undefined) throw error;
        throw new ApiError('PORTICO_E_FORBIDDEN', `${(error as Error).message}; to create a route in one namespace, send POST /v1/routes?namespace=NS (or PUT /v1/routes/NS/NAME)`);
      }
      const { value } = await readBody(c, ['json', 'yaml'], bodyLimit, options.bodyDeadlineMs);
      const parsed = parseRouteBody(value, undefined, query.namespace);
      const namespace = parsed.ingress.metadata.namespace ?? 'default';
      await authorize(c, auth, { kind: 'ingresses', verb: 'create', namespace, name: parsed.ingress.metadata.name });
      return sendRoute(c, await write(c, parsed, { ifAbsent: true }, true), 201);
    },
  );

  const get = { method: 'get', path: '/v1/routes/{namespace}/{name}', operationId: 'getRoute', tag: 'routes', summary: 'Read a route', params: Params, responses: { 200: { description: 'The route.', schema: RouteResourceSchema, headers: { ETag: 'Version of the route.' } } } } as const;
  spec.define(app, get, async (c, { params }) => {
    await authorize(c, auth, { kind: 'ingresses', verb: 'get', namespace: params.namespace, name: params.name });
    const stored = await store.get(params.namespace, params.name, callerOf(c, store));
    if (stored === undefined) throw new ApiError('PORTICO_E_NOT_FOUND', `route ${routeKey(params.namespace, params.name)} not found`);
    return sendRoute(c, stored, 200);
  });

  const writeResponses = {
    200: { description: 'Replaced.', schema: RouteResourceSchema, headers: { ETag: 'New version of the route.' } },
    201: { description: 'Created.', schema: RouteResourceSchema, headers: { ETag: 'Version of the route.', Location: 'URL of the route.' } },
    409: { description: 'A host/path is claimed by another route, or the name belongs to an object Portico does not manage.' },
    412: { description: 'If-Match is not the current version: someone else wrote first.' },
    413: { description: 'Body too large.' },
    415: { description: 'Unsupported Content-Type.' },
    422: { description: 'Invalid route; errors carry JSON pointers into the body.' },
    428: { description: 'The route exists and the request has no If-Match.' },
  };

  spec.define(
    app,
    { method: 'put', path: '/v1/routes/{namespace}/{name}', operationId: 'replaceRoute', tag: 'routes', summary: 'Create or replace a route', params: Params, headers: CONCURRENCY_HEADERS, body: { schema: RouteBody, mediaTypes: WRITE_TYPES }, responses: writeResponses },
    async (c, { params }) => {
      // Before parsing: the caller may create or update routes there (which one is known after).
      await authorizeAny(c, auth, [
        { kind: 'ingresses', verb: 'update', namespace: params.namespace, name: params.name },
        { kind: 'ingresses', verb: 'create', namespace: params.namespace, name: params.name },
      ]);
      const { value } = await readBody(c, ['json', 'yaml'], bodyLimit, options.bodyDeadlineMs);
      const parsed = parseRouteBody(value, params);
      const ifMatch = parseEtag(c.req.header('if-match')) ?? (looksLikeIngress(value) ? bodyResourceVersion(value) : undefined);
      const ifNoneMatch = parseEtag(c.req.header('if-none-match'));
      if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw new ApiError('PORTICO_E_BAD_REQUEST', 'If-None-Match on a write must be *');
      let precondition: Precondition | 'replace-requires-match';
      if (ifNoneMatch === '*') precondition = { ifAbsent: true };
      else if (ifMatch === '*') {
        const existing = await store.get(params.namespace, params.name, callerOf(c, store));
        if (existing === undefined) throw new ApiError('PORTICO_E_PRECONDITION_FAILED', `route ${routeKey(params.namespace, params.name)} does not exist (If-Match: *)`);
        precondition = { ifMatch: existing.etag };
      } else if (ifMatch !== undefined) precondition = { ifMatch };
      else precondition = 'replace-requires-match';
      const creating = precondition === 'replace-requires-match' || 'ifAbsent' in precondition;
      await authorize(c, auth, { kind: 'ingresses', verb: creating ? 'create' : 'update', namespace: params.namespace, name: params.name });
      return sendRoute(c, await write(c, parsed, precondition, creating), creating ? 201 : 200);
    },
  );

  spec.define(
    app,
    {
      method: 'patch',
      path: '/v1/routes/{namespace}/{name}',
      operationId: 'patchRoute',
      tag: 'routes',
      summary: 'Change part of a route (JSON merge patch)',
      description: 'Merges into the friendly route, or into the Ingress when the patch has metadata/spec or the route has no friendly form.',
      params: Params,
      headers: CONCURRENCY_HEADERS.slice(0, 1),
      body: { schema: z.looseObject({}).meta({ id: 'MergePatch' }), mediaTypes: mediaTypesOf(['merge-patch', 'json']) },
      responses: { 200: writeResponses[200], 409: writeResponses[409], 412: writeResponses[412], 413: writeResponses[413], 415: writeResponses[415], 422: writeResponses[422] },
    },
    async (c, { params }) => {
      await authorize(c, auth, { kind: 'ingresses', verb: 'patch', namespace: params.namespace, name: params.name });
      const { value } = await readBody(c, ['merge-patch', 'json'], bodyLimit, options.bodyDeadlineMs);
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ApiError('PORTICO_E_BAD_REQUEST', 'a merge patch must be a JSON object');
      const current = await store.get(params.namespace, params.name, callerOf(c, store));
      if (current === undefined) throw new ApiError('PORTICO_E_NOT_FOUND', `route ${routeKey(params.namespace, params.name)} not found`);
      const ifMatch = parseEtag(c.req.header('if-match'));
      if (ifMatch !== undefined && ifMatch !== '*' && ifMatch !== current.etag) {
        throw new ApiError('PORTICO_E_PRECONDITION_FAILED', `route ${routeKey(params.namespace, params.name)} is at version ${current.etag}, not ${ifMatch}: it changed since you read it`);
      }
      const friendly = ingressToRoute(current.ingress);
      const patchesIngress = 'metadata' in value || 'spec' in value || !('route' in friendly);
      const base: unknown = patchesIngress ? withoutServerFields(current.ingress) : (friendly as { route: unknown }).route;
      const parsed = parseRouteBody(mergePatch(base, value), params);
      return sendRoute(c, await write(c, parsed, { ifMatch: current.etag }, false), 200);
    },
  );

  spec.define(
    app,
    {
      method: 'delete',
      path: '/v1/routes/{namespace}/{name}',
      operationId: 'deleteRoute',
      tag: 'routes',
      summary: 'Delete a route',
      params: Params,
      headers: CONCURRENCY_HEADERS.slice(0, 1),
      responses: { 200: { description: 'Deleted; the body is what was deleted.', schema: RouteResourceSchema }, 409: writeResponses[409], 412: writeResponses[412] },
    },
    async (c, { params }) => {
      await authorize(c, auth, { kind: 'ingresses', verb: 'delete', namespace: params.namespace, name: params.name });
      const ifMatch = parseEtag(c.req.header('if-match'));
      const deleted = await lock.run(() => store.delete(params.namespace, params.name, ifMatch === undefined || ifMatch === '*' ? undefined : { ifMatch }, callerOf(c, store)));
      return c.json(routeResource(deleted.ingress, deleted.etag), 200);
    },
  );
}

function withoutServerFields(ingress: Ingress): Ingress {
  const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _gen, ...metadata } = ingress.metadata;
  return { ...ingress, metadata };
}

/** 409 when another source (a manifest file, kubectl) already has an Ingress of this name. */
function foreignOwner(options: ApiOptions, ingress: Ingress): void {
  if (options.served === undefined) return;
  const namespace = ingress.metadata.namespace ?? 'default';
  const other = options.served.get(namespace, ingress.metadata.name);
  if (other !== undefined && other.metadata.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE) {
    throw new ApiError('PORTICO_E_ROUTE_EXISTS', `Ingress ${routeKey(namespace, ingress.metadata.name)} already exists and is not managed through the API (it comes from a manifest or kubectl); pick another name`);
  }
}
