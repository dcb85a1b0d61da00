import { describe, expect, it } from 'vitest';
import { GRID, encodeGrid, encodeTable } from '../src/host/encode.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';

const VALID: MatcherTable = {
  hosts: [
    { host: 'foo.com', paths: [{ pathType: 'Prefix', path: '/api', route: 0, conditions: { methods: ['GET'], headers: [{ name: 'X-A', value: '1' }] } }], fallback: 1 },
    { host: '*.foo.com', paths: [{ pathType: 'Exact', path: '/', route: 1 }], fallback: -1 },
    { host: '*', paths: [], fallback: -1 },
    { host: '[::1]', paths: [], fallback: 0 },
  ],
  routes: [{ backends: [{ weight: 1, set: 0 }] }, { backends: [{ weight: 0, set: 1 }] }],
  sets: [[0, 1], []],
  endpointCount: 2,
  fallback: -1,
};

/** VALID with one part replaced. */
function withHost(index: number, change: Record<string, unknown>): MatcherTable {
  return { ...VALID, hosts: VALID.hosts.map((h, i) => (i === index ? { ...h, ...change } : h)) } as MatcherTable;
}
function withPath(change: Record<string, unknown>): MatcherTable {
  const host = VALID.hosts[0];
  return withHost(0, { paths: [{ ...host?.paths[0], ...change }] });
}

const INVALID: { name: string; table: MatcherTable; mentions: string }[] = [
  { name: 'duplicate host', table: withHost(1, { host: 'foo.com' }), mentions: 'duplicate host' },
  { name: 'upper-case host', table: withHost(0, { host: 'Foo.com' }), mentions: 'Foo.com' },
  { name: 'host with port', table: withHost(0, { host: 'foo.com:80' }), mentions: 'foo.com:80' },
  { name: 'host with trailing dot', table: withHost(0, { host: 'foo.com.' }), mentions: 'foo.com.' },
  { name: 'empty host', table: withHost(0, { host: '' }), mentions: 'hosts[0]' },
  { name: 'wildcard in the middle', table: withHost(1, { host: 'a.*.foo.com' }), mentions: 'a.*.foo.com' },
  { name: 'bare wildcard label', table: withHost(1, { host: '*.' }), mentions: 'hosts[1]' },
  { name: 'bad IPv6 literal', table: withHost(3, { host: '[::1' }), mentions: '[::1' },
  { name: 'path without leading slash', table: withPath({ path: 'api' }), mentions: '"api"' },
  { name: 'unknown path type', table: withPath({ pathType: 'Regex' }), mentions: 'Regex' },
  { name: 'route id out of range', table: withPath({ route: 2 }), mentions: 'paths[0]' },
  { name: 'negative route id', table: withPath({ route: -1 }), mentions: 'paths[0]' },
  { name: 'non-integer route id', table: withPath({ route: 0.5 }), mentions: 'paths[0]' },
  { name: 'unknown method', table: withPath({ conditions: { methods: ['PROPFIND'] } }), mentions: 'PROPFIND' },
  { name: 'lower-case method', table: withPath({ conditions: { methods: ['get'] } }), mentions: 'get' },
  { name: 'header name not a token', table: withPath({ conditions: { headers: [{ name: 'x a', value: '1' }] } }), mentions: 'x a' },
  { name: 'host fallback out of range', table: withHost(1, { fallback: 9 }), mentions: 'hosts[1]' },
  { name: 'table fallback out of range', table: { ...VALID, fallback: 2 }, mentions: 'fallback' },
  { name: 'negative weight', table: { ...VALID, routes: [{ backends: [{ weight: -1, set: 1 }] }, { backends: [] }] }, mentions: 'routes[0].backends[0].weight' },
  { name: 'fractional weight', table: { ...VALID, routes: [{ backends: [{ weight: 1.5, set: 1 }] }, { backends: [] }] }, mentions: 'weight' },
  { name: 'set id out of range', table: { ...VALID, routes: [{ backends: [{ weight: 1, set: 2 }] }, { backends: [] }] }, mentions: 'routes[0].backends[0].set' },
  { name: 'negative set id', table: { ...VALID, routes: [{ backends: [{ weight: 1, set: -1 }] }, { backends: [] }] }, mentions: 'routes[0].backends[0].set' },
  { name: 'endpoint id out of range', table: { ...VALID, sets: [[0, 2], []] }, mentions: 'sets[0][1]' },
  { name: 'sets not an array', table: { ...VALID, sets: 'x' } as unknown as MatcherTable, mentions: 'sets' },
  { name: 'negative endpoint count', table: { ...VALID, endpointCount: -1 }, mentions: 'endpointCount' },
];

describe('encodeTable', () => {
  it.each(INVALID)('rejects $name', ({ table, mentions }) => {
    let error: unknown;
    try {
      encodeTable(table);
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'PORTICO_E_TABLE_INVALID' });
    expect((error as Error).message).toContain(mentions);
  });

  it('is deterministic', () => {
    const copy = structuredClone(VALID) as MatcherTable;
    expect(encodeTable(copy)).toEqual(encodeTable(VALID));
    expect(Buffer.from(encodeTable(VALID)).equals(Buffer.from(encodeTable(VALID)))).toBe(true);
  });

  it('does not depend on the order header conditions are written in', () => {
    const conditions = (headers: { name: string; value: string }[]): MatcherTable => ({
      ...VALID,
      hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/', route: 0, conditions: { headers } }], fallback: -1 }],
    });
    const a = { name: 'x-a', value: '1' };
    const b = { name: 'X-B', value: '2' };
    expect(encodeTable(conditions([a, b]))).toEqual(encodeTable(conditions([b, a])));
  });

  it('round-trips through loadMatcherFromBinary, in the grid\'s route ids', () => {
    const { table, routeIds, layout } = encodeGrid(VALID);
    const matcher = loadMatcherFromBinary(table);
    expect(matcher.match('FOO.com:80', '/api/x', 'GET', { 'x-a': '1' })).toBe(routeIds[0]);
    expect(matcher.match('foo.com', '/api/x', 'GET')).toBe(routeIds[1]);
    // The id space: a bucket's R ids, the catch-all's.
    expect([matcher.routeCount, matcher.endpointCount]).toEqual([layout.plan.routeCount, 2]);
    expect(layout.plan.routeCount).toBe(GRID.bucketRoutes + 1);
  });

  it.each([
    ['bad magic', (bytes: Uint8Array) => bytes.fill(0, 0, 4)],
    ['bad version', (bytes: Uint8Array) => bytes.fill(9, 4, 5)],
    ['truncated', (bytes: Uint8Array) => bytes.subarray(0, bytes.length - 4)],
    ['too short', (bytes: Uint8Array) => bytes.subarray(0, 8)],
  ])('loadMatcherFromBinary rejects %s', (_name, damage) => {
    const bytes = damage(encodeTable(VALID));
    expect(() => loadMatcherFromBinary(bytes)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_CORRUPT' }));
  });
});
