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
  /** The status last shown for the node, reused while the record and its staleness are as they were then (`viewSeen`: its lastSeen). */
  view?: NodeStatus;
  viewSeen?: number;
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
  /** The nodes sorted by name, until one is added or dropped. */
  private sorted: (readonly [string, NodeRecord])[] | undefined;
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
      this.sorted = undefined;
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
      this.sorted = undefined;
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
    if (oldest !== undefined && this.nodes.delete(oldest[0])) this.sorted = undefined;
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
    return this.status(name, node, this.now());
  }

  /** Every node, sorted by name. */
  list(): NodeStatus[] {
    // GET /v1/nodes is polled while nodes sync (every few ms by bench:fleet): a node whose record
    // did not change since the last listing is shown by the same object, not a new one (and its time text).
    this.sorted ??= [...this.nodes.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const now = this.now();
    return this.sorted.map(([name, node]) => this.status(name, node, now));
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
    // Asked at every GET /v1/nodes and metrics scrape: no status object (and its time text) per node.
    const now = this.now();
    for (const node of this.nodes.values()) {
      if (this.stale(node, now)) continue;
      total++;
      if (version !== undefined && node.appliedVersion === version) updated++;
      else if (version !== undefined && node.lastReport?.version === version && !node.lastReport.ok) failed++;
    }
    return { version: version ?? null, updated, total, failed, complete: version !== undefined && total > 0 && updated === total };
  }

  private status(name: string, node: NodeRecord, now: number): NodeStatus {
    const stale = this.stale(node, now);
    const view = node.view;
    if (view !== undefined && node.viewSeen === node.lastSeen && view.appliedVersion === node.appliedVersion && view.lastReport === node.lastReport && view.connected === node.polls > 0 && view.stale === stale && view.address === node.address) return view;
    node.viewSeen = node.lastSeen;
    return (node.view = { name, appliedVersion: node.appliedVersion, lastReport: node.lastReport, lastSeen: new Date(node.lastSeen).toISOString(), connected: node.polls > 0, stale, address: node.address });
  }

  /** Not polling and not seen for longer than the stale interval at `now`. */
  private stale(node: NodeRecord, now: number): boolean {
    return node.polls === 0 && now - node.lastSeen > this.staleAfterMs;
  }
}
