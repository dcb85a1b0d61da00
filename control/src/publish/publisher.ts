/**
 * The one way a control process turns ClusterState into a published snapshot: build the model
 * (or, when only EndpointSlices changed since the last build, refresh its endpoint sets and keep
 * its routes), compile, publish into the history, record metrics. Sources say which kinds
 * changed; the rebuild loop calls `rebuild()`.
 */
import type { ControlMetrics } from '../api/metrics.ts';
import { buildModel, refreshEndpoints } from '../build/index.ts';
import { IngressCache } from '../build/ingress-cache.ts';
import { GatewayCache } from '../build/gateway/cache.ts';
import type { GatewayApiStatus } from '../build/gateway/index.ts';
import type { GatewayPorts } from '../build/gateway/listeners.ts';
import type { ClassSelection } from '../build/ingress-class.ts';
import { compileSnapshot } from '../compile/index.ts';
import type { Condition } from '../model/conditions.ts';
import type { RoutingModel } from '../model/types.ts';
import type { Snapshot } from '../snapshot/schema.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import type { SnapshotHistory } from './history.ts';

/** What one rebuild did. */
export interface RebuildResult {
  readonly snapshot: Snapshot;
  /** False when the version was already current (nothing downstream needs to move). */
  readonly published: boolean;
  /** True when routes were kept and only endpoint sets recomputed. */
  readonly endpointOnly: boolean;
  readonly conditions: readonly Condition[];
  readonly ms: number;
}

/** Options of the publisher. */
export interface SnapshotPublisherOptions {
  readonly state: ClusterState;
  readonly selection: ClassSelection;
  readonly history: SnapshotHistory;
  readonly metrics?: ControlMetrics | undefined;
  /** Listener ports that reach the data plane (default 80 for HTTP, 443 for HTTPS). */
  readonly gatewayPorts?: GatewayPorts | undefined;
}

/** Builds, compiles and publishes; remembers the last model for the endpoint-only path. */
export class SnapshotPublisher {
  private readonly options: SnapshotPublisherOptions;
  private model: RoutingModel | undefined;
  private changedKinds = new Set<KubeObject['kind']>();
  /** Per-Ingress derivations reused across full builds (see IngressCache for what invalidates them). */
  readonly ingressCache = new IngressCache();
  /** Per-route derivations of the Gateway processor, reused across full builds. */
  readonly gatewayCache = new GatewayCache();
  /** The conditions of the last full build. */
  conditions: readonly Condition[] = [];
  /** The Gateway API status of the last full build (what the leader writes). */
  gatewayStatus: GatewayApiStatus = { classes: [], gateways: [], routes: [] };
  /** Rebuilds so far, full and endpoint-only. */
  readonly stats = { rebuilds: 0, endpointOnlyRebuilds: 0 };

  constructor(options: SnapshotPublisherOptions) {
    this.options = options;
  }

  /** Notes that objects of `kind` changed since the last rebuild. */
  changed(kind: KubeObject['kind']): void {
    this.changedKinds.add(kind);
  }

  /** Rebuilds from the whole state and publishes. Throws only on a bug (PORTICO_E_SNAPSHOT_INVALID). */
  rebuild(): RebuildResult {
    const kinds = this.changedKinds;
    this.changedKinds = new Set();
    const endpointOnly = this.model !== undefined && kinds.size === 1 && kinds.has('EndpointSlice');
    const start = performance.now();
    if (endpointOnly) {
      // EndpointSlice churn: routes stay as built, only endpoint sets are recomputed.
      this.model = refreshEndpoints(this.model!, this.options.state);
      this.stats.endpointOnlyRebuilds++;
    } else {
      const built = buildModel(this.options.state, this.options.selection, this.ingressCache, { gatewayCache: this.gatewayCache, gatewayPorts: this.options.gatewayPorts });
      this.model = built.model;
      this.conditions = built.conditions;
      this.gatewayStatus = built.gateway;
      this.stats.rebuilds++;
    }
    // Items equal to the current version's are shared with it: sealing and deltas follow the change.
    const snapshot = compileSnapshot(this.model, this.options.history.current()?.snapshot);
    const published = this.options.history.publish(snapshot, this.conditions);
    const ms = performance.now() - start;
    if (published) this.options.metrics?.recordPublish(this.options.history.current()!, ms / 1000);
    return { snapshot, published, endpointOnly, conditions: this.conditions, ms };
  }
}
