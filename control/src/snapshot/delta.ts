/**
 * Snapshot deltas: what turns one version into another, item by item. A delta names the
 * version it applies to (`from`) and the version it yields (`version`); whoever applies it must
 * end at exactly that Merkle hash, so a delta applied to the wrong base, truncated, or tampered
 * with is refused, never half-applied.
 */
import { z } from 'zod';
import { PorticoError } from '../errors.ts';
import { itemHash } from './hash.ts';
import { SECTIONS, concatenated, lowerBound } from './order.ts';
import type { SectionName } from './order.ts';
import type { Snapshot, SnapshotCertificate, SnapshotDefaultRoute, SnapshotEndpointSet, SnapshotHost } from './schema.ts';
import { sealSnapshot } from './schema.ts';
import { addRun, recordSealedAgainst, runEnds, sharedEnds } from './sealed-against.ts';

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
 * where the lists differ. The items at both ends that sealing found shared (one list sealed
 * against the other, `sharedEnds`; a list and itself) are not visited at all, so the walk of a
 * version against its predecessor costs the span between its first and last change, not a step
 * per item; lists sealing does not link cost a pointer comparison per unchanged item.
 */
export function sectionWalk<T extends object>(name: SectionName, from: readonly T[], to: readonly T[]): SectionWalk<T> {
  const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: T) => string; compare: (a: string, b: string) => number };
  const set: T[] = [];
  const remove: string[] = [];
  const replaced: T[] = [];
  // Both lists are sorted with unique keys: every item between the shared ends orders before the
  // first item of the shared tail in both lists, so the walk of the middle ends exactly where both tails start.
  const ends = sharedEnds(from, to) ?? { head: 0, tail: 0 };
  let i = ends.head;
  let j = ends.head;
  const fromEnd = from.length - ends.tail;
  const toEnd = to.length - ends.tail;
  while (i < fromEnd || j < toEnd) {
    const old = i < fromEnd ? from[i] : undefined;
    const item = j < toEnd ? to[j] : undefined;
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

/**
 * `base` with the delta's changes to one list: items whose key is removed or set are taken out,
 * the set items put in by key. Each key is found by binary search and the unchanged runs of
 * `base` are copied as blocks, so the merge costs the changes (and one copy of the references),
 * not a key read and a comparison per item. Items the delta sets with the same key twice end up
 * side by side and are refused by sealing (repeated key).
 */
function merge<T extends object>(name: SectionName, base: readonly T[], changes: SectionChanges<unknown>): readonly T[] {
  const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: T) => string; compare: (a: string, b: string) => number };
  const dropped = new Set(changes.remove);
  const added: { readonly key: string; readonly item: T }[] = [];
  for (const item of changes.set) {
    // A malformed item has no usable key; it is refused by validation while sealing.
    const key = typeof item === 'object' && item !== null ? keyOf(item as T) : undefined;
    if (typeof key !== 'string') throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta ${name}: an item has no key`);
    dropped.add(key);
    added.push({ key, item: item as T });
  }
  if (dropped.size === 0) return base;
  added.sort((a, b) => compare(a.key, b.key));
  // Places in `base`: an item taken out (`cut`), or an added item put in before the item there.
  const places: { readonly at: number; readonly item?: T }[] = [];
  for (const key of dropped) {
    const at = lowerBound(base, key, keyOf, compare);
    if (at < base.length && keyOf(base[at]!) === key) places.push({ at });
  }
  for (const { key, item } of added) places.push({ at: lowerBound(base, key, keyOf, compare), item });
  // By place; a stable sort keeps added items of one place in key order.
  places.sort((a, b) => a.at - b.at);
  const pieces: T[][] = [];
  // The stretches of `base` taken over (see KeptRuns), so sealing takes their blocks and checks the order only around the changes.
  const runs: number[] = [];
  let length = 0;
  const keep = (to: number): void => {
    addRun(runs, length, length + to - from, from - length);
    pieces.push(base.slice(from, to));
    length += to - from;
  };
  let from = 0;
  for (const place of places) {
    if (place.at > from) keep(place.at);
    if (place.item === undefined) from = place.at + 1;
    else {
      from = Math.max(from, place.at);
      pieces.push([place.item]);
      length++;
    }
  }
  if (from < base.length) keep(base.length);
  const merged = concatenated(pieces);
  const { head, tail } = runEnds(runs, merged.length, base.length);
  recordSealedAgainst(merged, base, head, tail, runs);
  return merged;
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
