/**
 * Which path each change's bundle compile and data-plane load took (counts, never time), for
 * bench:fleet (from the admin `/metrics` counters of the real `portico` process, scraped before and
 * after the measured changes) and fleet-stages (from an in-process `BundleCompiler`). A change that
 * is `assembled` paid for every host; `patched` and `endpoints_in_place` for what changed.
 */
import type { BundleCompilePaths } from '../control/src/snapshot/bundle-compile.ts';

/** Versions compiled in one mode, by path (`portico_bundle_compiles_total`'s `path` label). */
export interface PathCounts {
  endpoints_in_place: number;
  patched: number;
  assembled: number;
}

/** What the compiles and loads of some changes did (after minus before). */
export interface CompilePaths {
  /** Full bundles (routing and endpoint choice: the digest nodes check) by path. */
  full: PathCounts;
  /** Balancing-only bundles (an endpoint-only change, as the local data plane loads it) by path. */
  balancing: PathCounts;
  /** Snapshot hosts compiled into table pieces (not reused). */
  hosts_compiled: number;
  /** Endpoint numberings made afresh (every endpoint set walked). */
  endpoints_numbered_afresh: number;
  /** Data-plane loads by how their endpoints were had (summed over workers); null when no data plane was measured. */
  endpoint_reads: { same: number; patched: number; whole: number } | null;
  /** 64 KiB table blocks the loads copied into a wasm instance, kept (held unchanged) or copied into a prepared spare (summed over workers); null when no data plane was measured. */
  table_blocks: { copied: number; kept: number; prepared: number } | null;
}

/**
 * The counter samples of a Prometheus text, keyed `name{label="value",...}` with the `worker` label
 * left out and the samples that differ only in it summed (a primary's per-worker series).
 */
export function counterSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const match of text.matchAll(/^(portico_\w+)(?:\{([^}]*)\})? (\S+)$/gm)) {
    const labels = (match[2] ?? '').split(/,(?=\w+=")/).filter((label) => label !== '' && !label.startsWith('worker='));
    const key = `${match[1]}{${labels.join(',')}}`;
    samples.set(key, (samples.get(key) ?? 0) + Number(match[3]));
  }
  return samples;
}

const PATHS = ['endpoints_in_place', 'patched', 'assembled'] as const;

/** What grew between two scrapes of the admin `/metrics` (counterSamples of each). */
export function compilePathsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): CompilePaths {
  const grown = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const mode = (name: 'full' | 'balancing'): PathCounts => ({ endpoints_in_place: grown(`portico_bundle_compiles_total{mode="${name}",path="endpoints_in_place"}`), patched: grown(`portico_bundle_compiles_total{mode="${name}",path="patched"}`), assembled: grown(`portico_bundle_compiles_total{mode="${name}",path="assembled"}`) });
  return {
    full: mode('full'),
    balancing: mode('balancing'),
    hosts_compiled: grown('portico_bundle_hosts_compiled_total{}'),
    endpoints_numbered_afresh: grown('portico_bundle_endpoints_numbered_afresh_total{}'),
    endpoint_reads: { same: grown('portico_snapshot_endpoint_reads_total{read="same"}'), patched: grown('portico_snapshot_endpoint_reads_total{read="patched"}'), whole: grown('portico_snapshot_endpoint_reads_total{read="whole"}') },
    table_blocks: { copied: grown('portico_matcher_table_blocks_total{block="copied"}'), kept: grown('portico_matcher_table_blocks_total{block="kept"}'), prepared: grown('portico_matcher_table_blocks_total{block="prepared"}') },
  };
}

/** A BundleCompiler's counts at one moment (`paths` and `stats` copied), for compilePathsOfCompiler. */
export interface CompilerCounts {
  readonly paths: BundleCompilePaths;
  readonly stats: { readonly hostsCompiled: number; readonly numberedAfresh: number };
}

/** A copy of `compiler`'s counts now. */
export function compilerCounts(compiler: CompilerCounts): CompilerCounts {
  return { paths: { full: { ...compiler.paths.full }, balancing: { ...compiler.paths.balancing } }, stats: { hostsCompiled: compiler.stats.hostsCompiled, numberedAfresh: compiler.stats.numberedAfresh } };
}

/** What an in-process compiler did between two `compilerCounts` (no data plane: its loads are null). */
export function compilePathsOfCompiler(before: CompilerCounts, after: CompilerCounts): CompilePaths {
  const mode = (name: 'full' | 'balancing'): PathCounts => ({ endpoints_in_place: after.paths[name].endpointsInPlace - before.paths[name].endpointsInPlace, patched: after.paths[name].patched - before.paths[name].patched, assembled: after.paths[name].assembled - before.paths[name].assembled });
  return { full: mode('full'), balancing: mode('balancing'), hosts_compiled: after.stats.hostsCompiled - before.stats.hostsCompiled, endpoints_numbered_afresh: after.stats.numberedAfresh - before.stats.numberedAfresh, endpoint_reads: null, table_blocks: null };
}

/** The sum of two CompilePaths (loads null when either is). */
export function addCompilePaths(a: CompilePaths, b: CompilePaths): CompilePaths {
  const mode = (x: PathCounts, y: PathCounts): PathCounts => ({ endpoints_in_place: x.endpoints_in_place + y.endpoints_in_place, patched: x.patched + y.patched, assembled: x.assembled + y.assembled });
  return {
    full: mode(a.full, b.full),
    balancing: mode(a.balancing, b.balancing),
    hosts_compiled: a.hosts_compiled + b.hosts_compiled,
    endpoints_numbered_afresh: a.endpoints_numbered_afresh + b.endpoints_numbered_afresh,
    endpoint_reads: a.endpoint_reads === null || b.endpoint_reads === null ? null : { same: a.endpoint_reads.same + b.endpoint_reads.same, patched: a.endpoint_reads.patched + b.endpoint_reads.patched, whole: a.endpoint_reads.whole + b.endpoint_reads.whole },
    table_blocks: a.table_blocks === null || b.table_blocks === null ? null : { copied: a.table_blocks.copied + b.table_blocks.copied, kept: a.table_blocks.kept + b.table_blocks.kept, prepared: a.table_blocks.prepared + b.table_blocks.prepared },
  };
}

/** No compiles, no loads. */
export const NO_COMPILE_PATHS: CompilePaths = { full: { endpoints_in_place: 0, patched: 0, assembled: 0 }, balancing: { endpoints_in_place: 0, patched: 0, assembled: 0 }, hosts_compiled: 0, endpoints_numbered_afresh: 0, endpoint_reads: null, table_blocks: null };

const modeText = (counts: PathCounts) => PATHS.map((path) => `${counts[path]} ${path.replaceAll('_', ' ')}`).join(', ');

/** One line: the compiles by mode and path, hosts compiled, numberings afresh, then (when measured) the loads. */
export function compilePathsText(p: CompilePaths): string {
  const loads = p.endpoint_reads === null || p.table_blocks === null ? '' : `; data-plane loads: endpoints read ${p.endpoint_reads.patched} patched, ${p.endpoint_reads.whole} whole, ${p.endpoint_reads.same} same; table blocks ${p.table_blocks.copied} copied, ${p.table_blocks.kept} kept, ${p.table_blocks.prepared} prepared`;
  return `bundle compiles: full ${modeText(p.full)}; balancing-only ${modeText(p.balancing)}; ${p.hosts_compiled} hosts compiled, ${p.endpoints_numbered_afresh} endpoint numberings afresh${loads}`;
}
