/**
 * Gateway API through `portico standalone` as a process, on a manifest directory: a Gateway and
 * HTTPRoutes served over real HTTP next to an Ingress on the same host (the composition rule),
 * weighted backends, explain naming the HTTPRoute field, and hostile input (a route to a Gateway
 * that does not exist, a huge route, a rule Portico cannot honour (a filter it does not know), a cross-namespace backend
 * without a ReferenceGrant, conflicting listeners) that never takes the rest down.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import { GATEWAY_API, PORTICO_GATEWAY_CLASS, loopbackService } from '../support/gateway-manifests.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, getWithHost as get, startBackend, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const G = GATEWAY_API;

function manifests(web: number, api: number): Record<string, string> {
  return {
    'backends.yaml': [loopbackService('web', 'shop', web), loopbackService('api', 'shop', api), loopbackService('far', 'elsewhere', api)].join('---\n'),
    'gateway.yaml': `${PORTICO_GATEWAY_CLASS}---
apiVersion: ${G}
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: portico
  listeners:
  - {name: http, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
  - {name: clash, port: 80, protocol: HTTP, allowedRoutes: {namespaces: {from: All}}}
`,
    'routes.yaml': `apiVersion: ${G}
kind: HTTPRoute
metadata: {name: shop, namespace: shop, creationTimestamp: "2026-01-01T00:00:00Z"}
spec:
  parentRefs: [{name: edge, namespace: infra, sectionName: http}]
  hostnames: [shop.test]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: api, port: 80}]
  - matches: [{path: {type: Exact, value: /split}}]
    backendRefs: [{name: api, port: 80, weight: 3}, {name: web, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /only-beta}, headers: [{name: x-beta, value: "1"}]}]
    backendRefs: [{name: api, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /far}}]
    backendRefs: [{name: far, namespace: elsewhere, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /filtered}}]
    filters: [{type: ExtensionRef, extensionRef: {group: example.com, kind: Thing, name: x}}]
    backendRefs: [{name: api, port: 80}]
---
apiVersion: ${G}
kind: HTTPRoute
metadata: {name: lost, namespace: shop}
spec:
  parentRefs: [{name: no-such-gateway, namespace: infra}]
  hostnames: [lost.test]
  rules: [{backendRefs: [{name: web, port: 80}]}]
`,
    'huge.yaml': `apiVersion: ${G}\nkind: HTTPRoute\nmetadata: {name: huge, namespace: shop}\nspec:\n  parentRefs: [{name: edge, namespace: infra}]\n  hostnames: [huge.test]\n  rules:\n${Array.from({ length: 17 }, (_, i) => `  - matches: [{path: {value: /r${i}}}]\n    backendRefs: [{name: web, port: 80}]\n`).join('')}`,
    'ingress.yaml': `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: legacy, namespace: shop, creationTimestamp: "2025-01-01T00:00:00Z"}
spec:
  rules:
  - host: shop.test
    http:
      paths:
      - {path: /legacy, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
      - {path: /api, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
`,
  };
}

describe('Gateway API through portico standalone', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let webPort: number;
  let apiPort: number;
  const served = async (host: string, path: string) => {
    const response = await get(ports.http, host, path);
    return { status: response.status, by: response.status === 200 ? (JSON.parse(response.body) as { served_by: string }).served_by.split(':')[1] : undefined };
  };
  const api = (path: string, body?: unknown) =>
    fetch(`http://127.0.0.1:${ports.api}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-gateway-'));
    webPort = await freePort();
    apiPort = await freePort();
    for (const port of [webPort, apiPort]) children.push(await startBackend(port));
    for (const [file, text] of Object.entries(manifests(webPort, apiPort))) await writeFile(join(dir, file), text);
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, https: false });
    children.push(portico.child);
    ports = portico.ports;
  }, 90_000);

  afterAll(() => stopAll(children, dir));

  it('serves HTTPRoute rules and an Ingress on one host: the older object wins the path both claim', async () => {
    expect(await served('shop.test', '/legacy/x')).toEqual({ status: 200, by: String(webPort) });
    // /api is claimed by both; the Ingress is older, so it answers (web), and the HTTPRoute rule gets a Conflict condition.
    expect(await served('shop.test', '/api/orders')).toEqual({ status: 200, by: String(webPort) });
    expect(await served('shop.test', '/elsewhere')).toEqual({ status: 404, by: undefined });
  });

  it('splits traffic by backendRef weight', async () => {
    const counts = new Map<string | undefined, number>();
    for (let i = 0; i < 40; i++) {
      const { by } = await served('shop.test', '/split');
      counts.set(by, (counts.get(by) ?? 0) + 1);
    }
    expect(counts.get(String(apiPort))).toBe(30);
    expect(counts.get(String(webPort))).toBe(10);
  });

  it('never serves a rule it cannot honour as if it matched more, nor a backend without a ReferenceGrant', async () => {
    // The header match is honoured: without the header the request matches no rule.
    expect((await served('shop.test', '/only-beta')).status).toBe(404);
    const beta = await get(ports.http, 'shop.test', '/only-beta', '127.0.0.1', 10_000, { 'X-Beta': '1' });
    expect(beta.status).toBe(200);
    expect((JSON.parse(beta.body) as { served_by: string }).served_by).toBe(`127.0.0.1:${apiPort}`);
    // The spec's 500 for a rule whose only backend is not permitted.
    expect((await get(ports.http, 'shop.test', '/far')).status).toBe(500);
    expect((await served('shop.test', '/filtered')).status).toBe(404);
    expect((await served('lost.test', '/')).status).toBe(404);
  });

  it('refuses the huge route at its field, keeping everything else', async () => {
    expect((await served('huge.test', '/r0')).status).toBe(404);
    const current = (await (await api('/v1/snapshots/current')).json()) as { problems?: { file: string; field?: string; code: string }[]; conditions: { source: { kind: string; name: string }; field: string; reason: string }[] };
    expect(current.problems).toMatchObject([{ file: 'huge.yaml', field: 'spec.rules', code: 'PORTICO_E_MANIFEST_SCHEMA' }]);
    const reasons = current.conditions.map((c) => `${c.source.kind} ${c.source.name} ${c.field} ${c.reason}`);
    expect(reasons).toEqual(
      expect.arrayContaining([
        'Gateway edge spec.listeners[1] ListenerInvalid',
        'HTTPRoute lost spec.parentRefs RouteNotAccepted',
        'HTTPRoute shop spec.rules[0].matches[0] Conflict',
        'HTTPRoute shop spec.rules[4] UnsupportedValue',
        'HTTPRoute shop spec.rules[3].backendRefs[0] RefNotPermitted',
      ]),
    );
  });

  it('explain names the HTTPRoute and its field, and follows an edit of the route file', async () => {
    const explained = (await (await api('/v1/explain', { host: 'shop.test', path: '/split' })).json()) as { status: number; route: { kind: string; namespace: string; name: string; field: string } };
    expect(explained).toMatchObject({ status: 200, route: { kind: 'HTTPRoute', namespace: 'shop', name: 'shop', field: 'spec.rules[1].matches[0]' } });
    const text = manifests(webPort, apiPort)['routes.yaml']!.replace('value: /split', 'value: /halves');
    await writeFile(join(dir, 'routes.yaml'), text);
    await eventually(async () => ((await served('shop.test', '/halves')).status === 200 ? true : undefined), 10_000, '/halves served');
    expect((await served('shop.test', '/split')).status).toBe(404);
  });
});
