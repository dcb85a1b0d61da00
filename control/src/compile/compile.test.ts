import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../build/index.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { IncrementalBuild } from '../build/incremental.ts';
import { parseSnapshot, sealSnapshot } from '../snapshot/schema.ts';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { compileSnapshot } from './index.ts';

const text = ['hosts-and-defaults', 'conflicts', 'tls-and-redirects', 'endpoints']
  .map((name) => readFileSync(new URL(`../build/testdata/${name}/in.yaml`, import.meta.url), 'utf8'))
  .join('\n---\n');
const objects = parseManifestText(text, 'all.yaml').objects;

function compile(list: readonly KubeObject[]): string {
  return JSON.stringify(compileSnapshot(buildModel(ClusterState.from(list), DEFAULT_CLASS_SELECTION).model));
}

function shuffled<T>(list: readonly T[], seed: number): T[] {
  const out = [...list];
  let state = seed;
  for (let i = out.length - 1; i > 0; i--) {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('compileSnapshot', () => {
  it('is byte-identical whatever order the objects arrive in', () => {
    const reference = compile(objects);
    for (let seed = 1; seed <= 20; seed++) expect(compile(shuffled(objects, seed))).toBe(reference);
  });

  it('versions by content: any routing change changes the version, a no-op does not', () => {
    const before = compileSnapshot(buildModel(ClusterState.from(objects), DEFAULT_CLASS_SELECTION).model);
    const state = ClusterState.from(objects);
    const again = compileSnapshot(buildModel(state, DEFAULT_CLASS_SELECTION).model);
    expect(again.version).toBe(before.version);
    const slice = [...state.endpointSlices.values()][0]!;
    state.upsert({ ...slice, endpoints: [...(slice.endpoints ?? []), { addresses: ['10.9.9.9'] }] });
    expect(compileSnapshot(buildModel(state, DEFAULT_CLASS_SELECTION).model).version).not.toBe(before.version);
  });

  it('produces snapshots that parseSnapshot accepts, and rejects tampered ones by code', () => {
    const snapshot = compileSnapshot(buildModel(ClusterState.from(objects), DEFAULT_CLASS_SELECTION).model);
    expect(parseSnapshot(JSON.parse(JSON.stringify(snapshot))).version).toBe(snapshot.version);
    const tampered = JSON.parse(JSON.stringify(snapshot));
    tampered.hosts[0].routes[0].path = '/elsewhere';
    expect(() => parseSnapshot(tampered)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_INVALID' }));
    expect(() => parseSnapshot({ ...snapshot, hosts: 'nope' })).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_INVALID' }));
  });

  it('an endpoint change hands compile the same hosts list, and the version sealed from it is the one a fresh seal gives', () => {
    const state = ClusterState.from(objects);
    const build = new IncrementalBuild(state, DEFAULT_CLASS_SELECTION);
    const first = compileSnapshot(build.build().model);
    const slice = [...state.endpointSlices.values()][0]!;
    state.upsert({ ...slice, endpoints: [...(slice.endpoints ?? []), { addresses: ['10.9.9.9'] }] });
    const built = build.build();
    expect(built.endpointOnly).toBe(true);
    const next = compileSnapshot(built.model, first);
    // The very hosts list: sealing takes its blocks as they are (snapshot/hash.ts) instead of walking every host.
    expect(next.hosts).toBe(first.hosts);
    expect(next.version).not.toBe(first.version);
    expect(next.version).toBe(sealSnapshot(JSON.parse(JSON.stringify(next))).version);
    expect(parseSnapshot(JSON.parse(JSON.stringify(next))).version).toBe(next.version);
    // The lists that changed are still checked: a set out of order is refused.
    const swapped = { ...next, endpointSets: [...next.endpointSets].reverse() };
    expect(next.endpointSets.length).toBeGreaterThan(1);
    expect(() => sealSnapshot(swapped)).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_INVALID', message: expect.stringMatching(/endpointSets\[1\].*out of order/) }));
  });
});
