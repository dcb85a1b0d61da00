/**
 * Request mirroring on the data plane: fire-and-forget copies of a request, for Gateway API
 * RequestMirror (to the mirror backends' endpoints: hidden routes of the matcher table, picked by
 * the usual WRR and health) and for ingress-nginx's `mirror-target` (to a URL: a Service's
 * endpoints the same way, or a host resolved by DNS, over HTTP or verified HTTPS). A copy never
 * delays or changes the real exchange: it goes on its own connection, its response is read and
 * dropped, and every failure is only counted (`mirrorStats`, the `portico_mirror_copies_total`
 * metric). Every connection goes through the endpoint address policy (loopback, link-local and
 * the node's own addresses refused unless allowed), a hostname's resolved addresses included.
 *
 * Bounds (DESIGN rule 9): at most MAX_MIRRORS_IN_FLIGHT copies per process at once (more are
 * dropped), each closed MIRROR_TIMEOUT_MS after it connects whatever happens, and at most
 * MAX_MIRROR_LOOKUPS DNS lookups of mirror-target names at once (more copies dropped). Gateway copies are
 * made only when the whole body (Content-Length, at most GATEWAY_MIRROR_BODY bytes) arrived with
 * the head. A mirror-target copy takes the body as the real exchange reads it (never holding the
 * client back) and goes once it is complete: at most MAX_MIRROR_BODY bytes each (ingress-nginx's
 * default client_max_body_size refuses larger mirror subrequests) and MIRROR_BODY_BUDGET bytes
 * over all copies of the process; a body past either, or a request that ends before its body
 * did (refused, client gone), is not mirrored.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { PolicyOutcome } from '@portico/control/snapshot/policies/module';
import type { ProxyContext } from './context.ts';
import type { ExtraHeaders } from './policy.ts';
import type { ForwardContext } from './http/forward.ts';
import { forwardHead } from './http/forward.ts';
import type { RequestHead } from './http/request-head.ts';
import type { EndpointRef } from './endpoints.ts';
import type { LoadedSnapshot } from './router.ts';
import { connectEndpoint } from './upstream/connect.ts';
import type { EndpointConnection } from './upstream/connect.ts';
import type { UpstreamTlsTarget } from './upstream/tls.ts';

/** Copies in flight per process, at most (a mirror-target copy counts from the request's start). */
export const MAX_MIRRORS_IN_FLIGHT = 256;
/** A copy's connection is closed after this long, answered or not. */
export const MIRROR_TIMEOUT_MS = 10_000;
/** Largest request body a Gateway RequestMirror copy carries (it must have arrived with the head). */
export const GATEWAY_MIRROR_BODY = 64 * 1024;
/** Largest request body (as framed on the wire) a mirror-target copy carries: ingress-nginx's default client_max_body_size, 1m. */
export const MAX_MIRROR_BODY = 1024 * 1024;
/** Request body bytes all mirror-target copies of the process may hold at once. */
export const MIRROR_BODY_BUDGET = 16 * 1024 * 1024;
/**
 * DNS lookups of mirror-target hosts in flight per process, at most: each holds one of libuv's
 * few threadpool threads (getaddrinfo), which other work needs too; a copy past it is dropped (busy).
 */
export const MAX_MIRROR_LOOKUPS = 8;

/** What became of a copy, as the metric labels it. */
export const MIRROR_OUTCOMES = ['answered', 'failed', 'timeout', 'busy', 'no-endpoint', 'address-refused', 'body-too-large', 'body-budget', 'body-not-buffered', 'incomplete', 'bad-target'] as const;
export type MirrorOutcome = (typeof MIRROR_OUTCOMES)[number];

/**
 * What happened to mirror copies so far (per process), for tests and metrics: `sent` copies went
 * to a connection, `skipped` were dropped before (every outcome after `timeout`), `outcomes` counts
 * each by MIRROR_OUTCOMES index, `bodyBytes` is what mirror-target copies hold now.
 */
export const mirrorStats = { inFlight: 0, sent: 0, skipped: 0, bodyBytes: 0, lookups: 0, outcomes: new Float64Array(MIRROR_OUTCOMES.length) };

function count(outcome: MirrorOutcome): void {
  const index = MIRROR_OUTCOMES.indexOf(outcome);
  mirrorStats.outcomes[index] = (mirrorStats.outcomes[index] as number) + 1;
  if (index > 2) mirrorStats.skipped++;
}

const CLOSE_LINE = Buffer.from('Connection: close\r\n', 'latin1');

/**
 * Sends `bytes` to address:port (connected as the pool connects: hostnames through the address
 * policy, TLS verified when `how` has it) and reads the answer only to drop it. The slot in
 * flight (taken by the caller) is given back, and `release` called, when the connection closes.
 */
function fireAndForget(address: string, port: number, bytes: Buffer, how: EndpointConnection, release?: () => void): void {
  let open = true;
  let answered = false;
  let timedOut = false;
  const socket = connectEndpoint(address, port, how, () => socket.write(bytes));
  const close = (): void => {
    if (!open) return;
    open = false;
    mirrorStats.inFlight--;
    clearTimeout(timer);
    socket.destroy();
    release?.();
    count(answered ? 'answered' : timedOut ? 'timeout' : refusedBy(socket.errored) ? 'address-refused' : 'failed');
  };
  const timer = setTimeout(() => {
    timedOut = true;
    close();
  }, MIRROR_TIMEOUT_MS);
  timer.unref();
  // The answer is read (so the endpoint is not stuck writing) and dropped.
  socket.on('data', () => (answered = true));
  socket.on('end', close);
  socket.on('error', () => {});
  socket.on('close', close);
  mirrorStats.sent++;
}

/** Whether a connection failed because the address policy refused what the name resolved to. */
function refusedBy(error: Error | null | undefined): boolean {
  return (error as { code?: string } | null | undefined)?.code === 'PORTICO_E_ENDPOINT_REFUSED';
}

/** The request's body when it all came with the head and is small enough; null when it cannot be copied; undefined for none. */
function copiedBody(head: RequestHead, rest: Buffer | undefined): Buffer | null | undefined {
  if (!head.hasBody) return undefined;
  if (head.chunked || head.contentLength > GATEWAY_MIRROR_BODY || rest === undefined || rest.length < head.contentLength) return null;
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

/** How copies connect: the pool's keepalive and address policy. */
function connection(context: ProxyContext, tls?: UpstreamTlsTarget): EndpointConnection {
  return { keepAliveMs: context.pool.options.tcpKeepAliveMs ?? 60_000, addressPolicy: context.pool.options.addressPolicy, tls };
}

/** An endpoint of hidden route `route` that the address policy allows; the outcome that drops the copy otherwise. */
function pickEndpoint(context: ProxyContext, snapshot: LoadedSnapshot, route: number): EndpointRef | 'no-endpoint' | 'address-refused' {
  const id = snapshot.balancer.pick(route);
  const endpoint = id < 0 || id === snapshot.invalidEndpoint ? undefined : snapshot.endpoints.at(id)!;
  if (endpoint === undefined) return 'no-endpoint';
  if (context.pool.options.addressPolicy?.check(`${endpoint.address}:${endpoint.port}`, endpoint.address) !== undefined) return 'address-refused';
  return endpoint;
}

/** Sends a copy of `request` to one endpoint of each mirror route in `routes` (of `snapshot`): Gateway API RequestMirror. */
export function mirrorRequest(request: MirroredRequest, snapshot: LoadedSnapshot, routes: readonly number[]): void {
  const body = copiedBody(request.head, request.rest);
  if (body === null) {
    for (let i = 0; i < routes.length; i++) count('body-not-buffered');
    return;
  }
  const { context, forward, head, buf, headEnd, target, extra } = request;
  const lines = extra === undefined ? CLOSE_LINE : Buffer.concat([extra.lines, CLOSE_LINE]);
  const extraLines: ExtraHeaders = { lines, replaces: extra === undefined ? [] : extra.replaces };
  // forwardHead builds in shared scratch memory: copy it before anything else runs.
  const copy = Buffer.from(forwardHead(buf, head, headEnd, forward, context.ids, context.ids.next(), false, target, extraLines));
  const bytes = body === undefined ? copy : Buffer.concat([copy, body]);
  const how = connection(context);
  for (const route of routes) {
    const endpoint = pickEndpoint(context, snapshot, route);
    if (typeof endpoint === 'string') count(endpoint);
    else if (mirrorStats.inFlight >= MAX_MIRRORS_IN_FLIGHT) count('busy');
    else {
      mirrorStats.inFlight++;
      fireAndForget(endpoint.address, endpoint.port, bytes, how);
    }
  }
}

/** What the exchange tells a copy about the real request's body and fate. */
export interface MirrorBodyTap {
  /** Body bytes as received (framing included), in order. */
  body(bytes: Buffer): void;
  /** The whole body was read. */
  end(): void;
  /** The request passed every check (auth-url) and goes to an endpoint. */
  allow(): void;
  /** The exchange is over: a copy whose body did not end, or that was never allowed, is dropped. */
  drop(): void;
}

let defaultTls: SecureContext | undefined;

/** TLS to an https mirror-target: Node's bundled roots, the target's host as SNI (a name) and as the name verified. */
function mirrorTls(host: string): UpstreamTlsTarget {
  defaultTls ??= createSecureContext();
  return { poolSuffix: '', secureContext: defaultTls, serverName: isIP(host) === 0 ? host : undefined, verify: true, verifyName: host, verifyDepth: 100 };
}

/** One mirror-target copy: holds the head and the body until both the body is complete and the request allowed. */
class TargetCopy implements MirrorBodyTap {
  readonly #head: Buffer;
  readonly #address: string;
  readonly #port: number;
  readonly #how: EndpointConnection;
  readonly #chunks: Buffer[] = [];
  readonly #withBody: boolean;
  #bytes = 0;
  #ended: boolean;
  #allowed = false;
  #over = false;

  /** `withBody`: the copy carries the request's body (else it goes without waiting for it). */
  constructor(head: Buffer, address: string, port: number, how: EndpointConnection, withBody: boolean) {
    this.#head = head;
    this.#address = address;
    this.#port = port;
    this.#how = how;
    this.#withBody = withBody;
    this.#ended = !withBody;
  }

  body(bytes: Buffer): void {
    if (this.#over || !this.#withBody || bytes.length === 0) return;
    if (this.#bytes + bytes.length > MAX_MIRROR_BODY) return this.#give('body-too-large');
    if (mirrorStats.bodyBytes + bytes.length > MIRROR_BODY_BUDGET) return this.#give('body-budget');
    // The client's read buffer may be reused: the copy keeps its own bytes.
    this.#chunks.push(Buffer.from(bytes));
    this.#bytes += bytes.length;
    mirrorStats.bodyBytes += bytes.length;
  }

  end(): void {
    this.#ended = true;
    this.#send();
  }

  allow(): void {
    this.#allowed = true;
    this.#send();
  }

  drop(): void {
    if (!this.#over) this.#give('incomplete');
  }

  #send(): void {
    if (this.#over || !this.#ended || !this.#allowed) return;
    this.#over = true;
    const bytes = this.#chunks.length === 0 ? this.#head : Buffer.concat([this.#head, ...this.#chunks]);
    this.#chunks.length = 0;
    const held = this.#bytes;
    const release = (): void => {
      mirrorStats.bodyBytes -= held;
    };
    const port = this.#port;
    const how = this.#how;
    if (isIP(this.#address) !== 0) return fireAndForget(this.#address, port, bytes, how, release);
    // A name: resolved here (through the address policy), a bounded number at once, then connected to by address.
    const given = (outcome: MirrorOutcome): void => {
      release();
      mirrorStats.inFlight--;
      count(outcome);
    };
    if (mirrorStats.lookups >= MAX_MIRROR_LOOKUPS) return given('busy');
    mirrorStats.lookups++;
    const lookup = how.addressPolicy?.lookup ?? dnsLookup;
    lookup(this.#address, {}, (error: NodeJS.ErrnoException | null, address: string | LookupAddress[]) => {
      mirrorStats.lookups--;
      const first = Array.isArray(address) ? address[0]?.address : address;
      if (error !== null || first === undefined || first === '') return given(refusedBy(error) ? 'address-refused' : 'failed');
      fireAndForget(first, port, bytes, how, release);
    });
  }

  /** Dropped before it was sent. */
  #give(outcome: MirrorOutcome): void {
    this.#over = true;
    this.#chunks.length = 0;
    mirrorStats.bodyBytes -= this.#bytes;
    this.#bytes = 0;
    mirrorStats.inFlight--;
    count(outcome);
  }
}

/**
 * Starts the copy a route's mirror-target asks for: where it goes is decided now (the Service's
 * endpoint, or the URL's host), its head is built now (method and header fields as received,
 * Host: mirror-host, the target's request-target, X-Forwarded-* and X-Real-IP as Portico writes
 * them, `Connection: close`; without the body when mirror-request-body is off). Returns the tap
 * the exchange feeds the body to, or undefined when no copy is made (counted).
 */
export function startMirrorCopy(copy: NonNullable<PolicyOutcome['mirrorTarget']>, request: Omit<MirroredRequest, 'rest' | 'target' | 'extra'>, snapshot: LoadedSnapshot): MirrorBodyTap | undefined {
  const { data, target } = copy;
  const { context, forward, head, buf, headEnd } = request;
  if (!target.startsWith('/')) {
    count('bad-target');
    return undefined;
  }
  const withBody = data.requestBody && head.hasBody;
  if (withBody && head.contentLength > MAX_MIRROR_BODY) {
    count('body-too-large');
    return undefined;
  }
  let address = data.host;
  let port = data.port;
  if (data.service !== null) {
    const endpoint = copy.route === undefined ? 'no-endpoint' : pickEndpoint(context, snapshot, copy.route);
    if (typeof endpoint === 'string') {
      count(endpoint);
      return undefined;
    }
    address = endpoint.address;
    port = endpoint.port;
  } else if (isIP(address) !== 0 && context.pool.options.addressPolicy?.check(`${address}:${port}`, address) !== undefined) {
    count('address-refused');
    return undefined;
  }
  if (mirrorStats.inFlight >= MAX_MIRRORS_IN_FLIGHT) {
    count('busy');
    return undefined;
  }
  mirrorStats.inFlight++;
  const lines = `Host: ${data.hostHeader}\r\nConnection: close\r\n${head.hasBody && !data.requestBody ? 'Content-Length: 0\r\n' : ''}`;
  const extra: ExtraHeaders = { lines: Buffer.from(lines, 'latin1'), replaces: ['host', 'expect'] };
  // forwardHead builds in shared scratch memory: copy it before anything else runs.
  const bytes = Buffer.from(forwardHead(buf, head, headEnd, forward, context.ids, context.ids.next(), false, target, extra, !data.requestBody));
  return new TargetCopy(bytes, address, port, connection(context, data.scheme === 'https' ? mirrorTls(data.host) : undefined), withBody);
}
