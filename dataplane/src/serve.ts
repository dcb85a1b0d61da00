/**
 * Serving traffic the way the command line asks: one in-process DataPlane (`workers: 1`) or a
 * pool of worker processes, plus the admin listener. Both shapes take snapshots through the
 * same `load`/`version` pair, so the sync client and the standalone control loop do not care.
 */
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import type { Snapshot } from '@portico/control/snapshot';
import type { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import { checkPortsFree, claimPorts } from './listen.ts';
import { makeLoggers } from './logging.ts';
import { defaultWorkers } from './sizing.ts';
import { workerEntry } from './worker-bundle.ts';
import { prometheusMetrics, startAdminServer } from './admin.ts';
import type { DataPlane, DataPlaneOptions } from './dataplane.ts';
import type { Logger } from './logging.ts';
import type { PortClaims } from './listen.ts';
import type { KeyPair } from './tls.ts';
import { generateDefaultCertificate } from './tls.ts';
import { WorkerPool } from './workers.ts';
import type { WorkerFaults } from './workers.ts';

/** What `startServing` needs. */
export interface ServingOptions extends Omit<DataPlaneOptions, 'accessLog' | 'logger' | 'reusePort' | 'defaultCertificate'> {
  /** Fault injection for tests (see WorkerFaults); never set by the CLI. */
  readonly workerFaults?: WorkerFaults;
  /** Worker processes; 1 serves in this process. Default: one per CPU of the cgroup CPU limit, else per core (`defaultWorkers`). */
  readonly workers?: number;
  /** With worker processes: MiB of tables a worker swaps in before a full collection (reclaim.ts); 0 = never. Default RECLAIM_AFTER_MB. */
  readonly reclaimAfterMb?: number;
  readonly defaultCertificate?: KeyPair;
  readonly adminAddress: string;
  readonly adminPort: number;
  readonly accessLog: boolean;
  readonly logLevel: string;
  /** What the data plane waits for before its first snapshot (for `/readyz`), e.g. the control plane. */
  readonly waitingFor?: () => string;
  /** Why `/readyz` must say not ready although a snapshot is loaded (see AdminSource.notReady). */
  readonly notReady?: () => string | undefined;
  /** The bundle compiler to share (standalone: the control plane's, so each version is compiled once, not once per plane). */
  readonly compiler?: BundleCompiler;
}

/** Traffic being served, however many processes it takes. */
export interface Serving {
  /**
   * Serves a snapshot everywhere; resolves once every process serves it, rejects with
   * PORTICO_E_SNAPSHOT_LOAD (each keeping the snapshot it had) when it cannot load.
   */
  load(snapshot: Snapshot, received?: ReceivedBundle): Promise<void>;
  /** Like `load`, for a snapshot whose routes are the current ones: only endpoint choice is recompiled. */
  loadEndpoints(snapshot: Snapshot, received?: ReceivedBundle): Promise<void>;
  /** The version served everywhere, or undefined. */
  readonly version: string | undefined;
  /** The traffic ports (bound once the first snapshot is loaded) and the admin port. */
  readonly ports: { readonly http: number; readonly https: number | undefined; readonly admin: number };
  readonly workers: number;
  /** The in-process data plane when workers is 1 (tests reach the router through it). */
  readonly dataPlane: DataPlane | undefined;
  /** Graceful stop within `timeoutMs`. */
  close(timeoutMs?: number): Promise<void>;
}

async function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, address, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Starts the data plane in this process or in workers, and the admin listener. The traffic ports
 * open with the first `load` (a snapshot to serve), never before; the admin port opens at once so
 * `/readyz` can say what is missing. Rejects with PORTICO_E_PORT_IN_USE / _DENIED naming the port
 * (before anything listens, when a fixed port is taken); `load` rejects with them when a port is
 * taken in between.
 */
export async function startServing(options: ServingOptions): Promise<Serving> {
  const { logger, accessLog } = makeLoggers(options.logLevel, options.accessLog);
  const sizing = options.workers === undefined ? defaultWorkers() : undefined;
  const workers = options.workers ?? sizing!.workers;
  if (sizing !== undefined) logger.info({ workers, basis: sizing.basis }, 'worker count from the CPU limit');
  const defaultCertificate = options.defaultCertificate ?? (await generateDefaultCertificate());
  const address = options.address ?? '0.0.0.0';
  const traffic = [{ port: options.httpPort, address, what: '--http-port' }, ...(options.httpsPort === undefined ? [] : [{ port: options.httpsPort, address, what: '--https-port' }])];
  await checkPortsFree([...traffic, { port: options.adminPort, address: options.adminAddress, what: '--admin-port' }]);
  const claims = await claimPorts(traffic);
  try {
    return await serve({ options, workers, defaultCertificate, address, claims, logger, accessLog });
  } catch (error) {
    claims.release();
    throw error;
  }
}

/** What `startServing` settled before anything listens. */
interface Settled {
  readonly options: ServingOptions;
  readonly workers: number;
  readonly defaultCertificate: KeyPair;
  readonly address: string;
  /** Released when serving stops. */
  readonly claims: PortClaims;
  readonly logger: Logger;
  readonly accessLog: Logger | undefined;
}

async function serve({ options, workers, defaultCertificate, address, claims, logger, accessLog }: Settled): Promise<Serving> {
  let admin: Server;
  if (workers <= 1) {
    // Loaded only here: a primary with workers never serves traffic itself, so it does not load the proxy.
    const { DataPlane } = await import('./dataplane.ts');
    const dataPlane = await DataPlane.start({ ...options, router: { ...options.router, ...(options.compiler === undefined ? {} : { compiler: options.compiler }) }, defaultCertificate, logger, accessLog, deferListen: true });
    admin = await startAdminServer({ version: () => dataPlane.version, ...(options.waitingFor ? { waitingFor: options.waitingFor } : {}), ...(options.notReady ? { notReady: options.notReady } : {}), metrics: prometheusMetrics(() => [...dataPlane.metrics.families(), ...dataPlane.router.compileFamilies()]) }, options.adminAddress, options.adminPort);
    const adminPort = (admin.address() as { port: number }).port;
    return {
      load: async (snapshot, received) => {
        dataPlane.load(snapshot, received);
        await dataPlane.listen();
      },
      loadEndpoints: async (snapshot, received) => void dataPlane.loadEndpoints(snapshot, received),
      get version() {
        return dataPlane.version;
      },
      get ports() {
        return { ...dataPlane.ports, admin: adminPort };
      },
      workers: 1,
      dataPlane,
      async close(timeoutMs = 10_000) {
        admin.close();
        await dataPlane.close(timeoutMs);
        claims.release();
      },
    };
  }
  // Workers share ports through SO_REUSEPORT, so a "pick any port" must be picked once, here.
  const httpPort = options.httpPort === 0 ? await freePort(address) : options.httpPort;
  const httpsPort = options.httpsPort === 0 ? await freePort(address) : options.httpsPort;
  const entry = workerEntry(logger);
  // The options cross to the workers as JSON: the compiler stays here, with the pool.
  const { compiler, ...workerOptions } = options;
  const pool = await WorkerPool.start(workers, entry, { ...workerOptions, httpPort, httpsPort, defaultCertificate, accessLog: options.accessLog, logLevel: options.logLevel }, logger, compiler);
  admin = await startAdminServer({ version: () => pool.version, ...(options.waitingFor ? { waitingFor: options.waitingFor } : {}), ...(options.notReady ? { notReady: options.notReady } : {}), metrics: prometheusMetrics(() => pool.metrics()) }, options.adminAddress, options.adminPort);
  return {
    load: (snapshot, received) => pool.load(snapshot, false, undefined, received),
    loadEndpoints: (snapshot, received) => pool.load(snapshot, true, undefined, received),
    get version() {
      return pool.version;
    },
    ports: { http: httpPort, https: httpsPort, admin: (admin.address() as { port: number }).port },
    workers,
    dataPlane: undefined,
    async close(timeoutMs = 10_000) {
      admin.close();
      await pool.close(timeoutMs);
      claims.release();
    },
  };
}
