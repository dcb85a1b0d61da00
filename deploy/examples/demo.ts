/**
 * `npm start`: the classic walkthrough without a cluster. Starts the demo backend and
 * `portico standalone` on deploy/examples/, waits until they serve, and prints what to try.
 * Ctrl-C stops both.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const here = new URL('.', import.meta.url).pathname;
const cli = new URL('../../dataplane/src/cli/main.ts', import.meta.url).pathname;
const backend = spawn(process.execPath, [`${here}demo-backend.ts`], { stdio: 'inherit' });
const portico = spawn(process.execPath, [cli, 'standalone', '--manifests', here, '--data-dir', '.portico', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] });

let printed = false;
portico.stdout.on('data', (chunk: Buffer) => {
  process.stdout.write(chunk);
  if (!printed && chunk.toString().includes('standalone ready')) {
    printed = true;
    void sleep(100).then(() =>
      process.stdout.write(`
Portico is serving deploy/examples/ (the Rook/Ceph dashboard Ingress) on http://127.0.0.1:8080.
Try:

  curl -H 'Host: k8s-ceph-dashboard.calmkart.com' http://127.0.0.1:8080/

Ask Portico why:   npx portico explain --manifests deploy/examples --host k8s-ceph-dashboard.calmkart.com --path /
Edit deploy/examples/dashboard.yaml and the change is served within a second. Ctrl-C stops.

`),
    );
  }
});

const stop = () => {
  portico.kill('SIGTERM');
  backend.kill('SIGTERM');
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
backend.on('exit', (code) => {
  if (code !== 0 && code !== null) portico.kill('SIGTERM');
});
portico.on('exit', (code) => {
  backend.kill('SIGTERM');
  process.exitCode = code ?? 0;
});
