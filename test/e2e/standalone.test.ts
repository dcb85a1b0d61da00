import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import { startLoad } from '../support/load.ts';
import { metricValue, parseMetrics } from '../support/metrics.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { BACKEND, PORTICO, freePort, getWithHost as get, start, startStandalone } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const dashboard = await readFile(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');

/** The walkthrough's Ingress and Service, with one EndpointSlice per backend port (loopback is fine offline). */
function manifests(backendPorts: readonly number[]): string {
  const head = dashboard.slice(0, dashboard.indexOf('---\napiVersion: discovery.k8s.io/v1'));
  const slices = backendPorts.map((port, i) => `---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: demo-${i}\n  namespace: rook-ceph\n  labels: { kubernetes.io/service-name: rook-ceph-mgr-dashboard }\naddressType: IPv4\nports: [{ name: https-dashboard, port: ${port} }]\nendpoints: [{ addresses: ["127.0.0.1"] }]\n`);
  return head + slices.join('');
}

/** An extra Ingress for `host`, routed to the walkthrough's Service. */
function extraIngress(name: string, host: string): string {
  return `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: ${name}, namespace: rook-ceph }\nspec:\n  rules:\n    - host: ${host}\n      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: rook-ceph-mgr-dashboard, port: { number: 8443 } } } }] }\n`;
}

describe('portico standalone, as processes', () => {
  const children: Child[] = [];
  let dir: string;
  let backendPorts: number[];
  let ports: StandalonePorts;
  let portico: Child;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-standalone-'));
    backendPorts = [await freePort(), await freePort()];
    for (const port of backendPorts) {
      const backend = start(BACKEND, [String(port), '127.0.0.1']);
      children.push(backend);
      await backend.waitFor('listening');
    }
    await writeFile(join(dir, 'dashboard.yaml'), manifests([backendPorts[0]!]));
    ({ child: portico, ports } = await startStandalone(dir, join(dir, 'data'), { token: TOKEN, workers: 2 }));
    children.push(portico);
  }, 90_000);

  afterAll(async () => {
    for (const child of children.reverse()) await child.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the walkthrough from two workers on one port, with aggregated metrics', async () => {
    for (let i = 0; i < 20; i++) {
      const { status, body } = await get(ports.http, 'k8s-ceph-dashboard.calmkart.com', `/r${i}`);
      expect(status).toBe(200);
      expect(JSON.parse(body).served_by).toBe(`127.0.0.1:${backendPorts[0]}`);
    }
    expect(await metricValue(`http://127.0.0.1:${ports.admin}/metrics`, 'portico_requests_total')).toBe(20);
    // One snapshot, swapped in once by each worker (one series per worker, never summed).
    const swaps = parseMetrics(await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text()).get('portico_snapshot_swaps_total');
    expect(swaps?.samples.map((s) => s.value)).toEqual([1, 1]);
  });

  it('serves file edits within a second while a bounded load runs, with zero failed requests', async () => {
    const load = startLoad({ port: ports.http, target: () => ({ hostHeader: 'k8s-ceph-dashboard.calmkart.com', path: '/load' }), concurrency: 4, maxMs: 60_000 });
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Alternate between one and two endpoints, and add a host; each edit must be served within 1 s.
      const both = i % 2 === 0;
      const extraHost = `edit-${i}.example.com`;
      await writeFile(join(dir, 'dashboard.yaml'), manifests(both ? backendPorts : [backendPorts[0]!]));
      await writeFile(join(dir, 'extra.yaml'), extraIngress('extra', extraHost));
      const written = performance.now();
      await eventually(async () => ((await get(ports.http, extraHost, '/')).status === 200 ? true : undefined), 1000, `edit ${i} served`);
      latencies.push(performance.now() - written);
    }
    const report = await load.stop();
    console.log(`standalone: 10 file edits served in ${latencies.map((l) => Math.round(l)).join(', ')} ms; load ${report.requests} requests, ${report.failed} failed`);
    expect(report.failed, JSON.stringify(report)).toBe(0);
    expect(report.requests).toBeGreaterThan(100);
  }, 60_000);

  it('serves a route written through the REST API from a separate data-plane process within 1 s, under load, with zero failures', async () => {
    const dataDir = join(dir, 'dp');
    const dpPorts = { http: await freePort(), admin: await freePort() };
    const dataplane = start(PORTICO, ['dataplane', '--allow-loopback-endpoints', '--control', `http://127.0.0.1:${ports.api}`, '--node', 'edge-test', '--data-dir', dataDir, '--workers', '1', '--http-port', String(dpPorts.http), '--https-port', 'off', '--admin-port', String(dpPorts.admin), '--no-access-log'], { PORTICO_API_TOKEN: TOKEN });
    children.push(dataplane);
    await eventually(async () => ((await get(dpPorts.http, 'k8s-ceph-dashboard.calmkart.com', '/')).status === 200 ? true : undefined), 20_000, 'data plane synced');
    const load = startLoad({ port: dpPorts.http, target: () => ({ hostHeader: 'k8s-ceph-dashboard.calmkart.com', path: '/load' }), concurrency: 4, maxMs: 60_000 });
    const ingress = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'via-api', namespace: 'rook-ceph' },
      spec: { rules: [{ host: 'api-made.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'rook-ceph-mgr-dashboard', port: { number: 8443 } } } }] } }] },
    };
    const response = await fetch(`http://127.0.0.1:${ports.api}/v1/routes`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(ingress) });
    expect(response.status, await response.clone().text()).toBe(201);
    const written = performance.now();
    await eventually(async () => ((await get(dpPorts.http, 'api-made.example.com', '/')).status === 200 ? true : undefined), 1000, 'API route served by the separate data plane');
    const served = performance.now() - written;
    const report = await load.stop();
    console.log(`API write -> separate data plane serving: ${Math.round(served)} ms; load ${report.requests} requests, ${report.failed} failed`);
    expect(report.failed, JSON.stringify(report)).toBe(0);
    const nodes = await (await fetch(`http://127.0.0.1:${ports.api}/v1/nodes`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json();
    expect(JSON.stringify(nodes)).toContain('edge-test');
    expect(await dataplane.stop()).toBe(0);
  }, 60_000);

  it('stops gracefully on SIGTERM: an in-flight request finishes, exit status 0', async () => {
    // A request whose body is still arriving when SIGTERM lands: the response must still come back.
    const pending = new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: ports.http, path: '/slow', method: 'POST', headers: { Host: 'k8s-ceph-dashboard.calmkart.com', 'Content-Length': '10' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('hello');
      setTimeout(() => req.end('world'), 1500);
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const exit = portico.stop();
    expect(await pending).toBe(200);
    expect(await exit).toBe(0);
  }, 30_000);
});
