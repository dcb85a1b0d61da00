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

const conditionsOf = (value: unknown): Current => (Array.isArray(value) ? (value as Current) : undefined);

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
  const updates: GatewayStatusUpdate[] = [];
  const push = (kind: GatewayStatusUpdate['kind'], namespace: string | undefined, name: string, object: { metadata: { resourceVersion?: string | undefined }; status?: unknown }, desired: Record<string, unknown>) => {
    const current = statusOf(object);
    const merged = { ...current, ...desired };
    if (sameJson(current, merged)) return;
    updates.push({ kind, namespace, name, status: desired, observed: object.metadata.resourceVersion });
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
    const currentListeners = Array.isArray(current.listeners) ? (current.listeners as { name?: unknown; conditions?: unknown }[]) : [];
    const listeners = entry.listeners.map((l) => ({
      name: l.name,
      supportedKinds: l.supportedKinds.map((kind) => ({ group: GATEWAY_GROUP, kind })),
      attachedRoutes: l.attachedRoutes,
      conditions: written(l.conditions, entry.generation, conditionsOf(currentListeners.find((c) => c.name === l.name)?.conditions), now),
    }));
    push('Gateway', entry.namespace, entry.name, object, { addresses: accepted.status === 'True' ? addresses : [], conditions: written([accepted, programmed], entry.generation, conditionsOf(current.conditions), now), listeners });
  }

  // Routes: Portico's parents as built; other controllers' entries kept; stale entries of Portico's removed.
  const desiredRoutes = new Map(status.routes.map((r) => [`${r.kind}/${r.namespace}/${r.name}`, r]));
  const routeKinds = [
    ['HTTPRoute', state.httpRoutes],
    ['GRPCRoute', state.grpcRoutes],
  ] as const;
  for (const [kind, routes] of routeKinds) {
    for (const [key, object] of routes) {
      const namespace = object.metadata.namespace ?? 'default';
      const entry = desiredRoutes.get(`${kind}/${key}`);
      const current = statusOf(object).parents;
      const currentParents = Array.isArray(current) ? (current as { controllerName?: unknown; parentRef?: unknown; conditions?: unknown }[]) : [];
      const ours = currentParents.filter((p) => p.controllerName === GATEWAY_CONTROLLER_NAME);
      if (entry === undefined && ours.length === 0) continue;
      const others = currentParents.filter((p) => p.controllerName !== GATEWAY_CONTROLLER_NAME);
      const parents = (entry?.parents ?? []).map((p) => {
        const parentRef = { group: GATEWAY_GROUP, kind: 'Gateway', namespace: p.parentRef.namespace ?? namespace, ...p.parentRef };
        const before = ours.find((o) => sameJson(o.parentRef, parentRef));
        return { parentRef, controllerName: GATEWAY_CONTROLLER_NAME, conditions: written(p.conditions, entry?.generation, conditionsOf(before?.conditions), now) };
      });
      push(kind, namespace, object.metadata.name, object, { parents: [...others, ...parents] });
    }
  }
  return updates;
}
