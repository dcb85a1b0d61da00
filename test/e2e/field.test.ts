import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { Server } from 'node:net';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import { childPids, parseMetrics, rssBytes } from '../support/metrics.ts';
import { workerEntry } from '@portico/dataplane/worker-bundle';
import type { Child } from '../support/processes.ts';
import { BACKEND, PORTICO, freePort, getWithHost, start } from '../support/processes.ts';

const TOKEN = 'field-token-0123456789abcdef0123456789';
const dashboard = await readFile(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');

/** The walkthrough with its EndpointSlice pointed at a loopback backend. */
function walkthrough(backendPort: number): string {
  return dashboard.replace(/port: 18443/, `port: ${backendPort}`);
}

describe('portico standalone --workers 2: metrics that mean what they say', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: { http: number; https: number; admin: number; api: number };
  let portico: Child;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-field-'));
    const backendPort = await freePort();
    const backend = start(BACKEND, [String(backendPort), '127.0.0.1']);
    children.push(backend);
    await backend.waitFor('listening');
    await writeFile(join(dir, 'dashboard.yaml'), walkthrough(backendPort));
    ports = { http: await freePort(), https: await freePort(), admin: await freePort(), api: await freePort() };
    portico = start(PORTICO, ['standalone', '--manifests', dir, '--data-dir', join(dir, 'data'), '--workers', '2', '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log'], { PORTICO_API_TOKEN: TOKEN });
    children.push(portico);
    await portico.waitFor('standalone ready', 60_000);
  }, 90_000);

  afterAll(async () => {
    for (const child of children.reverse()) await child.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sums counters and histograms over workers and checks every gauge against its help text', async () => {
    for (let i = 0; i < 12; i++) expect((await getWithHost(ports.http, 'k8s-ceph-dashboard.calmkart.com', `/m${i}`)).status).toBe(200);
    const ready = await (await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).text();
    const version = /^ready (\S+)/.exec(ready)?.[1];
    expect(version).toMatch(/^sha256:/);
    const families = parseMetrics(await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text());

    // Counters and histograms: one total, whichever worker served.
    const requests = families.get('portico_requests_total')!;
    expect(requests.samples.every((s) => s.labels.worker === undefined)).toBe(true);
    expect(requests.samples.reduce((sum, s) => sum + s.value, 0)).toBe(12);
    const upstream = families.get('portico_upstream_duration_seconds')!;
    expect(upstream.samples.find((s) => s.name === 'portico_upstream_duration_seconds_count')?.value).toBe(12);
    // A per-worker counter: one snapshot, swapped in once by each worker.
    const swaps = families.get('portico_snapshot_swaps_total')!;
    expect(swaps.samples.map((s) => [s.labels.worker, s.value]).sort()).toEqual([['1', 1], ['2', 1]]);

    const gauges = [...families.values()].filter((f) => f.type === 'gauge');
    expect(gauges.map((g) => g.name).sort()).toEqual(['portico_active_connections', 'portico_endpoint_healthy', 'portico_matcher_instances', 'portico_snapshot_info', 'portico_snapshot_swap_stall_seconds', 'portico_worker_reclaim_pause_seconds', 'portico_worker_scavenge_pause_seconds']);
    for (const gauge of gauges) {
      let checked = false;
      const where = `${gauge.name} (help: ${gauge.help})`;
      if (gauge.help.includes('one series per worker')) {
        checked = true;
        const keys = gauge.samples.map((s) => JSON.stringify(Object.entries(s.labels).sort()));
        expect(new Set(keys).size, where).toBe(keys.length);
        expect(new Set(gauge.samples.map((s) => s.labels.worker)), where).toEqual(new Set(['1', '2']));
      }
      if (gauge.help.includes('summed over workers')) {
        checked = true;
        expect(gauge.samples.every((s) => s.labels.worker === undefined), where).toBe(true);
        expect(gauge.samples.every((s) => Number.isInteger(s.value) && s.value >= 0), where).toBe(true);
      }
      if (gauge.help.includes('value 1')) {
        checked = true;
        expect(gauge.samples.map((s) => s.value), where).toEqual(gauge.samples.map(() => 1));
      }
      if (gauge.help.includes('1, or 0')) {
        checked = true;
        expect(gauge.samples.every((s) => s.value === 0 || s.value === 1), where).toBe(true);
      }
      expect(checked, `${where} says nothing this test can check`).toBe(true);
    }
    // Each worker swapped once: its last and its longest stall are that one swap's.
    const stall = families.get('portico_snapshot_swap_stall_seconds')!;
    for (const worker of ['1', '2']) {
      const [last, max] = ['last', 'max'].map((swap) => stall.samples.find((s) => s.labels.worker === worker && s.labels.swap === swap)!.value);
      expect(last).toBeGreaterThan(0);
      expect(max).toBe(last);
    }
    const info = families.get('portico_snapshot_info')!;
    expect(info.samples.map((s) => s.labels.version)).toEqual([version, version]);
    expect(families.get('portico_endpoint_healthy')!.samples.map((s) => s.value)).toEqual([1, 1]);
  });

  it('workers run the bundled entry when `npm run build` made a fresh one (no TypeScript stripping in a worker)', async () => {
    const workers = childPids(portico.process.pid!);
    expect(workers).toHaveLength(2);
    for (const pid of workers) {
      const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
      expect(argv[1]).toBe(workerEntry());
      console.log(`worker ${pid}: ${argv[1]!.slice(argv[1]!.indexOf('dataplane/'))}, ${Math.round((await rssBytes(pid)) / 2 ** 20)} MiB RSS serving the walkthrough`);
    }
  });
});

describe('a data-plane worker loads only what it runs', () => {
  it('serving the walkthrough, a bundled worker has loaded no zod, pino or metrics library, and not undici or readline (built-ins taken without their ESM namespace)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-worker-modules-'));
    const backendPort = await freePort();
    const backend = start(BACKEND, [String(backendPort), '127.0.0.1']);
    let portico: Child | undefined;
    try {
      await backend.waitFor('listening');
      await writeFile(join(dir, 'dashboard.yaml'), walkthrough(backendPort));
      const log = join(dir, 'modules');
      const ports = { http: await freePort(), admin: await freePort(), api: await freePort() };
      // The preload records every module each process resolves and, at exit, the built-ins it loaded; workers inherit NODE_OPTIONS.
      const preload = new URL('../support/loaded-modules.ts', import.meta.url).pathname;
      portico = start(PORTICO, ['standalone', '--manifests', dir, '--data-dir', join(dir, 'data'), '--workers', '2', '--http-port', String(ports.http), '--https-port', 'off', '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log'], {
        PORTICO_API_TOKEN: TOKEN, PORTICO_LOADED_MODULES: log, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${preload}`.trim(),
      });
      await portico.waitFor('standalone ready', 60_000);
      for (let i = 0; i < 4; i++) expect((await getWithHost(ports.http, 'k8s-ceph-dashboard.calmkart.com', `/w${i}`)).status).toBe(200);
      const primary = portico.process.pid!;
      await portico.stop();
      const byPid = new Map<number, string[]>();
      for (const line of (await readFile(log, 'utf8')).trim().split('\n')) {
        const [pid, loaded] = line.split(' ');
        if (Number(pid) !== primary) byPid.set(Number(pid), [...(byPid.get(Number(pid)) ?? []), loaded!]);
      }
      // Besides the two workers: the short-lived process that made the default certificate (tls.ts), which loads selfsigned and no Portico module.
      for (const [pid, loaded] of byPid) {
        if (loaded.some((url) => url.endsWith('/dataplane/build/worker.js'))) continue;
        expect(loaded.some((url) => url.includes('/node_modules/selfsigned/')), `process ${pid} made the certificate`).toBe(true);
        expect(loaded.filter((url) => url.startsWith('file://') && !url.includes('/node_modules/')), `process ${pid}`).toEqual([]);
        byPid.delete(pid);
      }
      expect(byPid.size).toBe(2);
      for (const [pid, loaded] of byPid) {
        expect(loaded.some((url) => url.endsWith('/dataplane/build/worker.js')), `worker ${pid} runs the bundle`).toBe(true);
        expect(loaded.filter((url) => /node_modules\/(zod|pino|prom-client|selfsigned|hono|yaml)\//.test(url)), `worker ${pid}`).toEqual([]);
        expect(loaded.filter((url) => url.startsWith('builtin:')).length, `worker ${pid} wrote its built-ins at exit`).toBeGreaterThan(50);
        expect(loaded.filter((url) => ['builtin:internal/deps/undici/undici', 'builtin:readline', 'builtin:internal/readline/interface'].includes(url)), `worker ${pid}`).toEqual([]);
      }
    } finally {
      await portico?.stop();
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

/** Runs `portico args…` to its exit (killed after `timeoutMs`): exit code and everything it wrote. */
async function runToExit(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | null; output: string }> {
  const child = start(PORTICO, args, env);
  const timer = setTimeout(() => child.process.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.process.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(timer);
  return { code, output: child.output() };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** The one-line failure a person should see (a usage error adds its "Run … --help" line): the message, the code, no stack trace. */
function expectOneLine(output: string, code: string, ...phrases: string[]): void {
  const lines = output.trim().split('\n').filter((line) => line.startsWith('portico '));
  expect(lines, output).toHaveLength(1);
  expect(output.trim().split('\n').at(-1)).toMatch(new RegExp(`\\[${code}\\]$`));
  for (const phrase of phrases) expect(lines[0]).toContain(phrase);
  expect(output).not.toMatch(/^\s+at /m);
}

describe('portico standalone and dataplane: no traffic before a table, friendly failures', () => {
  const children: Child[] = [];
  let dir: string;
  let backendPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-field-'));
    backendPort = await freePort();
    const backend = start(BACKEND, [String(backendPort), '127.0.0.1']);
    children.push(backend);
    await backend.waitFor('listening');
    await mkdir(join(dir, 'manifests'));
    await writeFile(join(dir, 'manifests', 'dashboard.yaml'), walkthrough(backendPort));
  }, 30_000);

  afterAll(async () => {
    for (const child of children.reverse()) await child.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const standaloneArgs = async (dataDir: string, workers = '1') => {
    const ports = { http: await freePort(), https: await freePort(), admin: await freePort(), api: await freePort() };
    const args = ['standalone', '--manifests', join(dir, 'manifests'), '--data-dir', join(dir, dataDir), '--workers', workers, '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log'];
    return { ports, args };
  };

  it('standalone: no request ever meets an empty table, from the first accepted connection on', async () => {
    const { ports, args } = await standaloneArgs('first-request', '2');
    const portico = start(PORTICO, args, { PORTICO_API_TOKEN: TOKEN });
    children.push(portico);
    const statuses: number[] = [];
    // Poll from process start: every connection the port accepts must find the walkthrough served.
    for (let attempt = 0; attempt < 600 && statuses.length < 5; attempt++) {
      try {
        statuses.push((await getWithHost(ports.http, 'k8s-ceph-dashboard.calmkart.com', '/early')).status);
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    await portico.stop();
  }, 60_000);

  it('dataplane: traffic ports stay closed and /readyz says why until a snapshot; the last good one on disk opens them', async () => {
    const control = `http://127.0.0.1:${await freePort()}`;
    const ports = { http: await freePort(), admin: await freePort() };
    const dataDir = join(dir, 'dp');
    const args = ['dataplane', '--allow-loopback-endpoints', '--control', control, '--data-dir', dataDir, '--workers', '1', '--http-port', String(ports.http), '--https-port', 'off', '--admin-port', String(ports.admin), '--no-access-log'];
    const dataplane = start(PORTICO, args);
    children.push(dataplane);
    await dataplane.waitFor('traffic ports open with the first snapshot');
    const readyz = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
    expect(readyz.status).toBe(503);
    expect(await readyz.text()).toMatch(/^not ready: no snapshot loaded yet, so the traffic ports are closed; waiting for a snapshot from the control plane \(http:\/\/127\.0\.0\.1:\d+; (not asked yet|last attempt: .+)\)/);
    expect(await accepts(ports.http)).toBe(false);
    expect(await dataplane.stop()).toBe(0);

    // The last good snapshot on disk (as a previous run left it): served at once, control plane still down.
    const { stdout } = await promisify(execFile)(process.execPath, [PORTICO, 'snapshot', '--manifests', join(dir, 'manifests')]);
    await writeFile(join(dataDir, 'last-good-snapshot.json'), JSON.stringify((JSON.parse(stdout) as { snapshot: unknown }).snapshot));
    const restarted = start(PORTICO, args);
    children.push(restarted);
    await restarted.waitFor('data plane listening');
    expect((await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).status).toBe(200);
    expect((await getWithHost(ports.http, 'k8s-ceph-dashboard.calmkart.com', '/')).status).toBe(200);
    expect(await restarted.stop()).toBe(0);
  }, 60_000);

  it('a second standalone on the same data dir, or on ports in use, refuses in one line and exits 1', async () => {
    const first = await standaloneArgs('shared', '2');
    const portico = start(PORTICO, first.args, { PORTICO_API_TOKEN: TOKEN });
    children.push(portico);
    await portico.waitFor('standalone ready', 60_000);

    const sameDir = await standaloneArgs('shared');
    const locked = await runToExit(sameDir.args, { PORTICO_API_TOKEN: TOKEN });
    expect(locked.code).toBe(1);
    expectOneLine(locked.output, 'PORTICO_E_DATA_DIR_LOCKED', `--data-dir ${join(dir, 'shared')} is in use by another portico (pid ${portico.process.pid})`);

    // Its workers' SO_REUSEPORT must not let a second instance share the traffic port silently.
    const samePort = await standaloneArgs('other', '2');
    samePort.args[samePort.args.indexOf('--http-port') + 1] = String(first.ports.http);
    const taken = await runToExit(samePort.args, { PORTICO_API_TOKEN: TOKEN });
    expect(taken.code).toBe(1);
    expectOneLine(taken.output, 'PORTICO_E_PORT_IN_USE', `port ${first.ports.http} (--http-port) on 0.0.0.0 is in use`, 'another portico');
    expect((await getWithHost(first.ports.http, 'k8s-ceph-dashboard.calmkart.com', '/')).status).toBe(200);

    // Any other process on the API port: the same one line, and nothing of ours left listening.
    const blocker: Server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => blocker.once('listening', resolve));
    const apiTaken = await standaloneArgs('api-taken');
    const blocked = (blocker.address() as { port: number }).port;
    apiTaken.args[apiTaken.args.indexOf('--api-port') + 1] = String(blocked);
    const refused = await runToExit(apiTaken.args, { PORTICO_API_TOKEN: TOKEN });
    blocker.close();
    expect(refused.code).toBe(1);
    expectOneLine(refused.output, 'PORTICO_E_PORT_IN_USE', `port ${blocked} (--api-port) on 127.0.0.1 is in use`);
    for (const port of [apiTaken.ports.http, apiTaken.ports.admin]) expect(await accepts(port)).toBe(false);
    await portico.stop();
  }, 90_000);

  it('a data plane still waiting for its first snapshot holds its traffic ports: a second portico on them is refused', async () => {
    const control = `http://127.0.0.1:${await freePort()}`;
    const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
    const waiting = start(PORTICO, ['dataplane', '--control', control, '--data-dir', join(dir, 'waiting'), '--workers', '2', '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin), '--no-access-log']);
    children.push(waiting);
    await waiting.waitFor('traffic ports open with the first snapshot', 60_000);
    expect(await accepts(ports.http)).toBe(false);

    const second = await standaloneArgs('second-on-claimed-ports', '2');
    second.args[second.args.indexOf('--https-port') + 1] = String(ports.https);
    const refused = await runToExit(second.args, { PORTICO_API_TOKEN: TOKEN });
    expect(refused.code).toBe(1);
    expectOneLine(refused.output, 'PORTICO_E_PORT_IN_USE', `port ${ports.https} (--https-port) on 0.0.0.0 is claimed by another portico`, 'waits for its first snapshot');
    for (const port of [second.ports.http, second.ports.admin]) expect(await accepts(port)).toBe(false);

    // The claim ends with the process: the same ports serve a new standalone at once.
    expect(await waiting.stop()).toBe(0);
    const after = start(PORTICO, second.args, { PORTICO_API_TOKEN: TOKEN });
    children.push(after);
    await after.waitFor('standalone ready', 60_000);
    expect((await getWithHost(second.ports.http, 'k8s-ceph-dashboard.calmkart.com', '/')).status).toBe(200);
    expect(await after.stop()).toBe(0);
  }, 90_000);

  it('invalid options, a short PORTICO_API_TOKEN included, exit before anything listens', async () => {
    const { ports, args } = await standaloneArgs('bad-token');
    const short = await runToExit(args, { PORTICO_API_TOKEN: 'short' });
    expect(short.code).toBe(2);
    expectOneLine(short.output, 'PORTICO_E_USAGE', 'PORTICO_API_TOKEN must be at least 16 characters');
    for (const port of Object.values(ports)) expect(await accepts(port)).toBe(false);
    const workers = await runToExit([...args, '--workers', '0'], { PORTICO_API_TOKEN: TOKEN });
    expect(workers.code).toBe(2);
    expectOneLine(workers.output, 'PORTICO_E_USAGE', '--workers must be an integer from 1 to 256');
  }, 60_000);
});

describe('the CLI against a running standalone, as a user in its directory', () => {
  it('snapshots list prints prefixes diff accepts after a revert; nodes lists the own workers; the token comes from .portico/api-token', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-e2e-'));
    const backendPort = await freePort();
    const backend = start(BACKEND, [String(backendPort), '127.0.0.1']);
    const ports = { http: await freePort(), https: await freePort(), admin: await freePort(), api: await freePort() };
    const file = join(dir, 'manifests', 'dashboard.yaml');
    await mkdir(join(dir, 'manifests'));
    const original = walkthrough(backendPort);
    await writeFile(file, original);
    // The default --data-dir (.portico) of a standalone started in `dir`, token generated there.
    const portico = start(PORTICO, ['standalone', '--manifests', join(dir, 'manifests'), '--data-dir', join(dir, '.portico'), '--workers', '2', '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log'], { PORTICO_API_TOKEN: '' });
    const cli = async (...args: string[]) => {
      const { stdout } = await promisify(execFile)(process.execPath, [PORTICO, ...args], { cwd: dir, env: { ...process.env, PORTICO_API_TOKEN: '', PORTICO_CONTROL_URL: `http://127.0.0.1:${ports.api}` } });
      return stdout;
    };
    try {
      await backend.waitFor('listening');
      await portico.waitFor('standalone ready', 60_000);
      const history = async () => (JSON.parse(await cli('snapshots', 'list', '--json')) as { items: { version: string }[] }).items.map((i) => i.version);
      // Saved as editors save: a new file renamed over the old one.
      const save = async (text: string) => {
        await writeFile(`${file}.tmp`, text);
        await rename(`${file}.tmp`, file);
      };
      await save(original.replace('- host: k8s-ceph-dashboard.calmkart.com', '- host: changed.example.com'));
      await eventually(async () => ((await history()).length === 2 ? true : undefined), 10_000, 'the edit published').catch((error: Error) => {
        throw new Error(`${error.message}\n${portico.output().slice(-3000)}`);
      });
      await save(original);
      const versions = await eventually(async () => {
        const list = await history();
        return list.length === 3 ? list : undefined;
      }, 10_000, 'the revert published');
      expect(versions[0]).toBe(versions[2]);

      const listed = (await cli('snapshots', 'list')).split('\n').slice(1).filter((line) => line.trim() !== '').map((line) => /sha256:[0-9a-f]+/.exec(line)![0]);
      expect(listed).toHaveLength(3);
      expect(listed[0]).toBe(listed[2]);
      const diff = await cli('snapshots', 'diff', listed[1]!, listed[0]!);
      expect(diff).toContain('+ host        k8s-ceph-dashboard.calmkart.com');

      const nodes = await cli('nodes');
      expect(nodes).toMatch(/^current sha256:[0-9a-f]{12}: 2 of 2 nodes \(complete\)/);
      expect(nodes).toMatch(/\/worker-1\s+sha256:[0-9a-f]{12}\s+yes\s+connected/);
      expect(nodes).toMatch(/\/worker-2\s+sha256:[0-9a-f]{12}\s+yes\s+connected/);
    } finally {
      await portico.stop();
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 90_000);
});
