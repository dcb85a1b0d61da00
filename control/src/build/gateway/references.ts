/**
 * ReferenceGrant: a reference from an object in one namespace to an object in another is allowed
 * only when a ReferenceGrant in the target's namespace lists the referring kind and namespace
 * under `from` and the target kind (and name, when it names one) under `to`.
 */
import type { ClusterState } from '../../state/cluster-state.ts';

/** One side of a reference: the API group ('' for core), kind and namespace. */
export interface ReferenceEnd {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

/**
 * Whether `from` may refer to `to` (named `name`): always within one namespace, else only as some
 * ReferenceGrant in `to.namespace` permits. Pure over `state`; looks at the grants that list
 * `from` only (ClusterState indexes them), and the incremental build learns of the lookup.
 */
export function referenceAllowed(state: ClusterState, from: ReferenceEnd, to: ReferenceEnd, name: string): boolean {
  if (from.namespace === to.namespace) return true;
  for (const grant of state.referenceGrantsFor(from, to.namespace)) {
    if (grant.spec.to.some((t) => t.group === to.group && t.kind === to.kind && (t.name === undefined || t.name === '' || t.name === name))) return true;
  }
  return false;
}
