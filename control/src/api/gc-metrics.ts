/**
 * The control process's garbage-collection pauses, every one of them.
 *
 * prom-client's default `nodejs_gc_duration_seconds` observes only the first entry its
 * PerformanceObserver is handed, and Node hands over every collection of a long task in one
 * call: the young-generation collections and the major pause inside a rebuild counted as one.
 * Those are the pauses that make a change slow (bench:fleet with `--node-args=--trace-gc`), so
 * the metric of the same name is replaced by one that observes every entry, with buckets that
 * tell a 5 ms pause from a 50 ms one.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { Histogram } from 'prom-client';

const KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** Seconds: the main-thread pause of one collection. */
const GC_PAUSE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Registers `${prefix}nodejs_gc_duration_seconds{kind}` in `registry` (in place of
 * prom-client's, if `collectDefaultMetrics` put one there) and starts observing collections.
 * Returns the function that stops observing.
 */
export function registerGcMetric(registry: Registry, prefix: string): () => void {
  const name = `${prefix}nodejs_gc_duration_seconds`;
  registry.removeSingleMetric(name);
  const pauses = new Histogram({
    name,
    help: 'Garbage collection pauses of the control process by kind (major, minor, incremental, weakcb), every collection.',
    labelNames: ['kind'],
    buckets: GC_PAUSE_BUCKETS,
    registers: [registry],
  });
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } | null }).detail?.kind;
      pauses.observe({ kind: (kind === undefined ? undefined : KINDS[kind]) ?? 'other' }, entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  return () => observer.disconnect();
}
