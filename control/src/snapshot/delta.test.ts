// sectionWalk (and the delta and diff built on it) skips the ends that sealing found shared: the
// same answer as the walk of unlinked lists holding the same items, at the cost of the span that
// changed. applyDelta merges by binary search: the same snapshot (or the same refusal) as merging
// by filtering and sorting every item, for any delta, well-formed or not.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PorticoError } from '../errors.ts';
import { applyDelta, sectionWalk, snapshotDelta } from './delta.ts';
import { diffSnapshots } from './diff.ts';
import type { Snapshot, SnapshotEndpointSet, SnapshotHost } from './schema.ts';
import { sealSnapshot } from './schema.ts';
import { SECTIONS } from './order.ts';
import { keptRuns } from './sealed-against.ts';
import type { Edit } from './test-support.ts';
import { applyEdit, content, editArbitrary, host, hostName, initialLists, set, setKey } from './test-support.ts';

/** The same snapshot in new lists holding the same items: sealing links none of them to anything. */
const unlinked = (snapshot: Snapshot): Snapshot => ({ ...snapshot, hosts: [...snapshot.hosts], endpointSets: [...snapshot.endpointSets], certificates: [...snapshot.certificates] });

const editArb = editArbitrary(30);

/** The versions a sequence of edits of hosts (`onHosts`) or endpoint sets yields, each sealed against the one before. */
function versions(size: number, edits: readonly (readonly [Edit, boolean])[]): Snapshot[] {
  let lists = initialLists(size);
  const all = [sealSnapshot(content(lists.hosts, lists.sets))];
  let serial = 0;
  for (const [edit, onHosts] of edits) {
    serial++;
    lists = applyEdit(lists, edit, onHosts, serial);
    all.push(sealSnapshot(content(lists.hosts, lists.sets), all.at(-1)));
  }
  return all;
}

/** Versions `x` and `y` (each modulo the count) of those the edits yield: the same one, or any number of links apart either way. */
function twoVersions(size: number, edits: readonly (readonly [Edit, boolean])[], x: number, y: number): readonly [Snapshot, Snapshot] {
  const all = versions(size, edits);
  return [all[x % all.length]!, all[y % all.length]!];
}

describe('sectionWalk between sealed versions', () => {
  it('finds what the walk of unlinked lists finds, for versions any number of links apart, in both directions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.tuple(editArb, fc.boolean()), { minLength: 1, maxLength: 8 }), fc.nat(), fc.nat(), (size, edits, x, y) => {
        const [a, b] = twoVersions(size, edits, x, y);
        for (const [from, to] of [[a, b], [b, a]] as const) {
          for (const name of ['hosts', 'endpointSets'] as const) {
            const linked = sectionWalk(name, from[name] as readonly object[], to[name] as readonly object[]);
            const plain = sectionWalk(name, [...from[name]] as readonly object[], [...to[name]] as readonly object[]);
            // The very same items (identity), in the same order.
            expect(linked.set.length).toBe(plain.set.length);
            linked.set.forEach((item, k) => expect(item).toBe(plain.set[k]));
            linked.replaced.forEach((item, k) => expect(item).toBe(plain.replaced[k]));
            expect(linked.replaced.length).toBe(plain.replaced.length);
            expect(linked.remove).toEqual(plain.remove);
          }
          expect(snapshotDelta(from, to)).toEqual(snapshotDelta(unlinked(from), unlinked(to)));
          expect(diffSnapshots(from, to)).toEqual(diffSnapshots(unlinked(from), unlinked(to)));
        }
      }),
      { numRuns: 120 },
    );
  });

  it('visits only the span between the first and the last change of a version sealed against the other', () => {
    // Lists that count the items read from them (sealing reads them all once; the walk is counted after).
    let reads = 0;
    const counting = <T extends object>(list: T[]): T[] =>
      new Proxy(list, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      });
    const hosts = Array.from({ length: 20_000 }, (_, i) => host(hostName(i)));
    const sets = Array.from({ length: 5000 }, (_, i) => set(setKey(i)));
    const first = sealSnapshot(content(counting(hosts), counting(sets)));
    const edited = [...hosts];
    edited[7000] = host(hostName(7000), '/edited');
    edited.splice(12_000, 1);
    // One host edited, one removed; the endpoint sets are the very same list.
    const second = sealSnapshot(content(counting(edited), first.endpointSets as SnapshotEndpointSet[]), first);
    reads = 0;
    const delta = snapshotDelta(first, second);
    const diff = diffSnapshots(first, second);
    const walk = sectionWalk('hosts', second.hosts, first.hosts);
    // Three walks of the 5,001 hosts from 7,000 to 12,000 (two lists each), none of the sets.
    expect(reads).toBeLessThanOrEqual(3 * 2 * 5010);
    expect(delta.hosts.set.map((item) => item.host)).toEqual([hostName(7000)]);
    expect(delta.hosts.remove).toEqual([hostName(12_000)]);
    expect(delta.endpointSets).toEqual({ set: [], remove: [] });
    expect(diff.routes.added).toEqual([`${hostName(7000)} Prefix /edited`]);
    expect(diff.hosts.removed).toEqual([hostName(12_000)]);
    expect(walk.set.map((item) => item.host)).toEqual([hostName(7000), hostName(12_000)]);
    // Unlinked lists: every item is visited.
    reads = 0;
    sectionWalk('hosts', counting([...first.hosts]), counting([...second.hosts]));
    expect(reads).toBeGreaterThanOrEqual(2 * 19_999);
  });
});

/** The merge applyDelta made before (every item's key read, filtered, the whole list sorted): the reference. */
function referenceApply(base: Snapshot, delta: { readonly from: string; readonly version: string; readonly hosts: { set: unknown[]; remove: string[] }; readonly endpointSets: { set: unknown[]; remove: string[] } }): Snapshot {
  const merge = (name: 'hosts' | 'endpointSets', list: readonly object[], changes: { set: unknown[]; remove: string[] }): object[] => {
    const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: object) => string; compare: (a: string, b: string) => number };
    const replaced = new Set(changes.remove);
    for (const item of changes.set) {
      const key = typeof item === 'object' && item !== null ? keyOf(item) : undefined;
      if (typeof key !== 'string') throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta ${name}: an item has no key`);
      replaced.add(key);
    }
    return [...list.filter((item) => !replaced.has(keyOf(item))), ...(changes.set as object[])].sort((a, b) => compare(keyOf(a), keyOf(b)));
  };
  const snapshot = sealSnapshot(content(merge('hosts', base.hosts, delta.hosts) as SnapshotHost[], merge('endpointSets', base.endpointSets, delta.endpointSets) as SnapshotEndpointSet[]));
  if (snapshot.version !== delta.version) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `delta from ${delta.from} yields ${snapshot.version}, not the announced ${delta.version}`);
  return snapshot;
}

/** What applying gives: the snapshot's version and lists (by JSON), or the refusal's code and message. */
function outcome(apply: () => Snapshot): unknown {
  try {
    const snapshot = apply();
    return { version: snapshot.version, json: JSON.stringify(snapshot) };
  } catch (error) {
    return { code: (error as PorticoError).code, message: (error as Error).message };
  }
}

describe('applyDelta', () => {
  it('yields what filtering and sorting every item yields, for the deltas between any two versions', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.tuple(editArb, fc.boolean()), { minLength: 1, maxLength: 6 }), fc.nat(), fc.nat(), (size, edits, x, y) => {
        const [base, target] = twoVersions(size, edits, x, y);
        const wire = JSON.parse(JSON.stringify({ type: 'delta', ...snapshotDelta(base, target) })) as Parameters<typeof referenceApply>[1];
        const applied = applyDelta(base, wire);
        expect(applied.version).toBe(target.version);
        expect(JSON.stringify(applied)).toBe(JSON.stringify(target));
        expect(outcome(() => referenceApply(base, wire))).toEqual(outcome(() => applyDelta(base, wire)));
        // Every stretch the merge says it took over from the base (and sealing took as it was) is the base's, item for item.
        for (const name of ['hosts', 'endpointSets'] as const) {
          const runs = keptRuns(applied[name], base[name]);
          for (let k = 0; k < runs.length; k += 3) for (let i = runs[k]!; i < runs[k + 1]!; i++) expect(applied[name][i], `${name}[${i}]`).toBe(base[name][i + runs[k + 2]!]);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('refuses a hostile delta as the full merge would: no key, a key twice, keys out of order, removals of unknown keys, a wrong version', () => {
    const keyArb = fc.integer({ min: 0, max: 60 }).map((n) => hostName(n * 1000));
    const hostArb = fc.oneof(
      fc.tuple(keyArb, fc.constantFrom('/', '/x', '/y')).map(([name, path]) => host(name, path) as unknown),
      fc.constantFrom<unknown>(null, 7, 'text', [], {}, { host: 5 }, { host: hostName(3000) }, { host: hostName(3000), tls: 'no' }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.array(hostArb, { maxLength: 6 }), fc.array(fc.oneof(keyArb, fc.string({ maxLength: 12 })), { maxLength: 6 }), fc.boolean(), (size, set, remove, announceRight) => {
        const base = sealSnapshot(content(Array.from({ length: size }, (_, i) => host(hostName(i * 1000))), []));
        // The version the reference merge yields when it yields one (else any version): the check of the announced version is exercised both ways.
        const draft = { from: base.version, version: base.version, hosts: { set, remove }, endpointSets: { set: [], remove: [] }, certificates: { set: [], remove: [] } };
        let version = `sha256:${'0'.repeat(64)}`;
        if (announceRight) {
          const merged = outcome(() => referenceApply(base, { ...draft, version: base.version })) as { json?: string; message?: string };
          const yields = /yields (sha256:[0-9a-f]{64})/.exec(merged.message ?? '');
          if (yields !== null) version = yields[1]!;
        }
        const delta = JSON.parse(JSON.stringify({ ...draft, version })) as Parameters<typeof referenceApply>[1];
        const got = outcome(() => applyDelta(base, delta));
        expect(got).toEqual(outcome(() => referenceApply(base, delta)));
        if ('code' in (got as object)) expect((got as { code: string }).code).toBe('PORTICO_E_SNAPSHOT_INVALID');
      }),
      { numRuns: 300 },
    );
  });

  it('reads the keys around each change of a large base (sealing checks the order there), not of the span between the changes or of every item', () => {
    let reads = 0;
    const counted = (name: string, path = '/'): SnapshotHost => {
      const item = host(name, path) as { host: string };
      Object.defineProperty(item, 'host', { enumerable: true, get: () => (reads++, name) });
      return item as unknown as SnapshotHost;
    };
    const base = sealSnapshot(content(Array.from({ length: 20_000 }, (_, i) => counted(hostName(i))), []));
    const edited = [...base.hosts];
    edited[9000] = host(hostName(9000), '/edited');
    edited.splice(15_000, 1);
    const target = sealSnapshot(content(edited, []), base);
    const delta = JSON.parse(JSON.stringify({ type: 'delta', ...snapshotDelta(base, target) })) as unknown;
    reads = 0;
    expect(applyDelta(base, delta).version).toBe(target.version);
    // Sealing takes the blocks of the stretches merged from the base and checks the order around the two changes only (not the
    // 6,001 items from the first to the last); the binary searches read about 15 keys each.
    expect(reads).toBeLessThan(200);
    // The full merge reads every key at least once to filter, then again to sort.
    reads = 0;
    referenceApply(base, delta as Parameters<typeof referenceApply>[1]);
    expect(reads).toBeGreaterThan(2 * 20_000);
  });
});
