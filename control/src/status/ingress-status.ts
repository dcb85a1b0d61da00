/**
 * Ingress status: the leader writes `status.loadBalancer.ingress` on every Ingress Portico
 * serves, and clears it on Ingresses it no longer serves (only where the status is Portico's
 * own, so it never fights another controller over an Ingress of another class).
 */
import type { ClassSelection } from '../build/ingress-class.ts';
import { servesIngress } from '../build/ingress-class.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import type { IngressPoint } from './addresses.ts';
import { samePoints } from './addresses.ts';

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

/**
 * The status updates that bring every Ingress in line (a complete plan: every Ingress whose
 * status differs from what it should be). Pure. `previous` lists the address sets Portico
 * published before, so a change of address also clears Ingresses that left Portico's class
 * while they still show an older address.
 */
export function planStatusUpdates(state: ClusterState, selection: ClassSelection, points: readonly IngressPoint[], previous: readonly (readonly IngressPoint[])[] = []): StatusUpdate[] {
  const updates: StatusUpdate[] = [];
  for (const ingress of state.ingresses.values()) {
    const namespace = ingress.metadata.namespace ?? 'default';
    const current = currentPoints(ingress);
    const observed = ingress.metadata.resourceVersion;
    if (servesIngress(ingress, state, selection)) {
      if (!samePoints(current, points)) updates.push({ namespace, name: ingress.metadata.name, points, observed });
    } else if ((current ?? []).length > 0 && (samePoints(current, points) || previous.some((p) => samePoints(current, p)))) {
      updates.push({ namespace, name: ingress.metadata.name, points: [], observed });
    }
  }
  return updates.sort((a, b) => (a.namespace + '/' + a.name < b.namespace + '/' + b.name ? -1 : 1));
}

/** The merge patch for the status subresource. */
export function statusPatch(points: readonly IngressPoint[]): unknown {
  return { status: { loadBalancer: { ingress: points.length > 0 ? points : null } } };
}
