import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { RouteLabels, compileBundle, digestOf } from './bundle.ts';
import { verifyBundleInTurns } from './bundle-verify.ts';
import type { TableBundle } from './bundle.ts';
import { Router } from './router.ts';
import { snapshotOf } from './test-support.ts';

const good = snapshotOf([
  { host: 'a.test', routes: [{ path: '/', endpoints: [1001, 1002] }, { path: '/api', endpoints: [1003] }] },
  { host: 'secure.test', routes: [{ path: '/', endpoints: [1004], sslRedirect: true }] },
]);
const next = snapshotOf([{ host: 'b.test', routes: [{ path: '/', endpoints: [1005] }] }]);

/** The bundle with its digest recomputed: what a buggy (not a damaged) producer would send. */
function readdressed(bundle: TableBundle): TableBundle {
  const { digest: _digest, ...content } = bundle;
  return { ...content, digest: digestOf(content) };
}

describe('table bundles', () => {
  it('load after a structured-clone trip (as workers get them) and route exactly like the snapshot they came from', () => {
    const fromSnapshot = new Router();
    fromSnapshot.load(good);
    const fromBundle = new Router();
    fromBundle.loadBundle(deserialize(serialize(compileBundle(good))) as TableBundle);
    expect(fromBundle.version).toBe(good.version);
    for (const [host, path, scheme] of [['a.test', '/api/x', 'https'], ['a.test', '/', 'https'], ['secure.test', '/', 'http'], ['nope.test', '/', 'https']] as const) {
      const { snapshot: _a, ...expected } = fromSnapshot.route(host, path, 'GET', undefined, scheme) as { snapshot?: unknown };
      const { snapshot: _b, ...actual } = fromBundle.route(host, path, 'GET', undefined, scheme) as { snapshot?: unknown };
      expect(actual).toEqual(expected);
    }
  });

  it('keeps routing and swaps endpoint choice only for a balancing-only bundle', () => {
    const router = new Router();
    router.load(good);
    const routing = router.current!.matcher;
    const moved = snapshotOf([
      { host: 'a.test', routes: [{ path: '/', endpoints: [2001] }, { path: '/api', endpoints: [1003] }] },
      { host: 'secure.test', routes: [{ path: '/', endpoints: [1004], sslRedirect: true }] },
    ]);
    router.loadBundle(compileBundle(moved, true));
    expect(router.current!.matcher).toBe(routing);
    expect(router.route('a.test', '/', 'GET', undefined, 'https')).toMatchObject({ kind: 'proxy', port: 2001 });
  });

  it('refuses a damaged, truncated or inconsistent bundle (PORTICO_E_SNAPSHOT_LOAD) and keeps serving the last good one', () => {
    const router = new Router();
    router.loadBundle(compileBundle(good));
    const bundle = compileBundle(next);
    const flipped = new Uint8Array(bundle.table);
    flipped[100] = flipped[100]! ^ 0xff;
    const truncated = bundle.table.subarray(0, bundle.table.length - 64);
    const hostile: [string, TableBundle][] = [
      ['a flipped byte', { ...bundle, table: flipped }],
      ['a truncated table', { ...bundle, table: truncated }],
      ['endpoints swapped for others', { ...bundle, endpoints: '10.0.0.1 80' }],
      // Consistent with its digest, yet not a table the matcher can load.
      ['a truncated table re-addressed', readdressed({ ...bundle, table: truncated })],
      ['labels for other routes, re-addressed', readdressed({ ...bundle, routeLabels: 'x\ny\nz' })],
      ['not a bundle at all', { version: next.version } as TableBundle],
    ];
    for (const [what, damaged] of hostile) {
      expect(() => router.loadBundle(damaged), what).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
      expect(router.version, what).toBe(good.version);
      expect(router.route('a.test', '/', 'GET', undefined, 'https').kind, what).toBe('proxy');
    }
    router.loadBundle(bundle);
    expect(router.version).toBe(next.version);
  });
});

describe('verifyBundleInTurns', () => {
  it('gives digestOf, hashing in slices that never split a surrogate pair, and lets the event loop turn between them', async () => {
    const bundle = compileBundle(good);
    // A labels text past several slices, with astral characters (surrogate pairs) across each 256 Ki boundary.
    const slice = 256 * 1024;
    const long = Array.from({ length: 4 }, () => `${'l'.repeat(slice - 1)}😀`).join('');
    for (const routeLabels of [long, `x${long}`, `xx${long}`]) {
      const made = readdressed({ ...bundle, routeLabels });
      let turns = 0;
      const ticking = setInterval(() => turns++, 0);
      await verifyBundleInTurns(made);
      clearInterval(ticking);
      expect(turns, 'event-loop turns while hashing').toBeGreaterThan(0);
      await expect(verifyBundleInTurns({ ...made, routeLabels: `${routeLabels.slice(0, -1)}?` })).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
    }
  });

  it('gives digestOf for a table of many 64 KiB blocks and line texts of many 1,024-line blocks, and refuses one changed block or line', async () => {
    const bundle = compileBundle(good);
    // Padded with zero bytes: only the digest is checked here (the matcher checks a table's own structure).
    const table = new Uint8Array(5 * 64 * 1024 + 24);
    table.set(bundle.table);
    const routeLabels = Array.from({ length: 3000 }, (_, i) => `team/app-${i}@app-${i}.example.com/é${i}`).join('\n');
    const endpoints = Array.from({ length: 2500 }, (_, i) => `10.1.${i >> 8}.${i & 255} 8080`).join('\n');
    const made = readdressed({ ...bundle, table, routeLabels, endpoints });
    await verifyBundleInTurns(made);
    const flipped = table.slice();
    flipped[3 * 64 * 1024 + 5] = 1;
    for (const damaged of [{ ...made, table: flipped }, { ...made, routeLabels: routeLabels.replace('app-2000@', 'app-2001@') }, { ...made, endpoints: endpoints.replace('10.1.5.1 ', '10.1.5.9 ') }]) {
      await expect(verifyBundleInTurns(damaged)).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
    }
  });

  it('refuses a damaged or malformed bundle (PORTICO_E_SNAPSHOT_LOAD)', async () => {
    const bundle = compileBundle(next);
    const flipped = new Uint8Array(bundle.table);
    flipped[flipped.length - 1] = flipped[flipped.length - 1]! ^ 1;
    for (const [what, damaged] of [
      ['a flipped last byte', { ...bundle, table: flipped }],
      ['another version', { ...bundle, version: good.version }],
      ['endpoints swapped for others', { ...bundle, endpoints: '10.0.0.1 80' }],
      ['not a bundle at all', { version: next.version } as TableBundle],
    ] as const) {
      await expect(verifyBundleInTurns(damaged), what).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
    }
    await verifyBundleInTurns(bundle);
  });
});

describe('RouteLabels', () => {
  it('gives exactly the split of the text by route id, whatever the labels', () => {
    let state = 7;
    const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    for (let round = 0; round < 200; round++) {
      // Empty labels, labels equal to their neighbours, non-ASCII, one label, many.
      const labels = Array.from({ length: 1 + Math.floor(random() * 40) }, (_, i) => (random() < 0.1 ? '' : random() < 0.1 ? 'same' : `team/app-${i}@h${i}.example/${random() < 0.2 ? 'ünï' : 'api'}`));
      const text = labels.join('\n');
      const loaded = new RouteLabels(text);
      expect(loaded.count, `round ${round}`).toBe(text.split('\n').length);
      // Asked out of order, twice: the same answers.
      for (const id of [...labels.keys()].reverse()) expect(loaded.at(id), `round ${round} id ${id}`).toBe(labels[id]);
      for (const id of labels.keys()) expect(loaded.at(id)).toBe(labels[id]);
      for (const label of labels) expect(loaded.has(label)).toBe(true);
      expect(loaded.has('absent')).toBe(false);
    }
  });

  it('answers undefined outside the routes, and an empty text has none', () => {
    const loaded = new RouteLabels('a\nb');
    for (const id of [-1, 2, 1.5, Number.NaN, 2 ** 32]) expect(loaded.at(id), String(id)).toBeUndefined();
    const empty = new RouteLabels('');
    expect(empty.count).toBe(0);
    expect(empty.at(0)).toBeUndefined();
    expect(empty.has('')).toBe(false);
  });
});
