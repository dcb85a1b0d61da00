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
import { chunkFromBytes, chunkToBytes, encodeChunk } from '@portico/assembly/encode';
import type { TableChunk } from '@portico/assembly/encode';
import { compileBundle } from './bundle.ts';
import { BundleCompiler, compactChunk } from './bundle-compile.ts';
import { toMatcherTable } from './table.ts';
import type { Snapshot, SnapshotBackend, SnapshotHost, SnapshotRoute } from './schema.ts';
import { sealSnapshot } from './schema.ts';
import { expectSame, lcg } from './test-support.ts';

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

describe('BundleCompiler', () => {
  it('gives the reference bundle for a snapshot using every feature', () => {
    expectSame(new BundleCompiler(), featureful());
  });

  it('places default-backend hidden routes right after their host\'s matched routes (the grid keeps a host\'s routes together), and names them in the routes\' policies', () => {
    const bundle = new BundleCompiler().compile(featureful());
    const entries = JSON.parse(bundle.policies) as { route: number; fallback?: number }[];
    const labels = bundle.routeLabels.split('\n');
    const hidden = entries.filter((entry) => entry.fallback !== undefined);
    expect(hidden).toHaveLength(3);
    for (const { route, fallback } of hidden) {
      // The hidden route is labelled as the route it hides behind and sits in its host's run, after the route.
      const host = labels[route]!.split('@')[1]!.split('/')[0]!;
      expect(labels[fallback!]!.split('@')[1]!.split('/')[0]).toBe(host);
      expect(fallback!).toBeGreaterThan(route);
      for (let id = route; id <= fallback!; id++) expect(labels[id]!.split('@')[1]!.split('/')[0]).toBe(host);
    }
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

  it('gives a version the same bytes whether it followed every scale before it or compiled it fresh, in both modes', () => {
    const next = lcg(11);
    const setKey = (s: number): string => `default/s${String(s).padStart(3, '0')}:80`;
    const address = (s: number, e: number) => ({ address: `10.${(s >> 8) & 255}.${s & 255}.${e}`, port: 8080, terminating: false });
    // 300 Services, each behind one host; set 0 shares an address with set 1 (one id for both).
    const sizes = Array.from({ length: 300 }, (_, s) => 1 + (s % 4));
    const moved = new Map<number, number>();
    const hosts = sizes.map((_, s) => host(`h${String(s).padStart(3, '0')}.test`, [route('/', [backend(`s${s}`, setKey(s))])]));
    // A set that did not change is the same item in the next version, as compile/ shares it.
    const sets = new Map<string, Snapshot['endpointSets'][number]>();
    const setOf = (s: number): Snapshot['endpointSets'][number] => {
      const id = `${s}/${sizes[s]}/${moved.get(s) ?? 0}`;
      let set = sets.get(id);
      if (set === undefined) sets.set(id, (set = { key: setKey(s), endpoints: [...Array.from({ length: sizes[s]! }, (_, e) => address(s, e + (moved.get(s) ?? 0))), ...(s === 0 ? [address(1, 0)] : [])] }));
      return set;
    };
    const version = (v: number): Snapshot =>
      sealSnapshot({
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Snapshot',
        version: String(v),
        hosts,
        defaultRoute: null,
        endpointSets: sizes.map((_, s) => setOf(s)),
        certificates: [],
      });
    const followed = new BundleCompiler();
    expectSame(followed, version(0));
    const afreshBefore = followed.stats.numberedAfresh;
    let capacityChanges = 0;
    for (let v = 1; v <= 30; v++) {
      // A scale: an endpoint added or taken away (sets 0 and 1 among the likely ones), now and then an address moved.
      const s = next() < 0.2 ? Math.floor(next() * 2) : Math.floor(next() * sizes.length);
      if (next() < 0.15) moved.set(s, (moved.get(s) ?? 0) + 10);
      else sizes[s] = Math.max(1, sizes[s]! + (next() < 0.5 ? -1 : 1));
      const snapshot = version(v);
      const before = followed.stats.numberedAfresh;
      expectSame(followed, snapshot);
      if (followed.stats.numberedAfresh !== before) capacityChanges++;
      for (const balancingOnly of [false, true]) {
        const fresh = new BundleCompiler().compile(snapshot, balancingOnly);
        const kept = followed.compile(snapshot, balancingOnly);
        expect(Buffer.from(fresh.table).equals(Buffer.from(kept.table)), `version ${v}`).toBe(true);
        expect(fresh.digest, `version ${v}`).toBe(kept.digest);
      }
    }
    // Numbered from the last version but when the id capacity changed.
    expect(followed.stats.numberedAfresh - afreshBefore).toBe(capacityChanges);
    expect(capacityChanges).toBeLessThan(10);
  });

  it('digests endpoint sets of several JSON blocks after a move, a scale and a set emptied, as the reference does', () => {
    // 2,500 sets: the endpointSets JSON is kept in blocks of 1,024 sets, and only a changed block is made again.
    const sets = Array.from({ length: 2500 }, (_, s) => endpoints(`default/s${String(s).padStart(4, '0')}:80`, 1000 + s));
    const version = (v: number, list: Snapshot['endpointSets']): Snapshot =>
      sealSnapshot({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: String(v), hosts: [host('a.test', [route('/', [backend('s0', sets[0]!.key)])])], defaultRoute: null, endpointSets: list, certificates: [] });
    const compiler = new BundleCompiler();
    let list = sets;
    expectSame(compiler, version(0, list), 'start');
    const edits: [string, (list: Snapshot['endpointSets']) => void][] = [
      ['an address moved in the second block', (l) => void (l[1500] = endpoints(l[1500]!.key, 9000))],
      ['a set grown in the first block', (l) => void (l[10] = endpoints(l[10]!.key, 1010, 9001))],
      ['a set emptied in the third block (every later set shifts in the list)', (l) => void (l[2100] = { key: l[2100]!.key, endpoints: [] })],
    ];
    for (const [v, [name, edit]] of edits.entries()) {
      list = list.slice();
      edit(list);
      expectSame(compiler, version(v + 1, list), name);
    }
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

  it('keeps each host\'s chunk compact and equal to the chunk encoded afresh, and still the reference bundle, over random edits', () => {
    let state = 7;
    const random = (n: number): number => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) % n;
    // Hosts of every shape a piece keeps differently: plain, redirecting, with a default route, header conditions, regex paths, upstream TLS, mirrors (and wildcards).
    // Hosts 20-23 are wildcards (`*.w20.test`...: they sort after exact hosts), the rest `h00.test`...
    const nameOf = (i: number): string => (i >= 20 ? `*.w${i}.test` : `h${String(i).padStart(2, '0')}.test`);
    // Host i has 1 + i % 3 routes of paths as long at every step, so that edits keeping its shape plain are patched; mirror routes (then nothing is patched) only in steps 0-9, 20-29...
    const shapes: number[] = [];
    const randomHost = (i: number, step: number): SnapshotHost => {
      const name = nameOf(i);
      // An edit keeps the host's shape two times in three (then a plain host is patched), else draws another.
      const shape = (shapes[i] = shapes[i] === undefined || random(3) === 0 || (shapes[i] === 6 && step % 20 >= 10) ? random(step % 20 < 10 ? 7 : 6) : shapes[i]);
      const routes = Array.from({ length: 1 + (i % 3) }, (_, k) =>
        route(`/p${k}-${step % 5}${'x'.repeat(k)}`, [backend('web', random(5) === 0 ? null : `default/s${random(4)}:80`, shape === 5 && k === 0 ? { protocol: 'h2' } : {})], {
          ...(shape === 1 ? { redirect: { sslRedirect: true, forceSslRedirect: false } } : {}),
          ...(shape === 3 && k === 0 ? { match: { headers: [{ name: 'X-Canary', value: `v${step % 10}`, type: 'Exact' as const }] } } : {}),
          ...(shape === 4 ? { regex: true } : {}),
          ...(shape === 6 && k === 0 ? { policies: { requestMirror: { mirrors: [{ namespace: 'default', service: 'shadow', port: 80, endpointSet: 'default/s1:80', numerator: 1, denominator: 2 }] } } as SnapshotRoute['policies'] } : {}),
        }),
      );
      const defaultRoute = shape === 2 ? { source: source(name), field: 'spec.defaultBackend', backends: [backend('web', 'default/s0:80')], redirect: { sslRedirect: step % 2 === 0, forceSslRedirect: false } } : null;
      return host(name, routes, { defaultRoute });
    };
    const afresh = (item: SnapshotHost): TableChunk => {
      const alone = toMatcherTable({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: '', hosts: [item], defaultRoute: null, endpointSets: [], certificates: [] });
      return encodeChunk(alone.table.hosts, alone.routes.length);
    };
    const contentOf = (chunk: TableChunk) => ({ ...chunk, bytes: [...chunk.bytes], relocations: [...chunk.relocations] });
    const compiler = new BundleCompiler();
    let hosts = Array.from({ length: 24 }, (_, i) => randomHost(i, 0));
    const sets = Array.from({ length: 4 }, (_, s) => endpoints(`default/s${s}:80`, 8000 + s));
    for (let step = 1; step <= 60; step++) {
      hosts = hosts.slice();
      for (let edits = 1 + random(3); edits > 0; edits--) {
        const at = random(hosts.length);
        hosts[at] = randomHost(at, step);
      }
      // From step 10, 30, 50 no host has mirror routes.
      if (step % 20 === 10) hosts = hosts.map((item, i) => (item.routes.some((one) => one.policies?.requestMirror !== undefined) ? randomHost(i, step) : item));
      const snapshot = sealSnapshot({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: String(step), hosts, defaultRoute: null, endpointSets: sets, certificates: [] });
      expectSame(compiler, snapshot);
      for (const item of snapshot.hosts) {
        const kept = compiler.chunkOf(item);
        expect(contentOf(kept), `step ${step} host ${item.host}`).toEqual(contentOf(afresh(item)));
        expect(chunkToBytes(kept)).toEqual(chunkToBytes(afresh(item)));
        // Bytes and relocations in one buffer, nothing else in it.
        expect(kept.relocations.buffer).toBe(kept.bytes.buffer);
        expect(kept.bytes.buffer.byteLength).toBe(kept.bytes.byteLength + kept.relocations.byteLength);
      }
    }
    // Some versions were patched (full and balancing-only), not only assembled: both keep the pieces.
    expect(compiler.stats.patched).toBeGreaterThan(4);
  });

  it('compacts a chunk that is a view at any offset of a larger buffer (as decoded from the wire) without changing it or its source', () => {
    const item = host('wire.test', [route('/a', [backend('web', 'default/web:80')], { match: { headers: [{ name: 'X-A', value: '1', type: 'Exact' }] } }), route('/b', [backend('web', 'default/web:80')])]);
    const alone = toMatcherTable({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: '', hosts: [item], defaultRoute: null, endpointSets: [], certificates: [] });
    const wire = chunkToBytes(encodeChunk(alone.table.hosts, 2));
    for (const offset of [0, 1, 3, 5]) {
      const carrier = new Uint8Array(wire.length + offset + 7).fill(0xee);
      carrier.set(wire, offset);
      const decoded = chunkFromBytes(carrier.subarray(offset, offset + wire.length));
      const compact = compactChunk(decoded);
      expect(chunkToBytes(compact)).toEqual(wire);
      // Its header condition travels in its bytes.
      expect(Buffer.from(compact.bytes).includes('x-a')).toBe(true);
      expect(carrier.subarray(offset, offset + wire.length)).toEqual(wire);
      // Seeded with it, a compiler gives the reference bundle.
      const compiler = new BundleCompiler();
      const snapshot = sealSnapshot({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', version: '1', hosts: [item], defaultRoute: null, endpointSets: [endpoints('default/web:80', 8080)], certificates: [] });
      compiler.seed(snapshot.hosts[0]!, decoded);
      expectSame(compiler, snapshot);
      expect(compiler.stats.hostsCompiled).toBe(0);
    }
  });

  it('keeps the last redirect bits array while a patch changes no bit, and copies it (earlier bundles unchanged) once one does', () => {
    const catchAll = { source: source('catch-all'), field: 'spec.defaultBackend', backends: [backend('web', 'default/web:80')], redirect: { sslRedirect: true, forceSslRedirect: false }, policies: { preserveTrailingSlash: true } as SnapshotRoute['policies'] };
    // Every version shares its hosts but h3.test with the first (as compile/ gives them).
    const hosts = Array.from({ length: 8 }, (_, i) => host(`h${i}.test`, [route('/p', [backend('web', 'default/web:80')])]));
    const version = (edit: number, redirect: boolean) =>
      sealSnapshot({
        apiVersion: 'portico.dev/v1alpha1',
        kind: 'Snapshot',
        hosts: hosts.map((item, i) => (i === 3 ? host(item.host, [route(`/p${edit}`, [backend('web', 'default/web:80')], redirect ? { redirect: { sslRedirect: true, forceSslRedirect: false } } : {})]) : item)),
        defaultRoute: catchAll,
        endpointSets: [endpoints('default/web:80', 8080)],
        certificates: [],
      });
    const compiler = new BundleCompiler();
    const compile = (snapshot: Snapshot) => {
      expectSame(compiler, snapshot);
      return compiler.compile(snapshot);
    };
    const first = compile(version(1, false));
    // The grid numbers the routes: h3.test's and the catch-all's ids are read from the labels.
    const labels = first.routeLabels.split('\n');
    const h3 = labels.findIndex((label) => label.includes('@h3.test/'));
    const catchAllId = labels.indexOf('default/catch-all@default');
    expect(h3).toBeGreaterThanOrEqual(0);
    const before = compiler.stats.patched;
    const same = compile(version(2, false));
    expect(compiler.stats.patched).toBeGreaterThan(before);
    expect(same.redirects).toBe(first.redirects);
    const snapshot = [...first.redirects];
    const flipped = compile(version(3, true));
    expect(flipped.redirects).not.toBe(first.redirects);
    expect([...first.redirects]).toEqual(snapshot);
    expect(flipped.redirects[h3]).toBe(1);
    expect(first.redirects[h3]).toBe(0);
    // The catch-all's bits (redirect, preserve trailing slash) are in both.
    expect(first.redirects[catchAllId]).toBe(3);
    expect(compile(version(4, true)).redirects).toBe(flipped.redirects);
    expect(compile(version(5, false)).redirects[h3]).toBe(0);
    expect(flipped.redirects[h3]).toBe(1);
  });
  it('patches a balancing-only table past a resized host while the grid keeps its ids, and assembles it when the host leaves its bucket', () => {
    const hosts = Array.from({ length: 6000 }, (_, i) => host(`g${String(i).padStart(4, '0')}.test`, [route('/p', [backend('web', 'default/web:80')])]));
    const version = (edited: SnapshotHost, endpoint: number) =>
      sealSnapshot({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', hosts: hosts.map((item, i) => (i === 7 ? edited : item)), defaultRoute: null, endpointSets: [endpoints('default/web:80', 8080, endpoint)], certificates: [] });
    const compiler = new BundleCompiler();
    const balancing = (snapshot: Snapshot) => {
      const before = { ...compiler.paths.balancing };
      expectSame(compiler, snapshot);
      return Object.keys(before).find((path) => compiler.paths.balancing[path as keyof typeof before] > before[path as keyof typeof before]);
    };
    balancing(version(hosts[7]!, 9000));
    // A path 16 bytes longer: the chunk grows, the host stays in its bucket (the full table assembles, the balancing one patches).
    expect(balancing(version(host('g0007.test', [route(`/p${'x'.repeat(16)}`, [backend('web', 'default/web:80')])]), 9001))).toBe('patched');
    // Past half a bucket (the bucket count stays): the host goes to the overflow area, its bucket's later hosts and its own ids change; the balancing table is assembled.
    expect(balancing(version(host('g0007.test', [route(`/p${'x'.repeat(9000)}`, [backend('web', 'default/web:80')])]), 9002))).toBe('assembled');
  });

  it('patches the full bundle when hosts with certificates, a client-certificate ask or neither are added and taken away (TLS part by the changed hosts), and gives the reference bundle', () => {
    const asking = { policies: { authTls: { secret: 'default/ca', caPem: 'CA', verify: 'on', depth: 1, passCertificate: false } } as SnapshotRoute['policies'] };
    const made = (n: number): SnapshotHost => host(`t${String(n).padStart(6, '0')}.test`, [route(`/p${n}`, [backend('web', 'default/web:80')], n % 7 === 0 ? asking : {})], n % 3 === 0 ? { tls: true, certificate: `default/c${n % 4}` } : {});
    const certificates = [0, 1, 2, 3].map((c) => ({ secret: `default/c${c}`, hosts: [], certificatePem: 'CERT', privateKeyPem: 'KEY' }));
    const endpointSets = [endpoints('default/web:80', 8080)];
    let hosts = Array.from({ length: 600 }, (_, i) => made(i * 10));
    const version = (previous?: Snapshot): Snapshot => sealSnapshot({ apiVersion: 'portico.dev/v1alpha1', kind: 'Snapshot', hosts, defaultRoute: null, endpointSets, certificates }, previous);
    const compiler = new BundleCompiler();
    let snapshot = version();
    expectSame(compiler, snapshot, 'start');
    // Added (a certificate, an ask, both, neither) and taken away again, at the start, the middle and the end.
    for (const n of [3, 2107, 5991, 4207, 1001, 5999]) {
      for (const change of ['add', 'remove'] as const) {
        hosts = change === 'add' ? [...hosts, made(n)].sort((a, b) => (a.host < b.host ? -1 : 1)) : hosts.filter((one) => one.host !== made(n).host);
        snapshot = version(snapshot);
        const patched = compiler.paths.full.patched;
        expectSame(compiler, snapshot, `${change} ${made(n).host}`);
        expect(compiler.paths.full.patched - patched, `${change} ${made(n).host}: patched`).toBe(1);
        // tlsOf keeps what it gave per snapshot object (the compiler's answer included): a copy's is worked out afresh.
        expect(compiler.compile(snapshot).tls, `${change} ${made(n).host}: tls`).toEqual(compileBundle(structuredClone(snapshot)).tls);
      }
    }
  });
});
