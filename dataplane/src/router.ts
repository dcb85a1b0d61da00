/**
 * The router: the current snapshot compiled into a wasm matcher, swapped atomically, plus
 * passive endpoint health carried across swaps by endpoint key. The proxy asks it one question
 * per request (`route`) and tells it how each endpoint did (`reportFailure` / `reportSuccess`).
 */
import { EventEmitter } from 'node:events';
import type { PooledMatcher, RequestHeaders } from '@portico/assembly/matcher';
import { MatcherPool } from '@portico/assembly/matcher-pool';
import type { MatcherPoolStats } from '@portico/assembly/matcher-pool';
import type { Snapshot } from '@portico/control/snapshot';
import type { PreparedPolicy } from '@portico/control/snapshot/policies';
import type { PolicyOutcome } from '@portico/control/snapshot/policies/module';
import { hashKey } from '@portico/control/snapshot/policies/upstream-hash';
import { httpsRedirectTarget } from '@portico/control/snapshot/policies/trailing-slash';
import type { TableBundle } from './bundle.ts';
import type { Pages, TableBlocks } from '@portico/assembly/encode';
import { RouteLabels, SnapshotCompiler, tableBlocksOf } from './bundle.ts';
import { verifyBundle } from './bundle-verify.ts';
import type { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import type { RegexDispatch } from '@portico/control/snapshot/regex';
import { resolveRoute } from '@portico/control/snapshot/table';
import { SCOPE_MARK, scopedRequestHost } from '@portico/control/snapshot/scope';
import { PorticoError } from './errors.ts';
import type { MetricFamily } from './metric-families.ts';
import type { UpstreamTlsTarget } from './upstream/tls.ts';
import type { UpstreamTlsTargets } from './upstream/tls.ts';
import type { UpstreamWay } from './route-metadata.ts';
import { PLAIN, RegexRoutes, RoutePolicies, UpstreamWays, redirectsOf } from './route-metadata.ts';
import type { HealthOptions, SetList } from './health.ts';
import { EndpointSets, HealthWrites, PassiveHealth } from './health.ts';
import type { EndpointRef, IdMap } from './endpoints.ts';
import { SnapshotEndpoints, isGap } from './endpoints.ts';

/**
 * One compiled snapshot: what a decision was made on. Never mutated after the swap except for
 * health flags. Its matchers' wasm instances come from the router's pool and go back to it when
 * the snapshot is no longer held: the router holds the current one, and each request holds the
 * snapshot it was routed on (`hold` / `letGo`) until it ends. A snapshot let go by every holder
 * answers every balancing question with "no endpoint".
 */
export class LoadedSnapshot {
  readonly version: string;
  /** The bundle's content address (`digestOf`): what the control plane compiled for this version. */
  readonly digest: string;
  /** Host/path lookup (`match`). */
  readonly matcher: PooledMatcher;
  /** The table `matcher` was loaded from (this bundle's, or for an endpoint-only one the routing snapshot's): what a spare instance is prepared with. */
  readonly routingTable: TableBlocks;
  /** The table `balancer` was loaded from (`routingTable` after a full load): for an endpoint-only one, a second spare is prepared with it. */
  readonly balancingTable: TableBlocks;
  /**
   * Endpoint choice and health (`pick`, `setHealthy`): the same instance as `matcher` after a full
   * load; after an endpoint-only change, a small table of route records alone while `matcher`
   * is kept from the previous snapshot.
   */
  readonly balancer: PooledMatcher;
  /** Refs by endpoint id (SnapshotEndpoints: pages shared with the previous snapshot's, the changed ones replaced). */
  readonly endpoints: Pages<EndpointRef>;
  /** The stand-in endpoint invalid backends hold (its pick answers 500), or -1 when the snapshot has none. */
  readonly invalidEndpoint: number;
  /** Endpoint ids by key. */
  readonly endpointIds: IdMap;
  /** How its endpoints were had: the previous snapshot's (`same`), its with the changed lines read (`patched`), or every line read (`whole`). */
  readonly endpointsRead: 'same' | 'patched' | 'whole';
  /** Per route id: its metrics label (`routeLabels.at(id)`). */
  readonly routeLabels: RouteLabels;
  /** Per route id: bit 0 set when plain HTTP is redirected to HTTPS, bit 1 when that redirect keeps a trailing slash. */
  readonly redirects: Uint8Array;
  /** The endpoints whose health flag `setHealthy` wrote since the load (all are healthy at load): what `/metrics` reads again. */
  readonly healthWrites: HealthWrites;
  /** Regex hosts' dispatch by route id (sparse; empty when no host has regex paths). */
  readonly regex: readonly (RegexDispatch | undefined)[];
  /** Per route id: its annotation policy pipeline (sparse), undefined for the (common) route without. */
  readonly policies: readonly (PreparedPolicy | undefined)[];
  /** Whether any route has header conditions (else the proxy never builds a header record). */
  readonly needsHeaders: boolean;
  /** TLS settings by their content, shared with the next snapshot (same settings, same pool key). */
  readonly tlsTargets: UpstreamTlsTargets;
  /** Per route id with HTTPS or HTTP/2 backends: its way, or per backend with their endpoint ids when the backends differ. */
  readonly #upstream: UpstreamWays;
  /** The prepared policies and regex dispatch, kept by the next snapshot when its bundle carries the same text. */
  readonly #policies: RoutePolicies;
  readonly #regex: RegexRoutes;
  /** Endpoint refs, ids and session tokens (made from the previous snapshot's when only some lines changed). */
  readonly #endpoints: SnapshotEndpoints;
  /** The bundle's endpoint sets. Their health index is made on first use, or patched at load from the previous snapshot's (shared when the list is the same). */
  readonly #setList: SetList;
  #sets: EndpointSets | undefined;
  #latency: Float64Array | undefined;
  #touched: Float64Array | undefined;
  /** Per route id, the routing scope of its host ('' for none), filled on use by scoped requests. */
  #scopes: string[] | undefined;
  /** The router (while current) and the requests in flight on it; at 0 its matchers go back to the pool. */
  #holders = 0;
  #retired = false;

  /**
   * Loads a compiled bundle (verified first, unless the caller just did): a full one into a fresh
   * matcher, a balancing-only one beside the routing matcher of `routesFrom`. Nothing is compiled here.
   * Throws (PORTICO_E_SNAPSHOT_LOAD, PORTICO_E_TABLE_CORRUPT) when the bundle is damaged.
   */
  constructor(bundle: TableBundle, routesFrom?: LoadedSnapshot, verified = false, previous?: LoadedSnapshot, pool: MatcherPool = new MatcherPool(0)) {
    if (!verified) verifyBundle(bundle);
    // Released if anything after fails: a bad bundle keeps no instance from the pool. By blocks: a
    // reused instance gets only those it does not hold (the table is never flattened for this).
    const table = tableBlocksOf(bundle);
    const loaded = pool.load(table);
    this.balancingTable = table;
    try {
      this.version = bundle.version;
      this.digest = bundle.digest;
      const before = routesFrom ?? previous;
      this.#upstream = UpstreamWays.of(bundle, before === undefined ? undefined : before.#upstream);
      this.tlsTargets = this.#upstream.targets;
      if (bundle.balancingOnly) {
        if (routesFrom === undefined) throw new Error('an endpoint-only update needs a current snapshot');
        this.matcher = routesFrom.matcher;
        this.routingTable = routesFrom.routingTable;
        this.balancer = loaded;
        if (this.balancer.routeCount !== routesFrom.routeLabels.count) throw new Error(`endpoint-only update has ${this.balancer.routeCount} routes, the current snapshot ${routesFrom.routeLabels.count}`);
        this.routeLabels = routesFrom.routeLabels;
        this.redirects = routesFrom.redirects;
        this.#policies = routesFrom.#policies;
        this.#regex = routesFrom.#regex;
        this.needsHeaders = routesFrom.needsHeaders;
      } else {
        this.matcher = loaded;
        this.routingTable = table;
        this.balancer = loaded;
        // Labels are read by route id when asked for (RouteLabels, line by line from a bundle made in
        // this process: the whole text is never joined); the same labels keep the ones already cut.
        this.routeLabels = previous !== undefined && previous.routeLabels.sameAs(bundle) ? previous.routeLabels : RouteLabels.of(bundle);
        if (this.routeLabels.count !== this.matcher.routeCount || bundle.redirects.length !== this.matcher.routeCount) throw new Error(`bundle metadata covers ${this.routeLabels.count} routes, its table ${this.matcher.routeCount}`);
        // Each part is the previous snapshot's when its bundle text (bytes) is the same, else derived.
        this.redirects = redirectsOf(bundle, previous?.redirects);
        this.needsHeaders = bundle.needsHeaders;
        this.#policies = RoutePolicies.of(bundle, this.matcher.routeCount, previous === undefined ? undefined : previous.#policies);
        this.#regex = RegexRoutes.of(bundle, this.matcher.routeCount, previous === undefined ? undefined : previous.#regex);
      }
      this.policies = this.#policies.byRoute;
      this.regex = this.#regex.byRoute;
      // A route change usually leaves the endpoints as they were (the same object then), an endpoint change a few lines.
      this.#endpoints = SnapshotEndpoints.of(bundle, this.balancer.endpointCount, previous === undefined ? undefined : previous.#endpoints);
      this.endpointsRead = previous !== undefined && this.#endpoints === previous.#endpoints ? 'same' : this.#endpoints.patched ? 'patched' : 'whole';
      this.endpoints = this.#endpoints.refs;
      this.invalidEndpoint = this.#endpoints.invalid;
      this.endpointIds = this.#endpoints.ids;
      // Up to one write per endpoint between two scrapes is followed; more is a flood, read whole.
      this.healthWrites = new HealthWrites(Math.max(1024, this.endpoints.length));
      // The health panic threshold needs each endpoint set once. Nothing is made per set here: the
      // previous snapshot's index (if one was made) is patched by the sets that are not the same arrays;
      // when most differ (a list that came by IPC) it is made on first use (endpointSets), as with none.
      this.#setList = bundle.endpointSets;
      this.#endpoints.checkSets(this.#setList, previous === undefined ? undefined : previous.#setList);
      const setsBefore = previous === undefined ? undefined : previous.#sets;
      if (setsBefore !== undefined) this.#sets = EndpointSets.after(setsBefore, this.#setList, this.endpoints.length);
      // Consistent hashing (upstream-hash-by, affinity) needs each endpoint's seed, from its address.
      if (this.#policies.balances) {
        for (let id = 0; id < this.endpoints.length; id++) this.balancer.setSeed(id, hashKey(this.endpoints.at(id)!.key));
      }
    } catch (error) {
      loaded.release();
      throw error;
    }
    // An endpoint-only snapshot shares the routing matcher: one more holder of it.
    if (bundle.balancingOnly) this.matcher.retain();
  }

  /**
   * One more holder: the router while the snapshot is current, a request from its start to its
   * end (exchange.ts). Nothing once every holder let go (the matchers are given back by then).
   */
  hold(): void {
    if (!this.#retired) this.#holders++;
  }

  /**
   * One holder fewer. The last gives the matchers back to the router's pool: from then on the
   * snapshot answers every balancing question with "no endpoint" (its instance may hold another
   * table), which no request sees, as each holds the snapshot it was routed on until it ends.
   */
  letGo(): void {
    if (this.#retired || --this.#holders > 0) return;
    this.#retired = true;
    this.matcher.release();
    if (this.balancer !== this.matcher) this.balancer.release();
  }

  /** Whether every holder let go (its matchers went back to the pool). */
  get retired(): boolean {
    return this.#retired;
  }

  /**
   * An endpoint's session token (`affinity-mode: persistent` cookies): 32 hex digits of SHA-256
   * over a fixed label and its `address:port`. The same on every data plane; never the address.
   */
  endpointToken(id: number): string {
    return this.#endpoints.token(this.endpoints.at(id)!.key);
  }

  /**
   * Takes one response time of endpoint `id` (ms; a failure counts its time plus FAILURE_PENALTY_MS)
   * into its exponentially weighted average (decay EWMA_DECAY_MS, as ingress-nginx's ewma), which
   * becomes its load score in the balancer. Kept per snapshot and worker: a new snapshot starts at 0.
   */
  observeLatency(id: number, ms: number): void {
    const count = this.endpoints.length;
    const average = (this.#latency ??= new Float64Array(count));
    const touched = (this.#touched ??= new Float64Array(count));
    const now = performance.now();
    const weight = touched[id] === 0 ? 0 : Math.exp(-(now - (touched[id] as number)) / EWMA_DECAY_MS);
    const next = (average[id] as number) * weight + ms * (1 - weight);
    average[id] = next;
    touched[id] = now;
    this.balancer.setScore(id, next);
  }

  /** The endpoint id a session token names, or -1 (built on first use, patched from the previous snapshot's after an endpoint change). */
  endpointByToken(token: string): number {
    return this.#endpoints.byToken(token);
  }

  /** Keys of `previous`'s endpoints this snapshot no longer has (id order): from the changed lines alone after an endpoint change. */
  removedEndpointsSince(previous: LoadedSnapshot): string[] {
    return this.#endpoints.removedSince(previous.#endpoints);
  }

  /**
   * The routing scope of route `id`'s host (snapshot/scope.ts), or '' for an unscoped host (the
   * edge: Ingress and Gateways without an address of their own). Read from its label
   * (`namespace/name@host/path`); remembered per route.
   */
  routeScope(id: number): string {
    const scopes = (this.#scopes ??= []);
    let scope = scopes[id];
    if (scope === undefined) {
      const label = this.routeLabels.at(id) ?? '';
      const at = label.indexOf('@');
      const slash = label.indexOf('/', at);
      const host = label.slice(at + 1, slash < 0 ? label.length : slash);
      const mark = host.lastIndexOf(`.${SCOPE_MARK}`);
      scopes[id] = scope = mark < 0 ? '' : host.slice(mark + 1);
    }
    return scope;
  }

  /** How to reach `endpointId` for route `routeId`: its backend's TLS target and protocol. */
  upstreamWay(routeId: number, endpointId: number): UpstreamWay {
    const way = this.#upstream.byRoute.get(routeId);
    if (way === undefined) return PLAIN;
    if (!('ways' in way)) return way;
    // Backends of one route that differ in TLS or protocol (rare): the endpoint's backend decides.
    return way.ways[way.endpoints.findIndex((ids) => ids.includes(endpointId))] ?? PLAIN;
  }

  /** Marks endpoint `id` healthy or not in the balancer, recorded in `healthWrites`. Throws PORTICO_E_ENDPOINT_RANGE for an unknown id. */
  setHealthy(id: number, healthy: boolean): void {
    this.balancer.setHealthy(id, healthy);
    this.healthWrites.add(id);
  }

  /** The endpoint sets, for the panic threshold (built on first use: the first ejection). */
  get endpointSets(): EndpointSets {
    return (this.#sets ??= EndpointSets.of(this.#setList, this.endpoints.length));
  }
}

/** The pool key of an endpoint for a way: HTTP/1.1 plain sockets by endpoint key; the rest apart. */
function poolKey(endpointKey: string, tls: UpstreamTlsTarget | undefined, protocol: 'h2' | 'grpc' | undefined): string {
  const key = protocol === undefined ? endpointKey : endpointKey + '|h2';
  return tls === undefined ? key : key + tls.poolSuffix;
}

/** Proxy the request to this endpoint. */
export interface ProxyDecision {
  readonly kind: 'proxy';
  readonly routeId: number;
  /** The route's metrics label (`namespace/name@host/path`). */
  readonly route: string;
  readonly endpointId: number;
  readonly endpointKey: string;
  readonly address: string;
  readonly port: number;
  /** TLS to the endpoint, or undefined for plain text. */
  readonly tls: UpstreamTlsTarget | undefined;
  /** HTTP/2 (`h2`) or gRPC over HTTP/2 (`grpc`) to the endpoint, or undefined for HTTP/1.1. */
  readonly protocol: 'h2' | 'grpc' | undefined;
  /** The pool key: `endpointKey`, plus `|h2` for HTTP/2, plus the TLS settings' suffix when TLS. */
  readonly poolKey: string;
  /** The snapshot the decision was made on; a retry picks from the same one. */
  readonly snapshot: LoadedSnapshot;
  /** The route's annotation policies, to run before forwarding; undefined when it has none. */
  readonly policy: PreparedPolicy | undefined;
  /** The backends a policy limited the choice to (bit k = backend k; a canary header or cookie), kept for retries; undefined for all. */
  readonly backends?: number | undefined;
  /** The endpoint was picked by load (`load-balance: ewma`): the exchange reports its response time (`LoadedSnapshot.observeLatency`). */
  readonly measured?: true | undefined;
  /**
   * The index of the route's backend the endpoint was picked behind, when the route's policies
   * have per-backend steps (Gateway API backendRef filters: `applyBackendPolicy`); undefined otherwise.
   */
  readonly backend?: number | undefined;
  /**
   * The endpoint is the route's default backend (`default-backend`, `routeId` its hidden route),
   * standing in for a response with this status (`X-Code`: 503 when the route had no endpoint, or
   * the intercepted custom-http-errors status); undefined for the route's own endpoints.
   */
  readonly fallback?: number | undefined;
}

/**
 * The route's policies choose among its backends (canary): run them (`applyPolicy`), then ask
 * `Router.choose` for the endpoint. No endpoint has been picked yet.
 */
export interface ChooseDecision {
  readonly kind: 'choose';
  readonly routeId: number;
  readonly route: string;
  readonly snapshot: LoadedSnapshot;
  readonly policy: PreparedPolicy;
}

/** Answer 308 with this Location. */
export interface RedirectDecision {
  readonly kind: 'redirect';
  readonly route: string;
  readonly location: string;
  /** The route's annotation policies: their `redirect` phase comes before the HTTPS redirect. */
  readonly policy: PreparedPolicy | undefined;
}

/**
 * Answer 404 (`not-found`: no route), 503 (`unavailable`: no ready endpoint, or no snapshot yet)
 * or 500 (`invalid-backend`: the pick fell on an invalid Gateway API backendRef's weight share).
 */
export interface StatusDecision {
  readonly kind: 'not-found' | 'unavailable' | 'invalid-backend';
  /** The route's label, or '' when no route matched. */
  readonly route: string;
  /** The matched route's annotation policies (a redirect answers even without endpoints); undefined when none. */
  readonly policy?: PreparedPolicy | undefined;
}

/** What to do with a request. */
export type Decision = ProxyDecision | RedirectDecision | StatusDecision | ChooseDecision;

/** Emitted after every successful load. */
export interface SwapEvent {
  readonly version: string;
  /** The version replaced, or undefined for the first load. */
  readonly previousVersion: string | undefined;
  /** Keys of the endpoints the new snapshot no longer has. */
  readonly removedEndpoints: readonly string[];
  /** Whether a key (`address:port`) is an endpoint of the new snapshot. */
  readonly endpointKeys: { has(key: string): boolean };
}

/** Router tuning. */
export interface RouterOptions {
  /** HTTPS port put in redirect locations (omitted when 443). Default 443. */
  readonly httpsPort?: number;
  readonly health?: HealthOptions;
  /** The bundle compiler to share (standalone: the control plane's, so each version is compiled once). Default: its own. */
  readonly compiler?: BundleCompiler;
  /** Prepare a spare wasm instance after a swap that left none, a slice per event-loop turn (`Router.loadBundle`). Default true; tests counting a load's copies turn it off. */
  readonly prepareSpare?: boolean;
}

const NOT_FOUND: StatusDecision = { kind: 'not-found', route: '' };
const NOT_READY: StatusDecision = { kind: 'unavailable', route: '' };

/** Table blocks (64 KiB each) a spare instance is prepared with per event-loop turn: 1 MiB, about 0.3 ms of copying into fresh pages. */
const PREPARE_BLOCKS = 16;

/** How fast an endpoint's latency average forgets (ingress-nginx's ewma decay time, 10 s). */
const EWMA_DECAY_MS = 10_000;

/** What a failed exchange adds to its time in the latency average (load-balance: ewma). */
export const FAILURE_PENALTY_MS = 1000;

/**
 * Proxies to endpoint `endpointId` of `snapshot` (503 when it is -1: no eligible endpoint; 500 for
 * the invalid-backend stand-in): the one place a ProxyDecision is made, for first picks and retries.
 */
function proxyTo(snapshot: LoadedSnapshot, routeId: number, route: string, policy: PreparedPolicy | undefined, endpointId: number, backends: number | undefined, measured: true | undefined): ProxyDecision | StatusDecision {
  if (endpointId < 0) return { kind: 'unavailable', route, policy };
  if (endpointId === snapshot.invalidEndpoint) return { kind: 'invalid-backend', route, policy };
  const endpoint = snapshot.endpoints.at(endpointId)!;
  // No set names a gap (checked on load, SnapshotEndpoints.checkSets): a table that does anyway gets no connection.
  if (isGap(endpoint)) return { kind: 'unavailable', route, policy };
  const { tls, protocol } = snapshot.upstreamWay(routeId, endpointId);
  // Read only where a backend has filters of its own: the pick that chose `endpointId` was the balancer's last.
  const backend = policy?.perBackend === undefined ? undefined : snapshot.balancer.lastBackend();
  return { kind: 'proxy', routeId, route, endpointId, endpointKey: endpoint.key, address: endpoint.address, port: endpoint.port, tls, protocol, poolKey: poolKey(endpoint.key, tls, protocol), snapshot, policy, backends, measured, backend };
}

/** Lower-case host without port, for redirect locations. */
function locationHost(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) {
    const end = lower.indexOf(']');
    return end > 0 ? lower.slice(0, end + 1) : lower;
  }
  const colon = lower.indexOf(':');
  return colon >= 0 ? lower.slice(0, colon) : lower;
}

/**
 * Holds the current snapshot and answers routing questions. Emits `swap` (SwapEvent) after each
 * load. Health reported here is applied to the current matcher and to every later one.
 */
export class Router extends EventEmitter<{ swap: [SwapEvent] }> {
  readonly health: PassiveHealth;
  readonly #httpsSuffix: string;
  #current: LoadedSnapshot | undefined;
  #swaps = 0;
  readonly #endpointReads = { same: 0, patched: 0, whole: 0 };
  #lastSwapMs = 0;
  #maxSwapMs = 0;
  /** Compiles each snapshot host once; a version is assembled from its hosts (bundle-compile.ts). */
  readonly #compiler: SnapshotCompiler;
  /** The wasm instances snapshots are loaded into, reused once a replaced snapshot is let go. */
  readonly #pool = new MatcherPool();
  // The last match, reused when the next request asks the same of the same snapshot (common under keep-alive).
  #lastSnapshot: LoadedSnapshot | undefined;
  #lastHost = '';
  #lastPath = '';
  #lastMethod = '';
  #lastRoute = -1;
  /** Whether a balancing-only bundle was compiled here (or is about to be, after the first full load). */
  #balancingCompiled = false;
  /** Whether a spare instance is prepared after each swap (RouterOptions.prepareSpare), and whether steps of it are scheduled. */
  readonly #prepareSpare: boolean;
  #preparing = false;
  #closed = false;

  /** Throws PORTICO_E_CONFIG for an invalid port or health option. */
  constructor(options: RouterOptions = {}) {
    super();
    const httpsPort = options.httpsPort ?? 443;
    if (!Number.isInteger(httpsPort) || httpsPort < 1 || httpsPort > 65535) throw new PorticoError('PORTICO_E_CONFIG', `httpsPort must be 1..65535, not ${httpsPort}`);
    this.#httpsSuffix = httpsPort === 443 ? '' : `:${httpsPort}`;
    this.#compiler = new SnapshotCompiler(options.compiler);
    this.#prepareSpare = options.prepareSpare ?? true;
    this.health = new PassiveHealth((key) => this.#applyHealth(key), options.health);
  }

  /** Version of the current snapshot, or undefined before the first load. */
  get version(): string | undefined {
    return this.#current?.version;
  }

  /** Number of successful loads. */
  get swapCount(): number {
    return this.#swaps;
  }

  /** Snapshot hosts this router compiled itself; hosts whose chunks the control plane shipped are not counted. */
  get compiledHosts(): number {
    return this.#compiler.hostsCompiled;
  }

  /** What this router's bundle compiler did, as metric families (SnapshotCompiler.families); a worker, which loads bundles its primary compiled, reports none of it. */
  compileFamilies(): MetricFamily[] {
    return this.#compiler.families();
  }

  /** Successful loads by how their endpoints were had (LoadedSnapshot.endpointsRead): the previous snapshot's, its with the changed lines read, or every line read. */
  get endpointReads(): { readonly same: number; readonly patched: number; readonly whole: number } {
    return { ...this.#endpointReads };
  }

  /** How long the last successful `loadBundle` held the event loop (ms), and the longest so far: the swap's stall as traffic sees it. */
  get swapStallMs(): { readonly last: number; readonly max: number } {
    return { last: this.#lastSwapMs, max: this.#maxSwapMs };
  }

  /** What the pool of wasm instances did so far (instances made, loads into a reused one, spares). */
  get matcherPool(): MatcherPoolStats {
    return this.#pool.stats;
  }

  /** The current compiled snapshot, or undefined before the first load. */
  get current(): LoadedSnapshot | undefined {
    return this.#current;
  }

  /** Whether route() needs request headers (some route has header conditions). */
  get needsHeaders(): boolean {
    return this.#current?.needsHeaders === true;
  }

  /**
   * Compiles `snapshot` into a bundle (only its hosts not seen before; with `received`, the control
   * plane's chunks of those hosts, and the bundle must have its digest) and loads it into a fresh
   * matcher, made current with one assignment; decisions already handed out keep their snapshot.
   * Throws PORTICO_E_SNAPSHOT_LOAD (the current snapshot stays) when it cannot be compiled or
   * does not match the control plane's digest.
   */
  load(snapshot: Snapshot, received?: ReceivedBundle): SwapEvent {
    const event = this.loadBundle(this.#compiler.compile(snapshot, false, received), true);
    if (!this.#balancingCompiled) {
      this.#balancingCompiled = true;
      // The first endpoint-only change would otherwise assemble the balancing-only bundle from every
      // host while it waits (0.2 s at 50,000 Ingresses); made once here, a turn after this swap, each
      // later one is patched from it (the cost of the change). A failure here is the one the change's
      // own compile would meet and report: nothing to do now.
      setImmediate(() => {
        if (this.#current?.version !== snapshot.version) return;
        try {
          this.#compiler.compile(snapshot, true);
        } catch {
          // Reported by loadEndpoints, if it comes to that.
        }
      });
    }
    return event;
  }

  /**
   * Like `load`, for a snapshot whose routes are those of the current one and only endpoints
   * changed (the caller knows, e.g. from a sync delta): the routing matcher is kept and only the
   * endpoint choice is compiled. Without a current snapshot it is a full load.
   */
  loadEndpoints(snapshot: Snapshot, received?: ReceivedBundle): SwapEvent {
    this.#balancingCompiled = true;
    return this.loadBundle(this.#compiler.compile(snapshot, this.#current !== undefined, received), true);
  }

  /**
   * Makes a compiled bundle current (a balancing-only one keeps the current routing matcher):
   * the swap a worker does, with no compile. `verified`: the caller has just run
   * `verifyBundleInTurns`. Throws PORTICO_E_SNAPSHOT_LOAD (the current snapshot stays) when the
   * bundle is damaged or does not fit.
   */
  loadBundle(bundle: TableBundle, verified = false): SwapEvent {
    const started = performance.now();
    let next: LoadedSnapshot;
    try {
      next = new LoadedSnapshot(bundle, bundle.balancingOnly ? this.#current : undefined, verified, this.#current, this.#pool);
    } catch (cause) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${bundle.version} cannot be loaded: ${(cause as Error).message}`, { cause });
    }
    // Health records follow the endpoints that exist: the map stays bounded by the snapshot.
    this.health.prune(next.endpointIds);
    const ejected: number[] = [];
    for (const key of this.health.ejectedKeys()) {
      const id = next.endpointIds.get(key);
      if (id !== undefined) ejected.push(id);
    }
    if (ejected.length !== 0) this.#applyHealthTo(next, ejected);
    const previous = this.#current;
    next.hold();
    this.#current = next;
    // Requests in flight on the previous snapshot still hold it; the last of them gives its instance back.
    previous?.letGo();
    this.#swaps++;
    this.#endpointReads[next.endpointsRead]++;
    const removedEndpoints = previous === undefined ? [] : next.removedEndpointsSince(previous);
    const event: SwapEvent = { version: next.version, previousVersion: previous?.version, removedEndpoints, endpointKeys: next.endpointIds };
    this.#lastSwapMs = performance.now() - started;
    this.#maxSwapMs = Math.max(this.#maxSwapMs, this.#lastSwapMs);
    this.#prepareSoon();
    this.emit('swap', event);
    return event;
  }

  /**
   * From the next turn, a slice per turn (PREPARE_BLOCKS blocks): spare wasm instances holding the
   * current routing table and, after an endpoint-only load, its balancing table (the next load of
   * either kind then finds its blocks in memory already touched). A spare that held an earlier
   * version of a table (given back by the snapshot it served) gets only the blocks changed since;
   * a new instance, copied whole, is made only when no spare holds any of it (after the first load
   * of each kind, or while older snapshots are still held by requests). matcher-pool.ts `prepare`.
   */
  #prepareSoon(): void {
    if (!this.#prepareSpare || this.#preparing) return;
    this.#preparing = true;
    const step = (): void => {
      const current = this.#current;
      let more = false;
      try {
        if (current !== undefined && !this.#closed) more = this.#pool.prepare(current.balancingTable === current.routingTable ? [current.routingTable] : [current.routingTable, current.balancingTable], PREPARE_BLOCKS);
      } catch {
        // Memory that cannot grow: the next load makes its instance as before (and reports that).
      }
      if (more) setImmediate(step);
      else this.#preparing = false;
    };
    setImmediate(step);
  }

  /**
   * Decides what to do with a request. `host` may carry a port, `path` a query. `headers` is only
   * read when `needsHeaders` is true. Plain-HTTP requests to a redirecting route get a 308 to HTTPS
   * whose Location carries `target` (the request-target as received; default `path`) as
   * ingress-nginx writes it (see httpsRedirectTarget). `scope`: the connection's routing scope
   * when it came in on a Gateway's own address (snapshot/scope.ts), else undefined (the edge).
   */
  route(host: string, path: string, method: string, headers: RequestHeaders | undefined, scheme: 'http' | 'https', target?: string, scope?: string): Decision {
    const current = this.#current;
    if (current === undefined) return NOT_READY;
    // A connection to a Gateway's own address matches in its scope only; no client names a scope itself.
    if (scope !== undefined) host = scopedRequestHost(host, scope);
    else if (host.includes(SCOPE_MARK)) return NOT_FOUND;
    let routeId: number;
    if (current === this.#lastSnapshot && host === this.#lastHost && path === this.#lastPath && method === this.#lastMethod) {
      routeId = this.#lastRoute;
    } else {
      routeId = current.matcher.match(host, path, method, current.needsHeaders ? headers : undefined);
      if (current.regex.length !== 0) routeId = resolveRoute(current, routeId, path);
      if (!current.needsHeaders) {
        this.#lastSnapshot = current;
        this.#lastHost = host;
        this.#lastPath = path;
        this.#lastMethod = method;
        this.#lastRoute = routeId;
      }
    }
    if (routeId < 0) return NOT_FOUND;
    // Nothing in the scope matched and the lookup fell to the edge's catch-all default backend: not this address's.
    if (scope !== undefined && current.routeScope(routeId) !== scope) return NOT_FOUND;
    const route = current.routeLabels.at(routeId) as string;
    const policy = current.policies[routeId];
    const redirect = current.redirects[routeId] as number;
    if (scheme === 'http' && (redirect & 1) === 1) {
      return { kind: 'redirect', route, location: `https://${locationHost(host)}${this.#httpsSuffix}${httpsRedirectTarget(target ?? path, (redirect & 2) === 2)}`, policy };
    }
    if (policy !== undefined && policy.balance.length !== 0) return { kind: 'choose', routeId, route, snapshot: current, policy };
    const endpointId = current.balancer.pick(routeId);
    // No ready endpoint: the route's default backend answers, when it has one with an endpoint (ingress-nginx default-backend).
    if (endpointId < 0 && policy?.fallback !== undefined) return this.fallback(current, route, policy, 503) ?? proxyTo(current, routeId, route, policy, endpointId, undefined, undefined);
    return proxyTo(current, routeId, route, policy, endpointId, undefined, undefined);
  }

  /**
   * An endpoint of the route's default backend (`policy.fallback`, a hidden route of `snapshot`)
   * for a request standing in for status `code` (X-Code), or undefined when the route has none or
   * it has no ready endpoint. The decision keeps the route's label and policies.
   */
  fallback(snapshot: LoadedSnapshot, route: string, policy: PreparedPolicy, code: number): ProxyDecision | undefined {
    const plan = policy.fallback;
    if (plan === undefined) return undefined;
    const decision = proxyTo(snapshot, plan.route, route, policy, snapshot.balancer.pick(plan.route), undefined, undefined);
    return decision.kind === 'proxy' ? { ...decision, fallback: code } : undefined;
  }

  /**
   * The endpoint for a `choose` decision once its policies ran (`outcome`, undefined when they
   * did not run): the session cookie's endpoint while it serves the route, else among the
   * backends `outcome.backends` names (undefined: all, by weight), by consistent hashing of
   * `outcome.hash` when set, else round robin; `outcome.picked` hears of a new choice. From the
   * decision's snapshot.
   */
  choose(decision: ChooseDecision, outcome: PolicyOutcome | undefined): ProxyDecision | StatusDecision {
    const { snapshot, routeId } = decision;
    const balancer = snapshot.balancer;
    const backends = outcome?.backends;
    const allowed = backends ?? -1;
    // A session cookie naming a serving endpoint wins over canary rules (ingress-nginx: an affinitized request stays).
    let endpointId = outcome?.sticky === undefined ? -1 : balancer.pickId(routeId, -1, snapshot.endpointByToken(outcome.sticky));
    if (endpointId < 0) {
      const hash = outcome?.hash;
      if (hash !== undefined) endpointId = outcome?.hashSubset === undefined ? balancer.pickHash(routeId, allowed, hash) : balancer.pickHash(routeId, allowed, hash, outcome.hashSubset, (Math.random() * 0x100000000) >>> 0);
      else if (outcome?.leastLoaded === true) endpointId = balancer.pickLeastLoaded(routeId, allowed, (Math.random() * 0x100000000) >>> 0);
      else endpointId = allowed === -1 ? balancer.pick(routeId) : balancer.pickIn(routeId, allowed);
      if (endpointId >= 0) outcome?.picked?.(snapshot.endpointToken(endpointId));
    }
    if (endpointId < 0 && decision.policy.fallback !== undefined) {
      const fallback = this.fallback(snapshot, decision.route, decision.policy, 503);
      if (fallback !== undefined) return fallback;
    }
    return proxyTo(snapshot, routeId, decision.route, decision.policy, endpointId, backends, outcome?.leastLoaded === true && outcome.hash === undefined ? true : undefined);
  }

  /**
   * Another endpoint of the decision's route (from the same snapshot), not the decision's, none
   * of `tried` and, when a newer snapshot was loaded since, none that it removed (a retry is a new
   * request to the endpoint, and a removed one may be a pod whose address is already gone); or
   * undefined when the route has no other healthy endpoint.
   */
  retryPick(decision: ProxyDecision, tried: readonly number[] = []): ProxyDecision | undefined {
    const snapshot = decision.snapshot;
    const matcher = snapshot.balancer;
    const current = this.#current;
    const still = current === undefined || current === snapshot ? undefined : current.endpointIds;
    // Hide the endpoints that failed for one pick, so WRR cannot hand them out again. Written to the
    // balancer, not through snapshot.setHealthy: every one is healthy again before this returns.
    const hidden = [decision.endpointId, ...tried].filter((id, i, all) => all.indexOf(id) === i && matcher.isHealthy(id));
    for (const id of hidden) matcher.setHealthy(id, false);
    const pick = () => (decision.backends === undefined ? matcher.pick(decision.routeId) : matcher.pickIn(decision.routeId, decision.backends));
    let endpointId = pick();
    // Removed since: hidden too, and pick again (each round hides one endpoint of the route, so this ends).
    while (still !== undefined && endpointId >= 0 && endpointId !== snapshot.invalidEndpoint && !still.has(snapshot.endpoints.at(endpointId)!.key)) {
      // Only removed or unhealthy ones are left (health panic hands out unhealthy ones): none to retry on.
      if (!matcher.isHealthy(endpointId) || hidden.includes(endpointId)) {
        endpointId = -1;
        break;
      }
      hidden.push(endpointId);
      matcher.setHealthy(endpointId, false);
      endpointId = pick();
    }
    for (const id of hidden) matcher.setHealthy(id, true);
    if (endpointId < 0 || endpointId === decision.endpointId || tried.includes(endpointId)) return undefined;
    const retry = proxyTo(decision.snapshot, decision.routeId, decision.route, decision.policy, endpointId, decision.backends, decision.measured);
    if (retry.kind !== 'proxy') return undefined;
    return decision.fallback === undefined ? retry : { ...retry, fallback: decision.fallback };
  }

  /** Whether a snapshot loaded since `decision` was made no longer has its endpoint (a new connection to it would be a new request to a removed endpoint). */
  removedSince(decision: ProxyDecision): boolean {
    const current = this.#current;
    return current !== undefined && current !== decision.snapshot && !current.endpointIds.has(decision.endpointKey);
  }

  /**
   * Counts a failed exchange with the endpoint; `connectionLevel` when it could not be connected
   * to (see HealthOptions.ejectOn). Returns true when this failure ejected it.
   */
  reportFailure(endpointKey: string, connectionLevel = true): boolean {
    return this.health.reportFailure(endpointKey, connectionLevel);
  }

  /** Records that the endpoint answered; clears its failure count. */
  reportSuccess(endpointKey: string): void {
    this.health.reportSuccess(endpointKey);
  }

  /** Health of every endpoint of the current snapshot (ejected ones are false). */
  endpointHealth(): { key: string; healthy: boolean }[] {
    const current = this.#current;
    if (current === undefined) return [];
    return current.endpoints.toArray().filter((endpoint) => endpoint.id !== current.invalidEndpoint && !isGap(endpoint)).map((endpoint) => ({ key: endpoint.key, healthy: current.balancer.isHealthy(endpoint.id) }));
  }

  /** Stops health timers; the router keeps answering with what it has. */
  close(): void {
    this.#closed = true;
    this.health.close();
  }

  #applyHealth(key: string): void {
    const current = this.#current;
    const id = current?.endpointIds.get(key);
    if (current !== undefined && id !== undefined) this.#applyHealthTo(current, [id]);
  }

  /** Sets the health flags around `ids` in `snapshot`: ejected endpoints are down unless a set they are in is in panic. */
  #applyHealthTo(snapshot: LoadedSnapshot, ids: readonly number[]): void {
    const health = this.health;
    const ejected = (id: number): boolean => health.isEjected(snapshot.endpoints.at(id)!.key);
    snapshot.endpointSets.apply(ids, ejected, health.panicThresholdPercent, (id, healthy) => snapshot.setHealthy(id, healthy));
  }
}
