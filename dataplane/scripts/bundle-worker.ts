/**
 * Build step: bundles the data-plane worker (src/worker-entry.ts and everything it imports) into
 * one plain JavaScript file, build/worker.js. A worker then starts without Node's TypeScript
 * stripping (its wasm and per-file transforms cost tens of MB in every worker) and parses one
 * file. build/worker.inputs.json lists the sources, so serve.ts can tell a stale bundle.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { build } from 'rolldown';

const here = new URL('..', import.meta.url).pathname;
const out = resolve(here, 'build/worker.js');
mkdirSync(dirname(out), { recursive: true });

const result = await build({
  input: resolve(here, 'src/worker-entry.ts'),
  platform: 'node',
  logLevel: 'warn',
  write: true,
  // Only Portico's TypeScript needs bundling; packages from node_modules load as they are.
  external: (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('@portico/') && !id.startsWith('\0'),
  output: { file: out, format: 'esm' },
  plugins: [
    {
      // `new URL('x', import.meta.url)` in a source means x beside that source: keep pointing there.
      name: 'source-relative-urls',
      transform(code, id) {
        if (!code.includes('import.meta.url')) return null;
        const rewritten = code.replace(/new URL\((['"])(\.{1,2}\/[^'"]+)\1, import\.meta\.url\)/g, (_match, _quote, path: string) => {
          const target = relative(dirname(out), resolve(dirname(id), path));
          return `new URL(${JSON.stringify(target.startsWith('.') ? target : `./${target}`)}, import.meta.url)`;
        });
        return rewritten === code ? null : { code: rewritten };
      },
    },
  ],
});
const inputs = result.output.flatMap((chunk) => ('moduleIds' in chunk ? chunk.moduleIds : [])).filter((id) => !id.startsWith('\0'));
writeFileSync(resolve(here, 'build/worker.inputs.json'), `${JSON.stringify(inputs.map((id) => relative(here, id)), null, 1)}\n`);
process.stdout.write(`bundled ${inputs.length} modules into ${relative(process.cwd(), out)}\n`);
