import { describe, expect, it } from 'vitest';
import { snapshotText } from './sync.ts';
import { snapshotOf } from './test-support.ts';

describe('snapshotText (the last-good file)', () => {
  const first = snapshotOf([
    { host: 'a.test', routes: [{ path: '/', endpoints: [1001] }, { path: '/api', endpoints: [1002] }] },
    { host: 'b.test', routes: [{ path: '/', endpoints: [1003], sslRedirect: true }] },
  ]);
  const other = snapshotOf([{ host: 'c.test', routes: [{ path: '/ü', endpoints: [1004] }] }]);

  it('is JSON.stringify of the snapshot, byte for byte, whatever was written before', () => {
    const items = new WeakMap<object, string>();
    expect(snapshotText(first, items)).toBe(JSON.stringify(first));
    // A version sharing some items with the last one, and lists that are empty or hold a non-object.
    const next = { ...first, hosts: [first.hosts[0]!, other.hosts[0]!], certificates: [] } as unknown as typeof first;
    expect(snapshotText(next, items)).toBe(JSON.stringify(next));
    const odd = { ...first, endpointSets: [...first.endpointSets, null, undefined] } as unknown as typeof first;
    expect(snapshotText(odd, items)).toBe(JSON.stringify(odd));
    expect(JSON.parse(snapshotText(next, items))).toEqual(JSON.parse(JSON.stringify(next)));
  });

  it('takes the text of an item written before instead of writing it again', () => {
    const items = new WeakMap<object, string>();
    snapshotText(first, items);
    // Mark what the cache holds for the shared host: the next write must take it, not stringify the host again.
    items.set(first.hosts[0]!, '"kept"');
    const next = { ...first, hosts: [first.hosts[0]!, other.hosts[0]!] } as typeof first;
    expect(JSON.parse(snapshotText(next, items)).hosts).toEqual(['kept', JSON.parse(JSON.stringify(other.hosts[0]))]);
  });
});
