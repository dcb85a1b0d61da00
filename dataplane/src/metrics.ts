/**
 * Prometheus metrics of the data plane, without a metrics library in the worker. The per-request
 * path only bumps plain numbers; `families()` turns them into plain data when Prometheus scrapes,
 * a primary merges its workers' families (`mergeWorkers`: counters and histograms summed, state
 * gauges one series per worker) and `renderPrometheus` prints the text format.
 */
import { REFUSED_REASONS } from './admission.ts';
import type { RefusedReason } from './admission.ts';
import type { PassthroughOutcome } from './passthrough.ts';
import { PASSTHROUGH_OUTCOMES } from './passthrough.ts';
import { AUTH_CACHE_OUTCOMES, authCacheTotals } from './auth-cache.ts';
import { MIRROR_OUTCOMES, mirrorStats } from './mirror.ts';
import type { Router } from './router.ts';
import type { AddressClass } from '@portico/control/snapshot/address';
import type { ClientProtocol } from './seam.ts';
import type { MetricFamily, MetricSample } from './metric-families.ts';
import { EndpointHealthSeries } from './metrics-endpoints.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Client protocols counted apart (portico_requests_by_protocol_total). */
const PROTOCOLS: readonly ClientProtocol[] = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/2.0'];

/**
 * Why Portico closed an HTTP/2 connection early: no SETTINGS from the client in time, too many
 * streams reset by the client (CVE-2023-44487), or a protocol error nghttp2 or the session's own
 * limits found (CONTINUATION flood, too many refused streams, bad frames).
 */
export const H2_CLOSE_REASONS = ['settings-timeout', 'rapid-reset', 'protocol-error'] as const;

/** One of H2_CLOSE_REASONS. */
export type H2CloseReason = (typeof H2_CLOSE_REASONS)[number];

/** Seconds; from the first upstream byte written to the last response byte relayed. */
const UPSTREAM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Counts of one data plane (one process), read as families when scraped. */
/** One sample per entry of `values` (in its order), each labelled `label` = the entry's key. */
function oneLabel(label: string, values: Readonly<Record<string, number>>): MetricSample[] {
  return Object.entries(values).map(([name, value]) => ({ suffix: '', labels: { [label]: name }, value }));
}

export class ProxyMetrics {
  /** Client sockets open right now (TLS handshakes included); the listeners keep this up to date. */
  activeConnections = 0;
  /** Connections refused or closed early, by reason (REFUSED_REASONS order). */
  readonly #refused = new Float64Array(REFUSED_REASONS.length);
  /** ssl-passthrough connections: spliced to an endpoint, or closed because none could be connected to. */
  readonly #passthrough = new Float64Array(PASSTHROUGH_OUTCOMES.length);
  /** Requests not sent to an endpoint because of its address, by address class. */
  readonly #endpointRefused = new Map<AddressClass, number>();
  readonly #router: Router;
  readonly #counts = new Map<string, Float64Array>();
  readonly #buckets = new Float64Array(UPSTREAM_BUCKETS.length + 1);
  readonly #protocols = new Float64Array(PROTOCOLS.length);
  readonly #h2Closed = new Float64Array(H2_CLOSE_REASONS.length);
  #upstreamSum = 0;
  #upstreamCount = 0;
  #lastRoute = '';
  #lastCounts: Float64Array | undefined;
  /** The endpoint health series (see EndpointHealthSeries). */
  readonly #endpointHealth = new EndpointHealthSeries();

  constructor(router: Router) {
    this.#router = router;
  }

  /** Counts an ssl-passthrough connection, spliced or given up. */
  countPassthrough(outcome: PassthroughOutcome): void {
    const index = PASSTHROUGH_OUTCOMES.indexOf(outcome);
    this.#passthrough[index] = (this.#passthrough[index] as number) + 1;
  }

  /** Counts a connection refused, evicted or failed in its TLS handshake. */
  countRefused(reason: RefusedReason): void {
    const index = REFUSED_REASONS.indexOf(reason);
    this.#refused[index] = (this.#refused[index] as number) + 1;
  }

  /** Counts a request refused because of its endpoint's address. */
  countEndpointRefused(reason: AddressClass): void {
    this.#endpointRefused.set(reason, (this.#endpointRefused.get(reason) ?? 0) + 1);
  }

  /** Counts an HTTP/2 connection Portico closed early, by why. */
  countH2Closed(reason: H2CloseReason): void {
    const index = H2_CLOSE_REASONS.indexOf(reason);
    this.#h2Closed[index] = (this.#h2Closed[index] as number) + 1;
  }

  /** Counts one answered request; `route` is '' when no route matched; `protocol` is what the client spoke. */
  countRequest(route: string, status: number, protocol: ClientProtocol = 'HTTP/1.1'): void {
    const slot = protocol === 'HTTP/1.1' ? 1 : protocol === 'HTTP/2.0' ? 2 : 0;
    this.#protocols[slot] = (this.#protocols[slot] as number) + 1;
    let counts = route === this.#lastRoute ? this.#lastCounts : this.#counts.get(route);
    if (counts === undefined) this.#counts.set(route, (counts = new Float64Array(STATUS_CLASSES.length)));
    this.#lastRoute = route;
    this.#lastCounts = counts;
    const index = Math.min(Math.max(Math.floor(status / 100) - 1, 0), STATUS_CLASSES.length - 1);
    counts[index] = (counts[index] as number) + 1;
  }

  /** Records one upstream exchange's duration in seconds: a bucket search and three additions. */
  observeUpstream(seconds: number): void {
    let index = 0;
    while (index < UPSTREAM_BUCKETS.length && seconds > (UPSTREAM_BUCKETS[index] as number)) index++;
    this.#buckets[index] = (this.#buckets[index] as number) + 1;
    this.#upstreamSum += seconds;
    this.#upstreamCount++;
  }

  /**
   * This process's metric families, in a fixed order. The endpoint-health series' `flags` arrays
   * are this object's and the next call rewrites them: what keeps flags past the next call copies
   * them (PrometheusText does; a worker's answer is a structured clone).
   */
  families(): MetricFamily[] {
    const requests: MetricSample[] = [];
    // Series of routes the served snapshot no longer has are dropped: the map follows the snapshot, not history.
    const live = this.#router.current?.routeLabels;
    for (const [route, counts] of this.#counts) {
      if (route !== '' && live?.has(route) !== true) {
        this.#counts.delete(route);
        if (counts === this.#lastCounts) {
          // No route label contains NUL: the next countRequest looks its route up again.
          this.#lastRoute = '\0';
          this.#lastCounts = undefined;
        }
        continue;
      }
      for (let index = 0; index < STATUS_CLASSES.length; index++) {
        if ((counts[index] as number) > 0) requests.push({ suffix: '', labels: { status_class: STATUS_CLASSES[index]!, route }, value: counts[index] as number });
      }
    }
    const buckets: MetricSample[] = [];
    let cumulative = 0;
    for (let index = 0; index < UPSTREAM_BUCKETS.length; index++) {
      cumulative += this.#buckets[index] as number;
      buckets.push({ suffix: '_bucket', labels: { le: String(UPSTREAM_BUCKETS[index]) }, value: cumulative });
    }
    buckets.push({ suffix: '_bucket', labels: { le: '+Inf' }, value: this.#upstreamCount }, { suffix: '_sum', labels: {}, value: this.#upstreamSum }, { suffix: '_count', labels: {}, value: this.#upstreamCount });
    const router = this.#router;
    return [
      { name: 'portico_requests_total', help: 'Requests answered, by status class and route (route is empty when nothing matched); summed over workers.', type: 'counter', merge: 'sum', samples: requests },
      {
        name: 'portico_requests_by_protocol_total',
        help: 'Requests answered, by the protocol the client spoke (HTTP/1.0, HTTP/1.1, HTTP/2.0); summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: PROTOCOLS.map((protocol, index) => ({ suffix: '', labels: { protocol }, value: this.#protocols[index] as number })),
      },
      {
        name: 'portico_http2_connections_closed_total',
        help: 'HTTP/2 connections Portico closed early: no client SETTINGS in time (settings-timeout), streams reset too fast (rapid-reset), or a protocol error or flood (protocol-error); summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: H2_CLOSE_REASONS.map((reason, index) => ({ suffix: '', labels: { reason }, value: this.#h2Closed[index] as number })),
      },
      { name: 'portico_upstream_duration_seconds', help: 'Time from sending a request to an endpoint until its response was fully relayed; summed over workers.', type: 'histogram', merge: 'sum', samples: buckets },
      { name: 'portico_active_connections', help: 'Client sockets open: accepted and not yet closed (TLS handshakes and upgraded connections included); summed over workers.', type: 'gauge', merge: 'sum', samples: [{ suffix: '', labels: {}, value: this.activeConnections }] },
      {
        name: 'portico_connections_refused_total',
        help: 'Client connections refused at accept (limit, client-limit), closed to make room (evicted) or closed for a TLS handshake that failed or took too long (tls-handshake); summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: REFUSED_REASONS.map((reason, index) => ({ suffix: '', labels: { reason }, value: this.#refused[index] as number })),
      },
      {
        name: 'portico_tls_passthrough_connections_total',
        help: 'TLS connections of ssl-passthrough hosts: spliced to an endpoint without termination (spliced), or closed because no endpoint could be connected to or the address policy refused it (failed); summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: PASSTHROUGH_OUTCOMES.map((outcome, index) => ({ suffix: '', labels: { outcome }, value: this.#passthrough[index] as number })),
      },
      {
        name: 'portico_mirror_copies_total',
        help: 'Request copies of mirror-target and Gateway API RequestMirror, by what became of them: answered, failed (connect, TLS or reset), timeout (10 s), or dropped before sending: busy (256 in flight, or 8 DNS lookups of mirror-target names), no-endpoint, address-refused (endpoint address policy), body-too-large (1 MiB), body-budget (16 MiB held per process), body-not-buffered (Gateway: body not with the head), incomplete (the request ended before its body or was refused), bad-target; summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: MIRROR_OUTCOMES.map((outcome, index) => ({ suffix: '', labels: { outcome }, value: mirrorStats.outcomes[index] as number })),
      },
      {
        name: 'portico_auth_cache_total',
        help: 'auth-url answer cache (auth-cache-key): lookups answered from it (hit) or not (miss), requests whose key could not be filled in (uncacheable: a repeated field, no credential, over 8 KiB), answers kept (stored) or not (not-stored: status not listed, Set-Cookie, Cache-Control, ...), answers pushed out by the bounds (evicted); summed over workers.',
        type: 'counter',
        merge: 'sum',
        samples: AUTH_CACHE_OUTCOMES.map((outcome, index) => ({ suffix: '', labels: { outcome }, value: authCacheTotals[index] as number })),
      },
      {
        name: 'portico_endpoint_address_refused_total',
        help: "Requests not sent because the endpoint's address is loopback, link-local, unspecified or the node's own (see --allow-loopback-endpoints); summed over workers.",
        type: 'counter',
        merge: 'sum',
        samples: [...this.#endpointRefused].map(([reason, value]) => ({ suffix: '', labels: { reason }, value })),
      },
      {
        name: 'portico_snapshot_info',
        help: 'The snapshot a worker serves: value 1, one series per worker (version label).',
        type: 'gauge',
        merge: 'per-worker',
        samples: router.version === undefined ? [] : [{ suffix: '', labels: { version: router.version }, value: 1 }],
      },
      { name: 'portico_snapshot_swaps_total', help: 'Snapshots a worker loaded and swapped in, one series per worker.', type: 'counter', merge: 'per-worker', samples: [{ suffix: '', labels: {}, value: router.swapCount }] },
      {
        name: 'portico_snapshot_swap_stall_seconds',
        help: "How long swapping in a snapshot held a worker's event loop (loading the compiled bundle: no compile), for the last swap and the longest so far; one series per worker.",
        type: 'gauge',
        merge: 'per-worker',
        samples: [
          { suffix: '', labels: { swap: 'last' }, value: router.swapStallMs.last / 1000 },
          { suffix: '', labels: { swap: 'max' }, value: router.swapStallMs.max / 1000 },
        ],
      },
      {
        name: 'portico_snapshot_endpoint_reads_total',
        help: "Snapshots a worker loaded, by how it had their endpoints: the previous snapshot's (same), those with the changed lines read (patched), or every line read (whole: the first load, or a bundle not made from the one before); one series per worker.",
        type: 'counter',
        merge: 'per-worker',
        samples: oneLabel('read', router.endpointReads),
      },
      {
        name: 'portico_matcher_instances',
        help: "A worker's wasm matcher instances (each with its own memory, grown to hold its table: about 4 MB at 30,000 routes): in use by a snapshot still held (current, or with requests in flight), or spare for the next swap; one series per worker.",
        type: 'gauge',
        merge: 'per-worker',
        samples: oneLabel('state', { in_use: router.matcherPool.inUse, spare: router.matcherPool.spare }),
      },
      {
        name: 'portico_matcher_loads_total',
        help: 'Tables a worker loaded into a new wasm instance or into a reused one (a spare: whose previous snapshot nobody held any more, or prepared after a swap that left none); one series per worker.',
        type: 'counter',
        merge: 'per-worker',
        samples: oneLabel('instance', { new: router.matcherPool.created, reused: router.matcherPool.reused }),
      },
      {
        name: 'portico_matcher_table_blocks_total',
        help: "A table's 64 KiB blocks a worker's loads copied into a wasm instance, or kept because the reused instance already held them unchanged, and those copied into a spare instance prepared after a swap that left none (a slice per event-loop turn, before the next load); one series per worker.",
        type: 'counter',
        merge: 'per-worker',
        samples: oneLabel('block', { copied: router.matcherPool.blocksCopied, kept: router.matcherPool.blocksKept, prepared: router.matcherPool.blocksPrepared }),
      },
      {
        name: 'portico_endpoint_healthy',
        help: "Whether an endpoint of the current snapshot takes a worker's traffic: 1, or 0 while that worker's passive health checking ejects it; one series per worker.",
        type: 'gauge',
        merge: 'per-worker',
        samples: [],
        flagSeries: router.current === undefined ? [] : [this.#endpointHealth.of(router.current)],
      },
    ];
  }
}
