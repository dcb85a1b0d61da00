/**
 * The data plane's loggers, shared by the in-process data plane and the worker processes: one
 * JSON line per entry on stdout, in pino's format (`level` number, `time` in ms, the bindings,
 * the fields, `msg` last; an `err` field as pino's error serializer writes it), so the lines of a
 * worker read like the CLI's own pino lines. Not pino itself: loading pino costs every worker
 * about 7 MiB (docs/dataplane.md, "What a worker loads"), and the data plane needs four levels and
 * one call shape. Lines go out with `process.stdout.write`, which Node makes blocking for files and
 * pipes on Linux: a reader that stalls slows the logging process, it never grows a buffer.
 */

/** pino's level numbers, by name. */
const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;

/** A level name `--log-level` accepts. */
export type LogLevel = keyof typeof LEVELS;

/** One level's method: structured fields then the message, or the message alone. */
export interface LogFn {
  (fields: object, message?: string): void;
  (message: string): void;
}

/** What the data plane logs with. pino's Logger has this shape, so a caller may pass one. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** Whether entries of `level` are written (so costly fields are built only when they are). */
  isLevelEnabled(level: string): boolean;
}

/** An Error as pino's serializer writes it: its class, message, stack and own enumerable fields (`code`, ...). */
function serializeError(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = { type: error.constructor.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) if (!(key in fields)) fields[key] = value;
  if (error.cause !== undefined) fields.cause = error.cause instanceof Error ? serializeError(error.cause) : error.cause;
  return fields;
}

/** `JSON.stringify` that never throws: a value it cannot write (a cycle, a BigInt) becomes a string saying so. */
function stringify(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, inner: unknown) => (typeof inner === 'bigint' ? inner.toString() : inner));
  } catch (error) {
    return JSON.stringify(`[unserializable: ${(error as Error).message}]`);
  }
}

let stdoutGuarded = false;

/** Writes one line to stdout; after EPIPE (the reader went away) logging stops instead of crashing the process. */
function writeLine(line: string): void {
  if (!stdoutGuarded) {
    stdoutGuarded = true;
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') writer = () => undefined;
    });
  }
  process.stdout.write(line);
}

let writer: (line: string) => void = writeLine;

/** A JSON-lines logger at `level` whose every line starts with `bindings` (`{ component: 'dataplane' }`). */
export class JsonLineLogger implements Logger {
  readonly #threshold: number;
  /** `,"component":"dataplane"`: the bindings, written once. */
  readonly #bindings: string;
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;

  /** Throws a TypeError when `level` is not one of pino's level names. */
  constructor(level: string, bindings: Readonly<Record<string, string>>) {
    const threshold = LEVELS[level as LogLevel];
    if (threshold === undefined) throw new TypeError(`unknown log level ${JSON.stringify(level)} (one of ${Object.keys(LEVELS).join(', ')})`);
    this.#threshold = threshold;
    this.#bindings = Object.entries(bindings).map(([key, value]) => `,${JSON.stringify(key)}:${JSON.stringify(value)}`).join('');
    this.debug = this.#method(LEVELS.debug);
    this.info = this.#method(LEVELS.info);
    this.warn = this.#method(LEVELS.warn);
    this.error = this.#method(LEVELS.error);
  }

  isLevelEnabled(level: string): boolean {
    const value = LEVELS[level as LogLevel];
    return value !== undefined && value !== Infinity && value >= this.#threshold;
  }

  #method(level: number): LogFn {
    if (level < this.#threshold) return () => undefined;
    const head = `{"level":${level},"time":`;
    return (first: object | string, message?: string): void => {
      let fields = '';
      let text = message;
      if (typeof first === 'string') text = first;
      else if (first instanceof Error) {
        // pino's shape for an Error passed alone: under `err`, its message as `msg` unless one is given.
        fields = `,"err":${stringify(serializeError(first))}`;
        text ??= first.message;
      } else {
        for (const [key, value] of Object.entries(first)) {
          if (value === undefined) continue;
          fields += `,${JSON.stringify(key)}:${stringify(key === 'err' && value instanceof Error ? serializeError(value) : value)}`;
        }
      }
      writer(`${head}${Date.now()}${this.#bindings}${fields}${text === undefined ? '' : `,"msg":${JSON.stringify(text)}`}}\n`);
    };
  }
}

/** The process logger and, when enabled, the access logger (one JSON line per request on stdout). */
export function makeLoggers(level: string, accessLog: boolean): { logger: Logger; accessLog: Logger | undefined } {
  const logger = new JsonLineLogger(level, { component: 'dataplane' });
  return { logger, accessLog: accessLog ? new JsonLineLogger('info', { component: 'access' }) : undefined };
}
