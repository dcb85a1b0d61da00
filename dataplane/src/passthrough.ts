/**
 * `ssl-passthrough` on the data plane: a TLS connection whose ClientHello names (SNI) a
 * passed-through host is not terminated. Its bytes, the ClientHello read ahead included, are
 * spliced both ways to an endpoint of the host's `/` route, picked as a request's would be
 * (balancing, health), so the endpoint terminates TLS with its own certificate.
 *
 * Bounds (DESIGN rule 9): the socket was admitted through the connection budget before any byte
 * was read and stays counted until it closes; the ClientHello is read with a deadline and a size
 * limit (client-hello.ts); the endpoint address policy is checked before connecting; the connect
 * has the proxy's connect timeout; a spliced connection with no byte either way for the tunnel
 * idle timeout is closed. An endpoint that cannot be connected to is reported to health and
 * another one is tried; with none left the client connection is closed (there is no HTTP to answer
 * a 502 on).
 */
import type { Socket } from 'node:net';
import type { PassthroughHost } from '@portico/control/snapshot/bundle';
import type { EndpointAddressPolicy } from './upstream/address-policy.ts';
import { connectEndpoint } from './upstream/connect.ts';
import type { ProxyDecision, Router } from './router.ts';

/** How a passed-through connection ended up, in metric label order. */
export type PassthroughOutcome = 'spliced' | 'failed';
export const PASSTHROUGH_OUTCOMES: readonly PassthroughOutcome[] = ['spliced', 'failed'];

/** The timeouts and policy a splice runs with. */
export interface PassthroughSettings {
  /** Hears of each connection spliced or given up (metrics). */
  readonly counted?: (outcome: PassthroughOutcome) => void;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly tcpKeepAliveMs: number;
  readonly addressPolicy: EndpointAddressPolicy | undefined;
}

/** What happened to passed-through connections so far (per process), for tests and logs. */
export const passthroughStats = { spliced: 0, failed: 0 };

function countFailed(settings: PassthroughSettings): void {
  passthroughStats.failed++;
  settings.counted?.('failed');
}

/**
 * The endpoint for a passed-through connection to `entry.host`: the decision for `/` on the
 * current snapshot, when it is the route that carries the passthrough (`entry.route`) and it has
 * a ready endpoint; undefined otherwise.
 */
export function passthroughEndpoint(router: Router, entry: PassthroughHost): ProxyDecision | undefined {
  let decision = router.route(entry.host, '/', 'GET', undefined, 'https');
  if (decision.kind === 'choose') decision = router.choose(decision, undefined);
  if (decision.kind !== 'proxy' || decision.route !== entry.route || decision.fallback !== undefined) return undefined;
  return decision;
}

/** Endpoints tried for one connection at most (the first pick and the retries after connect failures). */
export const MAX_PASSTHROUGH_TRIES = 3;

/**
 * Splices `client` (paused, its ClientHello given back to it) to an endpoint of `entry`'s route.
 * An endpoint that refuses the connection or does not accept it within the connect timeout is
 * reported to health and another one is tried (nothing was sent to it yet, so that is safe), up
 * to MAX_PASSTHROUGH_TRIES; the client is closed when none is left, or when the address policy
 * refuses the endpoint. `open` tracks the live splices (closed at shutdown).
 */
export function splicePassthrough(client: Socket, entry: PassthroughHost, router: Router, settings: PassthroughSettings, open: Set<Socket>): void {
  const first = passthroughEndpoint(router, entry);
  if (first === undefined) {
    countFailed(settings);
    client.destroy();
    return;
  }
  open.add(client);
  let upstream: Socket | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  const close = (): void => {
    clearTimeout(connectTimer);
    open.delete(client);
    client.destroy();
    upstream?.destroy();
  };
  client.on('error', close);
  client.on('close', close);
  const attempt = (decision: ProxyDecision, tried: number[]): void => {
    if (client.destroyed) return;
    if (settings.addressPolicy?.check(decision.endpointKey, decision.address) !== undefined) {
      countFailed(settings);
      close();
      return;
    }
    const socket = connectEndpoint(decision.address, decision.port, { keepAliveMs: settings.tcpKeepAliveMs, addressPolicy: settings.addressPolicy });
    upstream = socket;
    let connected = false;
    const failed = (): void => {
      if (connected || socket !== upstream) return;
      clearTimeout(connectTimer);
      socket.destroy();
      router.reportFailure(decision.endpointKey);
      const next = tried.length + 1 < MAX_PASSTHROUGH_TRIES ? router.retryPick(decision, tried) : undefined;
      if (next === undefined) {
        countFailed(settings);
        close();
      } else attempt(next, [...tried, decision.endpointId]);
    };
    connectTimer = setTimeout(failed, settings.connectTimeoutMs);
    socket.once('connect', () => {
      connected = true;
      clearTimeout(connectTimer);
      router.reportSuccess(decision.endpointKey);
      passthroughStats.spliced++;
      settings.counted?.('spliced');
      // A socket's timeout is re-armed by its reads and its writes: each side's fires only after a silence both ways.
      client.setTimeout(settings.idleTimeoutMs, close);
      socket.setTimeout(settings.idleTimeoutMs, close);
      client.pipe(socket);
      socket.pipe(client);
      client.resume();
    });
    socket.on('error', () => (connected ? close() : failed()));
    socket.on('close', () => {
      if (connected) close();
    });
  };
  attempt(first, []);
}
