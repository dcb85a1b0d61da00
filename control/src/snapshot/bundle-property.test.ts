// The bundle compiler's property on the current table format (8: the host grid, the endpoint area in buckets), over random worlds of
// up to 1,000 hosts and random single changes: after each change the bundle BundleCompiler gives —
// endpoints replaced in place, patched from the last bundle, or assembled — is byte for byte the
// one-pass reference compile's (table, digest, every part; full and balancing-only); the path each
// change took is the one stated for it below, with the reason a patch is refused; and a compiler
// that starts fresh at version k gives what the one that followed versions 1..k gives. When a
// format change lets another kind of change patch, its row below says so (docs/proposals/
// endpoint-area.md, host-grid.md).
import { describe, expect, it } from 'vitest';
import type { BundleCompilePaths } from './bundle-compile.ts';
import { BundleCompiler } from './bundle-compile.ts';
import { compareHosts, compareStrings } from './order.ts';
import type { Snapshot, SnapshotEndpointSet, SnapshotHost } from './schema.ts';
import { sealSnapshot } from './schema.ts';
import { content, endpointCapacityOf, expectSame, expectSameBundles, hostName, setKey } from './test-support.ts';

type Path = keyof BundleCompilePaths['full'];
/** What a change does to the world, and the path its full and balancing-only compiles take on table format 8, with why. */
interface Change {
  readonly full: Path;
  readonly balancing: Path;
  readonly why: string;
  /**
   * The full compile may assemble instead, when the grid would move more than the touched bucket
   * (the bucket count, a slot table's capacity, the overflow area): rare at these sizes, counted,
   * and most such changes must patch (the run asserts it).
   */
  readonly fullMayAssemble?: true;
}

const CHANGES = {
  move: { full: 'patched', balancing: 'patched', why: "an address replaced by a new one: its key lies in another slot (endpoint id), so its set's record, and those of sets naming a key its probe cluster moved, are rewritten in place (same sizes)" },
  renameInPad: { full: 'patched', balancing: 'patched', why: 'a path renamed within its 8-byte pad: the chunk keeps its size' },
  renameAcrossPad: { full: 'patched', balancing: 'patched', why: 'a path renamed across an 8-byte pad: the unit grows or shrinks, its bucket is packed again (patchGrid); the balancing table has no grid, and its ids stay while the unit stays in its bucket', fullMayAssemble: true },
  addHost: { full: 'patched', balancing: 'assembled', why: 'a host added: its bucket is packed again, its slot cluster placed again (patchGrid); the balancing table packs its records in id order (a unit added moves the later ones)', fullMayAssemble: true },
  removeHost: { full: 'patched', balancing: 'assembled', why: 'a host taken away: its bucket is packed again, its slot cluster placed again (patchGrid); the balancing table packs its records in id order', fullMayAssemble: true },
  addCondHost: { full: 'patched', balancing: 'assembled', why: 'a host whose path has a header condition added: as a host added, and its record offset put in the list of hosts with conditions (ascending offsets, room to the next power of two)', fullMayAssemble: true },
  removeCondHost: { full: 'patched', balancing: 'assembled', why: 'a host with a header condition taken away: as a host taken away, its offset taken out of the list of hosts with conditions', fullMayAssemble: true },
  bigAddPath: { full: 'patched', balancing: 'assembled', why: 'a path added to a big host (over R routes: in the overflow area): written again in its extent, which is its size class (patchGrid), unless it crosses one; the balancing table packs its records in id order', fullMayAssemble: true },
  addPath: { full: 'patched', balancing: 'assembled', why: 'a path added: the host has one more route, its bucket is packed again (patchGrid); the balancing table packs its records in id order', fullMayAssemble: true },
  scaleUp: { full: 'patched', balancing: 'patched', why: 'an endpoint added to a set: numbered from the last numbering (its key re-places one probe cluster: one or two endpoint ids move); route records hold set ids and keep their bytes; the endpoint area re-packs the buckets of the sets whose ids changed, as the numbering recorded them' },
  scaleDown: { full: 'patched', balancing: 'patched', why: 'an endpoint taken from a set: numbered from the last numbering; route records keep their bytes; the endpoint area re-packs the buckets of the sets whose ids changed' },
  switchSet: { full: 'patched', balancing: 'patched', why: 'a route moved to another set of as many endpoints, the one it left still used: route records of the same size rewritten' },
  switchSetLeavingIt: { full: 'assembled', balancing: 'assembled', why: 'a route moved to another set of as many endpoints, the one it left used by no other route: the endpoint count changes' },
  addSet: { full: 'assembled', balancing: 'assembled', why: 'a route moved to a new set of 4 endpoints: the endpoint count changes' },
  removeSet: { full: 'assembled', balancing: 'assembled', why: 'a set gone (its routes moved to another): the endpoint count changes' },
} as const satisfies Record<string, Change>;
type ChangeName = keyof typeof CHANGES;
/** The changes drawn (`switchSetLeavingIt` is what a `switchSet` turns out to be when it leaves its set unused). */
const NAMES = (Object.keys(CHANGES) as ChangeName[]).filter((name) => name !== 'switchSetLeavingIt');

/** A seeded PRNG (the LCG the other bundle properties use): integers below `n`. */
function lcg(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) % n;
}

/** A path of exactly `length` bytes (5 or more), unique for `serial` below 36^4 (base-36 digits, then '-'s). */
const pathOf = (length: number, serial: number): string => `/${serial.toString(36)}${'-'.repeat(40)}`.slice(0, length);

/** A path length in 8-byte pad `pad` (1: 5..8 bytes, 2: 9..16, ...), drawn with `random`. */
function lengthIn(pad: number, random: (n: number) => number): number {
  const least = Math.max(5, (pad - 1) * 8 + 1);
  return least + random(pad * 8 - least + 1);
}

/** A world of hosts (each route one backend on one set) and endpoint sets, changed one random step at a time; unchanged items stay the same objects, as compile keeps them. */
class World {
  hosts: SnapshotHost[] = [];
  sets: SnapshotEndpointSet[] = [];
  #serial = 0;
  readonly #random: (n: number) => number;

  constructor(random: (n: number) => number, hostCount: number) {
    this.#random = random;
    const setCount = Math.ceil(hostCount / 5);
    for (let s = 0; s < setCount; s++) this.sets.push(this.#set(setKey(s * 10), 1 + random(3)));
    for (let h = 0; h < hostCount; h++) {
      // One host in 100 big (over R = 192 routes: the overflow area), one in 10 with a header condition.
      const keys = Array.from({ length: h % 100 === 7 ? 200 + random(40) : 1 + random(3) }, (_, k) => (k === 0 ? this.sets[h % setCount]!.key : this.sets[random(setCount)]!.key));
      this.hosts.push(this.#host(hostName(h * 10), keys.map(() => pathOf(lengthIn(1 + random(2), random), this.#serial++)), keys, h % 10 === 3 ? `v${h}` : undefined));
    }
  }

  snapshot(previous?: Snapshot): Snapshot {
    return sealSnapshot(content(this.hosts, this.sets), previous);
  }

  #set(key: string, count: number): SnapshotEndpointSet {
    return { key, endpoints: Array.from({ length: count }, () => this.#endpoint()) };
  }

  #endpoint() {
    const n = this.#serial++;
    return { address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: 8080, terminating: false };
  }

  /** A host of `paths` (one route each, on the sets of `keys`); with `condition`, its first route asks for a header (a host with conditions). */
  #host(name: string, paths: readonly string[], keys: readonly string[], condition?: string): SnapshotHost {
    const routes = paths.map((path, r) => ({
      source: { kind: 'Ingress', namespace: 'default', name },
      field: `spec.rules[0].http.paths[${r}]`,
      pathType: 'Prefix' as const,
      path,
      backends: [{ namespace: 'default', service: keys[r]!.slice(2), port: 80, weight: 1, endpointSet: keys[r]! }],
      redirect: { sslRedirect: false, forceSslRedirect: path.length % 3 === 0 },
      ...(r === 0 && condition !== undefined ? { match: { headers: [{ name: 'x-env', value: condition, type: 'Exact' as const }] } } : {}),
    }));
    return { host: name, tls: false, certificate: null, routes, defaultRoute: null };
  }

  #pick<T>(list: readonly T[]): number {
    return this.#random(list.length);
  }

  /** The host at `h` with its routes' paths and set keys passed through `edit`. */
  #edited(h: number, edit: (paths: string[], keys: string[]) => void): void {
    const old = this.hosts[h]!;
    const paths = old.routes.map((route) => route.path!);
    const keys = old.routes.map((route) => route.backends[0]!.endpointSet!);
    edit(paths, keys);
    this.hosts = this.hosts.with(h, this.#host(old.host, paths, keys, old.routes[0]?.match?.headers?.[0]?.value));
  }

  /** The sets some route uses, in order (the build emits no others). */
  #used(): SnapshotEndpointSet[] {
    const used = new Set(this.hosts.flatMap((host) => host.routes.map((route) => route.backends[0]!.endpointSet!)));
    return this.sets.filter((set) => used.has(set.key));
  }

  #replaceSet(key: string, endpoints: SnapshotEndpointSet['endpoints']): void {
    this.sets = this.sets.map((set) => (set.key === key ? { key, endpoints } : set));
  }

  /** Makes change `name`; the change it turned out to be, or undefined when the world has nothing it applies to. */
  apply(name: ChangeName): ChangeName | undefined {
    const random = this.#random;
    const used = this.#used();
    switch (name) {
      case 'move': {
        const set = used[this.#pick(used)]!;
        this.#replaceSet(set.key, set.endpoints.with(random(set.endpoints.length), this.#endpoint()));
        break;
      }
      case 'renameInPad':
      case 'renameAcrossPad': {
        const h = this.#pick(this.hosts);
        this.#edited(h, (paths) => {
          const r = random(paths.length);
          const pad = Math.ceil(paths[r]!.length / 8);
          // Within: a length of the same 8-byte pad; across: of the pad above, or below when there is one.
          paths[r] = pathOf(lengthIn(name === 'renameInPad' ? pad : pad === 1 || random(2) === 0 ? pad + 1 : pad - 1, random), this.#serial++);
        });
        break;
      }
      case 'addHost':
      case 'addCondHost': {
        const added = hostName(10 * random(this.hosts.length * 2) + 5);
        if (this.hosts.some((host) => host.host === added)) return undefined;
        this.hosts = [...this.hosts, this.#host(added, [pathOf(lengthIn(1, random), this.#serial++)], [used[this.#pick(used)]!.key], name === 'addCondHost' ? `v${this.#serial++}` : undefined)].sort((a, b) => compareHosts(a.host, b.host));
        break;
      }
      case 'removeHost':
        if (this.hosts.length < 2) return undefined;
        this.hosts = this.hosts.toSpliced(this.#pick(this.hosts), 1);
        break;
      case 'removeCondHost': {
        const conditioned = this.hosts.flatMap((host, h) => (host.routes[0]?.match !== undefined ? [h] : []));
        if (conditioned.length === 0 || this.hosts.length < 2) return undefined;
        this.hosts = this.hosts.toSpliced(conditioned[this.#pick(conditioned)]!, 1);
        break;
      }
      case 'bigAddPath': {
        const big = this.hosts.flatMap((host, h) => (host.routes.length > 192 ? [h] : []));
        if (big.length === 0) return undefined;
        this.#edited(big[this.#pick(big)]!, (paths, keys) => {
          paths.push(pathOf(lengthIn(1 + random(2), random), this.#serial++));
          keys.push(used[this.#pick(used)]!.key);
        });
        break;
      }
      case 'addPath':
        this.#edited(this.#pick(this.hosts), (paths, keys) => {
          paths.push(pathOf(lengthIn(1 + random(2), random), this.#serial++));
          keys.push(used[this.#pick(used)]!.key);
        });
        break;
      case 'scaleUp':
      case 'scaleDown': {
        const candidates = used.filter((set) => (name === 'scaleUp' ? set.endpoints.length < 4 : set.endpoints.length > 1));
        if (candidates.length === 0) return undefined;
        const set = candidates[this.#pick(candidates)]!;
        this.#replaceSet(set.key, name === 'scaleUp' ? [...set.endpoints, this.#endpoint()] : set.endpoints.toSpliced(random(set.endpoints.length), 1));
        break;
      }
      case 'switchSet':
      case 'switchSetLeavingIt': {
        const h = this.#pick(this.hosts);
        const r = random(this.hosts[h]!.routes.length);
        const left = this.hosts[h]!.routes[r]!.backends[0]!.endpointSet!;
        const size = used.find((set) => set.key === left)!.endpoints.length;
        const others = used.filter((set) => set.key !== left && set.endpoints.length === size);
        if (others.length === 0) return undefined;
        const key = others[this.#pick(others)]!.key;
        this.#edited(h, (_paths, keys) => {
          keys[r] = key;
        });
        this.sets = this.#used();
        return this.sets.some((set) => set.key === left) ? 'switchSet' : 'switchSetLeavingIt';
      }
      case 'addSet': {
        const key = setKey(this.#serial++ * 10 + 5);
        this.sets = [...this.sets, this.#set(key, 4)].sort((a, b) => compareStrings(a.key, b.key));
        this.#edited(this.#pick(this.hosts), (_paths, keys) => {
          keys[random(keys.length)] = key;
        });
        break;
      }
      case 'removeSet': {
        if (used.length < 2) return undefined;
        const gone = used[this.#pick(used)]!.key;
        const other = used.find((set) => set.key !== gone)!.key;
        this.hosts.forEach((host, h) => {
          if (!host.routes.some((route) => route.backends[0]!.endpointSet === gone)) return;
          this.#edited(h, (_paths, keys) => {
            for (let k = 0; k < keys.length; k++) if (keys[k] === gone) keys[k] = other;
          });
        });
        break;
      }
    }
    // The build emits the sets some route uses, no others.
    this.sets = this.#used();
    return name;
  }
}

/** Which path each mode's compile took between two copies of `compiler.paths`. */
function pathTaken(before: BundleCompilePaths, after: BundleCompilePaths, mode: keyof BundleCompilePaths): Path | 'none' {
  const grown = (['endpointsInPlace', 'patched', 'assembled'] as const).filter((path) => after[mode][path] > before[mode][path]);
  return grown.length === 1 ? grown[0]! : 'none';
}

const copyPaths = (paths: BundleCompilePaths): BundleCompilePaths => ({ full: { ...paths.full }, balancing: { ...paths.balancing } });

describe('BundleCompiler on format 8: patched == fully assembled, the stated path per change, fresh == followed', () => {
  it.each([
    { seed: 3, hosts: 1000, steps: 90 },
    { seed: 2, hosts: 300, steps: 120 },
  ])('seed $seed: $hosts hosts, $steps random changes', ({ seed, hosts, steps }) => {
    const random = lcg(seed);
    const world = new World(random, hosts);
    const compiler = new BundleCompiler();
    let snapshot = world.snapshot();
    expectSame(compiler, snapshot, 'start');
    const seen = new Set<ChangeName>();
    const gridPaths: (Path | 'none')[] = [];
    const patchedNames = new Set<ChangeName>();
    for (let step = 1; step <= steps; step++) {
      const name = world.apply(NAMES[random(NAMES.length)]!);
      if (name === undefined) continue;
      seen.add(name);
      const last = snapshot;
      snapshot = world.snapshot(snapshot);
      const before = copyPaths(compiler.paths);
      const afresh = compiler.stats.numberedAfresh;
      const what = `step ${step}: ${name} (${CHANGES[name].why})`;
      expectSame(compiler, snapshot, what);
      // Endpoint ids are slots (history-independent): every change is numbered from the last numbering but one that changes the id capacity.
      expect(compiler.stats.numberedAfresh - afresh, `${what}: numbered afresh`).toBe(endpointCapacityOf(snapshot) === endpointCapacityOf(last) ? 0 : 1);
      const taken = { full: pathTaken(before, compiler.paths, 'full'), balancing: pathTaken(before, compiler.paths, 'balancing') };
      const row: Change = CHANGES[name];
      const full = row.fullMayAssemble === true && taken.full === 'assembled' ? 'assembled' : row.full;
      expect(taken, what).toEqual({ full, balancing: row.balancing });
      if (row.fullMayAssemble === true) gridPaths.push(taken.full);
      if (taken.full === 'patched') patchedNames.add(name);
      if (step % 15 === 0 || step === steps) {
        // History independence: a compiler that never saw versions 1..k-1 gives version k's very bundles.
        const fresh = new BundleCompiler();
        for (const balancingOnly of [false, true]) expectSameBundles(fresh.compile(snapshot, balancingOnly), compiler.compile(snapshot, balancingOnly), `fresh == followed at ${what}, balancing only: ${balancingOnly}`);
      }
    }
    // A run that made no change of some kind proves nothing about it.
    for (const name of NAMES) expect(seen, name).toContain(name);
    // The changes that re-pack a bucket patch, but for the rare one that moves the grid.
    expect(gridPaths.filter((path) => path === 'patched').length, gridPaths.join(' ')).toBeGreaterThanOrEqual(gridPaths.length * 0.75);
    // Hosts with conditions coming and going, and a big host's path added, patched at least once each.
    for (const name of ['addCondHost', 'removeCondHost', 'bigAddPath'] as const) expect(patchedNames, name).toContain(name);
  }, 60_000);
});
