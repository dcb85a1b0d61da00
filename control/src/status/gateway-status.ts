/**
 * Gateway API status: what the leader writes on GatewayClasses, Gateways, HTTPRoutes and
 * GRPCRoutes, from the build's GatewayApiStatus and the edge addresses. Conditions carry
 * `observedGeneration`; `lastTransitionTime` is kept from the object while a condition's status
 * is unchanged, so a pass that changes nothing plans no write. A route's `status.parents` keeps
 * the entries of other controllers and replaces Portico's own. Pure (the clock is a parameter).
 */
import type { GatewayApiStatus } from '../build/gateway/index.ts';
import type { StatusCondition } from '../build/gateway/listeners.ts';
import { GATEWAY_CONTROLLER_NAME } from '../build/gateway/listeners.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';
import { GATEWAY_GROUP } from '../state/gateway-objects.ts';
import type { IngressPoint } from './addresses.ts';

/** A `metav1.Condition` as written. */
export interface WrittenCondition extends StatusCondition {
  readonly observedGeneration: number;
  readonly lastTransitionTime: string;
}

/** One status write: the object and the merge patch of its status subresource. */
export interface GatewayStatusUpdate {
  readonly kind: 'GatewayClass' | 'Gateway' | 'HTTPRoute' | 'GRPCRoute';
  /** Undefined for a GatewayClass. */
  readonly namespace: string | undefined;
  readonly name: string;
  readonly status: Record<string, unknown>;
  /** The object's resourceVersion when planned. */
  readonly observed: string | undefined;
}

/** The API path of an update's status subresource. */
export function gatewayStatusPath(update: GatewayStatusUpdate): string {
  const plural = { GatewayClass: 'gatewayclasses', Gateway: 'gateways', HTTPRoute: 'httproutes', GRPCRoute: 'grpcroutes' }[update.kind];
  const scope = update.namespace === undefined ? '' : `/namespaces/${update.namespace}`;
  return `/apis/${GATEWAY_GROUP}/v1${scope}/${plural}/${update.name}/status`;
}

/** The merge patch for an update (the status replaces Portico's part wholesale; lists are replaced, as merge patches do). */
export function gatewayStatusPatch(update: GatewayStatusUpdate): unknown {
  return { status: update.status };
}

type Current = readonly { type?: unknown; status?: unknown; lastTransitionTime?: unknown }[] | undefined;

function written(conditions: readonly StatusCondition[], generation: number | undefined, current: Current, now: string): WrittenCondition[] {
  return conditions.map((c) => {
    const before = current?.find((old) => old.type === c.type);
    const since = before !== undefined && before.status === c.status && typeof before.lastTransitionTime === 'string' ? before.lastTransitionTime : now;
    return { type: c.type, status: c.status, reason: c.reason, message: c.message.slice(0, 32_768), observedGeneration: generation ?? 0, lastTransitionTime: since };
  });
}

/** Deep equality of plain JSON, with key order ignored. */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
  );
}

function statusOf(object: { status?: unknown } | undefined): Record<string, unknown> {
  return (typeof object?.status === 'object' && object.status !== null ? object.status : {}) as Record<string, unknown>;
}

/** The objects among a status's conditions (anything else, which no API server lets through, is not read). */
const conditionsOf = (value: unknown): Current => (Array.isArray(value) ? (value.filter((c) => typeof c === 'object' && c !== null) as Current) : undefined);

/** Addresses as Gateway `status.addresses`. */
function gatewayAddresses(points: readonly IngressPoint[]): { type: string; value: string }[] {
  return points.flatMap((p) => (p.ip !== undefined ? [{ type: 'IPAddress', value: p.ip }] : p.hostname !== undefined ? [{ type: 'Hostname', value: p.hostname }] : []));
}

/**
 * Every status write that brings the Gateway API objects Portico answers for in line with
 * `status` (a complete plan). `points` are the edge addresses (Gateway `status.addresses`, unless
 * the Gateway has its own; a Gateway is Programmed only with at least one). `now` is an RFC 3339 time for new transitions.
 */
export function planGatewayStatus(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string): GatewayStatusUpdate[] {
  return plan(status, state, points, now, undefined);
}

/**
 * The build's route entries by kind, then by `namespace/name` (ClusterState's key), made once per
 * list: the incremental build hands out the same list while no route's entry changed.
 */
const entriesByKind = new WeakMap<GatewayApiStatus['routes'], ReadonlyMap<string, ReadonlyMap<string, GatewayApiStatus['routes'][number]>>>();

function routesByKind(routes: GatewayApiStatus['routes']): ReadonlyMap<string, ReadonlyMap<string, GatewayApiStatus['routes'][number]>> {
  let byKind = entriesByKind.get(routes);
  if (byKind === undefined) {
    const made = new Map<string, Map<string, GatewayApiStatus['routes'][number]>>();
    for (const route of routes) {
      let byKey = made.get(route.kind);
      if (byKey === undefined) made.set(route.kind, (byKey = new Map()));
      byKey.set(objectKey(route.namespace, route.name), route);
    }
    entriesByKind.set(routes, (byKind = made));
  }
  return byKind;
}

/** A route entry of the build's status, or none (Portico does not answer for the route). */
type RouteEntry = GatewayApiStatus['routes'][number];
const NO_ENTRY = {};

/**
 * `planGatewayStatus` for every pass of one leader: a route (HTTPRoute, GRPCRoute) judged to need no
 * write is not judged again while it is the same object (its status too: a write coming back
 * replaces it in ClusterState) and the build's entry for it is the same object (the incremental
 * build keeps an unchanged route's entry). A pass after an edit costs an identity check per route
 * (and, when the build's route list changed, a map of its entries) instead of building and
 * comparing every route's status as JSON. The plan is the same as
 * `planGatewayStatus`'s: whether a route needs a write depends on `now` only when it does (a
 * condition whose status moved), and those routes are judged every pass.
 */
export class GatewayStatusPlanner {
  /** Routes judged in line with their entry (or with none): the entry they were judged against. */
  private settled = new WeakMap<object, RouteEntry | typeof NO_ENTRY>();

  /** The complete plan now (see planGatewayStatus). */
  plan(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string): GatewayStatusUpdate[] {
    return plan(status, state, points, now, this.settled);
  }

  /** Forgets what was judged (leadership lost). */
  reset(): void {
    this.settled = new WeakMap();
  }
}

function plan(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string, settled: WeakMap<object, RouteEntry | typeof NO_ENTRY> | undefined): GatewayStatusUpdate[] {
  const updates: GatewayStatusUpdate[] = [];
  /** Plans the write of `desired` unless the object already shows it; returns whether it did. */
  const push = (kind: GatewayStatusUpdate['kind'], namespace: string | undefined, name: string, object: { metadata: { resourceVersion?: string | undefined }; status?: unknown }, desired: Record<string, unknown>): boolean => {
    const current = statusOf(object);
    const merged = { ...current, ...desired };
    if (sameJson(current, merged)) return false;
    updates.push({ kind, namespace, name, status: desired, observed: object.metadata.resourceVersion });
    return true;
  };

  for (const entry of status.classes) {
    const object = state.gatewayClasses.get(entry.name);
    if (object === undefined) continue;
    const conditions = written(
      [
        entry.accepted,
        { type: 'SupportedVersion', status: 'True', reason: 'SupportedVersion', message: `the API server serves ${GATEWAY_GROUP}/v1, the version Portico reads` },
      ],
      entry.generation,
      conditionsOf(statusOf(object).conditions),
      now,
    );
    push('GatewayClass', undefined, entry.name, object, { conditions });
  }

  const edge = gatewayAddresses(points);
  for (const entry of status.gateways) {
    // A Gateway with an address of its own (--gateway-address) is reached there alone.
    const addresses = entry.address === undefined ? edge : [{ type: 'IPAddress', value: entry.address }];
    const object = state.gateways.get(objectKey(entry.namespace, entry.name));
    if (object === undefined) continue;
    const current = statusOf(object);
    const accepted = entry.accepted;
    const programmed: StatusCondition =
      accepted.status !== 'True'
        ? { type: 'Programmed', status: 'False', reason: 'Invalid', message: 'the Gateway is not accepted' }
        : addresses.length === 0
          ? { type: 'Programmed', status: 'False', reason: 'AddressNotAssigned', message: 'no edge address is known yet (publish Service, --publish-address, or data-plane nodes)' }
          : { type: 'Programmed', status: 'True', reason: 'Programmed', message: 'served by the Portico data planes' };
    const currentListeners = Array.isArray(current.listeners) ? (current.listeners.filter((l) => typeof l === 'object' && l !== null) as { name?: unknown; conditions?: unknown }[]) : [];
    const listeners = entry.listeners.map((l) => ({
      name: l.name,
      supportedKinds: l.supportedKinds.map((kind) => ({ group: GATEWAY_GROUP, kind })),
      attachedRoutes: l.attachedRoutes,
      conditions: written(l.conditions, entry.generation, conditionsOf(currentListeners.find((c) => c.name === l.name)?.conditions), now),
    }));
    push('Gateway', entry.namespace, entry.name, object, { addresses: accepted.status === 'True' ? addresses : [], conditions: written([accepted, programmed], entry.generation, conditionsOf(current.conditions), now), listeners });
  }

  // Routes: Portico's parents as built; other controllers' entries kept; stale entries of Portico's removed.
  const desiredRoutes = routesByKind(status.routes);
  const routeKinds = [
    ['HTTPRoute', state.httpRoutes],
    ['GRPCRoute', state.grpcRoutes],
  ] as const;
  for (const [kind, routes] of routeKinds) {
    for (const [key, object] of routes) {
      const namespace = object.metadata.namespace ?? 'default';
      const entry = desiredRoutes.get(kind)?.get(key);
      if (settled !== undefined && settled.get(object) === (entry ?? NO_ENTRY)) continue;
      const current = statusOf(object).parents;
      // Entries that are not objects (no API server lets them through) are dropped, not read: one bad route never stops the pass.
      const currentParents = Array.isArray(current) ? (current.filter((p) => typeof p === 'object' && p !== null) as { controllerName?: unknown; parentRef?: unknown; conditions?: unknown }[]) : [];
      const ours = currentParents.filter((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
      if (entry === undefined && ours.length === 0) {
        settled?.set(object, NO_ENTRY);
        continue;
      }
      const others = currentParents.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
      const parents = (entry?.parents ?? []).map((p) => {
        const parentRef = { group: GATEWAY_GROUP, kind: 'Gateway', namespace: p.parentRef.namespace ?? namespace, ...p.parentRef };
        const before = ours.find((o) => sameJson(o.parentRef, parentRef));
        return { parentRef, controllerName: GATEWAY_CONTROLLER_NAME, conditions: written(p.conditions, entry?.generation, conditionsOf(before?.conditions), now) };
      });
      if (!push(kind, namespace, object.metadata.name, object, { parents: [...others, ...parents] })) settled?.set(object, entry ?? NO_ENTRY);
    }
  }
  return updates;
}
