/**
 * The one way a control process turns ClusterState into a published snapshot: build the model
 * incrementally (build/incremental.ts: only what the state's change journal touches is
 * re-derived), compile (unchanged items reused by identity), publish into the history, record
 * metrics. Sources only update ClusterState; the rebuild loop calls `rebuild()`.
 */
import type { ControlMetrics } from '../api/metrics.ts';
import { IncrementalBuild } from '../build/incremental.ts';
import type { GatewayApiStatus } from '../build/gateway/index.ts';
import type { GatewayPorts } from '../build/gateway/listeners.ts';
import type { ClassSelection } from '../build/ingress-class.ts';
import { compileSnapshot } from '../compile/index.ts';
import type { Condition } from '../model/conditions.ts';
import type { Snapshot } from '../snapshot/schema.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { SnapshotHistory } from './history.ts';

/** What one rebuild did. */
export interface RebuildResult {
  readonly snapshot: Snapshot;
  /** False when the version was already current (nothing downstream needs to move). */
  readonly published: boolean;
  /** True when nothing but EndpointSlices changed: no Ingress was re-derived; only endpoints (of sets, and of auth-url routes) can have changed. */
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

/** Builds, compiles and publishes; keeps the incremental build between rebuilds. */
export class SnapshotPublisher {
  private readonly options: SnapshotPublisherOptions;
  /** The incremental build over the state (its stats count derivations and host settlements). */
  readonly build: IncrementalBuild;
  /** The conditions of the last build. */
  conditions: readonly Condition[] = [];
  /** The Gateway API status of the last build (what the leader writes). */
  gatewayStatus: GatewayApiStatus = { classes: [], gateways: [], routes: [] };
  /** Rebuilds so far: those that re-derived Ingresses (or could have), and endpoint-only ones. */
  readonly stats = { rebuilds: 0, endpointOnlyRebuilds: 0 };

  constructor(options: SnapshotPublisherOptions) {
    this.options = options;
    this.build = new IncrementalBuild(options.state, options.selection, { gatewayPorts: options.gatewayPorts });
  }

  /** Brings the snapshot up to date with the state and publishes it. Throws only on a bug (PORTICO_E_SNAPSHOT_INVALID). */
  rebuild(): RebuildResult {
    const start = performance.now();
    const built = this.build.build();
    this.conditions = built.conditions;
    this.gatewayStatus = built.gateway;
    if (built.endpointOnly) this.stats.endpointOnlyRebuilds++;
    else this.stats.rebuilds++;
    // Items equal to the current version's are shared with it: sealing and deltas follow the change.
    const snapshot = compileSnapshot(built.model, this.options.history.current()?.snapshot);
    const published = this.options.history.publish(snapshot, this.conditions);
    const ms = performance.now() - start;
    if (published) this.options.metrics?.recordPublish(this.options.history.current()!, ms / 1000);
    return { snapshot, published, endpointOnly: built.endpointOnly, conditions: this.conditions, ms };
  }
}
