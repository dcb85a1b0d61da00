/**
 * Test hosts in network namespaces this process creates: the way e2e suites get backend
 * addresses the API server accepts (it refuses loopback endpoints) without sending traffic
 * anywhere but this machine. Needs root and iproute2 (`ip`).
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { BACKEND } from './processes.ts';

const run = promisify(execFile);

async function ip(...args: string[]): Promise<void> {
  await run('ip', args);
}

/** A network namespace joined to this host by a veth pair, with one or more addresses inside. */
export interface TestHost {
  readonly namespace: string;
  /** Addresses inside the namespace, reachable from this host. */
  readonly addresses: readonly string[];
  /** Starts a process inside the namespace. */
  spawn(command: string, args: readonly string[]): ChildProcess;
  /** Kills the processes started with `spawn` and removes the namespace and the veth pair. */
  destroy(): Promise<void>;
}

let counter = 0;

/**
 * Creates a test host with `count` addresses in 10.213.N.0/24 (N from the pid and a counter, so
 * parallel suites do not collide). Throws when the namespace cannot be created (not root, no `ip`).
 */
export async function createTestHost(count = 1): Promise<TestHost> {
  const id = ((process.pid % 200) + counter++ * 7) % 250 + 1;
  const namespace = `portico-${process.pid}-${counter}`;
  const hostSide = `ptc${process.pid % 100000}h${counter}`.slice(0, 15);
  const nsSide = `ptc${process.pid % 100000}n${counter}`.slice(0, 15);
  const subnet = `10.213.${id}`;
  await ip('netns', 'add', namespace);
  const children: ChildProcess[] = [];
  const destroy = async () => {
    for (const child of children) child.kill('SIGKILL');
    await ip('netns', 'del', namespace).catch(() => undefined);
    await ip('link', 'del', hostSide).catch(() => undefined);
  };
  try {
    await ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', nsSide);
    await ip('link', 'set', nsSide, 'netns', namespace);
    await ip('addr', 'add', `${subnet}.1/24`, 'dev', hostSide);
    await ip('link', 'set', hostSide, 'up');
    const addresses = Array.from({ length: count }, (_, i) => `${subnet}.${i + 2}`);
    for (const address of addresses) await ip('netns', 'exec', namespace, 'ip', 'addr', 'add', `${address}/24`, 'dev', nsSide);
    await ip('netns', 'exec', namespace, 'ip', 'link', 'set', nsSide, 'up');
    await ip('netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up');
    return {
      namespace,
      addresses,
      spawn(command, args) {
        const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
        children.push(child);
        return child;
      },
      destroy,
    };
  } catch (error) {
    await destroy();
    throw error;
  }
}

/**
 * Starts the identifying test backend inside `host` on `port` (every address of the host) and
 * waits until it says it listens: rejects after `timeoutMs` or when it exits first.
 */
export function startBackendIn(host: TestHost, port: number, timeoutMs = 30_000): Promise<ChildProcess> {
  const backend = host.spawn(process.execPath, [BACKEND, String(port)]);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`backend did not print "listening" within ${timeoutMs / 1000} s`)), timeoutMs);
    backend.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) {
        clearTimeout(timer);
        resolve(backend);
      }
    });
    backend.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`backend exited with ${String(code)}`));
    });
  });
}
