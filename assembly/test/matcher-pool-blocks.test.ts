// Loading block tables into reused instances (matcher-pool.ts): a pool copies only the blocks the
// reused instance does not hold, so what it must never get wrong is which blocks those are. A
// property test drives random versions (sharing blocks as patched versions do), random picks
// (which write WRR weights into the table's bytes in wasm memory), matchers held and released in
// random order, corrupt loads and spares prepared ahead a slice at a time, and holds every load to a fresh instance of the flat bytes: the
// same answers, and the same table bytes in wasm memory.
import { describe, expect, it } from 'vitest';
import { TABLE_BLOCK_BYTES, TableBlocks } from '../src/host/blocks.ts';
import { encodeChunk, encodeGrid, encodeTable, patchGrid } from '../src/host/encode.ts';
import type { GridUnit, LaidOutTable } from '../src/host/encode.ts';
import { gridOf } from './grid-support.ts';
import type { Matcher, MatcherExports, PooledMatcher } from '../src/host/matcher.ts';
import { loadMatcherFromBinary, newMatcherInstance } from '../src/host/matcher.ts';
import { MatcherPool } from '../src/host/matcher-pool.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { withSets } from './sets.ts';

/** A small deterministic generator (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  readonly hosts: string[];
  /** Per host: its route's backends (weights, endpoint ids). */
  readonly routes: { weight: number; endpoints: number[] }[][];
}

const ENDPOINTS = 40;

function tableOf(world: World): MatcherTable {
  return withSets({
    hosts: world.hosts.map((host, i) => ({ host, paths: [{ pathType: 'Prefix' as const, path: '/', route: i }, { pathType: 'Exact' as const, path: `/only/${i}`, route: i }], fallback: -1 })),
    routes: world.routes.map((backends) => ({ backends })),
    endpointCount: ENDPOINTS,
    fallback: -1,
  });
}

/** The id the encoded table (the grid) gives route `route` of `world`'s table. */
function gridId(world: World, route: number): number {
  return encodeGrid(tableOf(world)).routeIds[route]!;
}

/** A new world from `world`: a few same-length edits (weights, endpoints), sometimes a host added or removed (every later offset moves). */
function edited(world: World, next: () => number): World {
  const hosts = world.hosts.slice();
  const routes = world.routes.map((backends) => backends.map((backend) => ({ weight: backend.weight, endpoints: backend.endpoints.slice() })));
  const edits = 1 + Math.floor(next() * 3);
  for (let e = 0; e < edits; e++) {
    const route = routes[Math.floor(next() * routes.length)]!;
    const backend = route[Math.floor(next() * route.length)]!;
    if (next() < 0.5) backend.weight = 1 + Math.floor(next() * 9);
    else backend.endpoints[Math.floor(next() * backend.endpoints.length)] = Math.floor(next() * ENDPOINTS);
  }
  const roll = next();
  if (roll < 0.1) {
    const at = Math.floor(next() * hosts.length);
    hosts.splice(at, 0, `new${Math.floor(next() * 1e9)}.example`);
    routes.splice(at, 0, [{ weight: 1, endpoints: [0, 1] }]);
  } else if (roll < 0.2 && hosts.length > 10) {
    const at = Math.floor(next() * hosts.length);
    hosts.splice(at, 1);
    routes.splice(at, 1);
  }
  return { hosts, routes };
}

/**
 * `flat` as blocks sharing, with `before`, every block of the same bytes at the same place (what a
 * patched version shares with the one it was patched from: the blocks it did not write).
 */
function sharing(before: TableBlocks, flat: Uint8Array): TableBlocks {
  const editor = before.length === flat.length ? before.edit() : undefined;
  if (editor === undefined) return TableBlocks.of(flat);
  before.blocks.forEach((block, b) => {
    const at = b * TABLE_BLOCK_BYTES;
    const mine = flat.subarray(at, at + block.length);
    if (Buffer.compare(block, mine) !== 0) editor.set(mine, at);
  });
  return editor.done();
}

/** What a matcher answers for its hosts: matches, picks on a few routes (which write WRR weights into the table), the last backend, hashed picks. */
function answers(matcher: Matcher, world: World, next: () => number): number[] {
  const out: number[] = [];
  for (let i = 0; i < world.hosts.length; i += 1 + Math.floor(next() * 40)) out.push(matcher.match(world.hosts[i]!, `/only/${i}`, 'GET'), matcher.match(world.hosts[i]!, '/x', 'GET'));
  for (let n = 0; n < 4; n++) {
    const i = Math.floor(next() * world.hosts.length);
    const route = matcher.match(world.hosts[i]!, '/', 'GET');
    for (let k = 0; k < 3; k++) out.push(matcher.pick(route), matcher.lastBackend());
    out.push(matcher.pickHash(route, -1, 77 + i));
  }
  return out;
}

describe('MatcherPool with block tables', () => {
  it('random versions, picks, holds and corrupt loads: every load answers as a fresh instance of the flat bytes and holds them byte for byte', () => {
    for (let seed = 1; seed <= 3; seed++) {
      const next = random(seed);
      let lastInit: MatcherExports | undefined;
      const newInstance = (): MatcherExports => {
        const wasm = newMatcherInstance();
        const seen: MatcherExports = { ...wasm, init: (len: number) => ((lastInit = seen), wasm.init(len)) };
        return seen;
      };
      const pool = new MatcherPool(1 + (seed % 3), newInstance);
      let world: World = {
        hosts: Array.from({ length: 2500 + seed * 500 }, (_, i) => `h${i}.example`),
        routes: Array.from({ length: 2500 + seed * 500 }, (_, i) => [{ weight: 1 + (i % 3), endpoints: [i % ENDPOINTS, (i + 7) % ENDPOINTS] }, { weight: 2, endpoints: [(i + 3) % ENDPOINTS] }]),
      };
      const versions: TableBlocks[] = [TableBlocks.of(encodeTable(tableOf(world)))];
      expect(versions[0]!.blocks.length, 'several blocks').toBeGreaterThan(3);
      const held: PooledMatcher[] = [];
      for (let step = 0; step < 25; step++) {
        world = edited(world, next);
        const flat = encodeTable(tableOf(world));
        // Patched from the last version, or now and then an older one (a spare may hold either).
        const from = versions[Math.max(0, versions.length - 1 - (next() < 0.8 ? 0 : 1 + Math.floor(next() * 2)))]!;
        const version = sharing(from, flat);
        versions.push(version);
        if (next() < 0.2) {
          // The same blocks but a damaged header: refused, and the instance it went into holds nothing known.
          const editor = version.edit();
          editor.setWord(1, 999);
          expect(() => pool.load(editor.done()), `step ${step}`).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
        }
        const matcher = pool.load(version);
        const wasm = lastInit!;
        const memory = new Uint8Array(wasm.memory.buffer, wasm.tableAddress(), flat.length);
        expect(Buffer.compare(memory, flat), `seed ${seed} step ${step}: table bytes in wasm memory`).toBe(0);
        const script = random(seed * 1000 + step);
        const fresh = answers(loadMatcherFromBinary(flat), world, script);
        expect(answers(matcher, world, random(seed * 1000 + step)), `seed ${seed} step ${step}: answers`).toEqual(fresh);
        held.push(matcher);
        // Let go of some (the current one and requests in flight hold the others), in any order.
        while (held.length > 1 + Math.floor(next() * 3)) held.splice(Math.floor(next() * (held.length - 1)), 1)[0]!.release();
        // A few steps of spares' preparation (a slice of blocks each) with this version or an older one, or two of them, as turns between swaps allow.
        const recent = () => versions[Math.max(0, versions.length - 1 - Math.floor(next() * 3))]!;
        for (let k = Math.floor(next() * 4); k > 0; k--) pool.prepare(next() < 0.6 ? [recent()] : [recent(), recent()], 1 + Math.floor(next() * 4));
      }
      expect(pool.stats.prepared, 'spares were prepared').toBeGreaterThan(0);
      expect(pool.stats.blocksPrepared).toBeGreaterThan(0);
      // Reuse happened (how much a load copies is held exactly by the next test; here a corrupt load
      // or a new instance, when three are held, copies everything).
      const { blocksKept, reused } = pool.stats;
      expect(reused, 'instances were reused').toBeGreaterThan(12);
      expect(blocksKept, 'blocks were kept').toBeGreaterThan(30);
    }
  });

  it('copies only the blocks a version changed, a block a pick wrote into again, and everything after a failed load', () => {
    const hosts = 3000;
    const world: World = { hosts: Array.from({ length: hosts }, (_, i) => `h${i}.example`), routes: Array.from({ length: hosts }, (_, i) => [{ weight: 1, endpoints: [i % ENDPOINTS, (i + 1) % ENDPOINTS] }]) };
    const first = TableBlocks.of(encodeTable(tableOf(world)));
    const count = first.blocks.length;
    const edit = { hosts: world.hosts, routes: world.routes.map((backends, i) => (i === hosts - 1 ? [{ weight: 1, endpoints: [3, 4] }] : backends)) };
    const second = sharing(first, encodeTable(tableOf(edit)));
    const changed = second.blocks.filter((block, b) => block !== first.blocks[b]).length;
    expect(changed).toBe(1);
    const pool = new MatcherPool(1);
    pool.load(first).release();
    pool.load(second).release();
    expect(pool.stats).toMatchObject({ blocksCopied: count + 1, blocksKept: count - 1 });
    // Back to the first version: the changed block again; then a pick writes into the last route's block and its endpoint set's (the area's last), which the next load copies.
    const again = pool.load(first);
    expect(pool.stats).toMatchObject({ blocksCopied: count + 2 });
    again.pick(again.match(`h${hosts - 1}.example`, '/', 'GET'));
    again.release();
    pool.load(first).release();
    expect(pool.stats).toMatchObject({ blocksCopied: count + 4 });
    // A refused table leaves its instance holding nothing known: the next load copies every block.
    const editor = first.edit();
    editor.setWord(0, 0);
    expect(() => pool.load(editor.done())).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
    const copied = pool.stats.blocksCopied;
    const reloaded = pool.load(first);
    expect(pool.stats.blocksCopied).toBe(copied + count);
    expect(reloaded.match('h7.example', '/only/7', 'GET')).toBe(gridId(world, 7));
  });

  it('a host added, then taken away (patchGrid): a load copies the blocks the patch wrote and no other, a few of many, and answers as the flat bytes', () => {
    const hosts = 6000;
    const chunkOf = (name: string): GridUnit => ({ name, chunk: encodeChunk([{ host: name, paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }], 1), routes: [{ backends: [{ weight: 1, set: 0 }] }] });
    const units = Array.from({ length: hosts }, (_, i) => chunkOf(`g${String(i).padStart(5, '0')}.example`));
    const sets = [[0, 1]];
    const { table, layout, chunks, routes } = gridOf(units, sets, ENDPOINTS);
    const first: LaidOutTable = { table: TableBlocks.of(table), layout, chunks, routes, sets, endpointCount: ENDPOINTS, fallback: -1 };
    const count = first.table.blocks.length;
    expect(count).toBeGreaterThan(8);
    const withNew = units.toSpliced(2500, 0, chunkOf('g02499x.example'));
    const added = patchGrid(first, { count: hosts + 1, kept: [0, 2500, 0, 2501, hosts + 1, -1], unitAt: (u) => withNew[u]! }, sets, ENDPOINTS, -1)!;
    expect(added, 'the host add patches').toBeDefined();
    const removed = patchGrid(added, { count: hosts, kept: [0, 2500, 0, 2500, hosts, 1], unitAt: (u) => units[u]! }, sets, ENDPOINTS, -1)!;
    expect(removed, 'the host removal patches').toBeDefined();
    const pool = new MatcherPool(1);
    pool.load(first.table).release();
    let copied = pool.stats.blocksCopied;
    for (const [from, version, world] of [[first, added, withNew], [added, removed, units]] as const) {
      const written = version.table.blocks.filter((block, b) => block !== from.table.blocks[b]).length;
      expect(written, 'a few blocks written').toBeLessThanOrEqual(4);
      const matcher = pool.load(version.table);
      expect(pool.stats.blocksCopied - copied, 'copied = written').toBe(written);
      copied = pool.stats.blocksCopied;
      const flat = loadMatcherFromBinary(version.table.bytes());
      for (let u = 0; u < world.length; u += 97) expect(matcher.match(world[u]!.name, '/', 'GET'), world[u]!.name).toBe(flat.match(world[u]!.name, '/', 'GET'));
      expect(matcher.match('g02499x.example', '/', 'GET')).toBe(flat.match('g02499x.example', '/', 'GET'));
      matcher.release();
    }
  });

  it('gives a table the spare instance that holds most of its blocks, before the best fit', () => {
    const pool = new MatcherPool(2);
    const world: World = { hosts: Array.from({ length: 2000 }, (_, i) => `a${i}.example`), routes: Array.from({ length: 2000 }, () => [{ weight: 1, endpoints: [1] }]) };
    const a = TableBlocks.of(encodeTable(tableOf(world)));
    const b = sharing(a, encodeTable(tableOf({ hosts: world.hosts, routes: world.routes.map((backends, i) => (i === 1999 ? [{ weight: 2, endpoints: [2] }] : backends)) })));
    const holdsA = pool.load(a);
    const holdsB = pool.load(b);
    // B's instance grows (a long request): best fit alone would now give B to A's smaller instance.
    holdsB.match('a1.example', `/${'x'.repeat(200_000)}`, 'GET');
    holdsA.release();
    holdsB.release();
    const copied = pool.stats.blocksCopied;
    pool.load(b);
    expect(pool.stats.blocksCopied).toBe(copied);
  });

  it('prepare: a spare made ahead (a slice per call) holds the current table; the next load copies only what it lacks and answers as a fresh instance', () => {
    const instances: MatcherExports[] = [];
    const pool = new MatcherPool(2, () => {
      const made = newMatcherInstance();
      instances.push(made);
      return made;
    });
    const hosts = 3000;
    const world: World = { hosts: Array.from({ length: hosts }, (_, i) => `p${i}.example`), routes: Array.from({ length: hosts }, (_, i) => [{ weight: 1 + (i % 3), endpoints: [i % ENDPOINTS, (i + 1) % ENDPOINTS] }]) };
    const first = TableBlocks.of(encodeTable(tableOf(world)));
    const count = first.blocks.length;
    expect(count).toBeGreaterThan(4);
    const current = pool.load(first);
    // Slices of 2 blocks: ceil(count / 2) calls, then none is left to do.
    let steps = 0;
    while (pool.prepare([first], 2)) steps++;
    expect(steps + 1).toBe(Math.ceil(count / 2));
    expect(pool.stats).toMatchObject({ created: 1, prepared: 1, spare: 1, blocksPrepared: count });
    // A spare exists: nothing more is made.
    expect(pool.prepare([first], 2)).toBe(false);
    expect(pool.stats.prepared).toBe(1);
    const edit = { hosts: world.hosts, routes: world.routes.map((backends, i) => (i === hosts - 1 ? [{ weight: 3, endpoints: [5, 6] }] : backends)) };
    const flat = encodeTable(tableOf(edit));
    const second = sharing(first, flat);
    const next = random(9);
    const matcher = pool.load(second);
    expect(pool.stats).toMatchObject({ created: 1, reused: 1, blocksCopied: count + 1, blocksKept: count - 1 });
    const memory = instances[1]!;
    expect(Buffer.compare(new Uint8Array(memory.memory.buffer, memory.tableAddress(), flat.length), flat)).toBe(0);
    expect(answers(matcher, edit, random(9))).toEqual(answers(loadMatcherFromBinary(flat), edit, next));
    current.release();
  });

  it('prepare: a load that comes mid-way takes the spare and copies the blocks not prepared yet; a failed load leaves it holding nothing known, refilled whole without a new instance; no spare is prepared with maxSpare 0', () => {
    const pool = new MatcherPool(2);
    const hosts = 3000;
    const world: World = { hosts: Array.from({ length: hosts }, (_, i) => `q${i}.example`), routes: Array.from({ length: hosts }, () => [{ weight: 1, endpoints: [1, 2] }]) };
    const flat = encodeTable(tableOf(world));
    const first = TableBlocks.of(flat);
    const count = first.blocks.length;
    const current = pool.load(first);
    expect(pool.prepare([first], 1)).toBe(true);
    expect(pool.prepare([first], 1)).toBe(true);
    // Two blocks prepared: a load of the same version copies the rest.
    const taken = pool.load(first);
    expect(pool.stats).toMatchObject({ blocksPrepared: 2, blocksCopied: count + count - 2, blocksKept: 2 });
    expect(taken.match('q7.example', '/only/7', 'GET')).toBe(gridId(world, 7));
    // It was taken: the next step makes a new spare, as none is left.
    expect(pool.prepare([first], 1)).toBe(true);
    expect(pool.stats.prepared).toBe(2);
    // A refused table loaded into the spare being prepared: it then holds nothing known, so preparing copies every block into it again (no new instance), and the next load none.
    const editor = first.edit();
    editor.setWord(0, 0);
    expect(() => pool.load(editor.done())).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
    const prepared = pool.stats.blocksPrepared;
    while (pool.prepare([first], 4));
    expect(pool.stats).toMatchObject({ prepared: 2, spare: 1, blocksPrepared: prepared + count });
    const copied = pool.stats.blocksCopied;
    const again = pool.load(first);
    expect(pool.stats.blocksCopied).toBe(copied);
    expect(again.match('q9.example', '/only/9', 'GET')).toBe(gridId(world, 9));
    current.release();
    taken.release();
    again.release();
    const none = new MatcherPool(0);
    none.load(first);
    expect(none.prepare([first])).toBe(false);
    expect(none.stats.prepared).toBe(0);
  });

  it('hostile: memory that cannot grow: prepare throws, makes no second instance however often it is asked, and the matcher in use answers on; a load then fails typed', () => {
    let growable = true;
    const pool = new MatcherPool(3, () => {
      const wasm = newMatcherInstance();
      const memory = { get buffer() { return wasm.memory.buffer; }, grow: (pages: number) => { if (!growable) throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'); return wasm.memory.grow(pages); } } as WebAssembly.Memory;
      return { ...wasm, memory };
    });
    const hosts = 3000;
    const world: World = { hosts: Array.from({ length: hosts }, (_, i) => `g${i}.example`), routes: Array.from({ length: hosts }, () => [{ weight: 1, endpoints: [1, 2] }]) };
    const first = TableBlocks.of(encodeTable(tableOf(world)));
    const current = pool.load(first);
    growable = false;
    for (let i = 0; i < 10; i++) expect(() => pool.prepare([first])).toThrow(RangeError);
    expect(pool.stats).toMatchObject({ prepared: 1, spare: 1, inUse: 1, blocksPrepared: 0 });
    expect(current.match('g7.example', '/only/7', 'GET')).toBe(gridId(world, 7));
    expect(() => pool.load(first)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
    expect(pool.stats).toMatchObject({ inUse: 1, spare: 1 });
    // Growth allowed again: the same spare is filled, and a load of the version copies nothing.
    growable = true;
    while (pool.prepare([first], 8));
    const copied = pool.stats.blocksCopied;
    const next = pool.load(first);
    expect(pool.stats).toMatchObject({ prepared: 1, blocksCopied: copied });
    expect(next.match('g9.example', '/only/9', 'GET')).toBe(gridId(world, 9));
    current.release();
    next.release();
  });
});
