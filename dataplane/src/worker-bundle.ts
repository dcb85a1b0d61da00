/**
 * Which script a data-plane worker process runs: the bundle `npm run build` makes
 * (scripts/bundle-worker.ts) or, without a fresh one, the TypeScript sources.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from './logging.ts';

/**
 * The script a worker runs: build/worker.js (one bundled JavaScript file, `npm run build`), so a
 * worker pays neither for Node's TypeScript stripping nor for parsing 40 files; the sources
 * (src/worker-entry.ts) when there is no bundle or a source it was built from changed since.
 */
export function workerEntry(logger?: Logger): string {
  const bundle = new URL('../build/worker.js', import.meta.url).pathname;
  const source = new URL('./worker-entry.ts', import.meta.url).pathname;
  try {
    const built = statSync(bundle).mtimeMs;
    const root = new URL('../', import.meta.url).pathname;
    const inputs = JSON.parse(readFileSync(new URL('../build/worker.inputs.json', import.meta.url), 'utf8')) as string[];
    const stale = inputs.find((input) => statSync(join(root, input)).mtimeMs > built);
    if (stale === undefined) return bundle;
    logger?.warn({ stale }, 'the worker bundle is older than its sources: workers run the sources (npm run build bundles them)');
  } catch {
    logger?.debug('no worker bundle: workers run the sources (npm run build bundles them)');
  }
  return source;
}

