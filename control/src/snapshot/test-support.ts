/**
 * Test support (no shipped code path imports it): small snapshots of named hosts and endpoint
 * sets, and random edits of their sorted lists, for the sealing, walk and delta properties; the
 * bundle compiler held to the reference compile (`expectSame`).
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { compileBundle } from './bundle.ts';
import type { TableBundle } from './bundle.ts';
import type { BundleCompiler } from './bundle-compile.ts';
import { endpointCapacity } from './endpoint-slots.ts';
import { endpointSlotKey } from './table.ts';
import type { Snapshot, SnapshotContent, SnapshotEndpointSet, SnapshotHost } from './schema.ts';
import { SNAPSHOT_API_VERSION } from './schema.ts';

/**
 * Asserts that `compiler` gives `snapshot` the bundle the one-pass reference compile gives
 * (compileBundle: the same table bytes, digest and every other part), full and balancing-only.
 */
export function expectSame(compiler: BundleCompiler, snapshot: Snapshot, message?: string): void {
  for (const balancingOnly of [false, true]) expectSameBundles(compiler.compile(snapshot, balancingOnly), compileBundle(snapshot, balancingOnly), message === undefined ? undefined : `${message} (balancing only: ${balancingOnly})`);
}

/** Asserts that two bundles are equal in every part, tables compared as bytes. */
export function expectSameBundles(a: TableBundle, b: TableBundle, message?: string): void {
  expect({ ...a, table: Buffer.from(a.table).toString('base64') }, message).toEqual({ ...b, table: Buffer.from(b.table).toString('base64') });
}

/** A seeded generator of numbers in [0, 1) (a 32-bit LCG): a failing random test replays. */
export function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** The endpoint id capacity of a snapshot (endpointCapacity of its distinct endpoint keys): a numbering is made afresh when, and only when, it changes. */
export function endpointCapacityOf(snapshot: Snapshot): number {
  return endpointCapacity(new Set(snapshot.endpointSets.flatMap((set) => set.endpoints.map(endpointSlotKey))).size);
}

/** A host with one Prefix route at `path` and no backends. */
export const host = (name: string, path = '/'): SnapshotHost => ({ host: name, tls: false, certificate: null, routes: [{ source: { kind: 'Ingress', namespace: 'default', name }, field: 'spec', pathType: 'Prefix', path, backends: [], redirect: { sslRedirect: false, forceSslRedirect: false } }], defaultRoute: null });
/** An endpoint set of one endpoint, 10.0.0.1 at `port`. */
export const set = (key: string, port = 80): SnapshotEndpointSet => ({ key, endpoints: [{ address: '10.0.0.1', port, terminating: false }] });
/** Snapshot content of these hosts and endpoint sets, nothing else. */
export const content = (hosts: SnapshotHost[], endpointSets: SnapshotEndpointSet[]): SnapshotContent => ({ apiVersion: SNAPSHOT_API_VERSION, kind: 'Snapshot', hosts, defaultRoute: null, endpointSets, certificates: [] });
/** Host name `n`, zero-padded: names sort as their numbers. */
export const hostName = (n: number): string => `h${String(n).padStart(7, '0')}.test`;
/** Endpoint set key `n`, zero-padded: keys sort as their numbers. */
export const setKey = (n: number): string => `s/${String(n).padStart(7, '0')}`;

/** An edit of a sorted list: replace the content of `count` items from `at`, remove them, or add `count` new names (random, `seed`). */
export type Edit = { readonly kind: 'replace' | 'add' | 'remove'; readonly at: number; readonly count: number; readonly seed: number };
/** Edits of 1 to `maxCount` items. */
export const editArbitrary = (maxCount: number): fc.Arbitrary<Edit> => fc.record({ kind: fc.constantFrom('replace', 'add', 'remove'), at: fc.nat(), count: fc.integer({ min: 1, max: maxCount }), seed: fc.nat() });

/** The hosts and endpoint sets of a snapshot of `size` hosts (and half as many sets), before any edit. */
export function initialLists(size: number): { hosts: SnapshotHost[]; sets: SnapshotEndpointSet[] } {
  return { hosts: Array.from({ length: size }, (_, i) => host(hostName(i * 1000))), sets: Array.from({ length: Math.floor(size / 2) }, (_, i) => set(setKey(i * 1000))) };
}

/** The lists after `edit` of the hosts (`onHosts`) or the endpoint sets; `serial` makes replaced content new. The lists given are not changed. */
export function applyEdit(lists: { hosts: SnapshotHost[]; sets: SnapshotEndpointSet[] }, edit: Edit, onHosts: boolean, serial: number): { hosts: SnapshotHost[]; sets: SnapshotEndpointSet[] } {
  const list: (SnapshotHost | SnapshotEndpointSet)[] = onHosts ? [...lists.hosts] : [...lists.sets];
  const name = (item: SnapshotHost | SnapshotEndpointSet): string => ('host' in item ? item.host : item.key);
  const at = list.length === 0 ? 0 : edit.at % list.length;
  const count = Math.min(edit.count, list.length - at);
  if (edit.kind === 'replace') for (let i = at; i < at + count; i++) list[i] = onHosts ? host(name(list[i]!), `/v${serial}`) : set(name(list[i]!), 1000 + serial);
  else if (edit.kind === 'remove') list.splice(at, count);
  else {
    const taken = new Set(list.map(name));
    for (let k = 0; k < edit.count; k++) {
      const key = onHosts ? hostName((edit.seed * 7919 + k * 104729) % 9_999_999) : setKey((edit.seed * 7919 + k * 104729) % 9_999_999);
      if (taken.has(key)) continue;
      taken.add(key);
      list.push(onHosts ? host(key) : set(key));
    }
    // Plain names (no wildcard) and keys: both lists are in code-unit order.
    list.sort((x, y) => (name(x) < name(y) ? -1 : name(x) > name(y) ? 1 : 0));
  }
  return onHosts ? { hosts: list as SnapshotHost[], sets: lists.sets } : { hosts: lists.hosts, sets: list as SnapshotEndpointSet[] };
}
