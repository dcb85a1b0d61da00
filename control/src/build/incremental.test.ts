/**
 * The incremental build: what a change re-derives and re-settles, and that every build equals
 * the full build of the same state byte for byte.
 */
import { describe, expect, it } from 'vitest';
import { STANDALONE_SELECTION, selfSignedTlsSecret } from '../api/test-support.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { buildModel } from './index.ts';
import { IncrementalBuild } from './incremental.ts';

const service = (name: string, port = 80): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port }] } }) as KubeObject;
const slice = (name: string, address: string): KubeObject =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: [{ addresses: [address], conditions: { ready: true } }],
    ports: [{ name: 'http', port: 8080 }],
  }) as KubeObject;
const ingress = (i: number, path = '/', backend = `svc-${i % 2}`): KubeObject =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `app-${i}`, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      tls: [{ hosts: [`app-${i}.example.com`], secretName: 'tls' }],
      rules: [{ host: `app-${i}.example.com`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: backend, port: { number: 80 } } } }] } }],
    },
  }) as KubeObject;

const fleet = (): ClusterState => ClusterState.from([service('svc-0'), service('svc-1'), slice('svc-0', '10.0.0.1'), slice('svc-1', '10.0.0.2'), selfSignedTlsSecret('default', 'tls', 'app-0.example.com') as KubeObject, ...Array.from({ length: 10 }, (_, i) => ingress(i))]);

/** Builds incrementally, checks the result against a full build; returns the derivations and settlements this build made. */
function build(state: ClusterState, incremental: IncrementalBuild): { derived: number; settled: number } {
  const before = { ...incremental.stats };
  const result = incremental.build();
  expect(JSON.stringify({ model: result.model, conditions: result.conditions, gateway: result.gateway })).toBe(JSON.stringify(buildModel(state, STANDALONE_SELECTION)));
  return { derived: incremental.stats.derived - before.derived, settled: incremental.stats.settled - before.settled };
}

describe('IncrementalBuild', () => {
  it('re-derives only the changed Ingress and re-settles only its host; an EndpointSlice change re-derives nothing but moves endpoints', () => {
    const state = fleet();
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    // Ten Ingresses (no Gateway API object: nothing else to derive).
    expect(build(state, incremental)).toEqual({ derived: 10, settled: 10 });
    const first = incremental.build().model;
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
    state.upsert(ingress(3, '/v2'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    // Every other host and every endpoint set keeps its model object: compile finds them by identity.
    const next = incremental.build().model;
    expect(next.virtualHosts.filter((vhost, i) => vhost !== first.virtualHosts[i]).map((v) => v.host)).toEqual(['app-3.example.com']);
    // Lists none of whose items changed are the very lists handed out before: compile takes them without a pass over them.
    expect(next.endpointSets).toBe(first.endpointSets);
    expect(next.certificates).toBe(first.certificates);
    expect(next.certificates.map((c) => c.secret)).toEqual(['default/tls']);
    state.upsert(slice('svc-1', '10.0.0.9'));
    const endpointsOnly = incremental.build();
    expect(endpointsOnly.endpointOnly).toBe(true);
    expect(endpointsOnly.model.endpointSets.find((set) => set.key === 'default/svc-1:80')!.endpoints.map((e) => e.address)).toEqual(['10.0.0.9']);
    expect(endpointsOnly.model.endpointSets.find((set) => set.key === 'default/svc-0:80')).toBe(next.endpointSets.find((set) => set.key === 'default/svc-0:80'));
    expect(endpointsOnly.model.virtualHosts).toEqual(next.virtualHosts);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
  });

  it('a Service change re-derives the Ingresses that read it, a Secret change those that use it', () => {
    const state = fleet();
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    build(state, incremental);
    state.upsert(service('svc-0', 81));
    expect(build(state, incremental)).toEqual({ derived: 5, settled: 5 });
    state.remove(selfSignedTlsSecret('default', 'tls', 'app-0.example.com') as KubeObject);
    expect(build(state, incremental)).toEqual({ derived: 10, settled: 10 });
    state.upsert(selfSignedTlsSecret('default', 'other', 'app-0.example.com') as KubeObject);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
  });

  it('an IngressClass change re-derives only the Ingresses naming it, and the class-less ones when the default class flips', () => {
    const named = (i: number, className: string | undefined): KubeObject => {
      const object = ingress(i) as { spec: Record<string, unknown> };
      return { ...object, spec: { ...object.spec, ...(className === undefined ? {} : { ingressClassName: className }) } } as KubeObject;
    };
    const ingressClass = (name: string, controller: string, isDefault = false): KubeObject =>
      ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) }, spec: { controller } }) as KubeObject;
    const selection = { ...STANDALONE_SELECTION, watchWithoutClass: false };
    // Ten class-less Ingresses (app-0..9), three of class edge, two of class blue.
    const state = fleet();
    for (const i of [10, 11, 12]) state.upsert(named(i, 'edge'));
    for (const i of [13, 14]) state.upsert(named(i, 'blue'));
    state.upsert(ingressClass('edge', 'portico.dev/ingress-controller'));
    const incremental = new IncrementalBuild(state, selection);
    const check = (): { derived: number; settled: number } => {
      const before = { ...incremental.stats };
      const result = incremental.build();
      expect(JSON.stringify({ model: result.model, conditions: result.conditions, gateway: result.gateway })).toBe(JSON.stringify(buildModel(state, selection)));
      return { derived: incremental.stats.derived - before.derived, settled: incremental.stats.settled - before.settled };
    };
    const hosts = () => incremental.build().model.virtualHosts.map((v) => v.host.split('.')[0]);
    expect(check().derived).toBe(3);
    expect(hosts()).toEqual(['app-10', 'app-11', 'app-12']);
    // A class no Ingress names: nothing to redo.
    state.upsert(ingressClass('unused', 'example.com/other'));
    expect(check()).toEqual({ derived: 0, settled: 0 });
    // edge becomes another controller's: its three Ingresses are released, nothing else is looked at.
    state.upsert(ingressClass('edge', 'example.com/other'));
    expect(check()).toEqual({ derived: 0, settled: 3 });
    expect(hosts()).toEqual([]);
    // blue appears as Portico's: only its two.
    state.upsert(ingressClass('blue', 'portico.dev/ingress-controller'));
    expect(check()).toEqual({ derived: 2, settled: 2 });
    // A default class of another controller flips nothing; Portico's default brings the ten class-less ones in.
    state.upsert(ingressClass('other-default', 'example.com/other', true));
    expect(check()).toEqual({ derived: 0, settled: 0 });
    state.upsert(ingressClass('blue', 'portico.dev/ingress-controller', true));
    expect(check()).toEqual({ derived: 12, settled: 12 });
    expect(hosts()).toHaveLength(12);
    // An Ingress moving from class-less to edge follows its new class.
    state.upsert(named(0, 'edge'));
    expect(check()).toEqual({ derived: 0, settled: 1 });
    state.upsert(ingressClass('edge', 'portico.dev/ingress-controller'));
    expect(check()).toEqual({ derived: 4, settled: 4 });
    state.remove(ingressClass('blue', ''));
    expect(check()).toEqual({ derived: 0, settled: 11 });
    expect(hosts()).toEqual(['app-0', 'app-10', 'app-11', 'app-12']);
  });

  it('an Ingress that named a missing Service is re-derived when the Service appears', () => {
    const state = fleet();
    state.upsert(ingress(20, '/', 'later'));
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    expect(build(state, incremental).derived).toBe(11);
    expect(incremental.build().conditions.map((c) => c.reason)).toContain('ServiceNotFound');
    state.upsert(service('later'));
    state.upsert(slice('later', '10.0.0.7'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    expect(incremental.build().conditions.map((c) => c.reason)).not.toContain('ServiceNotFound');
  });

  it('an Ingress whose mirror-target names a missing Service is re-derived when it appears; its endpoint changes re-derive nothing', () => {
    const state = fleet();
    const base = ingress(20) as Extract<KubeObject, { kind: 'Ingress' }>;
    state.upsert({ ...base, metadata: { ...base.metadata, annotations: { 'nginx.ingress.kubernetes.io/mirror-target': 'http://shadow.default.svc.cluster.local$request_uri' } } });
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    expect(build(state, incremental).derived).toBe(11);
    expect(incremental.build().conditions.filter((c) => c.source.name === 'app-20').map((c) => c.severity)).toEqual(['Warning']);
    state.upsert(service('shadow'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    expect(incremental.build().conditions.filter((c) => c.source.name === 'app-20')).toEqual([]);
    // The copies' endpoints are an endpoint set of the snapshot (a hidden route), not part of the route's policies.
    state.upsert(slice('shadow', '10.0.0.8'));
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
  });

  it('a ConfigMap change re-derives only the Ingresses that read it (custom-headers), found or missing', () => {
    const state = fleet();
    const reading = (i: number): KubeObject => {
      const base = ingress(i) as Extract<KubeObject, { kind: 'Ingress' }>;
      return { ...base, metadata: { ...base.metadata, annotations: { 'nginx.ingress.kubernetes.io/custom-headers': 'hdr' } } };
    };
    const hdr = (value: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hdr', namespace: 'default' }, data: { 'X-A': value } }) as KubeObject;
    state.upsert(reading(1));
    state.upsert(reading(2));
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    build(state, incremental);
    // Missing at first (both refused); its arrival re-derives the two readers only.
    state.upsert(hdr('1'));
    expect(build(state, incremental)).toEqual({ derived: 2, settled: 2 });
    state.upsert(hdr('2'));
    expect(build(state, incremental)).toEqual({ derived: 2, settled: 2 });
    state.upsert({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'unread', namespace: 'default' }, data: { 'X-A': '1' } } as KubeObject);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
    state.upsert(ingress(2));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    state.remove(hdr('2'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
  });

  it('a host two Ingresses claim is re-settled when either changes, and the conflict follows', () => {
    const state = fleet();
    const rival = { ...(ingress(1, '/') as { metadata: object }), metadata: { name: 'rival', namespace: 'default', creationTimestamp: '2025-01-01T00:00:00Z' } } as KubeObject;
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    build(state, incremental);
    state.upsert(rival);
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    expect(incremental.build().conditions.filter((c) => c.reason === 'Conflict').map((c) => c.source.name)).toEqual(['app-1']);
    state.remove(rival);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 1 });
    expect(incremental.build().conditions.filter((c) => c.reason === 'Conflict')).toEqual([]);
  });

  it('Ingresses claiming one host, several hosts, the catch-all or nothing, with and without conditions: every build of random edits equals the full build', () => {
    // What a derivation keeps differs by shape: one partition (no Map), several (a Map), none; conditions or none (a shared empty record).
    const hosts = ['a.example.com', 'b.example.com', 'c.example.com'];
    const shaped = (i: number, shape: number, created: string): KubeObject => {
      const rule = (host: string | undefined, path: string) => ({ ...(host === undefined ? {} : { host }), http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: `svc-${i % 2}`, port: { number: 80 } } } }] } });
      const spec =
        shape === 0 ? { rules: [rule(hosts[i % 3], `/p${i}`)] }
        : shape === 1 ? { rules: [rule(hosts[i % 3], '/'), rule(hosts[(i + 1) % 3], `/q${i}`)] }
        : shape === 2 ? { defaultBackend: { service: { name: 'svc-0', port: { number: 80 } } }, rules: [rule(hosts[(i + 2) % 3], '/shared')] }
        : shape === 3 ? { defaultBackend: { service: { name: 'svc-1', port: { number: 80 } } } }
        : shape === 4 ? { rules: [rule(hosts[i % 3], 'no-slash')] }
        : {};
      return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: `shaped-${i}`, namespace: 'default', creationTimestamp: created }, spec } as KubeObject;
    };
    // mulberry32: a fixed walk, the same on every run.
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) % n;
    };
    const state = fleet();
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    build(state, incremental);
    const stored = new Set<number>();
    const reasons = new Set<string>();
    for (let step = 0; step < 120; step++) {
      const i = random(8);
      if (stored.has(i) && random(4) === 0) {
        state.remove(shaped(i, 0, ''));
        stored.delete(i);
      } else {
        state.upsert(shaped(i, random(6), `2026-01-0${1 + random(3)}T00:00:00Z`));
        stored.add(i);
      }
      build(state, incremental);
      for (const condition of incremental.build().conditions) reasons.add(condition.reason);
    }
    // The walk went through conflicts (two Ingresses on one host and path, or two catch-alls), invalid paths and empty Ingresses.
    expect([...reasons].sort()).toEqual(['Conflict', 'InvalidPath', 'NoRules']);
  });

  it('forgets removed Ingresses; an Ingress stored again with only its status changed is not re-derived', () => {
    const state = fleet();
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    build(state, incremental);
    state.remove(ingress(4));
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 1 });
    state.upsert(ingress(4));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    const withStatus = { ...ingress(5), status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } } as KubeObject;
    expect(state.upsert(withStatus)).toBe(false);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
  });

  it('a Gateway API change re-derives only the routes it concerns: the route, a changed Gateway\'s routes, readers of a Namespace or ReferenceGrant lookup', () => {
    const G = 'gateway.networking.k8s.io/v1';
    const gateway = (name: string, namespace: string, hostname?: string): KubeObject =>
      ({ apiVersion: G, kind: 'Gateway', metadata: { name, namespace }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', ...(hostname === undefined ? {} : { hostname }), allowedRoutes: { namespaces: namespace === 'default' ? { from: 'All' } : { from: 'Selector', selector: { matchLabels: { edge: 'yes' } } } } }] } }) as KubeObject;
    const route = (i: number, namespace: string, parent: string, path = '/'): KubeObject =>
      ({
        apiVersion: G,
        kind: 'HTTPRoute',
        metadata: { name: `r-${i}`, namespace, creationTimestamp: '2026-01-01T00:00:00Z' },
        spec: { parentRefs: [{ name: parent, namespace: parent === 'edge' ? 'default' : 'infra' }], hostnames: [`r-${i}.example.com`], rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: 'svc-0', port: 80, ...(namespace === 'default' ? {} : { namespace: 'default' }) }] }] },
      }) as KubeObject;
    const grant = (from: string): KubeObject => ({ apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'default' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: from }], to: [{ group: '', kind: 'Service' }] } }) as KubeObject;
    const namespace = (name: string, labelled: boolean): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: labelled ? { edge: 'yes' } : {} } }) as KubeObject;
    const state = fleet();
    state.upsert({ apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } } as KubeObject);
    state.upsert(gateway('edge', 'default'));
    state.upsert(gateway('edge2', 'infra'));
    // Ten routes in default on edge, five in team on edge2 (their backends need a grant; edge2 wants team labelled).
    for (let i = 0; i < 10; i++) state.upsert(route(i, 'default', 'edge'));
    for (let i = 10; i < 15; i++) state.upsert(route(i, 'team', 'edge2'));
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    // Ten Ingresses, two Gateways, fifteen routes.
    expect(build(state, incremental).derived).toBe(27);
    state.upsert(route(3, 'default', 'edge', '/v2'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    // A route moves to the other Gateway (which does not let default attach): itself only; attachedRoutes of both follow.
    state.upsert(route(4, 'default', 'edge2'));
    expect(build(state, incremental)).toEqual({ derived: 1, settled: 1 });
    expect(incremental.build().gateway.gateways.map((g) => g.listeners[0]!.attachedRoutes)).toEqual([9, 0]);
    // A listener change re-derives the Gateway and the routes that name it.
    state.upsert(gateway('edge2', 'infra', '*.example.com'));
    expect(build(state, incremental).derived).toBe(1 + 6);
    // team gets the label edge2 selects: its five routes (which read the Namespace) attach; nothing else is looked at.
    state.upsert(namespace('team', true));
    expect(build(state, incremental)).toEqual({ derived: 5, settled: 5 });
    expect(incremental.build().gateway.gateways.map((g) => g.listeners[0]!.attachedRoutes)).toEqual([9, 5]);
    // A grant for team's routes resolves their backends; changed to another namespace, the five again; a second grant for another namespace concerns nobody.
    state.upsert(grant('team'));
    expect(build(state, incremental)).toEqual({ derived: 5, settled: 5 });
    state.upsert(grant('elsewhere'));
    expect(build(state, incremental)).toEqual({ derived: 5, settled: 5 });
    state.upsert({ ...(grant('elsewhere') as { metadata: object }), metadata: { name: 'g2', namespace: 'default' } } as KubeObject);
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
    // The same route list while no route's entry changed (status planning keys its index by it), a new one after.
    const routes = incremental.build().gateway.routes;
    state.upsert(slice('svc-0', '10.0.0.7'));
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 0 });
    expect(incremental.build().gateway.routes).toBe(routes);
    state.remove(route(0, 'default', 'edge'));
    expect(build(state, incremental)).toEqual({ derived: 0, settled: 1 });
    expect(incremental.build().gateway.routes).not.toBe(routes);
    expect(incremental.build().gateway.routes).toHaveLength(routes.length - 1);
  });
});
