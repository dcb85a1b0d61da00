import { SET_BLOCK, bundleParts, partDigest, tableBlocksOf } from '@portico/control/snapshot/bundle';
import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { sealSnapshot } from '@portico/control/snapshot';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { TableBundle } from './bundle.ts';
import { SnapshotCompiler } from './bundle.ts';
import type { VerifyCounts } from './bundle-verify.ts';
import { verifyBundleInTurns } from './bundle-verify.ts';
import { snapshotOf } from './test-support.ts';
import type { BundleDelta } from './worker-delta.ts';
import { applyBundleDelta, bundleDelta, deltaBases, deltaSources, keptParts, payloadSize } from './worker-delta.ts';

type Host = Parameters<typeof snapshotOf>[0][number];
const world = (count: number, edit?: (hosts: Host[]) => void): Host[] => {
  const hosts: Host[] = Array.from({ length: count }, (_, h) => ({ host: `h${String(h).padStart(5, '0')}.test`, routes: [{ path: `/p${h}`, endpoints: [9000 + (h % 50)] }, { path: '/', endpoints: [9100] }] }));
  edit?.(hosts);
  return hosts;
};
const partDigests = (bundle: TableBundle) => bundleParts(bundle).map((part, index) => partDigest(index, part));
/** The same bundle with byte arrays compared by content. */
const plain = (bundle: TableBundle) => ({ ...bundle, table: Buffer.from(bundle.table).toString('base64'), redirects: Buffer.from(bundle.redirects).toString('base64') });

describe('bundleDelta / applyBundleDelta (what a worker gets instead of the whole bundle)', () => {
  const compiler = new SnapshotCompiler();
  const base = compiler.compile(snapshotOf(world(2000)));
  const cases: { name: string; next: () => TableBundle; smallerThan: number }[] = [
    { name: 'one path edited (same length)', next: () => compiler.compile(snapshotOf(world(2000, (hosts) => (hosts[700] = { ...hosts[700]!, routes: [{ path: '/q700', endpoints: [9000] }, hosts[700]!.routes[1]!] })))), smallerThan: 0.02 },
    // Every table offset and route id after the new host moves: most parts cross whole, never more than the bundle.
    { name: 'a host added in the middle (the table grows)', next: () => compiler.compile(snapshotOf(world(2000, (hosts) => hosts.splice(1000, 0, { host: 'h00999x.test', routes: [{ path: '/', endpoints: [9100] }] })))), smallerThan: 1.0001 },
    // Ids are slots of the keys: the new address takes a slot in a probe cluster, shifting two keys that 40 sets
    // each name here (every host shares its first route's endpoint with 39 others), so ~80 set records
    // spread over the endpoint area are rewritten, each in its own 4 KiB bucket (format 6): ~28 % of the
    // bundle; the endpoints text crosses as its 3 changed lines.
    { name: 'an endpoint moved', next: () => compiler.compile(snapshotOf(world(2000, (hosts) => (hosts[5] = { ...hosts[5]!, routes: [{ path: '/p5', endpoints: ['127.0.0.2:9005'] }, hosts[5]!.routes[1]!] })))), smallerThan: 0.3 },
    { name: 'the same version again', next: () => base, smallerThan: 0.001 },
  ];
  for (const { name, next: make, smallerThan } of cases) {
    it(`${name}: the delta rebuilds the next bundle exactly, carrying a fraction of it`, async () => {
      const next = make();
      const delta = bundleDelta(base, next);
      expect(delta).toBeDefined();
      expect(payloadSize(delta!)).toBeLessThan(payloadSize(next) * smallerThan);
      const made = applyBundleDelta(base, delta!);
      expect(plain(made)).toEqual(plain(next));
      // The worker hashes only what changed: the kept parts' digests are the base's, and the result verifies.
      const kept = keptParts(delta!, partDigests(base));
      expect(kept.every((digest, i) => digest === undefined || digest === partDigests(next)[i])).toBe(true);
      expect(await verifyBundleInTurns(made, kept)).toEqual(partDigests(next));
    });
  }

  it('a host added, then taken away, to a version sealed against the last (the table patched: host-grid step 4): the delta carries a few of its blocks and rebuilds the next bundle exactly, verified', async () => {
    const inner = new BundleCompiler();
    const sealed = new SnapshotCompiler(inner);
    const first = snapshotOf(world(3000));
    const template = first.hosts[1500]!;
    // A second host of the same routes (its sets, as an Ingress rule gets a host added), and the first's hosts by identity: what the build and sealing give.
    const added = sealSnapshot({ ...first, hosts: first.hosts.toSpliced(1501, 0, { ...template, host: 'h01500x.test' }) }, first);
    const removed = sealSnapshot({ ...added, hosts: added.hosts.toSpliced(1501, 1) }, added);
    let last = sealed.compile(first);
    for (const snapshot of [added, removed]) {
      const patched = inner.paths.full.patched;
      const next = sealed.compile(snapshot);
      expect(inner.paths.full.patched - patched, 'patched, not assembled').toBe(1);
      expect(next.digest).toBe(new SnapshotCompiler().compile(snapshot).digest);
      const delta = bundleDelta(last, next)!;
      expect(payloadSize(delta)).toBeLessThan(payloadSize(next) * 0.05);
      const made = applyBundleDelta(last, delta);
      expect(plain(made)).toEqual(plain(next));
      expect(await verifyBundleInTurns(made, keptParts(delta, partDigests(last)))).toEqual(partDigests(next));
      last = next;
    }
  });

  it('balancing-only bundles diff against balancing-only ones, or against the full one (the table whole); a full one never against a balancing-only one; a part that mostly changed crosses whole', async () => {
    const balancing = compiler.compile(snapshotOf(world(2000)), true);
    const moved = compiler.compile(snapshotOf(world(2000, (hosts) => (hosts[9] = { ...hosts[9]!, routes: [{ path: '/p9', endpoints: ['127.0.0.3:9009'] }, hosts[9]!.routes[1]!] }))), true);
    const delta = bundleDelta(balancing, moved)!;
    expect(plain(applyBundleDelta(balancing, delta))).toEqual(plain(moved));
    // The first balancing-only bundle to a worker holding only the full one: its table whole, its endpoints
    // the full one's with the lines that differ replaced (ids are slots: the moved address's old and new ids are far apart).
    const across = bundleDelta(base, moved)!;
    expect([across.table.kind, across.texts.endpoints.kind, across.balancingOnly]).toEqual(['value', 'lines', true]);
    expect(payloadSize(across)).toBeLessThan(payloadSize(moved));
    const made = applyBundleDelta(base, across);
    expect(plain(made)).toEqual(plain(moved));
    expect(await verifyBundleInTurns(made, keptParts(across, partDigests(base)))).toEqual(partDigests(moved));
    expect(bundleDelta(balancing, base)).toBeUndefined();
    const other = compiler.compile(snapshotOf(Array.from({ length: 2000 }, (_, h) => ({ host: `other${h}.example`, routes: [{ path: `/x/${h}`, endpoints: [8000 + h] }] }))));
    const most = bundleDelta(base, other)!;
    expect([most.table.kind, most.texts.routeLabels.kind]).toEqual(['value', 'value']);
    expect(payloadSize(most)).toBeLessThanOrEqual(payloadSize(other));
    expect(plain(applyBundleDelta(base, most))).toEqual(plain(other));
  });

  it('a delta carrying the whole table as a value: the blocks made of it do not keep the message that carried it', () => {
    const next = compiler.compile(snapshotOf(world(2000, (hosts) => hosts.splice(1000, 0, { host: 'h00999x.test', routes: [{ path: '/', endpoints: [9100] }] }))));
    const sent: BundleDelta = { ...bundleDelta(base, next)!, table: { kind: 'value', value: next.table } };
    // As a worker receives it (advanced serialization): the table is a view into the message's buffer.
    const received = deserialize(serialize(sent)) as BundleDelta;
    const value = (received.table as Extract<BundleDelta['table'], { kind: 'value' }>).value;
    expect(value.byteLength).toBeLessThan(value.buffer.byteLength);
    const made = applyBundleDelta(base, received);
    expect(plain(made)).toEqual(plain(next));
    const { blocks } = tableBlocksOf(made);
    expect(blocks.length).toBeGreaterThan(1);
    for (const block of blocks) expect(block.buffer).not.toBe(value.buffer);
  });

  it('hostile: a delta for another base, blocks or splices outside the base are refused; a damaged delta never verifies', async () => {
    const next = compiler.compile(snapshotOf(world(2000, (hosts) => (hosts[3] = { ...hosts[3]!, routes: [{ path: '/r3', endpoints: [9003] }, hosts[3]!.routes[1]!] }))));
    const delta = bundleDelta(base, next)!;
    expect(delta.table.kind).toBe('blocks');
    const stranger = compiler.compile(snapshotOf(world(1999)));
    expect(() => applyBundleDelta(stranger, delta)).toThrow(/not from the held/);
    const outside: BundleDelta = { ...delta, table: { kind: 'blocks', at: [base.table.length], bytes: [new Uint8Array(16)] } };
    expect(() => applyBundleDelta(base, outside)).toThrow(/table: block at \d+ is outside the base/);
    const negative: BundleDelta = { ...delta, texts: { ...delta.texts, routeLabels: { kind: 'splice', keep: -1, tail: 0, middle: '' } } };
    expect(() => applyBundleDelta(base, negative)).toThrow(/routeLabels: splice keeps/);
    const overlong: BundleDelta = { ...delta, redirects: { kind: 'splice', keep: base.redirects.length, tail: 1, middle: new Uint8Array(0) } };
    expect(() => applyBundleDelta(base, overlong)).toThrow(/redirects: splice keeps/);
    // A lines edit of the endpoints naming a line past the text, lines out of order, a line that is two, or lines of the table: refused naming the field.
    const lines = (at: number[], texts: string[]): BundleDelta => ({ ...delta, texts: { ...delta.texts, endpoints: { kind: 'lines', at, lines: texts } } });
    const count = base.endpoints.split('\n').length;
    expect(() => applyBundleDelta(base, lines([count], ['127.0.0.9 80']))).toThrow(/endpoints: line \d+ is not after -1 and below \d+/);
    expect(() => applyBundleDelta(base, lines([3, 2], ['a 1', 'b 2']))).toThrow(/endpoints: line 2 is not after 3/);
    expect(() => applyBundleDelta(base, lines([1], ['127.0.0.9 80\n127.0.0.9 81']))).toThrow(/endpoints: line 1 is not one line of text/);
    expect(() => applyBundleDelta(base, lines([1, 2], ['127.0.0.9 80']))).toThrow(/endpoints: a lines edit of 2 lines and 1 texts/);
    expect(() => applyBundleDelta(base, { ...delta, table: { kind: 'lines', at: [0], lines: [''] } })).toThrow(/table: a lines edit of bytes/);
    // A flipped byte in a changed block: the result is made, and refused by its digest.
    const table = delta.table as Extract<BundleDelta['table'], { kind: 'blocks' }>;
    const flipped = table.bytes.map((bytes) => bytes.slice());
    flipped[0]![0]! ^= 1;
    const damaged = applyBundleDelta(base, { ...delta, table: { ...table, bytes: flipped } });
    await expect(verifyBundleInTurns(damaged, keptParts(delta, partDigests(base)))).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
  });
});

describe('the endpoint sets of a move delta (blocks of SET_BLOCK sets)', () => {
  // Every host's first route on an address of its own, its second on one all share: 6,000 sets.
  const own = (count: number, edit?: (hosts: Host[]) => void): Host[] => {
    const hosts: Host[] = Array.from({ length: count }, (_, h) => ({ host: `s${String(h).padStart(5, '0')}.test`, routes: [{ path: `/p${h}`, endpoints: [20000 + h] }, { path: '/', endpoints: [9100] }] }));
    edit?.(hosts);
    return hosts;
  };
  const compiler = new SnapshotCompiler();
  const base = compiler.compile(snapshotOf(own(3000)), true);
  const moved = compiler.compile(snapshotOf(own(3000, (hosts) => (hosts[1700] = { ...hosts[1700]!, routes: [{ path: '/p1700', endpoints: ['127.0.0.2:31700'] }, hosts[1700]!.routes[1]!] }))), true);

  it('carries only the blocks of sets the move changed; the worker shares the held arrays, hashes those blocks alone and ends at the told digest', async () => {
    expect(base.endpointSets.length).toBeGreaterThan(20 * SET_BLOCK);
    const delta = deserialize(serialize(bundleDelta(base, moved)!)) as BundleDelta;
    expect(delta.endpointSets?.kind).toBe('blocks');
    const edit = (delta.endpointSets as Extract<BundleDelta['endpointSets'], { kind: 'blocks' }>).edit;
    // Exactly the blocks holding a set that is not the base's array (the moved address's set, and those naming a key its probe cluster moved).
    const changed = moved.endpointSets.flatMap((set, s) => (set === base.endpointSets[s] ? [] : [Math.floor(s / SET_BLOCK)]));
    expect(edit.at).toEqual([...new Set(changed)]);
    expect(edit.at.length * 4).toBeLessThan(Math.ceil(base.endpointSets.length / SET_BLOCK));
    const made = applyBundleDelta(base, delta);
    expect(made.endpointSets).toEqual(moved.endpointSets);
    const untouched = [...Array(Math.ceil(base.endpointSets.length / SET_BLOCK)).keys()].find((b) => !edit.at.includes(b))!;
    expect(made.endpointSets[untouched * SET_BLOCK]).toBe(base.endpointSets[untouched * SET_BLOCK]);
    const counts: VerifyCounts = { blocksHashed: 0, blocksKnown: 0 };
    expect(await verifyBundleInTurns(made, keptParts(delta, partDigests(base)), counts)).toEqual(partDigests(moved));
    expect(counts.setBlocksHashed).toBe(edit.at.length);
  });

  it('hostile: a carried block with an id changed, or of the wrong size, is refused (PORTICO_E_SNAPSHOT_LOAD naming the sets hashed anew; an error applying it)', async () => {
    const delta = bundleDelta(base, moved)!;
    const edit = (delta.endpointSets as Extract<BundleDelta['endpointSets'], { kind: 'blocks' }>).edit;
    const blocks = edit.blocks.map((block) => block.map((set) => [...set]));
    blocks[0]![3]![0]! += 1;
    const damaged = applyBundleDelta(base, { ...delta, endpointSets: { kind: 'blocks', edit: { ...edit, blocks } } });
    const from = edit.at[0]! * SET_BLOCK;
    await expect(verifyBundleInTurns(damaged, keptParts(delta, partDigests(base)))).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringContaining(`endpointSets sets ${from}-${from + SET_BLOCK - 1}`) });
    const short = { ...delta, endpointSets: { kind: 'blocks' as const, edit: { ...edit, blocks: [edit.blocks[0]!.slice(1), ...edit.blocks.slice(1)] } } };
    expect(() => applyBundleDelta(base, short)).toThrow(new RegExp(`endpointSets: block ${edit.at[0]} does not fit the base`));
  });
});

describe('a delta whose endpoints come from the bundle the worker loaded last (endpointsFrom)', () => {
  const compiler = new SnapshotCompiler();
  const moveEndpoint = (h: number, address: string) => (hosts: Host[]) => void (hosts[h] = { ...hosts[h]!, routes: [{ path: `/p${h}`, endpoints: [address] }, hosts[h]!.routes[1]!] });
  const editPath = (h: number, path: string) => (hosts: Host[]) => void (hosts[h] = { ...hosts[h]!, routes: [{ ...hosts[h]!.routes[0]!, path }, hosts[h]!.routes[1]!] });
  const full = compiler.compile(snapshotOf(world(500)));
  const balancing = compiler.compile(snapshotOf(world(500)), true);
  // A path edit served after the balancing-only bundle: its endpoints are the balancing one's.
  const edited = compiler.compile(snapshotOf(world(500, editPath(7, '/edited'))));
  // Then an endpoint change: table from the held balancing-only bundle, endpoints from the path edit it served last.
  const moved = compiler.compile(snapshotOf(world(500, (hosts) => (editPath(7, '/edited')(hosts), moveEndpoint(11, '127.0.0.7:9011')(hosts)))), true);

  it('deltaSources: the base in the next bundle\'s mode (the full one for a first balancing-only bundle), the endpoints from the one served last while it is held', () => {
    expect(deltaSources([undefined, undefined], undefined, full)).toEqual({ base: undefined, endpointsFrom: undefined });
    expect(deltaSources([full, undefined], full, balancing)).toEqual({ base: full, endpointsFrom: full });
    expect(deltaSources([edited, balancing], edited, moved)).toEqual({ base: balancing, endpointsFrom: edited });
    expect(deltaSources([full, balancing], balancing, edited)).toEqual({ base: full, endpointsFrom: balancing });
    // What it served is no longer held (a resync dropped it): no endpoints base of its own.
    expect(deltaSources([edited, undefined], balancing, moved)).toEqual({ base: edited, endpointsFrom: undefined });
  });

  it('rebuilds the next bundle exactly from its two bases and verifies with the kept parts of each', async () => {
    const delta = bundleDelta(balancing, moved, edited)!;
    expect(delta.endpointsFrom).toBe(edited.digest);
    expect(delta.texts.endpoints.kind).toBe('splice');
    const bases = deltaBases([edited, balancing], delta);
    expect(bases.base).toBe(balancing);
    expect(bases.endpointsFrom).toBe(edited);
    const made = applyBundleDelta(balancing, delta, edited);
    expect(plain(made)).toEqual(plain(moved));
    expect(await verifyBundleInTurns(made, keptParts(delta, partDigests(balancing), partDigests(edited)))).toEqual(partDigests(moved));
    // Unchanged endpoints: the edit is `same` and their digest is the served bundle's.
    const again = bundleDelta(full, edited, balancing)!;
    expect(again.texts.endpoints.kind).toBe('same');
    expect(keptParts(again, partDigests(full), partDigests(balancing))[3]).toBe(partDigests(balancing)[3]);
    expect(plain(applyBundleDelta(full, again, balancing))).toEqual(plain(edited));
    // endpointsFrom the base itself is no second base.
    expect(bundleDelta(full, edited, full)!.endpointsFrom).toBeUndefined();
  });

  it('hostile: a base or endpoints base the worker does not hold, the two swapped, or a splice that does not fit is refused naming it; a wrong endpoints base never verifies', async () => {
    const delta = bundleDelta(balancing, moved, edited)!;
    expect(() => deltaBases([edited, undefined], delta)).toThrow(new RegExp(`the delta is from ${balancing.digest}, which it does not hold \\(it holds ${edited.digest}\\)`));
    expect(() => deltaBases([full, balancing], delta)).toThrow(new RegExp(`the delta's endpoints are from ${edited.digest}, which it does not hold`));
    expect(() => deltaBases([undefined, undefined], delta)).toThrow(/it holds nothing/);
    expect(() => deltaBases([full, balancing], bundleDelta(full, edited)!)).not.toThrow();
    // Out of order: a delta to a full bundle claiming a balancing-only base.
    expect(() => deltaBases([full, balancing], { ...bundleDelta(full, edited)!, base: balancing.digest })).toThrow(/to a full bundle is from the balancing-only/);
    expect(() => applyBundleDelta(balancing, delta, full)).toThrow(/endpoints are from .*, not from the held/);
    expect(() => applyBundleDelta(edited, delta, balancing)).toThrow(/not from the held/);
    const splice = delta.texts.endpoints as Extract<BundleDelta['texts']['endpoints'], { kind: 'splice' }>;
    const overlong: BundleDelta = { ...delta, texts: { ...delta.texts, endpoints: { ...splice, tail: edited.endpoints.length } } };
    expect(() => applyBundleDelta(balancing, overlong, edited)).toThrow(/endpoints: splice keeps/);
    // An endpoints base that is not the one named (another endpoint moved in it) under its digest: the result does not hash to the delta's.
    const other = new SnapshotCompiler().compile(snapshotOf(world(500, moveEndpoint(300, '127.0.0.9:9300'))));
    expect(other.endpoints).not.toBe(edited.endpoints);
    const stale = { ...other, digest: edited.digest } as TableBundle;
    const wrong = applyBundleDelta(balancing, delta, stale);
    await expect(verifyBundleInTurns(wrong)).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
  });
});
