/**
 * The CLI's client of the control API: base URL and token from flags or the environment, JSON in
 * and out, and problem documents turned into PorticoError PORTICO_E_API with the server's code.
 */
import { readFile } from 'node:fs/promises';
import { checkTokenTransport, controlFetch } from '../auth/transport.ts';
import { join } from 'node:path';
import { API_TOKEN_FILE } from '../auth/token.ts';
import { PorticoError } from '../errors.ts';

/** `portico standalone`'s default --data-dir, relative to where it runs. */
const STANDALONE_DATA_DIR = '.portico';

/** The connection options every API command shares. */
export const CLIENT_OPTIONS = {
  control: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'control-ca': { type: 'string' },
  'allow-insecure-http': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
} as const;

/** Help lines for CLIENT_OPTIONS. */
export const CLIENT_USAGE = `
  --control URL                    Control API (default $PORTICO_CONTROL_URL, else http://127.0.0.1:9080).
  --token TOKEN                    Bearer token (default $PORTICO_API_TOKEN, else .portico/api-token, the token
                                   \`portico standalone\` generates; in a cluster, e.g. \`kubectl create token ...\`).
  --token-file FILE                Read the bearer token from FILE.
  --control-ca FILE                PEM CA that signed the control API's certificate (https:// URLs).
  --allow-insecure-http            Allow sending the token over plain HTTP to a non-loopback address.
  --json                           Print JSON instead of a table.`;

/** An error answer, with the server's problem document. */
export class ApiCallError extends PorticoError {
  readonly status: number;
  readonly problem: { code?: string; detail?: string; errors?: { pointer: string; reason: string }[]; conflicts?: { namespace: string; name: string; claim: string }[] } | undefined;
  constructor(status: number, problem: ApiCallError['problem'], what: string) {
    const lines = [`${what}: HTTP ${status}${problem?.code ? ` ${problem.code}` : ''}: ${problem?.detail ?? 'no details'}`];
    for (const error of problem?.errors ?? []) lines.push(`  ${error.pointer || '(body)'}: ${error.reason}`);
    for (const conflict of problem?.conflicts ?? []) lines.push(`  conflicts with ${conflict.namespace}/${conflict.name}: ${conflict.claim}`);
    super('PORTICO_E_API', lines.join('\n'));
    this.status = status;
    this.problem = problem;
  }
}

/** A thin control API client. */
export class ControlClient {
  readonly baseUrl: string;
  private readonly token: string | undefined;
  private readonly fetch: typeof fetch;
  /** Where the token came from (`--token`, `PORTICO_API_TOKEN`, a file), said when the API answers 401. */
  readonly tokenSource: string | undefined;

  constructor(baseUrl: string, token: string | undefined, fetcher: typeof fetch = fetch, tokenSource?: string) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
    this.fetch = fetcher;
    this.tokenSource = token === undefined ? undefined : (tokenSource ?? '--token');
  }

  /** A client from the shared options and the environment. */
  static async from(values: Record<string, unknown>): Promise<ControlClient> {
    const url = (values.control as string | undefined) ?? process.env.PORTICO_CONTROL_URL ?? 'http://127.0.0.1:9080';
    let token = values.token as string | undefined;
    let source = token === undefined ? undefined : '--token';
    if (token === undefined && process.env.PORTICO_API_TOKEN) [token, source] = [process.env.PORTICO_API_TOKEN, 'PORTICO_API_TOKEN'];
    const file = values['token-file'] as string | undefined;
    if (file !== undefined) {
      try {
        [token, source] = [(await readFile(file, 'utf8')).trim(), `--token-file ${file}`];
      } catch (cause) {
        throw new PorticoError('PORTICO_E_USAGE', `cannot read --token-file ${file}: ${(cause as Error).message}`, { cause });
      }
    }
    if (token === undefined) {
      // What `portico standalone` (and `npm start`) generated in its default --data-dir, when run from here.
      const standalone = join(STANDALONE_DATA_DIR, API_TOKEN_FILE);
      token = await readFile(standalone, 'utf8').then((text) => text.trim(), () => undefined);
      if (token !== undefined) source = `${standalone} (the token \`portico standalone\` generated)`;
    }
    if (token !== undefined && token !== '') checkTokenTransport(url, { allowInsecure: values['allow-insecure-http'] === true, flag: '--allow-insecure-http' });
    else if (!/^https?:\/\//.test(url)) throw new PorticoError('PORTICO_E_USAGE', `--control must be an http(s) URL, got ${url}`);
    return new ControlClient(url, token, controlFetch({ caFile: values['control-ca'] as string | undefined }), source);
  }

  /** Sends a request; resolves with the response (any status, the body unread). Rejects with PORTICO_E_API when unreachable. */
  async raw(method: string, path: string, init: { body?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...init.headers };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (init.body !== undefined) headers['Content-Type'] = init.contentType ?? 'application/json';
    try {
      return await this.fetch(`${this.baseUrl}${path}`, { method, headers, ...(init.body !== undefined ? { body: init.body } : {}), signal: AbortSignal.timeout(60_000) });
    } catch (cause) {
      throw new PorticoError('PORTICO_E_API', `cannot reach the control API at ${this.baseUrl}: ${(cause as Error).message}`, { cause });
    }
  }

  /** Sends a request and parses the JSON answer; rejects with ApiCallError for any status ≥ 400. */
  async json<T>(method: string, path: string, init: Parameters<ControlClient['raw']>[2] = {}): Promise<{ body: T; response: Response }> {
    const response = await this.raw(method, path, init);
    const body = await bodyOf(response);
    if (response.status === 401) {
      const problem = body as ApiCallError['problem'];
      const hint = this.tokenSource === undefined ? `no token given: pass --token or --token-file, set PORTICO_API_TOKEN, or run where ${join(STANDALONE_DATA_DIR, API_TOKEN_FILE)} is` : `the token from ${this.tokenSource} was refused`;
      throw new ApiCallError(401, { ...problem, detail: `${problem?.detail ?? 'unauthenticated'} (${hint})` }, `${method} ${path}`);
    }
    if (response.status >= 400) throw new ApiCallError(response.status, body as ApiCallError['problem'], `${method} ${path}`);
    return { body: body as T, response };
  }
}

/** A response's JSON body (a problem document for an error), or undefined when it is empty or not JSON. */
export async function bodyOf(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Formats rows as an aligned text table with a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  // A loop, not Math.max(...cells): a spread of every row (a long route list) overflows the stack.
  const widths = header.map((h) => h.length);
  for (const row of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, (row[i] ?? '').length);
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `sha256:0123456789ab` (the first `digits` hex digits, 12 by default), or `-`. */
export function shortVersion(version: string | null | undefined, digits = 12): string {
  return version ? version.slice(0, 'sha256:'.length + digits) : '-';
}

/**
 * The fewest hex digits (at least 12) that tell all distinct `versions` apart, so every short
 * version printed is one `snapshots get|diff` accepts.
 */
export function uniquePrefixDigits(versions: readonly string[]): number {
  const distinct = [...new Set(versions.map((version) => version.replace(/^sha256:/, '')))];
  for (let digits = 12; digits < 64; digits++) {
    if (new Set(distinct.map((hex) => hex.slice(0, digits))).size === distinct.length) return digits;
  }
  return 64;
}
