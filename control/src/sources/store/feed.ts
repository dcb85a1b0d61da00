/**
 * Feeding a RouteStore into ClusterState: the one call a standalone composition root makes.
 */
import type { ClusterState } from '../../state/cluster-state.ts';
import type { RouteStore } from './route-store.ts';

/**
 * Upserts every stored route into `state`, then keeps `state` in step with every later write,
 * calling `onChange` after each change that altered the state (trigger the rebuild loop there).
 * Resolves with the function that stops feeding. Rejects (PORTICO_E_STORE) when the first list fails.
 */
export async function feedRouteStore(store: RouteStore, state: ClusterState, onChange: () => void): Promise<() => void> {
  // Subscribe first: a write landing between list and subscribe is then seen (twice at worst, a no-op).
  const unsubscribe = store.subscribe((change) => {
    const changed = change.type === 'upsert' ? state.upsert(change.route.ingress) : state.remove(change.ingress);
    if (changed) onChange();
  });
  try {
    for (const route of await store.list()) state.upsert(route.ingress);
  } catch (error) {
    unsubscribe();
    throw error;
  }
  return unsubscribe;
}
