// The host hash tables encodeTable writes, read back from the table's bytes: the layout of
// hash-slots.ts's rule in table order, kept so by ProbeSlots.apply over host adds and removes
// (the patch a host add or remove needs: host-grid.md test 3), and byte for byte what they were.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeTable } from '../src/host/encode.ts';
import { hostSlotCapacity, hostSlotRule } from '../src/host/hash-slots.ts';
import { Header, HostRecord } from '../src/host/layout.ts';
import { ProbeSlots } from '../src/host/probe-slots.ts';
import type { HostEntry, MatcherTable } from '../src/host/table.ts';
import { crowdedTable, expectSame, hostHash, layoutOf, lcg } from './slot-support.ts';

/** The three host tables: the header fields of their place and capacity, and which host entries they list under what key. */
const TABLES = [
  { name: 'exact', at: Header.EXACT_HOSTS, cap: Header.EXACT_HOSTS_CAP, key: (h: HostEntry) => (h.host !== '*' && !h.host.startsWith('*.') ? h.host : undefined) },
  { name: 'one-label', at: Header.WILD_HOSTS, cap: Header.WILD_HOSTS_CAP, key: (h: HostEntry) => (h.host.startsWith('*.') && h.labels !== 'deeper' ? h.host.slice(2) : undefined) },
  { name: 'deep', at: Header.DEEP_HOSTS, cap: Header.DEEP_HOSTS_CAP, key: (h: HostEntry) => (h.host.startsWith('*.') && h.labels !== 'one' && h.labels !== undefined ? h.host.slice(2) : undefined) },
] as const;

const decoder = new TextDecoder();

/** Per slot of host table `t` of `bytes`: the key of the host record it points at (`#bad hash` after it when its hash word is not the key's), undefined when empty. */
function slotsOf(bytes: Uint8Array, t: (typeof TABLES)[number]): (string | undefined)[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const word = (at: number): number => view.getUint32(at, true);
  const at = word(t.at);
  if (at === 0) return [];
  return Array.from({ length: word(t.cap) }, (_, s) => {
    const record = word(at + s * 8 + 4);
    if (record === 0) return undefined;
    const key = decoder.decode(bytes.subarray(record + HostRecord.KEY, record + HostRecord.KEY + word(record + HostRecord.KEY_LEN)));
    return word(at + s * 8) === hostHash(key) ? key : `${key} #bad hash`;
  });
}

/** The keys table `t` lists, in table order. */
const keysOf = (table: MatcherTable, t: (typeof TABLES)[number]): string[] => table.hosts.flatMap((h) => t.key(h) ?? []);

/** The rule of table `t` of `table`: priority by host order. */
function ruleOf(table: MatcherTable, t: (typeof TABLES)[number]) {
  const order = new Map(keysOf(table, t).map((key, i) => [key, i]));
  return hostSlotRule<string>(hostHash, (a, b) => order.get(a)! < order.get(b)!);
}

describe('host hash tables', () => {
  it('are the bytes they were (sha256 of a crowded table as table format 8 lays it out; a layout change updates it in review)', () => {
    expect(createHash('sha256').update(encodeTable(crowdedTable(300))).digest('hex')).toBe('2affe0d5bb06338e073d2fe5a1dc85387266c5ccd2dc0ec123ce914207efa357');
  });

  it('are the layout of their keys in table order, clusters wrapping past the last slot', () => {
    const table = crowdedTable(300);
    const bytes = encodeTable(table);
    for (const t of TABLES) {
      const slots = slotsOf(bytes, t);
      expect(slots, t.name).toEqual(layoutOf(ProbeSlots.of(keysOf(table, t), ruleOf(table, t))));
      // The crowded keys wrap: one sits at a slot before its home.
      expect(slots.some((key, s) => key !== undefined && (hostHash(key) & (slots.length - 1)) > s), t.name).toBe(true);
    }
  });

  it('stay what ProbeSlots.apply makes of them over random host adds and removes', () => {
    const next = lcg(5);
    // The pool: the crowded table of 600 hosts; a host and its wildcards come and go one entry at a time.
    const pool = crowdedTable(600).hosts;
    const order = new Map(pool.map((h, i) => [h, i]));
    let held = pool.filter(() => next(2) === 0);
    const routes = crowdedTable(1);
    const tableOf = (hosts: readonly HostEntry[]): MatcherTable => ({ ...routes, hosts });
    // One ProbeSlots per host table, its priority the pool's order (the table keeps the pool's order).
    const rules = TABLES.map((t) => ruleOf(tableOf(pool), t));
    let slots = TABLES.map((t, i) => ProbeSlots.of(keysOf(tableOf(held), t), rules[i]!));
    let patched = 0;
    for (let step = 0; step < 150; step++) {
      const out = new Set(held.filter(() => next(100) < 2));
      const kept = held.filter((h) => !out.has(h));
      const heldNow = new Set(held);
      const free = pool.filter((h) => !heldNow.has(h));
      const into = free.filter(() => next(100) < 3);
      const following = [...kept, ...into].sort((a, b) => order.get(a)! - order.get(b)!);
      const bytes = encodeTable(tableOf(following));
      slots = TABLES.map((t, i) => {
        const removed = [...out].flatMap((h) => t.key(h) ?? []);
        const added = into.flatMap((h) => t.key(h) ?? []);
        const before = layoutOf(slots[i]!);
        const changed = slots[i]!.apply(removed, added);
        if (changed === undefined) {
          expect(hostSlotCapacity(slots[i]!.size - removed.length + added.length)).not.toBe(slots[i]!.capacity);
          return ProbeSlots.of(keysOf(tableOf(following), t), rules[i]!);
        }
        patched++;
        const after = layoutOf(slots[i]!);
        expectSame(changed, after.flatMap((key, s) => (key !== before[s] ? [s] : [])));
        return slots[i]!;
      });
      TABLES.forEach((t, i) => expectSame(slotsOf(bytes, t), layoutOf(slots[i]!), `${t.name} after step ${step}`));
      held = following;
    }
    expect(patched).toBeGreaterThan(300);
  });
});
