// A table version travels through the data plane as its 64 KiB blocks: verified by hashing only
// the blocks this process has not hashed (by object: a block that came by IPC is always new), and
// loaded into a reused matcher instance by copying only the blocks it does not hold. Nothing here
// flattens a table; a damaged block is refused however much it looks like one already verified.
import { deserialize, serialize } from 'node:v8';
import type { Snapshot } from '@portico/control/snapshot';
import { snapshotVersion } from '@portico/control/snapshot';
import { describe, expect, it } from 'vitest';
import type { TableBundle } from './bundle.ts';
import { SnapshotCompiler, tableBlocksOf } from './bundle.ts';
import type { VerifyCounts } from './bundle-verify.ts';
import { verifyBundle, verifyBundleInTurns } from './bundle-verify.ts';
import { Router } from './router.ts';
import { snapshotOf } from './test-support.ts';
import { applyBundleDelta, bundleDelta, keptParts, withTable } from './worker-delta.ts';

type Host = Parameters<typeof snapshotOf>[0][number];
const world = (count: number, edit?: (hosts: Host[]) => void): Host[] => {
  const hosts: Host[] = Array.from({ length: count }, (_, h) => ({ host: `h${String(h).padStart(5, '0')}.test`, routes: [{ path: `/p${h}`, endpoints: [9000 + (h % 50)] }, { path: '/', endpoints: [9100] }] }));
  edit?.(hosts);
  return hosts;
};
const pathEdit = (at: number, path: string) => (hosts: Host[]) => {
  hosts[at] = { ...hosts[at]!, routes: [{ path, endpoints: [9000] }, hosts[at]!.routes[1]!] };
};

/** `snapshot` with host `at`'s first path renamed, every other host the same item (as the control plane's incremental build gives them). */
function withPath(snapshot: Snapshot, at: number, path: string): Snapshot {
  const hosts = snapshot.hosts.slice();
  const host = hosts[at]!;
  hosts[at] = { ...host, routes: [{ ...host.routes[0]!, path } as (typeof host.routes)[number], ...host.routes.slice(1)] };
  const { version: _version, ...content } = snapshot;
  const next = { ...content, hosts };
  return { ...next, version: snapshotVersion(next) };
}

/** `snapshot` with endpoint set `at` moved to `port`, every other set and host the same item (an endpoint-only change). */
function withEndpoint(snapshot: Snapshot, at: number, port: number): Snapshot {
  const endpointSets = snapshot.endpointSets.slice();
  const set = endpointSets[at]!;
  endpointSets[at] = { ...set, endpoints: [{ ...set.endpoints[0]!, port }] };
  const { version: _version, ...content } = snapshot;
  const next = { ...content, endpointSets };
  return { ...next, version: snapshotVersion(next) };
}

/** `bundle` whose `table` throws when read: what reads it would flatten the blocks. */
function unflattenable(bundle: TableBundle): TableBundle {
  const made = withTable(bundle, tableBlocksOf(bundle));
  Object.defineProperty(made, 'table', { get: () => { throw new Error('the table was flattened'); }, enumerable: true });
  return made;
}

/** A structured-clone trip, as a bundle crosses to a worker. */
const cloned = (bundle: TableBundle): TableBundle => deserialize(serialize(bundle)) as TableBundle;

const counting = (): VerifyCounts => ({ blocksHashed: 0, blocksKnown: 0 });

describe('table blocks through the data plane', () => {
  const compiler = new SnapshotCompiler();
  const base = compiler.compile(snapshotOf(world(3000)));
  const next = compiler.compile(snapshotOf(world(3000, pathEdit(1700, '/q1700'))));
  const blocks = tableBlocksOf(base).blocks.length;

  it('a worker verifies a delta-made version by hashing only the blocks the delta touched; every block of a cloned bundle is hashed', async () => {
    expect(blocks).toBeGreaterThan(8);
    // The worker holds what came by IPC: every block is new to it.
    const held = cloned(base);
    const first = counting();
    const parts = await verifyBundleInTurns(held, [], first);
    expect(first).toMatchObject({ blocksHashed: blocks, blocksKnown: 0 });
    const delta = bundleDelta(base, next)!;
    expect(delta.table.kind).toBe('blocks');
    const made = applyBundleDelta(cloned(held), delta);
    // Not the held bundle's object: tableBlocksOf views it again, so nothing is known of it.
    const stranger = counting();
    await verifyBundleInTurns(made, keptParts(delta, parts), stranger);
    expect(stranger.blocksHashed).toBe(blocks);
    const fromHeld = applyBundleDelta(held, delta);
    const touched = tableBlocksOf(fromHeld).blocks.filter((block, b) => block !== tableBlocksOf(held).blocks[b]).length;
    expect(touched).toBeGreaterThan(0);
    expect(touched).toBeLessThanOrEqual(2);
    const counts = counting();
    await verifyBundleInTurns(fromHeld, keptParts(delta, parts), counts);
    expect(counts).toMatchObject({ blocksHashed: touched, blocksKnown: blocks - touched });
  });

  it('hostile: one flipped byte in a block that looks unchanged is refused, whether it came whole by IPC or in a delta', async () => {
    const held = cloned(base);
    const parts = await verifyBundleInTurns(held);
    const delta = bundleDelta(base, next)!;
    const fromHeld = applyBundleDelta(held, delta);
    // The whole next bundle again by IPC, one byte flipped in a block the delta did not touch (the same content as a verified held block).
    const untouched = tableBlocksOf(fromHeld).blocks.findIndex((block, b) => block === tableBlocksOf(held).blocks[b] && b > 0);
    const whole = cloned(next);
    const table = whole.table;
    table[untouched * 64 * 1024 + 17]! ^= 1;
    await expect(verifyBundleInTurns(whole)).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
    expect(() => verifyBundle(whole)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
    // Unflipped, the same clone's bytes verify (every block hashed: none is the worker's own).
    table[untouched * 64 * 1024 + 17]! ^= 1;
    const counts = counting();
    await verifyBundleInTurns(cloned(next), [], counts);
    expect(counts.blocksHashed).toBe(blocks);
    // A delta whose piece damages a block: the block is a new object, hashed, refused.
    const pieces = delta.table as Extract<typeof delta.table, { kind: 'blocks' }>;
    const damaged = applyBundleDelta(held, { ...delta, table: { ...pieces, bytes: pieces.bytes.map((bytes, i) => (i === 0 ? Uint8Array.from(bytes, (byte, j) => (j === 9 ? byte ^ 4 : byte)) : bytes)) } });
    await expect(verifyBundleInTurns(damaged, keptParts(delta, parts))).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
    // A table that is not bytes is malformed.
    await expect(verifyBundleInTurns({ ...base, table: [1, 2, 3] as unknown as Uint8Array })).rejects.toThrow(/malformed: the bundle's table is object/);
  });

  it('the primary diffs, the worker rebuilds, verifies and loads a version without flattening its table', async () => {
    const delta = bundleDelta(unflattenable(base), unflattenable(next))!;
    expect(delta.table.kind).toBe('blocks');
    const held = unflattenable(base);
    const made = unflattenable(applyBundleDelta(held, delta));
    await verifyBundleInTurns(made, keptParts(delta, await verifyBundleInTurns(held)));
    verifyBundle(made);
    const router = new Router();
    router.loadBundle(held, true);
    router.loadBundle(made, true);
    expect(router.version).toBe(next.version);
    expect(router.route('h01700.test', '/q1700', 'GET', undefined, 'http')).toMatchObject({ kind: 'proxy' });
  });

  it('in process: each version is loaded into the reused instance by copying only the blocks it changed', () => {
    const local = new SnapshotCompiler();
    const router = new Router();
    const first = snapshotOf(world(3000));
    const versions = [first];
    for (const [at, path] of [[100, '/a100'], [2900, '/b2900'], [1500, '/c1500'], [10, '/d10']] as const) versions.push(withPath(versions.at(-1)!, at, path));
    let before = router.matcherPool;
    for (const [i, snapshot] of versions.entries()) {
      const bundle = local.compile(snapshot);
      router.loadBundle(bundle, true);
      const now = router.matcherPool;
      const count = tableBlocksOf(bundle).blocks.length;
      const copied = now.blocksCopied - before.blocksCopied;
      // The first two loads go into new instances; then the replaced instance, two versions behind, takes the next.
      if (i < 2) expect(copied, `version ${i}`).toBe(count);
      else expect(copied, `version ${i} of ${count} blocks`).toBeLessThanOrEqual(6);
      expect(now.blocksKept - before.blocksKept).toBe(count - copied);
      before = now;
    }
    expect(router.matcherPool).toMatchObject({ created: 2, reused: 3 });
    for (const [host, path] of [['h01500.test', '/c1500'], ['h00100.test', '/a100'], ['h02900.test', '/b2900'], ['h00010.test', '/d10']]) {
      expect(router.route(host!, path!, 'GET', undefined, 'http'), `${host}${path}`).toMatchObject({ kind: 'proxy' });
    }
  });

  it('in process: after a swap that left no spare, a spare is prepared a slice per turn, and the next version copies only the blocks it changed (none with prepareSpare off)', async () => {
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (const prepareSpare of [true, false]) {
      const local = new SnapshotCompiler();
      const router = new Router({ prepareSpare });
      const first = snapshotOf(world(3000));
      const bundle = local.compile(first);
      const count = tableBlocksOf(bundle).blocks.length;
      expect(count).toBeGreaterThan(8);
      router.loadBundle(bundle, true);
      // Synchronously after the swap nothing is prepared yet: the slices run on later turns (16 blocks each).
      expect(router.matcherPool.blocksPrepared).toBe(0);
      let turns = 0;
      while (turns < 100 && router.matcherPool.blocksPrepared < count) {
        await turn();
        turns++;
      }
      if (!prepareSpare) {
        expect(router.matcherPool).toMatchObject({ prepared: 0, blocksPrepared: 0, spare: 0 });
        router.close();
        continue;
      }
      expect(router.matcherPool).toMatchObject({ prepared: 1, spare: 1, blocksPrepared: count });
      expect(turns).toBeGreaterThanOrEqual(1);
      const before = router.matcherPool;
      router.loadBundle(local.compile(withPath(first, 1500, '/c1500')), true);
      const after = router.matcherPool;
      expect(after.created).toBe(1);
      expect(after.blocksCopied - before.blocksCopied).toBeLessThanOrEqual(6);
      expect(after.blocksKept - before.blocksKept).toBeGreaterThan(count - 7);
      expect(router.route('h01500.test', '/c1500', 'GET', undefined, 'http')).toMatchObject({ kind: 'proxy' });
      // The first instance went back to the pool: a spare exists, none more is prepared.
      for (let i = 0; i < 5; i++) await turn();
      expect(router.matcherPool).toMatchObject({ prepared: 1, spare: 1 });
      router.close();
    }
  });

  it('in process, steady state: route and endpoint-only changes interleaved, previous snapshots held or not; after the first of each kind, a change copies and prepares the blocks it wrote, never a whole table', async () => {
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (const holding of [false, true]) {
      const router = new Router();
      let snapshot = snapshotOf(world(6000));
      const settle = async () => {
        for (let i = 0; i < 200; i++) await turn();
      };
      router.load(snapshot);
      await settle();
      const full = router.current!.routingTable.blocks.length;
      expect(full).toBeGreaterThan(30);
      const held: NonNullable<typeof router.current>[] = [];
      let before = router.matcherPool;
      for (const [step, kind] of [...'EEPEEPPEPEEEPE'].entries()) {
        // A request in flight on the current snapshot across the next swap (let go after it).
        if (holding) {
          router.current!.hold();
          held.push(router.current!);
        }
        if (kind === 'P') {
          snapshot = withPath(snapshot, (step * 997) % 6000, `/s${step}`);
          router.load(snapshot);
        } else {
          snapshot = withEndpoint(snapshot, (step * 1231) % 12000, 20000 + step);
          router.loadEndpoints(snapshot);
        }
        await settle();
        for (const snapshot of held.splice(0, holding ? held.length - 1 : held.length)) snapshot.letGo();
        await settle();
        const now = router.matcherPool;
        const copied = now.blocksCopied - before.blocksCopied;
        const prepared = now.blocksPrepared - before.blocksPrepared;
        before = now;
        // The first endpoint-only load makes its balancing instances (a whole balancing table each). After it, a load copies
        // the blocks that differ from the spare's (a route change after endpoint-only ones: those the endpoint changes wrote
        // in the full table too; the first endpoint-only one after a route change: a balancing table compiled afresh), and
        // preparing follows: the instance given back gets those blocks, never a whole routing table. Holding, a route change
        // leaves the replaced routing instance pinned by the held snapshots: the one spare for the next is then copied whole.
        const balancing = router.current!.balancingTable.blocks.length;
        const label = `${holding ? 'holding, ' : ''}change ${step} (${kind}): ${copied} copied, ${prepared} prepared of ${full} + ${balancing}`;
        if (step === 0) expect(copied + prepared, label).toBeLessThanOrEqual(full + 2 * balancing);
        else if (holding && kind === 'P') expect(copied, label).toBeLessThan(full);
        else {
          expect(copied + prepared, label).toBeLessThan(full);
          expect(prepared, label).toBeLessThanOrEqual(Math.max(copied, holding && kind === 'E' ? balancing : 0) + 4);
        }
        expect(router.route(`h${String((step * 997) % 6000).padStart(5, '0')}.test`, kind === 'P' ? `/s${step}` : '/', 'GET', undefined, 'http')).toMatchObject({ kind: 'proxy' });
      }
      expect(router.matcherPool.spare).toBeLessThanOrEqual(3);
      router.close();
    }
  }, 60_000);
});
