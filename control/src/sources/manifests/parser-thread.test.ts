/**
 * The parser thread's answer to a known-fingerprints parse is packed (known entries as indexes
 * into the job's `known` list): what the caller gets is exactly what the thread's
 * ManifestParseCache gave, and a packed answer that does not fit its `known` list is refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KubeObject } from '../../state/objects.ts';
import { manifestLimits } from './bounded.ts';
import type { KnownParseResult } from './parse.ts';
import { parseManifestText } from './parse.ts';
import { ManifestParseCache } from './incremental.ts';
import { ParserThread, packKnownResult, unpackKnownResult } from './parser-thread.ts';
import { KnownTable } from './known-table.ts';
import { byFingerprint, objectsOfAnswer } from './test-support.ts';

const service = (i: number, port = 80): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'team' }, spec: { ports: [{ port }] } });
const jsonList = (items: unknown[]) => `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`;
/** Makes `table` hold exactly the fingerprints of `result`'s entries, as the watcher's table does after applying it. */
function holdOnly(table: KnownTable<boolean>, result: KnownParseResult): void {
  const next = new Set(result.entries.flatMap((e) => (e.fingerprint === undefined ? [] : [e.fingerprint])));
  for (const fingerprint of table.keys()) if (!next.has(fingerprint)) table.delete(fingerprint);
  for (const fingerprint of next) table.set(fingerprint, true);
}
/** A small deterministic generator (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/**
 * A parser thread and a fresh directory for the files it reads, for the describe block this is
 * called in (both gone after it); `inDir` names a file in the directory.
 */
function threadWithDirectory(prefix: string): { readonly thread: ParserThread; readonly inDir: (name: string) => string } {
  const thread = new ParserThread();
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), prefix))));
  afterAll(async () => {
    await thread.close();
    await rm(dir, { recursive: true, force: true });
  });
  return { thread, inDir: (name) => join(dir, name) };
}
const yaml = (ports: number[]) => ports.map((port, i) => `apiVersion: v1\nkind: Service\nmetadata: { name: y${i}, namespace: web }\nspec: { ports: [{ port: ${port} }] }\n`).join('---\n');

describe('ParserThread.parseManifestKnown', () => {
  const thread = new ParserThread();
  afterAll(() => thread.close());

  const bytes = (text: string) => new TextEncoder().encode(text);

  it.each([
    ['a JSON List, one item edited, one removed, one added', 'list.json', jsonList(Array.from({ length: 300 }, (_, i) => service(i))), jsonList([...Array.from({ length: 300 }, (_, i) => service(i, i === 150 ? 8150 : 80)).filter((_, i) => i !== 7), service(999)])],
    ['YAML documents, one edited, one repeated', 'docs.yaml', yaml(Array.from({ length: 200 }, () => 80)), yaml([...Array.from({ length: 200 }, (_, i) => (i === 3 ? 8003 : 80)), 80])],
    ['a broken edit (problems kept, entries as the in-process parse has them)', 'list.json', jsonList(Array.from({ length: 50 }, (_, i) => service(i))), jsonList(Array.from({ length: 50 }, (_, i) => service(i))).replace('"svc-20"', '"svc-20",,')],
    ['nothing known: every entry fresh', 'fresh.json', '', jsonList(Array.from({ length: 20 }, (_, i) => service(i)))],
    ['YAML not plain (a directive: the full parse, given the known list)', 'docs.yaml', yaml(Array.from({ length: 200 }, () => 80)), `%YAML 1.2\n---\n${yaml(Array.from({ length: 200 }, (_, i) => (i === 9 ? 8009 : 80)))}`],
  ])('%s: what the parse in-process gives', async (_name, file, before, after) => {
    // The thread follows the file from its previous parse, as the watcher has it do; so does the cache here.
    const cache = new ManifestParseCache();
    let known: string[] = [];
    if (before !== '') {
      const first = await thread.parseManifestKnown(bytes(before), file, manifestLimits(file), []);
      expect(first).toEqual(cache.parse(bytes(before), file, manifestLimits(file), new Set()));
      known = first.entries.flatMap((e) => (e.fingerprint === undefined ? [] : [e.fingerprint]));
    }
    const got = await thread.parseManifestKnown(bytes(after), file, manifestLimits(file), known);
    const expected = cache.parse(bytes(after), file, manifestLimits(file), new Set(known));
    expect(got).toEqual(expected);
    expect(got.entries.map((e) => e.object === undefined)).toEqual(expected.entries.map((e) => e.object === undefined));
    if (before !== '' && !after.includes(',,') && !after.startsWith('%')) expect(got.entries.filter((e) => e.object === undefined).length).toBeGreaterThan(100);
  });
});

describe('ParserThread.parseManifestFile (the thread reads the file itself)', () => {
  const { thread, inDir } = threadWithDirectory('portico-thread-file-');

  it('follows a file through edits, as the in-process parse of its bytes does, with bad bytes refused at file:line:col', async () => {
    const path = inDir('list.json');
    const cache = new ManifestParseCache();
    const limits = manifestLimits('list.json');
    const versions = [
      jsonList(Array.from({ length: 300 }, (_, i) => service(i))),
      jsonList(Array.from({ length: 300 }, (_, i) => service(i, i === 0 ? 8000 : 80))), // at the start
      jsonList(Array.from({ length: 300 }, (_, i) => service(i, i === 299 ? 8299 : 80))), // at the end
      jsonList([...Array.from({ length: 300 }, (_, i) => service(i, i === 150 ? 8150 : 80)), service(300), service(301)]), // grown, two regions
      jsonList(Array.from({ length: 120 }, (_, i) => service(i))), // shrunk
      jsonList(Array.from({ length: 120 }, (_, i) => service(i))).replace('"svc-60"', '"svc-60",\n ,'), // broken in the middle
      '', // emptied
      jsonList(Array.from({ length: 50 }, (_, i) => service(i + 1000))), // replaced wholesale
    ];
    const known = new KnownTable<boolean>();
    for (const [v, text] of versions.entries()) {
      await writeFile(path, text);
      const expected = cache.parse(Buffer.from(text), 'list.json', limits, new Set(known.keys()));
      const got = await thread.parseManifestFile(path, 'list.json', limits, known);
      expect(got, `version ${v}`).toEqual({ ok: true, result: { ...expected, head: 0, tail: 0 }, blank: text.trim() === '', answer: expect.any(Number) });
      if (v === 5) expect(expected.problems[0]).toMatchObject({ file: 'list.json', code: 'PORTICO_E_MANIFEST_PARSE', line: expect.any(Number), column: expect.any(Number) });
      else holdOnly(known, expected);
      if (v > 0 && v < 5) expect(expected.entries.filter((e) => e.object === undefined).length, `version ${v}: kept`).toBeGreaterThan(100);
    }
  });

  it('a file it cannot read, or past the limit, is a value naming why', async () => {
    const limits = { ...manifestLimits('x.yaml'), maxBytes: 1000 };
    expect(await thread.parseManifestFile(inDir('missing.yaml'), 'missing.yaml', limits, new KnownTable())).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_READ', message: expect.stringContaining('ENOENT') });
    await writeFile(inDir('big.yaml'), yaml(Array.from({ length: 40 }, () => 80)));
    expect(await thread.parseManifestFile(inDir('big.yaml'), 'big.yaml', limits, new KnownTable())).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringContaining('limit: bytes') });
  });

  /** Random edits of a 200-item List, each parsed by `parse` and checked against the in-process parse with the same known set. */
  async function followEdits(path: string, tables: readonly KnownTable<boolean>[], between?: (edit: number) => Promise<void>): Promise<number> {
    const random = seeded(7);
    const ports = Array.from({ length: 200 }, () => 80);
    const caches = tables.map(() => new ManifestParseCache());
    let known = 0;
    for (let edit = 0; edit < 24; edit++) {
      const at = Math.floor(random() * ports.length);
      if (edit % 5 === 3) ports.splice(at, 1);
      else if (edit % 5 === 4) ports.splice(at, 0, 9000 + edit);
      else ports[at] = 8000 + edit;
      const text = jsonList(ports.map((port, i) => service(i, port)));
      await writeFile(path, text);
      await between?.(edit);
      const which = edit % tables.length;
      const table = tables[which]!;
      const expected = caches[which]!.parse(Buffer.from(text), 'list.json', manifestLimits('list.json'), new Set(table.keys()));
      const got = await thread.parseManifestFile(path, 'list.json', manifestLimits('list.json'), table);
      expect(got, `edit ${edit}`).toEqual({ ok: true, result: { ...expected, head: 0, tail: 0 }, blank: false, answer: expect.any(Number) });
      known += expected.entries.filter((e) => e.object === undefined).length;
      holdOnly(table, expected);
    }
    return known;
  }

  it('hostile: the thread dies mid-sequence (its copies of the known tables go with it): the next jobs send the whole table, results exact', async () => {
    const table = new KnownTable<boolean>();
    const known = await followEdits(inDir('restart.json'), [table], async (edit) => {
      // As after a timeout or running out of heap: the worker goes, a fresh one serves the next job.
      if (edit % 6 === 5) await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    });
    expect(known).toBeGreaterThan(20 * 150);
  });

  it('hostile: two tables take turns under one key (each update builds on a generation the copy no longer is): stale, then whole, results exact', async () => {
    const known = await followEdits(inDir('shared.json'), [new KnownTable<boolean>(), new KnownTable<boolean>()]);
    expect(known).toBeGreaterThan(20 * 150);
  });
});

describe('packKnownResult / unpackKnownResult', () => {
  // A known table's slots: '' is a free one.
  const known = ['fa', 'fb', 'fc', '', 'fe'];
  const result: KnownParseResult = {
    entries: [{ fingerprint: 'fb' }, { fingerprint: 'fd', object: service(1) }, { object: service(2) }, { fingerprint: 'fa' }, { fingerprint: 'fb' }],
    problems: [{ severity: 'warning', code: 'PORTICO_W_MANIFEST_EMPTY', file: 'f.yaml', document: 0, message: 'm' }],
  };

  it('round-trips: known entries become indexes, the others stay as they are, in order', () => {
    const packed = packKnownResult(result, known);
    expect([...packed.at]).toEqual([1, -1, -1, 0, 1]);
    expect(packed.fresh).toEqual([result.entries[1], result.entries[2]]);
    expect(unpackKnownResult(packed, known)).toEqual({ ...result, head: 0, tail: 0 });
    expect(unpackKnownResult(packKnownResult({ ...result, head: 7, tail: 2 }, known), known)).toEqual({ ...result, head: 7, tail: 2 });
  });

  it('an entry naming a fingerprint that was not in the list stays whole (the watcher reports it)', () => {
    const odd: KnownParseResult = { entries: [{ fingerprint: 'zz' }], problems: [] };
    expect(unpackKnownResult(packKnownResult(odd, known), known)).toEqual({ ...odd, head: 0, tail: 0 });
  });

  it.each([
    ['an index past the list', { head: 0, tail: 0, at: Int32Array.of(0, 5), fresh: [], problems: [] }, /known fingerprint 5, but was given 5/],
    ['a negative index other than -1', { head: 0, tail: 0, at: Int32Array.of(-2), fresh: [], problems: [] }, /known fingerprint -2/],
    ['a free slot of the known table', { head: 0, tail: 0, at: Int32Array.of(3), fresh: [], problems: [] }, /known fingerprint 3, but was given 5/],
    ['fewer fresh entries than places', { head: 0, tail: 0, at: Int32Array.of(-1, -1), fresh: [{ object: service(1) }], problems: [] }, /entry 1 as fresh, but sent only 1/],
    ['more fresh entries than places', { head: 0, tail: 0, at: Int32Array.of(0), fresh: [{ object: service(1) }], problems: [] }, /sent 1 fresh entries for 0 places/],
    ['a negative head', { head: -1, tail: 0, at: Int32Array.of(), fresh: [], problems: [] }, /head -1 and tail 0/],
    ['a fractional tail', { head: 0, tail: 0.5, at: Int32Array.of(), fresh: [], problems: [] }, /head 0 and tail 0.5/],
  ])('refuses %s', (_name, packed, message) => {
    expect(() => unpackKnownResult(packed, known)).toThrow(expect.objectContaining({ code: 'PORTICO_E_PARSER_FAILED', message: expect.stringMatching(message) }));
  });
});

describe('ParserThread.parseManifestFile answered relative to the objects the caller holds', () => {
  const { thread, inDir } = threadWithDirectory('portico-thread-relative-');

  /** What a watcher holds of the file: its objects in order (made by objectsOfAnswer), the answer they are, its known table. */
  interface Holder {
    objects: KubeObject[];
    answer: number | undefined;
    readonly table: KnownTable<KubeObject>;
  }
  const holder = (): Holder => ({ objects: [], answer: undefined, table: new KnownTable<KubeObject>() });

  /** Parses `path` for `held` and applies the answer as the watcher does (a file with errors keeps its objects); the entries the answer carried. */
  async function follow(path: string, file: string, held: Holder): Promise<{ objects: KubeObject[]; entries: number; whole: boolean; problems: KnownParseResult['problems'] }> {
    const got = await thread.parseManifestFile(path, file, manifestLimits(file), held.table, path, held.answer);
    if (!got.ok) throw new Error(got.message);
    const { head, tail, entries, problems } = got.result;
    expect(head + tail).toBeLessThanOrEqual(held.objects.length);
    const objects = objectsOfAnswer(got.result, held.objects, (fingerprint) => held.table.get(fingerprint));
    if (!problems.some((p) => p.severity === 'error') || held.objects.length === 0) {
      held.objects = objects;
      held.answer = got.answer;
      const next = byFingerprint(objects);
      for (const fingerprint of held.table.keys()) if (!next.has(fingerprint)) held.table.delete(fingerprint);
      for (const [fingerprint, object] of next) held.table.set(fingerprint, object);
    }
    return { objects, entries: entries.length, whole: head === 0 && tail === 0, problems };
  }

  /** An answer's entries as `walk` notes them: WHOLE for a whole answer. */
  const WHOLE = -1;
  /**
   * 40 random edits of a 200-document file (documents edited, inserted, deleted, repeated; a broken
   * save), each answer checked against a fresh parse of the text; the entries each answer carried.
   */
  async function walk(file: string, holders: readonly Holder[], between?: (edit: number) => Promise<void>): Promise<number[]> {
    const path = inDir(file);
    const random = seeded(file.length * 31 + holders.length);
    // Documents named apart from their place: an insertion renames nothing.
    const docs = Array.from({ length: 200 }, (_, i) => ({ id: i, port: 1000 + i }));
    const render = () =>
      file.endsWith('.json')
        ? jsonList(docs.map(({ id, port }) => service(id, port)))
        : docs.map(({ id, port }) => `apiVersion: v1\nkind: Service\nmetadata: { name: y${id}, namespace: web }\nspec: { ports: [{ port: ${port} }] }\n`).join('---\n');
    const carried: number[] = [];
    for (let edit = 0; edit < 40; edit++) {
      const at = Math.floor(random() * docs.length);
      const what = edit % 8;
      if (what === 3) docs.splice(at, 1);
      else if (what === 4) docs.splice(at, 0, { id: 1000 + edit, port: 9000 + edit });
      else if (what === 5) docs.splice(at, 0, { ...docs[(at + 50) % docs.length]! }); // a document twice
      else docs[at] = { id: docs[at]!.id, port: 8000 + edit };
      let text = render();
      // A broken save: the watcher keeps the objects of the answer before it.
      if (what === 6) text = text.replace(file.endsWith('.json') ? '"svc-20"' : 'name: y20,', file.endsWith('.json') ? '"svc-20",,' : 'name: [y20,');
      await writeFile(path, text);
      await between?.(edit);
      const held = holders[edit % holders.length]!;
      const fresh = parseManifestText(text, file);
      const got = await follow(path, file, held);
      expect(got.problems, `edit ${edit}`).toEqual(fresh.problems);
      expect(got.objects, `edit ${edit}`).toEqual(fresh.objects);
      carried.push(got.whole ? WHOLE : got.entries);
    }
    return carried;
  }

  it.each(['list.json', 'docs.yaml'])('%s: 40 random edits, each answer exactly what a fresh parse gives, most carrying the edited documents alone', async (file) => {
    const carried = await walk(file, [holder()]);
    // The first answer is whole; after a broken save (6, 14, ...) the next is whole again; the rest carry an edit's document.
    expect(carried[0]).toBe(WHOLE);
    for (let edit = 1; edit < 40; edit++) if (edit % 8 !== 6 && edit % 8 !== 7) expect(carried[edit], `edit ${edit}`).toBeLessThanOrEqual(1);
    for (let edit = 7; edit < 40; edit += 8) expect(carried[edit], `edit ${edit}, after a broken save`).toBe(WHOLE);
  });

  it('hostile: the thread dies mid-sequence (its cache goes with it): the next answer is whole, results exact', async () => {
    const carried = await walk('restart.json', [holder()], async (edit) => {
      if (edit % 7 === 4) await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    });
    for (let edit = 4; edit < 40; edit += 7) expect(carried[edit], `edit ${edit}, after a restart`).toBe(WHOLE);
    expect(carried.filter((entries) => entries !== WHOLE && entries <= 1).length).toBeGreaterThanOrEqual(20);
  });

  it('hostile: two holders take turns under one key (each base is an answer the file has moved on from): whole answers, results exact', async () => {
    const carried = await walk('shared.json', [holder(), holder()]);
    expect(carried.every((entries) => entries === WHOLE)).toBe(true);
  });

  it('hostile: a base the thread never gave, and one from before the last answer, get whole answers', async () => {
    const path = inDir('base.json');
    const held = holder();
    await writeFile(path, jsonList(Array.from({ length: 100 }, (_, i) => service(i))));
    await follow(path, 'base.json', held);
    await writeFile(path, jsonList(Array.from({ length: 100 }, (_, i) => service(i, i === 50 ? 8050 : 80))));
    const older = held.answer;
    expect((await follow(path, 'base.json', held)).entries).toBe(1);
    await writeFile(path, jsonList(Array.from({ length: 100 }, (_, i) => service(i, i === 60 ? 8060 : 80))));
    for (const base of [older, 123_456_789]) {
      const got = await thread.parseManifestFile(path, 'base.json', manifestLimits('base.json'), held.table, path, base);
      expect(got).toMatchObject({ ok: true, result: { head: 0, tail: 0 } });
      if (got.ok) expect(got.result.entries).toHaveLength(100);
    }
  });
});

describe('ParserThread deadline (one parse, counted from when the thread starts it)', () => {
  // Thousands of documents: the job after it is still running when the clock is moved on.
  const slow = yaml(Array.from({ length: 1000 }, () => 80));
  const limits = manifestLimits('slow.yaml');
  /** One per test, its deadline on the fake clock (the thread itself runs in real time). */
  let thread: ParserThread;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    thread = new ParserThread({ timeoutMs: 1000 });
  });
  afterEach(async () => {
    vi.useRealTimers();
    await thread.close();
  });

  it('a job queued behind another is not charged for the time it waited', async () => {
    const first = thread.parseDocuments('yaml', slow, limits);
    const second = thread.parseDocuments('yaml', slow, limits);
    vi.advanceTimersByTime(900);
    expect(await first).toHaveLength(1000);
    // 1800 ms since the second was queued, under 900 since it started.
    vi.advanceTimersByTime(900);
    expect(await second).toHaveLength(1000);
  });

  it('hostile: a job past its deadline is stopped, the jobs queued behind it fail with its thread, and a fresh thread serves the next', async () => {
    const first = thread.parseDocuments('yaml', slow, limits);
    const queued = thread.parseDocuments('yaml', slow, limits);
    vi.advanceTimersByTime(1000);
    const stopped = { code: 'PORTICO_E_PARSER_FAILED', message: 'parsing took longer than 1000 ms and was stopped' };
    await expect(first).rejects.toMatchObject(stopped);
    await expect(queued).rejects.toMatchObject(stopped);
    expect(await thread.parseDocuments('yaml', yaml([80]), limits)).toHaveLength(1);
  });
});
