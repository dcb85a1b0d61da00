/**
 * Test support (no shipped code path imports it): a standalone-style control API on an
 * in-memory or on-disk SQLite store, with a synchronous rebuild after every write, as the
 * standalone composition root wires it (store -> ClusterState -> build -> compile -> history).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { Logger } from 'pino';
import { PORTICO_CONTROLLER } from '../build/ingress-class.ts';
import type { ClassSelection } from '../build/ingress-class.ts';
import { StaticTokenAuthenticator } from '../auth/token.ts';
import type { Authenticator } from '../auth/types.ts';
import { compileState } from '../pipeline.ts';
import { SnapshotHistory } from '../publish/history.ts';
import type { SnapshotHistoryOptions } from '../publish/history.ts';
import type { BundleCompiler } from '../snapshot/bundle-compile.ts';
import { feedRouteStore } from '../sources/store/feed.ts';
import type { RouteStore } from '../sources/store/route-store.ts';
import { SqliteRouteStore } from '../sources/store/sqlite.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import type { ControlApi } from './app.ts';
import { createApp } from './app.ts';
import { servedFrom } from './conflicts.ts';

/** The token of test instances. */
export const TEST_TOKEN = 'test-token-0123456789abcdef';

/** A running test control plane. */
export interface TestControl extends ControlApi {
  readonly state: ClusterState;
  readonly store: RouteStore;
  readonly history: SnapshotHistory;
  /** Rebuilds and publishes now (after changing `state` by hand). */
  rebuild(): void;
  /** `app.request` with the bearer token set. */
  request(path: string, init?: RequestInit): Promise<Response>;
  close(): void;
}

/** The class selection of standalone mode. */
export const STANDALONE_SELECTION: ClassSelection = { className: 'portico', controller: PORTICO_CONTROLLER, watchWithoutClass: true };

/** Builds a standalone-style control API over `objects` (Services, EndpointSlices, … from "manifests"). */
export async function testControl(options: { objects?: readonly KubeObject[]; dataDir?: string; store?: RouteStore; auth?: Authenticator; syncTimeoutMs?: number; bodyLimit?: number; bodyDeadlineMs?: number; logger?: Logger; history?: SnapshotHistoryOptions; bundleCompiler?: BundleCompiler } = {}): Promise<TestControl> {
  const state = ClusterState.from(options.objects ?? []);
  const store = options.store ?? new SqliteRouteStore({ dataDir: options.dataDir ?? ':memory:' });
  const history = new SnapshotHistory(options.history);
  const rebuild = () => {
    const { snapshot, conditions } = compileState(state, STANDALONE_SELECTION, history.current()?.snapshot);
    history.publish(snapshot, conditions);
  };
  const stop = await feedRouteStore(store, state, rebuild);
  rebuild();
  const api = createApp({
    history,
    store,
    auth: options.auth ?? new StaticTokenAuthenticator(TEST_TOKEN),
    served: servedFrom(state, STANDALONE_SELECTION),
    ...(options.syncTimeoutMs !== undefined ? { syncTimeoutMs: options.syncTimeoutMs } : {}),
    ...(options.bodyLimit !== undefined ? { bodyLimit: options.bodyLimit } : {}),
    ...(options.bodyDeadlineMs !== undefined ? { bodyDeadlineMs: options.bodyDeadlineMs } : {}),
    ...(options.logger !== undefined ? { logger: options.logger } : {}),
    ...(options.bundleCompiler !== undefined ? { bundleCompiler: options.bundleCompiler } : {}),
  });
  return {
    ...api,
    state,
    store,
    history,
    rebuild,
    request: async (path, init = {}) => {
      const headers = new Headers(init.headers);
      if (!headers.has('authorization')) headers.set('authorization', `Bearer ${TEST_TOKEN}`);
      return api.app.request(path, { ...init, headers });
    },
    close: () => {
      stop();
      if (options.store === undefined) store.close();
    },
  };
}

/** Serves `app` on 127.0.0.1 (`port`, default a free one); resolves with its URL, port and a close function that also ends open connections. */
export async function listen(app: { fetch: (request: Request) => Response | Promise<Response> }, port = 0): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}

/** A Service with one port and an EndpointSlice with `addresses` (what a route's backend needs to answer 200). */
export function serviceWithEndpoints(namespace: string, name: string, port: number, addresses: readonly string[], targetPort = 8080): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port, targetPort }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-abc`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
      ports: [{ name: 'http', port: targetPort }],
    },
  ] as KubeObject[];
}

/** A kubernetes.io/tls Secret with a fresh self-signed certificate (made with the openssl CLI). */
export function selfSignedTlsSecret(namespace: string, name: string, host = 'example.com'): KubeObject & { privateKeyPem: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${host}`, '-days', '2', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(key).toString('base64') } } as KubeObject;
    return Object.assign(secret, { privateKeyPem: key });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
