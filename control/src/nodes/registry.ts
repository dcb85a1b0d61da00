/**
 * The data planes this control replica has heard from: which version each serves (a sync
 * long-poll says `known=VERSION`, an ACK says it loaded one), the last ACK/NACK with its error,
 * when it was last seen, and whether a long-poll is open right now. Rollout status of the current
 * version is "n of m": nodes serving it among nodes seen recently.
 *
 * Each replica records the requests that reach it; in cluster mode a NodeMirror shares those
 * records between replicas through Leases (`merge`), so any replica can show every node.
 */

/** The last ACK or NACK of a node. */
export interface NodeReport {
  readonly version: string;
  readonly ok: boolean;
  readonly error: string | null;
  /** ISO 8601 time the report arrived. */
  readonly at: string;
}

/** One data plane, as the API shows it. */
export interface NodeStatus {
  readonly name: string;
  /** The version the node says it serves, or null before it has any. */
  readonly appliedVersion: string | null;
  readonly lastReport: NodeReport | null;
  /** ISO 8601 time of the last sync request or report. */
  readonly lastSeen: string;
  /** True while a sync long-poll of the node is open on this replica. */
  readonly connected: boolean;
  /** Not seen for longer than the stale interval; left out of rollout counts. */
  readonly stale: boolean;
  /** Remote address of the last request. */
  readonly address: string | null;
}

/** Rollout of one version: `updated` of `total` recently seen nodes serve it. */
export interface Rollout {
  readonly version: string | null;
  readonly updated: number;
  readonly total: number;
  /** Nodes whose last report is a NACK of this version. */
  readonly failed: number;
  readonly complete: boolean;
}

interface NodeRecord {
  appliedVersion: string | null;
  lastReport: NodeReport | null;
  lastSeen: number;
  polls: number;
  address: string | null;
}

/** Options of the registry. */
export interface NodeRegistryOptions {
  /** A node not seen for this long is stale (default 90 s: three missed 30 s long-polls). */
  readonly staleAfterMs?: number;
  /** At most this many nodes are kept; the longest unseen is dropped first (default 10,000). */
  readonly maxNodes?: number;
  readonly now?: () => number;
}

/** What one replica knows of a node, as shared with the others. */
export interface SharedNodeRecord {
  readonly appliedVersion: string | null;
  readonly lastReport: NodeReport | null;
  /** Milliseconds since the epoch. */
  readonly lastSeen: number;
  readonly address: string | null;
}

/** Node bookkeeping of one control replica. */
export class NodeRegistry {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly staleAfterMs: number;
  private readonly maxNodes: number;
  private readonly now: () => number;
  /** Names of nodes recorded here since the last `takeChanged()`. */
  private changed = new Set<string>();

  constructor(options: NodeRegistryOptions = {}) {
    this.staleAfterMs = options.staleAfterMs ?? 90_000;
    this.maxNodes = options.maxNodes ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  private record(name: string, address: string | undefined): NodeRecord {
    let node = this.nodes.get(name);
    if (node === undefined) {
      if (this.nodes.size >= this.maxNodes) this.evict();
      node = { appliedVersion: null, lastReport: null, lastSeen: this.now(), polls: 0, address: null };
      this.nodes.set(name, node);
    }
    node.lastSeen = this.now();
    if (address !== undefined) node.address = address;
    this.changed.add(name);
    return node;
  }

  /** The nodes recorded here since the last call, with what this replica knows of them. */
  takeChanged(): Map<string, SharedNodeRecord> {
    const out = new Map<string, SharedNodeRecord>();
    for (const name of this.changed) {
      const node = this.nodes.get(name);
      if (node !== undefined) out.set(name, { appliedVersion: node.appliedVersion, lastReport: node.lastReport, lastSeen: node.lastSeen, address: node.address });
    }
    this.changed = new Set();
    return out;
  }

  /** Takes another replica's record of a node when it is newer than this replica's. */
  merge(name: string, shared: SharedNodeRecord): void {
    const node = this.nodes.get(name);
    if (node !== undefined && node.lastSeen >= shared.lastSeen) return;
    if (node === undefined) {
      if (this.nodes.size >= this.maxNodes) this.evict();
      this.nodes.set(name, { appliedVersion: shared.appliedVersion, lastReport: shared.lastReport, lastSeen: shared.lastSeen, polls: 0, address: shared.address });
      return;
    }
    node.appliedVersion = shared.appliedVersion;
    node.lastReport = shared.lastReport;
    node.lastSeen = shared.lastSeen;
    node.address = shared.address;
  }

  private evict(): void {
    let oldest: [string, number] | undefined;
    for (const [name, node] of this.nodes) if (node.polls === 0 && (oldest === undefined || node.lastSeen < oldest[1])) oldest = [name, node.lastSeen];
    if (oldest !== undefined) this.nodes.delete(oldest[0]);
  }

  /**
   * A sync long-poll of `name` began; `known` is the version it serves (undefined: none). Returns
   * the function to call when the poll ends.
   */
  polling(name: string, known: string | undefined, address?: string): () => void {
    const node = this.record(name, address);
    if (known !== undefined) node.appliedVersion = known;
    node.polls++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      node.polls--;
      node.lastSeen = this.now();
    };
  }

  /** Records an ACK (`ok`) or NACK of `version`; an ACK makes it the applied version. */
  report(name: string, report: { version: string; ok: boolean; error?: string | undefined }, address?: string): NodeStatus {
    const node = this.record(name, address);
    node.lastReport = { version: report.version, ok: report.ok, error: report.ok ? null : (report.error ?? 'no error given'), at: new Date(this.now()).toISOString() };
    if (report.ok) node.appliedVersion = report.version;
    return this.status(name, node);
  }

  /** Every node, sorted by name. */
  list(): NodeStatus[] {
    return [...this.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, node]) => this.status(name, node));
  }

  /** Open long-polls right now (the `connected nodes` metric). */
  connected(): number {
    let count = 0;
    for (const node of this.nodes.values()) if (node.polls > 0) count++;
    return count;
  }

  /** Rollout of `version` over the nodes seen recently. */
  rollout(version: string | undefined): Rollout {
    let updated = 0;
    let total = 0;
    let failed = 0;
    for (const [name, node] of this.nodes) {
      if (this.status(name, node).stale) continue;
      total++;
      if (version !== undefined && node.appliedVersion === version) updated++;
      else if (version !== undefined && node.lastReport?.version === version && !node.lastReport.ok) failed++;
    }
    return { version: version ?? null, updated, total, failed, complete: version !== undefined && total > 0 && updated === total };
  }

  private status(name: string, node: NodeRecord): NodeStatus {
    return {
      name,
      appliedVersion: node.appliedVersion,
      lastReport: node.lastReport,
      lastSeen: new Date(node.lastSeen).toISOString(),
      connected: node.polls > 0,
      stale: node.polls === 0 && this.now() - node.lastSeen > this.staleAfterMs,
      address: node.address,
    };
  }
}
