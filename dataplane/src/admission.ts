/**
 * The connection budget of one data-plane process: every socket the traffic listeners accept
 * (plain or TLS, before any handshake) is counted here, against a global cap and a cap per client
 * address. Near the global cap the connection idle longest is closed to make room (nginx closes
 * keep-alive connections when short of `worker_connections`); at a cap with nothing idle to close,
 * the new socket is refused. The caps sit below the process's file-descriptor limit, so the admin
 * and API listeners always have descriptors left.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { PorticoError } from './errors.ts';
import { plainAddress } from '@portico/control/snapshot/policies/cidr';

/** Why a connection was refused or closed early (the `reason` label of `portico_connections_refused_total`). */
export type RefusedReason = 'limit' | 'client-limit' | 'evicted' | 'tls-handshake';

/** Reasons, in label order. */
export const REFUSED_REASONS: readonly RefusedReason[] = ['limit', 'client-limit', 'evicted', 'tls-handshake'];

/** The budget. */
export interface AdmissionOptions {
  /** Open traffic connections in this process. Default: see defaultMaxConnections(). */
  readonly maxConnections?: number;
  /** Open traffic connections from one client address. Default 1000 (trusted proxies are exempt). */
  readonly maxConnectionsPerClient?: number;
}

/** What the budget asks of the rest of the process. */
export interface AdmissionHooks {
  /** Peers exempt from the per-client cap (trusted proxies carry many clients). */
  readonly exempt: (peer: string) => boolean;
  /** Closes the longest-idle connection; false when none is idle. */
  readonly evictIdle: () => boolean;
  /** Counts a refused (or evicted) connection. */
  readonly refused?: (reason: RefusedReason) => void;
}

/** Descriptors kept for everything that is not a client connection (admin, API, logs, files). */
const RESERVED_DESCRIPTORS = 256;

/**
 * The default global cap: half of what the soft file-descriptor limit leaves after a reserve
 * (a proxied request holds a client and an endpoint socket), at most 10 000, at least 64.
 * `limits` is the text of /proc/self/limits; read when not given (10 000 when unreadable).
 */
export function defaultMaxConnections(limits?: string): number {
  let text = limits;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'latin1');
    } catch {
      return 10_000;
    }
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(text)?.[1];
  if (soft === undefined || soft === 'unlimited') return 10_000;
  return Math.max(64, Math.min(10_000, Math.floor((Number(soft) - RESERVED_DESCRIPTORS) / 2)));
}

/** Counts accepted sockets and decides which may stay. */
export class Admission {
  readonly maxConnections: number;
  readonly maxConnectionsPerClient: number;
  /** Sockets accepted and not yet closed. */
  #open = 0;
  /** Open sockets per client address; only addresses with at least one are kept (bounded by maxConnections). */
  readonly #perClient = new Map<string, number>();
  readonly #hooks: AdmissionHooks;
  /** Above this, every accept first closes the longest-idle connection. */
  readonly #highWater: number;

  /** Throws PORTICO_E_CONFIG for a cap below 1. */
  constructor(options: AdmissionOptions, hooks: AdmissionHooks) {
    this.maxConnections = options.maxConnections ?? defaultMaxConnections();
    this.maxConnectionsPerClient = options.maxConnectionsPerClient ?? 1000;
    for (const [name, value] of [['maxConnections', this.maxConnections], ['maxConnectionsPerClient', this.maxConnectionsPerClient]] as const) {
      if (!Number.isInteger(value) || value < 1) throw new PorticoError('PORTICO_E_CONFIG', `${name} must be an integer >= 1, not ${value}`);
    }
    this.#highWater = Math.floor(this.maxConnections * 0.9);
    this.#hooks = hooks;
  }

  /** Sockets accepted and still open (TLS handshakes in progress included). */
  get open(): number {
    return this.#open;
  }

  /**
   * Takes a just-accepted socket into the budget, or destroys it and returns false. An admitted
   * socket leaves the budget when it closes.
   */
  admit(socket: Socket): boolean {
    const hooks = this.#hooks;
    const peer = plainAddress(socket.remoteAddress ?? '');
    const fromPeer = this.#perClient.get(peer) ?? 0;
    if (fromPeer >= this.maxConnectionsPerClient && !hooks.exempt(peer)) return this.#refuse(socket, 'client-limit');
    if (this.#open >= this.#highWater) {
      const evicted = hooks.evictIdle();
      if (evicted) hooks.refused?.('evicted');
      // The evicted socket's close comes later; until then the budget runs over by the evictions in flight.
      else if (this.#open >= this.maxConnections) return this.#refuse(socket, 'limit');
    }
    this.#open++;
    this.#perClient.set(peer, fromPeer + 1);
    socket.once('close', () => {
      this.#open--;
      const left = (this.#perClient.get(peer) ?? 1) - 1;
      if (left === 0) this.#perClient.delete(peer);
      else this.#perClient.set(peer, left);
    });
    return true;
  }

  #refuse(socket: Socket, reason: RefusedReason): false {
    this.#hooks.refused?.(reason);
    socket.on('error', () => {});
    socket.destroy();
    return false;
  }
}
