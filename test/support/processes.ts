/**
 * Running Portico and test backends as real processes, the way users and CI run them.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';

/** The `portico` bin (Node 24 runs the TypeScript directly). */
export const PORTICO = new URL('../../dataplane/src/cli/main.ts', import.meta.url).pathname;
/** The identifying test backend. */
export const BACKEND = new URL('./backend.ts', import.meta.url).pathname;

/** A free TCP port on 127.0.0.1 (closed again; used at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** A child process whose output is collected, with a graceful stop. */
export interface Child {
  readonly process: ChildProcess;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves once the output contains `text`, or rejects after `timeoutMs` (with the output). */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then resolves with the exit code (SIGKILL after `timeoutMs`). */
  stop(timeoutMs?: number): Promise<number | null>;
}

/** Spawns `node script args…` with collected output. */
export function start(script: string, args: readonly string[], env: Record<string, string> = {}): Child {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let output = '';
  const listeners = new Set<() => void>();
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    for (const listener of listeners) listener();
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = once(child, 'exit');
  return {
    process: child,
    output: () => output,
    waitFor(text, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (output.includes(text)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${JSON.stringify(text)}; output:\n${output.slice(-3000)}`));
        }, timeoutMs);
        child.once('exit', (code) => {
          if (!output.includes(text)) {
            clearTimeout(timer);
            reject(new Error(`process exited (${code}) before ${JSON.stringify(text)}; output:\n${output.slice(-3000)}`));
          }
        });
        listeners.add(check);
        check();
      });
    },
    async stop(timeoutMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const [code] = (await exited) as [number | null];
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * One GET to `address`:`port` (127.0.0.1 unless given) with a Host header (fetch cannot set one)
 * and any further `headers`: status and body. Rejects on a connection error or after `timeoutMs`.
 */
export function getWithHost(port: number, host: string, path: string, address = '127.0.0.1', timeoutMs = 10_000, headers: Readonly<Record<string, string>> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path, headers: { ...headers, Host: host }, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.end();
  });
}

/** Starts the identifying test backend on 127.0.0.1:`port` and waits until it listens (stopping it again if it never does). */
export async function startBackend(port: number): Promise<Child> {
  const backend = start(BACKEND, [String(port), '127.0.0.1']);
  try {
    await backend.waitFor('listening');
  } catch (error) {
    await backend.stop();
    throw error;
  }
  return backend;
}

/** Stops `children`, the last started first, then removes the directory `dir` if given (a suite's teardown). */
export async function stopAll(children: Child[], dir?: string): Promise<void> {
  for (const child of children.reverse()) await child.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

/** Ports of a started `portico standalone` (https undefined when off). */
export interface StandalonePorts {
  readonly http: number;
  readonly https: number | undefined;
  readonly admin: number;
  readonly api: number;
}

/** Starts `portico standalone` on `manifests` with free ports (and any further `args`) and waits until it says it is ready. */
export async function startStandalone(manifests: string, dataDir: string, options: { readonly token: string; readonly workers?: number; readonly https?: boolean; readonly args?: readonly string[]; readonly ports?: StandalonePorts }): Promise<{ child: Child; ports: StandalonePorts }> {
  const ports: StandalonePorts = options.ports ?? { http: await freePort(), https: options.https === false ? undefined : await freePort(), admin: await freePort(), api: await freePort() };
  const args = ['standalone', '--manifests', manifests, '--data-dir', dataDir, '--workers', String(options.workers ?? 1), '--http-port', String(ports.http), '--https-port', ports.https === undefined ? 'off' : String(ports.https), '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log', ...(options.args ?? [])];
  const child = start(PORTICO, args, { PORTICO_API_TOKEN: options.token });
  await child.waitFor('standalone ready', 60_000);
  return { child, ports };
}
