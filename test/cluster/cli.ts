/**
 * `node test/cluster/cli.ts up|down|status [--port N]` — a long-lived test cluster for a
 * developer shell or a CI run. `up` starts the harness in the background and prints
 * `KUBECONFIG=<path>`; `down` stops it and removes its state. State lives in
 * test/cluster/.state/ (override with PORTICO_CLUSTER_STATE).
 */
import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster, TestClusterError } from './cluster.ts';

const stateDir = process.env['PORTICO_CLUSTER_STATE'] ?? join(import.meta.dirname, '.state');
const pidFile = join(stateDir, 'pid');
const infoFile = join(stateDir, 'cluster.json');

interface ClusterInfo {
  readonly pid: number;
  readonly kubeconfig: string;
  readonly server: string;
  readonly dataDir: string;
  readonly logFile: string;
}

const usage = 'usage: node test/cluster/cli.ts up [--port N] [--timeout-ms N] | down | status';

async function main(argv: readonly string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: { port: { type: 'string' }, 'timeout-ms': { type: 'string' } },
  });
  switch (positionals[0]) {
    case 'up':
      return up(Number(values.port ?? 0), values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']));
    case 'down':
      return down();
    case 'status':
      return status();
    default:
      console.error(usage);
      return 2;
  }
}

/** Starts the harness detached; when one from this state dir is already running, reuses it. */
async function up(port: number, timeoutMs: number | undefined): Promise<number> {
  const running = await runningCluster();
  if (running) {
    console.log(`KUBECONFIG=${running.kubeconfig}`);
    return 0;
  }
  const cluster = await startCluster({ dataDir: join(stateDir, 'data'), port, timeoutMs, detached: true });
  const info: ClusterInfo = {
    pid: cluster.pid,
    kubeconfig: cluster.kubeconfig,
    server: cluster.server,
    dataDir: cluster.dataDir,
    logFile: cluster.logFile,
  };
  await writeFile(infoFile, JSON.stringify(info, null, 2) + '\n');
  await writeFile(pidFile, `${cluster.pid}\n`);
  console.log(`KUBECONFIG=${cluster.kubeconfig}`);
  return 0;
}

/** Stops the harness (SIGTERM, SIGKILL after 60 s) and removes the state dir. */
async function down(): Promise<number> {
  const running = await runningCluster();
  if (running) {
    process.kill(running.pid, 'SIGTERM');
    const deadline = Date.now() + 60_000;
    while (isHarness(running.pid) && Date.now() < deadline) await sleep(100);
    if (isHarness(running.pid)) {
      console.error(`harness pid ${running.pid} ignored SIGTERM for 60 s; killing it`);
      process.kill(running.pid, 'SIGKILL');
      while (isHarness(running.pid)) await sleep(100);
    }
  }
  await rm(stateDir, { recursive: true, force: true });
  console.log(running ? `stopped pid ${running.pid}` : 'no cluster was running');
  return 0;
}

async function status(): Promise<number> {
  const running = await runningCluster();
  if (!running) {
    console.log('down');
    return 1;
  }
  console.log(`up pid=${running.pid} server=${running.server}\nKUBECONFIG=${running.kubeconfig}`);
  return 0;
}

/** The cluster recorded in the state dir, or undefined when none is running there. */
async function runningCluster(): Promise<ClusterInfo | undefined> {
  const info = await readFile(infoFile, 'utf8').then(
    (text) => JSON.parse(text) as ClusterInfo,
    () => undefined,
  );
  return info && isHarness(info.pid) ? info : undefined;
}

/** True when pid is alive and is a harness process (not a recycled pid). */
function isHarness(pid: number): boolean {
  try {
    // A zombie has an empty cmdline; a dead pid throws.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('portico-testcluster');
  } catch {
    return false;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof TestClusterError) console.error(`${error.code}: ${error.message}`);
    else console.error(error);
    process.exit(1);
  },
);
