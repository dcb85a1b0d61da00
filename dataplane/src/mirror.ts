/**
 * Gateway API RequestMirror on the data plane: fire-and-forget copies of a request to the
 * mirror backends' endpoints (hidden routes of the matcher table, picked by the usual WRR and
 * health). A copy never delays or changes the real exchange: it is sent on its own connection
 * after the real one started, its response is read and dropped, and every failure is swallowed.
 *
 * Bounds (DESIGN rule 9): at most MAX_MIRRORS_IN_FLIGHT copies per process at once (more are
 * skipped), each closed after MIRROR_TIMEOUT_MS whatever happens, and a request is copied only
 * when its whole body (Content-Length, at most MAX_MIRROR_BODY bytes) arrived with its head — a
 * chunked or larger body is not held back for a mirror (the copy is skipped and counted).
 */
import type { ProxyContext } from './context.ts';
import type { ExtraHeaders } from './policy.ts';
import type { ForwardContext } from './http/forward.ts';
import { forwardHead } from './http/forward.ts';
import type { RequestHead } from './http/request-head.ts';
import type { EndpointRef, LoadedSnapshot } from './router.ts';
import { connectEndpoint } from './upstream/connect.ts';
import type { EndpointConnection } from './upstream/connect.ts';

/** Copies in flight per process, at most. */
export const MAX_MIRRORS_IN_FLIGHT = 256;
/** A copy's connection is closed after this long, answered or not. */
export const MIRROR_TIMEOUT_MS = 10_000;
/** Largest request body copied (it must have arrived with the head). */
export const MAX_MIRROR_BODY = 64 * 1024;

const CLOSE_LINE = Buffer.from('Connection: close\r\n', 'latin1');

/** What happened to mirror copies so far (per process), for tests and metrics. */
export const mirrorStats = { inFlight: 0, sent: 0, skipped: 0 };

/** Sends `bytes` to address:port (connected as the pool connects: hostnames through the address policy) and drops the answer; false when the in-flight bound is reached. */
function fireAndForget(address: string, port: number, bytes: Buffer, how: EndpointConnection): boolean {
  if (mirrorStats.inFlight >= MAX_MIRRORS_IN_FLIGHT) return false;
  mirrorStats.inFlight++;
  let open = true;
  const socket = connectEndpoint(address, port, how);
  const close = (): void => {
    if (!open) return;
    open = false;
    mirrorStats.inFlight--;
    clearTimeout(timer);
    socket.destroy();
  };
  const timer = setTimeout(close, MIRROR_TIMEOUT_MS);
  timer.unref();
  socket.on('connect', () => socket.write(bytes));
  // The answer is read (so the endpoint is not stuck writing) and dropped.
  socket.on('data', () => {});
  socket.on('end', close);
  socket.on('error', close);
  socket.on('close', close);
  mirrorStats.sent++;
  return true;
}

/** The request's body when it all came with the head and is small enough; null when it cannot be copied; undefined for none. */
function copiedBody(head: RequestHead, rest: Buffer | undefined): Buffer | null | undefined {
  if (!head.hasBody) return undefined;
  if (head.chunked || head.contentLength > MAX_MIRROR_BODY || rest === undefined || rest.length < head.contentLength) return null;
  return Buffer.from(rest.subarray(0, head.contentLength));
}

/** The parts of the real exchange a copy is made from. */
export interface MirroredRequest {
  readonly context: ProxyContext;
  readonly forward: ForwardContext;
  readonly head: RequestHead;
  readonly buf: Buffer;
  readonly headEnd: number;
  /** Bytes read after the head (the start of the body). */
  readonly rest: Buffer | undefined;
  /** The request-target forwarded (normalized or rewritten), when it differs from the received one. */
  readonly target: string | undefined;
  /** The request header changes of the route's policies. */
  readonly extra: ExtraHeaders | undefined;
}

/** Sends a copy of `request` to one endpoint of each mirror route in `routes` (of `snapshot`). */
export function mirrorRequest(request: MirroredRequest, snapshot: LoadedSnapshot, routes: readonly number[]): void {
  const body = copiedBody(request.head, request.rest);
  if (body === null) {
    mirrorStats.skipped += routes.length;
    return;
  }
  const { context, forward, head, buf, headEnd, target, extra } = request;
  const lines = extra === undefined ? CLOSE_LINE : Buffer.concat([extra.lines, CLOSE_LINE]);
  const extraLines: ExtraHeaders = { lines, replaces: extra === undefined ? [] : extra.replaces };
  // forwardHead builds in shared scratch memory: copy it before anything else runs.
  const copy = Buffer.from(forwardHead(buf, head, headEnd, forward, context.ids, context.ids.next(), false, target, extraLines));
  const bytes = body === undefined ? copy : Buffer.concat([copy, body]);
  const policy = context.pool.options.addressPolicy;
  const how: EndpointConnection = { keepAliveMs: context.pool.options.tcpKeepAliveMs ?? 60_000, addressPolicy: policy };
  for (const route of routes) {
    const id = snapshot.balancer.pick(route);
    const endpoint = id < 0 || id === snapshot.invalidEndpoint ? undefined : (snapshot.endpoints[id] as EndpointRef);
    if (endpoint === undefined || policy?.check(`${endpoint.address}:${endpoint.port}`, endpoint.address) !== undefined || !fireAndForget(endpoint.address, endpoint.port, bytes, how)) mirrorStats.skipped++;
  }
}
