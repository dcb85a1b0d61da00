// What the probe-slots and hash-slots tests share: host names whose key hashes crowd on a few
// home slots, the last slot of a table among them (the host hash tables then have long probe
// clusters that wrap past the end; the golden table of hash-slots.test.ts is made of them), a
// seeded PRNG (the patch and area property tests draw from it too), and reading and comparing layouts.
import { expect } from 'vitest';
import type { HostEntry, MatcherTable } from '../src/host/table.ts';
import { HOST_SEED, murmur, utf8 } from '../src/host/layout.ts';
import type { ProbeSlots } from '../src/host/probe-slots.ts';

/** A seeded PRNG (an LCG): integers below `n`, from its high bits (its low bits repeat every few draws). */
export function lcg(seed: number): (n: number) => number {
  let state = seed >>> 0;
  return (n) => Math.floor(((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32) * n);
}

/** The key at each slot of `slots`, undefined for an empty one. */
export const layoutOf = <K>(slots: ProbeSlots<K>): (K | undefined)[] => Array.from({ length: slots.capacity }, (_, s) => slots.at(s));

/** expect(actual).toEqual(expected), with toEqual's slow deep walk only for the message of a failure. */
export function expectSame<T>(actual: readonly T[], expected: readonly T[], message?: string): void {
  if (actual.length !== expected.length || actual.some((value, i) => value !== expected[i])) expect(actual, message).toEqual(expected);
}

/** A host lookup key's hash (ChunkHost.hash): murmur of its bytes with HOST_SEED. */
export const hostHash = (key: string): number => murmur(utf8(key), HOST_SEED);

/**
 * `count` host names `h<i>.<zone>`, every other one with its hash's low eight bits all ones: those
 * share the homes ending in 0xff of any table, the last slot of a table of up to 256 slots among them.
 */
export function crowdedHosts(count: number, zone = 'crowd.example'): string[] {
  const names: string[] = [];
  for (let i = 0; names.length < count; i++) {
    const name = `h${i}.${zone}`;
    if ((hostHash(name) & 0xff) === 0xff || names.length % 2 === 1) names.push(name);
  }
  return names;
}

/**
 * A table of `count` exact hosts and, over the same crowded names, wildcards of each kind ('one',
 * 'many': both wildcard tables, 'deeper') and the any-host, sorted by name; one route for all.
 */
export function crowdedTable(count: number): MatcherTable {
  const labels = ['one', 'many', 'deeper'] as const;
  const names = crowdedHosts(count);
  const hosts: HostEntry[] = names.map((host) => ({ host, paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }));
  // The wildcard keys are the crowded names themselves (the key of `*.x` is `x`), so they crowd the same homes.
  names.forEach((name, i) => {
    if (i % 3 === 0) hosts.push({ host: `*.${name}`, labels: labels[(i / 3) % 3]!, paths: [], fallback: 0 });
  });
  hosts.push({ host: '*', paths: [], fallback: 0 });
  hosts.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { hosts, routes: [{ backends: [{ weight: 1, set: 0 }] }], sets: [[0]], endpointCount: 1, fallback: -1 };
}
