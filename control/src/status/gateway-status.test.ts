import { describe, expect, it } from 'vitest';
import { buildModel } from '../build/index.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { SnapshotHistory } from '../publish/history.ts';
import { SnapshotPublisher } from '../publish/publisher.ts';
import type { GatewayStatusUpdate } from './gateway-status.ts';
import { GatewayStatusPlanner, gatewayStatusPath, planGatewayStatus } from './gateway-status.ts';

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

/**
 * Upserts every route again (a new resourceVersion) with `key` read through a getter that counts
 * each read in the returned counter, so a test can tell whether a pass looked at a route at all.
 */
function countReadsOf(state: ClusterState, key: 'metadata' | 'status'): { reads: number } {
  const counter = { reads: 0 };
  for (const map of [state.httpRoutes, state.grpcRoutes] as Map<string, KubeObject>[]) {
    for (const object of [...map.values()]) {
      const metadata = { ...object.metadata, resourceVersion: `${object.metadata.resourceVersion}${key === 'metadata' ? 'm' : 'c'}` };
      const value: unknown = key === 'metadata' ? metadata : (object as { status?: unknown }).status;
      const counted = { ...object, metadata };
      Object.defineProperty(counted, key, { enumerable: true, get: () => (counter.reads++, value) });
      state.upsert(counted as KubeObject);
    }
  }
  return counter;
}

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

  it('writes at most the 16 addresses a Gateway status holds (the CRD refuses more): the first of the sorted edge addresses', () => {
    const points = Array.from({ length: 20 }, (_, i) => ({ ip: `10.0.1.${10 + i}` }));
    const gateway = planGatewayStatus(status, state, points, NOW).find((u) => u.kind === 'Gateway')!;
    expect(gateway.status.addresses).toEqual(points.slice(0, 16).map((p) => ({ type: 'IPAddress', value: p.ip })));
    expect(gateway.status.conditions).toContainEqual(expect.objectContaining({ type: 'Programmed', status: 'True' }));
  });

  it('writes only as many of Portico’s parent entries as other controllers leave room for (the CRD holds 32): the first in the route’s order, and says how many it left out', () => {
    const crowded = ClusterState.from(objects);
    for (const i of [1, 2, 3]) crowded.upsert({ ...objects[1]!, metadata: { ...objects[1]!.metadata, name: `edge-${i}` } } as KubeObject);
    const route = crowded.httpRoutes.get('apps/web')!;
    const others = Array.from({ length: 30 }, (_, i) => ({ controllerName: 'example.com/other', parentRef: { name: `theirs-${String(i).padStart(2, '0')}` }, conditions: [] }));
    const parentRefs = ['edge', 'edge-1', 'edge-2', 'edge-3'].map((name) => ({ name, namespace: 'infra' }));
    crowded.upsert({ ...route, metadata: { ...route.metadata, resourceVersion: '9' }, spec: { ...route.spec, parentRefs }, status: { parents: others } } as KubeObject);
    const plan = planGatewayStatus(buildModel(crowded, DEFAULT_CLASS_SELECTION).gateway, crowded, [{ ip: '10.0.0.9' }], NOW);
    const update = plan.find((u) => u.kind === 'HTTPRoute')!;
    const parents = update.status.parents as { controllerName: string; parentRef: { name: string } }[];
    expect(parents).toHaveLength(32);
    expect(parents.slice(0, 30)).toEqual(others);
    expect(parents.slice(30).map((p) => [p.controllerName, p.parentRef.name])).toEqual([
      ['portico.dev/gateway-controller', 'edge'],
      ['portico.dev/gateway-controller', 'edge-1'],
    ]);
    expect(update.parentsLeftOut).toBe(2);
    // Once written, the route shows it: nothing more to write.
    crowded.upsert({ ...crowded.httpRoutes.get('apps/web')!, metadata: { ...route.metadata, resourceVersion: '10' }, status: { parents } } as KubeObject);
    expect(planGatewayStatus(buildModel(crowded, DEFAULT_CLASS_SELECTION).gateway, crowded, [{ ip: '10.0.0.9' }], NOW).filter((u) => u.kind === 'HTTPRoute')).toEqual([]);
    // With room for all of them, none is left out.
    expect(plan.every((u) => u.kind === 'HTTPRoute' || u.parentsLeftOut === undefined)).toBe(true);
    expect(updates.find((u) => u.kind === 'HTTPRoute')!.parentsLeftOut).toBeUndefined();
  });

  it('removes Portico’s parent entry from a route that no longer attaches, keeping the others', () => {
    const detached = ClusterState.from(objects);
    const route = detached.httpRoutes.get('apps/web')!;
    detached.upsert({ ...route, metadata: { ...route.metadata, resourceVersion: '9' }, spec: { ...route.spec, parentRefs: [{ name: 'elsewhere' }] }, status: { parents: [{ controllerName: 'example.com/other', parentRef: { name: 'theirs' } }, { controllerName: 'portico.dev/gateway-controller', parentRef: { name: 'edge' }, conditions: [] }] } } as KubeObject);
    const plan = planGatewayStatus(buildModel(detached, DEFAULT_CLASS_SELECTION).gateway, detached, [{ ip: '10.0.0.9' }], NOW);
    expect(plan.find((u) => u.kind === 'HTTPRoute')!.status).toEqual({ parents: [{ controllerName: 'example.com/other', parentRef: { name: 'theirs' } }] });
  });
});

describe('GatewayStatusPlanner', () => {
  const route = (n: number, backend: string, status?: unknown): KubeObject =>
    ({
      apiVersion: G,
      kind: n % 3 === 0 ? 'GRPCRoute' : 'HTTPRoute',
      metadata: { name: `r${n}`, namespace: 'apps', generation: 1, resourceVersion: `r${n}-0` },
      spec: { parentRefs: [{ name: 'edge', namespace: 'infra' }], rules: [{ backendRefs: [{ name: backend, port: 80 }] }] },
      ...(status === undefined ? {} : { status }),
    }) as unknown as KubeObject;
  const mapOf = (state: ClusterState, kind: GatewayStatusUpdate['kind']) => ({ GatewayClass: state.gatewayClasses, Gateway: state.gateways, HTTPRoute: state.httpRoutes, GRPCRoute: state.grpcRoutes })[kind] as Map<string, KubeObject>;
  let serial = 0;
  /** Each planned write coming back through the informer: the object with that status and a new resourceVersion. */
  const echo = (state: ClusterState, updates: readonly GatewayStatusUpdate[]) => {
    for (const update of updates) {
      const object = mapOf(state, update.kind).get(update.namespace === undefined ? update.name : `${update.namespace}/${update.name}`)!;
      state.upsert({ ...object, metadata: { ...object.metadata, resourceVersion: `w${serial++}` }, status: { ...(object as { status?: object }).status, ...update.status } } as KubeObject);
    }
  };

  /**
   * `count` routes whose statuses were written, every route's `key` then read through a counting
   * getter, a planner that has planned once, and one route (r1) edited since; reads counted from here.
   */
  const afterOneRouteEdit = (count: number, key: 'metadata' | 'status') => {
    const state = ClusterState.from([...objects.slice(0, 2), ...Array.from({ length: count }, (_, n) => route(n, 'missing'))]);
    const publisher = new SnapshotPublisher({ state, selection: DEFAULT_CLASS_SELECTION, history: new SnapshotHistory() });
    publisher.rebuild();
    echo(state, planGatewayStatus(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW));
    const counter = countReadsOf(state, key);
    const planner = new GatewayStatusPlanner();
    publisher.rebuild();
    expect(planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW)).toEqual([]);
    const edited = state.httpRoutes.get('apps/r1')!;
    state.upsert({ ...edited, metadata: { ...edited.metadata, generation: 2, resourceVersion: 'e1' } } as KubeObject);
    publisher.rebuild();
    counter.reads = 0;
    return { state, publisher, planner, counter };
  };

  it('plans what planGatewayStatus plans, pass after pass, through edits, write echoes, other controllers, removals and new addresses', () => {
    const state = ClusterState.from([...objects.slice(0, 2), ...Array.from({ length: 12 }, (_, n) => route(n, n % 2 === 0 ? 'missing' : 'also-missing'))]);
    const publisher = new SnapshotPublisher({ state, selection: DEFAULT_CLASS_SELECTION, history: new SnapshotHistory() });
    const planner = new GatewayStatusPlanner();
    let points = [{ ip: '10.0.0.9' }];
    let hour = 0;
    const pass = (): GatewayStatusUpdate[] => {
      publisher.rebuild();
      const now = `2026-12-01T${String(10 + hour++).padStart(2, '0')}:00:00Z`;
      const planned = planner.plan(publisher.gatewayStatus, state, points, now);
      expect(planned).toEqual(planGatewayStatus(publisher.gatewayStatus, state, points, now));
      return planned;
    };
    echo(state, pass());
    expect(pass()).toEqual([]);
    expect(pass()).toEqual([]);
    // A route edited: its generation and conditions move.
    const edited = state.httpRoutes.get('apps/r1')!;
    state.upsert({ ...edited, metadata: { ...edited.metadata, generation: 2, resourceVersion: 'e1' }, spec: { ...(edited as { spec: object }).spec, parentRefs: [{ name: 'edge', namespace: 'infra' }, { name: 'other', namespace: 'infra' }] } } as KubeObject);
    const afterEdit = pass();
    expect(afterEdit.map((u) => u.name)).toEqual(['r1']);
    // Before its write comes back, it is planned again (and nothing else).
    expect(pass().map((u) => u.name)).toEqual(['r1']);
    echo(state, afterEdit);
    expect(pass()).toEqual([]);
    // Another controller adds its entry: kept, nothing to write; someone removes Portico's entry: written again.
    const shared = state.httpRoutes.get('apps/r2')!;
    const parents = ((shared as { status: { parents: unknown[] } }).status.parents);
    state.upsert({ ...shared, metadata: { ...shared.metadata, resourceVersion: 'o1' }, status: { parents: [{ controllerName: 'example.com/other', parentRef: { name: 'x' }, conditions: [] }, ...parents] } } as KubeObject);
    expect(pass()).toEqual([]);
    // Its entry after Portico's: Portico writes the others first (as it always does).
    const reordered = state.httpRoutes.get('apps/r2')!;
    state.upsert({ ...reordered, metadata: { ...reordered.metadata, resourceVersion: 'o2' }, status: { parents: [...parents, { controllerName: 'example.com/other', parentRef: { name: 'x' }, conditions: [] }] } } as KubeObject);
    const rewritten = pass();
    expect(rewritten.map((u) => u.name)).toEqual(['r2']);
    echo(state, rewritten);
    const tampered = state.httpRoutes.get('apps/r4')!;
    state.upsert({ ...tampered, metadata: { ...tampered.metadata, resourceVersion: 't1' }, status: { parents: [] } } as KubeObject);
    expect(pass().map((u) => u.name)).toEqual(['r4']);
    echo(state, pass());
    // Statuses no API server would let through: parents not a list, entries not objects.
    const mine = { controllerName: 'portico.dev/gateway-controller', parentRef: { name: 'edge', namespace: 'infra' } };
    for (const [name, status] of [['r7', { parents: 'junk' }], ['r8', { parents: [7, null, { controllerName: 5 }] }], ['r10', 'junk'], ['r11', { parents: [{ ...mine, conditions: [null, 3, { type: 'Accepted' }] }] }]] as const) {
      const object = state.httpRoutes.get(`apps/${name}`)!;
      state.upsert({ ...object, metadata: { ...object.metadata, resourceVersion: `h-${name}` }, status } as KubeObject);
    }
    const repaired = pass();
    // Routes are planned in key order.
    expect(repaired.map((u) => u.name)).toEqual(['r10', 'r11', 'r7', 'r8']);
    echo(state, repaired);
    // The Gateway stops allowing routes of other namespaces: every route's entry changes, no route object does.
    const gateway = state.gateways.get('infra/edge')!;
    state.upsert({ ...gateway, metadata: { ...gateway.metadata, generation: 3, resourceVersion: 'g1' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'Same' } } }] } } as KubeObject);
    const refused = pass();
    expect(refused.filter((u) => u.kind === 'HTTPRoute' || u.kind === 'GRPCRoute')).toHaveLength(12);
    echo(state, refused);
    expect(pass()).toEqual([]);
    // A route that leaves Portico's Gateways: its entry is gone, Portico's parent is removed.
    const leaving = state.httpRoutes.get('apps/r4')!;
    state.upsert({ ...leaving, metadata: { ...leaving.metadata, generation: 5, resourceVersion: 'l1' }, spec: { ...(leaving as { spec: object }).spec, parentRefs: [{ name: 'elsewhere', namespace: 'infra' }] } } as KubeObject);
    const left = pass();
    expect(left.map((u) => [u.name, u.status])).toEqual([['r4', { parents: [] }]]);
    echo(state, left);
    expect(pass()).toEqual([]);
    // A route removed; new addresses (the Gateway moves, the routes do not).
    state.remove(state.httpRoutes.get('apps/r5')!);
    points = [{ ip: '10.0.0.10' }];
    const gatewayNow = state.gateways.get('infra/edge')!;
    state.upsert({ ...gatewayNow, metadata: { ...gatewayNow.metadata, resourceVersion: 'g2' }, status: { ...(gatewayNow as { status?: object }).status, listeners: [null, 'x'], conditions: [null] } } as KubeObject);
    expect(pass().map((u) => u.kind)).toEqual(['Gateway']);
    planner.reset();
    pass();
  });

  it('looks at the routes an edit touched, not at every route (hostile: 3,000 routes, a pass after one edit)', () => {
    // Every route's metadata is read through a counting getter: looking at a route at all reads it.
    const { state, publisher, planner, counter } = afterOneRouteEdit(3000, 'metadata');
    expect(planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW).map((u) => u.name)).toEqual(['r1']);
    expect(counter.reads).toBe(0);
    // Nothing changed: nothing looked at.
    expect(planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW).map((u) => u.name)).toEqual(['r1']);
    echo(state, planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW));
    counter.reads = 0;
    expect(planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW)).toEqual([]);
    expect(counter.reads).toBe(0);
  });

  it('reads no route status in a pass after an edit of one route, where planGatewayStatus reads every one', () => {
    // Every route's status is read through a counting getter.
    const { state, publisher, planner, counter } = afterOneRouteEdit(300, 'status');
    expect(planner.plan(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW).map((u) => u.name)).toEqual(['r1']);
    expect(counter.reads).toBeLessThanOrEqual(4);
    counter.reads = 0;
    planGatewayStatus(publisher.gatewayStatus, state, [{ ip: '10.0.0.9' }], NOW);
    expect(counter.reads).toBeGreaterThanOrEqual(299);
  });
});
