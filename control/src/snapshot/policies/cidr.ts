/**
 * CIDR lists as ingress-nginx reads them (`whitelist-source-range`, `limit-whitelist`, trusted
 * proxies): comma-separated IPv4/IPv6 addresses or `address/prefix` networks. Pure; imported by
 * the control plane (to validate annotations) and the data plane (to match client addresses).
 */
import { BlockList, isIP } from 'node:net';

/** One parsed network: its address family, the address as written (trimmed) and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly address: string;
  readonly bits: number;
}

/** `::ffff:1.2.3.4` (a v4 peer on a dual-stack socket) as `1.2.3.4`; other addresses unchanged. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * Parses one entry: an address (a /32 or /128) or `address/prefix` with a decimal prefix within
 * the family's width. Returns undefined for anything else (empty, a host name, `1.2.3.4/33`,
 * `1.2.3.4/+8`, a zone index). Host bits past the prefix are allowed and ignored, as Go's
 * net.ParseCIDR (which ingress-nginx uses) does.
 */
export function parseCidr(entry: string): Cidr | undefined {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const prefix = slash < 0 ? undefined : text.slice(slash + 1);
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  if (address.includes('%')) return undefined;
  const width = family === 6 ? 128 : 32;
  if (prefix === undefined) return { family, address, bits: width };
  if (!/^\d{1,3}$/.test(prefix)) return undefined;
  const bits = Number(prefix);
  return bits <= width ? { family, address, bits } : undefined;
}

/** A parsed list, or the entries that are not addresses or networks. */
export type CidrListResult = { readonly ok: true; readonly cidrs: readonly string[] } | { readonly ok: false; readonly invalid: readonly string[] };

/**
 * Parses a comma-separated list (an annotation value). Every entry must parse: an empty entry
 * (`a,,b` or a trailing comma) or an empty list is invalid too, because a list that silently
 * loses an entry would change who may reach a route. On success the entries come back trimmed
 * and sorted (deterministic snapshots), duplicates removed.
 */
export function parseCidrList(value: string): CidrListResult {
  const entries = value.split(',').map((entry) => entry.trim());
  const invalid = entries.filter((entry) => parseCidr(entry) === undefined);
  if (invalid.length !== 0) return { ok: false, invalid: invalid.map((entry) => (entry === '' ? '(empty entry)' : entry)) };
  return { ok: true, cidrs: [...new Set(entries)].sort() };
}

/** A set of networks; membership of an address in O(networks) inside node:net's BlockList. */
export class CidrSet {
  readonly #list = new BlockList();
  /** How many networks the set holds. */
  readonly size: number;

  private constructor(cidrs: readonly Cidr[]) {
    for (const cidr of cidrs) this.#list.addSubnet(cidr.address, cidr.bits, cidr.family === 6 ? 'ipv6' : 'ipv4');
    this.size = cidrs.length;
  }

  /** The set of `entries`, or the first entry that is not an address or network (as a string). */
  static of(entries: readonly string[]): CidrSet | string {
    const cidrs: Cidr[] = [];
    for (const entry of entries) {
      const cidr = parseCidr(entry);
      if (cidr === undefined) return entry;
      cidrs.push(cidr);
    }
    return new CidrSet(cidrs);
  }

  /**
   * Whether `address` (any textual form; `::ffff:a.b.c.d` counts as the IPv4 address) is inside
   * one of the networks; false for anything that is not an address.
   */
  has(address: string): boolean {
    if (this.size === 0) return false;
    const plain = plainAddress(address);
    const family = isIP(plain);
    if (family === 0) return false;
    return this.#list.check(plain, family === 6 ? 'ipv6' : 'ipv4');
  }
}
