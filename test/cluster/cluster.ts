/**
 * Starts and stops the real-cluster harness: one Go process that embeds etcd, runs the stock
 * kube-apiserver on 127.0.0.1, kube-controller-manager's workload controllers, and scheduler and
 * kubelet stand-ins that run pods as local processes (see README.md). Only node: built-ins,
 * erasable TS.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const here = import.meta.dirname;

/** Path of the harness binary that build.sh produces (override with PORTICO_TESTCLUSTER_BIN). */
export const harnessBinary = process.env['PORTICO_TESTCLUSTER_BIN'] ?? join(here, '.bin', 'portico-testcluster');

const buildScript = join(here, 'build.sh');
const readyLine = /^READY kubeconfig=(\S+) server=(\S+)$/m;

/** Stable codes of the errors this module throws. */
export type TestClusterErrorCode =
  | 'PORTICO_E_TESTCLUSTER_BUILD'
  | 'PORTICO_E_TESTCLUSTER_START'
  | 'PORTICO_E_TESTCLUSTER_TIMEOUT'
  | 'PORTICO_E_TESTCLUSTER_STOP';

/** Error with a stable `code`; `message` carries the tail of the harness log where it helps. */
export class TestClusterError extends Error {
  readonly code: TestClusterErrorCode;
  constructor(code: TestClusterErrorCode, message: string) {
    super(message);
    this.name = 'TestClusterError';
    this.code = code;
  }
}

/** A running kube-apiserver (+ embedded etcd) on 127.0.0.1. */
export interface TestCluster {
  /** Path of a kubeconfig (CA-verified TLS, admin bearer token) for kubectl and client-node. */
  readonly kubeconfig: string;
  /** `https://127.0.0.1:PORT`. */
  readonly server: string;
  /** Bearer token of `portico-admin`, a member of `system:masters`. */
  readonly token: string;
  /** Directory with etcd data, PKI, kubeconfig and `harness.log`; kept by `stop()`. */
  readonly dataDir: string;
  /** The secure port; pass it with `dataDir` to `startCluster` to come back on the same address. */
  readonly port: number;
  /** Process id of the harness, for fault tests (e.g. SIGKILL, then `startCluster` again). */
  readonly pid: number;
  /** Harness stderr: kube-apiserver and etcd logs, appended across restarts. */
  readonly logFile: string;
  /**
   * Stops the harness with SIGTERM and waits for it (SIGKILL after 60 s). Keeps `dataDir`,
   * so `startCluster({ dataDir, port })` brings the same objects back. Resolves at once if
   * the process is already gone. Throws PORTICO_E_TESTCLUSTER_STOP if it exited non-zero.
   */
  stop(): Promise<void>;
  /** `stop()`, then removes `dataDir`. */
  destroy(): Promise<void>;
}

/** Options of `startCluster`; every field is optional. */
export interface StartClusterOptions {
  /** Data directory; a new temp dir when absent. An existing one is restarted with its objects. */
  dataDir?: string;
  /** Secure port on 127.0.0.1; 0 or absent picks a free one. */
  port?: number;
  /** How long to wait for READY (default 180 s; first start of a data dir is the slowest). */
  timeoutMs?: number;
  /** Extra kube-apiserver flags, appended last so they override the harness defaults. */
  apiserverArgs?: readonly string[];
  /**
   * Run the workload controllers, fake Nodes and the scheduler and kubelet stand-ins (default
   * true: pods run). false leaves only the apiserver and the namespace controller, for suites
   * whose EndpointSlices are all hand-written and must not see the endpointslice controller's.
   */
  workloads?: boolean;
  /** Fake Nodes to register (1-8, default 1). */
  nodes?: number;
  /**
   * Leave the harness running after this process exits (the CLI's `up`). Default false:
   * the harness stops when this process exits or dies.
   */
  detached?: boolean;
}

/**
 * Starts the harness binary (building it first via build.sh if missing) in a fresh temp
 * data dir, or in `options.dataDir`; resolves when it printed READY (/readyz is ok).
 * Throws TestClusterError: PORTICO_E_TESTCLUSTER_BUILD, _START (exited early), _TIMEOUT.
 */
export async function startCluster(options: StartClusterOptions = {}): Promise<TestCluster> {
  const binary = await ensureBinary();
  if (options.dataDir !== undefined) {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    return launch(binary, options.dataDir, options);
  }
  // A temp dir of our own is removed again when the start fails.
  const dataDir = await mkdtemp(join(tmpdir(), 'portico-cluster-'));
  try {
    return await launch(binary, dataDir, options);
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(binary: string, dataDir: string, options: StartClusterOptions): Promise<TestCluster> {
  const outFile = join(dataDir, 'harness.out');
  const logFile = join(dataDir, 'harness.log');
  const detached = options.detached ?? false;

  const args = ['--data-dir', dataDir, '--port', String(options.port ?? 0)];
  if (!detached) args.push('--watch-parent');
  if (options.workloads === false) args.push('--workloads=false');
  if (options.nodes !== undefined) args.push('--nodes', String(options.nodes));
  if (options.apiserverArgs?.length) args.push('--', ...options.apiserverArgs);

  // Files, not pipes, for stdout/stderr: the harness must outlive a detached parent, and
  // a Go program writing to a closed pipe on fd 1/2 dies of SIGPIPE.
  const out = await open(outFile, 'w');
  const log = await open(logFile, 'a');
  let child: ChildProcess;
  try {
    await log.write(`\n=== ${new Date().toISOString()} portico-testcluster ${args.join(' ')}\n`);
    child = spawn(binary, args, { stdio: ['ignore', out.fd, log.fd], detached });
  } finally {
    await out.close();
    await log.close();
  }
  const exited = exitOf(child);
  if (child.pid === undefined) {
    const result = await exited;
    throw new TestClusterError('PORTICO_E_TESTCLUSTER_START', `cannot run ${binary}: ${result.error?.message ?? 'no pid'}`);
  }
  const pid = child.pid;
  // Only an attached harness is tied to us; a crash of ours is also caught by --watch-parent.
  const killOnExit = (): void => {
    child.kill('SIGTERM');
  };
  if (detached) child.unref();
  else process.once('exit', killOnExit);

  const ready = await waitForReady(outFile, exited, options.timeoutMs ?? 180_000);
  if (ready === 'timeout' || ready === 'exited') {
    if (ready === 'timeout') await terminate(child, exited);
    process.removeListener('exit', killOnExit);
    const tail = await logTail(logFile);
    if (ready === 'timeout') {
      throw new TestClusterError('PORTICO_E_TESTCLUSTER_TIMEOUT', `not READY within ${options.timeoutMs ?? 180_000} ms; ${logFile}:\n${tail}`);
    }
    const result = await exited;
    throw new TestClusterError('PORTICO_E_TESTCLUSTER_START', `harness exited (${describeExit(result)}) before READY; ${logFile}:\n${tail}`);
  }

  const token = (await readFile(join(dataDir, 'token'), 'utf8')).trim();
  const port = Number(new URL(ready.server).port);
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const result = await terminate(child, exited);
      if (result.code !== 0) {
        throw new TestClusterError('PORTICO_E_TESTCLUSTER_STOP', `harness pid ${pid} exited ${describeExit(result)} on SIGTERM; see ${logFile}`);
      }
    })();
    return stopping;
  };
  return {
    kubeconfig: ready.kubeconfig,
    server: ready.server,
    token,
    dataDir,
    port,
    pid,
    logFile,
    stop,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Stops `cluster` and starts it again on the same data dir and port; returns the new
 * handle (same kubeconfig path, server and token; objects kept by etcd survive).
 */
export async function restartCluster(cluster: TestCluster, options: Omit<StartClusterOptions, 'dataDir' | 'port'> = {}): Promise<TestCluster> {
  await cluster.stop();
  return startCluster({ ...options, dataDir: cluster.dataDir, port: cluster.port });
}

/**
 * What build.sh puts next to the harness: the image binaries the kubelet stand-in runs, the
 * Gateway API CRDs the harness installs at start, and the conformance suite's test binary.
 */
const imageBinaries = [...['echo-basic', 'portico-backend', 'coredns'].map((name) => join(dirname(harnessBinary), 'images', name)), join(dirname(harnessBinary), 'gateway-api-crds', '.stamp'), join(dirname(harnessBinary), 'gateway-conformance.test')];

/**
 * Returns the harness binary path, running build.sh first when it or an image binary is
 * missing. Throws PORTICO_E_TESTCLUSTER_BUILD when the build fails.
 */
export async function ensureBinary(): Promise<string> {
  if (existsSync(harnessBinary) && imageBinaries.every((path) => existsSync(path))) return harnessBinary;
  await new Promise<void>((resolve, reject) => {
    // Generous: a cold build of kube-apiserver takes 10+ minutes on 2 cores.
    execFile('bash', [buildScript], { timeout: 40 * 60_000, maxBuffer: 16 << 20 }, (error, _stdout, stderr) => {
      if (error) reject(new TestClusterError('PORTICO_E_TESTCLUSTER_BUILD', `build.sh failed: ${error.message}\n${stderr.slice(-4000)}`));
      else resolve();
    });
  });
  if (!existsSync(harnessBinary)) throw new TestClusterError('PORTICO_E_TESTCLUSTER_BUILD', `build.sh did not produce ${harnessBinary}`);
  return harnessBinary;
}

interface ExitResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly error?: Error;
}

function exitOf(child: ChildProcess): Promise<ExitResult> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
  });
}

/** SIGTERM, then SIGKILL if the harness is still there after 60 s. */
async function terminate(child: ChildProcess, exited: Promise<ExitResult>): Promise<ExitResult> {
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

type Ready = { readonly kubeconfig: string; readonly server: string };

async function waitForReady(outFile: string, exited: Promise<ExitResult>, timeoutMs: number): Promise<Ready | 'exited' | 'timeout'> {
  let hasExited = false;
  void exited.then(() => {
    hasExited = true;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = readyLine.exec(await readFile(outFile, 'utf8').catch(() => ''));
    if (match?.[1] && match[2]) return { kubeconfig: match[1], server: match[2] };
    if (hasExited) return 'exited';
    if (Date.now() > deadline) return 'timeout';
    await sleep(100);
  }
}

function describeExit(result: ExitResult): string {
  if (result.error) return result.error.message;
  return result.signal ? `signal ${result.signal}` : `code ${String(result.code)}`;
}

async function logTail(path: string, lines = 40): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}
