/**
 * bench:fleet's report (bench/fleet-report.ts): the text lines that depend on how the run was
 * made, the growth between sizes, and the `--json` document's shape (docs/benchmarks.md and
 * scripts read its keys).
 */
import { describe, expect, it } from 'vitest';
import { fleetJson, growthLines, growthsOf, runLines } from '../../bench/fleet-report.ts';
import type { RunResult } from '../../bench/fleet-report.ts';
import { summarize } from './fleet.ts';
import { compilePathsBetween, counterSamples } from '../../bench/compile-paths.ts';

/** A finished run of `ingresses` Ingresses whose per-change figures scale with `scale`. */
function runOf(ingresses: number, scale: number, extra: Partial<RunResult> = {}): RunResult {
  const ms = summarize([10 * scale, 20 * scale]);
  const none = summarize([]);
  return {
    ingresses, routes: ingresses * 3, services: ingresses / 5, nodes: 2, workers: 1, changes_planned: 2, changes_done: 2,
    startup_ms: 4000, first_sync_all_nodes_ms: 100, first_sync_bytes_per_node: 20_000,
    edit_to_published_ms: ms, edit_to_served_ms: ms, swap_stall_ms: ms, edit_to_all_acked_ms: ms, edit_to_node_ack_ms: ms,
    control_cpu_ms_per_change: 30 * scale, bench_load_cpu_ms_per_change: 3, listing_polls_per_change: 2, listing_poll_cpu_ms: 1, probes_cpu_ms_per_s: 40,
    worker_cpu_ms_per_change: Number.NaN, after_change_cpu_ms_per_change: 20,
    thread_cpu_ms_per_change: null, thread_cpu_after_ms_per_change: null, thread_cpu_source: null, warmup: null, gc_reasons: null,
    bytes_per_node_per_change: 700 * scale, gzip_share: 1, worker_bundle_bytes_per_change: Number.NaN, compile_paths: null, sync_errors: 0, sync_error_kinds: {},
    control_rss_idle_bytes: 200 * 2 ** 20 * scale, control_rss_peak_during_changes_bytes: Number.NaN, control_rss_peak_startup_bytes: 230 * 2 ** 20,
    worker_rss_idle_bytes: Number.NaN, worker_rss_peak_bytes: Number.NaN, worker_rss_each: [],
    api_probe_ms: ms, api_probe_first_sync_ms: ms, api_probe_failures: 0, control_loop_block_ms: ms, control_loop_block_first_sync_ms: 26,
    traffic_probe_idle_ms: ms, traffic_probe_during_changes_ms: none, changes: [], gc_during_changes: null,
    edit_to_served_with_mark_compact_ms: none, edit_to_served_without_mark_compact_ms: none,
    ...extra,
  };
}

describe('bench:fleet report', () => {
  it('names the edit kind and the workers, and says when the data plane shares the control process', () => {
    const inProcess = runLines(runOf(500, 1), { workers: 1, kind: 'path' });
    expect(inProcess[0]).toContain('2/2 one-path edits');
    // The files the manifest directory has: 20, or one per Ingress below 20.
    expect(inProcess[0]).toContain('20 List files');
    expect(runLines(runOf(5, 1), { workers: 1, kind: 'path' })[0]).toContain('5 List files');
    expect(inProcess[1]).toContain('portico standalone --workers 1 --no-access-log');
    expect(inProcess.find((text) => text.startsWith('  CPU per change:'))).toBe('  CPU per change: control process 30.0 ms (the data plane runs inside it: no worker process at --workers 1)');
    expect(inProcess.some((text) => text.includes('warm-up') || text.includes('INCOMPLETE') || text.includes("workers' RSS"))).toBe(false);

    const apart = runLines(runOf(500, 1, { worker_cpu_ms_per_change: 12, incomplete: 'change 2 timed out' }), { workers: 2, kind: 'endpoints' });
    expect(apart[0]).toContain('2/2 one-endpoint edits');
    expect(apart.find((text) => text.startsWith('  CPU per change:'))).toBe('  CPU per change: control process 30.0 ms, data-plane workers 12.0 ms');
    expect(apart.at(-1)).toBe('  INCOMPLETE: change 2 timed out');
    expect(apart.every((text) => !text.includes('\n'))).toBe(true);
  });

  it('counts the compile paths and loads of the measured changes from two admin scrapes, the workers\' series summed', () => {
    const scrape = (assembled: number, patched: number, afresh: number, reads: [number, number], copied: [number, number]) =>
      [
        '# TYPE portico_bundle_compiles_total counter',
        `portico_bundle_compiles_total{mode="full",path="endpoints_in_place"} 0`,
        `portico_bundle_compiles_total{mode="full",path="patched"} ${patched}`,
        `portico_bundle_compiles_total{mode="full",path="assembled"} ${assembled}`,
        `portico_bundle_compiles_total{mode="balancing",path="endpoints_in_place"} 1`,
        `portico_bundle_compiles_total{mode="balancing",path="patched"} 0`,
        `portico_bundle_compiles_total{mode="balancing",path="assembled"} ${assembled}`,
        `portico_bundle_hosts_compiled_total ${1000 + patched}`,
        `portico_bundle_endpoints_numbered_afresh_total ${afresh}`,
        `portico_snapshot_endpoint_reads_total{worker="1",read="patched"} ${reads[0]}`,
        `portico_snapshot_endpoint_reads_total{read="patched",worker="2"} ${reads[1]}`,
        `portico_snapshot_endpoint_reads_total{worker="1",read="whole"} 1`,
        `portico_matcher_table_blocks_total{worker="1",block="copied"} ${copied[0]}`,
        `portico_matcher_table_blocks_total{worker="2",block="copied"} ${copied[1]}`,
        'portico_requests_total{status_class="2xx",route="a,b=\\"c\\""} 7',
      ].join('\n');
    const paths = compilePathsBetween(counterSamples(scrape(1, 0, 1, [0, 0], [300, 300])), counterSamples(scrape(4, 2, 4, [2, 3], [310, 305])));
    expect(paths).toEqual({
      full: { endpoints_in_place: 0, patched: 2, assembled: 3 },
      balancing: { endpoints_in_place: 0, patched: 0, assembled: 3 },
      hosts_compiled: 2,
      endpoints_numbered_afresh: 3,
      endpoint_reads: { same: 0, patched: 5, whole: 0 },
      table_blocks: { copied: 15, kept: 0, prepared: 0 },
    });
    // A compiler's counters alone (fleet-stages' in-process compiler): no data plane, so no loads.
    const compilerOnly = (text: string) => counterSamples(text.split('\n').filter((line) => !/^portico_(snapshot|matcher)_/.test(line)).join('\n'));
    expect(compilePathsBetween(compilerOnly(scrape(1, 0, 1, [0, 0], [300, 300])), compilerOnly(scrape(4, 2, 4, [2, 3], [310, 305])))).toEqual({ ...paths, endpoint_reads: null, table_blocks: null });
    const lines = runLines(runOf(500, 1, { compile_paths: paths }), { workers: 2, kind: 'scale' });
    expect(lines).toContain('  over the 2 measured changes, bundle compiles: full 0 endpoints in place, 2 patched, 3 assembled; balancing-only 0 endpoints in place, 0 patched, 3 assembled; 2 hosts compiled, 3 endpoint numberings afresh; data-plane loads: endpoints read 5 patched, 0 whole, 0 same; table blocks 15 copied, 0 kept, 0 prepared');
    expect(runLines(runOf(500, 1), { workers: 1, kind: 'path' }).some((text) => text.includes('bundle compiles'))).toBe(false);
  });

  it('compares every later size with the first to one decimal, and prints nothing for one size', () => {
    expect(growthsOf([runOf(1000, 1)])).toEqual([]);
    expect(growthLines([])).toEqual([]);
    const growths = growthsOf([runOf(1000, 1), runOf(10_000, 2), runOf(50_000, 1.26)]);
    expect(growths).toEqual([
      { from: 1000, to: 10_000, ingresses: 10, edit_to_published_p50: 2, edit_to_all_acked_p50: 2, control_cpu_per_change: 2, bytes_per_node_per_change: 2, control_rss_idle: 2 },
      { from: 1000, to: 50_000, ingresses: 50, edit_to_published_p50: 1.3, edit_to_all_acked_p50: 1.3, control_cpu_per_change: 1.3, bytes_per_node_per_change: 1.3, control_rss_idle: 1.3 },
    ]);
    expect(growthLines(growths)).toEqual([
      "how one change's cost grows with the number of Ingresses (ratio to 1000):",
      '  ×10 Ingresses (10000): edit→listed ×2, edit→all ACKed ×2, control CPU ×2, bytes/node ×2, idle RSS ×2',
      '  ×50 Ingresses (50000): edit→listed ×1.3, edit→all ACKed ×1.3, control CPU ×1.3, bytes/node ×1.3, idle RSS ×1.3',
    ]);
  });

  it('--json keeps its keys in order, with null for options not given', () => {
    const results = [runOf(300, 1), runOf(600, 2)];
    const json = fleetJson({ date: '2026-12-03T08:00:00.000Z', commit: 'abc1234+', loadAverage: [1, 2, 3], nodeOptions: undefined, nodeArgs: '--trace-gc', results, growths: growthsOf(results), totalS: 42 });
    expect(Object.keys(json)).toEqual(['date', 'commit', 'load_average', 'node_options', 'node_args', 'runs', 'growth', 'total_s']);
    expect(json).toMatchObject({ date: '2026-12-03T08:00:00.000Z', commit: 'abc1234+', node_options: null, node_args: '--trace-gc', total_s: 42 });
    expect(json.runs).toBe(results);
    expect(json.growth).toHaveLength(1);
  });
});
