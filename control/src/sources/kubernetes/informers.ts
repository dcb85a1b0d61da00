/**
 * The Kubernetes source: list+watch informers for every kind Portico reads, feeding ClusterState.
 *
 * Level-triggered (DESIGN rule 2): an event only updates ClusterState and calls `onChange`;
 * whoever listens rebuilds from the whole state. `synced` turns true once every informer has
 * listed once, and nothing should be published before. A watch error restarts that informer
 * with exponential, jittered back-off; a 410 Gone makes client-node relist (and report deletes).
 */
import type { KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { ListWatch, Watch } from '@kubernetes/client-node';
import type { z } from 'zod';
import type { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import { ConfigMap, EndpointSlice, Ingress, IngressClass, Secret, Service, retainedConfigMap, retainedSecret } from '../../state/objects.ts';
import { GATEWAY_GROUP, Gateway, GatewayClass, GRPCRoute, HTTPRoute, Namespace, ReferenceGrant } from '../../state/gateway-objects.ts';
import { KubeApiError, kubeCall } from './http.ts';

/** One watched resource. */
interface ResourceKind {
  readonly kind: KubeObject['kind'];
  readonly apiVersion: string;
  /** Path prefix of the group/version, e.g. `/apis/networking.k8s.io/v1`. */
  readonly base: string;
  readonly plural: string;
  readonly namespaced: boolean;
  readonly fieldSelector?: string;
  readonly schema: z.ZodType<KubeObject>;
  /**
   * Set on kinds of an API a cluster may lack (Gateway API CRDs) or Portico may not be allowed to
   * list: a 404 or 403 on list counts as synced with no objects, is reported once, and the list is
   * retried every `absentRetryMs`.
   */
  readonly optionalApi?: string;
}

/** The name under which the Gateway API's presence is reported (`apiPresent`, `onApiPresence`). */
export const GATEWAY_API_NAME = `${GATEWAY_GROUP} (Gateway API CRDs)`;
const GATEWAY_V1 = `/apis/${GATEWAY_GROUP}/v1`;

/** Every kind the controller watches, with the narrowest selector the API offers. */
export const WATCHED_KINDS: readonly ResourceKind[] = [
  { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', base: '/apis/networking.k8s.io/v1', plural: 'ingresses', namespaced: true, schema: Ingress },
  { kind: 'IngressClass', apiVersion: 'networking.k8s.io/v1', base: '/apis/networking.k8s.io/v1', plural: 'ingressclasses', namespaced: false, schema: IngressClass },
  { kind: 'Service', apiVersion: 'v1', base: '/api/v1', plural: 'services', namespaced: true, schema: Service },
  { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', base: '/apis/discovery.k8s.io/v1', plural: 'endpointslices', namespaced: true, schema: EndpointSlice },
  // TLS Secrets (the API server filters them), and Opaque ones for their `auth` key alone (the
  // htpasswd data of auth-type: basic): every other key is dropped on arrival (retainedSecret),
  // other types never reach this process.
  { kind: 'Secret', apiVersion: 'v1', base: '/api/v1', plural: 'secrets', namespaced: true, fieldSelector: 'type=kubernetes.io/tls', schema: Secret },
  { kind: 'Secret', apiVersion: 'v1', base: '/api/v1', plural: 'secrets', namespaced: true, fieldSelector: 'type=Opaque', schema: Secret },
  // ConfigMaps named by custom-headers and auth-proxy-set-headers, their `data` only (retainedConfigMap).
  // Optional: a deployment whose RBAC predates them (403) still serves; an Ingress naming one then
  // finds none and is refused (503), never served without it.
  { kind: 'ConfigMap', apiVersion: 'v1', base: '/api/v1', plural: 'configmaps', namespaced: true, schema: ConfigMap, optionalApi: 'v1 ConfigMaps' },
  // Gateway API: optional, so a cluster without its CRDs still serves Ingresses.
  { kind: 'GatewayClass', apiVersion: `${GATEWAY_GROUP}/v1`, base: GATEWAY_V1, plural: 'gatewayclasses', namespaced: false, schema: GatewayClass, optionalApi: GATEWAY_API_NAME },
  { kind: 'Gateway', apiVersion: `${GATEWAY_GROUP}/v1`, base: GATEWAY_V1, plural: 'gateways', namespaced: true, schema: Gateway, optionalApi: GATEWAY_API_NAME },
  { kind: 'HTTPRoute', apiVersion: `${GATEWAY_GROUP}/v1`, base: GATEWAY_V1, plural: 'httproutes', namespaced: true, schema: HTTPRoute, optionalApi: GATEWAY_API_NAME },
  { kind: 'GRPCRoute', apiVersion: `${GATEWAY_GROUP}/v1`, base: GATEWAY_V1, plural: 'grpcroutes', namespaced: true, schema: GRPCRoute, optionalApi: GATEWAY_API_NAME },
  { kind: 'ReferenceGrant', apiVersion: `${GATEWAY_GROUP}/v1beta1`, base: `/apis/${GATEWAY_GROUP}/v1beta1`, plural: 'referencegrants', namespaced: true, schema: ReferenceGrant, optionalApi: GATEWAY_API_NAME },
  // Namespace labels decide Gateway listeners' `allowedRoutes.namespaces.selector`.
  // Optional as well: a namespace-scoped deployment may not list Namespaces (selectors then match none).
  { kind: 'Namespace', apiVersion: 'v1', base: '/api/v1', plural: 'namespaces', namespaced: false, schema: Namespace, optionalApi: 'v1 Namespaces' },
];

/** Options of the Kubernetes source. */
export interface KubernetesSourceOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespaces to watch; empty means cluster-wide. */
  readonly namespaces: readonly string[];
  /** Called after any change to ClusterState, with the kind that changed. */
  readonly onChange: (kind: KubeObject['kind']) => void;
  /** Called when an object fails validation or a watch fails; never throws. */
  readonly onError: (message: string, details: Record<string, unknown>) => void;
  /** Back-off base and cap for restarting a failed watch or a rejected start (default 500 ms, 30 s). */
  readonly backoff?: { readonly baseMs: number; readonly maxMs: number };
  /** How often an absent optional API (Gateway API CRDs) is listed again (default 30 s). */
  readonly absentRetryMs?: number;
  /** Called once when an optional API is found absent, and once when it appears (again); never throws. */
  readonly onApiPresence?: (api: string, present: boolean, reason: string | undefined) => void;
}

/**
 * How long to wait before restarting an informer after its `failures`-th failure in a row:
 * `baseMs` doubled per failure up to `maxMs`, then a random point of the upper half (informers and
 * replicas that failed together do not retry in step). `random` is Math.random's stand-in.
 */
export function restartDelay(failures: number, backoff: { readonly baseMs: number; readonly maxMs: number }, random: () => number = Math.random): number {
  const delay = Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.min(Math.max(failures, 1) - 1, 16));
  return Math.round(delay / 2 + random() * (delay / 2));
}

/** Thrown by an optional kind's list when the API server does not serve it (404). */
class AbsentApiError extends Error {}

type Informer = ListWatch<KubernetesObject>;

/** Lists a collection as raw JSON (the same shape watch events carry), setting kind/apiVersion on items. */
async function listRaw(kubeConfig: KubeConfig, path: string, fieldSelector: string | undefined, resource: ResourceKind): Promise<KubernetesListObject<KubernetesObject>> {
  const query = fieldSelector === undefined ? '' : `?fieldSelector=${encodeURIComponent(fieldSelector)}`;
  const list = (await kubeCall(kubeConfig, 'GET', path + query)) as KubernetesListObject<KubernetesObject>;
  for (const item of list.items) {
    item.apiVersion = resource.apiVersion;
    item.kind = resource.kind;
  }
  return list;
}

/**
 * Cuts a watched object, once read into ClusterState, down to what client-node's informer cache
 * reads of it: name and namespace (a relist finds deletes by them) and resourceVersion (an update
 * is compared by it). The cache keeps every object it is handed, the very object the add and
 * update callbacks get, for as long as the object exists: kept whole, it was a second copy of the
 * watched cluster beside ClusterState's compacted one (managedFields and last-applied annotations
 * included), and it held every key of every Opaque Secret, which retainedSecret drops.
 */
function shrinkCached(raw: KubernetesObject): void {
  const { name, namespace, resourceVersion } = raw.metadata ?? {};
  for (const key of Object.keys(raw)) delete (raw as Record<string, unknown>)[key];
  raw.metadata = { name, ...(namespace === undefined ? {} : { namespace }), resourceVersion };
}

/** Watches the cluster into a ClusterState. */
export class KubernetesSource {
  private readonly state: ClusterState;
  private readonly options: KubernetesSourceOptions;
  /** `startError`: the message of the last rejected `start()`, until one resolves (logged once per change). */
  private readonly informers: { informer: Informer; resource: ResourceKind; path: string; synced: boolean; failures: number; startError?: string; timer?: NodeJS.Timeout }[] = [];
  private stopped = false;
  private syncedWaiters: (() => void)[] = [];
  /** Per optional API, whether each of its kinds was served at its last list. */
  private readonly apiKinds = new Map<string, Map<string, boolean>>();

  constructor(state: ClusterState, options: KubernetesSourceOptions) {
    this.state = state;
    this.options = options;
  }

  /** True once every informer has completed its first list. */
  get synced(): boolean {
    return this.informers.length > 0 && this.informers.every((entry) => entry.synced);
  }

  /**
   * Whether the optional API (e.g. `GATEWAY_API_NAME`) answered its last list: undefined before
   * the first list, false while its CRDs are absent.
   */
  apiPresent(api: string): boolean | undefined {
    const kinds = this.apiKinds.get(api);
    return kinds === undefined ? undefined : [...kinds.values()].some((served) => served);
  }

  /** What the informers' caches hold, each object as client-node keeps it for relists (for tests). */
  cachedObjects(): KubernetesObject[] {
    return this.informers.flatMap((entry) => entry.informer.list());
  }

  /** Starts every informer; resolves once all have synced (keeps retrying failed ones meanwhile). */
  async start(): Promise<void> {
    const watch = new Watch(this.options.kubeConfig);
    const scopes = this.options.namespaces.length > 0 ? this.options.namespaces : [undefined];
    for (const resource of WATCHED_KINDS) {
      for (const namespace of resource.namespaced ? scopes : [undefined]) {
        const path = namespace === undefined ? `${resource.base}/${resource.plural}` : `${resource.base}/namespaces/${namespace}/${resource.plural}`;
        const entry = { informer: undefined as unknown as Informer, resource, path, synced: false, failures: 0 };
        const list = async () => {
          let result: KubernetesListObject<KubernetesObject>;
          try {
            result = await listRaw(this.options.kubeConfig, path, resource.fieldSelector, resource);
          } catch (error) {
            if (resource.optionalApi === undefined || !(error instanceof KubeApiError) || (error.statusCode !== 404 && error.statusCode !== 403)) throw error;
            this.apiPresence(resource.optionalApi, resource.kind, false, error.message);
            // Objects of a CRD that went away are gone too; a cluster without it still publishes.
            if (this.state.clearKind(resource.kind)) this.options.onChange(resource.kind);
            setImmediate(() => this.markSynced(entry));
            throw new AbsentApiError(`${resource.kind}: ${resource.optionalApi} not served`);
          }
          if (resource.optionalApi !== undefined) this.apiPresence(resource.optionalApi, resource.kind, true);
          entry.failures = 0;
          // client-node applies the list right after this promise resolves; mark synced after that.
          setImmediate(() => this.markSynced(entry));
          return result;
        };
        entry.informer = new ListWatch<KubernetesObject>(path, watch, list, false, undefined, resource.fieldSelector);
        this.wire(entry);
        this.informers.push(entry);
      }
    }
    const synced = new Promise<void>((resolve) => this.syncedWaiters.push(resolve));
    for (const entry of this.informers) this.run(entry);
    await synced;
  }

  /** Stops every informer; no callback fires afterwards. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const entry of this.informers) {
      clearTimeout(entry.timer);
      await entry.informer.stop();
    }
  }

  private wire(entry: (typeof this.informers)[number]): void {
    const { informer, resource } = entry;
    const read = (raw: KubernetesObject) => {
      const parsed = resource.schema.safeParse({ ...raw, apiVersion: resource.apiVersion, kind: resource.kind });
      if (!parsed.success) {
        // An object the API server accepted but Portico cannot read: drop any older copy so stale routing does not linger.
        const issue = parsed.error.issues[0]!;
        this.options.onError('object failed validation; ignored', { kind: resource.kind, namespace: raw.metadata?.namespace, name: raw.metadata?.name, field: issue.path.join('.'), reason: issue.message });
        if (raw.metadata?.name && this.state.remove({ kind: resource.kind, metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace } })) this.options.onChange(resource.kind);
        return;
      }
      const object = parsed.data.kind === 'Secret' ? retainedSecret(parsed.data) : parsed.data.kind === 'ConfigMap' ? retainedConfigMap(parsed.data) : parsed.data;
      if (object === undefined) {
        // A Secret that lost (or never had) the one key Portico holds: forget any older copy.
        if (this.state.remove({ kind: resource.kind, metadata: { name: parsed.data.metadata.name, namespace: parsed.data.metadata.namespace } })) this.options.onChange(resource.kind);
        return;
      }
      if (this.state.upsert(object)) this.options.onChange(resource.kind);
    };
    const upsert = (raw: KubernetesObject) => {
      if (this.stopped) return;
      try {
        read(raw);
      } finally {
        shrinkCached(raw);
      }
    };
    informer.on('add', upsert);
    informer.on('update', upsert);
    informer.on('delete', (raw) => {
      if (this.stopped || !raw.metadata?.name) return;
      if (this.state.remove({ kind: resource.kind, metadata: { name: raw.metadata.name, namespace: raw.metadata.namespace } })) this.options.onChange(resource.kind);
    });
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      if (error instanceof AbsentApiError) {
        // Reported once (apiPresence); listed again quietly in case the CRDs get installed.
        entry.timer = setTimeout(() => this.run(entry), this.options.absentRetryMs ?? 30_000);
        return;
      }
      this.restartLater(entry, error, 'watch failed; restarting');
    });
  }

  private run(entry: (typeof this.informers)[number]): void {
    if (this.stopped) return;
    entry.informer.start().then(
      () => (entry.startError = undefined),
      (error: unknown) => {
        if (this.stopped) return;
        // start() rejects when the watch request cannot even be made (no cluster, a bad server URL,
        // credentials that fail): a configuration error, which does not heal by itself. Backed off
        // like a watch error, and said once per informer and error, not at every retry.
        entry.startError = this.restartLater(entry, error, 'informer start failed; retrying with back-off', entry.startError);
      },
    );
  }

  /**
   * Counts one more failure of `entry` in a row and runs it again after restartDelay's back-off;
   * says `what` failed through onError unless the error's message is `alreadySaid`. Returns that message.
   */
  private restartLater(entry: (typeof this.informers)[number], error: unknown, what: string, alreadySaid?: string): string {
    entry.failures++;
    const retryInMs = restartDelay(entry.failures, this.options.backoff ?? { baseMs: 500, maxMs: 30_000 });
    const message = String((error as Error)?.message ?? error);
    if (message !== alreadySaid) this.options.onError(what, { path: entry.path, error: message, retryInMs, failures: entry.failures });
    entry.timer = setTimeout(() => this.run(entry), retryInMs);
    return message;
  }

  /**
   * Records whether `kind` of `api` was served at its last list. The API counts as present while
   * any of its kinds is served (CRDs are established one by one, and a bundle may lack a kind);
   * a change of that is reported once, never per kind or per retry.
   */
  private apiPresence(api: string, kind: string, present: boolean, reason?: string): void {
    const before = this.apiPresent(api);
    const kinds = this.apiKinds.get(api) ?? new Map<string, boolean>();
    this.apiKinds.set(api, kinds);
    kinds.set(kind, present);
    const now = this.apiPresent(api)!;
    if (before !== now && !(before === undefined && now)) this.options.onApiPresence?.(api, now, reason);
  }

  private markSynced(entry: (typeof this.informers)[number]): void {
    if (entry.synced) return;
    entry.synced = true;
    if (this.synced) {
      for (const resolve of this.syncedWaiters) resolve();
      this.syncedWaiters = [];
    }
  }
}
