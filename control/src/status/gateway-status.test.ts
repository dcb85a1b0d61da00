import { describe, expect, it } from 'vitest';
import { buildModel } from '../build/index.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { gatewayStatusPath, planGatewayStatus } from './gateway-status.ts';

const G = 'gateway.networking.k8s.io/v1';
const objects = [
  { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico', generation: 4, resourceVersion: '1' }, spec: { controllerName: 'portico.dev/gateway-controller' } },
  { apiVersion: G, kind: 'Gateway', metadata: { name: 'edge', namespace: 'infra', generation: 2, resourceVersion: '2' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] } },
  {
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name: 'web', namespace: 'apps', generation: 7, resourceVersion: '3' },
    spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], rules: [{ backendRefs: [{ name: 'missing', port: 80 }] }] },
    status: { parents: [{ controllerName: 'example.com/other', parentRef: { name: 'theirs' }, conditions: [] }] },
  },
] as unknown as KubeObject[];

const NOW = '2026-12-01T07:00:00Z';

describe('planGatewayStatus', () => {
  const state = ClusterState.from(objects);
  const status = buildModel(state, DEFAULT_CLASS_SELECTION).gateway;
  const updates = planGatewayStatus(status, state, [{ ip: '10.0.0.9' }], NOW);

  it('writes the class, the Gateway (addresses, Programmed, listeners) and the route parents with observedGeneration', () => {
    expect(updates.map((u) => `${u.kind} ${gatewayStatusPath(u)}`)).toEqual([
      'GatewayClass /apis/gateway.networking.k8s.io/v1/gatewayclasses/portico/status',
      'Gateway /apis/gateway.networking.k8s.io/v1/namespaces/infra/gateways/edge/status',
      'HTTPRoute /apis/gateway.networking.k8s.io/v1/namespaces/apps/httproutes/web/status',
    ]);
    const [gatewayClass, gateway, route] = updates;
    expect(gatewayClass!.status.conditions).toMatchObject([
      { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 4, lastTransitionTime: NOW },
      { type: 'SupportedVersion', status: 'True', reason: 'SupportedVersion', observedGeneration: 4 },
    ]);
    expect(gateway!.status).toMatchObject({
      addresses: [{ type: 'IPAddress', value: '10.0.0.9' }],
      conditions: [
        { type: 'Accepted', status: 'True', observedGeneration: 2 },
        { type: 'Programmed', status: 'True', reason: 'Programmed', observedGeneration: 2 },
      ],
      listeners: [{ name: 'http', attachedRoutes: 1, supportedKinds: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }, { group: 'gateway.networking.k8s.io', kind: 'GRPCRoute' }] }],
    });
    // The other controller's parent entry is kept; Portico's is added with the spec's reasons.
    expect(route!.status.parents).toMatchObject([
      { controllerName: 'example.com/other' },
      {
        controllerName: 'portico.dev/gateway-controller',
        parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra', name: 'edge' },
        conditions: [
          { type: 'Accepted', status: 'True', reason: 'Accepted', observedGeneration: 7 },
          { type: 'ResolvedRefs', status: 'False', reason: 'BackendNotFound', observedGeneration: 7 },
        ],
      },
    ]);
  });

  it('plans nothing once the objects carry that status, and keeps lastTransitionTime while a status holds', () => {
    const written = ClusterState.from(objects);
    for (const update of updates) {
      const map = { GatewayClass: written.gatewayClasses, Gateway: written.gateways, HTTPRoute: written.httpRoutes, GRPCRoute: written.grpcRoutes }[update.kind] as Map<string, KubeObject>;
      const key = update.namespace === undefined ? update.name : `${update.namespace}/${update.name}`;
      const object = map.get(key)!;
      written.upsert({ ...object, metadata: { ...object.metadata, resourceVersion: `${object.metadata.resourceVersion}0` }, status: update.status } as KubeObject);
    }
    expect(planGatewayStatus(status, written, [{ ip: '10.0.0.9' }], '2026-12-01T08:00:00Z')).toEqual([]);
    const moved = planGatewayStatus(status, written, [], '2026-12-01T08:00:00Z');
    expect(moved.map((u) => u.kind)).toEqual(['Gateway']);
    expect(moved[0]!.status.conditions).toMatchObject([
      { type: 'Accepted', lastTransitionTime: NOW },
      { type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', lastTransitionTime: '2026-12-01T08:00:00Z' },
    ]);
  });

  it('removes Portico’s parent entry from a route that no longer attaches, keeping the others', () => {
    const detached = ClusterState.from(objects);
    const route = detached.httpRoutes.get('apps/web')!;
    detached.upsert({ ...route, metadata: { ...route.metadata, resourceVersion: '9' }, spec: { ...route.spec, parentRefs: [{ name: 'elsewhere' }] }, status: { parents: [{ controllerName: 'example.com/other', parentRef: { name: 'theirs' } }, { controllerName: 'portico.dev/gateway-controller', parentRef: { name: 'edge' }, conditions: [] }] } } as KubeObject);
    const plan = planGatewayStatus(buildModel(detached, DEFAULT_CLASS_SELECTION).gateway, detached, [{ ip: '10.0.0.9' }], NOW);
    expect(plan.find((u) => u.kind === 'HTTPRoute')!.status).toEqual({ parents: [{ controllerName: 'example.com/other', parentRef: { name: 'theirs' } }] });
  });
});
