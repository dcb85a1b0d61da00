/**
 * The snapshot: the contract between the control plane and every data plane.
 *
 * A snapshot is plain JSON: keyed lists of items (hosts, endpoint sets, certificates) plus the
 * catch-all default route. Its `version` is a Merkle root over the SHA-256 of each item's JSON,
 * in list order, grouped in blocks whose ends the items choose (see `hash.ts`). Identical routing state on any
 * replica yields the identical version; a data plane can verify what it received, and sealing a
 * snapshot that shares most items with the previous one costs only the changed items.
 */
import { z } from 'zod';
import { RoutePolicies } from './policies/schema.ts';

/** The snapshot format this code reads and writes. */
export const SNAPSHOT_API_VERSION = 'portico.dev/v1alpha1';

const SourceRef = z.strictObject({ kind: z.string(), namespace: z.string(), name: z.string() });

/** TLS to a backend's endpoints; absent on a backend spoken to in plain HTTP/1.1. */
const UpstreamTls = z.strictObject({
  serverName: z.string().min(1).nullable(),
  verify: z.boolean(),
  verifyName: z.string().min(1),
  verifyDepth: z.number().int().min(0).max(100),
  secret: z.string().nullable(),
  caPem: z.string().nullable(),
  certificatePem: z.string().nullable(),
  privateKeyPem: z.string().nullable(),
});

const Backend = z.strictObject({
  namespace: z.string(),
  service: z.string(),
  port: z.union([z.number().int(), z.string()]),
  weight: z.number().int().nonnegative(),
  /** Key into `endpointSets`; null when the backend did not resolve (answers 503). */
  endpointSet: z.string().nullable(),
  /** TLS to the endpoints (backend protocol HTTPS, GRPCS); absent for plain text. */
  tls: UpstreamTls.optional(),
  /** HTTP/2 to the endpoints (`h2`), or gRPC over HTTP/2 (`grpc`); absent for HTTP/1.1 (model `UpstreamProtocol`). */
  protocol: z.enum(['h2', 'grpc']).optional(),
  /** An invalid Gateway API backendRef: its weight share is answered 500; absent for valid backends. */
  invalid: z.literal(true).optional(),
});

const Redirect = z.strictObject({ sslRedirect: z.boolean(), forceSslRedirect: z.boolean() });

/** A header or query-parameter condition; a RegularExpression value is an RE2 pattern the whole value must match. */
const ValueMatch = z.strictObject({ name: z.string().min(1), value: z.string(), type: z.enum(['Exact', 'RegularExpression']) });

/** Conditions beyond host and path (Gateway API matches); all must hold. */
const RouteMatch = z.strictObject({
  methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'])).optional(),
  headers: z.array(ValueMatch.extend({ name: z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/) })).optional(),
  query: z.array(ValueMatch).optional(),
});

const Route = z.strictObject({
  source: SourceRef,
  field: z.string(),
  pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific', 'RegularExpression']),
  /** Starts with `/`, except a RegularExpression (an RE2 pattern the whole path must match). */
  path: z.string().min(1),
  backends: z.array(Backend),
  redirect: Redirect,
  /** Why the rule answers 503 whatever its endpoints (a policy Portico cannot honour); absent when served. */
  refused: z.string().min(1).optional(),
  /** Annotation policies applied to its requests (see policies/registry.ts); absent when none. */
  policies: RoutePolicies.optional(),
  /** The path is a case-insensitive regular expression anchored at the start (ingress-nginx `~*`); absent otherwise. */
  regex: z.literal(true).optional(),
  /** Conditions beyond host and path (Gateway API matches); absent for none. */
  match: RouteMatch.optional(),
}).refine((route) => route.pathType === 'RegularExpression' || route.path.startsWith('/'), { message: 'path must start with "/" unless it is a RegularExpression', path: ['path'] });

/** The catch-all (or a host's) default route. */
export const DefaultRoute = z.strictObject({ source: SourceRef, field: z.string(), backends: z.array(Backend), redirect: Redirect, refused: z.string().min(1).optional(), policies: RoutePolicies.optional() });

/** One host item. */
export const Host = z.strictObject({
  host: z.string().min(1),
  tls: z.boolean(),
  certificate: z.string().nullable(),
  routes: z.array(Route),
  defaultRoute: DefaultRoute.nullable(),
});

const Endpoint = z.strictObject({ address: z.string().min(1), port: z.number().int().min(1).max(65535), terminating: z.boolean() });

/** One endpoint-set item. */
export const EndpointSet = z.strictObject({ key: z.string(), endpoints: z.array(Endpoint) });

/** One certificate item. */
export const Certificate = z.strictObject({
  secret: z.string(),
  hosts: z.array(z.string()),
  certificatePem: z.string(),
  privateKeyPem: z.string(),
});

/** Everything that routes traffic; hashed into the version. */
export const SnapshotContent = z.strictObject({
  apiVersion: z.literal(SNAPSHOT_API_VERSION),
  kind: z.literal('Snapshot'),
  hosts: z.array(Host),
  defaultRoute: DefaultRoute.nullable(),
  endpointSets: z.array(EndpointSet),
  certificates: z.array(Certificate),
});
export type SnapshotContent = z.infer<typeof SnapshotContent>;

/** A published snapshot: content plus its content-hash version. */
export const Snapshot = SnapshotContent.extend({ version: z.string().regex(/^sha256:[0-9a-f]{64}$/) });
export type Snapshot = z.infer<typeof Snapshot>;
export type SnapshotHost = z.infer<typeof Host>;
export type SnapshotRoute = z.infer<typeof Route>;
export type SnapshotDefaultRoute = z.infer<typeof DefaultRoute>;
export type SnapshotBackend = z.infer<typeof Backend>;
export type SnapshotUpstreamTls = z.infer<typeof UpstreamTls>;
export type SnapshotEndpointSet = z.infer<typeof EndpointSet>;
export type SnapshotCertificate = z.infer<typeof Certificate>;

export { parseSnapshot, sealSnapshot, snapshotVersion } from './hash.ts';

