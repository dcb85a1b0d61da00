/**
 * The per-Ingress derivation cache: what a change re-derives, and that reuse never changes the
 * build's result.
 */
import { describe, expect, it } from 'vitest';
import { STANDALONE_SELECTION, selfSignedTlsSecret } from '../api/test-support.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { buildModel } from './index.ts';
import { IngressCache } from './ingress-cache.ts';

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
const ingress = (i: number, path = '/'): KubeObject =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `app-${i}`, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      tls: [{ hosts: [`app-${i}.example.com`], secretName: 'tls' }],
      rules: [{ host: `app-${i}.example.com`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: `svc-${i % 2}`, port: { number: 80 } } } }] } }],
    },
  }) as KubeObject;

const fleet = (): ClusterState => ClusterState.from([service('svc-0'), service('svc-1'), slice('svc-0', '10.0.0.1'), slice('svc-1', '10.0.0.2'), selfSignedTlsSecret('default', 'tls', 'app-0.example.com') as KubeObject, ...Array.from({ length: 10 }, (_, i) => ingress(i))]);

/** Builds with the cache and checks the result against an uncached build; returns the derivations this build made. */
function build(state: ClusterState, cache: IngressCache): number {
  const before = cache.stats.derived;
  const cached = buildModel(state, STANDALONE_SELECTION, cache);
  expect(JSON.stringify(cached)).toBe(JSON.stringify(buildModel(state, STANDALONE_SELECTION)));
  return cache.stats.derived - before;
}

describe('IngressCache', () => {
  it('re-derives only the changed Ingress; an EndpointSlice change re-derives none but still moves endpoints', () => {
    const state = fleet();
    const cache = new IngressCache();
    expect(build(state, cache)).toBe(10);
    expect(build(state, cache)).toBe(0);
    state.upsert(ingress(3, '/v2'));
    expect(build(state, cache)).toBe(1);
    expect(cache.stats.reused).toBe(10 + 9);
    state.upsert(slice('svc-1', '10.0.0.9'));
    expect(build(state, cache)).toBe(0);
    expect(buildModel(state, STANDALONE_SELECTION, cache).model.endpointSets.flatMap((set) => set.endpoints.map((e) => e.address))).toContain('10.0.0.9');
  });

  it('re-derives every Ingress after any Service or Secret change (dependencies are not tracked per object)', () => {
    const state = fleet();
    const cache = new IngressCache();
    build(state, cache);
    state.upsert(service('svc-0', 81));
    expect(build(state, cache)).toBe(10);
    state.remove(selfSignedTlsSecret('default', 'tls', 'app-0.example.com') as KubeObject);
    expect(build(state, cache)).toBe(10);
    expect(build(state, cache)).toBe(0);
  });

  it('forgets removed Ingresses, and an Ingress stored again (status only) is re-derived, not trusted', () => {
    const state = fleet();
    const cache = new IngressCache();
    build(state, cache);
    state.remove(ingress(4));
    expect(build(state, cache)).toBe(0);
    state.upsert(ingress(4));
    expect(build(state, cache)).toBe(1);
    const withStatus = { ...ingress(5), status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } } as KubeObject;
    expect(state.upsert(withStatus)).toBe(false);
    expect(build(state, cache)).toBe(1);
  });
});
