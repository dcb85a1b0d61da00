/**
 * Gateways with addresses of their own (`--gateway-address`) through `portico standalone` as a
 * process, over real sockets on loopback: two Gateways routing the same host and path to
 * different backends are both honoured (each on its address), an HTTPRoute attached only to an
 * HTTP listener is not answered on HTTPS, the Ingress on the same host keeps the edge address,
 * and hostile requests — a pool address no Gateway holds, a Host naming a scope, an unknown host
 * where the edge has a default backend — get 404, never another Gateway's or the edge's route.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfSignedTlsSecret } from '../../control/src/api/test-support.ts';
import { GATEWAY_API, PORTICO_GATEWAY_CLASS, loopbackService } from '../support/gateway-manifests.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, getWithHost, startBackend, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const G = GATEWAY_API;
const EDGE = '127.0.0.1';
/** The pool: two Gateways take two of them; the third stays unassigned. */
const POOL = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

function manifests(backends: Record<'one' | 'two' | 'three', number>, ports: StandalonePorts): Record<string, string> {
  const route = (name: string, gateway: string, section: string | undefined, path: string, to: string) => `apiVersion: ${G}
kind: HTTPRoute
metadata: {name: ${name}, namespace: shop}
spec:
  parentRefs: [{name: ${gateway}, namespace: shop${section === undefined ? '' : `, sectionName: ${section}`}}]
  hostnames: [shop.test]
  rules: [{matches: [{path: {type: PathPrefix, value: ${path}}}], backendRefs: [{name: ${to}, port: 80}]}]
`;
  return {
    'backends.yaml': [loopbackService('one', 'shop', backends.one), loopbackService('two', 'shop', backends.two), loopbackService('three', 'shop', backends.three)].join('---\n'),
    // JSON is YAML: the Secret as the test support makes it.
    'secret.yaml': JSON.stringify(selfSignedTlsSecret('shop', 'cert', 'shop.test')),
    'gateways.yaml': `${PORTICO_GATEWAY_CLASS}---
apiVersion: ${G}
kind: Gateway
metadata: {name: a, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: ${ports.http}, protocol: HTTP}
  - {name: https, port: ${ports.https}, protocol: HTTPS, tls: {certificateRefs: [{name: cert}]}}
---
apiVersion: ${G}
kind: Gateway
metadata: {name: b, namespace: shop, creationTimestamp: "2026-01-02T00:00:00Z"}
spec:
  gatewayClassName: portico
  listeners: [{name: http, port: ${ports.http}, protocol: HTTP}]
`,
    'routes.yaml': [route('plain-a', 'a', 'http', '/', 'two'), route('secure-a', 'a', 'https', '/secure', 'two'), route('plain-b', 'b', undefined, '/', 'three')].join('---\n'),
    'ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: legacy, namespace: shop}
spec:
  rules: [{host: shop.test, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: one, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: catch-all, namespace: shop}
spec:
  defaultBackend: {service: {name: one, port: {number: 80}}}
`,
  };
}

/** GET over TLS to `address`:`port` with SNI and Host `host` (the test certificate is self-signed). */
function getTls(port: number, address: string, host: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: address, port, path, servername: host, headers: { Host: host }, rejectUnauthorized: false, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
    req.end();
  });
}

describe('Gateways with their own address (portico standalone --gateway-address)', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  const backends = { one: 0, two: 0, three: 0 };
  const nameOf = (body: string): string => {
    const port = Number((JSON.parse(body) as { served_by: string }).served_by.split(':')[1]);
    return Object.entries(backends).find(([, p]) => p === port)?.[0] ?? `port ${port}`;
  };
  const served = async (address: string, host: string, path: string): Promise<string> => {
    const response = await getWithHost(ports.http, host, path, address);
    return response.status === 200 ? nameOf(response.body) : String(response.status);
  };
  const servedTls = async (address: string, host: string, path: string): Promise<string> => {
    const response = await getTls(ports.https!, address, host, path);
    return response.status === 200 ? nameOf(response.body) : String(response.status);
  };
  /** The pool addresses in the order: Gateway a's, Gateway b's, the unassigned one (found by asking). */
  let byGateway: { a: string; b: string; free: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-gateway-isolation-'));
    for (const name of ['one', 'two', 'three'] as const) {
      backends[name] = await freePort();
      children.push(await startBackend(backends[name]));
    }
    ports = { http: await freePort(), https: await freePort(), admin: await freePort(), api: await freePort() };
    for (const [file, text] of Object.entries(manifests(backends, ports))) await writeFile(join(dir, file), text);
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, ports, args: ['--address', EDGE, ...POOL.flatMap((address) => ['--gateway-address', address])] });
    children.push(portico.child);
    const answers = await Promise.all(POOL.map((address) => served(address, 'shop.test', '/')));
    byGateway = { a: POOL[answers.indexOf('two')]!, b: POOL[answers.indexOf('three')]!, free: POOL[answers.indexOf('404')]! };
  }, 90_000);

  afterAll(() => stopAll(children, dir));

  it('routes the same host and path differently on each Gateway, and the Ingress on the edge address', async () => {
    expect(Object.values(byGateway).sort()).toEqual([...POOL].sort());
    expect(await served(EDGE, 'shop.test', '/')).toBe('one');
    expect(await served(byGateway.a, 'shop.test', '/x')).toBe('two');
    expect(await served(byGateway.b, 'shop.test', '/x')).toBe('three');
  });

  it('serves a route attached to the HTTP listener only on HTTP, the HTTPS one only on HTTPS', async () => {
    expect(await servedTls(byGateway.a, 'shop.test', '/secure')).toBe('two');
    expect(await servedTls(byGateway.a, 'shop.test', '/')).toBe('404');
    expect(await served(byGateway.a, 'shop.test', '/secure')).toBe('two'); // the HTTP listener's `/` prefix
    // Gateway b has no HTTPS listener: nothing is served there over TLS.
    expect(await servedTls(byGateway.b, 'shop.test', '/secure')).toBe('404');
    // The edge's TLS port still serves the Ingress.
    expect(await servedTls(EDGE, 'shop.test', '/secure')).toBe('one');
  });

  it('hostile: an unassigned pool address, a Host naming a scope, an unknown host never reach another route', async () => {
    for (const path of ['/', '/secure']) {
      expect(await served(byGateway.free, 'shop.test', path)).toBe('404');
      expect(await servedTls(byGateway.free, 'shop.test', path)).toBe('404');
    }
    // The edge answers unknown hosts with the Ingress default backend; a Gateway's address does not.
    expect(await served(EDGE, 'unknown.test', '/')).toBe('one');
    expect(await served(byGateway.a, 'unknown.test', '/')).toBe('404');
    expect(await served(byGateway.a, '[::1]:80', '/')).toBe('404');
    // A client naming a scope in its Host header gets nothing on the edge, nor another scope's routes.
    const scopeOfA = `~${byGateway.a.replace(/\./g, '-')}-http`;
    expect(await served(EDGE, `shop.test.${scopeOfA}`, '/')).toBe('404');
    expect(await served(byGateway.b, `shop.test.${scopeOfA}`, '/')).toBe('404');
  });
});
