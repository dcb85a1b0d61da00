/**
 * The simulated side of the fleet benchmark (`bench/fleet.ts`): many data planes in one process,
 * each doing what `portico dataplane` does on the wire (dataplane/src/sync.ts), and the probes
 * that watch the control API and the traffic port while they sync.
 *
 * A simulated node long-polls `GET /v1/sync?node=&known=&timeout=` with `Accept-Encoding: gzip`,
 * `Accept: application/vnd.portico.bundle+json; layout=N; digest=2` (BUNDLE_FORMAT: the compiled
 * table chunks, as a real data plane asks, so the control plane does the work it does for a real fleet) and the data-plane token, reads the whole body as opaque bytes (counted, never parsed, so any
 * body format works), takes the version from `ETag`, ACKs it with `POST /v1/nodes/{node}/status`
 * and polls again. Everything talks to 127.0.0.1 only, and every request has a deadline.
 */
import { Agent, request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUNDLE_FORMAT } from '@portico/control/snapshot/bundle-wire';
import { versionFromEtag } from '../test/support/fleet.ts';

/** One HTTP answer: status, headers, and the body's byte count (the body itself only when asked). */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly bytes: number;
  readonly body?: Buffer;
}

/** One request to 127.0.0.1:`port`; rejects on transport errors, after `timeoutMs`, or on `signal`. */
export function httpCall(
  agent: Agent,
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string; keepBody?: boolean; timeoutMs: number; signal?: AbortSignal },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers, ...(options.body === undefined ? {} : { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(options.body)) }) };
    const req = request({ host: '127.0.0.1', port, method: options.method ?? 'GET', path: options.path, headers, agent, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
      let bytes = 0;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (options.keepBody) chunks.push(chunk);
      });
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, ...(options.keepBody ? { body: Buffer.concat(chunks) } : {}) });
      });
      res.on('error', fail);
    });
    const timer = setTimeout(() => req.destroy(new Error(`${options.method ?? 'GET'} ${options.path.slice(0, 60)}: no answer within ${Math.round(options.timeoutMs)} ms`)), options.timeoutMs);
    function fail(error: Error) {
      clearTimeout(timer);
      reject(error);
    }
    req.on('error', fail);
    req.end(options.body);
  });
}

/** What `portico dataplane` sends on every sync request (dataplane/src/sync.ts): gzip, and the compiled table chunks beside the JSON. */
const SYNC_HEADERS = { 'Accept-Encoding': 'gzip', Accept: `${BUNDLE_FORMAT}, application/json;q=0.9` };

/** What the fleet has done so far (all counters only grow). */
export interface FleetCounters {
  /** Sync answers with a body (200), 304s, failed requests. */
  syncs: number;
  notModified: number;
  errors: number;
  /** Body bytes received by all nodes, as sent (gzip-encoded when the control plane compressed). */
  bodyBytes: number;
  /** Answers that came `Content-Encoding: gzip`. */
  gzipped: number;
  acks: number;
}

/** N simulated data planes against one control API. */
export class SimulatedFleet {
  readonly counters: FleetCounters = { syncs: 0, notModified: 0, errors: 0, bodyBytes: 0, gzipped: 0, acks: 0 };
  /** The version each node has ACKed, by node name. */
  readonly acked = new Map<string, string>();
  /** The last error any node saw (for the report when something fails). */
  lastError: string | undefined;
  /** Failed sync or ACK requests by kind of error (at most 50 kinds kept). */
  readonly errorKinds = new Map<string, number>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 1024 });
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly listeners = new Set<() => void>();
  /** When each node ACKed each version (performance.now()), by version. */
  private readonly ackLog = new Map<string, Map<string, number>>();

  private readonly port: number;
  private readonly token: string;
  /** The simulated nodes' names. */
  readonly nodes: readonly string[];

  constructor(port: number, token: string, nodes: readonly string[]) {
    this.port = port;
    this.token = token;
    this.nodes = nodes;
  }

  /** Starts every node's poll loop. */
  start(): void {
    for (const node of this.nodes) this.loops.push(this.run(node));
  }

  /** Stops every loop (in-flight requests are aborted) and closes the sockets. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
    this.agent.destroy();
  }

  /**
   * Resolves with each node's ACK time (performance.now()) for `version` once every node has
   * ACKed it, or with the partial map after `timeoutMs`. ACKs that came before the call count.
   */
  waitAllAcked(version: string, timeoutMs: number): Promise<{ complete: boolean; times: ReadonlyMap<string, number> }> {
    const times = this.ackTimes(version);
    return new Promise((resolve) => {
      const done = (complete: boolean) => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve({ complete, times });
      };
      const listener = () => {
        if (times.size === this.nodes.length) done(true);
      };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.listeners.add(listener);
      listener();
    });
  }

  private ackTimes(version: string): Map<string, number> {
    let times = this.ackLog.get(version);
    if (times === undefined) this.ackLog.set(version, (times = new Map()));
    return times;
  }

  private async run(node: string): Promise<void> {
    const signal = this.abort.signal;
    const auth = { Authorization: `Bearer ${this.token}` };
    let known: string | undefined;
    while (!signal.aborted) {
      try {
        const query = new URLSearchParams({ node, timeout: '30' });
        if (known !== undefined) query.set('known', known);
        const answer = await httpCall(this.agent, this.port, { path: `/v1/sync?${query}`, headers: { ...auth, ...SYNC_HEADERS }, timeoutMs: 45_000, signal });
        if (answer.status === 304) {
          this.counters.notModified++;
          continue;
        }
        const version = versionFromEtag(answer.headers.etag as string | undefined);
        if (answer.status !== 200 || version === undefined) throw new Error(`GET /v1/sync: HTTP ${answer.status}${version === undefined ? ' without an ETag' : ''}`);
        this.counters.syncs++;
        this.counters.bodyBytes += answer.bytes;
        if (answer.headers['content-encoding'] === 'gzip') this.counters.gzipped++;
        const ack = await httpCall(this.agent, this.port, { method: 'POST', path: `/v1/nodes/${node}/status`, headers: auth, body: JSON.stringify({ version, ok: true }), timeoutMs: 30_000, signal });
        if (ack.status !== 200) throw new Error(`POST /v1/nodes/${node}/status: HTTP ${ack.status}`);
        known = version;
        this.acked.set(node, version);
        this.ackTimes(version).set(node, performance.now());
        this.counters.acks++;
        for (const listener of this.listeners) listener();
      } catch (error) {
        if (signal.aborted) break;
        this.counters.errors++;
        this.lastError = `${node}: ${(error as Error).message}`;
        // Grouped by message shape (numbers and node names elided), so a report can say what failed.
        const kind = (error as Error).message.replace(/fleet-node-\d+/g, 'N').replace(/\d+/g, '#').slice(0, 120);
        if (this.errorKinds.size < 50 || this.errorKinds.has(kind)) this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
        await sleep(250, undefined, { signal }).catch(() => undefined);
      }
    }
  }
}

/** One probe request's timing. */
export interface ProbeSample {
  /** When it was sent (performance.now()) and how long the answer took, ms. */
  readonly at: number;
  readonly ms: number;
  readonly ok: boolean;
}

/**
 * Sends `call` every `everyMs` (the next one only after the previous answered) until stopped,
 * recording each latency. A failed call is a sample with `ok: false` and its time to fail.
 */
export class Probe {
  readonly samples: ProbeSample[] = [];
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(call: () => Promise<boolean>, everyMs: number, maxSamples = 100_000) {
    this.loop = (async () => {
      while (!this.stopped && this.samples.length < maxSamples) {
        const at = performance.now();
        const ok = await call().catch(() => false);
        const ms = performance.now() - at;
        this.samples.push({ at, ms, ok });
        if (ms < everyMs) await sleep(everyMs - ms);
      }
    })();
  }

  /** Latencies of the samples sent in [from, to). */
  between(from: number, to: number): number[] {
    return this.samples.filter((s) => s.at >= from && s.at < to).map((s) => s.ms);
  }

  /** Stops probing; resolves after the request in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
