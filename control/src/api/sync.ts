/**
 * Data-plane sync and node status.
 *
 * `GET /v1/sync?node=N&known=V` long-polls: it answers as soon as the current version differs
 * from `known` (and from `skip`, the version the node last NACKed, so a bad snapshot is not sent
 * again and again), else 304 after `timeout` seconds (at most 30). The answer is a delta from
 * `known` when this replica still holds that version in full (routes, hosts, endpoint sets and
 * certificates that changed, item by item), else the full, unredacted snapshot. The data plane
 * applies a delta to its copy and checks that the Merkle hash equals the announced version, so
 * a delta can never be applied to the wrong base. Bodies are encoded once per version (or per
 * pair of versions) and shared by every node asking the same (see publish/sync-feed.ts). Any
 * replica computes the same version for the same state, so a node may poll any replica.
 *
 * `POST /v1/nodes/{node}/status` records an ACK or NACK; `GET /v1/nodes` lists nodes with the
 * rollout of the current version.
 */
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import type { NodeRegistry } from '../nodes/registry.ts';
import type { PublishedSnapshot } from '../publish/history.ts';
import { SyncFeed } from '../publish/sync-feed.ts';
import { BUNDLE_FORMAT, acceptsBundleFormat } from '../snapshot/bundle-wire.ts';
import { readBody } from './body.ts';
import type { ApiEnv, ApiOptions } from './context.ts';
import { authorize, etagHeader } from './context.ts';
import type { ApiSpec } from './openapi.ts';
import { invalid } from './problem.ts';
import { ObjectName } from './route-object.ts';
import { NodeListSchema, NodeStatusBody, NodeStatusSchema, SyncResponse } from './schemas.ts';

/** The longest a sync request is held open. */
export const MAX_SYNC_TIMEOUT_MS = 30_000;

const SyncQuery = z.strictObject({
  node: ObjectName.describe('The node name (Kubernetes node of the data plane).'),
  known: z.string().max(100).optional().describe('The version the node serves now.'),
  skip: z.string().max(100).optional().describe('A version the node rejected; not sent again.'),
  timeout: z.string().regex(/^\d{1,3}$/).optional().describe('Seconds to wait for a change (at most 30).'),
  delta: z.enum(['0', '1']).optional().describe('0: always send the full snapshot (no delta).'),
});

function remoteAddress(c: Context): string | undefined {
  return (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
}

/** Long-poll answers written per turn of the event loop when one publish answers many nodes. */
const ANSWERS_PER_TURN = 20;

/**
 * Lets waiting answers go out `perTurn` at a time, one batch per turn of the event loop: a publish
 * that answers 100 long-polls does not write all 100 responses in one task, so a request that
 * arrives meanwhile (GET /v1/nodes, an ACK) is served between two batches.
 */
export class AnswerTurns {
  private readonly waiting: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private scheduled = false;
  private readonly perTurn: number;

  constructor(perTurn: number) {
    this.perTurn = perTurn;
  }

  /** Resolves when this answer's turn comes. */
  next(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.drain);
      }
    });
  }

  /** Resolves one turn after the last queued answer was let go (at once when none waits). */
  idle(): Promise<void> {
    if (!this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private readonly drain = (): void => {
    for (const resolve of this.waiting.splice(0, this.perTurn)) resolve();
    if (this.waiting.length > 0) {
      setImmediate(this.drain);
      return;
    }
    this.scheduled = false;
    const idle = this.idleWaiters.splice(0);
    if (idle.length > 0) setImmediate(() => idle.forEach((resolve) => resolve()));
  };
}

/** The sync feed, and a promise of the moment every long-poll a publish answered has been written. */
export interface SyncAnswers {
  readonly feed: SyncFeed;
  /** Resolves once the delta bodies being encoded are done and every answer waiting for its turn went out. */
  answered(): Promise<void>;
}

/** Registers /v1/sync and /v1/nodes; returns the feed that encodes the sync bodies (for its figures) and when a publish's answers are all out. */
export function registerSync(app: Hono<ApiEnv>, spec: ApiSpec, options: ApiOptions, nodes: NodeRegistry): SyncAnswers {
  const { history, auth } = options;
  const limit = Math.min(options.syncTimeoutMs ?? MAX_SYNC_TIMEOUT_MS, MAX_SYNC_TIMEOUT_MS);
  const feed = new SyncFeed(history, options.bundleCompiler);
  const turns = new AnswerTurns(ANSWERS_PER_TURN);

  spec.define(
    app,
    {
      method: 'get',
      path: '/v1/sync',
      operationId: 'sync',
      tag: 'sync',
      summary: 'Long-poll for a snapshot newer than the one the data plane has (data planes only)',
      query: SyncQuery,
      responses: {
        200: { description: 'A new version: the full snapshot (with TLS keys), or a delta from `known`.', schema: SyncResponse, headers: { ETag: 'The version.', 'X-Portico-Change': '`full`, `delta`, or `endpoints` (a delta of endpoint sets alone).' } },
        304: { description: 'Nothing new within the timeout.', headers: { 'X-Portico-Version': 'The current version, if any.' } },
      },
    },
    async (c, { query }) => {
      await authorize(c, auth, { kind: 'sync' });
      const timeoutMs = query.timeout === undefined ? limit : Math.min(Number(query.timeout) * 1000, limit);
      const done = nodes.polling(query.node, query.known, remoteAddress(c));
      let published: PublishedSnapshot | undefined;
      try {
        published = await history.waitFor((version) => version !== query.known && version !== query.skip, timeoutMs, c.req.raw.signal);
      } finally {
        done();
      }
      if (published === undefined) return c.body(null, 304, { 'X-Portico-Version': history.current()?.version ?? '' });
      // A data plane that accepts compiled chunks in this build's layout and digest scheme gets them
      // beside the JSON (snapshot/bundle-wire.ts); one of another release compiles by itself.
      const format = acceptsBundleFormat(c.req.header('accept')) ? 'bundle' : 'json';
      const body = await feed.body(query.known, published, query.delta !== '0', format);
      await turns.next();
      const gzip = /\bgzip\b/i.test(c.req.header('accept-encoding') ?? '');
      const headers: Record<string, string> = { 'Content-Type': format === 'bundle' ? BUNDLE_FORMAT : 'application/json', Vary: 'Accept, Accept-Encoding', ETag: etagHeader(body.version), 'Cache-Control': 'no-store', 'X-Portico-Change': body.change };
      if (gzip) return c.body(new Uint8Array(body.gzip.buffer as ArrayBuffer, body.gzip.byteOffset, body.gzip.byteLength), 200, { ...headers, 'Content-Encoding': 'gzip' });
      const raw = await body.raw();
      return c.body(new Uint8Array(raw.buffer as ArrayBuffer, raw.byteOffset, raw.byteLength), 200, headers);
    },
  );

  spec.define(
    app,
    {
      method: 'post',
      path: '/v1/nodes/{node}/status',
      operationId: 'reportNodeStatus',
      tag: 'sync',
      summary: 'ACK (ok) or NACK (with error) a version (data planes only)',
      params: z.strictObject({ node: ObjectName }),
      body: { schema: NodeStatusBody, mediaTypes: ['application/json'] },
      responses: { 200: { description: 'The node as now recorded.', schema: NodeStatusSchema }, 413: { description: 'Body too large.' }, 415: { description: 'Not JSON.' }, 422: { description: 'Invalid report.' } },
    },
    async (c, { params }) => {
      await authorize(c, auth, { kind: 'report-status', node: params.node }); // before any parsing
      const { value } = await readBody(c, ['json'], options.bodyLimit, options.bodyDeadlineMs);
      const parsed = NodeStatusBody.safeParse(value);
      if (!parsed.success) throw invalid('the status report is invalid', parsed.error.issues);
      const status = nodes.report(params.node, parsed.data, remoteAddress(c));
      options.logger?.[parsed.data.ok ? 'debug' : 'warn']({ node: params.node, version: parsed.data.version, ok: parsed.data.ok, error: parsed.data.error }, parsed.data.ok ? 'node ACK' : 'node NACK');
      return c.json(status);
    },
  );

  spec.define(
    app,
    { method: 'get', path: '/v1/nodes', operationId: 'listNodes', tag: 'sync', summary: 'Data planes and the rollout of the current version', responses: { 200: { description: 'Nodes seen by this replica.', schema: NodeListSchema } } },
    async (c) => {
      await authorize(c, auth, { kind: 'read-snapshots' });
      const current = history.current()?.version;
      return c.json({ current: current ?? null, rollout: nodes.rollout(current), nodes: nodes.list() });
    },
  );
  return {
    feed,
    answered: async () => {
      await feed.settled();
      await turns.idle();
    },
  };
}
