import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { Condition } from '../model/conditions.ts';
import type { PublishedSnapshot } from '../publish/history.ts';
import type { StatusFigures } from './metrics.ts';
import { createControlMetrics } from './metrics.ts';
import { testControl } from './test-support.ts';

describe('control metrics: status writer and Events', () => {
  it('follow the totals across scrapes without counting anything twice', async () => {
    const metrics = createControlMetrics();
    let figures: StatusFigures = { writes: { written: 3, retried: 1, failed: 0, gone: 0 }, pending: 7, events: { posted: 2, failed: 0, deferred: 5 }, eventsRemembered: 2 };
    metrics.trackStatus(() => figures);
    const first = await metrics.registry.metrics();
    expect(first).toContain('portico_status_writes_total{result="written"} 3');
    expect(first).toContain('portico_status_writes_total{result="retried"} 1');
    expect(first).toContain('portico_status_pending 7');
    expect(first).toContain('portico_events_total{result="deferred"} 5');
    expect(first).toContain('portico_events_remembered 2');
    figures = { writes: { written: 10, retried: 1, failed: 0, gone: 1 }, pending: 0, events: { posted: 7, failed: 0, deferred: 5 }, eventsRemembered: 7 };
    await metrics.registry.metrics();
    const third = await metrics.registry.metrics();
    expect(third).toContain('portico_status_writes_total{result="written"} 10');
    expect(third).toContain('portico_status_writes_total{result="gone"} 1');
    expect(third).toContain('portico_status_pending 0');
    expect(third).toContain('portico_events_total{result="posted"} 7');
  });

  it('reports zero before any controller tracks status (standalone)', async () => {
    const text = await createControlMetrics().registry.metrics();
    expect(text).toContain('portico_status_pending 0');
    expect(text).toContain('portico_events_remembered 0');
  });
});

describe('control metrics: conditions by reason', () => {
  const condition = (reason: string, name: string): Condition => ({ source: { kind: 'Ingress', namespace: 'shop', name }, field: 'spec', reason, message: 'm', severity: 'Warning' }) as unknown as Condition;
  const published = (conditions: readonly Condition[], version: string): PublishedSnapshot => ({ conditions, snapshot: { version, hosts: [] }, size: { routes: 0, endpoints: 0 } }) as unknown as PublishedSnapshot;
  const lines = (text: string) => text.split('\n').filter((line) => line.startsWith('portico_conditions{'));

  it('counts each reason of the published conditions, drops reasons gone, and is the same when the list is the same', async () => {
    const metrics = createControlMetrics();
    const first = [condition('BackendNotFound', 'a'), condition('HostConflict', 'b'), condition('BackendNotFound', 'c')];
    metrics.recordPublish(published(first, 'v1'), 0.001);
    expect(lines(await metrics.registry.metrics())).toEqual(['portico_conditions{reason="BackendNotFound"} 2', 'portico_conditions{reason="HostConflict"} 1']);
    metrics.recordPublish(published([condition('HostConflict', 'b')], 'v2'), 0.001);
    expect(lines(await metrics.registry.metrics())).toEqual(['portico_conditions{reason="HostConflict"} 1']);
    // The very list published again (a change that moved no condition): the counts stay.
    const kept = [condition('BackendNotFound', 'a')];
    metrics.recordPublish(published(kept, 'v3'), 0.001);
    metrics.recordPublish(published(kept, 'v4'), 0.001);
    expect(lines(await metrics.registry.metrics())).toEqual(['portico_conditions{reason="BackendNotFound"} 1']);
    metrics.recordPublish(published([], 'v5'), 0.001);
    expect(lines(await metrics.registry.metrics())).toEqual([]);
  });
});

describe('control metrics: garbage-collection pauses through GET /metrics', () => {
  const majors = (text: string) => Number(/^portico_control_nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)$/m.exec(text)?.[1] ?? 0);

  it('counts every collection, also those of one long task (prom-client counted the first only), in one metric', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const control = await testControl();
    try {
      const before = majors(await (await control.app.request('/metrics')).text());
      // Five full collections in one task: Node reports them to the observer together.
      for (let i = 0; i < 5; i++) gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
      const text = await (await control.app.request('/metrics')).text();
      expect(majors(text) - before).toBeGreaterThanOrEqual(5);
      expect(text.match(/^# HELP portico_control_nodejs_gc_duration_seconds /gm)).toHaveLength(1);
      // Buckets fine enough to tell the pauses that slow a change (tens of ms) apart.
      for (const le of ['0.005', '0.025', '0.05', '0.25']) expect(text).toContain(`portico_control_nodejs_gc_duration_seconds_bucket{le="${le}",kind="major"}`);
    } finally {
      control.close();
    }
  });
});
