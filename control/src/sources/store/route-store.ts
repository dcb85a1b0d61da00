/**
 * The route store: where routes written through the control API live. Routes are stored and
 * returned as `networking.k8s.io/v1` Ingress objects, so every source feeds ClusterState the same
 * kind of object and the build stage never knows where an Ingress came from.
 *
 * Two implementations:
 * - `SqliteRouteStore` (standalone): one SQLite file in `--data-dir`, WAL, every write one
 *   transaction; the ETag is a store-wide revision counter.
 * - `KubernetesRouteStore` (cluster): Ingress objects labelled `app.kubernetes.io/managed-by:
 *   portico`, written through the API server with the caller's own bearer token; the ETag is the
 *   object's resourceVersion.
 *
 * How a composition root feeds the store into ClusterState (standalone):
 * ```ts
 * for (const route of await store.list()) state.upsert(route.ingress);
 * store.subscribe((change) => {
 *   if (change.type === 'upsert') state.upsert(change.route.ingress); else state.remove(change.ingress);
 *   loop.trigger();
 * });
 * ```
 * Subscribe before or after the first list: `upsert` of an identical object is a no-op. In cluster
 * mode the informers already watch every Ingress, so nothing needs to be fed.
 */
import type { Ingress } from '../../state/objects.ts';

/** The label every Ingress the API writes carries (and the only Ingresses the API lists and changes). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** The value of MANAGED_BY_LABEL on Portico's Ingresses. */
export const MANAGED_BY_VALUE = 'portico';

/** A stored route: the Ingress (with `metadata.resourceVersion` set to the ETag) and its ETag. */
export interface StoredRoute {
  readonly ingress: Ingress;
  /** Opaque version of this route; changes on every write. Sent as the HTTP ETag (quoted). */
  readonly etag: string;
}

/** What changed in the store; delivered after the write is durable. */
export type RouteChange =
  | { readonly type: 'upsert'; readonly route: StoredRoute }
  | { readonly type: 'delete'; readonly ingress: Ingress };

/** Called once per committed change, in commit order. Must not throw. */
export type RouteListener = (change: RouteChange) => void;

/**
 * The optimistic-concurrency condition of a write:
 * - `{ ifMatch: etag }`: the route must exist with exactly this ETag (else PORTICO_E_PRECONDITION_FAILED,
 *   or PORTICO_E_NOT_FOUND when it does not exist);
 * - `{ ifAbsent: true }`: the route must not exist (else PORTICO_E_ROUTE_EXISTS);
 * - `undefined`: no condition (create or replace; delete whatever is there).
 */
export type Precondition = { readonly ifMatch: string } | { readonly ifAbsent: true } | undefined;

/** Who is calling. Cluster mode writes with the caller's own token; standalone ignores it. */
export interface StoreCaller {
  /** The caller's bearer token, forwarded to the API server (so RBAC and audit see the real user). */
  readonly bearerToken?: string;
}

/**
 * Persistent routes, as Ingress objects. Every method rejects with PorticoError:
 * PORTICO_E_NOT_FOUND, PORTICO_E_ROUTE_EXISTS, PORTICO_E_PRECONDITION_FAILED (a concurrent writer
 * won), PORTICO_E_FORBIDDEN / PORTICO_E_UNAUTHENTICATED (cluster: the API server said no),
 * PORTICO_E_ROUTE_INVALID (cluster: the API server's own validation), PORTICO_E_STORE (storage failed).
 */
export interface RouteStore {
  /** `sqlite` or `kubernetes`, for logs and the API's answers. */
  readonly kind: 'sqlite' | 'kubernetes';
  /** Every route (of `namespace` when given), sorted by namespace, then name. */
  list(namespace?: string, caller?: StoreCaller): Promise<StoredRoute[]>;
  /** One route, or undefined when there is none (or, in cluster mode, it is not Portico's). */
  get(namespace: string, name: string, caller?: StoreCaller): Promise<StoredRoute | undefined>;
  /**
   * Creates or replaces the route `ingress.metadata.namespace/name` under `precondition`. The
   * store owns `resourceVersion`, `uid`, `creationTimestamp` (kept across replaces) and
   * `generation`, and sets MANAGED_BY_LABEL. Resolves with what was stored.
   */
  put(ingress: Ingress, precondition: Precondition, caller?: StoreCaller): Promise<StoredRoute>;
  /** Deletes a route under `precondition` (`ifAbsent` is meaningless here); resolves with what was deleted. */
  delete(namespace: string, name: string, precondition: Precondition, caller?: StoreCaller): Promise<StoredRoute>;
  /** Calls `listener` after every committed write made through this store; returns the unsubscribe function. */
  subscribe(listener: RouteListener): () => void;
  /** Releases the store (closes the database). Idempotent. */
  close(): void;
}

/** Stable key `namespace/name`. */
export function routeKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
