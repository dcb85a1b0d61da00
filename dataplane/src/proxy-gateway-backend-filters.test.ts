// Gateway API backendRef filters through the real proxy, from manifests compiled as the control
// plane does: two weighted echo backends, each with its own header changes on top of the rule's
// (the upstream HTTPRouteRequestHeaderModifierBackendWeights test's shape), over HTTP/1.1 and
// HTTP/2 clients; a retry onto the other backend takes that backend's changes; hostile sizes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '@portico/control/snapshot';
import type { Router } from './router.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { LOOPBACK, closedPort, compileManifests, fetchVia, keepAliveAgent, startBackend, startProxy } from './test-support.ts';

interface Seen {
  readonly backend: string;
  /** Raw request header lines, lower-case names. */
  readonly lines: [string, string][];
}

/** An echo backend named `name`: answers its name and the request's raw header lines, with `X-Server: name`. */
function echo(name: string): Promise<Backend> {
  return startBackend((request: IncomingMessage, response: ServerResponse) => {
    const lines: [string, string][] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) lines.push([(request.rawHeaders[i] as string).toLowerCase(), request.rawHeaders[i + 1] as string]);
    response.setHeader('content-type', 'application/json');
    response.setHeader('x-server', name);
    response.setHeader('x-drop', 'endpoint');
    response.end(JSON.stringify({ backend: name, lines } satisfies Seen));
  });
}

const service = (name: string, port: number): string =>
  [
    JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'apps' }, spec: { ports: [{ port: 8080 }] } }),
    JSON.stringify({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace: 'apps', labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', ports: [{ port }], endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }] }),
  ].join('\n---\n');

const G = 'gateway.networking.k8s.io/v1';
const gateway = [
  JSON.stringify({ apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } }),
  JSON.stringify({ apiVersion: G, kind: 'Gateway', metadata: { name: 'edge', namespace: 'apps' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP' }] } }),
].join('\n---\n');

const requestSet = (name: string, value: string) => ({ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name, value }] } });

/** The manifests: Services v1 and v2 (and a dead one) behind HTTPRoute `filters` on host backends.test. */
function manifests(ports: { v1: number; v2: number; dead: number }, rules: unknown[]): string {
  const route = JSON.stringify({ apiVersion: G, kind: 'HTTPRoute', metadata: { name: 'filters', namespace: 'apps' }, spec: { parentRefs: [{ name: 'edge' }], hostnames: ['backends.test'], rules } });
  return [gateway, service('v1', ports.v1), service('v2', ports.v2), service('dead', ports.dead), route].join('\n---\n');
}

const values = (seen: Seen, name: string): string[] => seen.lines.filter(([n]) => n === name).map(([, v]) => v);

describe('proxy: Gateway API backendRef filters', () => {
  let v1: Backend;
  let v2: Backend;
  let dead: number;
  let router: Router;
  let snapshot: Snapshot;
  let proxy: RunningProxy;
  const big = 'b'.repeat(4096);

  beforeAll(async () => {
    [v1, v2, dead] = await Promise.all([echo('v1'), echo('v2'), closedPort()]);
    const many = Array.from({ length: 16 }, (_, i) => ({ name: `X-Many-${i}`, value: `m${i}` }));
    const compiled = compileManifests(manifests({ v1: v1.port, v2: v2.port, dead }, [
      {
        matches: [{ path: { type: 'PathPrefix', value: '/weights' } }],
        filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Rule', value: 'rule' }, { name: 'Backend', value: 'rule' }], add: [{ name: 'X-Joined', value: 'rule' }] } }],
        backendRefs: [
          { name: 'v1', port: 8080, weight: 10, filters: [requestSet('Backend', 'v1'), { type: 'ResponseHeaderModifier', responseHeaderModifier: { remove: ['X-Drop'] } }] },
          { name: 'v2', port: 8080, weight: 10, filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'Backend', value: 'v2' }], add: [{ name: 'X-Joined', value: 'v2' }], remove: ['X-Client-Drop'] } }, { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-From', value: 'v2' }] } }] },
        ],
      },
      {
        // The dead backend refuses connections: its share is retried on v2, which must get v2's changes.
        matches: [{ path: { type: 'PathPrefix', value: '/retry' } }],
        backendRefs: [
          { name: 'dead', port: 8080, weight: 1, filters: [requestSet('Backend', 'dead'), { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Answered-By', value: 'dead' }] } }] },
          { name: 'v2', port: 8080, weight: 1, filters: [requestSet('Backend', 'v2'), { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Answered-By', value: 'v2' }] } }] },
        ],
      },
      {
        matches: [{ path: { type: 'PathPrefix', value: '/big' } }],
        backendRefs: [{ name: 'v1', port: 8080, filters: [
          { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [...many.slice(0, 15), { name: 'X-Big', value: big }], add: many.map((h) => ({ ...h, name: `${h.name}-add` })), remove: many.map((h) => `X-Gone-${h.value}`) } },
          { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'X-Big', value: big }] } },
        ] }],
      },
    ]));
    expect(compiled.conditions.filter((c) => c.severity === 'Error')).toEqual([]);
    router = compiled.router;
    snapshot = compiled.snapshot;
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    await Promise.all([v1.close(), v2.close()]);
  });

  it('each of two weighted backends sees only its own changes, on top of the rule\'s (100 requests, keep-alive)', async () => {
    const agent = keepAliveAgent();
    const counts: Record<string, number> = { v1: 0, v2: 0 };
    for (let i = 0; i < 100; i++) {
      const response = await fetchVia(proxy.port, { host: 'backends.test', path: '/weights', headers: { 'x-client-drop': 'please', 'x-drop': 'client' }, agent });
      expect(response.status).toBe(200);
      const seen = JSON.parse(response.body) as Seen;
      counts[seen.backend]!++;
      expect(values(seen, 'backend')).toEqual([seen.backend]);
      expect(values(seen, 'x-rule')).toEqual(['rule']);
      // The rule's add stays; v2's add joins it.
      expect(values(seen, 'x-joined')).toEqual(seen.backend === 'v2' ? ['rule', 'v2'] : ['rule']);
      expect(values(seen, 'x-client-drop')).toEqual(seen.backend === 'v2' ? [] : ['please']);
      expect(values(seen, 'x-drop')).toEqual(['client']);
      expect(response.headers['x-server']).toBe(seen.backend);
      expect(response.headers['x-from']).toBe(seen.backend === 'v2' ? 'v2' : undefined);
      expect(response.headers['x-drop']).toBe(seen.backend === 'v1' ? undefined : 'endpoint');
    }
    agent.destroy();
    // Equal weights: smooth WRR alternates.
    expect(counts).toEqual({ v1: 50, v2: 50 });
  });

  it('over an HTTP/2 client too (h2c to the data plane)', async () => {
    const plane = await startH2DataPlane(snapshot);
    const session = await h2Session(plane, false);
    try {
      const seenBy = new Set<string>();
      for (let i = 0; i < 10; i++) {
        const response = await h2Request(session, { ':path': '/weights', ':authority': 'backends.test' });
        expect(response.status).toBe(200);
        const seen = JSON.parse(response.body.toString('utf8')) as Seen;
        seenBy.add(seen.backend);
        expect(values(seen, 'backend')).toEqual([seen.backend]);
        expect(response.headers['x-from']).toBe(seen.backend === 'v2' ? 'v2' : undefined);
      }
      expect([...seenBy].sort()).toEqual(['v1', 'v2']);
    } finally {
      session.close();
      await plane.close();
    }
  });

  it('a retry onto the other backend (connection refused) takes that backend\'s changes, not the refused one\'s', async () => {
    for (let i = 0; i < 10; i++) {
      const response = await fetchVia(proxy.port, { host: 'backends.test', path: '/retry' });
      expect(response.status).toBe(200);
      const seen = JSON.parse(response.body) as Seen;
      expect(seen.backend).toBe('v2');
      expect(values(seen, 'backend')).toEqual(['v2']);
      expect(response.headers['x-answered-by']).toBe('v2');
    }
  });

  it('hostile sizes: 4096-character values and 16 entries per list go through whole, both ways', async () => {
    const response = await fetchVia(proxy.port, { host: 'backends.test', path: '/big', headers: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x-gone-m${i}`, 'x'])) });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body) as Seen;
    expect(values(seen, 'x-big')).toEqual([big]);
    expect(seen.lines.filter(([n]) => n.startsWith('x-many-') && !n.endsWith('-add'))).toHaveLength(15);
    expect(seen.lines.filter(([n]) => n.startsWith('x-many-') && n.endsWith('-add'))).toHaveLength(16);
    expect(seen.lines.filter(([n]) => n.startsWith('x-gone-'))).toEqual([]);
    expect(response.headers['x-big']).toBe(big);
  });
});

describe('proxy: GRPCRoute backendRef filters (gRPC over HTTP/2 to the endpoints)', () => {
  it('each of two weighted gRPC backends sees only its own request headers; the response change comes from its backend only', async () => {
    const servers = await Promise.all(['g1', 'g2'].map(async (name) => {
      const server = createH2Server();
      server.on('stream', (stream, headers) => {
        stream.on('error', () => {});
        stream.resume();
        stream.on('end', () => {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-server': name, 'x-seen-backend': String(headers['backend']), 'x-seen-rule': String(headers['x-rule']) }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from([0, 0, 0, 0, 0]));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
      return { name, server, port: (server.address() as AddressInfo).port };
    }));
    const route = JSON.stringify({ apiVersion: G, kind: 'GRPCRoute', metadata: { name: 'rpc', namespace: 'apps' }, spec: { parentRefs: [{ name: 'edge' }], hostnames: ['grpc.test'], rules: [{
      matches: [{ method: { service: 'echo.Echo' } }],
      filters: [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-rule', value: 'rule' }, { name: 'backend', value: 'rule' }] } }],
      backendRefs: [
        { name: 'g1', port: 8080, weight: 1, filters: [requestSet('backend', 'g1')] },
        { name: 'g2', port: 8080, weight: 1, filters: [requestSet('backend', 'g2'), { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'x-from', value: 'g2' }] } }] },
      ],
    }] } });
    const { snapshot, conditions } = compileManifests([gateway, service('g1', servers[0]!.port), service('g2', servers[1]!.port), route].join('\n---\n'));
    expect(conditions.filter((c) => c.severity === 'Error')).toEqual([]);
    const plane = await startH2DataPlane(snapshot);
    const session = await h2Session(plane, false);
    try {
      const counts: Record<string, number> = { g1: 0, g2: 0 };
      for (let i = 0; i < 20; i++) {
        const response = await h2Request(session, { ':method': 'POST', ':path': '/echo.Echo/Say', ':authority': 'grpc.test', 'content-type': 'application/grpc', te: 'trailers' }, Buffer.from([0, 0, 0, 0, 0]));
        expect(response.status).toBe(200);
        expect(response.trailers?.['grpc-status']).toBe('0');
        const server = String(response.headers['x-server']);
        counts[server]!++;
        expect(response.headers['x-seen-backend']).toBe(server);
        expect(response.headers['x-seen-rule']).toBe('rule');
        expect(response.headers['x-from']).toBe(server === 'g2' ? 'g2' : undefined);
      }
      expect(counts).toEqual({ g1: 10, g2: 10 });
    } finally {
      session.close();
      await plane.close();
      for (const { server } of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
