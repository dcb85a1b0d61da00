/**
 * The incremental build: the same result as `buildModel`, byte for byte, at a cost that follows
 * the change. Everything the build decides is decided per host (build/index.ts `settleHost`), so
 * the builder keeps, across builds:
 *
 * - each served Ingress's derivation (routes, default backends, TLS claims, conditions) with the
 *   partitions (hosts) it claims, the endpoint-set keys it resolved, the certificate uses it made
 *   and the Services and Secrets it read (misses included, ClusterState `recordReads`);
 * - the same for each Gateway Portico serves (its view: listeners, their certificates and
 *   conditions, re-made when the Gateway, its class, its own address or a Secret or ReferenceGrant
 *   lookup it read changes) and for each HTTPRoute and GRPCRoute (re-derived when the route
 *   changes, a Gateway it names is re-made, or a Service, Secret, Namespace or ReferenceGrant
 *   lookup it read changes), with the listeners each route attached to, so per-listener
 *   `attachedRoutes` counts and the status lists follow one route at a time;
 * - for every host, the derivations that claim it, what its claims settled into, and the endpoint
 *   sets settling it looked up (auth-url endpoints are part of a route's policies);
 * - per name a settled host's claims ask for as a server-alias or www redirect, who asks and what
 *   that decided (HostAliasIndex): decided again only for the names a re-settled host asks for or
 *   is, and patched into the host list like any host.
 *
 * A build takes ClusterState's journal of changed keys and re-derives the changed Ingresses,
 * Gateways and routes and the derivations that read a changed Service, Secret, ConfigMap,
 * Namespace, GatewayClass or ReferenceGrant lookup, re-settles only the hosts they claimed
 * before or claim now and the hosts that looked up a set whose endpoints changed, and recomputes
 * the endpoint sets of Services whose Service object or EndpointSlices changed. An IngressClass
 * change re-derives the Ingresses that name that class, and the class-less ones when whether a
 * default class is Portico's flips. Whether any Gateway is served at all flipping re-derives
 * every route (without one, routes are not read: buildGateway). All derivations concerned are
 * released before any is derived again, so a certificate is read afresh once no use holds it.
 * Unchanged hosts, endpoint sets and certificates keep their model objects, so the compile stage
 * recognises them by identity.
 */
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import type { DefaultRoute, EndpointSet, VirtualHost } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { SECTIONS, lowerBound, mergeSorted } from '../snapshot/order.ts';
import { EndpointSets } from './backends.ts';
import type { GatewayApiStatus, GatewayRouteStatus, GatewayStatusEntry, ListenerContribution, RouteContribution } from './gateway/index.ts';
import { ROUTE_READ_ORDER, gatewayClassStatuses, gatewayOfListener, gatewayStatusOf, readGatewayListeners, readGatewayRoute, routesOf } from './gateway/index.ts';
import type { GatewayView, RouteKind } from './gateway/listeners.ts';
import { DEFAULT_GATEWAY_PORTS, assignGatewayAddresses, ownsClass, viewGateway } from './gateway/listeners.ts';
import type { StateReads } from '../state/cluster-state.ts';
import { compareStrings } from '../state/cluster-state.ts';
import type { BuildOptions, BuildResult, HostClaims, HostOutcome, SetLookup } from './index.ts';
import { CATCH_ALL, addClaims, claimLists, claimsByPartition, settleHost, sortClaims } from './index.ts';
import { HostAliasIndex } from './host-alias-index.ts';
import type { ClassSelection } from './ingress-class.ts';
import { defaultClassServed, requestedClass, servesIngress } from './ingress-class.ts';
import type { IngressContribution, UseCertificate } from './ingress.ts';
import { readIngress } from './ingress.ts';
import { CertificateBook } from './tls.ts';
import { ListEdits } from '../model/list-edits.ts';
import type { MemberIndex } from '../state/member-index.ts';
import { addMember, membersOf, removeMember } from '../state/member-index.ts';

/** One certificate use of a derivation that returned a key, released when the Ingress is re-derived. */
interface CertificateUse {
  readonly namespace: string;
  readonly name: string;
  readonly hosts: readonly string[];
}

const GATEWAY_PREFIX = '\0gateway\0';
/** The derivation key of Gateway `namespace/name` (no Ingress key starts with a NUL). */
const gatewayDerivation = (key: string): string => `${GATEWAY_PREFIX}${key}`;
const ROUTE_PREFIX = '\0route\0';
/** The derivation key of a route of `kind` at `namespace/name`. */
const routeDerivation = (kind: RouteKind, key: string): string => `${ROUTE_PREFIX}${kind}\0${key}`;

/** Which recorded reads a change of each kind concerns (the journal's keys are the recorded keys). */
const READ_KINDS: readonly (readonly [KubeObject['kind'], keyof StateReads])[] = [
  ['Service', 'services'],
  ['Secret', 'secrets'],
  ['ConfigMap', 'configMaps'],
  ['Namespace', 'namespaces'],
  ['GatewayClass', 'gatewayClasses'],
  ['ReferenceGrant', 'referenceGrants'],
];

const NO_LISTENERS: ListenerContribution = { routes: [], tls: [], anyHostCertificates: [], conditions: [] };
const NO_ROUTE: RouteContribution = { routes: [], tls: [], anyHostCertificates: [], conditions: [], attached: [], status: undefined };

/** The class index entry of Ingresses that name no class (no class name is empty). */
const NO_CLASS = '';

const NO_GATEWAY_STATUS: GatewayApiStatus = { classes: [], gateways: [], routes: [] };

type Contribution = IngressContribution | RouteContribution | ListenerContribution;

/** What releasing a derivation needs of its contribution (its claims are kept in `partitions`). */
interface Kept {
  readonly conditions: readonly Condition[];
  /** A route's: `listenerKey` of every listener it attached to, once per attachment. */
  readonly attached: readonly string[];
  readonly status: GatewayRouteStatus | undefined;
}

interface Derivation {
  /** NO_KEPT when it has no condition, attachment or status (most Ingresses). */
  readonly contribution: Kept;
  /**
   * The contribution's claims by the partition (host) they fall in: for a derivation that claims
   * one partition (most Ingresses), that partition's name, its claims in `claims`; a Map and its
   * table per derivation were ~8 MB of heap at 50k Ingresses.
   */
  readonly partitions: string | ReadonlyMap<string, HostClaims>;
  /** The claims of the one partition when `partitions` names it; else undefined. */
  readonly claims: HostClaims | undefined;
  readonly setKeys: readonly string[];
  readonly certificates: readonly CertificateUse[];
  /** What it read: pairs of the kind of read (a key of StateReads) and the key read (one flat list: most derivations read one or two keys). */
  readonly reads: readonly string[];
  /** A route's: the Gateway keys its parentRefs looked up (found or not). */
  readonly gateways: ReadonlySet<string>;
}

/** Route status entries in the order the processor lists them: kind (ROUTE_READ_ORDER), then namespace/name. */
function compareRouteStatus(a: GatewayRouteStatus, b: GatewayRouteStatus): number {
  return ROUTE_READ_ORDER.indexOf(a.kind) - ROUTE_READ_ORDER.indexOf(b.kind) || compareStrings(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`);
}

/** What an incremental build returns: the model and conditions, and what it had to redo. */
export interface IncrementalBuildResult extends BuildResult {
  /** True when nothing but EndpointSlices changed since the last build: nothing was re-derived, and only hosts whose auth-url endpoints moved were re-settled. */
  readonly endpointOnly: boolean;
}

/** The incremental build over one ClusterState (it consumes the state's change journal). */
export class IncrementalBuild {
  private readonly state: ClusterState;
  private readonly selection: ClassSelection;
  private readonly options: BuildOptions;
  private primed = false;
  private derivations = new Map<string, Derivation>();
  private claimants: MemberIndex = new Map();
  /** Per kind of recorded read, per key read, the derivations that read it. */
  private readers = newReaders();
  /** Per Gateway key, the route derivations that looked it up. */
  private gatewayReaders: MemberIndex = new Map();
  /** The Gateways Portico serves, by key, and the own addresses assigned to them. */
  private views = new Map<string, GatewayView>();
  private addresses = new Map<string, string>();
  /** Routes attached per listener (`listenerKey`). */
  private attached = new Map<string, number>();
  /** Status: classes, each served Gateway's entry (and the list by key), every route's entry sorted. */
  private classStatuses: GatewayApiStatus['classes'] = [];
  private gatewayStatuses = new Map<string, GatewayStatusEntry>();
  private gatewayStatusList: readonly GatewayStatusEntry[] = [];
  private routeStatuses: GatewayRouteStatus[] = [];
  /** The copy of `routeStatuses` the last result handed out, while none changed since (undefined: make one). */
  private routeStatusesOut: readonly GatewayRouteStatus[] | undefined;
  /** Gateways whose status entry must be made again (view re-made or attachedRoutes moved). */
  private gatewayStatusDirty = new Set<string>();
  private outcomes = new Map<string, HostOutcome>();
  /** Per host, the endpoint-set keys its settling looked up; and per set key, those hosts. */
  private lookups = new Map<string, Set<string>>();
  private lookedUpBy: MemberIndex = new Map();
  /** The alias and www-redirect hosts the settled hosts' claims ask for, patched per settled host. */
  private aliases: HostAliasIndex;
  /** Every settled virtual host and every alias and www-redirect host, sorted by compareHosts of their hosts. */
  private virtualHosts: VirtualHost[] = [];
  /** The copy of `virtualHosts` the last result handed out, while no host changed since (undefined: make one). */
  private virtualHostsOut: readonly VirtualHost[] | undefined;
  /** Where `virtualHosts` was patched since that copy: compile follows the change instead of comparing every host. */
  private hostEdits = new ListEdits<VirtualHost>();
  /** Every condition of the derivations and outcomes as of the last result, sorted (never changed in place: results hand it out). */
  private conditions: readonly Condition[] = [];
  /** Conditions dropped (with how many times) and added since then, merged in by `result`. */
  private conditionsGone = new Map<Condition, number>();
  private conditionsNew: Condition[] = [];
  private sets: EndpointSets;
  private setRefs = new Map<string, number>();
  private certificates: CertificateBook;
  /** Every Ingress key (served or not) by the class it names (NO_CLASS for none), and each key's class. */
  private byClass: MemberIndex = new Map();
  private classOf = new Map<string, string>();
  /** `defaultClassServed` as of the last build. */
  private defaultServed = false;
  /** Derivations and host settlements made so far, builds that started afresh, and alias names decided again (HostAliasIndex). */
  readonly stats = { derived: 0, settled: 0, fresh: 0, aliasNames: 0, aliasRequests: 0 };

  constructor(state: ClusterState, selection: ClassSelection, options: BuildOptions = {}) {
    this.state = state;
    this.selection = selection;
    this.options = options;
    this.sets = new EndpointSets(state);
    this.certificates = new CertificateBook(state);
    this.aliases = this.newAliasIndex();
  }

  /** Brings the model up to date with the state's changes since the last build. */
  build(): IncrementalBuildResult {
    const changes = this.state.takeChanges();
    const dirty = new Set<string>();
    const dirtyHosts = new Set<string>();
    const dirtyGateways = new Set<string>();
    const endpointOnly = this.primed && changes.size === 1 && changes.has('EndpointSlice');
    const ports = this.options.gatewayPorts ?? DEFAULT_GATEWAY_PORTS;
    const hadGateways = this.views.size > 0;
    if (!this.primed) {
      this.reset();
      for (const key of this.state.ingresses.keys()) {
        dirty.add(key);
        this.classify(key);
      }
      this.defaultServed = defaultClassServed(this.state, this.selection);
      for (const key of this.state.gateways.keys()) dirtyGateways.add(key);
      for (const kind of ROUTE_READ_ORDER) for (const key of routesOf(this.state, kind).keys()) dirty.add(routeDerivation(kind, key));
      this.classStatuses = gatewayClassStatuses(this.state);
    } else {
      for (const key of changes.get('Ingress') ?? []) {
        dirty.add(key);
        this.classify(key);
      }
      if (changes.has('IngressClass')) this.classesChanged(changes.get('IngressClass')!, dirty);
      for (const key of changes.get('Gateway') ?? []) dirtyGateways.add(key);
      for (const kind of ROUTE_READ_ORDER) for (const key of changes.get(kind) ?? []) dirty.add(routeDerivation(kind, key));
      for (const [kind, read] of READ_KINDS) {
        for (const key of changes.get(kind) ?? []) {
          for (const reader of membersOf(this.readers[read], key)) {
            if (reader.startsWith(GATEWAY_PREFIX)) dirtyGateways.add(reader.slice(GATEWAY_PREFIX.length));
            else dirty.add(reader);
          }
        }
      }
      if (changes.has('GatewayClass')) this.classStatuses = gatewayClassStatuses(this.state);
    }
    // Own addresses depend on every Gateway (oldest first) and on the status each shows: re-assigned every build, cheap (Gateways are few).
    if ((ports.addresses ?? []).length > 0) {
      const addresses = assignGatewayAddresses(this.state, ports.addresses ?? []);
      for (const key of new Set([...addresses.keys(), ...this.addresses.keys()])) if (addresses.get(key) !== this.addresses.get(key)) dirtyGateways.add(key);
      this.addresses = addresses;
    }
    // A re-made Gateway re-derives every route that names it (attachment, hosts, listener certificates).
    for (const key of dirtyGateways) for (const reader of membersOf(this.gatewayReaders, key)) dirty.add(reader);
    // Without any Gateway Portico serves, routes are not read at all (buildGateway): a flip concerns every route.
    if (this.primed && (changes.has('Gateway') || changes.has('GatewayClass')) && hadGateways !== this.servesAnyGateway()) for (const kind of ROUTE_READ_ORDER) for (const key of routesOf(this.state, kind).keys()) dirty.add(routeDerivation(kind, key));
    // Everything is released before anything is derived again: a certificate (CertificateBook) is read afresh only once no derivation holds it.
    for (const key of dirtyGateways) this.release(gatewayDerivation(key), dirtyHosts);
    for (const key of dirty) this.release(key, dirtyHosts);
    for (const key of dirtyGateways) this.deriveGateway(key, ports, dirtyHosts);
    const changedSets = new Set<string>();
    for (const key of changes.get('Service') ?? []) this.sets.refreshService(key, changedSets);
    for (const key of changes.get('EndpointSlice') ?? []) this.sets.refreshService(key, changedSets);
    for (const key of changedSets) for (const host of membersOf(this.lookedUpBy, key)) dirtyHosts.add(host);
    for (const key of dirty) {
      if (key.startsWith(ROUTE_PREFIX)) {
        this.deriveRoute(key, dirtyHosts);
        continue;
      }
      const ingress = this.state.ingresses.get(key);
      if (ingress !== undefined && servesIngress(ingress, this.state, this.selection)) this.derive(key, (sets, useCertificate) => readIngress(ingress, this.state, sets, useCertificate), dirtyHosts);
    }
    for (const host of dirtyHosts) this.settle(host);
    // Aliases depend on other hosts (a name already served is not an alias): decided again only for the names the settled hosts touch.
    this.aliases.refresh({
      placed: (name) => dirtyHosts.add(name),
      dropped: (conditions) => this.dropConditions(conditions),
      added: (conditions) => {
        for (const condition of conditions) this.conditionsNew.push(condition);
      },
    });
    for (const host of dirtyHosts) this.place(host);
    this.settleGatewayStatuses();
    return { ...this.result(), endpointOnly };
  }

  /** Whether some Gateway in the state is of a GatewayClass Portico serves (`viewGateway` would view it). */
  private servesAnyGateway(): boolean {
    for (const gateway of this.state.gateways.values()) if (ownsClass(this.state, gateway.spec.gatewayClassName) !== undefined) return true;
    return false;
  }

  /** Re-makes the view of Gateway `key` (absent when not served) and what its listeners contribute. */
  private deriveGateway(key: string, ports: NonNullable<BuildOptions['gatewayPorts']>, dirtyHosts: Set<string>): void {
    let view: GatewayView | undefined;
    this.derive(
      gatewayDerivation(key),
      (_sets, useCertificate) => {
        view = viewGateway(this.state, key, ports, this.addresses.get(key));
        return view === undefined ? NO_LISTENERS : readGatewayListeners(view, useCertificate);
      },
      dirtyHosts,
    );
    if (view === undefined) this.views.delete(key);
    else this.views.set(key, view);
    this.gatewayStatusDirty.add(key);
  }

  /** Derives route derivation `key` (`routeDerivation`) against the current Gateway views, when the route exists. */
  private deriveRoute(key: string, dirtyHosts: Set<string>): void {
    const [kind, routeKey] = key.slice(ROUTE_PREFIX.length).split('\0') as [RouteKind, string];
    const route = routesOf(this.state, kind).get(routeKey);
    if (route === undefined) return;
    const gateways = new Set<string>();
    const lookup = {
      get: (gateway: string): GatewayView | undefined => {
        gateways.add(gateway);
        return this.views.get(gateway);
      },
    };
    const contribution = this.derive(key, (sets, useCertificate) => (this.views.size === 0 ? NO_ROUTE : readGatewayRoute(this.state, lookup, sets, useCertificate, kind, route)), dirtyHosts, gateways) as RouteContribution;
    for (const gateway of gateways) addMember(this.gatewayReaders, gateway, key);
    for (const listener of contribution.attached) {
      this.attached.set(listener, (this.attached.get(listener) ?? 0) + 1);
      this.gatewayStatusDirty.add(gatewayOfListener(listener));
    }
    if (contribution.status !== undefined) {
      this.routeStatuses.splice(lowerBoundBy(this.routeStatuses, contribution.status, compareRouteStatus), 0, contribution.status);
      this.routeStatusesOut = undefined;
    }
  }

  /** Makes again the status entries of Gateways whose view or attachedRoutes counts moved. */
  private settleGatewayStatuses(): void {
    if (this.gatewayStatusDirty.size === 0) return;
    for (const key of this.gatewayStatusDirty) {
      const view = this.views.get(key);
      if (view === undefined) this.gatewayStatuses.delete(key);
      else this.gatewayStatuses.set(key, gatewayStatusOf(view, (listener) => this.attached.get(listener) ?? 0));
    }
    this.gatewayStatusDirty = new Set();
    this.gatewayStatusList = [...this.gatewayStatuses.keys()].sort(compareStrings).map((key) => this.gatewayStatuses.get(key)!);
  }

  /** Files Ingress `key` in the class index under the class it names now (or drops it when gone). */
  private classify(key: string): void {
    const before = this.classOf.get(key);
    const ingress = this.state.ingresses.get(key);
    const now = ingress === undefined ? undefined : (requestedClass(ingress) ?? NO_CLASS);
    if (before === now) return;
    if (before !== undefined) removeMember(this.byClass, before, key);
    if (now === undefined) this.classOf.delete(key);
    else {
      this.classOf.set(key, now);
      addMember(this.byClass, now, key);
    }
  }

  /** Marks dirty the Ingresses whose served-ness the changed IngressClasses `names` can change. */
  private classesChanged(names: ReadonlySet<string>, dirty: Set<string>): void {
    for (const name of names) for (const key of membersOf(this.byClass, name)) dirty.add(key);
    const served = defaultClassServed(this.state, this.selection);
    if (served !== this.defaultServed && !this.selection.watchWithoutClass) for (const key of membersOf(this.byClass, NO_CLASS)) dirty.add(key);
    this.defaultServed = served;
  }

  private reset(): void {
    if (this.primed) this.stats.fresh++;
    this.primed = true;
    this.derivations = new Map();
    this.claimants = new Map();
    this.readers = newReaders();
    this.gatewayReaders = new Map();
    this.views = new Map();
    this.addresses = new Map();
    this.attached = new Map();
    this.classStatuses = [];
    this.gatewayStatuses = new Map();
    this.gatewayStatusList = [];
    this.routeStatuses = [];
    this.routeStatusesOut = undefined;
    this.gatewayStatusDirty = new Set();
    this.outcomes = new Map();
    this.lookups = new Map();
    this.lookedUpBy = new Map();
    this.aliases = this.newAliasIndex();
    this.virtualHosts = [];
    this.virtualHostsOut = undefined;
    this.hostEdits = new ListEdits();
    this.conditions = [];
    this.conditionsGone = new Map();
    this.conditionsNew = [];
    this.sets = new EndpointSets(this.state);
    this.setRefs = new Map();
    this.certificates = new CertificateBook(this.state);
    this.byClass = new Map();
    this.classOf = new Map();
  }

  /** Undoes everything the derivation of Ingress `key` registered; the hosts it claimed become dirty. */
  private release(key: string, dirtyHosts: Set<string>): void {
    const derivation = this.derivations.get(key);
    if (derivation === undefined) return;
    this.derivations.delete(key);
    this.dropConditions(derivation.contribution.conditions);
    for (const host of partitionsOf(derivation)) {
      removeMember(this.claimants, host, key);
      dirtyHosts.add(host);
    }
    for (let i = 0; i < derivation.reads.length; i += 2) removeMember(this.readers[derivation.reads[i] as keyof StateReads], derivation.reads[i + 1]!, key);
    for (const gateway of derivation.gateways) removeMember(this.gatewayReaders, gateway, key);
    if (key.startsWith(ROUTE_PREFIX)) {
      const route = derivation.contribution;
      for (const listener of route.attached) {
        const count = this.attached.get(listener)! - 1;
        if (count > 0) this.attached.set(listener, count);
        else this.attached.delete(listener);
        this.gatewayStatusDirty.add(gatewayOfListener(listener));
      }
      if (route.status !== undefined) {
        this.routeStatuses.splice(lowerBoundBy(this.routeStatuses, route.status, compareRouteStatus), 1);
        this.routeStatusesOut = undefined;
      }
    }
    for (const setKey of derivation.setKeys) {
      const refs = this.setRefs.get(setKey)! - 1;
      if (refs > 0) this.setRefs.set(setKey, refs);
      else {
        this.setRefs.delete(setKey);
        this.sets.drop(setKey);
      }
    }
    for (const use of derivation.certificates) this.certificates.release(use.namespace, use.name, use.hosts);
  }

  /** Runs `read` as derivation `key` (its reads recorded) and registers what it contributes; returns the contribution. */
  private derive(key: string, read: (sets: EndpointSets, useCertificate: UseCertificate) => Contribution, dirtyHosts: Set<string>, gateways: ReadonlySet<string> = NO_KEYS): Contribution {
    const setKeys: string[] = [];
    const certificates: CertificateUse[] = [];
    const useCertificate: UseCertificate = (namespace, name, hosts, source, field, conditions) => {
      const used = this.certificates.use(namespace, name, hosts, source, field, conditions);
      if (used !== undefined) certificates.push({ namespace, name, hosts });
      return used;
    };
    this.sets.record(setKeys);
    let recorded;
    try {
      recorded = this.state.recordReads(() => read(this.sets, useCertificate));
    } finally {
      this.sets.record(undefined);
    }
    const contribution = recorded.result;
    for (const condition of contribution.conditions) this.conditionsNew.push(condition);
    for (const setKey of setKeys) this.setRefs.set(setKey, (this.setRefs.get(setKey) ?? 0) + 1);
    const byPartition = claimsByPartition(contribution);
    for (const host of byPartition.keys()) {
      addMember(this.claimants, host, key);
      dirtyHosts.add(host);
    }
    const reads: string[] = [];
    for (const [, read] of READ_KINDS) {
      for (const read_ of recorded.reads[read]) {
        addMember(this.readers[read], read_, key);
        reads.push(read, read_);
      }
    }
    // Only what release needs is kept: the claims live on in `partitions`, each list at its own length; empty lists are shared.
    const attached = 'attached' in contribution && contribution.attached.length > 0 ? contribution.attached : NO_STRINGS;
    const status = 'status' in contribution ? contribution.status : undefined;
    const kept: Kept = contribution.conditions.length === 0 && attached === NO_STRINGS && status === undefined ? NO_KEPT : { conditions: contribution.conditions.length === 0 ? NO_STRINGS : contribution.conditions, attached, status };
    const [only] = byPartition.size === 1 ? byPartition : [];
    const partitions = only === undefined ? byPartition : only[0];
    this.derivations.set(key, { contribution: kept, partitions, claims: only?.[1], setKeys: setKeys.length === 0 ? NO_STRINGS : setKeys.slice(), certificates: certificates.length === 0 ? NO_USES : certificates, reads: reads.length === 0 ? NO_STRINGS : reads.slice(), gateways });
    this.stats.derived++;
    return contribution;
  }

  /** Settles `host` again from the claims of the derivations that claim it now. */
  private settle(host: string): void {
    const claims = claimLists();
    for (const key of membersOf(this.claimants, host)) addClaims(claims, claimsOn(this.derivations.get(key)!, host));
    for (const key of this.lookups.get(host) ?? []) removeMember(this.lookedUpBy, key, host);
    const lookups = new Set<string>();
    const lookup: SetLookup = {
      get: (key: string): EndpointSet | undefined => {
        lookups.add(key);
        return this.sets.get(key);
      },
    };
    const before = this.outcomes.get(host);
    const outcome = settleHost(host, sortClaims(claims), lookup);
    if (lookups.size > 0) this.lookups.set(host, lookups);
    else this.lookups.delete(host);
    for (const key of lookups) addMember(this.lookedUpBy, key, host);
    this.stats.settled++;
    const claimed = this.claimants.has(host);
    if (claimed) this.outcomes.set(host, outcome);
    else this.outcomes.delete(host);
    if (before !== undefined) this.dropConditions(before.conditions);
    if (claimed) for (const condition of outcome.conditions) this.conditionsNew.push(condition);
    // A host nobody claims serves nothing, so it asks for no name (the index ignores its claims).
    this.aliases.settle(host, claimed ? outcome.virtualHost : undefined, outcome.aliasClaims);
  }

  /** `virtualHosts` patched (and the edit noted) to hold what serves `name` now: its settled host, else its alias or www-redirect host, else nothing. */
  private place(name: string): void {
    if (name === CATCH_ALL) return;
    const want = this.outcomes.get(name)?.virtualHost ?? this.aliases.hostOf(name);
    const at = lowerBound(this.virtualHosts, name, SECTIONS.hosts.keyOf, SECTIONS.hosts.compare);
    const have = this.virtualHosts[at]?.host === name ? this.virtualHosts[at] : undefined;
    if (have === want) return;
    this.virtualHostsOut = undefined;
    if (have !== undefined && want !== undefined) this.virtualHosts[at] = want;
    else if (want !== undefined) this.virtualHosts.splice(at, 0, want);
    else this.virtualHosts.splice(at, 1);
    this.hostEdits.note(have !== undefined && want !== undefined ? 'set' : want !== undefined ? 'insert' : 'remove', at, this.virtualHosts.length);
  }

  /** An empty alias index over the settled hosts, counting its work in `stats`. */
  private newAliasIndex(): HostAliasIndex {
    return new HostAliasIndex((host) => this.outcomes.get(host)?.virtualHost, this.stats);
  }

  private dropConditions(conditions: readonly Condition[]): void {
    for (const condition of conditions) this.conditionsGone.set(condition, (this.conditionsGone.get(condition) ?? 0) + 1);
  }

  private result(): BuildResult {
    if (this.conditionsGone.size > 0 || this.conditionsNew.length > 0) {
      // A merge of what changed, not a sort of every condition: a change costs a pass over the list.
      this.conditions = mergeSorted(dropFrom(this.conditions, this.conditionsGone), this.conditionsNew.sort(compareConditions), compareConditions);
      this.conditionsGone = new Map();
      this.conditionsNew = [];
    }
    const defaultRoute: DefaultRoute | undefined = this.outcomes.get(CATCH_ALL)?.catchAll;
    // The same list as last time when no host changed (an endpoint change): compile knows it by identity.
    const virtualHosts = (this.virtualHostsOut ??= this.hostEdits.copy(this.virtualHosts));
    return {
      model: { virtualHosts, defaultRoute, endpointSets: this.sets.all(), certificates: this.certificates.all() },
      conditions: this.conditions,
      gateway: this.classStatuses.length + this.gatewayStatusList.length + this.routeStatuses.length === 0 ? NO_GATEWAY_STATUS : { classes: this.classStatuses, gateways: this.gatewayStatusList, routes: (this.routeStatusesOut ??= this.routeStatuses.slice()) },
    };
  }
}

const NO_KEYS: ReadonlySet<string> = new Set();
/** Shared empty lists a derivation keeps (frozen: kept lists are only read). */
const NO_STRINGS: readonly never[] = Object.freeze([]);
const NO_USES: readonly CertificateUse[] = NO_STRINGS;
/** What a derivation without conditions, attachments or status keeps (one shared object). */
const NO_KEPT: Kept = Object.freeze({ conditions: NO_STRINGS, attached: NO_STRINGS, status: undefined });

/** The partitions (hosts) `derivation` claims. */
function partitionsOf(derivation: Derivation): Iterable<string> {
  return typeof derivation.partitions === 'string' ? [derivation.partitions] : derivation.partitions.keys();
}

/** The claims `derivation` makes on `host` (a partition it claims). */
function claimsOn(derivation: Derivation, host: string): HostClaims {
  return typeof derivation.partitions === 'string' ? derivation.claims! : derivation.partitions.get(host)!;
}

function newReaders(): Record<keyof StateReads, MemberIndex> {
  return { services: new Map(), secrets: new Map(), configMaps: new Map(), namespaces: new Map(), gatewayClasses: new Map(), referenceGrants: new Map() };
}

/** The first index in `sorted` whose entry is not before `entry` by `compare`. */
function lowerBoundBy<T>(sorted: readonly T[], entry: T, compare: (a: T, b: T) => number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compare(sorted[mid]!, entry) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** `sorted` without the conditions in `gone` (each as many times as counted there). */
function dropFrom(sorted: readonly Condition[], gone: Map<Condition, number>): readonly Condition[] {
  if (gone.size === 0) return sorted;
  return sorted.filter((condition) => {
    const count = gone.get(condition);
    if (count === undefined) return true;
    if (count === 1) gone.delete(condition);
    else gone.set(condition, count - 1);
    return false;
  });
}

