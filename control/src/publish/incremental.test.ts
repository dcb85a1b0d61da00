/**
 * The incremental pipeline against the reference: any sequence of object events (Ingress and
 * Gateway API objects sharing hosts and paths, the Secrets and ConfigMaps they read), published
 * one by one (items shared with the previous version, endpoint-only fast path, deltas), ends
 * byte-for-byte where a full rebuild of the final state ends, and deltas carry a node along.
 */
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SELECTION, selfSignedTlsSecret } from '../api/test-support.ts';
import { PORTICO_CONTROLLER } from '../build/ingress-class.ts';
import { buildModel } from '../build/index.ts';
import { compileState } from '../pipeline.ts';
import { applyDelta, snapshotDelta } from '../snapshot/delta.ts';
import type { Snapshot } from '../snapshot/schema.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { SnapshotHistory } from './history.ts';
import { SnapshotPublisher } from './publisher.ts';
import { SyncFeed } from './sync-feed.ts';

const SERVICES = ['web', 'api', 'db'];
// '' is an Ingress rule without a host (host `*`).
const HOSTS = ['a.example.com', 'b.example.com', '*.example.com', 'c.example.org', ''];
const PATHS = ['/', '/api', '/api/v1', '/static'];
const secret = selfSignedTlsSecret('default', 'tls', 'a.example.com');
// The same Secret with another certificate, and a second Secret.
const secretRenewed = selfSignedTlsSecret('default', 'tls', 'b.example.com');
const otherSecret = selfSignedTlsSecret('default', 'other-tls', 'a.example.com');

const service = (name: string, port: number): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ name: 'http', port, targetPort: 8080 }] } }) as KubeObject;
const slice = (name: string, addresses: readonly number[]): KubeObject =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [`10.0.0.${a}`], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080 }],
  }) as KubeObject;
/** What else an Ingress of the generator has: a default backend, another TLS Secret, a canary, auth-url, host-level annotations, default-backend. */
interface IngressExtras {
  readonly defaultBackend?: string | undefined;
  readonly secretName?: string;
  readonly canary?: boolean;
  readonly auth?: boolean;
  /** `www` for from-to-www-redirect, else a server-alias. */
  readonly alias?: string | undefined;
  /** custom-headers (and, with auth, auth-proxy-set-headers) naming ConfigMap `hdr`. */
  readonly headers?: boolean;
  /** default-backend naming this Service (with custom-http-errors), on a main Ingress. */
  readonly fallback?: string | undefined;
}

const ingress = (name: string, created: number, host: string, paths: readonly string[], backend: string, tls: boolean, className?: string, extras: IngressExtras = {}): KubeObject =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name,
      namespace: 'default',
      creationTimestamp: `2026-01-0${created}T00:00:00Z`,
      annotations: {
        // A canary, or (on a main Ingress) an auth-url Service whose endpoints the route carries.
        ...(extras.canary === true ? { 'nginx.ingress.kubernetes.io/canary': 'true', 'nginx.ingress.kubernetes.io/canary-weight': '30' } : extras.auth === true ? { 'nginx.ingress.kubernetes.io/auth-url': `http://${backend}.default.svc.cluster.local/auth` } : {}),
        ...(extras.headers === true && extras.canary !== true ? { 'nginx.ingress.kubernetes.io/custom-headers': 'hdr', ...(extras.auth === true ? { 'nginx.ingress.kubernetes.io/auth-proxy-set-headers': 'default/hdr' } : {}) } : {}),
        ...(extras.fallback === undefined || extras.canary === true ? {} : { 'nginx.ingress.kubernetes.io/default-backend': extras.fallback, 'nginx.ingress.kubernetes.io/custom-http-errors': '404,503' }),
        ...(extras.alias === undefined ? {} : extras.alias === 'www' ? { 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' } : { 'nginx.ingress.kubernetes.io/server-alias': extras.alias }),
      },
    },
    spec: {
      ...(className === undefined ? {} : { ingressClassName: className }),
      ...(tls && host !== '' ? { tls: [{ hosts: [host], secretName: extras.secretName ?? 'tls' }] } : {}),
      ...(extras.defaultBackend === undefined ? {} : { defaultBackend: { service: { name: extras.defaultBackend, port: { number: 80 } } } }),
      rules: [{ ...(host === '' ? {} : { host }), http: { paths: paths.map((path) => ({ path, pathType: 'Prefix', backend: { service: { name: backend, port: { number: 80 } } } })) } }],
    },
  }) as KubeObject;

const G = 'gateway.networking.k8s.io/v1';
const gatewayClass = (controllerName: string): KubeObject => ({ apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName } }) as KubeObject;
/** Which namespaces a listener lets routes attach from: its own, all, or those labelled `edge: yes`. */
type From = 'Same' | 'All' | 'Selector';
const allowedRoutes = (from: From) => ({ namespaces: from === 'Selector' ? { from, selector: { matchLabels: { edge: 'yes' } } } : { from } });
/** Gateway `edge` in default, or `edge2` in infra (its HTTPS certificate is default/tls: a ReferenceGrant must permit it). */
const gateway = (hostname: string | undefined, https: boolean, name: 'edge' | 'edge2' = 'edge', from: From = 'Same'): KubeObject =>
  ({
    apiVersion: G,
    kind: 'Gateway',
    metadata: { name, namespace: name === 'edge' ? 'default' : 'infra', creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: {
      gatewayClassName: 'portico',
      listeners: [
        { name: 'http', port: 80, protocol: 'HTTP', ...(hostname === undefined ? {} : { hostname }), allowedRoutes: allowedRoutes(from) },
        ...(https ? [{ name: 'https', port: 443, protocol: 'HTTPS', allowedRoutes: allowedRoutes(from), tls: { certificateRefs: [{ name: 'tls', ...(name === 'edge' ? {} : { namespace: 'default' }) }] } }] : []),
      ],
    },
  }) as KubeObject;
/** Where a route attaches: Gateway edge, edge2 (all listeners or only `https`). */
type Parent = 'edge' | 'edge2' | 'edge2/https';
const parentRef = (parent: Parent) => (parent === 'edge' ? { name: 'edge', namespace: 'default' } : { name: 'edge2', namespace: 'infra', ...(parent === 'edge2/https' ? { sectionName: 'https' } : {}) });
/** A route in default or team (whose backends are default's Services: a ReferenceGrant must permit them). */
const httpRoute = (name: string, created: number, host: string | undefined, paths: readonly string[], backend: string, header: boolean, parent: Parent = 'edge', namespace = 'default'): KubeObject =>
  ({
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name, namespace, creationTimestamp: `2026-01-0${created}T00:00:00Z` },
    spec: {
      parentRefs: [parentRef(parent)],
      ...(host === undefined ? {} : { hostnames: [host] }),
      rules: [{ matches: paths.map((value) => ({ path: { type: 'PathPrefix', value }, ...(header ? { headers: [{ name: 'x-beta', value: '1' }] } : {}) })), backendRefs: [{ name: backend, port: 80, ...(namespace === 'default' ? {} : { namespace: 'default' }) }] }],
    },
  }) as KubeObject;
/** ReferenceGrant `grant` in default: permitting team's HTTPRoutes its Services, infra's Gateways its Secrets, both, or neither (another namespace). */
const referenceGrant = (routes: boolean, gateways: boolean): KubeObject =>
  ({
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name: 'grant', namespace: 'default' },
    spec: {
      from: [...(routes ? [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'team' }] : []), ...(gateways ? [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra' }] : []), ...(routes || gateways ? [] : [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'elsewhere' }])],
      to: [...(routes || !gateways ? [{ group: '', kind: 'Service' }] : []), ...(gateways ? [{ group: '', kind: 'Secret' }] : [])],
    },
  }) as KubeObject;
const namespaceObject = (name: string, labelled: boolean): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, ...(labelled ? { labels: { edge: 'yes' } } : {}) } }) as KubeObject;

/** One object event: an upsert of a generated object, or a removal. */
type Event = { readonly upsert: KubeObject } | { readonly remove: KubeObject };

/** Gateway API objects and what routes and Gateways read (Services, Secrets, Namespaces, ReferenceGrants). */
const gatewayArbs: fc.Arbitrary<KubeObject>[] = [
  // Gateway API: the class flips between Portico's and another controller; routes share hosts and paths with the Ingresses.
  fc.constantFrom('portico.dev/gateway-controller', 'example.com/other').map(gatewayClass),
  fc
    .record({ hostname: fc.constantFrom(undefined, '*.example.com'), https: fc.boolean(), name: fc.constantFrom<'edge' | 'edge2'>('edge', 'edge2'), from: fc.constantFrom<From>('Same', 'All', 'Selector') })
    .map(({ hostname, https, name, from }) => gateway(hostname, https, name, from)),
  // Grants added, changed and removed; namespace labels the Selector listeners read.
  fc.record({ routes: fc.boolean(), gateways: fc.boolean() }).map(({ routes, gateways }) => referenceGrant(routes, gateways)),
  fc.record({ name: fc.constantFrom('team', 'default'), labelled: fc.boolean() }).map(({ name, labelled }) => namespaceObject(name, labelled)),
  fc
    .record({
      name: fc.constantFrom('r1', 'r2', 'r3'),
      created: fc.integer({ min: 1, max: 3 }),
      host: fc.constantFrom(undefined, ...HOSTS.filter((host) => host !== '')),
      paths: fc.uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 3 }),
      backend: fc.constantFrom(...SERVICES, 'missing'),
      header: fc.boolean(),
      // A route moves between Gateways (and listeners) by changing its parentRef.
      parent: fc.constantFrom<Parent>('edge', 'edge', 'edge2', 'edge2/https'),
      namespace: fc.constantFrom('default', 'default', 'team'),
    })
    .map((o) => httpRoute(o.name, o.created, o.host, o.paths, o.backend, o.header, o.parent, o.namespace)),
];

const objectArb: fc.Arbitrary<KubeObject> = fc.oneof(
  fc.record({ name: fc.constantFrom(...SERVICES), port: fc.constantFrom(80, 81) }).map(({ name, port }) => service(name, port)),
  fc.record({ name: fc.constantFrom(...SERVICES), addresses: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }) }).map(({ name, addresses }) => slice(name, addresses)),
  fc
    .record({
      name: fc.constantFrom('i1', 'i2', 'i3', 'i4'),
      created: fc.integer({ min: 1, max: 3 }),
      host: fc.constantFrom(...HOSTS),
      paths: fc.uniqueArray(fc.constantFrom(...PATHS), { minLength: 1, maxLength: 3 }),
      backend: fc.constantFrom(...SERVICES),
      tls: fc.boolean(),
      className: fc.constantFrom(undefined, 'edge'),
      defaultBackend: fc.constantFrom(undefined, ...SERVICES),
      secretName: fc.constantFrom('tls', 'other-tls'),
      canary: fc.boolean(),
      auth: fc.boolean(),
      alias: fc.constantFrom(undefined, undefined, 'www', 'd.example.net', 'b.example.com'),
      headers: fc.boolean(),
      fallback: fc.constantFrom(undefined, undefined, ...SERVICES),
    })
    .map((o) => ingress(o.name, o.created, o.host, o.paths, o.backend, o.tls, o.className, o)),
  fc.constantFrom(secret as KubeObject, secretRenewed as KubeObject, otherSecret as KubeObject),
  // The ConfigMap custom-headers names: valid, changed, invalid (refuses its readers), or another one nobody reads.
  fc
    .constantFrom<[string, Record<string, string>]>(['hdr', { 'X-A': '1' }], ['hdr', { 'X-A': '2', 'X-B': '$host' }], ['hdr', { 'Bad Name': '1' }], ['unread', { 'X-A': '1' }])
    .map(([name, data]) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data }) as KubeObject),
  // Whether Ingresses of class `edge` are served flips with this object's controller.
  fc.constantFrom(PORTICO_CONTROLLER, 'example.com/other').map((controller) => ({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'edge' }, spec: { controller } }) as KubeObject),
  ...gatewayArbs,
);
const eventsOf = (objects: fc.Arbitrary<KubeObject>): fc.Arbitrary<Event> => fc.oneof({ weight: 4, arbitrary: objects.map((upsert) => ({ upsert })) }, { weight: 1, arbitrary: objects.map((remove) => ({ remove })) });
const eventArb = eventsOf(objectArb);
/** Gateway API events only, with the Services and Secrets routes read: route moves, listener changes, namespace labels, grants. */
const gatewayEventArb = eventsOf(
  fc.oneof(
    ...gatewayArbs,
    fc.record({ name: fc.constantFrom(...SERVICES), port: fc.constantFrom(80, 81) }).map(({ name, port }) => service(name, port)),
    fc.record({ name: fc.constantFrom(...SERVICES), addresses: fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { maxLength: 3 }) }).map(({ name, addresses }) => slice(name, addresses)),
    fc.constantFrom(secret as KubeObject, secretRenewed as KubeObject),
  ),
);

/** Gateway API sequences start from both Gateways, the class, the Services and the Secret, so every run moves routes between Gateways and listeners, relabels namespaces, adds and removes grants. */
const GATEWAY_START: readonly KubeObject[] = [gatewayClass('portico.dev/gateway-controller'), gateway(undefined, true), gateway(undefined, true, 'edge2', 'Selector'), ...SERVICES.map((name) => service(name, 80)), secret as KubeObject];

const wire = (snapshot: Snapshot): Snapshot => JSON.parse(JSON.stringify(snapshot)) as Snapshot;

/**
 * What older full versions hold that the next newer full version does not, by content (3 heap
 * bytes per byte of item JSON, as history estimates): what `retainedBytes` should say.
 */
function retainedByContent(history: SnapshotHistory): number {
  const full = history.list().filter((entry) => entry.snapshot !== undefined);
  let bytes = 0;
  for (let i = 1; i < full.length; i++) {
    for (const name of ['hosts', 'endpointSets', 'certificates'] as const) {
      const newer = new Set((full[i - 1]!.snapshot![name] as readonly object[]).map((item) => JSON.stringify(item)));
      for (const item of full[i]!.snapshot![name] as readonly object[]) if (!newer.has(JSON.stringify(item))) bytes += JSON.stringify(item).length * 3;
    }
  }
  return bytes;
}

describe('incremental publishing', () => {
  it.each([
    { what: 'any event sequence', events: eventArb, start: [] as KubeObject[], numRuns: 60 },
    { what: 'any Gateway API event sequence', events: gatewayEventArb, start: GATEWAY_START, numRuns: 300 },
  ])('$what, published one by one, equals a full rebuild of the final state byte for byte; deltas carry a node along', ({ events: eventsArb, start, numRuns }) => {
    fc.assert(
      fc.property(fc.array(eventsArb, { minLength: 1, maxLength: 25 }), (events) => {
        const state = ClusterState.from(start);
        const history = new SnapshotHistory({ fullVersions: 2 });
        const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
        // The node starts from the first version and only ever applies deltas received as JSON.
        let node: Snapshot | undefined;
        for (const event of events) {
          if ('upsert' in event) state.upsert(event.upsert);
          else state.remove(event.remove);
          const { snapshot } = publisher.rebuild();
          // Every intermediate version too, so a stale reused Ingress or route derivation cannot hide behind a later rebuild.
          expect(JSON.stringify(snapshot)).toBe(JSON.stringify(compileState(ClusterState.from(state.objects()), STANDALONE_SELECTION).snapshot));
          expect(JSON.stringify(publisher.gatewayStatus)).toBe(JSON.stringify(buildModel(ClusterState.from(state.objects()), STANDALONE_SELECTION).gateway));
          // The history's figures, kept from the change alone, are what counting the whole version gives.
          expect(history.current()!.size.routes).toBe(snapshot.hosts.reduce((n, host) => n + host.routes.length, 0));
          expect(history.current()!.size.endpoints).toBe(snapshot.endpointSets.reduce((n, set) => n + set.endpoints.length, 0));
          expect(history.retainedBytes).toBe(retainedByContent(history));
          if (node === undefined) node = wire(snapshot);
          else if (node.version !== snapshot.version) node = applyDelta(node, JSON.parse(JSON.stringify({ type: 'delta', ...snapshotDelta(history.get(node.version)!.snapshot, snapshot) })));
          expect(node.version).toBe(snapshot.version);
        }
        const final = history.current()!.snapshot;
        const reference = compileState(ClusterState.from(state.objects()), STANDALONE_SELECTION).snapshot;
        expect(JSON.stringify(final)).toBe(JSON.stringify(reference));
        expect(JSON.stringify(node)).toBe(JSON.stringify(reference));
      }),
      { numRuns },
    );
  });

  it.each([
    { what: 'any event', events: eventArb, start: [] as KubeObject[] },
    { what: 'any Gateway API event', events: gatewayEventArb, start: GATEWAY_START },
  ])('after $what, the conditions equal a full build\'s (the incremental build merges only those that changed)', ({ events: eventsArb, start }) => {
    fc.assert(
      fc.property(fc.array(eventsArb, { minLength: 1, maxLength: 25 }), (events) => {
        const state = ClusterState.from(start);
        const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history: new SnapshotHistory({ fullVersions: 0 }) });
        for (const event of events) {
          if ('upsert' in event) state.upsert(event.upsert);
          else state.remove(event.remove);
          const { conditions } = publisher.rebuild();
          expect(JSON.stringify(conditions)).toBe(JSON.stringify(buildModel(ClusterState.from(state.objects()), STANDALONE_SELECTION).conditions));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('two replicas fed the same objects in different orders agree on the version', () => {
    fc.assert(
      fc.property(fc.array(objectArb, { minLength: 1, maxLength: 12 }), fc.array(fc.integer()), (objects, keys) => {
        const replica = (order: readonly KubeObject[]) => {
          const state = new ClusterState();
          const history = new SnapshotHistory();
          const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
          // Each replica publishes after every event: its intermediate versions differ, the last must not.
          for (const object of order) {
            state.upsert(object);
            publisher.rebuild();
          }
          return history.current()!.version;
        };
        // One object per key (a later duplicate replaces an earlier one), then a permutation of them.
        const distinct = [...ClusterState.from(objects).objects()];
        const permuted = distinct.map((object, i) => ({ object, key: keys[i] ?? i })).sort((x, y) => x.key - y.key).map((x) => x.object);
        expect(replica(permuted)).toBe(replica(distinct));
      }),
      { numRuns: 60 },
    );
  });
});

describe('SyncFeed', () => {
  it('encodes the full body once per version and each delta once per pair, whatever the number of nodes', async () => {
    const state = ClusterState.from([service('web', 80), slice('web', [1]), ingress('i1', 1, 'a.example.com', ['/'], 'web', false)]);
    const history = new SnapshotHistory();
    const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
    const feed = new SyncFeed(history);
    publisher.rebuild();
    const first = history.current()!;
    const fulls = await Promise.all(Array.from({ length: 50 }, () => feed.body(undefined, first)));
    state.upsert(ingress('i2', 2, 'b.example.com', ['/api'], 'web', false));
    publisher.rebuild();
    const second = history.current()!;
    const deltas = await Promise.all(Array.from({ length: 50 }, () => feed.body(first.version, second)));
    expect(feed.stats).toEqual({ fullEncodes: 1, deltaEncodes: 1 });
    expect(new Set(fulls.map((b) => b.gzip)).size).toBe(1);
    expect(new Set(deltas.map((b) => b.gzip)).size).toBe(1);
    expect(deltas[0]!.change).toBe('delta');
    const full = JSON.parse((await fulls[0]!.raw()).toString());
    expect(full).toEqual({ type: 'full', version: first.version, snapshot: wire(first.snapshot) });
    const delta = JSON.parse((await deltas[0]!.raw()).toString());
    expect(applyDelta(wire(first.snapshot), delta).version).toBe(second.version);
  });

  it('holds a small delta body in buffers of its own size, not in a 16 KiB zlib output buffer each', async () => {
    const state = ClusterState.from([service('web', 80), slice('web', [1]), ingress('i1', 1, 'a.example.com', ['/'], 'web', false)]);
    const history = new SnapshotHistory();
    const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
    const feed = new SyncFeed(history);
    publisher.rebuild();
    const bodies = [];
    const before = process.memoryUsage().arrayBuffers;
    for (let edit = 1; edit <= 40; edit++) {
      const from = history.current()!;
      state.upsert(ingress('i1', 1 + edit, 'a.example.com', [`/edit-${edit}`], 'web', false));
      publisher.rebuild();
      bodies.push({ body: await feed.body(from.version, history.current()!), version: history.current()!.version });
    }
    // 40 bodies of a few hundred bytes each; zlib's default output buffer alone would be 40 x 16 KiB
    // (collections can only lower the count).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(40 * 8 * 1024);
    for (const { body, version } of bodies) expect(JSON.parse(gunzipSync(body.gzip).toString())).toMatchObject({ type: 'delta', version });
  });
});

describe('SnapshotHistory memory budget', () => {
  it('weighs a version against the newer version kept, not against one summarized since', () => {
    const state = ClusterState.from([service('web', 80), slice('web', [1]), ...Array.from({ length: 10 }, (_, i) => ingress(`i${i}`, 1, `h${i}.example.com`, ['/'], 'web', false))]);
    const history = new SnapshotHistory({ fullVersions: 8, memoryBudgetBytes: 5_000 });
    const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
    publisher.rebuild();
    // The second version adds 30 hosts: the first holds nothing the second does not.
    const added = Array.from({ length: 30 }, (_, i) => ingress(`big${i}`, 1, `big${i}.example.com`, ['/', '/api', '/static'], 'web', false));
    for (const object of added) state.upsert(object);
    publisher.rebuild();
    expect(history.retainedBytes).toBe(0);
    // The third drops them again and edits one host: the second, whose 30 hosts only it holds, goes past the budget; the first is weighed against the third (one host).
    for (const object of added) state.remove(object);
    state.upsert(ingress('i0', 1, 'h0.example.com', ['/', '/v2'], 'web', false));
    publisher.rebuild();
    expect(history.list().map((e) => e.snapshot !== undefined)).toEqual([true, false, true]);
    expect(history.retainedBytes).toBeGreaterThan(0);
  });

  it('counts items shared between versions once, and summarizes versions beyond the budget', () => {
    const objects = [service('web', 80), slice('web', [1, 2, 3]), ...Array.from({ length: 30 }, (_, i) => ingress(`i${i}`, 1, `h${i}.example.com`, ['/', '/api'], 'web', false))];
    const state = ClusterState.from(objects);
    const history = new SnapshotHistory({ fullVersions: 8, memoryBudgetBytes: 20_000 });
    const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history });
    publisher.rebuild();
    // Small changes: each older version holds one host of its own, well within the budget.
    for (let i = 0; i < 3; i++) {
      state.upsert(ingress(`i${i}`, 1, `h${i}.example.com`, ['/', `/v${i}`], 'web', false));
      publisher.rebuild();
    }
    expect(history.list().map((e) => e.snapshot !== undefined)).toEqual([true, true, true, true]);
    expect(history.retainedBytes).toBeGreaterThan(0);
    expect(history.retainedBytes).toBeLessThan(10_000);
    // A change of every host: the versions before it no longer share anything with the current one.
    for (let i = 0; i < 30; i++) state.upsert(ingress(`i${i}`, 1, `h${i}.example.com`, ['/', '/all'], 'web', false));
    publisher.rebuild();
    const retained = history.list().map((e) => e.snapshot !== undefined);
    expect(retained[0]).toBe(true);
    expect(retained.filter(Boolean).length).toBeLessThan(retained.length);
    expect(history.retainedBytes).toBeLessThanOrEqual(20_000);
    const summarized = history.list().find((e) => e.snapshot === undefined)!;
    expect(summarized.counts).toBeDefined();
    expect(history.get(summarized.version)).toBeUndefined();
    expect(history.entry(summarized.version)?.version).toBe(summarized.version);
  });
});
