// The worker pool (--workers 2+) prepares the balancing-only bundle a turn after its first full
// load, as the in-process Router does: the first endpoint-only change is compiled in place.
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { Snapshot } from '@portico/control/snapshot';
import { afterEach, describe, expect, it } from 'vitest';
import { startServing } from './serve.ts';
import type { Serving } from './serve.ts';
import { LOOPBACK, fetchVia, httpGet, snapshotOf, startBackend } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serving(compiler: BundleCompiler): Promise<Serving> {
  const started = await startServing({ workers: 2, compiler, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent', proxy: { endpointAddresses: { allowLoopback: true } } });
  cleanups.push(() => started.close(2000));
  return started;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function world(round: number, port: number): Snapshot {
  return snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [port] }] }, ...Array.from({ length: 20 }, (_, i) => ({ host: `f${round}-${i}.test`, routes: [{ path: '/', endpoints: [9] }] }))]);
}

/** `snapshot` with a.test's endpoint on `port` (an endpoint-only change). */
function withEndpoint(snapshot: Snapshot, port: number): Snapshot {
  const sets = snapshot.endpointSets.map((set) => (set.endpoints.some((e) => e.port !== 9) ? { ...set, endpoints: [{ ...set.endpoints[0]!, port }] } : set));
  return { ...snapshot, endpointSets: sets, version: `${snapshot.version}-ep${port}` };
}

describe('worker pool: the first endpoint change after start-up', () => {
  it('finds the balancing-only bundle made a turn after the first full load: the change is numbered from it and served', async () => {
    const first = await startBackend((_request, response) => response.end('first'));
    const second = await startBackend((_request, response) => response.end('second'));
    cleanups.push(() => first.close(), () => second.close());
    const compiler = new BundleCompiler();
    const serve = await serving(compiler);
    const base = world(0, first.port);
    await serve.load(base);
    const assembled = compiler.stats.versionsAssembled;
    await turn();
    // The balancing-only bundle of the loaded version, made once.
    expect(compiler.stats.versionsAssembled).toBe(assembled + 1);
    const afresh = compiler.stats.numberedAfresh;
    await serve.loadEndpoints(withEndpoint(base, second.port));
    // Numbered from the last version's ids, not from scratch.
    expect(compiler.stats.numberedAfresh).toBe(afresh);
    for (let i = 0; i < 4; i++) expect(await fetchVia(serve.ports.http, { host: 'a.test', path: '/' })).toMatchObject({ status: 200, body: 'second' });
    // Later full loads make none.
    await serve.load(world(1, second.port));
    const after = compiler.stats.versionsAssembled;
    await turn();
    expect(compiler.stats.versionsAssembled).toBe(after);
  }, 60_000);

  it('makes none for a version no longer current by then', async () => {
    const compiler = new BundleCompiler();
    const serve = await serving(compiler);
    const one = serve.load(world(0, 9));
    const two = serve.load(world(1, 9));
    await expect(one).resolves.toBeUndefined();
    await two;
    const assembled = compiler.stats.versionsAssembled;
    await turn();
    expect(compiler.stats.versionsAssembled).toBe(assembled);
  }, 60_000);
});

/** Summed over workers: bundles sent whole and as deltas, and loads by how their endpoints were read. */
async function counts(serve: Serving) {
  const lines = (await httpGet(serve.ports.admin, '/metrics')).body.split('\n');
  const sum = (prefix: string, label = '') => lines.filter((line) => line.startsWith(prefix) && line.includes(label)).reduce((total, line) => total + Number(line.split(' ').at(-1)), 0);
  return {
    full: sum('portico_worker_bundles_sent_total{how="full"}'),
    deltas: sum('portico_worker_bundles_sent_total{how="delta"}'),
    resyncs: sum('portico_worker_bundle_resyncs_total'),
    whole: sum('portico_snapshot_endpoint_reads_total{', 'read="whole"'),
    patched: sum('portico_snapshot_endpoint_reads_total{', 'read="patched"'),
    same: sum('portico_snapshot_endpoint_reads_total{', 'read="same"'),
  };
}

describe('worker pool: endpoint changes and path edits in any order reach the workers as deltas read by their changed lines', () => {
  it('the first balancing-only bundle is a delta from the full one, and each delta edits the endpoints of the bundle the worker loaded last', async () => {
    const first = await startBackend((_request, response) => response.end('first'));
    const second = await startBackend((_request, response) => response.end('second'));
    const third = await startBackend((_request, response) => response.end('third'));
    cleanups.push(() => first.close(), () => second.close(), () => third.close());
    const serve = await serving(new BundleCompiler());
    const base = world(0, first.port);
    await serve.load(base);
    expect(await counts(serve)).toEqual({ full: 2, deltas: 0, resyncs: 0, whole: 2, patched: 0, same: 0 });
    // An endpoint change, then a path edit, then an endpoint change: each worker gets three deltas, and reads
    // no endpoints whole (an endpoint change moves a.test's address from one id, a slot of its key, to
    // another: the delta carries those lines).
    await serve.loadEndpoints(withEndpoint(base, second.port));
    expect(await fetchVia(serve.ports.http, { host: 'a.test', path: '/' })).toMatchObject({ status: 200, body: 'second' });
    const edited = { ...world(1, second.port), version: 'edited' };
    await serve.load(edited);
    await serve.loadEndpoints(withEndpoint(edited, third.port));
    expect(await counts(serve)).toEqual({ full: 2, deltas: 6, resyncs: 0, whole: 2, patched: 4, same: 2 });
    for (let i = 0; i < 4; i++) expect(await fetchVia(serve.ports.http, { host: 'a.test', path: '/' })).toMatchObject({ status: 200, body: 'third' });
    expect(await fetchVia(serve.ports.http, { host: 'f1-3.test', path: '/' })).not.toMatchObject({ status: 404 });
    expect(await fetchVia(serve.ports.http, { host: 'f0-3.test', path: '/' })).toMatchObject({ status: 404 });
  }, 60_000);
});
