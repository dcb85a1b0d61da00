// Chunked tables: chunks encoded apart (route ids local to each) and assembled as grid units give
// the very bytes encodeTable gives for the whole table, and a damaged chunk is refused, never laid out.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assembleGrid, chunkFromBytes, chunkToBytes, encodeChunk, encodeGrid } from '../src/host/encode.ts';
import type { GridUnit, TableChunk } from '../src/host/encode.ts';
import { Relocation } from '../src/host/chunk-check.ts';
import { HostRecord, Limit } from '../src/host/layout.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { HostEntry, MatcherTable, PathEntry, RouteEntry } from '../src/host/table.ts';

/**
 * A table from per-group host lists whose route ids are local to each group (a group: the host
 * entries of one unit, sharing its routes), assembled from the groups' chunks as units off the
 * wire (checked); also the reference whole table.
 */
function build(groups: readonly (readonly HostEntry[])[], routesPerGroup: readonly number[], endpointCount: number, catchAll: boolean) {
  const routes: RouteEntry[] = [];
  // One set per endpoint id: set i holds endpoint i.
  const sets = Array.from({ length: endpointCount }, (_, i) => [i]);
  const hosts: HostEntry[] = [];
  const units: GridUnit[] = [];
  groups.forEach((group, g) => {
    const firstRoute = routes.length;
    for (let r = 0; r < routesPerGroup[g]!; r++) routes.push({ backends: [{ weight: 1 + ((firstRoute + r) % 3), set: (firstRoute + r) % endpointCount }] });
    const shift = (route: number) => (route < 0 ? route : route + firstRoute);
    for (const host of group) hosts.push({ ...host, fallback: shift(host.fallback), paths: host.paths.map((path) => ({ ...path, route: shift(path.route) })) });
    units.push({ name: group[0]!.host, chunk: encodeChunk(group, routesPerGroup[g]!), routes: routes.slice(firstRoute) });
  });
  const catchAllRoute = catchAll ? { backends: [{ weight: 1, set: 0 }] } : null;
  const fallback = catchAllRoute === null ? -1 : routes.push(catchAllRoute) - 1;
  const table: MatcherTable = { hosts, routes, sets, endpointCount, fallback };
  const assemble = (list: readonly GridUnit[]) => assembleGrid(list, catchAllRoute, sets, endpointCount, { check: true }).table;
  return { table, assembled: assemble(units), units, assemble };
}

const path = (pathType: PathEntry['pathType'], p: string, route: number, conditions?: PathEntry['conditions']): PathEntry => ({ pathType, path: p, route, ...(conditions === undefined ? {} : { conditions }) });

const GROUPS: HostEntry[][] = [
  [{ host: 'a.example.com', paths: [path('Prefix', '/', 0), path('Exact', '/api', 1), path('Prefix', '/static', 2, { headers: [{ name: 'X-A', value: '1' }], methods: ['GET'] })], fallback: -1 }],
  [
    { host: '*.example.com', paths: [path('Prefix', '/', 0, { query: [{ name: 'q', value: 'v' }] })], fallback: 1 },
    { host: '*.example.com', labels: 'deeper', paths: [path('Prefix', '/x', 1)], fallback: -1 },
  ],
  [{ host: 'b.example.com', paths: [path('RegularExpression', '/v[0-9]+/.*', 0), path('Prefix', '/b/c', 0, { headers: [{ name: 'X-B', value: 'b.*', type: 'RegularExpression' }] })], fallback: 0 }],
  [{ host: '*', paths: [path('Prefix', '/any', 0)], fallback: -1 }],
];

describe('assembleGrid of chunks', () => {
  it('gives the bytes encodeTable gives for the whole table', () => {
    const { table, assembled } = build(GROUPS, [3, 2, 1, 1], 4, true);
    const { table: encoded, routeIds } = encodeGrid(table);
    expect(Buffer.from(assembled).equals(Buffer.from(encoded))).toBe(true);
    // The encoded table answers in the grid's ids (routeIds: by the table's).
    const matcher = loadMatcherFromBinary(assembled);
    expect(matcher.match('a.example.com', '/api', 'GET')).toBe(routeIds[1]);
    expect(matcher.match('x.example.com', '/', 'GET')).toBe(routeIds[4]);
    expect(matcher.match('x.example.com', '/?q=v', 'GET')).toBe(routeIds[3]);
    expect(matcher.match('x.y.example.com', '/x', 'GET')).toBe(routeIds[4]);
    expect(matcher.match('b.example.com', '/v2/z', 'GET')).toBe(routeIds[5]);
    expect(matcher.match('other.test', '/any', 'GET')).toBe(routeIds[6]);
    expect(matcher.match('other.test', '/none', 'GET')).toBe(routeIds[7]);
    expect(new Set(routeIds).size).toBe(8);
  });

  it('gives encodeTable bytes for random hosts cut into random chunks', () => {
    const label = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
    const entry = fc.record({ type: fc.constantFrom('Exact', 'Prefix'), p: fc.stringMatching(/^\/[a-z]{0,4}(\/[a-z]{1,3}){0,2}$/), header: fc.option(fc.constantFrom('x-a', 'x-b'), { nil: undefined }) });
    fc.assert(
      fc.property(fc.uniqueArray(label, { minLength: 1, maxLength: 12 }), fc.array(fc.array(entry, { maxLength: 5 }), { minLength: 12, maxLength: 12 }), fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 12, maxLength: 12 }), (names, pathsPerHost, cuts) => {
        const groups: HostEntry[][] = [];
        const routesPerGroup: number[] = [];
        let i = 0;
        for (const cut of cuts) {
          if (i >= names.length) break;
          // A group's hosts share route 0 (a unit is the hosts that share routes): each names it as its fallback.
          const group = names.slice(i, i + cut).map((name, k): HostEntry => ({ host: `${name}.test`, paths: pathsPerHost[i + k]!.map((e, n) => path(e.type as PathEntry['pathType'], e.p, n, e.header === undefined ? undefined : { headers: [{ name: e.header, value: 'v' }] })), fallback: 0 }));
          groups.push(group);
          routesPerGroup.push(Math.max(1, ...group.map((host) => host.paths.length)));
          i += cut;
        }
        const { table, assembled } = build(groups, routesPerGroup, 3, false);
        expect(Buffer.from(assembled).equals(Buffer.from(encodeGrid(table).table))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  const damaged: { name: string; damage: (chunk: TableChunk) => TableChunk }[] = [
    { name: 'a relocation past its end', damage: (chunk) => ({ ...chunk, relocations: Uint32Array.from([...chunk.relocations, (chunk.bytes.length + 64) * 8]) }) },
    { name: 'a route id past its run', damage: (chunk) => ({ ...chunk, routeCount: 0 }) },
    { name: 'an unknown relocation kind', damage: (chunk) => ({ ...chunk, relocations: Uint32Array.from([...chunk.relocations, 7]) }) },
    { name: 'an offset outside it', damage: (chunk) => ({ ...chunk, relocations: Uint32Array.from([...chunk.relocations, Relocation.OFFSET]), bytes: Uint8Array.from(chunk.bytes, (b, i) => (i === 3 ? 0xff : b)) }) },
    { name: 'a host record outside it', damage: (chunk) => ({ ...chunk, hosts: chunk.hosts.map((host) => ({ ...host, at: chunk.bytes.length })) }) },
    { name: 'a body cut in half', damage: (chunk) => ({ ...chunk, bytes: chunk.bytes.subarray(0, (chunk.bytes.length / 2) & ~7) }) },
    { name: 'a length not a multiple of 8', damage: (chunk) => ({ ...chunk, bytes: chunk.bytes.subarray(0, chunk.bytes.length - 3) }) },
  ];

  it.each(damaged)('refuses a chunk with $name', ({ damage }) => {
    const { units, assemble } = build(GROUPS, [3, 2, 1, 1], 4, true);
    const bad = units.map((unit, i) => (i === 0 ? { ...unit, chunk: damage(unit.chunk) } : unit));
    expect(() => assemble(bad)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID' }));
  });

  // Condition bits are the host's own: a chunk whose entries name a bit past its host's conditions
  // would read what a request to another host left in the bitset.
  const word = (chunk: TableChunk, at: number): number => new DataView(chunk.bytes.buffer, chunk.bytes.byteOffset).getUint32(at, true);
  const withWord = (chunk: TableChunk, at: number, value: number): TableChunk => {
    const bytes = chunk.bytes.slice();
    new DataView(bytes.buffer).setUint32(at, value, true);
    return { ...chunk, bytes };
  };
  /** Where host 0's entries' condition bits start: after its one condition record. */
  const bitsOf = (chunk: TableChunk): number => word(chunk, chunk.hosts[0]!.at + HostRecord.CONDS) + 24;
  const hostile: { name: string; damage: (chunk: TableChunk) => TableChunk; message: RegExp }[] = [
    { name: 'a condition bit past its host\'s conditions', damage: (chunk) => withWord(chunk, bitsOf(chunk), 1), message: /condition bit 1 \(Entry\.COND_START run\) is not below its host's HostRecord\.COND_COUNT 1/ },
    { name: 'a condition run not relocated with its host', damage: (chunk) => ({ ...chunk, relocations: chunk.relocations.filter((r) => (r & 7) !== Relocation.OFFSET || word(chunk, r >>> 3) !== bitsOf(chunk)) }), message: /Entry\.COND_START \(\d+, 1 bits\) lies outside/ },
    { name: 'more conditions than a host may have', damage: (chunk) => withWord(chunk, chunk.hosts[0]!.at + HostRecord.COND_COUNT, Limit.HOST_CONDITIONS + 1), message: /HostRecord\.COND_COUNT 65537 is past 65536/ },
  ];

  it.each(hostile)('refuses a chunk with $name, naming the field', ({ damage, message }) => {
    const { units, assemble } = build(GROUPS, [3, 2, 1, 1], 4, true);
    expect(word(units[0]!.chunk, units[0]!.chunk.hosts[0]!.at + HostRecord.COND_COUNT)).toBe(1);
    const chunk = damage(units[0]!.chunk);
    const bad = units.map((unit, i) => (i === 0 ? { ...unit, chunk } : unit));
    expect(() => assemble(bad)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(message) }));
    expect(() => chunkFromBytes(chunkToBytes(chunk))).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(message) }));
  });

  it('refuses two units claiming one host, and a chunk naming more routes than its unit has (ids past its own), naming the field', () => {
    const { units, assemble } = build(GROUPS, [3, 2, 1, 1], 4, true);
    expect(() => assemble([...units, units[0]!])).toThrow(/duplicate host "a.example.com", already units\[0\]/);
    expect(() => assemble([{ ...units[0]!, routes: units[0]!.routes.slice(0, 2) }, ...units.slice(1)])).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID', message: expect.stringMatching(/units\[0\] \(a\.example\.com\)\.chunk\.routeCount: its entries name 3 routes, the unit has 2/) }));
  });
});

describe('chunks on the wire', () => {
  it('come back as they went, and assemble to the same table', () => {
    const { units, assembled, assemble } = build(GROUPS, [3, 2, 1, 1], 4, true);
    const shipped = units.map((unit) => ({ ...unit, chunk: chunkFromBytes(chunkToBytes(unit.chunk)) }));
    expect(shipped.map((unit) => unit.chunk)).toEqual(units.map((unit) => unit.chunk));
    expect(Buffer.from(assemble(shipped)).equals(Buffer.from(assembled))).toBe(true);
  });

  const bytes = chunkToBytes(build(GROUPS, [3, 2, 1, 1], 4, true).units[1]!.chunk);
  const flip = (at: number) => Uint8Array.from(bytes, (b, i) => (i === at ? b ^ 0xff : b));
  it.each([
    ['truncated', bytes.subarray(0, bytes.length - 4)],
    ['cut to its header', bytes.subarray(0, 16)],
    ['with bytes past its end', Uint8Array.from([...bytes, 0, 0, 0, 0])],
    ['with another magic', flip(0)],
    ['with another wire version', flip(4)],
    ['claiming 2^24 hosts', Uint8Array.from(bytes, (b, i) => (i === 15 ? 1 : b))],
    ['empty', new Uint8Array(0)],
  ])('refuses a chunk %s', (_name, data) => {
    expect(() => chunkFromBytes(data)).toThrow(expect.objectContaining({ code: 'PORTICO_E_TABLE_INVALID' }));
  });

  // Lookups in UTF-8 of more than one byte per character too (a path is not a lookup; a host name can be).
  const WIRE_GROUPS: HostEntry[][] = [...GROUPS.slice(0, 2), [{ host: 'bücher.example', paths: [path('Prefix', '/ü', 0)], fallback: -1 }]];
  const wireChunks = WIRE_GROUPS.map((group, g) => encodeChunk(group, [3, 2, 1][g]!));

  it('are the bytes they were (sha256 of these chunks as wire version 2, table version 4 encode them)', () => {
    const all = Buffer.concat(wireChunks.map((chunk) => chunkToBytes(chunk)));
    expect(createHash('sha256').update(all).digest('hex')).toBe('3a4e5667c94bf7e4dda1c002c5cfe73002141ccb4bb91b1211c81b657b1c7942');
  });

  it('written into a reused buffer are the same bytes as alone, with nothing of what the buffer held', () => {
    const scratch = new Uint8Array(4096).fill(0xab);
    // Largest first, then smaller ones over its bytes: padding and lengths must not show the earlier chunk.
    const order = [...wireChunks].sort((a, b) => chunkToBytes(b).length - chunkToBytes(a).length);
    for (const chunk of [...order, ...order.reverse()]) {
      const bytes = chunkToBytes(chunk, scratch);
      expect(bytes.buffer).toBe(scratch.buffer);
      expect(Buffer.from(bytes).equals(Buffer.from(chunkToBytes(chunk)))).toBe(true);
      expect(chunkFromBytes(bytes)).toEqual(chunk);
    }
    // A buffer too small for the chunk: a new array, the buffer untouched.
    const small = new Uint8Array(16).fill(0xcd);
    const bytes = chunkToBytes(wireChunks[0]!, small);
    expect(bytes.buffer).not.toBe(small.buffer);
    expect(Buffer.from(bytes).equals(Buffer.from(chunkToBytes(wireChunks[0]!)))).toBe(true);
    expect(small.every((b) => b === 0xcd)).toBe(true);
  });

  it('refuses a well-formed chunk whose relocation points outside it', () => {
    const chunk = chunkFromBytes(bytes);
    const damaged = chunkToBytes({ ...chunk, relocations: Uint32Array.from([...chunk.relocations, (chunk.bytes.length + 8) * 8]) });
    expect(() => chunkFromBytes(damaged)).toThrow(/outside its chunk/);
  });
});
