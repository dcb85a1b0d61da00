import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import { CATCH_ALL, buildModel, claimsByPartition, settleHost } from './index.ts';
import { IncrementalBuild } from './incremental.ts';
import { readAnnotations } from './annotations.ts';
import { NO_HOST_ANNOTATIONS } from './host-aliases.ts';
import { pathField } from './ingress.ts';
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

  it('the incremental build of the golden inputs equals the full build after every object is removed and added back one at a time, and after all are removed and added back', () => {
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
    // Hosts and Services with several claimants and readers down to one and none, then back (the indexes keep a lone member as a string).
    for (const object of objects) {
      state.remove(object);
      expect(json(incremental.build().model)).toBe(json(buildModel(state, DEFAULT_CLASS_SELECTION).model));
    }
    for (const object of [...objects].reverse()) {
      state.upsert(object);
      expect(json(incremental.build().model)).toBe(json(buildModel(state, DEFAULT_CLASS_SELECTION).model));
    }
  });

  it('path fields read as before (one string per place, shared); Ingresses asking no host annotations share one frozen answer', () => {
    const { model } = buildModel(ClusterState.from(objects), DEFAULT_CLASS_SELECTION);
    const routes = model.virtualHosts.flatMap((host) => host.routes).filter((route) => route.source.kind === 'Ingress');
    // String identity is not observable in JavaScript (the sharing shows in heap figures): the text must be what it was.
    expect(routes.length).toBeGreaterThan(5);
    for (const route of routes) {
      const [, rule, path] = /^spec\.rules\[(\d+)\]\.http\.paths\[(\d+)\]$/.exec(route.field)!;
      expect(pathField(Number(rule), Number(path))).toBe(route.field);
    }
    // Far places are built as they come, with the same text.
    expect(pathField(70, 2)).toBe('spec.rules[70].http.paths[2]');
    expect(pathField(3, 64)).toBe('spec.rules[3].http.paths[64]');
    const none = readAnnotations({}, { kind: 'Ingress', namespace: 'a', name: 'b' }, []).hosts;
    expect(none).toBe(NO_HOST_ANNOTATIONS);
    expect(Object.isFrozen(none) && Object.isFrozen(none.serverAliases)).toBe(true);
    const asked = readAnnotations({ 'nginx.ingress.kubernetes.io/server-alias': 'b.example' }, { kind: 'Ingress', namespace: 'a', name: 'b' }, []).hosts;
    expect(asked).toEqual({ serverAliases: ['b.example'], fromToWww: false });
    expect(readAnnotations({ 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' }, { kind: 'Ingress', namespace: 'a', name: 'b' }, []).hosts).toEqual({ serverAliases: [], fromToWww: true });
  });

  it('a settled host without conditions keeps the shared frozen empty list', () => {
    const none = claimsByPartition({ routes: [], defaults: [], tls: [] });
    expect(none.size).toBe(0);
    const empty = { routes: [], gatewayRoutes: [], defaults: [], tls: [], anyHostCertificates: [] };
    const outcome = settleHost(CATCH_ALL, empty, new Map());
    expect(outcome.conditions).toEqual([]);
    expect(Object.isFrozen(outcome.conditions)).toBe(true);
    expect(settleHost('x.example', empty, new Map()).conditions).toBe(outcome.conditions);
  });

  it('paths of one Ingress naming the same Service port share one backend list; other ports and Services get their own', () => {
    const manifest = `
apiVersion: v1
kind: Service
metadata: { name: web, namespace: a }
spec: { ports: [{ name: http, port: 80 }, { name: alt, port: 81 }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: app, namespace: a, creationTimestamp: '2026-01-01T00:00:00Z' }
spec:
  rules:
    - host: a.example
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
          - { path: /x, pathType: Exact, backend: { service: { name: web, port: { number: 80 } } } }
          - { path: /y, pathType: Prefix, backend: { service: { name: web, port: { number: 81 } } } }
          - { path: /z, pathType: Prefix, backend: { service: { name: other, port: { number: 80 } } } }
    - host: b.example
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
`;
    const state = ClusterState.from(parseManifestText(manifest, 'm.yaml').objects);
    const selection = { ...DEFAULT_CLASS_SELECTION, watchWithoutClass: true };
    const { model } = buildModel(state, selection);
    const route = (host: string, path: string) => model.virtualHosts.find((h) => h.host === host)!.routes.find((r) => r.path === path)!;
    expect(route('a.example', '/x').backends).toBe(route('a.example', '/').backends);
    expect(route('b.example', '/').backends).toBe(route('a.example', '/').backends);
    expect(route('a.example', '/y').backends).not.toBe(route('a.example', '/').backends);
    expect(route('a.example', '/y').backends[0]!.port).toBe(81);
    expect(route('a.example', '/z').backends[0]!.service).toBe('other');
    expect(route('a.example', '/z').backends[0]!.endpointSet).toBeUndefined();
    const incremental = new IncrementalBuild(state, selection);
    expect(JSON.stringify(incremental.build().model)).toBe(JSON.stringify(model));
  });
});
