/**
 * `/v1/snapshots` (history, exports, diffs) and `/v1/explain`. Exports redact TLS private keys
 * to a fingerprint (only data planes get keys, through /v1/sync); large answers are gzipped when
 * the client accepts it; a version's export is immutable, so it carries the version as ETag.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { Explainer } from '../explain/explain.ts';
import type { HistoryEntry, PublishedSnapshot, SnapshotHistory } from '../publish/history.ts';
import { diffSnapshots, onlyEndpointsChanged } from '../snapshot/diff.ts';
import { redactSnapshot } from '../snapshot/redact.ts';
import type { ApiEnv, ApiOptions } from './context.ts';
import { authorize, etagHeader, parseEtag } from './context.ts';
import type { ApiSpec } from './openapi.ts';
import { readBody } from './body.ts';
import { ApiError, invalid } from './problem.ts';
import { ExplainBody, ExplainResultSchema, SnapshotDiffSchema, SnapshotExport, SnapshotListSchema } from './schemas.ts';

const gzipAsync = promisify(gzip);
/** Answers smaller than this are not worth compressing. */
const GZIP_MIN_BYTES = 1024;

const VersionRef = z.string().min(1).max(100).describe('A version (sha256:…), a unique hex prefix of at least 7 digits, or "current".');

/**
 * Finds a listed version by full version, `current`, or a unique hex prefix (git style).
 * Throws 404 when unknown, 400 when ambiguous, 503 before the first snapshot for `current`.
 */
function findVersion(history: SnapshotHistory, ref: string): HistoryEntry {
  if (ref === 'current') {
    const current = history.current();
    if (current === undefined) throw new ApiError('PORTICO_E_NOT_READY', 'no snapshot has been published yet');
    return current;
  }
  const exact = history.entry(ref);
  if (exact !== undefined) return exact;
  const hex = ref.startsWith('sha256:') ? ref.slice(7) : ref;
  if (/^[0-9a-f]{7,64}$/.test(hex)) {
    // A version published again (a revert) is one version: the newest entry answers for it.
    const matches = history.list().filter((entry) => entry.version.startsWith(`sha256:${hex}`));
    const versions = new Set(matches.map((entry) => entry.version));
    if (versions.size === 1) return matches[0]!;
    if (versions.size > 1) throw new ApiError('PORTICO_E_BAD_REQUEST', `version prefix ${ref} is ambiguous (${versions.size} versions)`);
  }
  throw new ApiError('PORTICO_E_NOT_FOUND', `snapshot ${ref} is not in the history (only the last versions are listed)`);
}

/**
 * Like `findVersion`, for a version whose full content is needed. Throws 410 (PORTICO_E_GONE)
 * when the version is only kept as a summary.
 */
export function resolveVersion(history: SnapshotHistory, ref: string): PublishedSnapshot {
  const entry = findVersion(history, ref);
  if (entry.snapshot === undefined) {
    throw new ApiError('PORTICO_E_GONE', `snapshot ${entry.version} (published ${entry.publishedAt}) is only kept as a summary: older versions are kept in full only within the history memory budget; GET /v1/snapshots lists what changed in it`);
  }
  return entry as PublishedSnapshot;
}

/** Sends JSON, gzipped when the client accepts it and it is large enough. */
export async function sendJson(c: Context, value: unknown, status = 200, headers: Record<string, string> = {}): Promise<Response> {
  const text = JSON.stringify(value);
  const accepts = /\bgzip\b/i.test(c.req.header('accept-encoding') ?? '');
  const common = { 'Content-Type': 'application/json', Vary: 'Accept-Encoding', ...headers };
  if (!accepts || text.length < GZIP_MIN_BYTES) return c.body(text, status as 200, common);
  return c.body(new Uint8Array(await gzipAsync(text)), status as 200, { ...common, 'Content-Encoding': 'gzip' });
}

function exportOf(entry: PublishedSnapshot) {
  return { version: entry.snapshot.version, publishedAt: entry.publishedAt, conditions: entry.conditions, changes: entry.changes ?? null, snapshot: redactSnapshot(entry.snapshot) };
}

/** Registers the snapshot and explain endpoints. */
export function registerSnapshots(app: Hono<ApiEnv>, spec: ApiSpec, options: ApiOptions): void {
  const { history, auth } = options;
  const read = (c: Context<ApiEnv>) => authorize(c, auth, { kind: 'read-snapshots' });
  const explainers = new Map<string, Explainer>();
  const explainerFor = (entry: PublishedSnapshot): Explainer => {
    let explainer = explainers.get(entry.version);
    if (explainer === undefined) {
      // Loading a matcher costs a table encode; keep the last few versions loaded.
      explainer = new Explainer(entry.snapshot);
      explainers.set(entry.version, explainer);
      if (explainers.size > 4) explainers.delete(explainers.keys().next().value!);
    }
    return explainer;
  };

  spec.define(
    app,
    { method: 'get', path: '/v1/snapshots', operationId: 'listSnapshots', tag: 'snapshots', summary: 'Snapshot history, newest first', responses: { 200: { description: 'Retained versions with change counts and conditions.', schema: SnapshotListSchema } } },
    async (c) => {
      await read(c);
      const current = history.current()?.version ?? null;
      // A version published again (a revert, a change undone) is listed at each publication; only the newest is current.
      const items = history.list().map((entry, index) => ({ version: entry.version, publishedAt: entry.publishedAt, current: index === 0 && entry.version === current, changes: entry.counts ?? null, retained: entry.snapshot !== undefined, conditionCount: entry.conditionCount, conditions: entry.snapshot === undefined ? [] : (entry as PublishedSnapshot).conditions }));
      return sendJson(c, { current, items });
    },
  );

  const exportResponses = {
    200: { description: 'The snapshot (TLS private keys redacted) with its conditions and changes.', schema: SnapshotExport, headers: { ETag: 'The version.' } },
    304: { description: 'If-None-Match names this version.' },
    410: { description: 'The version is only kept as a summary (outside the history memory budget).' },
  };
  const sendExport = async (c: Context<ApiEnv>, entry: PublishedSnapshot) => {
    const etag = etagHeader(entry.snapshot.version);
    if (parseEtag(c.req.header('if-none-match')) === entry.snapshot.version) return c.body(null, 304, { ETag: etag });
    return sendJson(c, exportOf(entry), 200, { ETag: etag });
  };
  spec.define(app, { method: 'get', path: '/v1/snapshots/current', operationId: 'getCurrentSnapshot', tag: 'snapshots', summary: 'The current snapshot, with the manifest problems of now', responses: exportResponses }, async (c) => {
    await read(c);
    const entry = resolveVersion(history, 'current');
    // Problems change without a new version (a broken file keeps its objects): never a 304 then.
    const problems = options.manifestProblems?.();
    if (problems === undefined || problems.length === 0) return sendExport(c, entry);
    return sendJson(c, { ...exportOf(entry), problems }, 200, { ETag: etagHeader(entry.snapshot.version) });
  });
  spec.define(
    app,
    { method: 'get', path: '/v1/snapshots/{version}', operationId: 'getSnapshot', tag: 'snapshots', summary: 'One retained snapshot', params: z.strictObject({ version: VersionRef }), responses: exportResponses },
    async (c, { params }) => {
      await read(c);
      return sendExport(c, resolveVersion(history, params.version));
    },
  );
  spec.define(
    app,
    {
      method: 'get',
      path: '/v1/snapshots/{from}/diff/{to}',
      operationId: 'diffSnapshots',
      tag: 'snapshots',
      summary: 'What changed between two retained versions',
      params: z.strictObject({ from: VersionRef, to: VersionRef }),
      responses: { 200: { description: 'Hosts, routes, backends, endpoints and certificates added, removed and changed.', schema: SnapshotDiffSchema }, 410: { description: 'A version is only kept as a summary.' } },
    },
    async (c, { params }) => {
      await read(c);
      const diff = diffSnapshots(resolveVersion(history, params.from).snapshot, resolveVersion(history, params.to).snapshot);
      return sendJson(c, { ...diff, onlyEndpoints: onlyEndpointsChanged(diff) });
    },
  );

  spec.define(
    app,
    {
      method: 'post',
      path: '/v1/explain',
      operationId: 'explain',
      tag: 'snapshots',
      summary: 'Which rule and backend a request would reach, and which rules lost',
      body: { schema: ExplainBody, mediaTypes: ['application/json'] },
      responses: { 200: { description: 'The same shape as `portico explain --json`, plus the version explained.', schema: ExplainResultSchema }, 410: { description: 'The version asked for is only kept as a summary.' }, 413: { description: 'Body too large.' }, 415: { description: 'Not JSON.' }, 422: { description: 'Invalid request.' } },
    },
    async (c) => {
      await read(c); // authorization before any parsing
      const { value } = await readBody(c, ['json'], options.bodyLimit, options.bodyDeadlineMs);
      const parsed = ExplainBody.safeParse(value);
      if (!parsed.success) throw invalid('the explain request is invalid', parsed.error.issues);
      const entry = resolveVersion(history, parsed.data.version ?? 'current');
      const { version: _version, ...request } = parsed.data;
      const result = explainerFor(entry).explain(request, options.httpsPort === undefined ? {} : { httpsPort: options.httpsPort });
      return c.json({ version: entry.snapshot.version, ...result });
    },
  );
}
