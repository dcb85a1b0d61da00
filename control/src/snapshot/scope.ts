/**
 * Routing scopes (docs/gateway-api.md, "Gateways with their own address"): a Gateway that has an
 * address of its own (`--gateway-address`) is served apart from every other Gateway and from
 * Ingress. Its listeners' routes live under scoped host keys — the host name plus one last label
 * naming the scope, which no request host can carry — and the data plane matches a connection to
 * that address with the connection's scope appended to the request host. The matcher table format
 * stays as it is; the control plane (build) and the data plane (router) both use this module, so
 * both write the key alike.
 */
import { isIP } from 'node:net';

/** The character that starts a scope label: never in a host name a client may send (the router refuses it). */
export const SCOPE_MARK = '~';

/**
 * The scope of connections to `address` on the data plane's HTTP or HTTPS socket: `~` plus the
 * address with `.` and `:` as `-`, plus `-http` / `-https`. Lower-case, one DNS-style label.
 */
export function scopeLabel(address: string, scheme: 'http' | 'https'): string {
  return `${SCOPE_MARK}${address.toLowerCase().replace(/[.:]/g, '-')}-${scheme}`;
}

/**
 * The table host key of snapshot host `host` (a name, `*.suffix`, or `*` for any host) in
 * `scope`: `host.scope`, with any host as `*.scope` (a Gateway API wildcard: one or more labels).
 */
export function scopedHost(host: string, scope: string): string {
  return host === '*' ? `*.${scope}` : `${host}.${scope}`;
}

/**
 * The key the matcher looks up for request host `host` (as received: may carry `:port`, a
 * trailing dot, upper case, or be an IPv6 literal) on a connection in `scope`. An IP literal or an
 * empty host can only be served by the scope's any-host routes, so it becomes a placeholder label
 * no table host has.
 */
export function scopedRequestHost(host: string, scope: string): string {
  if (host === '' || host.charCodeAt(0) === 0x5b /* [ */) return `${SCOPE_MARK}.${scope}`;
  const colon = host.indexOf(':');
  let name = colon < 0 ? host : host.slice(0, colon);
  if (name.endsWith('.')) name = name.slice(0, -1);
  return name === '' ? `${SCOPE_MARK}.${scope}` : `${name}.${scope}`;
}

/** Most `--gateway-address` values (one Gateway each). */
export const MAX_GATEWAY_ADDRESSES = 64;

/**
 * The `--gateway-address` values as the data plane sees local addresses (IPv4 dotted, IPv6
 * lower-case; no duplicates), or the reason they cannot be used.
 */
export function parseGatewayAddresses(given: readonly string[]): string[] | string {
  if (given.length > MAX_GATEWAY_ADDRESSES) return `--gateway-address is given ${given.length} times; at most ${MAX_GATEWAY_ADDRESSES} addresses`;
  const out: string[] = [];
  for (const text of given) {
    const address = text.toLowerCase();
    if (isIP(address) === 0) return `--gateway-address must be an IPv4 or IPv6 address, got ${JSON.stringify(text)}`;
    if (address === '0.0.0.0' || address === '::') return `--gateway-address must be one address, not the wildcard ${text}`;
    if (!out.includes(address)) out.push(address);
  }
  return out;
}

/** A socket's local address as `--gateway-address` names it (an IPv4-mapped IPv6 address as IPv4). */
export function plainLocalAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address.toLowerCase();
}
