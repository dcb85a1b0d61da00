import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = new URL('../../../dataplane/src/cli/main.ts', import.meta.url).pathname;

/** Runs the real `portico` bin as a process; never throws on a non-zero exit. */
async function portico(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // The hostile case prints ~1.4 MB (execFile keeps 1 MiB by default) and takes 15 s at load average 8.
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { timeout: 60_000, maxBuffer: 16 << 20 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

function ingress(name: string, host: string, annotations: Record<string, string>, path = '/'): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'shop', annotations },
    spec: { rules: [{ host, http: { paths: [{ path, pathType: 'ImplementationSpecific', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  });
}

const N = 'nginx.ingress.kubernetes.io/';
/** The Service every test Ingress routes to, so the build's only findings are about annotations. */
const SERVICE = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } });

async function mixedDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
  await writeFile(
    join(dir, 'ingresses.yaml'),
    [
      ingress('mixed', 'shop.example.com', { [`${N}rewrite-target`]: '/$2', [`${N}app-root`]: '/app', [`${N}configuration-snippet`]: 'more_set_headers "X-A: b";', [`${N}made-up-thing`]: '1' }, '/api(/|$)(.*)'),
      ingress('admin', 'admin.example.com', { [`${N}enable-modsecurity`]: 'true' }),
      ingress('legacy', 'legacy.example.com', { 'ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' }),
      ingress('plain', 'plain.example.com', {}),
      SERVICE,
    ].join('\n---\n'),
  );
  return dir;
}

describe('portico check', () => {
  it('prints each annotation as honoured, approximated, refused or not yet supported, 503 Ingresses first, and exits 1', async () => {
    const { code, stdout } = await portico('check', '--manifests', await mixedDir());
    expect(code).toBe(1);
    const blocks = stdout.split('\n\n');
    expect(blocks.map((b) => b.split('\n')[0])).toEqual([
      expect.stringMatching(/^Ingress shop\/admin: NOT SERVED \(503\): .*enable-modsecurity/),
      expect.stringMatching(/^Ingress shop\/legacy: NOT SERVED \(503\): .*ingress\.kubernetes\.io\/whitelist-source-range/),
      'Ingress shop/mixed: served',
      'Ingress shop/plain: served',
      'Summary:',
    ]);
    expect(blocks[2]).toMatch(/honoured +nginx\.ingress\.kubernetes\.io\/rewrite-target +the path sent upstream/);
    expect(blocks[2]).toMatch(/approximated +nginx\.ingress\.kubernetes\.io\/app-root +.*302/);
    expect(blocks[2]).toMatch(/refused +nginx\.ingress\.kubernetes\.io\/configuration-snippet +.*never applies snippets/);
    expect(blocks[2]).toMatch(/not yet supported nginx\.ingress\.kubernetes\.io\/made-up-thing +.*not supported/);
    expect(blocks[3]).toContain('no ingress-nginx annotations');
    expect(blocks[4]).toContain('4 Ingresses: 2 served, 2 not served (503), 0 with a missing backend (503), 0 with no route, 0 skipped for class');
    expect(blocks[4]).toContain('annotations: 1 honoured, 1 approximated, 3 refused, 1 not yet supported');
    expect(blocks[4]).toMatch(/shop\/admin\n {4}shop\/legacy/);
  });

  it('default-backend honoured, custom-http-errors approximated; a code outside 400-599 refuses the Ingress (503) naming the annotation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const errors = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'errors', namespace: 'shop' }, spec: { ports: [{ port: 8080 }] } });
    await writeFile(
      join(dir, 'ingresses.yaml'),
      [
        ingress('pages', 'pages.example.com', { [`${N}default-backend`]: 'errors', [`${N}custom-http-errors`]: '404,503' }),
        ingress('redirects', 'redirects.example.com', { [`${N}default-backend`]: 'errors', [`${N}custom-http-errors`]: '302' }),
        SERVICE,
        errors,
      ].join('\n---\n'),
    );
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(1);
    const blocks = stdout.split('\n\n');
    expect(blocks[0]).toMatch(/^Ingress shop\/redirects: NOT SERVED \(503\): .*custom-http-errors.*302 is outside 400-599/);
    expect(blocks[1]).toMatch(/^Ingress shop\/pages: served/);
    expect(blocks[1]).toMatch(/honoured +nginx\.ingress\.kubernetes\.io\/default-backend +/);
    expect(blocks[1]).toMatch(/approximated +nginx\.ingress\.kubernetes\.io\/custom-http-errors +.*no global default backend/);
  });

  it('--json gives the same facts', async () => {
    const { code, stdout } = await portico('check', '--manifests', await mixedDir(), '--json');
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { ingresses: { name: string; status: string; annotations: { key: string; verdict: string }[] }[]; summary: unknown; problems: unknown[] };
    expect(report.ingresses.map((i) => [i.name, i.status])).toEqual([['admin', 'refused'], ['legacy', 'refused'], ['mixed', 'served'], ['plain', 'served']]);
    expect(report.ingresses[2]!.annotations).toEqual([
      expect.objectContaining({ key: `${N}app-root`, verdict: 'approximated' }),
      expect.objectContaining({ key: `${N}configuration-snippet`, verdict: 'refused' }),
      expect.objectContaining({ key: `${N}made-up-thing`, verdict: 'unsupported' }),
      expect.objectContaining({ key: `${N}rewrite-target`, verdict: 'honoured' }),
    ]);
    expect(report.summary).toEqual({ ingresses: 4, served: 2, skipped: 0, refused: ['shop/admin', 'shop/legacy'], missingBackend: [], unrouted: [], annotations: { honoured: 1, approximated: 1, refused: 3, unsupported: 1 } });
    expect(report.problems).toEqual([]);
  });

  it('exits 0 when every Ingress is served, and a refused value of an honoured annotation is reported with the build\'s reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    await writeFile(join(dir, 'ok.json'), ingress('ok', 'ok.example.com', { [`${N}ssl-redirect`]: 'maybe' }));
    await writeFile(join(dir, 'service.json'), SERVICE);
    const ok = await portico('check', '--manifests', dir, '--json');
    expect(ok.code).toBe(0);
    const note = (JSON.parse(ok.stdout) as { ingresses: { annotations: { verdict: string; note: string }[] }[] }).ingresses[0]!.annotations[0]!;
    expect(note.verdict).toBe('honoured');
    expect(note.note).toContain('warning: expected "true" or "false", got "maybe"');
    await writeFile(join(dir, 'fcgi.json'), ingress('fcgi', 'fcgi.example.com', { [`${N}backend-protocol`]: 'FCGI' }));
    const refused = await portico('check', '--manifests', dir);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^Ingress shop\/fcgi: NOT SERVED \(503\): backend-protocol FCGI is not supported/);
    expect(refused.stdout).toMatch(/refused +nginx\.ingress\.kubernetes\.io\/backend-protocol +.*not supported/);
  });

  it('says NO ROUTE for an Ingress every path of which another object claims, names the conflict under it, and exits 0; a canary is served through its main', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const at = (json: string, created: string) => {
      const object = JSON.parse(json) as { metadata: Record<string, unknown> };
      object.metadata.creationTimestamp = created;
      return JSON.stringify(object);
    };
    await writeFile(join(dir, 'a.json'), at(ingress('first', 'shop.example.com', {}), '2026-01-01T00:00:00Z'));
    await writeFile(join(dir, 'b.json'), at(ingress('second', 'shop.example.com', {}), '2026-02-01T00:00:00Z'));
    await writeFile(join(dir, 'c.json'), at(ingress('trial', 'shop.example.com', { [`${N}canary`]: 'true', [`${N}canary-weight`]: '10' }), '2026-03-01T00:00:00Z'));
    await writeFile(join(dir, 'service.json'), SERVICE);
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(0);
    const blocks = stdout.split('\n\n');
    expect(blocks[0]).toMatch(/^Ingress shop\/second: NO ROUTE \(each of its paths is claimed by another object or was dropped; see below\)\n.*error: spec\.rules\[0\]\.http\.paths\[0\]: .*shop\/first/s);
    expect(blocks.map((b) => b.split('\n')[0])).toEqual([expect.stringContaining('shop/second: NO ROUTE'), 'Ingress shop/first: served', 'Ingress shop/trial: served', 'Summary:']);
    expect(blocks[3]).toContain('3 Ingresses: 2 served, 0 not served (503), 0 with a missing backend (503), 1 with no route, 0 skipped for class');
    const json = JSON.parse((await portico('check', '--manifests', dir, '--json')).stdout) as { summary: { unrouted: string[]; served: number } };
    expect(json.summary).toMatchObject({ unrouted: ['shop/second'], served: 2 });
  });

  it('a canary joined to no main rule (no main Ingress serves its host and path, or it has no paths) is NO ROUTE, not served', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const canary = { [`${N}canary`]: 'true', [`${N}canary-weight`]: '10' };
    await writeFile(join(dir, 'main.json'), ingress('main', 'shop.example.com', {}));
    await writeFile(join(dir, 'joined.json'), ingress('joined', 'shop.example.com', canary));
    await writeFile(join(dir, 'lonely.json'), ingress('lonely', 'other.example.com', canary));
    await writeFile(join(dir, 'fallback.json'), JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'fallback', namespace: 'shop', annotations: canary }, spec: { defaultBackend: { service: { name: 'web', port: { number: 80 } } } } }));
    await writeFile(join(dir, 'service.json'), SERVICE);
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(0);
    const blocks = stdout.split('\n\n');
    expect(blocks.map((b) => b.split('\n')[0])).toEqual([expect.stringContaining('shop/fallback: NO ROUTE'), expect.stringContaining('shop/lonely: NO ROUTE'), 'Ingress shop/joined: served', 'Ingress shop/main: served', 'Summary:']);
    expect(blocks[1]).toMatch(/error: spec\.rules\[0\]\.http\.paths\[0\]: canary for host other\.example\.com path \/ \(ImplementationSpecific\), but no main/);
    const json = JSON.parse((await portico('check', '--manifests', dir, '--json')).stdout) as { summary: { unrouted: string[]; served: number } };
    expect(json.summary).toMatchObject({ unrouted: ['shop/fallback', 'shop/lonely'], served: 2 });
  });

  it('an Ingress a backend of which names a missing Service or port is BACKEND MISSING (503), not served: the summary names it and the Service, and the exit status is 1', async () => {
    // A newcomer read "3 served" while one of them answered 503: its Service did not exist.
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const backend = (name: string, port: number) => ({ service: { name, port: { number: port } } });
    const object = (name: string, spec: object, annotations: Record<string, string> = {}) => JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'shop', annotations }, spec });
    const rule = (host: string, ...paths: [string, object][]) => ({ host, http: { paths: paths.map(([path, to]) => ({ path, pathType: 'Prefix', backend: to })) } });
    await writeFile(
      join(dir, 'ingresses.yaml'),
      [
        object('ok', { rules: [rule('ok.example.com', ['/', backend('web', 80)])] }),
        object('gone', { rules: [rule('gone.example.com', ['/', backend('nosuch', 80)], ['/b', backend('nosuch', 80)])] }),
        object('half', { rules: [rule('half.example.com', ['/', backend('web', 81)], ['/a', backend('web', 80)])] }),
        object('fallback', { defaultBackend: backend('nosuch', 80) }),
        object('bucket', { rules: [rule('bucket.example.com', ['/', { resource: { apiGroup: 'k8s.example.com', kind: 'Bucket', name: 'b' } }])] }),
        object('trial', { rules: [rule('ok.example.com', ['/', backend('beta', 80)])] }, { [`${N}canary`]: 'true', [`${N}canary-weight`]: '10' }),
        SERVICE,
      ].join('\n---\n'),
    );
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(1);
    const blocks = stdout.split('\n\n');
    expect(blocks.map((b) => b.split('\n')[0])).toEqual([
      'Ingress shop/bucket: BACKEND MISSING (503): 1 of 1 backends names no existing Service port (see below)',
      'Ingress shop/fallback: BACKEND MISSING (503): 1 of 1 backends names no existing Service port (see below)',
      'Ingress shop/gone: BACKEND MISSING (503): 2 of 2 backends name no existing Service port (see below)',
      'Ingress shop/half: BACKEND MISSING (503): 1 of 2 backends names no existing Service port (see below)',
      'Ingress shop/trial: BACKEND MISSING (503): 1 of 1 backends names no existing Service port (see below)',
      'Ingress shop/ok: served',
      'Summary:',
    ]);
    expect(blocks[3]).toContain('error: spec.rules[0].http.paths[0].backend.service.port.number: Service shop/web has no port 81 (ports: 80); requests answer 503 [ServicePortNotFound]');
    expect(blocks[6]).toContain('6 Ingresses: 1 served, 0 not served (503), 5 with a missing backend (503), 0 with no route, 0 skipped for class');
    expect(blocks[6]).toContain(
      [
        '  answer 503 where a backend names no existing Service port:',
        '    shop/bucket: resource backend Bucket/b is not supported; requests answer 503',
        '    shop/fallback: Service shop/nosuch not found; requests answer 503',
        '    shop/gone: Service shop/nosuch not found; requests answer 503 (and 1 more missing)',
        '    shop/half: Service shop/web has no port 81 (ports: 80); requests answer 503',
        '    shop/trial: Service shop/beta not found; requests answer 503',
      ].join('\n'),
    );
    const json = JSON.parse((await portico('check', '--manifests', dir, '--json')).stdout) as { ingresses: { name: string; status: string; missing?: unknown }[]; summary: { served: number; missingBackend: string[] } };
    expect(json.summary).toMatchObject({ served: 1, missingBackend: ['shop/bucket', 'shop/fallback', 'shop/gone', 'shop/half', 'shop/trial'] });
    expect(json.ingresses.find((i) => i.name === 'half')).toMatchObject({ status: 'missingBackend', missing: { backends: 1, of: 2 } });
    // Refused wins: an Ingress that answers 503 for its annotation is counted there, once.
    await writeFile(join(dir, 'admin.json'), object('admin', { rules: [rule('admin.example.com', ['/', backend('nosuch', 80)])] }, { [`${N}enable-modsecurity`]: 'true' }));
    const both = await portico('check', '--manifests', dir);
    expect(both.stdout).toMatch(/^Ingress shop\/admin: NOT SERVED \(503\): .*enable-modsecurity/);
    expect(both.stdout).toContain('7 Ingresses: 1 served, 1 not served (503), 5 with a missing backend (503), 0 with no route, 0 skipped for class');
  });

  it('hostile: 5,000 Ingresses whose Services are missing give one block each and a summary of 20 named and a count of the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const many = Array.from({ length: 5000 }, (_, i) => ingress(`app-${String(i).padStart(4, '0')}`, `app-${i}.example.com`, {}).replace('"web"', `"gone-${i}"`));
    await writeFile(join(dir, 'many.yaml'), many.join('\n---\n'));
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(1);
    const summary = stdout.slice(stdout.indexOf('\nSummary:\n') + 1).split('\n');
    expect(summary[1]).toBe('  5000 Ingresses: 0 served, 0 not served (503), 5000 with a missing backend (503), 0 with no route, 0 skipped for class');
    expect(summary.slice(3)).toEqual([
      '  answer 503 where a backend names no existing Service port:',
      ...Array.from({ length: 20 }, (_, i) => `    shop/app-${String(i).padStart(4, '0')}: Service shop/gone-${i} not found; requests answer 503`),
      '    ... and 4980 more (--json lists all)',
      '',
    ]);
    expect(stdout.split('\n').length).toBe(5000 * 4 + summary.length);
  }, 90_000);

  it('digest auth: approximated with how, and an Ingress without auth-realm NOT SERVED naming auth-realm', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    const htdigest = Buffer.from('foo:shop:65e9af83e3f1c674a81f580020f0a4b6\n').toString('base64');
    const digest = { [`${N}auth-type`]: 'digest', [`${N}auth-secret`]: 'users' };
    await writeFile(
      join(dir, 'digest.yaml'),
      [
        ingress('digest', 'digest.example.com', { ...digest, [`${N}auth-realm`]: 'shop' }),
        ingress('open', 'open.example.com', digest),
        JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'users', namespace: 'shop' }, type: 'Opaque', data: { auth: htdigest } }),
        SERVICE,
      ].join('\n---\n'),
    );
    const { code, stdout } = await portico('check', '--manifests', dir);
    expect(code).toBe(1);
    const blocks = stdout.split('\n\n');
    expect(blocks[0]).toMatch(/^Ingress shop\/open: NOT SERVED \(503\): .*auth-realm: auth-type: digest needs a realm/);
    expect(blocks[1]).toMatch(/^Ingress shop\/digest: served/);
    expect(blocks[1]).toMatch(/approximated +nginx\.ingress\.kubernetes\.io\/auth-type +.*digest: RFC 7616 MD5 qop=auth/);
    expect(blocks[1]).toMatch(/approximated +nginx\.ingress\.kubernetes\.io\/auth-realm +.*digest needs one/);
    expect(stdout).not.toContain('65e9af83e3f1c674a81f580020f0a4b6');
  });

  it('hostile: a malformed file is named by file and line, the rest is still checked, and the exit status is 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    await writeFile(join(dir, 'a-good.yaml'), [ingress('plain', 'plain.example.com', {}), SERVICE].join('\n---\n'));
    await writeFile(join(dir, 'b-bad.yaml'), 'kind: Ingress\nmetadata: {name: x\n  bad: [\n');
    const { code, stdout, stderr } = await portico('check', '--manifests', dir);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^error: .*b-bad\.yaml:2:\d+ .*\[PORTICO_E_MANIFEST_PARSE\]$/m);
    expect(stdout).toContain('Ingress shop/plain: served');
  });

  it('an empty directory says so; a missing one is an error naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    await mkdir(join(dir, 'empty'));
    const empty = await portico('check', '--manifests', join(dir, 'empty'));
    expect(empty).toMatchObject({ code: 0, stdout: `no Ingresses found in ${join(dir, 'empty')}\n` });
    const missing = await portico('check', '--manifests', join(dir, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read manifests at .*nope.*\[PORTICO_E_MANIFEST_READ\]/);
    const usage = await portico('check');
    expect(usage.code).toBe(2);
    const help = await portico('check', '--help');
    expect(help.stdout).toContain('Usage: portico check --manifests DIR');
  });

  it('hostile: an unreachable cluster is an error within --timeout-ms; exactly one source is required', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-check-'));
    // A loopback port nothing listens on (port 1 needs root to bind; connections are refused at once).
    const kubeconfig = ['apiVersion: v1', 'kind: Config', 'clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]', 'users: [{name: u, user: {token: t}}]', 'contexts: [{name: x, context: {cluster: c, user: u}}]', 'current-context: x', ''].join('\n');
    await writeFile(join(dir, 'kubeconfig'), kubeconfig);
    const down = await portico('check', '--kubeconfig', join(dir, 'kubeconfig'), '--timeout-ms', '1500');
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/within 1500 ms.*\[PORTICO_E_CLUSTER_READ\]/);
    const missing = await portico('check', '--kubeconfig', join(dir, 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot load kubeconfig .*nope.*\[PORTICO_E_CLUSTER_READ\]/);
    expect((await portico('check', '--kubeconfig', join(dir, 'kubeconfig'), '--manifests', dir)).code).toBe(2);
  });
});
