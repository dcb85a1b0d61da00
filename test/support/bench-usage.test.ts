/**
 * The benchmarks' command lines as users type them: `--help` prints the usage with every option
 * (it used to crash with a parseArgs stack trace), and bad usage exits 2 with one line naming the
 * option before anything is started (bad numbers used to run with NaN).
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const BENCH = new URL('../../bench/', import.meta.url).pathname;

function run(script: string, args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [`${BENCH}${script}`, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const SCRIPTS: readonly { script: string; name: string; options: readonly string[] }[] = [
  { script: 'proxy.ts', name: 'bench:proxy', options: ['--rounds', '--duration', '--connections', '--threads', '--backend', '--h2', '--streams', '--in-process', '--bin', '--profile', '--node-flags', '--routes', '--json'] },
  { script: 'grpc.ts', name: 'bench:grpc', options: ['--rounds', '--duration', '--concurrency', '--channels', '--json'] },
  { script: 'fleet.ts', name: 'bench:fleet', options: ['--ingresses', '--sizes', '--nodes', '--changes', '--workers', '--kind', '--timeout', '--change-timeout', '--cpu-prof', '--node-options', '--node-args', '--portico-log', '--warmup', '--gc-reasons', '--json'] },
  { script: 'fleet-stages.ts', name: 'node bench/fleet-stages.ts', options: ['--sizes', '--changes', '--json'] },
  { script: 'primary-memory.ts', name: 'node bench/primary-memory.ts', options: ['--ingresses', '--idle-s', '--modules'] },
  { script: 'worker-swap.ts', name: 'node bench/worker-swap.ts', options: ['--ingresses', '--workers', '--changes', '--reclaim-after-mb', '--json'] },
  { script: 'metrics-scrape.ts', name: 'node bench/metrics-scrape.ts', options: ['--endpoints', '--scrapes'] },
  { script: 'compile.ts', name: 'bench:compile', options: ['--ingresses', '--json'] },
  { script: 'matcher.ts', name: 'bench:matcher', options: ['--json'] },
  { script: 'matcher-pair.ts', name: 'bench:matcher-pair', options: ['--base', '--head', '--sizes', '--rounds', '--round-ms', '--down', '--base-down', '--json'] },
  { script: 'reload.ts', name: 'bench:reload', options: [] },
];

describe('benchmark command lines', () => {
  it.each(SCRIPTS)('$name --help prints the usage with every option and exits 0', ({ script, options }) => {
    const { code, stdout, stderr } = run(script, ['--help']);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: /);
    for (const option of options) expect(stdout, option).toContain(`  ${option}`);
  });

  it('bench:proxy -- --h2 --help is the same help', () => {
    const { code, stdout } = run('proxy.ts', ['--h2', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('--streams N');
  });

  // Hostile: each is refused in one line naming the option, exit 2, before anything starts.
  it.each([
    { script: 'proxy.ts', args: ['--bogus'], says: "bench:proxy: Unknown option '--bogus'" },
    { script: 'proxy.ts', args: ['--rounds', 'abc'], says: 'bench:proxy: --rounds must be an integer from 1 to 100, got "abc"' },
    { script: 'proxy.ts', args: ['--h2', '--streams', '0'], says: 'bench:proxy: --streams must be an integer from 1 to 1000, got "0"' },
    { script: 'proxy.ts', args: ['--backend', 'apache'], says: 'bench:proxy: --backend must be nginx or node, got "apache"' },
    { script: 'proxy.ts', args: ['--bin', '/nonexistent/portico'], says: 'bench:proxy: --bin /nonexistent/portico: no such file' },
    { script: 'proxy.ts', args: ['--routes', 'plain,ldap'], says: 'bench:proxy: --routes: "ldap" is not a route kind (plain, regex, auth-url, auth-cache)' },
    { script: 'proxy.ts', args: ['--routes', ''], says: 'bench:proxy: --routes: "" is not a route kind (plain, regex, auth-url, auth-cache)' },
    { script: 'grpc.ts', args: ['--duration', '1e9'], says: 'bench:grpc: --duration must be an integer from 1 to 3600, got "1e9"' },
    { script: 'grpc.ts', args: ['stray'], says: "bench:grpc: Unexpected argument 'stray'" },
    { script: 'fleet.ts', args: ['--nodes', '99999'], says: 'bench:fleet: --nodes must be an integer from 1 to 1000, got "99999"' },
    { script: 'fleet.ts', args: ['--portico-log', '/nonexistent/dir/portico.log'], says: 'bench:fleet: --portico-log /nonexistent/dir/portico.log: ENOENT' },
    { script: 'fleet.ts', args: ['--sizes', '10,x'], says: 'bench:fleet: --sizes: "x" is not an Ingress count' },
    { script: 'fleet.ts', args: ['--warmup=-1'], says: 'bench:fleet: --warmup must be an integer from 0 to 100, got "-1"' },
    { script: 'fleet.ts', args: ['--warmup', 'some'], says: 'bench:fleet: --warmup must be an integer from 0 to 100, got "some"' },
    { script: 'fleet.ts', args: ['--gc-reasons=yes'], says: "bench:fleet: Option '--gc-reasons' does not take an argument" },
    { script: 'fleet.ts', args: ['--kind', 'host'], says: 'bench:fleet: --kind must be path, endpoints, hosts or scale, not "host"' },
    { script: 'primary-memory.ts', args: ['--ingresses', 'abc'], says: 'node bench/primary-memory.ts: --ingresses must be an integer from 0 to 200000, got "abc"' },
    { script: 'fleet-stages.ts', args: ['--changes', 'many'], says: 'node bench/fleet-stages.ts: --changes must be an integer from 1 to 1000, got "many"' },
    { script: 'fleet-stages.ts', args: ['--sizes', ''], says: 'node bench/fleet-stages.ts: --sizes' },
    { script: 'worker-swap.ts', args: ['--reclaim-after-mb', '65537'], says: 'node bench/worker-swap.ts: --reclaim-after-mb must be an integer from 0 to 65536, got "65537"' },
    { script: 'metrics-scrape.ts', args: ['--scrapes', '0'], says: 'node bench/metrics-scrape.ts: --scrapes must be an integer from 1 to 1000, got "0"' },
    { script: 'compile.ts', args: ['--ingresses', '10k'], says: 'bench:compile: --ingresses must be an integer from 1 to 200000, got "10k"' },
    { script: 'compile.ts', args: ['--bogus'], says: "bench:compile: Unknown option '--bogus'" },
    { script: 'matcher.ts', args: ['--sizes', '1000'], says: "bench:matcher: Unknown option '--sizes'" },
    { script: 'reload.ts', args: ['--workers', '2'], says: "bench:reload: Unknown option '--workers'" },
    { script: 'matcher-pair.ts', args: [], says: 'bench:matcher-pair: --base DIR is required (the tree to compare against)' },
    { script: 'matcher-pair.ts', args: ['--base', '/nonexistent/tree'], says: 'bench:matcher-pair: --base /nonexistent/tree: no assembly/src/host/encode.ts' },
    { script: 'matcher-pair.ts', args: ['--base', '.', '--sizes', '1000,lots'], says: 'bench:matcher-pair: --sizes must be an integer from 10 to 1000000, got "lots"' },
    { script: 'matcher-pair.ts', args: ['--base', '.', '--rounds', '0'], says: 'bench:matcher-pair: --rounds must be an integer from 1 to 1000, got "0"' },
    { script: 'matcher-pair.ts', args: ['--base', '.', '--down', '1.5'], says: 'bench:matcher-pair: --down must be an integer from 0 to 1000000, got "1.5"' },
    { script: 'matcher-pair.ts', args: ['--base', '.', '--base-down', 'some'], says: 'bench:matcher-pair: --base-down must be an integer from 0 to 1000000, got "some"' },
  ])('$script $args is refused: $says', ({ script, args, says }) => {
    const { code, stdout, stderr } = run(script, args);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    const lines = stderr.trim().split('\n');
    expect(lines[0]).toContain(says);
    expect(lines.slice(1)).toEqual([expect.stringMatching(/^Run '.+ --help' for usage\.$/)]);
  });
});
