import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState } from '../../state/cluster-state.ts';
import type { ManifestProblem } from './parse.ts';
import { ManifestSource } from './watch.ts';

const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: web }\nspec: { ports: [{ port: 80 }] }\n`;

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ManifestSource', () => {
  let source: ManifestSource | undefined;
  afterEach(() => source?.stop());

  it('follows file edits, additions and deletions, and keeps a broken file’s last good objects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    const state = new ClusterState();
    let changes = 0;
    let problems: readonly ManifestProblem[] = [];
    source = new ManifestSource(state, { path: dir, onChange: () => changes++, onProblems: (p) => (problems = p), debounceMs: 10 });
    await source.start();
    expect([...state.services.keys()]).toEqual(['web/a']);

    await writeFile(join(dir, 'b.yaml'), service('b'));
    await until(() => state.services.has('web/b'), 'b added');

    await writeFile(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: [');
    await until(() => problems.length > 0, 'a broken');
    expect(problems[0]).toMatchObject({ file: 'a.yaml', code: 'PORTICO_E_MANIFEST_PARSE' });
    expect(state.services.has('web/a')).toBe(true);

    await writeFile(join(dir, 'a.yaml'), service('a2'));
    await until(() => state.services.has('web/a2') && !state.services.has('web/a'), 'a fixed and renamed');
    expect(problems).toEqual([]);

    await rm(join(dir, 'b.yaml'));
    await until(() => !state.services.has('web/b'), 'b removed');
    expect(changes).toBeGreaterThanOrEqual(4);
  });
});
