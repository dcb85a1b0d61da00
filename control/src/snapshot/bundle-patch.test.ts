// The patched bundle against the reference: across a random sequence of cluster changes (paths
// edited to the same and to other lengths, endpoints moved, grown and dropped, hosts added and
// removed, header conditions, annotation policies, a catch-all backend coming and going), each
// version BundleCompiler gives — patched from the last one where it can, assembled where it
// cannot — is byte for byte compileBundle's; and the common changes are patched.
import { describe, expect, it } from 'vitest';
import { selfSignedTlsSecret } from '../api/test-support.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { buildModel } from '../build/index.ts';
import { compileSnapshot } from '../compile/index.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { EndpointSlice, Ingress, KubeObject } from '../state/objects.ts';
import { createHash } from 'node:crypto';
import { TABLE_BLOCK_BYTES } from '@portico/assembly/encode';
import { LINE_BLOCK, SET_BLOCK, compileBundle, digestOf, lineBlocks, tableBlocksOf } from './bundle.ts';
import { BundleCompiler } from './bundle-compile.ts';
import type { Snapshot } from './schema.ts';
import { onlyEndpointsChanged } from './diff.ts';
import { endpointCapacityOf, expectSame, expectSameBundles, lcg } from './test-support.ts';
import { diffSnapshots } from './diff.ts';

const selection = { ...DEFAULT_CLASS_SELECTION, watchWithoutClass: true };

// A TLS Secret and the same Secret renewed (another certificate).
const secrets = [selfSignedTlsSecret('team', 'tls', '*.example.com'), selfSignedTlsSecret('team', 'tls', 'example.com')];

function ingress(i: number, paths: readonly string[], extra: { annotations?: Record<string, string>; defaultBackend?: boolean; tls?: boolean; service?: number } = {}): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `app-${i}`, namespace: 'team', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
    spec: {
      ...(extra.defaultBackend ? { defaultBackend: { service: { name: 'svc-0', port: { number: 80 } } } } : {}),
      ...(extra.tls ? { tls: [{ hosts: [`app-${i}.example.com`], secretName: 'tls' }] } : {}),
      rules: [{ host: `app-${i}.example.com`, http: { paths: paths.map((path, k) => ({ path, pathType: k === 1 ? 'Exact' : 'Prefix', backend: { service: { name: `svc-${extra.service ?? i % 7}`, port: { number: 80 } } } })) } }],
    },
  } as Ingress;
}

function service(s: number): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${s}`, namespace: 'team' }, spec: { ports: [{ name: 'http', port: 80 }] } } as KubeObject;
}

function slice(s: number, addresses: readonly string[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `svc-${s}-x`, namespace: 'team', labels: { 'kubernetes.io/service-name': `svc-${s}` } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080 }],
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
  } as EndpointSlice;
}

/** Services svc-0..svc-6, each with a slice of `addresses` endpoints (10.64.s.1, 10.64.s.2, ...), and Ingresses app-0..app-(count - 1) of paths /, /api and /static. */
function cluster(count: number, addresses: number): ClusterState {
  const state = new ClusterState();
  for (let s = 0; s < 7; s++) {
    state.upsert(service(s));
    state.upsert(slice(s, Array.from({ length: addresses }, (_, k) => `10.64.${s}.${k + 1}`)));
  }
  for (let i = 0; i < count; i++) state.upsert(ingress(i, ['/', '/api', '/static']));
  return state;
}

describe('BundleCompiler patches', () => {
  it('gives the reference bundle for every version of 160 random changes, patching the common ones', () => {
    const random = lcg(42);
    const state = cluster(0, 2);
    state.upsert(secrets[0]!);
    // Each Ingress's paths as last written: a change to its TLS or Service alone keeps them (and its chunk's size).
    const paths = Array.from({ length: 40 }, () => ['/', '/api', '/static']);
    for (let i = 0; i < 40; i++) state.upsert(ingress(i, paths[i]!, { tls: i % 5 === 0 }));
    const compiler = new BundleCompiler();
    let previous: Snapshot | undefined;
    let patchable = 0;
    let movesPatched = 0;
    for (let step = 0; step < 160; step++) {
      const i = Math.floor(random() * 40);
      const s = Math.floor(random() * 7);
      const what = Math.floor(random() * 13);
      if (what <= 2) state.upsert(ingress(i, (paths[i] = ['/', `/api${step % 10}`, '/static']))); // same length mostly: patched
      else if (what === 3) state.upsert(ingress(i, (paths[i] = ['/', `/a-much-longer-path-${step}`, '/static', '/more']))); // grows
      else if (what <= 5) state.upsert(slice(s, [`10.64.${s}.1`, `10.65.${step}.${s}`])); // one endpoint moves
      else if (what === 6) state.upsert(slice(s, Array.from({ length: 1 + (step % 4) }, (_, k) => `10.66.${s}.${k}`))); // grown or shrunk
      else if (what === 7) {
        if (state.ingresses.has(`team/app-${i}`)) state.remove(ingress(i, []));
        else state.upsert(ingress(i, (paths[i] = ['/', '/api', '/static'])));
      } else if (what === 8) state.upsert(ingress(1, ['/', '/api', '/static'], { annotations: step % 2 === 0 ? { 'nginx.ingress.kubernetes.io/ssl-redirect': 'true', 'nginx.ingress.kubernetes.io/proxy-read-timeout': '30' } : {} }));
      else if (what === 9) state.upsert(ingress(0, ['/', '/api', '/static'], { defaultBackend: step % 3 === 0 }));
      else if (what === 10) state.upsert(ingress(i, paths[i]!, { tls: step % 2 === 0 })); // its certificate comes or goes, paths alike: patched
      else if (what === 11) state.upsert(secrets[step % 2]!); // the certificate renewed: every TLS host's certificate item changes
      else state.upsert(ingress(i, paths[i]!, { service: step % 7 })); // another Service, paths alike: patched, the endpoint sets it uses move
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      // As standalone compiles it: the full bundle (the sync API ships its digest), and balancing only for an endpoint-only change (the local data plane).
      const modes = previous !== undefined && onlyEndpointsChanged(diffSnapshots(previous, snapshot)) ? [false, true] : [false];
      const before = compiler.stats.patched;
      const fullBefore = compiler.paths.full.patched;
      for (const balancingOnly of modes) expectSameBundles(compiler.compile(snapshot, balancingOnly), compileBundle(snapshot, balancingOnly), `step ${step} (change ${what}, balancing only: ${balancingOnly})`);
      if (compiler.stats.patched > before) patchable++;
      if ((what === 4 || what === 5) && compiler.paths.full.patched > fullBefore) movesPatched++;
      previous = snapshot;
    }
    expect(patchable).toBeGreaterThan(40);
    // The "one endpoint moves" steps: a moved address has another id (a slot of its key), so the last
    // full table is patched, its set's record rewritten in place (not the last bundle with only its endpoints text replaced).
    expect(movesPatched).toBeGreaterThan(15);
  });

  it('numbers endpoints from the last numbering unless the id capacity changes, and gives the reference bundle', () => {
    // Service s has slice s; svc-0 and svc-1 share the address 10.64.9.9 (one endpoint id for both).
    const state = new ClusterState();
    const addresses: string[][] = [['10.64.0.1', '10.64.9.9'], ['10.64.1.1', '10.64.9.9'], ['10.64.2.1', '10.64.2.2'], ['10.64.3.1', '10.64.3.1'], ['10.64.4.1'], ['10.64.5.1'], ['10.64.6.1']];
    for (let s = 0; s < 7; s++) {
      state.upsert(service(s));
      state.upsert(slice(s, addresses[s]!));
    }
    for (let i = 0; i < 14; i++) state.upsert(ingress(i, ['/', '/api', '/static']));
    state.upsert(ingress(20, ['/'], { defaultBackend: true }));
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    for (const balancingOnly of [false, true]) compiler.compile(previous, balancingOnly);
    const cases: [string, () => void][] = [
      ['an address replaced by one another set holds', () => state.upsert(slice(0, ['10.64.0.1', '10.64.1.1']))],
      ['a unique address replaced by a new one', () => state.upsert(slice(2, ['10.64.2.1', '10.70.0.1']))],
      // As an EndpointSlice changes when one pod goes and another comes: the sorted addresses shift by one.
      ['one address gone, a new one after the others', () => state.upsert(slice(2, ['10.70.0.1', '10.70.0.2']))],
      ['two sets at once, each a new address', () => (state.upsert(slice(4, ['10.70.4.1'])), state.upsert(slice(5, ['10.70.5.1'])))],
      ['the shared address replaced in one of its sets', () => state.upsert(slice(0, ['10.64.0.1', '10.70.9.9']))],
      ['two sets swap their addresses', () => (state.upsert(slice(4, ['10.70.5.1'])), state.upsert(slice(5, ['10.70.4.1'])))],
      ['two sets take the same new address', () => (state.upsert(slice(4, ['10.71.0.1'])), state.upsert(slice(5, ['10.71.0.1'])))],
      ['the address a set holds twice, replaced once', () => state.upsert(slice(3, ['10.64.3.1', '10.72.3.1']))],
      ['a set grows', () => state.upsert(slice(2, ['10.64.2.1', '10.70.0.1', '10.70.0.2']))],
      ['a set grows past a capacity step', () => state.upsert(slice(2, ['10.64.2.1', '10.70.0.1', '10.70.0.2', '10.70.0.3', '10.70.0.4', '10.70.0.5']))],
      ['a set shrinks back below it', () => state.upsert(slice(2, ['10.64.2.1']))],
      ['a new address again after all that', () => state.upsert(slice(3, ['10.64.3.1', '10.73.0.1']))],
      ['a Service goes', () => state.remove(service(6))],
    ];
    let crossed = 0;
    for (const [name, change] of cases) {
      change();
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      const before = { ...compiler.stats };
      expectSame(compiler, snapshot, name);
      // Ids are slots of the addresses: a replaced address has another id, so its set's record changes (the table is patched).
      expect(compiler.stats.endpointsInPlace - before.endpointsInPlace, name).toBe(0);
      const grown = endpointCapacityOf(snapshot) !== endpointCapacityOf(previous);
      if (grown) crossed++;
      expect(compiler.stats.numberedAfresh - before.numberedAfresh, name).toBe(grown ? 1 : 0);
      previous = snapshot;
    }
    expect(crossed).toBeGreaterThanOrEqual(2);
  });

  it('puts the labels of several hosts changed at once in place, each shifting the ones after it', () => {
    const state = cluster(40, 1);
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    compiler.compile(previous);
    // Paths of other lengths (within a chunk's padding): each version moves the labels after each changed host.
    for (const [step, edited] of [[3, 20], [20, 30, 35], [25], [1, 2, 3, 39]].entries()) {
      for (const i of edited) state.upsert(ingress(i, ['/', step % 2 === 0 ? '/ap' : `/api${step}`, '/static']));
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      const before = compiler.stats.patched;
      const bundle = compiler.compile(snapshot);
      expect(compiler.stats.patched, `step ${step}`).toBe(before + 1);
      const reference = compileBundle(snapshot);
      expect(bundle.routeLabels, `step ${step}`).toBe(reference.routeLabels);
      expect(bundle.digest, `step ${step}`).toBe(reference.digest);
      previous = snapshot;
    }
  });

  it('hashes a patched table of many blocks to the reference digest, edits at its start, middle and end and growth included', () => {
    const state = cluster(2200, 1);
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    expect(compiler.compile(previous).table.length).toBeGreaterThan(4 * 128 * 1024);
    for (const [step, i] of [0, 2199, 1100, 1101, 3, 1800].entries()) {
      state.upsert(ingress(i, ['/', step === 5 ? '/grown-to-a-longer-path' : `/ap${step}`, '/static']));
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      expect(compiler.compile(snapshot).digest, `edit of app-${i}`).toBe(compileBundle(snapshot).digest);
      previous = snapshot;
    }
    // Every edit, the grown path too: its unit's bucket is packed again (patchGrid).
    expect(compiler.stats.patched).toBe(6);
  });

  it('patches a scale (a set grows or shrinks): route records, chunks and all before the set index keep their bytes and blocks; the bundle is the reference', () => {
    const state = cluster(1500, 2);
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    for (const balancingOnly of [false, true]) compiler.compile(previous, balancingOnly);
    const changes: [string, () => void][] = [
      ['a set grows', () => state.upsert(slice(3, ['10.64.3.1', '10.64.3.2', '10.64.3.3']))],
      ['a set shrinks', () => state.upsert(slice(3, ['10.64.3.1']))],
      ['the first set grows', () => state.upsert(slice(0, ['10.64.0.1', '10.64.0.2', '10.64.0.3', '10.64.0.4']))],
      ['the last set empties', () => state.upsert(slice(6, []))],
    ];
    for (const [name, change] of changes) {
      change();
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      for (const balancingOnly of [false, true]) {
        const before = tableBlocksOf(compiler.compile(previous, balancingOnly));
        const patched = compiler.stats.patched;
        const bundle = compiler.compile(snapshot, balancingOnly);
        expect(compiler.stats.patched - patched, name).toBe(1);
        const reference = compileBundle(snapshot, balancingOnly);
        expect(bundle.digest, name).toBe(reference.digest);
        expect(Buffer.from(bundle.table).equals(Buffer.from(reference.table)), name).toBe(true);
        // Header.SET_INDEX (80; the header is 104 bytes): the set index and the endpoint area are the table's last sections.
        const setIndexAt = before.word(80 >>> 2);
        expect(Buffer.from(bundle.table.subarray(104, setIndexAt)).equals(Buffer.from(before.bytes().subarray(104, setIndexAt))), name).toBe(true);
        const after = tableBlocksOf(bundle);
        // Block 0 holds the header (length, endpoint count); the blocks after it up to the set index are the last version's.
        for (let b = 1; b < Math.floor(setIndexAt / TABLE_BLOCK_BYTES); b++) expect(after.blocks[b], `${name}: block ${b}`).toBe(before.blocks[b]);
      }
      previous = snapshot;
    }
  });

  it('copies only the block of the edited chunk for a path edit: route records rewritten with the same content, and their index, keep their blocks', () => {
    const state = cluster(3000, 1);
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    let before = tableBlocksOf(compiler.compile(previous));
    expect(before.blocks.length).toBeGreaterThan(8);
    for (const [step, i] of [1, 2999, 1500].entries()) {
      // The same path length: the chunk is patched in place; its routes' backends are as they were.
      state.upsert(ingress(i, ['/', `/ap${step}`, '/static']));
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      const bundle = compiler.compile(snapshot);
      expect(bundle.digest, `edit of app-${i}`).toBe(compileBundle(snapshot).digest);
      const after = tableBlocksOf(bundle);
      const copied = after.blocks.filter((block, b) => block !== before.blocks[b]).length;
      expect(copied, `edit of app-${i}`).toBe(1);
      previous = snapshot;
      before = after;
    }
    expect(compiler.stats.patched).toBe(3);
  });

  it('leaves every earlier bundle as it was (table, labels, endpoints, digest) while later versions are patched from it, and digests in blocks as docs/control-api.md says', () => {
    const state = cluster(1200, 2);
    const compiler = new BundleCompiler();
    let previous = compileSnapshot(buildModel(state, selection).model);
    const kept: { bundle: ReturnType<BundleCompiler['compile']>; table: Buffer; labels: string; endpoints: string }[] = [];
    const keep = (bundle: ReturnType<BundleCompiler['compile']>): void => void kept.push({ bundle, table: Buffer.from(bundle.table), labels: bundle.routeLabels, endpoints: bundle.endpoints });
    keep(compiler.compile(previous));
    for (const [step, i] of [5, 600, 1199, 5, 601].entries()) {
      state.upsert(ingress(i, ['/', `/ap${step}`, '/static']));
      if (step % 2 === 1) state.upsert(slice(step, [`10.64.${step}.1`, `10.70.${step}.9`]));
      const snapshot = compileSnapshot(buildModel(state, selection).model, previous);
      const onlyEndpoints = onlyEndpointsChanged(diffSnapshots(previous, snapshot));
      keep(compiler.compile(snapshot, onlyEndpoints));
      previous = snapshot;
    }
    expect(compiler.stats.patched).toBe(5);
    for (const [k, { bundle, table, labels, endpoints }] of kept.entries()) {
      expect(Buffer.from(bundle.table).equals(table), `version ${k}`).toBe(true);
      expect(bundle.routeLabels, `version ${k}`).toBe(labels);
      expect(bundle.endpoints, `version ${k}`).toBe(endpoints);
      const { digest, ...content } = bundle;
      expect(digestOf(content), `version ${k}`).toBe(digest);
    }
    // The wire format: the table's part is SHA-256 over its 64 KiB blocks' SHA-256s, the line texts' over their 1,024-line blocks', the endpoint sets' over the SHA-256s of the JSON of their 64-set blocks.
    const last = kept.at(-1)!.bundle;
    const sha = (part: string | Uint8Array): Buffer => createHash('sha256').update(part).digest();
    const blocks = (table: Uint8Array): Buffer[] => Array.from({ length: Math.ceil(table.length / TABLE_BLOCK_BYTES) }, (_, b) => sha(table.subarray(b * TABLE_BLOCK_BYTES, (b + 1) * TABLE_BLOCK_BYTES)));
    expect(last.table.length).toBeGreaterThan(4 * TABLE_BLOCK_BYTES);
    expect(last.routeLabels.split('\n').length).toBeGreaterThan(3 * LINE_BLOCK);
    const parts = [
      createHash('sha256').update(Buffer.concat(blocks(last.table))).digest('hex'),
      createHash('sha256').update(Buffer.concat(lineBlocks(last.routeLabels).map(sha))).digest('hex'),
      sha(last.redirects).toString('hex'),
      createHash('sha256').update(Buffer.concat(lineBlocks(last.endpoints).map(sha))).digest('hex'),
      ...[last.policies, last.regexHosts, last.upstreamTls].map((part) => sha(part).toString('hex')),
      createHash('sha256').update(Buffer.concat(Array.from({ length: Math.ceil(last.endpointSets.length / SET_BLOCK) }, (_, b) => sha(JSON.stringify(last.endpointSets.slice(b * SET_BLOCK, (b + 1) * SET_BLOCK)))))).digest('hex'),
      sha(JSON.stringify(last.tls ?? null)).toString('hex'),
    ];
    const root = createHash('sha256').update(`${last.version}\0${last.balancingOnly ? 1 : 0}\0${last.needsHeaders ? 1 : 0}\0${parts.join('\0')}`).digest('hex');
    expect(last.digest).toBe(`sha256:${root}`);
  });

  it('refuses a changed route whose set id, or a changed set whose endpoint id, is out of range, as a full assembly does', async () => {
    const { patchOwnChunks, assembleGrid, encodeChunk, Pages, TableBlocks } = await import('@portico/assembly/encode');
    const sets = [[0], [1]];
    const empty = { backends: [] };
    // Two routes of a unit without hosts: the grid numbers them from its first id; every other id is the empty record.
    const assemble = (own: readonly { backends: readonly { weight: number; set: number }[] }[], setList: readonly (readonly number[])[], count: number) => {
      const made = assembleGrid([{ name: 'routes', chunk: encodeChunk([], own.length), routes: own }], null, setList, count);
      const first = made.layout.plan.firstRoute[0]!;
      const byId = Array.from({ length: made.layout.plan.routeCount }, (_, id) => (id >= first && id < first + own.length ? own[id - first]! : empty));
      return { ...made, byId, first };
    };
    const own = [{ backends: [{ weight: 1, set: 0 }] }, { backends: [{ weight: 1, set: 1 }] }];
    const { table, layout, byId: routes, first } = assemble(own, sets, 2);
    const previous = { table: TableBlocks.of(table), layout, chunks: [], routes, sets, endpointCount: 2, fallback: -1 };
    const withRoute = (id: number, route: (typeof own)[number]) => routes.map((r, i) => (i === first + id ? route : r));
    const bad = withRoute(1, { backends: [{ weight: 1, set: 5 }] });
    expect(() => patchOwnChunks(previous, [], bad, sets, 2, -1)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(new RegExp(`routes\\[${first + 1}\\]\\.backends\\[0\\]\\.set`)) }));
    expect(() => patchOwnChunks(previous, [], routes, [sets[0]!, [5]], 2, -1)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/sets\[1\]\[0\]/) }));
    // An unchanged set past a smaller endpoint count is refused too.
    expect(() => patchOwnChunks(previous, [], routes, [[0], sets[1]!], 1, -1)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/sets\[1\]\[0\]/) }));
    // Another shape or count: not patched (undefined), the caller assembles.
    expect(patchOwnChunks(previous, [], withRoute(1, { backends: [{ weight: 1, set: 0 }, { weight: 1, set: 1 }] }), sets, 2, -1)).toBeUndefined();
    // Fewer sets (an unchanged route may name one taken away), or sets enough for another bucket of the endpoint area (64 sets a bucket).
    expect(patchOwnChunks(previous, [], withRoute(1, own[0]!), [sets[0]!], 2, -1)).toBeUndefined();
    expect(patchOwnChunks(previous, [], routes, [...sets, ...Array.from({ length: 63 }, () => [])], 2, -1)).toBeUndefined();
    // A set added within the last bucket moves nothing: patched, the bytes a full assembly's.
    const added = patchOwnChunks(previous, [], routes, [...sets, [1]], 2, -1)!;
    expect(Buffer.from(added.table.bytes()).equals(Buffer.from(assemble(own, [...sets, [1]], 2).table))).toBe(true);
    // A patch never writes into the table it started from.
    const copy = Buffer.from(table);
    const changed = [own[0]!, { backends: [{ weight: 2, set: 0 }] }];
    const patched = patchOwnChunks(previous, [], withRoute(1, changed[1]!), sets, 2, -1)!;
    expect(Buffer.from(table).equals(copy)).toBe(true);
    expect(Buffer.from(patched.table.bytes()).equals(Buffer.from(assemble(changed, sets, 2).table))).toBe(true);
    expect(Pages.of(patched.routes).toArray()).toEqual(assemble(changed, sets, 2).byId);
    // A set grows, then the first one shrinks to nothing: the area re-packed from it, the bytes a full assembly's, the route records as they were.
    for (const [next, count] of [[[sets[0]!, [1, 2, 0]], 3], [[[], [1, 2, 0]], 3]] as const) {
      const grown = patchOwnChunks(patched, [], patched.routes, next, count, -1)!;
      const full = assemble(changed, next, count).table;
      expect(Buffer.from(grown.table.bytes()).equals(Buffer.from(full))).toBe(true);
      expect(Buffer.from(full.subarray(layout.routeOffsets[0]!, layout.setIndexAt)).equals(Buffer.from(patched.table.bytes().subarray(layout.routeOffsets[0]!, layout.setIndexAt)))).toBe(true);
    }
  });
});
