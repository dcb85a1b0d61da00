/**
 * A stand-in pod network for tests that run shipped workloads as processes: every "pod" is a
 * network namespace with its own address on one bridge (inside a namespace of its own), so pods
 * reach each other and bind the ports their manifests say (8080, 9080, 80, …) without touching
 * the host's; the host reaches them through one veth. Names resolve through
 * /etc/netns/<pod>/hosts, which `ip netns exec` mounts over /etc/hosts (a cluster DNS stand-in).
 * Needs root and iproute2. No forwarding or routes on the host are changed.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ip = (...args: string[]) => run('ip', args);

/** One pod: its namespace and address. */
export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  /** Starts `node args…` (or any command) inside the pod with exactly `env` added to PATH/HOME. */
  spawn(command: string, args: readonly string[], env: Record<string, string>): ChildProcess;
}

/** The network: pods on 10.214.N.0/24, the host at `.1`. */
export interface PodNetwork {
  /** The host's address on the pod network. */
  readonly hostAddress: string;
  addPod(name: string): Promise<Pod>;
  /** Writes the hosts file every pod sees from now on (`name -> address`). */
  setHosts(entries: Readonly<Record<string, string>>): Promise<void>;
  /** A TCP relay on `hostAddress` to `target` (e.g. the API server on loopback); resolves with its port. */
  relay(targetHost: string, targetPort: number): Promise<number>;
  destroy(): Promise<void>;
}

let counter = 0;

/** Creates a pod network; throws when namespaces cannot be created (not root, no `ip`). */
export async function createPodNetwork(): Promise<PodNetwork> {
  const id = ((process.pid % 200) + counter++ * 11) % 250 + 1;
  const tag = `${process.pid % 100000}${String.fromCharCode(97 + (counter % 26))}`;
  const bridgeNs = `ppn-${tag}`;
  const subnet = `10.214.${id}`;
  const namespaces: string[] = [bridgeNs];
  const links: string[] = [];
  const children: ChildProcess[] = [];
  const relays: Server[] = [];
  let hosts = '127.0.0.1 localhost\n';
  let next = 2;
  const destroy = async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const relay of relays) relay.close();
    for (const namespace of namespaces) {
      await ip('netns', 'del', namespace).catch(() => undefined);
      await rm(`/etc/netns/${namespace}`, { recursive: true, force: true });
    }
    for (const link of links) await ip('link', 'del', link).catch(() => undefined);
  };
  const veth = async (namespace: string, inside: string, address: string | undefined, n: number) => {
    const outer = `pp${tag}o${n}`.slice(0, 15);
    const inner = `pp${tag}i${n}`.slice(0, 15);
    await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
    links.push(outer);
    await ip('link', 'set', outer, 'netns', bridgeNs);
    await ip('netns', 'exec', bridgeNs, 'ip', 'link', 'set', outer, 'master', 'br0');
    await ip('netns', 'exec', bridgeNs, 'ip', 'link', 'set', outer, 'up');
    if (namespace === '') {
      await ip('addr', 'add', `${address}/24`, 'dev', inner);
      await ip('link', 'set', inner, 'up');
      links.push(inner);
      return;
    }
    await ip('link', 'set', inner, 'netns', namespace);
    await ip('netns', 'exec', namespace, 'ip', 'link', 'set', inner, 'name', inside);
    await ip('netns', 'exec', namespace, 'ip', 'addr', 'add', `${address}/24`, 'dev', inside);
    await ip('netns', 'exec', namespace, 'ip', 'link', 'set', inside, 'up');
    await ip('netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up');
  };
  try {
    await ip('netns', 'add', bridgeNs);
    await ip('netns', 'exec', bridgeNs, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
    await ip('netns', 'exec', bridgeNs, 'ip', 'link', 'set', 'br0', 'up');
    const hostAddress = `${subnet}.1`;
    await veth('', '', hostAddress, 1);
    const network: PodNetwork = {
      hostAddress,
      async addPod(name) {
        const n = next++;
        const namespace = `ppn-${tag}-${n}`;
        await ip('netns', 'add', namespace);
        namespaces.push(namespace);
        await mkdir(`/etc/netns/${namespace}`, { recursive: true });
        await writeFile(`/etc/netns/${namespace}/hosts`, hosts);
        const address = `${subnet}.${n}`;
        await veth(namespace, 'eth0', address, n);
        return {
          name,
          namespace,
          address,
          spawn(command, args, env) {
            // A container's environment is its image's plus the pod spec's, nothing of the test runner's.
            const child = spawn('ip', ['netns', 'exec', namespace, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...env } });
            children.push(child);
            return child;
          },
        };
      },
      async setHosts(entries) {
        hosts = `127.0.0.1 localhost\n${Object.entries(entries).map(([name, address]) => `${address} ${name}\n`).join('')}`;
        for (const namespace of namespaces.slice(1)) await writeFile(`/etc/netns/${namespace}/hosts`, hosts);
      },
      async relay(targetHost, targetPort) {
        const server = createServer((socket) => {
          const upstream = connect({ host: targetHost, port: targetPort });
          socket.pipe(upstream).pipe(socket);
          socket.on('error', () => upstream.destroy());
          upstream.on('error', () => socket.destroy());
        });
        relays.push(server);
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, hostAddress, () => resolve());
        });
        return (server.address() as { port: number }).port;
      },
      destroy,
    };
    return network;
  } catch (error) {
    await destroy();
    throw error;
  }
}
