/**
 * Cluster authentication: TokenReview (who is this?) and SubjectAccessReview (may they do the
 * equivalent Ingress verb in that namespace?), both made with the control plane's own
 * ServiceAccount, which needs `create` on `tokenreviews` and `subjectaccessreviews` and nothing
 * more for this. Answers are cached briefly (10 s by default, bounded), so a CLI session or a data
 * plane's long-poll loop costs the API server one review per token per TTL, not one per call.
 *
 * Data planes: a principal whose username is one of `dataPlaneUsers` (default
 * `system:serviceaccount:portico-system:portico-dataplane`) is a data plane. It may sync, read
 * snapshots and report status (of the node its token was issued on, when the token says), and
 * nothing else, whatever RBAC says; its ServiceAccount needs no Kubernetes rights at all.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { PorticoError } from '../errors.ts';
import { kubeRequest } from '../sources/kubernetes/http.ts';
import type { ApiAction, Authenticator, Decision, Principal } from './types.ts';

/** The extra a bound ServiceAccount token carries naming the node its pod runs on. */
const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';
/** Where a principal keeps the full TokenReview user (groups, uid, extra) for its SubjectAccessReviews. */
const USER = Symbol('kubernetes-user');

interface UserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Options of the Kubernetes authenticator. */
export interface KubernetesAuthenticatorOptions {
  /** The control plane's own credentials (it creates the reviews). */
  readonly kubeConfig: KubeConfig;
  /** Usernames that are data planes. */
  readonly dataPlaneUsers: readonly string[];
  readonly cacheTtlMs?: number;
  readonly cacheSize?: number;
  readonly now?: () => number;
}

/** A tiny TTL cache with a size bound (oldest insert evicted first). */
class TtlCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly ttlMs: number;
  private readonly size: number;
  private readonly now: () => number;
  constructor(ttlMs: number, size: number, now: () => number) {
    this.ttlMs = ttlMs;
    this.size = size;
    this.now = now;
  }
  get(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }
  set(key: string, value: V): void {
    if (this.entries.size >= this.size) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, expires: this.now() + this.ttlMs });
  }
}

/** TokenReview + SubjectAccessReview authenticator. */
export class KubernetesAuthenticator implements Authenticator {
  readonly kind = 'kubernetes';
  private readonly options: KubernetesAuthenticatorOptions;
  private readonly users: TtlCache<{ user: UserInfo | undefined }>;
  private readonly decisions: TtlCache<Decision>;
  /** Reviews made (tests check the caching). */
  readonly stats = { tokenReviews: 0, accessReviews: 0 };

  constructor(options: KubernetesAuthenticatorOptions) {
    this.options = options;
    const now = options.now ?? Date.now;
    this.users = new TtlCache(options.cacheTtlMs ?? 10_000, options.cacheSize ?? 1000, now);
    this.decisions = new TtlCache(options.cacheTtlMs ?? 10_000, options.cacheSize ?? 5000, now);
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    const key = createHash('sha256').update(token).digest('base64url');
    let cached = this.users.get(key);
    if (cached === undefined) {
      cached = { user: await this.review(token) };
      this.users.set(key, cached);
    }
    const user = cached.user;
    if (user === undefined) return undefined;
    const nodeName = user.extra?.[NODE_NAME_EXTRA]?.[0];
    return Object.assign(
      { username: user.username, dataPlane: this.options.dataPlaneUsers.includes(user.username), token, ...(nodeName !== undefined ? { nodeName } : {}) },
      // Kept off the enumerable surface: the SAR needs groups/uid/extra, logs never show them.
      { [USER]: user },
    ) as Principal;
  }

  async authorize(principal: Principal, action: ApiAction): Promise<Decision> {
    if (principal.dataPlane) return dataPlaneDecision(principal, action);
    if (action.kind === 'sync') return { allowed: false, reason: 'only data planes may sync full snapshots (they include TLS private keys); read GET /v1/snapshots/{version} for a redacted export' };
    if (action.kind === 'report-status') return { allowed: false, reason: 'only data planes report node status' };
    const attributes =
      action.kind === 'ingresses'
        ? { group: 'networking.k8s.io', resource: 'ingresses', verb: action.verb, namespace: action.namespace ?? '', ...(action.name ? { name: action.name } : {}) }
        : { group: 'networking.k8s.io', resource: 'ingresses', verb: 'list', namespace: '' };
    const user = (principal as unknown as Record<symbol, UserInfo>)[USER] ?? { username: principal.username };
    const key = createHash('sha256').update(JSON.stringify([user.username, user.uid, user.groups, attributes])).digest('base64url');
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const body = {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user: user.username, uid: user.uid, groups: user.groups, extra: user.extra, resourceAttributes: attributes },
    };
    this.stats.accessReviews++;
    const response = await this.post('/apis/authorization.k8s.io/v1/subjectaccessreviews', body);
    const status = (response as { status?: { allowed?: boolean; denied?: boolean; reason?: string } }).status ?? {};
    const what = `${attributes.verb} ingresses.networking.k8s.io${attributes.namespace ? ` in namespace ${attributes.namespace}` : ' at the cluster scope'}`;
    const decision: Decision = status.allowed === true ? { allowed: true } : { allowed: false, reason: `${principal.username} may not ${what}${status.reason ? ` (${status.reason})` : ''}` };
    this.decisions.set(key, decision);
    return decision;
  }

  private async review(token: string): Promise<UserInfo | undefined> {
    this.stats.tokenReviews++;
    const response = await this.post('/apis/authentication.k8s.io/v1/tokenreviews', { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
    const status = (response as { status?: { authenticated?: boolean; user?: UserInfo } }).status;
    return status?.authenticated === true && status.user?.username ? status.user : undefined;
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    let response;
    try {
      response = await kubeRequest(this.options.kubeConfig, 'POST', path, { body, timeoutMs: 10_000 });
    } catch (cause) {
      throw new PorticoError('PORTICO_E_AUTH_BACKEND', `cannot reach the Kubernetes API to check the caller: ${(cause as Error).message}`, { cause });
    }
    if (response.status < 200 || response.status >= 300) {
      throw new PorticoError('PORTICO_E_AUTH_BACKEND', `the Kubernetes API refused ${path.split('/').pop()} (HTTP ${response.status}); does the control ServiceAccount have create on it?`);
    }
    return response.body;
  }
}

function dataPlaneDecision(principal: Principal, action: ApiAction): Decision {
  if (action.kind === 'sync' || action.kind === 'read-snapshots') return { allowed: true };
  if (action.kind === 'report-status') {
    if (principal.nodeName !== undefined && principal.nodeName !== action.node) {
      return { allowed: false, reason: `this token was issued to a pod on node ${principal.nodeName}; it may only report for that node` };
    }
    return { allowed: true };
  }
  return { allowed: false, reason: `${principal.username} is a data plane: it may only sync, read snapshots and report its status` };
}

/** The default data-plane identity: the `portico-dataplane` ServiceAccount of the control namespace. */
export function defaultDataPlaneUser(controlNamespace: string): string {
  return `system:serviceaccount:${controlNamespace}:portico-dataplane`;
}
