#!/usr/bin/env node
/**
 * The `portico` command line: one entry, one file per subcommand.
 */
import { PorticoError } from '../errors.ts';
import type { Command } from './args.ts';
import { parseCommandArgs } from './args.ts';
import { controlCommand } from './control.ts';
import { explainCommand } from './explain.ts';
import { nodesCommand } from './nodes.ts';
import { routesCommand } from './routes.ts';
import { snapshotCommand } from './snapshot.ts';
import { snapshotsCommand } from './snapshots.ts';

/** The commands the control package provides; the `portico` bin in @portico/dataplane adds the serving ones. */
export const CONTROL_COMMANDS: readonly Command[] = [controlCommand, explainCommand, nodesCommand, routesCommand, snapshotCommand, snapshotsCommand];

function help(COMMANDS: readonly Command[]): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: portico <command> [options]',
    '',
    'Portico is a Kubernetes edge router: Ingress objects compiled to content-hashed snapshots,',
    'matched in WebAssembly, proxied without reloads.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'portico <command> --help' for a command's options.",
  ].join('\n');
}

/** Runs the CLI with `argv` (without node and script) and `extra` commands; resolves to the exit code. */
export async function main(argv: string[], extra: readonly Command[] = []): Promise<number> {
  const COMMANDS = [...CONTROL_COMMANDS, ...extra].sort((a, b) => (a.name < b.name ? -1 : 1));
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${help(COMMANDS)}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(`portico: unknown command ${JSON.stringify(name)}\n\n${help(COMMANDS)}\n`);
    return 2;
  }
  try {
    const parsed = parseCommandArgs(command, rest);
    if (parsed === undefined) return 0;
    return await command.run(parsed.values, parsed.positionals);
  } catch (error) {
    if (error instanceof PorticoError) {
      process.stderr.write(`portico ${name}: ${error.message} [${error.code}]\n`);
      return error.code === 'PORTICO_E_USAGE' ? 2 : 1;
    }
    throw error;
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
