/**
 * Runs the unmodified upstream Gateway API conformance suite (`go test -c
 * sigs.k8s.io/gateway-api/conformance`, built by test/cluster/build.sh) against Portico on the
 * test cluster, as an implementation's CI does:
 *
 * 1. a 1-node test cluster (its harness installs the Gateway API CRDs of the same module version,
 *    and runs the suite's echo-basic, TLS and coredns pods: test/cluster/README.md);
 * 2. GatewayClass `portico` (controllerName portico.dev/gateway-controller);
 * 3. `portico control` watching the cluster with `--publish-address NODE_IP`, and `portico
 *    dataplane --h2c` on NODE_IP ports 80 and 443 (the Node's address on the pod bridge, like a
 *    hostNetwork data plane on an edge node), both with `--gateway-address` for 63 more bridge
 *    addresses (each Gateway is served on its own one, apart from the others), so the Gateway's
 *    status address is reachable from this host and listener ports are the data plane's ports;
 * 4. the suite's test binary with the profile, claimed features and report path; it applies its
 *    own manifests, waits for pods, Gateways and routes, and sends real HTTP to the status address.
 *
 * Traffic goes only to 127.0.0.1 (API server, control API) and the cluster's 10.217.N.0/24
 * (the data plane on the Node's bridge address, pods).
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { ensureBinary, harnessBinary, startCluster } from '../cluster/cluster.ts';
import type { TestCluster } from '../cluster/cluster.ts';
import { kubectl } from '../support/kubectl.ts';
import { startPorticoInCluster } from '../support/portico-cluster.ts';
import type { PorticoInCluster } from '../support/portico-cluster.ts';
import { CLAIMED_EXTENDED_FEATURES, CONTROLLER_NAME, CORE_EXCEPTIONS, GATEWAY_CLASS, IMPLEMENTATION, PROFILE } from './claims.ts';

/** The suite's test binary next to the harness (test/cluster/build.sh). */
export const conformanceBinary = join(dirname(harnessBinary), 'gateway-conformance.test');

/**
 * Data-plane options beyond the addresses and ports: `--h2c` accepts HTTP/2 with prior knowledge
 * on the plain port, as the suite's HTTPRouteBackendProtocolH2C test sends it.
 */
const DATAPLANE_ARGS = ['--h2c'];

/**
 * Gives the 1-node cluster's pod bridge (ptcbrN, which carries the Node's 10.217.N.1) 63 addresses
 * no Node or pod takes (test/cluster/podnet.go: Nodes take .1-.8, of which one Node uses .1; pods
 * .10-.199): 10.217.N.2-9 and .200-.254, as `--gateway-address` values, so each Gateway the suite
 * creates (it keeps up to ~10 at once) gets one and is served there alone. They go with the bridge
 * when the cluster stops.
 */
async function addGatewayAddresses(nodeIP: string): Promise<string[]> {
  const [, , subnet] = nodeIP.split('.');
  const hosts = [...Array.from({ length: 8 }, (_, i) => i + 2), ...Array.from({ length: 55 }, (_, i) => i + 200)];
  const addresses = hosts.map((host) => `10.217.${subnet}.${host}`);
  for (const address of addresses) await run('ip', ['addr', 'add', `${address}/32`, 'dev', `ptcbr${subnet}`]);
  return addresses;
}

/** Runs a command to completion; rejects with its stderr when it fails. */
function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')}: exit ${code}: ${stderr.trim()}`))));
  });
}

/** Core features the profile implies; passed explicitly so the report's source is "Manual". */
const CORE_FEATURES = ['Gateway', 'HTTPRoute', 'ReferenceGrant'];

/**
 * The suite's own timeouts, shortened where its defaults (3-5 min) would make a failing run take
 * hours; a shorter wait can only make a test harder to pass, never easier.
 */
const TIMEOUT_OVERRIDES = 'GWCMustBeAccepted:60;GatewayMustHaveAddress:60;GatewayMustHaveCondition:60;NamespacesMustBeReady:180';

/** Options of `runGatewayConformance`. */
export interface ConformanceRunOptions {
  /** Where the ConformanceReport YAML goes. */
  readonly reportFile: string;
  /** Run one test by short name instead of the whole profile. */
  readonly runTest?: string;
  /**
   * Extended features to try beyond the claimed ones (a trial run: the report then claims them
   * too, so keep such a report to yourself until claims.ts says the same).
   */
  readonly extraFeatures?: readonly string[];
  /** Bound of the whole suite (go test -test.timeout), default 40 min. */
  readonly timeoutMs?: number;
  /** Progress lines (cluster, Portico, each test's result). */
  readonly log?: (line: string) => void;
  /** Leave the cluster and Portico running, print how to reach them, stop them on SIGINT/SIGTERM (debugging). */
  readonly keep?: boolean;
}

/** Per-test result from the suite's `-test.v` output. */
export type TestResult = 'PASS' | 'FAIL' | 'SKIP';

/** The parts of the official report this runner reads. */
export interface ConformanceReport {
  readonly kind: string;
  readonly implementation: { readonly project: string; readonly version: string };
  readonly gatewayAPIVersion: string;
  readonly gatewayAPIChannel: string;
  readonly mode: string;
  readonly profiles?: readonly {
    readonly name: string;
    readonly summary: string;
    readonly core: { readonly result: string; readonly statistics: { readonly Passed: number; readonly Failed: number; readonly Skipped: number }; readonly failedTests?: readonly string[]; readonly skippedTests?: readonly string[] };
    readonly extended?: { readonly result: string; readonly statistics: { readonly Passed: number; readonly Failed: number; readonly Skipped: number }; readonly failedTests?: readonly string[]; readonly supportedFeatures?: readonly string[]; readonly unsupportedFeatures?: readonly string[] };
  }[];
}

/** What a run produced. */
export interface ConformanceOutcome {
  /** The parsed report, when the suite wrote one. */
  readonly report: ConformanceReport | undefined;
  /** Each test the suite ran or skipped, by short name. */
  readonly tests: ReadonlyMap<string, TestResult>;
  /** The test binary's exit code (null when killed). */
  readonly exitCode: number | null;
  readonly durationMs: number;
  /** The suite's whole output. */
  readonly outputFile: string;
  /** The suite's first error lines when it failed before running tests (setup). */
  readonly setupError: string | undefined;
}

const testLine = /^\s*--- (PASS|FAIL|SKIP): TestConformance\/([A-Za-z0-9]+) \(/;

/** Runs the suite as the module comment describes and resolves with what it produced. */
export async function runGatewayConformance(options: ConformanceRunOptions): Promise<ConformanceOutcome> {
  const log = options.log ?? (() => {});
  await ensureBinary();
  if (!existsSync(conformanceBinary)) throw new Error(`${conformanceBinary} is missing: run test/cluster/build.sh`);
  const work = await mkdtemp(join(tmpdir(), 'portico-conformance-'));
  let cluster: TestCluster | undefined;
  let portico: PorticoInCluster | undefined;
  try {
    const started = Date.now();
    cluster = await startCluster({ nodes: 1 });
    const kc = (args: readonly string[], stdin?: string) => kubectl(cluster!.kubeconfig, args, stdin);
    const nodeIP = (await kc(['get', 'node', 'portico-node-1', '-o', 'jsonpath={.status.addresses[?(@.type=="InternalIP")].address}'])).trim();
    if (!/^10\.217\.\d+\.\d+$/.test(nodeIP)) throw new Error(`the test cluster's Node has no pod-bridge address (got ${JSON.stringify(nodeIP)}): pod networking needs root and iproute2`);
    log(`test cluster ${cluster.server} ready in ${Date.now() - started} ms; Node address ${nodeIP}`);
    await kc(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name: GATEWAY_CLASS }, spec: { controllerName: CONTROLLER_NAME } }));
    const gatewayAddresses = await addGatewayAddresses(nodeIP);
    const gatewayArgs = gatewayAddresses.flatMap((address) => ['--gateway-address', address]);
    portico = await startPorticoInCluster(cluster.kubeconfig, work, { address: nodeIP, httpPort: 80, httpsPort: 443, publishAddresses: [nodeIP], dataplaneArgs: [...DATAPLANE_ARGS, ...gatewayArgs], controlArgs: gatewayArgs });
    log(`portico control + dataplane running; data plane on ${nodeIP}:80 and :443, ${gatewayAddresses.length} Gateway addresses ${gatewayAddresses[0]}…${gatewayAddresses.at(-1)} (logs in ${work})`);
    const outcome = await runSuite(cluster.kubeconfig, work, options, log);
    if (options.keep) {
      log(`kept running until Ctrl-C: KUBECONFIG=${cluster.kubeconfig}; portico logs in ${work}`);
      const kept = { portico, cluster };
      const stopKept = (): void => {
        void kept.portico.stop().then(() => kept.cluster.destroy()).finally(() => process.exit(130));
      };
      process.once('SIGINT', stopKept);
      process.once('SIGTERM', stopKept);
    }
    else if (outcome.setupError !== undefined || outcome.exitCode !== 0) log(await portico.logs(40));
    return outcome;
  } finally {
    if (!options.keep) {
      await portico?.stop();
      await cluster?.destroy();
      await rm(work, { recursive: true, force: true });
    }
  }
}

async function runSuite(kubeconfig: string, work: string, options: ConformanceRunOptions, log: (line: string) => void): Promise<ConformanceOutcome> {
  const timeoutMs = options.timeoutMs ?? 40 * 60_000;
  const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  const args = [
    '-test.run', '^TestConformance$', '-test.v', `-test.timeout=${Math.ceil(timeoutMs / 1000)}s`,
    `--gateway-class=${GATEWAY_CLASS}`, `--conformance-profiles=${PROFILE}`,
    `--supported-features=${[...new Set([...CORE_FEATURES, ...CLAIMED_EXTENDED_FEATURES, ...(options.extraFeatures ?? [])])].join(',')}`,
    `--organization=${IMPLEMENTATION.organization}`, `--project=${IMPLEMENTATION.project}`, `--url=${IMPLEMENTATION.url}`,
    `--version=v${version}`, `--contact=${IMPLEMENTATION.contact.join(',')}`, `--report-output=${options.reportFile}`,
    `--timeout-config-overrides=${TIMEOUT_OVERRIDES}`,
    ...(options.runTest ? [`--run-test=${options.runTest}`] : []),
  ];
  await rm(options.reportFile, { force: true }); // never read a previous run's report
  const outputFile = join(options.keep ? work : tmpdir(), `gateway-conformance-${process.pid}.log`);
  const output = createWriteStream(outputFile);
  const started = Date.now();
  const tests = new Map<string, TestResult>();
  const errors: string[] = [];
  const child = spawn(conformanceBinary, args, { cwd: work, env: { ...process.env, KUBECONFIG: kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
  // Past the suite's own bound (it then panics and exits), a last resort.
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs + 60_000);
  let pending = '';
  const onData = (chunk: Buffer): void => {
    output.write(chunk);
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const m = testLine.exec(line);
      if (m) {
        tests.set(m[2]!, m[1] as TestResult);
        log(`${m[1]} ${m[2]}`);
      } else if (tests.size === 0 && errors.length < 20 && /Error:|Error Trace:|error waiting|FAIL/.test(line)) {
        errors.push(line.trim());
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exitCode = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  }).finally(() => clearTimeout(killer));
  await new Promise<void>((resolve) => output.end(resolve));
  const report = existsSync(options.reportFile) ? (parse(readFileSync(options.reportFile, 'utf8')) as ConformanceReport) : undefined;
  return { report, tests, exitCode, durationMs: Date.now() - started, outputFile, setupError: tests.size === 0 && exitCode !== 0 ? errors.join('\n') : undefined };
}

/**
 * What does not hold of the claims (test/conformance/claims.ts) in `outcome`: a Core test that
 * failed without being an exception, a listed exception that passed, a claimed Extended test that
 * failed, a run without a report. Empty when the claims are true.
 */
export function claimProblems(outcome: ConformanceOutcome, exceptions: Readonly<Record<string, string>> = CORE_EXCEPTIONS): string[] {
  const problems: string[] = [];
  if (outcome.setupError !== undefined) problems.push(`the suite failed before running a test: ${outcome.setupError.split('\n').find((l) => l.startsWith('Messages:'))?.replace(/^Messages:\s*/, '') ?? 'see its output'}`);
  const profile = outcome.report?.profiles?.find((p) => p.name === PROFILE);
  if (outcome.report === undefined) problems.push('no conformance report was written');
  else if (profile === undefined) problems.push(`the report has no ${PROFILE} profile`);
  for (const name of profile?.core.failedTests ?? []) {
    if (!(name in exceptions)) problems.push(`Core test ${name} failed (not a listed exception)`);
  }
  for (const name of profile?.extended?.failedTests ?? []) problems.push(`Extended test ${name} of a claimed feature failed`);
  for (const name of Object.keys(exceptions)) {
    if (outcome.tests.get(name) === 'PASS') problems.push(`Core test ${name} passes: take it off CORE_EXCEPTIONS`);
  }
  return problems;
}

/** A few lines for people: the report's numbers, failed tests, claimed and unclaimed features. */
export function summarize(outcome: ConformanceOutcome, reportFile: string): string {
  const lines: string[] = [];
  const r = outcome.report;
  const counts = { PASS: 0, FAIL: 0, SKIP: 0 };
  for (const result of outcome.tests.values()) counts[result]++;
  lines.push(`Gateway API conformance ${r?.gatewayAPIVersion ?? '?'} (${r?.gatewayAPIChannel ?? '?'} channel), ${PROFILE}, in ${Math.round(outcome.durationMs / 1000)} s: ${counts.PASS} passed, ${counts.FAIL} failed, ${counts.SKIP} skipped`);
  const profile = r?.profiles?.find((p) => p.name === PROFILE);
  if (profile) {
    const s = profile.core.statistics;
    lines.push(`Core: ${profile.core.result} (${s.Passed} passed, ${s.Failed} failed, ${s.Skipped} skipped)`);
    if (profile.extended) {
      const e = profile.extended.statistics;
      lines.push(`Extended: ${profile.extended.result} (${e.Passed} passed, ${e.Failed} failed, ${e.Skipped} skipped); claimed: ${(profile.extended.supportedFeatures ?? []).join(', ') || 'none'}`);
      lines.push(`Not claimed: ${(profile.extended.unsupportedFeatures ?? []).join(', ') || 'none'}`);
    }
    if (profile.core.failedTests?.length) lines.push(`Core failed: ${profile.core.failedTests.join(', ')}`);
    if (profile.extended?.failedTests?.length) lines.push(`Extended failed: ${profile.extended.failedTests.join(', ')}`);
  }
  if (outcome.setupError !== undefined) lines.push(`The suite stopped before running a test:\n${outcome.setupError}`);
  lines.push(r ? `Report: ${reportFile}` : 'No report was written.');
  lines.push(`Suite output: ${outcome.outputFile}`);
  return lines.join('\n');
}
