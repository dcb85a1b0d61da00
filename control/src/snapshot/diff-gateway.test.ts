import { describe, expect, it } from 'vitest';
import { serviceWithEndpoints } from '../api/test-support.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { Explainer } from '../explain/explain.ts';
import { compileState } from '../pipeline.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { diffSnapshots } from './diff.ts';

const G = 'gateway.networking.k8s.io/v1';
const base = [
  { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } },
  { apiVersion: G, kind: 'Gateway', metadata: { name: 'edge', namespace: 'shop' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } },
  ...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']),
  ...serviceWithEndpoints('shop', 'beta', 80, ['10.0.0.2']),
] as unknown as KubeObject[];
const route = (betaHeader: string) =>
  ({
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'shop', resourceVersion: betaHeader },
    spec: {
      parentRefs: [{ name: 'edge' }],
      hostnames: ['shop.test'],
      rules: [
        { matches: [{ path: { value: '/api' } }], backendRefs: [{ name: 'web', port: 80 }] },
        { matches: [{ path: { value: '/api' }, headers: [{ name: 'x-beta', value: betaHeader }] }], backendRefs: [{ name: 'beta', port: 80 }] },
      ],
    },
  }) as unknown as KubeObject;

describe('diff and explain name Gateway API objects and fields', () => {
  const state = ClusterState.from([...base, route('1')]);
  const before = compileState(state, DEFAULT_CLASS_SELECTION).snapshot;
  state.upsert(route('2'));
  const after = compileState(state, DEFAULT_CLASS_SELECTION, before).snapshot;

  it('a diff keeps two routes on one path apart by their conditions and names the HTTPRoute field', () => {
    expect(diffSnapshots(before, after).routes).toEqual({
      added: ['shop.test Prefix /api {"headers":[{"name":"x-beta","value":"2","type":"Exact"}]} [HTTPRoute shop/web spec.rules[1].matches[0]]'],
      removed: ['shop.test Prefix /api {"headers":[{"name":"x-beta","value":"1","type":"Exact"}]} [HTTPRoute shop/web spec.rules[1].matches[0]]'],
      changed: [],
    });
  });

  it('explain names the HTTPRoute and the field that answers', () => {
    const explainer = new Explainer(after);
    expect(explainer.explain({ host: 'shop.test', path: '/api/x', headers: { 'x-beta': '2' } })).toMatchObject({ status: 200, route: { kind: 'HTTPRoute', namespace: 'shop', name: 'web', field: 'spec.rules[1].matches[0]' } });
    expect(explainer.explain({ host: 'shop.test', path: '/api/x' })).toMatchObject({ status: 200, route: { kind: 'HTTPRoute', field: 'spec.rules[0].matches[0]' } });
  });
});
