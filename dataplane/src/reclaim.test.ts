import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { SwapReclaimer, fullCollection, youngCollection } from './reclaim.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SwapReclaimer', () => {
  it('collects once the tables swapped in add up to the threshold, on a later turn, once per turn', async () => {
    let runs = 0;
    const reclaimer = new SwapReclaimer(10, () => runs++, null);
    reclaimer.afterSwap(4);
    reclaimer.afterSwap(4);
    await turn();
    expect(runs, 'below the threshold').toBe(0);
    reclaimer.afterSwap(4);
    expect(runs, 'never inside the swap').toBe(0);
    // More swaps before the collection ran: still one collection.
    reclaimer.afterSwap(40);
    await turn();
    expect(runs).toBe(1);
    expect(reclaimer.stats.collections).toBe(1);
    // The count starts again after a collection.
    reclaimer.afterSwap(9);
    await turn();
    expect(runs).toBe(1);
    reclaimer.afterSwap(1);
    await turn();
    expect(runs).toBe(2);
  });

  it('reports its collections and pauses as per-worker metric families', async () => {
    const reclaimer = new SwapReclaimer(1, () => {
      const until = performance.now() + 5;
      while (performance.now() < until);
    }, null);
    reclaimer.afterSwap(1);
    await turn();
    const [count, pause, youngCount, youngPause] = reclaimer.families();
    expect(count).toMatchObject({ name: 'portico_worker_reclaims_total', merge: 'per-worker', samples: [{ value: 1 }] });
    expect(pause!.name).toBe('portico_worker_reclaim_pause_seconds');
    expect(youngCount).toMatchObject({ name: 'portico_worker_scavenges_total', merge: 'per-worker', samples: [{ value: 0 }] });
    expect(youngPause!.name).toBe('portico_worker_scavenge_pause_seconds');
    for (const sample of pause!.samples) expect(sample.value).toBeGreaterThanOrEqual(0.005);
  });

  it('does nothing without a collection to run; threshold 0 never runs a full one; refuses a threshold that is not a non-negative integer', async () => {
    const reclaimer = new SwapReclaimer(1, null, null);
    reclaimer.afterSwap(100);
    await turn();
    expect(reclaimer.stats.collections + reclaimer.youngStats.collections).toBe(0);
    let full = 0;
    const never = new SwapReclaimer(0, () => full++, () => undefined);
    for (let i = 0; i < 5; i++) never.afterSwap(2 ** 30);
    await turn();
    expect(full).toBe(0);
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => new SwapReclaimer(bad, () => undefined), String(bad)).toThrow(RangeError);
  });

  it('runs one young collection on a turn after each swap (one per turn however many swaps), none when a full one ran in between', async () => {
    const runs: string[] = [];
    const reclaimer = new SwapReclaimer(100, () => runs.push('full'), () => runs.push('young'));
    reclaimer.afterSwap(10);
    expect(runs, 'never inside the swap').toEqual([]);
    reclaimer.afterSwap(10);
    await turn();
    expect(runs).toEqual(['young']);
    reclaimer.afterSwap(10);
    await turn();
    expect(runs).toEqual(['young', 'young']);
    // The threshold is reached: the full collection runs and the young one is skipped.
    reclaimer.afterSwap(80);
    await turn();
    await turn();
    expect(runs).toEqual(['young', 'young', 'full']);
    expect(reclaimer.youngStats.collections).toBe(2);
  });

  it("takes V8's young collection in this Node: a scavenge, which frees the buffer of a young object nothing references", async () => {
    const young = youngCollection();
    expect(young).toBeTypeOf('function');
    const kinds: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) kinds.push((entry as unknown as { detail: { kind: number } }).detail.kind);
    });
    observer.observe({ entryTypes: ['gc'] });
    // What a swap leaves: a message's buffer nothing references any more, held by a young object.
    const receive = (): number => new ArrayBuffer(16 * 2 ** 20).byteLength;
    expect(receive()).toBe(16 * 2 ** 20);
    const before = process.memoryUsage().arrayBuffers;
    await turn();
    young!();
    // Backing stores are swept off the main thread once the collection found them dead.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const after = process.memoryUsage().arrayBuffers;
    observer.disconnect();
    expect(before - after).toBeGreaterThan(15 * 2 ** 20);
    expect(kinds).toContain(constants.NODE_PERFORMANCE_GC_MINOR);
  });

  it("takes V8's full collection in this Node, and it frees what nothing references", async () => {
    const collect = fullCollection();
    expect(collect).toBeTypeOf('function');
    const gone = new WeakRef(new Uint8Array(1 << 20));
    // Out of this turn: the reference held by the turn that made it is gone.
    await turn();
    collect!();
    expect(gone.deref()).toBeUndefined();
  });
});
