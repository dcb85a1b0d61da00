/**
 * The incremental bundle compile: each snapshot host is compiled once into a piece — its table
 * chunk (`encodeChunk`, route ids local to the host) and the per-route metadata that depends on
 * the host alone — kept while the host item lives (unchanged hosts are the same object in the next
 * version, see compile/), and every version is assembled from its hosts' pieces: endpoint ids
 * and sets, route records (which hold set ids), the host tables and the metadata strings. The result is the bundle the reference
 * `compileBundle` gives (the tests hold them byte-equal), for the cost of the changed hosts plus
 * copies.
 */
import { createHash } from 'node:crypto';
import { NO_ROUTE, Pages, TableBlocks, assembleGrid, bucketCount, encodeChunk, overflowExtent, packBucket, patchGrid, patchOwnChunks, unitBytes } from '@portico/assembly/encode';
import type { GridPlan, GridUnit, ItemList, LaidOutTable, PlacedChunk, TableChunk, UnitSize } from '@portico/assembly/encode';
import type { RouteEntry } from '@portico/assembly/table';
import type { BundledUpstreamTls, TableBundle, TlsBundle } from './bundle.ts';
import { ENDPOINTS_PART, bundledUpstreamTls, withEndpointLines, withLabelLines, withTableBlocks, combineDigests, policyEntry, redirectBits, routeLabel, tlsAfter, tlsOf, tlsShifted } from './bundle.ts';
import { LineText, blockDigest, blocksDigestOf } from './bundle-lines.ts';
import type { SetList } from './bundle-sets.ts';
import { setsDigest } from './bundle-sets.ts';
import type { Snapshot, SnapshotHost } from './schema.ts';
import { PorticoError } from '../errors.ts';
import type { RegexHost, RouteTarget, SetIds } from './table.ts';
import { changedRange, keptRuns, sameItems } from './sealed-against.ts';
import type { KeptRuns } from './sealed-against.ts';
import { changedSetIds } from './set-changes.ts';
import { endpointIdsOf, routeRecord, toMatcherTable } from './table.ts';
import { EndpointNumberer } from './endpoint-numbering.ts';
import type { Numbering } from './endpoint-numbering.ts';

/**
 * A snapshot host compiled: its chunk and its routes (then its hidden routes: RequestMirror,
 * default-backend), ids local. One is kept per live host (50k at a time at fleet scale), so it holds
 * what the next versions need and no more: a plain piece's routes are read from its host
 * (`routeOf`), empty lists and all-zero redirect bits are shared constants, and its chunk's bytes and
 * relocations share one buffer (`compactChunk`).
 */
interface HostPiece {
  readonly chunk: TableChunk;
  /** The host compiled (its routes are the piece's run when the piece is plain). */
  readonly host: SnapshotHost;
  /** Its path routes and default route (local ids 0..matched-1, the chunk's run), then its mirror routes; undefined when plain (then they are its host's routes, then its default route: `routeOf`). */
  readonly targets: readonly RouteTarget[] | undefined;
  /** How many routes it has: the run, then the mirror routes. */
  readonly routeCount: number;
  /** How many of its routes the chunk's run holds (the rest are mirror routes, placed after every host's). */
  readonly matched: number;
  /** Labels of the run's routes and of the mirror routes, each joined by `\n`. */
  readonly labels: string;
  readonly mirrorLabels: string;
  /** Redirect bits of the run's routes, then of the mirror routes; shorter (NO_REDIRECTS) when the rest are 0: read with `redirectOf`. */
  readonly redirects: Uint8Array;
  /** Local ids of the routes with HTTPS or HTTP/2 backends (usually none). */
  readonly upstream: readonly number[];
  /** Local ids of the run's routes with policies (usually none). */
  readonly withPolicies: readonly number[];
  /** Its regex dispatch (local ids; fallback -1 means the catch-all), if it has regex paths. */
  readonly regex: RegexHost | undefined;
  readonly needsHeaders: boolean;
  readonly invalidBackends: boolean;
  /** No mirror routes, policies, upstream TLS or regex paths: its routes are its run alone, nothing else of the bundle names them. */
  readonly plain: boolean;
  /** Route records of `targets` for one set numbering (kept while the set ids are). */
  entries?: { readonly setIds: SetIds; readonly routes: readonly RouteEntry[] };
}

/** A piece's route records under one numbering. */
type Entries = NonNullable<HostPiece['entries']>;

/** What a list of entries holds at an added host's place until its records are made (#shifted). */
const NO_ENTRIES: Entries = Object.freeze({ setIds: Object.freeze([]) as unknown as Entries['setIds'], routes: Object.freeze([]) });

/** The shared empty lists and bits of pieces (most hosts have no upstream TLS, no policies, no redirect). */
const NO_IDS: readonly number[] = Object.freeze([]);
const NO_REDIRECTS = new Uint8Array(0);

/** A piece's route of local id `local` (its targets', or for a plain piece its host's: routes, then the default route). */
function routeOf(piece: HostPiece, local: number): RouteTarget['route'] {
  if (piece.targets !== undefined) return piece.targets[local]!.route;
  const routes = piece.host.routes;
  return local < routes.length ? routes[local]! : piece.host.defaultRoute!;
}

/** A piece's redirect bits of local route `local`. */
function redirectOf(piece: HostPiece, local: number): number {
  return piece.redirects[local] ?? 0;
}

/**
 * `chunk` as kept with its piece, the same bytes and relocations: bytes and relocations in one
 * buffer (bytes are a multiple of 8 long, so the relocations after them are aligned). A chunk
 * encoded alone has a buffer per typed array; at 50k hosts those buffers, not their bytes, were most of a chunk's heap.
 */
export function compactChunk(chunk: TableChunk): TableChunk {
  const { bytes, relocations } = chunk;
  const buffer = new ArrayBuffer(bytes.byteLength + relocations.byteLength);
  const packed = new Uint8Array(buffer, 0, bytes.byteLength);
  packed.set(bytes);
  const packedRelocations = new Uint32Array(buffer, bytes.byteLength, relocations.length);
  packedRelocations.set(relocations);
  return {
    bytes: packed,
    hosts: chunk.hosts,
    relocations: packedRelocations,
    routeCount: chunk.routeCount,
  };
}

/** A bundle's fields but its table, its two line texts and its digest. */
type BundleFields = Omit<TableBundle, 'table' | 'routeLabels' | 'endpoints' | 'digest'>;

/** The line text of no line: a balancing-only bundle's routeLabels. */
const NO_LINES = LineText.of([], undefined, 0);

/** The last bundle given in one mode, the snapshot it was compiled from, its parts' digests (bundleParts order), its fields and its table's blocks. */
interface LastBundle {
  readonly snapshot: Snapshot;
  readonly bundle: TableBundle;
  readonly digests: readonly string[];
  readonly fields: BundleFields;
  readonly table: TableBlocks;
  readonly labels: LineText | undefined;
  readonly endpoints: LineText;
}

/**
 * The bundle of `fields`, `table` and the line texts: its `table`, `routeLabels` and `endpoints`
 * are made whole on first read (the control plane only needs the digest and never reads them; a
 * data plane loading the bundle reads the table block by block through tableBlocksOf (a reused
 * instance copies only the blocks it lacks), and the labels and endpoints line by line through
 * labelLinesOf / endpointLinesOf, never the whole table or text; structured clone reads them all).
 */
function bundleOf(fields: BundleFields, table: TableBlocks, labels: LineText | undefined, endpoints: LineText, digest: string): TableBundle {
  // The data plane in this process labels routes and reads endpoints line by line (labelLinesOf,
  // endpointLinesOf: an endpoint change, the changed lines alone) and never joins the texts, and
  // loads the table by blocks (tableBlocksOf): it is never flattened for it.
  const bundle = withLabelLines({
    ...fields,
    get table(): Uint8Array {
      return table.bytes();
    },
    get routeLabels(): string {
      return labels === undefined ? '' : labels.text();
    },
    get endpoints(): string {
      return endpoints.text();
    },
    digest,
  }, labels ?? NO_LINES);
  return withTableBlocks(withEndpointLines(bundle, endpoints), table);
}

/** The catch-all route's label. */
function catchAllLabel(catchAll: NonNullable<Snapshot['defaultRoute']>): string {
  return routeLabel({ kind: 'default', host: undefined, route: catchAll });
}

/** A piece's labels: its run's, then its mirror routes', one line per route id it takes. */
function pieceLabels(piece: HostPiece): string {
  return piece.mirrorLabels === '' ? piece.labels : piece.labels === '' ? piece.mirrorLabels : `${piece.labels}\n${piece.mirrorLabels}`;
}

/** The labels of grid bucket `b`'s units (`members`, in unit order: their ids follow one another from b·R), one segment of routeLabels. */
function bucketLabels(members: readonly number[], pieces: ItemList<HostPiece>): string {
  const lines: string[] = [];
  for (const u of members) if (pieces.at(u)!.routeCount > 0) lines.push(pieceLabels(pieces.at(u)!));
  return lines.join('\n');
}

/**
 * The routeLabels text of a full bundle as segments in route id order, one per grid bucket (its
 * units' labels from id b·R: segment b), then the catch-all's at B·R (segment B, '' without one),
 * then one per overflow unit (segment B + 1 + its place in the overflow list); the ids no route has
 * are empty lines (gaps). A change to a bucket's units replaces its one segment (its R lines).
 */
function labelText(pieces: ItemList<HostPiece>, plan: GridPlan, catchAll: Snapshot['defaultRoute']): LineText {
  const members: number[][] = Array.from({ length: plan.buckets }, () => []);
  for (let u = 0; u < pieces.length; u++) if (plan.bucket[u]! >= 0) members[plan.bucket[u]!]!.push(u);
  const segments = members.map((units) => bucketLabels(units, pieces));
  const firsts = segments.map((_, b) => b * plan.options.bucketRoutes);
  segments.push(catchAll === null ? '' : catchAllLabel(catchAll));
  firsts.push(plan.catchAll);
  for (const u of plan.overflow) {
    segments.push(pieceLabels(pieces.at(u)!));
    firsts.push(plan.firstRoute[u]!);
  }
  return LineText.of(segments, firsts, plan.routeCount);
}

/** Line `line` of `text` replaced by `lines` through line `line + count - 1` (a bucket's segment with one unit's labels changed). */
function withLines(text: string, line: number, count: number, lines: string): string {
  let start = 0;
  for (let k = 0; k < line; k++) start = text.indexOf('\n', start) + 1;
  let end = start - 1;
  for (let k = 0; k < count; k++) {
    end = text.indexOf('\n', end + 1);
    if (end < 0) break;
  }
  return `${text.slice(0, start)}${lines}${end < 0 ? '' : text.slice(end)}`;
}

/** A bundle made, with what the next version of the same mode may take from it. */
type Made = Omit<LastBundle, 'snapshot'>;

/**
 * The places where `items` holds another item than `before` (a list of as many), looking only
 * where sealing says they may differ (changedRange) when it knows; undefined when the lengths
 * differ or more than `max` places do.
 */
function changedPlaces<T>(items: readonly T[], before: readonly T[], max: number): number[] | undefined {
  if (items.length !== before.length) return undefined;
  const range = changedRange(items, before) ?? { from: 0, to: items.length };
  const places: number[] = [];
  for (let i = range.from; i < range.to; i++) {
    if (items[i] === before[i]) continue;
    if (places.push(i) > max) return undefined;
  }
  return places;
}

/**
 * The SHA-256 (hex) of successive versions of one bundle part, as `digestOf` hashes it. A part
 * equal to the last one is not hashed again; a table (blocks) hashes again only the blocks that
 * are not the last version's (a patched table shares the blocks it did not write, blocks.ts).
 */
class PartDigest {
  #part: string | Uint8Array | undefined;
  #digest = '';
  /** The last table given and its blocks' digests. */
  #table: { readonly blocks: readonly Uint8Array[]; readonly digests: readonly Uint8Array[] } | undefined;
  /** The value whose JSON `#part` is (`ofJson`). */
  #source: unknown;
  /** The last endpoint set list given to `ofSets`. */
  #sets: SetList | undefined;

  /** The digest of `JSON.stringify(value)`, the JSON made (and hashed) only when `value` is not the last one given. */
  ofJson(value: unknown): string {
    if (this.#source !== undefined && value === this.#source) return this.#digest;
    const digest = this.of(JSON.stringify(value));
    this.#source = value;
    return digest;
  }

  of(part: string | Uint8Array): string {
    if (part === this.#part) return this.#digest;
    this.#source = undefined;
    this.#part = part;
    this.#digest = createHash('sha256').update(part).digest('hex');
    return this.#digest;
  }

  /**
   * `setsDigest` of the bundle's endpointSets: only the blocks holding a set that is not the last
   * list's very array (at the same place) are stringified and hashed. A move or a scale then costs
   * its blocks, not a JSON of every set.
   */
  ofSets(sets: SetList): string {
    const last = this.#sets;
    if (last === sets) return this.#digest;
    this.#sets = sets;
    this.#part = undefined;
    this.#source = undefined;
    this.#table = undefined;
    this.#digest = setsDigest(sets, last);
    return this.#digest;
  }

  /** `tableDigest` of a table held as blocks. */
  ofTable(table: TableBlocks): string {
    const last = this.#table;
    if (last !== undefined && last.blocks === table.blocks) return this.#digest;
    const digests = table.blocks.map((block, b) => (last !== undefined && last.blocks[b] === block ? last.digests[b]! : blockDigest(block)));
    this.#table = { blocks: table.blocks, digests };
    this.#part = undefined;
    this.#source = undefined;
    this.#digest = blocksDigestOf(digests);
    return this.#digest;
  }
}

/** What the last compile of one kind (full or balancing-only) was made of: the next one patches it when it can. */
interface LastCompile {
  /** The numbering its route records and sets were made with, and whether its hosts have invalid backends (the stand-in endpoint). */
  readonly numbering: Numbering;
  readonly invalid: boolean;
  /** The snapshot compiled (pieces[p] is its hosts[p]'s). */
  readonly snapshot: Snapshot;
  readonly pieces: ItemList<HostPiece>;
  readonly entries: ItemList<Entries>;
  readonly catchAll: Snapshot['defaultRoute'];
  readonly firstRoutes: ArrayLike<number>;
  /** The bundle's routeLabels of a full bundle (undefined for a balancing-only one: ''): segments by grid bucket (labelText). */
  readonly routeLabels: LineText | undefined;
  readonly redirects: Uint8Array;
  readonly laidOut: LaidOutTable;
  /** The pieces that are not plain, in order. */
  readonly special: readonly number[];
  /** Whether any piece has mirror routes (their ids come after the catch-all's). */
  readonly mirrors: boolean;
  /** The units' bytes in all (the grid's bucket count follows it), and each bucket's units (made on the first patch that needs them). */
  readonly gridBytes: number;
  homed?: readonly (readonly number[])[];
  readonly needsHeaders: boolean;
}

/**
 * Compiles one host alone: `toMatcherTable` of a snapshot holding just it gives local ids. With
 * `shipped`, the host's table chunk as the control plane compiled it is taken instead of encoding
 * one (it must fit the host: its run of routes and its lookups; the bundle digest checks the rest).
 */
function compileHost(host: SnapshotHost, shipped?: TableChunk): HostPiece {
  const alone = toMatcherTable({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: '', hosts: [host], defaultRoute: null, endpointSets: [], certificates: [] });
  const matched = host.routes.length + (host.defaultRoute === null ? 0 : 1);
  const targets = alone.routes;
  const local = targets.map((_, id) => id);
  if (shipped !== undefined) {
    const lookups = alone.table.hosts.flatMap((entry) => (entry.labels === 'many' ? [entry.host, `${entry.host} deeper`] : entry.labels === 'deeper' ? [`${entry.host} deeper`] : [entry.host]));
    if (shipped.routeCount !== targets.length || JSON.stringify(shipped.hosts.flatMap((entry) => entry.lookups)) !== JSON.stringify(lookups)) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `the table chunk shipped for host ${host.host} does not fit it (${shipped.routeCount} routes for ${targets.length}, lookups ${JSON.stringify(shipped.hosts.flatMap((entry) => entry.lookups))})`);
    }
  }
  const upstream = local.filter((id) => targets[id]!.route.backends.some((backend) => backend.tls !== undefined || backend.protocol !== undefined));
  const withPolicies = local.filter((id) => id < matched && targets[id]!.route.policies !== undefined);
  const regex = alone.regexHosts[0];
  const redirects = Uint8Array.from(targets, (target) => redirectBits(target.route));
  const plain = targets.length === matched && withPolicies.length === 0 && upstream.length === 0 && regex === undefined;
  return {
    // Its entries name local ids below its route count (hidden routes: the grid keeps them in its unit).
    chunk: compactChunk(shipped ?? encodeChunk(alone.table.hosts, targets.length)),
    host,
    targets: plain ? undefined : targets,
    routeCount: targets.length,
    matched,
    labels: targets.slice(0, matched).map(routeLabel).join('\n'),
    mirrorLabels: targets.slice(matched).map(routeLabel).join('\n'),
    redirects: redirects.some((bits) => bits !== 0) ? redirects : NO_REDIRECTS,
    upstream: upstream.length === 0 ? NO_IDS : upstream,
    withPolicies: withPolicies.length === 0 ? NO_IDS : withPolicies,
    regex,
    needsHeaders: alone.table.hosts.some((entry) => entry.paths.some((path) => (path.conditions?.headers?.length ?? 0) > 0)),
    // As toMatcherTable decides it: from the host's rules (not its default route).
    invalidBackends: host.routes.some((route) => route.backends.some((backend) => backend.invalid === true)),
    plain,
    // Made by #entries; present from the start, the piece keeps one shape.
    entries: undefined,
  };
}

/** Whether any piece of `pieces` passes `test`, read in place (no copy of a paged list). */
function anyPiece(pieces: ItemList<HostPiece>, test: (piece: HostPiece) => boolean): boolean {
  for (let p = 0; p < pieces.length; p++) if (test(pieces.at(p)!)) return true;
  return false;
}

/**
 * Versions compiled, by the path each took: only the endpoints text replaced in the last bundle
 * (`endpointsInPlace`), patched from the last bundle's table (`patched`), or laid out from every
 * host's piece (`assembled`: the cost that follows the number of hosts).
 */
export interface BundleCompilePaths {
  readonly full: { endpointsInPlace: number; patched: number; assembled: number };
  readonly balancing: { endpointsInPlace: number; patched: number; assembled: number };
}

/**
 * Compiles snapshots into bundles, reusing the pieces of hosts that did not change. One per process:
 * in `portico standalone` the control plane (the chunks and digests it ships) and the local data
 * plane share one, so each version is compiled once.
 */
export class BundleCompiler {
  #pieces = new WeakMap<SnapshotHost, HostPiece>();
  #lastFull: LastCompile | undefined;
  #lastBalancing: LastCompile | undefined;
  /** The hosts of the last version assembled and their pieces: the next version's hosts that are the same objects at the same places take them without a lookup. */
  #lastPieces: { readonly hosts: readonly SnapshotHost[]; readonly pieces: ItemList<HostPiece> } | undefined;
  /** The digests of each bundle part (bundleParts order), for full and for balancing-only bundles. */
  #partDigests: Record<'full' | 'balancing', PartDigest[]> = { full: [], balancing: [] };
  #endpoints: { numbering: Numbering; text: LineText } | undefined;
  /** The last bundle given in each mode (full, balancing-only), for the snapshot it was compiled from. */
  #last: [LastBundle | undefined, LastBundle | undefined] = [undefined, undefined];
  /**
   * Hosts compiled (not reused) so far: what a change cost; bundles patched from the last one rather
   * than assembled; versions compiled (a second ask for the same snapshot is not); versions whose
   * only change was endpoint addresses in place (the last bundle with its endpoints text replaced);
   * endpoint numberings made from scratch (walking every set), not from the last one.
   */
  readonly stats = { hostsCompiled: 0, patched: 0, versionsAssembled: 0, endpointsInPlace: 0, numberedAfresh: 0 };
  readonly #numberer = new EndpointNumberer(this.stats);
  /** The versions of `stats.versionsAssembled` by mode and by the path their compile took (BundleCompilePaths). */
  readonly paths: BundleCompilePaths = { full: { endpointsInPlace: 0, patched: 0, assembled: 0 }, balancing: { endpointsInPlace: 0, patched: 0, assembled: 0 } };

  /**
   * The bundle of `snapshot` (with `balancingOnly`, endpoint choice alone: no hosts, no TLS): the
   * same object as last time when asked again for the same snapshot object in the same mode.
   * Throws PORTICO_E_TABLE_INVALID when a host's table breaks the matcher's contract.
   */
  compile(snapshot: Snapshot, balancingOnly = false): TableBundle {
    const mode = balancingOnly ? 1 : 0;
    const last = this.#last[mode];
    if (last?.snapshot === snapshot) return last.bundle;
    this.stats.versionsAssembled++;
    const patchedBefore = this.stats.patched;
    const inPlace = this.#endpointsInPlace(snapshot, balancingOnly);
    const made = inPlace ?? this.#assemble(snapshot, balancingOnly);
    this.paths[balancingOnly ? 'balancing' : 'full'][inPlace !== undefined ? 'endpointsInPlace' : this.stats.patched > patchedBefore ? 'patched' : 'assembled']++;
    this.#last[mode] = { snapshot, ...made };
    return made.bundle;
  }

  /**
   * The bundle of a version whose only change since the last bundle of the same mode is endpoint
   * addresses replaced in place: the same host items, catch-all and certificates, and a numbering
   * where every set keeps its id array (#numberEndpoints). Then the table, the route records and
   * every metadata part but `endpoints` are the last bundle's, and only that text and the digest are
   * made again: the cost of an endpoint change is its sets and the endpoints text, not the hosts.
   * Undefined otherwise (the caller assembles or patches).
   */
  #endpointsInPlace(snapshot: Snapshot, balancingOnly: boolean): Made | undefined {
    const last = this.#last[balancingOnly ? 1 : 0];
    const compiled = balancingOnly ? this.#lastBalancing : this.#lastFull;
    if (last === undefined || compiled === undefined) return undefined;
    const before = last.snapshot;
    if (snapshot.defaultRoute !== before.defaultRoute || changedPlaces(snapshot.hosts, before.hosts, 0) === undefined || (!balancingOnly && !sameItems(snapshot.certificates, before.certificates))) return undefined;
    const numbering = this.#numberEndpoints(snapshot, compiled.invalid);
    // The same sets list is made once per numbering made afresh and carried by every numbering worked out from it: the same set ids, stand-in and endpoint count.
    if (numbering.sets !== compiled.numbering.sets) return undefined;
    const fields = { ...last.fields, version: snapshot.version };
    const endpoints = this.#endpointsText(numbering);
    const digests = last.digests.slice();
    digests[ENDPOINTS_PART] = endpoints.digest;
    const kept: LastCompile = { ...compiled, numbering };
    if (balancingOnly) this.#lastBalancing = kept;
    else this.#lastFull = kept;
    this.stats.endpointsInPlace++;
    return { bundle: bundleOf(fields, last.table, last.labels, endpoints, combineDigests(fields, digests)), digests, fields, table: last.table, labels: last.labels, endpoints };
  }

  #assemble(snapshot: Snapshot, balancingOnly: boolean): Made {
    const quick = this.#quickPatch(snapshot, balancingOnly);
    if (quick !== undefined) {
      this.stats.patched++;
      return quick;
    }
    const shifted = this.#shifted(snapshot, balancingOnly);
    if (shifted !== undefined) {
      this.stats.patched++;
      return shifted;
    }
    const pieces = this.#piecesOf(snapshot.hosts);
    const invalid = pieces.some((piece) => piece.invalidBackends);
    const numbering = this.#numberEndpoints(snapshot, invalid);
    const entries = pieces.map((piece) => this.#entries(piece, numbering));
    const patched = this.#patched(snapshot, balancingOnly, pieces, numbering, invalid, entries);
    if (patched !== undefined) {
      this.stats.patched++;
      return patched;
    }
    // The grid places every piece (its chunk, then its route records: its run, then its mirror
    // routes) and gives its ids: the plan, not the host order, numbers the routes.
    const catchAll = snapshot.defaultRoute;
    const units: GridUnit[] = pieces.map((piece, p) => ({ name: piece.host.host, chunk: piece.chunk, routes: entries[p]!.routes }));
    const endpointCount = numbering.endpoints.length;
    // Snapshot hosts are distinct (sealing checks it) and each chunk was validated when encoded.
    const assembled = assembleGrid(units, catchAll === null ? null : routeRecord(catchAll, numbering.setIds), numbering.sets.toArray(), endpointCount, { balancingOnly });
    const { plan } = assembled.layout;
    const firstRoutes = Array.from(plan.firstRoute);
    const fallback = catchAll === null ? -1 : plan.catchAll;
    const routes = new Array<RouteEntry>(plan.routeCount).fill(NO_ROUTE);
    const placed: PlacedChunk[] = [];
    pieces.forEach((piece, p) => {
      const own = entries[p]!.routes;
      for (let local = 0; local < piece.routeCount; local++) routes[firstRoutes[p]! + local] = own[local]!;
      if (!balancingOnly) placed.push({ chunk: piece.chunk, firstRoute: firstRoutes[p]! });
    });
    if (catchAll !== null) routes[fallback] = routeRecord(catchAll, numbering.setIds);
    // A piece's mirror routes follow its run.
    const mirrorFirst = pieces.map((piece, p) => firstRoutes[p]! + piece.matched);
    const policies: unknown[] = [];
    const upstreamTls: BundledUpstreamTls[] = [];
    const regexHosts: RegexHost[] = [];
    const redirects = new Uint8Array(plan.routeCount);
    const special: number[] = [];
    pieces.forEach((piece, p) => {
      const firstRoute = firstRoutes[p]!;
      for (let local = 0; local < piece.matched; local++) redirects[firstRoute + local] = redirectOf(piece, local);
      if (piece.plain) return;
      special.push(p);
      specialParts(piece, firstRoute, mirrorFirst[p]!, numbering, balancingOnly ? -2 : fallback, { redirects, policies, upstreamTls, regexHosts });
    });
    catchAllParts(catchAll, fallback, numbering, redirects, policies, upstreamTls);
    // upstreamTls in route id order: the catch-all's entry may sit before mirror routes' (they never have one).
    upstreamTls.sort((a, b) => a.route - b.route);
    const endpointSets = numbering.nonEmpty;
    const tls = balancingOnly ? undefined : tlsOf(snapshot);
    const needsHeaders = !balancingOnly && pieces.some((piece) => piece.needsHeaders);
    const tableFallback = balancingOnly ? -1 : fallback;
    const table = TableBlocks.of(assembled.table);
    const labels = balancingOnly ? undefined : labelText(pieces, plan, catchAll);
    const last: LastCompile = {
      numbering,
      invalid,
      snapshot,
      pieces: Pages.of(pieces),
      entries: Pages.of(entries),
      catchAll,
      firstRoutes,
      routeLabels: labels,
      redirects,
      laidOut: { table, layout: assembled.layout, chunks: Pages.of(placed), routes: Pages.of(routes), sets: numbering.sets, endpointCount, fallback: tableFallback },
      special,
      mirrors: pieces.some((piece) => piece.routeCount !== piece.matched),
      gridBytes: units.reduce((n, unit) => n + unitBytes(unit), 0),
      needsHeaders,
    };
    if (balancingOnly) this.#lastBalancing = last;
    else this.#lastFull = last;
    return this.#bundle(snapshot, balancingOnly, numbering, { table, routeLabels: labels, redirects, policies, regexHosts, upstreamTls, endpointSets, tls, needsHeaders });
  }

  /**
   * #patched without a call per host: when the last compile of the same kind had as many hosts, a
   * quarter of them at most are other items now, and the numbering keeps every set id (the same
   * set keys and stand-in set: an endpoint added, taken away or moved keeps them), every other
   * host keeps its piece and route records by place, and only the changed ones are looked at. Undefined when that does not hold or #patched cannot patch (compile assembles).
   */
  #quickPatch(snapshot: Snapshot, balancingOnly: boolean): Made | undefined {
    const last = balancingOnly ? this.#lastBalancing : this.#lastFull;
    const hosts = snapshot.hosts;
    if (last === undefined || last.mirrors || hosts.length !== last.pieces.length) return undefined;
    const changed = changedPlaces(hosts, last.snapshot.hosts, Math.floor(hosts.length / 4));
    if (changed === undefined) return undefined;
    const pieces = Pages.of(last.pieces).with(new Map(changed.map((p) => [p, this.#piece(hosts[p]!)])));
    this.#lastPieces = { hosts, pieces };
    const invalid = changed.some((p) => pieces.at(p)!.invalidBackends !== last.pieces.at(p)!.invalidBackends) ? anyPiece(pieces, (piece) => piece.invalidBackends) : last.invalid;
    const numbering = this.#numberEndpoints(snapshot, invalid);
    if (numbering.setIds !== last.numbering.setIds) return undefined;
    const entries = Pages.of(last.entries).with(new Map(changed.map((p) => [p, this.#entries(pieces.at(p)!, numbering)])));
    return this.#patched(snapshot, balancingOnly, pieces, numbering, invalid, entries, changed);
  }

  /**
   * The bundle `compile` gives, patched from the last one of the same kind when that is exact: the
   * same hosts in the same places, no mirror routes, every changed piece plain before and after
   * (then nothing but its route records, labels and redirect bits name its routes; the parts of
   * the unchanged pieces that are not plain are made again, they are few), the same catch-all, a
   * quarter of the hosts changed at most, and a table patchOwnChunks can patch (every changed
   * chunk and route record of its old size, as many endpoint sets: the buckets of the sets that
   * changed are re-packed in the endpoint area).
   * Undefined otherwise: compile assembles. The cost is the changed hosts plus copies and the digest.
   * With `candidates`, the pieces and records at other places are known to be the last compile's.
   */
  #patched(snapshot: Snapshot, balancingOnly: boolean, pieces: ItemList<HostPiece>, numbering: Numbering, invalid: boolean, entries: ItemList<Entries>, candidates?: readonly number[]): Made | undefined {
    const last = balancingOnly ? this.#lastBalancing : this.#lastFull;
    if (last === undefined || last.mirrors || pieces.length !== last.pieces.length) return undefined;
    if (!sameCatchAll(snapshot.defaultRoute, last.catchAll)) return undefined;
    const changed: number[] = [];
    const count = candidates?.length ?? pieces.length;
    for (let i = 0; i < count; i++) {
      const p = candidates === undefined ? i : candidates[i]!;
      const piece = pieces.at(p)!;
      // Route records kept across an endpoint change are the same array (#entries): only pieces whose records changed count.
      if (piece === last.pieces.at(p)! && entries.at(p)!.routes === last.entries.at(p)!.routes) continue;
      const before = last.pieces.at(p)!;
      if (!piece.plain || !before.plain || piece.matched !== before.matched) return undefined;
      // The grid's plan follows each unit's name and size: a piece of another name moves units (ids) even where its chunk is not written (balancing only); one of another size, when its bucket packs otherwise.
      if (piece.host.host !== before.host.host) return undefined;
      changed.push(p);
    }
    if (changed.length * 4 > pieces.length) return undefined;
    const gridBytes = planKept(last, pieces, entries, changed);
    if (gridBytes === undefined) return undefined;
    // Route records and chunks are paged lists: the changed ones replace theirs, every other page is the last version's.
    const routeChanges = new Map<number, RouteEntry>();
    const chunkChanges = new Map<number, PlacedChunk>();
    // The redirect bits: the last version's array itself while no bit differs (most edits: no copy of
    // a byte per route, and its digest is not taken again), a copy once one does (earlier bundles keep theirs).
    let redirects = last.redirects;
    const setBit = (id: number, bits: number): void => {
      if (redirects[id] === bits) return;
      if (redirects === last.redirects) redirects = last.redirects.slice();
      redirects[id] = bits;
    };
    for (const p of changed) {
      const piece = pieces.at(p)!;
      const firstRoute = last.firstRoutes[p]!;
      const own = entries.at(p)!.routes;
      for (let local = 0; local < piece.matched; local++) {
        routeChanges.set(firstRoute + local, own[local]!);
        setBit(firstRoute + local, redirectOf(piece, local));
      }
      if (!balancingOnly) chunkChanges.set(p, { chunk: piece.chunk, firstRoute });
    }
    const routeCount = last.laidOut.routes.length;
    const catchAll = snapshot.defaultRoute;
    let fallback = -1;
    if (catchAll !== null) {
      // Its record depends on the set ids: made again (one route), patched like any other.
      fallback = last.laidOut.layout.plan.catchAll;
      routeChanges.set(fallback, routeRecord(catchAll, numbering.setIds));
      // Its bits are the last one's (the same content), set here so that catchAllParts below never changes a shared array.
      setBit(fallback, redirectBits(catchAll));
    }
    const routes = Pages.of(last.laidOut.routes).with(routeChanges);
    const placed = Pages.of(last.laidOut.chunks).with(chunkChanges);
    // The bundle's endpointSets are the numbering's (the same list while no set changed).
    const endpointSets = numbering.nonEmpty;
    // The TLS part follows each host's certificate, client-certificate ask and passthrough route, and the certificates.
    const tls = balancingOnly ? undefined : tlsAfter(snapshot, last.snapshot, changed);
    let needsHeaders = last.needsHeaders;
    if (!balancingOnly && changed.some((p) => pieces.at(p)!.needsHeaders !== last.pieces.at(p)!.needsHeaders)) needsHeaders = anyPiece(pieces, (piece) => piece.needsHeaders);
    const endpointCount = numbering.endpoints.length;
    // Only the changed hosts' chunks and route records, and the catch-all's record, can differ from the last table's.
    // The sets that changed since the last table's, as the numberings between them recorded (compared one by one only when they did not).
    const sets = changedSetIds(numbering.sets, last.laidOut.sets);
    const laidOut = patchOwnChunks(last.laidOut, placed, routes, numbering.sets, endpointCount, balancingOnly ? -1 : fallback, { chunks: [...chunkChanges.keys()], routes: [...routeChanges.keys()], ...(sets === undefined ? {} : { sets }) });
    if (laidOut === undefined) return undefined;
    const policies: unknown[] = [];
    const upstreamTls: BundledUpstreamTls[] = [];
    const regexHosts: RegexHost[] = [];
    for (const p of last.special) specialParts(pieces.at(p)!, last.firstRoutes[p]!, routeCount, numbering, balancingOnly ? -2 : fallback, { redirects, policies, upstreamTls, regexHosts });
    catchAllParts(catchAll, fallback, numbering, redirects, policies, upstreamTls);
    upstreamTls.sort((a, b) => a.route - b.route);
    // The labels of the changed hosts (as many as before: the same route runs) and of the catch-all replace theirs; only their blocks are hashed again.
    let routeLabels = last.routeLabels;
    if (routeLabels !== undefined) {
      const changes = new Map<number, string>();
      const { plan } = laidOut.layout;
      for (const p of changed) {
        const piece = pieces.at(p)!;
        if (piece.labels === last.pieces.at(p)!.labels || piece.routeCount === 0) continue;
        // Its lines in its bucket's segment (the same ids: as many), or its own segment in the overflow area.
        const b = plan.bucket[p]!;
        if (b >= 0) changes.set(b, withLines(changes.get(b) ?? routeLabels.segment(b)!, last.firstRoutes[p]! - b * plan.options.bucketRoutes, piece.matched, piece.labels));
        else changes.set(plan.buckets + 1 + plan.overflow.indexOf(p), piece.labels);
      }
      if (catchAll !== last.catchAll && catchAll !== null) changes.set(plan.buckets, catchAllLabel(catchAll));
      routeLabels = routeLabels.with(changes);
    }
    const next: LastCompile = { ...last, numbering, invalid, snapshot, pieces, entries, catchAll, routeLabels, redirects, laidOut, needsHeaders, gridBytes };
    if (balancingOnly) this.#lastBalancing = next;
    else this.#lastFull = next;
    return this.#bundle(snapshot, balancingOnly, numbering, { table: laidOut.table, routeLabels, redirects, policies, regexHosts, upstreamTls, endpointSets, tls, needsHeaders });
  }

  /**
   * The full bundle `compile` gives when hosts were added, taken away or replaced since the last
   * full compile (kept runs as sealing or compile recorded them, keptRuns): the pieces and route
   * records of the kept hosts are taken by place (pointer copies), the others compiled, and the
   * table patched by patchGrid (the touched buckets, overflow extents and slot clusters); the
   * redirect bits and labels of the touched buckets and extents, the parts of the pieces that are not plain, and the TLS part of the
   * changed hosts (tlsShifted) are made again. Undefined when the last compile had mirror routes or
   * another catch-all, the set ids changed, more than 1/16 of the hosts changed, or patchGrid
   * refuses (then #patched or the full assembly runs). Balancing-only bundles are not shifted:
   * their route records are packed in id order, a unit added moves every later one.
   */
  #shifted(snapshot: Snapshot, balancingOnly: boolean): Made | undefined {
    const last = balancingOnly ? undefined : this.#lastFull;
    if (last === undefined || last.mirrors || !sameCatchAll(snapshot.defaultRoute, last.catchAll)) return undefined;
    const hosts = snapshot.hosts;
    const before = last.snapshot.hosts;
    const runs = keptRuns(hosts, before);
    let keptCount = 0;
    for (let i = 0; i < runs.length; i += 3) keptCount += runs[i + 1]! - runs[i]!;
    const changes = hosts.length + before.length - 2 * keptCount;
    if (changes === 0 || changes * 16 > hosts.length) return undefined;
    // The kept hosts' pieces and records by place (native copies of the kept stretches); the added ones compiled.
    const added: number[] = [];
    const removed: HostPiece[] = [];
    for (let i = 0, newEnd = 0, oldEnd = 0; i <= runs.length; i += 3) {
      const from = i < runs.length ? runs[i]! : hosts.length;
      const oldFrom = i < runs.length ? from + runs[i + 2]! : before.length;
      for (let p = newEnd; p < from; p++) added.push(p);
      for (let o = oldEnd; o < oldFrom; o++) removed.push(last.pieces.at(o)!);
      if (i < runs.length) {
        newEnd = runs[i + 1]!;
        oldEnd = newEnd + runs[i + 2]!;
      }
    }
    const pieces = Pages.of(last.pieces).remapped(runs, hosts.length, (p) => this.#piece(hosts[p]!));
    const keptEntries = Pages.of(last.entries).remapped(runs, hosts.length, () => NO_ENTRIES);
    // Mirror routes take ids after a piece's run in its unit; the patch paths keep none (last.mirrors).
    if (added.some((p) => pieces[p]!.routeCount !== pieces[p]!.matched)) return undefined;
    const changedPieces = [...removed, ...added.map((p) => pieces[p]!)];
    const invalid = changedPieces.some((piece) => piece.invalidBackends) ? pieces.some((piece) => piece.invalidBackends) : last.invalid;
    const numbering = this.#numberEndpoints(snapshot, invalid);
    if (numbering.setIds !== last.numbering.setIds) return undefined;
    for (const p of added) keptEntries[p] = this.#entries(pieces[p]!, numbering);
    const catchAll = snapshot.defaultRoute;
    const fallback = catchAll === null ? -1 : last.laidOut.layout.plan.catchAll;
    const endpointCount = numbering.endpoints.length;
    const sets = changedSetIds(numbering.sets, last.laidOut.sets);
    const laidOut = patchGrid(last.laidOut, { count: hosts.length, kept: runs, unitAt: (u) => ({ name: pieces[u]!.host.host, chunk: pieces[u]!.chunk, routes: keptEntries[u]!.routes }) }, numbering.sets, endpointCount, fallback, sets);
    if (laidOut === undefined) return undefined;
    const paged = Pages.of(pieces);
    this.#lastPieces = { hosts, pieces: paged };
    const { plan } = laidOut.layout;
    const perBucket = plan.options.bucketRoutes;
    // The touched buckets' ids and those of the overflow units written in place (their extents):
    // their redirect bits and label segments made again from their units.
    const redirects = last.redirects.slice();
    for (const b of laidOut.buckets) redirects.fill(0, b * perBucket, (b + 1) * perBucket);
    const members = new Map<number, number[]>(laidOut.buckets.map((b) => [b, []]));
    const labels = new Map<number, string>();
    for (const p of laidOut.placed) {
      const piece = pieces[p]!;
      const b = plan.bucket[p]!;
      if (b >= 0) members.get(b)!.push(p);
      else {
        redirects.fill(0, plan.firstRoute[p]!, plan.firstRoute[p]! + overflowExtent(plan.unitBytes[p]!, plan.unitRoutes[p]!).routes);
        labels.set(plan.buckets + 1 + plan.overflow.indexOf(p), pieceLabels(piece));
      }
      for (let local = 0; local < piece.matched; local++) redirects[plan.firstRoute[p]! + local] = redirectOf(piece, local);
    }
    for (const [b, units] of members) labels.set(b, bucketLabels(units, paged));
    const routeLabels = last.routeLabels!.with(labels);
    // The pieces that are not plain, in order: the kept ones at their new places, the added ones.
    const special = [...last.special.map((p) => newIndexOf(runs, p)).filter((p) => p >= 0), ...added.filter((p) => !pieces[p]!.plain)].sort((a, b) => a - b);
    const policies: unknown[] = [];
    const upstreamTls: BundledUpstreamTls[] = [];
    const regexHosts: RegexHost[] = [];
    for (const p of special) specialParts(pieces[p]!, plan.firstRoute[p]!, plan.firstRoute[p]! + pieces[p]!.matched, numbering, fallback, { redirects, policies, upstreamTls, regexHosts });
    catchAllParts(catchAll, fallback, numbering, redirects, policies, upstreamTls);
    upstreamTls.sort((a, b) => a.route - b.route);
    const tls = tlsShifted(snapshot, last.snapshot, added.map((p) => hosts[p]!), removed.map((piece) => piece.host));
    const needsHeaders = changedPieces.some((piece) => piece.needsHeaders) ? pieces.some((piece) => piece.needsHeaders) : last.needsHeaders;
    this.#lastFull = { numbering, invalid, snapshot, pieces: paged, entries: Pages.of(keptEntries), catchAll, firstRoutes: plan.firstRoute, routeLabels, redirects, laidOut, special, mirrors: false, gridBytes: plan.totalBytes, needsHeaders };
    return this.#bundle(snapshot, false, numbering, { table: laidOut.table, routeLabels, redirects, policies, regexHosts, upstreamTls, endpointSets: numbering.nonEmpty, tls, needsHeaders });
  }

  /** The bundle of the parts a compile made, with its digest (parts equal to the last bundle's are not hashed again). */
  #bundle(snapshot: Snapshot, balancingOnly: boolean, numbering: Numbering, parts: { table: TableBlocks; routeLabels: LineText | undefined; redirects: Uint8Array; policies: readonly unknown[]; regexHosts: readonly RegexHost[]; upstreamTls: readonly BundledUpstreamTls[]; endpointSets: readonly (readonly number[])[]; tls: TlsBundle | undefined; needsHeaders: boolean }): Made {
    const fields: BundleFields = {
      version: snapshot.version,
      balancingOnly,
      redirects: parts.redirects,
      needsHeaders: parts.needsHeaders,
      policies: balancingOnly ? '[]' : JSON.stringify(parts.policies),
      regexHosts: JSON.stringify(parts.regexHosts),
      upstreamTls: JSON.stringify(parts.upstreamTls),
      endpointSets: parts.endpointSets,
      ...(parts.tls === undefined ? {} : { tls: parts.tls }),
    };
    const endpoints = this.#endpointsText(numbering);
    const hashers = this.#partDigests[balancingOnly ? 'balancing' : 'full'];
    const hasher = (i: number): PartDigest => (hashers[i] ??= new PartDigest());
    // bundleParts' parts, in its order; the two JSON parts are made again only when their value is a new one.
    // A balancing-only bundle keeps the routes' labels (LoadedSnapshot takes them from the current one): its routeLabels is ''.
    const digests = [hasher(0).ofTable(parts.table), parts.routeLabels?.digest ?? NO_LINES.digest, hasher(2).of(fields.redirects), endpoints.digest, ...[fields.policies, fields.regexHosts, fields.upstreamTls].map((part, i) => hasher(i + 4).of(part))];
    digests.push(hasher(7).ofSets(fields.endpointSets), hasher(8).ofJson(fields.tls ?? null));
    return { bundle: bundleOf(fields, parts.table, parts.routeLabels, endpoints, combineDigests(fields, digests)), digests, fields, table: parts.table, labels: parts.routeLabels, endpoints };
  }

  /** The bundle's `endpoints` text of a numbering (made once per numbering; from the last one's when renumbered in place). */
  #endpointsText(numbering: Numbering): LineText {
    if (this.#endpoints?.numbering !== numbering) this.#endpoints = { numbering, text: LineText.of(numbering.endpoints, undefined, numbering.endpoints.length) };
    return this.#endpoints.text;
  }

  /** The table chunk of `host` (compiled once, as for a bundle): what the control plane ships for it. */
  chunkOf(host: SnapshotHost): TableChunk {
    return this.#piece(host).chunk;
  }

  /**
   * Takes `chunk` (shipped by the control plane, decoded and shape-checked) as the compiled table of
   * `host` instead of compiling it. Throws PORTICO_E_TABLE_INVALID when it does not fit the host.
   */
  seed(host: SnapshotHost, chunk: TableChunk): void {
    // A host already compiled keeps its piece (every bundle assembled so far used it).
    if (this.#pieces.has(host)) return;
    this.#pieces.set(host, compileHost(host, chunk));
  }

  /** The pieces of `hosts`: a host that is the last version's at the same place (most of them) takes its piece without a lookup. */
  #piecesOf(hosts: readonly SnapshotHost[]): HostPiece[] {
    const last = this.#lastPieces;
    const pieces = hosts.map((host, p) => (last !== undefined && last.hosts[p] === host ? last.pieces.at(p)! : this.#piece(host)));
    this.#lastPieces = { hosts, pieces };
    return pieces;
  }

  #piece(host: SnapshotHost): HostPiece {
    let piece = this.#pieces.get(host);
    if (piece === undefined) {
      piece = compileHost(host);
      this.#pieces.set(host, piece);
      this.stats.hostsCompiled++;
    }
    return piece;
  }

  /** A piece's route records under `numbering`: kept from the last version while the set ids are (an endpoint added, taken away or moved leaves them). */
  #entries(piece: HostPiece, numbering: Numbering): NonNullable<HostPiece['entries']> {
    const kept = piece.entries;
    if (kept !== undefined && kept.setIds === numbering.setIds) return kept;
    const routes: RouteEntry[] = [];
    for (let local = 0; local < piece.routeCount; local++) routes.push(routeRecord(routeOf(piece, local), numbering.setIds));
    // Kept while the set ids are (a piece each): a list of its own length (a list grown by push keeps spare room).
    piece.entries = { setIds: numbering.setIds, routes: routes.slice() };
    return piece.entries;
  }

  /** The endpoint numbering of `snapshot`'s sets (EndpointNumberer: from the last one when few sets changed). */
  #numberEndpoints(snapshot: Snapshot, invalid: boolean): Numbering {
    const numbering = this.#numberer.number(snapshot.endpointSets, invalid);
    // Its text: the last one's with the changed lines (their blocks hashed again), when that was made.
    const from = numbering.from;
    if (from !== undefined && this.#endpoints !== undefined && this.#endpoints.numbering === from.numbering.deref()) this.#endpoints = { numbering, text: this.#endpoints.text.with(from.lines) };
    return numbering;
  }
}

/**
 * The units' bytes in all when the pieces at `changed` (the same hosts, plain, as many routes)
 * leave the last compile's grid ids as they were, else undefined: the bucket count is the same, no
 * resized unit is in the overflow area (the later ones would move), and each resized unit's bucket
 * holds the same units at the same ids. The cost is the changed units' buckets.
 */
function planKept(last: LastCompile, pieces: ItemList<HostPiece>, entries: ItemList<Entries>, changed: readonly number[]): number | undefined {
  const { plan } = last.laidOut.layout;
  const sizeOf = (p: number): UnitSize => ({ name: pieces.at(p)!.host.host, bytes: unitBytes({ chunk: pieces.at(p)!.chunk, routes: entries.at(p)!.routes }), routes: entries.at(p)!.routes.length });
  let total = last.gridBytes;
  const buckets = new Set<number>();
  for (const p of changed) {
    const delta = pieces.at(p)!.chunk.bytes.length - last.pieces.at(p)!.chunk.bytes.length;
    if (delta === 0) continue;
    if (plan.bucket[p]! < 0) return undefined;
    total += delta;
    buckets.add(plan.bucket[p]!);
  }
  if (buckets.size === 0) return total;
  if (bucketCount(total, plan.options) !== plan.buckets) return undefined;
  last.homed ??= homedUnits(plan);
  for (const b of buckets) {
    const overflow: number[] = [];
    const placed = packBucket(last.homed[b]!, sizeOf, b, plan.options, overflow);
    if (overflow.some((u) => plan.bucket[u]! >= 0)) return undefined;
    // Ids and bucket membership are what a balancing-only table takes of the plan (its records are packed in id order);
    // a full table never patches a resized chunk (patchOwnChunks), so offsets inside a bucket need not hold.
    if (placed.some(({ u, firstRoute }) => plan.bucket[u] !== b || plan.firstRoute[u] !== firstRoute)) return undefined;
  }
  return total;
}

/** Each bucket's units (piece indices, in order), by the plan's homes. */
function homedUnits(plan: GridPlan): number[][] {
  const homed: number[][] = Array.from({ length: plan.buckets }, () => []);
  for (let p = 0; p < plan.home.length; p++) homed[plan.home[p]!]!.push(p);
  return homed;
}

/** Whether two versions' catch-alls are the same (made anew by every compile: the same one when its content is). */
function sameCatchAll(a: Snapshot['defaultRoute'], b: Snapshot['defaultRoute']): boolean {
  return a === b || (a !== null && b !== null && JSON.stringify(a) === JSON.stringify(b));
}

/** The new index of the item at `o` of the list `runs` (KeptRuns) were taken against, or -1 when it is not kept. */
function newIndexOf(runs: KeptRuns, o: number): number {
  for (let i = 0; i < runs.length; i += 3) if (o >= runs[i]! + runs[i + 2]! && o < runs[i + 1]! + runs[i + 2]!) return o - runs[i + 2]!;
  return -1;
}

/** The catch-all's redirect bits, policies and upstream TLS entry (route id `fallback`), as toMatcherTable gives them. */
function catchAllParts(catchAll: Snapshot['defaultRoute'], fallback: number, numbering: Numbering, redirects: Uint8Array, policies: unknown[], upstreamTls: BundledUpstreamTls[]): void {
  if (catchAll === null) return;
  redirects[fallback] = redirectBits(catchAll);
  if (catchAll.policies !== undefined) policies.push(policyEntry({ route: catchAll }, fallback, undefined, undefined));
  upstreamTls.push(...bundledUpstreamTls({ route: catchAll, endpointIds: endpointIdsOf(catchAll, numbering.setIds, numbering.sets) }, fallback));
}

/**
 * The parts of the bundle that name the routes of a piece that is not plain — mirror routes'
 * redirect bits, policies, upstream TLS, regex dispatch — its local ids mapped to
 * the table's (its run from `firstRoute`, its mirror routes from `mirrorFirst`). `fallback` is the
 * catch-all's id for regex hosts without their own (-2: a balancing-only bundle, which has none).
 */
function specialParts(piece: HostPiece, firstRoute: number, mirrorFirst: number, numbering: Numbering, fallback: number, out: { redirects: Uint8Array; policies: unknown[]; upstreamTls: BundledUpstreamTls[]; regexHosts: RegexHost[] }): void {
  const id = (local: number): number => (local < piece.matched ? firstRoute + local : mirrorFirst + local - piece.matched);
  // A piece that is not plain keeps its targets.
  const targets = piece.targets!;
  for (let local = piece.matched; local < piece.routeCount; local++) out.redirects[id(local)] = redirectOf(piece, local);
  for (const local of piece.withPolicies) out.policies.push(policyEntry(targets[local]!, id(local), targets[local]!.mirrors?.map(id), targets[local]!.fallback === undefined ? undefined : id(targets[local]!.fallback!)));
  for (const local of piece.upstream) out.upstreamTls.push(...bundledUpstreamTls({ route: targets[local]!.route, endpointIds: endpointIdsOf(targets[local]!.route, numbering.setIds, numbering.sets) }, id(local)));
  if (fallback !== -2 && piece.regex !== undefined) {
    const { first, paths, fallback: hostFallback } = piece.regex;
    out.regexHosts.push({ first: id(first), paths: paths.map((path) => ({ pattern: path.pattern, route: id(path.route) })), fallback: hostFallback >= 0 ? id(hostFallback) : fallback });
  }
}
