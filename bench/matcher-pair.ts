/**
 * Two trees' wasm matchers compared in one process (not a test): each tree's own encoder and
 * matcher.wasm, loaded by path (the two may lay tables out in different formats), given the same
 * route tables and requests (bench/matcher-workload.ts); the two are measured in turns of one
 * pass over the requests, round after round, and each round's head/base ratio is kept. On a
 * shared machine the load moves between two runs of bench:matcher by more than the effects
 * sought; turns a few ms long see about the same load, so the median of the rounds' ratios
 * holds where separate runs do not.
 * The tables are loaded as the data plane loads them (the encoded bytes, the table's own route
 * ids), with --down endpoints marked down (health), and both matchers are first asked the whole
 * request mix once: any request they answer differently (a route found or not, the endpoint
 * picked) is counted and printed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Matcher } from '@portico/assembly/matcher';
import type { MatcherTable } from '@portico/assembly/table';
import { benchArgs, integerArg, usageFailure } from './args.ts';
import { cpuMs, lookupSteps, REQUESTS, workload } from './matcher-workload.ts';
import type { Step, Workload } from './matcher-workload.ts';

const NAME = 'bench:matcher-pair';
const USAGE = `Usage: npm run bench:matcher-pair -- --base DIR [--head DIR] [--sizes 1000,10000,100000] [--rounds 16] [--round-ms 250] [--down N] [--base-down N] [--json]

Two trees' wasm matchers in one process on the same tables and requests (bench:matcher's
workload), measured in turns of one pass over the requests (head, base, base, head, ...) for
--rounds rounds, match alone and match + pick; per table size: each tree's table bytes, and the
median (and range) over the rounds of head / base for match and for match + pick, with the load
average at start and end. Each tree needs its node_modules and \`npm run build\` done
(assembly/build/matcher.wasm); see docs/benchmarks.md for making one of another commit.

Options:
  --base DIR        The tree compared against (a worktree of another commit).
  --head DIR        The tree measured (default: the one this script is in).
  --sizes N,N,...   Routes of each table (default 1000,10000,100000).
  --rounds N        Rounds per size (default 16).
  --round-ms N      CPU ms per figure per tree in a round (default 250).
  --down N          Endpoints marked down (setHealthy false) in each matcher before it is
                    asked anything, spread evenly over the endpoint ids (default 0): pick as a
                    data plane with some endpoint ejected somewhere does it.
  --base-down N     Endpoints marked down in the base's matchers (default: --down); with --base
                    the head's own tree, head / base is then the cost of endpoints down.
  --json            Print the figures as JSON.
  -h, --help        Show this help.`;

const values = benchArgs(NAME, USAGE, {
  base: { type: 'string' },
  head: { type: 'string', default: fileURLToPath(new URL('..', import.meta.url)) },
  sizes: { type: 'string', default: '1000,10000,100000' },
  rounds: { type: 'string', default: '16' },
  'round-ms': { type: 'string', default: '250' },
  down: { type: 'string', default: '0' },
  'base-down': { type: 'string' },
  json: { type: 'boolean', default: false },
});
if (values.base === undefined) usageFailure(NAME, '--base DIR is required (the tree to compare against)');
const SIZES = values.sizes.split(',').map((entry) => integerArg(NAME, 'sizes', entry, 10, 1_000_000));
const ROUNDS = integerArg(NAME, 'rounds', values.rounds, 1, 1000);
const ROUND_MS = integerArg(NAME, 'round-ms', values['round-ms'], 1, 60_000);
const DOWN = { head: integerArg(NAME, 'down', values.down, 0, 1_000_000), base: integerArg(NAME, 'base-down', values['base-down'] ?? values.down, 0, 1_000_000) };

/** What this bench needs of a tree's assembly package (every format so far has these two). */
interface Tree {
  readonly dir: string;
  /** The tree's HEAD commit (short), or undefined when `dir` is no git checkout. */
  readonly commit: string | undefined;
  /** Its table format (Format.VERSION). */
  readonly format: number;
  readonly encodeTable: (table: MatcherTable) => Uint8Array;
  readonly loadMatcherFromBinary: (bytes: Uint8Array) => Matcher;
}

/** The assembly package of the tree at `dir`, imported by path; exits 2 naming `--option` when it is not a built tree. */
async function loadTree(option: string, dir: string): Promise<Tree> {
  const host = join(dir, 'assembly/src/host');
  for (const file of [join(host, 'encode.ts'), join(host, 'matcher.ts'), join(dir, 'assembly/build/matcher.wasm'), join(dir, 'node_modules')]) {
    if (!existsSync(file)) usageFailure(NAME, `--${option} ${dir}: no ${file.slice(dir.length + 1)} (a tree with its node_modules, after npm run build)`);
  }
  const load = (file: string): Promise<Record<string, unknown>> => import(pathToFileURL(join(host, file)).href) as Promise<Record<string, unknown>>;
  const [encode, matcher, layout] = await Promise.all([load('encode.ts'), load('matcher.ts'), load('layout.ts')]);
  let commit: string | undefined;
  try {
    commit = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    commit = undefined;
  }
  return {
    dir,
    commit,
    format: (layout.Format as { VERSION: number }).VERSION,
    encodeTable: encode.encodeTable as Tree['encodeTable'],
    loadMatcherFromBinary: matcher.loadMatcherFromBinary as Tree['loadMatcherFromBinary'],
  };
}

/**
 * `tree`'s matcher on its `bytes` of `w`'s table with `down` endpoints marked down (at most every
 * one), the k-th of them id ⌊(2k + 1) · endpoints / 2·down⌋: the same ids in every tree, as a
 * format keeps the table's endpoint ids.
 */
function loadWithDown(tree: Tree, bytes: Uint8Array, w: Workload, down: number): Matcher {
  const matcher = tree.loadMatcherFromBinary(bytes);
  const endpoints = w.table.endpointCount;
  const n = Math.min(down, endpoints);
  for (let k = 0; k < n; k++) matcher.setHealthy(Math.floor(((2 * k + 1) * endpoints) / (2 * n)), false);
  return matcher;
}

/**
 * Requests of `w` that fresh matchers of the two trees answer differently: found by one and not
 * the other, or a different endpoint picked (route ids are not compared: a format may renumber them).
 */
function disagreements(head: Matcher, base: Matcher, w: Workload): { found: number; picked: number } {
  let found = 0;
  let picked = 0;
  const [matchHead, matchBase] = [lookupSteps(head, w).match, lookupSteps(base, w).match];
  for (let i = 0; i < REQUESTS; i++) {
    const a = matchHead(i);
    const b = matchBase(i);
    if (a >= 0 !== b >= 0) found++;
    else if (a >= 0 && head.pick(a) !== base.pick(b)) picked++;
  }
  return { found, picked };
}

/** Median, least and greatest of `list` (not empty). */
function spread(list: readonly number[]): { median: number; min: number; max: number } {
  const sorted = [...list].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] as number, max: sorted[sorted.length - 1] as number };
}

/** One table size's figures: rates in lookups per CPU-second, ratios head / base per round. */
interface SizeRow {
  readonly routes: number;
  readonly hosts: number;
  readonly bytes: { readonly base: number; readonly head: number };
  /** Undefined when the two have different endpoints down (--base-down), so picks may differ by design. */
  readonly disagree: { readonly found: number; readonly picked: number } | undefined;
  /** Endpoints each matcher measured has marked down. */
  readonly endpointsDown: { readonly head: number; readonly base: number };
  readonly rounds: readonly { readonly base: { match: number; matchPick: number }; readonly head: { match: number; matchPick: number } }[];
  readonly match: { readonly base: number; readonly head: number; readonly ratio: ReturnType<typeof spread> };
  readonly matchPick: { readonly base: number; readonly head: number; readonly ratio: ReturnType<typeof spread> };
}

/**
 * Lookups per CPU-second of `head` and of `base`, measured in turns of one pass over the request
 * mix (a few ms each) in the order head, base, base, head, ... until each has had `ms` of CPU:
 * both see the same moments of the machine's load, and each goes first as often as second.
 */
function pairedRates(head: Step, base: Step, ms: number): { head: number; base: number } {
  const spent = [0, 0];
  const passes = [0, 0];
  let sink = 0;
  for (let pass = 0; (spent[0] as number) < ms || (spent[1] as number) < ms; pass++) {
    const turn = (pass & 3) === 0 || (pass & 3) === 3 ? 0 : 1;
    const step = turn === 0 ? head : base;
    const start = cpuMs();
    for (let i = 0; i < REQUESTS; i++) sink += step(i);
    spent[turn] = (spent[turn] as number) + cpuMs() - start;
    passes[turn] = (passes[turn] as number) + 1;
  }
  if (sink === 0.5) console.log(sink); // keeps `sink` alive
  const perSecond = (turn: 0 | 1): number => ((passes[turn] as number) * REQUESTS * 1000) / (spent[turn] as number);
  return { head: perSecond(0), base: perSecond(1) };
}

/** Both trees on a table of `size` routes: ROUNDS rounds of pairedRates, for match and for match + pick. */
function measureSize(size: number, head: Tree, base: Tree): SizeRow {
  const w = workload(size);
  const headBytes = head.encodeTable(w.table);
  const baseBytes = base.encodeTable(w.table);
  const disagree = DOWN.head === DOWN.base ? disagreements(loadWithDown(head, headBytes, w, DOWN.head), loadWithDown(base, baseBytes, w, DOWN.base), w) : undefined;
  const matchers = { head: loadWithDown(head, headBytes, w, DOWN.head), base: loadWithDown(base, baseBytes, w, DOWN.base) };
  const steps = { head: lookupSteps(matchers.head, w), base: lookupSteps(matchers.base, w) };
  // As each matcher reports its flags: what was measured, not what was asked for.
  const unhealthy = (matcher: Matcher): number => Array.from({ length: w.table.endpointCount }, (_, id) => id).filter((id) => !matcher.isHealthy(id)).length;
  const endpointsDown = { head: unhealthy(matchers.head), base: unhealthy(matchers.base) };
  // Warm-up: both compiled by the JIT and their tables touched before the first round counts.
  pairedRates(steps.head.match, steps.base.match, ROUND_MS / 4);
  pairedRates(steps.head.matchPick, steps.base.matchPick, ROUND_MS / 4);
  const rounds: SizeRow['rounds'][number][] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const match = pairedRates(steps.head.match, steps.base.match, ROUND_MS);
    const matchPick = pairedRates(steps.head.matchPick, steps.base.matchPick, ROUND_MS);
    rounds.push({ head: { match: match.head, matchPick: matchPick.head }, base: { match: match.base, matchPick: matchPick.base } });
  }
  const figure = (key: 'match' | 'matchPick'): SizeRow['match'] => ({
    base: spread(rounds.map((r) => r.base[key])).median,
    head: spread(rounds.map((r) => r.head[key])).median,
    ratio: spread(rounds.map((r) => r.head[key] / r.base[key])),
  });
  return { routes: w.table.routes.length, hosts: w.table.hosts.length, bytes: { base: baseBytes.length, head: headBytes.length }, disagree, endpointsDown, rounds, match: figure('match'), matchPick: figure('matchPick') };
}

const head = await loadTree('head', resolve(values.head));
const base = await loadTree('base', resolve(values.base));
const loadStart = os.loadavg();
const rows = SIZES.map((size) => measureSize(size, head, base));
const loadEnd = os.loadavg();

const describe = (tree: Tree): string => `${tree.commit ?? tree.dir} (format ${tree.format})`;
if (values.json) {
  const tree = (t: Tree): object => ({ dir: t.dir, commit: t.commit ?? null, format: t.format });
  console.log(JSON.stringify({ node: process.version, requests: REQUESTS, roundMs: ROUND_MS, rounds: ROUNDS, down: DOWN, head: tree(head), base: tree(base), loadAverage: { start: loadStart, end: loadEnd }, sizes: rows }, null, 2));
} else {
  const m = (n: number): string => (n / 1e6).toFixed(2);
  const ratio = (s: ReturnType<typeof spread>): string => `${s.median.toFixed(3)} [${s.min.toFixed(2)}–${s.max.toFixed(2)}]`;
  const figures = (f: SizeRow['match']): string => `${m(f.base)} → ${m(f.head)} M/s  ${ratio(f.ratio)}`.padEnd(38);
  console.log(`head ${describe(head)} against base ${describe(base)}; node ${process.version}, ${REQUESTS} requests,`);
  console.log(`${ROUNDS} rounds of >= ${ROUND_MS} ms CPU per figure per tree; endpoints down: head ${DOWN.head}, base ${DOWN.base}; load average ${loadStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadEnd.map((l) => l.toFixed(2)).join(' ')} at end\n`);
  console.log(`${'routes'.padStart(7)} ${'hosts'.padStart(6)}  ${'table bytes base → head'.padEnd(30)}  ${'match base → head, head/base [range]'.padEnd(38)}  match+pick base → head, head/base [range]`);
  for (const r of rows) {
    const bytes = `${r.bytes.base} → ${r.bytes.head} (${(r.bytes.head / r.bytes.base).toFixed(3)})`;
    console.log(`${String(r.routes).padStart(7)} ${String(r.hosts).padStart(6)}  ${bytes.padEnd(30)}  ${figures(r.match)}  ${figures(r.matchPick)}`);
    if (r.disagree !== undefined && r.disagree.found + r.disagree.picked > 0) console.log(`        the two answer differently: ${r.disagree.found} requests found by one alone, ${r.disagree.picked} picked another endpoint (of ${REQUESTS})`);
  }
}
