/**
 * Build step: bundles the data-plane worker (src/worker-entry.ts and everything it imports) into
 * one plain JavaScript file, build/worker.js. A worker then starts without Node's TypeScript
 * stripping (its wasm and per-file transforms cost tens of MB in every worker) and parses one
 * file. build/worker.inputs.json lists the sources, so serve.ts can tell a stale bundle.
 *
 * Three things keep an idle worker small (docs/dataplane.md, "What a worker loads"): comments are
 * left out and the few characters past Latin-1 escaped (V8 keeps the source in the worker's heap
 * for lazy compilation, as UTF-16 when one character needs it), and Node's built-in modules are taken with
 * `process.getBuiltinModule` instead of `import`: an ESM import of `node:http` evaluates every
 * export of the module, and so loads undici (for `http.WebSocket`), webcrypto (`crypto.subtle`)
 * and readline (`fs.promises`), about 6 MiB a worker never uses.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { build } from 'rolldown';

const here = new URL('..', import.meta.url).pathname;

/** `import { a, b as c } from "node:x";` (or a default or namespace import) in rolldown's output. */
const BUILTIN_IMPORT = /^import (\{[^}]*\}|[\w$]+|\* as [\w$]+) from "(node:[\w/]+)";$/gm;

/** The bundle and the sources (paths relative to dataplane/) it was made from. */
export interface WorkerBundle {
  readonly code: string;
  readonly inputs: readonly string[];
}

/**
 * Bundles src/worker-entry.ts into `out` (written, folders made), pointing `new URL('…', import.meta.url)` of
 * every source at the same file from `out`'s folder. Packages from node_modules stay imports.
 * Rejects with rolldown's error when a source does not parse or an import does not resolve.
 */
export async function bundleWorker(out: string): Promise<WorkerBundle> {
  mkdirSync(dirname(out), { recursive: true });
  const result = await build({
    input: resolve(here, 'src/worker-entry.ts'),
    platform: 'node',
    logLevel: 'warn',
    write: false,
    // Only Portico's TypeScript needs bundling; packages from node_modules load as they are.
    external: (id) => !id.startsWith('.') && !id.startsWith('/') && !id.startsWith('@portico/') && !id.startsWith('\0'),
    output: { file: out, format: 'esm', comments: false },
    plugins: [
      {
        name: 'builtins-without-namespace',
        renderChunk(code) {
          return code.replace(BUILTIN_IMPORT, (_match, bindings: string, name: string) => {
            const target = bindings.startsWith('{') ? bindings.replace(/ as /g, ': ') : bindings.replace('* as ', '');
            return `const ${target} = process.getBuiltinModule(${JSON.stringify(name)});`;
          });
        },
      },
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
  const chunk = result.output.find((output) => output.type === 'chunk');
  // One character past Latin-1 makes V8 hold the whole source as UTF-16, twice its size: escape the
  // few there are (they sit in string literals, where `\uXXXX` means the same). After rolldown,
  // whose code generator would write them back as they were.
  const code = (chunk?.code ?? '').replace(/[\u0100-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  writeFileSync(out, code);
  const inputs = result.output.flatMap((output) => ('moduleIds' in output ? output.moduleIds : [])).filter((id) => !id.startsWith('\0'));
  return { code, inputs: inputs.map((id) => relative(here, id)) };
}

if (import.meta.main) {
  const out = resolve(here, 'build/worker.js');
  const { inputs } = await bundleWorker(out);
  writeFileSync(resolve(here, 'build/worker.inputs.json'), `${JSON.stringify(inputs, null, 1)}\n`);
  process.stdout.write(`bundled ${inputs.length} modules into ${relative(process.cwd(), out)}\n`);
}
