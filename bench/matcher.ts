/**
 * Matcher micro-benchmark (not a test): lookups per second for the wasm matcher and the test
 * reference matcher, on tables of 1k, 10k and 100k routes, over one fixed pre-generated request
 * mix (hits, wildcard hits, unknown paths, unknown hosts); then, at 10k routes, the cost of
 * Gateway API conditions for the hosts that have them and for those that do not. Run:
 * `node bench/matcher.ts [--json]` after `npm run build` in assembly/.
 */
import process from 'node:process';
import { loadMatcherFromBinary } from '@portico/assembly/matcher';
import { encodeTable } from '@portico/assembly/encode';
import type { Matcher, RequestHeaders } from '@portico/assembly/matcher';
import type { HostEntry, MatcherTable, PathEntry } from '@portico/assembly/table';
// The reference matcher is test-only code; the bench measures it as the baseline.
import { loadReference } from '../assembly/test/reference.ts';
import { benchArgs } from './args.ts';
import { lookupSteps, rate as rateOver, REQUESTS, workload } from './matcher-workload.ts';
import type { Step, Workload } from './matcher-workload.ts';

const SIZES = [1_000, 10_000, 100_000];
const MEASURE_MS = Number(process.env.PORTICO_BENCH_MS ?? 1000);
const USAGE = `Usage: npm run bench:matcher [-- --json]

Lookups per second of the wasm matcher and the reference matcher on tables of 1k, 10k and 100k
routes over one fixed request mix; then, at 10k routes, plain hosts in a table where every 10th
host has Gateway API conditions beside the same table without them, and those hosts' own rate.
PORTICO_BENCH_MS sets each measurement's duration (default 1000).

Options:
  --json          Print the figures as JSON.
  -h, --help      Show this help.`;
const json = benchArgs('bench:matcher', USAGE, { json: { type: 'boolean', default: false } }).json;

/** One figure's rate over this run's measurement time. */
const rate = (step: Step): number => rateOver(step, MEASURE_MS);

interface Row {
  readonly routes: number;
  readonly hosts: number;
  readonly implementation: 'wasm' | 'reference';
  readonly matchPerSecond: number;
  readonly matchPickPerSecond: number;
}

/** The encoded table as a data plane loads it: it answers in its own (the grid's) route ids, picks take them back. */
function loadWasm(table: MatcherTable): Matcher {
  return loadMatcherFromBinary(encodeTable(table));
}

const rows: Row[] = [];
for (const size of SIZES) {
  const w = workload(size);
  for (const [implementation, load] of [['wasm', loadWasm], ['reference', loadReference]] as const) {
    const matcher = load(w.table);
    const steps = lookupSteps(matcher, w);
    const match = rate(steps.match);
    const matchPick = rate(steps.matchPick);
    rows.push({ routes: w.table.routes.length, hosts: w.table.hosts.length, implementation, matchPerSecond: match, matchPickPerSecond: matchPick });
  }
}

/**
 * Gateway API conditions at 10k routes: the same table without any conditions ('plain'), and with
 * every 10th host turned into a Gateway API host ('mixed': regex paths, query, regex header and
 * method conditions). Requests to the plain hosts of the mixed table must cost what they cost in
 * the plain table (conditions are judged only for the chosen host); requests to the Gateway hosts
 * show what judging costs.
 */
function gatewayWorkloads(): { plain: Workload; mixed: Workload; plainRequests: Workload; gatewayRequests: Workload } {
  const base = workload(10_000);
  const strip = (h: HostEntry): HostEntry => ({ ...h, paths: h.paths.map((p) => ({ pathType: p.pathType, path: p.path, route: p.route })) });
  const plainHosts = base.table.hosts.map(strip);
  const gatewayNames = new Set<string>();
  const mixedHosts = plainHosts.map((h, i) => {
    if (i % 10 !== 0 || h.host === '*' || h.host.startsWith('*.')) return h;
    gatewayNames.add(h.host);
    const route = h.paths[0]!.route;
    const extra: PathEntry[] = [
      { pathType: 'RegularExpression', path: '/api/v[0-9]+/(users|orders)/[0-9]+', route, conditions: { methods: ['GET'] } },
      { pathType: 'Prefix', path: '/api', route, conditions: { query: [{ name: 'q', value: '[0-9]+', type: 'RegularExpression' }] } },
      { pathType: 'Prefix', path: '/api', route, conditions: { headers: [{ name: 'x-version', value: 'v[12]', type: 'RegularExpression' }, { name: 'x-team', value: 'core' }] } },
    ];
    return { ...h, paths: [...extra, ...h.paths] };
  });
  const plain: Workload = { ...base, table: { ...base.table, hosts: plainHosts } };
  const mixed: Workload = { ...base, table: { ...base.table, hosts: mixedHosts } };
  const pickRequests = (keep: (host: string) => boolean): Omit<Workload, 'table'> => {
    const idx = base.hosts.map((h, i) => [h.toLowerCase().replace(/:443$/, ''), i] as const).filter(([h]) => keep(h)).map(([, i]) => i);
    const take = Array.from({ length: REQUESTS }, (_, k) => idx[k % idx.length] as number);
    return { hosts: take.map((i) => base.hosts[i] as string), paths: take.map((i) => base.paths[i] as string), methods: take.map((i) => base.methods[i] as string), headers: take.map((i) => base.headers[i] as RequestHeaders) };
  };
  const gatewayRequests = pickRequests((h) => gatewayNames.has(h));
  // Gateway hosts get requests that exercise their conditions.
  const paths = gatewayRequests.paths.map((p, k) => (k % 3 === 0 ? `/api/v${k % 4}/users/${k}` : k % 3 === 1 ? `/api/x?q=${k}` : p));
  const headers = gatewayRequests.headers.map((h, k) => (k % 3 === 2 ? { ...h, 'x-version': `v${k % 3}`, 'x-team': 'core' } : h));
  return { plain, mixed, plainRequests: { ...mixed, ...pickRequests((h) => !gatewayNames.has(h)) }, gatewayRequests: { ...mixed, ...gatewayRequests, paths, headers } };
}

const gateway = gatewayWorkloads();
const gatewayMatcher = loadWasm(gateway.mixed.table);
const plainMatcher = loadWasm(gateway.plain.table);
const matchRate = (matcher: Matcher, w: Workload): number => rate(lookupSteps(matcher, w).match);
const plainHostsInPlain = matchRate(plainMatcher, { ...gateway.plainRequests, table: gateway.plain.table });
const plainHostsInMixed = matchRate(gatewayMatcher, gateway.plainRequests);
const gatewayHosts = matchRate(gatewayMatcher, gateway.gatewayRequests);
const gatewayRow = { plainHostsInPlainTable: plainHostsInPlain, plainHostsInMixedTable: plainHostsInMixed, gatewayHostsInMixedTable: gatewayHosts };

const row = (size: number, impl: Row['implementation']): Row => rows.find((r) => r.routes >= size && r.routes < size * 1.1 && r.implementation === impl) as Row;
const ratios = {
  wasmOverReference: Object.fromEntries(SIZES.map((s) => [s, { match: row(s, 'wasm').matchPerSecond / row(s, 'reference').matchPerSecond, matchPick: row(s, 'wasm').matchPickPerSecond / row(s, 'reference').matchPickPerSecond }])),
  wasm100kOver1k: { match: row(100_000, 'wasm').matchPerSecond / row(1_000, 'wasm').matchPerSecond, matchPick: row(100_000, 'wasm').matchPickPerSecond / row(1_000, 'wasm').matchPickPerSecond },
  gateway10k: { plainHostsMixedOverPlain: plainHostsInMixed / plainHostsInPlain, gatewayHostsOverPlainHosts: gatewayHosts / plainHostsInPlain },
};

if (json) {
  console.log(JSON.stringify({ node: process.version, requests: REQUESTS, measureMs: MEASURE_MS, rows, gateway: gatewayRow, ratios }, null, 2));
} else {
  const m = (n: number): string => `${(n / 1e6).toFixed(2)} M/s`.padStart(11);
  console.log(`node ${process.version}, ${REQUESTS} pre-generated requests, >= ${MEASURE_MS} ms CPU per figure, one thread, lookups per CPU-second\n`);
  console.log(`${'routes'.padStart(7)} ${'hosts'.padStart(6)}  ${'impl'.padEnd(9)} ${'match'.padStart(11)} ${'match+pick'.padStart(11)}`);
  for (const r of rows) console.log(`${String(r.routes).padStart(7)} ${String(r.hosts).padStart(6)}  ${r.implementation.padEnd(9)} ${m(r.matchPerSecond)} ${m(r.matchPickPerSecond)}`);
  console.log('\nwasm / reference:');
  for (const [size, r] of Object.entries(ratios.wasmOverReference)) console.log(`  ${String(size).padStart(6)} routes: match ${r.match.toFixed(1)}x, match+pick ${r.matchPick.toFixed(1)}x`);
  console.log(`wasm 100k / 1k: match ${ratios.wasm100kOver1k.match.toFixed(2)}, match+pick ${ratios.wasm100kOver1k.matchPick.toFixed(2)}`);
  console.log(`\nGateway API conditions, 10k routes (every 10th host with regex paths, query, regex header and method conditions):`);
  console.log(`  plain hosts, table without conditions: ${m(plainHostsInPlain)}; same requests, mixed table: ${m(plainHostsInMixed)} (${ratios.gateway10k.plainHostsMixedOverPlain.toFixed(2)}x)`);
  console.log(`  Gateway hosts, mixed table: ${m(gatewayHosts)} (${ratios.gateway10k.gatewayHostsOverPlainHosts.toFixed(2)}x the plain hosts)`);
}
