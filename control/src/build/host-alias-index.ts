/**
 * The alias and from-to-www hosts (host-aliases.ts) kept across builds, so that a change costs the
 * names it touches, not every host.
 *
 * ingress-nginx decides them in one pass over every winning claim that asks (oldest first: route
 * claims, then default claims; each Ingress once per host): first every claim's server-alias list
 * in order, then every claim's www redirect. Each step reads and writes only the name it is about
 * (is it a served host? who took it already?), so the pass is, name by name, a fold over the
 * requests for that name in that order. The index keeps those requests per name, sorted, and folds
 * again only the names whose requests changed, whose host came or went, or whose claimant host was
 * settled again (an alias copies its host). Unchanged decisions keep their host object and their
 * Warning objects, so the build's host list and conditions change only where a decision did.
 */
import type { Condition } from '../model/conditions.ts';
import type { VirtualHost } from '../model/types.ts';
import type { AliasClaim } from './host-aliases.ts';
import { aliasHost, hostAnnotationWarning, redirectHost, wwwNameOf } from './host-aliases.ts';
import { compareClaims } from './ingress.ts';

/** The winning claims of one host that ask for aliases or a www redirect (HostOutcome.aliasClaims). */
export interface AliasClaims {
  readonly routes: readonly AliasClaim[];
  readonly defaults: readonly AliasClaim[];
}

/** One claim asking for one name. */
interface Request {
  readonly name: string;
  /** 0: a server-alias (every alias is decided before any www redirect); 1: a www redirect. */
  readonly pass: 0 | 1;
  /** 0: a route claim; 1: a default claim (every route claim asks before any default claim). */
  readonly group: 0 | 1;
  readonly claim: AliasClaim;
  /** The alias's place in the claim's server-alias list (0 for a redirect). */
  readonly index: number;
}

/** The order in which ingress-nginx's pass meets the requests for one name. */
function compareRequests(a: Request, b: Request): number {
  return a.pass - b.pass || a.group - b.group || compareClaims(a.claim.order, b.claim.order) || a.index - b.index;
}

/** What one settled host asks for, and its own Warnings (a www redirect of a wildcard host). */
interface HostEntry {
  readonly requests: readonly Request[];
  readonly warnings: readonly Condition[];
}

/** One name asked for: its requests in pass order and what they decided. */
interface NameEntry {
  requests: Request[];
  /** The request that took the name (undefined: none did). */
  winner: Request | undefined;
  /** The alias or redirect host now serving the name, and the served host it was made from. */
  host: VirtualHost | undefined;
  basis: VirtualHost | undefined;
  warnings: readonly Condition[];
}

/** Names folded again (each one a pass over its requests) and requests those folds went through, so far. */
export interface AliasStats {
  aliasNames: number;
  aliasRequests: number;
}

/** Where a refresh reports what it changed. */
export interface AliasChanges {
  /** `name`'s alias or redirect host changed (`hostOf(name)` is the new one, or undefined). */
  placed(name: string): void;
  /** Warnings no longer true, and new ones (never the same object in both). */
  dropped(conditions: readonly Condition[]): void;
  added(conditions: readonly Condition[]): void;
}

/** Per name asked for as a server-alias or www redirect, who asks and what that decided; patched per settled host. */
export class HostAliasIndex {
  readonly #served: (host: string) => VirtualHost | undefined;
  #hosts = new Map<string, HostEntry>();
  #names = new Map<string, NameEntry>();
  /** Names to fold again at the next refresh. */
  #dirty = new Set<string>();
  #dropped: Condition[] = [];
  #added: Condition[] = [];
  /** Where the work done is counted. */
  readonly stats: AliasStats;

  /** `served(host)`: the settled host `host` (undefined when none serves it), as of the next refresh; `stats`: where to count the work (a fresh record by default). */
  constructor(served: (host: string) => VirtualHost | undefined, stats: AliasStats = { aliasNames: 0, aliasRequests: 0 }) {
    this.#served = served;
    this.stats = stats;
  }

  /** The alias or redirect host serving `name` as of the last refresh; undefined when none does. */
  hostOf(name: string): VirtualHost | undefined {
    return this.#names.get(name)?.host;
  }

  /**
   * Takes what `host` settled into: its virtual host (undefined when it serves nothing or nobody
   * claims it) and its winning claims that ask for aliases. The names it asks for now and asked
   * for before, and `host` itself as a name, are folded again at the next refresh.
   */
  settle(host: string, virtualHost: VirtualHost | undefined, claims: AliasClaims): void {
    // Whether the name is a served host may have flipped (and its Warnings say so).
    if (this.#names.has(host)) this.#dirty.add(host);
    const before = this.#hosts.get(host);
    const asks = virtualHost !== undefined && claims.routes.length + claims.defaults.length > 0;
    if (before === undefined && !asks) return;
    const now = asks ? askedBy(host, claims) : undefined;
    if (before !== undefined && now !== undefined && sameAsks(before, now)) {
      // The same requests at the same places (the host's paths edited, say): only a name the host won is folded again (its alias copies the host).
      for (let i = 0; i < now.requests.length; i++) {
        const old = before.requests[i]!;
        const entry = this.#names.get(old.name)!;
        entry.requests[placeOf(entry.requests, old)] = now.requests[i]!;
        if (entry.winner === old) this.#dirty.add(old.name);
      }
      this.#hosts.set(host, { requests: now.requests, warnings: before.warnings });
      return;
    }
    if (before !== undefined) {
      for (const request of before.requests) {
        const entry = this.#names.get(request.name)!;
        entry.requests.splice(placeOf(entry.requests, request), 1);
        this.#dirty.add(request.name);
      }
      // A Warning not yet reported (the host settled twice between refreshes) is simply not reported.
      for (const warning of before.warnings) {
        const unreported = this.#added.indexOf(warning);
        if (unreported >= 0) this.#added.splice(unreported, 1);
        else this.#dropped.push(warning);
      }
      this.#hosts.delete(host);
    }
    if (now === undefined) return;
    for (const request of now.requests) {
      let entry = this.#names.get(request.name);
      if (entry === undefined) this.#names.set(request.name, (entry = { requests: [], winner: undefined, host: undefined, basis: undefined, warnings: NO_WARNINGS }));
      entry.requests.splice(upperBound(entry.requests, request), 0, request);
      this.#dirty.add(request.name);
    }
    for (const warning of now.warnings) this.#added.push(warning);
    this.#hosts.set(host, now);
  }

  /** Folds again every name touched since the last refresh and reports what changed to `changes`. */
  refresh(changes: AliasChanges): void {
    for (const name of this.#dirty) this.#decide(name, changes);
    this.#dirty.clear();
    if (this.#dropped.length > 0) changes.dropped(this.#dropped);
    if (this.#added.length > 0) changes.added(this.#added);
    this.#dropped = [];
    this.#added = [];
  }

  /** ingress-nginx's pass over the requests for `name` (host-aliases.ts has the rules). */
  #decide(name: string, changes: AliasChanges): void {
    const entry = this.#names.get(name)!;
    this.stats.aliasNames++;
    const served = this.#served(name) !== undefined;
    let winner: Request | undefined;
    const warnings: Condition[] = [];
    for (const request of entry.requests) {
      this.stats.aliasRequests++;
      const { claim } = request;
      if (request.pass === 0) {
        if (served) warnings.push(hostAnnotationWarning(claim, 'server-alias', `alias ${name} is the host of an existing rule; ignored (as ingress-nginx does)`));
        else if (winner === undefined) winner = request;
        else if (winner.claim.host !== claim.host) warnings.push(hostAnnotationWarning(claim, 'server-alias', `alias ${name} is already an alias of ${winner.claim.host}; ignored`));
      } else if (winner?.pass === 1 && winner.claim.host === claim.host) continue;
      else if (served || winner !== undefined) warnings.push(hostAnnotationWarning(claim, 'from-to-www-redirect', `${name} is already served (a rule's host or an alias); no redirect from it to ${claim.host} (as ingress-nginx skips it)`));
      else winner = request;
    }
    const basis = winner === undefined ? undefined : this.#served(winner.claim.host)!;
    const host = winner === undefined ? undefined : sameHost(entry, winner, basis!) ? entry.host : winner.pass === 0 ? aliasHost(basis!, name) : redirectHost(winner.claim, name, basis!);
    const moved = host !== entry.host;
    entry.warnings = keptWarnings(entry.warnings, warnings, this.#dropped, this.#added);
    entry.winner = winner;
    entry.host = host;
    entry.basis = basis;
    if (entry.requests.length === 0) this.#names.delete(name);
    if (moved) changes.placed(name);
  }
}

const NO_WARNINGS: readonly Condition[] = Object.freeze([]);
const NO_NAMES: readonly string[] = NO_WARNINGS as readonly never[];

/**
 * The host `entry` has when `winner` (with its host's virtual host `basis`) would make an equal
 * one: an alias of the same host object, or a redirect of the same claimant with the same
 * certificate. Then compile finds it by identity.
 */
function sameHost(entry: NameEntry, winner: Request, basis: VirtualHost): boolean {
  const last = entry.winner;
  if (last === undefined || entry.host === undefined || last.pass !== winner.pass || last.claim.host !== winner.claim.host) return false;
  if (winner.pass === 0) return entry.basis === basis;
  const [a, b] = [last.claim, winner.claim];
  return entry.host.certificate === basis.certificate && a.order.created === b.order.created && a.source.kind === b.source.kind && a.source.namespace === b.source.namespace && a.source.name === b.source.name;
}

/** What makes two Warnings of the index the same. */
function warningKey(c: Condition): string {
  return `${c.source.kind}\0${c.source.namespace}\0${c.source.name}\0${c.field}\0${c.message}`;
}

/**
 * `now`, with each Warning equal to one of `before` replaced by that object; the others of
 * `before` appended to `dropped`, the new ones to `added`.
 */
function keptWarnings(before: readonly Condition[], now: Condition[], dropped: Condition[], added: Condition[]): readonly Condition[] {
  if (before.length === 0 && now.length === 0) return NO_WARNINGS;
  const old = new Map<string, Condition[]>();
  for (const condition of before) {
    const list = old.get(warningKey(condition));
    if (list === undefined) old.set(warningKey(condition), [condition]);
    else list.push(condition);
  }
  for (let i = 0; i < now.length; i++) {
    const same = old.get(warningKey(now[i]!))?.pop();
    if (same === undefined) added.push(now[i]!);
    else now[i] = same;
  }
  for (const list of old.values()) for (const condition of list) dropped.push(condition);
  return now.length === 0 ? NO_WARNINGS : now;
}

/** What `host` (served) asks for with `claims`: its requests, and the Warnings of www redirects of a wildcard host. */
function askedBy(host: string, claims: AliasClaims): HostEntry {
  const requests: Request[] = [];
  const warnings: Condition[] = [];
  for (const [claim, group] of onePerIngress(claims)) {
    const aliases = host === '*' ? NO_NAMES : claim.hostAnnotations.serverAliases;
    for (let index = 0; index < aliases.length; index++) if (aliases[index] !== host) requests.push({ name: aliases[index]!, pass: 0, group, claim, index });
    if (!claim.hostAnnotations.fromToWww) continue;
    if (host.startsWith('*')) warnings.push(hostAnnotationWarning(claim, 'from-to-www-redirect', `host ${host} is a wildcard or missing; no redirect host is made`));
    else requests.push({ name: wwwNameOf(host), pass: 1, group, claim, index: 0 });
  }
  return { requests, warnings };
}

/**
 * Whether `now` asks for what `before` asked, request by request at the same place in each name's
 * order (the same Ingress, position and alias index), with the same Warnings: then no fold but
 * that of a name the host won can come out otherwise.
 */
function sameAsks(before: HostEntry, now: HostEntry): boolean {
  if (before.requests.length !== now.requests.length || before.warnings.length !== now.warnings.length) return false;
  for (let i = 0; i < now.requests.length; i++) if (before.requests[i]!.name !== now.requests[i]!.name || compareRequests(before.requests[i]!, now.requests[i]!) !== 0) return false;
  for (let i = 0; i < now.warnings.length; i++) if (warningKey(before.warnings[i]!) !== warningKey(now.warnings[i]!)) return false;
  return true;
}

/** Where `request` is in `sorted` (by compareRequests, which no two requests for one name tie on). */
function placeOf(sorted: readonly Request[], request: Request): number {
  const at = upperBound(sorted, request) - 1;
  return sorted[at] === request ? at : sorted.indexOf(request);
}

/**
 * `claims` (route claims, then default claims) with each Ingress's first by precedence only, and
 * the group of each: ingress-nginx takes one Ingress's annotations once per host.
 */
function onePerIngress(claims: AliasClaims): [AliasClaim, 0 | 1][] {
  const first = new Map<string, [AliasClaim, 0 | 1]>();
  for (const [group, list] of [claims.routes, claims.defaults].entries()) {
    for (const claim of list) {
      const key = `${claim.source.namespace}/${claim.source.name}`;
      const seen = first.get(key);
      if (seen === undefined || (seen[1] === group && compareClaims(claim.order, seen[0].order) < 0)) first.set(key, [claim, group as 0 | 1]);
    }
  }
  return [...first.values()];
}

/** The index in `sorted` (by compareRequests) after every request not after `request`. */
function upperBound(sorted: readonly Request[], request: Request): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (compareRequests(sorted[mid]!, request) <= 0) low = mid + 1;
    else high = mid;
  }
  return low;
}
