/**
 * Preload (`node --import <this file>`) that writes every module URL the process resolves to
 * $PORTICO_LOADED_MODULES as `pid url` lines: tests use it to prove a command or worker does not load
 * code it never runs.
 */
import { appendFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const out = process.env.PORTICO_LOADED_MODULES;
if (out !== undefined && out !== '') {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      appendFileSync(out, `${process.pid} ${resolved.url}\n`);
      return resolved;
    },
  });
}
