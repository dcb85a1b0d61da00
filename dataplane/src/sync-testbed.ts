/**
 * The fixture the sync suites share: a real control API (test-support's testControl, listening on
 * loopback) with one Service whose endpoint is a local backend and one route, a fresh data
 * directory per test, and cleanup steps run after each test in reverse order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestControl } from '@portico/control/api/test-support';
import { listen, serviceWithEndpoints, testControl } from '@portico/control/api/test-support';
import { afterEach, beforeEach } from 'vitest';
import type { Backend } from './test-support.ts';
import { startBackend } from './test-support.ts';

/** A JSON POST. */
export const json = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** A REST API route for `host` (path `/` unless given) to Service web:80. */
export const route = (name: string, host: string, path = '/') => ({ name, hosts: [host], paths: [{ path, backends: [{ service: 'web', port: 80 }] }] });

/** Resolves with `check()` once it is neither undefined nor false; rejects after `timeoutMs`. */
export async function until<T>(check: () => T | undefined, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** What each test of a suite gets (fields are set before each test). */
export interface SyncTestbed {
  dataDir: string;
  backend: Backend;
  control: TestControl;
  server: Awaited<ReturnType<typeof listen>>;
  /** Steps run after the test, last first. */
  readonly cleanup: (() => Promise<void> | void)[];
}

/** Registers the fixture's hooks in the calling describe block and returns it. */
export function syncTestbed(prefix: string): SyncTestbed {
  const bed = { cleanup: [] } as unknown as SyncTestbed;
  beforeEach(async () => {
    bed.dataDir = await mkdtemp(join(tmpdir(), prefix));
    bed.backend = await startBackend((_request, response) => response.end('backend'));
    bed.control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['127.0.0.1'], bed.backend.port), syncTimeoutMs: 2000 });
    bed.server = await listen(bed.control.app);
    await bed.control.request('/v1/routes', json(route('first', 'first.example.com')));
  });
  afterEach(async () => {
    for (const step of bed.cleanup.splice(0).reverse()) await step();
    await bed.server.close();
    bed.control.close();
    await bed.backend.close();
    await rm(bed.dataDir, { recursive: true, force: true });
  });
  return bed;
}
