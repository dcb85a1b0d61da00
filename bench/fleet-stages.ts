/**
 * Control-plane stage costs of one change (not a test): what `bench:fleet` measures end to end,
 * taken apart in one process. Loads bench:fleet's synthetic manifest directory of N Ingresses
 * through the manifest watcher (ManifestSource, parsing in-process) into a SnapshotPublisher, then
 * applies one-path Ingress edits (the edited file saved as bench:fleet saves it, the watcher's scan
 * taking it), EndpointSlice changes (an endpoint moved; an endpoint added, then taken away again)
 * and a host added to an Ingress (then taken away again) one at a time and prints, per kind of
 * change, which path its bundle compiles took (patched, endpoints in place or assembled from every
 * host: counts, from BundleCompiler) and the median of: parse (the watcher's parse of the edited file, which `portico` runs in its parser thread, off
 * the event loop), upsert (the rest of the watcher's scan: stat, read, the objects that changed
 * applied to ClusterState; for other changes, the ClusterState upsert), incremental build, compile +
 * seal, history publish (diff, memory budget), the sync delta body (encode + gzip, once per
 * version pair) and the table bundle (BundleCompiler: changed hosts compiled, the version
 * assembled; balancing-only for an endpoint-only change, as the data plane loads it), in wall time
 * and in CPU time (`process.cpuUsage`: all threads). A two-file edit saves two Ingresses half the
 * fleet apart (two files, one scan): hosts that change far apart in the sorted lists. With `--sizes`, how each grows with the number of Ingresses. With `--httproutes N`,
 * the cluster also holds a Gateway with N HTTPRoutes (test/support/gateway-fleet.ts), and one-match
 * HTTPRoute edits and ReferenceGrant edits are measured too; an IngressClass that no Ingress names
 * is changed in every run, and an HTTPRoute gets a second hostname (then loses it again): a host
 * whose matches carry header conditions coming and going. With `--big-hosts N`, N of the Ingresses
 * are big API hosts (test/support/fleet.ts isBigHost: 90 paths, kept in the matcher table's
 * overflow area), and a path added to one of them (then taken away again) is measured too.
 *
 *   node bench/fleet-stages.ts [--sizes 1000,10000,50000] [--httproutes 5000] [--big-hosts 50] [--changes 10] [--json]
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_CLASS_SELECTION } from '../control/src/build/ingress-class.ts';
import { compileSnapshot } from '../control/src/compile/index.ts';
import { BundleCompiler } from '../control/src/snapshot/bundle-compile.ts';
import { SnapshotHistory } from '../control/src/publish/history.ts';
import { SnapshotPublisher } from '../control/src/publish/publisher.ts';
import { SyncFeed } from '../control/src/publish/sync-feed.ts';
import { ManifestParseCache } from '../control/src/sources/manifests/incremental.ts';
import { parseManifestText } from '../control/src/sources/manifests/parse.ts';
import { ManifestSource } from '../control/src/sources/manifests/watch.ts';
import { ClusterState } from '../control/src/state/cluster-state.ts';
import type { EndpointSlice } from '../control/src/state/objects.ts';
import { fleetFile, fleetFileName, fleetFileOf, fleetShape, isBigHost, parseSizes } from '../test/support/fleet.ts';
import { fleetHttpRoute, fleetReferenceGrant, gatewayFleetFile } from '../test/support/gateway-fleet.ts';
import type { KubeObject } from '../control/src/state/objects.ts';
import { benchArgs, integerArg, usageFailure } from './args.ts';
import { compilePathsBetween, compilePathsText, counterSamples } from './compile-paths.ts';
import type { CompilePaths } from './compile-paths.ts';
import { SnapshotCompiler } from '../dataplane/src/bundle.ts';
import { renderPrometheus } from '../dataplane/src/metric-families.ts';

const NAME = 'node bench/fleet-stages.ts';
const USAGE = `Usage: node bench/fleet-stages.ts [options]

bench:fleet's control-plane cost of one change taken apart in one process (medians): the manifest
watcher's parse of an edited file (off the event loop in portico) and the rest of its scan with the
ClusterState upsert, incremental build, compile + seal, history publish, the sync delta body and the compiled
table bundle (what the data plane loads), for a one-path
Ingress edit, an endpoint-only change, a Service scaled (an endpoint added, then taken away), a
host added to an Ingress (then taken away), a change to an IngressClass no Ingress names and a
two-file edit (two Ingresses half the fleet apart, saved together: changes far apart in the
lists); with
--httproutes, also a one-match HTTPRoute edit, a ReferenceGrant edit and a hostname added to an
HTTPRoute (then taken away: a host with header conditions); with --big-hosts, a path added to a big
API host (then taken away). Also, once per size, the
full sync body a new node gets in the compiled format: its time and the longest the event loop
was held while it was written. Each stage in wall time, then in CPU time (this process, all
threads), which other load on the machine disturbs less. Then, per kind, the path its bundle
compiles took: patched, endpoints in place, or assembled from every host (counts).

Options:
  --sizes N,N,...  Ingresses of each run (default 1000,10000).
  --httproutes N   Also a Gateway with N HTTPRoutes, 3 matches each, one with a header
                   condition (default 0).
  --big-hosts N    N of the Ingresses are big API hosts of 90 paths (default 0).
  --changes N      Changes of each kind per size (default 10).
  --json           Print the figures as JSON.
  -h, --help       Show this help.`;

const values = benchArgs(NAME, USAGE, { sizes: { type: 'string', default: '1000,10000' }, httproutes: { type: 'string', default: '0' }, 'big-hosts': { type: 'string', default: '0' }, changes: { type: 'string', default: '10' }, json: { type: 'boolean', default: false } });
const CHANGES = integerArg(NAME, 'changes', values.changes, 1, 1000);
const HTTP_ROUTES = integerArg(NAME, 'httproutes', values.httproutes, 0, 200_000);
const BIG_HOSTS = integerArg(NAME, 'big-hosts', values['big-hosts'], 0, 10_000);
let SIZES: number[];
try {
  SIZES = parseSizes(values.sizes);
} catch (error) {
  usageFailure(NAME, (error as Error).message);
}
const STAGES = ['parse', 'upsert', 'build', 'compile', 'publish', 'delta', 'bundle'] as const;
type Timings = Record<(typeof STAGES)[number], number[]>;
/** This process's CPU time so far (ms, all threads: the main thread, GC helpers, gzip in the thread pool). */
const cpuMs = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

/** Each kind's name in the text report, padded to one width, in the order printed. */
const KIND_NAMES: Record<keyof KindMedians, string> = { edit: 'one-path edit  ', endpoints: 'endpoint change', scale: 'scale up/down  ', hosts: 'host add/remove', ingressClass: 'class change   ', twoFiles: 'two-file edit  ', httpRoute: 'HTTPRoute edit ', referenceGrant: 'grant edit     ', routeHosts: 'route host +/- ', bigPaths: 'big-host path  ' };

const median = (list: readonly number[]): number => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)] ?? NaN;

const parsed = (object: unknown): KubeObject => parseManifestText(JSON.stringify(object), 'edited.json').objects[0]!;

/** Stage medians (ms) of each kind of change. */
interface KindMedians {
  edit: Record<string, number>;
  endpoints: Record<string, number>;
  scale: Record<string, number>;
  hosts: Record<string, number>;
  ingressClass: Record<string, number>;
  twoFiles: Record<string, number>;
  httpRoute?: Record<string, number>;
  referenceGrant?: Record<string, number>;
  routeHosts?: Record<string, number>;
  bigPaths?: Record<string, number>;
}

/** One kind of change: its stages' wall and CPU times, and how much its bundle compiles grew each compile counter (counterSamples keys). */
interface KindRecord {
  readonly wall: Timings;
  readonly cpu: Timings;
  readonly grown: Map<string, number>;
}

/** Wall-time medians of each kind of change, and (`cpu`) CPU-time medians. */
async function measure(ingresses: number): Promise<{ ingresses: number; httpRoutes: number; firstBuildMs: number; fullBody: { ms: number; longestStallMs: number; gzipBytes: number }; cpu: KindMedians; paths: Record<keyof KindMedians, CompilePaths> } & KindMedians> {
  if (BIG_HOSTS > ingresses) usageFailure(NAME, `--big-hosts ${BIG_HOSTS} is more than the ${ingresses} Ingresses of a run`);
  const shape = { ...fleetShape(ingresses), bigHosts: BIG_HOSTS };
  const state = new ClusterState();
  // bench:fleet's manifest directory, read by the watcher portico runs (its parse in-process and timed: `parse`).
  const root = mkdtempSync(join(tmpdir(), 'portico-fleet-stages-'));
  const manifests = join(root, 'manifests');
  let parseMs = 0;
  const previousParses = new ManifestParseCache();
  let parseCpuMs = 0;
  try {
    mkdirSync(manifests);
    for (let f = 0; f < shape.files; f++) writeFileSync(join(manifests, fleetFileName(f)), fleetFile(shape, f));
  } catch (error) {
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  const source = new ManifestSource(state, {
    path: manifests,
    onChange: () => undefined,
    onProblems: (problems) => {
      if (problems.length > 0) throw new Error(`fleet manifests: ${problems[0]!.message}`);
    },
    // What the parser thread runs (in-process here): each file's parse follows its edits.
    parse: async (bytes, file, limits, known) => {
      const started = performance.now();
      const cpuStarted = cpuMs();
      const result = previousParses.parse(bytes, file, limits, new Set(known));
      parseMs += performance.now() - started;
      parseCpuMs += cpuMs() - cpuStarted;
      return result;
    },
  });
  await source.reload();
  if (HTTP_ROUTES > 0) for (const object of parseManifestText(gatewayFleetFile(HTTP_ROUTES), 'gateway-fleet.json').objects) state.upsert(object);
  const history = new SnapshotHistory({});
  const publisher = new SnapshotPublisher({ state, selection: { ...DEFAULT_CLASS_SELECTION, watchWithoutClass: true }, history });
  const feed = new SyncFeed(history);
  // What a data plane (or the control plane for `bundle` sync bodies) compiles per version: only the changed hosts, then assembly.
  const bundles = new BundleCompiler();
  // Its counters as a data plane's admin /metrics has them (what bench:fleet scrapes).
  const compileCounters = (): Map<string, number> => counterSamples(renderPrometheus(new SnapshotCompiler(bundles).families()));
  let start = performance.now();
  publisher.rebuild();
  bundles.compile(history.current()!.snapshot);
  const firstBuildMs = performance.now() - start;
  // The full body a new (or far behind) node gets in the compiled format, once per version: its
  // wall time and the longest the event loop went without a turn while it was written.
  let longestStallMs = 0;
  let turn = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longestStallMs = Math.max(longestStallMs, now - turn);
    turn = now;
  }, 1);
  start = performance.now();
  const full = await feed.body(undefined, history.current()!, true, 'bundle');
  const fullBody = { ms: Math.round(performance.now() - start), longestStallMs: Math.round(longestStallMs), gzipBytes: full.gzip.length };
  clearInterval(ticker);

  // Each stage's wall time and CPU time into `kind`, and the path of its bundle compile.
  const change = async (apply: () => unknown, kind: KindRecord): Promise<void> => {
    const into = kind.wall;
    const cpu = kind.cpu;
    const countersBefore = compileCounters();
    const from = history.current()!.version;
    parseMs = 0;
    parseCpuMs = 0;
    const cpuAt: number[] = [cpuMs()];
    start = performance.now();
    await apply();
    const upserted = performance.now();
    cpuAt.push(cpuMs());
    const built = publisher.build.build();
    const builtAt = performance.now();
    cpuAt.push(cpuMs());
    const snapshot = compileSnapshot(built.model, history.current()!.snapshot);
    const compiled = performance.now();
    cpuAt.push(cpuMs());
    history.publish(snapshot, built.conditions);
    const published = performance.now();
    cpuAt.push(cpuMs());
    // No new version (nothing served changed): the sync API sends nothing, its long-polls keep waiting (api/sync.ts).
    // Asking the feed for a body from the current version would time a full body no node is sent.
    const changed = history.current()!.version !== from;
    if (changed) await feed.body(from, history.current()!);
    const encoded = performance.now();
    cpuAt.push(cpuMs());
    if (changed) bundles.compile(history.current()!.snapshot, history.current()!.counts?.onlyEndpoints === true);
    const bundled = performance.now();
    cpuAt.push(cpuMs());
    into.parse.push(parseMs);
    into.upsert.push(upserted - start - parseMs);
    into.build.push(builtAt - upserted);
    into.compile.push(compiled - builtAt);
    into.publish.push(published - compiled);
    into.delta.push(encoded - published);
    into.bundle.push(bundled - encoded);
    cpu.parse.push(parseCpuMs);
    cpu.upsert.push(cpuAt[1]! - cpuAt[0]! - parseCpuMs);
    for (const [k, stage] of (['build', 'compile', 'publish', 'delta', 'bundle'] as const).entries()) cpu[stage].push(cpuAt[k + 2]! - cpuAt[k + 1]!);
    for (const [key, value] of compileCounters()) kind.grown.set(key, (kind.grown.get(key) ?? 0) + value - (countersBefore.get(key) ?? 0));
  };
  const empty = (): Timings => ({ parse: [], upsert: [], build: [], compile: [], publish: [], delta: [], bundle: [] });
  const record = (): KindRecord => ({ wall: empty(), cpu: empty(), grown: new Map() });
  const kinds: Record<keyof KindMedians, KindRecord> = { edit: record(), endpoints: record(), scale: record(), hosts: record(), ingressClass: record(), twoFiles: record(), httpRoute: record(), referenceGrant: record(), routeHosts: record(), bigPaths: record() };
  const slices = [...state.endpointSlices.values()];
  const sliceKeys = [...state.endpointSlices.keys()];
  const ingressKeys = [...state.ingresses.keys()];
  for (let i = 1; i <= CHANGES; i++) {
    // One path of one Ingress, as bench:fleet edits it: its file written beside and renamed over, then the watcher's scan.
    const ingress = (i * 7919) % ingresses;
    const file = join(manifests, fleetFileName(fleetFileOf(shape, ingress)));
    writeFileSync(join(root, 'edit.tmp'), fleetFile(shape, fleetFileOf(shape, ingress), { ingress, edit: i }));
    renameSync(join(root, 'edit.tmp'), file);
    await change(() => source.reload(), kinds.edit);
    // One endpoint of one Service moves.
    const slice = slices[(i * 104729) % slices.length]! as EndpointSlice;
    await change(() => state.upsert({ ...slice, endpoints: [...(slice.endpoints ?? []).slice(1), { addresses: [`10.255.${i}.1`], conditions: { ready: true } }] }), kinds.endpoints);
    // An IngressClass no Ingress names changes controller: nothing served changes, but a version is still published.
    await change(() => state.upsert(parsed({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'unused' }, spec: { controller: `example.com/c${i}` } })), kinds.ingressClass);
    // Two Ingresses half the fleet apart, in two files saved before one scan (a kubectl apply of two objects): their hosts change far apart.
    let far = (ingress + Math.floor(ingresses / 2)) % ingresses;
    if (fleetFileOf(shape, far) === fleetFileOf(shape, ingress)) far = (far + 1) % ingresses;
    for (const [k, which] of [ingress, far].entries()) {
      writeFileSync(join(root, 'edit.tmp'), fleetFile(shape, fleetFileOf(shape, which), { ingress: which, edit: 1000 * (k + 1) + i }));
      renameSync(join(root, 'edit.tmp'), join(manifests, fleetFileName(fleetFileOf(shape, which))));
    }
    await change(() => source.reload(), kinds.twoFiles);
    if (HTTP_ROUTES > 0) {
      // One match of one HTTPRoute; then a ReferenceGrant (of the team namespace of another route) gets another `to` entry.
      const route = (i * 7919) % HTTP_ROUTES;
      await change(() => state.upsert(parsed(fleetHttpRoute(route, i))), kinds.httpRoute);
      await change(() => state.upsert(parsed(fleetReferenceGrant(Math.floor(((i * 104729) % HTTP_ROUTES) / 200), i))), kinds.referenceGrant);
    }
  }
  // Scales and hosts added or taken away, each kind in a run of its own after the others: between two
  // endpoint changes above, nothing changes the endpoint numbering or the number of hosts (the
  // balancing-only bundle an endpoint change compiles follows the one before), and each change here
  // follows one of its own kind, as in bench:fleet's --kind scale and --kind hosts.
  // A change to one object (`pick`, as it is now) made on odd changes, undone on the even one after.
  const madeAndUndone = async <T extends KubeObject>(pick: (i: number) => T, made: (object: T, i: number) => T, kind: KindRecord): Promise<void> => {
    for (let i = 1; i <= CHANGES; i += 2) {
      const object = pick(i);
      await change(() => state.upsert(made(object, i)), kind);
      if (i < CHANGES) await change(() => state.upsert(object), kind);
    }
  };
  // A Service scaled: an endpoint added to one EndpointSlice, taken away again the next time.
  await madeAndUndone((i) => state.endpointSlices.get(sliceKeys[(i * 15_485_863 + 7) % sliceKeys.length]!)!, (slice, i) => ({ ...slice, endpoints: [...(slice.endpoints ?? []), { addresses: [`10.254.${i % 250}.1`], conditions: { ready: true } }] }), kinds.scale);
  // A host added to one Ingress (a second rule, the same paths), taken away again the next time.
  await madeAndUndone(
    (i) => state.ingresses.get(ingressKeys[(i * 7_919 + 11) % ingressKeys.length]!)!,
    (ingress, i) => {
      const rules = ingress.spec?.rules ?? [];
      return { ...ingress, spec: { ...ingress.spec, rules: [...rules, { ...rules[0], host: `x${i}.${rules[0]?.host ?? 'fleet.test'}` }] } };
    },
    kinds.hosts,
  );
  if (HTTP_ROUTES > 0) {
    // An HTTPRoute (its matches with a header condition) gets a second hostname, losing it again the next time.
    const routeKeys = [...state.httpRoutes.keys()];
    await madeAndUndone(
      (i) => state.httpRoutes.get(routeKeys[(i * 7_919 + 13) % routeKeys.length]!)!,
      (route, i) => ({ ...route, spec: { ...route.spec, hostnames: [...(route.spec?.hostnames ?? []), `x${i}.${route.spec?.hostnames?.[0] ?? 'fleet.test'}`] } }),
      kinds.routeHosts,
    );
  }
  if (BIG_HOSTS > 0) {
    // A path added to a big API host's Ingress, taken away again the next time.
    const bigKeys = ingressKeys.filter((key) => isBigHost(shape, Number(/app-(\d+)$/.exec(key)?.[1] ?? -1)));
    await madeAndUndone(
      (i) => state.ingresses.get(bigKeys[(i * 7_919) % bigKeys.length]!)!,
      (ingress, i) => {
        const [rule, ...rest] = ingress.spec?.rules ?? [];
        const paths = rule?.http?.paths ?? [];
        return { ...ingress, spec: { ...ingress.spec, rules: [{ ...rule, http: { paths: [...paths, { ...paths[0]!, path: `/v2/added-${i}` }] } }, ...rest] } };
      },
      kinds.bigPaths,
    );
  }
  // Its directory watches would keep the process alive.
  source.stop();
  const summary = (timings: Timings): Record<string, number> => Object.fromEntries(STAGES.map((stage) => [stage, Math.round(median(timings[stage]) * 100) / 100]));
  const measured = (Object.keys(kinds) as (keyof KindMedians)[]).filter((kind) => (HTTP_ROUTES > 0 || (kind !== 'httpRoute' && kind !== 'referenceGrant' && kind !== 'routeHosts')) && (BIG_HOSTS > 0 || kind !== 'bigPaths'));
  const each = <T>(of: (kind: KindRecord) => T) => Object.fromEntries(measured.map((kind) => [kind, of(kinds[kind])])) as Record<keyof KindMedians, T>;
  return { ingresses, httpRoutes: HTTP_ROUTES, firstBuildMs: Math.round(firstBuildMs), fullBody, ...each((kind) => summary(kind.wall)), cpu: each((kind) => summary(kind.cpu)), paths: each((kind) => compilePathsBetween(new Map(), kind.grown)) };
}

const results = [];
for (const size of SIZES) {
  const result = await measure(size);
  results.push(result);
  if (!values.json) {
    const shown = (Object.keys(KIND_NAMES) as (keyof KindMedians)[]).filter((kind) => result[kind] !== undefined);
    const lines = (of: (kind: keyof KindMedians) => string) => shown.map((kind) => `  ${KIND_NAMES[kind]}: ${of(kind)}\n`).join('');
    const stages = (t: Record<string, number>) => STAGES.map((stage) => `${stage} ${t[stage]} ms`).join(', ');
    process.stdout.write(`${size} Ingresses${HTTP_ROUTES > 0 ? ` + ${HTTP_ROUTES} HTTPRoutes` : ''} (first build ${result.firstBuildMs} ms; full compiled-format sync body ${result.fullBody.ms} ms, ${Math.round(result.fullBody.gzipBytes / 1024)} KiB gzipped, event loop held at most ${result.fullBody.longestStallMs} ms), medians of ${CHANGES}:\n${lines((kind) => stages(result[kind]!))}`);
    process.stdout.write(`  the same in CPU time (this process, all threads; less disturbed by other load than the wall times above):\n${lines((kind) => stages(result.cpu[kind]!))}`);
    process.stdout.write(`  the path each kind's ${CHANGES} bundle compiles took (one per change: balancing-only for an endpoint-only change):\n${lines((kind) => compilePathsText(result.paths[kind]))}`);
  }
}
if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
