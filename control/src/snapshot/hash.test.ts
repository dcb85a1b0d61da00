// The version sealed against the previous version (unchanged blocks taken as they are) against the
// version sealed from nothing: equal for any sequence of edits anywhere in the lists, and the
// order of the lists still checked where they changed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Snapshot, SnapshotContent, SnapshotHost } from './schema.ts';
import { sealSnapshot } from './schema.ts';
import { changedRange, itemHash } from './hash.ts';
import { identicalEnds, recordSealedAgainst } from './sealed-against.ts';

/**
 * Every stretch of `items` that is, item for item, a stretch of `old` (flat `from, to, offset`
 * triples, as compile records them), each cut short by up to `shorten(k)` items at its end: any
 * subset of the truth is a record sealing must take.
 */
function trueRuns(items: readonly object[], old: readonly object[], shorten: (k: number) => number = () => 0): number[] {
  const at = new Map(old.map((item, i) => [item, i]));
  const runs: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const j = at.get(items[i]!);
    if (j === undefined) continue;
    const last = runs.length - 3;
    if (last >= 0 && runs[last + 1] === i && runs[last + 2] === j - i) runs[last + 1] = i + 1;
    else runs.push(i, i + 1, j - i);
  }
  const cut: number[] = [];
  for (let k = 0; k < runs.length; k += 3) {
    const to = runs[k + 1]! - shorten(k);
    if (to > runs[k]!) cut.push(runs[k]!, to, runs[k + 2]!);
  }
  return cut;
}
import { applyEdit, content, editArbitrary, host, hostName, initialLists } from './test-support.ts';

/** The same content in fresh objects: nothing known of them, sealed from nothing. */
const fresh = (snapshot: SnapshotContent): SnapshotContent => JSON.parse(JSON.stringify(content(snapshot.hosts, snapshot.endpointSets))) as SnapshotContent;

describe('snapshot version sealed against the previous version', () => {
  it('equals the version sealed from nothing after any edits, at the start, the middle or the end of the lists', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.array(fc.tuple(editArbitrary(40), fc.boolean()), { minLength: 1, maxLength: 12 }), (size, edits) => {
        let lists = initialLists(size);
        let previous: Snapshot = sealSnapshot(content(lists.hosts, lists.sets));
        let serial = 0;
        for (const [edit, onHosts] of edits) {
          serial++;
          lists = applyEdit(lists, edit, onHosts, serial);
          const next = sealSnapshot(content(lists.hosts, lists.sets), previous);
          expect(next.version).toBe(sealSnapshot(fresh(next)).version);
          previous = next;
        }
      }),
      { numRuns: 80 },
    );
  });

  it('equals the version sealed from nothing when the ends kept are recorded before sealing (as compile records them), however few they claim', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.tuple(editArbitrary(30), fc.boolean(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 10 }), (size, edits) => {
        let lists = initialLists(size);
        let previous: Snapshot = sealSnapshot(content(lists.hosts, lists.sets));
        let serial = 0;
        for (const [edit, onHosts, fewerHead, fewerTail] of edits) {
          serial++;
          lists = applyEdit(lists, edit, onHosts, serial);
          const next = content(lists.hosts, lists.sets);
          for (const name of ['hosts', 'endpointSets'] as const) {
            if (next[name] === previous[name]) continue;
            const { head, tail } = identicalEnds(next[name], previous[name]);
            recordSealedAgainst(next[name], previous[name], Math.max(0, head - (fewerHead % 4)), Math.max(0, tail - (fewerTail % 4)));
          }
          const sealed = sealSnapshot(next, previous);
          expect(sealed.version).toBe(sealSnapshot(fresh(sealed)).version);
          previous = sealed;
        }
      }),
      { numRuns: 60 },
    );
  });

  it('takes the unchanged ends of a list from the record compile made instead of comparing every item', () => {
    const hosts = Array.from({ length: 5000 }, (_, i) => host(hostName(i)));
    const first = sealSnapshot(content(hosts, []));
    // A list that counts the places read of it: comparing the ends reads every one.
    const counted = (list: SnapshotHost[]): { list: SnapshotHost[]; reads: () => number } => {
      let reads = 0;
      const proxy = new Proxy(list, { get: (target, key, receiver) => (typeof key === 'string' && /^\d+$/.test(key) && reads++, Reflect.get(target, key, receiver)) });
      return { list: proxy, reads: () => reads };
    };
    const edit = (): SnapshotHost[] => first.hosts.map((item, i) => (i === 2500 ? host(item.host, '/edited') : item));
    const compared = counted(edit());
    const recorded = counted(edit());
    recordSealedAgainst(recorded.list, first.hosts, 2500, 2499);
    const a = sealSnapshot(content(compared.list, []), first);
    const b = sealSnapshot(content(recorded.list, []), first);
    expect(b.version).toBe(a.version);
    expect(a.version).toBe(sealSnapshot(fresh(a)).version);
    expect(compared.reads()).toBeGreaterThan(5000);
    // The items of the blocks around the edit (a block holds 32 items on average).
    expect(recorded.reads()).toBeLessThan(400);
  });

  it('equals the version sealed from nothing when every stretch kept is recorded (as compile records them), changes many and far apart, runs cut short', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.tuple(fc.array(fc.tuple(editArbitrary(5), fc.boolean()), { minLength: 1, maxLength: 5 }), fc.nat()), { minLength: 1, maxLength: 8 }), (size, versions) => {
        let lists = initialLists(size);
        let previous: Snapshot = sealSnapshot(content(lists.hosts, lists.sets));
        let serial = 0;
        for (const [edits, cut] of versions) {
          for (const [edit, onHosts] of edits) lists = applyEdit(lists, edit, onHosts, ++serial);
          const next = content(lists.hosts, lists.sets);
          for (const name of ['hosts', 'endpointSets'] as const) {
            if (next[name] === previous[name]) continue;
            const runs = trueRuns(next[name], previous[name], (k) => (cut >> (k % 20)) & 1 ? 3 : 0);
            recordSealedAgainst(next[name], previous[name], 0, 0, runs);
          }
          const sealed = sealSnapshot(next, previous);
          expect(sealed.version).toBe(sealSnapshot(fresh(sealed)).version);
          previous = sealed;
        }
      }),
      { numRuns: 80 },
    );
  });

  it('with every stretch kept recorded, reads the items around each change only, and still refuses a pair out of order between them', () => {
    let reads = 0;
    const counted = (name: string, path = '/'): SnapshotHost => {
      const item = host(name, path) as { host: string };
      Object.defineProperty(item, 'host', { enumerable: true, get: () => (reads++, name) });
      return item as unknown as SnapshotHost;
    };
    const hosts = Array.from({ length: 5000 }, (_, i) => counted(hostName(i * 10)));
    const first = sealSnapshot(content(hosts, []));
    // Two changes 3,000 items apart, one of them an added host (the items after it shifted).
    const edited = [...hosts];
    edited[4000] = counted(hostName(40_000), '/edited');
    edited.splice(1001, 0, counted(hostName(10_005)));
    recordSealedAgainst(edited, first.hosts, 0, 0, trueRuns(edited, first.hosts));
    reads = 0;
    const next = sealSnapshot(content(edited, []), first);
    // The new items validated and hashed, and ordered against their neighbours: not the 3,000 between.
    expect(reads).toBeLessThan(20);
    expect(next.version).toBe(sealSnapshot(fresh(next)).version);
    const swapped = [...hosts];
    [swapped[1000], swapped[1001]] = [swapped[1001]!, swapped[1000]!];
    swapped[4000] = counted(hostName(40_000), '/edited');
    recordSealedAgainst(swapped, first.hosts, 0, 0, trueRuns(swapped, first.hosts));
    expect(() => sealSnapshot(content(swapped, []), first)).toThrow(/hosts\[1001\] \(h0010000\.test\) is out of order or repeated/);
    // A changed item that ends a block, out of order with the first item of the previous blocks taken after it.
    const endsBlock = (item: object): boolean => parseInt(itemHash('hosts', item).slice(62), 16) < 8;
    const last = hosts.findIndex((item, i) => i > 100 && endsBlock(item));
    let path = 0;
    while (!endsBlock(host(hostName(9_999_999), `/p${path}`))) path++;
    const misplaced = [...hosts];
    misplaced[last] = host(hostName(9_999_999), `/p${path}`);
    recordSealedAgainst(misplaced, first.hosts, 0, 0, trueRuns(misplaced, first.hosts));
    expect(() => sealSnapshot(content(misplaced, []), first)).toThrow(new RegExp(`hosts\\[${last + 1}\\] \\(${hostName((last + 1) * 10)}\\) is out of order or repeated`));
  });

  it('still refuses an item out of order or repeated where the list changed', () => {
    const hosts = Array.from({ length: 300 }, (_, i) => host(`h${String(i).padStart(4, '0')}.test`));
    const previous = sealSnapshot(content(hosts, []));
    const swapped = [...hosts];
    [swapped[150], swapped[151]] = [swapped[151]!, swapped[150]!];
    expect(() => sealSnapshot(content(swapped, []), previous)).toThrow(/hosts\[150\] \(h0151\.test\) is out of order or repeated|hosts\[151\] \(h0150\.test\) is out of order or repeated/);
    const repeated = [...hosts.slice(0, 200), host('h0199.test', '/other'), ...hosts.slice(200)];
    expect(() => sealSnapshot(content(repeated, []), previous)).toThrow(/hosts\[200\] \(h0199\.test\) is out of order or repeated/);
    const misplaced = [host('h9999.test'), ...hosts];
    expect(() => sealSnapshot(content(misplaced, []), previous)).toThrow(/hosts\[1\] \(h0000\.test\) is out of order or repeated/);
  });

  it('reads no unchanged item beyond the changed item\'s neighbours', () => {
    // Hosts whose name is read through a counting getter: keys are read to check the order.
    let reads = 0;
    const counted = (name: string, path = '/'): SnapshotHost => {
      const item = host(name, path) as { host: string };
      Object.defineProperty(item, 'host', { enumerable: true, get: () => (reads++, name) });
      return item as unknown as SnapshotHost;
    };
    const hosts = Array.from({ length: 5000 }, (_, i) => counted(hostName(i)));
    const first = sealSnapshot(content(hosts, []));
    const edited = [...hosts];
    edited[2500] = counted(hostName(2500), '/edited');
    reads = 0;
    const next = sealSnapshot(content(edited, []), first);
    // The new item is validated and hashed (its name read by both), and ordered against its two neighbours.
    expect(reads).toBeLessThanOrEqual(6);
    expect(next.version).toBe(sealSnapshot(fresh(next)).version);
  });

  it('says where a list sealed against earlier ones of its length may differ from them, and nothing it does not know', () => {
    const hosts = Array.from({ length: 300 }, (_, i) => host(hostName(i)));
    const first = sealSnapshot(content(hosts, []));
    const edited = (from: Snapshot, at: number, path: string): Snapshot => sealSnapshot(content(from.hosts.map((item, i) => (i === at ? host(item.host, path) : item)), []), from);
    const second = edited(first, 40, '/a');
    const third = edited(second, 250, '/b');
    // The same list (an endpoint-only change keeps it): nothing differs.
    const none = changedRange(third.hosts, third.hosts)!;
    expect(none.to).toBe(none.from);
    const one = changedRange(second.hosts, first.hosts)!;
    expect(one.from).toBeLessThanOrEqual(40);
    expect(one.to).toBeGreaterThan(40);
    const two = changedRange(third.hosts, first.hosts)!;
    expect(two.from).toBeLessThanOrEqual(40);
    expect(two.to).toBeGreaterThan(250);
    for (const [range, before, after] of [[one, first, second], [two, first, third]] as const) {
      for (let i = 0; i < 300; i++) if (i < range.from || i >= range.to) expect(after.hosts[i], `host ${i}`).toBe(before.hosts[i]);
    }
    // Unknown: not sealed against it, another length, more links than it follows.
    expect(changedRange(first.hosts, third.hosts)).toBeUndefined();
    expect(changedRange(sealSnapshot(content(hosts.slice(1), [])).hosts, first.hosts)).toBeUndefined();
    let far = third;
    for (let k = 0; k < 5; k++) far = edited(far, k, `/c${k}`);
    expect(changedRange(far.hosts, first.hosts)).toBeUndefined();
  });
});
