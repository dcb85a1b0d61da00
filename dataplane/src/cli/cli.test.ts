import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CONTROL_COMMANDS } from '@portico/control/cli';
import { LAST_GOOD_FILE, snapshotText } from '../sync.ts';
import { snapshotOf } from '../test-support.ts';

const execFileAsync = promisify(execFile);
const root = new URL('../../../', import.meta.url).pathname;
const bin = new URL('./main.ts', import.meta.url).pathname;
const preload = new URL('../../../test/support/loaded-modules.ts', import.meta.url).pathname;
const COMMANDS = ['control', 'dataplane', 'explain', 'nodes', 'routes', 'snapshot', 'snapshots', 'standalone'];

/** Runs `node argv…` and never throws on a non-zero exit. */
async function run(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, argv, { env: { ...process.env, ...env }, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The image's ENTRYPOINT with /app mapped onto this checkout (the image copies the repository to /app). */
async function imageEntrypoint(): Promise<string[]> {
  const dockerfile = await readFile(join(root, 'deploy/Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  const [program, ...args] = JSON.parse(line!.slice('ENTRYPOINT '.length)) as string[];
  expect(program).toBe('node');
  return args.map((arg) => arg.replace(/^\/app\//, root));
}

describe('the portico entry point', () => {
  it('is the one the image starts, and it has every command', async () => {
    const entry = await imageEntrypoint();
    expect(entry).toEqual([bin]);
    const help = await run([...entry, '--help']);
    expect(help.code).toBe(0);
    for (const name of COMMANDS) {
      expect(help.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
      const usage = await run([...entry, name, '--help']);
      expect({ name, code: usage.code }).toEqual({ name, code: 0 });
      expect(usage.stdout).toContain(`Usage: portico ${name}`);
    }
  });

  it("every command's --help names every option it takes", async () => {
    // `portico explain --help` left out --control-ca and --allow-insecure-http, which it takes.
    const commands = [...CONTROL_COMMANDS.map((entry) => entry.load()), import('./dataplane.ts').then((m) => m.dataplaneCommand), import('./standalone.ts').then((m) => m.standaloneCommand)];
    for (const command of await Promise.all(commands)) {
      const { stdout } = await run([bin, command.name, '--help']);
      const missing = Object.entries(command.options).filter(([name, option]) => !stdout.includes(`--${name}`) && !(option.type === 'boolean' && stdout.includes(`--no-${name}`)));
      expect({ command: command.name, missing: missing.map(([name]) => name) }).toEqual({ command: command.name, missing: [] });
    }
  }, 60_000);

  it('refuses bad hardening flags before anything listens, naming the flag (exit status 2)', async () => {
    const cases: [string[], string][] = [
      [['--tls-ciphers', 'NOT-A-CIPHER'], '--tls-ciphers'],
      [['--tls-min-version', 'TLSv1.1'], '--tls-min-version must be TLSv1.2 or TLSv1.3'],
      [['--escaped-slashes', 'sometimes'], '--escaped-slashes must be one of reject-traversal, reject, decode, keep'],
      [['--health-eject-on', 'slow'], '--health-eject-on must be connect or any'],
      [['--health-panic-threshold', '101'], '--health-panic-threshold must be an integer from 0 to 100'],
      [['--max-connections', '0'], '--max-connections must be an integer from 1 to 1000000'],
      [['--reclaim-after-mb', '65537'], '--reclaim-after-mb must be an integer from 0 to 65536'],
      [['--header-timeout-ms', 'soon'], '--header-timeout-ms must be an integer'],
      // A flag about a port that is not opened was accepted and ignored.
      [['--https-port', 'off', '--no-http2'], '--no-http2 applies to the HTTPS port, which --https-port off does not open'],
    ];
    for (const [args, message] of cases) {
      const result = await run([bin, 'dataplane', '--control', 'http://127.0.0.1:1', '--http-port', '0', '--admin-port', '0', ...args]);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
  }, 60_000);

  it('refuses a stray word instead of ignoring it (exit status 2): `--h2c false` would have started with h2c on', async () => {
    const cases: [string[], string][] = [
      [['standalone', '--manifests', root, '--h2c', 'false'], 'unexpected argument "false": portico standalone takes only options (--h2c is a flag and takes no value)'],
      [['dataplane', '--control', 'http://127.0.0.1:1', '--no-access-log', 'true'], 'unexpected argument "true": portico dataplane takes only options (--no-access-log is a flag and takes no value)'],
      [['check', 'deploy/examples'], 'unexpected argument "deploy/examples": portico check takes only options\n'],
      // parseArgs said "Option '--http2' does not take an argument", a flag the user never typed.
      [['standalone', '--manifests', root, '--no-http2=1'], "Option '--no-http2' does not take an argument"],
      [['standalone', '--manifests', root, '--h2c=false'], "Option '--h2c' does not take an argument"],
      [['explain', '--manifests', root, '--host', 'a', '--path', '/', 'extra'], 'unexpected argument "extra": portico explain takes only options\n'],
    ];
    for (const [args, message] of cases) {
      const result = await run([bin, ...args]);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
    // The commands that take words still do (here: refused later for want of a control API).
    const list = await run([bin, 'snapshots', 'list', '--control', 'http://127.0.0.1:1']);
    expect(list.stderr).toContain('cannot reach the control API');
  }, 60_000);

  it('a command that reads one of two sources names both when given neither, both or an empty one (exit status 2), as its --help does', async () => {
    // `portico explain` with neither said only "--manifests is required", hiding --control.
    const sources = [
      { command: 'explain', rest: ['--host', 'a', '--path', '/'], usage: ['Usage: portico explain (--manifests DIR | --control URL)'], one: ['--manifests', 'DIR'], other: ['--control', 'URL'] },
      { command: 'check', rest: [], usage: ['Usage: portico check --manifests DIR', 'portico check --kubeconfig FILE'], one: ['--manifests', 'DIR'], other: ['--kubeconfig', 'FILE'] },
    ] as const;
    for (const { command, rest, usage, one, other } of sources) {
      const help = await run([bin, command, '--help']);
      for (const line of usage) expect(help.stdout).toContain(line);
      const cases: [string[], string][] = [
        [[], `portico ${command}: no source given: give ${one.join(' ')} or ${other.join(' ')}\n`],
        [[one[0], 'x', other[0], 'y'], `give ${one.join(' ')} or ${other.join(' ')}, not both`],
        [[one[0], ''], `${one[0]} needs a ${one[1]}, got an empty value`],
        [[other[0], ''], `${other[0]} needs a ${other[1]}, got an empty value`],
      ];
      for (const [args, message] of cases) {
        const result = await run([bin, command, ...args, ...rest]);
        expect({ command, args, code: result.code }).toEqual({ command, args, code: 2 });
        expect(result.stderr).toContain(message);
      }
    }
  }, 60_000);

  it('refuses one port for two listeners, naming both flags (exit status 2), instead of blaming another process or crashing', async () => {
    // --admin-port = --http-port crashed with a stack trace once the first snapshot opened the traffic port.
    const cases: [string[], string][] = [
      [['dataplane', '--control', 'http://127.0.0.1:1', '--http-port', '48080', '--admin-port', '48080'], '--admin-port 48080 is also --http-port: each listener needs its own port'],
      [['dataplane', '--control', 'http://127.0.0.1:1', '--http-port', '48080', '--https-port', '48080'], '--https-port 48080 is also --http-port'],
      [['standalone', '--manifests', root, '--api-port', '48080', '--http-port', '48080'], '--api-port 48080 is also --http-port'],
      [['standalone', '--manifests', root, '--api-port', '9901'], '--api-port 9901 is also --admin-port'],
    ];
    for (const [args, message] of cases) {
      const result = await run([bin, ...args]);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
  }, 60_000);

  it('prints its version', async () => {
    const { version } = JSON.parse(await readFile(join(root, 'dataplane/package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-v']) expect(await run([bin, flag])).toMatchObject({ code: 0, stdout: `portico ${version}\n` });
  });

  it('writes all of a large output into a pipe before it exits (a snapshot of 400 Ingresses, piped, parses whole)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-pipe-'));
    try {
      const ingress = (i: number) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: `pipe-${i}`, namespace: 'default' }, spec: { ingressClassName: 'portico', rules: [{ host: `pipe-${i}.example.test`, http: { paths: [{ path: `/p${i}`, pathType: 'Prefix', backend: { service: { name: 'missing', port: { number: 80 } } } }] } }] } });
      await writeFile(join(dir, 'many.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 400 }, (_, i) => ingress(i)) }));
      const { code, stdout } = await run([bin, 'snapshot', '--manifests', dir]);
      // execFile reads stdout through a pipe: past the pipe's 64 KiB, what the process had not yet written when it exited was lost.
      expect(stdout.length).toBeGreaterThan(256 * 1024);
      expect(code).toBe(1);
      expect((JSON.parse(stdout) as { snapshot: { hosts: unknown[] } }).snapshot.hosts).toHaveLength(400);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('npm scripts and npx run this same bin', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.portico).toBe('node dataplane/src/cli/main.ts');
    const dataplane = JSON.parse(await readFile(join(root, 'dataplane/package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(dataplane.bin).toEqual({ portico: './src/cli/main.ts' });
    const demo = await readFile(join(root, 'deploy/examples/demo.ts'), 'utf8');
    expect(demo).toContain("new URL('../../dataplane/src/cli/main.ts', import.meta.url)");
  });

  it('an unknown command is a usage error (exit 2) listing the commands', async () => {
    const { code, stderr } = await run([bin, 'dataplain']);
    expect(code).toBe(2);
    expect(stderr).toContain('unknown command "dataplain"');
    expect(stderr).toContain('  dataplane ');
  });

  it('`portico dataplane` loads no control-plane code beyond the snapshot contract', async () => {
    const log = join(await mkdtemp(join(tmpdir(), 'portico-modules-')), 'modules');
    const { code } = await run(['--import', preload, bin, 'dataplane', '--help'], { PORTICO_LOADED_MODULES: log });
    expect(code).toBe(0);
    const urls = (await readFile(log, 'utf8')).split('\n').map((line) => line.split(' ')[1] ?? '');
    const loaded = [...new Set(urls.filter((url) => url.startsWith('file://')))].map((url) => url.slice(`file://${root}`.length));
    const control = loaded.filter((path) => path.startsWith('control/')).sort();
    expect(control).toEqual(['control/src/auth/transport.ts', 'control/src/cli/args.ts', 'control/src/cli/main.ts', 'control/src/cli/signals.ts', 'control/src/errors.ts', 'control/src/snapshot/bundle-compile.ts', 'control/src/snapshot/bundle-lines.ts', 'control/src/snapshot/bundle-sets.ts', 'control/src/snapshot/bundle-wire.ts', 'control/src/snapshot/bundle.ts', 'control/src/snapshot/delta.ts', 'control/src/snapshot/endpoint-numbering.ts', 'control/src/snapshot/endpoint-slots.ts', 'control/src/snapshot/hash.ts', 'control/src/snapshot/order.ts', 'control/src/snapshot/policies/access.ts', 'control/src/snapshot/policies/affinity.ts', 'control/src/snapshot/policies/app-root.ts', 'control/src/snapshot/policies/auth-cache.ts', 'control/src/snapshot/policies/auth-tls.ts', 'control/src/snapshot/policies/auth-url.ts', 'control/src/snapshot/policies/basic-auth.ts', 'control/src/snapshot/policies/canary.ts', 'control/src/snapshot/policies/cidr.ts', 'control/src/snapshot/policies/client-certificate.ts', 'control/src/snapshot/policies/cookie.ts', 'control/src/snapshot/policies/cors.ts', 'control/src/snapshot/policies/crl.ts', 'control/src/snapshot/policies/crypt.ts', 'control/src/snapshot/policies/custom-headers.ts', 'control/src/snapshot/policies/default-backend.ts', 'control/src/snapshot/policies/digest-auth.ts', 'control/src/snapshot/policies/external-auth.ts', 'control/src/snapshot/policies/gateway-backend-error.ts', 'control/src/snapshot/policies/gateway-backend-filters.ts', 'control/src/snapshot/policies/gateway-headers.ts', 'control/src/snapshot/policies/gateway-mirror.ts', 'control/src/snapshot/policies/gateway-redirect.ts', 'control/src/snapshot/policies/gateway-timeouts.ts', 'control/src/snapshot/policies/header-configmap.ts', 'control/src/snapshot/policies/htdigest.ts', 'control/src/snapshot/policies/htpasswd.ts', 'control/src/snapshot/policies/limits.ts', 'control/src/snapshot/policies/mirror-target.ts', 'control/src/snapshot/policies/module.ts', 'control/src/snapshot/policies/next-upstream.ts', 'control/src/snapshot/policies/proxy-redirect.ts', 'control/src/snapshot/policies/proxy.ts', 'control/src/snapshot/policies/rate-limit.ts', 'control/src/snapshot/policies/redirect.ts', 'control/src/snapshot/policies/rewrite.ts', 'control/src/snapshot/policies/schema.ts', 'control/src/snapshot/policies/ssl-passthrough.ts', 'control/src/snapshot/policies/trailing-slash.ts', 'control/src/snapshot/policies/upstream-hash.ts', 'control/src/snapshot/policies/upstream-vhost.ts', 'control/src/snapshot/policies/www-redirect.ts', 'control/src/snapshot/regex.ts', 'control/src/snapshot/schema.ts', 'control/src/snapshot/scope.ts', 'control/src/snapshot/sealed-against.ts', 'control/src/snapshot/set-changes.ts', 'control/src/snapshot/table.ts']);
    for (const heavy of ['@kubernetes/client-node', 'hono', 'yaml', 'node:sqlite', 'undici']) expect(loaded.filter((path) => path.includes(`node_modules/${heavy}/`))).toEqual([]);
  });

  it("`portico dataplane`'s primary, running with workers, loads the sync client, compiler, admin and metrics and nothing else: no proxy, no pino, no X.509 library", async () => {
    // The primary runs on every edge node beside its workers; this list is what it holds (docs/dataplane.md, "What the primary loads").
    // A module added here costs every node: keep it off the primary (a worker's code goes in worker-entry.ts's graph, a rare path behind an import()).
    const dir = await mkdtemp(join(tmpdir(), 'portico-primary-'));
    const log = join(dir, 'modules');
    try {
      const child = spawn(process.execPath, ['--import', preload, bin, 'dataplane', '--control', 'http://127.0.0.1:1', '--workers', '2', '--address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-address', '127.0.0.1', '--admin-port', '0', '--data-dir', join(dir, 'data')], { env: { ...process.env, PORTICO_LOADED_MODULES: log }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the data plane did not start: ${output}`)), 50_000);
        const take = (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('data plane started')) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', take);
        child.stderr.on('data', take);
        void exited.then(() => reject(new Error(`the data plane exited: ${output}`)));
      });
      // Every module is written down as it is resolved: what it loaded by now is the list, however it stops.
      child.kill('SIGTERM');
      await exited;
      const lines = (await readFile(log, 'utf8')).trim().split('\n').map((line) => line.split(' '));
      expect(new Set(lines.map(([pid]) => pid)).size, 'the primary and its two workers').toBe(3);
      const urls = lines.filter(([pid]) => Number(pid) === child.pid).map(([, url]) => url!);
      const files = [...new Set(urls.filter((url) => url.startsWith(`file://${root}`)).map((url) => url.slice(`file://${root}`.length)))];
      const packages = [...new Set(files.filter((path) => path.startsWith('node_modules/')).map((path) => path.split('/').slice(1, path.startsWith('node_modules/@') ? 3 : 2).join('/')))].sort();
      // zod: parseSnapshot; selfsigned: only its path is resolved here, it loads on the default certificate's short-lived thread.
      expect(packages).toEqual(['selfsigned', 'zod']);
      expect(files.filter((path) => path.startsWith('dataplane/')).sort()).toEqual(PRIMARY_DATAPLANE_MODULES);
      expect(files.filter((path) => path.startsWith('assembly/')).sort()).toEqual(PRIMARY_ASSEMBLY_MODULES);
      expect(files.filter((path) => path.startsWith('control/') && !path.startsWith('control/src/snapshot/policies/')).sort()).toEqual(PRIMARY_CONTROL_MODULES);
    } finally {
      // Its workers, should one outlive the primary.
      const pids = new Set((await readFile(log, 'utf8').catch(() => '')).split('\n').map((line) => Number(line.split(' ')[0])).filter((pid) => pid > 0));
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone already.
        }
      }
      await rm(dir, { recursive: true, force: true });
    }
  }, 70_000);

  it('with workers, the primary runs one full collection after a full (here: restored) snapshot, and says how long it took', async () => {
    // The garbage a full snapshot leaves (sync body, parse, compile) stayed committed while the primary idled: 290 -> 173 MiB private at 10k Ingresses (docs/dataplane.md).
    const dir = await mkdtemp(join(tmpdir(), 'portico-primary-gc-'));
    const snapshot = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [1001] }] }]);
    await mkdir(join(dir, 'data'));
    await writeFile(join(dir, 'data', LAST_GOOD_FILE), snapshotText(snapshot, new WeakMap()));
    const child = spawn(process.execPath, [bin, 'dataplane', '--control', 'http://127.0.0.1:1', '--workers', '2', '--address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--admin-address', '127.0.0.1', '--admin-port', '0', '--data-dir', join(dir, 'data')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    try {
      const line = await new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no collection logged: ${output}`)), 50_000);
        const take = (chunk: Buffer) => {
          output += chunk.toString();
          const found = output.split('\n').find((text) => text.includes('"full collection after a full snapshot"'));
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(found) as Record<string, unknown>);
          }
        };
        child.stdout.on('data', take);
        child.stderr.on('data', take);
      });
      expect(line).toMatchObject({ level: 30, component: 'dataplane', version: snapshot.version });
      expect(typeof line.pauseMs).toBe('number');
      expect(output).toContain('"how":"restored"');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dir, { recursive: true, force: true });
    }
  }, 70_000);

  it('the image never contains standalone state: .dockerignore excludes every .portico directory', async () => {
    const patterns = (await readFile(join(root, '.dockerignore'), 'utf8')).split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'));
    // Docker's matching, enough for these patterns: `**` any directories, `*` within one name; a match on a directory excludes what is under it.
    const regex = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*\//g, '\0').replace(/\*/g, '[^/]*').replace(/\0/g, '(.*/)?')}(/.*)?$`);
    const excluded = (path: string) => patterns.some((pattern) => !pattern.startsWith('!') && regex(pattern).test(path));
    for (const path of ['.portico/api-token', '.portico/routes.sqlite', 'deploy/examples/.portico/api-token', '.portico/last-good-snapshot.json']) expect({ path, excluded: excluded(path) }).toEqual({ path, excluded: true });
    for (const path of ['dataplane/src/cli/main.ts', 'package.json', 'assembly/build/matcher.wasm']) expect({ path, excluded: excluded(path) }).toEqual({ path, excluded: false });
  });
});

/** The primary's own data-plane modules: sync, serving with workers, admin, metrics, logging, the bundle compiler. */
const PRIMARY_DATAPLANE_MODULES = ['dataplane/src/admin.ts', 'dataplane/src/bundle.ts', 'dataplane/src/cli/dataplane.ts', 'dataplane/src/cli/lock.ts', 'dataplane/src/cli/main.ts', 'dataplane/src/cli/options.ts', 'dataplane/src/errors.ts', 'dataplane/src/last-good.ts', 'dataplane/src/listen.ts', 'dataplane/src/logging.ts', 'dataplane/src/metric-families.ts', 'dataplane/src/reclaim.ts', 'dataplane/src/serve.ts', 'dataplane/src/sizing.ts', 'dataplane/src/sync.ts', 'dataplane/src/text-lines.ts', 'dataplane/src/tls.ts', 'dataplane/src/worker-bundle.ts', 'dataplane/src/worker-delta.ts', 'dataplane/src/workers.ts'];
/** The primary's matcher-table modules (it compiles each version once for its workers). */
const PRIMARY_ASSEMBLY_MODULES = ['assembly/src/host/area.ts', 'assembly/src/host/blocks.ts', 'assembly/src/host/chunk-check.ts', 'assembly/src/host/chunk-wire.ts', 'assembly/src/host/chunk.ts', 'assembly/src/host/conditions.ts', 'assembly/src/host/draft.ts', 'assembly/src/host/encode.ts', 'assembly/src/host/errors.ts', 'assembly/src/host/grid-patch.ts', 'assembly/src/host/grid-plan.ts', 'assembly/src/host/grid-slots.ts', 'assembly/src/host/grid-table.ts', 'assembly/src/host/grid.ts', 'assembly/src/host/hash-slots.ts', 'assembly/src/host/layout.ts', 'assembly/src/host/normalize.ts', 'assembly/src/host/pages.ts', 'assembly/src/host/patch.ts', 'assembly/src/host/probe-slots.ts', 'assembly/src/host/table.ts', 'assembly/src/host/validate.ts'];
/** The primary's control-plane modules: the CLI's arguments and signals, the control transport and the snapshot contract (policy modules aside). */
const PRIMARY_CONTROL_MODULES = ['control/src/auth/transport.ts', 'control/src/cli/args.ts', 'control/src/cli/main.ts', 'control/src/cli/signals.ts', 'control/src/errors.ts', 'control/src/snapshot/bundle-compile.ts', 'control/src/snapshot/bundle-lines.ts', 'control/src/snapshot/bundle-sets.ts', 'control/src/snapshot/bundle-wire.ts', 'control/src/snapshot/bundle.ts', 'control/src/snapshot/delta.ts', 'control/src/snapshot/endpoint-numbering.ts', 'control/src/snapshot/endpoint-slots.ts', 'control/src/snapshot/hash.ts', 'control/src/snapshot/order.ts', 'control/src/snapshot/regex.ts', 'control/src/snapshot/schema.ts', 'control/src/snapshot/scope.ts', 'control/src/snapshot/sealed-against.ts', 'control/src/snapshot/set-changes.ts', 'control/src/snapshot/table.ts'];
