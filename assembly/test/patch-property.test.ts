// patchOwnChunks against assembleGrid (format 7), over random tables of up to 1,000
// hosts and one random change at a time: a patch is given exactly when the full layout of the new
// table is the previous one's (the same counts, route runs, offsets and sizes; the stated reason
// otherwise), and then its bytes and layout are the full assembly's, and every block it did not
// write is the previous version's very object. The property a patch of a future layout keeps too
// (docs/proposals/host-grid.md and endpoint-area.md, test 1).
import { describe, expect, it } from 'vitest';
import { TABLE_BLOCK_BYTES, TableBlocks, encodeChunk, patchOwnChunks } from '../src/host/encode.ts';
import type { LaidOutTable, PlacedChunk, TableChunk, TableLayout } from '../src/host/encode.ts';
import { Header } from '../src/host/layout.ts';
import { gridOf } from './grid-support.ts';
import type { HostEntry, RouteEntry } from '../src/host/table.ts';
import type { ListedBackend } from './sets.ts';
import { lcg } from './slot-support.ts';

/** A route as this test writes it: its backend lists its endpoints (laidOut makes each route's list the set of the route's id). */
interface ListedRoute {
  readonly backends: readonly ListedBackend[];
}

/** One host: its entry (local route ids), its chunk (made once: unchanged hosts keep the object) and its route records. */
interface Host {
  readonly entry: HostEntry;
  readonly chunk: TableChunk;
  readonly routes: readonly ListedRoute[];
}

const hostOf = (entry: HostEntry, routes: readonly ListedRoute[]): Host => ({ entry, chunk: encodeChunk([entry], routes.length), routes });
const pathOf = (length: number, serial: number): string => `/${serial.toString(36)}${'-'.repeat(40)}`.slice(0, length);

/** Why the full layout of `next` cannot be had by patching `previous`, or undefined when it can. */
function refusal(previous: LaidOutTable, next: { chunks: readonly PlacedChunk[]; routes: readonly RouteEntry[]; endpointCount: number; layout: TableLayout }): string | undefined {
  if (next.chunks.length !== previous.chunks.length) return 'another number of hosts';
  if (next.routes.length !== previous.routes.length) return 'another number of routes';
  for (let c = 0; c < next.chunks.length; c++) if (next.chunks[c]!.firstRoute !== previous.chunks.at(c)!.firstRoute) return `host ${c}'s route run moved`;
  const a = previous.layout;
  const b = next.layout;
  for (const field of ['chunkAt', 'routeOffsets'] as const) if (a[field].some((value, i) => value !== b[field][i])) return `the layout's ${field} moved`;
  for (let c = 0; c < next.chunks.length; c++) if (next.chunks[c]!.chunk.bytes.length !== previous.chunks.at(c)!.chunk.bytes.length) return `host ${c}'s chunk changed size (its end is padding)`;
  return undefined;
}

const CHANGES = ['renameInPad', 'renameAcrossPad', 'addPath', 'addHost', 'removeHost', 'move', 'scale', 'endpoints'] as const;

describe('patchOwnChunks == assembleGrid (format 7)', () => {
  it.each([
    { seed: 11, hosts: 1000, steps: 120 },
    { seed: 12, hosts: 40, steps: 200 },
  ])('seed $seed: $hosts hosts, $steps random changes', ({ seed, hosts: hostCount, steps }) => {
    const random = lcg(seed);
    let serial = 0;
    let endpointCount = 64;
    const record = (size: number): ListedRoute => ({ backends: [{ weight: 1 + random(3), endpoints: Array.from({ length: size }, () => random(endpointCount)) }] });
    const makeHost = (name: string, lengths: readonly number[], routes: readonly ListedRoute[]): Host => hostOf({ host: name, paths: lengths.map((length, r) => ({ pathType: 'Prefix', path: pathOf(length, serial++), route: r })), fallback: -1 }, routes);
    const pads = (): number => 5 + random(12);
    let hosts: Host[] = Array.from({ length: hostCount }, (_, h) => {
      const count = 1 + random(3);
      return makeHost(`h${String(h * 10).padStart(6, '0')}.test`, Array.from({ length: count }, pads), Array.from({ length: count }, () => record(1 + random(3))));
    });
    // A route's record names set `id` (its endpoints; ids dense in host order): the same object while its id and weight are.
    const entries = new Map<ListedRoute, { id: number; entry: RouteEntry }>();
    const entryOf = (route: ListedRoute, id: number): RouteEntry => {
      let known = entries.get(route);
      if (known?.id !== id) entries.set(route, (known = { id, entry: { backends: route.backends.map((backend) => ({ weight: backend.weight, set: id })) } }));
      return known.entry;
    };
    const laidOut = (list: readonly Host[]) => {
      const sets: (readonly number[])[] = [];
      const units = list.map((host) => ({
        name: host.entry.host,
        chunk: host.chunk,
        routes: host.routes.map((route) => {
          sets.push(route.backends[0]!.endpoints);
          return entryOf(route, sets.length - 1);
        }),
      }));
      const { table, layout, chunks, routes } = gridOf(units, sets, endpointCount);
      return { table, layout, chunks, routes, sets, endpointCount };
    };
    let full = laidOut(hosts);
    let previous: LaidOutTable = { table: TableBlocks.of(full.table), layout: full.layout, chunks: full.chunks, routes: full.routes, sets: full.sets, endpointCount, fallback: -1 };
    const tally: Record<string, number> = {};
    for (let step = 1; step <= steps; step++) {
      const change = CHANGES[random(CHANGES.length)]!;
      const h = random(hosts.length);
      const host = hosts[h]!;
      const replace = (next: Host) => (hosts = hosts.with(h, next));
      const lengths = host.entry.paths.map((path) => path.path.length);
      const r = random(lengths.length);
      if (change === 'renameInPad' || change === 'renameAcrossPad') {
        const pad = Math.ceil(lengths[r]! / 8);
        const to = change === 'renameInPad' ? pad : pad === 1 ? 2 : 1;
        const least = Math.max(5, (to - 1) * 8 + 1);
        replace(makeHost(host.entry.host, lengths.with(r, least + random(to * 8 - least + 1)), host.routes));
      } else if (change === 'addPath') replace(makeHost(host.entry.host, [...lengths, pads()], [...host.routes, record(1)]));
      else if (change === 'addHost') hosts = hosts.toSpliced(h, 0, makeHost(`${host.entry.host.slice(0, -5)}-${serial++}.test`, [pads()], [record(1)]));
      else if (change === 'removeHost') {
        if (hosts.length < 2) continue;
        hosts = hosts.toSpliced(h, 1);
      } else if (change === 'move') replace({ ...host, routes: host.routes.with(r, record(host.routes[r]!.backends[0]!.endpoints.length)) });
      else if (change === 'scale') replace({ ...host, routes: host.routes.with(r, record(host.routes[r]!.backends[0]!.endpoints.length + (random(2) === 0 ? 1 : -1) || 2)) });
      else endpointCount += random(2) === 0 ? 3 : 0;
      full = laidOut(hosts);
      const why = refusal(previous, full);
      const patched = patchOwnChunks(previous, full.chunks, full.routes, full.sets, endpointCount, -1);
      const what = `step ${step}: ${change}`;
      tally[`${change}: ${why ?? 'patched'}`] = (tally[`${change}: ${why ?? 'patched'}`] ?? 0) + 1;
      if (why !== undefined) {
        expect(patched, `${what}: refused (${why})`).toBeUndefined();
        previous = { table: TableBlocks.of(full.table), layout: full.layout, chunks: full.chunks, routes: full.routes, sets: full.sets, endpointCount, fallback: -1 };
        continue;
      }
      expect(patched, `${what}: the full layout did not move, so a patch must be given`).toBeDefined();
      expect(Buffer.from(patched!.table.bytes()).equals(Buffer.from(full.table)), `${what}: the patched bytes are the full assembly's`).toBe(true);
      expect(patched!.layout, what).toEqual(full.layout);
      // The blocks a patch may write: those of the chunks and route records that are other objects.
      const written = new Set<number>();
      const span = (from: number, bytes: number) => {
        for (let b = Math.floor(from / TABLE_BLOCK_BYTES); b <= Math.floor((from + bytes - 1) / TABLE_BLOCK_BYTES); b++) written.add(b);
      };
      full.chunks.forEach((placed, c) => placed.chunk !== previous.chunks.at(c)!.chunk && span(full.layout.chunkAt[c]!, placed.chunk.bytes.length));
      full.routes.forEach((route, id) => route !== previous.routes.at(id)! && span(full.layout.routeOffsets[id]!, 8 + 16 * route.backends.length));
      // The header (length, endpoint count); per set that changed, its bucket and its bucket's index slice; the overflow tail when a set of it changed or one moved in or out.
      span(0, Header.SIZE);
      const { area, areaAt, setIndexAt } = full.layout;
      const { bucketBytes, bucketShift } = area.geometry;
      full.sets.forEach((set, id) => {
        if (set === previous.sets.at(id)) return;
        span(areaAt + (id >> bucketShift) * bucketBytes, bucketBytes);
        span(setIndexAt + ((id >> bucketShift) << bucketShift) * 4, 4 << bucketShift);
        // (A tail re-packed from an extent that moved rewrites the index entries of the sets after it, in any bucket.)
        if (area.overflow.includes(id) || previous.layout.area.overflow.includes(id)) span(setIndexAt, full.table.length - setIndexAt);
      });
      patched!.table.blocks.forEach((block, b) => {
        if (!written.has(b)) expect(block, `${what}: block ${b} unwritten, the previous version's`).toBe(previous.table.blocks[b]);
      });
      previous = patched!;
    }
    // Both outcomes of the kinds that can patch were met, so the run proves something of each.
    for (const outcome of ['renameInPad: patched', 'move: patched', 'scale: patched', 'endpoints: patched']) expect(tally[outcome] ?? 0, `${outcome} in ${JSON.stringify(tally)}`).toBeGreaterThan(0);
    expect(Object.keys(tally).filter((outcome) => !outcome.endsWith(': patched')).length).toBeGreaterThan(3);
  }, 60_000);
});
