/**
 * Trusted proxies: peers whose X-Forwarded-* headers are believed. Only for them is an incoming
 * X-Forwarded-For appended to (for everyone else it is replaced), and the client address is the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (nginx's real_ip_recursive).
 */
import { isIP } from 'node:net';
import { CidrSet, plainAddress } from '@portico/control/snapshot/policies/cidr';
import { PorticoError } from './errors.ts';

/** A set of CIDRs (or single addresses) of trusted proxies. */
export class TrustedProxies {
  readonly #set: CidrSet;
  readonly size: number;

  /** Throws PORTICO_E_CIDR naming the first entry that is not an address or `address/prefix`. */
  constructor(cidrs: readonly string[]) {
    const set = CidrSet.of(cidrs);
    if (typeof set === 'string') throw new PorticoError('PORTICO_E_CIDR', `trusted proxy ${JSON.stringify(set)} is not an IPv4/IPv6 address or CIDR`);
    this.#set = set;
    this.size = set.size;
  }

  /** Whether `address` (any textual form) is inside one of the CIDRs; false for non-addresses. */
  has(address: string): boolean {
    return this.#set.has(address);
  }

  /**
   * The client address for a request from trusted `peer` carrying these X-Forwarded-For values:
   * walking right to left, the first entry that is not a trusted proxy. An entry that is not an
   * address stops the walk at the last good one (or the peer), as nginx's realip module does.
   */
  clientAddress(forwardedFor: readonly string[], peer: string): string {
    const entries = forwardedFor.flatMap((value) => value.split(',')).map((entry) => entry.trim());
    let client = peer;
    for (let i = entries.length - 1; i >= 0; i--) {
      const entry = plainAddress(entries[i] as string);
      if (isIP(entry) === 0) break;
      client = entry;
      if (!this.has(entry)) break;
    }
    return client;
  }
}
