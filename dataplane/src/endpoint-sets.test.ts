import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import { compileBundle } from '@portico/control/snapshot/bundle';
import type { Snapshot } from '@portico/control/snapshot';
import { describe, expect, it, vi } from 'vitest';
import { EndpointSets } from './health.ts';
import type { SetList } from './health.ts';
import { Router } from './router.ts';
import { isGap } from './endpoints.ts';
import { seededRandom as random, snapshotOf } from './test-support.ts';

const HOSTS = 6;
/** Few addresses: most endpoints are in several sets, so one set's panic holds another's endpoint up. */
const ADDRESSES = Array.from({ length: 14 }, (_, i) => `10.7.0.${i + 1}:8080`);
const HEALTH = { panicThresholdPercent: 50 };

type World = { path: string; endpoints: string[] }[][];

function snapshotOfWorld(world: World): Snapshot {
  return snapshotOf(world.map((paths, h) => ({ host: `h${h}.sets.test`, routes: paths.map((p) => ({ path: p.path, endpoints: p.endpoints })) })));
}

/** Every route's picks (a few each, so smooth WRR turns) and every endpoint's health. */
function observed(router: Router, world: World) {
  const picks: string[] = [];
  world.forEach((paths, h) => {
    for (const p of paths) {
      for (let i = 0; i < 5; i++) {
        const decision = router.route(`h${h}.sets.test`, p.path, 'GET', undefined, 'http');
        picks.push(decision.kind === 'proxy' ? decision.endpointKey : decision.kind);
      }
    }
  });
  return { picks, health: router.endpointHealth() };
}

function pickEndpoints(next: () => number): string[] {
  const count = 1 + Math.floor(next() * 4);
  const chosen = new Set<string>();
  while (chosen.size < count) chosen.add(ADDRESSES[Math.floor(next() * ADDRESSES.length)]!);
  return [...chosen].sort();
}

describe('endpoint sets across loads', () => {
  it('property: a router loading a sequence of bundles (sets added, removed, changed) picks and panics exactly like one loading each bundle fresh', () => {
    let patchedLoads = 0;
    for (const seed of [11, 12, 13, 14, 15]) {
      const next = random(seed);
      const compiler = new BundleCompiler();
      const router = new Router({ compiler, health: HEALTH });
      const world: World = Array.from({ length: HOSTS }, (_, h) => Array.from({ length: 1 + (h % 3) }, (_, p) => ({ path: `/p${p}`, endpoints: pickEndpoints(next) })));
      let paths = 100;
      const ejected = new Set<string>();
      const fail = (target: Router, key: string): void => {
        for (let i = 0; i < 3; i++) target.reportFailure(key);
      };
      const load = (step: number): void => {
        const snapshot = snapshotOfWorld(world);
        router.loadBundle(compiler.compile(snapshot, false), true);
        // Health records of endpoints the snapshot no longer has are dropped (Router prune).
        const present = new Set(router.current!.endpoints.toArray().map((endpoint) => endpoint.key));
        for (const key of ejected) if (!present.has(key)) ejected.delete(key);
        // The reference: a new router, a plain bundle (no array shared with anything), the same ejections.
        const fresh = new Router({ health: HEALTH });
        fresh.loadBundle(compileBundle(snapshot));
        for (const key of ejected) fail(fresh, key);
        if (router.current!.endpointSets.made === 'patched') patchedLoads++;
        expect(observed(router, world), `seed ${seed} step ${step}`).toEqual(observed(fresh, world));
        fresh.close();
      };
      load(-1);
      for (let step = 0; step < 60; step++) {
        const kind = next();
        const h = Math.floor(next() * HOSTS);
        const host = world[h]!;
        if (kind < 0.25) {
          // A path added: a set of its own (inserted among the others, by key).
          host.push({ path: `/p${paths++}`, endpoints: pickEndpoints(next) });
          load(step);
        } else if (kind < 0.45) {
          // A path removed (the sets after it in that host are keyed again).
          if (host.length > 1) host.splice(Math.floor(next() * host.length), 1);
          load(step);
        } else if (kind < 0.65) {
          // A set changed: other endpoints.
          const p = host[Math.floor(next() * host.length)]!;
          p.endpoints = pickEndpoints(next);
          load(step);
        } else if (kind < 0.75) {
          // A path edit that moves no set (same endpoints, other path).
          const p = host[Math.floor(next() * host.length)]!;
          p.path = `/p${paths++}`;
          load(step);
        } else {
          // Passive health ejects an endpoint (sometimes enough to put a set in panic).
          const keys = router.current!.endpoints.toArray().map((endpoint) => endpoint.key);
          const key = keys[Math.floor(next() * keys.length)]!;
          fail(router, key);
          ejected.add(key);
          const fresh = new Router({ health: HEALTH });
          fresh.loadBundle(compileBundle(snapshotOfWorld(world)));
          for (const k of ejected) fail(fresh, k);
          expect(router.endpointHealth(), `seed ${seed} step ${step} ejected ${key}`).toEqual(fresh.endpointHealth());
          fresh.close();
        }
      }
      router.close();
    }
    // The patch path ran (not every load was made whole).
    expect(patchedLoads).toBeGreaterThan(20);
  });

  it('after an ejection, loads whose set list came by IPC (no array shared) make no index until one is needed', () => {
    const made = vi.spyOn(EndpointSets, 'of');
    try {
      const router = new Router({ health: HEALTH });
      const world = (n: number): World => Array.from({ length: HOSTS }, (_, h) => [{ path: '/', endpoints: [ADDRESSES[(h + n) % ADDRESSES.length]!, ADDRESSES[(h + n + 1) % ADDRESSES.length]!] }]);
      // compileBundle makes a new list each time: as a worker receives it.
      router.loadBundle(compileBundle(snapshotOfWorld(world(0))));
      expect(made).toHaveBeenCalledTimes(0);
      for (let i = 0; i < 3; i++) router.reportFailure(ADDRESSES[0]!);
      expect(made).toHaveBeenCalledTimes(1);
      // The ejected endpoint goes (its record is dropped); the next loads eject nothing.
      for (let n = 7; n < 12; n++) router.loadBundle(compileBundle(snapshotOfWorld(world(n))));
      expect(router.health.ejectedKeys()).toEqual([]);
      expect(made).toHaveBeenCalledTimes(1);
      // The next ejection makes the current snapshot's, once, and health is what a fresh router gives.
      const key = router.current!.endpoints.toArray().find((endpoint) => !isGap(endpoint))!.key;
      for (let i = 0; i < 3; i++) router.reportFailure(key);
      expect(made).toHaveBeenCalledTimes(2);
      const fresh = new Router({ health: HEALTH });
      fresh.loadBundle(compileBundle(snapshotOfWorld(world(11))));
      for (let i = 0; i < 3; i++) fresh.reportFailure(key);
      expect(router.endpointHealth()).toEqual(fresh.endpointHealth());
      router.close();
      fresh.close();
    } finally {
      made.mockRestore();
    }
  });

  it('patching matches making whole: random lists sharing arrays, every apply the same', () => {
    for (const seed of [1, 2, 3, 4]) {
      const next = random(seed);
      const count = 40;
      const newSet = (): number[] => Array.from({ length: 1 + Math.floor(next() * 5) }, () => Math.floor(next() * count));
      let list: (readonly number[])[] = Array.from({ length: 30 }, newSet);
      let patched = EndpointSets.of(list, count);
      for (let step = 0; step < 80; step++) {
        const edit = next();
        const copy = [...list];
        const at = Math.floor(next() * (copy.length + 1));
        if (edit < 0.3) copy.splice(at, 0, newSet());
        else if (edit < 0.55 && copy.length > 1) copy.splice(Math.min(at, copy.length - 1), 1);
        else if (edit < 0.75 && copy.length > 0) copy[Math.min(at, copy.length - 1)] = newSet();
        else if (edit < 0.85 && copy.length > 0) copy.splice(at, 0, copy[Math.floor(next() * copy.length)]!); // the same array twice
        else if (edit < 0.9) copy.splice(0, copy.length, ...Array.from({ length: 30 }, newSet)); // nothing shared: made whole
        list = copy;
        const endpointCount = edit > 0.95 ? count - 1 + Math.floor(next() * 3) : count;
        patched = EndpointSets.after(patched, list, endpointCount) ?? EndpointSets.of(list, endpointCount);
        const whole = EndpointSets.of(list, endpointCount);
        const ejected = new Set(Array.from({ length: Math.floor(next() * 12) }, () => Math.floor(next() * count)));
        const flags = (sets: EndpointSets): [number, boolean][] => {
          const out: [number, boolean][] = [];
          sets.apply(
            Array.from({ length: endpointCount }, (_, id) => id),
            (id) => ejected.has(id),
            50,
            (id, healthy) => out.push([id, healthy]),
          );
          return out.sort((a, b) => a[0] - b[0]);
        };
        expect(flags(patched), `seed ${seed} step ${step}`).toEqual(flags(whole));
      }
    }
  });

  it('shares the index when the list is the same object, and makes none when no array is shared (a list that came by IPC)', () => {
    const list: SetList = Array.from({ length: 40 }, (_, i) => [i % 4, (i + 1) % 4]);
    const first = EndpointSets.of(list, 4);
    expect(EndpointSets.after(first, list, 4)).toBe(first);
    expect(EndpointSets.after(first, structuredClone(list), 4)).toBeUndefined();
    expect(EndpointSets.after(first, [...list.slice(0, 20), [3, 0], ...list.slice(21)], 4)?.made).toBe('patched');
  });

  it('hostile: ids outside the endpoint count (negative, past the end, not integers) are skipped alike when patched and made whole', () => {
    const before = EndpointSets.of([[0, 1]], 2);
    const list: SetList = [[0, 1], [1, 9, -1, 0.5]];
    const patched = EndpointSets.after(before, list, 2)!;
    expect(patched.made).toBe('patched');
    const flags = (sets: EndpointSets): [number, boolean][] => {
      const out: [number, boolean][] = [];
      sets.apply([0, 1], (id) => id === 1, 50, (id, healthy) => out.push([id, healthy]));
      return out;
    };
    expect(flags(patched)).toEqual(flags(EndpointSets.of(list, 2)));
  });
});
