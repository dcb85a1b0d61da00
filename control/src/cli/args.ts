/**
 * Shared CLI plumbing: argument parsing with `--help`, usage errors, and output helpers.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import { PorticoError } from '../errors.ts';

/** A subcommand: its help text, its options and what it does. */
export interface Command {
  readonly name: string;
  readonly usage: string;
  readonly options: NonNullable<ParseArgsConfig['options']>;
  /** Whether the command takes words besides options (`routes get NS/NAME`); others refuse them. */
  readonly positionals?: true;
  run(values: Record<string, unknown>, positionals: string[]): Promise<number>;
}

/**
 * A command as the CLI lists it: its name and summary, and how to load it. Loading is deferred so
 * that `portico dataplane` never loads the control plane's modules (and the reverse).
 */
export interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  load(): Promise<Command>;
}

/** Parses argv for `command`; prints help and returns undefined for `--help`. Throws PORTICO_E_USAGE on bad arguments. */
export function parseCommandArgs(command: Command, argv: string[]): { values: Record<string, unknown>; positionals: string[] } | undefined {
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      allowNegative: true,
      strict: true,
    });
    if (parsed.values.help === true) {
      process.stdout.write(`${command.usage.trim()}\n`);
      return undefined;
    }
    const stray = parsed.positionals[0];
    if (stray !== undefined && command.positionals !== true) {
      // `--h2c false` would otherwise start with h2c on: say that the flag takes no value.
      const before = argv[argv.indexOf(stray) - 1] ?? '';
      const name = before.slice(2);
      const option = before.startsWith('--') ? (command.options[name] ?? command.options[name.replace(/^no-/, '')]) : undefined;
      const flag = option?.type === 'boolean' ? ` (${before} is a flag and takes no value)` : '';
      usageError(command, `unexpected argument ${JSON.stringify(stray)}: portico ${command.name} takes only options${flag}`);
    }
    return { values: parsed.values as Record<string, unknown>, positionals: parsed.positionals };
  } catch (error) {
    if (error instanceof PorticoError) throw error;
    // parseArgs names the positive form of a negated flag (`--no-http2=1`: "Option '--http2' ..."): name what was typed.
    const message = (error as Error).message.replace(/^Option '--([\w-]+)' does not take an argument/, (text, name: string) => (argv.some((arg) => arg.startsWith(`--no-${name}=`)) ? `Option '--no-${name}' does not take an argument` : text));
    throw new PorticoError('PORTICO_E_USAGE', `${message}\nRun 'portico ${command.name} --help' for usage.`);
  }
}

/** Throws a usage error. */
export function usageError(command: Command, message: string): never {
  throw new PorticoError('PORTICO_E_USAGE', `${message}\nRun 'portico ${command.name} --help' for usage.`);
}

/**
 * Which of the alternative sources `choices` (option name -> what it takes, in help order, e.g.
 * `{ manifests: 'DIR', control: 'URL' }`) was given, and its value. Throws PORTICO_E_USAGE naming
 * every choice when none is given, when several are, or when the one given is empty.
 */
export function oneSource(command: Command, values: Record<string, unknown>, choices: Readonly<Record<string, string>>): { readonly name: string; readonly value: string } {
  const names = Object.keys(choices);
  const all = names.map((name) => `--${name} ${choices[name]!}`).join(' or ');
  const given = names.filter((name) => values[name] !== undefined);
  if (given.length === 0) usageError(command, `no source given: give ${all}`);
  if (given.length > 1) usageError(command, `give ${all}, not both`);
  const name = given[0]!;
  const value = values[name];
  if (typeof value !== 'string' || value === '') usageError(command, `--${name} needs a ${choices[name]!}, got an empty value`);
  return { name, value };
}

/** Reads a string option that must be present. */
export function requireString(command: Command, values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== 'string' || value === '') usageError(command, `--${name} is required`);
  return value;
}
