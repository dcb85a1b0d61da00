/**
 * The sync channel over TLS (issue 9 row 9), as processes: `portico dataplane` syncs from a
 * control API served over HTTPS with a certificate signed by a test CA (made with the openssl
 * commands docs/control-api.md gives), refuses a control API whose certificate another CA signed,
 * and refuses — before listening or connecting anywhere — to send its token over plain HTTP to a
 * non-loopback address. The CLI client follows the same rules.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { TestControl } from '@portico/control/api/test-support';
import { TEST_TOKEN, serviceWithEndpoints, testControl } from '@portico/control/api/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = new URL('./cli/main.ts', import.meta.url).pathname;

/** A CA and a server certificate it signed for `names`, as the docs generate them. */
function makeCertificates(dir: string, prefix: string, names: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(dir, `${prefix}-${name}`);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-subj', '/CN=portico-control-ca', '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=portico-control', '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('ext.cnf'), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '825', '-extfile', file('ext.cnf'), '-out', file('tls.crt')]);
  return { ca: file('ca.crt'), cert: file('tls.crt'), key: file('tls.key') };
}

interface Exit {
  code: number;
  output: string;
}

/** Runs portico until it prints `text` (or `text()` holds; then SIGTERM) or exits; bounded by `timeoutMs`. */
function runUntil(args: string[], text: string | RegExp | (() => boolean), timeoutMs = 20_000): Promise<Exit & { matched: boolean }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [bin, ...args], { env: { ...process.env, PORTICO_API_TOKEN: TEST_TOKEN }, timeout: timeoutMs, killSignal: 'SIGTERM' });
    let output = '';
    let matched = false;
    const check = () => {
      if (!matched && (typeof text === 'string' ? output.includes(text) : typeof text === 'function' ? text() : text.test(output))) {
        matched = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout!.on('data', (chunk: Buffer) => ((output += chunk.toString()), check()));
    child.stderr!.on('data', (chunk: Buffer) => ((output += chunk.toString()), check()));
    const poll = typeof text === 'function' ? setInterval(check, 50) : undefined;
    child.on('exit', (code) => {
      clearInterval(poll);
      resolve({ code: code ?? -1, output, matched });
    });
  });
}

describe('sync channel security', () => {
  let dir: string;
  let control: TestControl;
  let server: ReturnType<typeof serve>;
  let port: number;
  let good: { ca: string; cert: string; key: string };
  let other: { ca: string; cert: string; key: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-control-tls-'));
    good = makeCertificates(dir, 'good', 'DNS:localhost,IP:127.0.0.1');
    other = makeCertificates(dir, 'other', 'DNS:localhost,IP:127.0.0.1');
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']) });
    server = serve({ fetch: control.app.fetch, hostname: '127.0.0.1', port: 0, createServer: createHttpsServer, serverOptions: { cert: readFileSync(good.cert), key: readFileSync(good.key) } });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    port = (server.address() as AddressInfo).port;
  }, 30_000);

  afterAll(async () => {
    server?.close();
    control?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const dataplane = (control: string, ...extra: string[]) => ['dataplane', '--control', control, '--node', 'edge-tls', '--data-dir', join(dir, `dp-${Math.random().toString(36).slice(2)}`), '--workers', '1', '--http-port', '0', '--https-port', 'off', '--admin-port', '0', '--address', '127.0.0.1', '--no-access-log', ...extra];

  it('syncs over HTTPS, verifying the control API against --control-ca, and ACKs', async () => {
    const acked = () => control.nodes.list().some((node) => node.name === 'edge-tls' && node.appliedVersion !== null);
    const run = await runUntil(dataplane(`https://localhost:${port}`, '--control-ca', good.ca), acked);
    expect(run.matched, run.output.slice(-2000)).toBe(true);
    expect(run.output).toContain('snapshot applied');
    expect(control.nodes.list().find((node) => node.name === 'edge-tls')).toMatchObject({ appliedVersion: control.history.current()!.snapshot.version });
  }, 30_000);

  it('refuses a control API whose certificate another CA signed', async () => {
    const run = await runUntil(dataplane(`https://127.0.0.1:${port}`, '--control-ca', other.ca), /control plane unreachable/);
    expect(run.matched, run.output.slice(-2000)).toBe(true);
    expect(run.output).toMatch(/unable to verify the first certificate|self.signed certificate|certificate/i);
    expect(run.output).not.toContain('snapshot applied');
  }, 30_000);

  it('refuses plain HTTP to a non-loopback control URL before listening or connecting, unless a flag says so', async () => {
    const run = await runUntil(dataplane('http://10.1.33.159:9080'), 'never printed', 15_000);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain('refusing to send a bearer token over plain HTTP to 10.1.33.159:9080');
    expect(run.output).toContain('--allow-insecure-http');
    expect(run.output).not.toContain('control plane unreachable'); // it never tried
  }, 20_000);

  it('the CLI client: https with --control-ca works, plain HTTP beyond loopback is refused', async () => {
    const list = await runUntil(['routes', 'list', '--json', '--control', `https://127.0.0.1:${port}`, '--control-ca', good.ca], 'never printed');
    expect(list.code, list.output).toBe(0);
    expect(JSON.parse(list.output)).toEqual({ items: [] });
    const wrongCa = await runUntil(['routes', 'list', '--control', `https://127.0.0.1:${port}`, '--control-ca', other.ca], 'never printed');
    expect(wrongCa.code).not.toBe(0);
    expect(wrongCa.output).toMatch(/cannot reach the control API/);
    const refused = await runUntil(['routes', 'list', '--control', 'http://192.0.2.1:9080'], 'never printed', 15_000);
    expect(refused.code).not.toBe(0);
    expect(refused.output).toContain('refusing to send a bearer token over plain HTTP to 192.0.2.1:9080');
  }, 30_000);

  it('portico control refuses a certificate without its key, or a key that does not match, before starting', async () => {
    const alone = await runUntil(['control', '--tls-cert', good.cert, '--kubeconfig', join(dir, 'none')], 'never printed', 15_000);
    expect(alone.code).not.toBe(0);
    expect(alone.output).toContain('--tls-cert and --tls-key go together');
    const mismatched = await runUntil(['control', '--tls-cert', good.cert, '--tls-key', other.key, '--kubeconfig', join(dir, 'none')], 'never printed', 15_000);
    expect(mismatched.code).not.toBe(0);
    expect(mismatched.output).toMatch(/are not a usable pair/);
  }, 30_000);
});
