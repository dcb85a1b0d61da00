import { parseAllDocuments } from 'yaml';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { API_BODY_LIMITS, parseYamlBounded } from './src/sources/manifests/bounded.ts';
import { testControl, TEST_TOKEN } from './src/api/test-support.ts';

function manyKeysYaml(bytes: number): string {
  const lines: string[] = ['name: many'];
  let size = 0;
  for (let i = 0; size < bytes; i++) { const line = `k${i}: ${i}`; lines.push(line); size += line.length + 1; }
  return lines.join('\n');
}
const mode = process.argv[2];
if (mode === 'old') {
  const kb = Number(process.argv[3]);
  const text = manyKeysYaml(kb * 1024);
  const t0 = performance.now();
  parseAllDocuments(text, { uniqueKeys: true, strict: true, prettyErrors: false })[0]!.toJS({ maxAliasCount: 50 });
  console.log(`old parser (uniqueKeys: true) on the event loop, ${kb} KB distinct keys: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
} else {
  for (const kb of [189, 1000]) {
    const text = manyKeysYaml(kb * 1024 - 1024);
    const t0 = performance.now();
    const r = parseYamlBounded(text, { ...API_BODY_LIMITS, maxKeys: 10_000_000 });
    console.log(`new bounded parser (no key limit) on the event loop, ${kb} KB distinct keys: ${((performance.now() - t0) / 1000).toFixed(3)} s, ok=${r[0]!.ok}`);
  }
  const control = await testControl({});
  for (const [name, body, type] of [['YAML ~1 MB distinct keys', manyKeysYaml(1000 * 1000), 'application/yaml'], ['JSON 1 MiB, 60k keys', `{${Array.from({ length: 60000 }, (_, i) => `"k${i}":${i}`).join(',')}}`, 'application/json'], ['JSON 100k deep', '{"a":'.repeat(100000) + '1' + '}'.repeat(100000), 'application/json']] as const) {
    const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();
    const t0 = performance.now();
    const res = await control.app.request('/v1/routes', { method: 'POST', headers: { authorization: `Bearer ${TEST_TOKEN}`, 'content-type': type }, body });
    const ms = performance.now() - t0; h.disable();
    console.log(`API ${name}: HTTP ${res.status} in ${ms.toFixed(0)} ms; event-loop max delay ${(h.max / 1e6).toFixed(1)} ms (p99 ${(h.percentile(99) / 1e6).toFixed(1)} ms)`);
  }
  control.close();
  process.exit(0);
}
