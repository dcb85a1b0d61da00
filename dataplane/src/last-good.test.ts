import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_TOKEN } from '@portico/control/api/test-support';
import type { Snapshot } from '@portico/control/snapshot';
import { snapshotDelta } from '@portico/control/snapshot/delta';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JOURNAL_MAX_ENTRIES, LAST_GOOD_FILE, LAST_GOOD_JOURNAL, LastGoodStore } from './last-good.ts';
import type { Logger } from './logging.ts';
import { Router } from './router.ts';
import { SnapshotSync } from './sync.ts';
import { json, route, syncTestbed, until } from './sync-testbed.ts';
import { closedPort, fetchVia, snapshotOf, startProxy } from './test-support.ts';

/** A logger that keeps what was logged at warn and error (level, message). */
function recorder(): { logger: Logger; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const keep = (level: string) => (_fields: unknown, message?: string) => void lines.push({ level, message: message ?? '' });
  const logger = { warn: keep('warn'), error: keep('error'), info: () => undefined, debug: () => undefined } as unknown as Logger;
  return { logger, lines };
}

type Host = Parameters<typeof snapshotOf>[0][number];
/** Version `n` of a 200-host world: host h(n mod 200) routes `/v<n>`. */
const versionOf = (n: number): Snapshot => snapshotOf(Array.from({ length: 200 }, (_, h): Host => ({ host: `h${h}.test`, routes: [{ path: h === n % 200 ? `/v${n}` : `/p${h}`, endpoints: [9] }] })));

describe('LastGoodStore: the last good snapshot written in proportion to the change', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-last-good-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** Versions 0..count-1 persisted as the sync client does: the first whole, each next by its delta. */
  async function persistChain(store: LastGoodStore, count: number): Promise<Snapshot[]> {
    const versions = Array.from({ length: count }, (_, n) => versionOf(n));
    await store.persist(versions[0]!);
    for (let n = 1; n < count; n++) await store.persist(versions[n]!, { type: 'delta', ...snapshotDelta(versions[n - 1]!, versions[n]!) });
    return versions;
  }

  it('a delta appends its own text, not the world; a restart replays the journal to the newest version', async () => {
    const store = new LastGoodStore(dir);
    const versions = await persistChain(store, 6);
    expect(store.stats).toEqual({ bases: 1, appended: 5 });
    const base = (await stat(join(dir, LAST_GOOD_FILE))).size;
    const journal = (await stat(join(dir, LAST_GOOD_JOURNAL))).size;
    // Five one-host deltas together are a sliver of one 200-host base.
    expect(journal * 10).toBeLessThan(base);
    expect(((await stat(join(dir, LAST_GOOD_JOURNAL))).mode & 0o777).toString(8)).toBe('600');
    const restored = await new LastGoodStore(dir).restore();
    expect({ version: restored?.snapshot.version, replayed: restored?.replayed }).toEqual({ version: versions[5]!.version, replayed: 5 });
  });

  it(`the journal is bounded: at most ${JOURNAL_MAX_ENTRIES} deltas and half the base (64 KiB at least) in bytes, then the next version is a fresh base`, async () => {
    const store = new LastGoodStore(dir);
    const versions = Array.from({ length: 300 }, (_, n) => versionOf(n));
    await store.persist(versions[0]!);
    for (let n = 1; n < versions.length; n++) {
      await store.persist(versions[n]!, { type: 'delta', ...snapshotDelta(versions[n - 1]!, versions[n]!) });
      const journal = readFileSync(join(dir, LAST_GOOD_JOURNAL), 'utf8');
      const base = (await stat(join(dir, LAST_GOOD_FILE))).size;
      expect(journal.split('\n').length - 2).toBeLessThanOrEqual(JOURNAL_MAX_ENTRIES);
      expect(journal.length).toBeLessThanOrEqual(Math.max(base / 2, 64 * 1024));
    }
    expect(store.stats.bases).toBeGreaterThan(1);
    expect(store.stats.bases + store.stats.appended).toBe(300);
    const restored = await new LastGoodStore(dir).restore();
    expect(restored?.snapshot.version).toBe(versions.at(-1)!.version);
    expect(restored!.replayed).toBeLessThan(JOURNAL_MAX_ENTRIES);
  }, 60_000);

  it('hostile: a journal cut anywhere restores a whole verified version of the chain, never throws; the next write is a fresh base', async () => {
    const versions = await persistChain(new LastGoodStore(dir), 5);
    const journal = await readFile(join(dir, LAST_GOOD_JOURNAL), 'utf8');
    const chain = versions.map((v) => v.version);
    const ends = [...journal.matchAll(/\n/g)].map((m) => m.index + 1);
    // Every line boundary, and 40 cuts inside lines.
    const cuts = [...ends, ...Array.from({ length: 40 }, (_, i) => Math.floor(((i + 0.5) / 40) * journal.length))];
    for (const cut of cuts) {
      await writeFile(join(dir, LAST_GOOD_JOURNAL), journal.slice(0, cut));
      const { logger, lines } = recorder();
      const restored = await new LastGoodStore(dir, logger).restore();
      const whole = ends.filter((end) => end <= cut).length;
      // The header then one version per whole line; a cut line is reported, a header cut short means the base alone.
      const expected = whole === 0 ? chain[0] : chain[whole - 1];
      expect({ cut, version: restored?.snapshot.version }).toEqual({ cut, version: expected });
      expect({ cut, loud: lines.length > 0 }).toEqual({ cut, loud: !ends.includes(cut) || whole === 0 });
    }
    // After a cut line, the next version is written as a base (never appended after the garbage).
    await writeFile(join(dir, LAST_GOOD_JOURNAL), journal.slice(0, ends[2]! + 10));
    const store = new LastGoodStore(dir);
    const restored = await store.restore();
    expect(restored?.snapshot.version).toBe(chain[2]);
    await store.persist(versions[3]!, { type: 'delta', ...snapshotDelta(versions[2]!, versions[3]!) });
    expect(store.stats).toEqual({ bases: 1, appended: 0 });
    expect((await new LastGoodStore(dir).restore())?.snapshot.version).toBe(chain[3]);
  }, 60_000);

  it('hostile: a damaged journal line stops the replay loudly before it; a damaged or truncated base is refused; a journal of another base is ignored', async () => {
    const versions = await persistChain(new LastGoodStore(dir), 4);
    const journal = await readFile(join(dir, LAST_GOOD_JOURNAL), 'utf8');
    const base = await readFile(join(dir, LAST_GOOD_FILE), 'utf8');
    const lines = journal.split('\n');
    // A flipped character inside the third delta (line 4): its checksum fails.
    const flipped = [...lines.slice(0, 3), lines[3]!.replace('"/v3"', '"/v9"'), ...lines.slice(4)].join('\n');
    await writeFile(join(dir, LAST_GOOD_JOURNAL), flipped);
    let log = recorder();
    expect((await new LastGoodStore(dir, log.logger).restore())?.snapshot.version).toBe(versions[2]!.version);
    expect(log.lines).toEqual([{ level: 'error', message: expect.stringContaining('damaged last-good journal line') }]);
    // A line whose checksum matches but whose delta is for another version: applyDelta refuses it.
    const foreign = JSON.stringify({ type: 'delta', ...snapshotDelta(versionOf(100), versionOf(101)) });
    const { createHash } = await import('node:crypto');
    await writeFile(join(dir, LAST_GOOD_JOURNAL), `${journal}${createHash('sha256').update(foreign).digest('hex')} ${foreign}\n`);
    log = recorder();
    expect((await new LastGoodStore(dir, log.logger).restore())?.snapshot.version).toBe(versions[3]!.version);
    expect(log.lines.map((l) => l.level)).toEqual(['error']);
    // The journal of another base (here: the base was replaced by another version's) is not replayed onto it.
    await writeFile(join(dir, LAST_GOOD_JOURNAL), journal);
    await writeFile(join(dir, LAST_GOOD_FILE), JSON.stringify(versionOf(50)));
    log = recorder();
    expect((await new LastGoodStore(dir, log.logger).restore())?.snapshot.version).toBe(versionOf(50).version);
    expect(log.lines.map((l) => l.level)).toEqual(['warn']);
    // A base cut short, or with one character changed, is refused: nothing is restored.
    for (const damaged of [base.slice(0, base.length >> 1), base.replace('"/p7"', '"/p8"')]) {
      await writeFile(join(dir, LAST_GOOD_FILE), damaged);
      log = recorder();
      expect(await new LastGoodStore(dir, log.logger).restore()).toBeUndefined();
      expect(log.lines).toEqual([{ level: 'error', message: expect.stringContaining('refusing an unusable last good snapshot') }]);
    }
  }, 60_000);
});

describe('SnapshotSync with the last-good journal', () => {
  const bed = syncTestbed('portico-last-good-sync-');
  const { cleanup } = bed;

  it('persists changes as journal lines and a restart with the control plane down serves the newest version', async () => {
    const router = new Router();
    const sync = new SnapshotSync({ controlUrls: [bed.server.url], node: 'edge-1', router, dataDir: bed.dataDir, token: TEST_TOKEN, pollSeconds: 2, backoffInitialMs: 20, backoffMaxMs: 200 });
    const settled: { version: string; how: string }[] = [];
    sync.on('settled', (event) => settled.push(event));
    await sync.start();
    cleanup.push(() => sync.stop());
    await until(() => settled.length === 1 || undefined, 5000, 'first version');
    const base = readFileSync(join(bed.dataDir, LAST_GOOD_FILE), 'utf8');
    for (const name of ['second', 'third', 'fourth']) {
      const count = settled.length;
      await bed.control.request('/v1/routes', json(route(name, `${name}.example.com`)));
      await until(() => settled.length > count || undefined, 5000, name);
    }
    const newest = bed.control.history.current()!.snapshot.version;
    expect(settled.map((event) => event.how)).toEqual(['full', 'delta', 'delta', 'delta']);
    expect(settled.at(-1)!.version).toBe(newest);
    // The base was not rewritten by the deltas; the journal holds their three lines after its header.
    expect(readFileSync(join(bed.dataDir, LAST_GOOD_FILE), 'utf8')).toBe(base);
    expect(readFileSync(join(bed.dataDir, LAST_GOOD_JOURNAL), 'utf8').split('\n')).toHaveLength(5);
    await sync.stop();

    const cold = new Router();
    const restart = new SnapshotSync({ controlUrls: [`http://127.0.0.1:${await closedPort()}`], node: 'edge-1', router: cold, dataDir: bed.dataDir, token: TEST_TOKEN, pollSeconds: 2, backoffInitialMs: 20, backoffMaxMs: 200 });
    expect(await restart.start()).toEqual({ restored: true });
    cleanup.push(() => restart.stop());
    expect(cold.version).toBe(newest);
    const proxy = await startProxy(cold);
    cleanup.push(() => proxy.close());
    expect((await fetchVia(proxy.port, { host: 'fourth.example.com' })).status).toBe(200);
  });
});
