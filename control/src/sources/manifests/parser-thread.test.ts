/**
 * The parser thread's answer to a known-fingerprints parse is packed (known entries as indexes
 * into the job's `known` list): what the caller gets is exactly what the thread's
 * ManifestParseCache gave, and a packed answer that does not fit its `known` list is refused.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeObject } from '../../state/objects.ts';
import { manifestLimits } from './bounded.ts';
import type { KnownParseResult } from './parse.ts';
import { ManifestParseCache } from './incremental.ts';
import { ParserThread, packKnownResult, unpackKnownResult } from './parser-thread.ts';
import { KnownTable } from './known-table.ts';

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
  const thread = new ParserThread();
  let dir: string;
  beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'portico-thread-file-'))));
  afterAll(async () => {
    await thread.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('follows a file through edits, as the in-process parse of its bytes does, with bad bytes refused at file:line:col', async () => {
    const path = join(dir, 'list.json');
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
      expect(got, `version ${v}`).toEqual({ ok: true, result: expected, blank: text.trim() === '' });
      if (v === 5) expect(expected.problems[0]).toMatchObject({ file: 'list.json', code: 'PORTICO_E_MANIFEST_PARSE', line: expect.any(Number), column: expect.any(Number) });
      else holdOnly(known, expected);
      if (v > 0 && v < 5) expect(expected.entries.filter((e) => e.object === undefined).length, `version ${v}: kept`).toBeGreaterThan(100);
    }
  });

  it('a file it cannot read, or past the limit, is a value naming why', async () => {
    const limits = { ...manifestLimits('x.yaml'), maxBytes: 1000 };
    expect(await thread.parseManifestFile(join(dir, 'missing.yaml'), 'missing.yaml', limits, new KnownTable())).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_READ', message: expect.stringContaining('ENOENT') });
    await writeFile(join(dir, 'big.yaml'), yaml(Array.from({ length: 40 }, () => 80)));
    expect(await thread.parseManifestFile(join(dir, 'big.yaml'), 'big.yaml', limits, new KnownTable())).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringContaining('limit: bytes') });
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
      expect(got, `edit ${edit}`).toEqual({ ok: true, result: expected, blank: false });
      known += expected.entries.filter((e) => e.object === undefined).length;
      holdOnly(table, expected);
    }
    return known;
  }

  it('hostile: the thread dies mid-sequence (its copies of the known tables go with it): the next jobs send the whole table, results exact', async () => {
    const table = new KnownTable<boolean>();
    const known = await followEdits(join(dir, 'restart.json'), [table], async (edit) => {
      // As after a timeout or running out of heap: the worker goes, a fresh one serves the next job.
      if (edit % 6 === 5) await (thread as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    });
    expect(known).toBeGreaterThan(20 * 150);
  });

  it('hostile: two tables take turns under one key (each update builds on a generation the copy no longer is): stale, then whole, results exact', async () => {
    const known = await followEdits(join(dir, 'shared.json'), [new KnownTable<boolean>(), new KnownTable<boolean>()]);
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
    expect(unpackKnownResult(packed, known)).toEqual(result);
  });

  it('an entry naming a fingerprint that was not in the list stays whole (the watcher reports it)', () => {
    const odd: KnownParseResult = { entries: [{ fingerprint: 'zz' }], problems: [] };
    expect(unpackKnownResult(packKnownResult(odd, known), known)).toEqual(odd);
  });

  it.each([
    ['an index past the list', { at: Int32Array.of(0, 5), fresh: [], problems: [] }, /known fingerprint 5, but was given 5/],
    ['a negative index other than -1', { at: Int32Array.of(-2), fresh: [], problems: [] }, /known fingerprint -2/],
    ['a free slot of the known table', { at: Int32Array.of(3), fresh: [], problems: [] }, /known fingerprint 3, but was given 5/],
    ['fewer fresh entries than places', { at: Int32Array.of(-1, -1), fresh: [{ object: service(1) }], problems: [] }, /entry 1 as fresh, but sent only 1/],
    ['more fresh entries than places', { at: Int32Array.of(0), fresh: [{ object: service(1) }], problems: [] }, /sent 1 fresh entries for 0 places/],
  ])('refuses %s', (_name, packed, message) => {
    expect(() => unpackKnownResult(packed, known)).toThrow(expect.objectContaining({ code: 'PORTICO_E_PARSER_FAILED', message: expect.stringMatching(message) }));
  });
});
