/**
 * Cluster route store: routes are Ingress objects in the cluster, labelled
 * `app.kubernetes.io/managed-by: portico`; the cluster stays the source of truth and GitOps users
 * see them with kubectl. Every call goes to the API server with the caller's own bearer token
 * (when given), so the API server's RBAC, admission and audit log see the real user and the
 * control plane's ServiceAccount needs no write rights on Ingresses. The ETag is the resourceVersion.
 *
 * Only labelled Ingresses are listed, read, replaced or deleted here: an Ingress someone applied
 * with kubectl is never taken over (a write to its name is PORTICO_E_ROUTE_EXISTS).
 */
import { KubeConfig } from '@kubernetes/client-node';
import { PorticoError } from '../../errors.ts';
import type { Ingress } from '../../state/objects.ts';
import { Ingress as IngressSchema } from '../../state/objects.ts';
import type { KubeResponse } from '../kubernetes/http.ts';
import { kubeRequest } from '../kubernetes/http.ts';
import type { Precondition, RouteListener, RouteStore, StoreCaller, StoredRoute } from './route-store.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, routeKey } from './route-store.ts';

const GROUP_PATH = '/apis/networking.k8s.io/v1';
const SELECTOR = encodeURIComponent(`${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`);

/** A field error the API server reported (`status.details.causes`). */
export interface KubeCause {
  readonly field: string;
  readonly message: string;
}

/** Rejection for an API server 422: carries the API server's own field causes. */
export class KubeValidationError extends PorticoError {
  readonly causes: readonly KubeCause[];
  constructor(message: string, causes: readonly KubeCause[]) {
    super('PORTICO_E_ROUTE_INVALID', message);
    this.causes = causes;
  }
}

/** The cluster RouteStore. */
export class KubernetesRouteStore implements RouteStore {
  readonly kind = 'kubernetes' as const;
  private readonly kubeConfig: KubeConfig;
  private readonly listeners = new Set<RouteListener>();
  private readonly timeoutMs: number;

  /** `kubeConfig` names the API server (and is used as is when a call has no caller token). */
  constructor(options: { kubeConfig: KubeConfig; timeoutMs?: number }) {
    this.kubeConfig = options.kubeConfig;
    this.timeoutMs = options.timeoutMs ?? 15_000;
  }

  async list(namespace?: string, caller?: StoreCaller): Promise<StoredRoute[]> {
    const path = `${GROUP_PATH}${namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`}/ingresses?labelSelector=${SELECTOR}`;
    const body = expectOk(await this.call(caller, 'GET', path), `list routes${namespace ? ` in ${namespace}` : ''}`) as { items?: unknown[] };
    const routes: StoredRoute[] = [];
    for (const item of body.items ?? []) {
      const parsed = IngressSchema.safeParse({ ...(item as object), apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' });
      // An Ingress the API server accepted but Portico cannot read is left to the build stage's conditions.
      if (parsed.success) routes.push(stored(parsed.data));
    }
    return routes.sort((a, b) => compare(routeKey(a.ingress.metadata.namespace ?? '', a.ingress.metadata.name), routeKey(b.ingress.metadata.namespace ?? '', b.ingress.metadata.name)));
  }

  async get(namespace: string, name: string, caller?: StoreCaller): Promise<StoredRoute | undefined> {
    const found = await this.read(namespace, name, caller);
    return found?.managed ? found.route : undefined;
  }

  async put(ingress: Ingress, precondition: Precondition, caller?: StoreCaller): Promise<StoredRoute> {
    const namespace = ingress.metadata.namespace ?? 'default';
    const name = ingress.metadata.name;
    const what = `route ${routeKey(namespace, name)}`;
    const existing = await this.read(namespace, name, caller);
    if (existing !== undefined && !existing.managed) throw notManaged(namespace, name);
    if (precondition !== undefined && 'ifAbsent' in precondition && existing !== undefined) throw new PorticoError('PORTICO_E_ROUTE_EXISTS', `${what} already exists`);
    if (precondition !== undefined && 'ifMatch' in precondition) {
      if (existing === undefined) throw new PorticoError('PORTICO_E_NOT_FOUND', `${what} not found`);
      if (existing.route.etag !== precondition.ifMatch) throw stale(what, existing.route.etag, precondition.ifMatch);
    }
    const { status: _status, ...rest } = ingress;
    const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _gen, managedFields: _mf, ...meta } = ingress.metadata as Ingress['metadata'] & { managedFields?: unknown };
    const body = { ...rest, apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { ...meta, namespace, labels: { ...meta.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } } };
    let response: KubeResponse;
    if (existing === undefined) {
      response = await this.call(caller, 'POST', `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/ingresses`, body);
      if (response.status === 409) throw new PorticoError('PORTICO_E_ROUTE_EXISTS', `${what} already exists`);
    } else {
      // The resourceVersion makes the API server refuse the write if anything changed since our read.
      const expected = precondition !== undefined && 'ifMatch' in precondition ? precondition.ifMatch : existing.route.etag;
      response = await this.call(caller, 'PUT', `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/ingresses/${encodeURIComponent(name)}`, { ...body, metadata: { ...body.metadata, resourceVersion: expected } });
      if (response.status === 409) throw stale(what, 'a newer version', expected);
      if (response.status === 404) throw new PorticoError('PORTICO_E_NOT_FOUND', `${what} was deleted meanwhile`);
    }
    const route = stored(parseIngress(expectOk(response, `write ${what}`)));
    this.emit({ type: 'upsert', route });
    return route;
  }

  async delete(namespace: string, name: string, precondition: Precondition, caller?: StoreCaller): Promise<StoredRoute> {
    const what = `route ${routeKey(namespace, name)}`;
    const existing = await this.read(namespace, name, caller);
    if (existing === undefined) throw new PorticoError('PORTICO_E_NOT_FOUND', `${what} not found`);
    if (!existing.managed) throw notManaged(namespace, name);
    const expected = precondition !== undefined && 'ifMatch' in precondition ? precondition.ifMatch : existing.route.etag;
    if (existing.route.etag !== expected) throw stale(what, existing.route.etag, expected);
    const response = await this.call(caller, 'DELETE', `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/ingresses/${encodeURIComponent(name)}`, {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      preconditions: { resourceVersion: expected, uid: existing.route.ingress.metadata.uid },
    });
    if (response.status === 409) throw stale(what, 'a newer version', expected);
    if (response.status === 404) throw new PorticoError('PORTICO_E_NOT_FOUND', `${what} not found`);
    expectOk(response, `delete ${what}`);
    this.emit({ type: 'delete', ingress: existing.route.ingress });
    return existing.route;
  }

  subscribe(listener: RouteListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {}

  private async read(namespace: string, name: string, caller: StoreCaller | undefined): Promise<{ route: StoredRoute; managed: boolean } | undefined> {
    const response = await this.call(caller, 'GET', `${GROUP_PATH}/namespaces/${encodeURIComponent(namespace)}/ingresses/${encodeURIComponent(name)}`);
    if (response.status === 404) return undefined;
    const ingress = parseIngress(expectOk(response, `read route ${routeKey(namespace, name)}`));
    return { route: stored(ingress), managed: ingress.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE };
  }

  private async call(caller: StoreCaller | undefined, method: string, path: string, body?: unknown): Promise<KubeResponse> {
    try {
      return await kubeRequest(configFor(this.kubeConfig, caller?.bearerToken), method, path, { body, timeoutMs: this.timeoutMs });
    } catch (cause) {
      throw new PorticoError('PORTICO_E_STORE', `Kubernetes API unreachable: ${(cause as Error).message}`, { cause });
    }
  }

  private emit(change: Parameters<RouteListener>[0]): void {
    for (const listener of this.listeners) listener(change);
  }
}

/** A KubeConfig for the same API server that authenticates with `token` (the base config when undefined). */
export function configFor(base: KubeConfig, token: string | undefined): KubeConfig {
  if (token === undefined) return base;
  const cluster = base.getCurrentCluster();
  if (cluster === null) throw new PorticoError('PORTICO_E_STORE', 'kubeconfig has no current cluster');
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ ...cluster, name: 'api' }],
    users: [{ name: 'caller', token }],
    contexts: [{ name: 'caller', cluster: 'api', user: 'caller' }],
    currentContext: 'caller',
  });
  return config;
}

function stored(ingress: Ingress): StoredRoute {
  return { ingress, etag: ingress.metadata.resourceVersion ?? '' };
}

function parseIngress(body: unknown): Ingress {
  const parsed = IngressSchema.safeParse({ ...(body as object), apiVersion: 'networking.k8s.io/v1', kind: 'Ingress' });
  if (!parsed.success) throw new PorticoError('PORTICO_E_STORE', `the API server returned an Ingress Portico cannot read: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

function notManaged(namespace: string, name: string): PorticoError {
  return new PorticoError('PORTICO_E_ROUTE_EXISTS', `Ingress ${routeKey(namespace, name)} exists but is not managed by Portico (no ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE} label); change it with kubectl, or pick another name`);
}

function stale(what: string, current: string, expected: string): PorticoError {
  return new PorticoError('PORTICO_E_PRECONDITION_FAILED', `${what} is at version ${current}, not ${expected}: it changed since you read it`);
}

/** The body of a 2xx answer; otherwise the API server's refusal as a PorticoError. */
function expectOk(response: KubeResponse, what: string): unknown {
  if (response.status >= 200 && response.status < 300) return response.body;
  const status = response.body as { message?: string; details?: { causes?: { field?: string; message?: string }[] } } | undefined;
  const message = `${what}: ${status?.message ?? `HTTP ${response.status}`}`;
  if (response.status === 401) throw new PorticoError('PORTICO_E_UNAUTHENTICATED', message);
  if (response.status === 403) throw new PorticoError('PORTICO_E_FORBIDDEN', message);
  if (response.status === 404) throw new PorticoError('PORTICO_E_NOT_FOUND', message);
  if (response.status === 422 || response.status === 400) {
    throw new KubeValidationError(message, (status?.details?.causes ?? []).map((c) => ({ field: c.field ?? '', message: c.message ?? 'invalid' })));
  }
  throw new PorticoError('PORTICO_E_STORE', message);
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
