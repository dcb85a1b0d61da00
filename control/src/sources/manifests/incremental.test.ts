/**
 * ManifestParseCache against parseManifestText: whatever the file held before, parsing its new
 * bytes by following the edit gives exactly what a full parse of the new text gives — the same
 * objects in the same order and the same problems (codes, documents, file:line:column) — while it
 * decodes and parses only the edited bytes when the edit is plain.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { KubeObject } from '../../state/objects.ts';
import type { ParseLimits } from './bounded.ts';
import { composePrescans, manifestLimits, prescanYamlPiece, yamlPrecheck } from './bounded.ts';
import { ManifestParseCache } from './incremental.ts';
import { sameEnds } from './pieces.ts';
import type { ManifestParseResult } from './parse.ts';
import { parseManifestText } from './parse.ts';
import { byFingerprint, objectsOfAnswer } from './test-support.ts';

/** What the watcher keeps of a parse: the objects by fingerprint. */
type Known = Map<string, KubeObject>;

/** cache.parse with `known`, its entries mapped back to objects as the watcher maps them; and the next `known`. */
function viaCache(cache: ManifestParseCache, text: string | Buffer, file: string, known: Known, limits: ParseLimits = manifestLimits(file)): { result: ManifestParseResult; next: Known; validated: number } {
  const { entries, problems } = cache.parse(typeof text === 'string' ? Buffer.from(text) : text, file, limits, new Set(known.keys()));
  const next: Known = new Map();
  let validated = 0;
  const objects = entries.map((entry) => {
    if (entry.object !== undefined) validated++;
    const object = entry.object ?? known.get(entry.fingerprint!);
    if (object === undefined) throw new Error(`skipped a document whose fingerprint was not known: ${entry.fingerprint}`);
    if (entry.fingerprint !== undefined) next.set(entry.fingerprint, object);
    return object;
  });
  return { result: { objects, problems }, next, validated };
}

/** What the watcher holds of a file parsed by answers: its objects in order, the answer they are, and by fingerprint. */
interface Held {
  readonly objects: KubeObject[];
  readonly answer: number | undefined;
  readonly known: Known;
}
let answers = 0;

/**
 * cache.parseAnswer relative to what `held` holds, its result made whole from `held`'s objects as
 * the watcher makes it; what is held after it; and the entries it carried (-1 when whole).
 */
function viaAnswer(cache: ManifestParseCache, text: string | Buffer, file: string, held: Held): { result: ManifestParseResult; next: Held; carried: number } {
  const id = ++answers;
  const answer = cache.parseAnswer(typeof text === 'string' ? Buffer.from(text) : text, file, manifestLimits(file), new Set(held.known.keys()), file, id, held.answer);
  const objects = objectsOfAnswer(answer, held.objects, (fingerprint) => held.known.get(fingerprint));
  const { entries, problems, head, tail } = answer;
  return { result: { objects, problems }, next: { objects, answer: id, known: byFingerprint(objects) }, carried: head === 0 && tail === 0 ? -1 : entries.length };
}

/** A deterministic pseudo-random sequence (no flaky seeds). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

const ingress = (i: number, path = '/api') => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: `app-${i}`, namespace: 'team', annotations: { note: `it's ${i}: "quoted" [x] {y}` } },
  spec: { rules: [{ host: `app-${i}.example.com`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: `svc-${i}`, port: { number: 80 } } } }] } }] },
});
const service = (i: number, port = 80) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'team' }, spec: { ports: [{ port }] } });
const kinds: ((i: number, step: number) => unknown)[] = [
  (i, step) => ingress(i, `/e${step}`),
  (i, step) => service(i, 8000 + step),
  (i) => ({ ...ingress(i), apiVersion: 'extensions/v1beta1' }), // converted, with a warning
  (i) => ({ ...ingress(i), spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Regex' }] } }] } }), // schema error
  (i) => ({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `d${i}` } }), // ignored, with a warning
  (i) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `opaque-${i}` }, type: 'Opaque', data: { k: 'dg==' } }), // nothing kept
  (i) => ({ apiVersion: 'v1', kind: 'List', items: [service(1000 + i), { apiVersion: 'v1', kind: 'Nope' }] }), // a List inside
  (i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `ünïcode-${i}`, namespace: 'team', labels: { emoji: '🚀' } }, spec: { ports: [{ port: 80 }] } }),
];

/** Renderings of a file's documents: JSON Lists of any indentation, YAML in flow or block style, separators with extras. */
function render(items: readonly unknown[], asYaml: boolean, style: number): string {
  if (!asYaml) return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, style % 3)}${style % 2 === 0 ? '\n' : ''}`;
  const documents = items.map((item) => (style % 2 === 0 ? JSON.stringify(item) : stringify(item).trimEnd()));
  const separator = ['\n---\n', '\n---\n# a comment\n', '\n\n---\n\n'][style % 3]!;
  const text = `${style % 5 === 0 ? '---\n' : ''}${documents.join(separator)}\n`;
  return style % 7 === 3 ? text.replaceAll('\n', '\r\n') : text;
}

/** Small edits at the byte level: tokens that break or shift structure where they land. */
const TOKENS = ['---\n', '\n', ',', '{', '}', '[', ']', '"', "'", '#', ' ', '  ', '\r\n', '\uFEFF', ':', 'x', '\n---', '...\n', '%YAML 1.2\n', '\t', '\\', '\u2028'];

/** Versions of one file: each a small edit of the one before, many of them hostile. */
function versions(random: () => number, asYaml: boolean, count: number): string[] {
  let items: unknown[] = Array.from({ length: 16 }, (_, i) => (i % 4 === 0 ? service(i) : ingress(i)));
  let style = 0;
  const out = [render(items, asYaml, style)];
  for (let step = 0; step < count; step++) {
    const at = Math.floor(random() * items.length);
    const what = Math.floor(random() * 14);
    items = [...items];
    let text: string | undefined;
    if (what <= 2) items[at] = kinds[Math.floor(random() * kinds.length)]!(at, step);
    else if (what === 3) items.splice(at, 1);
    else if (what === 4) items.splice(at, 0, service(100 + step, 9000 + step));
    else if (what === 5) items.push(items[at]);
    else if (what === 6) [items[at], items[0]] = [items[0], items[at]];
    else if (what === 7) style = Math.floor(random() * 30); // separators, comments, indentation
    else if (what === 8) {
      // Byte-level: a token inserted, or a few characters deleted, anywhere.
      const base = render(items, asYaml, style);
      const position = Math.floor(random() * base.length);
      text = random() < 0.6 ? base.slice(0, position) + TOKENS[Math.floor(random() * TOKENS.length)] + base.slice(position) : base.slice(0, position) + base.slice(position + 1 + Math.floor(random() * 3));
    } else if (what === 9) text = render(items, asYaml, style).slice(0, Math.floor(random() * render(items, asYaml, style).length)); // truncated mid-write
    else if (what === 10) text = asYaml ? stringify(items[at]) : JSON.stringify(items[at]); // the List becomes one object
    else if (what === 11) text = `\uFEFF${render(items, asYaml, style)}`;
    else if (what === 12) text = render(items, asYaml, style).replaceAll('\n', '\r\n');
    else {
      // Invalid text in the middle of an otherwise good file.
      const good = render(items, asYaml, style);
      const middle = good.indexOf(asYaml ? '\n---\n' : '},', Math.floor(good.length / 2));
      text = middle < 0 ? `${good}{{` : `${good.slice(0, middle)}\n  broken: [unclosed${good.slice(middle)}`;
    }
    out.push(text ?? render(items, asYaml, style));
  }
  return out;
}

describe('sameEnds', () => {
  const bytes = (n: number, seed: number) => {
    const random = lcg(seed);
    return Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 3)));
  };
  it.each([
    ['identical', 50_000, (b: Buffer) => Buffer.from(b), 50_000, 0],
    ['one byte changed at the start', 50_000, (b: Buffer) => Buffer.concat([Buffer.from([9]), b.subarray(1)]), 0, 49_999],
    ['one byte changed at the end', 50_000, (b: Buffer) => Buffer.concat([b.subarray(0, -1), Buffer.from([9])]), 49_999, 0],
    ['a byte changed in the middle, past a block', 50_000, (b: Buffer) => Buffer.concat([b.subarray(0, 20_000), Buffer.from([9]), b.subarray(20_001)]), 20_000, 29_999],
    ['bytes inserted in the middle', 50_000, (b: Buffer) => Buffer.concat([b.subarray(0, 30_000), Buffer.from([9, 9, 9]), b.subarray(30_000)]), 30_000, 20_000],
    ['grown at the end', 40_000, (b: Buffer) => Buffer.concat([b, Buffer.from([7, 7])]), 40_000, 0],
    ['emptied', 40_000, () => Buffer.alloc(0), 0, 0],
  ])('%s', (_name, size, edit, prefix, suffix) => {
    const before = bytes(size, size);
    const after = edit(before);
    const same = sameEnds(before, after);
    // Within the bounds checked, and exact: the ends are equal, and the byte after each differs (or there is none).
    expect(same.prefix + same.suffix).toBeLessThanOrEqual(Math.min(before.length, after.length));
    expect(before.subarray(0, same.prefix).equals(after.subarray(0, same.prefix))).toBe(true);
    expect(before.subarray(before.length - same.suffix).equals(after.subarray(after.length - same.suffix))).toBe(true);
    expect(same.prefix).toBeGreaterThanOrEqual(prefix);
    expect(same.suffix).toBeGreaterThanOrEqual(suffix - 3);
    if (same.prefix + same.suffix < Math.min(before.length, after.length)) {
      expect(before[same.prefix]).not.toBe(after[same.prefix]);
      expect(before[before.length - same.suffix - 1]).not.toBe(after[after.length - same.suffix - 1]);
    }
  });
});

describe('ManifestParseCache', () => {
  // Default: the previous bytes kept (the edit found by comparing them); 0: none kept (found by hashing pieces); 3,000: some files' kept, others' dropped.
  for (const [file, asYaml, seeds, maxKeptBytes] of [
    ['fleet.json', false, [3, 5, 8], undefined],
    ['fleet.yaml', true, [7, 13, 21], undefined],
    ['fleet.json', false, [3, 11], 0],
    ['fleet.yaml', true, [7, 17], 0],
    ['fleet.yaml', true, [19], 3_000],
  ] as const) {
    for (const seed of seeds) {
      it(`gives what parseManifestText gives across 150 random edits of ${file} (seed ${seed}, previous bytes kept: ${maxKeptBytes ?? 'default'}), hostile ones included, following plain ones`, () => {
        const random = lcg(seed);
        const cache = new ManifestParseCache(maxKeptBytes === undefined ? {} : { maxKeptBytes });
        // The same edits answered relative to the objects held (the parser thread's answers to the watcher).
        const relative = new ManifestParseCache(maxKeptBytes === undefined ? {} : { maxKeptBytes });
        let known: Known = new Map();
        let held: Held = { objects: [], answer: undefined, known: new Map() };
        let plain = 0;
        let carried = 0;
        for (const text of versions(random, asYaml, 150)) {
          const full = parseManifestText(text, file);
          const before = cache.followed;
          const { result, next } = viaCache(cache, text, file, known);
          expect(result.problems, text).toEqual(full.problems);
          expect(result.objects, text).toEqual(full.objects);
          if (cache.followed > before) plain++;
          // The watcher keeps the last good objects of a file that fails: so does this walk.
          const good = !full.problems.some((p) => p.severity === 'error');
          if (good || known.size === 0) known = next;
          expect(cache.bytes).toBeLessThanOrEqual(maxKeptBytes ?? 64 * 1024 * 1024);
          const answered = viaAnswer(relative, text, file, held);
          expect(answered.result.problems, text).toEqual(full.problems);
          expect(answered.result.objects, text).toEqual(full.objects);
          if (answered.carried >= 0) carried++;
          if (good || held.objects.length === 0) held = answered.next;
        }
        expect(plain).toBeGreaterThan(40);
        // Relative answers stop at a document validated on every parse (a problem, several objects): these files hold many.
        expect(carried).toBeGreaterThan(3);
      }, 180_000);
    }
  }

  it.each([false, true])('answered relative to the objects held (YAML: %s): an edit of one of 500 documents carries that one entry; a document with a problem or several objects stops the ends taken over, so its problems are reported again', (asYaml) => {
    const file = asYaml ? 'held.yaml' : 'held.json';
    const items: unknown[] = Array.from({ length: 500 }, (_, i) => service(i));
    const cache = new ManifestParseCache();
    let held = viaAnswer(cache, render(items, asYaml, 1), file, { objects: [], answer: undefined, known: new Map() }).next;
    const edit = (at: number, item: unknown, most: number) => {
      items[at] = item;
      const text = render(items, asYaml, 1);
      const answered = viaAnswer(cache, text, file, held);
      expect(answered.result, `item ${at}`).toEqual(parseManifestText(text, file));
      expect(answered.carried, `item ${at}`).toBeGreaterThanOrEqual(0);
      expect(answered.carried, `item ${at}`).toBeLessThanOrEqual(most);
      held = answered.next;
    };
    for (const at of [250, 0, 499, 1, 498]) edit(at, service(at, 9000 + at), 1);
    edit(3, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ignored' } }, 1); // a warning, no object
    edit(496, { ...ingress(496), apiVersion: 'extensions/v1beta1' }, 493); // an object and a warning
    // Between them now: their warnings are emitted again, each answer carrying what lies between.
    for (const at of [250, 4, 495]) edit(at, service(at, 7000 + at), 493);
    edit(1, service(1, 7001), 499);
    edit(499, service(499, 7499), 499);
  });

  it('an edit of one item of a 2,000-item List decodes and validates that item alone', () => {
    const items = Array.from({ length: 2000 }, (_, i) => ingress(i));
    const cache = new ManifestParseCache();
    const text = render(items, false, 1);
    const first = viaCache(cache, text, 'big.json', new Map());
    expect(first.validated).toBe(2000);
    expect(cache.lastScanned).toBe(Buffer.byteLength(text));
    const edited = [...items];
    edited[1234] = ingress(1234, '/changed');
    const second = viaCache(cache, render(edited, false, 1), 'big.json', first.next);
    expect(second.result).toEqual(parseManifestText(render(edited, false, 1), 'big.json'));
    expect(second.validated).toBe(1);
    expect(cache.lastScanned).toBeLessThan(2 * Buffer.byteLength(JSON.stringify(ingress(1234, '/changed'), null, 1)));
    expect(cache.lastScanned).toBeGreaterThan(0);
  });

  it('an edit of one document of a 1,000-document YAML file decodes and validates that document alone; so do an insertion, a deletion and an append', () => {
    const items = Array.from({ length: 1000 }, (_, i) => ingress(i));
    const cache = new ManifestParseCache();
    let known = viaCache(cache, render(items, true, 1), 'big.yaml', new Map()).next;
    const one = Buffer.byteLength(stringify(ingress(1, '/changed')));
    const step = (next: unknown[], validated: number) => {
      const text = render(next, true, 1);
      const result = viaCache(cache, text, 'big.yaml', known);
      expect(result.result).toEqual(parseManifestText(text, 'big.yaml'));
      expect(result.validated).toBe(validated);
      expect(cache.lastScanned).toBeLessThan(2 * one + 16);
      known = result.next;
    };
    const edited = [...items];
    edited[500] = ingress(500, '/changed');
    step(edited, 1);
    step([...edited.slice(0, 10), service(5000), ...edited.slice(10)], 1);
    step([...edited.slice(0, 10), ...edited.slice(11)], 0);
    step([...edited.slice(0, 10), ...edited.slice(11), service(6000)], 2); // the last document gains a `---` line: it is read again
  });

  it('edits at several places of one file (a save that reverts an earlier edit and makes another) cost the edited pieces, not the bytes between them', () => {
    for (const [file, asYaml] of [
      ['several.json', false],
      ['several.yaml', true],
    ] as const) {
      const items: unknown[] = Array.from({ length: 600 }, (_, i) => ingress(i));
      const cache = new ManifestParseCache();
      let known = viaCache(cache, render(items, asYaml, 1), file, new Map()).next;
      const edited = [...items];
      edited[40] = ingress(40, '/one');
      edited[300] = ingress(300, '/two');
      edited.splice(500, 1);
      edited.splice(550, 0, service(9999));
      const text = render(edited, asYaml, 1);
      const result = viaCache(cache, text, file, known);
      expect(result.result, file).toEqual(parseManifestText(text, file));
      expect(result.validated, file).toBe(3);
      expect(cache.lastScanned, file).toBeLessThan(4 * Buffer.byteLength(JSON.stringify(ingress(300, '/two'), null, 1)));
      known = result.next;
      // Back to the first version: the reverted pieces again, each alone.
      const back = viaCache(cache, render(items, asYaml, 1), file, known);
      expect(back.result, file).toEqual(parseManifestText(render(items, asYaml, 1), file));
      expect(cache.lastScanned, file).toBeLessThan(4 * Buffer.byteLength(JSON.stringify(ingress(300, '/two'), null, 1)));
    }
  });

  it('a YAML file with CRLF line ends follows its edits too (`---` then CRLF is a marker line)', () => {
    const items = Array.from({ length: 200 }, (_, i) => ingress(i));
    const crlf = (list: unknown[]) => render(list, true, 3);
    expect(crlf(items)).toContain('\r\n---\r\n');
    const cache = new ManifestParseCache();
    const first = viaCache(cache, crlf(items), 'crlf.yaml', new Map());
    const edited = [...items];
    edited[120] = ingress(120, '/changed');
    const result = viaCache(cache, crlf(edited), 'crlf.yaml', first.next);
    expect(result.result).toEqual(parseManifestText(crlf(edited), 'crlf.yaml'));
    expect(result.validated).toBe(1);
    expect(cache.lastScanned).toBeLessThan(2 * Buffer.byteLength(crlf([ingress(120, '/changed')])));
    // A marker line with anything after `---\r` is not plain: the full parse, exactly.
    const odd = crlf(edited).replace('\r\n---\r\n', '\r\n---\rx\n');
    expect(viaCache(cache, odd, 'crlf.yaml', result.next).result).toEqual(parseManifestText(odd, 'crlf.yaml'));
  });

  it('pieces kept under some limits are not taken under others: the same file name parsed within a smaller depth limit is refused as a full parse refuses it', () => {
    const cache = new ManifestParseCache();
    const text = render([service(1), ingress(2), service(3)], true, 1);
    for (const file of ['l.yaml', 'l.json']) {
      const version = file.endsWith('.json') ? render([service(1), ingress(2), service(3)], false, 1) : text;
      viaCache(cache, version, file, new Map());
      const shallow: ParseLimits = { ...manifestLimits(file), maxDepth: 4 };
      const result = viaCache(cache, version, file, new Map(), shallow);
      expect(result.result, file).toEqual(parseManifestText(version, file, shallow));
      expect(result.result.problems[0], file).toMatchObject({ code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringMatching(/limit: depth/) });
    }
  });

  it('hostile: a file replaced by a different one of the same length (the kept bytes share only scattered runs with it), then by its first version again', () => {
    for (const [file, asYaml] of [
      ['same-length.json', false],
      ['same-length.yaml', true],
    ] as const) {
      const cache = new ManifestParseCache();
      const first = render(Array.from({ length: 300 }, (_, i) => service(i, 1000 + i)), asYaml, 1);
      // Every port changed, and two names swapped: the same bytes long, the same piece lengths, other bytes.
      const other = render(Array.from({ length: 300 }, (_, i) => service(i === 7 ? 8 : i === 8 ? 7 : i, 2000 + ((i * 37) % 300))), asYaml, 1);
      expect(Buffer.byteLength(other)).toBe(Buffer.byteLength(first));
      let known = viaCache(cache, first, file, new Map()).next;
      for (const text of [other, first, other]) {
        const result = viaCache(cache, text, file, known);
        expect(result.result, file).toEqual(parseManifestText(text, file));
        expect(result.validated, file).toBe(300);
        known = result.next;
      }
    }
  });

  it('hostile: the last byte of a piece changed between two edits (the run of kept bytes ends one byte short of it) is read again, as a full parse reads it', () => {
    // The JSON item's closing brace (its piece's last byte) made a bracket; the YAML `---` line's newline (its piece's last byte) made a space or a tab.
    const jsonEnd = (text: string) => text.indexOf('\n  },\n  {\n   "apiVersion": "v1",\n   "kind": "Service",\n   "metadata": {\n    "name": "svc-301"') + 3;
    const yamlEnd = (text: string) => text.indexOf('\n---\n', text.indexOf('name: svc-300\n')) + 4;
    for (const [file, asYaml, edit] of [
      ['last-byte.json', false, (text: string) => `${text.slice(0, jsonEnd(text))}]${text.slice(jsonEnd(text) + 1)}`],
      ['last-byte.yaml', true, (text: string) => `${text.slice(0, yamlEnd(text))} ${text.slice(yamlEnd(text) + 1)}`],
      ['last-byte-tab.yaml', true, (text: string) => `${text.slice(0, yamlEnd(text))}\t${text.slice(yamlEnd(text) + 1)}`],
    ] as const) {
      const cache = new ManifestParseCache();
      const items = Array.from({ length: 600 }, (_, i) => service(i));
      const known = viaCache(cache, render(items, asYaml, 1), file, new Map()).next;
      const edited = [...items];
      edited[40] = service(40, 8040);
      edited[500] = service(500, 8500);
      const base = render(edited, asYaml, 1);
      const text = edit(base);
      expect(text).not.toBe(base);
      expect(text.length).toBe(base.length);
      expect(viaCache(cache, text, file, known).result, file).toEqual(parseManifestText(text, file));
    }
  });

  it('a List that becomes a single object, and back', () => {
    const cache = new ManifestParseCache();
    const list = render([service(1), service(2)], false, 1);
    let known = viaCache(cache, list, 'a.json', new Map()).next;
    for (const text of [JSON.stringify(service(3)), list, `{"apiVersion":"v1","kind":"List","items":[]}`, list]) {
      const result = viaCache(cache, text, 'a.json', known);
      expect(result.result).toEqual(parseManifestText(text, 'a.json'));
      known = result.next;
    }
  });

  it('reports invalid text in the middle as a full parse does (file, document, line, column), and follows from the last good parse once it is fixed', () => {
    const items = Array.from({ length: 40 }, (_, i) => ingress(i));
    for (const [file, asYaml] of [
      ['m.yaml', true],
      ['m.json', false],
    ] as const) {
      const cache = new ManifestParseCache();
      const good = render(items, asYaml, 1);
      const first = viaCache(cache, good, file, new Map());
      const broken = asYaml ? good.replace('name: app-20\n', 'name: [app-20\n') : good.replace('"app-20"', '"app-20" "x"');
      expect(broken).not.toBe(good);
      const bad = viaCache(cache, broken, file, first.next);
      expect(bad.result).toEqual(parseManifestText(broken, file));
      expect(bad.result.problems[0]).toMatchObject({ code: 'PORTICO_E_MANIFEST_PARSE', file, line: expect.any(Number), column: expect.any(Number) });
      if (asYaml) expect(bad.result.problems[0]!.document).toBe(20);
      const followed = cache.followed;
      const fixed = viaCache(cache, good, file, first.next);
      expect(fixed.result).toEqual(first.result);
      expect(fixed.validated).toBe(0);
      expect(cache.followed).toBe(followed + 1);
    }
  });

  it('a quote left open in one document (a plain `it\'s`) runs on in the prescan: the whole text is prescanned when the edit changes where it ends', () => {
    const documents = ['a: it\'s open', 'apiVersion: v1\nkind: Service\nmetadata: {name: s1, namespace: t}\nspec: {ports: [{port: 80}]}', 'b: "x"'];
    const text = `${documents.join('\n---\n')}\n`;
    const tight: ParseLimits = { ...manifestLimits('q.yaml'), maxDepth: 1 };
    const cache = new ManifestParseCache();
    let known = viaCache(cache, text, 'q.yaml', new Map(), tight).next;
    for (const version of [text.replace("it's", 'its'), text.replace('b: "x"', `b: ${'['.repeat(5)}`), text.replace("it's open", "it's [[[[[ ' open")]) {
      const result = viaCache(cache, version, 'q.yaml', known, tight);
      expect(result.result, version).toEqual(parseManifestText(version, 'q.yaml', tight));
      known = result.next;
    }
  });

  it('keeps at most maxPiecesPerFile pieces of a file and maxPieces over all files, the least recently parsed dropped first; a file not kept is parsed whole, exactly', () => {
    const cache = new ManifestParseCache({ maxPiecesPerFile: 50, maxPieces: 120 });
    const list = (n: number, path = '/api') => render(Array.from({ length: n }, (_, i) => ingress(i, i === 3 ? path : '/api')), false, 1);
    const huge = viaCache(cache, list(60), 'huge.json', new Map());
    expect(cache.pieces).toBe(0); // 62 pieces (head, 60 items, tail): not kept
    const again = viaCache(cache, list(60, '/x'), 'huge.json', huge.next);
    expect(again.result).toEqual(parseManifestText(list(60, '/x'), 'huge.json'));
    expect(cache.lastScanned).toBe(Buffer.byteLength(list(60, '/x')));
    expect(again.validated).toBe(1); // parsed whole, yet the known items keep their objects
    viaCache(cache, list(40), 'a.json', new Map());
    viaCache(cache, list(40), 'b.json', new Map());
    expect(cache.pieces).toBe(84);
    viaCache(cache, list(40), 'c.json', new Map());
    expect(cache.pieces).toBe(84); // a.json dropped
    const whole = cache.whole;
    viaCache(cache, list(40, '/y'), 'a.json', new Map());
    expect(cache.whole).toBe(whole + 1);
    viaCache(cache, list(40, '/y'), 'c.json', new Map());
    expect(cache.whole).toBe(whole + 1);
    cache.forget('c.json');
    expect(cache.pieces).toBe(42);
    cache.forget('a.json');
    expect(cache.pieces).toBe(0);
  });

  it('counts a file without pieces as one, so many distinct empty files keep the cache bounded', () => {
    const cache = new ManifestParseCache({ maxPieces: 10 });
    for (let i = 0; i < 1000; i++) viaCache(cache, '', `generated-${i}.yaml`, new Map());
    expect(cache.files).toBe(10);
    expect(cache.pieces).toBe(10);
    viaCache(cache, stringify(service(1)), 'real.yaml', new Map());
    expect(cache.files).toBe(10); // the oldest empty file made room
    expect(cache.pieces).toBe(10);
  });

  it('keeps files by key, so two sources with the same relative name neither evict nor mix each other', () => {
    const cache = new ManifestParseCache();
    const text = (root: string, port: number) => Array.from({ length: 20 }, (_, i) => stringify(service(i, i === 5 ? port : 80))).join('---\n') + `# ${root}\n`;
    const limits = manifestLimits('a.yaml');
    const known = new Map<string, Set<string>>();
    const parse = (root: string, port: number) => {
      const got = cache.parse(Buffer.from(text(root, port)), 'a.yaml', limits, known.get(root) ?? new Set(), `/${root}/a.yaml`);
      known.set(root, new Set(got.entries.flatMap((e) => (e.fingerprint === undefined ? [] : [e.fingerprint]))));
      return got;
    };
    parse('one', 80);
    parse('two', 90);
    expect(cache.files).toBe(2);
    for (const [root, port] of [['one', 81], ['two', 91], ['one', 82], ['two', 92]] as const) {
      const got = parse(root, port);
      expect(got.problems).toEqual(parseManifestText(text(root, port), 'a.yaml').problems);
      expect(got.entries.filter((e) => e.object !== undefined)).toHaveLength(1); // only the edited document
      expect(cache.lastScanned).toBeLessThan(Buffer.byteLength(text(root, port)) / 4);
    }
  });

  it('a huge file over the size limit is refused whole, as a full parse refuses it, and the next good version still follows', () => {
    const cache = new ManifestParseCache();
    const items = Array.from({ length: 100 }, (_, i) => service(i));
    const small: ParseLimits = { ...manifestLimits('h.json'), maxBytes: 20_000 };
    const good = render(items, false, 1);
    const first = viaCache(cache, good, 'h.json', new Map(), small);
    const huge = render([...items.slice(0, 50), { ...service(50), metadata: { name: 'x'.repeat(30_000) } }, ...items.slice(51)], false, 1);
    const refused = viaCache(cache, huge, 'h.json', first.next, small);
    expect(refused.result).toEqual(parseManifestText(huge, 'h.json', small));
    expect(refused.result.problems[0]!.message).toMatch(/limit: bytes/);
    const followed = cache.followed;
    expect(viaCache(cache, good, 'h.json', first.next, small).validated).toBe(0);
    expect(cache.followed).toBe(followed + 1);
  });

  it('invalid UTF-8 decodes as a full parse decodes it', () => {
    const cache = new ManifestParseCache();
    const text = render([service(1), service(2), service(3)], true, 1);
    const first = viaCache(cache, text, 'u.yaml', new Map());
    const bytes = Buffer.from(text.replace('svc-2', 'svc-Z'));
    bytes[bytes.indexOf('svc-Z') + 4] = 0xff;
    const result = viaCache(cache, bytes, 'u.yaml', first.next);
    expect(result.result).toEqual(parseManifestText(bytes.toString('utf8'), 'u.yaml'));
  });

  it('composePrescans of pieces chained by their quotes decides what the prescan of the whole text decides', () => {
    const random = lcg(99);
    const limits: ParseLimits = { maxBytes: 1 << 20, maxKeys: 3, maxDepth: 1, maxAliasCount: 10 };
    const alphabet = ['a', ':', ' ', '[', ']', '{', '}', '"', "'", '\\', '#', '\n', 'x: y\n', '- [a, {b: c}]\n'];
    let refused = 0;
    for (let round = 0; round < 3000; round++) {
      const lines = Array.from({ length: 1 + Math.floor(random() * 12) }, () => `${Array.from({ length: Math.floor(random() * 8) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('')}\n`);
      // Pieces start at the start of a line, as pieces of a file do.
      const pieces: string[] = [];
      for (const line of lines) if (pieces.length === 0 || random() < 0.5) pieces.push(line);
      else pieces[pieces.length - 1] += line;
      let quote = 0;
      const summaries = pieces.map((text) => {
        const summary = prescanYamlPiece(text, quote);
        quote = summary.quoteOut;
        return summary;
      });
      const whole = yamlPrecheck(pieces.join(''), limits) === undefined;
      expect(composePrescans(summaries, limits), JSON.stringify(pieces)).toBe(whole);
      if (!whole) refused++;
      // Summaries made without the quote the piece before ends in do not chain: undefined, unless the text before already fails.
      const fresh = pieces.map((text) => prescanYamlPiece(text, 0));
      const composed = composePrescans(fresh, limits);
      if (fresh.some((_, k) => k > 0 && fresh[k - 1]!.quoteOut !== 0)) expect(composed === undefined || (composed === false && !whole), JSON.stringify(pieces)).toBe(true);
      else expect(composed, JSON.stringify(pieces)).toBe(whole);
    }
    expect(refused).toBeGreaterThan(100);
  });
});
