import { describe, expect, it } from 'vitest';
import { NodeRegistry } from './registry.ts';

describe('NodeRegistry sharing (what NodeMirror moves between replicas)', () => {
  it('hands out each locally recorded node once, with what this replica knows', () => {
    let now = 1_000;
    const registry = new NodeRegistry({ now: () => now });
    registry.report('edge-1', { version: 'v1', ok: true }, '10.0.0.1');
    now = 2_000;
    registry.polling('edge-2', 'v0')();
    const changed = registry.takeChanged();
    expect([...changed.keys()].sort()).toEqual(['edge-1', 'edge-2']);
    expect(changed.get('edge-1')).toMatchObject({ appliedVersion: 'v1', lastSeen: 1_000, address: '10.0.0.1', lastReport: { version: 'v1', ok: true } });
    expect(registry.takeChanged().size).toBe(0);
  });

  it('takes another replica’s record only when it is newer, and never reports merged nodes as its own news', () => {
    let now = 5_000;
    const registry = new NodeRegistry({ now: () => now });
    registry.report('edge-1', { version: 'v2', ok: true });
    registry.takeChanged();
    registry.merge('edge-1', { appliedVersion: 'v1', lastReport: null, lastSeen: 4_000, address: null });
    expect(registry.list()[0]!.appliedVersion).toBe('v2');
    registry.merge('edge-1', { appliedVersion: 'v3', lastReport: { version: 'v3', ok: false, error: 'bad', at: '' }, lastSeen: 6_000, address: '10.0.0.9' });
    registry.merge('edge-2', { appliedVersion: 'v3', lastReport: null, lastSeen: 6_000, address: null });
    now = 7_000;
    expect(registry.list().map((n) => [n.name, n.appliedVersion, n.connected])).toEqual([
      ['edge-1', 'v3', false],
      ['edge-2', 'v3', false],
    ]);
    expect(registry.rollout('v3')).toMatchObject({ updated: 2, total: 2, complete: true });
    expect(registry.takeChanged().size).toBe(0);
  });
});
