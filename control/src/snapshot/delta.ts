/**
 * Snapshot deltas: what turns one version into another, item by item. A delta names the
 * version it applies to (`from`) and the version it yields (`version`); whoever applies it must
 * end at exactly that Merkle hash, so a delta applied to the wrong base, truncated, or tampered
 * with is refused, never half-applied.
 */
import { z } from 'zod';
import { PorticoError } from '../errors.ts';
import { itemHash } from './hash.ts';
import { SECTIONS } from './order.ts';
import type { SectionName } from './order.ts';
import type { Snapshot, SnapshotCertificate, SnapshotDefaultRoute, SnapshotEndpointSet, SnapshotHost } from './schema.ts';
import { sealSnapshot } from './schema.ts';

/** Changes to one keyed list: items added or replaced (whole), and keys removed. */
export interface SectionChanges<T> {
  readonly set: readonly T[];
  readonly remove: readonly string[];
}

/** The changes from version `from` to version `version`. */
export interface SnapshotDelta {
  readonly from: string;
  readonly version: string;
  readonly hosts: SectionChanges<SnapshotHost>;
  /** The new catch-all default route (null: none); absent when it did not change. */
  readonly defaultRoute?: SnapshotDefaultRoute | null;
  readonly endpointSets: SectionChanges<SnapshotEndpointSet>;
  readonly certificates: SectionChanges<SnapshotCertificate>;
}

const Version = z.string().regex(/^sha256:[0-9a-f]{64}$/);
const Changes = z.strictObject({ set: z.array(z.unknown()), remove: z.array(z.string()) });

/** The wire shape of a delta; items are validated when they are applied. */
export const SnapshotDeltaShape = z.strictObject({
  type: z.literal('delta').optional(),
  from: Version,
  version: Version,
  hosts: Changes,
  defaultRoute: z.unknown().optional(),
  endpointSets: Changes,
  certificates: Changes,
});

/** How one keyed list changed: the delta's changes plus the old items replaced or removed. */
export interface SectionWalk<T> extends SectionChanges<T> {
  /** Items of the old list that were replaced or removed, in list order. */
  readonly replaced: readonly T[];
}

/**
 * Walks two lists sorted by the section's order side by side. Items shared between versions are
 * the same object and are passed over by identity alone; keys are read and items hashed only
 * where the lists differ, so the walk costs a pointer comparison per unchanged item.
 */
export function sectionWalk<T extends object>(name: SectionName, from: readonly T[], to: readonly T[]): SectionWalk<T> {
  const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: T) => string; compare: (a: string, b: string) => number };
  const set: T[] = [];
  const remove: string[] = [];
  const replaced: T[] = [];
  let i = 0;
  let j = 0;
  while (i < from.length || j < to.length) {
    const old = from[i];
    const item = to[j];
    if (old !== undefined && old === item) {
      i++;
      j++;
      continue;
    }
    const order = old === undefined ? 1 : item === undefined ? -1 : compare(keyOf(old), keyOf(item));
    if (order < 0) {
      remove.push(keyOf(old!));
      replaced.push(old!);
      i++;
    } else if (order > 0) {
      set.push(item!);
      j++;
    } else {
      if (itemHash(name, old!) !== itemHash(name, item!)) {
        set.push(item!);
        replaced.push(old!);
      }
      i++;
      j++;
    }
  }
  return { set, remove, replaced };
}

function sectionChanges<T extends object>(name: SectionName, from: readonly T[], to: readonly T[]): SectionChanges<T> {
  const { set, remove } = sectionWalk(name, from, to);
  return { set, remove };
}

/** Whether the catch-all default route differs between two snapshots. */
export function catchAllChanged(from: Snapshot, to: Snapshot): boolean {
  return from.defaultRoute !== to.defaultRoute && (from.defaultRoute === null || to.defaultRoute === null || itemHash('defaultRoute', from.defaultRoute) !== itemHash('defaultRoute', to.defaultRoute));
}

/** The delta from `from` to `to`. O(items) cheap work plus the changed items. */
export function snapshotDelta(from: Snapshot, to: Snapshot): SnapshotDelta {
  return {
    from: from.version,
    version: to.version,
    hosts: sectionChanges('hosts', from.hosts, to.hosts),
    ...(catchAllChanged(from, to) ? { defaultRoute: to.defaultRoute } : {}),
    endpointSets: sectionChanges('endpointSets', from.endpointSets, to.endpointSets),
    certificates: sectionChanges('certificates', from.certificates, to.certificates),
  };
}

/** True when the delta changes nothing but endpoint sets (the data plane keeps its routing). */
export function onlyEndpointSets(delta: SnapshotDelta): boolean {
  const none = (c: SectionChanges<unknown>) => c.set.length === 0 && c.remove.length === 0;
  return none(delta.hosts) && none(delta.certificates) && delta.defaultRoute === undefined;
}

function merge<T extends object>(name: SectionName, base: readonly T[], changes: SectionChanges<unknown>): T[] {
  const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: T) => string; compare: (a: string, b: string) => number };
  const replaced = new Set(changes.remove);
  const added: T[] = [];
  for (const item of changes.set) {
    // A malformed item has no usable key; it is refused by validation while sealing.
    const key = typeof item === 'object' && item !== null ? keyOf(item as T) : undefined;
    if (typeof key !== 'string') throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta ${name}: an item has no key`);
    replaced.add(key);
    added.push(item as T);
  }
  const kept = base.filter((item) => !replaced.has(keyOf(item)));
  if (added.length === 0) return kept;
  return [...kept, ...added].sort((a, b) => compare(keyOf(a), keyOf(b)));
}

/**
 * Applies a delta (unknown JSON, as received) to `base`. Validates the delta's shape and every
 * new item, and checks that the result hashes to the announced version.
 * Throws PORTICO_E_SNAPSHOT_INVALID when the delta is malformed, is for another base, or does
 * not yield the announced version; `base` is never modified.
 */
export function applyDelta(base: Snapshot, json: unknown): Snapshot {
  const parsed = SnapshotDeltaShape.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const delta = parsed.data;
  if (delta.from !== base.version) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta is from ${delta.from}, not from the served ${base.version}`);
  const snapshot = sealSnapshot({
    apiVersion: base.apiVersion,
    kind: base.kind,
    hosts: merge('hosts', base.hosts, delta.hosts),
    defaultRoute: 'defaultRoute' in delta ? delta.defaultRoute : base.defaultRoute,
    endpointSets: merge('endpointSets', base.endpointSets, delta.endpointSets),
    certificates: merge('certificates', base.certificates, delta.certificates),
  }, base);
  if (snapshot.version !== delta.version) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta from ${delta.from} yields ${snapshot.version}, not the announced ${delta.version}`);
  return snapshot;
}
