/**
 * Keep-alive pools of raw sockets per endpoint. An Upstream wraps one socket and binds its
 * listeners once for its whole life; whoever uses it sets `owner` and gets the events, so no
 * closure is created per request. Idle sockets sit on a per-endpoint stack (most recently used
 * first, so the rest age out) and are closed after an idle timeout by a coarse sweep.
 *
 * Reads use Node's `onread` with a buffer per socket instead of 'data' events: no allocation per
 * read and no Readable stream machinery on the hot path. The owner gets a view of that buffer,
 * valid only during the call; an owner that keeps it (a partial head, a write the client socket
 * did not take at once) sets `retained`, and the next read goes into fresh memory.
 *
 * A backend spoken to in HTTPS gets TLS sockets (same `onread` path), pooled under the endpoint
 * key plus the TLS settings' suffix; such a socket counts as connected once the handshake and
 * the verification asked for succeeded, so the owner's connect timeout bounds the handshake too.
 *
 * When a snapshot removes an endpoint (`dropEndpoints`), its idle sockets close and so do its
 * sockets still connecting, with ENDPOINT_REMOVED_CODE: nothing was sent on them, and a pod whose
 * address went away mid-connect (a scale-down faster than the snapshot) may never answer the
 * SYN, which would hold the request for the whole connect timeout.
 */
import type { Socket } from 'node:net';
import type { EndpointAddressPolicy } from './address-policy.ts';
import { connectEndpoint } from './connect.ts';
import type { UpstreamTlsTarget } from './tls.ts';

/** acquire(): the endpoint has maxPerEndpoint sockets open and none idle. */
export const POOL_FULL = 0;
/** acquire(): the endpoint's address is refused by the address policy. */
export const ADDRESS_REFUSED = 1;

/** `code` of the error a connecting socket is closed with when a snapshot removed its endpoint. */
export const ENDPOINT_REMOVED_CODE = 'ERR_PORTICO_ENDPOINT_REMOVED';

/** Whether `error` (an Upstream's) says its endpoint was removed while it was connecting. */
export function endpointRemoved(error: Error | undefined): boolean {
  return (error as (Error & { code?: string }) | undefined)?.code === ENDPOINT_REMOVED_CODE;
}

/** The error a connecting socket (or HTTP/2 session) is closed with when a snapshot removed its endpoint. */
export function endpointRemovedError(): Error {
  return Object.assign(new Error('the endpoint was removed while connecting to it'), { code: ENDPOINT_REMOVED_CODE });
}

/** Receives the events of the upstream socket it currently owns. */
export interface UpstreamOwner {
  onUpstreamConnect(upstream: Upstream): void;
  /** buffer[0, length) arrived; the buffer is the socket's read memory, valid during the call only (see `retained`). */
  onUpstreamData(upstream: Upstream, buffer: Buffer, length: number): void;
  /** The endpoint closed its side (EOF). */
  onUpstreamEnd(upstream: Upstream): void;
  /** The socket is gone; `error` is what broke it, if anything. */
  onUpstreamClose(upstream: Upstream, error: Error | undefined): void;
  onUpstreamDrain(upstream: Upstream): void;
}

/** What an exchange and the relays use of an endpoint connection's socket (a net.Socket, or an HTTP/2 link's face). */
export interface UpstreamSocket {
  write(chunk: Uint8Array): boolean;
  cork(): void;
  uncork(): void;
  readonly writableLength: number;
  readonly writableNeedDrain: boolean;
  readonly destroyed: boolean;
  isPaused(): boolean;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
}

/**
 * One request's way to an endpoint: a pooled HTTP/1.1 connection (`TcpUpstream`) or a stream of
 * an HTTP/2 session (`H2Link`, h2-link.ts). Whoever uses it sets `owner` and gets the events.
 */
export interface Upstream {
  readonly key: string;
  owner: UpstreamOwner | undefined;
  /** Connected (TCP, TLS and verification; for HTTP/2 the endpoint's SETTINGS too). */
  readonly connected: boolean;
  /** Requests this connection carried before the current one. */
  uses: number;
  /** Set by the owner when it keeps the chunk it was given beyond onUpstreamData. */
  retained: boolean;
  readonly socket: UpstreamSocket;
  /** What broke the connection, if anything (a TLS verification failure names its reason here). */
  readonly error: Error | undefined;
  /**
   * The endpoint said it never processed the request (HTTP/2 REFUSED_STREAM, also what a GOAWAY
   * below the stream's id means): safe to send again whatever the method. Absent on HTTP/1.1.
   */
  readonly unprocessed?: boolean;
  /** The exchange ended cleanly: keep the connection for another request (or free the stream). */
  release(): void;
  /** Closes it at once (an HTTP/2 link cancels its stream only); the owner, if any, gets onUpstreamClose. */
  destroy(): void;
}

/** Pool tuning. Connect and read timeouts are the owner's: the proxy checks them on a coarse tick. */
export interface PoolOptions {
  /** How long a socket may sit idle in the pool. */
  readonly idleTimeoutMs: number;
  /** Idle sockets kept per endpoint; more are closed. */
  readonly maxIdlePerEndpoint: number;
  /** Open sockets (idle and busy) per endpoint; acquire() refuses beyond it. Default unlimited. */
  readonly maxPerEndpoint?: number;
  /** TCP keepalive probes after this much silence. Default 60 s. */
  readonly tcpKeepAliveMs?: number;
  /** Addresses that may not be connected to (hostnames are checked after DNS). Default: any address. */
  readonly addressPolicy?: EndpointAddressPolicy;
}

/** Bytes one read can take; a response head and a small body usually arrive in one. */
const READ_SIZE = 16 * 1024;

/** One HTTP/1.1 connection to an endpoint. */
export class TcpUpstream implements Upstream {
  readonly socket: Socket;
  readonly key: string;
  owner: UpstreamOwner | undefined;
  connected = false;
  /** Requests this socket has carried before the current one. */
  uses = 0;
  idleSince = 0;
  /** Set by the owner when it keeps the chunk it was given beyond onUpstreamData. */
  retained = false;
  #buffer = Buffer.allocUnsafe(READ_SIZE);
  #error: Error | undefined;
  readonly #pool: UpstreamPool;

  constructor(pool: UpstreamPool, key: string, address: string, port: number, tls?: UpstreamTlsTarget) {
    this.#pool = pool;
    this.key = key;
    this.socket = connectEndpoint(
      address,
      port,
      {
        keepAliveMs: pool.options.tcpKeepAliveMs ?? 60_000,
        addressPolicy: pool.options.addressPolicy,
        tls,
        onread: { buffer: () => this.#nextBuffer(), callback: (bytes: number, buffer: Uint8Array) => this.#onRead(bytes, buffer as Buffer) },
      },
      () => this.#connected(),
    );
    this.socket.on('end', () => {
      if (this.owner !== undefined) this.owner.onUpstreamEnd(this);
      else this.socket.destroy();
    });
    this.socket.on('error', (error: Error) => {
      this.#error = error;
    });
    this.socket.on('close', () => {
      this.#pool.forget(this);
      const owner = this.owner;
      this.owner = undefined;
      owner?.onUpstreamClose(this, this.#error);
    });
    this.socket.on('drain', () => this.owner?.onUpstreamDrain(this));
  }

  #connected(): void {
    this.connected = true;
    this.#pool.connectedOne(this);
    this.owner?.onUpstreamConnect(this);
  }

  /** What broke the socket, if anything (a TLS verification failure names its reason here). */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Back to the pool's idle stack (closed when the pool is full or closed). */
  release(): void {
    this.#pool.release(this);
  }

  /** Closes the socket at once; the owner (if any) gets onUpstreamClose, with `error` as the upstream's error when given. */
  destroy(error?: Error): void {
    if (error !== undefined) this.#error ??= error;
    this.socket.destroy();
  }

  /** Always true: reading stops only when the owner pauses the socket. */
  #onRead(bytes: number, buffer: Buffer): boolean {
    if (this.owner === undefined) {
      // Bytes on an idle connection mean the framing is off: never reuse it.
      this.socket.destroy();
      return true;
    }
    this.retained = false;
    this.owner.onUpstreamData(this, buffer, bytes);
    return true;
  }

  /** The memory for the next read: the same unless the last chunk is still referenced. */
  #nextBuffer(): Buffer {
    if (this.retained) {
      this.#buffer = Buffer.allocUnsafe(READ_SIZE);
      this.retained = false;
    }
    return this.#buffer;
  }
}

/** Idle keep-alive sockets by endpoint key. */
export class UpstreamPool {
  readonly options: PoolOptions;
  /** Sockets ever opened (for tests and stats). */
  created = 0;
  /** TLS sockets ever opened (each one TLS handshake; for tests and stats). */
  tlsConnects = 0;
  readonly #idle = new Map<string, TcpUpstream[]>();
  /** Per endpoint key, the pool keys of its TLS sockets (one per TLS settings used with it). */
  readonly #tlsKeys = new Map<string, Set<string>>();
  /** Open sockets per endpoint key; keys at zero are deleted, so the map follows what is open. */
  readonly #open = new Map<string, number>();
  /** Sockets not connected yet, per pool key; empty sets are deleted, so the map follows what is connecting. */
  readonly #connecting = new Map<string, Set<TcpUpstream>>();
  #now = performance.now();
  #closed = false;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: PoolOptions) {
    this.options = options;
    const every = Math.max(50, Math.min(1000, options.idleTimeoutMs / 4));
    this.#sweep = setInterval(() => this.#expire(), every);
    this.#sweep.unref();
  }

  /**
   * An idle connected socket for the endpoint (owned by `owner` now), or a new connecting one;
   * always a new one when `fresh`. `key` is the pool key (`endpointKey`, plus the TLS settings'
   * suffix for TLS). POOL_FULL when the endpoint already has maxPerEndpoint sockets open and none
   * idle; ADDRESS_REFUSED when the address policy refuses the endpoint's address.
   */
  acquire(key: string, endpointKey: string, address: string, port: number, owner: UpstreamOwner, fresh = false, tls?: UpstreamTlsTarget): TcpUpstream | typeof POOL_FULL | typeof ADDRESS_REFUSED {
    const stack = this.#idle.get(key);
    if (!fresh && stack !== undefined && stack.length !== 0) {
      const upstream = stack.pop() as TcpUpstream;
      upstream.owner = owner;
      upstream.uses++;
      return upstream;
    }
    if (this.options.addressPolicy?.check(endpointKey, address) !== undefined) return ADDRESS_REFUSED;
    const open = this.#open.get(key) ?? 0;
    if (this.options.maxPerEndpoint !== undefined && open >= this.options.maxPerEndpoint) {
      // Over the cap, a fresh socket may still replace an idle one of the same endpoint.
      if (stack === undefined || stack.length === 0) return POOL_FULL;
      (stack.shift() as TcpUpstream).destroy();
    }
    this.#open.set(key, open + 1);
    this.created++;
    if (tls !== undefined) {
      this.tlsConnects++;
      // Pool keys of TLS sockets are the endpoint key + `|tls:…`; dropEndpoints finds them here.
      let tlsKeys = this.#tlsKeys.get(endpointKey);
      if (tlsKeys === undefined) this.#tlsKeys.set(endpointKey, (tlsKeys = new Set()));
      tlsKeys.add(key);
    }
    const upstream = new TcpUpstream(this, key, address, port, tls);
    upstream.owner = owner;
    let connecting = this.#connecting.get(key);
    if (connecting === undefined) this.#connecting.set(key, (connecting = new Set()));
    connecting.add(upstream);
    return upstream;
  }

  /** The socket finished connecting (TCP, and TLS when asked) or closed: no longer one dropEndpoints closes unless idle. */
  connectedOne(upstream: TcpUpstream): void {
    const connecting = this.#connecting.get(upstream.key);
    if (connecting === undefined || !connecting.delete(upstream)) return;
    if (connecting.size === 0) this.#connecting.delete(upstream.key);
  }

  /** Takes back a socket whose last exchange ended cleanly; closes it when the pool is full or closed. */
  release(upstream: TcpUpstream): void {
    upstream.owner = undefined;
    let stack = this.#idle.get(upstream.key);
    if (stack === undefined) {
      stack = [];
      this.#idle.set(upstream.key, stack);
    }
    if (this.#closed || stack.length >= this.options.maxIdlePerEndpoint || upstream.socket.destroyed) {
      upstream.destroy();
      return;
    }
    upstream.idleSince = this.#now;
    stack.push(upstream);
  }

  /** Removes a closed socket from its idle stack, the connecting ones and the open count. */
  forget(upstream: TcpUpstream): void {
    this.connectedOne(upstream);
    const open = (this.#open.get(upstream.key) ?? 1) - 1;
    if (open <= 0) this.#open.delete(upstream.key);
    else this.#open.set(upstream.key, open);
    const stack = this.#idle.get(upstream.key);
    if (stack === undefined) return;
    const index = stack.indexOf(upstream);
    if (index >= 0) stack.splice(index, 1);
  }

  /**
   * Closes the idle sockets (plain and TLS) of endpoints that are gone, and those still connecting
   * (their owners get onUpstreamClose, not connected, with an ENDPOINT_REMOVED_CODE error); `keys` are
   * endpoint keys. Sockets carrying a request stay: in-flight requests finish.
   */
  dropEndpoints(keys: readonly string[]): void {
    for (const key of keys) {
      this.#dropConnecting(key);
      this.#dropKey(key);
      const tlsKeys = this.#tlsKeys.get(key);
      if (tlsKeys === undefined) continue;
      this.#tlsKeys.delete(key);
      for (const tlsKey of tlsKeys) {
        this.#dropConnecting(tlsKey);
        this.#dropKey(tlsKey);
      }
    }
  }

  #dropConnecting(key: string): void {
    const connecting = this.#connecting.get(key);
    if (connecting === undefined) return;
    this.#connecting.delete(key);
    for (const upstream of connecting) upstream.destroy(endpointRemovedError());
  }

  /** Closes the key's idle sockets. */
  #dropKey(key: string): void {
    const stack = this.#idle.get(key);
    if (stack === undefined) return;
    this.#idle.delete(key);
    for (const upstream of stack.splice(0)) upstream.destroy();
  }

  /** Sockets connecting now (for tests and stats). */
  get connectingCount(): number {
    let count = 0;
    for (const connecting of this.#connecting.values()) count += connecting.size;
    return count;
  }

  /** Number of idle sockets across endpoints. */
  get idleCount(): number {
    let count = 0;
    for (const stack of this.#idle.values()) count += stack.length;
    return count;
  }

  /** Closes every idle socket and refuses to keep any more. */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweep);
    for (const key of [...this.#idle.keys()]) this.#dropKey(key);
  }

  #expire(): void {
    this.#now = performance.now();
    const oldest = this.#now - this.options.idleTimeoutMs;
    for (const [key, stack] of this.#idle) {
      // The stack bottom is the longest idle.
      while (stack.length !== 0 && (stack[0] as TcpUpstream).idleSince <= oldest) (stack.shift() as TcpUpstream).destroy();
      if (stack.length === 0) this.#idle.delete(key);
    }
  }
}
