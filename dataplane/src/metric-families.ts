/**
 * Metric families as plain data, the part of the metrics the `portico dataplane` primary needs:
 * merging its workers' families (`mergeWorkers`: counters and histograms summed, state gauges one
 * series per worker) and printing the Prometheus text format (`PrometheusText`, which keeps the
 * large flag series rendered between scrapes; `renderPrometheus` for a one-off text). Apart from
 * metrics.ts (what a data plane counts) so the primary, which serves no traffic, does not load the
 * proxy modules those counts name.
 */
import { lastAtOrBefore } from '@portico/control/snapshot/order';

/** The content type of `renderPrometheus`'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One series of a family: `suffix` is '' or, for histograms, `_bucket` / `_sum` / `_count`. */
export interface MetricSample {
  readonly suffix: '' | '_bucket' | '_sum' | '_count';
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/**
 * Many series of one family that differ in one label only and are each 0 or 1 (endpoint health:
 * 6,000 series at 10k Ingresses), as two byte arrays instead of a sample object each: cheap to
 * make, to send from a worker to its primary, and to render (`PrometheusText` keeps the rendered
 * lines and re-renders only when the set changed, patching the bytes of flags that flipped).
 */
export interface FlagSeries {
  /** The label's name (`endpoint`). */
  readonly label: string;
  /**
   * Each series' label value escaped for the text format (`escapeLabelValue`, so no raw newline),
   * UTF-8, each followed by '\n'. The maker passes the same array while its set is unchanged.
   */
  readonly values: Uint8Array;
  /** Each series' value in order: 0 or 1. */
  readonly flags: Uint8Array;
  /** Labels every line carries after `label`, rendered (`,worker="2"`), or undefined for none. */
  readonly more?: string;
  /**
   * Names the content of `values` for its maker's life (it takes a new key whenever the values
   * change), or undefined: a primary that holds the values under this key is not sent them again.
   */
  readonly valuesKey?: string;
  /** True when `values` was left out (empty) because the receiver holds it under `valuesKey` (`withoutHeldValues`; `HeldFlagValues.restore` puts it back). */
  readonly valuesHeld?: boolean;
}

const NO_VALUES = new Uint8Array(0);

/**
 * `families` as sent to a receiver that holds the flag values under the keys `held`: those values
 * left out. What a worker answers its primary's scrape with: the endpoint keys (megabytes at 50,000
 * Ingresses, one per endpoint) cross only when they changed, not per scrape.
 */
export function withoutHeldValues(families: readonly MetricFamily[], held: readonly string[] | undefined): MetricFamily[] {
  if (held === undefined || held.length === 0) return [...families];
  const omit = (series: FlagSeries): FlagSeries => (series.valuesKey !== undefined && held.includes(series.valuesKey) ? { ...series, values: NO_VALUES, valuesHeld: true } : series);
  return families.map((family) => (family.flagSeries === undefined ? family : { ...family, flagSeries: family.flagSeries.map(omit) }));
}

/**
 * The flag values a primary holds of one worker, by key (those of its last two answers): which
 * keys to tell the worker it holds (`keys`), and the values the worker left out put back
 * (`restore`).
 */
export class HeldFlagValues {
  #current = new Map<string, Uint8Array>();
  #previous = new Map<string, Uint8Array>();

  /** The keys held: what the next scrape tells the worker. */
  keys(): string[] {
    return [...new Set([...this.#current.keys(), ...this.#previous.keys()])];
  }

  /**
   * `families` (a worker's answer) with every left-out `values` put back (the same array as held,
   * so a renderer finds it unchanged by identity), remembering the values it carries. A series left
   * out under a key not held (never told: a worker's fault) is dropped from this answer.
   */
  restore(families: readonly MetricFamily[]): MetricFamily[] {
    const seen = new Map<string, Uint8Array>();
    const restored = families.map((family): MetricFamily => {
      if (family.flagSeries === undefined) return family;
      const flagSeries = family.flagSeries.flatMap((series): FlagSeries[] => {
        const key = series.valuesKey;
        if (series.valuesHeld !== true) {
          if (key !== undefined) seen.set(key, series.values);
          return [series];
        }
        const values = key === undefined ? undefined : (this.#current.get(key) ?? this.#previous.get(key));
        if (values === undefined) return [];
        seen.set(key!, values);
        const { valuesHeld: _, ...rest } = series;
        return [{ ...rest, values }];
      });
      return { ...family, flagSeries };
    });
    this.#previous = this.#current;
    this.#current = seen;
    return restored;
  }
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
  /** Series printed after `samples`, as flags (per-worker families only). */
  readonly flagSeries?: readonly FlagSeries[];
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
  const merged = new Map<string, { family: MetricFamily; samples: Map<string, MetricSample>; flagSeries: FlagSeries[] }>();
  for (const { worker, families } of workers) {
    for (const family of families) {
      let entry = merged.get(family.name);
      if (entry === undefined) merged.set(family.name, (entry = { family, samples: new Map(), flagSeries: [] }));
      if (family.flagSeries !== undefined) {
        if (family.merge !== 'per-worker') throw new Error(`${family.name}: flag series are per-worker only`);
        // Label order as for samples: the worker label last.
        for (const series of family.flagSeries) entry.flagSeries.push({ ...series, more: `${series.more ?? ''},worker="${escapeLabelValue(worker)}"` });
      }
      for (const sample of family.samples) {
        const labels = family.merge === 'per-worker' ? { ...sample.labels, worker } : sample.labels;
        const key = `${sample.suffix}${labelKey(labels)}`;
        const seen = entry.samples.get(key);
        entry.samples.set(key, { suffix: sample.suffix, labels, value: (seen?.value ?? 0) + sample.value });
      }
    }
  }
  return [...merged.values()].map(({ family, samples, flagSeries }) => ({ ...family, samples: [...samples.values()], ...(flagSeries.length === 0 ? {} : { flagSeries }) }));
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** `value` as a label value of the text format: backslash, newline and double quote escaped. */
export function escapeLabelValue(value: string): string {
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

/** A Prometheus text body in pieces: strings, and the rendered flag series as bytes (written as they are, never copied into a string). */
export type PrometheusBody = readonly (string | Uint8Array)[];

const NEWLINE = 0x0a;
const encoder = new TextEncoder();

/** Bytes of rendered flag lines per page: a flip copies the page of its line, not the series' whole text. */
const FLAG_PAGE = 64 * 1024;

/** The rendered lines of one FlagSeries, in pages of whole lines, and where each line's value byte is. */
interface RenderedFlags {
  readonly values: Uint8Array;
  readonly flags: Uint8Array;
  /** The text in pages (views of one rendered buffer, or a page's patched copy). Never written to once made: a response may still be sending one. */
  readonly pages: readonly Uint8Array[];
  /** Where each page starts in the whole text. */
  readonly starts: Uint32Array;
  /** Where each flag's byte is in the whole text. */
  readonly offsets: Uint32Array;
}

/** The lines `${name}{${label}="<value>"${more}} <flag>` of `series`, and each flag's offset. */
function renderFlags(name: string, series: FlagSeries): RenderedFlags {
  const head = encoder.encode(`${name}{${series.label}="`);
  const tail = encoder.encode(`"${series.more ?? ''}} `);
  const { values, flags } = series;
  const count = flags.length;
  // Each value's own '\n' ends its line.
  const text = new Uint8Array(count * (head.length + tail.length + 1) + values.length);
  const offsets = new Uint32Array(count);
  let at = 0;
  let from = 0;
  for (let index = 0; index < count; index++) {
    const end = values.indexOf(NEWLINE, from);
    if (end < 0) throw new Error(`${name}: ${count} flags but ${index} label values`);
    text.set(head, at);
    at += head.length;
    text.set(values.subarray(from, end), at);
    at += end - from;
    text.set(tail, at);
    at += tail.length;
    offsets[index] = at;
    text[at++] = flags[index] === 0 ? 0x30 : 0x31;
    text[at++] = NEWLINE;
    from = end + 1;
  }
  if (from !== values.length) throw new Error(`${name}: more label values than its ${count} flags`);
  // Pages of whole lines, about FLAG_PAGE bytes each (a line longer than that is a page of its own).
  const pages: Uint8Array[] = [];
  const starts: number[] = [];
  let start = 0;
  while (start < text.length) {
    let end = Math.min(start + FLAG_PAGE, text.length);
    if (end < text.length) {
      const newline = text.lastIndexOf(NEWLINE, end - 1);
      end = newline >= start ? newline + 1 : text.indexOf(NEWLINE, end) + 1;
    }
    starts.push(start);
    pages.push(text.subarray(start, end));
    start = end;
  }
  return { values, flags: flags.slice(), pages, starts: Uint32Array.from(starts), offsets };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.compare(a, b) === 0);
}

/**
 * Renders metric families as the Prometheus text format, keeping the rendered lines of their
 * flag series in pages of FLAG_PAGE bytes: a scrape in which no flag flipped and no set changed
 * reuses them as they are; a flip copies the page of its line and patches the flipped bytes (what
 * was handed out is never written to, and a flip at 50,000 Ingresses copies 64 KiB, not the
 * series' megabytes); a
 * new set (a snapshot swap that changed the endpoints, another worker) renders that series anew.
 * Holds the series of the last render only.
 */
export class PrometheusText {
  #rendered = new Map<string, RenderedFlags>();

  /** Flag series kept rendered: those of the last render (a worker that left is dropped with its series). */
  get seriesKept(): number {
    return this.#rendered.size;
  }

  /** The text of `families` in pieces (the same text as `renderPrometheus`). */
  render(families: readonly MetricFamily[]): PrometheusBody {
    const body: (string | Uint8Array)[] = [];
    const kept = new Map<string, RenderedFlags>();
    let lines: string[] = [];
    for (const family of families) {
      lines.push(`# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${family.name} ${family.type}`);
      for (const sample of family.samples) {
        // One string per sample, built in place (no entries array, no map, no join per sample).
        let rendered = '';
        for (const name in sample.labels) rendered += `${rendered === '' ? '{' : ','}${name}="${escapeLabelValue(sample.labels[name]!)}"`;
        if (rendered !== '') rendered += '}';
        lines.push(`${family.name}${sample.suffix}${rendered} ${formatValue(sample.value)}`);
      }
      for (const series of family.flagSeries ?? []) {
        if (series.flags.length === 0) continue;
        const key = `${family.name}\0${series.label}\0${series.more ?? ''}`;
        const rendered = this.#flags(key, family.name, series);
        kept.set(key, rendered);
        if (lines.length !== 0) body.push(`${lines.join('\n')}\n`);
        body.push(...rendered.pages);
        lines = [];
      }
    }
    if (lines.length !== 0 || body.length === 0) body.push(`${lines.join('\n')}\n`);
    this.#rendered = kept;
    return body;
  }

  #flags(key: string, name: string, series: FlagSeries): RenderedFlags {
    const last = this.#rendered.get(key);
    if (last === undefined || !sameBytes(last.values, series.values) || last.flags.length !== series.flags.length) return renderFlags(name, series);
    const flags = series.flags;
    let pages: Uint8Array[] | undefined;
    // Lines are rendered in flag order, so a flip's page is never before the last flip's: the last page copied is the only one to check.
    let copied = -1;
    for (let index = 0; index < flags.length; index++) {
      if ((flags[index] === 0) === (last.flags[index] === 0)) continue;
      // A flip copies its page (once per render) and patches the copy: the pages handed out stay as they were.
      const offset = last.offsets[index]!;
      const page = lastAtOrBefore(last.starts, offset);
      pages ??= last.pages.slice();
      if (page !== copied) {
        pages[page] = last.pages[page]!.slice();
        copied = page;
      }
      pages[page]![offset - last.starts[page]!] = flags[index] === 0 ? 0x30 : 0x31;
    }
    return pages === undefined ? last : { values: last.values, flags: flags.slice(), pages, starts: last.starts, offsets: last.offsets };
  }
}

/** The Prometheus text exposition format (0.0.4) of `families`. */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const decoder = new TextDecoder();
  return new PrometheusText()
    .render(families)
    .map((piece) => (typeof piece === 'string' ? piece : decoder.decode(piece)))
    .join('');
}

/** The number of bytes of `body`. */
export function bodyLength(body: PrometheusBody): number {
  let length = 0;
  for (const piece of body) length += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.byteLength;
  return length;
}
