/**
 * The data planes this control replica has heard from: which version each serves (a sync
 * long-poll says `known=VERSION`, an ACK says it loaded one), the last ACK/NACK with its error,
 * when it was last seen, and whether a long-poll is open right now. Rollout status of the current
 * version is "n of m": nodes serving it among nodes seen recently.
 *
 * In memory and per replica: with several control replicas behind a Service, each knows the
 * nodes whose requests reached it (a keep-alive connection keeps a node on one replica).
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

/** Node bookkeeping of one control replica. */
export class NodeRegistry {
  private readonly nodes = new Map<string, NodeRecord>();
  private readonly staleAfterMs: number;
  private readonly maxNodes: number;
  private readonly now: () => number;

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
    return node;
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
