/**
 * The compile stage: RoutingModel -> Snapshot. Pure and deterministic: the model's lists are
 * already sorted most-specific-first, and the version is the Merkle hash of the content.
 *
 * Given the previous snapshot, every item equal to the previous one of the same key is taken
 * from it instead of the fresh copy: the two snapshots share it, so sealing validates and
 * hashes only what changed, deltas find unchanged items by identity, and history keeps one
 * copy. The result is byte-for-byte what compiling without `previous` gives.
 */
import type { Backend, DefaultRoute, RouteMatch, RoutingModel, ValueMatch, VirtualHost } from '../model/types.ts';
import { redirectPolicyOf } from '../model/shared.ts';
import { keptRunsOf } from '../model/list-edits.ts';
import { SECTIONS, concatenated, lowerBound } from '../snapshot/order.ts';
import type { SectionName } from '../snapshot/order.ts';
import type { Snapshot, SnapshotBackend, SnapshotContent, SnapshotDefaultRoute, SnapshotHost, SnapshotRoute } from '../snapshot/schema.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { SNAPSHOT_API_VERSION, sealSnapshot } from '../snapshot/schema.ts';
import { addRun, endsAsRuns, identicalEnds, recordSealedAgainst, runEnds } from '../snapshot/sealed-against.ts';
import { sameJson } from '../snapshot/same-json.ts';

/** The keys of a backend whose snapshot form is itself: no TLS, HTTP/1.1, valid, resolved. */
const PLAIN_BACKEND_KEYS = ['namespace', 'service', 'port', 'weight', 'endpointSet'];

/**
 * Whether the model backend is, key for key and in order, its own snapshot form (the common
 * backend: no TLS, HTTP/1.1, resolved to an endpoint set), so the snapshot can share it instead
 * of holding an equal copy.
 */
function isSnapshotBackend(b: Backend): boolean {
  if (typeof b.endpointSet !== 'string') return false;
  let i = 0;
  for (const key in b) if (key !== PLAIN_BACKEND_KEYS[i++]) return false;
  return i === PLAIN_BACKEND_KEYS.length;
}

/**
 * The snapshot form of a route's backends: the model's list itself when every backend is its own
 * snapshot form (model lists are never changed once built), else a list of compiled backends.
 */
function backends(list: readonly Backend[]): SnapshotBackend[] {
  return list.every(isSnapshotBackend) ? (list as SnapshotBackend[]) : list.map(backend);
}

function backend(b: Backend): SnapshotBackend {
  if (isSnapshotBackend(b)) return b as SnapshotBackend;
  const plain = { namespace: b.namespace, service: b.service, port: b.port, weight: b.weight, endpointSet: b.endpointSet ?? null };
  // HTTP/1.1 backends carry no `protocol` key and plain ones no `tls` key, so they hash as before.
  const protocol = { ...(b.protocol === undefined ? {} : { protocol: b.protocol }), ...(b.invalid === true ? { invalid: true as const } : {}) };
  if (b.tls === undefined) return { ...plain, ...protocol };
  const t = b.tls;
  return {
    ...plain,
    tls: { serverName: t.serverName ?? null, verify: t.verify, verifyName: t.verifyName, verifyDepth: t.verifyDepth, secret: t.secret ?? null, caPem: t.caPem ?? null, certificatePem: t.certificatePem ?? null, privateKeyPem: t.privateKeyPem ?? null },
    ...protocol,
  };
}

/**
 * `{refused}` when the route is refused and `{policies}` when it has annotation policies; nothing
 * otherwise, so routes without either hash as before the fields existed.
 */
function optionalMembers(route: { readonly refused?: string | undefined; readonly policies?: RoutePolicies | undefined }): { refused?: string; policies?: RoutePolicies } {
  return { ...(route.refused === undefined ? {} : { refused: route.refused }), ...(route.policies === undefined ? {} : { policies: route.policies }) };
}

/** The snapshot form of a route's match conditions: only the lists it has, copied. */
function snapshotMatch(match: RouteMatch): NonNullable<SnapshotRoute['match']> {
  const copy = (list: readonly ValueMatch[]): ValueMatch[] => list.map((m) => ({ name: m.name, value: m.value, type: m.type }));
  return {
    ...(match.methods === undefined ? {} : { methods: [...match.methods] as NonNullable<SnapshotRoute['match']>['methods'] }),
    ...(match.headers === undefined ? {} : { headers: copy(match.headers) }),
    ...(match.query === undefined ? {} : { query: copy(match.query) }),
  };
}

function defaultRoute(route: DefaultRoute | undefined): SnapshotDefaultRoute | null {
  if (route === undefined) return null;
  return { source: route.source, field: route.field, backends: backends(route.backends), redirect: redirectPolicyOf(route.redirect.sslRedirect, route.redirect.forceSslRedirect), ...optionalMembers(route) };
}

/**
 * Compiled items by the model object they came from: an incremental build hands over the same
 * object for an unchanged host, endpoint set or certificate, and its compiled (sealed, shared)
 * item is taken as is instead of being compiled and compared again.
 */
const compiled = new WeakMap<object, object>();
/** Compiled lists by the model list they came from (snapshots never change a list once sealed). */
const compiledLists = new WeakMap<readonly object[], readonly object[]>();

/** The model list each compiled list was made from (item i of one compiled from item i of the other). */
const sources = new WeakMap<readonly object[], readonly object[]>();

/**
 * Each model item of `items` compiled: `previous`'s item when the model item is the one `previous`
 * was compiled from at the same place (or shifted by the lists' difference in length: an item
 * added or removed before it), else the item compiled from the same model object before, else
 * `previous`'s item of the same key when equal to the fresh one, else the fresh one. `previous`
 * itself when every item is its own. The stretches of items that are `previous`'s are copied as
 * blocks: the build says which they are when `items` is the copy it made right after the one
 * `previous` was compiled from (`keptRunsOf`: every stretch its edits left, however far apart the
 * edits), else the unchanged ends are found by identity in a tight loop. Every stretch taken over
 * is recorded for sealing (`recordSealedAgainst`). Only the items between the stretches cost a
 * step each, so changed hosts among 50,000 cost about what they cost among 1,000.
 */
function share<M extends object, T extends object>(name: SectionName, items: readonly M[], compile: (item: M) => T, previous: readonly T[] | undefined): T[] {
  // The very list compiled before (an incremental build hands its list over again when none of its items changed): its compiled list, as is.
  const known = compiledLists.get(items) as T[] | undefined;
  if (known !== undefined) return known;
  const before = previous === undefined ? undefined : (sources.get(previous) as readonly M[] | undefined);
  const n = items.length;
  const m = before === undefined ? 0 : before.length;
  let list: T[];
  if (before === undefined) list = compileSpan(name, items, 0, n, compile, before, previous, []);
  else {
    let kept = keptRunsOf(items, before);
    if (kept === undefined) {
      const { head, tail } = identicalEnds(items, before);
      kept = endsAsRuns(head, tail, n, m);
    }
    // Snapshot lists are never changed once sealed: sharing `previous` itself is safe.
    if (n === m && coversAll(kept, n)) list = previous as T[];
    else {
      const runs: number[] = [];
      list = assembled(name, items, kept, compile, before, previous!, runs);
      // Every item compiled to `previous`'s in place (items made again equal, as a re-derived Ingress whose routing did not change makes them).
      if (n === m && coversAll(runs, n)) list = previous as T[];
      else {
        const { head, tail } = runEnds(runs, n, m);
        // Sealing (and the deltas and bundles after it) takes every stretch kept from here instead of comparing every item again.
        recordSealedAgainst(list, previous!, head, tail, runs);
      }
    }
  }
  compiledLists.set(items, list);
  sources.set(list, items);
  return list;
}

/** Whether `runs` (see KeptRuns) say every item of a list of `n` is the other list's in place. */
function coversAll(runs: readonly number[], n: number): boolean {
  return n === 0 || (runs.length === 3 && runs[1]! - runs[0]! === n && runs[2] === 0);
}

/**
 * The compiled list of `items`: the stretches `kept` says are `before`'s taken from `previous` as
 * blocks of references (one copy of `previous` patched in place when only items in place
 * changed, the common edit), the items between compiled (`compileSpan`). Appends to `runs`
 * every stretch that is `previous`'s.
 */
function assembled<M extends object, T extends object>(name: SectionName, items: readonly M[], kept: readonly number[], compile: (item: M) => T, before: readonly M[], previous: readonly T[], runs: number[]): T[] {
  const n = items.length;
  let inPlace = n === previous.length;
  for (let k = 2; k < kept.length; k += 3) if (kept[k] !== 0) inPlace = false;
  const pieces: (readonly T[])[] = [];
  const copy = inPlace ? previous.slice() : undefined;
  let i = 0;
  for (let k = 0; k <= kept.length; k += 3) {
    const from = k < kept.length ? kept[k]! : n;
    if (i < from) {
      const span = compileSpan(name, items, i, from, compile, before, previous, runs);
      if (copy === undefined) pieces.push(span);
      else for (let j = 0; j < span.length; j++) copy[i + j] = span[j]!;
    }
    if (k === kept.length) break;
    const to = kept[k + 1]!;
    const offset = kept[k + 2]!;
    addRun(runs, from, to, offset);
    if (copy === undefined) pieces.push(previous.slice(from + offset, to + offset));
    i = to;
  }
  return copy ?? concatenated(pieces);
}

/**
 * The compiled items of `items[from, to)`, as `share` takes them (`before`: the model list
 * `previous` was compiled from); appends to `runs` the stretches that are `previous`'s items,
 * whether taken by model identity or found equal.
 */
function compileSpan<M extends object, T extends object>(name: SectionName, items: readonly M[], from: number, to: number, compile: (item: M) => T, before: readonly M[] | undefined, previous: readonly T[] | undefined, runs: number[]): T[] {
  const { keyOf, compare } = SECTIONS[name] as unknown as { keyOf: (item: T) => string; compare: (a: string, b: string) => number };
  const shift = before === undefined ? 0 : before.length - items.length;
  const list: T[] = [];
  for (let i = from; i < to; i++) {
    const item = items[i]!;
    if (before !== undefined) {
      if (before[i] === item) {
        list.push(previous![i]!);
        addRun(runs, i, i + 1, 0);
        continue;
      }
      if (before[i + shift] === item) {
        list.push(previous![i + shift]!);
        addRun(runs, i, i + 1, shift);
        continue;
      }
    }
    const known = compiled.get(item) as T | undefined;
    let result = known;
    // Where `result` is in `previous` when it was found there by key (-1: look in place and shifted).
    let found = -1;
    if (result === undefined) {
      const fresh = compile(item);
      result = fresh;
      if (previous !== undefined && previous.length > 0) {
        const key = keyOf(fresh);
        // Same position first (no item added or removed before it), else by key: previous is sorted by the section's order.
        let at = previous[i] !== undefined && keyOf(previous[i]!) === key ? i : -1;
        if (at < 0) {
          at = lowerBound(previous, key, keyOf, compare);
          if (at >= previous.length || keyOf(previous[at]!) !== key) at = -1;
        }
        if (at >= 0 && sameJson(previous[at], fresh)) {
          result = previous[at]!;
          found = at;
        }
      }
      compiled.set(item, result);
    }
    list.push(result);
    if (before === undefined) continue;
    // An equal item is `previous`'s too: a stretch kept for sealing, and `previous` itself when every item is.
    if (found >= 0) addRun(runs, i, i + 1, found - i);
    else if (previous![i] === result) addRun(runs, i, i + 1, 0);
    else if (previous![i + shift] === result) addRun(runs, i, i + 1, shift);
  }
  return list;
}

function compileHost(vhost: VirtualHost): SnapshotHost {
  return {
    host: vhost.host,
    tls: vhost.tls,
    certificate: vhost.certificate ?? null,
    routes: vhost.routes.map((route) => ({
      source: route.source,
      field: route.field,
      pathType: route.pathType,
      path: route.path,
      backends: backends(route.backends),
      redirect: redirectPolicyOf(route.redirect.sslRedirect, route.redirect.forceSslRedirect),
      ...optionalMembers(route),
      ...(route.regex === true ? { regex: true as const } : {}),
      ...(route.match === undefined ? {} : { match: snapshotMatch(route.match) }),
    })),
    defaultRoute: defaultRoute(vhost.defaultRoute),
  };
}

/**
 * Compiles the model into a validated snapshot, sharing unchanged items with `previous`
 * (`previous` itself when every item is its own). Throws PorticoError PORTICO_E_SNAPSHOT_INVALID only if the model breaks the snapshot
 * contract, which is a bug in the build stage.
 */
export function compileSnapshot(model: RoutingModel, previous?: Snapshot): Snapshot {
  const catchAll = defaultRoute(model.defaultRoute);
  const content: SnapshotContent = {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: 'Snapshot',
    hosts: share('hosts', model.virtualHosts, compileHost, previous?.hosts),
    defaultRoute: previous !== undefined && sameJson(previous.defaultRoute, catchAll) ? previous.defaultRoute : catchAll,
    endpointSets: share('endpointSets', model.endpointSets, (set) => ({ key: set.key, endpoints: set.endpoints.map((e) => ({ address: e.address, port: e.port, terminating: e.terminating })) }), previous?.endpointSets),
    certificates: share('certificates', model.certificates, (c) => ({ secret: c.secret, hosts: [...c.hosts], certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem }), previous?.certificates),
  };
  // Nothing served changed (a change no host, set or certificate depends on): the previous snapshot is this content, sealed.
  if (previous !== undefined && content.hosts === previous.hosts && content.defaultRoute === previous.defaultRoute && content.endpointSets === previous.endpointSets && content.certificates === previous.certificates) return previous;
  // Validate before publishing (DESIGN rule 4): new items are validated as they are hashed.
  return sealSnapshot(content, previous);
}
