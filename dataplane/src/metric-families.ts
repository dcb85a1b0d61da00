/**
 * Metric families as plain data, the part of the metrics the `portico dataplane` primary needs:
 * merging its workers' families (`mergeWorkers`: counters and histograms summed, state gauges one
 * series per worker) and printing the Prometheus text format (`PrometheusText`, which keeps the
 * large flag series rendered between scrapes; `renderPrometheus` for a one-off text). Apart from
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
 * One page of a FlagSeries: some of its series, in order. Its maker keeps a page that did not
 * change as the same arrays, so a receiver tells by identity (or `valuesKey`) what it holds.
 */
export interface FlagPage {
  /**
   * Each series' label value escaped for the text format (`escapeLabelValue`, so no raw newline),
   * UTF-8, each followed by '\n'. The maker passes the same array while the page is unchanged.
   */
  readonly values: Uint8Array;
  /** Each series' value in order: 0 or 1. */
  readonly flags: Uint8Array;
  /**
   * Names the content of `values` for its maker's life (a page whose values change takes a new
   * key), or undefined: a primary that holds the values under this key is not sent them again.
   */
  readonly valuesKey?: string;
  /** True when `values` was left out (empty) because the receiver holds it under `valuesKey` (`withoutHeldValues`; `HeldFlagValues.restore` puts it back). */
  readonly valuesHeld?: boolean;
}

/**
 * Many series of one family that differ in one label only and are each 0 or 1 (endpoint health:
 * 150,000 series at 50k Ingresses), as byte arrays in pages instead of a sample object each: cheap
 * to make, to send from a worker to its primary, and to render. A change of a few series (an
 * endpoint added, taken away or moved) is a new page or two: only those are encoded, sent and
 * rendered again (`PrometheusText` keeps the rendered pages, patching the bytes of flags that
 * flipped in a copy of their page).
 */
export interface FlagSeries {
  /** The label's name (`endpoint`). */
  readonly label: string;
  /** Labels every line carries after `label`, rendered (`,worker="2"`), or undefined for none. */
  readonly more?: string;
  /** The series in pages, in order. */
  readonly pages: readonly FlagPage[];
}

const NO_VALUES = new Uint8Array(0);

/**
 * `families` as sent to a receiver that holds the flag values under the keys `held`: those values
 * left out. What a worker answers its primary's scrape with: the endpoint keys (megabytes at 50,000
 * Ingresses, one per endpoint) cross only for the pages that changed, not per scrape.
 */
export function withoutHeldValues(families: readonly MetricFamily[], held: readonly string[] | undefined): MetricFamily[] {
  if (held === undefined || held.length === 0) return [...families];
  const keys = new Set(held);
  const omit = (page: FlagPage): FlagPage => (page.valuesKey !== undefined && keys.has(page.valuesKey) ? { ...page, values: NO_VALUES, valuesHeld: true } : page);
  return families.map((family) => (family.flagSeries === undefined ? family : { ...family, flagSeries: family.flagSeries.map((series) => ({ ...series, pages: series.pages.map(omit) })) }));
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
   * so a renderer finds it unchanged by identity), remembering the values it carries. A series
   * with a page left out under a key not held (never told: a worker's fault) is dropped from this
   * answer whole.
   */
  restore(families: readonly MetricFamily[]): MetricFamily[] {
    const seen = new Map<string, Uint8Array>();
    const restorePage = (page: FlagPage): FlagPage | undefined => {
      const key = page.valuesKey;
      if (page.valuesHeld !== true) {
        if (key !== undefined) seen.set(key, page.values);
        return page;
      }
      const values = key === undefined ? undefined : (this.#current.get(key) ?? this.#previous.get(key));
      if (values === undefined) return undefined;
      seen.set(key!, values);
      const { valuesHeld: _, ...rest } = page;
      return { ...rest, values };
    };
    const restored = families.map((family): MetricFamily => {
      if (family.flagSeries === undefined) return family;
      const flagSeries = family.flagSeries.flatMap((series): FlagSeries[] => {
        const pages: FlagPage[] = [];
        for (const page of series.pages) {
          const restoredPage = restorePage(page);
          if (restoredPage === undefined) return [];
          pages.push(restoredPage);
        }
        return [{ ...series, pages }];
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

/** The rendered lines of one FlagPage, and where each line's value byte is. */
interface RenderedPage {
  readonly values: Uint8Array;
  readonly flags: Uint8Array;
  /** The lines. Never written to once made: a response may still be sending them. */
  readonly text: Uint8Array;
  /** Where each flag's byte is in `text`. */
  readonly offsets: Uint32Array;
}

/** The rendered pages of one FlagSeries, and its pages by their values array (what the next render looks a page up by). */
interface RenderedSeries {
  readonly pages: readonly RenderedPage[];
  readonly byValues: ReadonlyMap<Uint8Array, RenderedPage>;
  /** Each line's bytes before its value and after it: fixed by the series' key, so encoded once, not per scrape. */
  readonly head: Uint8Array;
  readonly tail: Uint8Array;
}

/** The lines `${head}<value>${tail}<flag>` of `page`, and each flag's offset. */
function renderPage(name: string, head: Uint8Array, tail: Uint8Array, page: FlagPage): RenderedPage {
  const { values, flags } = page;
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
  return { values, flags: flags.slice(), text, offsets };
}

/** `last` with the flags of `flags`: itself when none flipped, else a patched copy of its text (what was handed out is never written to). */
function reflag(last: RenderedPage, flags: Uint8Array): RenderedPage {
  if (Buffer.compare(last.flags, flags) === 0) return last;
  const text = last.text.slice();
  for (let index = 0; index < flags.length; index++) text[last.offsets[index]!] = flags[index] === 0 ? 0x30 : 0x31;
  return { values: last.values, flags: flags.slice(), text, offsets: last.offsets };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || (a.length === b.length && Buffer.compare(a, b) === 0);
}

/**
 * Renders metric families as the Prometheus text format, keeping the rendered lines of their
 * flag series page by page: a page whose values are the last render's (the same array, or at its
 * place the same bytes) and whose flags did not flip is reused as it is; a flip copies its page
 * and patches the flipped bytes (what was handed out is never written to); a page with new values
 * (endpoints added, taken away or moved in it) is rendered anew, and only that page. A scrape thus
 * costs the pages that changed (and a compare of each page's flags), not the series' megabytes.
 * Holds the series of the last render only.
 */
export class PrometheusText {
  #rendered = new Map<string, RenderedSeries>();

  /** Flag series kept rendered: those of the last render (a worker that left is dropped with its series). */
  get seriesKept(): number {
    return this.#rendered.size;
  }

  /** The text of `families` in pieces (the same text as `renderPrometheus`). */
  render(families: readonly MetricFamily[]): PrometheusBody {
    const body: (string | Uint8Array)[] = [];
    const kept = new Map<string, RenderedSeries>();
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
        const key = `${family.name}\0${series.label}\0${series.more ?? ''}`;
        const rendered = this.#series(key, family.name, series);
        kept.set(key, rendered);
        for (const page of rendered.pages) {
          if (page.text.length === 0) continue;
          if (lines.length !== 0) body.push(`${lines.join('\n')}\n`);
          body.push(page.text);
          lines = [];
        }
      }
    }
    if (lines.length !== 0 || body.length === 0) body.push(`${lines.join('\n')}\n`);
    this.#rendered = kept;
    return body;
  }

  #series(key: string, name: string, series: FlagSeries): RenderedSeries {
    const last = this.#rendered.get(key);
    const head = last?.head ?? encoder.encode(`${name}{${series.label}="`);
    const tail = last?.tail ?? encoder.encode(`"${series.more ?? ''}} `);
    const pages: RenderedPage[] = [];
    const byValues = new Map<Uint8Array, RenderedPage>();
    for (const [index, page] of series.pages.entries()) {
      // By identity (a maker's unchanged page, a primary's held values), else the page at its place with the same bytes (values sent again).
      let kept = last?.byValues.get(page.values);
      if (kept === undefined) {
        const at = last?.pages[index];
        if (at !== undefined && sameBytes(at.values, page.values)) kept = at;
      }
      const rendered = kept !== undefined && kept.flags.length === page.flags.length ? reflag(kept, page.flags) : renderPage(name, head, tail, page);
      pages.push(rendered);
      byValues.set(page.values, rendered);
    }
    return { pages, byValues, head, tail };
  }
}

/** The Prometheus text exposition format (0.0.4) of `families`. */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  return bodyText(new PrometheusText().render(families));
}

/** `body` as one string (its byte pieces decoded as UTF-8): for a one-off text, never a scrape's answer, which is written as it is. */
export function bodyText(body: PrometheusBody): string {
  const decoder = new TextDecoder();
  return body.map((piece) => (typeof piece === 'string' ? piece : decoder.decode(piece))).join('');
}

/** The number of bytes of `body`. */
export function bodyLength(body: PrometheusBody): number {
  let length = 0;
  for (const piece of body) length += typeof piece === 'string' ? Buffer.byteLength(piece) : piece.byteLength;
  return length;
}
