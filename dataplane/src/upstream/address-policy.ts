/**
 * Which endpoint addresses the proxy may connect to. An endpoint comes from cluster objects
 * that many people can write (an EndpointSlice, an ExternalName Service): pointed at loopback,
 * at a link-local address (169.254.169.254 is the cloud metadata service) or at the edge node's
 * own addresses, it would publish what only the node itself should reach — the admin /metrics,
 * a kubelet, credentials. Those are refused unless the operator allows them. ExternalName
 * hostnames are checked after DNS resolution, at connect time.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { networkInterfaces } from 'node:os';
import { addressClass } from '@portico/control/snapshot/address';
import type { AddressClass } from '@portico/control/snapshot/address';

/** What is allowed; everything else in AddressClass is refused. */
export interface EndpointAddressOptions {
  /** Loopback (127.0.0.0/8, ::1), unspecified and the node's own addresses. Default false. */
  readonly allowLoopback?: boolean;
  /** Link-local (169.254.0.0/16, fe80::/10). Default false. */
  readonly allowLinkLocal?: boolean;
}

/** Called when an endpoint address is refused. */
export type RefusedListener = (endpoint: string, address: string, why: AddressClass) => void;

/** The error a refused connect fails with. */
export class EndpointRefusedError extends Error {
  readonly code = 'PORTICO_E_ENDPOINT_REFUSED';
  readonly why: AddressClass;

  constructor(endpoint: string, address: string, why: AddressClass) {
    super(`endpoint ${endpoint} is ${address === endpoint ? '' : `resolves to ${address}, `}a ${why} address, refused (see --allow-loopback-endpoints / --allow-link-local-endpoints)`);
    this.why = why;
  }
}

/** How long the node's interface addresses are trusted before they are read again. */
const NODE_ADDRESSES_TTL_MS = 60_000;

/** The policy, with the node's addresses read (and refreshed) once a minute at most. */
export class EndpointAddressPolicy {
  readonly allowLoopback: boolean;
  readonly allowLinkLocal: boolean;
  readonly #listener: RefusedListener | undefined;
  #nodeAddresses = new Set<string>();
  #readAt = Number.NEGATIVE_INFINITY;
  /** Verdicts on address literals: endpoints repeat, so each is classified once (bounded, see check). */
  readonly #verdicts = new Map<string, AddressClass | null>();

  constructor(options: EndpointAddressOptions = {}, listener?: RefusedListener) {
    this.allowLoopback = options.allowLoopback ?? false;
    this.allowLinkLocal = options.allowLinkLocal ?? false;
    this.#listener = listener;
  }

  /** The addresses of the node's own interfaces (lower case, no zone). */
  nodeAddresses(): ReadonlySet<string> {
    const now = performance.now();
    if (now - this.#readAt > NODE_ADDRESSES_TTL_MS) {
      const addresses = new Set<string>();
      for (const list of Object.values(networkInterfaces())) for (const entry of list ?? []) addresses.add(entry.address.toLowerCase().split('%')[0] as string);
      this.#nodeAddresses = addresses;
      this.#readAt = now;
      this.#verdicts.clear();
    }
    return this.#nodeAddresses;
  }

  /** Why `address` (an IP literal) may not be connected to, or undefined when it may. */
  refused(address: string): AddressClass | undefined {
    const nodeAddresses = this.nodeAddresses();
    let verdict = this.#verdicts.get(address);
    if (verdict === undefined) {
      const found = addressClass(address, nodeAddresses);
      verdict = found === undefined || this.#allowed(found) ? null : found;
      if (this.#verdicts.size >= 10_000) this.#verdicts.clear();
      this.#verdicts.set(address, verdict);
    }
    return verdict ?? undefined;
  }

  /** Why `address` (an IP literal) may not be connected to, or undefined when it may; a refusal is reported to the listener (log and metric) under `endpoint`. */
  check(endpoint: string, address: string): AddressClass | undefined {
    const why = this.refused(address);
    if (why !== undefined) this.#listener?.(endpoint, address, why);
    return why;
  }

  /** A `lookup` for net.connect that drops refused addresses from what DNS returns, failing when none is left. */
  readonly lookup: LookupFunction = (hostname: string, options: LookupOptions, callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, options, (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => {
      if (error !== null) return callback(error, address, family);
      const entries = Array.isArray(address) ? address : [{ address, family: family ?? 4 }];
      const allowed = entries.filter((entry) => this.check(hostname, entry.address) === undefined);
      if (allowed.length === 0) {
        const first = entries[0] as LookupAddress;
        return callback(new EndpointRefusedError(hostname, first.address, this.refused(first.address) ?? 'loopback'), Array.isArray(address) ? [] : '', family);
      }
      if (Array.isArray(address)) callback(null, allowed);
      else callback(null, (allowed[0] as LookupAddress).address, (allowed[0] as LookupAddress).family);
    });
  };

  #allowed(why: AddressClass): boolean {
    if (why === 'link-local') return this.allowLinkLocal;
    return this.allowLoopback;
  }
}
