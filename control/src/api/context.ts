/**
 * What every API resource file shares: the options of `createApp`, the Hono environment with
 * the authenticated principal, and the authorization helper.
 */
import type { Context } from 'hono';
import type { Logger } from 'pino';
import type { ApiAction, Authenticator, Principal } from '../auth/types.ts';
import type { NodeRegistry } from '../nodes/registry.ts';
import type { SnapshotHistory } from '../publish/history.ts';
import type { BundleCompiler } from '../snapshot/bundle-compile.ts';
import type { ManifestProblem } from '../sources/manifests/parse.ts';
import type { RouteStore, StoreCaller } from '../sources/store/route-store.ts';
import type { ServedIngresses } from './conflicts.ts';
import type { ControlMetrics } from './metrics.ts';
import { ApiError } from './problem.ts';

/** Everything the API needs from its composition root. */
export interface ApiOptions {
  /** Published snapshots (the controller's or the standalone loop's). */
  readonly history: SnapshotHistory;
  /** Where route writes go. */
  readonly store: RouteStore;
  /** Who may call what. */
  readonly auth: Authenticator;
  /** What Portico serves now, for host/path conflict checks; without it writes are not checked for conflicts. */
  readonly served?: ServedIngresses;
  /** Node bookkeeping; a fresh one when absent. */
  readonly nodes?: NodeRegistry;
  /** Metrics registry for /metrics and API counters; a fresh one when absent. */
  readonly metrics?: ControlMetrics;
  readonly logger?: Logger;
  /** The manifest source's current problems, shown with the current snapshot (standalone). */
  readonly manifestProblems?: () => readonly ManifestProblem[];
  /** Readiness; default: a snapshot has been published. */
  readonly ready?: () => boolean;
  /** A reason not to be ready beyond `ready` (a manifest that never parsed), or undefined. */
  readonly notReady?: () => string | undefined;
  /** Largest accepted body in bytes (default 1 MiB). */
  readonly bodyLimit?: number;
  /** Longest a request body may take to arrive, in ms (default 30 s); a slower one is answered 408. */
  readonly bodyDeadlineMs?: number;
  /** Longest sync long-poll in ms (default and maximum 30 s). */
  readonly syncTimeoutMs?: number;
  /** HTTPS port for explain's redirect locations (default 443). */
  readonly httpsPort?: number;
  /** Origins allowed by CORS; none (CORS off) by default. */
  readonly corsOrigins?: readonly string[];
  /** Compiles the table chunks sync bodies ship; standalone shares its data plane's, so a version is compiled once. Default: the API's own. */
  readonly bundleCompiler?: BundleCompiler;
}

/** The Hono environment of the API: the principal set by the auth middleware. */
export interface ApiEnv {
  Variables: { principal: Principal };
}

/** Throws 403 unless the request's principal may perform `action`. */
export async function authorize(c: Context<ApiEnv>, auth: Authenticator, action: ApiAction): Promise<void> {
  const decision = await auth.authorize(c.get('principal'), action);
  if (!decision.allowed) throw new ApiError('PORTICO_E_FORBIDDEN', decision.reason ?? 'forbidden');
}

/** Throws 403 unless the principal may perform at least one of `actions` (tried in order). */
export async function authorizeAny(c: Context<ApiEnv>, auth: Authenticator, actions: readonly ApiAction[]): Promise<void> {
  let reason: string | undefined;
  for (const action of actions) {
    const decision = await auth.authorize(c.get('principal'), action);
    if (decision.allowed) return;
    reason ??= decision.reason;
  }
  throw new ApiError('PORTICO_E_FORBIDDEN', reason ?? 'forbidden');
}

/** The store caller of the request: the principal's token goes along only to a Kubernetes store. */
export function callerOf(c: Context<ApiEnv>, store: RouteStore): StoreCaller {
  return store.kind === 'kubernetes' ? { bearerToken: c.get('principal').token } : {};
}

/** An ETag header value for an opaque version. */
export function etagHeader(etag: string): string {
  return `"${etag}"`;
}

/** The version inside an If-Match / If-None-Match value (`"v"`, `W/"v"`, `v`); `*` stays `*`; undefined when absent or empty. */
export function parseEtag(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const first = header.split(',')[0]!.trim();
  if (first === '') return undefined;
  if (first === '*') return '*';
  const match = /^(?:W\/)?"([^"]*)"$/.exec(first);
  return match ? match[1] : first;
}
