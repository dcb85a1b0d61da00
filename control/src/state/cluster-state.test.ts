import { describe, expect, it } from 'vitest';
import { ClusterState } from './cluster-state.ts';
import type { Ingress, Service } from './objects.ts';

function ingress(resourceVersion: string, path: string, status?: unknown): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: 'default', resourceVersion },
    spec: { rules: [{ host: 'a.test', http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    ...(status === undefined ? {} : { status }),
  };
}

describe('ClusterState.upsert', () => {
  it('reports a change only when something the build reads changed', () => {
    const state = new ClusterState();
    expect(state.upsert(ingress('1', '/'))).toBe(true);
    expect(state.upsert(ingress('1', '/'))).toBe(false);
    // Portico's own status write coming back: new resourceVersion, new status, same spec.
    const written = { loadBalancer: { ingress: [{ ip: '10.1.33.159' }] } };
    expect(state.upsert({ ...ingress('2', '/', written), metadata: { ...ingress('2', '/').metadata, managedFields: [{ manager: 'portico' }] } } as Ingress)).toBe(false);
    // ...is still stored, so status planning compares against what the cluster holds now.
    expect(state.ingresses.get('default/web')?.status).toEqual(written);
    expect(state.upsert(ingress('3', '/api', written))).toBe(true);
    const annotated = ingress('4', '/api', written);
    annotated.metadata.annotations = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
    expect(state.upsert(annotated)).toBe(true);
  });

  it('treats a Service status change as a change (the publish Service address is read from it)', () => {
    const state = new ClusterState();
    const service = (resourceVersion: string, ip?: string): Service => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'edge', namespace: 'portico-system', resourceVersion },
      spec: { ports: [{ port: 80 }] },
      ...(ip === undefined ? {} : { status: { loadBalancer: { ingress: [{ ip }] } } }),
    });
    expect(state.upsert(service('1'))).toBe(true);
    expect(state.upsert(service('2', '10.1.33.159'))).toBe(true);
  });
});
