/**
 * Table bundles on the data plane: compiling one and reading its metadata (verifying one:
 * bundle-verify.ts). What a bundle is, and how it is compiled, is part of the
 * contract (`@portico/control/snapshot/bundle`): the control plane compiles each version once and
 * data planes load it without compiling; a damaged bundle is refused and the worker keeps what it
 * serves.
 */
import type { BundledUpstreamTls, LabelLines, TableBundle } from '@portico/control/snapshot/bundle';
import { compileBundle as compileReference, labelLinesOf } from '@portico/control/snapshot/bundle';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import { seedShipped } from '@portico/control/snapshot/bundle-wire';
import type { Snapshot } from '@portico/control/snapshot';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import type { RegexHost } from '@portico/control/snapshot/table';
import { PorticoError } from './errors.ts';
import type { MetricFamily } from './metric-families.ts';

export type { BundledUpstreamTls, TableBundle, TlsBundle } from '@portico/control/snapshot/bundle';
export { digestOf, tableBlocksOf, withTableBlocks } from '@portico/control/snapshot/bundle';

/**
 * Compiles a (verified) snapshot into a bundle in one pass (the reference compile); with
 * `balancingOnly`, only endpoint choice. Throws PORTICO_E_SNAPSHOT_LOAD when the snapshot cannot
 * be compiled into a table.
 */
export function compileBundle(snapshot: Snapshot, balancingOnly = false): TableBundle {
  try {
    return compileReference(snapshot, balancingOnly);
  } catch (cause) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
  }
}

/** Each BundleCompilePaths count and its `path` label, in the order the samples are listed. */
const COMPILE_PATH_LABELS = [
  ['endpointsInPlace', 'endpoints_in_place'],
  ['patched', 'patched'],
  ['assembled', 'assembled'],
] as const;

/**
 * An incremental compile (`BundleCompiler`: each snapshot host once, each version assembled from
 * its hosts' pieces), giving what `compileBundle` gives. Throws PORTICO_E_SNAPSHOT_LOAD like it.
 */
export class SnapshotCompiler {
  readonly #compiler: BundleCompiler;

  /** `compiler`: one to share (standalone's control plane compiles with the same one, so a version is compiled once). */
  constructor(compiler: BundleCompiler = new BundleCompiler()) {
    this.#compiler = compiler;
  }

  /** Hosts compiled (not reused) so far. */
  get hostsCompiled(): number {
    return this.#compiler.stats.hostsCompiled;
  }

  /**
   * What this compiler did so far as metric families: versions by mode and by the path their
   * compile took, hosts compiled, endpoint numberings made afresh. Reported by the process that
   * compiles (the in-process data plane, or a primary for its workers); in `portico standalone` the
   * compiler is the control plane's too, so its full bundles (the digest nodes check) count here.
   */
  families(): MetricFamily[] {
    const { stats, paths } = this.#compiler;
    const samples = (['full', 'balancing'] as const).flatMap((mode) =>
      COMPILE_PATH_LABELS.map(([path, label]) => ({ suffix: '' as const, labels: { mode, path: label }, value: paths[mode][path] })),
    );
    return [
      {
        name: 'portico_bundle_compiles_total',
        help: "Snapshot versions compiled into table bundles, by mode (full: routing and endpoint choice; balancing: endpoint choice only) and by the path the compile took: endpoints_in_place (endpoint sets changed but no endpoint id did, e.g. an endpoint's terminating flag: the last bundle with its endpoints text; an address moved or added takes another id, so it patches), patched (the last bundle's table with the changed hosts' or endpoint sets' bytes written) or assembled (every host's piece laid out and hashed again: a cost that follows the number of hosts).",
        type: 'counter',
        merge: 'sum',
        samples,
      },
      { name: 'portico_bundle_hosts_compiled_total', help: 'Snapshot hosts compiled into table pieces (not reused from an earlier version, nor shipped by the control plane).', type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: {}, value: stats.hostsCompiled }] },
      { name: 'portico_bundle_endpoints_numbered_afresh_total', help: "Endpoint numberings made afresh, walking every endpoint set (the endpoint id capacity changed, or many sets at once), rather than worked out from the last version's (ids are slots of the endpoint keys: a scale or a move re-places one probe cluster).", type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: {}, value: stats.numberedAfresh }] },
    ];
  }

  /**
   * The bundle of `snapshot` (with `balancingOnly`, endpoint choice alone). With `received` (the
   * control plane's compiled chunks and digest from the sync body), those hosts are not compiled
   * here, and a full bundle must have exactly the control plane's digest. Throws
   * PORTICO_E_SNAPSHOT_LOAD (naming both digests when they differ).
   */
  compile(snapshot: Snapshot, balancingOnly = false, received?: ReceivedBundle): TableBundle {
    let bundle: TableBundle;
    try {
      if (received !== undefined) seedShipped(this.#compiler, snapshot, received);
      bundle = this.#compiler.compile(snapshot, balancingOnly);
    } catch (cause) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
    }
    if (received !== undefined && !balancingOnly && bundle.digest !== received.digest) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version}: the assembled bundle hashes to ${bundle.digest}, not the control plane's ${received.digest} (a damaged chunk)`);
    }
    return bundle;
  }
}

/** The bundle's routes with HTTPS or HTTP/2 backends. */
export function upstreamTlsOf(bundle: TableBundle): BundledUpstreamTls[] {
  return JSON.parse(bundle.upstreamTls) as BundledUpstreamTls[];
}

/** A string with the same characters that shares no storage with `text` (V8 makes a substring a view that keeps its whole parent alive). */
function ownCopy(text: string): string {
  return JSON.parse(JSON.stringify(text)) as string;
}

/**
 * A bundle's route labels by route id, read as they are asked for: loading a version splits
 * nothing (a 30,000-route table would otherwise make 30,000 strings and an array per version); the
 * label of a route is cut out on its first use and kept for the version's life. From a bundle made
 * in this process (standalone: labelLinesOf) the labels are read line by line and the whole text
 * (megabytes at 50,000 Ingresses) is never joined; from a received one, out of its text. A label
 * handed out is a copy of its own, so nothing that keeps it (metrics series, a log line) keeps the
 * version's text alive.
 */
export class RouteLabels {
  /** Routes labelled (0 for an empty text). */
  readonly count: number;
  /** What the labels are read from: the text, or the bundle's line reader. */
  readonly source: string | LabelLines;
  /** Where label `id` starts in the text (text source only); entry `count` is the text's length + 1. */
  readonly #starts: Uint32Array | undefined;
  readonly #cut = new Map<number, string>();
  #all: ReadonlySet<string> | undefined;

  /** The labels of `source`: a `\n`-joined text as the bundle carries it ('' for none), or its line reader. */
  constructor(source: string | LabelLines) {
    this.source = source;
    if (typeof source !== 'string') {
      this.count = source.lines;
      this.#starts = undefined;
      return;
    }
    const text = source;
    let count = 0;
    if (text !== '') {
      count = 1;
      for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) count++;
    }
    this.count = count;
    const starts = new Uint32Array(count + 1);
    let id = 1;
    for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) starts[id++] = at + 1;
    starts[count] = text.length + 1;
    this.#starts = starts;
  }

  /** The labels of `bundle` (its line reader when it has one, else its text). */
  static of(bundle: TableBundle): RouteLabels {
    return new RouteLabels(labelLinesOf(bundle) ?? bundle.routeLabels);
  }

  /** Whether these are the labels `bundle` carries (the same text or line reader): a new version that kept them keeps what was cut. */
  sameAs(bundle: TableBundle): boolean {
    return this.source === (labelLinesOf(bundle) ?? bundle.routeLabels);
  }

  /** The label of route `id`, or undefined when there is no such route. */
  at(id: number): string | undefined {
    let label = this.#cut.get(id);
    if (label !== undefined || id >>> 0 !== id || id >= this.count) return label;
    label = this.#read(id);
    if (label === undefined) return undefined;
    label = ownCopy(label);
    this.#cut.set(id, label);
    return label;
  }

  /** Whether `label` is the label of some route (the set of all labels is made on the first ask, e.g. a metrics scrape). */
  has(label: string): boolean {
    if (this.#all === undefined) {
      const all = new Set<string>();
      for (let id = 0; id < this.count; id++) all.add(this.#read(id)!);
      this.#all = all;
    }
    return this.#all.has(label);
  }

  #read(id: number): string | undefined {
    const source = this.source;
    if (typeof source !== 'string') return source.line(id);
    return source.slice(this.#starts![id]!, this.#starts![id + 1]! - 1);
  }
}

/** A route's annotation policies as the bundle carries them. */
export interface BundledPolicies {
  readonly route: number;
  readonly policies: RoutePolicies;
  readonly path: string | null;
  readonly regex: boolean;
  /** The route ids of its RequestMirror backends (hidden routes); absent for none. */
  readonly mirrors?: readonly number[];
  /** The route id of its default backend (`default-backend`, a hidden route); absent for none. */
  readonly fallback?: number;
}

/** The bundle's routes with annotation policies. */
export function routePoliciesOf(bundle: TableBundle): BundledPolicies[] {
  return JSON.parse(bundle.policies) as BundledPolicies[];
}

/** The bundle's hosts with regex paths. */
export function regexHostsOf(bundle: TableBundle): RegexHost[] {
  return JSON.parse(bundle.regexHosts) as RegexHost[];
}
