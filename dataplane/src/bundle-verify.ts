/**
 * Verifying a table bundle: its parts hash to its digest (`digestOf`), hashed a slice per
 * event-loop turn where it matters, and each part only as far as its digest is not known — the
 * table by its blocks (those this process hashed before, by object, not again), a worker's line
 * texts by their blocks of lines (TextLines: those a delta kept are the held version's), the
 * endpoint sets by their blocks of sets (those a delta kept are the held list's arrays), a part a
 * delta kept by the digest given. A damaged bundle is refused naming what was hashed anew.
 */
import { createHash } from 'node:crypto';
import type { TableBundle } from '@portico/control/snapshot/bundle';
import type { BundlePart, SetList } from '@portico/control/snapshot/bundle';
import { ENDPOINTS_PART, ENDPOINT_SETS_PART, LINE_BLOCK, ROUTE_LABELS_PART, SET_BLOCK, blockDigest, blocksDigestOf, combineDigests, hashSetBlock, knownSetDigests, lineBlocks, metadataParts, partDigest, setsDigestOf, tableBlocksOf } from '@portico/control/snapshot/bundle';
import type { TableBlocks } from '@portico/assembly/encode';
import { PorticoError } from './errors.ts';
import type { TextLines } from './text-lines.ts';
import { textLinesOf } from './text-lines.ts';
/** What one event-loop turn hashes of a bundle part: 256 KiB of the table, 256 Ki UTF-16 units of a text. */
const TURN_SLICE = 256 * 1024;

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Work since the last yield, counted so a long hash gives the event loop a turn about every TURN_SLICE units (checked synchronously: no await per block). */
class Turns {
  #since = 0;

  /** `units` more done; true when a slice is full and the caller should yield (the count starts again). */
  full(units: number): boolean {
    this.#since += units;
    if (this.#since < TURN_SLICE) return false;
    this.#since = 0;
    return true;
  }

  /** True when work was done since the last yield. */
  get pending(): boolean {
    return this.#since > 0;
  }
}

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
  /** Blocks of endpoint sets (SET_BLOCK sets each) hashed; the others' digests were known. */
  setBlocksHashed?: number;
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
 * read the endpoint sets nor join a held text.
 */
function partsBeside(bundle: TableBundle, lines: ReadonlyMap<number, TextLines>, known: readonly (string | undefined)[]): BundlePart[] {
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

  /** Block `b` of part `index` (of `lines` lines, or sets: `per` a block) hashed: its lines (sets), runs of blocks merged. */
  lineBlock(index: number, b: number, lines: number, per = LINE_BLOCK): void {
    const from = b * per;
    const to = Math.min(from + per, lines) - 1;
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
    const unit = part === ENDPOINT_SETS_PART ? 'set' : 'line';
    this.#parts.push(`${PART_NAMES[part]} ${unit}${from === to ? ` ${from}` : `s ${from}-${to}`}`);
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
    const turns = new Turns();
    // Indexed: an entries() iterator makes a pair per block (hundreds at 50k) on every verification.
    for (let b = 0; b < table.blocks.length; b++) {
      const block = table.blocks[b]!;
      const fresh = !blockDigests.has(block);
      blocks[b] = digestOfBlock(block, counts);
      if (!fresh) continue;
      tableHashed.push(b);
      if (turns.full(block.length)) await nextTurn();
    }
    digests.push(blocksDigestOf(blocks));
    if (turns.pending) await nextTurn();
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
      const turns = new Turns();
      for (let b = 0; b < held.blocks; b++) if (turns.full(hashLineBlock(held, index, b, counts, hashed))) await nextTurn();
      digests.push(held.digest());
      if (turns.pending) await nextTurn();
      continue;
    }
    if (Array.isArray(part)) {
      // The endpoint sets (ENDPOINT_SETS_PART): only the blocks of sets that are not the held list's arrays (all of a list received whole), about a slice of JSON per turn.
      const sets: SetList = part;
      const blocks = knownSetDigests(sets);
      const turns = new Turns();
      for (let b = 0; b < blocks.length; b++) {
        if (blocks[b] !== undefined) continue;
        blocks[b] = hashSetBlock(sets, b);
        hashed.lineBlock(index, b, sets.length, SET_BLOCK);
        if (counts !== undefined) counts.setBlocksHashed = (counts.setBlocksHashed ?? 0) + 1;
        if (turns.full(SET_BLOCK * 16)) await nextTurn();
      }
      digests.push(setsDigestOf(sets, blocks as Buffer[]));
      if (turns.pending) await nextTurn();
      continue;
    }
    const bytes = part as string | Uint8Array;
    hashed.part(index);
    if (index === ROUTE_LABELS_PART || index === ENDPOINTS_PART) {
      // Line texts are hashed in blocks of lines (`linesDigest`), about a slice of text per turn.
      const blocks: Buffer[] = [];
      const turns = new Turns();
      for (const block of lineBlocks(bytes as string)) {
        blocks.push(blockDigest(block));
        if (turns.full(block.length)) await nextTurn();
      }
      digests.push(blocksDigestOf(blocks));
      await nextTurn();
      continue;
    }
    const hash = createHash('sha256');
    let done = 0;
    while (done < bytes.length) {
      let end = Math.min(done + TURN_SLICE, bytes.length);
      if (typeof bytes === 'string') {
        const last = bytes.charCodeAt(end - 1);
        if (end < bytes.length && last >= 0xd800 && last <= 0xdbff) end--;
        hash.update(bytes.slice(done, end));
      } else hash.update(bytes.subarray(done, end));
      done = end;
      if (done < bytes.length) await nextTurn();
    }
    digests.push(hash.digest('hex'));
    await nextTurn();
  }
  return { digest: combineDigests(bundle, digests), parts: digests, hashed: hashed.describe(tableHashed) };
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
