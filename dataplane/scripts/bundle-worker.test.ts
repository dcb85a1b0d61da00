import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WorkerBundle } from './bundle-worker.ts';
import { bundleWorker } from './bundle-worker.ts';

// What a data-plane worker loads is what every edge node pays once per worker (docs/dataplane.md,
// "What a worker loads"). These hold the module graph of the real entry, bundled as `npm run build` does.
describe('the worker bundle', () => {
  let dir: string;
  let bundle: WorkerBundle;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-worker-bundle-'));
    bundle = await bundleWorker(join(dir, 'worker.js'));
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('imports no package: no zod (schemas are the control plane\'s), no pino, no metrics library', () => {
    const packages = [...bundle.code.matchAll(/^import .* from "([^"]+)";$/gm)].map((match) => match[1]);
    expect(packages).toEqual([]);
    for (const heavy of ['zod', 'pino', 'prom-client', 'hono', 'yaml', '@kubernetes/client-node']) expect(bundle.code).not.toMatch(new RegExp(`from "${heavy}"|import\\("${heavy}"\\)`));
    // selfsigned is required only on the short-lived thread that makes a default certificate, which a worker is handed and never makes.
    expect([...bundle.code.matchAll(/\bimport\("([^"]+)"\)/g)].map((match) => match[1])).toEqual([]);
  });

  it('takes Node\'s built-in modules through process.getBuiltinModule, never an ESM import (which would load undici, webcrypto, readline)', () => {
    expect(bundle.code).not.toMatch(/^import .* from "node:/m);
    expect(bundle.code).toMatch(/^const \{[^}]*\bconnect\b[^}]*\} = process\.getBuiltinModule\("node:net"\);$/m);
    // The auth-url subrequest goes through the upstream client: a worker has no use for node:http(s).
    expect(bundle.code).not.toMatch(/getBuiltinModule\("node:https?"\)/);
  });

  it('holds the policy modules\' steps but not the file that builds their schemas', () => {
    expect(bundle.inputs).toContain('../control/src/snapshot/policies/registry.ts');
    expect(bundle.inputs).not.toContain('../control/src/snapshot/policies/schema.ts');
    expect(bundle.inputs).not.toContain('../control/src/snapshot/schema.ts');
    expect(bundle.inputs.filter((input) => input.includes('node_modules'))).toEqual([]);
  });

  it('carries no comments and no character past Latin-1 (the source stays in every worker\'s heap, as UTF-16 if one needs it)', () => {
    expect(bundle.code).not.toMatch(/^\s*\/\*\*/m);
    expect(bundle.code).not.toMatch(/[\u0100-\uffff]/);
  });

  it('loads re2js only when a table has a regex to compile', () => {
    expect(bundle.code).not.toMatch(/^import .* from "re2js";$/m);
    expect(bundle.code).toMatch(/createRequire\(import\.meta\.url\)\("re2js"\)/);
  });
});
