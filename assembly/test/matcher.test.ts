// Wasm-specific behaviour: memory growth for long requests, many header conditions, independent
// instances. Each case is checked against the reference too, so it stays about semantics.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeTable } from '../src/host/encode.ts';
import { loadMatcher, loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { loadReference } from './reference.ts';
import { withSets } from './sets.ts';

const WRR: MatcherTable = withSets({
  hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }],
  routes: [{ backends: [{ weight: 3, endpoints: [0, 1] }, { weight: 1, endpoints: [2] }] }],
  endpointCount: 3,
  fallback: -1,
});

describe('wasm matcher', () => {
  it('grows its scratch for very long hosts and paths', () => {
    const deep = `/${'seg/'.repeat(20_000)}end`;
    const table: MatcherTable = {
      hosts: [{ host: 'long.com', paths: [{ pathType: 'Prefix', path: deep.slice(0, 40_001), route: 1 }, { pathType: 'Exact', path: deep, route: 2 }], fallback: 0 }],
      routes: [{ backends: [] }, { backends: [] }, { backends: [] }],
      sets: [],
      endpointCount: 0,
      fallback: -1,
    };
    const wasm = loadMatcher(table);
    const reference = loadReference(table);
    const longHost = `${'x'.repeat(70_000)}.long.com`;
    for (const [host, path] of [['long.com', deep], ['long.com', `${deep}/more?q`], ['long.com', `${deep}x`], [longHost, deep], ['long.com', `/${'é'.repeat(50_000)}`]] as const) {
      expect(wasm.match(host, path, 'GET')).toBe(reference.match(host, path, 'GET'));
    }
    expect(wasm.match('long.com', deep, 'GET')).toBe(2);
  });

  it('handles more than 32 distinct header conditions', () => {
    const paths = Array.from({ length: 70 }, (_, i) => ({
      pathType: 'Prefix' as const,
      path: '/h',
      route: i,
      conditions: { headers: [{ name: `x-h${i % 7}`, value: String(i) }] },
    }));
    const table: MatcherTable = {
      hosts: [{ host: 'h.com', paths, fallback: -1 }],
      routes: Array.from({ length: 70 }, () => ({ backends: [] })),
      sets: [],
      endpointCount: 0,
      fallback: -1,
    };
    const wasm = loadMatcher(table);
    const reference = loadReference(table);
    for (let i = 0; i < 70; i++) {
      const headers = { [`x-h${i % 7}`]: String(i), 'x-other': 'y' };
      expect(wasm.match('h.com', '/h/x', 'GET', headers)).toBe(i);
      expect(reference.match('h.com', '/h/x', 'GET', headers)).toBe(i);
    }
    expect(wasm.match('h.com', '/h', 'GET', { 'x-h0': ['1', '63'] })).toBe(63);
    // The bitset is rewritten per request: a header seen before must not linger.
    expect(wasm.match('h.com', '/h', 'GET')).toBe(-1);
  });

  it('gives every instance its own WRR and health state', () => {
    const one = loadMatcher(WRR);
    const two = loadMatcherFromBinary(encodeTable(WRR));
    one.setHealthy(0, false);
    expect([one.pick(0), one.pick(0), one.pick(0)]).toEqual([1, 1, 2]);
    expect(two.isHealthy(0)).toBe(true);
    expect([two.pick(0), two.pick(0), two.pick(0), two.pick(0)]).toEqual([0, 1, 2, 0]);
  });

  it('pick() after match() agrees with pick() of an unrelated route id', () => {
    const table: MatcherTable = withSets({
      hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/a', route: 1 }], fallback: 0 }],
      routes: [{ backends: [{ weight: 1, endpoints: [0] }] }, { backends: [{ weight: 1, endpoints: [1, 2] }] }],
      endpointCount: 3,
      fallback: -1,
    });
    const wasm = loadMatcher(table);
    const reference = loadReference(table);
    for (const path of ['/a', '/b', '/a/x', '/']) {
      for (const m of [wasm, reference]) m.match('a.com', path, 'GET');
      for (const route of [1, 0, 1]) expect(wasm.pick(route)).toBe(reference.pick(route));
    }
  });

  it('does not allocate on the JS side of match() and pick()', () => {
    const probe = fileURLToPath(new URL('./no-alloc-probe.ts', import.meta.url));
    const report = JSON.parse(execFileSync(process.execPath, ['--expose-gc', probe], { encoding: 'utf8' })) as { grown: number; collections: number };
    // Four bytes per call would already be 4 MB (or a collection).
    expect({ collections: report.collections, small: report.grown < 4_000_000 }).toEqual({ collections: 0, small: true });
  });
});
