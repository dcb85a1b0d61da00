// The endpoint health series kept between scrapes: byte for byte what a from-scratch render of
// every endpoint gives, whatever flips, adds, removes, moves and swaps came between two scrapes,
// while an endpoint change encodes and renders only its page and a flip reads only its endpoint.
import { deserialize, serialize } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PAGE_ITEMS, Pages } from '@portico/assembly/encode';
import type { EndpointRef } from './endpoints.ts';
import { HealthWrites } from './health.ts';
import type { FlagPage, FlagSeries, MetricFamily, PrometheusBody } from './metric-families.ts';
import { bodyText, HeldFlagValues, PrometheusText, renderPrometheus, withoutHeldValues } from './metric-families.ts';
import type { HealthSource } from './metrics-endpoints.ts';
import { EndpointHealthSeries } from './metrics-endpoints.ts';
import { ProxyMetrics } from './metrics.ts';
import { Router } from './router.ts';
import { seededRandom, snapshotOf } from './test-support.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

const NAME = 'portico_endpoint_healthy';
const familyOf = (series: FlagSeries): MetricFamily[] => [{ name: NAME, help: 'h', type: 'gauge', merge: 'per-worker', samples: [], flagSeries: [series] }];

/** An id with no endpoint: a gap (ids need not be dense), written as the stand-in of invalid backends is (no address). */
const gap = (id: number): EndpointRef => ({ id, key: '', address: '', port: 0 });
/** Endpoint number `n` at id `id` (keys unique by `n`). */
const endpointAt = (id: number, n: number): EndpointRef => {
  const address = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
  return { id, key: `${address}:8080`, address, port: 8080 };
};

/** A loaded snapshot as the series sees it: all healthy at load, health written through `setHealthy` (logged), `isHealthy` calls counted. */
class ModelSnapshot implements HealthSource {
  readonly endpoints: Pages<EndpointRef>;
  readonly healthWrites: HealthWrites;
  readonly health: Uint8Array;
  reads = 0;
  readonly balancer = { isHealthy: (id: number): boolean => (this.reads++, this.health[id] === 1) };

  /** Loaded with `ejected`'s endpoints down, as Router.loadBundle applies them. */
  constructor(endpoints: Pages<EndpointRef>, ejected: ReadonlySet<string>, logMax: number) {
    this.endpoints = endpoints;
    this.healthWrites = new HealthWrites(logMax);
    this.health = new Uint8Array(endpoints.length).fill(1);
    for (const ref of endpoints.toArray()) if (ejected.has(ref.key)) this.setHealthy(ref.id, false);
  }

  setHealthy(id: number, healthy: boolean): void {
    this.health[id] = healthy ? 1 : 0;
    this.healthWrites.add(id);
  }

  /** The text rendered from scratch: one sample per endpoint with an address, in id order. */
  reference(): string {
    const samples = this.endpoints
      .toArray()
      .filter((ref) => ref.address !== '')
      .map((ref) => ({ suffix: '' as const, labels: { endpoint: ref.key }, value: this.health[ref.id]! }));
    return renderPrometheus([{ name: NAME, help: 'h', type: 'gauge', merge: 'per-worker', samples }]);
  }
}

/** The ids of `pages` whose values array is not in `before` (pages encoded since). */
const encodedSince = (before: FlagSeries, after: FlagSeries): number => {
  const held = new Set(before.pages.map((page: FlagPage) => page.values));
  return after.pages.filter((page) => !held.has(page.values)).length;
};

describe('EndpointHealthSeries', () => {
  it('property: random flips, adds, removes, moves and swaps render byte for byte as from scratch, in process and across the worker boundary, at the cost of what changed', () => {
    for (const seed of [1, 2, 3]) {
      const random = seededRandom(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const count = 3 * PAGE_ITEMS + 100;
      let next = 0;
      const refs = Array.from({ length: count }, (_, id) => (random() < 0.3 ? gap(id) : endpointAt(id, next++)));
      const ejected = new Set<string>();
      const logMax = 64;
      let snapshot = new ModelSnapshot(Pages.of(refs), ejected, logMax);
      const swap = (endpoints: Pages<EndpointRef>) => {
        // As Router.loadBundle: health records follow the endpoints there are.
        const keys = new Set(endpoints.toArray().map((ref) => ref.key));
        for (const key of ejected) if (!keys.has(key)) ejected.delete(key);
        snapshot = new ModelSnapshot(endpoints, ejected, logMax);
      };
      const listed = () => snapshot.endpoints.toArray().filter((ref) => ref.address !== '');
      const replace = (id: number, ref: EndpointRef) => swap(snapshot.endpoints.with(new Map([[id, ref]])));
      const ops: Record<string, () => void> = {
        eject: () => {
          const ref = pick(listed());
          ejected.add(ref.key);
          snapshot.setHealthy(ref.id, false);
        },
        recover: () => {
          const ref = listed().find((r) => ejected.has(r.key));
          if (ref === undefined) return;
          ejected.delete(ref.key);
          snapshot.setHealthy(ref.id, true);
        },
        // A write that changes nothing (the panic threshold rewrites a set's flags).
        rewrite: () => {
          const ref = pick(listed());
          snapshot.setHealthy(ref.id, snapshot.health[ref.id] === 1);
        },
        // More writes than the log keeps: the next scrape reads every flag.
        flood: () => {
          for (let i = 0; i < logMax + 10; i++) ops.rewrite!();
        },
        move: () => {
          const ref = pick(listed());
          replace(ref.id, endpointAt(ref.id, next++));
        },
        add: () => {
          const free = snapshot.endpoints.toArray().filter((ref) => ref.address === '');
          if (free.length === 0) return;
          const { id } = pick(free);
          replace(id, endpointAt(id, next++));
        },
        remove: () => {
          const ref = pick(listed());
          replace(ref.id, gap(ref.id));
        },
        'path edit': () => swap(snapshot.endpoints),
        // A version read whole: new page arrays, the same refs.
        reread: () => swap(Pages.of(snapshot.endpoints.toArray())),
        // Every endpoint numbered again (one more id at the front).
        renumber: () => swap(Pages.of([gap(0), ...snapshot.endpoints.toArray().map((ref) => (ref.address === '' ? gap(ref.id + 1) : { ...ref, id: ref.id + 1 }))])),
      };
      const names = Object.keys(ops);
      const series = new EndpointHealthSeries();
      const text = new PrometheusText();
      const primary = new PrometheusText();
      const held = new HeldFlagValues();
      let last = series.of(snapshot);
      let lastPages = last.pages.slice();
      expect(bodyText(text.render(familyOf(last)))).toBe(snapshot.reference());
      for (let step = 0; step < 100; step++) {
        const done = Array.from({ length: random() < 0.7 ? 1 : 1 + Math.floor(random() * 3) }, () => pick(names));
        const before = snapshot;
        const marked = before.healthWrites.count;
        for (const name of done) ops[name]!();
        snapshot.reads = 0;
        const current = series.of(snapshot);
        const label = `seed ${seed} step ${step}: ${done.join(', ')}`;
        const expected = snapshot.reference();
        expect(bodyText(text.render(familyOf(current))), label).toBe(expected);
        // As a worker answers its primary: the pages it holds left out, the answer a structured clone.
        const wire = held.restore(deserialize(serialize(withoutHeldValues(familyOf(current), held.keys()))) as MetricFamily[]);
        expect(bodyText(primary.render(wire)), label).toBe(expected);
        // The cost of one change: its pages encoded, its writes read.
        const encoded = encodedSince({ label: 'endpoint', pages: lastPages }, current);
        if (done.length === 1) {
          const name = done[0]!;
          if (['eject', 'recover', 'rewrite'].includes(name)) {
            expect(encoded, label).toBe(0);
            expect(snapshot.reads, label).toBe(snapshot.healthWrites.count - marked);
          }
          if (['move', 'add', 'remove'].includes(name) && snapshot !== before) expect(encoded, label).toBe(1);
          if (['path edit', 'reread'].includes(name)) expect(encoded, label).toBe(0);
          if (name === 'renumber') expect(encoded, label).toBe(snapshot.endpoints.pageCount);
          if (name === 'flood') expect(snapshot.reads, label).toBe(listed().length);
        }
        last = current;
        lastPages = current.pages.slice();
      }
      expect(last.pages.length).toBe(snapshot.endpoints.pageCount);
    }
  });

  it('hostile: at 200,000 endpoints a flip reads one endpoint and re-renders one page, a move encodes one page, and a flood of writes is read whole and still exact', { timeout: 60_000 }, () => {
    const count = 200_000;
    const refs = Array.from({ length: count }, (_, id) => endpointAt(id, id));
    let snapshot = new ModelSnapshot(Pages.of(refs), new Set(), Math.max(1024, count));
    const series = new EndpointHealthSeries();
    const text = new PrometheusText();
    let body = text.render(familyOf(series.of(snapshot)));
    expect(body.filter((piece) => typeof piece !== 'string')).toHaveLength(Math.ceil(count / PAGE_ITEMS));
    const renderedSince = (last: PrometheusBody, now: PrometheusBody) => now.filter((piece, i) => piece !== last[i]).length;
    // One flip: one read, one page of text copied and patched.
    snapshot.setHealthy(123_456, false);
    snapshot.reads = 0;
    let next = text.render(familyOf(series.of(snapshot)));
    expect(snapshot.reads).toBe(1);
    expect(renderedSince(body, next)).toBe(1);
    expect(bodyText(next)).toContain(`${NAME}{endpoint="${refs[123_456]!.key}"} 0\n`);
    body = next;
    // A scrape with nothing written reads nothing.
    snapshot.reads = 0;
    next = text.render(familyOf(series.of(snapshot)));
    expect(snapshot.reads).toBe(0);
    expect(renderedSince(body, next)).toBe(0);
    // One endpoint moved (a new snapshot, the ejection carried): one page encoded and rendered, the flips of the old one reset.
    const before = series.of(snapshot).pages.slice();
    snapshot = new ModelSnapshot(snapshot.endpoints.with(new Map([[7, endpointAt(7, count + 1)]])), new Set([refs[123_456]!.key]), Math.max(1024, count));
    snapshot.reads = 0;
    const moved = series.of(snapshot);
    expect(encodedSince({ label: 'endpoint', pages: before }, moved)).toBe(1);
    expect(snapshot.reads).toBe(1);
    next = text.render(familyOf(moved));
    expect(renderedSince(body, next)).toBe(1);
    body = next;
    const movedText = bodyText(body);
    // More writes than the log keeps between two scrapes: every flag read, the text still exact.
    for (let id = 0; id < count; id++) snapshot.setHealthy(id, id % 97 !== 0);
    for (let id = 0; id < count; id += 89) snapshot.setHealthy(id, true);
    snapshot.reads = 0;
    const flooded = text.render(familyOf(series.of(snapshot)));
    expect(snapshot.reads).toBe(count);
    expect(bodyText(flooded)).toBe(snapshot.reference());
    // What the scrape before handed out (a response may still be writing it) reads as it did.
    expect(bodyText(body)).toBe(movedText);
  });
});

describe('ProxyMetrics endpoint health through the Router', () => {
  it('an endpoint moved encodes the pages of its ids and a flip reads the health of the endpoints written, not every endpoint (2,500 endpoints, 3,584 ids, 4 pages)', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    cleanups.push(() => vi.useRealTimers());
    const router = new Router({ health: { failureThreshold: 1, panicThresholdPercent: 0, backoffMs: 1000, maxBackoffMs: 1000 } });
    cleanups.push(() => router.close());
    const count = 2500;
    const snapshot = (moved = -1) => snapshotOf(Array.from({ length: count }, (_, i) => ({ host: `h${i}.series.test`, routes: [{ endpoints: [30_000 + (i === moved ? count + i : i)] }] })));
    router.load(snapshot());
    const metrics = new ProxyMetrics(router);
    const seriesOf = () => metrics.families().find((family) => family.name === NAME)!.flagSeries![0]!;
    const reference = () => renderPrometheus([{ name: NAME, help: 'h', type: 'gauge', merge: 'per-worker', samples: router.endpointHealth().map((e) => ({ suffix: '' as const, labels: { endpoint: e.key }, value: e.healthy ? 1 : 0 })) }]);
    const rendered = (series: FlagSeries) => renderPrometheus(familyOf(series));
    let last = seriesOf();
    // Ids are slots of the endpoint keys (endpoint-slots.ts): 2,500 keys take 3,584 ids, the unused ones have no series.
    expect(last.pages).toHaveLength(4);
    // A flip: the scrape reads the health of that endpoint alone.
    let reads = vi.spyOn(router.current!.balancer, 'isHealthy');
    expect(router.reportFailure('127.0.0.1:31234')).toBe(true);
    let now = seriesOf();
    expect(reads).toHaveBeenCalledTimes(1);
    expect(rendered(now)).toBe(reference());
    expect(rendered(now)).toContain('{endpoint="127.0.0.1:31234"} 0\n');
    // Back after the back-off.
    reads.mockClear();
    vi.advanceTimersByTime(1000);
    now = seriesOf();
    expect(reads).toHaveBeenCalledTimes(1);
    expect(rendered(now)).toBe(reference());
    expect(router.reportFailure('127.0.0.1:30005')).toBe(true);
    seriesOf();
    // One endpoint moved: its address leaves one id and takes another (a slot of its key), so the
    // pages of the ids that changed are encoded (one or two), the others kept; the ejected endpoint
    // stays down, read alone with the one reset.
    last = seriesOf();
    const before = last.pages.slice();
    const refs = router.current!.endpoints;
    router.load(snapshot(2000));
    const changedPages = new Set(router.current!.endpoints.toArray().flatMap((ref) => (ref.key === refs.at(ref.id)!.key ? [] : [ref.id >> 10])));
    expect(changedPages.size).toBeGreaterThanOrEqual(1);
    expect(changedPages.size).toBeLessThanOrEqual(2);
    reads = vi.spyOn(router.current!.balancer, 'isHealthy');
    now = seriesOf();
    expect(encodedSince({ label: 'endpoint', pages: before }, now)).toBe(changedPages.size);
    for (let p = 0; p < before.length; p++) if (!changedPages.has(p)) expect(now.pages[p], `page ${p}`).toBe(before[p]);
    expect(reads).toHaveBeenCalledTimes(1);
    expect(rendered(now)).toBe(reference());
    expect(rendered(now)).toContain('{endpoint="127.0.0.1:30005"} 0\n');
    expect(rendered(now)).toContain(`{endpoint="127.0.0.1:${30_000 + count + 2000}"} 1\n`);
  });
});
