/**
 * What every connection of one Proxy shares: the router, the upstream pool, resolved options,
 * metrics and the access log. Built once by the Proxy; connections only read it (and `closing`).
 */
import type { PathNormalization } from '@portico/assembly/normalize';
import type { Logger } from './logging.ts';
import type { H2Limits } from './h2/session.ts';
import type { RequestIds } from './http/forward.ts';
import type { ProxyMetrics } from './metrics.ts';
import type { Router } from './router.ts';
import type { TrustedProxies } from './trusted.ts';
import type { EndpointAddressOptions } from './upstream/address-policy.ts';
import type { ExternalAuthClient } from './external-auth.ts';
import type { H2Pool } from './upstream/h2-pool.ts';
import type { UpstreamPool } from './upstream/pool.ts';

/** Proxy tuning; every field has a default. */
export interface ProxyOptions {
  /** Request line plus headers, in bytes; more answers 431. Default 32 KiB. */
  readonly maxHeaderSize?: number;
  /** Request-target length; longer answers 414. Default 8 KiB. */
  readonly maxTargetLength?: number;
  /** CIDRs (or addresses) of proxies whose X-Forwarded-* are trusted. Default none. */
  readonly trustedProxies?: readonly string[];
  /** Connecting to an endpoint. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** Waiting for the endpoint: for the response head, and between two reads of the response. Default 60 s. */
  readonly readTimeoutMs?: number;
  /** Waiting for the endpoint to take request body bytes, between two writes. Default 60 s. */
  readonly sendTimeoutMs?: number;
  /** A client that stalls sending a request body or reading a response, between two reads or writes. Default 60 s. */
  readonly clientTimeoutMs?: number;
  /** A request head must arrive whole within this, counted from its first byte (from accept for a connection's first request); else 408 or close. Default 30 s. */
  readonly headerTimeoutMs?: number;
  /** A keep-alive connection waiting for its next request is closed after this. Default 75 s. */
  readonly keepAliveTimeoutMs?: number;
  /** An upgraded (WebSocket) connection with no byte either way for this long is closed. Default 300 s. */
  readonly tunnelIdleTimeoutMs?: number;
  /** TCP keepalive probes start after this much silence on every client and endpoint socket. Default 60 s. */
  readonly tcpKeepAliveMs?: number;
  /** Open connections (idle and busy) per endpoint; a request beyond it answers 503. Default 1024. */
  readonly maxConnectionsPerEndpoint?: number;
  /** How long an endpoint connection may sit idle in the pool. Default 4 s (below Node's 5 s server keep-alive). */
  readonly upstreamIdleTimeoutMs?: number;
  /** Idle connections kept per endpoint. Default 128. */
  readonly maxIdlePerEndpoint?: number;
  /** How long an upgraded connection outlives the removal of its endpoint. Default 30 s. */
  readonly drainMs?: number;
  /** Deadline of an auth-url subrequest, connect to response head (ms). Default 5000. */
  readonly authTimeoutMs?: number;
  /** Bounds of the auth-url answer cache (auth-cache-key) per worker. Default 16,384 entries, 16 MiB. */
  readonly authCache?: { readonly entries: number; readonly bytes: number };
  /** How request paths are normalized before matching and forwarding (docs/matching.md). Default: escaped slashes kept unless they hide a traversal, slashes merged. */
  readonly pathNormalization?: PathNormalization;
  /** Endpoint addresses allowed besides ordinary ones (default: no loopback, link-local or node address). */
  readonly endpointAddresses?: EndpointAddressOptions;
  /** Prometheus hooks; absent means no metrics work at all. */
  readonly metrics?: ProxyMetrics;
  /** HTTP/2 limits (concurrent streams, rapid-reset budget). */
  readonly http2?: H2Limits;
  /** Where to write one JSON line per request; absent means no access log (and no per-request cost). */
  readonly accessLog?: Logger;
  /** Operational log (upstream failures at debug, internal errors at error). */
  readonly logger?: Logger;
}

/** ProxyOptions with defaults applied. */
export interface ResolvedOptions {
  readonly maxHeaderSize: number;
  readonly maxTargetLength: number;
  readonly connectTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly sendTimeoutMs: number;
  readonly clientTimeoutMs: number;
  readonly headerTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
  readonly tunnelIdleTimeoutMs: number;
  readonly tcpKeepAliveMs: number;
  readonly maxConnectionsPerEndpoint: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly maxIdlePerEndpoint: number;
  readonly drainMs: number;
  readonly authTimeoutMs: number;
}

/** Shared state of one proxy, read by its connections. */
export interface ProxyContext {
  readonly router: Router;
  readonly pool: UpstreamPool;
  /** HTTP/2 sessions to endpoints whose backend speaks HTTP/2 or gRPC. */
  readonly h2: H2Pool;
  readonly options: ResolvedOptions;
  readonly normalization: PathNormalization;
  readonly trusted: TrustedProxies;
  readonly ids: RequestIds;
  readonly metrics: ProxyMetrics | undefined;
  readonly accessLog: Logger | undefined;
  readonly logger: Logger | undefined;
  /** Makes auth-url subrequests. */
  readonly externalAuth: ExternalAuthClient;
  /** Set by Proxy.close(): finish what is in flight, take nothing new. */
  closing: boolean;
  /** performance.now() as of the last timeout tick: a coarse clock that costs nothing to read. */
  now: number;
  /** Called by a connection when it is gone. */
  connectionClosed(connection: object): void;
  /** Upgraded connections, for draining when their endpoint goes away. */
  readonly tunnels: Set<{ readonly endpointKey: string; drain(ms: number): void; undrain(): void; destroy(): void }>;
}
