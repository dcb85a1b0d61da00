/**
 * Which endpoint addresses are special: loopback, link-local, unspecified, or one of the edge
 * node's own. Part of the contract both planes import: the data plane refuses to connect to
 * them (unless allowed), the build warns about an ExternalName Service that names one.
 */
import { isIP } from 'node:net';

/** Why an endpoint address is special. */
export type AddressClass = 'loopback' | 'link-local' | 'unspecified' | 'node';

/**
 * The class of an IP address literal that is special, or undefined for an ordinary address or a
 * hostname. `nodeAddresses` (lower case, no zone) are the node's own; empty when unknown.
 */
export function addressClass(address: string, nodeAddresses: ReadonlySet<string> = new Set()): AddressClass | undefined {
  const family = isIP(address);
  if (family === 0) return undefined;
  let ip = address.toLowerCase();
  if (family === 6 && ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4) ip = ip.slice(7);
  if (isIP(ip) === 4) {
    const [a, b] = ip.split('.').map(Number) as [number, number];
    if (a === 127) return 'loopback';
    if (a === 169 && b === 254) return 'link-local';
    if (a === 0) return 'unspecified';
  } else {
    if (ip === '::1' || ip === '0:0:0:0:0:0:0:1') return 'loopback';
    if (ip === '::' || ip === '0:0:0:0:0:0:0:0') return 'unspecified';
    const first = Number.parseInt(ip.split(':')[0] || '0', 16);
    if ((first & 0xffc0) === 0xfe80) return 'link-local';
  }
  return nodeAddresses.has(ip) ? 'node' : undefined;
}

/**
 * The class of what an ExternalName names, as far as it is known without DNS: an IP literal's
 * class, or loopback for `localhost` and `*.localhost` (RFC 6761 reserves them for loopback).
 */
export function externalNameClass(name: string): AddressClass | undefined {
  const host = name.toLowerCase().replace(/\.$/, '');
  if (host === 'localhost' || host.endsWith('.localhost')) return 'loopback';
  return addressClass(host);
}
