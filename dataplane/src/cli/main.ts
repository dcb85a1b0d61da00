#!/usr/bin/env node
/**
 * The `portico` bin, the one entry point of every command (`npx portico`, the npm scripts, the
 * image's ENTRYPOINT). It lives here, at the top of the package graph (dataplane depends on
 * control), so standalone can compose both; each command's modules load only when it runs.
 */
import { readFileSync } from 'node:fs';
import { CONTROL_COMMANDS, runCli } from '@portico/control/cli';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const code = await runCli(
  process.argv.slice(2),
  [
    ...CONTROL_COMMANDS,
    { name: 'dataplane', summary: 'run the edge-node proxy, following snapshots from the control plane', load: async () => (await import('./dataplane.ts')).dataplaneCommand },
    { name: 'standalone', summary: 'run control plane and data plane in one process on a manifest directory (no cluster)', load: async () => (await import('./standalone.ts')).standaloneCommand },
  ],
  version,
);
// A command that returned is done: exit now, so nothing a library left open (a worker thread's
// port, a timer) keeps a stopped server alive until the kubelet's SIGKILL. Writes to a pipe are
// not synchronous (`portico snapshot | jq` lost all but the first 64 KiB): an empty write's
// callback runs once everything written before it is flushed (or the reader is gone).
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
process.exit(code);
