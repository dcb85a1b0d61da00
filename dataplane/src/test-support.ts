/**
 * Helpers for the data plane's tests (not shipped in any code path): hand-built snapshots, a
 * proxy listening on loopback, backends that count their connections, and raw-socket clients.
 * Everything binds to 127.0.0.1 only.
 */
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, Server as HttpServer, ServerResponse } from 'node:http';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Snapshot, SnapshotContent, SnapshotRoute } from '@portico/control/snapshot';
import { compareHosts, compareStrings } from '@portico/control/snapshot/order';
import { SNAPSHOT_API_VERSION, parseSnapshot, snapshotVersion } from '@portico/control/snapshot';
import { Proxy } from './proxy.ts';
import type { ProxyOptions } from './proxy.ts';
import { DEFAULT_CLASS_SELECTION } from '@portico/control/ingress-class';
import { parseManifestText } from '@portico/control/manifests/parse';
import { compileState } from '@portico/control/pipeline';
import { ClusterState } from '@portico/control/state';
import { Router } from './router.ts';

/** The loopback address every test binds to. */
export const LOOPBACK = '127.0.0.1';

/** A route in a test snapshot: a path and the loopback ports (or `address:port`s) behind it. */
export interface RouteSpec {
  readonly path?: string;
  readonly pathType?: 'Exact' | 'Prefix' | 'RegularExpression';
  readonly endpoints: readonly (number | string)[];
  readonly sslRedirect?: boolean;
  readonly forceSslRedirect?: boolean;
  /** The source kind (default Ingress); `HTTPRoute` gives the route Gateway API semantics. */
  readonly kind?: 'Ingress' | 'HTTPRoute';
  /** Gateway API match conditions. */
  readonly match?: SnapshotRoute['match'];
  /** Route policies (annotations or Gateway API filters). */
  readonly policies?: SnapshotRoute['policies'];
  /** Invalid Gateway API backends (weight 100 each, like the valid one) beside the endpoints' backend. */
  readonly invalidBackends?: number;
}

/** A host in a test snapshot. */
export interface HostSpec {
  readonly host: string;
  readonly routes: readonly RouteSpec[];
}

/** A valid, versioned snapshot with one Ingress-like route per RouteSpec (one backend each). */
export function snapshotOf(hosts: readonly HostSpec[]): Snapshot {
  const endpointSets: SnapshotContent['endpointSets'] = [];
  const content: SnapshotContent = {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: 'Snapshot',
    hosts: hosts.map((host, h) => ({
      host: host.host,
      tls: false,
      certificate: null,
      routes: host.routes.map((route, r) => {
        const key = `test/svc-${h}-${r}:80`;
        endpointSets.push({
          key,
          endpoints: route.endpoints.map((endpoint) => {
            if (typeof endpoint === 'number') return { address: LOOPBACK, port: endpoint, terminating: false };
            const colon = endpoint.lastIndexOf(':');
            return { address: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)), terminating: false };
          }),
        });
        return {
          source: { kind: route.kind ?? 'Ingress', namespace: 'test', name: `ing-${h}` },
          field: `spec.rules[0].http.paths[${r}]`,
          pathType: route.pathType ?? 'Prefix',
          path: route.path ?? '/',
          backends: [
            { namespace: 'test', service: `svc-${h}-${r}`, port: 80, weight: 100, endpointSet: key },
            ...Array.from({ length: route.invalidBackends ?? 0 }, (_, i) => ({ namespace: 'test', service: `missing-${i}`, port: 80, weight: 100, endpointSet: null, invalid: true as const })),
          ],
          redirect: { sslRedirect: route.sslRedirect ?? false, forceSslRedirect: route.forceSslRedirect ?? false },
          ...(route.match === undefined ? {} : { match: route.match }),
          ...(route.policies === undefined ? {} : { policies: route.policies }),
        };
      }),
      defaultRoute: null,
    })),
    defaultRoute: null,
    endpointSets,
    certificates: [],
  };
  // The contract keeps its lists in order; the specs above are in whatever order a test likes.
  content.hosts.sort((a, b) => compareHosts(a.host, b.host));
  endpointSets.sort((a, b) => compareStrings(a.key, b.key));
  return parseSnapshot({ ...content, version: snapshotVersion(content) });
}

/** A proxy behind a loopback net.Server. */
export interface RunningProxy {
  readonly proxy: Proxy;
  readonly server: Server;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts a Proxy for `router` on 127.0.0.1 (random port), plain HTTP; loopback endpoints allowed unless `options` say otherwise. */
export async function startProxy(router: Router, options: ProxyOptions = {}): Promise<RunningProxy> {
  const proxy = new Proxy(router, { endpointAddresses: { allowLoopback: true }, ...options });
  const server = createServer((socket) => proxy.handleConnection(socket, { scheme: 'http', localPort: port }));
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    proxy,
    server,
    port,
    close: async () => {
      server.close();
      await proxy.close({ timeoutMs: 1000 });
    },
  };
}

/** A node:http backend that counts the TCP connections it accepted. */
export interface Backend {
  readonly server: HttpServer;
  readonly port: number;
  /** Connections accepted so far. */
  connections: number;
  /** Requests received so far. */
  requests: number;
  close(): Promise<void>;
}

/** Starts a loopback node:http backend running `handler`. */
export async function startBackend(handler: (request: IncomingMessage, response: ServerResponse) => void): Promise<Backend> {
  const server = createHttpServer((request, response) => {
    backend.requests++;
    handler(request, response);
  });
  server.on('connection', () => backend.connections++);
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const backend: Backend = {
    server,
    port: (server.address() as AddressInfo).port,
    connections: 0,
    requests: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return backend;
}

/** A raw TCP backend: records every byte it receives and never answers (unless `answer`). */
export async function startRawBackend(answer?: (socket: Socket, data: Buffer) => void): Promise<{ port: number; received: () => string; connections: () => number; close: () => Promise<void> }> {
  const chunks: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (data) => {
      chunks.push(data);
      answer?.(socket, data);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received: () => Buffer.concat(chunks).toString('latin1'),
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * Writes `bytes` to the proxy on a fresh connection and collects what comes back until the
 * connection closes or nothing arrives for `idleMs`.
 */
export function rawExchange(port: number, bytes: string | Buffer, idleMs = 300): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, LOOPBACK);
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(finish, idleMs);
    };
    socket.on('connect', () => {
      socket.write(bytes);
      arm();
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      arm();
    });
    socket.on('close', finish);
    socket.on('error', (error) => (chunks.length > 0 ? finish() : reject(error)));
  });
}

/** A port on 127.0.0.1 that nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Status code of the first response in a raw exchange, or 0. */
export function statusOf(raw: string): number {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return match === null ? 0 : Number(match[1]);
}

/** A response read whole. */
export interface FetchedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request through node:http to 127.0.0.1:port (a new connection unless `agent` is given). */
export function fetchVia(port: number, options: { host: string; path?: string; method?: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; agent?: Agent }): Promise<FetchedResponse> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { host: LOOPBACK, port, path: options.path ?? '/', method: options.method ?? 'GET', headers: { host: options.host, ...options.headers }, agent: options.agent ?? false },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString() }));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** A keep-alive agent with one socket, so sequential requests share one client connection. */
export function keepAliveAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

/** A GET to 127.0.0.1:port on a new connection (admin or traffic port): status and body. */
export function httpGet(port: number, path: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: LOOPBACK, port, path, agent: false, headers: host === undefined ? {} : { host } }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** An Ingress `web/<name>` for `host` (path `/` Prefix to Service `app` port 80) with `annotations`, as one JSON manifest document. */
export function annotatedIngress(name: string, host: string, annotations: Record<string, string>): string {
  return (
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'web', annotations },
      spec: { ingressClassName: 'portico', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }] },
    }) + '\n'
  );
}

/** Manifest text: Service `web/app` whose one ready endpoint is 127.0.0.1:`port`, then `documents`. */
export function appManifests(port: number, documents: readonly string[]): string {
  return [
    'apiVersion: v1\nkind: Service\nmetadata: {name: app, namespace: web}\nspec: {ports: [{port: 80}]}\n',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: app-1, namespace: web, labels: {kubernetes.io/service-name: app}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`,
    ...documents,
  ].join('---\n');
}

/** Compiles manifest text as the standalone control plane does (throws on a parse problem) and loads it into a new Router. */
export function compileManifests(text: string): { router: Router; snapshot: Snapshot; conditions: ReturnType<typeof compileState>['conditions'] } {
  const parsed = parseManifestText(text, 'test.yaml');
  if (parsed.problems.length !== 0) throw new Error(`manifest problems: ${JSON.stringify(parsed.problems)}`);
  const compiled = compileState(ClusterState.from(parsed.objects), DEFAULT_CLASS_SELECTION);
  const router = new Router();
  router.load(compiled.snapshot);
  return { router, snapshot: compiled.snapshot, conditions: compiled.conditions };
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
