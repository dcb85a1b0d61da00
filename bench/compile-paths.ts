/**
 * Which path each change's bundle compile and data-plane load took (counts, never time), for
 * bench:fleet (from the admin `/metrics` counters of the real `portico` process, scraped before and
 * after the measured changes) and fleet-stages (the same counters of an in-process compiler,
 * `SnapshotCompiler.families`, with no data plane's loads). A change that
 * is `assembled` paid for every host; `patched` and `endpoints_in_place` for what changed.
 */
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

/** What grew between two scrapes of the admin `/metrics` (counterSamples of each); the loads null when `after` has no data plane's series. */
export function compilePathsBetween(before: ReadonlyMap<string, number>, after: ReadonlyMap<string, number>): CompilePaths {
  const grown = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  const loads = [...after.keys()].some((key) => key.startsWith('portico_snapshot_endpoint_reads_total{'));
  const mode = (name: 'full' | 'balancing'): PathCounts => ({ endpoints_in_place: grown(`portico_bundle_compiles_total{mode="${name}",path="endpoints_in_place"}`), patched: grown(`portico_bundle_compiles_total{mode="${name}",path="patched"}`), assembled: grown(`portico_bundle_compiles_total{mode="${name}",path="assembled"}`) });
  return {
    full: mode('full'),
    balancing: mode('balancing'),
    hosts_compiled: grown('portico_bundle_hosts_compiled_total{}'),
    endpoints_numbered_afresh: grown('portico_bundle_endpoints_numbered_afresh_total{}'),
    endpoint_reads: loads ? { same: grown('portico_snapshot_endpoint_reads_total{read="same"}'), patched: grown('portico_snapshot_endpoint_reads_total{read="patched"}'), whole: grown('portico_snapshot_endpoint_reads_total{read="whole"}') } : null,
    table_blocks: loads ? { copied: grown('portico_matcher_table_blocks_total{block="copied"}'), kept: grown('portico_matcher_table_blocks_total{block="kept"}'), prepared: grown('portico_matcher_table_blocks_total{block="prepared"}') } : null,
  };
}

const modeText = (counts: PathCounts) => PATHS.map((path) => `${counts[path]} ${path.replaceAll('_', ' ')}`).join(', ');

/** One line: the compiles by mode and path, hosts compiled, numberings afresh, then (when measured) the loads. */
export function compilePathsText(p: CompilePaths): string {
  const loads = p.endpoint_reads === null || p.table_blocks === null ? '' : `; data-plane loads: endpoints read ${p.endpoint_reads.patched} patched, ${p.endpoint_reads.whole} whole, ${p.endpoint_reads.same} same; table blocks ${p.table_blocks.copied} copied, ${p.table_blocks.kept} kept, ${p.table_blocks.prepared} prepared`;
  return `bundle compiles: full ${modeText(p.full)}; balancing-only ${modeText(p.balancing)}; ${p.hosts_compiled} hosts compiled, ${p.endpoints_numbered_afresh} endpoint numberings afresh${loads}`;
}
