/**
 * What the `portico dataplane` primary sends a worker that already holds a bundle: the parts of the
 * next bundle that differ from that one (`bundleDelta`), not the whole bundle. A one-path edit at
 * 10,000 Ingresses changes one 4 KiB block of a 4 MB table and a few characters of a 1.5 MB labels
 * text; a full bundle is ~5.5 MB structured-cloned per worker per version. The worker rebuilds the
 * bundle from the one it holds (`applyBundleDelta`) and verifies the result against the digest
 * the primary named, so a delta applied to the wrong base can never be served: the worker refuses
 * it and the primary sends the whole bundle. Tables stay blocks on both sides (TableBlocks): the
 * primary compares only the blocks that are not the same objects in both versions, and the worker's
 * new version shares every block the delta does not touch with the one it holds, so it hashes and
 * copies into its matcher only the touched ones (bundle-verify.ts, matcher-pool.ts), never the table.
 */
import { TABLE_BLOCK_BYTES, TableBlocks } from '@portico/assembly/encode';
import type { TableBundle } from './bundle.ts';
import { tableBlocksOf, withTableBlocks } from './bundle.ts';
import type { SetBlocksEdit, SetList } from '@portico/control/snapshot/bundle';
import { ENDPOINTS_PART, SET_BLOCK, endpointLinesOf, setBlocksEdit, setListAfter, withEndpointLines, withLabelLines } from '@portico/control/snapshot/bundle';
import type { LinesEdit } from './text-lines.ts';
import { TextLines, checkLinesEdit, newlines, textLinesOf } from './text-lines.ts';

/** Bytes of a table compared (and replaced) at a time when the table keeps its length. */
const DELTA_BLOCK = 4096;

/**
 * One field of a bundle in a delta: `same` as the base's; `value`, the whole new value; `blocks`,
 * the base's bytes (same length) with the blocks at `at` replaced; `splice`, the base's first
 * `keep` and last `tail` units with `middle` between them; `lines` (a text of lines: the endpoints),
 * the base's lines with those at `at` (ascending) replaced by `lines`, as many lines in all.
 */
export type FieldEdit<T extends string | Uint8Array> = { readonly kind: 'same' } | { readonly kind: 'value'; readonly value: T } | { readonly kind: 'blocks'; readonly at: readonly number[]; readonly bytes: readonly Uint8Array[] } | { readonly kind: 'splice'; readonly keep: number; readonly tail: number; readonly middle: T } | LinesEdit;

/** Lines a `lines` edit carries at most (more: a splice or the whole text, as the lines changed were many). */
const LINES_EDIT_MAX = 1024;

type TextField = 'routeLabels' | 'endpoints' | 'policies' | 'regexHosts' | 'upstreamTls';
const TEXT_FIELDS: readonly TextField[] = ['routeLabels', 'endpoints', 'policies', 'regexHosts', 'upstreamTls'];
/** The texts of one line per id, held by a worker as TextLines. */
type LineField = 'routeLabels' | 'endpoints';
/** The other texts (small JSON), applied as strings. */
type JsonField = Exclude<TextField, LineField>;
const JSON_FIELDS: readonly JsonField[] = ['policies', 'regexHosts', 'upstreamTls'];

/**
 * A bundle as the change from `base`: the digest of a bundle the worker holds, in the same mode,
 * or (a balancing-only bundle to a worker holding none yet) its full one, whose table then does not
 * serve (the table goes whole). `endpointsFrom`: the digest of another bundle the worker holds,
 * the one it loaded last, whose `endpoints` text `texts.endpoints` edits instead of `base`'s; so
 * the worker's snapshot after it is the one it patches, and an endpoint change after a path edit
 * (or a path edit after an endpoint change) is read by the endpoint lines it touched, not whole.
 */
export interface BundleDelta {
  readonly base: string;
  readonly endpointsFrom?: string;
  readonly version: string;
  readonly digest: string;
  readonly balancingOnly: boolean;
  readonly needsHeaders: boolean;
  readonly table: FieldEdit<Uint8Array>;
  readonly redirects: FieldEdit<Uint8Array>;
  readonly texts: Readonly<Record<TextField, FieldEdit<string>>>;
  /** Absent: the base's (the same object on the primary); `blocks`: the base's with the blocks of sets that changed replaced (a move, a scale); `value`: the whole list. */
  readonly endpointSets?: { readonly kind: 'blocks'; readonly edit: SetBlocksEdit } | { readonly kind: 'value'; readonly value: TableBundle['endpointSets'] };
  /** `same`: the base's TLS part; else the new one (undefined for none). */
  readonly tls: { readonly kind: 'same' } | { readonly kind: 'value'; readonly value: TableBundle['tls'] };
}

/** Bytes (UTF-16 units for texts) a field edit carries. */
function editSize(edit: FieldEdit<string | Uint8Array>): number {
  if (edit.kind === 'same') return 0;
  if (edit.kind === 'value') return edit.value.length;
  if (edit.kind === 'splice') return edit.middle.length;
  if (edit.kind === 'lines') return edit.lines.reduce((total, line) => total + line.length + 1, 0);
  return edit.bytes.length * DELTA_BLOCK;
}

/** The payload of a bundle (or delta) as it crosses to a worker: bytes of its tables and units of its texts (endpoint sets and TLS not counted). */
export function payloadSize(message: TableBundle | BundleDelta): number {
  if ('base' in message) return editSize(message.table) + editSize(message.redirects) + TEXT_FIELDS.reduce((total, field) => total + editSize(message.texts[field]), 0);
  return tableBlocksOf(message).length + message.redirects.length + TEXT_FIELDS.reduce((total, field) => total + message[field].length, 0);
}

/** Length of the common prefix of `a` and `b`, compared a block at a time, then unit by unit. */
function commonPrefix<T extends string | Uint8Array>(a: T, b: T): number {
  const most = Math.min(a.length, b.length);
  let at = 0;
  while (at + DELTA_BLOCK <= most && sameRange(a, b, at, at, DELTA_BLOCK)) at += DELTA_BLOCK;
  while (at < most && unit(a, at) === unit(b, at)) at++;
  return at;
}

/** Length of the common suffix of `a` and `b` that does not overlap the first `prefix` units of either. */
function commonSuffix<T extends string | Uint8Array>(a: T, b: T, prefix: number): number {
  const most = Math.min(a.length, b.length) - prefix;
  let n = 0;
  while (n + DELTA_BLOCK <= most && sameRange(a, b, a.length - n - DELTA_BLOCK, b.length - n - DELTA_BLOCK, DELTA_BLOCK)) n += DELTA_BLOCK;
  while (n < most && unit(a, a.length - n - 1) === unit(b, b.length - n - 1)) n++;
  return n;
}

const unit = (value: string | Uint8Array, at: number): number => (typeof value === 'string' ? value.charCodeAt(at) : value[at]!);

function sameRange(a: string | Uint8Array, b: string | Uint8Array, atA: number, atB: number, length: number): boolean {
  if (typeof a === 'string') return a.slice(atA, atA + length) === (b as string).slice(atB, atB + length);
  return Buffer.compare((a as Uint8Array).subarray(atA, atA + length), (b as Uint8Array).subarray(atB, atB + length)) === 0;
}

/**
 * The edit taking `base` to `next`: identical → same; same-length tables → changed blocks; else a
 * splice around the common prefix and suffix; the whole value when the edit would carry more than
 * half of it (a table that grew in the middle: every offset after the insertion moved).
 */
function fieldEdit<T extends string | Uint8Array>(base: T, next: T): FieldEdit<T> {
  return orWhole(smallestEdit(base, next), next.length, () => next);
}

/** `edit`, or the whole value (`whole()`, `length` units) when the edit would carry more than half of it. */
function orWhole<T extends string | Uint8Array>(edit: FieldEdit<T>, length: number, whole: () => T): FieldEdit<T> {
  return editSize(edit) * 2 > length ? { kind: 'value', value: whole() } : edit;
}

/**
 * The edit taking table `base` to `next` (`fieldEdit`), comparing only the blocks that are not the
 * same objects (a patched version shares the blocks it did not write): the table is flattened only
 * when its length changed or it goes whole.
 */
function tableEdit(base: TableBlocks, next: TableBlocks, nextBytes: () => Uint8Array): FieldEdit<Uint8Array> {
  if (base.length !== next.length) return fieldEdit(base.bytes(), nextBytes());
  const at: number[] = [];
  const bytes: Uint8Array[] = [];
  for (let b = 0; b < next.blocks.length; b++) {
    const old = base.blocks[b]!;
    const block = next.blocks[b]!;
    if (old === block) continue;
    for (let offset = 0; offset < block.length; offset += DELTA_BLOCK) {
      if (sameRange(old, block, offset, offset, Math.min(DELTA_BLOCK, block.length - offset))) continue;
      at.push(b * TABLE_BLOCK_BYTES + offset);
      bytes.push(block.slice(offset, offset + DELTA_BLOCK));
    }
  }
  if (at.length === 0) return { kind: 'same' };
  return orWhole({ kind: 'blocks', at, bytes }, next.length, nextBytes);
}

function smallestEdit<T extends string | Uint8Array>(base: T, next: T): FieldEdit<T> {
  if (base === next) return { kind: 'same' };
  if (typeof next !== 'string' && base.length === next.length) {
    const at: number[] = [];
    const bytes: Uint8Array[] = [];
    const old = base as Uint8Array;
    for (let offset = 0; offset < next.length; offset += DELTA_BLOCK) {
      if (sameRange(old, next, offset, offset, Math.min(DELTA_BLOCK, next.length - offset))) continue;
      at.push(offset);
      // A copy: a view would clone the whole table's buffer.
      bytes.push(next.slice(offset, offset + DELTA_BLOCK));
    }
    return at.length === 0 ? { kind: 'same' } : { kind: 'blocks', at, bytes };
  }
  const keep = commonPrefix(base, next);
  if (keep === base.length && keep === next.length) return { kind: 'same' };
  const tail = commonSuffix(base, next, keep);
  const middle = (typeof next === 'string' ? next.slice(keep, next.length - tail) : (next as Uint8Array).slice(keep, next.length - tail)) as T;
  return { kind: 'splice', keep, tail, middle };
}

/**
 * The delta taking `base` (a bundle the worker holds, in the same mode, or its full one for a
 * balancing-only `next`: the table then goes whole) to `next`, each part the smaller of its edit
 * and its whole value (so never more than `next` itself), with the endpoints text edited from
 * `endpointsFrom`'s (another bundle the worker holds: the one it loaded last) when given. Undefined
 * for a full `next` from a balancing-only base. Costs a comparison of the parts (and table blocks)
 * that are not the same objects (block-wise memcmp), nothing more.
 */
export function bundleDelta(base: TableBundle, next: TableBundle, endpointsFrom?: TableBundle): BundleDelta | undefined {
  if (base.balancingOnly && !next.balancingOnly) return undefined;
  const crossMode = base.balancingOnly !== next.balancingOnly;
  const from = endpointsFrom === undefined || endpointsFrom === base ? undefined : endpointsFrom;
  // The endpoints by their changed lines when the lineage says which (ids are slots: a move changes two distant lines, a splice would carry the span between).
  const texts = Object.fromEntries(TEXT_FIELDS.map((field) => [field, field === 'endpoints' ? (linesEdit(from ?? base, next) ?? endpointsEdit((from ?? base).endpoints, next.endpoints)) : fieldEdit(base[field], next[field])])) as Record<TextField, FieldEdit<string>>;
  const delta: BundleDelta = {
    base: base.digest,
    ...(from === undefined ? {} : { endpointsFrom: from.digest }),
    version: next.version,
    digest: next.digest,
    balancingOnly: next.balancingOnly,
    needsHeaders: next.needsHeaders,
    // A full table and a balancing-only one are laid out differently: nothing to compare.
    table: crossMode ? { kind: 'value', value: next.table } : tableEdit(tableBlocksOf(base), tableBlocksOf(next), () => next.table),
    redirects: fieldEdit(base.redirects, next.redirects),
    texts,
    ...(next.endpointSets === base.endpointSets ? {} : { endpointSets: setsEdit(base.endpointSets, next.endpointSets) }),
    tls: next.tls === base.tls ? { kind: 'same' } : { kind: 'value', value: next.tls },
  };
  return delta;
}

/**
 * The endpoint sets of `next` as the change from `base`'s: the blocks of sets that are not the
 * same arrays (a move or a scale: one or two blocks of SET_BLOCK sets, not a structured clone of
 * every set), the whole list when the length changed or more than half of the blocks did.
 */
function setsEdit(base: SetList, next: SetList): NonNullable<BundleDelta['endpointSets']> {
  const edit = setBlocksEdit(base, next);
  return edit === undefined || edit.at.length * SET_BLOCK * 2 > next.length ? { kind: 'value', value: next } : { kind: 'blocks', edit };
}

/** The endpoint sets an edit makes of `base`'s (the base's own list when absent). Throws when a blocks edit does not fit the base. */
function setsAfter(base: SetList, edit: BundleDelta['endpointSets']): SetList {
  if (edit === undefined) return base;
  if (edit.kind === 'value') return edit.value;
  return setListAfter(base, edit.edit);
}

/**
 * The `lines` edit taking `earlier`'s endpoints to `next`'s, when `next`'s lines know they descend
 * from `earlier`'s (EndpointLines.changedSince) and few changed; undefined otherwise (a text edit).
 */
function linesEdit(earlier: TableBundle, next: TableBundle): FieldEdit<string> | undefined {
  const before = endpointLinesOf(earlier);
  const after = endpointLinesOf(next);
  if (before === undefined || after === undefined || before.lines !== after.lines) return undefined;
  const at = after.changedSince(before, LINES_EDIT_MAX);
  if (at === undefined) return undefined;
  if (at.length === 0) return { kind: 'same' };
  return { kind: 'lines', at: [...at], lines: at.map((line) => after.line(line)!) };
}

/**
 * The edit of an endpoints text whose lineage is not known (fieldEdit), as the lines that differ
 * when the splice's lines are as many on both sides and that edit is smaller: ids are slots, so
 * a move or a scale changes a few lines far apart, and a splice would carry every line between.
 */
function endpointsEdit(base: string, next: string): FieldEdit<string> {
  const edit = smallestEdit(base, next);
  const best = edit.kind === 'splice' ? (changedLines(base, next, edit) ?? edit) : edit;
  return orWhole(best, next.length, () => next);
}

/** The `lines` edit of the lines `splice` touches, when they are as many on both sides and it is the smaller edit; else undefined. */
function changedLines(base: string, next: string, edit: { readonly keep: number; readonly tail: number }): FieldEdit<string> | undefined {
  // The whole lines the splice touches: the prefix and suffix are common, so are the line ends around them.
  const start = base.lastIndexOf('\n', edit.keep - 1) + 1;
  const tailAt = base.indexOf('\n', base.length - edit.tail);
  const after = tailAt < 0 ? 0 : base.length - tailAt;
  if (next.length - after < start) return undefined;
  const was = base.slice(start, base.length - after).split('\n');
  const now = next.slice(start, next.length - after).split('\n');
  if (was.length !== now.length) return undefined;
  const first = newlines(base, start);
  const at: number[] = [];
  const lines: string[] = [];
  now.forEach((line, i) => {
    if (line === was[i]) return;
    at.push(first + i);
    lines.push(line);
  });
  const byLines: FieldEdit<string> = { kind: 'lines', at, lines };
  return editSize(byLines) < next.length - edit.keep - edit.tail ? byLines : undefined;
}

function applyEdit<T extends string | Uint8Array>(base: T, edit: FieldEdit<T>, field: string): T {
  if (edit.kind === 'same') return base;
  if (edit.kind === 'value') return edit.value;
  if (edit.kind === 'lines') {
    if (typeof base !== 'string') throw new Error(`${field}: a lines edit of bytes`);
    const lines = base === '' ? [] : base.split('\n');
    checkLinesEdit(edit, lines.length, field);
    edit.at.forEach((line, i) => (lines[line] = edit.lines[i]!));
    return lines.join('\n') as T;
  }
  if (edit.kind === 'blocks') {
    const out = (base as Uint8Array).slice();
    edit.at.forEach((offset, i) => {
      const bytes = edit.bytes[i]!;
      if (!Number.isInteger(offset) || offset < 0 || offset + bytes.length > out.length) throw new Error(`${field}: block at ${offset} is outside the base`);
      out.set(bytes, offset);
    });
    return out as T;
  }
  if (edit.keep < 0 || edit.tail < 0 || edit.keep + edit.tail > base.length) throw new Error(`${field}: splice keeps ${edit.keep}+${edit.tail} of ${base.length}`);
  if (typeof base === 'string') return (base.slice(0, edit.keep) + (edit.middle as string) + base.slice(base.length - edit.tail)) as T;
  const middle = edit.middle as Uint8Array;
  const out = new Uint8Array(edit.keep + middle.length + edit.tail);
  out.set((base as Uint8Array).subarray(0, edit.keep), 0);
  out.set(middle, edit.keep);
  out.set((base as Uint8Array).subarray(base.length - edit.tail), edit.keep + middle.length);
  return out as T;
}

/**
 * `table`, or a copy of it when it is a view into a larger buffer (a received IPC message, texts and
 * all): its blocks are kept by every later version that does not rewrite them, and must not keep
 * the whole message alive.
 */
export function ownedTable(table: Uint8Array): Uint8Array {
  return table.byteLength === table.buffer.byteLength ? table : table.slice();
}

/**
 * The table `edit` makes of `base`, as blocks: a `blocks` edit copies the blocks it writes and
 * shares the others with `base` (the same objects: their digests are known and a matcher instance
 * holding them keeps them), a splice shares the whole blocks before it. Throws when an edit does
 * not fit the base.
 */
function applyTableEdit(base: TableBlocks, edit: FieldEdit<Uint8Array>): TableBlocks {
  if (edit.kind === 'same') return base;
  if (edit.kind === 'value') return TableBlocks.of(ownedTable(edit.value));
  if (edit.kind === 'lines') throw new Error('table: a lines edit of bytes');
  if (edit.kind === 'blocks') {
    const editor = base.edit();
    edit.at.forEach((offset, i) => {
      const bytes = edit.bytes[i]!;
      if (!Number.isInteger(offset) || offset < 0 || offset + bytes.length > base.length) throw new Error(`table: block at ${offset} is outside the base`);
      editor.set(bytes, offset);
    });
    return editor.done();
  }
  try {
    return base.splice(edit.keep, edit.middle, edit.tail);
  } catch (cause) {
    throw new Error(`table: ${(cause as Error).message}`, { cause });
  }
}

/**
 * A bundle of `fields` (a bundle's, whose own table is not read) and `table` (blocks): a new
 * bundle object whose `table` is flattened only if read (a worker never reads it: it verifies and
 * loads by blocks). Its route labels and endpoints are the TextLines of `fields` when it has them
 * (their texts, likewise, joined only if read), else its texts.
 */
export function withTable(fields: Omit<TableBundle, 'table'>, table: TableBlocks): TableBundle {
  const bundle = fields as TableBundle;
  return assemble(fields, table, textLinesOf(bundle, 'routeLabels') ?? fields.routeLabels, textLinesOf(bundle, 'endpoints') ?? fields.endpoints);
}

/** The bundle of `fields`, `table` and the two line texts, each read from its TextLines (and recorded as the bundle's line reader) when it is one. */
function assemble(fields: Omit<TableBundle, 'table' | 'routeLabels' | 'endpoints'>, table: TableBlocks, labels: TextLines | string, endpoints: TextLines | string): TableBundle {
  // Named, not spread: a spread of a bundle would read (flatten) its own table and join its texts.
  const { version, balancingOnly, digest, redirects, needsHeaders, policies, regexHosts, upstreamTls, endpointSets, tls } = fields;
  const bundle = withTableBlocks({
    version,
    balancingOnly,
    get table(): Uint8Array {
      return table.bytes();
    },
    digest,
    get routeLabels(): string {
      return typeof labels === 'string' ? labels : labels.text;
    },
    redirects,
    needsHeaders,
    get endpoints(): string {
      return typeof endpoints === 'string' ? endpoints : endpoints.text;
    },
    policies,
    regexHosts,
    upstreamTls,
    endpointSets,
    ...(tls === undefined ? {} : { tls }),
  }, table);
  if (typeof labels !== 'string') withLabelLines(bundle, labels);
  if (typeof endpoints !== 'string') withEndpointLines(bundle, endpoints);
  return bundle;
}

/**
 * What the primary makes `next` from for a worker holding `held` (full, balancing-only) and
 * serving `served` (the one it loaded last): the base, the held bundle of `next`'s mode (a
 * balancing-only `next` to a worker holding none: its full one), undefined for none (the bundle
 * goes whole); and the bundle its endpoints text is edited from, `served` while it is held.
 */
export function deltaSources(held: readonly [TableBundle | undefined, TableBundle | undefined], served: TableBundle | undefined, next: TableBundle): { base: TableBundle | undefined; endpointsFrom: TableBundle | undefined } {
  const [full, balancing] = held;
  return { base: next.balancingOnly ? (balancing ?? full) : full, endpointsFrom: served !== undefined && (served === full || served === balancing) ? served : undefined };
}

/**
 * The held bundles a delta is made from: the one whose digest is `delta.base`, and the one its
 * endpoints text is edited from (`delta.endpointsFrom`, else the base). Throws naming the digest
 * when the worker holds no such bundle (a delta sent for another worker's state, or out of order).
 */
export function deltaBases(held: readonly (TableBundle | undefined)[], delta: BundleDelta): { base: TableBundle; endpointsFrom: TableBundle } {
  const find = (digest: string): TableBundle | undefined => held.find((bundle) => bundle?.digest === digest);
  const base = find(delta.base);
  const holds = held.flatMap((bundle) => (bundle === undefined ? [] : [bundle.digest])).join(', ') || 'nothing';
  if (base === undefined) throw new Error(`the delta is from ${delta.base}, which it does not hold (it holds ${holds})`);
  if (base.balancingOnly && !delta.balancingOnly) throw new Error(`the delta to a full bundle is from the balancing-only ${delta.base}`);
  if (delta.endpointsFrom === undefined) return { base, endpointsFrom: base };
  const endpointsFrom = find(delta.endpointsFrom);
  if (endpointsFrom === undefined) throw new Error(`the delta's endpoints are from ${delta.endpointsFrom}, which it does not hold (it holds ${holds})`);
  return { base, endpointsFrom };
}

/**
 * The bundle `delta` describes, made from `base` (which must be the bundle whose digest is
 * `delta.base`) and, for its endpoints text, `endpointsFrom` (the bundle named
 * `delta.endpointsFrom`; default `base`: deltaBases finds both). The result is not verified here:
 * the caller checks it hashes to `delta.digest` before loading it. Its table is blocks
 * (tableBlocksOf), sharing those the delta did not touch with `base`'s. Throws when a base is not
 * the one named or an edit does not fit it (a delta for another base).
 */
export function applyBundleDelta(base: TableBundle, delta: BundleDelta, endpointsFrom: TableBundle = base): TableBundle {
  if (base.digest !== delta.base) throw new Error(`the delta is from ${delta.base}, not from the held ${base.digest}`);
  if (endpointsFrom.digest !== (delta.endpointsFrom ?? delta.base)) throw new Error(`the delta's endpoints are from ${delta.endpointsFrom ?? delta.base}, not from the held ${endpointsFrom.digest}`);
  const texts = Object.fromEntries(JSON_FIELDS.map((field) => [field, applyEdit(base[field], delta.texts[field], field)])) as Record<JsonField, string>;
  const tls = delta.tls.kind === 'same' ? base.tls : delta.tls.value;
  const table = applyTableEdit(tableBlocksOf(base), delta.table);
  // The endpoints' lines: those of the bundle they were edited from after the splice, so an endpoint change reads the lines it touched (SnapshotEndpoints).
  const endpoints = linesAfter(endpointsFrom, 'endpoints', delta.texts.endpoints);
  // The route labels' lines likewise: a path edit re-cuts and hashes the label blocks it touched, never the whole text (RouteLabels, verifyBundleInTurns).
  const labels = linesAfter(base, 'routeLabels', delta.texts.routeLabels);
  return assemble({
    version: delta.version,
    balancingOnly: delta.balancingOnly,
    digest: delta.digest,
    redirects: applyEdit(base.redirects, delta.redirects, 'redirects'),
    needsHeaders: delta.needsHeaders,
    ...texts,
    endpointSets: setsAfter(base.endpointSets, delta.endpointSets),
    ...(tls === undefined ? {} : { tls }),
  }, table, labels, endpoints);
}

/** The lines `edit` makes of `bundle`'s `field`: from its TextLines (only the blocks a splice touched are cut again), else from its text. Throws, naming `field`, when the edit does not fit. */
function linesAfter(bundle: TableBundle, field: LineField, edit: FieldEdit<string>): TextLines {
  const held = textLinesOf(bundle, field);
  if (held === undefined) return TextLines.of(applyEdit(bundle[field], edit, field));
  if (edit.kind === 'same') return held;
  if (edit.kind === 'splice') return held.after(edit.keep, edit.tail, edit.middle, field);
  if (edit.kind === 'lines') return held.withLines(edit, field);
  if (edit.kind === 'value' && typeof edit.value === 'string') return TextLines.of(edit.value);
  throw new Error(`${field}: a ${String(edit.kind)} edit of a text`);
}

/**
 * The digests (hex, `bundleParts` order) of the parts `delta` keeps from its base, whose parts
 * hashed to `baseParts` (the endpoints text from `endpointsParts`, those of the bundle named
 * `delta.endpointsFrom`, when it has one); undefined for a part it changes (to be hashed again).
 */
export function keptParts(delta: BundleDelta, baseParts: readonly string[], endpointsParts: readonly string[] = baseParts): (string | undefined)[] {
  const same = [delta.table, delta.texts.routeLabels, delta.redirects, delta.texts.endpoints, delta.texts.policies, delta.texts.regexHosts, delta.texts.upstreamTls].map((edit) => edit.kind === 'same');
  same.push(delta.endpointSets === undefined, delta.tls.kind === 'same');
  return same.map((kept, i) => (kept ? (i === ENDPOINTS_PART ? endpointsParts : baseParts)[i] : undefined));
}
