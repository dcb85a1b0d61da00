/**
 * Standalone authentication: one bearer token. It comes from `PORTICO_API_TOKEN`, else
 * `--api-token-file`, else `<data-dir>/api-token`, which is generated (32 random bytes,
 * base64url, mode 0600) on the first start; the composition root prints a generated token once.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PorticoError } from '../errors.ts';
import type { ApiAction, Authenticator, Decision, Principal } from './types.ts';

/** The token file name inside `--data-dir`. */
export const API_TOKEN_FILE = 'api-token';

/** Where the token came from; `generated` means it was just created and should be shown once. */
export interface ApiToken {
  readonly token: string;
  readonly source: 'env' | 'file' | 'data-dir' | 'generated';
  /** The file it was read from or written to, if any. */
  readonly path?: string;
}

function checked(token: string, where: string): string {
  const trimmed = token.trim();
  if (trimmed.length < 16 || /\s/.test(trimmed)) throw new PorticoError('PORTICO_E_USAGE', `the API token from ${where} must be at least 16 characters without whitespace`);
  return trimmed;
}

/**
 * Resolves the standalone API token. Throws PORTICO_E_USAGE for a too-short token or an unreadable
 * `tokenFile`; PORTICO_E_STORE when the data directory cannot hold a generated one.
 */
export async function loadApiToken(options: { env?: string | undefined; tokenFile?: string | undefined; dataDir: string }): Promise<ApiToken> {
  if (options.env !== undefined && options.env !== '') return { token: checked(options.env, 'PORTICO_API_TOKEN'), source: 'env' };
  if (options.tokenFile !== undefined) {
    let text: string;
    try {
      text = await readFile(options.tokenFile, 'utf8');
    } catch (cause) {
      throw new PorticoError('PORTICO_E_USAGE', `cannot read --api-token-file ${options.tokenFile}: ${(cause as Error).message}`, { cause });
    }
    return { token: checked(text, options.tokenFile), source: 'file', path: options.tokenFile };
  }
  const path = join(options.dataDir, API_TOKEN_FILE);
  try {
    return { token: checked(await readFile(path, 'utf8'), path), source: 'data-dir', path };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const token = randomBytes(32).toString('base64url');
  try {
    await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    // 'wx': two processes starting at once cannot both generate; the loser reads the winner's token.
    const handle = await open(path, 'wx', 0o600);
    await handle.writeFile(`${token}\n`);
    await handle.sync();
    await handle.close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { token: checked(await readFile(path, 'utf8'), path), source: 'data-dir', path };
    throw new PorticoError('PORTICO_E_STORE', `cannot write the API token to ${path}: ${(error as Error).message}`, { cause: error });
  }
  return { token, source: 'generated', path };
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** One shared token that may do everything (standalone: one operator, one process). */
export class StaticTokenAuthenticator implements Authenticator {
  readonly kind = 'static-token';
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  async authenticate(token: string): Promise<Principal | undefined> {
    // Comparing digests keeps the comparison constant-time whatever the token lengths.
    if (!timingSafeEqual(digest(token), this.expected)) return undefined;
    return { username: 'portico-api-token', dataPlane: false, token };
  }

  async authorize(_principal: Principal, _action: ApiAction): Promise<Decision> {
    return { allowed: true };
  }
}
