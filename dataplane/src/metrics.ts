/**
 * Prometheus metrics of the data plane. The per-request path only bumps plain numbers and one
 * histogram; counters are brought up to date when Prometheus scrapes (prom-client `collect`), so
 * no label hashing happens per request.
 */
import type { Histogram, MetricObjectWithValues, MetricType, MetricValueWithName, Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { REFUSED_REASONS } from './admission.ts';
import type { RefusedReason } from './admission.ts';
import type { Router } from './router.ts';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Seconds; from the first upstream byte written to the last response byte relayed. */
const UPSTREAM_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * A label-less histogram whose observe() is a bucket search and three additions. prom-client's
 * own Histogram hashes labels and allocates closures per observation, which showed up in the
 * proxy's profile; this one is read by the Registry through the same get() contract.
 */
class FastHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let index = 0;
    while (index < bounds.length && value > (bounds[index] as number)) index++;
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.#sum += value;
    this.#count++;
  }

  async get(): Promise<MetricObjectWithValues<MetricValueWithName<string>>> {
    const values: MetricValueWithName<string>[] = [];
    let cumulative = 0;
    for (let index = 0; index < this.#bounds.length; index++) {
      cumulative += this.#counts[index] as number;
      values.push({ metricName: `${this.name}_bucket`, labels: { le: this.#bounds[index] as number }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.#count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.#sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.#count });
    return { name: this.name, help: this.help, type: this.type as unknown as MetricType, aggregator: this.aggregator, collect: () => {}, values };
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }
}

/**
 * Registers `portico_requests_total{status_class,route}`, `portico_upstream_duration_seconds`,
 * `portico_active_connections`, `portico_connections_refused_total{reason}`, `portico_snapshot_info{version}`, `portico_snapshot_swaps_total`
 * and `portico_endpoint_healthy{endpoint}` on `registry`. Throws (prom-client) when a metric of the
 * same name is already registered there.
 */
export class ProxyMetrics {
  /** Client sockets open right now (TLS handshakes included); the listeners keep this up to date. */
  activeConnections = 0;
  /** Connections refused or closed early, by reason (REFUSED_REASONS order). */
  readonly #refused = new Float64Array(REFUSED_REASONS.length);
  readonly #counts = new Map<string, Float64Array>();
  readonly #reported = new Map<string, Float64Array>();
  readonly #upstream: FastHistogram;
  #lastRoute = '';
  #lastCounts: Float64Array | undefined;

  constructor(registry: Registry, router: Router) {
    const counts = this.#counts;
    const reported = this.#reported;
    const requests: Counter<'status_class' | 'route'> = new Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by status class and route (route is empty when nothing matched).',
      labelNames: ['status_class', 'route'],
      registers: [registry],
      collect() {
        for (const [route, now] of counts) {
          let seen = reported.get(route);
          if (seen === undefined) reported.set(route, (seen = new Float64Array(STATUS_CLASSES.length)));
          for (let index = 0; index < STATUS_CLASSES.length; index++) {
            const delta = (now[index] as number) - (seen[index] as number);
            if (delta > 0) requests.inc({ status_class: STATUS_CLASSES[index], route }, delta);
            seen[index] = now[index] as number;
          }
        }
      },
    });
    this.#upstream = new FastHistogram('portico_upstream_duration_seconds', 'Time from sending a request to an endpoint until its response was fully relayed.', UPSTREAM_BUCKETS);
    // The Registry only reads name/type/help/get()/reset(), which FastHistogram provides.
    registry.registerMetric(this.#upstream as unknown as Histogram);
    const activeNow = (): number => this.activeConnections;
    const active: Gauge = new Gauge({
      name: 'portico_active_connections',
      help: 'Client sockets open: accepted and not yet closed (TLS handshakes and upgraded connections included).',
      registers: [registry],
      collect() {
        active.set(activeNow());
      },
    });
    const refusedNow = this.#refused;
    const refusedReported = new Float64Array(REFUSED_REASONS.length);
    const refused: Counter<'reason'> = new Counter({
      name: 'portico_connections_refused_total',
      help: 'Client connections refused at accept (limit, client-limit), closed to make room (evicted) or closed for a TLS handshake that failed or took too long (tls-handshake).',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        for (let index = 0; index < REFUSED_REASONS.length; index++) {
          refused.inc({ reason: REFUSED_REASONS[index] }, (refusedNow[index] as number) - (refusedReported[index] as number));
          refusedReported[index] = refusedNow[index] as number;
        }
      },
    });
    const info: Gauge<'version'> = new Gauge({
      name: 'portico_snapshot_info',
      help: 'The snapshot being served (value 1, version label).',
      labelNames: ['version'],
      registers: [registry],
      collect() {
        info.reset();
        if (router.version !== undefined) info.set({ version: router.version }, 1);
      },
    });
    let swapsReported = 0;
    const swaps: Counter = new Counter({
      name: 'portico_snapshot_swaps_total',
      help: 'Snapshots loaded and swapped in.',
      registers: [registry],
      collect() {
        if (router.swapCount > swapsReported) swaps.inc(router.swapCount - swapsReported);
        swapsReported = router.swapCount;
      },
    });
    const healthy: Gauge<'endpoint'> = new Gauge({
      name: 'portico_endpoint_healthy',
      help: 'Whether an endpoint of the current snapshot takes traffic (0 while ejected by passive health checking).',
      labelNames: ['endpoint'],
      registers: [registry],
      collect() {
        healthy.reset();
        for (const endpoint of router.endpointHealth()) healthy.set({ endpoint: endpoint.key }, endpoint.healthy ? 1 : 0);
      },
    });
  }

  /** Counts a connection refused, evicted or failed in its TLS handshake. */
  countRefused(reason: RefusedReason): void {
    const index = REFUSED_REASONS.indexOf(reason);
    this.#refused[index] = (this.#refused[index] as number) + 1;
  }

  /** Counts one answered request; `route` is '' when no route matched. */
  countRequest(route: string, status: number): void {
    let counts = route === this.#lastRoute ? this.#lastCounts : this.#counts.get(route);
    if (counts === undefined) this.#counts.set(route, (counts = new Float64Array(STATUS_CLASSES.length)));
    this.#lastRoute = route;
    this.#lastCounts = counts;
    const index = Math.min(Math.max(Math.floor(status / 100) - 1, 0), STATUS_CLASSES.length - 1);
    counts[index] = (counts[index] as number) + 1;
  }

  /** Records one upstream exchange's duration in seconds. */
  observeUpstream(seconds: number): void {
    this.#upstream.observe(seconds);
  }
}
