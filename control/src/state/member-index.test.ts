import { describe, expect, it } from 'vitest';
import type { MemberIndex } from './member-index.ts';
import { addMember, membersOf, removeMember } from './member-index.ts';

describe('MemberIndex', () => {
  it('answers as a Map of Sets would, in the order members were added, over a random walk of adds and removes', () => {
    const index: MemberIndex = new Map();
    const model = new Map<string, Set<string>>();
    let seed = 11;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let step = 0; step < 5000; step++) {
      const key = `k${random(5)}`;
      const member = `m${random(4)}`;
      if (random(2) === 0) {
        addMember(index, key, member);
        if (!model.has(key)) model.set(key, new Set());
        model.get(key)!.add(member);
      } else {
        removeMember(index, key, member);
        model.get(key)?.delete(member);
        if (model.get(key)?.size === 0) model.delete(key);
      }
      for (const k of ['k0', 'k1', 'k2', 'k3', 'k4', 'none']) expect([...membersOf(index, k)]).toEqual([...(model.get(k) ?? [])]);
      expect([...index.keys()].sort()).toEqual([...model.keys()].sort());
    }
  });

  it('keeps one member as the plain string, two or more in a Set, and drops a key left with none', () => {
    const index: MemberIndex = new Map();
    addMember(index, 'host', 'a');
    addMember(index, 'host', 'a');
    expect(index.get('host')).toBe('a');
    addMember(index, 'host', 'b');
    expect(index.get('host')).toEqual(new Set(['a', 'b']));
    removeMember(index, 'host', 'a');
    expect(index.get('host')).toBe('b');
    removeMember(index, 'host', 'missing');
    expect(index.get('host')).toBe('b');
    removeMember(index, 'host', 'b');
    expect(index.has('host')).toBe(false);
    removeMember(index, 'host', 'b');
    expect([...membersOf(index, 'host')]).toEqual([]);
  });
});
