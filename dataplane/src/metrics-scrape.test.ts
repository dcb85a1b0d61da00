import { request } from 'node:http';
import { deserialize, serialize } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { prometheusMetrics, startAdminServer } from './admin.ts';
import type { MetricFamily } from './metric-families.ts';
import { bodyText, HeldFlagValues, mergeWorkers, PrometheusText, renderPrometheus, withoutHeldValues } from './metric-families.ts';
import { ProxyMetrics } from './metrics.ts';
import { Router } from './router.ts';
import { snapshotOf } from './test-support.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A snapshot of `count` routes (one endpoint each, ports from `first`); `edit` changes the first route's path only. */
const snapshot = (count: number, first = 20_000, edit = 0) => snapshotOf(Array.from({ length: count }, (_, i) => ({ host: `h${i}.scrape.test`, routes: [{ path: i === 0 ? `/edit-${edit}` : '/', endpoints: [first + i] }] })));

/** The text as the data plane rendered it before flag series: one sample per endpoint from Router.endpointHealth(). */
function reference(metrics: ProxyMetrics, router: Router): string {
  const families = metrics.families().map((family): MetricFamily => {
    if (family.name !== 'portico_endpoint_healthy') return family;
    const { flagSeries: _, ...rest } = family;
    return { ...rest, samples: router.endpointHealth().map((endpoint) => ({ suffix: '', labels: { endpoint: endpoint.key }, value: endpoint.healthy ? 1 : 0 })) };
  });
  return renderPrometheus(families);
}

async function adminOf(router: Router, metrics: ProxyMetrics): Promise<number> {
  const admin = await startAdminServer({ version: () => router.version, metrics: prometheusMetrics(() => metrics.families()) }, '127.0.0.1', 0);
  cleanups.push(() => admin.close());
  return (admin.address() as { port: number }).port;
}

function scrape(port: number): Promise<{ text: string; length: number }> {
  return new Promise((resolve, reject) => {
    const call = request({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ text: Buffer.concat(chunks).toString('utf8'), length: Number(response.headers['content-length']) }));
      response.on('error', reject);
    });
    call.on('timeout', () => call.destroy(new Error('scrape timed out')));
    call.on('error', reject).end();
  });
}

const healthLines = (text: string) => text.split('\n').filter((line) => line.startsWith('portico_endpoint_healthy{'));

describe('GET /metrics with the endpoint series kept rendered', () => {
  it('shows a health flip, its recovery and snapshot swaps on the next scrape, byte for byte as rendered from scratch', async () => {
    // The ejection's back-off runs on a fake clock: on a loaded machine a real 150 ms one ended
    // between a flip and the scrape that must show it. Sockets keep Node's own timers.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    cleanups.push(() => vi.useRealTimers());
    const router = new Router({ health: { failureThreshold: 1, panicThresholdPercent: 0, backoffMs: 150, maxBackoffMs: 150 } });
    cleanups.push(() => router.close());
    router.load(snapshot(50));
    const metrics = new ProxyMetrics(router);
    const port = await adminOf(router, metrics);
    const check = async () => {
      const { text, length } = await scrape(port);
      expect(text).toBe(reference(metrics, router));
      expect(length).toBe(Buffer.byteLength(text));
      return text;
    };
    expect(healthLines(await check())).toHaveLength(50);
    await check();
    // A flip between two scrapes: a stale cache would still say 1.
    expect(router.reportFailure('127.0.0.1:20007')).toBe(true);
    expect(await check()).toContain('portico_endpoint_healthy{endpoint="127.0.0.1:20007"} 0\n');
    expect(router.reportFailure('127.0.0.1:20049')).toBe(true);
    const two = await check();
    expect(healthLines(two).filter((line) => line.endsWith(' 0')).sort()).toEqual(['portico_endpoint_healthy{endpoint="127.0.0.1:20007"} 0', 'portico_endpoint_healthy{endpoint="127.0.0.1:20049"} 0']);
    // Back in after the backoff: flips back to 1.
    expect(router.endpointHealth().filter((endpoint) => !endpoint.healthy)).toHaveLength(2);
    vi.advanceTimersByTime(150);
    expect(healthLines(await check()).every((line) => line.endsWith(' 1'))).toBe(true);
    // A swap that keeps the endpoints (a path edit), then ones that change the set (fewer, other ports, more).
    router.load(snapshot(50, 20_000, 1));
    await check();
    router.load(snapshot(30));
    expect(healthLines(await check())).toHaveLength(30);
    router.load(snapshot(40, 30_000));
    const moved = await check();
    expect(moved).toContain('portico_endpoint_healthy{endpoint="127.0.0.1:30039"} 1\n');
    expect(moved).not.toContain('127.0.0.1:20000');
    expect(router.reportFailure('127.0.0.1:30000')).toBe(true);
    router.load(snapshot(60, 30_000));
    // The ejection carries over to the new set.
    expect(await check()).toContain('portico_endpoint_healthy{endpoint="127.0.0.1:30000"} 0\n');
  });

  it('renders merged workers the same as one sample per endpoint, across a process boundary, and keeps only the last render', () => {
    const router = new Router({ health: { failureThreshold: 1, panicThresholdPercent: 0, backoffMs: 60_000 } });
    cleanups.push(() => router.close());
    router.load(snapshot(20));
    const metrics = new ProxyMetrics(router);
    const text = new PrometheusText();
    // What a worker sends crosses as structured clone (cluster 'advanced' serialization): new arrays every scrape.
    const sent = (): MetricFamily[] => deserialize(serialize(metrics.families())) as MetricFamily[];
    const asSamples = (families: MetricFamily[]): MetricFamily[] => families.map(({ flagSeries: _, ...family }) => (family.name === 'portico_endpoint_healthy' ? { ...family, samples: router.endpointHealth().map((e) => ({ suffix: '' as const, labels: { endpoint: e.key }, value: e.healthy ? 1 : 0 })) } : family));
    let handedOut: { body: ReturnType<PrometheusText['render']>; text: string } | undefined;
    for (let round = 0; round < 4; round++) {
      if (round === 2) router.reportFailure('127.0.0.1:20003');
      if (round === 3) router.load(snapshot(25, 21_000));
      const workers = [{ worker: String(round + 1), families: sent() }, { worker: '9', families: sent() }];
      const expected = renderPrometheus(mergeWorkers(workers.map(({ worker, families }) => ({ worker, families: asSamples(families) }))));
      const rendered = text.render(mergeWorkers(workers));
      expect(bodyText(rendered)).toBe(expected);
      // What an earlier scrape handed out (a response may still be writing it) is never patched by a later one.
      if (handedOut !== undefined) expect(bodyText(handedOut.body)).toBe(handedOut.text);
      handedOut = { body: rendered, text: expected };
      // Workers that left (ids 1..round) are not kept: two series, the two workers of this render.
      expect(text.seriesKept).toBe(2);
    }
  });

  it('a worker sends the endpoint keys only when they changed: the primary puts back those it holds, and renders byte for byte what the whole answers render', () => {
    const router = new Router({ health: { failureThreshold: 1, panicThresholdPercent: 0, backoffMs: 60_000 } });
    cleanups.push(() => router.close());
    router.load(snapshot(400));
    const metrics = new ProxyMetrics(router);
    const held = new HeldFlagValues();
    const text = new PrometheusText();
    const values = () => metrics.families().find((family) => family.name === 'portico_endpoint_healthy')!.flagSeries![0]!.pages.reduce((sum, page) => sum + page.values.length, 0);
    const sizes: number[] = [];
    for (let round = 0; round < 6; round++) {
      if (round === 2) router.reportFailure('127.0.0.1:20003');
      if (round === 3) router.load(snapshot(400, 20_000, 1));
      if (round === 4) router.load(snapshot(300, 31_000));
      // As the pool does: the scrape names the keys the primary holds, the answer crosses by structured clone.
      const wire = serialize(withoutHeldValues(metrics.families(), held.keys()));
      sizes.push(wire.length);
      const answer = held.restore(deserialize(wire) as MetricFamily[]);
      const whole = deserialize(serialize(metrics.families())) as MetricFamily[];
      expect(renderPrometheus(answer), `round ${round}`).toBe(renderPrometheus(whole));
      const body = text.render(mergeWorkers([{ worker: '1', families: answer }]));
      expect(bodyText(body), `round ${round}`).toBe(renderPrometheus(mergeWorkers([{ worker: '1', families: whole }])));
    }
    // The keys cross with the first answer and after the set changed (round 4), not otherwise: a flip or a path edit sends flags alone.
    const keys = values();
    for (const round of [1, 2, 3, 5]) expect(sizes[round], `round ${round}: ${sizes.join(' ')}`).toBeLessThan(sizes[0]! - keys / 2);
    expect(sizes[4]).toBeGreaterThan(sizes[5]! + keys / 2);
  });

  it('hostile: an answer that leaves out values under a key the primary never held is dropped from that scrape, not rendered with other values', () => {
    const router = new Router();
    cleanups.push(() => router.close());
    router.load(snapshot(20));
    const metrics = new ProxyMetrics(router);
    const held = new HeldFlagValues();
    held.restore(metrics.families());
    const forged = withoutHeldValues(metrics.families(), ['not-a-key', ...held.keys()]).map((family) => (family.flagSeries === undefined ? family : { ...family, flagSeries: family.flagSeries.map((series) => ({ ...series, pages: series.pages.map((page) => ({ ...page, valuesKey: 'not-a-key' })) })) }));
    const rendered = renderPrometheus(held.restore(forged));
    expect(healthLines(rendered)).toEqual([]);
    // The next whole answer is rendered in full again.
    expect(healthLines(renderPrometheus(held.restore(metrics.families())))).toHaveLength(20);
  });

  it('a flip copies only the page of its line, new values re-render only their page: the other pages are the last render\'s, what was handed out is unchanged, and the text is byte for byte the one rendered from scratch', () => {
    const perPage = 1000;
    const encode = (keys: readonly string[]) => new TextEncoder().encode(keys.map((key) => `${key}\n`).join(''));
    const keysOf = (p: number, edit = 0) => Array.from({ length: perPage }, (_, i) => `10.${p}.${(i >> 8) & 255}.${i & 255}:${8080 + edit}`);
    const values = [0, 1, 2, 3, 4, 5].map((p) => encode(keysOf(p)));
    const flags = values.map(() => new Uint8Array(perPage).fill(1));
    const family = (): MetricFamily[] => [{ name: 'portico_endpoint_healthy', help: 'h', type: 'gauge', merge: 'per-worker', samples: [], flagSeries: [{ label: 'endpoint', pages: values.map((v, p) => ({ values: v, flags: flags[p]! })) }] }];
    const text = new PrometheusText();
    let last = text.render(family());
    let lastText = bodyText(last);
    expect(last.filter((piece) => typeof piece !== 'string')).toHaveLength(6);
    // [page, line] flips, or a page whose values are new (its endpoints changed).
    const steps: { flips?: [number, number][]; values?: number }[] = [{ flips: [[0, 0]] }, { flips: [[5, perPage - 1]] }, { flips: [[1, 17], [1, 18], [3, 500]] }, { flips: [[3, 500]] }, {}, { values: 2 }, { values: 4, flips: [[4, 3]] }, { values: 0, flips: [[5, 9]] }];
    for (const [step, { flips = [], values: renewed }] of steps.entries()) {
      for (const [p, line] of flips) flags[p]![line] = flags[p]![line] === 0 ? 1 : 0;
      if (renewed !== undefined) values[renewed] = encode(keysOf(renewed, step));
      const body = text.render(family());
      expect(bodyText(body), `step ${step}`).toBe(renderPrometheus(family()));
      // The pages are those of the last render but the ones a flip or new values are in.
      const touched = new Set([...flips.map(([p]) => p), ...(renewed === undefined ? [] : [renewed])]);
      const changed = body.flatMap((piece, i) => (piece === last[i] ? [] : [i]));
      expect(changed.length, `step ${step}`).toBe(touched.size);
      // What the last render handed out still reads as it did.
      expect(bodyText(last)).toBe(lastText);
      last = body;
      lastText = bodyText(body);
    }
  });

  it('answers many concurrent scrapes while snapshots swap and endpoints flip, each one whole and of one endpoint set (bounded)', async () => {
    const router = new Router({ health: { failureThreshold: 1, panicThresholdPercent: 0, backoffMs: 60_000 } });
    cleanups.push(() => router.close());
    const sets = [snapshot(200), snapshot(150, 40_000), snapshot(200, 20_000, 1)];
    router.load(sets[0]!);
    const metrics = new ProxyMetrics(router);
    const port = await adminOf(router, metrics);
    const keySets = [new Set(Array.from({ length: 200 }, (_, i) => `127.0.0.1:${20_000 + i}`)), new Set(Array.from({ length: 150 }, (_, i) => `127.0.0.1:${40_000 + i}`))];
    const started = Date.now();
    let scrapes = 0;
    for (let round = 0; round < 12; round++) {
      const inFlight = Array.from({ length: 25 }, () => scrape(port));
      // Swaps and flips while those are being answered and written.
      router.load(sets[round % 3]!);
      for (let i = 0; i < 5; i++) router.reportFailure(`127.0.0.1:${(round % 3 === 1 ? 40_000 : 20_000) + ((round * 7 + i) % 150)}`);
      for (const { text, length } of await Promise.all(inFlight)) {
        scrapes++;
        expect(length).toBe(Buffer.byteLength(text));
        expect(text.endsWith('\n')).toBe(true);
        const lines = healthLines(text);
        const keys = new Set(lines.map((line) => /endpoint="([^"]*)"/.exec(line)![1]!));
        expect(keys.size).toBe(lines.length);
        expect(keySets.some((set) => set.size === keys.size && [...keys].every((key) => set.has(key)))).toBe(true);
        for (const line of lines) expect(line).toMatch(/^portico_endpoint_healthy\{endpoint="127\.0\.0\.1:\d+"\} [01]$/);
      }
      // Settled: the next scrape is exactly the current state.
      expect((await scrape(port)).text).toBe(reference(metrics, router));
    }
    expect(scrapes).toBe(300);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});
