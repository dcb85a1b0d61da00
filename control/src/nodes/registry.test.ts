import { describe, expect, it } from 'vitest';
import type { NodeStatus } from './registry.ts';
import { NodeRegistry } from './registry.ts';

/** What `list()` must show, computed from scratch (no reuse) for the same facts. */
function expected(name: string, facts: { applied: string | null; seen: number; connected: boolean; stale: boolean; address: string | null; report?: NodeStatus['lastReport'] }): NodeStatus {
  return { name, appliedVersion: facts.applied, lastReport: facts.report ?? null, lastSeen: new Date(facts.seen).toISOString(), connected: facts.connected, stale: facts.stale, address: facts.address };
}

describe('NodeRegistry listing', () => {
  it('shows every change of a node (poll, end of poll, ACK, NACK, merge, staleness) and reuses the status object only while nothing changed', () => {
    let now = 1_000_000;
    const nodes = new NodeRegistry({ staleAfterMs: 1000, now: () => now });
    const end = nodes.polling('b', 'v1', '10.0.0.2');
    nodes.polling('a', undefined, '10.0.0.1')();
    const first = nodes.list();
    expect(first).toEqual([expected('a', { applied: null, seen: now, connected: false, stale: false, address: '10.0.0.1' }), expected('b', { applied: 'v1', seen: now, connected: true, stale: false, address: '10.0.0.2' })]);
    // Nothing changed: the same objects (what keeps GET /v1/nodes from rebuilding them while it is polled).
    expect(nodes.list()[0]).toBe(first[0]);
    expect(nodes.list()[1]).toBe(first[1]);

    now += 10;
    end();
    expect(nodes.list()[1]).toEqual(expected('b', { applied: 'v1', seen: now, connected: false, stale: false, address: '10.0.0.2' }));
    expect(nodes.list()[0]).toBe(first[0]);

    now += 10;
    nodes.report('a', { version: 'v2', ok: true });
    const ack = { version: 'v2', ok: true, error: null, at: new Date(now).toISOString() };
    expect(nodes.list()[0]).toEqual(expected('a', { applied: 'v2', seen: now, connected: false, stale: false, address: '10.0.0.1', report: ack }));

    now += 10;
    nodes.report('a', { version: 'v3', ok: false, error: 'bad table' });
    const nack = { version: 'v3', ok: false, error: 'bad table', at: new Date(now).toISOString() };
    expect(nodes.list()[0]).toEqual(expected('a', { applied: 'v2', seen: now, connected: false, stale: false, address: '10.0.0.1', report: nack }));
    expect(nodes.rollout('v3')).toEqual({ version: 'v3', updated: 0, total: 2, failed: 1, complete: false });

    // Another replica saw b later, from elsewhere.
    nodes.merge('b', { appliedVersion: 'v3', lastReport: null, lastSeen: now + 5, address: '10.0.0.9' });
    expect(nodes.list()[1]).toEqual(expected('b', { applied: 'v3', seen: now + 5, connected: false, stale: false, address: '10.0.0.9' }));

    // Time alone turns a node stale: the listing and the rollout follow, with no record change.
    now += 1003;
    expect(nodes.list().map((n) => [n.name, n.stale])).toEqual([
      ['a', true],
      ['b', false],
    ]);
    expect(nodes.rollout('v3')).toEqual({ version: 'v3', updated: 1, total: 1, failed: 0, complete: true });
    now += 10;
    expect(nodes.list().map((n) => n.stale)).toEqual([true, true]);
    expect(nodes.rollout('v3')).toEqual({ version: 'v3', updated: 0, total: 0, failed: 0, complete: false });
  });

  it('keeps the listing sorted and whole as nodes arrive, merge in and are evicted past maxNodes (bounded churn)', () => {
    let now = 0;
    const nodes = new NodeRegistry({ maxNodes: 50, now: () => now });
    const names: string[] = [];
    for (let i = 0; i < 500; i++) {
      now++;
      const name = `node-${String((i * 7919) % 1000).padStart(4, '0')}`;
      if (i % 3 === 0) nodes.merge(name, { appliedVersion: `v${i}`, lastReport: null, lastSeen: now, address: null });
      else nodes.polling(name, `v${i}`)();
      names.push(name);
      if (i % 17 === 0) {
        const listed = nodes.list().map((n) => n.name);
        expect(listed).toEqual([...listed].sort());
        expect(new Set(listed).size).toBe(listed.length);
        expect(listed.length).toBeLessThanOrEqual(50);
      }
    }
    // The 50 seen last are the ones kept (the longest unseen is evicted first).
    expect(nodes.list().map((n) => n.name)).toEqual([...new Set(names.slice(-50))].sort());
  });
});
