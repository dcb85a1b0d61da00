/**
 * Preload (`node --import <this file>`) that writes every module URL the process resolves to
 * $PORTICO_LOADED_MODULES as `pid url` lines, and at exit the Node built-ins it loaded as
 * `pid builtin:<name>` lines (internal ones included, such as `internal/deps/undici/undici`):
 * tests use it to prove a command or worker does not load code it never runs.
 */
// Not `import`: an ESM import of node:fs loads readline (for fs.promises), which would count as the process's own.
const { appendFileSync } = process.getBuiltinModule('node:fs');
const { registerHooks } = process.getBuiltinModule('node:module');

const out = process.env.PORTICO_LOADED_MODULES;
if (out !== undefined && out !== '') {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      appendFileSync(out, `${process.pid} ${resolved.url}\n`);
      return resolved;
    },
  });
  process.on('exit', () => {
    const list = (process as unknown as { moduleLoadList: readonly string[] }).moduleLoadList;
    appendFileSync(out, list.filter((entry) => entry.startsWith('NativeModule ')).map((entry) => `${process.pid} builtin:${entry.slice('NativeModule '.length)}\n`).join(''));
  });
}
