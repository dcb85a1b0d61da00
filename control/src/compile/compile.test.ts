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
import { keptRunsOf } from '../model/list-edits.ts';
import type { RoutingModel } from '../model/types.ts';
import { keptRuns, runEnds, sharedEnds } from '../snapshot/sealed-against.ts';
import { lcg } from '../snapshot/test-support.ts';

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

describe('compileSnapshot against the previous version', () => {
  const ingress = (i: number, path = '/api', service = `svc-${i % 7}`): KubeObject =>
    ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: `app-${i}`, namespace: 'team', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { rules: [{ host: `app-${i}.example.com`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }] },
    }) as KubeObject;
  const svc = (name: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'team' }, spec: { ports: [{ name: 'http', port: 80 }] } }) as KubeObject;
  const slice = (name: string, address: string): KubeObject =>
    ({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'team', labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', endpoints: [{ addresses: [address], conditions: { ready: true } }], ports: [{ name: 'http', port: 8080 }] }) as KubeObject;
  const selection = { ...DEFAULT_CLASS_SELECTION, watchWithoutClass: true };

  // Edits at the ends and in the middle of the lists, hosts and sets added and removed (shifting the rest), runs of them, and no-ops.
  const steps: readonly { readonly what: string; readonly apply: (state: ClusterState) => void }[] = [
    { what: 'a path of a host in the middle', apply: (s) => s.upsert(ingress(150, '/v2')) },
    { what: 'the first host', apply: (s) => s.upsert(ingress(0, '/first')) },
    { what: 'the last host', apply: (s) => s.upsert(ingress(299, '/last')) },
    { what: 'a host added in the middle', apply: (s) => s.upsert(ingress(1500)) },
    { what: 'a host removed near the start', apply: (s) => s.remove(ingress(10)) },
    { what: 'fifty hosts added, two edited far apart', apply: (s) => [...Array.from({ length: 50 }, (_, k) => ingress(2000 + k)), ingress(5, '/x'), ingress(290, '/y')].forEach((o) => s.upsert(o)) },
    { what: 'an endpoint set added (a new Service)', apply: (s) => [svc('svc-new'), slice('svc-new', '10.0.9.9'), ingress(77, '/api', 'svc-new')].forEach((o) => s.upsert(o)) },
    { what: 'endpoints of one set', apply: (s) => s.upsert(slice('svc-3', '10.0.3.99')) },
    { what: 'nothing served (an IngressClass no Ingress names)', apply: (s) => s.upsert({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'unused' }, spec: { controller: 'example.com/other' } } as KubeObject) },
    { what: 'every host removed', apply: (s) => [...s.ingresses.values()].forEach((o) => s.remove(o)) },
  ];

  it('equals a fresh compile byte for byte at every step, shares every unchanged item, and is the previous snapshot when nothing served changed', () => {
    const state = new ClusterState();
    for (let k = 0; k < 7; k++) [svc(`svc-${k}`), slice(`svc-${k}`, `10.0.${k}.1`)].forEach((o) => state.upsert(o));
    for (let i = 0; i < 300; i++) state.upsert(ingress(i));
    const build = new IncrementalBuild(state, selection);
    let previous = compileSnapshot(build.build().model);
    for (const step of steps) {
      step.apply(state);
      const next = compileSnapshot(build.build().model, previous);
      const fresh = compileSnapshot(buildModel(ClusterState.from(state.objects()), selection).model);
      expect(JSON.stringify(next), step.what).toBe(JSON.stringify(fresh));
      expect(next.version, step.what).toBe(fresh.version);
      for (const name of ['hosts', 'endpointSets', 'certificates'] as const) {
        const old = new Set<object>(previous[name]);
        const shared = (next[name] as readonly object[]).filter((item) => old.has(item)).length;
        const texts = new Set((previous[name] as readonly object[]).map((item) => JSON.stringify(item)));
        const unchanged = (next[name] as readonly object[]).filter((item) => texts.has(JSON.stringify(item))).length;
        expect(shared, `${step.what}: ${name} shared`).toBe(unchanged);
      }
      if (step.what.startsWith('nothing served')) expect(next).toBe(previous);
      else expect(next).not.toBe(previous);
      previous = next;
    }
  });

  it('is the previous snapshot when the build made items again equal (a re-derived Ingress, a full build; empty lists included), and an edit after it compiles as a fresh compile does', () => {
    const state = new ClusterState();
    for (let k = 0; k < 3; k++) [svc(`svc-${k}`), slice(`svc-${k}`, `10.0.${k}.1`)].forEach((o) => state.upsert(o));
    for (let i = 0; i < 20; i++) state.upsert(ingress(i));
    const build = new IncrementalBuild(state, selection);
    const first = build.build().model;
    const previous = compileSnapshot(first);
    // A label changes nothing served: the Ingress is derived again into an equal host.
    const labelled = ingress(7) as KubeObject & { metadata: { labels?: Record<string, string> } };
    state.upsert({ ...labelled, metadata: { ...labelled.metadata, labels: { tier: 'web' } } } as KubeObject);
    const relabelled = build.build().model;
    const app7 = (model: RoutingModel) => model.virtualHosts.find((host) => host.host === 'app-7.example.com');
    expect(app7(relabelled)).toBeDefined();
    expect(app7(relabelled)).not.toBe(app7(first));
    expect(compileSnapshot(relabelled, previous)).toBe(previous);
    // A full build: every list new, certificates an empty one.
    const full = buildModel(state, selection).model;
    expect(full.certificates).toEqual([]);
    expect(compileSnapshot(full, previous)).toBe(previous);
    // The next edit compiles as a fresh compile does.
    state.upsert(ingress(12, '/v2'));
    const next = compileSnapshot(build.build().model, previous);
    expect(JSON.stringify(next)).toBe(JSON.stringify(compileSnapshot(buildModel(ClusterState.from(state.objects()), selection).model)));
    expect(next.hosts.filter((host, i) => host === previous.hosts[i])).toHaveLength(19);
  });

  it('follows the build\'s record of where the hosts list changed: random runs of hosts edited, added and removed compile as a fresh compile does', () => {
    const random = lcg(4242);
    const state = new ClusterState();
    for (let k = 0; k < 7; k++) [svc(`svc-${k}`), slice(`svc-${k}`, `10.0.${k}.1`)].forEach((o) => state.upsert(o));
    for (let i = 0; i < 120; i++) state.upsert(ingress(i * 2));
    const build = new IncrementalBuild(state, selection);
    let previous = compileSnapshot(build.build().model);
    let middleRuns = 0;
    for (let step = 0; step < 40; step++) {
      const edits = Math.floor(random() * 4);
      for (let e = 0; e < edits; e++) {
        const i = Math.floor(random() * 260);
        const what = random();
        if (what < 0.4) state.upsert(ingress(i, `/p${step}-${e}`));
        else if (what < 0.7) state.upsert(ingress(i));
        else state.remove(ingress(i));
      }
      // A build now and then skipped by compile: the list it hands next was not made right after the compiled one.
      if (random() < 0.15) build.build();
      const next = compileSnapshot(build.build().model, previous);
      const fresh = compileSnapshot(buildModel(ClusterState.from(state.objects()), selection).model);
      expect(JSON.stringify(next), `step ${step}`).toBe(JSON.stringify(fresh));
      const old = new Set<object>(previous.hosts);
      const texts = new Set(previous.hosts.map((item) => JSON.stringify(item)));
      expect(next.hosts.filter((item) => old.has(item)).length, `step ${step}: hosts shared`).toBe(next.hosts.filter((item) => texts.has(JSON.stringify(item))).length);
      // Every stretch compile says it took over (and sealing took as it was) is, item for item, the previous version's.
      if (next.hosts !== previous.hosts) {
        const runs = keptRuns(next.hosts, previous.hosts);
        for (let k = 0; k < runs.length; k += 3) for (let i = runs[k]!; i < runs[k + 1]!; i++) expect(next.hosts[i], `step ${step} host ${i}`).toBe(previous.hosts[i + runs[k + 2]!]);
        if (runs.length > 6) middleRuns++;
      }
      previous = next;
    }
    // Steps with changes far apart: stretches between them were taken over, not only the ends.
    expect(middleRuns).toBeGreaterThan(5);
  });
  it('follows the build\'s record of where the endpoint sets and certificates changed: random runs of sets and certificates coming, going and changing compile as a fresh compile does', () => {
    const random = lcg(99);
    const secret = (objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'dashboard-tls')!) as KubeObject;
    const certificate = (k: number): KubeObject => ({ ...secret, metadata: { name: `cert-${k}`, namespace: 'team' } }) as KubeObject;
    // Ingress i on one of 30 Services (a set comes when the first Ingress names it and goes with the last), with TLS from one of 6 Secrets or none.
    const routed = (i: number, service: number, tls: number | undefined): KubeObject => {
      const base = ingress(i, '/api', `svc-${service}`) as KubeObject & { spec: Record<string, unknown> };
      return { ...base, spec: { ...base.spec, ...(tls === undefined ? {} : { tls: [{ hosts: [`app-${i}.example.com`], secretName: `cert-${tls}` }] }) } } as KubeObject;
    };
    const state = new ClusterState();
    for (let k = 0; k < 30; k++) [svc(`svc-${k}`), slice(`svc-${k}`, `10.0.${k}.1`)].forEach((o) => state.upsert(o));
    for (let k = 0; k < 6; k++) state.upsert(certificate(k));
    for (let i = 0; i < 40; i++) state.upsert(routed(i, i % 10, i % 3 === 0 ? i % 6 : undefined));
    const build = new IncrementalBuild(state, selection);
    let model: RoutingModel = build.build().model;
    let previous = compileSnapshot(model);
    let recorded = 0;
    for (let step = 0; step < 60; step++) {
      const edits = 1 + Math.floor(random() * 3);
      for (let e = 0; e < edits; e++) {
        const i = Math.floor(random() * 60);
        const what = random();
        if (what < 0.5) state.upsert(routed(i, Math.floor(random() * 30), random() < 0.5 ? Math.floor(random() * 6) : undefined));
        else if (what < 0.7) state.remove(routed(i, 0, undefined));
        else state.upsert(slice(`svc-${Math.floor(random() * 30)}`, `10.1.${step}.${e}`));
      }
      const skipped = random() < 0.1;
      // A build now and then skipped by compile: the lists it hands next were not made right after the compiled ones.
      if (skipped) build.build();
      const nextModel = build.build().model;
      const next = compileSnapshot(nextModel, previous);
      const fresh = compileSnapshot(buildModel(ClusterState.from(state.objects()), selection).model);
      expect(JSON.stringify(next), `step ${step}`).toBe(JSON.stringify(fresh));
      expect(next.version, `step ${step}`).toBe(fresh.version);
      for (const [name, modelName] of [['endpointSets', 'endpointSets'], ['certificates', 'certificates']] as const) {
        const where = `step ${step} ${name}`;
        // The build says which ends it kept of the list it handed out before (unless a build came between), and only ends that are its items.
        const runs = keptRunsOf(nextModel[modelName], model[modelName]);
        const kept = runs === undefined ? undefined : runEnds(runs, nextModel[modelName].length, model[modelName].length);
        if (!skipped && nextModel[modelName] !== model[modelName]) {
          expect(kept, where).toBeDefined();
          recorded++;
        }
        if (kept !== undefined) {
          for (let k = 0; k < kept.head; k++) expect(nextModel[modelName][k], where).toBe(model[modelName][k]);
          for (let k = 1; k <= kept.tail; k++) expect(nextModel[modelName].at(-k), where).toBe(model[modelName].at(-k));
        }
        // What sealing recorded of the compiled lists claims only items that are the previous version's.
        const ends = sharedEnds(next[name], previous[name]);
        if (ends !== undefined) {
          for (let k = 0; k < ends.head; k++) expect(next[name][k], where).toBe(previous[name][k]);
          for (let k = 1; k <= ends.tail; k++) expect(next[name].at(-k), where).toBe(previous[name].at(-k));
        }
        const old = new Set<object>(previous[name]);
        const texts = new Set((previous[name] as readonly object[]).map((item) => JSON.stringify(item)));
        expect((next[name] as readonly object[]).filter((item) => old.has(item)).length, `${where} shared`).toBe((next[name] as readonly object[]).filter((item) => texts.has(JSON.stringify(item))).length);
      }
      model = nextModel;
      previous = next;
    }
    // The walk changed both lists many times while compile followed the build.
    expect(recorded).toBeGreaterThan(40);
    expect(previous.certificates.length).toBeGreaterThan(0);
  });
});
