/**
 * Table bundles: a snapshot compiled for the matcher — the encoded binary table plus the compact
 * metadata its ids index (route labels, redirect flags, endpoints, endpoint sets, TLS
 * references) — so that loading it is a copy into wasm memory, not a compile. Part of the
 * contract both planes import: the control plane compiles each version once (bundle-compile.ts,
 * per host, reusing what did not change), data planes verify the digest and load it.
 */
import { createHash } from 'node:crypto';
import { TABLE_BLOCK_BYTES, TableBlocks, encodeGrid } from '@portico/assembly/encode';
import type { Snapshot, SnapshotBackend, SnapshotHost, SnapshotUpstreamTls } from './schema.ts';
import type { RouteTarget } from './table.ts';
import type { RoutePolicies } from './policies/registry.ts';
import { endpointLine, toMatcherTable } from './table.ts';
import { carriesPassthrough } from './policies/ssl-passthrough.ts';
import { blockDigest, blocksDigestOf, linesDigest } from './bundle-lines.ts';
import type { SetList } from './bundle-sets.ts';
import { setsDigest } from './bundle-sets.ts';
import { compareHosts, lowerBound } from './order.ts';

export { LINE_BLOCK, blockDigest, blocksDigestOf, lineBlocks, linesDigest } from './bundle-lines.ts';
export { SET_BLOCK, hashSetBlock, knownSetDigests, setBlockCount, setBlocksEdit, setListAfter, setsDigest, setsDigestOf } from './bundle-sets.ts';
export type { SetBlocksEdit, SetList } from './bundle-sets.ts';

/** The TLS part of a snapshot: which host uses which certificate, and the certificates. */
export interface TlsBundle {
  readonly hosts: readonly { readonly host: string; readonly certificate: string | null }[];
  readonly certificates: Snapshot['certificates'];
  /**
   * The hosts (snapshot order) with a route that asks clients for a certificate (auth-tls, not
   * `off`): a handshake whose SNI names one asks for it. Absent when none does.
   */
  readonly clientCertificateHosts?: readonly string[];
  /**
   * The hosts (snapshot order, never wildcards) whose TLS connections are passed through
   * (`ssl-passthrough`), each with the label of the `/` route whose backend takes them. Absent
   * when none is.
   */
  readonly passthrough?: readonly PassthroughHost[];
}

/** A host whose TLS connections are spliced, not terminated, and the route (label) that carries them. */
export interface PassthroughHost {
  readonly host: string;
  readonly route: string;
}

/** A compiled snapshot. Plain data (typed arrays and strings): it crosses process boundaries by structured clone. */
export interface TableBundle {
  readonly version: string;
  /** True for an endpoint-only update: the table has no hosts and serves endpoint choice alone. */
  readonly balancingOnly: boolean;
  /** The encoded matcher table (a grid: `encodeGrid`, `assembleGrid`): its route ids, and every part's below, are the grid's (sparse: an id no route has is '' / 0 here). */
  readonly table: Uint8Array;
  /** `sha256:` + hex SHA-256 over the digests of the table and of every metadata field (`digestOf`). */
  readonly digest: string;
  /** Per route id, its metrics label ('' for an id no route has); joined by `\n`. Empty in a balancing-only bundle (the routes' labels stay). */
  readonly routeLabels: string;
  /** Per route id, bit 0 set when plain HTTP is redirected to HTTPS, bit 1 when that redirect keeps a trailing slash. */
  readonly redirects: Uint8Array;
  readonly needsHeaders: boolean;
  /**
   * Per endpoint id, `address port`, '' for a gap (an unused slot of the endpoint ids, never
   * picked: ids are slots, endpoint-slots.ts), then ` 0` for the stand-in of invalid backends if
   * any; joined by `\n`. As many lines as the table has endpoints.
   */
  readonly endpoints: string;
  /** JSON of the routes with annotation policies: `[{route, policies, path, regex}]` (most routes have none); `[]` in a balancing-only bundle (the routes' policies stay). */
  readonly policies: string;
  /** JSON of the hosts with regex paths (`RegexHost[]`, usually `[]`). */
  readonly regexHosts: string;
  /** JSON of the routes with HTTPS or HTTP/2 backends: `[{route, tls, protocols?, endpoints}]` (see `BundledUpstreamTls`; most routes have none). */
  readonly upstreamTls: string;
  /** The table's endpoint sets that are not empty (endpoint ids, in set id order), for the health panic threshold; hashed by blocks of sets (bundle-sets.ts). */
  readonly endpointSets: SetList;
  /** Absent for a balancing-only bundle (certificates stay as they are). */
  readonly tls?: TlsBundle;
}

/** A bundle's route labels read one line at a time (LineText), without the whole `routeLabels` text. */
export interface LabelLines {
  /** Lines (route ids) in all. */
  readonly lines: number;
  /** The label of route `line` (undefined outside). */
  line(line: number): string | undefined;
}

// Keyed by the bundle object, not a property on it: a structured clone or a copy of the bundle (a
// worker's, a sync body's) carries only the plain text, as before.
const labelLines = new WeakMap<TableBundle, LabelLines>();

/** Records that `bundle`'s routeLabels text is `lines` joined (BundleCompiler's bundles, whose text is joined on the first read). */
export function withLabelLines<T extends TableBundle>(bundle: T, lines: LabelLines): T {
  labelLines.set(bundle, lines);
  return bundle;
}

/** The line reader of `bundle`'s routeLabels when the bundle was made with one (undefined: read the text). */
export function labelLinesOf(bundle: TableBundle): LabelLines | undefined {
  return labelLines.get(bundle);
}

/**
 * A bundle's endpoints read one line (endpoint id) at a time (LineText), without the whole
 * `endpoints` text, and which lines changed since an earlier version's: a data plane that loaded
 * `earlier` reads those alone.
 */
export interface EndpointLines extends LabelLines {
  /** The lines (ascending) that may differ from `earlier`'s, or undefined when unknown or more than `limit` (read every line). */
  changedSince(earlier: EndpointLines, limit: number): readonly number[] | undefined;
}

const endpointLines = new WeakMap<TableBundle, EndpointLines>();

/** Records that `bundle`'s endpoints text is `lines` joined (BundleCompiler's bundles, whose text is joined on the first read). */
export function withEndpointLines<T extends TableBundle>(bundle: T, lines: EndpointLines): T {
  endpointLines.set(bundle, lines);
  return bundle;
}

/** The line reader of `bundle`'s endpoints when the bundle was made with one (undefined: read the text). */
export function endpointLinesOf(bundle: TableBundle): EndpointLines | undefined {
  return endpointLines.get(bundle);
}

// Like labelLines: a clone or a copy of the bundle carries the flat `table` alone.
const tableBlocks = new WeakMap<TableBundle, TableBlocks>();

/**
 * Records that `bundle`'s table is `blocks` (BundleCompiler's bundles, whose `table` is flattened on
 * the first read; a worker's bundle rebuilt from a delta): a data plane verifies and loads it
 * block by block, never reading `table`. `blocks` must hold exactly the bytes `table` reads.
 */
export function withTableBlocks<T extends TableBundle>(bundle: T, blocks: TableBlocks): T {
  tableBlocks.set(bundle, blocks);
  return bundle;
}

/**
 * The blocks of `bundle`'s table: those it was made with (withTableBlocks), else views of its
 * `table` (no copy), remembered for the bundle so that each block is one object for its life.
 * Throws TypeError when the bundle has neither (its `table` is not a Uint8Array).
 */
export function tableBlocksOf(bundle: TableBundle): TableBlocks {
  let blocks = tableBlocks.get(bundle);
  if (blocks === undefined) {
    const table: unknown = bundle.table;
    if (!(table instanceof Uint8Array)) throw new TypeError(`the bundle's table is ${table === null ? 'null' : typeof table}, not a Uint8Array`);
    tableBlocks.set(bundle, (blocks = TableBlocks.of(table)));
  }
  return blocks;
}

/** A route's metrics label: `namespace/name@host/path`, `…@host` for a host default, `…@default` for the catch-all. */
export function routeLabel(target: Pick<RouteTarget, 'kind' | 'host' | 'route'>): string {
  const { namespace, name } = target.route.source;
  if (target.kind === 'default') return `${namespace}/${name}@default`;
  return target.kind === 'path' && 'path' in target.route ? `${namespace}/${name}@${target.host}${target.route.path}` : `${namespace}/${name}@${target.host}`;
}

/** Bit 0: plain HTTP is redirected to HTTPS; bit 1: that redirect keeps a trailing slash (preserve-trailing-slash). */
export function redirectBits(route: RouteTarget['route']): number {
  return (route.redirect.sslRedirect || route.redirect.forceSslRedirect ? 1 : 0) | (route.policies?.preserveTrailingSlash === true ? 2 : 0);
}

/** The index of `routeLabels` among `bundleParts`. */
export const ROUTE_LABELS_PART = 1;
/** The index of `endpoints` among `bundleParts`. */
export const ENDPOINTS_PART = 3;
/** The index of `endpointSets` among `bundleParts`. */
export const ENDPOINT_SETS_PART = 7;

/** One part of a bundle as its digest reads it: bytes, a text, or the endpoint sets (hashed by blocks). */
export type BundlePart = string | Uint8Array | SetList;

/** The parts of a bundle its digest covers, in order: their digests are `tableDigest` (the table), `linesDigest` (routeLabels, endpoints), `setsDigest` (endpointSets), SHA-256 (the others). */
export function bundleParts(bundle: Omit<TableBundle, 'digest'>): BundlePart[] {
  return [bundle.table, ...metadataParts(bundle)];
}

/** `bundleParts` but the table (the first): what a data plane hashing the table by blocks reads of a bundle. */
export function metadataParts(bundle: Omit<TableBundle, 'digest' | 'table'>): BundlePart[] {
  return [bundle.routeLabels, bundle.redirects, bundle.endpoints, bundle.policies, bundle.regexHosts, bundle.upstreamTls, bundle.endpointSets, JSON.stringify(bundle.tls ?? null)];
}

/**
 * The table part's digest (hex): SHA-256 over the SHA-256 (32 bytes each, in order) of its
 * TABLE_BLOCK_BYTES blocks (hashed through views, no copy), so a version that rewrote a few blocks
 * hashes those alone.
 */
export function tableDigest(table: Uint8Array): string {
  const digests: Buffer[] = [];
  for (let at = 0; at < table.length; at += TABLE_BLOCK_BYTES) digests.push(blockDigest(table.subarray(at, Math.min(at + TABLE_BLOCK_BYTES, table.length))));
  return blocksDigestOf(digests);
}

/** The content address from the parts' own digests (hex, in `bundleParts` order, as `partDigest` gives them). */
export function combineDigests(bundle: Pick<TableBundle, 'version' | 'balancingOnly' | 'needsHeaders'>, partDigests: readonly string[]): string {
  const root = createHash('sha256').update(`${bundle.version}\0${bundle.balancingOnly ? 1 : 0}\0${bundle.needsHeaders ? 1 : 0}\0${partDigests.join('\0')}`);
  return `sha256:${root.digest('hex')}`;
}

/** `sha256:<hex>` over the table and every metadata field: the bundle's content address. */
export function digestOf(bundle: Omit<TableBundle, 'digest'>): string {
  return combineDigests(bundle, bundleParts(bundle).map((part, i) => partDigest(i, part)));
}

/** The digest (hex) of part `index` of `bundleParts`. */
export function partDigest(index: number, part: BundlePart): string {
  if (index === 0) return tableDigest(part as Uint8Array);
  if (index === ROUTE_LABELS_PART || index === ENDPOINTS_PART) return linesDigest(part as string);
  if (index === ENDPOINT_SETS_PART) return setsDigest(part as SetList);
  return createHash('sha256').update(part as string | Uint8Array).digest('hex');
}

/**
 * The reference compile: a snapshot into a bundle in one pass over everything (`toMatcherTable`
 * + `encodeGrid`, every part naming routes by the grid's ids); with `balancingOnly`, only endpoint choice. BundleCompiler gives the same
 * bundle reusing unchanged hosts. Throws (PORTICO_E_TABLE_INVALID) when the table breaks the
 * matcher's contract.
 */
export function compileBundle(snapshot: Snapshot, balancingOnly = false): TableBundle {
  const compiled = toMatcherTable(snapshot);
  // A balancing-only table keeps the full one's places and ids (the grid follows the hosts), without the hosts.
  const { table, layout, routeIds } = encodeGrid(compiled.table, { balancingOnly });
  const grid = (id: number): number => routeIds[id]!;
  const labels = new Array<string>(layout.plan.routeCount).fill('');
  const redirects = new Uint8Array(layout.plan.routeCount);
  compiled.routes.forEach((target, id) => {
    labels[grid(id)] = routeLabel(target);
    redirects[grid(id)] = redirectBits(target.route);
  });
  const regexHosts = compiled.regexHosts.map((host) => ({ first: grid(host.first), paths: host.paths.map((path) => ({ pattern: path.pattern, route: grid(path.route) })), fallback: host.fallback >= 0 ? grid(host.fallback) : host.fallback }));
  const bundle = {
    version: snapshot.version,
    balancingOnly,
    table,
    routeLabels: balancingOnly ? '' : labels.join('\n'),
    redirects,
    needsHeaders: !balancingOnly && compiled.table.hosts.some((host) => host.paths.some((path) => (path.conditions?.headers?.length ?? 0) > 0)),
    endpoints: compiled.endpoints.map(endpointLine).join('\n'),
    policies: balancingOnly ? '[]' : JSON.stringify(compiled.routes.flatMap((target, route) => (target.route.policies === undefined ? [] : [policyEntry(target, grid(route), target.mirrors?.map(grid), target.fallback === undefined ? undefined : grid(target.fallback))]))),
    regexHosts: JSON.stringify(balancingOnly ? [] : regexHosts),
    upstreamTls: JSON.stringify(compiled.routes.flatMap((target, route) => bundledUpstreamTls(target, grid(route))).sort((a, b) => a.route - b.route)),
    endpointSets: compiled.table.sets.filter((set) => set.length > 0),
    ...(balancingOnly ? {} : { tls: tlsOf(snapshot) }),
  };
  return { ...bundle, digest: digestOf(bundle) };
}

const asks = (route: { readonly policies?: RoutePolicies | undefined } | null): boolean => route?.policies?.authTls !== undefined && route.policies.authTls.verify !== 'off';

/** Whether a snapshot host has a route that asks for a client certificate, by host item (items are immutable and shared by the versions that did not change them). */
const hostAsks = new WeakMap<SnapshotHost, boolean>();

function asksClientCertificate(host: SnapshotHost): boolean {
  let known = hostAsks.get(host);
  if (known === undefined) hostAsks.set(host, (known = host.routes.some(asks) || asks(host.defaultRoute)));
  return known;
}

/** A host's passthrough entry, by host item; null when it has none (wildcard hosts never: SNI is compared exactly, as ingress-nginx does). */
const hostPassthrough = new WeakMap<SnapshotHost, PassthroughHost | null>();

function passthroughOf(host: SnapshotHost): PassthroughHost | null {
  let known = hostPassthrough.get(host);
  if (known === undefined) {
    const route = host.host.startsWith('*') ? undefined : host.routes.find((candidate) => candidate.refused === undefined && carriesPassthrough(candidate));
    known = route === undefined ? null : { host: host.host, route: routeLabel({ kind: 'path', host: host.host, route }) };
    hostPassthrough.set(host, known);
  }
  return known;
}

/** Whether two snapshot hosts give the same entries in `tlsOf`: the same name, certificate, client-certificate ask and passthrough route. */
function sameTlsFacts(a: SnapshotHost, b: SnapshotHost): boolean {
  if (a === b) return true;
  const passA = passthroughOf(a);
  const passB = passthroughOf(b);
  return a.host === b.host && a.certificate === b.certificate && asksClientCertificate(a) === asksClientCertificate(b) && (passA === passB || (passA !== null && passB !== null && passA.route === passB.route));
}

/** A route's entry in the bundle's policies (route id `route`), with its hidden routes' ids (mirrors, default backend) as the table numbers them. */
export function policyEntry(target: Pick<RouteTarget, 'route'>, route: number, mirrors: readonly number[] | undefined, defaultBackend: number | undefined): unknown {
  return { route, policies: target.route.policies, path: 'path' in target.route ? target.route.path : null, regex: 'regex' in target.route && target.route.regex === true, ...(mirrors === undefined ? {} : { mirrors }), ...(defaultBackend === undefined ? {} : { fallback: defaultBackend }) };
}

/** `tlsOf` by snapshot: worked out once per version, whoever asks (the bundle compile, a data plane loading the snapshot). */
const tlsBySnapshot = new WeakMap<Snapshot, TlsBundle>();

/** The certificates and which hosts use them (the same object each time it is asked for the same snapshot). */
export function tlsOf(snapshot: Snapshot): TlsBundle {
  let known = tlsBySnapshot.get(snapshot);
  if (known === undefined) tlsBySnapshot.set(snapshot, (known = tlsFrom(snapshot)));
  return known;
}

/**
 * `tlsOf(snapshot)` knowing `before`, a version with as many hosts whose hosts differ from
 * `snapshot`'s only at the indices `changed`: `before`'s TLS part itself when the certificates
 * are the same items, the catch-all the same object and every changed host keeps its name,
 * certificate, client-certificate ask and passthrough route (the cost of the changed hosts);
 * else worked out afresh.
 */
export function tlsAfter(snapshot: Snapshot, before: Snapshot, changed: readonly number[]): TlsBundle {
  const known = tlsBySnapshot.get(snapshot);
  if (known !== undefined) return known;
  const previous = tlsOf(before);
  const same = snapshot.hosts.length === before.hosts.length && snapshot.defaultRoute === before.defaultRoute && snapshot.certificates.length === before.certificates.length && snapshot.certificates.every((c, i) => c === before.certificates[i]) && changed.every((p) => sameTlsFacts(before.hosts[p]!, snapshot.hosts[p]!));
  if (!same) return tlsOf(snapshot);
  tlsBySnapshot.set(snapshot, previous);
  return previous;
}

/**
 * `tlsOf(snapshot)` knowing `before`, whose hosts are `snapshot`'s but `removed` (taken away) and
 * `added` (a host replaced is both): `before`'s TLS part with the entries of those hosts taken out
 * and put in at their places (snapshot order), or `before`'s itself when none of them has a
 * certificate, a client-certificate ask or a passthrough route — the cost of the changed hosts and a
 * copy of the lists, not a walk of every host. Worked out afresh when the certificates or the
 * catch-all differ, or the any-host is among them (the catch-all's ask is listed as it).
 */
export function tlsShifted(snapshot: Snapshot, before: Snapshot, added: readonly SnapshotHost[], removed: readonly SnapshotHost[]): TlsBundle {
  const known = tlsBySnapshot.get(snapshot);
  if (known !== undefined) return known;
  const sameRest = snapshot.defaultRoute === before.defaultRoute && snapshot.certificates.length === before.certificates.length && snapshot.certificates.every((c, i) => c === before.certificates[i]);
  if (!sameRest || added.some((host) => host.host === '*') || removed.some((host) => host.host === '*')) return tlsOf(snapshot);
  const withFacts = (hosts: readonly SnapshotHost[]): SnapshotHost[] => hosts.filter((host) => host.certificate !== null || asksClientCertificate(host) || passthroughOf(host) !== null);
  const come = withFacts(added);
  const gone = new Set(withFacts(removed).map((host) => host.host));
  const previous = tlsOf(before);
  let tls = previous;
  if (come.length + gone.size > 0) {
    const hosts = spliced(previous.hosts, (entry) => entry.host, gone, come.filter((host) => host.certificate !== null).map((host) => ({ host: host.host, certificate: host.certificate })));
    const clientCertificateHosts = spliced(previous.clientCertificateHosts ?? [], (host) => host, gone, come.filter(asksClientCertificate).map((host) => host.host));
    const passthrough = spliced(previous.passthrough ?? [], (entry) => entry.host, gone, come.map(passthroughOf).filter((entry) => entry !== null));
    tls = { hosts, certificates: snapshot.certificates, ...(clientCertificateHosts.length === 0 ? {} : { clientCertificateHosts }), ...(passthrough.length === 0 ? {} : { passthrough }) };
  }
  tlsBySnapshot.set(snapshot, tls);
  return tls;
}

/** `list` (in snapshot host order) without the entries named in `gone`, with `come` put in at their places. */
function spliced<T>(list: readonly T[], nameOf: (item: T) => string, gone: ReadonlySet<string>, come: readonly T[]): T[] {
  const out = gone.size === 0 ? list.slice() : list.filter((item) => !gone.has(nameOf(item)));
  for (const item of come) out.splice(lowerBound(out, nameOf(item), nameOf, compareHosts), 0, item);
  return out;
}

function tlsFrom(snapshot: Snapshot): TlsBundle {
  const passthrough = snapshot.hosts.map(passthroughOf).filter((entry) => entry !== null);
  const clientCertificateHosts = snapshot.hosts.filter(asksClientCertificate).map((host) => host.host);
  // The catch-all route answers any host: every handshake then asks.
  if (asks(snapshot.defaultRoute) && !clientCertificateHosts.includes('*')) clientCertificateHosts.push('*');
  return {
    hosts: snapshot.hosts.filter((host) => host.certificate !== null).map((host) => ({ host: host.host, certificate: host.certificate })),
    certificates: snapshot.certificates,
    ...(clientCertificateHosts.length === 0 ? {} : { clientCertificateHosts }),
    ...(passthrough.length === 0 ? {} : { passthrough }),
  };
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

/** `route`'s entry for `BundledUpstreamTls` (none for a route whose backends all speak plain HTTP/1.1). */
export function bundledUpstreamTls(target: Pick<RouteTarget, 'route' | 'endpointIds'>, route: number): BundledUpstreamTls[] {
  const tls = target.route.backends.map((backend) => backend.tls ?? null);
  const protocols = target.route.backends.map((backend) => backend.protocol ?? null);
  const plain = protocols.every((p) => p === null);
  if (tls.every((t) => t === null) && plain) return [];
  const same = tls.every((t) => JSON.stringify(t) === JSON.stringify(tls[0])) && protocols.every((p) => p === protocols[0]);
  // Routes whose backends all speak HTTP/1.1 carry no `protocols` key: their bundles digest as before.
  const protocolsPart = plain ? {} : { protocols: same ? [protocols[0] ?? null] : protocols };
  return [{ route, tls: same ? [tls[0] ?? null] : tls, ...protocolsPart, endpoints: same ? null : target.endpointIds }];
}
