/**
 * The snapshot: the contract between the control plane and every data plane.
 *
 * A snapshot is plain JSON. Its `version` is `sha256:` + the hex SHA-256 of the canonical JSON
 * of everything else, so identical routing state on any replica yields the identical version,
 * and a data plane can verify what it received. Validated with this schema before publishing
 * and again on load.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PorticoError } from '../errors.ts';

/** The snapshot format this code reads and writes. */
export const SNAPSHOT_API_VERSION = 'portico.dev/v1alpha1';

const SourceRef = z.strictObject({ kind: z.string(), namespace: z.string(), name: z.string() });

const Backend = z.strictObject({
  namespace: z.string(),
  service: z.string(),
  port: z.union([z.number().int(), z.string()]),
  weight: z.number().int().nonnegative(),
  /** Key into `endpointSets`; null when the backend did not resolve (answers 503). */
  endpointSet: z.string().nullable(),
});

const Redirect = z.strictObject({ sslRedirect: z.boolean(), forceSslRedirect: z.boolean() });

const Route = z.strictObject({
  source: SourceRef,
  field: z.string(),
  pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific']),
  path: z.string().startsWith('/'),
  backends: z.array(Backend),
  redirect: Redirect,
  /** Why the rule answers 503 whatever its endpoints (a policy Portico cannot honour); absent when served. */
  refused: z.string().min(1).optional(),
});

const DefaultRoute = z.strictObject({ source: SourceRef, field: z.string(), backends: z.array(Backend), redirect: Redirect, refused: z.string().min(1).optional() });

const Host = z.strictObject({
  host: z.string().min(1),
  tls: z.boolean(),
  certificate: z.string().nullable(),
  routes: z.array(Route),
  defaultRoute: DefaultRoute.nullable(),
});

const Endpoint = z.strictObject({ address: z.string().min(1), port: z.number().int().min(1).max(65535), terminating: z.boolean() });

const EndpointSet = z.strictObject({ key: z.string(), endpoints: z.array(Endpoint) });

const Certificate = z.strictObject({
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

/**
 * `sha256:<hex>` of the canonical JSON of the content: keys in the order the schema declares
 * them (zod's parse output order), no whitespace. Same content ⇒ same bytes ⇒ same version.
 * Throws PORTICO_E_SNAPSHOT_INVALID when the content does not fit the schema.
 */
export function snapshotVersion(content: unknown): string {
  return versionOf(validate(SnapshotContent, content));
}

function versionOf(canonical: SnapshotContent): string {
  return `sha256:${createHash('sha256').update(JSON.stringify(canonical)).digest('hex')}`;
}

function validate<T>(schema: z.ZodType<T>, json: unknown): T {
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `snapshot ${issue.path.join('.') || '(root)'}: ${issue.message}`);
}

/** Validates content and seals it with its version: the one way snapshots are made. */
export function sealSnapshot(content: unknown): Snapshot {
  const canonical = validate(SnapshotContent, content);
  return { ...canonical, version: versionOf(canonical) };
}

/**
 * Validates unknown JSON as a snapshot and checks that its version is the hash of its content.
 * Throws PorticoError PORTICO_E_SNAPSHOT_INVALID naming the first bad field or the hash mismatch.
 */
export function parseSnapshot(json: unknown): Snapshot {
  const { version, ...content } = validate(Snapshot, json);
  const expected = versionOf(content);
  if (expected !== version) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `snapshot version ${version} does not match its content hash ${expected}`);
  return { ...content, version };
}
