// Gateway API filters on backendRefs (HTTPBackendRef.filters, GRPCBackendRef.filters): the build
// carries the header modifiers per backend (route policy backendFilters, by backend index), the
// snapshot and explain show them, and anything else on a backendRef drops the rule, naming it.
import { describe, expect, it } from 'vitest';
import { serviceWithEndpoints } from '../../api/test-support.ts';
import { compileSnapshot } from '../../compile/index.ts';
import { Explainer } from '../../explain/explain.ts';
import { parseSnapshot } from '../../snapshot/schema.ts';
import { applyBackendPolicy, applyPolicy, preparePolicies } from '../../snapshot/policies/registry.ts';
import { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import { buildModel } from '../index.ts';
import { DEFAULT_CLASS_SELECTION } from '../ingress-class.ts';

const G = 'gateway.networking.k8s.io/v1';
type Obj = Record<string, unknown>;

const base: Obj[] = [
  { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico', generation: 1 }, spec: { controllerName: 'portico.dev/gateway-controller' } },
  { apiVersion: G, kind: 'Gateway', metadata: { name: 'edge', namespace: 'infra', generation: 1 }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] } },
];
const route = (name: string, rules: Obj[], kind = 'HTTPRoute'): Obj => ({
  apiVersion: G,
  kind,
  metadata: { name, namespace: 'apps', generation: 4, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], rules },
});
const setHeader = (name: string, value: string): Obj => ({ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name, value }] } });

function build(objects: Obj[]) {
  const state = ClusterState.from([...(objects as unknown as KubeObject[]), ...serviceWithEndpoints('apps', 'v1', 8080, ['10.0.0.1']), ...serviceWithEndpoints('apps', 'v2', 8080, ['10.0.0.2'])]);
  return buildModel(state, DEFAULT_CLASS_SELECTION);
}
const status = (result: ReturnType<typeof build>, name: string) =>
  Object.fromEntries(result.gateway.routes.find((r) => r.name === name)!.parents[0]!.conditions.map((c) => [c.type, `${c.status}/${c.reason}: ${c.message}`]));

describe('backendRef filters in the Gateway processor', () => {
  const weighted = route('weights', [{
    filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Rule', value: 'rule' }, { name: 'Backend', value: 'rule' }] } }],
    backendRefs: [
      { name: 'v1', port: 8080, weight: 10, filters: [setHeader('Backend', 'v1')] },
      { name: 'v2', port: 8080, weight: 10, filters: [setHeader('Backend', 'v2'), { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-From', value: 'v2' }], remove: ['Server'] } }] },
      { name: 'v1', port: 8080, weight: 0 },
    ],
  }]);

  it('carries each backend\'s header modifiers by backend index, beside the rule\'s own filters, and the route stays Accepted', () => {
    const result = build([...base, weighted]);
    const served = result.model.virtualHosts[0]!.routes[0]!;
    expect(served.backends.map((b) => `${b.service}x${b.weight}`)).toEqual(['v1x10', 'v2x10', 'v1x0']);
    expect(served.policies?.requestHeaderModifier?.set).toEqual([{ name: 'X-Rule', value: 'rule' }, { name: 'Backend', value: 'rule' }]);
    expect(served.policies?.backendFilters).toEqual({
      backends: [
        { backend: 0, name: 'apps/v1:8080', requestHeaderModifier: { set: [{ name: 'Backend', value: 'v1' }], add: [], remove: [] } },
        { backend: 1, name: 'apps/v2:8080', requestHeaderModifier: { set: [{ name: 'Backend', value: 'v2' }], add: [], remove: [] }, responseHeaderModifier: { set: [], add: [{ name: 'X-From', value: 'v2' }], remove: ['Server'] } },
      ],
    });
    expect(status(result, 'weights')).toMatchObject({ Accepted: expect.stringMatching(/^True\/Accepted/), ResolvedRefs: expect.stringMatching(/^True\/ResolvedRefs/) });
    expect(result.conditions).toEqual([]);
  });

  it('the snapshot keeps them (its schema checks them), and explain names them per backend', () => {
    const snapshot = parseSnapshot(JSON.parse(JSON.stringify(compileSnapshot(build([...base, weighted]).model))));
    const served = snapshot.hosts[0]!.routes[0]!;
    expect(served.policies?.backendFilters?.backends.map((b) => `${b.backend} ${b.name}`)).toEqual(['0 apps/v1:8080', '1 apps/v2:8080']);
    const explained = new Explainer(snapshot).explain({ host: 'any.example.com', path: '/' });
    expect(explained.status).toBe(200);
    expect(explained.policies?.find((line) => line.startsWith('per-backend filters'))).toBe(
      "per-backend filters (Gateway API backendRefs[].filters, applied only to requests sent to that backend, after the rule's): backendRefs[0] apps/v1:8080: request headers set Backend: v1 | backendRefs[1] apps/v2:8080: request headers set Backend: v2; response headers add X-From: v2; remove Server",
    );
    // A snapshot whose backend filter breaks its schema is refused on load, as any other policy.
    const broken = JSON.parse(JSON.stringify(snapshot));
    broken.hosts[0].routes[0].policies.backendFilters.backends[0].requestHeaderModifier.set[0].name = 'Bad Name';
    expect(() => parseSnapshot(broken)).toThrow();
  });

  it('a backend\'s set and remove replace the rule\'s lines of the name, its add joins them; the rule\'s outcome is left as it was', () => {
    const snapshot = compileSnapshot(build([...base, weighted]).model);
    const served = snapshot.hosts[0]!.routes[0]!;
    const policy = preparePolicies(served.policies, { path: '/', regex: false })!;
    const rule = applyPolicy(policy, 'proxy', { scheme: 'http', host: 'a', path: '/', target: '/', method: 'GET', client: '', header: () => undefined });
    const toV2 = applyBackendPolicy(policy, 1, rule);
    expect(toV2.setHeaders).toEqual([['X-Rule', 'rule'], ['Backend', 'v2']]);
    expect([toV2.responseAdd, toV2.responseRemove]).toEqual([[['X-From', 'v2']], ['server']]);
    expect(rule.setHeaders).toEqual([['X-Rule', 'rule'], ['Backend', 'rule']]);
    expect(applyBackendPolicy(policy, 0, rule).setHeaders).toEqual([['X-Rule', 'rule'], ['Backend', 'v1']]);
    // The third backend has none of its own: the rule's outcome, not a copy.
    expect(applyBackendPolicy(policy, 2, rule)).toBe(rule);
  });

  it('GRPCRoute backendRefs take the header modifiers too', () => {
    const result = build([...base, route('rpc', [{ backendRefs: [{ name: 'v1', port: 8080, filters: [setHeader('x-backend', 'v1')] }] }], 'GRPCRoute')]);
    expect(result.model.virtualHosts[0]!.routes[0]!.policies?.backendFilters?.backends).toMatchObject([{ backend: 0, requestHeaderModifier: { set: [{ name: 'x-backend', value: 'v1' }] } }]);
  });

  it.each([
    ['RequestRedirect', { type: 'RequestRedirect', requestRedirect: { statusCode: 301 } }, 'spec.rules[0].backendRefs[1].filters[0].type: RequestRedirect is not supported on a backendRef by Portico'],
    ['URLRewrite', { type: 'URLRewrite', urlRewrite: { hostname: 'x.example.com' } }, 'spec.rules[0].backendRefs[1].filters[0].type: URLRewrite is not supported on a backendRef'],
    ['RequestMirror', { type: 'RequestMirror', requestMirror: { backendRef: { name: 'v1', port: 8080 } } }, 'spec.rules[0].backendRefs[1].filters[0].type: RequestMirror is not supported on a backendRef'],
    ['ExtensionRef', { type: 'ExtensionRef', extensionRef: { group: 'x', kind: 'Y', name: 'z' } }, 'spec.rules[0].backendRefs[1].filters[0].type: ExtensionRef is not supported on a backendRef'],
    ['an unknown type', { type: 'Teleport' }, 'spec.rules[0].backendRefs[1].filters[0].type: "Teleport" is not a Gateway API HTTPRoute filter type'],
    ['an invalid header name', setHeader('Bad Name', 'x'), 'spec.rules[0].backendRefs[1].filters[0].requestHeaderModifier.set[0].name: "Bad Name" is not an HTTP header name'],
    ['a value with CR LF', setHeader('X-Ok', 'a\r\nInjected: yes'), 'spec.rules[0].backendRefs[1].filters[0].requestHeaderModifier.set[0].value: must be a header value of at most 4096 characters'],
    ['a value past 4096 characters', setHeader('X-Big', 'v'.repeat(4097)), 'spec.rules[0].backendRefs[1].filters[0].requestHeaderModifier.set[0].value: must be a header value of at most 4096'],
    ['17 filters', Array.from({ length: 17 }, () => setHeader('X-A', 'a')), 'spec.rules[0].backendRefs[1].filters: has 17 entries, at most 16 are allowed'],
    ['two RequestHeaderModifiers', [setHeader('X-A', 'a'), setHeader('X-B', 'b')], 'spec.rules[0].backendRefs[1].filters[1].type: RequestHeaderModifier may appear only once'],
    ['removing Host', { type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['host'] } }, 'spec.rules[0].backendRefs[1].filters[0].requestHeaderModifier.remove[0]: the Host header cannot be removed'],
  ])('drops the rule for %s on a backendRef, naming route, rule, backendRef and filter (the other rule still serves)', (_name, filter, message) => {
    const filters = Array.isArray(filter) ? filter : [filter];
    const result = build([...base, route('bad', [
      { matches: [{ path: { value: '/a' } }], backendRefs: [{ name: 'v1', port: 8080 }, { name: 'v2', port: 8080, filters }] },
      { matches: [{ path: { value: '/b' } }], backendRefs: [{ name: 'v2', port: 8080, filters: [setHeader('X-Ok', 'yes')] }] },
    ])]);
    expect(result.model.virtualHosts[0]!.routes.map((r) => r.path)).toEqual(['/b']);
    const conditions = status(result, 'bad');
    expect(conditions.Accepted).toMatch(/^True\/Accepted/);
    expect(conditions.PartiallyInvalid).toContain('True/UnsupportedValue: rules not served: ');
    expect(conditions.PartiallyInvalid).toContain(message);
    expect(result.conditions).toMatchObject([{ source: { kind: 'HTTPRoute', namespace: 'apps', name: 'bad' }, field: 'spec.rules[0]', reason: 'UnsupportedValue', severity: 'Error' }]);
    expect(result.conditions[0]!.message).toContain(message);
  });

  it('a route whose only rule has a refused backendRef filter is Accepted=False and registers no endpoint set for it', () => {
    const result = build([...base, route('only', [{ backendRefs: [{ name: 'v1', port: 8080, filters: [{ type: 'URLRewrite', urlRewrite: { hostname: 'x.example.com' } }] }] }])]);
    expect(result.model.virtualHosts).toEqual([]);
    expect(status(result, 'only').Accepted).toMatch(/^False\/UnsupportedValue: no rule can be served: spec\.rules\[0\]\.backendRefs\[0\]\.filters\[0\]\.type: URLRewrite/);
    expect(result.model.endpointSets).toEqual([]);
  });

  it('a filter on an invalid backendRef: valid filters keep the rule (the reference\'s share answers 500, ResolvedRefs says why); invalid ones drop it', () => {
    const good = build([...base, route('ghost', [{ backendRefs: [{ name: 'v1', port: 8080 }, { name: 'missing', port: 8080, filters: [setHeader('X-A', 'a')] }] }])]);
    const served = good.model.virtualHosts[0]!.routes[0]!;
    expect(served.backends.map((b) => `${b.service} ${b.invalid === true ? 'invalid' : 'ok'}`)).toEqual(['v1 ok', 'missing invalid']);
    expect(served.policies?.backendFilters?.backends.map((b) => b.backend)).toEqual([1]);
    expect(status(good, 'ghost').ResolvedRefs).toMatch(/^False\/BackendNotFound: .*spec\.rules\[0\]\.backendRefs\[1\]: Service apps\/missing not found/);
    const bad = build([...base, route('ghost', [{ backendRefs: [{ name: 'missing', port: 8080, filters: [setHeader('Bad Name', 'a')] }] }])]);
    expect(bad.model.virtualHosts).toEqual([]);
    expect(status(bad, 'ghost').Accepted).toMatch(/^False\/UnsupportedValue: .*backendRefs\[0\]\.filters\[0\]\.requestHeaderModifier\.set\[0\]\.name/);
  });
});
