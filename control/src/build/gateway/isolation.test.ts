import { describe, expect, it } from 'vitest';
import { selfSignedTlsSecret, serviceWithEndpoints } from '../../api/test-support.ts';
import { scopedHost, scopeLabel } from '../../snapshot/scope.ts';
import { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import { planGatewayStatus } from '../../status/gateway-status.ts';
import { buildModel } from '../index.ts';
import { DEFAULT_CLASS_SELECTION } from '../ingress-class.ts';
import { assignGatewayAddresses } from './listeners.ts';

// Gateways with addresses of their own (--gateway-address): routing scoped per (address, HTTP|HTTPS).
const G = 'gateway.networking.k8s.io/v1';
type Obj = Record<string, unknown>;
const POOL = ['10.9.0.1', '10.9.0.2'];
const PORTS = { http: [80], https: [443], addresses: POOL };

const klass: Obj = { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } };
function gw(name: string, created: string, listeners: Obj[], status?: Obj): Obj {
  return { apiVersion: G, kind: 'Gateway', metadata: { name, namespace: 'infra', creationTimestamp: created }, spec: { gatewayClassName: 'portico', listeners }, ...(status === undefined ? {} : { status }) };
}
const listener = (name: string, protocol: 'HTTP' | 'HTTPS', extra: Obj = {}): Obj => ({ name, port: protocol === 'HTTP' ? 80 : 443, protocol, allowedRoutes: { namespaces: { from: 'All' } }, ...extra });
function route(name: string, parents: Obj[], path: string, service: string, hostnames?: string[]): Obj {
  return { apiVersion: G, kind: 'HTTPRoute', metadata: { name, namespace: 'apps', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { parentRefs: parents, ...(hostnames ? { hostnames } : {}), rules: [{ matches: [{ path: { type: 'PathPrefix', value: path } }], backendRefs: [{ name: service, port: 80 }] }] } };
}
const parent = (name: string, sectionName?: string): Obj => ({ name, namespace: 'infra', ...(sectionName ? { sectionName } : {}) });

function build(objects: Obj[], ports = PORTS) {
  const state = ClusterState.from([...(objects as unknown as KubeObject[]), ...serviceWithEndpoints('apps', 'one', 80, ['10.0.0.1']), ...serviceWithEndpoints('apps', 'two', 80, ['10.0.0.2']), selfSignedTlsSecret('infra', 'cert', '*.example.com') as KubeObject]);
  return { state, ...buildModel(state, DEFAULT_CLASS_SELECTION, { gatewayPorts: ports }) };
}
const table = (result: ReturnType<typeof build>) => result.model.virtualHosts.flatMap((v) => v.routes.map((r) => `${v.host} ${r.path} -> ${r.backends.map((b) => b.service).join(',')}`));
const http1 = scopeLabel('10.9.0.1', 'http');

describe('Gateways with their own address', () => {
  it('two Gateways with the same host and path route apart, each in its own scope, with no conflict', () => {
    const result = build([klass, gw('a', '2026-01-01T00:00:00Z', [listener('http', 'HTTP')]), gw('b', '2026-01-02T00:00:00Z', [listener('http', 'HTTP')]), route('ra', [parent('a')], '/', 'one'), route('rb', [parent('b')], '/', 'two'), route('shared', [parent('a'), parent('b')], '/shared', 'one')]);
    const addresses = new Map(result.gateway.gateways.map((g) => [g.name, g.address]));
    expect(new Set(addresses.values())).toEqual(new Set(POOL));
    const scopeA = scopeLabel(addresses.get('a')!, 'http');
    const scopeB = scopeLabel(addresses.get('b')!, 'http');
    expect(table(result).sort()).toEqual([`*.${scopeA} / -> one`, `*.${scopeA} /shared -> one`, `*.${scopeB} / -> two`, `*.${scopeB} /shared -> one`].sort());
    expect(result.conditions).toEqual([]);
    // The status names each Gateway's own address, not the edge's.
    const updates = planGatewayStatus(result.gateway, result.state, [{ ip: '192.0.2.1' }], '2026-01-03T00:00:00Z');
    const written = Object.fromEntries(updates.filter((u) => u.kind === 'Gateway').map((u) => [u.name, u.status.addresses]));
    expect(written).toEqual({ a: [{ type: 'IPAddress', value: addresses.get('a') }], b: [{ type: 'IPAddress', value: addresses.get('b') }] });
  });

  it('keeps HTTP and HTTPS listeners apart: a route attached to the HTTP listener only is not in the HTTPS scope', () => {
    const tls = { certificateRefs: [{ name: 'cert' }] };
    const result = build([klass, gw('a', '2026-01-01T00:00:00Z', [listener('http', 'HTTP', { hostname: '*.example.com' }), listener('https', 'HTTPS', { hostname: '*.example.com', tls })], { addresses: [{ type: 'IPAddress', value: '10.9.0.1' }] }), route('plain', [parent('a', 'http')], '/plain', 'one'), route('secure', [parent('a', 'https')], '/secure', 'two')]);
    const https1 = scopeLabel('10.9.0.1', 'https');
    expect(table(result)).toEqual([`*.example.com.${http1} /plain -> one`, `*.example.com.${https1} /secure -> two`]);
    // The HTTPS scope carries the listener's certificate under its scoped name (SNI within the scope).
    expect(result.model.virtualHosts.find((v) => v.host === scopedHost('*.example.com', https1))?.certificate).toBe('infra/cert');
  });

  it('gives addresses oldest Gateway first, keeps the one its status shows, and lets Gateways beyond the pool share the edge', () => {
    const objects = [klass, gw('new', '2026-03-01T00:00:00Z', [listener('http', 'HTTP')]), gw('old', '2026-01-01T00:00:00Z', [listener('http', 'HTTP')], { addresses: [{ type: 'IPAddress', value: '10.9.0.2' }] }), gw('mid', '2026-02-01T00:00:00Z', [listener('http', 'HTTP')])];
    const state = ClusterState.from(objects as unknown as KubeObject[]);
    expect(Object.fromEntries(assignGatewayAddresses(state, POOL))).toEqual({ 'infra/old': '10.9.0.2', 'infra/mid': '10.9.0.1' });
    const result = build([...objects, route('late', [parent('new')], '/', 'one')]);
    expect(result.gateway.gateways.find((g) => g.name === 'new')!.address).toBeUndefined();
    expect(table(result)).toEqual(['* / -> one']);
    // No pool: every Gateway on the edge, as before.
    expect(assignGatewayAddresses(state, []).size).toBe(0);
  });

  it('isolates listeners of one port: a host name a more specific listener covers is served only through it', () => {
    const names = ['bar.com', '*.example.com', '*.foo.example.com', 'abc.foo.example.com'];
    const listeners = [listener('any', 'HTTP'), ...names.slice(1).map((hostname, i) => listener(`l${i}`, 'HTTP', { hostname }))];
    const routes = ['any', 'l0', 'l1', 'l2'].map((section) => route(section, [parent('iso', section)], `/${section}`, 'one', names));
    const result = build([klass, gw('iso', '2026-01-01T00:00:00Z', listeners), ...routes], { http: [80], https: [443], addresses: [] });
    expect(table(result).sort()).toEqual(['*.example.com /l0 -> one', '*.foo.example.com /l1 -> one', 'abc.foo.example.com /l2 -> one', 'bar.com /any -> one']);
    // Every route is still attached to its listener.
    expect(result.gateway.gateways[0]!.listeners.map((l) => l.attachedRoutes)).toEqual([1, 1, 1, 1]);
  });

  it('an Ingress on the same host stays on the edge: it never clashes with, nor is served in, a Gateway scope', () => {
    const ingress: Obj = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'legacy', namespace: 'apps', creationTimestamp: '2025-01-01T00:00:00Z' },
      spec: { ingressClassName: 'portico', rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'two', port: { number: 80 } } } }] } }] },
    };
    const result = build([klass, ingress, gw('a', '2026-01-01T00:00:00Z', [listener('http', 'HTTP')], { addresses: [{ type: 'IPAddress', value: '10.9.0.1' }] }), route('shop', [parent('a')], '/', 'one', ['shop.example.com'])]);
    expect(table(result)).toEqual([`shop.example.com / -> two`, `shop.example.com.${http1} / -> one`]);
    expect(result.conditions).toEqual([]);
  });
});
