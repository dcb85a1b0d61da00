import { describe, expect, it } from 'vitest';
import { SwapReclaimer, fullCollection } from './reclaim.ts';

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SwapReclaimer', () => {
  it('collects once the tables swapped in add up to the threshold, on a later turn, once per turn', async () => {
    let runs = 0;
    const reclaimer = new SwapReclaimer(10, () => runs++);
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
    });
    reclaimer.afterSwap(1);
    await turn();
    const [count, pause] = reclaimer.families();
    expect(count).toMatchObject({ name: 'portico_worker_reclaims_total', merge: 'per-worker', samples: [{ value: 1 }] });
    expect(pause!.name).toBe('portico_worker_reclaim_pause_seconds');
    for (const sample of pause!.samples) expect(sample.value).toBeGreaterThanOrEqual(0.005);
  });

  it('does nothing without a collection to run, and refuses a threshold that is not a positive integer', async () => {
    const reclaimer = new SwapReclaimer(1, null);
    reclaimer.afterSwap(100);
    await turn();
    expect(reclaimer.stats.collections).toBe(0);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new SwapReclaimer(bad, () => undefined), String(bad)).toThrow(RangeError);
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
