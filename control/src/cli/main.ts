/**
 * The `portico` command line: one entry, one file per subcommand, each loaded only when run. The
 * bin itself is `dataplane/src/cli/main.ts` (the top of the package graph), which adds the
 * serving commands to these.
 */
import { PorticoError } from '../errors.ts';
import type { CommandEntry } from './args.ts';
import { parseCommandArgs } from './args.ts';

/** The commands the control package provides, loaded on use. */
export const CONTROL_COMMANDS: readonly CommandEntry[] = [
  { name: 'check', summary: 'before migrating from ingress-nginx: which annotations each Ingress gets honoured, approximated or refused', load: async () => (await import('./check.ts')).checkCommand },
  { name: 'control', summary: 'run the cluster-mode control plane (watch the API server, publish snapshots, write Ingress status)', load: async () => (await import('./control.ts')).controlCommand },
  { name: 'explain', summary: 'show which rule and backend a request would reach, and why', load: async () => (await import('./explain.ts')).explainCommand },
  { name: 'nodes', summary: 'data planes: applied version, last ACK/NACK, rollout of the current version', load: async () => (await import('./nodes.ts')).nodesCommand },
  { name: 'routes', summary: 'list, show, apply and delete routes through the control API', load: async () => (await import('./routes.ts')).routesCommand },
  { name: 'snapshot', summary: 'compile manifests and print or export the snapshot JSON with its conditions', load: async () => (await import('./snapshot.ts')).snapshotCommand },
  { name: 'snapshots', summary: 'snapshot history, exports and diffs from the control API', load: async () => (await import('./snapshots.ts')).snapshotsCommand },
];

function help(commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'Usage: portico <command> [options]',
    '',
    'Portico is a Kubernetes edge router: Ingress objects compiled to content-hashed snapshots,',
    'matched in WebAssembly, proxied without reloads.',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'portico <command> --help' for a command's options, 'portico --version' for the version.",
  ].join('\n');
}

/**
 * Runs the CLI with `argv` (without node and script) over `entries`; resolves to the exit code:
 * 0 done, 1 failed, 2 usage error. `version` is what `--version` prints.
 */
export async function runCli(argv: string[], entries: readonly CommandEntry[], version: string): Promise<number> {
  const commands = [...entries].sort((a, b) => (a.name < b.name ? -1 : 1));
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help(commands)}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`portico ${version}\n`);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (entry === undefined) {
    process.stderr.write(`portico: unknown command ${JSON.stringify(name)}\n\n${help(commands)}\n`);
    return 2;
  }
  try {
    const command = await entry.load();
    const parsed = parseCommandArgs(command, rest);
    if (parsed === undefined) return 0;
    return await command.run(parsed.values, parsed.positionals);
  } catch (error) {
    // Any package's PorticoError (each package has its own class): one line, no stack.
    const code = (error as { code?: unknown }).code;
    if (error instanceof PorticoError || (error instanceof Error && typeof code === 'string' && code.startsWith('PORTICO_E_'))) {
      process.stderr.write(`portico ${name}: ${error.message} [${String(code)}]\n`);
      return code === 'PORTICO_E_USAGE' ? 2 : 1;
    }
    throw error;
  }
}
