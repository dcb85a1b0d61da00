/**
 * Trusted proxies: peers whose X-Forwarded-* headers are believed. Only for them is an incoming
 * X-Forwarded-For appended to (for everyone else it is replaced), and the client address is the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy (nginx's real_ip_recursive).
 */
import { BlockList, isIP } from 'node:net';
import { PorticoError } from './errors.ts';

/** `::ffff:1.2.3.4` (a v4 peer on a dual-stack socket) as `1.2.3.4`; other addresses unchanged. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A set of CIDRs (or single addresses) of trusted proxies. */
export class TrustedProxies {
  readonly #list = new BlockList();
  readonly size: number;

  /** Throws PORTICO_E_CIDR naming the first entry that is not an address or `address/prefix`. */
  constructor(cidrs: readonly string[]) {
    for (const entry of cidrs) {
      const [address = '', prefix] = entry.trim().split('/');
      const family = isIP(address);
      const bits = prefix === undefined ? (family === 6 ? 128 : 32) : Number(prefix);
      if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32) || (prefix !== undefined && !/^\d+$/.test(prefix))) {
        throw new PorticoError('PORTICO_E_CIDR', `trusted proxy ${JSON.stringify(entry)} is not an IPv4/IPv6 address or CIDR`);
      }
      this.#list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
    }
    this.size = cidrs.length;
  }

  /** Whether `address` (any textual form) is inside one of the CIDRs; false for non-addresses. */
  has(address: string): boolean {
    if (this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.#list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
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
