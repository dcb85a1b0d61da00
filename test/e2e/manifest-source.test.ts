/**
 * The manifest source through `portico standalone` as a process: a broken file at start makes
 * /readyz say which (file, line, column) while every other file is served; the problem shows in
 * /v1/snapshots/current, as portico_manifest_problems and as one log line; atomic-rename saves
 * and a truncated file behave; fixing the file makes the process ready. A ConfigMap file is an
 * input like any other: custom-headers follows its edits, and an invalid entry refuses the Ingress.
 */
import { mkdtemp, rename, truncate, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, getWithHost as get, startBackend, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';

function app(backendPort: number, path: string): string {
  return [
    'apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: web}\nspec: {ports: [{port: 80}]}\n',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: app-1, namespace: web, labels: {kubernetes.io/service-name: app}}\naddressType: IPv4\nports: [{port: ${backendPort}}]\nendpoints: [{addresses: [127.0.0.1]}]\n`,
    `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: app, namespace: web}\nspec:\n  rules:\n  - host: app.test\n    http: {paths: [{path: ${path}, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}\n`,
  ].join('---\n');
}

/** A ConfigMap `web/hdr` with `data`, and an Ingress on headers.test whose custom-headers names it. */
function headers(data: Record<string, string>): string {
  const ingress = `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: headers, namespace: web, annotations: {nginx.ingress.kubernetes.io/custom-headers: web/hdr}}\nspec:\n  rules:\n  - host: headers.test\n    http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: app, port: {number: 80}}}}]}\n`;
  return [JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hdr', namespace: 'web' }, data }) + '\n', ingress].join('---\n');
}

/** GET / on headers.test: the status and the X-Edge response header. */
function headerOf(port: number): Promise<{ status: number; edge: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { Host: 'headers.test' }, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, edge: res.headers['x-edge'] as string | undefined }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 5000 ms')));
    req.end();
  });
}

const BROKEN = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [broken\n';

describe('manifest source problems, through portico standalone', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let backendPort: number;
  const api = (path: string) => fetch(`http://127.0.0.1:${ports.api}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-manifest-source-'));
    backendPort = await freePort();
    children.push(await startBackend(backendPort));
    await writeFile(join(dir, 'app.yaml'), app(backendPort, '/v1'));
    await writeFile(join(dir, 'broken.yaml'), BROKEN);
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, https: false });
    children.push(portico.child);
    ports = portico.ports;
  }, 90_000);

  afterAll(() => stopAll(children, dir));

  it('is not ready, naming file, line and column, while every other file is served', async () => {
    const ready = await fetch(`http://127.0.0.1:${ports.api}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/^not ready: manifest broken\.yaml:5:\d+ never loaded: syntax error/);
    expect((await get(ports.http, 'app.test', '/v1/x')).status).toBe(200);
    const admin = await fetch(`http://127.0.0.1:${ports.admin}/readyz`);
    expect(admin.status).toBe(503);
    expect(await admin.text()).toMatch(/^not ready: manifest broken\.yaml:5:\d+ never loaded: .* \(serving sha256:/);

    const current = (await (await api('/v1/snapshots/current')).json()) as { problems?: { file: string; line?: number; code: string }[] };
    expect(current.problems).toMatchObject([{ file: 'broken.yaml', line: 5, code: 'PORTICO_E_MANIFEST_PARSE' }]);
    const metrics = await (await fetch(`http://127.0.0.1:${ports.api}/metrics`)).text();
    expect(metrics).toContain('portico_manifest_problems{severity="error"} 1');
  });

  it('logs the problem once, naming file, line and column, however many rescans pass', async () => {
    await new Promise((resolve) => setTimeout(resolve, 4500)); // two safety-net rescans
    const portico = children[1]!;
    const lines = portico.output().split('\n').filter((line) => line.includes('broken.yaml'));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ file: 'broken.yaml', line: 5, code: 'PORTICO_E_MANIFEST_PARSE' });
  });

  it('a ConfigMap file feeds custom-headers: its edits are served, an invalid entry refuses the Ingress (503), a fix serves it again', async () => {
    await writeFile(join(dir, 'headers.yaml'), headers({ 'X-Edge': 'one' }));
    await eventually(async () => ((await headerOf(ports.http)).edge === 'one' ? true : undefined), 5000, 'X-Edge: one');
    await writeFile(join(dir, 'headers.yaml'), headers({ 'X-Edge': 'two' }));
    await eventually(async () => ((await headerOf(ports.http)).edge === 'two' ? true : undefined), 5000, 'X-Edge: two');
    await writeFile(join(dir, 'headers.yaml'), headers({ 'X-Edge': 'three', 'Bad Name': 'x' }));
    await eventually(async () => ((await headerOf(ports.http)).status === 503 ? true : undefined), 5000, 'refused');
    const current = (await (await api('/v1/snapshots/current')).json()) as { conditions?: { message: string; field: string }[] };
    expect(JSON.stringify(current)).toContain('ConfigMap web/hdr: key \\"Bad Name\\" is not a header name');
    expect((await get(ports.http, 'app.test', '/v1/x')).status).toBe(200);
    await writeFile(join(dir, 'headers.yaml'), headers({ 'X-Edge': 'four' }));
    await eventually(async () => ((await headerOf(ports.http)).edge === 'four' ? true : undefined), 5000, 'X-Edge: four');
  }, 30_000);

  it('serves atomic-rename saves, keeps a truncated file’s routes with a warning, and becomes ready once fixed', async () => {
    for (const path of ['/v2', '/v3', '/v4']) {
      await writeFile(join(dir, '.app.yaml.swp'), app(backendPort, path));
      await rename(join(dir, '.app.yaml.swp'), join(dir, 'app.yaml'));
      await eventually(async () => ((await get(ports.http, 'app.test', `${path}/x`)).status === 200 ? true : undefined), 5000, `${path} served`).catch((error: Error) => {
        throw new Error(`${error.message}\n${children[1]!.output().slice(-3000)}`);
      });
    }
    await truncate(join(dir, 'app.yaml'), 0);
    await eventually(async () => {
      const current = (await (await api('/v1/snapshots/current')).json()) as { problems?: { code: string }[] };
      return current.problems?.some((p) => p.code === 'PORTICO_W_MANIFEST_EMPTY') ? true : undefined;
    }, 5000, 'empty-file warning');
    expect((await get(ports.http, 'app.test', '/v4/x')).status, children[1]!.output().slice(-3000)).toBe(200);
    await writeFile(join(dir, 'app.yaml'), app(backendPort, '/v5'));
    await writeFile(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: fixed, namespace: web}\n');
    await eventually(async () => ((await fetch(`http://127.0.0.1:${ports.api}/readyz`)).status === 200 ? true : undefined), 5000, 'ready once fixed');
    expect((await fetch(`http://127.0.0.1:${ports.admin}/readyz`)).status).toBe(200);
    // Ready says every file parses; the /v5 edit is published on its own debounce, so wait for it.
    await eventually(async () => ((await get(ports.http, 'app.test', '/v5/x')).status === 200 ? true : undefined), 5000, '/v5 served');
    const metrics = await (await fetch(`http://127.0.0.1:${ports.api}/metrics`)).text();
    expect(metrics).toContain('portico_manifest_problems{severity="error"} 0');
  }, 30_000);
});
