import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { compileState } from '../pipeline.ts';
import { onlyEndpointsChanged } from '../snapshot/diff.ts';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import { SnapshotHistory } from './history.ts';
import { SnapshotPublisher } from './publisher.ts';
import { RebuildLoop } from './rebuild-loop.ts';

const text = readFileSync(new URL('../build/testdata/hosts-and-defaults/in.yaml', import.meta.url), 'utf8');

function fixture() {
  const state = ClusterState.from(parseManifestText(text, 'x.yaml').objects);
  const compile = () => compileState(state, DEFAULT_CLASS_SELECTION);
  return { state, compile };
}

describe('SnapshotHistory', () => {
  it('publishes new versions only, keeps a bounded newest-first list, and diffs each against the previous', () => {
    const { state, compile } = fixture();
    const history = new SnapshotHistory({ limit: 2 });
    const seen: string[] = [];
    history.subscribe((p) => seen.push(p.snapshot.version));
    const first = compile();
    expect(history.publish(first.snapshot, first.conditions)).toBe(true);
    expect(history.publish(compile().snapshot, [])).toBe(false);

    const slice = state.endpointSlices.get('web/cart-1')!;
    state.upsert({ ...slice, endpoints: [{ addresses: ['10.0.1.9'] }] });
    const second = compile();
    history.publish(second.snapshot, second.conditions);
    expect(history.current()!.changes!.endpoints).toEqual({ added: ['web/cart:80 10.0.1.9:9000'], removed: ['web/cart:80 10.0.1.1:9000'], changed: [] });
    expect(onlyEndpointsChanged(history.current()!.changes!)).toBe(true);

    const shop = state.ingresses.get('web/shop')! as Ingress;
    state.upsert({ ...shop, spec: { ...shop.spec, rules: shop.spec.rules!.slice(1) } });
    const third = compile();
    history.publish(third.snapshot, third.conditions);
    const changes = history.current()!.changes!;
    expect(changes.hosts.removed).toEqual(['shop.example.com']);
    expect(changes.routes.removed).toContain('shop.example.com Exact /cart');
    expect(onlyEndpointsChanged(changes)).toBe(false);

    expect(history.list().map((p) => p.version)).toEqual([third.snapshot.version, second.snapshot.version]);
    expect(history.get(first.snapshot.version)).toBeUndefined();
    expect(seen).toEqual([first.snapshot.version, second.snapshot.version, third.snapshot.version]);
  });

  it('long-polls: answers at once when the caller is behind, else on the next publish or the timeout', async () => {
    const { compile } = fixture();
    const history = new SnapshotHistory();
    const { snapshot } = compile();
    const waiting = history.waitForChange(undefined, 5000);
    history.publish(snapshot, []);
    expect((await waiting)!.snapshot.version).toBe(snapshot.version);
    expect((await history.waitForChange('sha256:old', 5000))!.snapshot.version).toBe(snapshot.version);
    expect(await history.waitForChange(snapshot.version, 20)).toBeUndefined();
  });
});

describe('RebuildLoop', () => {
  afterEach(() => vi.useRealTimers());

  it('coalesces a burst into one rebuild after the quiet time', async () => {
    vi.useFakeTimers();
    const rebuild = vi.fn();
    const loop = new RebuildLoop({ debounceMs: 100, maxDelayMs: 1000, rebuild, onError: () => {} });
    for (let i = 0; i < 10; i++) {
      loop.trigger();
      await vi.advanceTimersByTimeAsync(20);
    }
    expect(rebuild).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(100);
    expect(rebuild).toHaveBeenCalledTimes(1);
  });

  it('never waits longer than maxDelay under a steady stream of changes', async () => {
    vi.useFakeTimers();
    const rebuild = vi.fn();
    const loop = new RebuildLoop({ debounceMs: 100, maxDelayMs: 300, rebuild, onError: () => {} });
    for (let i = 0; i < 20; i++) {
      loop.trigger();
      await vi.advanceTimersByTimeAsync(50);
    }
    expect(rebuild.mock.calls.length).toBeGreaterThanOrEqual(3);
  });

  it('reports a failing rebuild and keeps going', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const loop = new RebuildLoop({
      debounceMs: 1,
      rebuild: () => {
        calls++;
        if (calls === 1) throw new Error('boom');
      },
      onError: (e) => errors.push(e),
    });
    await loop.flush();
    await loop.flush();
    expect(calls).toBe(2);
    expect(errors).toHaveLength(1);
  });
});

describe('SnapshotPublisher', () => {
  it('refreshes only endpoint sets when nothing but EndpointSlices changed, and builds fully otherwise', () => {
    const { state } = fixture();
    const history = new SnapshotHistory();
    const publisher = new SnapshotPublisher({ state, selection: DEFAULT_CLASS_SELECTION, history });
    expect(publisher.rebuild()).toMatchObject({ published: true, endpointOnly: false });

    const slice = state.endpointSlices.get('web/cart-1')!;
    state.upsert({ ...slice, endpoints: [{ addresses: ['10.0.1.9'] }] });
    const refreshed = publisher.rebuild();
    expect(refreshed).toMatchObject({ published: true, endpointOnly: true });
    // The fast path publishes exactly what a full build of the same state would.
    expect(refreshed.snapshot.version).toBe(compileState(state, DEFAULT_CLASS_SELECTION).snapshot.version);
    expect(onlyEndpointsChanged(history.current()!.changes!)).toBe(true);

    const shop = state.ingresses.get('web/shop')! as Ingress;
    state.upsert({ ...shop, spec: { ...shop.spec, rules: shop.spec.rules!.slice(1) } });
    expect(publisher.rebuild()).toMatchObject({ published: true, endpointOnly: false });
    expect(publisher.rebuild()).toMatchObject({ published: false, endpointOnly: false });
    expect(publisher.stats).toEqual({ rebuilds: 3, endpointOnlyRebuilds: 1 });
  });
});
