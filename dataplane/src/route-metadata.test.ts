import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLASS_SELECTION } from '@portico/control/ingress-class';
import { parseManifestText } from '@portico/control/manifests/parse';
import { compileState } from '@portico/control/pipeline';
import type { Snapshot } from '@portico/control/snapshot';
import { ClusterState } from '@portico/control/state';
import { compileBundle, digestOf } from './bundle.ts';
import type { TableBundle } from './bundle.ts';
import type { Decision, ProxyDecision } from './router.ts';
import { Router } from './router.ts';
import { redirectsOf } from './route-metadata.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** One Ingress of the random world: its host, paths and annotations. */
interface IngressSpec {
  readonly host: string;
  readonly paths: readonly string[];
  readonly annotations: Readonly<Record<string, string>>;
}

const PATHS = ['/', '/a', '/a/b', '/b', '/api', '/api/v1', '/c/', '/d'];
const REGEX_PATHS = ['/api/[0-9]+', '/r/(a|b)', '/x.*'];
/** Annotation sets an Ingress may carry: none (most), redirects, policies, balancing, regex, upstream TLS / HTTP/2, default backend. */
const ANNOTATIONS: readonly Record<string, string>[] = [
  {},
  {},
  {},
  { [`${A}force-ssl-redirect`]: 'true' },
  { [`${A}force-ssl-redirect`]: 'true', [`${A}preserve-trailing-slash`]: 'true' },
  { [`${A}upstream-vhost`]: 'one.internal' },
  { [`${A}upstream-vhost`]: 'two.internal', [`${A}limit-rps`]: '50' },
  { [`${A}upstream-hash-by`]: '$request_uri' },
  { [`${A}use-regex`]: 'true' },
  { [`${A}backend-protocol`]: 'HTTPS' },
  { [`${A}backend-protocol`]: 'GRPC' },
  { [`${A}backend-protocol`]: 'H2C', [`${A}force-ssl-redirect`]: 'true' },
  { [`${A}default-backend`]: 'other' },
];

function manifestsOf(world: readonly IngressSpec[]): string {
  const service = (name: string, address: string, port: number): string =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: web}\nspec: {ports: [{port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: web, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [${address}], conditions: {ready: true}}]\n`;
  const ingresses = world.map((ingress, i) =>
    JSON.stringify({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: `ing-${i}`, namespace: 'web', annotations: ingress.annotations },
      spec: {
        ingressClassName: 'portico',
        rules: [
          {
            host: ingress.host,
            http: {
              paths: ingress.paths.map((path) => ({ path, pathType: REGEX_PATHS.includes(path) ? 'ImplementationSpecific' : 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } })),
            },
          },
        ],
      },
    }),
  );
  return [service('app', '10.0.0.1', 8080), service('other', '10.0.0.2', 8081), ...ingresses].join('\n---\n');
}

function snapshotOfWorld(world: readonly IngressSpec[]): Snapshot {
  const parsed = parseManifestText(manifestsOf(world), 'world.yaml');
  if (parsed.problems.length !== 0) throw new Error(`manifest problems: ${JSON.stringify(parsed.problems)}`);
  return compileState(ClusterState.from(parsed.objects), DEFAULT_CLASS_SELECTION).snapshot;
}

/** What a decision says, without the objects that belong to one snapshot (the snapshot, the prepared pipeline, the TLS target). */
function facts(router: Router, decision: Decision): unknown {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(decision)) {
    if (key === 'snapshot') continue;
    if (key === 'policy') out.policy = value === undefined ? undefined : { descriptions: value.descriptions, fallback: value.fallback?.route, balance: value.balance.length };
    else if (key === 'tls') out.tls = value?.poolSuffix;
    else out[key] = value;
  }
  if (decision.kind === 'choose') {
    out.chosen = facts(router, router.choose(decision, undefined));
    const snapshot = decision.snapshot;
    out.ways = Array.from({ length: snapshot.endpoints.length }, (_, id) => {
      const way = snapshot.upstreamWay(decision.routeId, id);
      return [way.tls?.poolSuffix, way.protocol];
    });
  }
  return out;
}

function randomOf(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('a load keeps the previous snapshot per-route metadata where its bundle text is the same', () => {
  it('decides every sampled request as a router loading each bundle fresh, over random sequences of edits', () => {
    for (let seed = 1; seed <= 4; seed++) {
      const random = randomOf(seed * 7919);
      const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
      const subset = (list: readonly string[]): string[] => list.filter(() => random() < 0.35);
      const newIngress = (host: string): IngressSpec => {
        const annotations = pick(ANNOTATIONS);
        const paths = annotations[`${A}use-regex`] === 'true' ? [...subset(PATHS), ...subset(REGEX_PATHS)] : subset(PATHS);
        return { host, paths: paths.length === 0 ? ['/'] : paths, annotations };
      };
      let world: IngressSpec[] = Array.from({ length: 8 }, (_, i) => newIngress(`h${i}.example`));
      const sequential = new Router();
      const cloned = new Router();
      let reused = 0;
      for (let version = 0; version < 20; version++) {
        if (version > 0) {
          // Edits: a path added or removed (route ids after it shift), annotations changed, an Ingress added or removed.
          const edits = 1 + Math.floor(random() * 2);
          for (let e = 0; e < edits; e++) {
            const at = Math.floor(random() * world.length);
            const ingress = world[at]!;
            const kind = random();
            if (kind < 0.2) {
              // A path swapped for another (no route id moves when it sorts into the same place).
              const absent = PATHS.filter((path) => !ingress.paths.includes(path));
              const present = ingress.paths.filter((path) => PATHS.includes(path));
              if (absent.length !== 0 && present.length !== 0) {
                const out = pick(present);
                world[at] = { ...ingress, paths: [...ingress.paths.filter((p) => p !== out), pick(absent)] };
              }
            } else if (kind < 0.4) {
              const path = pick(ingress.annotations[`${A}use-regex`] === 'true' ? [...PATHS, ...REGEX_PATHS] : PATHS);
              const paths = ingress.paths.includes(path) ? ingress.paths.filter((p) => p !== path) : [...ingress.paths, path];
              world[at] = { ...ingress, paths: paths.length === 0 ? ['/'] : paths };
            } else if (kind < 0.7) {
              world[at] = { ...newIngress(ingress.host), paths: ingress.paths.filter((path) => !REGEX_PATHS.includes(path)).concat(['/']).filter((p, i, all) => all.indexOf(p) === i) };
            } else if (kind < 0.85) {
              world.push(newIngress(`n${version}-${e}.example`));
            } else if (world.length > 2) {
              world = world.filter((_, i) => i !== at);
            }
          }
        }
        const snapshot = snapshotOfWorld(world);
        const before = sequential.current;
        sequential.load(snapshot);
        // A worker's load: a bundle that crossed a structured clone (its arrays are views of the message).
        cloned.loadBundle(deserialize(serialize(compileBundle(snapshot))) as TableBundle);
        const fresh = new Router();
        fresh.load(snapshot);
        const after = sequential.current!;
        if (before !== undefined && (after.redirects === before.redirects || after.policies === before.policies || after.tlsTargets === before.tlsTargets)) reused++;
        const hosts = [...world.map((ingress) => ingress.host), 'unknown.example'];
        for (const host of hosts) {
          for (const path of [...PATHS, '/api/42', '/r/a', '/x/y', '/c', '/a/b/c']) {
            for (const scheme of ['http', 'https'] as const) {
              const want = facts(fresh, fresh.route(host, path, 'GET', undefined, scheme));
              const where = `seed ${seed} version ${version} ${scheme}://${host}${path}`;
              expect(facts(sequential, sequential.route(host, path, 'GET', undefined, scheme)), where).toEqual(want);
              expect(facts(cloned, cloned.route(host, path, 'GET', undefined, scheme)), where).toEqual(want);
            }
          }
        }
      }
      // Some versions keep parts of the previous one (edits that move no route): the reuse is exercised, not only the rebuild.
      expect(reused, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it('keeps the prepared policies, regex dispatch and upstream ways of a version whose texts are the same, and the pipelines of routes that only moved', () => {
    const world: IngressSpec[] = [
      { host: 'a.example', paths: ['/', '/x'], annotations: {} },
      { host: 'b.example', paths: ['/'], annotations: { [`${A}upstream-vhost`]: 'b.internal', [`${A}limit-rps`]: '5' } },
      { host: 'c.example', paths: ['/', '/api/[0-9]+'], annotations: { [`${A}use-regex`]: 'true', [`${A}backend-protocol`]: 'HTTPS' } },
    ];
    const router = new Router();
    router.load(snapshotOfWorld(world));
    const first = router.current!;
    const limited = first.policies[(router.route('b.example', '/', 'GET', undefined, 'https') as ProxyDecision).routeId];
    expect(limited?.descriptions.join(' ')).toMatch(/5 req\/s/);
    // A path edit on a host without annotations that moves no route id: every part is kept.
    router.load(snapshotOfWorld([{ ...world[0]!, paths: ['/', '/y'] }, world[1]!, world[2]!]));
    const second = router.current!;
    expect(second.policies).toBe(first.policies);
    expect(second.regex).toBe(first.regex);
    expect(second.redirects).toBe(first.redirects);
    expect(second.tlsTargets).toBe(first.tlsTargets);
    // A path added before b.example: its route id moves, its pipeline (with its rate-limit counters) stays.
    router.load(snapshotOfWorld([{ ...world[0]!, paths: ['/', '/x', '/z'] }, world[1]!, world[2]!]));
    const third = router.current!;
    expect(third.policies).not.toBe(second.policies);
    const moved = router.route('b.example', '/', 'GET', undefined, 'https') as ProxyDecision;
    expect(moved.routeId).not.toBe((first.policies as unknown[]).indexOf(limited));
    expect(third.policies[moved.routeId]).toBe(limited);
  });
});

describe('a bundle whose metadata is damaged or does not fit is refused, and the previous snapshot keeps serving', () => {
  const world: IngressSpec[] = [
    { host: 'a.example', paths: ['/', '/x'], annotations: {} },
    { host: 'b.example', paths: ['/'], annotations: { [`${A}upstream-vhost`]: 'b.internal' } },
  ];
  /** The bundle with `change` applied, hashed again so that only the load's own checks can refuse it. */
  const damaged = (bundle: TableBundle, change: Partial<TableBundle>): TableBundle => {
    const { digest: _digest, ...content } = { ...bundle, ...change };
    return { ...content, digest: digestOf(content) };
  };
  const cases: [string, (bundle: TableBundle, routes: number) => Partial<TableBundle>][] = [
    ['policies that are not JSON', (bundle) => ({ policies: bundle.policies.slice(0, -3) })],
    ['policies that are not a list', () => ({ policies: '{"route":0}' })],
    ['policies for a route past the table', (_bundle, routes) => ({ policies: JSON.stringify([{ route: routes, policies: { upstreamVhost: 'x' }, path: '/', regex: false }]) })],
    ['policies for a negative route', () => ({ policies: JSON.stringify([{ route: -1, policies: { upstreamVhost: 'x' }, path: '/', regex: false }]) })],
    ['policies naming a hidden route past the table', (_bundle, routes) => ({ policies: JSON.stringify([{ route: 0, policies: { upstreamVhost: 'x' }, path: '/', regex: false, mirrors: [routes + 3] }]) })],
    ['policies for one route twice', () => ({ policies: JSON.stringify([0, 0].map((route) => ({ route, policies: { upstreamVhost: 'x' }, path: '/', regex: false }))) })],
    ['regex hosts naming a route past the table', (_bundle, routes) => ({ regexHosts: JSON.stringify([{ first: 0, paths: [{ pattern: '/a', route: routes }], fallback: -1 }]) })],
    ['upstream TLS that is not JSON', () => ({ upstreamTls: '[{' })],
  ];
  for (const [name, change] of cases) {
    it(`refuses ${name} (PORTICO_E_SNAPSHOT_LOAD)`, () => {
      const router = new Router();
      router.load(snapshotOfWorld(world));
      const serving = router.current!;
      const next = compileBundle(snapshotOfWorld([{ ...world[0]!, paths: ['/', '/y'] }, world[1]!]));
      const routes = next.redirects.length;
      expect(() => router.loadBundle(damaged(next, change(next, routes)))).toThrowError(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
      expect(router.current).toBe(serving);
      expect(router.route('b.example', '/', 'GET', undefined, 'http').kind).toBe('proxy');
    });
  }

  it('refuses the same policies text when the table no longer has the route it names (kept parts are checked too)', () => {
    const router = new Router();
    // z.example has more routes than a grid bucket holds: they go to the overflow area, their ids past every bucket's (and past the small table's id space).
    const big = snapshotOfWorld([{ host: 'a.example', paths: ['/', '/x', '/y'], annotations: {} }, { host: 'z.example', paths: Array.from({ length: 130 }, (_, i) => `/p${i}`), annotations: { [`${A}upstream-vhost`]: 'z.internal' } }]);
    router.load(big);
    const serving = router.current!;
    // A bundle with fewer routes whose policies text is the serving one's, byte for byte: the route it names is past the table.
    const small = compileBundle(snapshotOfWorld([{ host: 'a.example', paths: ['/'], annotations: {} }]));
    const policies = compileBundle(big).policies;
    expect(JSON.parse(policies)[0].route).toBeGreaterThanOrEqual(small.redirects.length);
    expect(() => router.loadBundle(damaged(small, { policies }))).toThrowError(/policies naming route \d+ of \d+/);
    expect(router.current).toBe(serving);
  });
});

describe('redirectsOf', () => {
  it('keeps the previous bytes when they are the same, the bundle own array when it is its whole buffer, else a copy', () => {
    const previous = Uint8Array.of(0, 1, 3, 0);
    const whole = Uint8Array.of(0, 1, 3, 0);
    expect(redirectsOf({ redirects: whole } as TableBundle, previous)).toBe(previous);
    const other = Uint8Array.of(0, 1, 1, 0);
    expect(redirectsOf({ redirects: other } as TableBundle, previous)).toBe(other);
    const message = new Uint8Array(64);
    message.set([1, 0, 1], 10);
    const view = message.subarray(10, 13);
    const kept = redirectsOf({ redirects: view } as TableBundle, previous);
    expect(kept).not.toBe(view);
    expect(kept.buffer.byteLength).toBe(3);
    expect([...kept]).toEqual([1, 0, 1]);
  });
});
