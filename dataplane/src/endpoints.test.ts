// A router loading a sequence of endpoint-only and full bundles made in this process (endpoints
// patched from the previous snapshot's by the lines that changed) holds exactly what a router
// loading every version's whole text holds: the same endpoints by id, ids by key, stand-in, picks,
// health ejections, session tokens and removed-endpoint events. And a damaged, short or duplicated
// endpoints part is refused (or read) as a whole text is, the current snapshot kept.
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import { compileBundle, endpointLinesOf, withEndpointLines } from '@portico/control/snapshot/bundle';
import type { EndpointLines, TableBundle } from '@portico/control/snapshot/bundle';
import type { Snapshot, SnapshotEndpointSet } from '@portico/control/snapshot';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IdMap, isGap } from './endpoints.ts';
import { endpointCapacity } from '@portico/control/snapshot/endpoint-slots';
import type { SwapEvent } from './router.ts';
import { Router } from './router.ts';
import { seededRandom as random, snapshotOf } from './test-support.ts';

/** `bundle` with its endpoints getter counted: the whole text is joined only when this is read. */
function counted(bundle: TableBundle, reads: { count: number }): TableBundle {
  const getter = Object.getOwnPropertyDescriptor(bundle, 'endpoints')!.get!;
  Object.defineProperty(bundle, 'endpoints', { get: () => (reads.count++, getter.call(bundle)), enumerable: true, configurable: true });
  return bundle;
}

/** `snapshot` with its endpoint sets `sets` (the hosts the same items: an endpoint-only version) and a version of its own. */
function withSets(snapshot: Snapshot, sets: readonly SnapshotEndpointSet[], version: string): Snapshot {
  // A copy: a version's lists never change after it is made (the compiler compares them by item).
  return { ...snapshot, endpointSets: [...sets], version };
}

const HOSTS = 12;

/** Host h: route `/` on its own Service of 3 endpoints; hosts 0-1 also `/shared` on one Service; host 2 an invalid backend (the stand-in endpoint). */
function world(paths: number): Snapshot {
  let address = 0;
  const next = (): string => `10.0.${address >> 8}.${address++ & 255}:8080`;
  return snapshotOf(
    Array.from({ length: HOSTS }, (_, h) => ({
      host: `h${h}.endpoints.test`,
      routes: [{ path: '/', endpoints: [next(), next(), next()], invalidBackends: h === 2 ? 1 : 0 }, ...Array.from({ length: h === 0 ? paths : 0 }, (_, p) => ({ path: `/extra-${p}`, endpoints: [next()] }))],
    })),
  );
}

/** A router with its compiler, the swap events it emits, and world(0) loaded as a full bundle (a balancing-only one is loaded beside a current snapshot's routes). */
function loadedWorld(): { compiler: BundleCompiler; router: Router; events: SwapEvent[]; base: Snapshot } {
  const compiler = new BundleCompiler();
  const router = new Router({ compiler });
  const events: SwapEvent[] = [];
  router.on('swap', (event) => events.push(event));
  const base = world(0);
  router.loadBundle(compiler.compile(base), true);
  return { compiler, router, events, base };
}

/** What a router holds about its current snapshot's endpoints, and what it answers with them. */
function observed(router: Router, event: SwapEvent) {
  const current = router.current!;
  const picks: string[] = [];
  for (let h = 0; h < HOSTS; h++) {
    for (let i = 0; i < 4; i++) {
      const decision = router.route(`h${h}.endpoints.test`, '/', 'GET', undefined, 'http');
      picks.push(decision.kind === 'proxy' ? decision.endpointKey : decision.kind);
    }
  }
  const keys = current.endpoints.toArray().map((endpoint) => endpoint.key);
  const tokens = keys.map((_, id) => current.endpointToken(id));
  return {
    keys,
    ids: new Map(current.endpointIds),
    size: current.endpointIds.size,
    invalid: current.invalidEndpoint,
    removed: event.removedEndpoints,
    health: router.endpointHealth(),
    picks,
    tokens,
    byToken: tokens.map((token) => current.endpointByToken(token)),
    unknownToken: current.endpointByToken('0'.repeat(32)),
  };
}

describe('endpoints patched by the changed lines', () => {
  it('a scale reads only its lines: an endpoint taken away, then one added, patched with the exact removed keys', () => {
    const { compiler, router, events, base } = loadedWorld();
    const count = router.current!.endpoints.length;
    const sets = [...base.endpointSets];
    const set = sets[5]!;
    const gone = set.endpoints.at(-1)!;
    // 36 endpoints and 35 have the same capacity (ids): neither change renumbers.
    sets[5] = { ...set, endpoints: set.endpoints.slice(0, -1) };
    const down = withSets(base, sets, 'v-down');
    expect(endpointCapacity(35)).toBe(endpointCapacity(36));
    router.loadBundle(compiler.compile(down, true), true);
    expect(router.current!.endpointsRead).toBe('patched');
    expect(router.current!.endpoints.length).toBe(count);
    expect(events.at(-1)!.removedEndpoints).toEqual([`${gone.address}:${gone.port}`]);
    sets[5] = { ...set, endpoints: [...set.endpoints.slice(0, -1), { address: '10.203.0.1', port: 8080, terminating: false }] };
    router.loadBundle(compiler.compile(withSets(down, sets, 'v-up'), true), true);
    expect(router.current!.endpointsRead).toBe('patched');
    expect(events.at(-1)!.removedEndpoints).toEqual([]);
    expect(router.current!.endpointIds.get('10.203.0.1:8080')).toBeDefined();
    expect(router.current!.endpointIds.has(`${gone.address}:${gone.port}`)).toBe(false);
    router.close();
  });

  it('property: a sequence of endpoint-only and full loads holds what loading each whole text holds', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const next = random(seed);
      const compiler = new BundleCompiler();
      const patched = new Router({ compiler });
      const whole = new Router();
      const reads = { count: 0 };
      let snapshot = world(0);
      let paths = 0;
      let sets = [...snapshot.endpointSets];
      let fresh = 1000;
      const retired: string[] = [];
      const counts = { patched: 0, whole: 0, same: 0 };
      const load = (endpointOnly: boolean): void => {
        const events: SwapEvent[] = [];
        patched.once('swap', (event) => events.push(event));
        whole.once('swap', (event) => events.push(event));
        patched.loadBundle(counted(compiler.compile(snapshot, endpointOnly && patched.current !== undefined), reads), true);
        // The reference: a plain bundle (no line reader, as one received over IPC), every line read.
        whole.loadBundle(compileBundle(snapshot));
        counts[patched.current!.endpointsRead]++;
        expect(observed(patched, events[0]!), `seed ${seed} version ${snapshot.version}`).toEqual(observed(whole, events[1]!));
      };
      load(false);
      for (let step = 0; step < 40; step++) {
        const kind = next();
        const addressOf = (): { address: string; port: number; terminating: boolean } => {
          // Now and then an address an earlier version had (its token and id come back).
          const reused = retired.length > 0 && next() < 0.3 ? retired.splice(Math.floor(next() * retired.length), 1)[0]! : `10.9.${fresh >> 8}.${fresh++ & 255}`;
          return { address: reused, port: 8080, terminating: false };
        };
        if (kind < 0.6) {
          // In place: 1-3 sets each get one endpoint replaced (the same count: the ids stay).
          for (let n = 1 + Math.floor(next() * 3); n > 0; n--) {
            const at = Math.floor(next() * sets.length);
            const set = sets[at]!;
            const which = Math.floor(next() * set.endpoints.length);
            const inUse = new Set(sets.flatMap((s) => s.endpoints.map((e) => e.address)));
            let endpoint = addressOf();
            while (inUse.has(endpoint.address)) endpoint = addressOf();
            retired.push(set.endpoints[which]!.address);
            sets[at] = { ...set, endpoints: set.endpoints.map((e, i) => (i === which ? endpoint : e)) };
          }
          snapshot = withSets(snapshot, sets, `v-${seed}-${step}`);
          load(true);
        } else if (kind < 0.7) {
          // Two sets swap an endpoint: the same count, numbered again (every line read).
          const a = Math.floor(next() * sets.length);
          const b = (a + 1 + Math.floor(next() * (sets.length - 1))) % sets.length;
          const [x, y] = [sets[a]!, sets[b]!];
          sets[a] = { ...x, endpoints: [y.endpoints[0]!, ...x.endpoints.slice(1)] };
          sets[b] = { ...y, endpoints: [x.endpoints[0]!, ...y.endpoints.slice(1)] };
          snapshot = withSets(snapshot, sets, `v-${seed}-${step}`);
          load(true);
        } else if (kind < 0.8) {
          // A set grows or shrinks: other endpoint ids.
          const at = Math.floor(next() * sets.length);
          const set = sets[at]!;
          sets[at] = { ...set, endpoints: set.endpoints.length > 1 && next() < 0.5 ? set.endpoints.slice(1) : [...set.endpoints, addressOf()] };
          snapshot = withSets(snapshot, sets, `v-${seed}-${step}`);
          load(true);
        } else if (kind < 0.9) {
          // Passive health ejects an endpoint on both (then carried across the swaps that follow).
          const keys = patched.current!.endpoints.toArray().filter((endpoint) => endpoint.port !== 0).map((endpoint) => endpoint.key);
          const key = keys[Math.floor(next() * keys.length)]!;
          for (let i = 0; i < 3; i++) {
            patched.reportFailure(key);
            whole.reportFailure(key);
          }
          expect(patched.endpointHealth()).toEqual(whole.endpointHealth());
        } else {
          // A route change: a full load (new hosts, new numbering).
          const endpointSets = sets;
          const routes = world(++paths);
          snapshot = { ...routes, endpointSets: [...endpointSets, ...routes.endpointSets.filter((set) => !endpointSets.some((s) => s.key === set.key))].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)), version: `v-${seed}-${step}-routes` };
          sets = [...snapshot.endpointSets];
          load(false);
        }
      }
      expect(reads.count, `seed ${seed}: an in-process bundle's endpoints text was joined`).toBe(0);
      expect(counts.patched, `seed ${seed}: loads patched`).toBeGreaterThan(5);
      expect(counts.whole, `seed ${seed}: loads read whole`).toBeGreaterThan(0);
      patched.close();
      whole.close();
    }
  });

  it('an endpoint change reads only its lines: ids, tokens and removal from the changed ones', () => {
    const { compiler, router, events, base } = loadedWorld();
    const before = router.current!;
    const sets = [...base.endpointSets];
    const set = sets[1]!;
    const gone = set.endpoints[1]!;
    const goneKey = `${gone.address}:${gone.port}`;
    const stays = before.endpoints.toArray().find((endpoint) => !isGap(endpoint) && endpoint.key !== goneKey)!;
    const token = before.endpointToken(stays.id);
    expect(before.endpointByToken(token)).toBe(stays.id);
    sets[1] = { ...set, endpoints: [set.endpoints[0]!, { address: '10.200.0.1', port: 9090, terminating: false }, set.endpoints[2]!] };
    router.loadBundle(compiler.compile(withSets(base, sets, 'v-one'), true), true);
    const after = router.current!;
    expect(after.endpointsRead).toBe('patched');
    // The new address's id is its key's slot: it and the gone one's probe clusters are re-placed.
    const id = after.endpointIds.get('10.200.0.1:9090')!;
    const was = before.endpointIds.get(goneKey)!;
    expect(after.endpoints.at(id)).toMatchObject({ id, key: '10.200.0.1:9090', address: '10.200.0.1', port: 9090 });
    expect(after.endpointIds.has(goneKey)).toBe(false);
    expect(after.endpointIds.size).toBe(before.endpointIds.size);
    expect(events.at(-1)!.removedEndpoints).toEqual([goneKey]);
    // Every other id keeps its very ref (a few at most moved with the clusters); the previous snapshot still answers as it did.
    const moved = after.endpoints.toArray().filter((endpoint) => endpoint !== before.endpoints.at(endpoint.id)).map((endpoint) => endpoint.id);
    expect(moved).toContain(id);
    expect(moved).toContain(was);
    expect(moved.length).toBeLessThanOrEqual(6);
    for (const endpoint of after.endpoints.toArray()) if (!isGap(endpoint)) expect(after.endpointIds.get(endpoint.key)).toBe(endpoint.id);
    expect(before.endpointIds.get(goneKey)).toBe(was);
    expect(after.endpointByToken(token)).toBe(after.endpointIds.get(stays.key));
    expect(after.endpointByToken(after.endpointToken(id))).toBe(id);
    router.close();
  });

  it('hostile: a damaged, short or over-long endpoints part is refused naming the endpoint; the current snapshot stays', () => {
    const router = new Router();
    const snapshot = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [2001, 2002] }] }]);
    router.load(snapshot);
    const version = router.version;
    const good = compileBundle(snapshot);
    // Ids are slots (8 for two endpoints, the others gaps): `held` is 2002's id, `gap` one no endpoint holds.
    const lines = good.endpoints.split('\n');
    expect(lines).toHaveLength(8);
    const held = lines.indexOf('127.0.0.1 2002');
    const gap = lines.indexOf('');
    const text = (id: number, line: string): string => lines.map((own, at) => (at === id ? line : own)).join('\n');
    for (const [endpoints, message] of [
      [text(held, '127.0.0.1'), new RegExp(`bundle endpoint ${held} is not "address port": "127\\.0\\.0\\.1"`)],
      [text(held, '127.0.0.1 http'), new RegExp(`bundle endpoint ${held} is not "address port"`)],
      [text(held, '127.0.0.1 70000'), new RegExp(`bundle endpoint ${held} is not "address port"`)],
      [text(gap, ' 2002'), new RegExp(`bundle endpoint ${gap} is not "address port"`)],
      [lines.slice(0, 7).join('\n'), /bundle lists 7 endpoints, its table 8/],
      [[...lines, '127.0.0.1 2003'].join('\n'), /bundle lists 9 endpoints, its table 8/],
    ] as const) {
      expect(() => router.loadBundle({ ...good, version: 'damaged', endpoints }, true), endpoints).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(message) }));
      expect(router.version).toBe(version);
    }
    // Sets naming a gap or an id past the last endpoint: refused naming the entry.
    for (const [endpointSets, message] of [
      [[[held], [gap]], new RegExp(`bundle endpointSets\\[1\\] names endpoint id ${gap}, a gap`)],
      [[[8]], /bundle endpointSets\[0\] names endpoint id 8, not below 8/],
      [[[-1]], /bundle endpointSets\[0\] names endpoint id -1, not below 8/],
      // As long as the loaded list, every other set its very array (not read again): the changed one is.
      [good.endpointSets.map((set, s) => (s === good.endpointSets.length - 1 ? [gap] : set)), new RegExp(`bundle endpointSets\\[${good.endpointSets.length - 1}\\] names endpoint id ${gap}, a gap`)],
    ] as const) {
      expect(() => router.loadBundle({ ...good, version: 'bad-sets', endpointSets }, true)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(message) }));
      expect(router.version).toBe(version);
    }
    // A line reader that says one line changed and gives a damaged one, or has more lines than the table.
    const compiler = new BundleCompiler();
    const inProcess = new Router({ compiler });
    inProcess.loadBundle(compiler.compile(snapshot), true);
    const damaged = (line: (id: number) => string | undefined, count = 8): EndpointLines => ({ lines: count, line, changedSince: () => [held] });
    for (const [reader, message] of [
      [damaged((id) => (id === held ? 'garbage' : lines[id])), new RegExp(`bundle endpoint ${held} is not "address port": "garbage"`)],
      [damaged(() => undefined), new RegExp(`bundle endpoint ${held} is missing`)],
      [damaged((id) => lines[id], 9), /bundle lists 9 endpoints, its table 8/],
    ] as const) {
      const bundle = withEndpointLines({ ...compileBundle(snapshot, true), version: 'damaged-lines' }, reader);
      expect(() => inProcess.loadBundle(bundle, true)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(message) }));
      expect(inProcess.version).toBe(snapshot.version);
    }
    // A changed line that becomes the stand-in of invalid backends (never compiled in place, but read as a text would be).
    const first = lines.indexOf('127.0.0.1 2001');
    const standIn = withEndpointLines({ ...compileBundle(snapshot, true), version: 'stand-in' }, { lines: 8, line: (id) => (id === first ? ` ${0}` : lines[id]), changedSince: () => [first] });
    inProcess.loadBundle(standIn, true);
    expect(inProcess.current!.endpointsRead).toBe('patched');
    expect(inProcess.current!.invalidEndpoint).toBe(first);
    expect(new Map(inProcess.current!.endpointIds)).toEqual(new Map([[':0', first], ['127.0.0.1:2002', held]]));
    inProcess.loadBundle(compiler.compile(snapshot, true), true);
    expect(inProcess.current!.invalidEndpoint).toBe(-1);
    // The snapshot kept still serves, and a good endpoint change after the refusals patches as before.
    expect(inProcess.route('a.test', '/', 'GET', undefined, 'http').kind).toBe('proxy');
    const moved = { ...snapshot, endpointSets: [{ ...snapshot.endpointSets[0]!, endpoints: [snapshot.endpointSets[0]!.endpoints[0]!, { address: '127.0.0.1', port: 2009, terminating: false }] }], version: 'moved' };
    inProcess.loadBundle(compiler.compile(moved, true), true);
    expect(inProcess.current!.endpointsRead).toBe('patched');
    expect(inProcess.current!.endpoints.toArray().flatMap((endpoint) => (isGap(endpoint) ? [] : [endpoint.key])).sort()).toEqual(['127.0.0.1:2001', '127.0.0.1:2009']);
    router.close();
    inProcess.close();
  });

  it('hostile: a bundle whose endpoints are the ones loaded but whose table lists another number of endpoints is refused; the current snapshot stays', () => {
    const router = new Router();
    const two = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [2001, 2002] }] }]);
    // Six endpoints: 9 ids (slots), two: 8.
    const three = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [2001, 2002, 2003, 2004, 2005, 2006] }] }]);
    const loaded = compileBundle(two);
    router.loadBundle(loaded, true);
    const version = router.version;
    expect(() => router.loadBundle({ ...compileBundle(three), version: 'same-endpoints', endpoints: loaded.endpoints }, true)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(/bundle lists 8 endpoints, its table 9/) }));
    expect(router.version).toBe(version);
    expect(router.route('a.test', '/', 'GET', undefined, 'http').kind).toBe('proxy');
    // The same with the lines of the compiler's bundle: the very object the loaded version read.
    const compiler = new BundleCompiler();
    const inProcess = new Router({ compiler });
    const first = compiler.compile(two);
    inProcess.loadBundle(first, true);
    const lines = { ...compileBundle(three), version: 'same-lines', endpoints: first.endpoints };
    expect(() => inProcess.loadBundle(withEndpointLines(lines, endpointLinesOf(first)!), true)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(/bundle lists 8 endpoints, its table 9/) }));
    expect(inProcess.version).toBe(two.version);
    expect(inProcess.route('a.test', '/', 'GET', undefined, 'http').kind).toBe('proxy');
    router.close();
    inProcess.close();
  });

  it('hostile: an endpoint listed twice maps its key to its last id, as a whole text does, and the next change reads every line', () => {
    const router = new Router();
    const snapshot = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [2001, 2002, 2003] }] }]);
    router.load(snapshot);
    const events: SwapEvent[] = [];
    router.on('swap', (event) => events.push(event));
    const good = compileBundle(snapshot);
    const lines = good.endpoints.split('\n');
    const [one, two, three] = ['2001', '2002', '2003'].map((port) => lines.indexOf(`127.0.0.1 ${port}`)) as [number, number, number];
    router.loadBundle({ ...good, version: 'twice', endpoints: lines.map((line, id) => (id === two ? '127.0.0.1 2003' : line)).join('\n') }, true);
    const current = router.current!;
    expect(new Map(current.endpointIds)).toEqual(new Map([['127.0.0.1:2001', one], ['127.0.0.1:2003', Math.max(two, three)]]));
    expect(events.at(-1)!.removedEndpoints).toEqual(['127.0.0.1:2002']);
    router.loadBundle(good, true);
    expect(new Map(router.current!.endpointIds)).toEqual(new Map([['127.0.0.1:2001', one], ['127.0.0.1:2002', two], ['127.0.0.1:2003', three]]));
    expect(events.at(-1)!.removedEndpoints).toEqual([]);
    router.close();
  });
});

describe('memory', () => {
  it('a patched version does not keep the versions before it alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const compiler = new BundleCompiler();
    const router = new Router({ compiler });
    const base = world(0);
    router.load(base);
    await new Promise((resolve) => setImmediate(resolve));
    let sets = [...base.endpointSets];
    const change = (step: number): void => {
      sets = [...sets];
      sets[step % sets.length] = { ...sets[step % sets.length]!, endpoints: [{ address: `10.202.0.${step}`, port: 8080, terminating: false }, ...sets[step % sets.length]!.endpoints.slice(1)] };
      router.loadEndpoints(withSets(base, sets, `v-memory-${step}`));
    };
    change(1);
    expect(router.current!.endpointsRead).toBe('patched');
    // The id map is this version's own object: held by its snapshot and its endpoints alone.
    const first = new WeakRef(router.current!.endpointIds);
    for (let step = 2; step < 8; step++) change(step);
    expect(router.current!.endpointsRead).toBe('patched');
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(first.deref()).toBeUndefined();
    router.close();
  });
});

describe('the first endpoint change after start-up', () => {
  it('finds the balancing-only bundle made a turn after the first full load: the change is numbered from it', async () => {
    const compiler = new BundleCompiler();
    const router = new Router({ compiler });
    const base = world(0);
    router.load(base);
    const assembled = compiler.stats.versionsAssembled;
    await new Promise((resolve) => setImmediate(resolve));
    // The balancing-only bundle of the loaded version, made once.
    expect(compiler.stats.versionsAssembled).toBe(assembled + 1);
    const sets = [...base.endpointSets];
    sets[3] = { ...sets[3]!, endpoints: [{ address: '10.201.0.1', port: 8080, terminating: false }, ...sets[3]!.endpoints.slice(1)] };
    const afresh = compiler.stats.numberedAfresh;
    router.loadEndpoints(withSets(base, sets, 'v-first-change'));
    // Numbered from the last version's ids (its probe cluster re-placed), not from scratch.
    expect(compiler.stats.numberedAfresh).toBe(afresh);
    expect(compiler.stats.versionsAssembled).toBe(assembled + 2);
    expect(router.current!.endpointsRead).toBe('patched');
    expect(router.current!.endpointIds.get('10.201.0.1:8080')).toBeDefined();
    // Later full loads make none: the balancing-only bundle is patched from then on.
    router.load(world(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(compiler.stats.versionsAssembled).toBe(assembled + 3);
    router.close();
  });

  it('makes none for a version no longer current by then', async () => {
    const compiler = new BundleCompiler();
    const router = new Router({ compiler });
    router.load(world(0));
    router.load(world(1));
    const assembled = compiler.stats.versionsAssembled;
    await new Promise((resolve) => setImmediate(resolve));
    expect(compiler.stats.versionsAssembled).toBe(assembled);
    router.close();
  });
});

describe('IdMap', () => {
  it('patches as a map made whole would be, and refuses a key already there', () => {
    const base = IdMap.of([['a', 0], ['b', 1], ['c', 2]]);
    const next = base.patched([['b', 1]], [['d', 1]])!;
    expect(new Map(next)).toEqual(new Map([['a', 0], ['d', 1], ['c', 2]]));
    expect(next.size).toBe(3);
    expect([next.get('b'), next.has('b'), next.get('d')]).toEqual([undefined, false, 1]);
    // The version it came from is unchanged.
    expect(new Map(base)).toEqual(new Map([['a', 0], ['b', 1], ['c', 2]]));
    // Back again: the base's entry, no difference kept.
    const back = next.patched([['d', 1]], [['b', 1]])!;
    expect(new Map(back)).toEqual(new Map(base));
    // A key removed where it maps to another id stays.
    expect(new Map(base.patched([['a', 5]], [])!)).toEqual(new Map(base));
    expect(base.patched([], [['a', 3]])).toBeUndefined();
    expect([...next.keys()].sort()).toEqual(['a', 'c', 'd']);
    expect([...next.values()].sort()).toEqual([0, 1, 2]);
    const seen: [string, number][] = [];
    next.forEach((id, key) => seen.push([key, id]));
    expect(new Map(seen)).toEqual(new Map(next));
  });

  it('is made whole again past OVERLAY_MAX differences, with the same entries', () => {
    let map = IdMap.of(Array.from({ length: 5000 }, (_, i): [string, number] => [`k${i}`, i]));
    for (let i = 0; i < 3000; i++) map = map.patched([[`k${i}`, i]], [[`n${i}`, i]])!;
    expect(map.size).toBe(5000);
    for (let i = 0; i < 5000; i++) expect(map.get(i < 3000 ? `n${i}` : `k${i}`)).toBe(i);
    expect(map.has('k0')).toBe(false);
  });
});
