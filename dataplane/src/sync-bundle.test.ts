// Compiled tables over the real sync endpoint: a data plane asks for the control plane's chunks,
// assembles every version from them (compiling no host itself) and lands on exactly the bundle the
// control plane compiles for the announced version — across deltas and after missing versions. A
// damaged, truncated or mismatched chunk or digest is NACKed and the last good table keeps serving.
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from '@portico/control/api/test-support';
import { compileBundle } from '@portico/control/snapshot/bundle';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import { BUNDLE_FORMAT, BUNDLE_MEDIA_TYPE } from '@portico/control/snapshot/bundle-wire';
import { describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import { SnapshotSync } from './sync.ts';
import { json, route, syncTestbed, until } from './sync-testbed.ts';
import { fetchVia, startProxy } from './test-support.ts';

/** A sync body's JSON, changed by `damage` when the body carries a bundle (uncompressed: the test fetch asks for no gzip). */
type Damage = (body: { bundle?: { digest: string; chunks: Record<string, string> } }) => void;

describe('SnapshotSync with compiled chunks', () => {
  const bed = syncTestbed('portico-sync-bundle-');
  const { cleanup } = bed;

  /** A sync client whose answers pass through `damage` while it is set. */
  async function startSync(router = new Router()) {
    const state: { damage: Damage | undefined; bundles: number; offline: boolean } = { damage: undefined, bundles: 0, offline: false };
    const tamper: typeof fetch = async (input, init) => {
      if (state.offline) throw new Error('control plane unreachable (test)');
      const headers = { ...(init?.headers as Record<string, string>) };
      delete headers['Accept-Encoding'];
      const response = await fetch(input, { ...init, headers });
      if (!String(input).includes('/v1/sync') || response.status !== 200) return response;
      const body = (await response.json()) as Parameters<Damage>[0];
      if (body.bundle !== undefined) state.bundles++;
      state.damage?.(body);
      return new Response(JSON.stringify(body), { status: 200, headers: response.headers });
    };
    const rejected: { version: string; error: string }[] = [];
    const sync = new SnapshotSync({ controlUrls: [bed.server.url], node: 'edge-1', router, dataDir: bed.dataDir, token: TEST_TOKEN, pollSeconds: 2, backoffInitialMs: 20, backoffMaxMs: 200, fetch: tamper });
    sync.on('rejected', (event) => rejected.push(event));
    await sync.start();
    cleanup.push(() => sync.stop());
    return { sync, router, rejected, state };
  }

  const current = () => bed.control.history.current()!.snapshot;
  /** The control plane's own compile of the current version, by the reference compiler. */
  const controlDigest = () => compileBundle(current()).digest;

  it('assembles every version from shipped chunks to exactly the control plane bundle, compiling no host itself', async () => {
    const { router, state } = await startSync();
    await until(() => router.version === current().version, 5000, 'first snapshot');
    expect(router.current!.digest).toBe(controlDigest());
    for (const [i, host] of ['second.example.com', 'third.example.com', 'first.example.com'].entries()) {
      await bed.control.request('/v1/routes', json(route(`r${i}`, host, `/p${i}`)));
      await until(() => router.version === current().version, 5000, `change ${i}`);
      expect(router.current!.digest).toBe(controlDigest());
    }
    expect(state.bundles).toBe(4);
    expect(router.compiledHosts).toBe(0);
  });

  it('catches up on a delta over versions it missed, to the announced bundle', async () => {
    const { sync, router, state } = await startSync();
    await until(() => router.version === current().version, 5000, 'first snapshot');
    const missedFrom = router.version;
    state.offline = true;
    await until(() => sync.stats.failures > 0 || undefined, 5000, 'the node to lose the control plane');
    for (let i = 0; i < 3; i++) await bed.control.request('/v1/routes', json(route(`missed${i}`, `missed${i}.example.com`)));
    const deltas = sync.stats.deltas;
    state.offline = false;
    await until(() => router.version === current().version, 5000, 'catch-up');
    // One delta from the version it had, over the three it missed.
    expect(sync.stats.deltas - deltas).toBe(1);
    expect(bed.control.history.get(missedFrom!)).toBeDefined();
    expect(router.current!.digest).toBe(controlDigest());
    expect(router.compiledHosts).toBe(0);
  });

  const first = (body: Parameters<Damage>[0]): [string, string] => Object.entries(body.bundle!.chunks)[0]!;
  const damages: { name: string; damage: Damage; error: RegExp }[] = [
    {
      name: 'a chunk with a flipped byte in its host blocks',
      damage: (body) => {
        const [host, text] = first(body);
        const bytes = Buffer.from(text, 'base64');
        bytes[40] = bytes[40]! ^ 0x01;
        body.bundle!.chunks[host] = bytes.toString('base64');
      },
      error: /PORTICO_E_SNAPSHOT_LOAD: .*hashes to sha256:[0-9a-f]{64}, not the control plane's/,
    },
    {
      name: 'a truncated chunk',
      damage: (body) => {
        const [host, text] = first(body);
        body.bundle!.chunks[host] = Buffer.from(text, 'base64').subarray(0, 40).toString('base64');
      },
      error: /PORTICO_E_SNAPSHOT_INVALID: bundle\.chunks\[".*"\]: table chunk: truncated/,
    },
    { name: 'a chunk that is not base64', damage: (body) => void (body.bundle!.chunks[first(body)[0]] = '%%%%'), error: /PORTICO_E_SNAPSHOT_INVALID: bundle\.chunks\[".*"\]: not base64/ },
    { name: 'a digest that is not the bundle', damage: (body) => void (body.bundle!.digest = `sha256:${'0'.repeat(64)}`), error: /not the control plane's sha256:0{64}/ },
    { name: "another host's chunk", damage: (body) => void (body.bundle!.chunks['nowhere.example.com'] = first(body)[1]), error: /the snapshot has no such host/ },
  ];

  it.each(damages)('NACKs $name and keeps serving the last good table', async ({ damage, error }) => {
    const router = new Router();
    const proxy = await startProxy(router);
    cleanup.push(() => proxy.close());
    const { rejected, state } = await startSync(router);
    const good = current().version;
    await until(() => router.version === good, 5000, 'first snapshot');
    state.damage = (body) => {
      if (body.bundle !== undefined && Object.keys(body.bundle.chunks).length > 0) damage(body);
    };
    await bed.control.request('/v1/routes', json(route('bad', 'bad.example.com')));
    await until(() => rejected.length === 1 || undefined, 5000, 'NACK');
    expect(rejected[0]!.error).toMatch(error);
    await until(() => bed.control.nodes.list()[0]?.lastReport?.ok === false || undefined, 3000, 'NACK recorded');
    expect(bed.control.nodes.list()[0]).toMatchObject({ appliedVersion: good, lastReport: { version: current().version, ok: false } });
    expect(router.version).toBe(good);
    expect((await fetchVia(proxy.port, { host: 'first.example.com' })).status).toBe(200);
    expect((await fetchVia(proxy.port, { host: 'bad.example.com' })).status).toBe(404);
    // Undamaged again, the next version is served from its chunks.
    state.damage = undefined;
    await bed.control.request('/v1/routes', json(route('after', 'after.example.com')));
    await until(() => router.version === current().version, 5000, 'recovery');
    expect(router.current!.digest).toBe(controlDigest());
    expect((await fetchVia(proxy.port, { host: 'bad.example.com' })).status).toBe(200);
  });
});

describe('a rolling upgrade: a data plane and a control plane of releases with another bundle format', () => {
  const bed = syncTestbed('portico-sync-upgrade-');
  const { cleanup } = bed;
  const current = () => bed.control.history.current()!.snapshot;

  async function startSync(accept?: string, contentType?: string) {
    const router = new Router();
    const rejected: string[] = [];
    const seen: { bundles: number; types: string[] } = { bundles: 0, types: [] };
    const other: typeof fetch = async (input, init) => {
      const headers = { ...(init?.headers as Record<string, string>) };
      delete headers['Accept-Encoding'];
      if (accept !== undefined) headers.Accept = accept;
      const response = await fetch(input, { ...init, headers });
      if (!String(input).includes('/v1/sync') || response.status !== 200) return response;
      const body = (await response.json()) as { bundle?: { digest: string } };
      seen.types.push(response.headers.get('content-type') ?? '');
      if (body.bundle !== undefined) {
        seen.bundles++;
        // What a control plane of the previous release announces: the digest of its own scheme, which this node cannot reproduce.
        if (contentType !== undefined) body.bundle.digest = `sha256:${'1'.repeat(64)}`;
      }
      const answered = new Headers(response.headers);
      if (contentType !== undefined) answered.set('content-type', contentType);
      return new Response(JSON.stringify(body), { status: 200, headers: answered });
    };
    const sync = new SnapshotSync({ controlUrls: [bed.server.url], node: 'edge-1', router, dataDir: bed.dataDir, token: TEST_TOKEN, pollSeconds: 2, backoffInitialMs: 20, backoffMaxMs: 200, fetch: other });
    sync.on('rejected', (event) => rejected.push(event.error));
    await sync.start();
    cleanup.push(() => sync.stop());
    return { sync, router, rejected, seen };
  }

  it('a data plane of the previous release (the bare media type in Accept) gets the JSON alone, compiles it and ACKs every version', async () => {
    const { sync, router, rejected, seen } = await startSync(`${BUNDLE_MEDIA_TYPE}, application/json;q=0.9`);
    await until(() => router.version === current().version, 5000, 'first snapshot');
    for (const [i, host] of ['second.example.com', 'third.example.com'].entries()) {
      await bed.control.request('/v1/routes', json(route(`up${i}`, host, `/p${i}`)));
      await until(() => router.version === current().version, 5000, `change ${i}`);
    }
    await until(() => sync.stats.acks >= 3 || undefined, 3000, 'ACKs');
    expect({ rejected, nacks: sync.stats.nacks, bundles: seen.bundles, types: [...new Set(seen.types)] }).toEqual({ rejected: [], nacks: 0, bundles: 0, types: ['application/json'] });
    expect(router.compiledHosts).toBeGreaterThan(0);
    expect(router.current!.digest).toBe(compileBundle(current()).digest);
  });

  it('a control plane of the previous release (its bundle under the bare media type, a digest of its scheme) is compiled by the node, not NACKed in a loop', async () => {
    const { sync, router, rejected, seen } = await startSync(undefined, BUNDLE_MEDIA_TYPE);
    await until(() => router.version === current().version, 5000, 'first snapshot');
    await bed.control.request('/v1/routes', json(route('old-control', 'fourth.example.com')));
    await until(() => router.version === current().version, 5000, 'change');
    expect({ rejected, nacks: sync.stats.nacks }).toEqual({ rejected: [], nacks: 0 });
    expect(seen.bundles).toBeGreaterThan(0);
    expect(sync.stats.foreignBundles).toBe(seen.bundles);
    expect(router.current!.digest).toBe(compileBundle(current()).digest);
  });

  it('this release on both sides: the bundle is named by the format, and the same wrong digest under it is NACKed', async () => {
    const { sync, router, rejected, seen } = await startSync(undefined, BUNDLE_FORMAT);
    await until(() => rejected.length > 0 || undefined, 5000, 'NACK');
    expect(rejected[0]).toMatch(/not the control plane's sha256:1{64}/);
    expect(router.version).toBeUndefined();
    expect(seen.types[0]).toBe(BUNDLE_FORMAT);
    expect(sync.stats.foreignBundles).toBe(0);
  });
});

describe('one compiler for the sync API and a local data plane (standalone)', () => {
  it('loads the version the sync API just compiled without assembling it again', async () => {
    const compiler = new BundleCompiler();
    const control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), bundleCompiler: compiler });
    const server = await listen(control.app);
    try {
      const router = new Router({ compiler });
      for (const [i, host] of ['a.example.com', 'b.example.com'].entries()) {
        await control.request('/v1/routes', json(route(`r${i}`, host)));
        // A node asks first (the sync API compiles the version for its chunks and digest), then the local data plane loads it.
        const answer = await fetch(`${server.url}/v1/sync?node=edge-${i}`, { headers: { Authorization: `Bearer ${TEST_TOKEN}`, Accept: BUNDLE_FORMAT } });
        const shipped = ((await answer.json()) as { bundle: { digest: string } }).bundle.digest;
        const assembled = compiler.stats.versionsAssembled;
        router.load(control.history.current()!.snapshot);
        expect(compiler.stats.versionsAssembled).toBe(assembled);
        expect(router.current!.digest).toBe(shipped);
        expect(router.current!.digest).toBe(compileBundle(control.history.current()!.snapshot).digest);
      }
    } finally {
      await server.close();
      control.close();
    }
  });
});
