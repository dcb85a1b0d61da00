/**
 * The proxy engine: raw `net.Socket` HTTP/1.1 (plain or TLS sockets handed in by whoever listens),
 * routed by the Router, forwarded over keep-alive endpoint pools. See client.ts (requests),
 * exchange.ts (forwarding and failures), tunnel.ts (upgrades) and http/ (parsing).
 */
import type { Socket } from 'node:net';
import { ClientConnection } from './client.ts';
import { H2Sessions, resolveH2Limits } from './h2/session.ts';
import type { ClientSession, ConnectionInfo } from './seam.ts';
import type { ProxyContext, ProxyOptions, ResolvedOptions } from './context.ts';
import { PorticoError } from './errors.ts';
import { RequestIds } from './http/forward.ts';
import type { Router, SwapEvent } from './router.ts';
import { TrustedProxies } from './trusted.ts';
import { EndpointAddressPolicy } from './upstream/address-policy.ts';
import type { AuthAnswerCache } from './auth-cache.ts';
import { ExternalAuthClient } from './external-auth.ts';
import { H2Pool } from './upstream/h2-pool.ts';
import { UpstreamPool } from './upstream/pool.ts';

export type { ConnectionInfo } from './seam.ts';
export type { ProxyOptions } from './context.ts';

/** Idle connections compared per eviction. */
const EVICTION_CANDIDATES = 64;

function resolve(options: ProxyOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    maxHeaderSize: options.maxHeaderSize ?? 32 * 1024,
    maxTargetLength: options.maxTargetLength ?? 8 * 1024,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    readTimeoutMs: options.readTimeoutMs ?? 60_000,
    sendTimeoutMs: options.sendTimeoutMs ?? 60_000,
    clientTimeoutMs: options.clientTimeoutMs ?? 60_000,
    headerTimeoutMs: options.headerTimeoutMs ?? 30_000,
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 75_000,
    tunnelIdleTimeoutMs: options.tunnelIdleTimeoutMs ?? 300_000,
    tcpKeepAliveMs: options.tcpKeepAliveMs ?? 60_000,
    maxConnectionsPerEndpoint: options.maxConnectionsPerEndpoint ?? 1024,
    upstreamIdleTimeoutMs: options.upstreamIdleTimeoutMs ?? 4_000,
    maxIdlePerEndpoint: options.maxIdlePerEndpoint ?? 128,
    drainMs: options.drainMs ?? 30_000,
    authTimeoutMs: options.authTimeoutMs ?? 5_000,
  };
  for (const [name, value] of Object.entries(resolved)) {
    const floor = name === 'maxIdlePerEndpoint' || name === 'drainMs' ? 0 : 1;
    if (!Number.isInteger(value) || value < floor) throw new PorticoError('PORTICO_E_CONFIG', `${name} must be an integer >= ${floor}, not ${value}`);
  }
  return resolved;
}

/** Options of Proxy.close(). */
export interface CloseOptions {
  /** How long in-flight requests (and upgraded connections) may take before everything is destroyed. Default 10 s. */
  readonly timeoutMs?: number;
}

/** An HTTP/1.1 reverse proxy over connections handed to handleConnection(). */
export class Proxy {
  readonly router: Router;
  readonly pool: UpstreamPool;
  /** HTTP/2 sessions to HTTP/2 and gRPC endpoints. */
  readonly h2: H2Pool;
  readonly #context: ProxyContext;
  readonly #connections = new Set<ClientSession>();
  /** Made on the first HTTP/2 connection. */
  #h2: H2Sessions | undefined;
  readonly #h2Limits: ReturnType<typeof resolveH2Limits>;
  readonly #onSwap: (event: SwapEvent) => void;
  readonly #ticker: NodeJS.Timeout;
  #closed: Promise<void> | undefined;
  #allClosed: (() => void) | undefined;

  /** Throws PORTICO_E_CONFIG for an out-of-range option and PORTICO_E_CIDR for a bad trusted proxy. */
  constructor(router: Router, options: ProxyOptions = {}) {
    const resolved = resolve(options);
    this.router = router;
    const logger = options.logger;
    // One warning per endpoint (bounded), a metric per refusal.
    const warned = new Set<string>();
    const addressPolicy = new EndpointAddressPolicy(options.endpointAddresses ?? {}, (endpoint, address, why) => {
      options.metrics?.countEndpointRefused(why);
      if (warned.has(endpoint)) return;
      if (warned.size >= 1000) warned.clear();
      warned.add(endpoint);
      logger?.warn({ endpoint, address, reason: why }, 'endpoint address refused by the endpoint address policy; nothing is sent to it (requests to it answer 502, mirror copies are skipped)');
    });
    this.pool = new UpstreamPool({
      addressPolicy,
      idleTimeoutMs: resolved.upstreamIdleTimeoutMs,
      maxIdlePerEndpoint: resolved.maxIdlePerEndpoint,
      maxPerEndpoint: resolved.maxConnectionsPerEndpoint,
      tcpKeepAliveMs: resolved.tcpKeepAliveMs,
    });
    // HTTP/2 sessions count per endpoint apart from HTTP/1.1 sockets; each carries up to 100 streams.
    this.h2 = new H2Pool({
      addressPolicy,
      idleTimeoutMs: resolved.upstreamIdleTimeoutMs,
      connectTimeoutMs: resolved.connectTimeoutMs,
      maxHeaderListSize: resolved.maxHeaderSize,
      tcpKeepAliveMs: resolved.tcpKeepAliveMs,
    });
    const connections = this.#connections;
    const metrics = options.metrics;
    this.#context = {
      router,
      pool: this.pool,
      h2: this.h2,
      options: resolved,
      normalization: options.pathNormalization ?? {},
      trusted: new TrustedProxies(options.trustedProxies ?? []),
      ids: new RequestIds(),
      metrics,
      accessLog: options.accessLog,
      logger: options.logger,
      externalAuth: new ExternalAuthClient({ addressPolicy, timeoutMs: resolved.authTimeoutMs, logger, ...(options.authCache === undefined ? {} : { cacheEntries: options.authCache.entries, cacheBytes: options.authCache.bytes }) }),
      closing: false,
      now: performance.now(),
      tunnels: new Set(),
      connectionClosed: (connection) => {
        if (!connections.delete(connection as ClientSession)) return;
        if (connections.size === 0) this.#allClosed?.();
      },
    };
    this.#onSwap = (event) => {
      for (const tunnel of this.#context.tunnels) {
        if (event.endpointKeys.has(tunnel.endpointKey)) tunnel.undrain();
        else tunnel.drain(resolved.drainMs);
      }
      this.pool.dropEndpoints(event.removedEndpoints);
      this.h2.dropEndpoints(event.removedEndpoints);
    };
    router.on('swap', this.#onSwap);
    this.#h2Limits = resolveH2Limits(options.http2);
    // Timeouts are checked on a coarse tick rather than with socket timers, which Node would
    // re-arm on every read and write of every socket.
    const shortest = Math.min(resolved.connectTimeoutMs, resolved.readTimeoutMs, resolved.sendTimeoutMs, resolved.clientTimeoutMs, resolved.headerTimeoutMs, resolved.keepAliveTimeoutMs, resolved.tunnelIdleTimeoutMs);
    const tick = Math.min(1000, Math.max(10, Math.floor(shortest / 4)));
    this.#ticker = setInterval(() => this.#tick(), tick);
    this.#ticker.unref();
  }

  #tick(): void {
    const now = (this.#context.now = performance.now());
    for (const connection of this.#connections) connection.checkTimeouts(now);
  }

  /**
   * Serves HTTP/1.1 on a connected socket (a net.Socket or a tls.TLSSocket after the handshake)
   * until it closes. `scheme` decides redirects and X-Forwarded-Proto; `localPort` goes into
   * X-Forwarded-Port. After close() the socket is destroyed at once.
   */
  handleConnection(socket: Socket, info: ConnectionInfo): void {
    if (this.#context.closing) {
      socket.destroy();
      return;
    }
    const connection = new ClientConnection(socket, this.#context, info);
    this.#connections.add(connection);
  }

  /**
   * Serves HTTP/2 on a connected socket: a TLS socket whose ALPN chose `h2`, or a plain one that
   * opened with the HTTP/2 preface (its first bytes may already be in the socket's read buffer).
   * Same routing, policies, endpoints and failure semantics as handleConnection.
   */
  handleHttp2Connection(socket: Socket, info: ConnectionInfo): void {
    if (this.#context.closing) {
      socket.destroy();
      return;
    }
    this.#h2 ??= new H2Sessions(this.#context, this.#h2Limits, (connection) => this.#connections.add(connection));
    this.#h2.handle(socket, info);
  }

  /**
   * Closes the connection that has been idle longest among the oldest few idle ones (waiting for
   * a request, or closing), to make room near a connection limit. Returns false when no
   * connection is idle: every one is in a request or a tunnel.
   */
  evictIdle(): boolean {
    let victim: ClientSession | undefined;
    let seen = 0;
    // Oldest first (insertion order); looking at a bounded few keeps an eviction O(1) under attack.
    for (const connection of this.#connections) {
      if (!connection.idle) continue;
      if (victim === undefined || connection.idleSince < victim.idleSince) victim = connection;
      if (++seen === EVICTION_CANDIDATES) break;
    }
    if (victim === undefined) return false;
    victim.socket.destroy();
    // Forget it now: 'close' comes on a later tick, and the caller counts on the room.
    this.#context.connectionClosed(victim);
    return true;
  }

  /** Client connections open now (upgraded ones included). */
  get activeConnections(): number {
    return this.#connections.size;
  }

  /** The options in force, defaults applied (timeouts the passed-through TLS connections share). */
  get settings(): ResolvedOptions {
    return this.#context.options;
  }

  /** The auth-url answer cache (auth-cache-key): its size, bytes and counts. */
  get authCache(): AuthAnswerCache {
    return this.#context.externalAuth.cache;
  }

  /** Upgraded (tunnelled) connections open now. */
  get activeTunnels(): number {
    return this.#context.tunnels.size;
  }

  /**
   * Stops taking requests: idle keep-alive connections close now, busy ones after their current
   * response (sent with `Connection: close`); waits for them up to `timeoutMs`, then destroys
   * whatever is left (upgraded connections included). Resolves when every connection is closed.
   */
  close(options: CloseOptions = {}): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    const context = this.#context;
    context.closing = true;
    this.router.off('swap', this.#onSwap);
    this.pool.close();
    context.externalAuth.close();
    this.h2.close();
    this.#closed = new Promise<void>((resolveClosed) => {
      const deadline = setTimeout(() => {
        for (const tunnel of [...context.tunnels]) tunnel.destroy();
        for (const connection of this.#connections) connection.socket.destroy();
      }, options.timeoutMs ?? 10_000);
      this.#allClosed = () => {
        clearTimeout(deadline);
        clearInterval(this.#ticker);
        resolveClosed();
      };
      for (const connection of [...this.#connections]) connection.shutdown();
      if (this.#connections.size === 0) this.#allClosed();
    });
    return this.#closed;
  }
}
