/**
 * A bounded load for "zero failed requests" tests: a few keep-alive clients sending requests in
 * a loop to a loopback address until stopped (or until a hard cap on count and time), counting
 * every answer by status and every transport error.
 */
import { Agent, request } from 'node:http';

/** What the load saw. */
export interface LoadReport {
  readonly requests: number;
  /** Answers by status code. */
  readonly statuses: Readonly<Record<number, number>>;
  /** Transport errors (reset, refused, timeout) by message. */
  readonly errors: Readonly<Record<string, number>>;
  /** Requests that failed: transport errors plus statuses `accept` refused. */
  readonly failed: number;
  readonly durationMs: number;
  /** Latency of every answered request (ms, from sending to the end of the response), in order. */
  readonly latenciesMs: readonly number[];
}

/** One answer, as `observe` sees it. */
export interface LoadAnswer {
  readonly status: number;
  /** The response body; only read when `observe` is given. */
  readonly body: string;
  /** performance.now() when the request was sent and when its response ended. */
  readonly sentAt: number;
  readonly doneAt: number;
  /** Set when the request failed at the transport level. */
  readonly error?: string;
}

/** Options of a load run. */
export interface LoadOptions {
  readonly port: number;
  readonly host?: string;
  /** Host header and path of each request (called per request, so it may change over time). */
  readonly target: () => { readonly hostHeader: string; readonly path: string };
  /** Whether a status counts as success (default: 2xx). */
  readonly accept?: (status: number) => boolean;
  readonly concurrency?: number;
  /** Hard caps: the load stops by itself after this many requests or milliseconds. */
  readonly maxRequests?: number;
  readonly maxMs?: number;
  /** Called with every answer and transport error (bodies are collected only when this is set). */
  readonly observe?: (answer: LoadAnswer) => void;
}

/** A running load; `stop()` ends it and resolves with the report. */
export interface RunningLoad {
  stop(): Promise<LoadReport>;
  /** Requests answered so far. */
  readonly count: number;
}

/** Starts a bounded load against 127.0.0.1 (or `host`, which must be a loopback address). */
export function startLoad(options: LoadOptions): RunningLoad {
  const host = options.host ?? '127.0.0.1';
  if (!/^127\.|^::1$|^localhost$/.test(host)) throw new Error(`load tests only target loopback, not ${host}`);
  const accept = options.accept ?? ((status: number) => status >= 200 && status < 300);
  const maxRequests = options.maxRequests ?? 200_000;
  const deadline = Date.now() + (options.maxMs ?? 120_000);
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 4 });
  const statuses: Record<number, number> = {};
  const errors: Record<string, number> = {};
  let requests = 0;
  let failed = 0;
  let stopped = false;
  const started = Date.now();

  const latenciesMs: number[] = [];
  const observe = options.observe;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const { hostHeader, path } = options.target();
      const sentAt = performance.now();
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        requests++;
        failed++;
        errors[error.message] = (errors[error.message] ?? 0) + 1;
        observe?.({ status: 0, body: '', sentAt, doneAt: performance.now(), error: error.message });
        resolve();
      };
      const req = request({ host, port: options.port, path, agent, headers: { Host: hostHeader }, timeout: 10_000 }, (res) => {
        const chunks: Buffer[] = [];
        if (observe) res.on('data', (chunk: Buffer) => chunks.push(chunk));
        else res.resume();
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const doneAt = performance.now();
          requests++;
          latenciesMs.push(doneAt - sentAt);
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          if (!accept(res.statusCode ?? 0)) failed++;
          observe?.({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), sentAt, doneAt });
          resolve();
        });
        res.on('error', fail);
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', fail);
      req.end();
    });

  const worker = async () => {
    while (!stopped && requests < maxRequests && Date.now() < deadline) await one();
  };
  const workers = Array.from({ length: options.concurrency ?? 4 }, worker);
  return {
    get count() {
      return requests;
    },
    async stop() {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return { requests, statuses, errors, failed, durationMs: Date.now() - started, latenciesMs };
    },
  };
}
