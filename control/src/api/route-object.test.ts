import { describe, expect, it } from 'vitest';
import type { Route } from './route-object.ts';
import { ingressToRoute, parseRoute, routeToIngress } from './route-object.ts';

const cases: { name: string; route: unknown }[] = [
  { name: 'one host, one path', route: { name: 'a', hosts: ['a.example.com'], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] } },
  { name: 'no host (every host), named port, Exact', route: { name: 'b', paths: [{ path: '/x', pathType: 'Exact', backends: [{ service: 'web', port: 'http' }] }] } },
  { name: 'hosts with a default backend only', route: { name: 'c', hosts: ['c.example.com', '*.c.example.com'], defaultBackend: { service: 'web', port: 80 } } },
  { name: 'catch-all default backend', route: { name: 'd', defaultBackend: { service: 'web', port: 80, weight: 100 } } },
  { name: 'TLS and redirects', route: { name: 'e', namespace: 'team', ingressClassName: 'portico', hosts: ['e.example.com'], paths: [{ path: '/', backends: [{ service: 'web', port: 443 }] }], tls: { secretName: 'e-tls', hosts: ['e.example.com'] }, sslRedirect: true, forceSslRedirect: false } },
];

describe('route <-> Ingress', () => {
  it.each(cases)('round-trips: $name', ({ route }) => {
    const parsed = parseRoute(route);
    const ingress = routeToIngress(parsed, parsed.namespace ?? 'default');
    const back = ingressToRoute(ingress);
    const expected: Route = { ...parsed, namespace: parsed.namespace ?? 'default' };
    // A single backend's weight of 100 is implied by the Ingress, so it does not come back.
    if (expected.defaultBackend) expected.defaultBackend = { service: expected.defaultBackend.service, port: expected.defaultBackend.port };
    expect(back).toEqual({ route: expected });
  });

  it('says why an Ingress has no friendly form', () => {
    const base = routeToIngress(parseRoute(cases[0]!.route), 'default');
    expect(ingressToRoute({ ...base, metadata: { ...base.metadata, annotations: { 'nginx.ingress.kubernetes.io/rewrite-target': '/' } } })).toEqual({ reason: 'annotation nginx.ingress.kubernetes.io/rewrite-target has no friendly field' });
    expect(ingressToRoute({ ...base, spec: { ...base.spec, tls: [{ secretName: 'a' }, { secretName: 'b' }] } })).toEqual({ reason: 'more than one spec.tls entry' });
  });
});
