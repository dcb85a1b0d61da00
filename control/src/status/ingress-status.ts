/**
 * Ingress status: the leader writes `status.loadBalancer.ingress` on every Ingress Portico
 * serves, and clears it on Ingresses it no longer serves (only where the status is Portico's
 * own, so it never fights another controller over an Ingress of another class). The leader plans
 * with `IngressStatusPlanner`, which looks again only at what changed since its last pass.
 */
import type { ClassSelection } from '../build/ingress-class.ts';
import { servesIngress } from '../build/ingress-class.ts';
import type { ClusterState, StateWatch } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import type { IngressPoint } from './addresses.ts';
import { pointSetKey, samePoints } from './addresses.ts';

/** One status change to make. */
export interface StatusUpdate {
  readonly namespace: string;
  readonly name: string;
  /** The new points; empty clears the status. */
  readonly points: readonly IngressPoint[];
  /** The Ingress's resourceVersion when the update was planned (an update written from it need not be written again). */
  readonly observed?: string | undefined;
}

function currentPoints(ingress: Ingress): IngressPoint[] | undefined {
  const status = ingress.status as { loadBalancer?: { ingress?: IngressPoint[] } } | undefined;
  return status?.loadBalancer?.ingress;
}

/** The update Ingress `ingress` needs, or undefined when its status is as it should be. */
function wantedUpdate(ingress: Ingress, state: ClusterState, selection: ClassSelection, points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[]): StatusUpdate | undefined {
  const namespace = ingress.metadata.namespace ?? 'default';
  const current = currentPoints(ingress);
  const observed = ingress.metadata.resourceVersion;
  if (servesIngress(ingress, state, selection)) {
    if (!samePoints(current, points)) return { namespace, name: ingress.metadata.name, points, observed };
  } else if ((current ?? []).length > 0 && (samePoints(current, points) || previous.some((p) => samePoints(current, p)))) {
    return { namespace, name: ingress.metadata.name, points: [], observed };
  }
  return undefined;
}

/** The order of a plan: by `namespace/name`. */
const byIngress = (a: StatusUpdate, b: StatusUpdate): number => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1);

/**
 * The status updates that bring every Ingress in line (a complete plan: every Ingress whose
 * status differs from what it should be). Pure. `previous` lists the address sets Portico
 * published before, so a change of address also clears Ingresses that left Portico's class
 * while they still show an older address.
 */
export function planStatusUpdates(state: ClusterState, selection: ClassSelection, points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[] = []): StatusUpdate[] {
  const updates: StatusUpdate[] = [];
  for (const ingress of state.ingresses.values()) {
    const update = wantedUpdate(ingress, state, selection, points, previous);
    if (update !== undefined) updates.push(update);
  }
  return updates.sort(byIngress);
}

/**
 * What every verdict of a pass depends on besides its Ingress and the IngressClasses: the points
 * as written (their order too: an update carries them), and the earlier sets as `samePoints`
 * compares them, without the one equal to the points (an Ingress showing it is judged by the
 * points already), so recording the points among the earlier sets after a pass changes nothing.
 */
function dependsOn(points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[]): string {
  const now = pointSetKey(points);
  const earlier = [...new Set(previous.map(pointSetKey))].filter((key) => key !== now).sort();
  return JSON.stringify([points, earlier]);
}

/**
 * `planStatusUpdates` kept up to date between passes: each pass looks again only at the Ingresses
 * stored, changed (their status too: a write coming back) or removed since the last pass, and
 * goes over every Ingress only when what every verdict depends on moved (the points, the earlier
 * address sets, an IngressClass). A pass after one edit costs that Ingress, not one step per
 * Ingress of the cluster. Holds the updates still wanted (at most one per Ingress).
 */
export class IngressStatusPlanner {
  private readonly state: ClusterState;
  private readonly selection: ClassSelection;
  /** The changes since the last pass; open from the first pass until `reset` (a replica that never plans notes nothing). */
  private watch: StateWatch | undefined;
  /** The plan of the last pass, by Ingress key. */
  private readonly updates = new Map<string, StatusUpdate>();
  /** What the last pass's verdicts depended on besides the Ingresses and classes (`dependsOn`). */
  private planned: string | undefined;

  constructor(state: ClusterState, selection: ClassSelection) {
    this.state = state;
    this.selection = selection;
  }

  /** The complete plan now: what `planStatusUpdates` returns (or throws) for the same arguments. */
  plan(points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[] = []): StatusUpdate[] {
    const changes = this.watch?.take();
    this.watch ??= this.state.watch(['Ingress', 'IngressClass']);
    const planned = dependsOn(points, previous);
    const ingresses = this.state.ingresses;
    try {
      if (changes === undefined || planned !== this.planned || (changes.get('IngressClass')?.size ?? 0) > 0) {
        this.updates.clear();
        for (const [key, ingress] of ingresses) this.consider(key, ingress, points, previous);
        this.planned = planned;
      } else {
        for (const key of changes.get('Ingress') ?? []) {
          this.updates.delete(key);
          const ingress = ingresses.get(key);
          if (ingress !== undefined) this.consider(key, ingress, points, previous);
        }
      }
    } catch (error) {
      // The changes taken are not all applied: the next pass starts over, as planStatusUpdates would.
      this.reset();
      throw error;
    }
    return [...this.updates.values()].sort(byIngress);
  }

  /** Forgets the plan and stops following the state (leadership lost): the next pass goes over every Ingress. */
  reset(): void {
    this.watch?.close();
    this.watch = undefined;
    this.updates.clear();
    this.planned = undefined;
  }

  private consider(key: string, ingress: Ingress, points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[]): void {
    const update = wantedUpdate(ingress, this.state, this.selection, points, previous);
    if (update !== undefined) this.updates.set(key, update);
  }
}

/** The merge patch for the status subresource. */
export function statusPatch(points: readonly IngressPoint[]): unknown {
  return { status: { loadBalancer: { ingress: points.length > 0 ? points : null } } };
}
