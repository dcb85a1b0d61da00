/**
 * One data-plane process: the HTTP and HTTPS listeners, the proxy, the router and the
 * certificates, loaded together from each snapshot. Composition only: the pieces live in
 * router.ts, proxy.ts, tls.ts.
 */
import { createServer as createNetServer } from 'node:net';
import type { Server as NetServer } from 'node:net';
import type { Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import type { Snapshot } from '@portico/control/snapshot';
import type { TableBundle } from './bundle.ts';
import { tlsOf } from '@portico/control/snapshot/bundle';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import type { Logger } from './logging.ts';
import { Admission } from './admission.ts';
import type { AdmissionOptions } from './admission.ts';
import { ProxyMetrics } from './metrics.ts';
import { Proxy } from './proxy.ts';
import type { ProxyOptions } from './proxy.ts';
import type { SwapEvent } from './router.ts';
import { PorticoError } from './errors.ts';
import { listenError } from './listen.ts';
import { Router } from './router.ts';
import type { RouterOptions } from './router.ts';
import type { KeyPair, TlsPolicy } from './tls.ts';
import { CertificateStore, clientTlsOf, generateDefaultCertificate } from './tls.ts';
import { sniffServerName } from './client-hello.ts';
import { peekAhead } from './peek.ts';
import { splicePassthrough } from './passthrough.ts';
import type { PassthroughOutcome, PassthroughSettings } from './passthrough.ts';
import { TrustedProxies } from './trusted.ts';
import { plainLocalAddress, scopeLabel } from '@portico/control/snapshot/scope';

/** Bind addresses that receive connections to every local address. */
const WILDCARD_ADDRESSES: ReadonlySet<string> = new Set(['0.0.0.0', '::']);

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Reads a plain connection's first bytes until they are the HTTP/2 preface or cannot be; puts
 * them back and calls `then(true)` for HTTP/2 (prior knowledge), `then(false)` for HTTP/1.1. A
 * client that sends nothing conclusive within `timeoutMs` is closed.
 */
function sniffPreface(socket: Socket, timeoutMs: number, then: (http2: boolean) => void): void {
  peekAhead(socket, timeoutMs, (seen) => {
    const length = Math.min(seen.length, PREFACE.length);
    if (seen.compare(PREFACE, 0, length, 0, length) !== 0) return false;
    return seen.length >= PREFACE.length ? true : undefined;
  }, (http2) => {
    then(http2);
    if (!http2) socket.resume();
  });
}

/** Where and how one data plane listens. */
export interface DataPlaneOptions {
  /** Bind address of the traffic ports (default 0.0.0.0). */
  readonly address?: string;
  /**
   * Gateways' own addresses (`--gateway-address`): connections to them are routed in their
   * address's scope only (snapshot/scope.ts). Bound on the traffic ports besides `address`
   * unless `address` is a wildcard, which receives them already.
   */
  readonly gatewayAddresses?: readonly string[];
  /** Plain HTTP port; 0 picks a free one. */
  readonly httpPort: number;
  /** HTTPS port; 0 picks a free one; undefined disables HTTPS. */
  readonly httpsPort?: number | undefined;
  /** HTTPS port written into redirect locations when it differs from the bound one (e.g. behind a Service). */
  readonly advertisedHttpsPort?: number;
  /** Certificate for clients without SNI or hosts without a usable Secret; generated when absent. */
  readonly defaultCertificate?: KeyPair;
  /** Connection caps of this process (global and per client address). */
  readonly admission?: AdmissionOptions;
  /** TLS versions and cipher suites (default: Mozilla intermediate, ECDHE + AEAD only). */
  readonly tls?: TlsPolicy;
  /** A TLS handshake that has not finished after this is closed. Default 10 s. */
  readonly tlsHandshakeTimeoutMs?: number;
  /** Offer HTTP/2 on the HTTPS port (ALPN `h2`, then `http/1.1`). Default true. */
  readonly http2?: boolean;
  /** Serve HTTP/2 with prior knowledge (h2c) on the plain HTTP port beside HTTP/1.1. Default false. */
  readonly h2c?: boolean;
  /** Share the ports with sibling worker processes (SO_REUSEPORT, Linux). */
  readonly reusePort?: boolean;
  /** Open no traffic port until `listen()` (called once the first snapshot is loaded). Default: listen at once. */
  readonly deferListen?: boolean;
  readonly proxy?: Omit<ProxyOptions, 'metrics' | 'accessLog' | 'logger'>;
  readonly router?: Omit<RouterOptions, 'httpsPort'>;
  /** One JSON line per request when set. */
  readonly accessLog?: Logger;
  readonly logger?: Logger;
}

/** A running data plane. */
export class DataPlane {
  readonly router: Router;
  readonly proxy: Proxy;
  readonly certificates: CertificateStore;
  /** This process's metrics (`families()` when scraped). */
  readonly metrics: ProxyMetrics;
  readonly http: NetServer;
  readonly https: NetServer | undefined;
  /** The connection budget both traffic listeners admit sockets through. */
  readonly admission: Admission;
  private readonly logger: Logger | undefined;
  private readonly open: () => Promise<void>;
  /** Listeners on the Gateways' own addresses (when the edge address is not a wildcard). */
  private readonly extra: readonly NetServer[];
  /** Passed-through TLS connections (ssl-passthrough) spliced to an endpoint now. */
  private readonly spliced: Set<Socket>;

  private constructor(parts: { router: Router; proxy: Proxy; certificates: CertificateStore; metrics: ProxyMetrics; http: NetServer; https: NetServer | undefined; extra: readonly NetServer[]; admission: Admission; open: () => Promise<void>; spliced: Set<Socket>; logger: Logger | undefined }) {
    this.spliced = parts.spliced;
    this.router = parts.router;
    this.proxy = parts.proxy;
    this.certificates = parts.certificates;
    this.metrics = parts.metrics;
    this.http = parts.http;
    this.https = parts.https;
    this.admission = parts.admission;
    this.open = parts.open;
    this.extra = parts.extra;
    this.logger = parts.logger;
  }

  /**
   * Starts a data plane; it listens at once unless `deferListen` (then `listen()` opens the ports).
   * Until the first `load`, every request answers 503. Throws on bad options; PORTICO_E_PORT_IN_USE
   * or PORTICO_E_PORT_DENIED (naming the port) when it cannot listen.
   */
  static async start(options: DataPlaneOptions): Promise<DataPlane> {
    const address = options.address ?? '0.0.0.0';
    const router = new Router({ ...options.router, httpsPort: options.advertisedHttpsPort ?? (options.httpsPort || 443) });
    const metrics = new ProxyMetrics(router);
    const proxy = new Proxy(router, { ...options.proxy, metrics, accessLog: options.accessLog, logger: options.logger });
    const certificates = new CertificateStore(options.defaultCertificate ?? (await generateDefaultCertificate()), options.tls);
    const trusted = new TrustedProxies(options.proxy?.trustedProxies ?? []);
    const admission = new Admission(options.admission ?? {}, { exempt: (peer) => trusted.has(peer), evictIdle: () => proxy.evictIdle(), refused: (reason) => metrics.countRefused(reason) });
    const handshakeTimeout = options.tlsHandshakeTimeoutMs ?? 10_000;
    if (!Number.isInteger(handshakeTimeout) || handshakeTimeout < 1) throw new PorticoError('PORTICO_E_CONFIG', `tlsHandshakeTimeoutMs must be an integer >= 1, not ${handshakeTimeout}`);
    const listen = async (server: NetServer, port: number, what: string, host: string): Promise<void> => {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error) => reject(listenError(error, { port, address: host, what })));
        server.listen({ port, host, reusePort: options.reusePort === true, exclusive: true }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    };
    // Every accepted socket goes through the budget first, before any byte (or handshake) is read.
    const accept = (socket: Socket): boolean => {
      if (!admission.admit(socket)) return false;
      metrics.activeConnections++;
      socket.once('close', () => metrics.activeConnections--);
      return true;
    };
    const serverOptions = { noDelay: true, keepAlive: true, keepAliveInitialDelay: options.proxy?.tcpKeepAliveMs ?? 60_000 };
    const h2c = options.h2c === true;
    const headerTimeoutMs = options.proxy?.headerTimeoutMs ?? 30_000;
    const gatewayAddresses = new Set(options.gatewayAddresses ?? []);
    if (gatewayAddresses.has(address)) throw new PorticoError('PORTICO_E_CONFIG', `${address} is both the edge address and a Gateway's own address; give the data plane another --address`);
    // The routing scope of a connection: its local address's when that is a Gateway's own address.
    const scopeOf = (socket: Socket, scheme: 'http' | 'https'): string | undefined => {
      if (gatewayAddresses.size === 0) return undefined;
      const local = plainLocalAddress(socket.localAddress);
      return gatewayAddresses.has(local) ? scopeLabel(local, scheme) : undefined;
    };
    const onHttp = (socket: Socket): void => {
      if (!accept(socket)) return;
      const info = { scheme: 'http', localPort: socket.localPort ?? 0, scope: scopeOf(socket, 'http') } as const;
      if (!h2c) proxy.handleConnection(socket, info);
      else sniffPreface(socket, headerTimeoutMs, (http2) => (http2 ? proxy.handleHttp2Connection(socket, info) : proxy.handleConnection(socket, info)));
    };
    const http = createNetServer(serverOptions, onHttp);
    let https: NetServer | undefined;
    let onHttps: ((socket: Socket) => void) | undefined;
    const spliced = new Set<Socket>();
    const passthroughSettings = (): PassthroughSettings => ({ counted: (outcome: PassthroughOutcome) => metrics.countPassthrough(outcome), connectTimeoutMs: proxy.settings.connectTimeoutMs, idleTimeoutMs: proxy.settings.tunnelIdleTimeoutMs, tcpKeepAliveMs: proxy.settings.tcpKeepAliveMs, addressPolicy: proxy.pool.options.addressPolicy });
    if (options.httpsPort !== undefined) {
      // One TLS server per scope and per "asks for a client certificate": certificates are chosen by SNI within the scope first.
      const tlsServers = new Map<string, ReturnType<typeof createTlsServer>>();
      const tlsServer = (scope: string | undefined, asks: boolean): ReturnType<typeof createTlsServer> => {
        const key = `${scope ?? ''}\0${asks ? 1 : 0}`;
        let tls = tlsServers.get(key);
        if (tls !== undefined) return tls;
        // A certificate is asked for, never required by the handshake: the route decides per request (400, as nginx's ssl_verify_client).
        const clientCertificate = asks ? { requestCert: true, rejectUnauthorized: false } : {};
        tls = createTlsServer({ ...certificates.serverOptions(options.http2 !== false, scope), ...clientCertificate, handshakeTimeout }, (socket: TLSSocket) => {
          const info = { scheme: 'https', localPort: socket.localPort ?? 0, scope, tls: clientTlsOf(socket, asks) } as const;
          if (socket.alpnProtocol === 'h2') proxy.handleHttp2Connection(socket, info);
          else proxy.handleConnection(socket, info);
        });
        // Node leaves a socket whose handshake failed or timed out open once this event has a listener: close it here.
        tls.on('tlsClientError', (error, socket) => {
          metrics.countRefused('tls-handshake');
          options.logger?.debug({ err: error }, 'TLS handshake failed');
          socket.destroy();
        });
        tlsServers.set(key, tls);
        return tls;
      };
      // The TLS servers never listen themselves: sockets are handed to them after admission, and
      // after their ClientHello's SNI was read when some host asks clients for a certificate or
      // is passed through (ssl-passthrough: then the socket goes to an endpoint, not to TLS).
      onHttps = (socket: Socket): void => {
        if (!accept(socket)) return;
        const scope = scopeOf(socket, 'https');
        if (scope !== undefined || !certificates.readsClientHello) tlsServer(scope, false).emit('connection', socket);
        else
          sniffServerName(socket, handshakeTimeout, (servername) => {
            const passthrough = certificates.passthroughFor(servername);
            if (passthrough !== undefined) splicePassthrough(socket, passthrough, router, passthroughSettings(), spliced);
            else tlsServer(undefined, certificates.asksClient(servername)).emit('connection', socket);
          });
      };
      https = createNetServer(serverOptions, onHttps);
    }
    // A specific edge address does not receive the Gateways' own: they get listeners of their own, on the same ports.
    const extra: NetServer[] = [];
    let opened: Promise<void> | undefined;
    const open = (): Promise<void> =>
      (opened ??= (async () => {
        await listen(http, options.httpPort, 'http', address);
        if (https !== undefined) await listen(https, options.httpsPort!, 'https', address);
        if (WILDCARD_ADDRESSES.has(address)) return;
        for (const gatewayAddress of gatewayAddresses) {
          const bound = (server: NetServer): number => (server.address() as { port: number }).port;
          const plain = createNetServer(serverOptions, onHttp);
          extra.push(plain);
          await listen(plain, bound(http), 'http', gatewayAddress);
          if (https !== undefined && onHttps !== undefined) {
            const secure = createNetServer(serverOptions, onHttps);
            extra.push(secure);
            await listen(secure, bound(https), 'https', gatewayAddress);
          }
        }
      })());
    if (options.deferListen !== true) await open();
    return new DataPlane({ router, proxy, certificates, metrics, http, https, extra, admission, open, spliced, logger: options.logger });
  }

  /** Opens the traffic ports (once; later calls wait for the same). Rejects like `start` on a port it cannot bind. */
  listen(): Promise<void> {
    return this.open();
  }

  /** The bound ports (useful with port 0); undefined before listening. */
  get ports(): { http: number; https: number | undefined } {
    const port = (server: NetServer | undefined) => (server?.address() as { port: number } | null)?.port;
    return { http: port(this.http)!, https: port(this.https) };
  }

  /** The served snapshot version, or undefined before the first load. */
  get version(): string | undefined {
    return this.router.version;
  }

  /**
   * Serves a snapshot: certificates and routes change together, or not at all. Throws
   * PORTICO_E_SNAPSHOT_LOAD (or a TLS error) and keeps the current snapshot when it cannot load.
   */
  load(snapshot: Snapshot, received?: ReceivedBundle): SwapEvent {
    const commitCertificates = this.certificates.prepare(tlsOf(snapshot));
    const event = this.router.load(snapshot, received);
    commitCertificates();
    this.logger?.info({ version: event.version, previous: event.previousVersion, removedEndpoints: event.removedEndpoints.length, endpointOnly: false }, 'snapshot loaded');
    return event;
  }

  /** Serves a snapshot whose routes (and certificates) are the current ones: only endpoint choice is recompiled. */
  loadEndpoints(snapshot: Snapshot, received?: ReceivedBundle): SwapEvent {
    if (this.router.current === undefined) return this.load(snapshot, received);
    const event = this.router.loadEndpoints(snapshot, received);
    this.logger?.info({ version: event.version, previous: event.previousVersion, removedEndpoints: event.removedEndpoints.length, endpointOnly: true }, 'snapshot loaded');
    return event;
  }

  /**
   * Serves a compiled bundle (what a worker gets from the primary): no compile, a copy into a
   * fresh matcher. A full bundle swaps certificates with the routes; a balancing-only one keeps
   * routes and certificates. `verified`: the caller has just run `verifyBundleInTurns`. Throws
   * PORTICO_E_SNAPSHOT_LOAD and keeps the current snapshot when the bundle is damaged.
   */
  loadBundle(bundle: TableBundle, verified = false): SwapEvent {
    const commitCertificates = bundle.tls === undefined ? undefined : this.certificates.prepare(bundle.tls);
    const event = this.router.loadBundle(bundle, verified);
    commitCertificates?.();
    this.logger?.info({ version: bundle.version, previous: event.previousVersion, removedEndpoints: event.removedEndpoints.length, endpointOnly: bundle.balancingOnly }, 'snapshot loaded');
    return event;
  }

  /**
   * Graceful stop: no new connections, in-flight requests finish within `timeoutMs`, then
   * everything left is closed. Resolves when done.
   */
  async close(timeoutMs = 10_000): Promise<void> {
    this.http.close();
    this.https?.close();
    for (const server of this.extra) server.close();
    await this.proxy.close({ timeoutMs });
    // Spliced connections carry no requests to finish: the endpoint ends its TLS sessions itself once they are cut.
    for (const socket of this.spliced) socket.destroy();
  }
}
