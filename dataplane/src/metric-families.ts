/**
 * Metric families as plain data, the part of the metrics the `portico dataplane` primary needs:
 * merging its workers' families (`mergeWorkers`: counters and histograms summed, state gauges one
 * series per worker) and printing the Prometheus text format (`renderPrometheus`). Apart from
 * metrics.ts (what a data plane counts) so the primary, which serves no traffic, does not load the
 * proxy modules those counts name.
 */

/** The content type of `renderPrometheus`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One series of a family: `suffix` is '' or, for histograms, `_bucket` / `_sum` / `_count`. */
export interface MetricSample {
  readonly suffix: '' | '_bucket' | '_sum' | '_count';
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * One metric family as plain (serialisable) data. `merge` says how the families of several
 * workers combine: `sum` adds samples with equal labels (requests, durations, connections);
 * `per-worker` keeps each worker's samples apart under a `worker` label (what a worker serves,
 * what it thinks of an endpoint), since adding those would be meaningless.
 */
export interface MetricFamily {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly merge: 'sum' | 'per-worker';
  readonly samples: readonly MetricSample[];
}

/** An unambiguous key of `labels` (names and values in order, each value prefixed by its length): one string per sample, no JSON. */
function labelKey(labels: Readonly<Record<string, string>>): string {
  let key = '';
  for (const name in labels) {
    const value = labels[name]!;
    key += `${name}=${value.length}:${value},`;
  }
  return key;
}

/**
 * Merges the families of several workers (`worker` names each one): `sum` families add samples
 * with the same suffix and labels; `per-worker` families keep every sample with a `worker` label.
 * Families are matched by name; the first worker's help and type win.
 */
export function mergeWorkers(workers: readonly { readonly worker: string; readonly families: readonly MetricFamily[] }[]): MetricFamily[] {
  const merged = new Map<string, { family: MetricFamily; samples: Map<string, MetricSample> }>();
  for (const { worker, families } of workers) {
    for (const family of families) {
      let entry = merged.get(family.name);
      if (entry === undefined) merged.set(family.name, (entry = { family, samples: new Map() }));
      for (const sample of family.samples) {
        const labels = family.merge === 'per-worker' ? { ...sample.labels, worker } : sample.labels;
        const key = `${sample.suffix}${labelKey(labels)}`;
        const seen = entry.samples.get(key);
        entry.samples.set(key, { suffix: sample.suffix, labels, value: (seen?.value ?? 0) + sample.value });
      }
    }
  }
  return [...merged.values()].map(({ family, samples }) => ({ ...family, samples: [...samples.values()] }));
}

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabel(value: string): string {
  // Most values (endpoints, routes, versions) have nothing to escape: one test instead of three replaces.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The Prometheus text exposition format (0.0.4) of `families`. */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      // One string per sample, built in place (no entries array, no map, no join per sample).
      let rendered = '';
      for (const name in sample.labels) rendered += `${rendered === '' ? '{' : ','}${name}="${escapeLabel(sample.labels[name]!)}"`;
      if (rendered !== '') rendered += '}';
      lines.push(`${family.name}${sample.suffix}${rendered} ${formatValue(sample.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
