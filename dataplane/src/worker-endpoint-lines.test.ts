// A worker reads an endpoint-only delta by the lines it touched (worker-delta.ts TextLines).
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import { compileBundle, withEndpointLines, withLabelLines } from '@portico/control/snapshot/bundle';
import type { TableBundle } from '@portico/control/snapshot/bundle';
import type { Snapshot } from '@portico/control/snapshot';
import { describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import { seededRandom as random, snapshotOf } from './test-support.ts';
import { TextLines } from './text-lines.ts';
import { applyBundleDelta, bundleDelta, deltaBases, deltaSources } from './worker-delta.ts';

function linesOf(text: TextLines): string[] {
  return Array.from({ length: text.lines }, (_, i) => text.line(i)!);
}

describe('TextLines', () => {
  it('property: a splice gives the lines of the text made whole, and every line outside changedSince is the earlier one', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const next = random(seed);
      const pieces = ['10.0.0.1 80', '\n', ' 0', '10.1.2.3 8080', '\n\n', 'a', ''];
      const piece = (): string => pieces[Math.floor(next() * pieces.length)]!;
      let text = TextLines.of(Array.from({ length: 1 + Math.floor(next() * 30) }, (_, i) => `10.0.${i}.1 80`).join('\n'));
      for (let step = 0; step < 200; step++) {
        const old = text.text;
        const keep = Math.floor(next() * (old.length + 1));
        const tail = Math.floor(next() * (old.length - keep + 1));
        const middle = Array.from({ length: Math.floor(next() * 4) }, piece).join('');
        const made = old.slice(0, keep) + middle + old.slice(old.length - tail);
        const spliced = text.after(keep, tail, middle);
        const whole = TextLines.of(made);
        expect(spliced.text, `seed ${seed} step ${step}`).toBe(made);
        expect(spliced.length).toBe(made.length);
        expect(linesOf(spliced), `seed ${seed} step ${step}`).toEqual(linesOf(whole));
        expect(spliced.line(-1)).toBeUndefined();
        expect(spliced.line(spliced.lines)).toBeUndefined();
        const changed = spliced.changedSince(text, 1_000_000);
        if (spliced.lines === text.lines) {
          expect(changed).toBeDefined();
          const set = new Set(changed);
          for (let i = 0; i < spliced.lines; i++) if (!set.has(i)) expect(spliced.line(i), `seed ${seed} step ${step} line ${i}`).toBe(text.line(i));
        } else expect(changed).toBeUndefined();
        // Only against the version it was spliced from.
        expect(spliced.changedSince(whole, 1_000_000)).toBeUndefined();
        expect(spliced.changedSince(spliced, 0)).toEqual([]);
        text = spliced;
      }
    }
  });

  it('hostile: a splice that does not fit its text is refused', () => {
    const text = TextLines.of('10.0.0.1 80\n10.0.0.2 80');
    expect(() => text.after(-1, 0, '')).toThrow(/endpoints: splice keeps/);
    expect(() => text.after(20, 10, '')).toThrow(/endpoints: splice keeps/);
    expect(() => text.after(1.5, 0, '', 'routeLabels')).toThrow(/routeLabels: splice keeps/);
    expect(() => text.after(0, 0, 7 as unknown as string)).toThrow(/endpoints: splice keeps/);
  });
});

/** Host h: route `/` on its own Service of 3 endpoints. */
function world(): Snapshot {
  let address = 0;
  const next = (): string => `10.0.${address >> 8}.${address++ & 255}:8080`;
  return snapshotOf(Array.from({ length: 40 }, (_, h) => ({ host: `h${h}.lines.test`, routes: [{ path: '/', endpoints: [next(), next(), next()] }] })));
}

/** `bundle` as a worker gets it whole: a plain copy (structured clone), with its endpoint lines (worker-entry.ts). */
function received(bundle: TableBundle): TableBundle {
  const copy = structuredClone({ ...bundle, table: bundle.table });
  return withLabelLines(withEndpointLines(copy, TextLines.of(copy.endpoints)), TextLines.of(copy.routeLabels));
}

describe('a worker loading endpoint-only deltas', () => {
  it('reads each by its changed lines and holds what a router loading each whole text holds', () => {
    for (const seed of [1, 2, 3]) {
      const next = random(seed);
      const compiler = new BundleCompiler();
      let snapshot = world();
      const worker = new Router();
      const whole = new Router();
      worker.loadBundle(received(compiler.compile(snapshot, false)));
      let primary = compiler.compile(snapshot, true);
      let held = received(primary);
      worker.loadBundle(held);
      const reads = { patched: 0, whole: 0, same: 0 };
      let fresh = 1;
      let splices = 0;
      for (let step = 0; step < 25; step++) {
        const sets = [...snapshot.endpointSets];
        for (let n = 1 + Math.floor(next() * 3); n > 0; n--) {
          const at = Math.floor(next() * sets.length);
          const set = sets[at]!;
          const which = Math.floor(next() * set.endpoints.length);
          sets[at] = { ...set, endpoints: set.endpoints.map((e, i) => (i === which ? { address: `10.9.${fresh >> 8}.${fresh++ & 255}`, port: 8080, terminating: false } : e)) };
        }
        snapshot = { ...snapshot, endpointSets: sets, version: `v-${seed}-${step}` };
        const made = compiler.compile(snapshot, true);
        const delta = bundleDelta(primary, made);
        expect(delta).toBeDefined();
        if (delta!.texts.endpoints.kind === 'splice' || delta!.texts.endpoints.kind === 'lines') splices++;
        // As the worker: applied to the bundle it holds, then verified and loaded.
        held = applyBundleDelta(held, delta!);
        primary = made;
        worker.loadBundle(held);
        whole.loadBundle(compileBundle(snapshot));
        reads[worker.current!.endpointsRead]++;
        const current = worker.current!;
        const reference = whole.current!;
        expect(current.endpoints.toArray().map((e) => e.key), `seed ${seed} step ${step}`).toEqual(reference.endpoints.toArray().map((e) => e.key));
        expect(new Map(current.endpointIds)).toEqual(new Map(reference.endpointIds));
        for (let h = 0; h < 40; h += 7) {
          const a = worker.route(`h${h}.lines.test`, '/', 'GET', undefined, 'http');
          const b = whole.route(`h${h}.lines.test`, '/', 'GET', undefined, 'http');
          expect(a.kind === 'proxy' ? a.endpointKey : a.kind).toBe(b.kind === 'proxy' ? b.endpointKey : b.kind);
        }
      }
      // A delta that splices the endpoints text, or replaces its changed lines (a replaced address changes
      // two lines far apart: its old id, its new one, slots of the keys), is read by its lines, the first
      // too (the balancing-only `held` is loaded before the loop); one whose endpoints went whole (`value`) is read whole.
      expect(splices).toBeGreaterThan(10);
      expect(reads.patched, JSON.stringify({ reads, splices })).toBe(splices);
      worker.close();
      whole.close();
    }
  });
});

describe('a worker taking path edits and endpoint changes in any order', () => {
  it('property: with the primary\'s bases (deltaSources) every load after the first reads its endpoints and route labels by the changed lines, and holds what a router loading each whole text holds', () => {
    for (const seed of [11, 12, 13, 14]) {
      const next = random(seed);
      let address = 0;
      const fresh = (): string => `10.0.${address >> 8}.${address++ & 255}:8080`;
      const specs = Array.from({ length: 40 }, (_, h) => ({ host: `h${h}.mixed.test`, routes: [{ path: '/', endpoints: [fresh(), fresh(), fresh()] }] }));
      const compiler = new BundleCompiler();
      const worker = new Router();
      const whole = new Router();
      // The primary's view of what the worker holds (full, balancing-only) and served last; the worker's own copies.
      const held: [TableBundle | undefined, TableBundle | undefined] = [undefined, undefined];
      const copies = new Map<TableBundle, TableBundle>();
      let served: TableBundle | undefined;
      const reads = { patched: 0, whole: 0, same: 0 };
      const kinds = { path: 0, endpoints: 0, fromServed: 0, labelsSpliced: 0 };
      for (let step = 0; step < 40; step++) {
        const endpointsOnly = step > 0 && next() < 0.6;
        if (step > 0) {
          const h = Math.floor(next() * specs.length);
          if (endpointsOnly) specs[h]!.routes[0]!.endpoints[Math.floor(next() * 3)] = fresh();
          else specs[h]!.routes[0]!.path = `/p${step}`;
        }
        const snapshot = { ...snapshotOf(specs), version: `v-${seed}-${step}` };
        const made = compiler.compile(snapshot, endpointsOnly);
        const { base, endpointsFrom } = deltaSources(held, served, made);
        let loaded: TableBundle;
        if (base === undefined) loaded = received(made);
        else {
          const delta = structuredClone(bundleDelta(base, made, endpointsFrom)!);
          if (delta.endpointsFrom !== undefined) kinds.fromServed++;
          const mine = deltaBases([copies.get(held[0]!), held[1] === undefined ? undefined : copies.get(held[1])], delta);
          loaded = applyBundleDelta(mine.base, delta, mine.endpointsFrom);
        }
        const labelsBefore = worker.current?.routeLabels;
        worker.loadBundle(loaded);
        copies.set(made, loaded);
        held[made.balancingOnly ? 1 : 0] = made;
        served = made;
        whole.loadBundle(compileBundle(snapshot));
        if (step > 0) {
          reads[worker.current!.endpointsRead]++;
          kinds[endpointsOnly ? 'endpoints' : 'path']++;
        }
        const current = worker.current!;
        const reference = whole.current!;
        expect(current.endpoints.toArray().map((e) => e.key), `seed ${seed} step ${step}`).toEqual(reference.endpoints.toArray().map((e) => e.key));
        expect(new Map(current.endpointIds)).toEqual(new Map(reference.endpointIds));
        // Route labels: those of the whole text, read by lines; a path edit's by the lines its splice touched (the held ones' after it).
        expect(current.routeLabels.count).toBe(reference.routeLabels.count);
        for (let id = 0; id < reference.routeLabels.count; id++) expect(current.routeLabels.at(id), `seed ${seed} step ${step} route ${id}`).toBe(reference.routeLabels.at(id));
        expect(current.routeLabels.source).toBeInstanceOf(TextLines);
        if (step > 0 && !endpointsOnly) {
          const spliced = (current.routeLabels.source as TextLines).changedSince(labelsBefore!.source as TextLines, Number.MAX_SAFE_INTEGER);
          expect(spliced, `seed ${seed} step ${step}`).toBeDefined();
          kinds.labelsSpliced++;
        }
        for (let h = 0; h < 40; h += 3) {
          const path = specs[h]!.routes[0]!.path;
          const a = worker.route(`h${h}.mixed.test`, path, 'GET', undefined, 'http');
          const b = whole.route(`h${h}.mixed.test`, path, 'GET', undefined, 'http');
          expect(a.kind === 'proxy' ? a.endpointKey : a.kind, `seed ${seed} step ${step} host ${h}`).toBe(b.kind === 'proxy' ? b.endpointKey : b.kind);
        }
      }
      const summary = JSON.stringify({ reads, kinds });
      // Both kinds of change came, and in both orders (an endpoints base other than the delta's base).
      expect(kinds.path, summary).toBeGreaterThan(5);
      expect(kinds.endpoints, summary).toBeGreaterThan(5);
      expect(kinds.fromServed, summary).toBeGreaterThan(3);
      expect(reads.whole, summary).toBe(0);
      expect(reads.patched, summary).toBe(kinds.endpoints);
      expect(kinds.labelsSpliced, summary).toBe(kinds.path);
      worker.close();
      whole.close();
    }
  });
});
