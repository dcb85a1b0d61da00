/**
 * `portico routes|snapshots|nodes|explain --control` run as real processes against a
 * standalone-style control API on loopback.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestControl } from '../api/test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from '../api/test-support.ts';

const run = promisify(execFile);
// The one `portico` bin (the control commands are part of it).
const cli = new URL('../../../dataplane/src/cli/main.ts', import.meta.url).pathname;

describe('API commands of the portico CLI', () => {
  let control: TestControl;
  let server: Awaited<ReturnType<typeof listen>>;
  let dir: string;

  /** Runs the CLI against the test control plane; the token comes from the environment, as users set it. */
  async function portico(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run(process.execPath, [cli, ...args, '--control', server.url], { env: { ...process.env, PORTICO_API_TOKEN: TEST_TOKEN } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']) });
    server = await listen(control.app);
  });
  afterAll(async () => {
    await server?.close();
    control?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a file of routes and Ingresses, creating then configuring them', async () => {
    const file = join(dir, 'routes.yaml');
    await writeFile(
      file,
      `name: shop
hosts: [shop.example.com]
paths:
  - path: /
    backends: [{ service: web, port: 80 }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: blog, namespace: default }
spec:
  rules:
    - host: blog.example.com
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] }
`,
    );
    const first = await portico('routes', 'apply', '-f', file);
    expect(first).toMatchObject({ code: 0, stdout: 'route default/shop created\nroute default/blog created\n' });
    const second = await portico('routes', 'apply', '-f', file);
    expect(second.stdout).toBe('route default/shop configured\nroute default/blog configured\n');
  });

  it('lists and shows routes as tables and JSON', async () => {
    const table = await portico('routes', 'list');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME\s+HOSTS\s+TLS\s+PATHS$/);
    expect(table.stdout).toMatch(/default\s+shop\s+shop\.example\.com\s+-\s+\/->web:80/);
    const json = JSON.parse((await portico('routes', 'get', 'default/blog', '--json')).stdout);
    expect(json).toMatchObject({ namespace: 'default', name: 'blog', route: { hosts: ['blog.example.com'] } });
  });

  it('reports validation errors and conflicts with their pointers, exit status 1', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'name: clash\nhosts: [shop.example.com]\npaths: [{ path: /, backends: [{ service: web, port: 80 }] }]\n---\nname: bad\npaths: [{ path: nope, backends: [{ service: web, port: 80 }] }]\n');
    const result = await portico('routes', 'apply', '-f', file);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('HTTP 409 PORTICO_E_ROUTE_CONFLICT');
    expect(result.stderr).toContain('conflicts with default/shop: host shop.example.com Prefix /');
    expect(result.stderr).toContain('/paths/0/path: path "nope" must be an absolute path');
  });

  it('apply: a name the API refuses is reported with its problem document; an empty file is an error, not a silent success', async () => {
    const bad = join(dir, 'bad-name.json');
    await writeFile(bad, JSON.stringify({ kind: 'List', items: [{ name: 'Bad_Name!', paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] }] }));
    const refused = await portico('routes', 'apply', '-f', bad);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('HTTP 400 PORTICO_E_BAD_REQUEST: path parameter name: must be a lower-case RFC 1123 subdomain');
    expect(refused.stderr).not.toContain('no details');
    for (const text of ['', '---\n---\n', '{"kind": "List", "items": []}']) {
      const empty = join(dir, 'empty.yaml');
      await writeFile(empty, text);
      const result = await portico('routes', 'apply', '-f', empty);
      expect(result.code, JSON.stringify(text)).toBe(1);
      expect(result.stderr, JSON.stringify(text)).toContain(`${empty}: no routes or Ingresses to apply`);
    }
  });

  it('lists, shows and diffs snapshots', async () => {
    const list = await portico('snapshots', 'list');
    expect(list.stdout.split('\n')[0]).toMatch(/VERSION\s+PUBLISHED\s+CONDITIONS\s+CHANGES/);
    const versions = JSON.parse((await portico('snapshots', 'list', '--json')).stdout).items.map((i: { version: string }) => i.version);
    const diff = await portico('snapshots', 'diff', versions.at(-1), 'current');
    expect(diff.stdout).toContain('+ host        shop.example.com');
    const got = JSON.parse((await portico('snapshots', 'get', 'current', '--json')).stdout);
    expect(got.version).toBe(versions[0]);
  });

  it('explains against the control plane', async () => {
    const result = await portico('explain', '--host', 'shop.example.com', '--path', '/cart', '--json');
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 200, route: { name: 'shop' } });
    const text = await portico('explain', '--host', 'nowhere.example.com', '--path', '/');
    expect(text.stdout).toContain('->  404');
  });

  it('shows nodes and the rollout, and deletes routes', async () => {
    await control.request('/v1/nodes/edge-1/status', { method: 'POST', body: JSON.stringify({ version: control.history.current()!.snapshot.version, ok: true }), headers: { 'content-type': 'application/json' } });
    const nodes = await portico('nodes');
    expect(nodes.stdout).toMatch(/^current sha256:[0-9a-f]{12}: 1 of 1 nodes \(complete\)/);
    expect(nodes.stdout).toMatch(/edge-1\s+sha256:[0-9a-f]{12}\s+yes\s+seen/);
    expect((await portico('routes', 'delete', 'default/blog')).stdout).toBe('route default/blog deleted\n');
    expect((await portico('routes', 'get', 'default/blog')).code).toBe(1);
  });

  it('fails clearly without a token or without a control plane', async () => {
    const { stderr, code } = await run(process.execPath, [cli, 'routes', 'list', '--control', server.url], { cwd: dir, env: { ...process.env, PORTICO_API_TOKEN: '' } }).then(
      () => ({ stderr: '', code: 0 }),
      (e: { stderr: string; code: number }) => e,
    );
    expect(code).toBe(1);
    expect(stderr).toContain('HTTP 401 PORTICO_E_UNAUTHENTICATED');
    expect(stderr).toContain('no token given: pass --token or --token-file, set PORTICO_API_TOKEN, or run where .portico/api-token is');
  });

  it('falls back to .portico/api-token where it runs, and names the token source on 401', async () => {
    const here = await mkdtemp(join(tmpdir(), 'portico-cwd-'));
    await mkdir(join(here, '.portico'));
    const env = { ...process.env, PORTICO_API_TOKEN: '' };
    await writeFile(join(here, '.portico', 'api-token'), `${TEST_TOKEN}\n`);
    expect((await run(process.execPath, [cli, 'routes', 'list', '--control', server.url], { cwd: here, env })).stdout).toMatch(/^NAME/);
    await writeFile(join(here, '.portico', 'api-token'), 'another-token-0123456789abcdef\n');
    const refused = await run(process.execPath, [cli, 'routes', 'list', '--control', server.url], { cwd: here, env }).then(() => ({ stderr: '' }), (e: { stderr: string }) => e);
    expect(refused.stderr).toContain('the token from .portico/api-token (the token `portico standalone` generated) was refused');
    await rm(here, { recursive: true, force: true });
  });
});
