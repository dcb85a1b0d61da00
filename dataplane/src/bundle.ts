/**
 * Table bundles: a snapshot compiled once for the matcher — the encoded binary table plus the
 * compact metadata its ids index (route labels, redirect flags, endpoints, endpoint sets, TLS
 * references) — so that loading it is a copy into wasm memory, not a compile. The data-plane
 * primary compiles each version once and every worker loads the same bundle; the bundle is
 * content-addressed (SHA-256 of the table) and verified on load, so a damaged one is refused
 * and the worker keeps what it serves.
 */
import { createHash } from 'node:crypto';
import { encodeTable } from '@portico/assembly/encode';
import type { Snapshot, SnapshotBackend, SnapshotUpstreamTls } from '@portico/control/snapshot';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import type { RegexHost, RouteTarget } from '@portico/control/snapshot/table';
import { toMatcherTable } from '@portico/control/snapshot/table';
import { PorticoError } from './errors.ts';

/** The TLS part of a snapshot: which host uses which certificate, and the certificates. */
export interface TlsBundle {
  readonly hosts: readonly { readonly host: string; readonly certificate: string | null }[];
  readonly certificates: Snapshot['certificates'];
}

/** A compiled snapshot. Plain data (typed arrays and strings): it crosses process boundaries by structured clone. */
export interface TableBundle {
  readonly version: string;
  /** True for an endpoint-only update: the table has no hosts and serves endpoint choice alone. */
  readonly balancingOnly: boolean;
  /** The encoded matcher table (`encodeTable`). */
  readonly table: Uint8Array;
  /** `sha256:` + hex SHA-256 over the table and every metadata field (`digestOf`). */
  readonly digest: string;
  /** Per route id, its metrics label; joined by `\n`. */
  readonly routeLabels: string;
  /** Per route id, bit 0 set when plain HTTP is redirected to HTTPS, bit 1 when that redirect keeps a trailing slash. */
  readonly redirects: Uint8Array;
  readonly needsHeaders: boolean;
  /** Per endpoint id, `address port`; joined by `\n`. */
  readonly endpoints: string;
  /** JSON of the routes with annotation policies: `[{route, policies, path, regex}]` (most routes have none). */
  readonly policies: string;
  /** JSON of the hosts with regex paths (`RegexHost[]`, usually `[]`). */
  readonly regexHosts: string;
  /** JSON of the routes with HTTPS or HTTP/2 backends: `[{route, tls, protocols?, endpoints}]` (see `BundledUpstreamTls`; most routes have none). */
  readonly upstreamTls: string;
  /** The distinct endpoint sets (endpoint ids), for the health panic threshold. */
  readonly endpointSets: readonly (readonly number[])[];
  /** Absent for a balancing-only bundle (certificates stay as they are). */
  readonly tls?: TlsBundle;
}

function routeLabel(target: RouteTarget): string {
  const { namespace, name } = target.route.source;
  if (target.kind === 'default') return `${namespace}/${name}@default`;
  return target.kind === 'path' && 'path' in target.route ? `${namespace}/${name}@${target.host}${target.route.path}` : `${namespace}/${name}@${target.host}`;
}

/** The parts of a bundle its digest covers, in order. */
function parts(bundle: Omit<TableBundle, 'digest'>): (string | Uint8Array)[] {
  return [bundle.table, bundle.routeLabels, bundle.redirects, bundle.endpoints, bundle.policies, bundle.regexHosts, bundle.upstreamTls, JSON.stringify(bundle.endpointSets), JSON.stringify(bundle.tls ?? null)];
}

/** The content address from the parts' own SHA-256 digests (hex). */
function combine(bundle: Omit<TableBundle, 'digest'>, partDigests: readonly string[]): string {
  const root = createHash('sha256').update(`${bundle.version}\0${bundle.balancingOnly ? 1 : 0}\0${bundle.needsHeaders ? 1 : 0}\0${partDigests.join('\0')}`);
  return `sha256:${root.digest('hex')}`;
}

/** `sha256:<hex>` over the table and every metadata field: the bundle's content address. */
export function digestOf(bundle: Omit<TableBundle, 'digest'>): string {
  return combine(bundle, parts(bundle).map((part) => createHash('sha256').update(part).digest('hex')));
}

/** `digestOf`, with the hashing done off the event loop (WebCrypto runs it on the thread pool). */
async function digestOffLoop(bundle: Omit<TableBundle, 'digest'>): Promise<string> {
  const encoder = new TextEncoder();
  const digests = await Promise.all(parts(bundle).map(async (part) => Buffer.from(await crypto.subtle.digest('SHA-256', typeof part === 'string' ? encoder.encode(part) : (part as Uint8Array<ArrayBuffer>))).toString('hex')));
  return combine(bundle, digests);
}

/**
 * Compiles a (verified) snapshot into a bundle; with `balancingOnly`, only endpoint choice.
 * Throws PORTICO_E_SNAPSHOT_LOAD when the snapshot cannot be compiled into a table.
 */
export function compileBundle(snapshot: Snapshot, balancingOnly = false): TableBundle {
  try {
    const compiled = toMatcherTable(snapshot, { balancingOnly });
    const table = encodeTable(compiled.table);
    const sets = new Set<readonly number[]>();
    // toMatcherTable shares one id array per endpoint set between the routes using it.
    for (const route of compiled.table.routes) for (const backend of route.backends) if (backend.endpoints.length > 0) sets.add(backend.endpoints);
    const bundle = {
      version: snapshot.version,
      balancingOnly,
      table,
      routeLabels: compiled.routes.map(routeLabel).join('\n'),
      // Bit 0: plain HTTP is redirected to HTTPS; bit 1: that redirect keeps a trailing slash (preserve-trailing-slash).
      redirects: Uint8Array.from(compiled.routes, (target) => (target.route.redirect.sslRedirect || target.route.redirect.forceSslRedirect ? 1 : 0) | (target.route.policies?.preserveTrailingSlash === true ? 2 : 0)),
      needsHeaders: compiled.table.hosts.some((host) => host.paths.some((path) => (path.conditions?.headers?.length ?? 0) > 0)),
      endpoints: compiled.endpoints.map((endpoint) => `${endpoint.address} ${endpoint.port}`).join('\n'),
      policies: JSON.stringify(compiled.routes.flatMap((target, route) => (target.route.policies === undefined ? [] : [{ route, policies: target.route.policies, path: 'path' in target.route ? target.route.path : null, regex: 'regex' in target.route && target.route.regex === true, ...(target.mirrors === undefined ? {} : { mirrors: target.mirrors }) }]))),
      regexHosts: JSON.stringify(compiled.regexHosts),
      upstreamTls: JSON.stringify(compiled.routes.flatMap((target, route) => bundledUpstreamTls(target, route))),
      endpointSets: [...sets],
      ...(balancingOnly ? {} : { tls: { hosts: snapshot.hosts.filter((host) => host.certificate !== null).map((host) => ({ host: host.host, certificate: host.certificate })), certificates: snapshot.certificates } }),
    };
    return { ...bundle, digest: digestOf(bundle) };
  } catch (cause) {
    if (cause instanceof PorticoError) throw cause;
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
  }
}

/**
 * A route's TLS and protocol to its endpoints as the bundle carries it: per backend (route order)
 * its TLS settings or null for plain text, its HTTP/2 protocol (`protocols`, absent when every
 * backend speaks HTTP/1.1) and the backends' endpoint ids when the backends differ.
 */
export interface BundledUpstreamTls {
  readonly route: number;
  readonly tls: readonly (SnapshotUpstreamTls | null)[];
  readonly protocols?: readonly (SnapshotBackend['protocol'] | null)[];
  readonly endpoints: readonly (readonly number[])[] | null;
}

function bundledUpstreamTls(target: RouteTarget, route: number): BundledUpstreamTls[] {
  const tls = target.route.backends.map((backend) => backend.tls ?? null);
  const protocols = target.route.backends.map((backend) => backend.protocol ?? null);
  const plain = protocols.every((p) => p === null);
  if (tls.every((t) => t === null) && plain) return [];
  const same = tls.every((t) => JSON.stringify(t) === JSON.stringify(tls[0])) && protocols.every((p) => p === protocols[0]);
  // Routes whose backends all speak HTTP/1.1 carry no `protocols` key: their bundles digest as before.
  const protocolsPart = plain ? {} : { protocols: same ? [protocols[0] ?? null] : protocols };
  return [{ route, tls: same ? [tls[0] ?? null] : tls, ...protocolsPart, endpoints: same ? null : target.endpointIds }];
}

/** The bundle's routes with HTTPS or HTTP/2 backends. */
export function upstreamTlsOf(bundle: TableBundle): BundledUpstreamTls[] {
  return JSON.parse(bundle.upstreamTls) as BundledUpstreamTls[];
}

function checkShape(bundle: TableBundle): void {
  const fields = bundle as Partial<TableBundle>;
  if (!(fields.table instanceof Uint8Array) || !(fields.redirects instanceof Uint8Array) || typeof fields.digest !== 'string' || typeof fields.version !== 'string' || typeof fields.routeLabels !== 'string' || typeof fields.endpoints !== 'string' || typeof fields.policies !== 'string' || typeof fields.regexHosts !== 'string' || typeof fields.upstreamTls !== 'string' || !Array.isArray(fields.endpointSets)) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', 'bundle is malformed');
  }
}

function checkDigest(bundle: TableBundle, actual: string): void {
  if (actual !== bundle.digest) throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `bundle of ${bundle.version} hashes to ${actual}, not ${bundle.digest} (damaged)`);
}

/**
 * Checks that a bundle is what it says: table and metadata hash to its digest. Throws
 * PORTICO_E_SNAPSHOT_LOAD naming what is wrong (the matcher checks the table's own structure).
 */
export function verifyBundle(bundle: TableBundle): void {
  checkShape(bundle);
  const { digest: _digest, ...content } = bundle;
  checkDigest(bundle, digestOf(content));
}

/**
 * `verifyBundle` with the hashing off the event loop: what a worker runs before its swap, so
 * traffic is not stalled by it. Rejects with PORTICO_E_SNAPSHOT_LOAD.
 */
export async function verifyBundleOffLoop(bundle: TableBundle): Promise<void> {
  checkShape(bundle);
  const { digest: _digest, ...content } = bundle;
  checkDigest(bundle, await digestOffLoop(content));
}

/** The bundle's route labels (empty bundle: none). */
export function routeLabelsOf(bundle: TableBundle): string[] {
  return bundle.routeLabels === '' ? [] : bundle.routeLabels.split('\n');
}

/** A route's annotation policies as the bundle carries them. */
export interface BundledPolicies {
  readonly route: number;
  readonly policies: RoutePolicies;
  readonly path: string | null;
  readonly regex: boolean;
  /** The route ids of its RequestMirror backends (hidden routes); absent for none. */
  readonly mirrors?: readonly number[];
}

/** The bundle's routes with annotation policies. */
export function routePoliciesOf(bundle: TableBundle): BundledPolicies[] {
  return JSON.parse(bundle.policies) as BundledPolicies[];
}

/** The bundle's hosts with regex paths. */
export function regexHostsOf(bundle: TableBundle): RegexHost[] {
  return JSON.parse(bundle.regexHosts) as RegexHost[];
}

/** The bundle's endpoints by id. */
export function endpointsOf(bundle: TableBundle): { address: string; port: number }[] {
  if (bundle.endpoints === '') return [];
  return bundle.endpoints.split('\n').map((line) => {
    const space = line.lastIndexOf(' ');
    return { address: line.slice(0, space), port: Number(line.slice(space + 1)) };
  });
}
