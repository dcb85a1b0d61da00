/**
 * Sealing and verifying snapshots: the Merkle version and item validation.
 *
 * Every item (a host, an endpoint set, a certificate, the catch-all default route) is hashed
 * alone: SHA-256 of its JSON, and its line is `<tag> <hash>` (`h` host, `e` endpoint set, `c`
 * certificate). The lines of each list are grouped into blocks whose ends the items choose: a
 * block ends after an item whose hash ends in a byte below 8 (one item in 32), and at the end of
 * the list. The version is `sha256:` + SHA-256 of a listing: a header naming the format, then per
 * block of hosts `h <count> <SHA-256 of its lines>`, the catch-all's `d <hash>|-`, the endpoint
 * sets' blocks (`e ...`), the certificates' blocks (`c ...`), each line ending in a newline.
 *
 * The blocks depend on the content alone (any replica, any order of events, gives the same
 * version), and a change moves only the blocks around the items it changed. Items are immutable
 * once sealed: their hash (and the fact that they passed validation) is remembered per object,
 * and each sealed list keeps its blocks and their listing lines. Sealing a list against the same
 * list of the previous version (`previous`) passes over the unchanged items at both ends (as
 * compile recorded them, else compared by identity), validates and orders only the items between,
 * and hashes again only the blocks those fall in; a version that keeps the hosts list resumes the
 * listing's hash after it. What remains in proportion to the snapshot is hashing the listing
 * itself (one line per 32 items, about 110 KiB at 50,000 hosts). A data plane that received items over the
 * wire validates and hashes each of them once, then keeps those facts for the deltas that follow.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { z } from 'zod';
import { PorticoError } from '../errors.ts';
import { SECTIONS } from './order.ts';
import type { SectionName } from './order.ts';
import type { Snapshot, SnapshotContent } from './schema.ts';
import { Certificate, DefaultRoute, EndpointSet, Host, SNAPSHOT_API_VERSION } from './schema.ts';
import type { KeptRuns } from './sealed-against.ts';
import { keptRuns, recordSealedAgainst, runEnds } from './sealed-against.ts';

export { changedRange } from './sealed-against.ts';

/** What is known of a validated item: its hash and the length of its JSON. */
interface Leaf {
  readonly hash: string;
  readonly bytes: number;
  /** Its line in a block (`h <hash>\n`, ...), made on first use. */
  line?: string;
}

const leaves = new WeakMap<object, Leaf>();

/**
 * The blocks of a sealed list: where each ends (the index after its last item), its digest and its
 * line in the version listing (`h <count> <digest>\n`; a block kept from the previous list keeps
 * its line string, so only the blocks around a change are formatted again).
 */
interface ListSeal {
  readonly ends: readonly number[];
  readonly digests: readonly string[];
  readonly lines: readonly string[];
  /**
   * Of a hosts list: the listing's hash state after its header and this list's lines, made on the
   * first version sealed with it; a version that keeps the hosts list (an endpoint change) copies it
   * and hashes only the parts after the hosts.
   */
  afterHosts?: Hash;
}

/** The blocks of every sealed list, by list (lists are immutable once sealed, like their items). */
const seals = new WeakMap<readonly unknown[], ListSeal>();

/** The version listing's format, named in its header. */
const FORMAT = 'merkle-2';

/** Whether a block ends after the item of this hash: its last byte is below 8 (one item in 32, on average). */
function endsBlock(hash: string): boolean {
  return parseInt(hash.slice(62), 16) < 8;
}

// A function, not a constant: schema.ts re-exports this module, so its schemas exist only once both are loaded.
const schemaOf = (kind: SectionName | 'defaultRoute'): z.ZodType => ({ hosts: Host, endpointSets: EndpointSet, certificates: Certificate, defaultRoute: DefaultRoute })[kind];
const TAGS: Record<SectionName, string> = { hosts: 'h', endpointSets: 'e', certificates: 'c' };

function invalid(message: string): PorticoError {
  return new PorticoError('PORTICO_E_SNAPSHOT_INVALID', message);
}

/**
 * The validated leaf of one item (validating and hashing it on first sight). `where` names the
 * item in errors, e.g. `hosts[3]`. Throws PORTICO_E_SNAPSHOT_INVALID naming the first bad field.
 */
function leafOf(kind: SectionName | 'defaultRoute', item: unknown, where: string): Leaf {
  if (typeof item === 'object' && item !== null) {
    const known = leaves.get(item);
    if (known !== undefined) return known;
  }
  const parsed = schemaOf(kind).safeParse(item);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalid(`snapshot ${[where, ...issue.path].join('.')}: ${issue.message}`);
  }
  // The item itself is kept (not zod's copy), so later snapshots that share it find its leaf.
  const json = JSON.stringify(item);
  const leaf = { hash: createHash('sha256').update(json).digest('hex'), bytes: json.length };
  leaves.set(item as object, leaf);
  return leaf;
}

/** The hash of a sealed or parsed item (validating it if it was never seen). */
export function itemHash(kind: SectionName | 'defaultRoute', item: object): string {
  return leafOf(kind, item, kind).hash;
}

/** The length of an item's JSON (known without work for a sealed item): its rough weight in memory. */
export function itemBytes(item: object): number {
  return leaves.get(item)?.bytes ?? JSON.stringify(item).length;
}

function checkShape(content: unknown): asserts content is SnapshotContent {
  const value = content as Partial<Record<string, unknown>>;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid('snapshot (root): expected an object');
  if (value.apiVersion !== SNAPSHOT_API_VERSION) throw invalid(`snapshot apiVersion: expected ${SNAPSHOT_API_VERSION}`);
  if (value.kind !== 'Snapshot') throw invalid('snapshot kind: expected Snapshot');
  for (const name of ['hosts', 'endpointSets', 'certificates'] as const) if (!Array.isArray(value[name])) throw invalid(`snapshot ${name}: expected an array`);
  if (value.defaultRoute === undefined) throw invalid('snapshot defaultRoute: required (null when there is none)');
  const allowed = new Set(['apiVersion', 'kind', 'hosts', 'defaultRoute', 'endpointSets', 'certificates', 'version']);
  for (const key of Object.keys(value)) if (!allowed.has(key)) throw invalid(`snapshot ${key}: unrecognized key`);
}

/** The index of the block of `ends` (see ListSeal) that starts at item `start`, or -1 when none does. */
function blockStartingAt(ends: readonly number[], start: number): number {
  if (start === 0) return 0;
  let low = 0;
  let high = ends.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ends[mid]! < start) low = mid + 1;
    else high = mid;
  }
  return low < ends.length && ends[low] === start ? low + 1 : -1;
}

const NO_RUNS: KeptRuns = [];

/**
 * The blocks of list `name` of a snapshot (`items`), validating every item not validated before
 * and the order of the list (strictly increasing keys: sorted, no duplicates). With `previous`
 * (the same list of a sealed snapshot), the stretches of items that are that list's (`keptRuns`:
 * every one compile took over, else the unchanged ends) are known valid and ordered, and the
 * previous blocks that lie wholly in one are taken as they are: a change costs the blocks it falls
 * in, wherever and however many the changes are. Throws PORTICO_E_SNAPSHOT_INVALID naming the
 * first bad item or field.
 */
function sealList(name: SectionName, items: readonly unknown[], previous: readonly unknown[] | undefined): ListSeal {
  const known = seals.get(items);
  if (known !== undefined) return known;
  const before = previous === undefined ? undefined : seals.get(previous);
  const old = before === undefined ? [] : previous!;
  const n = items.length;
  const m = old.length;
  const runs = before === undefined ? NO_RUNS : keptRuns(items, old);
  const ends: number[] = [];
  const digests: string[] = [];
  const blockLines: string[] = [];
  const { compare } = SECTIONS[name];
  const keyOf = SECTIONS[name].keyOf as (item: unknown) => string;
  const tag = TAGS[name];
  // The key last read (of item `keyAt`): walking items in a row reads each key once.
  let keyAt = -1;
  let lastKey = '';
  const checkOrder = (i: number): void => {
    const before = keyAt === i - 1 ? lastKey : keyOf(items[i - 1]);
    const key = keyOf(items[i]);
    if (compare(before, key) >= 0) throw invalid(`snapshot ${name}[${i}] (${key}) is out of order or repeated`);
    keyAt = i;
    lastKey = key;
  };
  // `r`: the first run that ends after item `i`; `i` is where the next block starts.
  let r = 0;
  let i = 0;
  while (i < n) {
    while (r < runs.length && runs[r + 1]! <= i) r += 3;
    if (before !== undefined && r < runs.length && runs[r]! <= i) {
      // In a run, the previous list's blocks from the same item on are this list's while they lie in it (its last
      // block only if it ends this list too: that one ended with the list, not at an item that ends a block).
      const offset = runs[r + 2]!;
      const from = i;
      for (let b = blockStartingAt(before.ends, i + offset); b >= 0 && b < before.ends.length; b++) {
        const end = before.ends[b]! - offset;
        if (end > runs[r + 1]! || (before.ends[b] === m && end !== n)) break;
        ends.push(end);
        digests.push(before.digests[b]!);
        blockLines.push(before.lines[b]!);
        i = end;
      }
      if (i > from) {
        // Pairs inside one run were in order in the previous list; the pair across its start was not compared.
        if (from > 0 && runs[r]! > from - 1) checkOrder(from);
        continue;
      }
    }
    // The items of this block one by one, to the one that ends it.
    const lines: string[] = [];
    for (; ; i++) {
      const leaf = leafOf(name, items[i], `${name}[${i}]`);
      while (r < runs.length && runs[r + 1]! <= i) r += 3;
      if (i > 0 && !(r < runs.length && runs[r]! <= i - 1)) checkOrder(i);
      lines.push((leaf.line ??= `${tag} ${leaf.hash}\n`));
      if (!endsBlock(leaf.hash) && i < n - 1) continue;
      const digest = createHash('sha256').update(lines.join('')).digest('hex');
      blockLines.push(`${tag} ${i + 1 - (ends.length === 0 ? 0 : ends.at(-1)!)} ${digest}\n`);
      ends.push(i + 1);
      digests.push(digest);
      i++;
      break;
    }
  }
  const seal: ListSeal = { ends, digests, lines: blockLines };
  seals.set(items, seal);
  if (before !== undefined) {
    // What the deltas and bundles ask (sharedEnds, changedRange): the unchanged ends.
    const { head, tail } = runEnds(runs, n, m);
    recordSealedAgainst(items, previous!, head, tail, runs);
  }
  return seal;
}

/**
 * The Merkle version of `content`, validating every item not validated before and the order of
 * every list; with `previous` (a sealed snapshot, usually the last version), at the cost of the
 * items that are not `previous`'s (see sealList). Throws PORTICO_E_SNAPSHOT_INVALID naming the
 * first bad item or field.
 */
export function snapshotVersion(content: unknown, previous?: SnapshotContent): string {
  checkShape(content);
  const seal = (name: SectionName): ListSeal => sealList(name, content[name] as readonly unknown[], previous?.[name] as readonly unknown[] | undefined);
  const hosts = seal('hosts');
  const hash = hosts.afterHosts?.copy() ?? createHash('sha256').update(`${SNAPSHOT_API_VERSION} Snapshot ${FORMAT}\n`).update(hosts.lines.join(''));
  hosts.afterHosts ??= hash.copy();
  hash.update(`d ${content.defaultRoute === null ? '-' : leafOf('defaultRoute', content.defaultRoute, 'defaultRoute').hash}\n`);
  hash.update(seal('endpointSets').lines.join(''));
  hash.update(seal('certificates').lines.join(''));
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Validates content and seals it with its version: the one way snapshots are made. The lists
 * are kept, not copied: items shared with an earlier snapshot stay shared. `previous` (a sealed
 * snapshot that shares most items, in the same places) makes it cost what differs from it.
 * Throws PORTICO_E_SNAPSHOT_INVALID when the content breaks the contract.
 */
export function sealSnapshot(content: unknown, previous?: SnapshotContent): Snapshot {
  const version = snapshotVersion(content, previous);
  const { apiVersion, kind, hosts, defaultRoute, endpointSets, certificates } = content as SnapshotContent;
  return { apiVersion, kind, hosts, defaultRoute, endpointSets, certificates, version };
}

/**
 * Validates unknown JSON as a snapshot and checks that its version is the hash of its content.
 * Throws PorticoError PORTICO_E_SNAPSHOT_INVALID naming the first bad field or the hash mismatch.
 */
export function parseSnapshot(json: unknown): Snapshot {
  const version = (json as { version?: unknown } | null)?.version;
  if (typeof version !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(version)) throw invalid('snapshot version: expected sha256:<64 hex digits>');
  const snapshot = sealSnapshot(json);
  if (snapshot.version !== version) throw invalid(`snapshot version ${version} does not match its content hash ${snapshot.version}`);
  return snapshot;
}
