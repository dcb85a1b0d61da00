import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
// The one `portico` bin (the control commands are part of it).
const cli = new URL('../../../dataplane/src/cli/main.ts', import.meta.url).pathname;
const examples = new URL('../../../deploy/examples', import.meta.url).pathname;
const gatewayExample = new URL('../../../deploy/gateway-api/dashboard.yaml', import.meta.url).pathname;
const testdata = (name: string) => new URL(`../build/testdata/${name}/in.yaml`, import.meta.url).pathname;

/** Runs the real CLI as a process, as a user would, and never throws on a non-zero exit. */
async function portico(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('portico CLI', () => {
  it('explains the classic walkthrough request', async () => {
    const { code, stdout } = await portico('explain', '--manifests', examples, '--host', 'k8s-ceph-dashboard.calmkart.com', '--path', '/', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({
      status: 200,
      backends: [{ namespace: 'rook-ceph', service: 'rook-ceph-mgr-dashboard', port: 8443, weight: 100 }],
      route: { kind: 'Ingress', namespace: 'rook-ceph', name: 'rook-ceph-mgr-dashboard', host: 'k8s-ceph-dashboard.calmkart.com', path: '/', pathType: 'Prefix' },
    });
  });

  it('answers a --requests file in order, with 200, 308, 404 and 503', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(join(dir, 'manifests.yaml'), [await readFile(testdata('tls-and-redirects'), 'utf8'), await readFile(testdata('endpoints'), 'utf8')].join('\n---\n'));
    const requests = [
      { host: 'dashboard.example.com', path: '/x?y=1' },
      { host: 'dashboard.example.com', path: '/x', scheme: 'https' },
      { host: 'wild.example.com', path: '/' },
      { host: 'plain.example.com', path: '/a' },
      { host: 'unknown.example.com', path: '/' },
      { host: 'eps.example.com', path: '/empty/thing' },
      { host: 'eps.example.com', path: '/mixed', method: 'POST', headers: { 'X-Any': '1' } },
    ];
    await writeFile(join(dir, 'requests.json'), JSON.stringify(requests));
    const { code, stdout } = await portico('explain', '--manifests', join(dir, 'manifests.yaml'), '--requests', join(dir, 'requests.json'));
    expect(code).toBe(0);
    const results = JSON.parse(stdout) as { status: number; location?: string; backends: { service: string; weight: number }[] }[];
    expect(results.map((r) => r.status)).toEqual([308, 503, 503, 308, 404, 503, 200]);
    expect(results[0]!.location).toBe('https://dashboard.example.com/x?y=1');
    expect(results[3]!.location).toBe('https://plain.example.com/a');
    expect(results[6]!.backends).toMatchObject([{ service: 'mixed', weight: 100 }]);
  });

  it('prints a readable explanation naming the winner and the losers', async () => {
    const { code, stdout } = await portico('explain', '--manifests', testdata('hosts-and-defaults'), '--host', 'Shop.Example.com:8080', '--path', '/cart/items');
    expect(code).toBe(0);
    expect(stdout).toContain('->  200');
    expect(stdout).toContain('web/shop spec.rules[0].http.paths[1]');
    expect(stdout).toMatch(/lost .*Exact path \/cart does not match \/cart\/items/);
    expect(stdout).toMatch(/lost .*\*\.example\.com \(wildcard\) matches, but the more specific host shop\.example\.com was chosen/);
  });

  it('rejects bad usage with exit status 2 and a message naming the option', async () => {
    expect(await portico('explain', '--manifests', examples)).toMatchObject({ code: 2, stderr: expect.stringContaining('--host and --path') });
    expect(await portico('explain', '--bogus')).toMatchObject({ code: 2, stderr: expect.stringContaining("Unknown option '--bogus'") });
    expect(await portico('frobnicate')).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown command') });
  });

  it('names the file, index and field of a bad requests file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(join(dir, 'requests.json'), JSON.stringify([{ host: 'a', path: '/' }, { host: 'b', path: 'relative' }]));
    const { code, stderr } = await portico('explain', '--manifests', examples, '--requests', join(dir, 'requests.json'));
    expect(code).toBe(1);
    expect(stderr).toContain('[1].path');
    expect(stderr).toContain('PORTICO_E_REQUESTS_FILE');
  });

  it('has --help on every command', async () => {
    for (const command of [[], ['explain'], ['snapshot']]) {
      const { code, stdout } = await portico(...command, '--help');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^Usage: portico/);
    }
  });

  it('exports a snapshot with conditions, redacting private keys, exit 1 when there are conditions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    const out = join(dir, 'snap.json');
    const { code, stderr } = await portico('snapshot', '--manifests', testdata('tls-and-redirects'), '-o', out);
    expect(code).toBe(1);
    expect(stderr).toContain('SecretNotFound');
    const exported = JSON.parse(await readFile(out, 'utf8'));
    expect(exported.snapshot.version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(exported.snapshot.certificates[0].privateKeyPem).toMatch(/^<redacted sha256:/);
    expect(exported.conditions.map((c: { reason: string }) => c.reason)).toEqual(['SecretNotFound', 'SecretInvalid']);
    const clean = await portico('snapshot', '--manifests', examples);
    expect(clean.code).toBe(0);
    expect(JSON.parse(clean.stdout).snapshot.hosts[0].host).toBe('k8s-ceph-dashboard.calmkart.com');
  });

  it('prints manifest problems with file, line and column, and counts Ingresses skipped for their class', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(join(dir, 'broken.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\n');
    await writeFile(join(dir, 'other-class.yaml'), 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: theirs}\nspec: {ingressClassName: nginx, defaultBackend: {service: {name: s, port: {number: 80}}}}\n');
    const { code, stdout, stderr } = await portico('snapshot', '--manifests', dir);
    expect(code).toBe(1);
    const printed = JSON.parse(stdout) as { problems: { file: string; line: number; column: number; code: string }[]; skippedForClass: number };
    expect(printed.problems).toMatchObject([{ file: 'broken.yaml', line: 3, column: 21, code: 'PORTICO_E_MANIFEST_PARSE' }]);
    expect(printed.skippedForClass).toBe(1);
    expect(stderr).toContain('error: broken.yaml:3:21 (document 0): duplicate key: duplicate key "name"');
  });

  it('explain and snapshot take the Gateway listener ports a data plane serves (a Gateway on standalone\'s 8080 was 404 offline)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    // The walkthrough's Service and EndpointSlice, and its Gateway form with the listener on 8080.
    const backend = (await readFile(join(examples, 'dashboard.yaml'), 'utf8')).split('\n---\n').slice(1).join('\n---\n');
    await writeFile(join(dir, 'backend.yaml'), backend);
    await writeFile(join(dir, 'gateway.yaml'), (await readFile(gatewayExample, 'utf8')).replace('port: 80\n', 'port: 8080\n'));
    const request = ['--host', 'k8s-ceph-dashboard.calmkart.com', '--path', '/', '--json'];
    const unported = await portico('explain', '--manifests', dir, ...request);
    expect(JSON.parse(unported.stdout)).toMatchObject({ status: 404 });
    const out = join(await mkdtemp(join(tmpdir(), 'portico-cli-out-')), 'snapshot.json');
    const refused = await portico('snapshot', '--manifests', dir, '-o', out);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('listener http: Accepted False (PortUnavailable): the data plane serves HTTP on port 80, not 8080 (more with --gateway-http-port)');
    const served = await portico('explain', '--manifests', dir, ...request, '--gateway-http-port', '8080');
    expect(served.code).toBe(0);
    expect(JSON.parse(served.stdout)).toMatchObject({ status: 200, route: { kind: 'HTTPRoute', namespace: 'rook-ceph', name: 'rook-ceph-mgr-dashboard' } });
    expect((await portico('snapshot', '--manifests', dir, '-o', out, '--gateway-http-port', '8080')).code).toBe(0);
  });

  it('refuses contradictory Gateway listener ports naming the flags (exit status 2)', async () => {
    const cases: [string[], string][] = [
      [['snapshot', '--manifests', examples, '--gateway-http-port', '80', '--gateway-https-port', '80'], 'port 80 is both a Gateway HTTP listener port (--gateway-http-port) and an HTTPS one (--gateway-https-port); a port serves one of them'],
      [['standalone', '--manifests', examples, '--gateway-https-port', '8080'], "port 8080 is both a Gateway HTTP listener port (--gateway-http-port or standalone's --http-port) and an HTTPS one (--gateway-https-port)"],
      [['explain', '--manifests', examples, '--host', 'a', '--path', '/', '--gateway-http-port', '0'], '--gateway-http-port must be 1..65535, got 0'],
      [['snapshot', '--manifests', examples, ...Array.from({ length: 65 }, (_, i) => ['--gateway-http-port', String(1000 + i)]).flat()], '--gateway-http-port is given 65 times; at most 64 ports'],
      [['explain', '--control', 'http://127.0.0.1:1', '--host', 'a', '--path', '/', '--gateway-http-port', '8080'], "--gateway-http-port applies to --manifests; with --control the control plane's own ports decide"],
    ];
    for (const [args, message] of cases) {
      const result = await portico(...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toContain(message);
    }
  });

  it('refuses an HTTPRoute hostname that is no DNS name, naming the file and field, and serves the rest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(join(dir, 'dashboard.yaml'), await readFile(join(examples, 'dashboard.yaml'), 'utf8'));
    await writeFile(join(dir, 'gateway.yaml'), (await readFile(gatewayExample, 'utf8')).replace('- k8s-ceph-dashboard.calmkart.com', '- "Bad_Host!"'));
    const { code, stdout, stderr } = await portico('snapshot', '--manifests', dir);
    expect(code).toBe(1);
    expect(stderr).toContain('error: gateway.yaml (document 2) spec.hostnames[0]: HTTPRoute rook-ceph-mgr-dashboard: spec.hostnames[0]: must be a lower-case RFC 1123 subdomain');
    expect((JSON.parse(stdout) as { snapshot: { hosts: { host: string }[] } }).snapshot.hosts.map((h) => h.host)).toEqual(['k8s-ceph-dashboard.calmkart.com']);
  });

  it('names the field and value of a GRPCRoute method it cannot serve, and drops only that rule', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-cli-'));
    await writeFile(join(dir, 'dashboard.yaml'), await readFile(join(examples, 'dashboard.yaml'), 'utf8'));
    const gateway = (await readFile(gatewayExample, 'utf8')).split('\n---\n').slice(0, 2).join('\n---\n');
    const route = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter, namespace: rook-ceph}
spec:
  parentRefs: [{name: edge, namespace: portico-system}]
  hostnames: [grpc.example.com]
  rules:
    - matches: [{method: {service: helloworld.Greeter, method: "Say Hello/../x"}}]
      backendRefs: [{name: rook-ceph-mgr-dashboard, port: 8443}]
    - matches: [{method: {service: helloworld.Greeter, method: SayHello}}]
      backendRefs: [{name: rook-ceph-mgr-dashboard, port: 8443}]
`;
    await writeFile(join(dir, 'gateway.yaml'), `${gateway}\n---\n${route}`);
    const { code, stderr } = await portico('snapshot', '--manifests', dir, '-o', join(await mkdtemp(join(tmpdir(), 'portico-cli-out-')), 's.json'));
    expect(code).toBe(1);
    expect(stderr).toContain('error: GRPCRoute rook-ceph/greeter spec.rules[0]: spec.rules[0].matches[0].method.method: "Say Hello/../x" is not a valid gRPC method name; the rule is not served [UnsupportedValue]');
    const served = await portico('explain', '--manifests', dir, '--host', 'grpc.example.com', '--path', '/helloworld.Greeter/SayHello', '--method', 'POST', '--json');
    expect(JSON.parse(served.stdout)).toMatchObject({ status: 200, route: { kind: 'GRPCRoute', field: 'spec.rules[1].matches[0]' } });
  });
});
