/**
 * Sealing and verifying snapshots: the Merkle version and item validation.
 *
 * Every item (a host, an endpoint set, a certificate, the catch-all default route) is hashed
 * alone: SHA-256 of its JSON. The version is `sha256:` + SHA-256 of a small text listing, in
 * list order, one line per item (`h <hash>`, `d <hash>|-`, `e <hash>`, `c <hash>`) after a
 * header naming the format. Items are immutable once sealed, so their hash (and the fact that
 * they passed validation) is remembered per object: sealing a snapshot that shares most items
 * with the previous one validates and hashes only the new items, and costs O(items) of cheap
 * work for the rest. A data plane that received items over the wire validates and hashes each
 * of them once, then keeps those facts for the deltas that follow.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import type { z } from 'zod';
import { PorticoError } from '../errors.ts';
import { SECTIONS } from './order.ts';
import type { SectionName } from './order.ts';
import type { Snapshot, SnapshotContent } from './schema.ts';
import { Certificate, DefaultRoute, EndpointSet, Host, SNAPSHOT_API_VERSION } from './schema.ts';

/** What is known of a validated item: its hash and the length of its JSON. */
interface Leaf {
  readonly hash: string;
  readonly bytes: number;
  /** Its line in the version listing (`h <hash>\n`, ...), made on first use. */
  line?: string;
}

const leaves = new WeakMap<object, Leaf>();

/**
 * The version hash's state after the header and the hosts section, by hosts list: the hosts come
 * first in the listing, so a version whose hosts are the very list of an earlier one (an endpoint
 * change) resumes from there instead of walking every host again (SHA-256 reads its input in order:
 * the same bytes give the same state). The list was validated and order-checked when first sealed.
 */
const afterHosts = new WeakMap<readonly unknown[], Hash>();

/** Version listing lines hashed per update (a few tens of KB of text: young, short-lived strings). */
const LINES_PER_UPDATE = 512;

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

/**
 * The Merkle version of `content`, validating every item not validated before and the order of
 * every list (strictly increasing keys: sorted, no duplicates).
 * Throws PORTICO_E_SNAPSHOT_INVALID naming the first bad item or field.
 */
export function snapshotVersion(content: unknown): string {
  checkShape(content);
  // Lines are hashed a block at a time: per-item hash updates cost more than the hashing, and one
  // joined text of every line would be a large object (old space) made anew for every version.
  let digest = createHash('sha256');
  let lines: string[] = [`${SNAPSHOT_API_VERSION} Snapshot merkle-1\n`];
  const push = (line: string): void => {
    lines.push(line);
    if (lines.length === LINES_PER_UPDATE) {
      digest.update(lines.join(''));
      lines = [];
    }
  };
  const section = (name: SectionName): void => {
    const { keyOf, compare } = SECTIONS[name];
    const items = content[name] as readonly unknown[];
    const tag = TAGS[name];
    let previous: string | undefined;
    for (let i = 0; i < items.length; i++) {
      const leaf = leafOf(name, items[i], `${name}[${i}]`);
      const key = (keyOf as (item: unknown) => string)(items[i]);
      if (previous !== undefined && compare(previous, key) >= 0) throw invalid(`snapshot ${name}[${i}] (${key}) is out of order or repeated`);
      previous = key;
      push((leaf.line ??= `${tag} ${leaf.hash}\n`));
    }
  };
  const hosts = content.hosts as readonly unknown[];
  const resumed = afterHosts.get(hosts);
  if (resumed !== undefined) {
    digest = resumed.copy();
    lines = [];
  } else {
    section('hosts');
    digest.update(lines.join(''));
    lines = [];
    afterHosts.set(hosts, digest.copy());
  }
  push(`d ${content.defaultRoute === null ? '-' : leafOf('defaultRoute', content.defaultRoute, 'defaultRoute').hash}\n`);
  section('endpointSets');
  section('certificates');
  return `sha256:${digest.update(lines.join('')).digest('hex')}`;
}

/**
 * Validates content and seals it with its version: the one way snapshots are made. The lists
 * are kept, not copied: items shared with an earlier snapshot stay shared.
 * Throws PORTICO_E_SNAPSHOT_INVALID when the content breaks the contract.
 */
export function sealSnapshot(content: unknown): Snapshot {
  const version = snapshotVersion(content);
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
