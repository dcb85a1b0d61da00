/**
 * HTTP/2 sessions to endpoints (backend protocol H2C, GRPC, GRPCS; appProtocol `kubernetes.io/h2c`,
 * `grpc`): a few node:http2 client sessions per endpoint, each carrying many streams at once.
 * `acquire` hands out one stream slot (an H2Link, see h2-link.ts) on the endpoint's least busy
 * session that has room, or opens a new session while the endpoint has fewer than
 * `maxSessionsPerEndpoint`; beyond that it refuses (POOL_FULL, the proxy answers 503), so a
 * slow endpoint never collects an unbounded number of connections or streams.
 *
 * Bounds: streams per session are the lower of the endpoint's SETTINGS_MAX_CONCURRENT_STREAMS and
 * `maxStreamsPerSession`; a session not connected within `connectTimeoutMs` (TCP plus TLS plus the
 * endpoint's SETTINGS) is destroyed; a session without streams for `idleTimeoutMs` is closed; a
 * session that got GOAWAY takes no new stream and closes when its last one is done. Response
 * header lists are bounded by SETTINGS_MAX_HEADER_LIST_SIZE, and server push is off.
 *
 * TLS (GRPCS, h2 over TLS) is the same as for HTTPS endpoints (connect.ts, tls.ts: SNI,
 * verification of chain, name and depth, client certificate), with ALPN `h2` required.
 */
import type { ClientHttp2Session } from 'node:http2';
import type { EndpointAddressPolicy } from './address-policy.ts';
import { connectEndpoint } from './connect.ts';
import { H2Link } from './h2-link.ts';
import { ADDRESS_REFUSED, POOL_FULL, endpointRemovedError } from './pool.ts';
import type { UpstreamOwner } from './pool.ts';
import type { UpstreamTlsTarget } from './tls.ts';

/** HTTP/2 pool tuning. */
export interface H2PoolOptions {
  /** Sessions per endpoint (pool key); acquire() refuses beyond it when all are full. Default 8. */
  readonly maxSessionsPerEndpoint?: number;
  /** Our own cap on concurrent streams per session (the endpoint's SETTINGS may lower it). Default 100. */
  readonly maxStreamsPerSession?: number;
  /** A session without streams is closed after this. */
  readonly idleTimeoutMs: number;
  /** A session must be connected (TCP, TLS, SETTINGS) within this, else it is destroyed. */
  readonly connectTimeoutMs: number;
  /** Largest response header list accepted (SETTINGS_MAX_HEADER_LIST_SIZE). */
  readonly maxHeaderListSize: number;
  /** TCP keepalive probes after this much silence. Default 60 s. */
  readonly tcpKeepAliveMs?: number;
  /** Addresses that may not be connected to (hostnames are checked after DNS). Default: any address. */
  readonly addressPolicy?: EndpointAddressPolicy;
}

/** One HTTP/2 connection to an endpoint and the streams it carries. */
export class H2Session {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** `:scheme` of its requests: https over TLS, else http. */
  readonly scheme: 'http' | 'https';
  /** TCP (and TLS, and verification) done and the endpoint's SETTINGS received. */
  connected = false;
  /** Takes no new stream: GOAWAY received, or closing. */
  draining = false;
  /** Streams in flight (links holding a slot). */
  active = 0;
  /** Streams ever started here (a link on a session that has carried streams is "reused"). */
  started = 0;
  readonly createdAt: number;
  idleSince: number;
  /** What broke the session, if anything (a TLS verification failure names its reason here). */
  error: Error | undefined;
  readonly links = new Set<H2Link>();
  readonly #pool: H2Pool;
  readonly #address: string;
  readonly #port: number;
  readonly #tls: UpstreamTlsTarget | undefined;

  constructor(pool: H2Pool, key: string, address: string, port: number, tls: UpstreamTlsTarget | undefined) {
    this.#pool = pool;
    this.key = key;
    this.#address = address;
    this.#port = port;
    this.#tls = tls;
    this.createdAt = this.idleSince = performance.now();
    this.scheme = tls === undefined ? 'http' : 'https';
    const options = pool.options;
    const socket = connectEndpoint(address, port, { keepAliveMs: options.tcpKeepAliveMs ?? 60_000, addressPolicy: options.addressPolicy, tls, alpn: 'h2' });
    socket.on('error', (error: Error) => {
      this.error ??= error;
    });
    // node:http2 is loaded on the first session only: workers whose backends all speak HTTP/1.1 keep their RSS.
    const { connect: connectHttp2 } = process.getBuiltinModule('node:http2');
    this.session = connectHttp2(`${this.scheme}://${address.includes(':') ? `[${address}]` : address}:${port}`, {
      createConnection: () => socket,
      settings: { enablePush: false, maxHeaderListSize: options.maxHeaderListSize },
      maxHeaderListPairs: 256,
      peerMaxConcurrentStreams: Math.min(100, options.maxStreamsPerSession ?? 100),
    });
    this.session.on('remoteSettings', () => {
      if (this.connected || this.session.destroyed) return;
      this.connected = true;
      // Links handed out before the endpoint said how many streams it takes: the excess moves to another session.
      let excess = this.active - this.limit;
      for (const link of [...this.links]) {
        if (excess > 0 && this.#pool.rehome(link, this)) excess--;
        else link.sessionConnected();
      }
    });
    this.session.on('goaway', () => this.drain());
    this.session.on('error', (error: Error) => {
      this.error ??= error;
    });
    this.session.on('close', () => {
      this.draining = true;
      this.#pool.forget(this);
      for (const link of [...this.links]) link.sessionClosed(this.error);
    });
  }

  /** Concurrent streams this session takes: ours, lowered by the endpoint's SETTINGS once known. */
  get limit(): number {
    const ours = this.#pool.options.maxStreamsPerSession ?? 100;
    return this.connected ? Math.min(ours, this.session.remoteSettings.maxConcurrentStreams ?? ours) : ours;
  }

  /** Streams this session may still take now. */
  get room(): number {
    if (this.draining || this.session.destroyed || this.session.closed) return 0;
    return this.limit - this.active;
  }

  /** A new session to the same endpoint with the same settings. */
  sibling(): H2Session {
    return new H2Session(this.#pool, this.key, this.#address, this.#port, this.#tls);
  }

  /** A link gave back its stream slot. */
  release(link: H2Link): void {
    if (!this.links.delete(link)) return;
    this.active--;
    if (this.active === 0) {
      this.idleSince = performance.now();
      if (this.draining) this.session.close();
    }
  }

  /** Takes no new stream (GOAWAY, endpoint gone, pool closing, idle); closes once its streams are done. */
  drain(): void {
    this.draining = true;
    if (this.active === 0) this.session.close();
  }

  /** Closes the connection at once; every link gets onUpstreamClose. */
  destroy(error?: Error): void {
    if (error !== undefined) this.error ??= error;
    this.session.destroy();
  }
}

/** HTTP/2 sessions by pool key (endpoint key + `|h2` + the TLS settings' suffix). */
export class H2Pool {
  readonly options: H2PoolOptions;
  /** Sessions ever opened (for tests and stats). */
  created = 0;
  readonly #sessions = new Map<string, H2Session[]>();
  /** Per endpoint key, the pool keys of its sessions, so dropEndpoints finds them. */
  readonly #keys = new Map<string, Set<string>>();
  #closed = false;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: H2PoolOptions) {
    this.options = options;
    const every = Math.max(50, Math.min(1000, Math.min(options.idleTimeoutMs, options.connectTimeoutMs) / 4));
    this.#sweep = setInterval(() => this.#expire(), every);
    this.#sweep.unref();
  }

  /**
   * A stream slot for `owner` on the endpoint's least busy session with room (a new session when
   * `fresh`, or none has room and the endpoint may have another). POOL_FULL when every session is
   * full and the endpoint has maxSessionsPerEndpoint; ADDRESS_REFUSED when the address policy
   * refuses the endpoint's address.
   */
  acquire(key: string, endpointKey: string, address: string, port: number, owner: UpstreamOwner, fresh: boolean, tls: UpstreamTlsTarget | undefined, grpc: boolean): H2Link | typeof POOL_FULL | typeof ADDRESS_REFUSED {
    const sessions = this.#sessions.get(key);
    let best = fresh ? undefined : leastBusy(sessions, undefined);
    if (best === undefined) {
      if (this.options.addressPolicy?.check(endpointKey, address) !== undefined) return ADDRESS_REFUSED;
      if (!this.#mayOpen(sessions)) return POOL_FULL;
      best = new H2Session(this, key, address, port, tls);
      this.created++;
      if (sessions === undefined) this.#sessions.set(key, [best]);
      else sessions.push(best);
      let keys = this.#keys.get(endpointKey);
      if (keys === undefined) this.#keys.set(endpointKey, (keys = new Set()));
      keys.add(key);
    }
    const link = new H2Link(best, owner, grpc);
    best.links.add(link);
    best.active++;
    best.started++;
    return link;
  }

  /**
   * Moves a link that has not opened its stream yet from `from` (over its endpoint's stream
   * limit) to another session of the endpoint with room, or a new one while the endpoint may have
   * another. Returns false when there is none: the link stays (its stream waits in `from`'s queue).
   */
  rehome(link: H2Link, from: H2Session): boolean {
    if (link.opened) return false;
    const sessions = this.#sessions.get(from.key) ?? [];
    let to = leastBusy(sessions, from);
    if (to === undefined) {
      if (!this.#mayOpen(sessions)) return false;
      to = from.sibling();
      this.created++;
      sessions.push(to);
    }
    from.links.delete(link);
    from.active--;
    to.links.add(link);
    to.active++;
    to.started++;
    link.moveTo(to);
    return true;
  }

  /** Whether the endpoint whose sessions are `sessions` may have one more (draining ones do not count). */
  #mayOpen(sessions: readonly H2Session[] | undefined): boolean {
    if (this.#closed) return false;
    let live = 0;
    for (const session of sessions ?? []) if (!session.draining) live++;
    return live < (this.options.maxSessionsPerEndpoint ?? 8);
  }

  /** Removes a closed session. */
  forget(session: H2Session): void {
    const sessions = this.#sessions.get(session.key);
    if (sessions === undefined) return;
    const index = sessions.indexOf(session);
    if (index >= 0) sessions.splice(index, 1);
    if (sessions.length === 0) this.#sessions.delete(session.key);
  }

  /**
   * Closes (gracefully) the sessions of endpoints that are gone; streams in flight finish. A
   * session still connecting is destroyed with an ENDPOINT_REMOVED_CODE error (no stream of it was
   * sent: its requests go elsewhere now instead of waiting out the connect timeout).
   */
  dropEndpoints(endpointKeys: readonly string[]): void {
    for (const endpointKey of endpointKeys) {
      const keys = this.#keys.get(endpointKey);
      if (keys === undefined) continue;
      this.#keys.delete(endpointKey);
      for (const key of keys) {
        for (const session of [...(this.#sessions.get(key) ?? [])]) {
          if (session.connected) session.drain();
          else session.destroy(endpointRemovedError());
        }
      }
    }
  }

  /** Sessions open now (for tests and stats). */
  get sessionCount(): number {
    let count = 0;
    for (const sessions of this.#sessions.values()) count += sessions.length;
    return count;
  }

  /** Takes no new stream; closes idle sessions now and the rest when their streams are done. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const sessions of [...this.#sessions.values()]) for (const session of [...sessions]) session.drain();
  }

  #expire(): void {
    const now = performance.now();
    for (const sessions of [...this.#sessions.values()]) {
      for (const session of [...sessions]) {
        if (!session.connected && now - session.createdAt > this.options.connectTimeoutMs) {
          session.destroy(Object.assign(new Error(`HTTP/2 session not connected within ${this.options.connectTimeoutMs} ms`), { code: 'ERR_PORTICO_CONNECT_TIMEOUT' }));
        } else if (session.active === 0 && now - session.idleSince > this.options.idleTimeoutMs) {
          session.drain();
        }
      }
    }
  }
}

/** The session of `sessions` (other than `except`) with room and the fewest streams, if any. */
function leastBusy(sessions: readonly H2Session[] | undefined, except: H2Session | undefined): H2Session | undefined {
  let best: H2Session | undefined;
  for (const session of sessions ?? []) if (session !== except && session.room > 0 && (best === undefined || session.active < best.active)) best = session;
  return best;
}
