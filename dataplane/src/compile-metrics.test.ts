// The admin /metrics say which path each bundle compile took (portico_bundle_compiles_total and
// friends), in process and from a primary with workers: what bench:fleet scrapes around its changes.
import type { Snapshot, SnapshotHost } from '@portico/control/snapshot';
import { afterEach, describe, expect, it } from 'vitest';
import { startServing } from './serve.ts';
import type { Serving } from './serve.ts';
import { LOOPBACK, httpGet, snapshotOf } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const base = (): Snapshot => snapshotOf(Array.from({ length: 20 }, (_, i) => ({ host: `h${i}.test`, routes: [{ path: '/a', endpoints: [9000 + i] }] })));

/** `snapshot` with host `index` replaced by `host(previous)`; every other host object kept (what an incremental build gives). */
function withHost(snapshot: Snapshot, index: number, host: (previous: SnapshotHost) => SnapshotHost, version: string): Snapshot {
  return { ...snapshot, hosts: snapshot.hosts.map((previous, i) => (i === index ? host(previous) : previous)), version };
}

/** `snapshot` with the endpoints of set `index` replaced (an endpoint-only change; the hosts are the same objects). */
function withEndpoints(snapshot: Snapshot, index: number, ports: readonly number[], version: string): Snapshot {
  const endpointSets = snapshot.endpointSets.map((set, i) => (i === index ? { ...set, endpoints: ports.map((port) => ({ address: LOOPBACK, port, terminating: false })) } : set));
  return { ...snapshot, endpointSets, version };
}

/** The compile counters of the admin /metrics, by `mode/path`, plus hosts compiled and numberings made afresh. */
async function compiles(serve: Serving): Promise<Record<string, number>> {
  const text = (await httpGet(serve.ports.admin, '/metrics')).body;
  const counts: Record<string, number> = {};
  for (const match of text.matchAll(/^portico_bundle_compiles_total\{mode="(\w+)",path="(\w+)"\} (\S+)$/gm)) counts[`${match[1]}/${match[2]}`] = Number(match[3]);
  counts.hosts = Number(/^portico_bundle_hosts_compiled_total (\S+)$/m.exec(text)?.[1]);
  counts.afresh = Number(/^portico_bundle_endpoints_numbered_afresh_total (\S+)$/m.exec(text)?.[1]);
  return counts;
}

const zero = { 'full/endpoints_in_place': 0, 'full/patched': 0, 'full/assembled': 0, 'balancing/endpoints_in_place': 0, 'balancing/patched': 0, 'balancing/assembled': 0 };

describe.each([1, 2])('admin /metrics count the bundle compiles by path (--workers %i)', (workers) => {
  it('a move patches, a path edit patches, a host added patches, then an endpoint added assembles the balancing table', async () => {
    const serve = await startServing({ workers, address: LOOPBACK, httpPort: 0, httpsPort: 0, adminAddress: LOOPBACK, adminPort: 0, accessLog: false, logLevel: 'silent' });
    cleanups.push(() => serve.close(2000));
    const first = base();
    await serve.load(first);
    await turn();
    // The full bundle, then (a turn later) the balancing-only one the first endpoint change is compiled from.
    expect(await compiles(serve)).toEqual({ ...zero, 'full/assembled': 1, 'balancing/assembled': 1, hosts: 20, afresh: 1 });

    // A moved address has another endpoint id (a slot of its key): its set's record is rewritten in place, numbered from the last numbering.
    const moved = withEndpoints(first, 3, [9100], 'moved');
    await serve.loadEndpoints(moved);
    expect(await compiles(serve)).toEqual({ ...zero, 'full/assembled': 1, 'balancing/assembled': 1, 'balancing/patched': 1, hosts: 20, afresh: 1 });

    const edited = withHost(moved, 5, (host) => ({ ...host, routes: [{ ...host.routes[0]!, path: '/b' }] }), 'edited');
    await serve.load(edited);
    expect(await compiles(serve)).toEqual({ ...zero, 'full/assembled': 1, 'full/patched': 1, 'balancing/assembled': 1, 'balancing/patched': 1, hosts: 21, afresh: 1 });

    // A host added: its grid bucket is packed again and its host slots placed again (patchGrid, table format 7).
    const added = { ...edited, hosts: [...edited.hosts, { ...edited.hosts[19]!, host: 'z.test' }], version: 'added' };
    await serve.load(added);
    expect(await compiles(serve)).toEqual({ ...zero, 'full/assembled': 1, 'full/patched': 2, 'balancing/assembled': 1, 'balancing/patched': 1, hosts: 22, afresh: 1 });

    // One endpoint more in a set: numbered from the last numbering (its key takes a slot); the balancing
    // table is laid out again, as its last one was made before a host was added (other route ids).
    await serve.loadEndpoints(withEndpoints(added, 3, [9100, 9101], 'scaled'));
    expect(await compiles(serve)).toEqual({ ...zero, 'full/assembled': 1, 'full/patched': 2, 'balancing/assembled': 2, 'balancing/patched': 1, hosts: 22, afresh: 1 });
    const text = (await httpGet(serve.ports.admin, '/metrics')).body;
    expect(text).toContain('# TYPE portico_bundle_compiles_total counter');
  }, 60_000);
});
