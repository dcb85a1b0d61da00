// Match conditions judged on the host side (query parameters, regex paths and values) and the
// multi-label wildcards: what the table refuses, and hostile requests and tables, bounded in size.
// Every wasm answer is checked against the reference matcher too.
import { describe, expect, it } from 'vitest';
import { encodeTable } from '../src/host/encode.ts';
import { loadMatcher, loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { HostEntry, MatcherTable, PathEntry } from '../src/host/table.ts';
import { firstQueryValues, percentDecode } from '../src/host/conditions.ts';
import { Limit } from '../src/host/layout.ts';
import { loadReference } from './reference.ts';

function table(hosts: readonly HostEntry[], routes = 4): MatcherTable {
  return { hosts, routes: Array.from({ length: routes }, () => ({ backends: [] })), sets: [], endpointCount: 0, fallback: -1 };
}
const one = (paths: PathEntry[], host = 'h.com'): MatcherTable => table([{ host, paths, fallback: -1 }]);

describe('table validation', () => {
  const cases: [string, MatcherTable, RegExp][] = [
    ['unparsable regex path', one([{ pathType: 'RegularExpression', path: '/(a', route: 0 }]), /hosts\[0\] \("h\.com"\)\.paths\[0\]: pattern "\/\(a" is not a regular expression/],
    ['backreference', one([{ pathType: 'RegularExpression', path: '/(a)\\1', route: 0 }]), /paths\[0\]: pattern .*no backreferences/],
    ['lookahead', one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { headers: [{ name: 'x', value: '(?=a)', type: 'RegularExpression' }] } }]), /paths\[0\]\.conditions\.headers\[0\]: pattern/],
    ['repeat count past RE2 limit', one([{ pathType: 'RegularExpression', path: '/a{1001}', route: 0 }]), /is not a regular expression/],
    ['nested repeat bomb', one([{ pathType: 'RegularExpression', path: '((a{100}){100}){100}', route: 0 }]), /is not a regular expression/],
    ['pattern too long', one([{ pathType: 'RegularExpression', path: `/${'a'.repeat(1024)}`, route: 0 }]), /longer than 1024 characters/],
    ['bad value type', one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { query: [{ name: 'q', value: 'v', type: 'Prefix' as never }] } }]), /conditions\.query\[0\]: type "Prefix" is not Exact or RegularExpression/],
    ['empty query name', one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { query: [{ name: '', value: 'v' }] } }]), /conditions\.query\[0\]: query parameter name "" must be/],
    ['control character in query name', one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { query: [{ name: 'a\nb', value: 'v' }] } }]), /query parameter name/],
    ['labels on an exact host', table([{ host: 'a.com', labels: 'many', paths: [], fallback: -1 }]), /labels many is only for `\*\.` wildcard hosts/],
    ['unknown labels', table([{ host: '*.a.com', labels: 'two' as never, paths: [], fallback: -1 }]), /labels "two" is not one, many or deeper/],
    ['one and many on one wildcard', table([{ host: '*.a.com', paths: [], fallback: -1 }, { host: '*.a.com', labels: 'many', paths: [], fallback: -1 }]), /hosts\[1\].*duplicate host, already hosts\[0\]/],
    ['many and deeper on one wildcard', table([{ host: '*.a.com', labels: 'deeper', paths: [], fallback: -1 }, { host: '*.a.com', labels: 'many', paths: [], fallback: -1 }]), /hosts\[1\].*duplicate host/],
  ];
  it.each(cases)('refuses %s, naming the field', (_name, t, message) => {
    for (const load of [loadMatcher, loadReference]) {
      expect(() => load(t)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(message) }));
    }
  });

  it('takes one-label and deeper entries of the same wildcard', () => {
    const t = table([{ host: '*.a.com', paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }, { host: '*.a.com', labels: 'deeper', paths: [{ pathType: 'Prefix', path: '/', route: 1 }], fallback: -1 }]);
    expect(loadMatcher(t).match('x.y.a.com', '/', 'GET')).toBe(1);
  });

  it('refuses a binary table whose condition pattern was tampered with', () => {
    const bytes = encodeTable(one([{ pathType: 'RegularExpression', path: '/abc[0-9]+', route: 0 }]));
    const text = Buffer.from(bytes);
    const at = text.indexOf('/abc[0-9]+');
    expect(at).toBeGreaterThan(0);
    text.write('/abc((((((', at, 'latin1');
    expect(() => loadMatcherFromBinary(new Uint8Array(text))).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
  });
});

describe('query parsing', () => {
  it.each([
    ['/p', {}],
    ['/p?', {}],
    ['/p?a=1&b=2&a=3', { a: '1', b: '2' }],
    ['/p?a&b=', { a: '', b: '' }],
    ['/p?a=x=y', { a: 'x=y' }],
    ['/p?%61=%2F%C3%A9', { a: '/é' }],
    ['/p?a=%zz%41', { a: '%zzA' }],
    ['/p?a=%C3', { a: '%C3' }],
    ['/p?a=1+2', { a: '1+2' }],
    ['/p?&&a=1&&', { a: '1' }],
  ])('%s', (path, want) => {
    expect(Object.fromEntries(firstQueryValues(path))).toEqual(want);
  });

  it('decodes escape runs that are UTF-8 and keeps the rest', () => {
    expect(percentDecode('a%20b%ZZ%e2%82%ac%e2')).toBe('a b%ZZ€%e2');
  });
});

describe('hostile input, bounded', () => {
  it('a catastrophic-backtracking pattern runs in linear time on a long path', () => {
    const t = one([{ pathType: 'RegularExpression', path: '/(a|aa)*(a|aa)*c', route: 0 }, { pathType: 'Prefix', path: '/', route: 1 }]);
    const path = `/${'a'.repeat(100_000)}`;
    for (const load of [loadMatcher, loadReference]) {
      const matcher = load(t);
      expect(matcher.match('h.com', path, 'GET')).toBe(1);
      expect(matcher.match('h.com', `${path}c`, 'GET')).toBe(0);
    }
  });

  it('thousands of conditions on one host, and a huge header list', () => {
    const paths: PathEntry[] = Array.from({ length: 3000 }, (_, i) => ({
      pathType: 'Prefix',
      path: '/c',
      route: i,
      conditions: i % 3 === 0
        ? { headers: [{ name: `x-h${i % 50}`, value: String(i) }] }
        : i % 3 === 1
          ? { query: [{ name: `q${i % 40}`, value: `${i}.*`, type: 'RegularExpression' }] }
          : { headers: [{ name: `x-r${i % 30}`, value: `v${i}(-[a-z]+)?`, type: 'RegularExpression' }] },
    }));
    paths.push({ pathType: 'Prefix', path: '/', route: 3000 });
    const t = table([{ host: 'h.com', paths, fallback: -1 }, { host: 'plain.com', paths: [{ pathType: 'Prefix', path: '/', route: 3001 }], fallback: -1 }], 3002);
    const wasm = loadMatcher(t);
    const reference = loadReference(t);
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < 10_000; i++) headers[`x-noise-${i}`] = 'v'.repeat(20);
    const requests: [string, Record<string, string | string[]>][] = [
      ['/c', { ...headers, 'x-h9': '2109' }],
      ['/c?q7=1207x', headers],
      ['/c', { ...headers, 'x-r20': ['nope', 'v2990-abc'] }],
      ['/c?q0=none', { ...headers, 'x-h0': 'nope' }],
    ];
    const want = [2109, 1207, 2990, 3000];
    requests.forEach(([path, h], i) => {
      expect(wasm.match('h.com', path, 'GET', h)).toBe(want[i]);
      expect(reference.match('h.com', path, 'GET', h)).toBe(want[i]);
    });
    // A host without conditions in the same table is not affected by them.
    expect(wasm.match('plain.com', '/c?q7=1207x', 'GET', headers)).toBe(3001);
  });

  it('conditions on many hosts: each host judges its own bits, nothing one request set carries over to the next host', () => {
    // Every host has its own three conditions (bits 0..2 each), so every host's bits overlap every other's.
    const hosts: HostEntry[] = Array.from({ length: 40 }, (_, i) => ({
      host: `h${i}.com`,
      paths: [
        { pathType: 'Prefix', path: '/', route: 4 * i, conditions: { headers: [{ name: `x-${i}`, value: 'a' }] } },
        { pathType: 'Prefix', path: '/', route: 4 * i + 1, conditions: { query: [{ name: `q${i}`, value: 'b' }] } },
        { pathType: 'RegularExpression', path: `/r${i}/.*`, route: 4 * i + 2 },
        { pathType: 'Prefix', path: '/', route: 4 * i + 3 },
      ],
      fallback: -1,
    }));
    const t = table(hosts, 160);
    const wasm = loadMatcher(t);
    const reference = loadReference(t);
    const all: Record<string, string> = {};
    for (let i = 0; i < 40; i++) all[`x-${i}`] = 'a';
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 40; i++) {
        const other = (i + 7 * (round + 1)) % 40;
        // A request meeting host i's conditions, then one to another host meeting only host i's.
        const requests: [string, string, Record<string, string>, number][] = [
          [`h${i}.com`, '/', { [`x-${i}`]: 'a' }, 4 * i],
          [`h${other}.com`, `/r${i}/x?q${i}=b`, { [`x-${i}`]: 'a' }, 4 * other + 3],
          [`h${i}.com`, `/?q${i}=b`, {}, 4 * i + 1],
          [`h${other}.com`, `/r${other}/x`, {}, 4 * other + 2],
          [`h${i}.com`, '/', all, 4 * i],
        ];
        for (const [host, path, headers, want] of requests) {
          expect(wasm.match(host, path, 'GET', headers), `${host}${path}`).toBe(want);
          expect(reference.match(host, path, 'GET', headers), `${host}${path}`).toBe(want);
        }
      }
    }
  });

  it('refuses a host with more distinct conditions than the request bitset holds, naming it', () => {
    const headers = Array.from({ length: Limit.HOST_CONDITIONS + 1 }, (_, i) => ({ name: 'x-many', value: String(i) }));
    expect(() => encodeTable(one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { headers } }], 'many.com'))).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/host "many\.com": 65537 distinct match conditions, more than the 65536/) }));
    expect(() => encodeTable(one([{ pathType: 'Prefix', path: '/', route: 0, conditions: { headers: headers.slice(1) } }], 'many.com'))).not.toThrow();
  });

  it('a host with a thousand dots probes a bounded number of wildcard suffixes', () => {
    const t = table([{ host: '*.gw.com', labels: 'many', paths: [{ pathType: 'Prefix', path: '/', route: 0 }], fallback: -1 }, { host: '*', paths: [{ pathType: 'Prefix', path: '/', route: 1 }], fallback: -1 }]);
    const wasm = loadMatcher(t);
    const reference = loadReference(t);
    for (const host of [`${'a.'.repeat(5000)}gw.com`, `${'a.'.repeat(5000)}gw.org`, `${'.'.repeat(3000)}gw.com`]) {
      expect(wasm.match(host, '/', 'GET')).toBe(reference.match(host, '/', 'GET'));
    }
    expect(wasm.match(`${'a.'.repeat(5000)}gw.com`, '/', 'GET')).toBe(0);
  });
});
