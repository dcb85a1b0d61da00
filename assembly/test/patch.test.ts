// Patching in place (patch.ts) with host-local condition bits: a host whose condition count
// changes but whose chunk keeps its size is rewritten alone — no other host's bits move — and
// the result is byte for byte the full assemble; a host gaining its first condition is not
// patched (the table's list of hosts with conditions changes).
import { describe, expect, it } from 'vitest';
import { TABLE_BLOCK_BYTES, TableBlocks } from '../src/host/blocks.ts';
import { encodeChunk, patchOwnChunks } from '../src/host/encode.ts';
import type { GridUnit, LaidOutTable } from '../src/host/encode.ts';
import { gridOf } from './grid-support.ts';
import { loadMatcherFromBinary } from '../src/host/matcher.ts';
import type { HostEntry, PathEntry, RouteEntry } from '../src/host/table.ts';

const HOSTS = 700;
const MIDDLE = 350;

/** Host `i`: a root route and, on `/p`, route 1 under `headers` (none: no condition). */
function hostOf(i: number, headers: readonly { name: string; value: string }[], pathKey = '/p'): HostEntry {
  const paths: PathEntry[] = [{ pathType: 'Prefix', path: '/', route: 0 }, { pathType: 'Prefix', path: pathKey, route: 1, ...(headers.length === 0 ? {} : { conditions: { headers } }) }];
  return { host: `h${i}.example`, paths, fallback: -1 };
}

const ROUTES: RouteEntry[] = Array.from({ length: HOSTS * 2 }, (_, r) => ({ backends: [{ weight: 1, set: r % 4 }] }));
const SETS = [[0], [1], [2], [3]];

/** Every host with one header condition on `/p` (so each has bit 0), `middle` in place of host MIDDLE: a unit each, routes 2i and 2i + 1 its own. */
function unitsWith(middle: HostEntry): GridUnit[] {
  return Array.from({ length: HOSTS }, (_, i) => ({ name: `h${i}.example`, chunk: encodeChunk([i === MIDDLE ? middle : hostOf(i, [{ name: 'x-h', value: String(i) }])], 2), routes: ROUTES.slice(i * 2, i * 2 + 2) }));
}

function laidOut(units: GridUnit[]): LaidOutTable {
  const { table, layout, chunks, routes } = gridOf(units, SETS, 4);
  return { table: TableBlocks.of(table), layout, chunks, routes, sets: SETS, endpointCount: 4, fallback: -1 };
}

/** The first of `candidates` whose chunk is as long as `like`'s. */
function sameSize(like: HostEntry, candidates: readonly HostEntry[]): HostEntry {
  const length = encodeChunk([like], 2).bytes.length;
  const found = candidates.find((candidate) => encodeChunk([candidate], 2).bytes.length === length);
  if (found === undefined) throw new Error('no candidate of the same size');
  return found;
}

describe('patchOwnChunks with host-local condition bits', () => {
  const two = hostOf(MIDDLE, [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '1' }]);
  // One condition whose longer value makes up for the second condition record.
  const one = sameSize(two, Array.from({ length: 64 }, (_, n) => hostOf(MIDDLE, [{ name: 'x-a', value: 'v'.repeat(n) }])));

  it('rewrites only the host whose condition count changed, giving the full assemble', () => {
    const before = unitsWith(one);
    const previous = laidOut(before);
    expect(previous.table.blocks.length, 'several blocks').toBeGreaterThan(3);
    const next = unitsWith(two);
    const units = before.map((unit, i) => (i === MIDDLE ? next[MIDDLE]! : unit));
    const full = gridOf(units, SETS, 4);
    const patched = patchOwnChunks(previous, full.chunks, previous.routes, SETS, 4, -1, { chunks: [MIDDLE], routes: [] });
    expect(patched, 'patched in place').toBeDefined();
    expect(Buffer.from(patched!.table.bytes()).equals(Buffer.from(full.table))).toBe(true);
    // Only the blocks the middle chunk lies in are new.
    const from = patched!.layout.chunkAt[MIDDLE]!;
    const to = from + next[MIDDLE]!.chunk.bytes.length;
    patched!.table.blocks.forEach((block, b) => {
      const touched = b >= Math.floor(from / TABLE_BLOCK_BYTES) && b <= Math.floor((to - 1) / TABLE_BLOCK_BYTES);
      expect(block === previous.table.blocks[b], `block ${b}`).toBe(!touched);
    });
    // The host's own bits, every other host's as they were.
    const matcher = loadMatcherFromBinary(patched!.table.bytes());
    const first = (i: number) => full.layout.plan.firstRoute[i]!;
    expect(matcher.match(`h${MIDDLE}.example`, '/p', 'GET', { 'x-a': '1', 'x-b': '1' })).toBe(first(MIDDLE) + 1);
    expect(matcher.match(`h${MIDDLE}.example`, '/p', 'GET', { 'x-a': '1' })).toBe(first(MIDDLE));
    expect(matcher.match(`h${MIDDLE + 1}.example`, '/p', 'GET', { 'x-h': String(MIDDLE + 1) })).toBe(first(MIDDLE + 1) + 1);
    expect(matcher.match(`h${MIDDLE + 1}.example`, '/p', 'GET', { 'x-a': '1', 'x-b': '1' })).toBe(first(MIDDLE + 1));
  });

  it('does not patch a host gaining its first condition, even at the same size', () => {
    const none = sameSize(one, Array.from({ length: 64 }, (_, n) => hostOf(MIDDLE, [], `/p${'q'.repeat(n)}`)));
    const before = unitsWith(none);
    const previous = laidOut(before);
    const chunks = gridOf(before, SETS, 4).chunks.map((placed, i) => (i === MIDDLE ? { chunk: encodeChunk([one], 2), firstRoute: placed.firstRoute } : placed));
    expect(patchOwnChunks(previous, chunks, previous.routes, SETS, 4, -1, { chunks: [MIDDLE], routes: [] })).toBeUndefined();
  });
});
