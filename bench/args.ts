/**
 * The benchmarks' command lines: `--help` prints the script's usage and exits 0; an unknown
 * option, a stray word or a bad number exits 2 with one line naming the option, before anything
 * is started.
 */
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Prints `message` as `name: message` plus where the usage is, and exits 2. */
export function usageFailure(name: string, message: string): never {
  process.stderr.write(`${name}: ${message}\nRun '${name} --help' for usage.\n`);
  process.exit(2);
}

/**
 * The values of `options` in this process's arguments (after `skip` leading ones). Prints
 * `usage` and exits 0 for `--help`; exits 2 (via `usageFailure`) for an unknown option or a
 * positional argument.
 */
export function benchArgs<T extends Options>(name: string, usage: string, options: T, skip = 0): ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'] {
  let parsed;
  try {
    parsed = parseArgs({ args: process.argv.slice(2 + skip), options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false });
  } catch (error) {
    usageFailure(name, (error as Error).message);
  }
  if ((parsed.values as Record<string, unknown>).help === true) {
    process.stdout.write(`${usage.trim()}\n`);
    process.exit(0);
  }
  return parsed.values as ReturnType<typeof parseArgs<{ options: T; strict: true }>>['values'];
}

/** `text` as an integer in `min`..`max`, or exits 2 naming `--option`. */
export function integerArg(name: string, option: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isInteger(value) || value < min || value > max) usageFailure(name, `--${option} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return value;
}
