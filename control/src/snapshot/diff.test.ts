import { describe, expect, it } from 'vitest';
import { serviceWithEndpoints } from '../api/test-support.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { compileState } from '../pipeline.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { diffSnapshots, onlyEndpointsChanged } from './diff.ts';

const ingress = (annotations: Record<string, string>) =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: 'shop', annotations },
    spec: { ingressClassName: 'portico', rules: [{ host: 'shop.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  }) as unknown as KubeObject;

describe('a route whose policies change is a changed route', () => {
  const compile = (objects: KubeObject[]) => compileState(ClusterState.from(objects), DEFAULT_CLASS_SELECTION).snapshot;

  it('an access annotation added is a route change, not "no changes"', () => {
    const before = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']), ingress({})]);
    const after = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']), ingress({ 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.1.0.0/16' })]);
    expect(after.version).not.toBe(before.version);
    expect(diffSnapshots(before, after).routes.changed).toEqual(['shop.test Prefix /']);
  });

  it('a refusal is a route change', () => {
    const before = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']), ingress({})]);
    const after = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']), ingress({ 'nginx.ingress.kubernetes.io/auth-snippet': 'deny all;' })]);
    expect(diffSnapshots(before, after).routes.changed).toEqual(['shop.test Prefix /']);
  });

  it('a policy and an endpoint changed together are never endpoints only (the data plane would keep the old policy)', () => {
    const before = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.1']), ingress({})]);
    const after = compile([...serviceWithEndpoints('shop', 'web', 80, ['10.0.0.2']), ingress({ 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.1.0.0/16' })]);
    const diff = diffSnapshots(before, after);
    expect(diff.endpoints.added).toEqual(['shop/web:80 10.0.0.2:8080']);
    expect(onlyEndpointsChanged(diff)).toBe(false);
  });
});
