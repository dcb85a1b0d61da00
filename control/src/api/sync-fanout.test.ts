// Fan-out through the real sync endpoint (HTTP on loopback, the headers `portico dataplane` sends):
// every node waiting for the same change gets the same buffers, deltas are encoded once per
// (known, current) pair, a node whose version is no longer held in full gets the full body with
// every host's chunk, the history's memory budget decides which versions those are, and nodes
// that hang up while waiting cost nothing afterwards.
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { BundleCompiler } from '../snapshot/bundle-compile.ts';
import { BUNDLE_FORMAT, BundleShipper } from '../snapshot/bundle-wire.ts';
import { compileBundle } from '../snapshot/bundle.ts';
import { applyDelta } from '../snapshot/delta.ts';
import type { SnapshotHistoryOptions } from '../publish/history.ts';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';

interface Answer {
  readonly status: number;
  readonly change: string | undefined;
  readonly etag: string | undefined;
  /** The body as sent (gzip). */
  readonly raw: Buffer;
}

const route = (name: string, host: string, paths = ['/']) => ({ name, hosts: [host], paths: paths.map((path) => ({ path, backends: [{ service: 'web', port: 80 }] })) });

let control: TestControl;
let server: Awaited<ReturnType<typeof listen>>;
let compiler: BundleCompiler;

async function start(history: SnapshotHistoryOptions = {}): Promise<void> {
  compiler = new BundleCompiler();
  control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), history, bundleCompiler: compiler, syncTimeoutMs: 20_000 });
  server = await listen(control.app);
}

afterEach(async () => {
  await server?.close();
  control?.close();
});

/** GET /v1/sync as a data plane asks (gzip, compiled chunks), on a real socket; bounded by `timeoutMs`. */
function sync(node: string, known: string | undefined, options: { timeout?: number; signal?: AbortSignal; timeoutMs?: number } = {}): Promise<Answer> {
  const query = new URLSearchParams({ node, timeout: String(options.timeout ?? 10) });
  if (known !== undefined) query.set('known', known);
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: `/v1/sync?${query}`, headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'Accept-Encoding': 'gzip', Accept: `${BUNDLE_FORMAT}, application/json;q=0.9` }, ...(options.signal ? { signal: options.signal } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode!, change: res.headers['x-portico-change'] as string | undefined, etag: res.headers.etag, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`no sync answer for ${node} within ${options.timeoutMs ?? 30_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}

const body = (answer: Answer) => JSON.parse(gunzipSync(answer.raw).toString()) as { type: string; version: string; from?: string; hosts?: { set: { host: string }[] }; snapshot?: { hosts: { host: string }[] }; bundle: { digest: string; chunks: Record<string, string> } };
/** The delta of a sync body without its compiled chunks (what the data plane applies). */
const deltaOf = (answer: Answer) => {
  const { bundle: _bundle, ...delta } = body(answer);
  return delta as never;
};

/** A metric's value from GET /metrics (0 when absent). */
async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await control.request('/metrics')).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}} `}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

const connected = async (): Promise<number> => ((await (await control.request('/v1/nodes')).json()) as { nodes: { connected: boolean }[] }).nodes.filter((node) => node.connected).length;

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function publishRoute(name: string, host: string, paths?: string[]): Promise<string> {
  const response = await control.request('/v1/routes', { method: 'POST', body: JSON.stringify(route(name, host, paths)), headers: { 'content-type': 'application/json' } });
  expect(response.status).toBe(201);
  return control.history.current()!.version;
}

describe('sync fan-out through GET /v1/sync', () => {
  it('answers every node waiting for a change from the same buffers: one delta encoded, one bundle assembled', async () => {
    await start();
    const base = control.history.current()!.version;
    const nodes = Array.from({ length: 40 }, (_, i) => `edge-${i}`);
    const waiting = nodes.map((node) => sync(node, base));
    await until(async () => (await connected()) === nodes.length, 'every node long-polling');
    const encodedBefore = await metric('portico_sync_bodies_encoded_total', 'kind="delta"');
    const assembledBefore = compiler.stats.versionsAssembled;

    const next = await publishRoute('a', 'a.example.com');
    const answers = await Promise.all(waiting);
    expect(new Set(answers.map((answer) => `${answer.status} ${answer.change} ${answer.etag}`))).toEqual(new Set([`200 delta "${next}"`]));
    for (const answer of answers) expect(answer.raw.equals(answers[0]!.raw)).toBe(true);
    const delta = body(answers[0]!);
    expect(delta.from).toBe(base);
    expect(Object.keys(delta.bundle.chunks)).toEqual(['a.example.com']);
    expect(delta.bundle.digest).toBe(compileBundle(control.history.current()!.snapshot).digest);
    expect(applyDelta(control.history.get(base)!.snapshot, deltaOf(answers[0]!)).version).toBe(next);
    expect((await metric('portico_sync_bodies_encoded_total', 'kind="delta"')) - encodedBefore).toBe(1);
    expect(compiler.stats.versionsAssembled - assembledBefore).toBe(1);
  }, 60_000);

  it('caches one delta per (known, current) pair and drops the pairs of an older current version', async () => {
    await start();
    const v1 = control.history.current()!.version;
    const v2 = await publishRoute('a', 'a.example.com');
    const v3 = await publishRoute('b', 'b.example.com');
    const encoded = () => metric('portico_sync_bodies_encoded_total', 'kind="delta"');
    const before = await encoded();
    const fromV1 = await sync('edge-1', v1);
    const fromV2 = await sync('edge-2', v2);
    expect((await encoded()) - before).toBe(2);
    expect(Object.keys(body(fromV1).bundle.chunks).sort()).toEqual(['a.example.com', 'b.example.com']);
    expect(Object.keys(body(fromV2).bundle.chunks)).toEqual(['b.example.com']);
    for (const [answer, from] of [[fromV1, v1], [fromV2, v2]] as const) expect(applyDelta(control.history.get(from)!.snapshot, deltaOf(answer)).version).toBe(v3);
    // A third node at v1: the cached pair, no encoding.
    const again = await sync('edge-3', v1);
    expect(again.raw.equals(fromV1.raw)).toBe(true);
    expect((await encoded()) - before).toBe(2);
    // Once v4 is current, v1 -> v3 is never asked for again; v1 -> v4 is a new pair.
    const v4 = await publishRoute('c', 'c.example.com');
    const toV4 = await sync('edge-1', v1);
    expect(toV4.etag).toBe(`"${v4}"`);
    expect((await encoded()) - before).toBe(3);
  }, 60_000);

  it('sends a node too far behind (or with an unknown version) the full bundle with every host, encoded once', async () => {
    await start({ fullVersions: 2 });
    const v1 = control.history.current()!.version;
    for (const name of ['a', 'b', 'c', 'd']) await publishRoute(name, `${name}.example.com`);
    expect(control.history.get(v1)).toBeUndefined();
    const current = control.history.current()!.snapshot;
    const fullBefore = await metric('portico_sync_bodies_encoded_total', 'kind="full"');
    const answers = await Promise.all([sync('edge-behind', v1), sync('edge-new', undefined), sync('edge-lost', `sha256:${'0'.repeat(64)}`)]);
    for (const answer of answers) {
      expect(answer.change).toBe('full');
      expect(answer.raw.equals(answers[0]!.raw)).toBe(true);
    }
    const full = body(answers[0]!);
    expect(full.type).toBe('full');
    expect(Object.keys(full.bundle.chunks).sort()).toEqual(current.hosts.map((host) => host.host).sort());
    expect(full.bundle.digest).toBe(compileBundle(current).digest);
    // Written in slices, it is exactly the JSON of the whole body at once (chunks by another compiler).
    const whole = JSON.stringify({ type: 'full', version: current.version, snapshot: current, bundle: new BundleShipper().ship(current, current.hosts) });
    expect(gunzipSync(answers[0]!.raw).toString()).toBe(whole);
    expect((await metric('portico_sync_bodies_encoded_total', 'kind="full"')) - fullBefore).toBe(1);
    // A node one version behind is still held in full: a delta.
    expect((await sync('edge-close', control.history.list()[1]!.version)).change).toBe('delta');
  }, 60_000);

  it('writes a full body of many hosts in slices to exactly the JSON of the whole body', async () => {
    await start();
    // 450 Ingresses, one host each: the hosts and their chunks are written in several slices.
    for (let i = 0; i < 450; i++) {
      control.state.upsert({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: `ing-${i}`, namespace: 'default' }, spec: { rules: [{ host: `h${i}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] } } as never);
    }
    control.rebuild();
    const current = control.history.current()!.snapshot;
    expect(current.hosts.length).toBeGreaterThanOrEqual(450);
    const answer = await sync('edge-new', undefined);
    expect(answer.change).toBe('full');
    const whole = JSON.stringify({ type: 'full', version: current.version, snapshot: current, bundle: new BundleShipper().ship(current, current.hosts) });
    expect(gunzipSync(answer.raw).toString()).toBe(whole);
  }, 60_000);

  it('keeps older versions in full only within the memory budget; a node past it gets the full body', async () => {
    // Each version rewrites one host of 40 paths: every older version costs that host's items.
    await start({ fullVersions: 8, memoryBudgetBytes: 60_000 });
    const paths = (edit: number) => Array.from({ length: 40 }, (_, i) => `/section-${i}/edit-${edit}`);
    const versions = [control.history.current()!.version];
    await publishRoute('big', 'big.example.com', paths(0));
    versions.push(control.history.current()!.version);
    for (let edit = 1; edit < 8; edit++) {
      const etag = (await control.request('/v1/routes/default/big')).headers.get('etag')!;
      const response = await control.request('/v1/routes/default/big', { method: 'PUT', body: JSON.stringify(route('big', 'big.example.com', paths(edit))), headers: { 'content-type': 'application/json', 'if-match': etag } });
      expect(response.status).toBe(200);
      versions.push(control.history.current()!.version);
    }
    const retained = await metric('portico_history_retained_bytes');
    expect(retained).toBe(control.history.retainedBytes);
    expect(retained).toBeGreaterThan(0);
    expect(retained).toBeLessThanOrEqual(60_000);
    const full = await metric('portico_history_versions', 'kept="full"');
    const summarized = await metric('portico_history_versions', 'kept="summary"');
    expect(full).toBeGreaterThan(1);
    expect(full).toBeLessThan(versions.length);
    expect(full + summarized).toBe(versions.length);
    // The newest versions are the ones kept (each older big version costs its 40 routes): the
    // previous one gets a delta, one summarized for the budget the full body.
    const held = versions.map((version) => control.history.get(version) !== undefined);
    expect(held.slice(-2)).toEqual([true, true]);
    const dropped = held.indexOf(false, 1);
    expect(dropped).toBeGreaterThan(0);
    expect((await sync('edge-recent', versions.at(-2))).change).toBe('delta');
    expect((await sync('edge-old', versions[dropped])).change).toBe('full');
  }, 60_000);

  it('forgets nodes that hang up while waiting, and answers the rest after they went', async () => {
    await start();
    const base = control.history.current()!.version;
    const gone = new AbortController();
    const quitters = Array.from({ length: 30 }, (_, i) => sync(`quitter-${i}`, base, { signal: gone.signal }).catch((error: Error) => error));
    const stayer = sync('stayer', base);
    await until(async () => (await connected()) === 31, 'every node long-polling');
    gone.abort();
    for (const outcome of await Promise.all(quitters)) expect(outcome).toBeInstanceOf(Error);
    await until(async () => (await connected()) === 1, 'the quitters no longer counted as connected');
    const next = await publishRoute('a', 'a.example.com');
    const answer = await stayer;
    expect(answer.etag).toBe(`"${next}"`);
    expect((await control.request('/v1/nodes')).status).toBe(200);
  }, 60_000);
});
