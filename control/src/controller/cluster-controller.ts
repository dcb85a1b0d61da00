/**
 * Cluster mode's composition root: informers -> ClusterState -> debounced rebuild -> snapshot
 * history; the elected leader also writes Ingress status and Events.
 */
import { hostname } from 'node:os';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { ClassSelection } from '../build/ingress-class.ts';
import type { GatewayApiStatus } from '../build/gateway/index.ts';
import type { GatewayPorts } from '../build/gateway/listeners.ts';
import { skippedForClass } from '../build/ingress-class.ts';
import type { ControlMetrics } from '../api/metrics.ts';
import { LeaderElector } from '../leader/lease.ts';
import type { Condition } from '../model/conditions.ts';
import { SnapshotHistory } from '../publish/history.ts';
import type { SnapshotHistoryOptions } from '../publish/history.ts';
import { SnapshotPublisher } from '../publish/publisher.ts';
import { RebuildLoop } from '../publish/rebuild-loop.ts';
import { kubeCall, kubeRequest } from '../sources/kubernetes/http.ts';
import { KubernetesSource } from '../sources/kubernetes/informers.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { Service } from '../state/objects.ts';
import { Service as ServiceSchema } from '../state/objects.ts';
import type { IngressPoint } from '../status/addresses.ts';
import { publishAddresses, samePoints } from '../status/addresses.ts';
import { ConditionEvents, ConditionOrigins, EventRecorder, conditionEvent } from '../status/events.ts';
import { IngressStatusPlanner, statusPatch } from '../status/ingress-status.ts';
import { StatusWriter } from '../status/writer.ts';
import type { GatewayStatusUpdate } from '../status/gateway-status.ts';
import { GatewayStatusPlanner, MAX_ROUTE_PARENTS, gatewayStatusPatch, gatewayStatusPath } from '../status/gateway-status.ts';

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
  /** Status writes in flight at most (default 8). */
  readonly statusConcurrency?: number;
  /** Bounds of the snapshot history (memory budget). */
  readonly history?: SnapshotHistoryOptions;
  /** Gateway listener ports that reach the data plane (default 80 HTTP, 443 HTTPS). */
  readonly gatewayPorts?: GatewayPorts;
}

/** Address sets remembered as once published (to clear Ingresses that left the class while showing one). */
const PUBLISHED_POINTS_KEPT = 8;

/** The controller: owns its state, history and leader election. */
export class ClusterController {
  readonly state = new ClusterState();
  readonly history: SnapshotHistory;
  private readonly options: ClusterControllerOptions;
  private readonly source: KubernetesSource;
  private readonly loop: RebuildLoop;
  private readonly elector: LeaderElector;
  private readonly publisher: SnapshotPublisher;
  /** The address sets published so far, newest last (at most PUBLISHED_POINTS_KEPT). */
  private publishedPoints: IngressPoint[][] = [];
  private readonly statusWriter: StatusWriter;
  /** Ingress status plans, each pass looking again only at the Ingresses changed since the last. */
  private readonly statusPlanner: IngressStatusPlanner;
  /** Gateway API status (GatewayClass, Gateway, HTTPRoute, GRPCRoute), written like Ingress status. */
  private readonly gatewayStatusWriter: StatusWriter<GatewayStatusUpdate>;
  /** Gateway API status plans: each pass judges only the routes changed, whose entry changed, or still waiting for their write. */
  private readonly gatewayStatusPlanner = new GatewayStatusPlanner();
  private readonly events: EventRecorder;
  /** The status passes' conditions, offered to `events` as they change (not every condition every pass). */
  private readonly conditionEvents: ConditionEvents;
  /** The object version each build condition came from, noted at the build: an Event names that, not the object as it is by the status pass. */
  private readonly conditionOrigins = new ConditionOrigins();
  /** Planning passes: coalesced, one at a time, run again when asked during one. */
  private readonly statusLoop: RebuildLoop;
  private planRetry: NodeJS.Timeout | undefined;
  private planFailures = 0;
  private readonly counts = { rebuilds: 0, endpointOnlyRebuilds: 0, statusPasses: 0 };
  /** What the last complete status pass read of the build, and whether it polled addresses from outside ClusterState. */
  private planned: { readonly conditions: readonly Condition[]; readonly gatewayStatus: GatewayApiStatus; readonly polled: boolean } | undefined;
  private pointsPolled = false;

  constructor(options: ClusterControllerOptions) {
    this.options = options;
    this.history = new SnapshotHistory(options.history);
    this.publisher = new SnapshotPublisher({ state: this.state, selection: options.selection, history: this.history, metrics: options.metrics, gatewayPorts: options.gatewayPorts });
    this.source = new KubernetesSource(this.state, {
      kubeConfig: options.kubeConfig,
      namespaces: options.namespaces,
      onChange: () => {
        if (this.source.synced) this.loop.trigger();
      },
      onError: (message, details) => options.logger.warn(details, message),
      onApiPresence: (api, present, reason) =>
        present ? options.logger.info({ api }, 'API now served; its objects are watched') : options.logger.warn({ api, reason }, 'API not served (or not permitted); Ingresses are served without it, and it is listed again every 30 s'),
    });
    this.statusPlanner = new IngressStatusPlanner(this.state, options.selection);
    this.statusWriter = new StatusWriter({
      concurrency: options.statusConcurrency,
      write: async (update) => {
        const path = `/apis/networking.k8s.io/v1/namespaces/${update.namespace}/ingresses/${update.name}/status`;
        await kubeCall(options.kubeConfig, 'PATCH', path, { body: statusPatch(update.points), contentType: 'application/merge-patch+json' });
      },
      onError: (update, error, willRetry) => options.logger.warn({ err: error, ingress: `${update.namespace}/${update.name}`, willRetry }, 'status update failed'),
    });
    this.gatewayStatusWriter = new StatusWriter<GatewayStatusUpdate>({
      concurrency: options.statusConcurrency,
      keyOf: (update) => `${update.kind}/${update.namespace ?? ''}/${update.name}`,
      fingerprint: (update) => JSON.stringify(update.status),
      write: async (update) => {
        if (update.parentsLeftOut !== undefined) {
          const message = `status.parents is full with other controllers' entries: ${update.parentsLeftOut} of Portico's left out (the CRD holds ${MAX_ROUTE_PARENTS})`;
          options.logger.warn({ object: `${update.kind} ${update.namespace ?? ''}/${update.name}`, leftOut: update.parentsLeftOut }, message);
        }
        await kubeCall(options.kubeConfig, 'PATCH', gatewayStatusPath(update), { body: gatewayStatusPatch(update), contentType: 'application/merge-patch+json' });
      },
      onError: (update, error, willRetry) => options.logger.warn({ err: error, object: `${update.kind} ${update.namespace ?? ''}/${update.name}`, willRetry }, 'status update failed'),
    });
    this.events = new EventRecorder({
      post: async (event) => void (await kubeCall(options.kubeConfig, 'POST', `/api/v1/namespaces/${event.namespace}/events`, { body: event.event })),
      onError: (event, error) => options.logger.warn({ err: error, namespace: event.namespace, about: event.about }, 'event failed'),
    });
    this.conditionEvents = new ConditionEvents(this.events);
    options.metrics?.trackStatus(() => {
      const writes = this.statusWriter.stats;
      const events = this.events.stats;
      return {
        writes: { written: writes.written, retried: writes.retries, failed: writes.failed, gone: writes.gone },
        pending: this.statusWriter.pendingCount + this.statusWriter.inflightCount,
        events: { posted: events.posted, failed: events.failed, deferred: events.deferred },
        eventsRemembered: this.events.remembered,
      };
    });
    this.statusLoop = new RebuildLoop({ debounceMs: 20, maxDelayMs: 500, rebuild: () => this.planStatus(), onError: (error) => options.logger.error({ err: error }, 'status planning failed') });
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
        this.syncStatus();
      },
      onStoppedLeading: () => {
        options.logger.info({ identity: options.identity }, 'stopped leading');
        this.statusWriter.clear();
        this.gatewayStatusWriter.clear();
        this.statusPlanner.reset();
        this.gatewayStatusPlanner.reset();
        this.events.clear();
        this.conditionEvents.reset();
      },
      onError: (error) => options.logger.warn({ err: error }, 'leader election'),
    });
  }

  /** Counts for tests and metrics: status writes and Events as done, not as planned. */
  get stats(): { rebuilds: number; endpointOnlyRebuilds: number; statusPasses: number; statusWrites: number; statusPending: number; events: number; eventsRemembered: number } {
    return { ...this.counts, statusWrites: this.statusWriter.stats.written + this.gatewayStatusWriter.stats.written, statusPending: this.statusWriter.pendingCount + this.statusWriter.inflightCount + this.gatewayStatusWriter.pendingCount + this.gatewayStatusWriter.inflightCount, events: this.events.stats.posted, eventsRemembered: this.events.remembered };
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
    clearTimeout(this.planRetry);
    await this.loop.close();
    await this.statusLoop.close();
    await this.statusWriter.close();
    await this.gatewayStatusWriter.close();
    await this.events.idle();
    await this.elector.stop();
    await this.source.stop();
  }

  private rebuild(): void {
    const result = this.publisher.rebuild();
    // Now, with nothing awaited since the build: the state is what the build read.
    this.conditionOrigins.note(result.conditions, this.state);
    if (result.endpointOnly) this.counts.endpointOnlyRebuilds++;
    else this.counts.rebuilds++;
    this.options.logger.info({ version: result.snapshot.version, published: result.published, endpointOnly: result.endpointOnly, ms: Math.round(result.ms), conditions: result.conditions.length }, 'rebuilt');
    if (!result.endpointOnly && this.options.logger.isLevelEnabled('debug')) {
      const skipped = skippedForClass(this.state, this.options.selection);
      if (skipped.count > 0) this.options.logger.debug({ skipped: skipped.count, examples: skipped.examples }, 'Ingresses skipped: their class is not served by Portico');
    }
    if (this.elector.isLeader && this.statusConcerned(result.endpointOnly)) this.syncStatus();
  }

  /**
   * Whether a rebuild can have moved what a status pass reads: Ingresses and the publish Service
   * (ClusterState), the build's conditions (Events) and Gateway API status. An endpoint-only
   * rebuild moves none of them (EndpointSlice churn would otherwise cost a pass over every Ingress
   * per slice event), unless the last pass read its addresses from outside the watched state (the
   * data-plane pods, or a publish Service outside the watched namespaces): those passes are how
   * such addresses are followed, so they keep running.
   */
  private statusConcerned(endpointOnly: boolean): boolean {
    if (!endpointOnly || this.planned === undefined || this.planned.polled) return true;
    const now = this.publisher.gatewayStatus;
    const before = this.planned.gatewayStatus;
    // The build hands out the same route list while no route's entry changed: compared item by item only when it made a new one.
    return this.publisher.conditions !== this.planned.conditions || now.classes !== before.classes || now.gateways !== before.gateways || (now.routes !== before.routes && (now.routes.length !== before.routes.length || now.routes.some((route, i) => route !== before.routes[i])));
  }

  private async publishService(): Promise<Service | undefined> {
    const ref = this.options.publishService;
    if (ref === undefined) return undefined;
    const [namespace, name] = ref.includes('/') ? ref.split('/', 2) : [this.options.controlNamespace, ref];
    const cached = this.state.services.get(`${namespace}/${name}`);
    if (cached !== undefined) return cached;
    this.pointsPolled = true;
    const response = await kubeRequest(this.options.kubeConfig, 'GET', `/api/v1/namespaces/${namespace}/services/${name}`);
    if (response.status !== 200) return undefined;
    const parsed = ServiceSchema.safeParse({ ...(response.body as object), apiVersion: 'v1', kind: 'Service' });
    return parsed.success ? parsed.data : undefined;
  }

  private async dataPlaneNodeAddresses(): Promise<string[]> {
    this.pointsPolled = true;
    const selector = encodeURIComponent(this.options.dataPlaneSelector);
    const response = await kubeRequest(this.options.kubeConfig, 'GET', `/api/v1/namespaces/${this.options.controlNamespace}/pods?labelSelector=${selector}`);
    if (response.status !== 200) return [];
    const pods = (response.body as { items?: { status?: { hostIP?: string; phase?: string } }[] }).items ?? [];
    return pods.filter((p) => p.status?.phase === 'Running' && p.status.hostIP).map((p) => p.status!.hostIP!);
  }

  /**
   * Asks for Ingress status and Events to be brought in line with the current state (leader
   * only). Requests are coalesced by a RebuildLoop, which runs a planning pass once more when a
   * request comes while one runs, so an update that lands mid-pass is never lost; the plan goes
   * to the status writer, which writes in the background.
   */
  syncStatus(): void {
    this.statusLoop.trigger();
  }

  /** Resolves once a planning pass from the current state has run and every planned write and Event is done (for tests). */
  async statusSettled(): Promise<void> {
    await this.statusLoop.flush();
    await Promise.all([this.statusWriter.idle(), this.gatewayStatusWriter.idle(), this.events.idle()]);
  }

  private async planStatus(): Promise<void> {
    if (!this.elector.isLeader || !this.ready) return;
    this.counts.statusPasses++;
    // What this pass reads of the build, and whether it reads addresses the informers do not follow (statusConcerned).
    const planned = { conditions: this.publisher.conditions, gatewayStatus: this.publisher.gatewayStatus, polled: false };
    this.pointsPolled = false;
    try {
      const service = await this.publishService();
      const nodes = service === undefined && this.options.publishAddresses.length === 0 ? await this.dataPlaneNodeAddresses() : [];
      const points = publishAddresses(service, this.options.publishAddresses, nodes);
      if (!this.elector.isLeader) return;
      this.statusWriter.plan(this.statusPlanner.plan(points, this.publishedPoints));
      this.publishedPoints = [...this.publishedPoints.filter((p) => !samePoints(p, points)), points].slice(-PUBLISHED_POINTS_KEPT);
      const now = new Date();
      this.gatewayStatusWriter.plan(this.gatewayStatusPlanner.plan(this.publisher.gatewayStatus, this.state, points, now.toISOString().replace(/\.\d{3}Z$/, 'Z')));
      this.conditionEvents.offer(this.publisher.conditions, (condition) => conditionEvent(condition, this.state, 'portico-controller', this.options.identity, now, this.conditionOrigins.of(condition)));
      this.planFailures = 0;
      this.planned = { ...planned, polled: this.pointsPolled };
    } catch (error) {
      // The addresses could not be read: try again after a back-off, whether or not anything else changes.
      const delayMs = Math.min(30_000, 1000 * 2 ** Math.min(this.planFailures++, 5));
      this.options.logger.warn({ err: error, delayMs }, 'status sync failed; retrying');
      clearTimeout(this.planRetry);
      this.planRetry = setTimeout(() => this.syncStatus(), delayMs);
    }
  }
}

/** A default identity for leader election: the pod name, else host and pid. */
export function defaultIdentity(): string {
  return process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
}
