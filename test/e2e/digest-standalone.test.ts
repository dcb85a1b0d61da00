/**
 * `auth-type: digest` through `portico standalone` as users run it, with two worker processes: a
 * challenge from one connection is answered on fresh connections (the kernel spreads them over the
 * workers); `curl --digest` logs in when the machine has curl; changing the password in the
 * Secret's htdigest file (a manifest edit, no restart) makes nonces issued for the old file
 * worthless and the new password work.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digestHa1, digestResponse } from '@portico/control/snapshot/policies/digest-auth';
import { eventually } from '../support/kubectl.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, startBackend, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const REALM = 'edge';

function manifests(backendPort: number, password: string): string {
  const htdigest = `alice:${REALM}:${digestHa1('alice', REALM, password)}\n`;
  return [
    'apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: web}\nspec: {ports: [{port: 80}]}\n',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: app-1, namespace: web, labels: {kubernetes.io/service-name: app}}\naddressType: IPv4\nports: [{port: ${backendPort}}]\nendpoints: [{addresses: [127.0.0.1]}]\n`,
    `apiVersion: v1\nkind: Secret\nmetadata: {name: users, namespace: web}\ntype: Opaque\ndata: {auth: ${Buffer.from(htdigest).toString('base64')}}\n`,
    `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: app\n  namespace: web\n  annotations: {nginx.ingress.kubernetes.io/auth-type: digest, nginx.ingress.kubernetes.io/auth-secret: users, nginx.ingress.kubernetes.io/auth-realm: ${REALM}}\nspec:\n  rules:\n  - host: digest.test\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}\n`,
  ].join('---\n');
}

/** One GET on a new connection: status and WWW-Authenticate. */
function get(port: number, path: string, authorization?: string): Promise<{ status: number; challenge: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 10_000, headers: { Host: 'digest.test', ...(authorization === undefined ? {} : { Authorization: authorization }) } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'], body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.end();
  });
}

function answer(challenge: string | undefined, uri: string, password: string, nc: number): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge ?? '')![1]!;
  const count = nc.toString(16).padStart(8, '0');
  const response = digestResponse(digestHa1('alice', REALM, password), 'GET', { nonce, nc: count, cnonce: '0a4f113b', uri });
  return `Digest username="alice", realm="${REALM}", nonce="${nonce}", uri="${uri}", qop=auth, nc=${count}, cnonce="0a4f113b", response="${response}"`;
}

describe('digest auth through portico standalone with two workers', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let backendPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-digest-'));
    backendPort = await freePort();
    children.push(await startBackend(backendPort));
    await writeFile(join(dir, 'app.yaml'), manifests(backendPort, 'first'));
    const started = await startStandalone(dir, join(dir, 'data'), { token: TOKEN, workers: 2, https: false });
    children.push(started.child);
    ports = started.ports;
  }, 120_000);

  afterAll(async () => {
    await stopAll(children, dir);
  });

  it('one challenge, answered on twelve fresh connections with successive nc: all 200', async () => {
    const first = await get(ports.http, '/');
    expect(first.status).toBe(401);
    expect(first.challenge).toMatch(/^Digest realm="edge", qop="auth", algorithm=MD5, nonce="[0-9a-f]{60}"$/);
    const statuses: number[] = [];
    for (let nc = 1; nc <= 12; nc++) statuses.push((await get(ports.http, `/p${nc}`, answer(first.challenge, `/p${nc}`, 'first', nc))).status);
    expect(statuses).toEqual(Array(12).fill(200));
  });

  it('curl --digest logs in (when the machine has curl)', async () => {
    const result = await new Promise<{ missing: boolean; stdout: string }>((resolve) => {
      execFile('curl', ['--silent', '--max-time', '10', '--digest', '-u', 'alice:first', '-H', 'Host: digest.test', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${ports.http}/curl?x=1`], { timeout: 15_000 }, (error, stdout) => {
        resolve({ missing: (error as NodeJS.ErrnoException | null)?.code === 'ENOENT', stdout });
      });
    });
    if (result.missing) return;
    expect(result.stdout).toBe('200');
  });

  it('a new password in the Secret: served without a restart; nonces of the old file are refused, the new password works', async () => {
    const old = await get(ports.http, '/');
    await writeFile(join(dir, 'app.yaml'), manifests(backendPort, 'second'));
    // Until the edit is served the old password still works; once it is, a fresh challenge takes the new one.
    await eventually(async () => {
      const fresh = await get(ports.http, '/');
      expect((await get(ports.http, '/n', answer(fresh.challenge, '/n', 'second', 1))).status).toBe(200);
      return true;
    }, 20_000, 'the new password to be served');
    // The old nonce was keyed to the old file: refused even with the new password (a new challenge, not stale).
    const refused = await get(ports.http, '/o', answer(old.challenge, '/o', 'second', 1));
    expect(refused.status).toBe(401);
    expect(refused.challenge).not.toContain('stale');
  }, 60_000);
});
