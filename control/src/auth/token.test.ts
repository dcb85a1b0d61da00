import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { API_TOKEN_FILE, StaticTokenAuthenticator, loadApiToken } from './token.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portico-token-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadApiToken', () => {
  it('prefers PORTICO_API_TOKEN, then --api-token-file', async () => {
    const file = join(dir, 'given');
    await writeFile(file, 'file-token-0123456789\n');
    expect(await loadApiToken({ env: 'env-token-0123456789', tokenFile: file, dataDir: dir })).toEqual({ token: 'env-token-0123456789', source: 'env' });
    expect(await loadApiToken({ tokenFile: file, dataDir: dir })).toEqual({ token: 'file-token-0123456789', source: 'file', path: file });
  });

  it('generates a token into the data directory once (mode 0600) and reads it back afterwards', async () => {
    const first = await loadApiToken({ dataDir: join(dir, 'data') });
    expect(first.source).toBe('generated');
    expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const path = join(dir, 'data', API_TOKEN_FILE);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
    expect((await readFile(path, 'utf8')).trim()).toBe(first.token);
    expect(await loadApiToken({ dataDir: join(dir, 'data') })).toEqual({ token: first.token, source: 'data-dir', path });
    const racing = await Promise.all([loadApiToken({ dataDir: join(dir, 'race') }), loadApiToken({ dataDir: join(dir, 'race') })]);
    expect(racing[0].token).toBe(racing[1].token);
  });

  it('refuses short tokens and unreadable files (PORTICO_E_USAGE)', async () => {
    await expect(loadApiToken({ env: 'short', dataDir: dir })).rejects.toMatchObject({ code: 'PORTICO_E_USAGE' });
    await expect(loadApiToken({ tokenFile: join(dir, 'missing'), dataDir: dir })).rejects.toMatchObject({ code: 'PORTICO_E_USAGE' });
  });
});

describe('StaticTokenAuthenticator', () => {
  it('knows exactly its token and allows it everything', async () => {
    const auth = new StaticTokenAuthenticator('the-one-token-0123456789');
    expect(await auth.authenticate('the-one-token-0123456789x')).toBeUndefined();
    expect(await auth.authenticate('')).toBeUndefined();
    const principal = (await auth.authenticate('the-one-token-0123456789'))!;
    expect(principal).toMatchObject({ username: 'portico-api-token', dataPlane: false });
    expect(await auth.authorize(principal, { kind: 'sync' })).toEqual({ allowed: true });
  });
});
