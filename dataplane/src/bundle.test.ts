import { deserialize, serialize } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { compileBundle, digestOf, routeLabelsOf } from './bundle.ts';
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

describe('routeLabelsOf', () => {
  const bundleWith = (routeLabels: string) => ({ routeLabels }) as TableBundle;

  it('splits only what changed and gives exactly the split of the whole text, whatever changed', () => {
    let state = 7;
    const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const pick = (n: number) => Math.floor(random() * n);
    let labels = Array.from({ length: 40 }, (_, i) => `ingress/team/app-${i}/${i % 3 === 0 ? '' : 'api'}`);
    let loaded = { text: labels.join('\n'), labels: routeLabelsOf(bundleWith(labels.join('\n'))) };
    for (let step = 0; step < 400; step++) {
      labels = [...labels];
      const at = pick(labels.length);
      const what = pick(7);
      // Edits in place, insertions, removals at the ends and inside, empty labels, labels equal to their neighbours.
      if (what === 0) labels[at] = `${labels[at]}x`;
      else if (what === 1) labels.splice(at, 0, step % 5 === 0 ? '' : `new-${step}`);
      else if (what === 2 && labels.length > 1) labels.splice(at, 1);
      else if (what === 3) labels[at] = labels[(at + 1) % labels.length]!;
      else if (what === 4) labels.unshift(labels.at(-1)!);
      else if (what === 5 && labels.length > 1) labels.pop();
      else labels[at] = '';
      const text = labels.join('\n');
      const got = routeLabelsOf(bundleWith(text), loaded);
      expect(got, `step ${step}`).toEqual(text.split('\n'));
      loaded = { text, labels: got };
    }
  });

  it('takes the unchanged labels as they were (the same strings) and handles the edges', () => {
    const before = routeLabelsOf(bundleWith('a\nb\nc'));
    const loaded = { text: 'a\nb\nc', labels: before };
    expect(routeLabelsOf(bundleWith('a\nb\nc'), loaded)).toBe(before);
    const after = routeLabelsOf(bundleWith('a\nX\nc'), loaded);
    expect(after).toEqual(['a', 'X', 'c']);
    expect(after[0]).toBe(before[0]);
    for (const text of ['a\nc', 'a\n\nc', 'a\nb\nc\n', '\na\nb\nc', 'c', 'a\nb\nc\nd', 'b']) expect(routeLabelsOf(bundleWith(text), loaded), JSON.stringify(text)).toEqual(text.split('\n'));
    expect(routeLabelsOf(bundleWith(''), loaded)).toEqual([]);
  });
});
