import { describe, expect, it } from 'vitest';
import { selfSignedTlsSecret, serviceWithEndpoints } from '../../api/test-support.ts';
import { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import { buildModel } from '../index.ts';
import { DEFAULT_CLASS_SELECTION } from '../ingress-class.ts';
import { hostWithin, intersectHostnames } from './hostnames.ts';

const G = 'gateway.networking.k8s.io/v1';
type Obj = Record<string, unknown>;

const gatewayClass = (controllerName = 'portico.dev/gateway-controller', name = 'portico'): Obj => ({ apiVersion: G, kind: 'GatewayClass', metadata: { name, generation: 1 }, spec: { controllerName } });
const gateway = (listeners: Obj[], extra: { name?: string; namespace?: string; className?: string } = {}): Obj => ({
  apiVersion: G,
  kind: 'Gateway',
  metadata: { name: extra.name ?? 'edge', namespace: extra.namespace ?? 'infra', generation: 2 },
  spec: { gatewayClassName: extra.className ?? 'portico', listeners },
});
const http = (extra: Obj = {}): Obj => ({ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } }, ...extra });
const httpRoute = (name: string, spec: Obj, meta: Obj = {}): Obj => ({
  apiVersion: G,
  kind: 'HTTPRoute',
  metadata: { name, namespace: 'apps', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z', ...meta },
  spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], ...spec },
});
const to = (service: string, port = 80, extra: Obj = {}): Obj => ({ name: service, port, ...extra });

function build(objects: Obj[], options: Parameters<typeof buildModel>[2] = {}) {
  const state = ClusterState.from([...(objects as unknown as KubeObject[]), ...serviceWithEndpoints('apps', 'web', 80, ['10.0.0.1']), ...serviceWithEndpoints('apps', 'api', 80, ['10.0.0.2']), ...serviceWithEndpoints('other', 'far', 80, ['10.0.0.3'])]);
  return { state, ...buildModel(state, DEFAULT_CLASS_SELECTION, options) };
}
const routesOf = (result: ReturnType<typeof build>) =>
  result.model.virtualHosts.flatMap((v) => v.routes.map((r) => `${v.host} ${r.pathType} ${r.path} <- ${r.source.kind} ${r.source.namespace}/${r.source.name} ${r.field} -> ${r.backends.map((b) => `${b.service}:${b.port}x${b.weight}${b.endpointSet === undefined ? '!' : ''}`).join(',')}`));
const parentConditions = (result: ReturnType<typeof build>, name: string) =>
  result.gateway.routes.find((r) => r.name === name)?.parents.map((p) => Object.fromEntries(p.conditions.map((c) => [c.type, `${c.status}/${c.reason}`])));
const listenerStatus = (result: ReturnType<typeof build>, gatewayName = 'edge'): ({ name: string; attached: number; kinds: readonly string[] } & Record<string, string>)[] =>
  result.gateway.gateways.find((g) => g.name === gatewayName)!.listeners.map((l) => ({ name: l.name, attached: l.attachedRoutes, kinds: l.supportedKinds, ...Object.fromEntries(l.conditions.map((c) => [c.type, `${c.status}/${c.reason}`])) }) as { name: string; attached: number; kinds: readonly string[] } & Record<string, string>);

describe('Gateway API hostnames', () => {
  it.each([
    ['a.example.com', '*.example.com', true],
    ['a.b.example.com', '*.example.com', true],
    ['example.com', '*.example.com', false],
    ['*.a.example.com', '*.example.com', true],
    ['*.example.com', '*.a.example.com', false],
    ['a.example.com', 'a.example.com', true],
    ['b.example.com', 'a.example.com', false],
  ])('%s within %s: %s', (name, pattern, expected) => expect(hostWithin(name, pattern)).toBe(expected));

  it.each([
    [undefined, undefined, ['*']],
    [undefined, ['A.example.com'], ['a.example.com']],
    ['a.example.com', undefined, ['a.example.com']],
    ['*.example.com', ['a.example.com', 'x.other.com', 'deep.b.example.com'], ['a.example.com', 'deep.b.example.com']],
    ['a.example.com', ['*.example.com'], ['a.example.com']],
    ['*.example.com', ['*.a.example.com'], ['*.a.example.com']],
    ['a.example.com', ['b.example.com'], []],
  ])('listener %s with route hostnames %j -> %j', (listener, routeHosts, expected) => expect(intersectHostnames(listener, routeHosts)).toEqual(expected));
});

describe('the Gateway processor', () => {
  const base = [gatewayClass(), gateway([http()])];

  it('serves an HTTPRoute through an accepted Gateway with weighted backends, and reports every status', () => {
    const result = build([...base, httpRoute('shop', { hostnames: ['shop.example.com'], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }, { path: { type: 'Exact', value: '/' } }], backendRefs: [to('api', 80, { weight: 3 }), to('web', 80, { weight: 1 })] }] })]);
    expect(routesOf(result)).toEqual([
      'shop.example.com Prefix /api <- HTTPRoute apps/shop spec.rules[0].matches[0] -> api:80x3,web:80x1',
      'shop.example.com Exact / <- HTTPRoute apps/shop spec.rules[0].matches[1] -> api:80x3,web:80x1',
    ]);
    expect(result.gateway.classes).toMatchObject([{ name: 'portico', generation: 1, accepted: { status: 'True', reason: 'Accepted' } }]);
    expect(result.gateway.gateways[0]!.accepted).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(listenerStatus(result)).toEqual([{ name: 'http', attached: 1, kinds: ['HTTPRoute', 'GRPCRoute'], Accepted: 'True/Accepted', ResolvedRefs: 'True/ResolvedRefs', Conflicted: 'False/NoConflicts', Programmed: 'True/Programmed' }]);
    expect(parentConditions(result, 'shop')).toEqual([{ Accepted: 'True/Accepted', ResolvedRefs: 'True/ResolvedRefs' }]);
    expect(result.conditions).toEqual([]);
  });

  it('ignores Gateways of other classes and routes to Gateways that do not exist (no status, a Warning for explain)', () => {
    const result = build([gatewayClass('example.com/other', 'other'), gateway([http()], { className: 'other' }), httpRoute('lost', { rules: [{ backendRefs: [to('web')] }] })]);
    expect(result.model.virtualHosts).toEqual([]);
    expect(result.gateway).toEqual({ classes: [], gateways: [], routes: [] });
    const nowhere = build([...base, httpRoute('lost', { parentRefs: [{ name: 'missing' }], rules: [{ backendRefs: [to('web')] }] })]);
    expect(nowhere.gateway.routes).toEqual([]);
    expect(nowhere.conditions).toMatchObject([{ source: { kind: 'HTTPRoute', name: 'lost' }, reason: 'RouteNotAccepted', severity: 'Warning' }]);
  });

  it('refuses what it cannot honour on classes and listeners: parametersRef (InvalidParameters), listener tls.options (UnsupportedValue); rules with retry or sessionPersistence are dropped', () => {
    const withParameters = { ...gatewayClass(), spec: { controllerName: 'portico.dev/gateway-controller', parametersRef: { group: 'example.com', kind: 'Config', name: 'x' } } };
    const refused = build([withParameters, gateway([http()]), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]);
    expect(refused.gateway.classes).toMatchObject([{ name: 'portico', accepted: { status: 'False', reason: 'InvalidParameters' } }]);
    expect(refused.gateway.gateways).toEqual([]);
    expect(refused.model.virtualHosts).toEqual([]);
    const options = build([gatewayClass(), gateway([http(), { name: 'tls', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'x' }], options: { 'example.com/cipher': 'x' } } }])]);
    expect(listenerStatus(options)[1]!.Accepted).toBe('False/UnsupportedValue');
    const retry = build([...base, httpRoute('r', { rules: [{ matches: [{ path: { value: '/a' } }], retry: { attempts: 2 }, backendRefs: [to('web')] }, { matches: [{ path: { value: '/b' } }], backendRefs: [to('web')] }] })]);
    expect(routesOf(retry).map((r) => r.split(' ')[2])).toEqual(['/b']);
    expect(parentConditions(retry, 'r')![0]!.PartiallyInvalid).toBe('True/UnsupportedValue');
  });

  it('attaches by sectionName and port, and says NoMatchingParent when neither names a listener', () => {
    const gw = gateway([http(), http({ name: 'other', hostname: 'other.example.com' })]);
    const result = build([
      gatewayClass(),
      gw,
      httpRoute('by-section', { parentRefs: [{ name: 'edge', namespace: 'infra', sectionName: 'other' }], rules: [{ backendRefs: [to('web')] }] }),
      httpRoute('bad-section', { parentRefs: [{ name: 'edge', namespace: 'infra', sectionName: 'nope' }], rules: [{ backendRefs: [to('web')] }] }),
      httpRoute('bad-port', { parentRefs: [{ name: 'edge', namespace: 'infra', port: 8080 }], rules: [{ backendRefs: [to('web')] }] }),
    ]);
    expect(routesOf(result)).toEqual(['other.example.com Prefix / <- HTTPRoute apps/by-section spec.rules[0] -> web:80x1']);
    expect(parentConditions(result, 'bad-section')![0]!.Accepted).toBe('False/NoMatchingParent');
    expect(parentConditions(result, 'bad-port')![0]!.Accepted).toBe('False/NoMatchingParent');
    expect(listenerStatus(result).map((l) => l.attached)).toEqual([0, 1]);
  });

  it('applies allowedRoutes: Same by default, Selector by Namespace labels, kinds', () => {
    const same = build([gatewayClass(), gateway([{ name: 'http', port: 80, protocol: 'HTTP' }]), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]);
    expect(parentConditions(same, 'r')![0]!.Accepted).toBe('False/NotAllowedByListeners');
    const selector = { name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { team: 'shop' } } } } };
    const ns = (labels: Obj): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'apps', labels } });
    expect(parentConditions(build([gatewayClass(), gateway([selector]), ns({ team: 'shop' }), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]), 'r')![0]!.Accepted).toBe('True/Accepted');
    expect(parentConditions(build([gatewayClass(), gateway([selector]), ns({ team: 'blog' }), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]), 'r')![0]!.Accepted).toBe('False/NotAllowedByListeners');
    const byName = { ...selector, allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { 'kubernetes.io/metadata.name': 'apps' } } } } };
    expect(parentConditions(build([gatewayClass(), gateway([byName]), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]), 'r')![0]!.Accepted).toBe('True/Accepted');
    const grpcOnly = build([gatewayClass(), gateway([http({ allowedRoutes: { namespaces: { from: 'All' }, kinds: [{ kind: 'GRPCRoute' }, { kind: 'TCPRoute' }] } })]), httpRoute('r', { rules: [{ backendRefs: [to('web')] }] })]);
    expect(parentConditions(grpcOnly, 'r')![0]!.Accepted).toBe('False/NotAllowedByListeners');
    expect(listenerStatus(grpcOnly)[0]).toMatchObject({ kinds: ['GRPCRoute'], ResolvedRefs: 'False/InvalidRouteKinds' });
  });

  it('intersects hostnames (wildcards are one or more labels) and says NoMatchingListenerHostname when nothing is left', () => {
    const result = build([
      gatewayClass(),
      gateway([http({ hostname: '*.example.com' })]),
      httpRoute('wild', { hostnames: ['*.example.com', 'a.b.example.com', 'example.com'], rules: [{ backendRefs: [to('web')] }] }),
      httpRoute('none', { hostnames: ['example.org'], rules: [{ backendRefs: [to('web')] }] }),
    ]);
    expect(result.model.virtualHosts.map((v) => v.host)).toEqual(['a.b.example.com', '*.example.com']);
    expect(parentConditions(result, 'none')![0]!.Accepted).toBe('False/NoMatchingListenerHostname');
    expect(listenerStatus(result)[0]!.attached).toBe(1);
  });

  it('resolves backendRefs: missing Service, wrong kind, cross-namespace without and with a ReferenceGrant', () => {
    const rules = [{ backendRefs: [to('missing'), { name: 'cm', kind: 'ConfigMap', port: 80 }, to('far', 80, { namespace: 'other' })] }];
    const denied = build([...base, httpRoute('r', { rules })]);
    expect(routesOf(denied)).toEqual(['* Prefix / <- HTTPRoute apps/r spec.rules[0] -> missing:80x1!,cm:80x1!,far:80x1!']);
    expect(parentConditions(denied, 'r')).toEqual([{ Accepted: 'True/Accepted', ResolvedRefs: 'False/BackendNotFound' }]);
    expect(denied.conditions.map((c) => `${c.field} ${c.reason}`)).toEqual(['spec.rules[0].backendRefs[0] BackendNotFound', 'spec.rules[0].backendRefs[1] InvalidKind', 'spec.rules[0].backendRefs[2] RefNotPermitted']);
    const grant = { apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name: 'g', namespace: 'other' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'apps' }], to: [{ group: '', kind: 'Service' }] } };
    const granted = build([...base, grant, httpRoute('r', { rules: [{ backendRefs: [to('far', 80, { namespace: 'other' })] }] })]);
    expect(routesOf(granted)).toEqual(['* Prefix / <- HTTPRoute apps/r spec.rules[0] -> far:80x1']);
    expect(parentConditions(granted, 'r')![0]!.ResolvedRefs).toBe('True/ResolvedRefs');
    const onlyRefNotPermitted = build([...base, httpRoute('r', { rules: [{ backendRefs: [to('far', 80, { namespace: 'other' })] }] })]);
    expect(parentConditions(onlyRefNotPermitted, 'r')![0]!.ResolvedRefs).toBe('False/RefNotPermitted');
    // Every backendRef invalid (or none): the rule answers 500, as the spec asks; one valid left: no 500.
    expect(onlyRefNotPermitted.model.virtualHosts[0]!.routes[0]!.policies?.backendError).toEqual({ status: 500, reason: 'every backendRef of spec.rules[0] is invalid' });
    expect(build([...base, httpRoute('r', { rules: [{}] })]).model.virtualHosts[0]!.routes[0]!.policies?.backendError?.reason).toBe('spec.rules[0] has no backendRefs');
    expect(granted.model.virtualHosts[0]!.routes[0]!.policies).toBeUndefined();
    expect(denied.model.virtualHosts[0]!.routes[0]!.policies?.backendError).toBeDefined();
  });

  it('refuses listeners it cannot serve with the spec reasons, and conflicting ones', () => {
    const result = build([
      gatewayClass(),
      gateway([http(), { name: 'tcp', port: 9000, protocol: 'TCP' }, http({ name: 'alt', port: 8080 }), http({ name: 'dup' }), http({ name: 'h', hostname: 'h.example.com' })]),
    ]);
    expect(listenerStatus(result).map((l) => `${l.name} ${l.Accepted} ${l.Conflicted} ${l.Programmed} ${l.kinds.length}`)).toEqual([
      'http True/Accepted False/NoConflicts True/Programmed 2',
      'tcp False/UnsupportedProtocol False/NoConflicts False/Invalid 0',
      'alt False/PortUnavailable False/NoConflicts False/Invalid 2',
      'dup True/Accepted True/HostnameConflict False/Invalid 2',
      'h True/Accepted False/NoConflicts True/Programmed 2',
    ]);
    expect(result.gateway.gateways[0]!.accepted).toMatchObject({ status: 'True', reason: 'ListenersNotValid' });
    const none = build([gatewayClass(), gateway([{ name: 'tcp', port: 9000, protocol: 'TCP' }])]);
    expect(none.gateway.gateways[0]!.accepted).toMatchObject({ status: 'False', reason: 'ListenersNotValid' });
    expect(none.conditions).toMatchObject([{ source: { kind: 'Gateway', name: 'edge' }, field: 'spec.listeners[0]', reason: 'ListenerInvalid' }]);
  });

  it('HTTPS listeners: certificate from a Secret (cross-namespace only with a ReferenceGrant); bad refs are InvalidCertificateRef', () => {
    const secret = selfSignedTlsSecret('infra', 'shop-tls', 'shop.example.com') as unknown as Obj;
    const far = selfSignedTlsSecret('certs', 'far-tls', 'shop.example.com') as unknown as Obj;
    const https = (name: string, ref: Obj): Obj => ({ name, port: 443, protocol: 'HTTPS', hostname: `${name}.example.com`, tls: { certificateRefs: [ref] }, allowedRoutes: { namespaces: { from: 'All' } } });
    const result = build([
      gatewayClass(),
      secret,
      far,
      gateway([https('shop', { name: 'shop-tls' }), https('missing', { name: 'nope' }), https('kind', { name: 'x', kind: 'ConfigMap' }), https('far', { name: 'far-tls', namespace: 'certs' })]),
      httpRoute('r', { rules: [{ backendRefs: [to('web')] }] }),
    ]);
    expect(listenerStatus(result).map((l) => `${l.name} ${l.ResolvedRefs} ${l.Programmed} ${l.attached}`)).toEqual([
      'shop True/ResolvedRefs True/Programmed 1',
      'missing False/InvalidCertificateRef False/Invalid 1',
      'kind False/InvalidCertificateRef False/Invalid 1',
      'far False/RefNotPermitted False/Invalid 1',
    ]);
    const shop = result.model.virtualHosts.find((v) => v.host === 'shop.example.com')!;
    expect(shop).toMatchObject({ tls: true, certificate: 'infra/shop-tls' });
    expect(result.model.certificates.map((c) => `${c.secret} ${c.hosts.join(',')}`)).toEqual(['infra/shop-tls shop.example.com']);
  });

  it('an HTTPS listener without hostname gives its certificate to the any-host entry (any SNI name), without making hosts TLS for redirects', () => {
    const secret = selfSignedTlsSecret('infra', 'any-tls', 'example.org') as unknown as Obj;
    const result = build([gatewayClass(), secret, gateway([{ name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'any-tls' }] } }])]);
    expect(result.model.virtualHosts).toMatchObject([{ host: '*', routes: [], certificate: 'infra/any-tls', tls: false }]);
    expect(result.model.certificates.map((c) => `${c.secret} ${c.hosts.join(',')}`)).toEqual(['infra/any-tls *']);
  });

  it('drops rules it cannot honour (never serving them as if they matched more): PartiallyInvalid, or Accepted=False when none is left', () => {
    const result = build([
      ...base,
      httpRoute('mixed', { rules: [{ matches: [{ path: { value: '/h' } }], filters: [{ type: 'ExtensionRef' }], backendRefs: [to('api')] }, { matches: [{ path: { value: '/ok' } }], backendRefs: [to('web')] }] }),
      httpRoute('none', { hostnames: ['none.example.com'], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(a' } }], backendRefs: [to('api')] }] }),
    ]);
    expect(routesOf(result)).toEqual(['* Prefix /ok <- HTTPRoute apps/mixed spec.rules[1].matches[0] -> web:80x1']);
    expect(parentConditions(result, 'mixed')).toEqual([{ Accepted: 'True/Accepted', PartiallyInvalid: 'True/UnsupportedValue', ResolvedRefs: 'True/ResolvedRefs' }]);
    expect(parentConditions(result, 'none')![0]!.Accepted).toBe('False/UnsupportedValue');
    expect(result.conditions.filter((c) => c.reason === 'UnsupportedValue').map((c) => `${c.source.name} ${c.field}`)).toEqual(['mixed spec.rules[0]', 'none spec.rules[0]']);
  });

  it('turns filters and timeouts into route policies (gateway-filters.ts), and drops a rule whose filters clash', () => {
    const result = build([
      ...base,
      httpRoute('f', {
        rules: [
          { matches: [{ path: { value: '/h' } }], filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Env', value: 'prod' }] } }], timeouts: { request: '5s' }, backendRefs: [to('web')] },
          { matches: [{ path: { value: '/r' } }], filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, hostname: 'example.org' } }] },
        ],
      }),
      httpRoute('clash', { hostnames: ['clash.example.com'], rules: [{ filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 302 } }, { type: 'URLRewrite', urlRewrite: { hostname: 'x.example.com' } }], backendRefs: [to('web')] }] }),
    ]);
    const routes = result.model.virtualHosts.find((v) => v.host === '*')!.routes;
    expect(routes.map((r) => `${r.path} ${Object.keys(r.policies ?? {}).sort().join(',')}`)).toEqual(['/h requestHeaderModifier,timeouts', '/r requestRedirect']);
    expect(parentConditions(result, 'f')![0]!.Accepted).toBe('True/Accepted');
    expect(parentConditions(result, 'clash')![0]!.Accepted).toBe('False/IncompatibleFilters');
  });

  it('fills method, header and query conditions and orders equal paths by them as the spec does', () => {
    const result = build([
      ...base,
      httpRoute('m', {
        rules: [
          { matches: [{ path: { value: '/x' }, queryParams: [{ name: 'q', value: '1' }] }], backendRefs: [to('web')] },
          { matches: [{ path: { value: '/x' }, headers: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: 'ignored' }, { name: 'x-b', type: 'RegularExpression', value: 'v[0-9]+' }] }], backendRefs: [to('web')] },
          { matches: [{ path: { value: '/x' }, method: 'POST' }], backendRefs: [to('api')] },
          { matches: [{ path: { type: 'RegularExpression', value: '/x/[0-9]+' } }], backendRefs: [to('api')] },
          { matches: [{ path: { value: '/x' } }], backendRefs: [to('web')] },
        ],
      }),
    ]);
    const routes = result.model.virtualHosts[0]!.routes;
    expect(routes.map((r) => `${r.pathType} ${r.path} ${r.field} ${JSON.stringify(r.match ?? null)}`)).toEqual([
      'RegularExpression /x/[0-9]+ spec.rules[3].matches[0] null',
      'Prefix /x spec.rules[2].matches[0] {"methods":["POST"]}',
      'Prefix /x spec.rules[1].matches[0] {"headers":[{"name":"X-A","value":"1","type":"Exact"},{"name":"x-b","value":"v[0-9]+","type":"RegularExpression"}]}',
      'Prefix /x spec.rules[0].matches[0] {"query":[{"name":"q","value":"1","type":"Exact"}]}',
      'Prefix /x spec.rules[4].matches[0] null',
    ]);
    expect(result.conditions).toEqual([]);
  });

  it('orders equal paths as the spec does: oldest route first, then namespace/name, then rule order (numerically)', () => {
    const rules = Array.from({ length: 12 }, (_, i) => ({ matches: [{ path: { value: `/r${i % 2}` } }], backendRefs: [to('web')] }));
    const result = build([...base, httpRoute('young', { rules: [{ backendRefs: [to('api')] }] }, { creationTimestamp: '2026-02-01T00:00:00Z' }), httpRoute('old', { rules: [{ backendRefs: [to('web')] }] })]);
    expect(routesOf(result).map((r) => r.split(' <- ')[1]!.split(' -> ')[0])).toEqual(['HTTPRoute apps/old spec.rules[0]']);
    expect(result.conditions).toMatchObject([{ source: { name: 'young' }, reason: 'Conflict' }]);
    const many = build([...base, httpRoute('many', { rules })]);
    expect(routesOf(many).map((r) => r.split(' ')[2] + ' ' + r.split(' ')[6])).toEqual(['/r0 spec.rules[0].matches[0]', '/r1 spec.rules[1].matches[0]']);
  });

  it('Ingress and HTTPRoute on one host share its table; the older object wins a path both claim', () => {
    const ingress = (created: string): Obj => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'legacy', namespace: 'apps', creationTimestamp: created },
      spec: { ingressClassName: 'portico', rules: [{ host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }, { path: '/legacy', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    });
    const route = httpRoute('shop', { hostnames: ['shop.example.com'], rules: [{ matches: [{ path: { value: '/' } }, { path: { value: '/api' } }], backendRefs: [to('api')] }] });
    const ingressOlder = build([...base, ingress('2025-01-01T00:00:00Z'), route]);
    expect(routesOf(ingressOlder)).toEqual([
      'shop.example.com Prefix /legacy <- Ingress apps/legacy spec.rules[0].http.paths[1] -> web:80x100',
      'shop.example.com Prefix /api <- HTTPRoute apps/shop spec.rules[0].matches[1] -> api:80x1',
      'shop.example.com Prefix / <- Ingress apps/legacy spec.rules[0].http.paths[0] -> web:80x100',
    ]);
    expect(ingressOlder.conditions).toMatchObject([{ source: { kind: 'HTTPRoute', name: 'shop' }, field: 'spec.rules[0].matches[0]', reason: 'Conflict' }]);
    const routeOlder = build([...base, ingress('2027-01-01T00:00:00Z'), route]);
    expect(routesOf(routeOlder)[2]).toBe('shop.example.com Prefix / <- HTTPRoute apps/shop spec.rules[0].matches[0] -> api:80x1');
    expect(routeOlder.conditions).toMatchObject([{ source: { kind: 'Ingress', name: 'legacy' }, reason: 'Conflict' }]);
  });

  it("takes the backend protocol from the Service port's appProtocol; one it cannot speak (TLS needs BackendTLSPolicy; unknown) is UnsupportedProtocol, never plain HTTP/1.1", () => {
    const port = (appProtocol: string): KubeObject[] => serviceWithEndpoints('apps', appProtocol.replace(/[^a-z0-9]/g, '-'), 80, ['10.0.1.1']).map((o) => (o.kind === 'Service' ? { ...o, spec: { ports: [{ port: 80, appProtocol }] } } : o)) as KubeObject[];
    const protocols = ['kubernetes.io/h2c', 'kubernetes.io/ws', 'https', 'kubernetes.io/wss', 'grpcs', 'example.com/custom'];
    const routes = protocols.map((p, i) => httpRoute(`r${i}`, { hostnames: [`r${i}.example.com`], rules: [{ backendRefs: [to(p.replace(/[^a-z0-9]/g, '-'))] }] }));
    const result = build([...base, ...(protocols.flatMap(port) as unknown as Obj[]), ...routes]);
    const backend = (i: number) => result.model.virtualHosts.find((v) => v.host === `r${i}.example.com`)!.routes[0]!.backends[0]!;
    expect(protocols.map((_, i) => ({ protocol: backend(i).protocol, invalid: backend(i).invalid === true }))).toEqual([
      { protocol: 'h2', invalid: false },
      { protocol: undefined, invalid: false },
      { protocol: undefined, invalid: true },
      { protocol: undefined, invalid: true },
      { protocol: undefined, invalid: true },
      { protocol: undefined, invalid: true },
    ]);
    expect(parentConditions(result, 'r2')).toEqual([{ Accepted: 'True/Accepted', ResolvedRefs: 'False/UnsupportedProtocol' }]);
    expect(result.conditions.filter((c) => c.reason === 'UnsupportedProtocol').map((c) => `${c.source.name} ${c.field}: ${c.message}`)).toEqual([
      'r2 spec.rules[0].backendRefs[0]: spec.rules[0].backendRefs[0]: Service apps/https port 80 has appProtocol https, which needs TLS to the endpoints, and Portico does not support BackendTLSPolicy; its share of requests fails',
      'r3 spec.rules[0].backendRefs[0]: spec.rules[0].backendRefs[0]: Service apps/kubernetes-io-wss port 80 has appProtocol kubernetes.io/wss, which needs TLS to the endpoints, and Portico does not support BackendTLSPolicy; its share of requests fails',
      'r4 spec.rules[0].backendRefs[0]: spec.rules[0].backendRefs[0]: Service apps/grpcs port 80 has appProtocol grpcs, which needs TLS to the endpoints, and Portico does not support BackendTLSPolicy; its share of requests fails',
      'r5 spec.rules[0].backendRefs[0]: spec.rules[0].backendRefs[0]: Service apps/example-com-custom port 80 has appProtocol example.com/custom, which Portico does not speak; its share of requests fails',
    ]);
  });

  it('GRPCRoute: service/method become paths and the backends speak gRPC', () => {
    const grpc = { apiVersion: G, kind: 'GRPCRoute', metadata: { name: 'rpc', namespace: 'apps' }, spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], rules: [{ matches: [{ method: { service: 'echo.Echo', method: 'Say' } }, { method: { service: 'health.Health' } }], backendRefs: [to('api')] }] } };
    const result = build([...base, grpc]);
    expect(routesOf(result)).toEqual(['* Exact /echo.Echo/Say <- GRPCRoute apps/rpc spec.rules[0].matches[0] -> api:80x1', '* Prefix /health.Health <- GRPCRoute apps/rpc spec.rules[0].matches[1] -> api:80x1']);
    expect(result.model.virtualHosts[0]!.routes[0]!.backends[0]!.protocol).toBe('grpc');
    const filtered = build([
      ...base,
      { ...grpc, spec: { ...grpc.spec, rules: [{ filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-via', value: 'portico' }] } }], backendRefs: [to('api')] }, { filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x.example.com' } }], backendRefs: [to('api')] }] } },
    ]);
    expect(filtered.model.virtualHosts[0]!.routes.map((r) => Object.keys(r.policies ?? {}))).toEqual([['requestHeaderModifier']]);
    expect(filtered.conditions).toMatchObject([{ field: 'spec.rules[1]', reason: 'UnsupportedValue' }]);
    expect(parentConditions(result, 'rpc')).toEqual([{ Accepted: 'True/Accepted', ResolvedRefs: 'True/ResolvedRefs' }]);
  });

  it('GRPCRoute: a bad method name or pattern drops its rule, naming the field and the value', () => {
    const bad = { apiVersion: G, kind: 'GRPCRoute', metadata: { name: 'bad', namespace: 'apps' }, spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], rules: [
      { matches: [{ method: { service: 'echo.Echo', method: 'Say Hello/../x' } }], backendRefs: [to('api')] },
      { matches: [{ method: { service: 'echo Echo' } }], backendRefs: [to('api')] },
      { matches: [{ method: { type: 'RegularExpression', service: 'echo.Echo', method: '[' } }], backendRefs: [to('api')] },
    ] } };
    const messages = build([...base, bad]).conditions.map((c) => `${c.field} ${c.reason}: ${c.message}`);
    expect(messages).toEqual([
      expect.stringContaining('spec.rules[0] UnsupportedValue: spec.rules[0].matches[0].method.method: "Say Hello/../x" is not a valid gRPC method name'),
      expect.stringContaining('spec.rules[1] UnsupportedValue: spec.rules[1].matches[0].method.service: "echo Echo" is not a valid gRPC service name'),
      expect.stringContaining('spec.rules[2] UnsupportedValue: spec.rules[2].matches[0].method: the path pattern "/echo.Echo/[" is not a regular expression Portico runs'),
    ]);
  });
});

describe('RequestMirror in the Gateway processor', () => {
  const base = [gatewayClass(), gateway([http()])];
  const mirrorRule = (backendRef: Obj): Obj => ({ filters: [{ type: 'RequestMirror', requestMirror: { backendRef, percent: 50 } }], backendRefs: [to('web')] });

  it('resolves the mirror backend and registers its endpoint set', () => {
    const result = build([...base, httpRoute('m', { rules: [mirrorRule(to('api'))] })]);
    const mirrors = result.model.virtualHosts[0]!.routes[0]!.policies?.requestMirror?.mirrors;
    expect(mirrors).toEqual([{ namespace: 'apps', service: 'api', port: 80, endpointSet: expect.any(String), numerator: 50, denominator: 100 }]);
    expect(result.model.endpointSets.map((set) => set.key)).toContain(mirrors?.[0]?.endpointSet);
  });

  it('drops the rule naming the mirror backendRef when it does not resolve', () => {
    const result = build([...base, httpRoute('m', { rules: [mirrorRule(to('missing'))] })]);
    expect(result.model.virtualHosts).toEqual([]);
    expect(JSON.stringify(result.gateway.routes)).toContain('spec.rules[0].filters[0].requestMirror.backendRef: Service apps/missing not found');
  });

  it('marks unresolved backendRefs invalid (their weight share answers 500), resolved ones not', () => {
    const result = build([...base, httpRoute('m', { rules: [{ backendRefs: [to('web', 80, { weight: 2 }), to('missing', 80, { weight: 1 })] }] })]);
    expect(result.model.virtualHosts[0]!.routes[0]!.backends.map((b) => [b.service, b.weight, b.invalid ?? false])).toEqual([['web', 2, false], ['missing', 1, true]]);
  });
});
