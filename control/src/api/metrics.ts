/**
 * The control plane's Prometheus metrics, all prefixed `portico_`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { PublishedSnapshot } from '../publish/history.ts';
import { registerGcMetric } from './gc-metrics.ts';

/** The metrics one control process exports. */
export interface ControlMetrics {
  readonly registry: Registry;
  /** Records one published snapshot (build duration in seconds). */
  recordPublish(published: PublishedSnapshot, buildSeconds: number): void;
  /** Records one API request by method, route pattern (never the raw URL: bounded labels) and status. */
  recordRequest(method: string, route: string, status: number, seconds: number): void;
  /** Reports data planes from `nodes` at every scrape (connected = long-polling now). */
  trackNodes(nodes: { connected(): number; rollout(version: string | undefined): { updated: number; total: number } }, currentVersion: () => string | undefined): void;
  /** Reports the manifest source's current problems at every scrape. */
  trackManifestProblems(problems: () => readonly { readonly severity: 'error' | 'warning' }[]): void;
  /** Reports the status writer and Event recorder (cluster mode) at every scrape. */
  trackStatus(figures: () => StatusFigures): void;
  /** Reports the sync bodies encoded and the snapshot history's memory at every scrape. */
  trackSync(figures: () => SyncFigures): void;
}

/** What the sync fan-out has encoded (totals) and what the history holds now. */
export interface SyncFigures {
  /** Sync bodies encoded so far, by kind: every node asking the same gets the same buffers, so these grow per version (or version pair), not per node. */
  readonly encodes: { readonly full: number; readonly delta: number };
  /** Versions held in full (the current one included) and as summaries. */
  readonly versions: { readonly full: number; readonly summary: number };
  /** Estimated bytes of the older full versions (bounded by --history-memory-mb). */
  readonly retainedBytes: number;
}

/** What the Ingress status writer and the Event recorder have done: totals (only grow) and what waits now. */
export interface StatusFigures {
  readonly writes: { readonly written: number; readonly retried: number; readonly failed: number; readonly gone: number };
  readonly pending: number;
  readonly events: { readonly posted: number; readonly failed: number; readonly deferred: number };
  readonly eventsRemembered: number;
}

/** A fresh registry with process metrics and Portico's own. */
export function createControlMetrics(): ControlMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portico_control_' });
  registerGcMetric(registry, 'portico_control_');
  const builds = new Counter({ name: 'portico_snapshot_builds_total', help: 'Snapshots published.', registers: [registry] });
  const duration = new Histogram({ name: 'portico_snapshot_build_duration_seconds', help: 'Time to build and compile a snapshot.', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers: [registry] });
  const conditions = new Gauge({ name: 'portico_conditions', help: 'Conditions in the current snapshot, by reason.', labelNames: ['reason'], registers: [registry] });
  const info = new Gauge({ name: 'portico_snapshot_info', help: 'The current snapshot version (value 1).', labelNames: ['version'], registers: [registry] });
  const hosts = new Gauge({ name: 'portico_snapshot_hosts', help: 'Virtual hosts in the current snapshot.', registers: [registry] });
  const routes = new Gauge({ name: 'portico_snapshot_routes', help: 'Path rules in the current snapshot.', registers: [registry] });
  const endpoints = new Gauge({ name: 'portico_snapshot_endpoints', help: 'Endpoints in the current snapshot.', registers: [registry] });
  const requests = new Counter({ name: 'portico_api_requests_total', help: 'Control API requests, by method, route and status.', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const requestDuration = new Histogram({ name: 'portico_api_request_duration_seconds', help: 'Control API request duration (sync long-polls included).', labelNames: ['method', 'route'], buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 30], registers: [registry] });
  let nodeSource: Parameters<ControlMetrics['trackNodes']> | undefined;
  /** The conditions list the `portico_conditions` gauge was last counted from. */
  let countedConditions: PublishedSnapshot['conditions'] | undefined;
  let manifestProblems: Parameters<ControlMetrics['trackManifestProblems']>[0] | undefined;
  new Gauge({
    name: 'portico_manifest_problems',
    help: 'Problems of the manifest directory now (files or documents that could not be used, files kept through a grace period), by severity.',
    labelNames: ['severity'],
    registers: [registry],
    collect() {
      const all = manifestProblems?.() ?? [];
      this.set({ severity: 'error' }, all.filter((p) => p.severity === 'error').length);
      this.set({ severity: 'warning' }, all.filter((p) => p.severity === 'warning').length);
    },
  });
  let statusFigures: (() => StatusFigures) | undefined;
  let syncFigures: (() => SyncFigures) | undefined;
  // Totals read at scrape time: each counter grows by what the source's total grew since the last scrape.
  const reported = new Map<string, number>();
  const totalsCounter = <F>(name: string, help: string, label: string, source: () => F | undefined, totals: (figures: F) => Readonly<Record<string, number>>) =>
    new Counter({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        const figures = source();
        if (figures === undefined) return;
        for (const [value, total] of Object.entries(totals(figures))) {
          const grown = total - (reported.get(`${name}/${value}`) ?? 0);
          if (grown > 0) this.inc({ [label]: value }, grown);
          reported.set(`${name}/${value}`, total);
        }
      },
    });
  const statusGauge = (name: string, help: string, value: (figures: StatusFigures) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const figures = statusFigures?.();
        this.set(figures === undefined ? 0 : value(figures));
      },
    });
  totalsCounter('portico_status_writes_total', 'Ingress status writes by the leader, by result (written, retried, failed, gone: the Ingress was deleted).', 'result', () => statusFigures?.(), (f) => f.writes);
  statusGauge('portico_status_pending', 'Ingress status writes waiting or in flight.', (f) => f.pending);
  totalsCounter('portico_events_total', 'Kubernetes Events for conditions, by result (posted, failed, deferred: the queue was full, a later pass posts it).', 'result', () => statusFigures?.(), (f) => f.events);
  statusGauge('portico_events_remembered', 'Event keys remembered for de-duplication (bounded: the least recently seen are forgotten first).', (f) => f.eventsRemembered);
  totalsCounter('portico_sync_bodies_encoded_total', 'Sync bodies encoded and compressed, by kind (full, delta): once per version or version pair and format, however many nodes receive them.', 'kind', () => syncFigures?.(), (f) => f.encodes);
  new Gauge({
    name: 'portico_history_versions',
    help: 'Snapshot versions in the history, by how they are kept (full: deltas and exports can use them; summary: version, time and counts only).',
    labelNames: ['kept'],
    registers: [registry],
    collect() {
      const versions = syncFigures?.().versions;
      this.set({ kept: 'full' }, versions?.full ?? 0);
      this.set({ kept: 'summary' }, versions?.summary ?? 0);
    },
  });
  new Gauge({
    name: 'portico_history_retained_bytes',
    help: 'Estimated memory of the older snapshot versions kept in full (bounded by --history-memory-mb).',
    registers: [registry],
    collect() {
      this.set(syncFigures?.().retainedBytes ?? 0);
    },
  });
  new Gauge({
    name: 'portico_dataplane_nodes_connected',
    help: 'Data planes with a sync long-poll open on this replica.',
    registers: [registry],
    collect() {
      this.set(nodeSource?.[0].connected() ?? 0);
    },
  });
  new Gauge({
    name: 'portico_dataplane_nodes',
    help: 'Recently seen data planes, by whether they serve the current version.',
    labelNames: ['current'],
    registers: [registry],
    collect() {
      const rollout = nodeSource?.[0].rollout(nodeSource[1]());
      this.set({ current: 'true' }, rollout?.updated ?? 0);
      this.set({ current: 'false' }, (rollout?.total ?? 0) - (rollout?.updated ?? 0));
    },
  });
  return {
    registry,
    recordRequest(method, route, status, seconds) {
      requests.inc({ method, route, status: String(status) });
      requestDuration.observe({ method, route }, seconds);
    },
    trackNodes(nodes, currentVersion) {
      nodeSource = [nodes, currentVersion];
    },
    trackManifestProblems(problems) {
      manifestProblems = problems;
    },
    trackStatus(figures) {
      statusFigures = figures;
    },
    trackSync(figures) {
      syncFigures = figures;
    },
    recordPublish(published, buildSeconds) {
      builds.inc();
      duration.observe(buildSeconds);
      // The incremental build hands over the same list when no condition changed: nothing to count again.
      if (published.conditions !== countedConditions) {
        const byReason = new Map<string, number>();
        for (const condition of published.conditions) byReason.set(condition.reason, (byReason.get(condition.reason) ?? 0) + 1);
        conditions.reset();
        for (const [reason, count] of byReason) conditions.set({ reason }, count);
        countedConditions = published.conditions;
      }
      info.reset();
      info.set({ version: published.snapshot.version }, 1);
      const snapshot = published.snapshot;
      hosts.set(snapshot.hosts.length);
      // Counted by history from the items that changed: not a pass over every host and set per version.
      routes.set(published.size.routes);
      endpoints.set(published.size.endpoints);
    },
  };
}

