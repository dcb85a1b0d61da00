import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import { buildModel, claimsByPartition } from './index.ts';
import { IncrementalBuild } from './incremental.ts';
import { DEFAULT_CLASS_SELECTION } from './ingress-class.ts';

const text = ['hosts-and-defaults', 'conflicts', 'tls-and-redirects', 'endpoints']
  .map((name) => readFileSync(new URL(`./testdata/${name}/in.yaml`, import.meta.url), 'utf8'))
  .join('\n---\n');
const objects = parseManifestText(text, 'all.yaml').objects;

describe('claim lists kept per derivation (control heap at scale)', () => {
  it('claimsByPartition hands out one shared frozen empty list and read-only copies of the rest', () => {
    const claim = (host: string, path: string) => ({ host, source: { kind: 'Ingress', namespace: 'a', name: 'b' }, field: 'f', pathType: 'Prefix' as const, path, backends: [], annotations: {} as never, order: { created: '', namespace: 'a', name: 'b', position: 0 } });
    const routes = [claim('x.example', '/a'), claim('x.example', '/b'), claim('y.example', '/c')];
    const byHost = claimsByPartition({ routes, defaults: [], tls: [] });
    expect([...byHost.keys()]).toEqual(['x.example', 'y.example']);
    const x = byHost.get('x.example')!;
    const y = byHost.get('y.example')!;
    expect(x.routes).toEqual(routes.slice(0, 2));
    expect(y.routes).toEqual([routes[2]]);
    const empties = [x.gatewayRoutes, x.defaults, x.tls, x.anyHostCertificates, y.defaults, y.tls];
    for (const list of empties) {
      expect(list).toBe(x.defaults);
      expect(Object.isFrozen(list)).toBe(true);
    }
    for (const list of [x.routes, y.routes]) expect(Object.isFrozen(list)).toBe(false);
  });

  it('the incremental build of the golden inputs equals the full build after every object is removed and added back one at a time', () => {
    const state = ClusterState.from(objects);
    const incremental = new IncrementalBuild(state, DEFAULT_CLASS_SELECTION);
    const json = (model: unknown) => JSON.stringify(model);
    expect(json(incremental.build().model)).toBe(json(buildModel(state, DEFAULT_CLASS_SELECTION).model));
    for (const object of objects) {
      state.remove(object);
      expect(json(incremental.build().model)).toBe(json(buildModel(state, DEFAULT_CLASS_SELECTION).model));
      state.upsert(object);
      expect(json(incremental.build().model)).toBe(json(buildModel(state, DEFAULT_CLASS_SELECTION).model));
    }
  });
});
