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
import { identicalEnds } from '../snapshot/sealed-against.ts';
import type { ClusterState, StateWatch } from '../state/cluster-state.ts';
import { compareStrings, objectKey } from '../state/cluster-state.ts';
import { GATEWAY_GROUP } from '../state/gateway-objects.ts';
import type { IngressPoint } from './addresses.ts';

/** A `metav1.Condition` as written. */
interface WrittenCondition extends StatusCondition {
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
  /**
   * Portico's route parent entries left out of this write (undefined: none): other controllers'
   * entries take so much of `status.parents` that Portico's would pass the CRD's maxItems (32).
   */
  readonly parentsLeftOut?: number;
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

/** Deep equality of plain JSON with key order and undefined members ignored: a status read back from the API server orders its keys its own way (compile's sameJson counts key order, which the snapshot hash does). */
function sameJsonAnyKeyOrder(a: unknown, b: unknown): boolean {
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

/** Addresses a Gateway's `status.addresses` holds at most (the Gateway API CRD's maxItems: a longer list is refused whole). */
const MAX_GATEWAY_ADDRESSES = 16;

/** Addresses as Gateway `status.addresses`: the first MAX_GATEWAY_ADDRESSES of `points` (sorted: the same ones on every replica). */
function gatewayAddresses(points: readonly IngressPoint[]): { type: string; value: string }[] {
  return points.flatMap((p) => (p.ip !== undefined ? [{ type: 'IPAddress', value: p.ip }] : p.hostname !== undefined ? [{ type: 'Hostname', value: p.hostname }] : [])).slice(0, MAX_GATEWAY_ADDRESSES);
}

/** Entries a route's `status.parents` holds at most, every controller's together (the Gateway API CRD's maxItems: a longer list is refused whole). */
export const MAX_ROUTE_PARENTS = 32;

/**
 * Every status write that brings the Gateway API objects Portico answers for in line with
 * `status` (a complete plan): classes, Gateways, then HTTPRoutes and GRPCRoutes each in key order.
 * `points` are the edge addresses (Gateway `status.addresses`, unless the Gateway has its own; a
 * Gateway is Programmed only with at least one). `now` is an RFC 3339 time for new transitions.
 */
export function planGatewayStatus(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string): GatewayStatusUpdate[] {
  const { updates, push } = collect();
  planClassesAndGateways(status, state, points, now, push);
  const entries = entryMap(status.routes);
  for (const kind of ROUTE_KINDS) {
    const routes = routesOf(state, kind);
    for (const key of [...routes.keys()].sort(compareStrings)) judgeRoute(kind, routes.get(key)!, entries.get(routeId(kind, key)), now, push);
  }
  return updates;
}

/** A route entry of the build's status, or none (Portico does not answer for the route). */
type RouteEntry = GatewayApiStatus['routes'][number];
const ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;
type RouteKind = (typeof ROUTE_KINDS)[number];
type Push = (kind: GatewayStatusUpdate['kind'], namespace: string | undefined, name: string, object: { metadata: { resourceVersion?: string | undefined }; status?: unknown }, desired: Record<string, unknown>, parentsLeftOut?: number) => boolean;

const routesOf = (state: ClusterState, kind: RouteKind): ReadonlyMap<string, { metadata: { namespace?: string | undefined; name: string; resourceVersion?: string | undefined }; status?: unknown }> =>
  kind === 'HTTPRoute' ? state.httpRoutes : state.grpcRoutes;
/** A route's id among the build's entries: kind and ClusterState key. */
const routeId = (kind: string, key: string): string => `${kind}\0${key}`;
const entryId = (entry: RouteEntry): string => routeId(entry.kind, objectKey(entry.namespace, entry.name));

function entryMap(routes: GatewayApiStatus['routes']): Map<string, RouteEntry> {
  return new Map(routes.map((entry) => [entryId(entry), entry]));
}

/** An update list and the function that plans a write unless the object already shows it (returns whether it did). */
function collect(): { updates: GatewayStatusUpdate[]; push: Push } {
  const updates: GatewayStatusUpdate[] = [];
  const push: Push = (kind, namespace, name, object, desired, parentsLeftOut) => {
    const current = statusOf(object);
    const merged = { ...current, ...desired };
    if (sameJsonAnyKeyOrder(current, merged)) return false;
    updates.push({ kind, namespace, name, status: desired, observed: object.metadata.resourceVersion, ...(parentsLeftOut === undefined ? {} : { parentsLeftOut }) });
    return true;
  };
  return { updates, push };
}

/**
 * `planGatewayStatus` for every pass of one leader: a pass judges only the routes (HTTPRoute,
 * GRPCRoute) stored or removed since the last pass (their status too: a write coming back), those
 * whose entry in the build's list changed (the span that differs from the last list by identity at
 * both ends: the incremental build keeps an unchanged route's entry), and those the last pass
 * planned a write for (judged every pass until the object shows it: whether they need one depends
 * on `now`). A pass after an edit of one route among 50,000 costs that route, not a step per route;
 * the first pass, a pass over another state and the pass after `reset` judge every route. The plan
 * is the same as `planGatewayStatus`'s.
 */
export class GatewayStatusPlanner {
  /** The state followed since the first pass, and its route changes since the last pass. */
  private state: ClusterState | undefined;
  private watch: StateWatch | undefined;
  /** The build's route list of the last pass and its entries by route id. */
  private routes: GatewayApiStatus['routes'] | undefined;
  private entries = new Map<string, RouteEntry>();
  /** Routes the last pass planned a write for, by kind. */
  private pending = { HTTPRoute: new Set<string>(), GRPCRoute: new Set<string>() };

  /** The complete plan now (see planGatewayStatus). */
  plan(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string): GatewayStatusUpdate[] {
    if (this.watch === undefined || this.state !== state || this.routes === undefined) {
      this.reset();
      this.state = state;
      this.watch = state.watch([...ROUTE_KINDS]);
      this.routes = status.routes;
      this.entries = entryMap(status.routes);
      return this.judge(status, state, points, now, { HTTPRoute: [...state.httpRoutes.keys()], GRPCRoute: [...state.grpcRoutes.keys()] });
    }
    const candidates = { HTTPRoute: new Set(this.pending.HTTPRoute), GRPCRoute: new Set(this.pending.GRPCRoute) };
    const changes = this.watch.take();
    for (const kind of ROUTE_KINDS) for (const key of changes.get(kind) ?? []) candidates[kind].add(key);
    if (status.routes !== this.routes) {
      const before = this.routes;
      const { head, tail } = identicalEnds(status.routes, before);
      // Entries gone first, then the new ones: a route in both spans keeps its new entry.
      for (let i = head; i < before.length - tail; i++) {
        const id = entryId(before[i]!);
        if (this.entries.get(id) === before[i]) this.entries.delete(id);
        candidates[before[i]!.kind].add(objectKey(before[i]!.namespace, before[i]!.name));
      }
      for (let i = head; i < status.routes.length - tail; i++) {
        const entry = status.routes[i]!;
        this.entries.set(entryId(entry), entry);
        candidates[entry.kind].add(objectKey(entry.namespace, entry.name));
      }
      this.routes = status.routes;
    }
    return this.judge(status, state, points, now, { HTTPRoute: [...candidates.HTTPRoute], GRPCRoute: [...candidates.GRPCRoute] });
  }

  /** Forgets what was judged (leadership lost): the next pass judges every route. */
  reset(): void {
    this.watch?.close();
    this.watch = undefined;
    this.state = undefined;
    this.routes = undefined;
    this.entries = new Map();
    this.pending = { HTTPRoute: new Set(), GRPCRoute: new Set() };
  }

  private judge(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string, keys: Record<RouteKind, string[]>): GatewayStatusUpdate[] {
    const { updates, push } = collect();
    planClassesAndGateways(status, state, points, now, push);
    for (const kind of ROUTE_KINDS) {
      const routes = routesOf(state, kind);
      for (const key of keys[kind].sort(compareStrings)) {
        const object = routes.get(key);
        const planned = object !== undefined && judgeRoute(kind, object, this.entries.get(routeId(kind, key)), now, push);
        if (planned) this.pending[kind].add(key);
        else this.pending[kind].delete(key);
      }
    }
    return updates;
  }
}

/** Plans the GatewayClass and Gateway writes of `status` (few objects: judged every pass). */
function planClassesAndGateways(status: GatewayApiStatus, state: ClusterState, points: readonly IngressPoint[], now: string, push: Push): void {
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
}

/**
 * Plans a route's write, Portico's parents as built (`entry`; undefined: Portico does not
 * answer for it): other controllers' entries kept, stale entries of Portico's removed. Portico's
 * take only the room the others leave of MAX_ROUTE_PARENTS, the first in the build's order (the
 * same on every replica), and the update says how many were left out. Returns whether it planned one.
 */
function judgeRoute(kind: RouteKind, object: { metadata: { namespace?: string | undefined; name: string; resourceVersion?: string | undefined }; status?: unknown }, entry: RouteEntry | undefined, now: string, push: Push): boolean {
  const namespace = object.metadata.namespace ?? 'default';
  const current = statusOf(object).parents;
  // Entries that are not objects (no API server lets them through) are dropped, not read: one bad route never stops the pass.
  const currentParents = Array.isArray(current) ? (current.filter((p) => typeof p === 'object' && p !== null) as { controllerName?: unknown; parentRef?: unknown; conditions?: unknown }[]) : [];
  const ours = currentParents.filter((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
  if (entry === undefined && ours.length === 0) return false;
  const others = currentParents.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
  const parents = (entry?.parents ?? []).map((p) => {
    const parentRef = { group: GATEWAY_GROUP, kind: 'Gateway', namespace: p.parentRef.namespace ?? namespace, ...p.parentRef };
    const before = ours.find((o) => sameJsonAnyKeyOrder(o.parentRef, parentRef));
    return { parentRef, controllerName: GATEWAY_CONTROLLER_NAME, conditions: written(p.conditions, entry?.generation, conditionsOf(before?.conditions), now) };
  });
  // The API server refuses a longer list whole (422, every pass): better Portico's first entries than none.
  const room = Math.max(0, MAX_ROUTE_PARENTS - others.length);
  const leftOut = parents.length > room ? parents.length - room : undefined;
  return push(kind, namespace, object.metadata.name, object, { parents: others.concat(leftOut === undefined ? parents : parents.slice(0, room)) }, leftOut);
}
