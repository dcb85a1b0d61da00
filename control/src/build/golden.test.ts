import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSnapshot } from '../compile/index.ts';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import { DEFAULT_CLASS_SELECTION } from './ingress-class.ts';
import { buildModel } from './index.ts';

const here = new URL('.', import.meta.url).pathname;
const cases = readdirSync(join(here, 'testdata')).sort();

function fingerprint(pem: string): string {
  return `<pem sha256:${createHash('sha256').update(pem).digest('hex').slice(0, 16)}>`;
}

// Golden files: testdata/<case>/in.yaml -> out.json (manifest problems, conditions, snapshot).
// Update with `vitest -u` and review the diff.
describe('build + compile golden files', () => {
  it.each(cases)('%s', async (name) => {
    const text = readFileSync(join(here, 'testdata', name, 'in.yaml'), 'utf8');
    const parsed = parseManifestText(text, 'in.yaml');
    const { model, conditions } = buildModel(ClusterState.from(parsed.objects), DEFAULT_CLASS_SELECTION);
    const snapshot = compileSnapshot(model);
    const readable = {
      ...snapshot,
      certificates: snapshot.certificates.map((c) => ({ ...c, certificatePem: fingerprint(c.certificatePem), privateKeyPem: fingerprint(c.privateKeyPem) })),
    };
    const out = JSON.stringify({ problems: parsed.problems, conditions, snapshot: readable }, null, 2) + '\n';
    await expect(out).toMatchFileSnapshot(join(here, 'testdata', name, 'out.json'));
  });
});
