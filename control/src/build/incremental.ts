/**
 * The incremental build: the same result as `buildModel`, byte for byte, at a cost that follows
 * the change. Everything the build decides is decided per host (build/index.ts `settleHost`), so
 * the builder keeps, across builds:
 *
 * - each served Ingress's derivation (routes, default backends, TLS claims, conditions) with the
 *   partitions (hosts) it claims, the endpoint-set keys it resolved, the certificate uses it made
 *   and the Services and Secrets it read (misses included, ClusterState `recordReads`);
 * - the same for the Gateway processor as a whole (one derivation, re-run when any Gateway API
 *   object or Namespace changes, or a Service or Secret it read);
 * - for every host, the derivations that claim it, what its claims settled into, and the endpoint
 *   sets settling it looked up (auth-url endpoints are part of a route's policies).
 *
 * A build takes ClusterState's journal of changed keys and re-derives the changed Ingresses and
 * the derivations that read a changed Service, Secret or ConfigMap, re-settles only the hosts they claimed
 * before or claim now and the hosts that looked up a set whose endpoints changed, and recomputes
 * the endpoint sets of Services whose Service object or EndpointSlices changed. An IngressClass
 * change re-derives the Ingresses that name that class, and the class-less ones when whether a
 * default class is Portico's flips.
 * Unchanged hosts, endpoint sets and certificates keep their model objects, so the compile stage
 * recognises them by identity.
 */
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import type { DefaultRoute, EndpointSet, VirtualHost } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { compareHosts } from '../snapshot/order.ts';
import { EndpointSets } from './backends.ts';
import type { GatewayApiStatus, GatewayContribution } from './gateway/index.ts';
import type { BuildOptions, BuildResult, ClaimLists, HostOutcome, SetLookup } from './index.ts';
import { CATCH_ALL, addClaims, applyHostAliases, claimLists, claimsByPartition, readGateways, settleHost, sortClaims } from './index.ts';
import type { ClassSelection } from './ingress-class.ts';
import { defaultClassServed, requestedClass, servesIngress } from './ingress-class.ts';
import type { IngressContribution, UseCertificate } from './ingress.ts';
import { readIngress } from './ingress.ts';
import { CertificateBook } from './tls.ts';

/** One certificate use of a derivation that returned a key, released when the Ingress is re-derived. */
interface CertificateUse {
  readonly namespace: string;
  readonly name: string;
  readonly hosts: readonly string[];
}

/** The derivation key of the Gateway processor (no Ingress key starts with a NUL). */
const GATEWAY = '\0gateway';

/** Kinds only the Gateway processor reads. */
const GATEWAY_KINDS: readonly KubeObject['kind'][] = ['GatewayClass', 'Gateway', 'HTTPRoute', 'GRPCRoute', 'ReferenceGrant', 'Namespace'];

/** The class index entry of Ingresses that name no class (no class name is empty). */
const NO_CLASS = '';

const NO_GATEWAY_STATUS: GatewayApiStatus = { classes: [], gateways: [], routes: [] };

interface Derivation {
  readonly contribution: IngressContribution | GatewayContribution;
  /** The contribution's claims by the partition (host) they fall in. */
  readonly partitions: ReadonlyMap<string, ClaimLists>;
  readonly setKeys: readonly string[];
  readonly certificates: readonly CertificateUse[];
  readonly services: ReadonlySet<string>;
  readonly secrets: ReadonlySet<string>;
  readonly configMaps: ReadonlySet<string>;
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
  private claimants = new Map<string, Set<string>>();
  private serviceReaders = new Map<string, Set<string>>();
  private secretReaders = new Map<string, Set<string>>();
  private configMapReaders = new Map<string, Set<string>>();
  private outcomes = new Map<string, HostOutcome>();
  /** Per host, the endpoint-set keys its settling looked up; and per set key, those hosts. */
  private lookups = new Map<string, Set<string>>();
  private lookedUpBy = new Map<string, Set<string>>();
  /** Hosts with a winning claim that asks for server aliases or a www redirect. */
  private aliasHosts = new Set<string>();
  /** Every settled virtual host, sorted by compareHosts of their hosts. */
  private virtualHosts: VirtualHost[] = [];
  /** Every condition of the derivations and outcomes as of the last result, sorted (never changed in place: results hand it out). */
  private conditions: readonly Condition[] = [];
  /** Conditions dropped (with how many times) and added since then, merged in by `result`. */
  private conditionsGone = new Map<Condition, number>();
  private conditionsNew: Condition[] = [];
  private sets: EndpointSets;
  private setRefs = new Map<string, number>();
  private certificates: CertificateBook;
  /** Every Ingress key (served or not) by the class it names (NO_CLASS for none), and each key's class. */
  private byClass = new Map<string, Set<string>>();
  private classOf = new Map<string, string>();
  /** `defaultClassServed` as of the last build. */
  private defaultServed = false;
  /** Derivations and host settlements made so far, and builds that started afresh. */
  readonly stats = { derived: 0, settled: 0, fresh: 0 };

  constructor(state: ClusterState, selection: ClassSelection, options: BuildOptions = {}) {
    this.state = state;
    this.selection = selection;
    this.options = options;
    this.sets = new EndpointSets(state);
    this.certificates = new CertificateBook(state);
  }

  /** Brings the model up to date with the state's changes since the last build. */
  build(): IncrementalBuildResult {
    const changes = this.state.takeChanges();
    const dirty = new Set<string>();
    const dirtyHosts = new Set<string>();
    const endpointOnly = this.primed && changes.size === 1 && changes.has('EndpointSlice');
    if (!this.primed) {
      this.reset();
      for (const key of this.state.ingresses.keys()) {
        dirty.add(key);
        this.classify(key);
      }
      this.defaultServed = defaultClassServed(this.state, this.selection);
      dirty.add(GATEWAY);
    } else {
      if (GATEWAY_KINDS.some((kind) => changes.has(kind))) dirty.add(GATEWAY);
      for (const key of changes.get('Ingress') ?? []) {
        dirty.add(key);
        this.classify(key);
      }
      if (changes.has('IngressClass')) this.classesChanged(changes.get('IngressClass')!, dirty);
      for (const key of changes.get('Service') ?? []) for (const reader of this.serviceReaders.get(key) ?? []) dirty.add(reader);
      for (const key of changes.get('Secret') ?? []) for (const reader of this.secretReaders.get(key) ?? []) dirty.add(reader);
      for (const key of changes.get('ConfigMap') ?? []) for (const reader of this.configMapReaders.get(key) ?? []) dirty.add(reader);
    }
    for (const key of dirty) this.release(key, dirtyHosts);
    const changedSets = new Set<string>();
    for (const key of changes.get('Service') ?? []) this.sets.refreshService(key, changedSets);
    for (const key of changes.get('EndpointSlice') ?? []) this.sets.refreshService(key, changedSets);
    for (const key of changedSets) for (const host of this.lookedUpBy.get(key) ?? []) dirtyHosts.add(host);
    for (const key of dirty) {
      if (key === GATEWAY) {
        this.derive(key, (sets, useCertificate) => readGateways(this.state, sets, useCertificate, this.options), dirtyHosts);
        continue;
      }
      const ingress = this.state.ingresses.get(key);
      if (ingress !== undefined && servesIngress(ingress, this.state, this.selection)) this.derive(key, (sets, useCertificate) => readIngress(ingress, this.state, sets, useCertificate), dirtyHosts);
    }
    for (const host of dirtyHosts) this.settle(host);
    return { ...this.result(), endpointOnly };
  }

  /** Files Ingress `key` in the class index under the class it names now (or drops it when gone). */
  private classify(key: string): void {
    const before = this.classOf.get(key);
    const ingress = this.state.ingresses.get(key);
    const now = ingress === undefined ? undefined : (requestedClass(ingress) ?? NO_CLASS);
    if (before === now) return;
    if (before !== undefined) unindex(this.byClass, before, key);
    if (now === undefined) this.classOf.delete(key);
    else {
      this.classOf.set(key, now);
      index(this.byClass, now, key);
    }
  }

  /** Marks dirty the Ingresses whose served-ness the changed IngressClasses `names` can change. */
  private classesChanged(names: ReadonlySet<string>, dirty: Set<string>): void {
    for (const name of names) for (const key of this.byClass.get(name) ?? []) dirty.add(key);
    const served = defaultClassServed(this.state, this.selection);
    if (served !== this.defaultServed && !this.selection.watchWithoutClass) for (const key of this.byClass.get(NO_CLASS) ?? []) dirty.add(key);
    this.defaultServed = served;
  }

  private reset(): void {
    if (this.primed) this.stats.fresh++;
    this.primed = true;
    this.derivations = new Map();
    this.claimants = new Map();
    this.serviceReaders = new Map();
    this.secretReaders = new Map();
    this.configMapReaders = new Map();
    this.outcomes = new Map();
    this.lookups = new Map();
    this.lookedUpBy = new Map();
    this.aliasHosts = new Set();
    this.virtualHosts = [];
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
    for (const host of derivation.partitions.keys()) {
      unindex(this.claimants, host, key);
      dirtyHosts.add(host);
    }
    for (const service of derivation.services) unindex(this.serviceReaders, service, key);
    for (const secret of derivation.secrets) unindex(this.secretReaders, secret, key);
    for (const configMap of derivation.configMaps) unindex(this.configMapReaders, configMap, key);
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

  private derive(key: string, read: (sets: EndpointSets, useCertificate: UseCertificate) => IngressContribution | GatewayContribution, dirtyHosts: Set<string>): void {
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
    const partitions = claimsByPartition(contribution);
    for (const host of partitions.keys()) {
      index(this.claimants, host, key);
      dirtyHosts.add(host);
    }
    for (const service of recorded.reads.services) index(this.serviceReaders, service, key);
    for (const secret of recorded.reads.secrets) index(this.secretReaders, secret, key);
    for (const configMap of recorded.reads.configMaps) index(this.configMapReaders, configMap, key);
    this.derivations.set(key, { contribution, partitions, setKeys, certificates, services: recorded.reads.services, secrets: recorded.reads.secrets, configMaps: recorded.reads.configMaps });
    this.stats.derived++;
  }

  /** Settles `host` again from the claims of the derivations that claim it now. */
  private settle(host: string): void {
    const claims = claimLists();
    for (const key of this.claimants.get(host) ?? []) addClaims(claims, this.derivations.get(key)!.partitions.get(host)!);
    for (const key of this.lookups.get(host) ?? []) unindex(this.lookedUpBy, key, host);
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
    for (const key of lookups) index(this.lookedUpBy, key, host);
    this.stats.settled++;
    if (this.claimants.has(host)) this.outcomes.set(host, outcome);
    else this.outcomes.delete(host);
    if (this.claimants.has(host) && outcome.aliasClaims.routes.length + outcome.aliasClaims.defaults.length > 0) this.aliasHosts.add(host);
    else this.aliasHosts.delete(host);
    if (before !== undefined) this.dropConditions(before.conditions);
    if (this.claimants.has(host)) for (const condition of outcome.conditions) this.conditionsNew.push(condition);
    const had = before?.virtualHost !== undefined;
    const has = outcome.virtualHost !== undefined;
    if (host === CATCH_ALL || (!had && !has)) return;
    const at = lowerBound(this.virtualHosts, host);
    if (had && has) this.virtualHosts[at] = outcome.virtualHost!;
    else if (has) this.virtualHosts.splice(at, 0, outcome.virtualHost!);
    else this.virtualHosts.splice(at, 1);
  }

  private dropConditions(conditions: readonly Condition[]): void {
    for (const condition of conditions) this.conditionsGone.set(condition, (this.conditionsGone.get(condition) ?? 0) + 1);
  }

  private result(): BuildResult {
    if (this.conditionsGone.size > 0 || this.conditionsNew.length > 0) {
      // A merge of what changed, not a sort of every condition: a change costs a pass over the list.
      this.conditions = mergeSorted(dropFrom(this.conditions, this.conditionsGone), this.conditionsNew.sort(compareConditions));
      this.conditionsGone = new Map();
      this.conditionsNew = [];
    }
    const defaultRoute: DefaultRoute | undefined = this.outcomes.get(CATCH_ALL)?.catchAll;
    const gateway = this.derivations.get(GATEWAY)?.contribution as GatewayContribution | undefined;
    let virtualHosts: readonly VirtualHost[] = this.virtualHosts.slice();
    let conditions = this.conditions;
    if (this.aliasHosts.size > 0) {
      // Aliases depend on every host (a name already served is not an alias): one pass, only when some claim asks.
      const aliasConditions: Condition[] = [];
      virtualHosts = applyHostAliases(virtualHosts, this.outcomes, [...this.aliasHosts].map((host) => this.outcomes.get(host)!), aliasConditions);
      conditions = mergeSorted(conditions, aliasConditions.sort(compareConditions));
    }
    return {
      model: { virtualHosts, defaultRoute, endpointSets: this.sets.all(), certificates: this.certificates.all() },
      conditions,
      gateway: gateway?.status ?? NO_GATEWAY_STATUS,
    };
  }
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

/** The merge of two lists sorted by compareConditions (on a tie, `a`'s first). */
function mergeSorted(a: readonly Condition[], b: readonly Condition[]): readonly Condition[] {
  if (b.length === 0) return a;
  const merged: Condition[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) merged.push(compareConditions(b[j]!, a[i]!) < 0 ? b[j++]! : a[i++]!);
  while (i < a.length) merged.push(a[i++]!);
  while (j < b.length) merged.push(b[j++]!);
  return merged;
}

function index(map: Map<string, Set<string>>, key: string, member: string): void {
  let members = map.get(key);
  if (members === undefined) map.set(key, (members = new Set()));
  members.add(member);
}

function unindex(map: Map<string, Set<string>>, key: string, member: string): void {
  const members = map.get(key);
  members?.delete(member);
  if (members?.size === 0) map.delete(key);
}

/** The first index in `virtualHosts` (sorted by host) whose host is not before `host`. */
function lowerBound(virtualHosts: readonly VirtualHost[], host: string): number {
  let low = 0;
  let high = virtualHosts.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareHosts(virtualHosts[mid]!.host, host) < 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
