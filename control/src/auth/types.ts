/**
 * Authentication and authorization of control API calls. The API maps every endpoint onto one
 * `ApiAction`; an `Authenticator` says who holds a bearer token and whether they may do it.
 *
 * - Standalone (`StaticTokenAuthenticator`): one shared token, allowed everything.
 * - Cluster (`KubernetesAuthenticator`): TokenReview says who; SubjectAccessReview against the
 *   equivalent Ingress verb says whether, so the API never grants more than kubectl would. Data
 *   planes are recognised by their ServiceAccount username and may only sync, read snapshots and
 *   report their status.
 */

/** Ingress verbs, as RBAC names them. */
export type IngressVerb = 'get' | 'list' | 'create' | 'update' | 'patch' | 'delete';

/** What a call wants to do. */
export type ApiAction =
  /** Route calls: the same verb on Ingresses in that namespace (no namespace: cluster-wide list). */
  | { readonly kind: 'ingresses'; readonly verb: IngressVerb; readonly namespace?: string; readonly name?: string }
  /** Snapshot history, exports (keys redacted), diffs, explain and the node list: cluster-wide `list ingresses` for people. */
  | { readonly kind: 'read-snapshots' }
  /** The sync long-poll: full snapshots including TLS private keys; data planes only. */
  | { readonly kind: 'sync' }
  /** ACK/NACK of one node; data planes only. */
  | { readonly kind: 'report-status'; readonly node: string };

/** Who called. */
export interface Principal {
  /** Username (`system:serviceaccount:ns:name`, a user, or `portico-api-token` in standalone). */
  readonly username: string;
  /** True for a data plane. */
  readonly dataPlane: boolean;
  /** The bearer token itself, forwarded to the API server for route writes in cluster mode. */
  readonly token: string;
  /** The node a bound ServiceAccount token was issued on (Kubernetes puts it in the token), if any. */
  readonly nodeName?: string;
}

/** The answer to "may this principal do that?". */
export interface Decision {
  readonly allowed: boolean;
  /** Why not (shown in the 403), or the authorizer's reason. */
  readonly reason?: string;
}

/** Checks tokens and permissions. Implementations cache; they reject with PORTICO_E_AUTH_BACKEND when they cannot decide. */
export interface Authenticator {
  /** `static-token` or `kubernetes`, for logs. */
  readonly kind: string;
  /** The principal of `token`, or undefined when the token is not valid (answer 401). */
  authenticate(token: string): Promise<Principal | undefined>;
  /** Whether `principal` may perform `action`. */
  authorize(principal: Principal, action: ApiAction): Promise<Decision>;
}
