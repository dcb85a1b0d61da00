/**
 * Multi-core: a primary process forks N workers; each runs its own DataPlane (own matcher, own
 * connections) on the same ports via SO_REUSEPORT, so the kernel spreads connections. The
 * primary compiles each snapshot once into a table bundle (bundle.ts: the encoded matcher table
 * and its metadata) and sends that to every worker, which verifies it and loads it without
 * compiling; the primary reports it loaded only once all of them confirm (or failed, with the worker's error). All or none: when one worker refuses a snapshot,
 * every worker that took it is rolled back to the last snapshot all confirmed (a worker that
 * cannot roll back is replaced), so the workers never serve different versions for long;
 * `/metrics` merges the workers' metric families (counters summed, state gauges per worker).
 * A worker loads only the data plane (and the contract's table mapping): no other control-plane code, no metrics library, no schema
 * library (the primary has parsed and verified every snapshot it sends).
 */
import cluster from 'node:cluster';
import type { Worker } from 'node:cluster';
import type { Snapshot } from '@portico/control/snapshot';
import type { TableBundle } from './bundle.ts';
import { SnapshotCompiler } from './bundle.ts';
import type { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import type { Logger } from './logging.ts';
import type { DataPlaneOptions } from './dataplane.ts';
import { PorticoError } from './errors.ts';
import type { MetricFamily } from './metric-families.ts';
import type { BundleDelta } from './worker-delta.ts';
import { bundleDelta, deltaSources, payloadSize } from './worker-delta.ts';
import { isPortError } from './listen.ts';
import { HeldFlagValues, mergeWorkers } from './metric-families.ts';
import type { KeyPair } from './tls.ts';

/**
 * Messages from the primary to a worker. A worker that holds a bundle in the same mode gets the
 * next one as a `bundle-delta` from it (worker-delta.ts); a new worker, or one that answered
 * `resync`, gets the whole `bundle`.
 */
export type ToWorker = { type: 'bundle'; bundle: TableBundle } | { type: 'bundle-delta'; delta: BundleDelta } | { type: 'metrics'; id: number; have?: readonly string[] } | { type: 'shutdown'; timeoutMs: number };
/**
 * Messages from a worker to the primary. `loaded` names the digest of the bundle it now holds;
 * `resync`: a delta did not reach `digest` from what it holds (`holds`, null for nothing), so it
 * loaded nothing and needs the whole bundle.
 */
export type FromWorker = { type: 'ready'; ports: { http: number; https: number | undefined } } | { type: 'loaded'; version: string; digest: string } | { type: 'resync'; version: string; digest: string; holds: string | null; error: string } | { type: 'failed'; version: string; error: string; code?: string } | { type: 'start-failed'; error: string } | { type: 'metrics'; id: number; families: MetricFamily[] };

/**
 * Fault injection for tests, for the `worker`-th worker this pool forked (from 1): `failLoad`, it
 * fails to load snapshot `version`; `damageDelta`, the bundle it makes from a delta to `version`
 * has a damaged table (as a wrong base would give). Never set in production.
 */
export interface WorkerFaults {
  readonly failLoad?: { readonly worker: number; readonly version: string };
  readonly damageDelta?: { readonly worker: number; readonly version: string };
}

/** The primary's view of one worker's bundles. */
interface Mailbox {
  /** The bundle it confirmed in each mode (full, balancing-only): what it holds, the base of a delta. */
  readonly held: [TableBundle | undefined, TableBundle | undefined];
  /** The bundle it confirmed last (one of `held`): its snapshot is the one the worker's next load patches, so a delta's endpoints are edited from it. */
  served: TableBundle | undefined;
  /** Sent, not answered yet: nothing else is sent until it is. */
  inFlight: TableBundle | undefined;
  /** The newest bundle it should load next (a newer one replaces it): at most one waits, however fast versions come. */
  next: TableBundle | undefined;
  /** It said `ready`: before, nothing is sent (a message before its handler is registered would be lost), bundles wait in `next`. */
  ready: boolean;
  /** The flag values (endpoint keys) of its last answers: a scrape names their keys and the worker leaves them out. */
  readonly flagValues: HeldFlagValues;
}

/** What the pool sent its workers: bundles whole and as deltas, and their payloads (`payloadSize`). */
export interface TransferStats {
  full: number;
  deltas: number;
  fullBytes: number;
  deltaBytes: number;
  /** Deltas a worker could not apply (and got whole instead). */
  resyncs: number;
  /** Bundles replaced by a newer one before they were sent. */
  superseded: number;
}

/** Options a worker is started with (serialisable). */
export type WorkerOptions = Omit<DataPlaneOptions, 'accessLog' | 'logger' | 'defaultCertificate' | 'reusePort'> & { readonly defaultCertificate: KeyPair; readonly accessLog: boolean; readonly logLevel: string; readonly workerFaults?: WorkerFaults; readonly reclaimAfterMb?: number };

export const ENV = 'PORTICO_WORKER_OPTIONS';
/** Which worker of its pool a worker is (1, 2, ...; replacements count on). */
export const INDEX_ENV = 'PORTICO_WORKER_INDEX';

/** MiB of tables a worker swaps in before it runs a full collection (reclaim.ts), unless `--reclaim-after-mb` says otherwise: never (reused wasm instances and a young collection after each swap keep a worker near its idle size without one). */
export const RECLAIM_AFTER_MB = 0;

/** The primary's handle on its workers; has the `load`/`version` shape the sync client and control loop use. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private readonly loaded = new Map<Worker, string>();
  private readonly mailboxes = new Map<Worker, Mailbox>();
  /** The last delta made, reused for every worker with the same base. */
  private lastDelta: { readonly base: TableBundle; readonly next: TableBundle; readonly served: TableBundle | undefined; readonly delta: BundleDelta | undefined } | undefined;
  /** What crossed to the workers so far (tests, bench, `portico_worker_bundle_*` metrics). */
  readonly transfers: TransferStats = { full: 0, deltas: 0, fullBytes: 0, deltaBytes: 0, resyncs: 0, superseded: 0 };
  /** The last snapshot every worker confirmed; a replacement worker starts from it. */
  private current: Snapshot | undefined;
  /** The version of the last load that failed on some worker: a worker that still reports it is rolled back. */
  private abandoned: string | undefined;
  /** Whether a balancing-only bundle was compiled here (or is about to be, a turn after the first full load all workers confirmed). */
  private balancingCompiled = false;
  /** A load the workers have not all confirmed yet. */
  private pending: { readonly snapshot: Snapshot; readonly waiting: Set<Worker>; settle: (error?: Error) => void } | undefined;
  /** Metric requests waiting for workers' answers, by request id. */
  private readonly scrapes = new Map<number, (worker: Worker, families: MetricFamily[]) => void>();
  private nextScrape = 0;
  private readonly logger: Logger | undefined;
  private closing = false;
  /** Compiles each snapshot host once; every version is assembled from its hosts (bundle-compile.ts). */
  private readonly compiler: SnapshotCompiler;

  private constructor(logger: Logger | undefined, compiler: BundleCompiler | undefined) {
    this.logger = logger;
    this.compiler = new SnapshotCompiler(compiler);
  }

  /**
   * Forks `count` workers running `entry` (a script that runs `runWorker()`, worker-entry.ts), and resolves when all
   * listen. A worker that dies is replaced and given the current snapshot. `compiler`: the bundle
   * compiler to share (standalone: the control plane's), else the pool's own.
   */
  static async start(count: number, entry: string, options: WorkerOptions, logger?: Logger, compiler?: BundleCompiler): Promise<WorkerPool> {
    const pool = new WorkerPool(logger, compiler);
    // Advanced serialization: bundles cross as typed arrays (structured clone), not as JSON text.
    cluster.setupPrimary({ exec: entry, args: [], silent: false, serialization: 'advanced' });
    const env = { [ENV]: JSON.stringify(options) };
    let forked = 0;
    const fork = (): Promise<void> =>
      new Promise((resolve, reject) => {
        const worker = cluster.fork({ ...env, [INDEX_ENV]: String(++forked) });
        pool.workers.push(worker);
        const mailbox: Mailbox = { held: [undefined, undefined], served: undefined, inFlight: undefined, next: undefined, ready: false, flagValues: new HeldFlagValues() };
        pool.mailboxes.set(worker, mailbox);
        worker.on('message', (message: FromWorker) => {
          if (message.type === 'ready') {
            // A new worker has no routes yet: it gets the whole snapshot being rolled out (waiting already when a load came first), else the last confirmed one.
            mailbox.ready = true;
            const start = pool.pending?.snapshot ?? pool.current;
            if (mailbox.next === undefined && start) mailbox.next = pool.compiler.compile(start);
            pool.sendNext(worker, mailbox);
            resolve();
          } else if (message.type === 'metrics') pool.scrapes.get(message.id)?.(worker, message.families);
          else if (message.type === 'start-failed') reject(new PorticoError('PORTICO_E_CONFIG', `worker failed to start: ${message.error}`));
          else if (message.type === 'resync') {
            logger?.warn({ worker: worker.id, version: message.version, holds: message.holds, error: message.error }, 'worker could not apply a bundle delta; sending the whole bundle');
            pool.resync(worker, message.digest);
          } else if (message.type === 'loaded') {
            pool.answered(worker, message.digest);
            pool.loaded.set(worker, message.version);
            // All or none: a worker that took a snapshot another worker refused goes back to the last good one.
            if (message.version === pool.abandoned) pool.rollBack(worker);
            else pool.confirmed(worker, message.version);
          } else if (message.type === 'failed') {
            pool.answered(worker, undefined);
            logger?.error({ version: message.version, error: message.error, worker: worker.id }, 'worker could not load a snapshot');
            // A worker that cannot open the ports fails the load with that error as it is (one line naming the port).
            const error = isPortError(message) ? new PorticoError(message.code, message.error) : new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${message.version} cannot be loaded: ${message.error}`);
            if (pool.pending?.snapshot.version === message.version) {
              pool.abandoned = message.version;
              pool.pending.settle(error);
              for (const other of pool.workers) if (pool.loaded.get(other) === message.version) pool.rollBack(other);
            } else if (message.version === pool.current?.version && pool.loaded.get(worker) !== pool.current.version) {
              // It cannot even go back to the last good snapshot: a fresh worker starts from it.
              logger?.error({ worker: worker.id, version: message.version }, 'worker could not roll back; replacing it');
              worker.process.kill('SIGKILL');
            }
          }
        });
        worker.on('exit', (code, signal) => {
          pool.workers.splice(pool.workers.indexOf(worker), 1);
          pool.loaded.delete(worker);
          pool.mailboxes.delete(worker);
          pool.confirmed(worker, undefined);
          if (pool.closing) return;
          logger?.error({ worker: worker.id, code, signal }, 'worker died; starting another');
          fork().catch((error: unknown) => logger?.error({ err: error }, 'replacement worker failed'));
        });
      });
    await Promise.all(Array.from({ length: count }, fork));
    return pool;
  }

  /** The version every worker serves, or undefined while they differ or before the first load. */
  get version(): string | undefined {
    const versions = new Set(this.workers.map((worker) => this.loaded.get(worker)));
    return versions.size === 1 ? [...versions][0] : undefined;
  }

  /**
   * Sends the snapshot to every worker; resolves once all of them serve it, rejects with
   * PORTICO_E_SNAPSHOT_LOAD (the workers keep the snapshot they had) when one cannot load it or
   * they do not confirm within `timeoutMs`. The snapshot is compiled here, once, into a bundle
   * that every worker loads without compiling (PORTICO_E_SNAPSHOT_LOAD when it cannot be).
   * With `endpointsOnly`, workers keep their routing and load endpoint choice only.
   */
  load(snapshot: Snapshot, endpointsOnly = false, timeoutMs = 60_000, received?: ReceivedBundle): Promise<void> {
    // Loads come one at a time from the sync client or the rebuild loop; a newer one supersedes a waiting one.
    this.pending?.settle();
    let bundle: TableBundle;
    try {
      bundle = this.compiler.compile(snapshot, endpointsOnly, received);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => pending.settle(new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version}: workers did not confirm within ${timeoutMs} ms`)), timeoutMs);
      const pending = {
        snapshot,
        waiting: new Set(this.workers),
        settle: (error?: Error) => {
          if (this.pending !== pending) return;
          this.pending = undefined;
          clearTimeout(timer);
          if (error !== undefined) return reject(error);
          this.current = snapshot;
          if (this.abandoned === snapshot.version) this.abandoned = undefined;
          if (endpointsOnly) this.balancingCompiled = true;
          else if (!this.balancingCompiled) this.compileBalancingSoon(snapshot);
          resolve();
        },
      };
      this.pending = pending;
      for (const worker of this.workers) this.deliver(worker, bundle);
      this.logger?.info({ version: snapshot.version, workers: this.workers.length, endpointsOnly }, 'snapshot sent to workers');
      if (pending.waiting.size === 0) pending.settle();
    });
  }

  /**
   * As the in-process Router does: the first endpoint-only change would otherwise assemble the
   * balancing-only bundle from every host while the workers wait (0.2 s at 50,000 Ingresses). Made
   * once, a turn after the first full version all workers confirmed (if it is still the current one
   * then), so each later one is patched from it, at the cost of the change. A failure here is the
   * one the change's own compile would meet and report: nothing to do now.
   */
  private compileBalancingSoon(snapshot: Snapshot): void {
    this.balancingCompiled = true;
    setImmediate(() => {
      if (this.current !== snapshot || this.pending !== undefined) return;
      try {
        this.compiler.compile(snapshot, true);
      } catch {
        // Reported by the endpoint-only load, if it comes to that.
      }
    });
  }

  /**
   * Sends `worker` the last snapshot every worker confirmed, so no worker serves one that another
   * refused; without one (the very first load failed), replaces the worker, which then serves nothing.
   */
  private rollBack(worker: Worker): void {
    const previous = this.current;
    this.logger?.warn({ worker: worker.id, from: this.loaded.get(worker), to: previous?.version }, 'rolling a worker back to the last snapshot all workers loaded');
    if (previous === undefined) worker.process.kill('SIGKILL');
    else {
      // A newer bundle already on its way to this worker takes it off the abandoned one just as well.
      const mailbox = this.mailboxes.get(worker);
      if (mailbox?.next === undefined && mailbox?.inFlight === undefined) this.deliver(worker, this.compiler.compile(previous));
    }
  }

  /** Queues `bundle` for `worker`: sent now when it is ready and nothing is in flight to it, else when it is ready or answers (replacing any bundle still waiting). */
  private deliver(worker: Worker, bundle: TableBundle): void {
    const mailbox = this.mailboxes.get(worker);
    if (mailbox === undefined) return;
    if (mailbox.next !== undefined) this.transfers.superseded++;
    mailbox.next = bundle;
    if (mailbox.ready && mailbox.inFlight === undefined) this.sendNext(worker, mailbox);
  }

  /**
   * Sends the waiting bundle: as a delta from what the worker holds in its mode (a balancing-only
   * one to a worker holding none yet: from its full one), its endpoints text from the bundle it
   * loaded last, when there is one and it is small; else whole.
   */
  private sendNext(worker: Worker, mailbox: Mailbox, whole = false): void {
    const bundle = mailbox.next;
    if (bundle === undefined) return;
    mailbox.next = undefined;
    mailbox.inFlight = bundle;
    const { base, endpointsFrom } = deltaSources(mailbox.held, mailbox.served, bundle);
    const delta = whole || base === undefined ? undefined : this.deltaOf(base, bundle, endpointsFrom);
    if (delta === undefined) {
      this.transfers.full++;
      this.transfers.fullBytes += payloadSize(bundle);
      worker.send({ type: 'bundle', bundle } satisfies ToWorker);
    } else {
      this.transfers.deltas++;
      this.transfers.deltaBytes += payloadSize(delta);
      worker.send({ type: 'bundle-delta', delta } satisfies ToWorker);
    }
  }

  /** `bundleDelta(base, next, served)`, made once for all the workers that hold `base` and served `served` last. */
  private deltaOf(base: TableBundle, next: TableBundle, served: TableBundle | undefined): BundleDelta | undefined {
    const last = this.lastDelta;
    if (last?.base !== base || last.next !== next || last.served !== served) this.lastDelta = { base, next, served, delta: bundleDelta(base, next, served) };
    return this.lastDelta!.delta;
  }

  /** `worker` answered its bundle in flight: loaded (it now holds `digest`) or not (undefined: it holds what it held). Sends what waits. */
  private answered(worker: Worker, digest: string | undefined): void {
    const mailbox = this.mailboxes.get(worker);
    if (mailbox === undefined) return;
    const sent = mailbox.inFlight;
    mailbox.inFlight = undefined;
    if (sent !== undefined && digest === sent.digest) {
      mailbox.held[sent.balancingOnly ? 1 : 0] = sent;
      mailbox.served = sent;
    }
    this.sendNext(worker, mailbox);
  }

  /** `worker` could not apply the delta to `digest`: it gets that bundle whole, unless a newer one waits (which then goes whole). */
  private resync(worker: Worker, digest: string): void {
    const mailbox = this.mailboxes.get(worker);
    if (mailbox === undefined) return;
    this.transfers.resyncs++;
    const sent = mailbox.inFlight;
    mailbox.inFlight = undefined;
    if (sent === undefined) return;
    // What it holds in that mode is not a base it can use: the next bundle of that mode crosses whole.
    mailbox.held[sent.balancingOnly ? 1 : 0] = undefined;
    if (mailbox.next === undefined && sent.digest === digest) mailbox.next = sent;
    this.sendNext(worker, mailbox, true);
  }

  /** A worker confirmed `version` (or, with undefined, is gone): the pending load may be complete. */
  private confirmed(worker: Worker, version: string | undefined): void {
    const pending = this.pending;
    if (pending === undefined || (version !== undefined && version !== pending.snapshot.version)) return;
    pending.waiting.delete(worker);
    if (pending.waiting.size === 0) pending.settle();
  }

  /**
   * The workers' metric families merged (`mergeWorkers`, the `worker` label is the worker's id).
   * A worker that does not answer within `timeoutMs` is left out rather than stalling the scrape.
   */
  metrics(timeoutMs = 5000): Promise<MetricFamily[]> {
    const id = this.nextScrape++;
    const waiting = new Set(this.workers);
    const answers: { worker: string; families: MetricFamily[] }[] = [];
    return new Promise((resolve) => {
      const done = () => {
        this.scrapes.delete(id);
        clearTimeout(timer);
        answers.sort((a, b) => Number(a.worker) - Number(b.worker));
        resolve([...mergeWorkers(answers), ...this.transferFamilies()]);
      };
      const timer = setTimeout(done, timeoutMs);
      this.scrapes.set(id, (worker, families) => {
        if (!waiting.delete(worker)) return;
        const held = this.mailboxes.get(worker)?.flagValues;
        answers.push({ worker: String(worker.id), families: held === undefined ? families : held.restore(families) });
        if (waiting.size === 0) done();
      });
      for (const worker of waiting) worker.send({ type: 'metrics', id, have: this.mailboxes.get(worker)?.flagValues.keys() ?? [] } satisfies ToWorker);
      if (waiting.size === 0) done();
    });
  }

  /** The primary's own families: the bundles it compiled, bundles sent to workers whole and as deltas, their payload bytes, and deltas a worker could not apply. */
  private transferFamilies(): MetricFamily[] {
    const t = this.transfers;
    return [
      ...this.compiler.families(),
      { name: 'portico_worker_bundles_sent_total', help: 'Bundles the primary sent its workers, whole (a new or out-of-step worker) or as a delta from the bundle the worker holds.', type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: { how: 'full' }, value: t.full }, { suffix: '', labels: { how: 'delta' }, value: t.deltas }] },
      { name: 'portico_worker_bundle_bytes_total', help: "Bytes of tables and texts the primary sent its workers in bundles, by how they were sent (TLS and endpoint-set lists not counted).", type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: { how: 'full' }, value: t.fullBytes }, { suffix: '', labels: { how: 'delta' }, value: t.deltaBytes }] },
      { name: 'portico_worker_bundle_resyncs_total', help: 'Deltas a worker could not bring to the told digest from what it holds; it was sent the whole bundle.', type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: {}, value: t.resyncs }] },
      { name: 'portico_worker_bundles_superseded_total', help: 'Bundles replaced by a newer version before a busy worker was sent them (at most one waits per worker).', type: 'counter', merge: 'sum', samples: [{ suffix: '', labels: {}, value: t.superseded }] },
    ];
  }

  /** Asks every worker to shut down gracefully and waits for them. */
  async close(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<void>((resolve) => {
            worker.once('exit', () => resolve());
            worker.send({ type: 'shutdown', timeoutMs } satisfies ToWorker);
            setTimeout(() => worker.process.kill('SIGKILL'), timeoutMs + 5000).unref();
          }),
      ),
    );
  }
}
