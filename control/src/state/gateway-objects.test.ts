import { describe, expect, it } from 'vitest';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from './cluster-state.ts';
import type { HTTPRoute } from './gateway-objects.ts';
import { selectorMatches } from './gateway-objects.ts';

const G = 'gateway.networking.k8s.io';
const manifests = `
apiVersion: ${G}/v1
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
---
apiVersion: ${G}/v1
kind: Gateway
metadata: {name: edge}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}}
---
apiVersion: ${G}/v1
kind: HTTPRoute
metadata: {name: web, namespace: apps}
spec:
  parentRefs: [{name: edge, namespace: default, sectionName: http}]
  hostnames: ["*.example.com"]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    backendRefs: [{name: web, port: 80, weight: 3}]
---
apiVersion: ${G}/v1
kind: GRPCRoute
metadata: {name: rpc}
spec:
  parentRefs: [{name: edge}]
  rules: [{matches: [{method: {service: echo.Echo}}], backendRefs: [{name: grpc, port: 50051}]}]
---
apiVersion: ${G}/v1beta1
kind: ReferenceGrant
metadata: {name: allow-apps, namespace: default}
spec:
  from: [{group: ${G}, kind: HTTPRoute, namespace: apps}]
  to: [{group: "", kind: Service}]
---
apiVersion: v1
kind: Namespace
metadata: {name: apps, labels: {team: a}}
`;

describe('Gateway API objects from manifests', () => {
  it('reads every kind into ClusterState; cluster-scoped kinds get no namespace', () => {
    const { objects, problems } = parseManifestText(manifests, 'gw.yaml');
    expect(problems).toEqual([]);
    const state = ClusterState.from(objects);
    expect([...state.gatewayClasses.keys()]).toEqual(['portico']);
    expect(state.gatewayClasses.get('portico')!.metadata.namespace).toBeUndefined();
    expect([...state.gateways.keys()]).toEqual(['default/edge']);
    expect([...state.httpRoutes.keys()]).toEqual(['apps/web']);
    expect([...state.grpcRoutes.keys()]).toEqual(['default/rpc']);
    expect([...state.referenceGrants.keys()]).toEqual(['default/allow-apps']);
    expect(state.namespaces.get('apps')!.metadata.labels).toEqual({ team: 'a' });
  });

  const refused: { name: string; text: string; field: string }[] = [
    { name: 'a Gateway without listeners', text: `apiVersion: ${G}/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: []}\n`, field: 'spec.listeners' },
    { name: 'a listener port out of range', text: `apiVersion: ${G}/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: [{name: l, port: 70000, protocol: HTTP}]}\n`, field: 'spec.listeners[0].port' },
    { name: 'an unknown path match type', text: `apiVersion: ${G}/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {rules: [{matches: [{path: {type: Glob, value: /x}}]}]}\n`, field: 'spec.rules[0].matches[0].path.type' },
    {
      name: 'more rules than the CRD allows (huge route)',
      text: `apiVersion: ${G}/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {rules: [${Array.from({ length: 17 }, () => '{}').join(', ')}]}\n`,
      field: 'spec.rules',
    },
    // The CRD's Hostname pattern: in a cluster the API server refuses these; `Bad_Host!` was served as a host.
    { name: 'a route hostname that is not a DNS name', text: `apiVersion: ${G}/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {hostnames: [ok.example.com, "Bad_Host!"]}\n`, field: 'spec.hostnames[1]' },
    // The pattern lets IPv4 addresses through; the spec's Hostname does not allow them.
    { name: 'a route hostname that is an IP address', text: `apiVersion: ${G}/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {hostnames: [ok.example.com, 10.0.0.1]}\n`, field: 'spec.hostnames[1]' },
    { name: 'a listener hostname that is an IP address', text: `apiVersion: ${G}/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: [{name: l, port: 80, protocol: HTTP, hostname: "192.168.1.10"}]}\n`, field: 'spec.listeners[0].hostname' },
    { name: 'an upper-case GRPCRoute hostname', text: `apiVersion: ${G}/v1\nkind: GRPCRoute\nmetadata: {name: r}\nspec: {hostnames: [Grpc.Example.com]}\n`, field: 'spec.hostnames[0]' },
    { name: 'a listener hostname with a wildcard inside', text: `apiVersion: ${G}/v1\nkind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: [{name: l, port: 80, protocol: HTTP, hostname: "a.*.example.com"}]}\n`, field: 'spec.listeners[0].hostname' },
    { name: 'a ReferenceGrant without from', text: `apiVersion: ${G}/v1beta1\nkind: ReferenceGrant\nmetadata: {name: g}\nspec: {from: [], to: [{group: "", kind: Service}]}\n`, field: 'spec.from' },
  ];
  it.each(refused)('refuses $name, naming the field', ({ text, field }) => {
    const { objects, problems } = parseManifestText(text, 'bad.yaml');
    expect(objects).toEqual([]);
    expect(problems).toMatchObject([{ code: 'PORTICO_E_MANIFEST_SCHEMA', field }]);
  });
});

describe('ClusterState and Gateway API status', () => {
  it('a status-only change of a route is stored but is no change for the build; a spec change is', () => {
    const { objects } = parseManifestText(manifests, 'gw.yaml');
    const state = ClusterState.from(objects);
    const route = state.httpRoutes.get('apps/web')!;
    const withStatus: HTTPRoute = { ...route, metadata: { ...route.metadata, resourceVersion: '9' }, status: { parents: [] } };
    expect(state.upsert(withStatus)).toBe(false);
    expect(state.httpRoutes.get('apps/web')).toBe(withStatus);
    expect(state.upsert({ ...withStatus, metadata: { ...withStatus.metadata, resourceVersion: '10' }, spec: { ...withStatus.spec, hostnames: ['a.example.com'] } })).toBe(true);
  });

  it('clearKind forgets every object of a kind (its CRD went away)', () => {
    const state = ClusterState.from(parseManifestText(manifests, 'gw.yaml').objects);
    expect(state.clearKind('HTTPRoute')).toBe(true);
    expect(state.httpRoutes.size).toBe(0);
    expect(state.clearKind('HTTPRoute')).toBe(false);
    expect(state.gateways.size).toBe(1);
  });
});

describe('selectorMatches', () => {
  const labels = { team: 'a', tier: 'web' };
  it.each([
    [{}, true],
    [{ matchLabels: { team: 'a' } }, true],
    [{ matchLabels: { team: 'b' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['web', 'api'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['web'] }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'Exists' as const }] }, false],
    [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' as const }] }, true],
  ])('%j -> %s', (selector, expected) => {
    expect(selectorMatches(selector, labels)).toBe(expected);
  });
});
