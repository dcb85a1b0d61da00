/**
 * Portico in cluster mode against a test cluster, as in production: `portico control` with the
 * admin kubeconfig and `portico dataplane` with a ServiceAccount token, two processes talking over
 * the control API, every port on 127.0.0.1. Used by the suites that run real pods.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { eventually, kubectl } from './kubectl.ts';
import { freePort, PORTICO } from './processes.ts';

const ingressClassFile = new URL('../../deploy/base/ingressclass.yaml', import.meta.url).pathname;

/** Where the data plane listens and what status says; every field optional. */
export interface PorticoInClusterOptions {
  /** Bind address of the traffic ports (default 127.0.0.1). */
  readonly address?: string;
  /** Plain HTTP port (default: a free port). */
  readonly httpPort?: number;
  /** HTTPS port (default: off). */
  readonly httpsPort?: number;
  /** `--publish-address` of the control plane: the addresses status reports. */
  readonly publishAddresses?: readonly string[];
  /** More `portico dataplane` options (e.g. `--h2c`). */
  readonly dataplaneArgs?: readonly string[];
  /** More `portico control` options (e.g. `--gateway-address`). */
  readonly controlArgs?: readonly string[];
}

/** A running control + data plane pair. */
export interface PorticoInCluster {
  /** The data plane's HTTP port (on 127.0.0.1 unless `options.address` said otherwise). */
  readonly httpPort: number;
  readonly adminPort: number;
  readonly controlPort: number;
  /** The last lines of both logs, for failure messages. */
  logs(lines?: number): Promise<string>;
  /** SIGTERM both (SIGKILL after 10 s each), data plane first. */
  stop(): Promise<void>;
}

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  readonly exited: Promise<void>;
}

function startProc(name: string, args: readonly string[], logFile: string): Proc {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [PORTICO, ...args], { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  const kill = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  }).finally(() => process.removeListener('exit', kill));
  return { name, child, logFile, exited };
}

async function stopProc(proc: Proc | undefined): Promise<void> {
  if (proc === undefined || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), 10_000);
  await proc.exited;
  clearTimeout(timer);
}

/**
 * Sets up what Portico needs in the cluster (namespace portico-system, the IngressClass, the data
 * plane's ServiceAccount and a token for it), then starts `portico control` and `portico dataplane`
 * with their logs in `work`, and resolves once both answer /readyz.
 */
export async function startPorticoInCluster(kubeconfig: string, work: string, options: PorticoInClusterOptions = {}): Promise<PorticoInCluster> {
  const kc = (args: readonly string[]) => kubectl(kubeconfig, args);
  await kc(['create', 'namespace', 'portico-system']);
  await kc(['apply', '-f', ingressClassFile]);
  await kc(['-n', 'portico-system', 'create', 'serviceaccount', 'portico-dataplane']);
  const tokenFile = join(work, 'dataplane-token');
  await writeFile(tokenFile, (await kc(['-n', 'portico-system', 'create', 'token', 'portico-dataplane', '--duration=1h'])).trim(), { mode: 0o600 });
  const [controlPort, freeHttpPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const httpPort = options.httpPort ?? freeHttpPort;
  const publish = (options.publishAddresses ?? []).flatMap((a) => ['--publish-address', a]);
  const procs: Proc[] = [];
  const logs = async (lines = 30) => {
    const parts = await Promise.all(procs.map(async (p) => `--- ${p.name} (${p.logFile}):\n${(await readFile(p.logFile, 'utf8').catch(() => '')).split('\n').slice(-lines).join('\n')}`));
    return parts.join('\n');
  };
  const stop = async () => {
    for (const p of [...procs].reverse()) await stopProc(p);
  };
  try {
    procs.push(startProc('control', ['control', '--kubeconfig', kubeconfig, '--listen', `127.0.0.1:${controlPort}`, '--control-namespace', 'portico-system', '--debounce-ms', '20', ...publish, ...(options.controlArgs ?? []), '--log-level', 'warn'], join(work, 'control.log')));
    await eventually(async () => ((await fetch(`http://127.0.0.1:${controlPort}/readyz`)).ok ? true : undefined), 60_000, 'control /readyz');
    procs.push(startProc('dataplane', ['dataplane', '--control', `http://127.0.0.1:${controlPort}`, '--token-file', tokenFile, '--address', options.address ?? '127.0.0.1', '--http-port', String(httpPort), '--https-port', options.httpsPort === undefined ? 'off' : String(options.httpsPort),
      '--admin-port', String(adminPort), '--admin-address', '127.0.0.1', '--data-dir', join(work, 'dataplane'), '--workers', '1', '--no-access-log', '--node', 'edge-1', ...(options.dataplaneArgs ?? []), '--log-level', 'warn'], join(work, 'dataplane.log')));
    await eventually(async () => ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok ? true : undefined), 60_000, 'data plane /readyz');
  } catch (error) {
    const tail = await logs();
    await stop();
    throw new Error(`${String(error)}\n${tail}`, { cause: error });
  }
  return { httpPort, adminPort, controlPort, logs, stop };
}
