/**
 * Snapshot sync, the data-plane side: long-poll any control replica for a version other than the
 * one being served, verify the content hash (`parseSnapshot`), load it into the Router (a fresh
 * matcher, swapped atomically), persist it as the last good snapshot (last-good.ts: a base file
 * and a journal of the deltas applied since, so a change writes its delta), and ACK; a snapshot that
 * fails verification or loading is NACKed with the error while the last good one keeps serving.
 *
 * Most changes arrive as deltas from the version this node serves (the items that changed):
 * they are applied to the last good snapshot and the result must hash to the announced version
 * (the Merkle root), else the delta is refused like any bad snapshot. A delta of endpoint sets
 * alone keeps the routing matcher and recompiles endpoint choice only.
 * On start the persisted last good snapshot (if any) is loaded before the control plane is
 * asked anything, so a node whose control plane is down still serves. Failures back off
 * exponentially with jitter, rotating over the control URLs.
 */
import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import { PorticoError } from './errors.ts';
import type { Snapshot } from '@portico/control/snapshot';
import { parseSnapshot } from '@portico/control/snapshot';
import { applyDelta } from '@portico/control/snapshot/delta';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import { BUNDLE_FORMAT, isBundleFormat, readShippedBundle } from '@portico/control/snapshot/bundle-wire';
import type { Logger } from './logging.ts';
import { LastGoodStore } from './last-good.ts';

export { LAST_GOOD_FILE, snapshotText } from './last-good.ts';

/** What the sync client loads snapshots into: `Router` (or the worker pool fronting routers) fits. */
export interface SnapshotTarget {
  /**
   * Swaps in `snapshot` (or resolves once it has); throws or rejects (e.g. PORTICO_E_SNAPSHOT_LOAD)
   * and keeps the current one when it cannot. `received`: the control plane's compiled chunks of
   * the hosts the sync body carried and the digest the assembled bundle must have.
   */
  load(snapshot: Snapshot, received?: ReceivedBundle): unknown;
  /** Optional fast path for a snapshot whose routes are the current one's (an endpoint delta). */
  loadEndpoints?(snapshot: Snapshot, received?: ReceivedBundle): unknown;
  /** The version served now, when the target can tell (the fast path is only taken from the last good one). */
  readonly version?: string | undefined;
}

/** Options of the sync client. */
export interface SnapshotSyncOptions {
  /** Control API base URLs (any replica); tried in turn after failures. */
  readonly controlUrls: readonly string[];
  /** This node's name (reported to the control plane). */
  readonly node: string;
  /** Where snapshots go: a Router, or anything that loads like one (throws when it cannot). */
  readonly router: SnapshotTarget;
  /** Where the last good snapshot is kept. */
  readonly dataDir: string;
  /** A bearer token, or a file re-read on every request (projected ServiceAccount tokens rotate). */
  readonly token?: string;
  readonly tokenFile?: string;
  /** Long-poll length asked of the control plane, seconds (default 30, the maximum). */
  readonly pollSeconds?: number;
  /** First and largest back-off delay (defaults 250 ms and 30 s). */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly logger?: Logger;
  /** Injected for tests. */
  readonly fetch?: typeof fetch;
  readonly random?: () => number;
}

/** How a version was applied. */
export type AppliedHow = 'full' | 'delta' | 'endpoints' | 'restored';

/** Events of the sync client. */
export interface SnapshotSyncEvents {
  /** A version is now served. */
  applied: [{ version: string; how: AppliedHow }];
  /** An applied version is persisted and ACKed (restored: loaded from disk): the work of applying it is over. */
  settled: [{ version: string; how: AppliedHow }];
  /** A version was refused (and NACKed); the previous one keeps serving. */
  rejected: [{ version: string; error: string }];
  /** A control request failed; the next try is after `delayMs`. */
  disconnected: [{ url: string; error: string; delayMs: number }];
}

type SyncAnswer = { type: 'full'; version: string; snapshot: unknown } | { type: 'delta'; version: string; from: string };

const SyncBody = (value: unknown): SyncAnswer => {
  const body = value as { type?: unknown; version?: unknown; from?: unknown };
  if (typeof body !== 'object' || body === null || typeof body.version !== 'string' || (body.type !== 'full' && body.type !== 'delta') || (body.type === 'delta' && typeof body.from !== 'string')) {
    throw new PorticoError('PORTICO_E_SYNC', 'the control plane sent a sync answer of unknown shape');
  }
  return value as SyncAnswer;
};

/** The sync client of one data plane. Start with `start()`, stop with `stop()`. */
export class SnapshotSync extends EventEmitter<SnapshotSyncEvents> {
  /** Counters for tests and the admin endpoint. */
  readonly stats = { polls: 0, notModified: 0, applied: 0, deltas: 0, endpointDeltas: 0, rejected: 0, failures: 0, restored: 0, acks: 0, nacks: 0, foreignBundles: 0 };
  private readonly options: SnapshotSyncOptions;
  private readonly fetch: typeof fetch;
  private lastGood: Snapshot | undefined;
  /** The version last rejected: not asked for again until the control plane moves on. */
  private skip: string | undefined;
  private urlIndex = 0;
  private failures = 0;
  private abort = new AbortController();
  /** The last good snapshot on disk: a base and the deltas applied since (last-good.ts). */
  private readonly store: LastGoodStore;
  private loop: Promise<void> | undefined;

  constructor(options: SnapshotSyncOptions) {
    super();
    if (options.controlUrls.length === 0) throw new PorticoError('PORTICO_E_CONFIG', 'at least one control URL is needed');
    this.options = options;
    this.fetch = options.fetch ?? fetch;
    this.store = new LastGoodStore(options.dataDir, options.logger);
  }

  /** The version of the last good snapshot, or undefined before any. */
  get version(): string | undefined {
    return this.lastGood?.version;
  }

  /**
   * Loads the persisted last good snapshot (if there is a valid one) into the router, then starts
   * polling in the background. Resolves with whether a snapshot was restored; never waits for
   * the control plane.
   */
  async start(): Promise<{ restored: boolean }> {
    const restored = await this.restore();
    this.loop = this.run();
    return { restored };
  }

  /** Stops polling; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async restore(): Promise<boolean> {
    const restored = await this.store.restore();
    if (restored === undefined) return false;
    try {
      const { snapshot } = restored;
      this.options.router.load(snapshot);
      this.lastGood = snapshot;
      this.stats.restored++;
      this.emit('applied', { version: snapshot.version, how: 'restored' });
      this.options.logger?.info({ version: snapshot.version, replayed: restored.replayed }, 'serving the last good snapshot from disk');
      this.emit('settled', { version: snapshot.version, how: 'restored' });
      return true;
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'ignoring an unusable last good snapshot on disk');
      return false;
    }
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const url = this.options.controlUrls[this.urlIndex % this.options.controlUrls.length]!;
      try {
        await this.pollOnce(url);
        this.failures = 0;
      } catch (error) {
        if (this.abort.signal.aborted) break;
        this.stats.failures++;
        const delayMs = this.backoff();
        this.urlIndex++;
        this.emit('disconnected', { url, error: (error as Error).message, delayMs });
        this.options.logger?.warn({ url, err: error, delayMs }, 'control plane unreachable; retrying');
        await sleep(delayMs, this.abort.signal);
      }
    }
  }

  /** Jittered exponential back-off: a random delay in [d/2, d], d doubling up to the maximum. */
  private backoff(): number {
    const initial = this.options.backoffInitialMs ?? 250;
    const max = this.options.backoffMaxMs ?? 30_000;
    const ceiling = Math.min(max, initial * 2 ** Math.min(this.failures++, 20));
    return Math.round(ceiling / 2 + (this.options.random ?? Math.random)() * (ceiling / 2));
  }

  private async headers(): Promise<Record<string, string>> {
    // Compiled table chunks ride along with the JSON (bundle-wire.ts) in this build's layout and digest scheme: this node assembles, it does not compile.
    const headers: Record<string, string> = { 'Accept-Encoding': 'gzip', Accept: `${BUNDLE_FORMAT}, application/json;q=0.9` };
    const token = this.options.tokenFile !== undefined ? (await readFile(this.options.tokenFile, 'utf8')).trim() : this.options.token;
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  private async pollOnce(base: string, delta = true): Promise<void> {
    const poll = this.options.pollSeconds ?? 30;
    const query = new URLSearchParams({ node: this.options.node, timeout: String(poll) });
    if (this.lastGood) query.set('known', this.lastGood.version);
    if (this.skip) query.set('skip', this.skip);
    if (!delta) query.set('delta', '0');
    this.stats.polls++;
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout((poll + 15) * 1000)]);
    const response = await this.fetch(`${base.replace(/\/$/, '')}/v1/sync?${query}`, { headers: await this.headers(), signal });
    if (response.status === 304) {
      await response.body?.cancel();
      this.stats.notModified++;
      return;
    }
    if (response.status !== 200) {
      const text = await response.text().catch(() => '');
      throw new PorticoError('PORTICO_E_SYNC', `GET /v1/sync: HTTP ${response.status} ${text.slice(0, 300)}`);
    }
    const body = SyncBody(await response.json());
    // A delta for a version this node no longer serves (it restarted, or loaded another in between): ask for the whole snapshot.
    if (body.type === 'delta' && body.from !== this.lastGood?.version) return await this.pollOnce(base, false);
    let snapshot: Snapshot;
    let how: AppliedHow = 'full';
    // The delta as received (without compiled chunks): what the last-good journal keeps of this version.
    let journalled: object | undefined;
    try {
      const { bundle, ...rest } = body as SyncAnswer & { bundle?: unknown };
      if (rest.type === 'delta') journalled = rest;
      // Chunks and a digest of another format (a control plane of another release, which reads the
      // Accept without its parameters) cannot be assembled here to that digest: compiled by this node instead of NACKed.
      const foreign = bundle !== undefined && !isBundleFormat(response.headers.get('content-type'));
      if (foreign) this.stats.foreignBundles++;
      const received = bundle === undefined || foreign ? undefined : readShippedBundle(bundle);
      if (rest.type === 'delta') {
        // applyDelta checks the base and that the result hashes to the announced version.
        snapshot = applyDelta(this.lastGood!, rest);
        how = response.headers.get('x-portico-change') === 'endpoints' && onlyEndpointsDiffer(this.lastGood!, snapshot) ? 'endpoints' : 'delta';
      } else {
        snapshot = parseSnapshot(rest.snapshot);
        if (snapshot.version !== rest.version) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `announced version ${rest.version} is not the snapshot's ${snapshot.version}`);
      }
      const target = this.options.router;
      // A delta applied to what this node serves keeps its routes: only endpoint choice changes.
      if (how === 'endpoints' && target.loadEndpoints !== undefined && this.lastGood?.version === target.version) await target.loadEndpoints(snapshot, received);
      else await target.load(snapshot, received);
    } catch (error) {
      // Whatever stops this snapshot from loading is the snapshot's fault as far as the node is concerned.
      await this.reject(base, body.version, error as Error);
      return;
    }
    this.lastGood = snapshot;
    this.skip = undefined;
    this.stats.applied++;
    if (how === 'endpoints') this.stats.endpointDeltas++;
    if (how === 'delta') this.stats.deltas++;
    this.emit('applied', { version: snapshot.version, how });
    this.options.logger?.info({ version: snapshot.version, how }, 'snapshot applied');
    await this.store.persist(snapshot, journalled).catch((error: unknown) => this.options.logger?.error({ err: error }, 'cannot persist the last good snapshot'));
    await this.report(base, { version: snapshot.version, ok: true });
    this.emit('settled', { version: snapshot.version, how });
  }

  private async reject(base: string, version: string, error: Error): Promise<void> {
    const message = `${(error as { code?: string }).code ?? 'error'}: ${error.message}`;
    this.skip = version;
    this.stats.rejected++;
    this.emit('rejected', { version, error: message });
    this.options.logger?.error({ version, err: error }, 'snapshot rejected; still serving the last good one');
    await this.report(base, { version, ok: false, error: message.slice(0, 4000) });
  }

  /** ACK/NACK; a failed report is logged, not retried: the next poll tells the control plane what is served. */
  private async report(base: string, status: { version: string; ok: boolean; error?: string }): Promise<void> {
    try {
      const response = await this.fetch(`${base.replace(/\/$/, '')}/v1/nodes/${encodeURIComponent(this.options.node)}/status`, {
        method: 'POST',
        headers: { ...(await this.headers()), 'Content-Type': 'application/json' },
        body: JSON.stringify(status),
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(10_000)]),
      });
      await response.body?.cancel();
      if (response.ok) this.stats[status.ok ? 'acks' : 'nacks']++;
      else this.options.logger?.warn({ status: response.status }, 'status report refused');
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'status report failed');
    }
  }
}

/** Whether two snapshots differ in endpoint sets alone (the routing items are the same objects or equal). */
function onlyEndpointsDiffer(before: Snapshot, after: Snapshot): boolean {
  return after.hosts.length === before.hosts.length && after.hosts.every((host, i) => host === before.hosts[i]) && after.defaultRoute === before.defaultRoute && after.certificates.length === before.certificates.length && after.certificates.every((c, i) => c === before.certificates[i]);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
