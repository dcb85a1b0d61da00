/**
 * Table bundles on the data plane: verifying one (its digest, hashed a slice per event-loop turn where it
 * matters) and reading its metadata. What a bundle is, and how it is compiled, is part of the
 * contract (`@portico/control/snapshot/bundle`): the control plane compiles each version once and
 * data planes load it without compiling; a damaged bundle is refused and the worker keeps what it
 * serves.
 */
import { createHash } from 'node:crypto';
import type { BundledUpstreamTls, LabelLines, TableBundle } from '@portico/control/snapshot/bundle';
import { ENDPOINTS_PART, LINE_BLOCK, ROUTE_LABELS_PART, blockDigest, blocksDigestOf, combineDigests, compileBundle as compileReference, labelLinesOf, lineBlocks, metadataParts, partDigest, tableBlocksOf } from '@portico/control/snapshot/bundle';
import type { TableBlocks } from '@portico/assembly/encode';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import { seedShipped } from '@portico/control/snapshot/bundle-wire';
import type { Snapshot } from '@portico/control/snapshot';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import type { RegexHost } from '@portico/control/snapshot/table';
import { PorticoError } from './errors.ts';
import type { TextLines } from './text-lines.ts';
import { textLinesOf } from './text-lines.ts';

export type { BundledUpstreamTls, TableBundle, TlsBundle } from '@portico/control/snapshot/bundle';
export { digestOf, tableBlocksOf, withTableBlocks } from '@portico/control/snapshot/bundle';

/** What one event-loop turn hashes of a bundle part: 256 KiB of the table, 256 Ki UTF-16 units of a text. */
const TURN_SLICE = 256 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The SHA-256 of each table block this process hashed, by the block object: a block is never
 * written once its version is made (blocks.ts), so the same object has the same digest. A block
 * that came by IPC (a whole bundle, a delta's bytes, a structured clone) is a new object and is
 * hashed; only the worker's own blocks, kept from a bundle it held, are found here.
 */
const blockDigests = new WeakMap<Uint8Array, Buffer>();

/** Counts of a verification's hashing (tests, benchmarks). */
export interface VerifyCounts {
  /** Table blocks hashed (the others' digests were known by their object). */
  blocksHashed: number;
  /** Table blocks whose digest was known. */
  blocksKnown: number;
  /** Blocks of line texts (route labels, endpoints held as TextLines) hashed; the others' digests were known. */
  lineBlocksHashed?: number;
  /** UTF-16 units of line texts hashed. */
  lineUnitsHashed?: number;
}

/** A bundle's line texts a worker holds as TextLines, by part index: those parts are hashed by their blocks, never read whole. */
function heldLines(bundle: TableBundle): Map<number, TextLines> {
  const held = new Map<number, TextLines>();
  const labels = textLinesOf(bundle, 'routeLabels');
  const endpoints = textLinesOf(bundle, 'endpoints');
  if (labels !== undefined) held.set(ROUTE_LABELS_PART, labels);
  if (endpoints !== undefined) held.set(ENDPOINTS_PART, endpoints);
  return held;
}

/**
 * `metadataParts` of `bundle`, those whose digest is `known` (`bundleParts` order) or that are held
 * in `lines` left out (empty in their place): a kept part is not read, so a path edit does not
 * stringify the endpoint sets (one entry per set: O(world)) nor join a held text.
 */
function partsBeside(bundle: TableBundle, lines: ReadonlyMap<number, TextLines>, known: readonly (string | undefined)[]): (string | Uint8Array)[] {
  const skip = (index: number) => known[index] !== undefined || lines.has(index);
  const at = (name: string) => PART_NAMES.indexOf(name);
  // Named, not spread: a spread would read the table and the held texts.
  const { version, balancingOnly, needsHeaders } = bundle;
  return metadataParts({
    version,
    balancingOnly,
    needsHeaders,
    routeLabels: skip(at('routeLabels')) ? '' : bundle.routeLabels,
    redirects: skip(at('redirects')) ? NO_BYTES : bundle.redirects,
    endpoints: skip(at('endpoints')) ? '' : bundle.endpoints,
    policies: skip(at('policies')) ? '' : bundle.policies,
    regexHosts: skip(at('regexHosts')) ? '' : bundle.regexHosts,
    upstreamTls: skip(at('upstreamTls')) ? '' : bundle.upstreamTls,
    endpointSets: skip(at('endpointSets')) ? [] : bundle.endpointSets,
    ...(skip(at('tls')) || bundle.tls === undefined ? {} : { tls: bundle.tls }),
  });
}

const NO_BYTES = new Uint8Array(0);

/** The names of `bundleParts`, in its order (what a refused bundle's message names; which fields partsBeside leaves out). */
const PART_NAMES = ['table', 'routeLabels', 'redirects', 'endpoints', 'policies', 'regexHosts', 'upstreamTls', 'endpointSets', 'tls'];

/**
 * What one verification hashed anew (not known from a held, verified bundle): where a damaged
 * bundle made from a delta must differ from what the control plane compiled, so a refusal names it.
 */
class Hashed {
  readonly #parts: string[] = [];
  #lines: { part: number; from: number; to: number } | undefined;

  /** Part `index` hashed whole. */
  part(index: number): void {
    this.#close();
    this.#parts.push(PART_NAMES[index]!);
  }

  /** Block `b` of the line text of part `index` (of `lines` lines) hashed: its lines, runs of blocks merged. */
  lineBlock(index: number, b: number, lines: number): void {
    const from = b * LINE_BLOCK;
    const to = Math.min(from + LINE_BLOCK, lines) - 1;
    if (this.#lines?.part === index && this.#lines.to + 1 === from) this.#lines.to = to;
    else {
      this.#close();
      this.#lines = { part: index, from, to };
    }
  }

  /** What was hashed, e.g. `table blocks 3, 9; routeLabels lines 2048-3071` ('' for nothing). */
  describe(tableBlocks: readonly number[]): string {
    this.#close();
    const table = tableBlocks.length === 0 ? [] : [`table block${tableBlocks.length === 1 ? '' : 's'} ${tableBlocks.join(', ')}`];
    return [...table, ...this.#parts].join('; ');
  }

  #close(): void {
    if (this.#lines === undefined) return;
    const { part, from, to } = this.#lines;
    this.#parts.push(`${PART_NAMES[part]} line${from === to ? ` ${from}` : `s ${from}-${to}`}`);
    this.#lines = undefined;
  }
}

/** Hashes block `b` of `lines` (part `index`) unless known, counting it; returns the units hashed. */
function hashLineBlock(lines: TextLines, index: number, b: number, counts: VerifyCounts | undefined, hashed?: Hashed): number {
  const units = lines.hashBlock(b);
  if (units === 0) return 0;
  hashed?.lineBlock(index, b, lines.lines);
  if (counts !== undefined) {
    counts.lineBlocksHashed = (counts.lineBlocksHashed ?? 0) + 1;
    counts.lineUnitsHashed = (counts.lineUnitsHashed ?? 0) + units;
  }
  return units;
}

/** The digest of `block` (known by its object, else hashed and remembered). */
function digestOfBlock(block: Uint8Array, counts: VerifyCounts | undefined): Buffer {
  let digest = blockDigests.get(block);
  if (digest !== undefined) {
    if (counts !== undefined) counts.blocksKnown++;
    return digest;
  }
  digest = blockDigest(block);
  blockDigests.set(block, digest);
  if (counts !== undefined) counts.blocksHashed++;
  return digest;
}

/** `tableDigest` of a table by its blocks: only those not hashed before (by object) are hashed. */
function tableDigestOfBlocks(table: TableBlocks, counts?: VerifyCounts): string {
  return blocksDigestOf(table.blocks.map((block) => digestOfBlock(block, counts)));
}

/** The hex digests of a bundle's parts (`bundleParts` order): the table's by its blocks, the others as `partDigest`, known ones taken as given. */
function partDigestsOf(bundle: TableBundle, known: readonly (string | undefined)[], counts?: VerifyCounts): string[] {
  const table = known[0] ?? tableDigestOfBlocks(tableBlocksOf(bundle), counts);
  const lines = heldLines(bundle);
  return [
    table,
    ...partsBeside(bundle, lines, known).map((part, i) => {
      const held = lines.get(i + 1);
      if (known[i + 1] !== undefined || held === undefined) return known[i + 1] ?? partDigest(i + 1, part);
      for (let b = 0; b < held.blocks; b++) hashLineBlock(held, i + 1, b, counts);
      return held.digest();
    }),
  ];
}

/**
 * The digest of `bundle`'s parts (as `digestOf`), hashed a slice per event-loop turn on this
 * thread: traffic waits at most one slice between turns, and nothing is copied (the table is hashed
 * by its blocks, those hashed before by object skipped; a text by slices that never split a
 * surrogate pair, which UTF-8 would encode otherwise).
 */
async function digestInTurns(bundle: TableBundle, known: readonly (string | undefined)[], counts: VerifyCounts | undefined): Promise<{ digest: string; parts: string[]; hashed: string }> {
  const digests: string[] = [];
  const hashed = new Hashed();
  const tableHashed: number[] = [];
  if (known[0] !== undefined) digests.push(known[0]);
  else {
    const table = tableBlocksOf(bundle);
    const blocks = new Array<Buffer>(table.blocks.length);
    let since = 0;
    // Indexed: an entries() iterator makes a pair per block (hundreds at 50k) on every verification.
    for (let b = 0; b < table.blocks.length; b++) {
      const block = table.blocks[b]!;
      const fresh = !blockDigests.has(block);
      blocks[b] = digestOfBlock(block, counts);
      if (!fresh) continue;
      tableHashed.push(b);
      since += block.length;
      if (since >= TURN_SLICE) {
        since = 0;
        await nextTurn();
      }
    }
    digests.push(blocksDigestOf(blocks));
    if (since > 0) await nextTurn();
  }
  const lines = heldLines(bundle);
  for (const [at, part] of partsBeside(bundle, lines, known).entries()) {
    const index = at + 1;
    const same = known[index];
    if (same !== undefined) {
      digests.push(same);
      continue;
    }
    const held = lines.get(index);
    if (held !== undefined) {
      // Only the blocks whose digest is not known (those a splice cut again, or all of a text received whole), about a slice per turn.
      let since = 0;
      for (let b = 0; b < held.blocks; b++) {
        since += hashLineBlock(held, index, b, counts, hashed);
        if (since >= TURN_SLICE) {
          since = 0;
          await nextTurn();
        }
      }
      digests.push(held.digest());
      if (since > 0) await nextTurn();
      continue;
    }
    hashed.part(index);
    if (index === ROUTE_LABELS_PART || index === ENDPOINTS_PART) {
      // Line texts are hashed in blocks of lines (`linesDigest`), about a slice of text per turn.
      const blocks: Buffer[] = [];
      let since = 0;
      for (const block of lineBlocks(part as string)) {
        blocks.push(blockDigest(block));
        since += block.length;
        if (since >= TURN_SLICE) {
          since = 0;
          await nextTurn();
        }
      }
      digests.push(blocksDigestOf(blocks));
      await nextTurn();
      continue;
    }
    const hash = createHash('sha256');
    let done = 0;
    while (done < part.length) {
      let end = Math.min(done + TURN_SLICE, part.length);
      if (typeof part === 'string') {
        const last = part.charCodeAt(end - 1);
        if (end < part.length && last >= 0xd800 && last <= 0xdbff) end--;
        hash.update(part.slice(done, end));
      } else hash.update(part.subarray(done, end));
      done = end;
      if (done < part.length) await nextTurn();
    }
    digests.push(hash.digest('hex'));
    await nextTurn();
  }
  return { digest: combineDigests(bundle, digests), parts: digests, hashed: hashed.describe(tableHashed) };
}

/**
 * Compiles a (verified) snapshot into a bundle in one pass (the reference compile); with
 * `balancingOnly`, only endpoint choice. Throws PORTICO_E_SNAPSHOT_LOAD when the snapshot cannot
 * be compiled into a table.
 */
export function compileBundle(snapshot: Snapshot, balancingOnly = false): TableBundle {
  try {
    return compileReference(snapshot, balancingOnly);
  } catch (cause) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
  }
}

/**
 * An incremental compile (`BundleCompiler`: each snapshot host once, each version assembled from
 * its hosts' pieces), giving what `compileBundle` gives. Throws PORTICO_E_SNAPSHOT_LOAD like it.
 */
export class SnapshotCompiler {
  readonly #compiler: BundleCompiler;

  /** `compiler`: one to share (standalone's control plane compiles with the same one, so a version is compiled once). */
  constructor(compiler: BundleCompiler = new BundleCompiler()) {
    this.#compiler = compiler;
  }

  /** Hosts compiled (not reused) so far. */
  get hostsCompiled(): number {
    return this.#compiler.stats.hostsCompiled;
  }

  /**
   * The bundle of `snapshot` (with `balancingOnly`, endpoint choice alone). With `received` (the
   * control plane's compiled chunks and digest from the sync body), those hosts are not compiled
   * here, and a full bundle must have exactly the control plane's digest. Throws
   * PORTICO_E_SNAPSHOT_LOAD (naming both digests when they differ).
   */
  compile(snapshot: Snapshot, balancingOnly = false, received?: ReceivedBundle): TableBundle {
    let bundle: TableBundle;
    try {
      if (received !== undefined) seedShipped(this.#compiler, snapshot, received);
      bundle = this.#compiler.compile(snapshot, balancingOnly);
    } catch (cause) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
    }
    if (received !== undefined && !balancingOnly && bundle.digest !== received.digest) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version}: the assembled bundle hashes to ${bundle.digest}, not the control plane's ${received.digest} (a damaged chunk)`);
    }
    return bundle;
  }
}

/** The bundle's routes with HTTPS or HTTP/2 backends. */
export function upstreamTlsOf(bundle: TableBundle): BundledUpstreamTls[] {
  return JSON.parse(bundle.upstreamTls) as BundledUpstreamTls[];
}

function checkShape(bundle: TableBundle): void {
  const fields = bundle as Partial<TableBundle>;
  // A text held as TextLines is not read (that would join it).
  const text = (field: 'routeLabels' | 'endpoints') => textLinesOf(bundle, field) !== undefined || typeof fields[field] === 'string';
  if (typeof fields.digest !== 'string' || typeof fields.version !== 'string' || !(fields.redirects instanceof Uint8Array) || !text('routeLabels') || !text('endpoints') || typeof fields.policies !== 'string' || typeof fields.regexHosts !== 'string' || typeof fields.upstreamTls !== 'string' || !Array.isArray(fields.endpointSets)) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', 'bundle is malformed');
  }
  // A bundle made with its blocks is read by them (reading its `table` would flatten them).
  try {
    tableBlocksOf(bundle);
  } catch (cause) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `bundle is malformed: ${(cause as Error).message}`, { cause });
  }
}

/** Throws unless `actual` is the bundle's digest; `hashed`: what was hashed anew (named as where the damage is), when known. */
function checkDigest(bundle: TableBundle, actual: string, hashed?: string): void {
  if (actual !== bundle.digest) throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `bundle of ${bundle.version} hashes to ${actual}, not ${bundle.digest} (damaged${hashed === undefined || hashed === '' ? '' : ` in what was hashed anew: ${hashed}`})`);
}

/**
 * Checks that a bundle is what it says: table and metadata hash to its digest (the table by its
 * blocks, those this process hashed before, by object, not again). Throws PORTICO_E_SNAPSHOT_LOAD
 * naming what is wrong (the matcher checks the table's own structure).
 */
export function verifyBundle(bundle: TableBundle): void {
  checkShape(bundle);
  checkDigest(bundle, combineDigests(bundle, partDigestsOf(bundle, [])));
}

/**
 * `verifyBundle` with the hashing spread over event-loop turns (`digestInTurns`): what a worker
 * runs before its swap, so traffic is not stalled by it and no copy of the bundle is made. The
 * table is hashed by its blocks: a block this process hashed before (the same object: one the
 * worker kept from the bundle it held) is not hashed again, any other (every block that came by
 * IPC) is. `known`: the part digests (`bundleParts` order, as `partDigest` gives them) the caller
 * already knows, e.g. those a delta kept from a verified bundle; those are not hashed again.
 * `counts` (optional) adds what was hashed. Resolves with every part's digest; rejects with
 * PORTICO_E_SNAPSHOT_LOAD.
 */
export async function verifyBundleInTurns(bundle: TableBundle, known: readonly (string | undefined)[] = [], counts?: VerifyCounts): Promise<string[]> {
  checkShape(bundle);
  const { digest, parts, hashed } = await digestInTurns(bundle, known, counts);
  checkDigest(bundle, digest, hashed);
  return parts;
}

/** A string with the same characters that shares no storage with `text` (V8 makes a substring a view that keeps its whole parent alive). */
function ownCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/**
 * A bundle's route labels by route id, read as they are asked for: loading a version splits
 * nothing (a 30,000-route table would otherwise make 30,000 strings and an array per version); the
 * label of a route is cut out on its first use and kept for the version's life. From a bundle made
 * in this process (standalone: labelLinesOf) the labels are read line by line and the whole text
 * (megabytes at 50,000 Ingresses) is never joined; from a received one, out of its text. A label
 * handed out is a copy of its own, so nothing that keeps it (metrics series, a log line) keeps the
 * version's text alive.
 */
export class RouteLabels {
  /** Routes labelled (0 for an empty text). */
  readonly count: number;
  /** What the labels are read from: the text, or the bundle's line reader. */
  readonly source: string | LabelLines;
  /** Where label `id` starts in the text (text source only); entry `count` is the text's length + 1. */
  readonly #starts: Uint32Array | undefined;
  readonly #cut = new Map<number, string>();
  #all: ReadonlySet<string> | undefined;

  /** The labels of `source`: a `\n`-joined text as the bundle carries it ('' for none), or its line reader. */
  constructor(source: string | LabelLines) {
    this.source = source;
    if (typeof source !== 'string') {
      this.count = source.lines;
      this.#starts = undefined;
      return;
    }
    const text = source;
    let count = 0;
    if (text !== '') {
      count = 1;
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) count++;
    }
    this.count = count;
    const starts = new Uint32Array(count + 1);
    let id = 1;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) starts[id++] = at + 1;
    starts[count] = text.length + 1;
    this.#starts = starts;
  }

  /** The labels of `bundle` (its line reader when it has one, else its text). */
  static of(bundle: TableBundle): RouteLabels {
    return new RouteLabels(labelLinesOf(bundle) ?? bundle.routeLabels);
  }

  /** Whether these are the labels `bundle` carries (the same text or line reader): a new version that kept them keeps what was cut. */
  sameAs(bundle: TableBundle): boolean {
    return this.source === (labelLinesOf(bundle) ?? bundle.routeLabels);
  }

  /** The label of route `id`, or undefined when there is no such route. */
  at(id: number): string | undefined {
    let label = this.#cut.get(id);
    if (label !== undefined || id >>> 0 !== id || id >= this.count) return label;
    label = this.#read(id);
    if (label === undefined) return undefined;
    label = ownCopy(label);
    this.#cut.set(id, label);
    return label;
  }

  /** Whether `label` is the label of some route (the set of all labels is made on the first ask, e.g. a metrics scrape). */
  has(label: string): boolean {
    if (this.#all === undefined) {
      const all = new Set<string>();
      for (let id = 0; id < this.count; id++) all.add(this.#read(id)!);
      this.#all = all;
    }
    return this.#all.has(label);
  }

  #read(id: number): string | undefined {
    const source = this.source;
    if (typeof source !== 'string') return source.line(id);
    return source.slice(this.#starts![id]!, this.#starts![id + 1]! - 1);
  }
}

/** A route's annotation policies as the bundle carries them. */
export interface BundledPolicies {
  readonly route: number;
  readonly policies: RoutePolicies;
  readonly path: string | null;
  readonly regex: boolean;
  /** The route ids of its RequestMirror backends (hidden routes); absent for none. */
  readonly mirrors?: readonly number[];
  /** The route id of its default backend (`default-backend`, a hidden route); absent for none. */
  readonly fallback?: number;
}

/** The bundle's routes with annotation policies. */
export function routePoliciesOf(bundle: TableBundle): BundledPolicies[] {
  return JSON.parse(bundle.policies) as BundledPolicies[];
}

/** The bundle's hosts with regex paths. */
export function regexHostsOf(bundle: TableBundle): RegexHost[] {
  return JSON.parse(bundle.regexHosts) as RegexHost[];
}
