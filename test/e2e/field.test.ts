import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMetrics } from '../support/metrics.ts';
import type { Child } from '../support/processes.ts';
import { BACKEND, PORTICO, freePort, start } from '../support/processes.ts';

const TOKEN = 'field-token-0123456789abcdef0123456789';
const dashboard = await readFile(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');

/** The walkthrough with its EndpointSlice pointed at a loopback backend. */
function walkthrough(backendPort: number): string {
  return dashboard.replace(/port: 18443/, `port: ${backendPort}`);
}

/** One GET through Portico: status and body. */
function get(port: number, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: host }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

describe('portico standalone --workers 2: metrics that mean what they say', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: { http: number; https: number; admin: number; api: number };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-field-'));
    const backendPort = await freePort();
    const backend = start(BACKEND, [String(backendPort), '127.0.0.1']);
    children.push(backend);
    await backend.waitFor('listening');
    await writeFile(join(dir, 'dashboard.yaml'), walkthrough(backendPort));
    ports = { http: await freePort(), https: await freePort(), admin: await freePort(), api: await freePort() };
    const portico = start(PORTICO, ['standalone', '--manifests', dir, '--data-dir', join(dir, 'data'), '--workers', '2', '--http-port', String(ports.http), '--https-port', String(ports.https), '--admin-port', String(ports.admin), '--api-port', String(ports.api), '--no-access-log'], { PORTICO_API_TOKEN: TOKEN });
    children.push(portico);
    await portico.waitFor('standalone ready', 60_000);
  }, 90_000);

  afterAll(async () => {
    for (const child of children.reverse()) await child.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sums counters and histograms over workers and checks every gauge against its help text', async () => {
    for (let i = 0; i < 12; i++) expect((await get(ports.http, 'k8s-ceph-dashboard.calmkart.com', `/m${i}`)).status).toBe(200);
    const ready = await (await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).text();
    const version = /^ready (\S+)/.exec(ready)?.[1];
    expect(version).toMatch(/^sha256:/);
    const families = parseMetrics(await (await fetch(`http://127.0.0.1:${ports.admin}/metrics`)).text());

    // Counters and histograms: one total, whichever worker served.
    const requests = families.get('portico_requests_total')!;
    expect(requests.samples.every((s) => s.labels.worker === undefined)).toBe(true);
    expect(requests.samples.reduce((sum, s) => sum + s.value, 0)).toBe(12);
    const upstream = families.get('portico_upstream_duration_seconds')!;
    expect(upstream.samples.find((s) => s.name === 'portico_upstream_duration_seconds_count')?.value).toBe(12);
    // A per-worker counter: one snapshot, swapped in once by each worker.
    const swaps = families.get('portico_snapshot_swaps_total')!;
    expect(swaps.samples.map((s) => [s.labels.worker, s.value]).sort()).toEqual([['1', 1], ['2', 1]]);

    const gauges = [...families.values()].filter((f) => f.type === 'gauge');
    expect(gauges.map((g) => g.name).sort()).toEqual(['portico_active_connections', 'portico_endpoint_healthy', 'portico_snapshot_info']);
    for (const gauge of gauges) {
      let checked = false;
      const where = `${gauge.name} (help: ${gauge.help})`;
      if (gauge.help.includes('one series per worker')) {
        checked = true;
        const keys = gauge.samples.map((s) => JSON.stringify(Object.entries(s.labels).sort()));
        expect(new Set(keys).size, where).toBe(keys.length);
        expect(new Set(gauge.samples.map((s) => s.labels.worker)), where).toEqual(new Set(['1', '2']));
      }
      if (gauge.help.includes('summed over workers')) {
        checked = true;
        expect(gauge.samples.every((s) => s.labels.worker === undefined), where).toBe(true);
        expect(gauge.samples.every((s) => Number.isInteger(s.value) && s.value >= 0), where).toBe(true);
      }
      if (gauge.help.includes('value 1')) {
        checked = true;
        expect(gauge.samples.map((s) => s.value), where).toEqual(gauge.samples.map(() => 1));
      }
      if (gauge.help.includes('1, or 0')) {
        checked = true;
        expect(gauge.samples.every((s) => s.value === 0 || s.value === 1), where).toBe(true);
      }
      expect(checked, `${where} says nothing this test can check`).toBe(true);
    }
    const info = families.get('portico_snapshot_info')!;
    expect(info.samples.map((s) => s.labels.version)).toEqual([version, version]);
    expect(families.get('portico_endpoint_healthy')!.samples.map((s) => s.value)).toEqual([1, 1]);
  });
});
