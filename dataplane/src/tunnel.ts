/**
 * An upgraded connection (WebSocket or any 101 Switching Protocols): the client and endpoint
 * sockets spliced both ways with backpressure. It belongs to no snapshot, so swaps never touch
 * it; only when a swap removes its endpoint does it get a drain period, after which it is closed.
 * With no byte either way for tunnelIdleTimeoutMs it is closed (nginx's proxy_read_timeout,
 * HAProxy's `timeout tunnel`): WebSocket applications that stay quiet longer send pings.
 */
import type { ClientConnection } from './client.ts';
import type { Upstream, UpstreamOwner } from './upstream/pool.ts';

/** Both directions of one upgraded connection. */
export class Tunnel implements UpstreamOwner {
  readonly endpointKey: string;
  readonly #conn: ClientConnection;
  readonly #upstream: Upstream;
  #drainTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Last byte either way (coarse clock). */
  #active = 0;

  /** Takes over `upstream`; `stash` holds client bytes that arrived after the request head. */
  constructor(conn: ClientConnection, upstream: Upstream, endpointKey: string, stash: Buffer | undefined) {
    this.endpointKey = endpointKey;
    this.#conn = conn;
    this.#upstream = upstream;
    upstream.owner = this;
    const context = conn.context;
    context.tunnels.add(this);
    this.#active = context.now;
    if (stash !== undefined) upstream.socket.write(stash);
    if (conn.socket.isPaused()) conn.socket.resume();
    if (upstream.socket.isPaused()) upstream.socket.resume();
    // A swap may have removed the endpoint while the upgrade was being answered.
    if (context.router.current?.endpointIds.has(endpointKey) === false) this.drain(context.options.drainMs);
  }

  /** Client bytes go to the endpoint. */
  fromClient(chunk: Buffer): void {
    this.#active = this.#conn.context.now;
    if (!this.#upstream.socket.write(chunk)) this.#conn.socket.pause();
  }

  /** The client half-closed: pass the FIN on. */
  onClientEnd(): void {
    this.#upstream.socket.end();
  }

  onClientDrain(): void {
    this.#upstream.socket.resume();
  }

  onUpstreamConnect(): void {}

  onUpstreamData(upstream: Upstream, buffer: Buffer, length: number): void {
    const socket = this.#conn.socket;
    this.#active = this.#conn.context.now;
    if (!socket.write(buffer.subarray(0, length))) upstream.socket.pause();
    // The chunk is a view of the endpoint socket's read buffer: fresh memory for the next read.
    if (socket.writableLength !== 0) upstream.retained = true;
  }

  onUpstreamDrain(): void {
    this.#conn.socket.resume();
  }

  onUpstreamEnd(): void {
    this.#conn.socket.end();
  }

  onUpstreamClose(): void {
    this.#forget();
    this.#conn.socket.destroy();
  }

  /** Called on the proxy's tick: closes the tunnel once it has been silent both ways for tunnelIdleTimeoutMs. */
  checkTimeouts(now: number): void {
    if (now - this.#active > this.#conn.context.options.tunnelIdleTimeoutMs) this.destroy();
  }

  /** Closes the tunnel in `ms` unless undrain() is called first (the endpoint came back). */
  drain(ms: number): void {
    if (this.#drainTimer !== undefined || this.#closed) return;
    this.#drainTimer = setTimeout(() => this.destroy(), ms);
    this.#drainTimer.unref();
  }

  /** Cancels a pending drain. */
  undrain(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  }

  /** Whether a drain is pending. */
  get draining(): boolean {
    return this.#drainTimer !== undefined;
  }

  /** Closes both sockets now. */
  destroy(): void {
    this.#forget();
    this.#upstream.owner = undefined;
    this.#upstream.destroy();
    this.#conn.socket.destroy();
  }

  #forget(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    this.#conn.context.tunnels.delete(this);
  }
}
