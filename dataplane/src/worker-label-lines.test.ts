// A worker applies a path edit's route-label delta by the blocks of lines it touched (TextLines):
// it never joins the labels text, hashes only the re-cut blocks (the others' digests are the held
// version's), ends with exactly the labels of the bundle the control plane compiled, and refuses a
// damaged delta line by name while the last good version keeps serving.
import { bundleParts, linesDigest, partDigest, withEndpointLines, withLabelLines } from '@portico/control/snapshot/bundle';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TableBundle } from './bundle.ts';
import { SnapshotCompiler } from './bundle.ts';
import type { VerifyCounts } from './bundle-verify.ts';
import { verifyBundleInTurns } from './bundle-verify.ts';
import { Router } from './router.ts';
import { seededRandom as random, snapshotOf } from './test-support.ts';
import { TextLines, textLinesOf } from './text-lines.ts';
import type { BundleDelta } from './worker-delta.ts';
import { applyBundleDelta, bundleDelta, keptParts } from './worker-delta.ts';

type Host = Parameters<typeof snapshotOf>[0][number];
const LINES_PER_BLOCK = 1024;

/** `count` hosts of two paths each: about 2 * count route labels, several blocks of them. */
const world = (count: number): Host[] => Array.from({ length: count }, (_, h) => ({ host: `h${String(h).padStart(5, '0')}.labels.test`, routes: [{ path: `/p${h}`, endpoints: [9000 + (h % 50)] }, { path: '/', endpoints: [9100] }] }));

/** `bundle` as a worker gets it whole (worker-entry.ts): a structured clone with its line texts. */
function received(bundle: TableBundle): TableBundle {
  const copy = structuredClone({ ...bundle, table: bundle.table });
  return withLabelLines(withEndpointLines(copy, TextLines.of(copy.endpoints)), TextLines.of(copy.routeLabels));
}

const partDigests = (bundle: TableBundle) => bundleParts(bundle).map((part, index) => partDigest(index, part));
const counting = (): VerifyCounts => ({ blocksHashed: 0, blocksKnown: 0, lineBlocksHashed: 0, lineUnitsHashed: 0 });
const labelsOf = (bundle: TableBundle): string[] => {
  const lines = textLinesOf(bundle, 'routeLabels')!;
  return Array.from({ length: lines.lines }, (_, id) => lines.line(id)!);
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe('TextLines over several blocks of lines', () => {
  it('property: any splice (at block boundaries, adding or removing lines) gives the lines and the digest of the text made whole, hashing only the blocks it re-cut when the count stays', () => {
    for (const seed of [31, 32, 33, 34]) {
      const next = random(seed);
      let made = Array.from({ length: 3 * LINES_PER_BLOCK + Math.floor(next() * 500) }, (_, i) => `ns/app-${i}@h${i}.test/p`).join('\n');
      let text = TextLines.of(made);
      expect(text.digest()).toBe(linesDigest(made));
      for (let step = 0; step < 60; step++) {
        // Near a block boundary half the time: the newline that ends block b is the (b + 1) * LINE_BLOCK-th.
        let keep = Math.floor(next() * (made.length + 1));
        if (next() < 0.5) {
          let at = -1;
          for (let n = LINES_PER_BLOCK * (1 + Math.floor(next() * 2)); n > 0 && at < made.length; n--) {
            const newline = made.indexOf('\n', at + 1);
            at = newline < 0 ? made.length : newline;
          }
          keep = Math.max(0, Math.min(made.length, at + Math.floor(next() * 3) - 1));
        }
        // The characters removed: up to 40 after `keep`; `tail`, the characters kept at the end.
        const removed = Math.floor(next() * Math.min(made.length - keep + 1, 40));
        const tail = made.length - keep - removed;
        const pieces = ['x', '\n', 'ns/new@h.test/q', '', '\n\n'];
        const middle = Array.from({ length: Math.floor(next() * 4) }, () => pieces[Math.floor(next() * pieces.length)]!).join('');
        const spliced = text.after(keep, tail, middle, 'routeLabels');
        const whole = made.slice(0, keep) + middle + made.slice(made.length - tail);
        // Read by blocks first (nothing joined), then the joined text.
        const lines = whole.split('\n');
        expect(spliced.lines, `seed ${seed} step ${step}`).toBe(whole === '' ? 0 : lines.length);
        for (let line = 0; line < spliced.lines; line += 97) expect(spliced.line(line), `seed ${seed} step ${step} line ${line}`).toBe(lines[line]);
        expect(spliced.line(spliced.lines - 1)).toBe(lines.at(-1));
        const hashedBefore = Array.from({ length: spliced.blocks }, (_, b) => spliced.hashed(b));
        expect(spliced.digest(), `seed ${seed} step ${step}`).toBe(linesDigest(whole));
        if (spliced.lines === text.lines) expect(hashedBefore.filter((known) => !known).length, `seed ${seed} step ${step}`).toBeLessThanOrEqual(2);
        expect(spliced.text, `seed ${seed} step ${step}`).toBe(whole);
        text = spliced;
        made = whole;
      }
    }
  });

  it('splices that move lines keep about one text alive, not every region they were cut from', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const text = Array.from({ length: 50 * LINES_PER_BLOCK }, (_, i) => `route-label-number-${i}-with-some-padding-abcdefghijklmnop`).join('\n');
    const used = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const base = used();
    let lines = TextLines.of(text);
    lines.digest();
    // A line inserted at the start of each block in turn, front to back: each splice re-cuts every block after it.
    for (let b = 0; b < 49; b++) {
      let keep = 0;
      for (let l = 0; l <= b * LINES_PER_BLOCK; l++) keep += lines.line(l)!.length + 1;
      lines = lines.after(keep, lines.length - keep, 'x\n');
      lines.digest();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(lines.lines).toBe(50 * LINES_PER_BLOCK + 49);
    const held = used() - base;
    // The text is ~3.1 MB (one byte a character); slices of every region held ~70 MB.
    expect(held).toBeLessThan(4 * text.length);
    expect(lines.line(50 * LINES_PER_BLOCK + 48)).toBe(`route-label-number-${50 * LINES_PER_BLOCK - 1}-with-some-padding-abcdefghijklmnop`);
  }, 60_000);

  it('a text emptied and filled again: no lines, then the lines of the new text', () => {
    const text = TextLines.of('a\nb');
    const empty = text.after(0, 0, '', 'routeLabels');
    expect([empty.lines, empty.text, empty.digest()]).toEqual([0, '', linesDigest('')]);
    const filled = empty.after(0, 0, 'c\nd\ne');
    expect([filled.lines, filled.line(2), filled.digest()]).toEqual([3, 'e', linesDigest('c\nd\ne')]);
  });
});

describe('route labels from a delta, by blocks of lines', () => {
  it('property: after any sequence of path edits, paths added and hosts removed, the worker holds the compiled labels, never joins the text, and hashes only the blocks a same-count edit re-cut', async () => {
    const joined = vi.spyOn(TextLines.prototype, 'text', 'get');
    for (const seed of [21, 22]) {
      const next = random(seed);
      const hosts = world(1200);
      const compiler = new SnapshotCompiler();
      let primary = compiler.compile({ ...snapshotOf(hosts), version: `v-${seed}-0` });
      let held = received(primary);
      let parts = await verifyBundleInTurns(held);
      const worker = new Router();
      worker.loadBundle(held, true);
      const seen = { sameCount: 0, moved: 0 };
      for (let step = 1; step <= 14; step++) {
        const h = Math.floor(next() * hosts.length);
        const pick = next();
        if (pick < 0.6) hosts[h] = { ...hosts[h]!, routes: [{ path: `/e${seed}-${step}`, endpoints: [9000] }, ...hosts[h]!.routes.slice(1)] };
        else if (pick < 0.8) hosts[h] = { ...hosts[h]!, routes: [...hosts[h]!.routes, { path: `/added${step}`, endpoints: [9001] }] };
        else hosts.splice(h, 1);
        const made = compiler.compile({ ...snapshotOf(hosts), version: `v-${seed}-${step}` });
        const delta = structuredClone(bundleDelta(primary, made)!);
        joined.mockClear();
        const loaded = applyBundleDelta(held, delta);
        const counts = counting();
        parts = await verifyBundleInTurns(loaded, keptParts(delta, parts), counts);
        worker.loadBundle(loaded, true);
        expect(joined, `seed ${seed} step ${step}: a text joined`).not.toHaveBeenCalled();
        expect(parts, `seed ${seed} step ${step}`).toEqual(partDigests(made));
        const labels = made.routeLabels.split('\n');
        expect(labelsOf(loaded), `seed ${seed} step ${step}`).toEqual(labels);
        const before = textLinesOf(held, 'routeLabels')!;
        if (delta.texts.routeLabels.kind === 'splice' && labels.length === before.lines) {
          seen.sameCount++;
          // The splice of one host's lines touches at most the two blocks around a boundary.
          expect(counts.lineBlocksHashed, `seed ${seed} step ${step}`).toBeLessThanOrEqual(2);
          expect(counts.lineUnitsHashed).toBeLessThan(made.routeLabels.length / 2);
        } else seen.moved++;
        for (let id = 0; id < labels.length; id += 97) expect(worker.current!.routeLabels.at(id)).toBe(labels[id]);
        primary = made;
        held = loaded;
      }
      // The worker after the deltas holds what a fresh load of the last bundle holds.
      const fresh = new Router();
      fresh.loadBundle(received(primary));
      const [current, reference] = [worker.current!, fresh.current!];
      expect(current.routeLabels.count).toBe(reference.routeLabels.count);
      for (let id = 0; id < reference.routeLabels.count; id++) expect(current.routeLabels.at(id), `seed ${seed} route ${id}`).toBe(reference.routeLabels.at(id));
      expect(current.endpoints.toArray().map((e) => e.key)).toEqual(reference.endpoints.toArray().map((e) => e.key));
      for (const host of hosts.filter((_, i) => i % 61 === 0)) {
        for (const route of host.routes) {
          const a = worker.route(host.host, route.path ?? "/", 'GET', undefined, 'http');
          const b = fresh.route(host.host, route.path ?? "/", 'GET', undefined, 'http');
          expect(a.kind === 'proxy' ? [a.endpointKey, current.routeLabels.at(a.routeId)] : a.kind).toEqual(b.kind === 'proxy' ? [b.endpointKey, reference.routeLabels.at(b.routeId)] : b.kind);
        }
      }
      // The grid keeps the id space (the line count) across path edits, paths added and hosts removed
      // while its bucket count stays: nearly every step is a same-count splice.
      expect(seen.sameCount, JSON.stringify(seen)).toBeGreaterThan(10);
      worker.close();
      fresh.close();
    }
  });

  it('hostile: a damaged delta line is refused naming its lines, and the last good version keeps serving', async () => {
    const hosts = world(1800);
    const compiler = new SnapshotCompiler();
    const primary = compiler.compile(snapshotOf(hosts));
    hosts[1500] = { ...hosts[1500]!, routes: [{ path: '/renamed', endpoints: [9000] }, hosts[1500]!.routes[1]!] };
    const made = compiler.compile(snapshotOf(hosts));
    const held = received(primary);
    const parts = await verifyBundleInTurns(held);
    const router = new Router();
    router.loadBundle(held, true);
    const delta = bundleDelta(primary, made)!;
    const splice = delta.texts.routeLabels as Extract<BundleDelta['texts']['routeLabels'], { kind: 'splice' }>;
    expect(splice.kind).toBe('splice');
    // The line the splice writes, by its place in the text: which block the refusal must name.
    const line = primary.routeLabels.slice(0, splice.keep).split('\n').length - 1;
    const block = Math.floor(line / LINES_PER_BLOCK);
    const named = new RegExp(`damaged in what was hashed anew: .*routeLabels lines ${block * LINES_PER_BLOCK}-${block * LINES_PER_BLOCK + LINES_PER_BLOCK - 1}`);
    const damages: Record<string, string> = {
      'a flipped character': `${splice.middle.slice(0, -1)}${String.fromCharCode(splice.middle.charCodeAt(splice.middle.length - 1) ^ 1)}`,
      'a line split in two': `${splice.middle}\n`,
    };
    for (const [name, middle] of Object.entries(damages)) {
      const damaged = applyBundleDelta(held, { ...delta, texts: { ...delta.texts, routeLabels: { ...splice, middle } } });
      await expect(verifyBundleInTurns(damaged, keptParts(delta, parts)), name).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringMatching(name === 'a flipped character' ? named : /routeLabels lines \d+-\d+/) });
      expect(() => router.loadBundle(damaged), name).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_LOAD' }));
      expect(router.current!.version, name).toBe(primary.version);
    }
    // Undamaged, the same delta verifies and loads.
    const good = applyBundleDelta(held, delta);
    await verifyBundleInTurns(good, keptParts(delta, parts));
    router.loadBundle(good, true);
    expect(router.current!.version).toBe(made.version);
    router.close();
  });
});
