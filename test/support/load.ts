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

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const { hostHeader, path } = options.target();
      const req = request({ host, port: options.port, path, agent, headers: { Host: hostHeader }, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          requests++;
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          if (!accept(res.statusCode ?? 0)) failed++;
          resolve();
        });
        res.on('error', (error) => {
          requests++;
          failed++;
          errors[error.message] = (errors[error.message] ?? 0) + 1;
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (error) => {
        requests++;
        failed++;
        errors[error.message] = (errors[error.message] ?? 0) + 1;
        resolve();
      });
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
      return { requests, statuses, errors, failed, durationMs: Date.now() - started };
    },
  };
}
