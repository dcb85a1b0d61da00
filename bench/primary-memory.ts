/**
 * The `portico dataplane` primary's memory as it ships: a `portico standalone` (control plane)
 * on loopback with N Ingresses (bench:fleet's manifests; 0 = empty), and `portico dataplane`
 * with the DaemonSet's args (plain http control on loopback), read from /proc/<pid>/smaps_rollup
 * once the data plane is ready and has idled. `--modules FILE` also writes every module the
 * primary resolved. Usage: node bench/primary-memory.ts [--ingresses N] [--idle-s S] [--modules FILE]
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchArgs, integerArg } from './args.ts';
import { fleetFile, fleetFileName, fleetShape } from '../test/support/fleet.ts';
import { childPids } from '../test/support/metrics.ts';
import { freePort, PORTICO } from '../test/support/processes.ts';

const NAME = 'node bench/primary-memory.ts';
const USAGE = `Usage: ${NAME} [--ingresses N] [--idle-s S] [--modules FILE]

The portico dataplane primary's memory (RSS, PSS, private) with the DaemonSet's args against a
portico standalone on loopback. Loopback only.

Options:
  --ingresses N   Ingresses (bench:fleet's manifests; default 0, an empty config).
  --idle-s S      Seconds the data plane idles before it is measured (default 10).
  --modules FILE  Also write every module the primary resolved to FILE.
  -h, --help      Show this help.`;
const values = benchArgs(NAME, USAGE, { ingresses: { type: 'string', default: '0' }, 'idle-s': { type: 'string', default: '10' }, modules: { type: 'string' } });
const ingresses = integerArg(NAME, 'ingresses', values.ingresses, 0, 200_000);
const idleSeconds = integerArg(NAME, 'idle-s', values['idle-s'], 0, 3600);
const preload = new URL('../test/support/loaded-modules.ts', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'portico-primary-'));
const manifests = join(tmp, 'manifests');
mkdirSync(manifests);
if (ingresses > 0) {
  const shape = fleetShape(ingresses);
  for (let f = 0; f < shape.files; f++) writeFileSync(join(manifests, fleetFileName(f)), fleetFile(shape, f));
}
const token = randomBytes(24).toString('base64url');
const children: ChildProcess[] = [];
const startProcess = (args: string[], env: Record<string, string>): ChildProcess => {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env }, detached: true });
  child.stdout!.resume();
  children.push(child);
  return child;
};
const smaps = (pid: number): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const line of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) / 1024;
  }
  return { rss: out.Rss!, pss: out.Pss!, private: out.Private_Clean! + out.Private_Dirty! };
};
const ready = async (url: string, deadline: number): Promise<void> => {
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url, { signal: AbortSignal.timeout(5000) })).status === 200) return;
    } catch {
      /* not yet */
    }
    await sleep(250);
  }
  throw new Error(`${url} not ready`);
};
try {
  const [apiPort, cHttp, cAdmin, http, https, admin] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort(), freePort()]);
  startProcess([PORTICO, 'standalone', '--manifests', manifests, '--workers', '1', '--no-access-log', '--data-dir', join(tmp, 'control'), '--address', '127.0.0.1', '--http-port', String(cHttp), '--https-port', 'off', '--admin-port', String(cAdmin), '--api-port', String(apiPort)], { PORTICO_API_TOKEN: token });
  await ready(`http://127.0.0.1:${cAdmin}/readyz`, Date.now() + 300_000);
  // The DaemonSet's args (deploy/base/dataplane.yaml), loopback ports and a plain-http control URL.
  const hook = values.modules === undefined ? [] : ['--import', preload];
  const primary = startProcess([...hook, PORTICO, 'dataplane', `--control=http://127.0.0.1:${apiPort}`, `--http-port=${http}`, `--https-port=${https}`, '--address=127.0.0.1', '--admin-address=127.0.0.1', `--admin-port=${admin}`, `--data-dir=${join(tmp, 'dp')}`], { PORTICO_API_TOKEN: token, NODE_NAME: 'edge-1', ...(values.modules === undefined ? {} : { PORTICO_LOADED_MODULES: values.modules }) });
  let collection = '';
  primary.stdout!.on('data', (chunk: Buffer) => {
    const match = /"pauseMs":(\d+)/.exec(chunk.toString());
    if (match) collection = `, full collection after the snapshot ${match[1]} ms`;
  });
  await ready(`http://127.0.0.1:${admin}/readyz`, Date.now() + 300_000);
  await sleep(idleSeconds * 1000);
  const fmt = (m: Record<string, number>) => `RSS ${m.rss!.toFixed(1)} MiB, PSS ${m.pss!.toFixed(1)} MiB, private ${m.private!.toFixed(1)} MiB`;
  console.log(`ingresses ${ingresses}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}${collection}`);
  console.log(`  primary: ${fmt(smaps(primary.pid!))}`);
  for (const pid of childPids(primary.pid!)) console.log(`  worker ${pid}: ${fmt(smaps(pid))}`);
} finally {
  for (const child of children.reverse()) {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  await sleep(1500);
  for (const child of children) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(tmp, { recursive: true, force: true });
}
