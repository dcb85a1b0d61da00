// The incremental bundle compile against the reference: for every snapshot, BundleCompiler gives
// the bundle compileBundle gives (same bytes, same digest), and a version that shares hosts with
// the previous one compiles only the hosts that changed.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { buildModel } from '../build/index.ts';
import { compileSnapshot } from '../compile/index.ts';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import { compileBundle } from './bundle.ts';
import { BundleCompiler } from './bundle-compile.ts';
import type { Snapshot, SnapshotBackend, SnapshotHost, SnapshotRoute } from './schema.ts';
import { sealSnapshot } from './schema.ts';

const source = (name: string, kind = 'Ingress') => ({ kind, namespace: 'default', name });
const backend = (service: string, set: string | null, extra: Partial<SnapshotBackend> = {}): SnapshotBackend => ({ namespace: 'default', service, port: 80, weight: 1, endpointSet: set, ...extra });
const route = (path: string, backends: SnapshotBackend[], extra: Partial<SnapshotRoute> = {}): SnapshotRoute => ({ source: source(path.replace(/\W/g, '') || 'root'), field: 'spec', pathType: 'Prefix', path, backends, redirect: { sslRedirect: false, forceSslRedirect: false }, ...extra });
const host = (name: string, routes: SnapshotRoute[], extra: Partial<SnapshotHost> = {}): SnapshotHost => ({ host: name, tls: false, certificate: null, routes, defaultRoute: null, ...extra });
const endpoints = (key: string, ...ports: number[]) => ({ key, endpoints: ports.map((port) => ({ address: `10.0.0.${port % 250}`, port, terminating: false })) });

/** A snapshot using every feature the bundle carries: mirrors, default backends (hidden routes), regex hosts, invalid and refused backends, TLS, header conditions, wildcards of both kinds, host and catch-all defaults with policies. */
function featureful(edit = 0): Snapshot {
  const mirror = { namespace: 'default', service: 'shadow', port: 80, endpointSet: 'default/shadow:80', numerator: 1, denominator: 2 };
  const fallback = { service: 'shadow2', port: 80, endpointSet: 'default/shadow2:80', codes: [404, 503], namespace: 'default', ingress: 'a', serviceName: 'web', servicePort: '80' };
  return sealSnapshot({
    apiVersion: 'portico.dev/v1alpha1',
    kind: 'Snapshot',
    hosts: [
      host('a.test', [
        route(`/api${edit}`, [backend('web', 'default/web:80'), backend('bad', null, { invalid: true, weight: 2 })], { policies: { requestMirror: { mirrors: [mirror, { ...mirror, service: 'shadow2', endpointSet: 'default/shadow2:80' }] }, defaultBackend: fallback } as SnapshotRoute['policies'], match: { headers: [{ name: 'X-Canary', value: 'yes', type: 'Exact' }], methods: ['GET'] } }),
        route('/tls', [backend('secure', 'default/secure:443', { tls: { serverName: null, verify: false, verifyName: 'secure', verifyDepth: 1, secret: null, caPem: null, certificatePem: null, privateKeyPem: null }, protocol: 'h2' }), backend('web', 'default/web:80')]),
        route('/refused', [backend('web', 'default/web:80')], { refused: 'auth-url unreachable' }),
      ], { tls: true, certificate: 'default/a-tls', defaultRoute: { source: source('a'), field: 'spec.defaultBackend', backends: [backend('web', 'default/web:80')], redirect: { sslRedirect: true, forceSslRedirect: false }, policies: { preserveTrailingSlash: true, defaultBackend: { ...fallback, codes: [] } } as SnapshotRoute['policies'] } }),
      host('regex.test', [route('/v[0-9]+/x', [backend('web', 'default/web:80')], { regex: true, policies: { defaultBackend: { ...fallback, service: 'shadow', endpointSet: 'default/shadow:80' } } as SnapshotRoute['policies'] }), route('/plain', [backend('shadow', 'default/shadow:80')], { regex: true })]),
      host('z.test', [route('/', [backend('gone', 'default/missing:80')])]),
      host('*.gw.test', [route('/', [backend('web', 'default/web:80')], { source: source('gw', 'HTTPRoute') }), route('/in', [backend('web', 'default/web:80')])]),
      host('*.many.test', [route('/', [backend('web', 'default/web:80')], { source: source('many', 'HTTPRoute') })]),
    ],
    defaultRoute: { source: source('catch-all'), field: 'spec.defaultBackend', backends: [backend('web', 'default/web:80')], redirect: { sslRedirect: false, forceSslRedirect: false }, policies: { preserveTrailingSlash: true } as SnapshotRoute['policies'] },
    endpointSets: [endpoints('default/secure:443', 8443), endpoints('default/shadow2:80', 9001), endpoints('default/shadow:80', 9000, 8080), endpoints('default/web:80', 8080, 8081 + edit)],
    certificates: [{ secret: 'default/a-tls', hosts: ['a.test'], certificatePem: 'CERT', privateKeyPem: 'KEY' }],
  });
}

function expectSame(compiler: BundleCompiler, snapshot: Snapshot): void {
  for (const balancingOnly of [false, true]) {
    const incremental = compiler.compile(snapshot, balancingOnly);
    const reference = compileBundle(snapshot, balancingOnly);
    expect({ ...incremental, table: Buffer.from(incremental.table).toString('base64') }).toEqual({ ...reference, table: Buffer.from(reference.table).toString('base64') });
  }
}

describe('BundleCompiler', () => {
  it('gives the reference bundle for a snapshot using every feature', () => {
    expectSame(new BundleCompiler(), featureful());
  });

  it('places default-backend hidden routes after every matched route, and names them in the routes\' policies', () => {
    const bundle = new BundleCompiler().compile(featureful());
    const entries = JSON.parse(bundle.policies) as { route: number; fallback?: number }[];
    const labels = bundle.routeLabels.split('\n');
    const hidden = entries.filter((entry) => entry.fallback !== undefined).map((entry) => entry.fallback!);
    expect(hidden).toHaveLength(3);
    // Hidden routes come after the catch-all (the last matched route) and hold the default backend's endpoints.
    const catchAll = labels.indexOf('default/catch-all@default');
    for (const id of hidden) expect(id).toBeGreaterThan(catchAll);
  });

  const here = new URL('../build/testdata/', import.meta.url).pathname;
  it.each(readdirSync(here).sort())('gives the reference bundle for the golden case %s', (name) => {
    const parsed = parseManifestText(readFileSync(join(here, name, 'in.yaml'), 'utf8'), 'in.yaml');
    expectSame(new BundleCompiler(), compileSnapshot(buildModel(ClusterState.from(parsed.objects), DEFAULT_CLASS_SELECTION).model));
  });

  it('compiles only the hosts that changed, and still equals the reference', () => {
    const compiler = new BundleCompiler();
    const first = featureful(0);
    expectSame(compiler, first);
    const before = compiler.stats.hostsCompiled;
    // The next version shares every unchanged host item with the first (as compile/ does).
    const edited = featureful(1);
    const shared = sealSnapshot({ ...edited, hosts: edited.hosts.map((item, i) => (JSON.stringify(item) === JSON.stringify(first.hosts[i]) ? first.hosts[i]! : item)) });
    expectSame(compiler, shared);
    expect(compiler.stats.hostsCompiled - before).toBe(1);
    // An endpoint-only change compiles no host at all.
    const moved = sealSnapshot({ ...shared, endpointSets: shared.endpointSets.map((set) => (set.key === 'default/web:80' ? endpoints(set.key, 7000, 7001, 7002) : set)) });
    const again = compiler.stats.hostsCompiled;
    expectSame(compiler, moved);
    expect(compiler.stats.hostsCompiled).toBe(again);
    // Endpoint changes that keep every id, shift later ids, add a set, drop one: still the reference bundle.
    const swapped = sealSnapshot({ ...moved, endpointSets: moved.endpointSets.map((set) => (set.key === 'default/secure:443' ? endpoints(set.key, 8444) : set)) });
    const grown = sealSnapshot({ ...swapped, endpointSets: swapped.endpointSets.map((set) => (set.key === 'default/secure:443' ? endpoints(set.key, 8444, 8445) : set)) });
    const added = sealSnapshot({ ...grown, endpointSets: [endpoints('default/aaa:80', 6000), ...grown.endpointSets] });
    const dropped = sealSnapshot({ ...added, endpointSets: added.endpointSets.filter((set) => set.key !== 'default/shadow2:80') });
    for (const next of [swapped, grown, added, dropped, swapped]) expectSame(compiler, next);
    expect(compiler.stats.hostsCompiled).toBe(again);
  });

  it('assembles a version once however often it is asked (shared by the sync API and a local data plane)', () => {
    const compiler = new BundleCompiler();
    const first = featureful(0);
    const bundle = compiler.compile(first);
    const balancing = compiler.compile(first, true);
    expect(compiler.stats.versionsAssembled).toBe(2);
    expect(compiler.compile(first)).toBe(bundle);
    expect(compiler.compile(first, true)).toBe(balancing);
    expect(compiler.stats.versionsAssembled).toBe(2);
    // Another snapshot object (even with the same content) is assembled: identity, not content, is the key.
    const copy = JSON.parse(JSON.stringify(first)) as Snapshot;
    expect(compiler.compile(copy)).not.toBe(bundle);
    expect(compiler.compile(copy).digest).toBe(bundle.digest);
    expect(compiler.stats.versionsAssembled).toBe(3);
    expect(compiler.compile(first)).not.toBe(bundle);
    expect(compiler.compile(first).digest).toBe(compileBundle(first).digest);
  });
});
