/**
 * zod schemas of what the control API answers (and of the bodies not owned by a resource file):
 * the OpenAPI document is generated from them, and tests parse answers with them.
 */
import { z } from 'zod';
import { Snapshot } from '../snapshot/schema.ts';
import { NamespaceName, ObjectName, Route } from './route-object.ts';

/** A snapshot version (`sha256:` + 64 hex). */
export const Version = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** A plain `networking.k8s.io/v1` Ingress, as written with kubectl. */
export const IngressObject = z
  .looseObject({
    apiVersion: z.literal('networking.k8s.io/v1'),
    kind: z.literal('Ingress'),
    metadata: z.looseObject({ name: ObjectName, namespace: NamespaceName.optional() }),
    spec: z.looseObject({}).optional(),
  })
  .meta({ id: 'Ingress', description: 'A networking.k8s.io/v1 Ingress (validated in full on write).' });

/** A route body: friendly route or plain Ingress. */
export const RouteBody = z.union([Route, IngressObject]).meta({ id: 'RouteBody' });

/** A stored route. */
export const RouteResourceSchema = z
  .strictObject({
    namespace: z.string(),
    name: z.string(),
    etag: z.string().describe('Also sent as the ETag header (quoted); send it back in If-Match.'),
    route: Route.nullable().describe('null when the Ingress has no friendly equivalent (see unrepresentable).'),
    unrepresentable: z.string().optional(),
    ingress: IngressObject,
  })
  .meta({ id: 'RouteResource' });

/** GET /v1/routes. */
export const RouteList = z.strictObject({ items: z.array(RouteResourceSchema) }).meta({ id: 'RouteList' });

/** A build-stage condition. */
export const ConditionSchema = z
  .strictObject({
    source: z.strictObject({ kind: z.string(), namespace: z.string(), name: z.string() }),
    field: z.string(),
    reason: z.string(),
    severity: z.enum(['Error', 'Warning']),
    message: z.string(),
  })
  .meta({ id: 'Condition' });

const ChangeSet = z.strictObject({ added: z.array(z.string()), removed: z.array(z.string()), changed: z.array(z.string()) }).meta({ id: 'ChangeSet' });

/** What changed between two versions. */
export const SnapshotDiffSchema = z
  .strictObject({
    from: z.string(),
    to: z.string(),
    hosts: ChangeSet,
    routes: ChangeSet,
    backends: ChangeSet,
    endpoints: ChangeSet,
    certificates: ChangeSet,
    onlyEndpoints: z.boolean().describe('True when nothing but endpoints changed: a data plane can keep its routes.'),
  })
  .meta({ id: 'SnapshotDiff' });

const ChangeSummary = z.strictObject({
  hosts: z.number().int(),
  routes: z.number().int(),
  backends: z.number().int(),
  endpoints: z.number().int(),
  certificates: z.number().int(),
  onlyEndpoints: z.boolean(),
});

/** One entry of GET /v1/snapshots. */
export const SnapshotSummary = z
  .strictObject({
    version: z.string(),
    publishedAt: z.string(),
    current: z.boolean(),
    changes: ChangeSummary.nullable().describe('Counts of added+removed+changed identities since the previous version; null for the first.'),
    retained: z.boolean().describe('False when only this summary is kept (exports, diffs and deltas from it answer 410).'),
    conditionCount: z.number().int(),
    conditions: z.array(ConditionSchema).describe('The conditions of a retained version; empty once summarized (see conditionCount).'),
  })
  .meta({ id: 'SnapshotSummary' });

/** GET /v1/snapshots. */
export const SnapshotListSchema = z.strictObject({ current: z.string().nullable(), items: z.array(SnapshotSummary) }).meta({ id: 'SnapshotList' });

/** GET /v1/snapshots/{version}: the full export (TLS private keys redacted to a fingerprint). */
export const SnapshotExport = z
  .strictObject({
    version: z.string(),
    publishedAt: z.string(),
    conditions: z.array(ConditionSchema),
    changes: SnapshotDiffSchema.omit({ onlyEndpoints: true }).nullable(),
    snapshot: Snapshot,
    problems: z
      .array(
        z.strictObject({
          severity: z.enum(['error', 'warning']),
          code: z.string(),
          file: z.string(),
          document: z.number().int(),
          field: z.string().optional(),
          line: z.number().int().optional(),
          column: z.number().int().optional(),
          message: z.string(),
        }),
      )
      .optional()
      .describe('Current snapshot only, when there are any: manifest files or documents that could not be used (their last good objects are served).'),
  })
  .meta({ id: 'SnapshotExport' });

/** POST /v1/explain. */
export const ExplainBody = z
  .strictObject({
    host: z.string().min(1).max(1024),
    path: z.string().startsWith('/').max(8192),
    method: z.string().regex(/^[A-Za-z]{1,32}$/).optional(),
    headers: z.record(z.string().min(1).max(256), z.string().max(8192)).optional(),
    scheme: z.enum(['http', 'https']).optional(),
    version: z.string().max(100).optional().describe('A retained version (or unique prefix); default the current one.'),
  })
  .meta({ id: 'ExplainRequest' });

const ExplainedRoute = z.strictObject({
  kind: z.string(),
  namespace: z.string(),
  name: z.string(),
  host: z.string().nullable(),
  path: z.string().nullable(),
  pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific']).nullable(),
  field: z.string(),
});

/** The answer of POST /v1/explain (the shape of `portico explain --json`, plus the version explained). */
export const ExplainResultSchema = z
  .strictObject({
    version: z.string(),
    status: z.number().int().min(100).max(599),
    normalizedPath: z.string().optional(),
    backends: z.array(z.strictObject({ namespace: z.string(), service: z.string(), port: z.union([z.number(), z.string()]), weight: z.number(), endpoints: z.number() })),
    route: ExplainedRoute.nullable(),
    location: z.string().optional(),
    forwardedTarget: z.string().optional(),
    policies: z.array(z.string()).optional(),
    reason: z.string(),
    lost: z.array(z.strictObject({ route: ExplainedRoute, reason: z.string() })),
  })
  .meta({ id: 'ExplainResult' });

/** GET /v1/sync: a whole snapshot, or only endpoint sets when nothing else changed since `from`. */
export const SyncResponse = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('full'), version: z.string(), snapshot: Snapshot }),
    z.strictObject({
      type: z.literal('delta'),
      from: z.string().describe('The version the data plane said it has (`known`): apply the delta to it and check the Merkle hash equals `version`.'),
      version: z.string(),
      hosts: z.strictObject({ set: Snapshot.shape.hosts.describe('Hosts added or replaced whole.'), remove: z.array(z.string()).describe('Host names removed.') }),
      defaultRoute: Snapshot.shape.defaultRoute.optional().describe('The new catch-all default route; absent when unchanged.'),
      endpointSets: z.strictObject({ set: Snapshot.shape.endpointSets, remove: z.array(z.string()) }),
      certificates: z.strictObject({ set: Snapshot.shape.certificates, remove: z.array(z.string()) }),
    }),
  ])
  .meta({ id: 'SyncResponse' });

/** POST /v1/nodes/{node}/status. */
export const NodeStatusBody = z
  .strictObject({
    version: z.string().min(1).max(100),
    ok: z.boolean(),
    error: z.string().max(4096).optional(),
  })
  .meta({ id: 'NodeStatusReport' });

/** One node. */
export const NodeStatusSchema = z
  .strictObject({
    name: z.string(),
    appliedVersion: z.string().nullable(),
    lastReport: z.strictObject({ version: z.string(), ok: z.boolean(), error: z.string().nullable(), at: z.string() }).nullable(),
    lastSeen: z.string(),
    connected: z.boolean(),
    stale: z.boolean(),
    address: z.string().nullable(),
  })
  .meta({ id: 'NodeStatus' });

/** GET /v1/nodes. */
export const NodeListSchema = z
  .strictObject({
    current: z.string().nullable(),
    rollout: z.strictObject({ version: z.string().nullable(), updated: z.number().int(), total: z.number().int(), failed: z.number().int(), complete: z.boolean() }),
    nodes: z.array(NodeStatusSchema),
  })
  .meta({ id: 'NodeList' });
