/**
 * Cluster mode's composition root: informers -> ClusterState -> debounced rebuild -> snapshot
 * history; the elected leader also writes Ingress status and Events.
 */
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClassSelection } from '../build/ingress-class.ts';
import type { ControlMetrics } from '../api/metrics.ts';
import { LeaderElector } from '../leader/lease.ts';
import { SnapshotHistory } from '../publish/history.ts';
import { SnapshotPublisher } from '../publish/publisher.ts';
import { RebuildLoop } from '../publish/rebuild-loop.ts';
import { kubeCall, kubeRequest } from '../sources/kubernetes/http.ts';
import { KubernetesSource } from '../sources/kubernetes/informers.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { Service } from '../state/objects.ts';
import { Service as ServiceSchema } from '../state/objects.ts';
import type { IngressPoint } from '../status/addresses.ts';
import { publishAddresses } from '../status/addresses.ts';
import { conditionEvent } from '../status/events.ts';
import { planStatusUpdates, statusPatch } from '../status/ingress-status.ts';

/** Everything cluster mode needs to know. */
export interface ClusterControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly selection: ClassSelection;
  readonly namespaces: readonly string[];
  /** `namespace/name` of the Service whose external addresses go into Ingress status. */
  readonly publishService: string | undefined;
  readonly publishAddresses: readonly string[];
  /** Label selector of data-plane pods in `controlNamespace` whose host IPs are the fallback addresses. */
  readonly dataPlaneSelector: string;
  readonly controlNamespace: string;
  readonly electionId: string;
  readonly identity: string;
  readonly debounceMs: number;
  readonly logger: Logger;
  readonly leaseDurationMs?: number;
  readonly retryMs?: number;
  readonly metrics?: ControlMetrics;
}

/** The controller: owns its state, history and leader election. */
export class ClusterController {
  readonly state = new ClusterState();
  readonly history = new SnapshotHistory();
  private readonly options: ClusterControllerOptions;
  private readonly source: KubernetesSource;
  private readonly loop: RebuildLoop;
  private readonly elector: LeaderElector;
  private readonly publisher: SnapshotPublisher;
  private lastPoints: IngressPoint[] = [];
  private readonly reportedEvents = new Set<string>();
  /** Counts for tests and metrics. */
  readonly stats = { rebuilds: 0, endpointOnlyRebuilds: 0, statusWrites: 0, events: 0 };

  constructor(options: ClusterControllerOptions) {
    this.options = options;
    this.publisher = new SnapshotPublisher({ state: this.state, selection: options.selection, history: this.history, metrics: options.metrics });
    this.source = new KubernetesSource(this.state, {
      kubeConfig: options.kubeConfig,
      namespaces: options.namespaces,
      onChange: (kind) => {
        this.publisher.changed(kind);
        if (this.source.synced) this.loop.trigger();
      },
      onError: (message, details) => options.logger.warn(details, message),
    });
    this.loop = new RebuildLoop({ debounceMs: options.debounceMs, rebuild: () => this.rebuild(), onError: (error) => options.logger.error({ err: error }, 'rebuild failed') });
    this.elector = new LeaderElector({
      kubeConfig: options.kubeConfig,
      namespace: options.controlNamespace,
      name: options.electionId,
      identity: options.identity,
      leaseDurationMs: options.leaseDurationMs,
      retryMs: options.retryMs,
      onStartedLeading: () => {
        options.logger.info({ identity: options.identity }, 'became leader; writing Ingress status');
        void this.syncStatus();
      },
      onStoppedLeading: () => options.logger.info({ identity: options.identity }, 'stopped leading'),
      onError: (error) => options.logger.warn({ err: error }, 'leader election'),
    });
  }

  /** True once the informers have synced and a first snapshot is published. */
  get ready(): boolean {
    return this.history.current() !== undefined;
  }

  /** True while this replica writes status. */
  get isLeader(): boolean {
    return this.elector.isLeader;
  }

  /** Starts watching; resolves after the first snapshot is published (never before every informer synced). */
  async start(): Promise<void> {
    await this.source.start();
    await this.loop.flush();
    this.elector.start();
  }

  /** Stops watching, releases leadership. */
  async stop(): Promise<void> {
    await this.loop.close();
    await this.elector.stop();
    await this.source.stop();
  }

  private rebuild(): void {
    const result = this.publisher.rebuild();
    if (result.endpointOnly) this.stats.endpointOnlyRebuilds++;
    else this.stats.rebuilds++;
    this.options.logger.info({ version: result.snapshot.version, published: result.published, endpointOnly: result.endpointOnly, ms: Math.round(result.ms), conditions: result.conditions.length }, 'rebuilt');
    if (this.elector.isLeader) void this.syncStatus();
  }

  private async publishService(): Promise<Service | undefined> {
    const ref = this.options.publishService;
    if (ref === undefined) return undefined;
    const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : [this.options.controlNamespace, ref];
    const cached = this.state.services.get(`${namespace}/${name}`);
    if (cached !== undefined) return cached;
    const response = await kubeRequest(this.options.kubeConfig, 'GET', `/api/v1/namespaces/${namespace}/services/${name}`);
    if (response.status !== 200) return undefined;
    const parsed = ServiceSchema.safeParse({ ...(response.body as object), apiVersion: 'v1', kind: 'Service' });
    return parsed.success ? parsed.data : undefined;
  }

  private async dataPlaneNodeAddresses(): Promise<string[]> {
    const selector = encodeURIComponent(this.options.dataPlaneSelector);
    const response = await kubeRequest(this.options.kubeConfig, 'GET', `/api/v1/namespaces/${this.options.controlNamespace}/pods?labelSelector=${selector}`);
    if (response.status !== 200) return [];
    const pods = (response.body as { items?: { status?: { hostIP?: string; phase?: string } }[] }).items ?? [];
    return pods.filter((p) => p.status?.phase === 'Running' && p.status.hostIP).map((p) => p.status!.hostIP!);
  }

  private syncing: Promise<void> | undefined;

  /** Brings Ingress status and Events in line with the current state (leader only; one pass at a time). */
  async syncStatus(): Promise<void> {
    if (this.syncing) return this.syncing;
    this.syncing = this.doSyncStatus().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async doSyncStatus(): Promise<void> {
    if (!this.elector.isLeader || !this.ready) return;
    const { kubeConfig, logger } = this.options;
    try {
      const service = await this.publishService();
      const nodes = service === undefined && this.options.publishAddresses.length === 0 ? await this.dataPlaneNodeAddresses() : [];
      const points = publishAddresses(service, this.options.publishAddresses, nodes);
      for (const update of planStatusUpdates(this.state, this.options.selection, points, this.lastPoints)) {
        const path = `/apis/networking.k8s.io/v1/namespaces/${update.namespace}/ingresses/${update.name}/status`;
        await kubeCall(kubeConfig, 'PATCH', path, { body: statusPatch(update.points), contentType: 'application/merge-patch+json' }).catch((error: unknown) => logger.warn({ err: error, path }, 'status update failed'));
        this.stats.statusWrites++;
      }
      this.lastPoints = points;
      for (const condition of this.publisher.conditions) {
        const event = conditionEvent(condition, this.state, 'portico-controller', this.options.identity, new Date());
        if (event === undefined || this.reportedEvents.has(event.dedupeKey)) continue;
        this.reportedEvents.add(event.dedupeKey);
        await kubeCall(kubeConfig, 'POST', `/api/v1/namespaces/${event.namespace}/events`, { body: event.event }).catch((error: unknown) => logger.warn({ err: error }, 'event failed'));
        this.stats.events++;
      }
    } catch (error) {
      logger.warn({ err: error }, 'status sync failed');
    }
  }
}

/** A default identity for leader election: the pod name, else host and pid. */
export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}
