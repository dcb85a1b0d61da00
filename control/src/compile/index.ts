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
import { SECTIONS } from '../snapshot/order.ts';
import type { SectionName } from '../snapshot/order.ts';
import type { Snapshot, SnapshotBackend, SnapshotContent, SnapshotDefaultRoute, SnapshotHost, SnapshotRoute } from '../snapshot/schema.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { SNAPSHOT_API_VERSION, sealSnapshot } from '../snapshot/schema.ts';

function backend(b: Backend): SnapshotBackend {
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
  return { source: { ...route.source }, field: route.field, backends: route.backends.map(backend), redirect: { ...route.redirect }, ...optionalMembers(route) };
}

/** Deep equality of plain JSON values (no cycles, no functions); key order counts, as in JSON. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i] || !sameJson((a as Record<string, unknown>)[ka[i]!], (b as Record<string, unknown>)[kb[i]!])) return false;
  }
  return true;
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
 * `previous`'s item of the same key when equal to the fresh one, else the fresh one. An unchanged
 * item costs a pointer comparison, not a lookup.
 */
function share<M extends object, T extends object>(name: SectionName, items: readonly M[], compile: (item: M) => T, previous: readonly T[] | undefined): T[] {
  // The very list compiled before (an incremental build hands its list over again when none of its items changed): its compiled list, as is.
  const known = compiledLists.get(items) as T[] | undefined;
  if (known !== undefined) return known;
  const keyOf = SECTIONS[name].keyOf as (item: T) => string;
  const before = previous === undefined ? undefined : (sources.get(previous) as readonly M[] | undefined);
  const shift = before === undefined ? 0 : before.length - items.length;
  let byKey: Map<string, T> | undefined;
  const list = items.map((item, i) => {
    if (before !== undefined) {
      if (before[i] === item) return previous![i]!;
      if (before[i + shift] === item) return previous![i + shift]!;
    }
    const known = compiled.get(item) as T | undefined;
    if (known !== undefined) return known;
    const fresh = compile(item);
    let result = fresh;
    if (previous !== undefined && previous.length > 0) {
      const key = keyOf(fresh);
      // Same position first (no item added or removed before it), else look it up by key.
      let old: T | undefined = previous[i] !== undefined && keyOf(previous[i]!) === key ? previous[i] : undefined;
      if (old === undefined) {
        byKey ??= new Map(previous.map((p) => [keyOf(p), p]));
        old = byKey.get(key);
      }
      if (old !== undefined && sameJson(old, fresh)) result = old;
    }
    compiled.set(item, result);
    return result;
  });
  compiledLists.set(items, list);
  sources.set(list, items);
  return list;
}

function compileHost(vhost: VirtualHost): SnapshotHost {
  return {
    host: vhost.host,
    tls: vhost.tls,
    certificate: vhost.certificate ?? null,
    routes: vhost.routes.map((route) => ({
      source: { ...route.source },
      field: route.field,
      pathType: route.pathType,
      path: route.path,
      backends: route.backends.map(backend),
      redirect: { ...route.redirect },
      ...optionalMembers(route),
      ...(route.regex === true ? { regex: true as const } : {}),
      ...(route.match === undefined ? {} : { match: snapshotMatch(route.match) }),
    })),
    defaultRoute: defaultRoute(vhost.defaultRoute),
  };
}

/**
 * Compiles the model into a validated snapshot, sharing unchanged items with `previous`.
 * Throws PorticoError PORTICO_E_SNAPSHOT_INVALID only if the model breaks the snapshot
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
  // Validate before publishing (DESIGN rule 4): new items are validated as they are hashed.
  return sealSnapshot(content, previous);
}
