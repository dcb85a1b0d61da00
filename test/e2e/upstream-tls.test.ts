/**
 * The walkthrough's dashboard speaking TLS (issue 12's check), through `portico standalone` as a
 * process: the Rook dashboard manifest with `backend-protocol: HTTPS`, verified against a CA
 * Secret (`proxy-ssl-secret`, `proxy-ssl-verify: on`) and named by its Service DNS name; the same
 * backend under an FCGI backend-protocol is refused (503) with a condition naming it; the export
 * never shows a client key.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { controlTlsSecret } from '../support/control-tls.ts';
import { eventually } from '../support/kubectl.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, getWithHost as get, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const HOST = 'k8s-ceph-dashboard.calmkart.com';
const dashboardYaml = readFileSync(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');

function base64(text: string): string {
  return Buffer.from(text).toString('base64');
}

describe('HTTPS to the dashboard backend, through portico standalone', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let backend: Server;
  let handshakes = 0;
  const servernames: (string | false)[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-upstream-tls-'));
    const pki = controlTlsSecret(['rook-ceph-mgr-dashboard.rook-ceph.svc']);
    backend = createServer({ cert: pki['tls.crt'], key: pki['tls.key'] }, (request, response) => response.end(`dashboard over TLS ${request.url}`));
    backend.on('secureConnection', (socket: TLSSocket) => {
      handshakes++;
      servernames.push(socket.servername ?? false);
    });
    const backendPort = await freePort();
    await new Promise<void>((resolve) => backend.listen(backendPort, '127.0.0.1', resolve));
    // The walkthrough manifest, the dashboard's Service port 8443 now spoken to in HTTPS.
    const manifest = dashboardYaml
      .replace('nginx.ingress.kubernetes.io/ssl-redirect: "false"', ['nginx.ingress.kubernetes.io/ssl-redirect: "false"', 'nginx.ingress.kubernetes.io/backend-protocol: HTTPS', 'nginx.ingress.kubernetes.io/proxy-ssl-verify: "on"', 'nginx.ingress.kubernetes.io/proxy-ssl-server-name: "on"', 'nginx.ingress.kubernetes.io/proxy-ssl-secret: rook-ceph/dashboard-ca'].join('\n    '))
      .replace('port: 18443', `port: ${backendPort}`);
    const secret = `apiVersion: v1\nkind: Secret\nmetadata: {name: dashboard-ca, namespace: rook-ceph}\ntype: Opaque\ndata: {ca.crt: ${base64(pki['ca.crt'])}, password: ${base64('not-for-portico')}}\n`;
    const fcgi = `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: dashboard-fcgi\n  namespace: rook-ceph\n  annotations: {nginx.ingress.kubernetes.io/backend-protocol: FCGI}\nspec:\n  ingressClassName: portico\n  rules:\n  - host: fcgi.calmkart.com\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: rook-ceph-mgr-dashboard, port: {number: 8443}}}}]}\n`;
    await writeFile(join(dir, 'dashboard.yaml'), [manifest, secret, fcgi].join('\n---\n'));
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, https: false });
    children.push(portico.child);
    ports = portico.ports;
  }, 90_000);

  afterAll(async () => {
    await stopAll(children);
    await new Promise<void>((resolve) => {
      backend.closeAllConnections();
      backend.close(() => resolve());
    });
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches the dashboard over verified TLS with SNI, reusing one TLS connection for keep-alive traffic', async () => {
    const first = await eventually(async () => {
      const r = await get(ports.http, HOST, '/');
      return r.status === 200 ? r : undefined;
    }, 10_000, 'dashboard over TLS');
    expect(first.body).toBe('dashboard over TLS /');
    for (let i = 0; i < 20; i++) expect((await get(ports.http, HOST, `/api/${i}`)).status).toBe(200);
    // Each client request came on its own connection (agent: false); the data plane's pool kept one TLS socket.
    expect(handshakes).toBe(1);
    expect(servernames).toEqual(['rook-ceph-mgr-dashboard.rook-ceph.svc']);
  });

  it('refuses backend-protocol FCGI: 503, and a condition naming the annotation', async () => {
    expect((await get(ports.http, 'fcgi.calmkart.com', '/')).status).toBe(503);
    const current = (await (await fetch(`http://127.0.0.1:${ports.api}/v1/snapshots/current`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { conditions: { source: { name: string }; reason: string; field: string; message: string }[] };
    const refused = current.conditions.find((c) => c.source.name === 'dashboard-fcgi');
    expect(refused).toMatchObject({ reason: 'UnsupportedBackendProtocol', field: "metadata.annotations['nginx.ingress.kubernetes.io/backend-protocol']" });
    expect(refused?.message).toMatch(/FCGI is not supported/);
    expect(handshakes).toBe(1);
  });
});
