/**
 * What a snapshot load derives from a bundle's per-route metadata beside the matcher: the
 * prepared annotation policies, the regex hosts' dispatch, the ways to upstreams (TLS, HTTP/2)
 * and the redirect bits. Each is kept from the previous snapshot when its part of the bundle is
 * the same (the common case: a path edit on a host without annotations), so a load costs what
 * changed, not the number of routes. Every part is checked against the table's route count
 * whether it is kept or derived: a part that does not fit refuses the bundle.
 */
import type { PreparedPolicy } from '@portico/control/snapshot/policies';
import { preparePolicies } from '@portico/control/snapshot/policies';
import type { RegexDispatch } from '@portico/control/snapshot/regex';
import { sameJson } from '@portico/control/snapshot/same-json';
import { regexDispatchOf } from '@portico/control/snapshot/table';
import type { BundledPolicies, TableBundle } from './bundle.ts';
import { regexHostsOf, routePoliciesOf, upstreamTlsOf } from './bundle.ts';
import type { UpstreamTlsTarget } from './upstream/tls.ts';
import { UpstreamTlsTargets } from './upstream/tls.ts';

/** How a route's requests reach an endpoint: TLS or not, HTTP/1.1 or HTTP/2 (`protocol`). */
export interface UpstreamWay {
  readonly tls: UpstreamTlsTarget | undefined;
  /** HTTP/2 (`h2`), gRPC over HTTP/2 (`grpc`), or undefined for HTTP/1.1. */
  readonly protocol: 'h2' | 'grpc' | undefined;
}

/** The way of a route whose backends speak plain HTTP/1.1 (most). */
export const PLAIN: UpstreamWay = { tls: undefined, protocol: undefined };

/** A route's way to its endpoints: one, or per backend (with their endpoint ids) when the backends differ. */
export type RouteUpstream = UpstreamWay | { readonly ways: readonly UpstreamWay[]; readonly endpoints: readonly (readonly number[])[] };

/** A prepared pipeline and the bundle entry it was prepared from. */
interface PreparedEntry {
  readonly entry: BundledPolicies;
  readonly prepared: PreparedPolicy | undefined;
}

/** Whether two entries make the same pipeline: everything but the route's own id (its hidden routes' ids count). */
function samePipeline(a: BundledPolicies, b: BundledPolicies): boolean {
  return a.path === b.path && a.regex === b.regex && a.fallback === b.fallback && sameJson(a.mirrors, b.mirrors) && sameJson(a.policies, b.policies);
}

/** How far ahead of the walk's place in the previous entries a kept entry is looked for (entries removed or changed in a row). */
const LOOK_AHEAD = 3;

/**
 * The annotation policies of a bundle's routes, prepared (`preparePolicies`), by route id. Sparse:
 * as many entries as routes with policies, whatever the number of routes.
 */
export class RoutePolicies {
  /** The bundle's `policies` text these were prepared from. */
  readonly text: string;
  /** Per route id, its pipeline; undefined for the (common) route without. */
  readonly byRoute: readonly (PreparedPolicy | undefined)[];
  /** Whether some route balances by its policies (consistent hashing, affinity): endpoints need seeds then. */
  readonly balances: boolean;
  /** The highest route id the entries name (their routes, mirror and default-backend routes); -1 for none. */
  readonly top: number;
  readonly #entries: readonly PreparedEntry[];

  private constructor(text: string, byRoute: (PreparedPolicy | undefined)[], top: number, entries: readonly PreparedEntry[]) {
    this.text = text;
    this.byRoute = byRoute;
    this.top = top;
    this.#entries = entries;
    this.balances = entries.some((entry) => entry.prepared !== undefined && entry.prepared.balance.length !== 0);
  }

  /**
   * The policies of `bundle`, whose table has `routeCount` routes. With `previous` (the current
   * snapshot's): the same text gives `previous` itself; another text is walked beside `previous`'s
   * entries (both in route order) and an entry of the same content near the walk's place keeps its
   * pipeline, so an entry moved to another route id by routes inserted or removed before it keeps
   * its pipeline, and with it its per-route state (rate-limit counters, remembered credentials);
   * the others are prepared. Each of `previous`'s pipelines serves one route at most. Throws when
   * the text is not the bundle's JSON or names a route outside the table.
   */
  static of(bundle: TableBundle, routeCount: number, previous?: RoutePolicies): RoutePolicies {
    if (previous !== undefined && previous.text === bundle.policies) {
      if (previous.top >= routeCount) throw new Error(`bundle has policies naming route ${previous.top} of ${routeCount}`);
      return previous;
    }
    const parsed = routePoliciesOf(bundle);
    if (!Array.isArray(parsed)) throw new Error('bundle policies are not a list');
    const before = previous === undefined ? [] : previous.#entries;
    // The walk's place in `before`: entries before it are taken or passed, never looked at again.
    let place = 0;
    const byRoute: (PreparedPolicy | undefined)[] = [];
    const entries: PreparedEntry[] = [];
    let top = -1;
    for (const entry of parsed) {
      if (typeof entry !== 'object' || entry === null) throw new Error('bundle has a policies entry that is not an object');
      if (!Number.isInteger(entry.route) || entry.route < 0 || entry.route >= routeCount) throw new Error(`bundle has policies for route ${entry.route} of ${routeCount}`);
      if (byRoute[entry.route] !== undefined) throw new Error(`bundle has policies for route ${entry.route} twice`);
      top = Math.max(top, entry.route);
      for (const id of [...(entry.mirrors ?? []), ...(entry.fallback === undefined ? [] : [entry.fallback])]) {
        if (!Number.isInteger(id) || id < 0 || id >= routeCount) throw new Error(`bundle has a hidden route ${id} of ${routeCount}`);
        top = Math.max(top, id);
      }
      let kept: PreparedEntry | undefined;
      for (let at = place; at < before.length && at < place + LOOK_AHEAD; at++) {
        if (samePipeline(before[at]!.entry, entry)) {
          kept = before[at];
          place = at + 1;
          break;
        }
      }
      // Not kept: an entry that is new (the walk stays, the next one may be the one at `place`) or changed (the next one passes it).
      const prepared = kept !== undefined ? kept.prepared : preparePolicies(entry.policies, { path: entry.path ?? undefined, regex: entry.regex, mirrors: entry.mirrors, fallback: entry.fallback });
      byRoute[entry.route] = prepared;
      entries.push(kept ?? { entry, prepared });
    }
    return new RoutePolicies(bundle.policies, byRoute, top, entries);
  }
}

/** The regex hosts' dispatch of a bundle, by the route id the matcher gives each host (sparse). */
export class RegexRoutes {
  /** The bundle's `regexHosts` text. */
  readonly text: string;
  readonly byRoute: readonly (RegexDispatch | undefined)[];
  /** The highest route id the hosts name; -1 for none. */
  readonly top: number;

  private constructor(text: string, byRoute: (RegexDispatch | undefined)[], top: number) {
    this.text = text;
    this.byRoute = byRoute;
    this.top = top;
  }

  /**
   * The dispatch of `bundle`'s regex hosts, whose table has `routeCount` routes: `previous` itself
   * when the text is the same. Throws when a host's ids are out of range or a pattern does not compile.
   */
  static of(bundle: TableBundle, routeCount: number, previous?: RegexRoutes): RegexRoutes {
    if (previous !== undefined && previous.text === bundle.regexHosts) {
      if (previous.top >= routeCount) throw new Error(`bundle has a regex host with route ${previous.top} of ${routeCount}`);
      return previous;
    }
    const hosts = regexHostsOf(bundle);
    if (!Array.isArray(hosts)) throw new Error('bundle regex hosts are not a list');
    let top = -1;
    for (const host of hosts) {
      for (const id of [host.first, host.fallback, ...host.paths.map((path) => path.route)]) {
        if (!Number.isInteger(id) || id < -1 || id >= routeCount) throw new Error(`bundle has a regex host with route ${id} of ${routeCount}`);
        top = Math.max(top, id);
      }
    }
    return new RegexRoutes(bundle.regexHosts, regexDispatchOf(hosts), top);
  }
}

/** The ways to the endpoints of a bundle's routes with HTTPS or HTTP/2 backends, by route id. */
export class UpstreamWays {
  /** The bundle's `upstreamTls` text. */
  readonly text: string;
  readonly byRoute: ReadonlyMap<number, RouteUpstream>;
  /** TLS settings by their content, shared with the next snapshot (same settings, same pool key). */
  readonly targets: UpstreamTlsTargets;

  private constructor(text: string, byRoute: ReadonlyMap<number, RouteUpstream>, targets: UpstreamTlsTargets) {
    this.text = text;
    this.byRoute = byRoute;
    this.targets = targets;
  }

  /**
   * The ways of `bundle`: `previous` itself when its text is the same, else derived, with the TLS
   * targets of the same settings kept from `previous`. Throws when a PEM cannot be loaded.
   */
  static of(bundle: TableBundle, previous?: UpstreamWays): UpstreamWays {
    if (previous !== undefined && previous.text === bundle.upstreamTls) return previous;
    const targets = new UpstreamTlsTargets(previous?.targets);
    const byRoute = new Map<number, RouteUpstream>();
    for (const entry of upstreamTlsOf(bundle)) {
      const ways = entry.tls.map((settings, index): UpstreamWay => ({ tls: settings === null ? undefined : targets.target(settings), protocol: entry.protocols?.[index] ?? undefined }));
      if (entry.endpoints === null) byRoute.set(entry.route, ways[0] ?? PLAIN);
      else byRoute.set(entry.route, { ways, endpoints: entry.endpoints });
    }
    targets.seal();
    return new UpstreamWays(bundle.upstreamTls, byRoute, targets);
  }
}

/**
 * The redirect bits of `bundle` to keep with its snapshot: `previous` when the bytes are the same
 * (a memcmp), the bundle's own array when it is the whole of its buffer, else a copy (a bundle that
 * came by IPC is views into the whole message's buffer, which keeping these bytes would keep
 * alive with the snapshot, table and all).
 */
export function redirectsOf(bundle: TableBundle, previous?: Uint8Array): Uint8Array {
  const bytes = bundle.redirects;
  if (previous !== undefined && previous.length === bytes.length && Buffer.compare(previous, bytes) === 0) return previous;
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && !(bytes.buffer instanceof SharedArrayBuffer) ? bytes : bytes.slice();
}
