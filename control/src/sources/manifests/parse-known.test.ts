/**
 * parseManifestKnown against parseManifestText: whatever the previous version of a file was,
 * skipping the documents whose fingerprints were known and taking back the objects they named
 * gives exactly what a full parse gives — the same objects in the same order and the same
 * problems (codes, documents, file:line:column), hostile files included.
 */
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../state/objects.ts';
import type { ParseLimits } from './bounded.ts';
import { manifestLimits } from './bounded.ts';
import type { ManifestParseResult } from './parse.ts';
import { documentFingerprint, parseManifestKnown, parseManifestText } from './parse.ts';

/** What the watcher keeps of a parse: the objects by fingerprint. */
type Known = Map<string, KubeObject>;

/** parseManifestKnown with `known`, its entries mapped back to objects as the watcher maps them; and the next `known`. */
function viaKnown(text: string, file: string, known: Known, limits: ParseLimits = manifestLimits(file)): { result: ManifestParseResult; next: Known; skipped: number } {
  const { entries, problems } = parseManifestKnown(text, file, limits, new Set(known.keys()));
  const next: Known = new Map();
  let skipped = 0;
  const objects = entries.map((entry) => {
    if (entry.object === undefined) skipped++;
    const object = entry.object ?? known.get(entry.fingerprint!);
    if (object === undefined) throw new Error(`skipped a document whose fingerprint was not known: ${entry.fingerprint}`);
    if (entry.fingerprint !== undefined) next.set(entry.fingerprint, object);
    return object;
  });
  return { result: { objects, problems }, next, skipped };
}

const ingress = (i: number, path = '/api', extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: `app-${i}`, namespace: 'team' },
  spec: { rules: [{ host: `app-${i}.example.com`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: `svc-${i}`, port: { number: 80 } } } }] } }] },
  ...extra,
});
const service = (i: number, port = 80) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: 'team' }, spec: { ports: [{ port }] } });
const jsonList = (items: unknown[]) => `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`;
const yamlDocs = (items: unknown[]) => items.map((item) => JSON.stringify(item)).join('\n---\n');

/** A deterministic pseudo-random sequence (no flaky seeds). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Versions of one file: each a small edit of the one before, some of them hostile. */
function versions(random: () => number, asYaml: boolean): string[] {
  let items: unknown[] = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? service(i) : ingress(i)));
  const render = () => (asYaml ? yamlDocs(items) : jsonList(items));
  const out = [render()];
  for (let step = 0; step < 40; step++) {
    const at = Math.floor(random() * items.length);
    const what = Math.floor(random() * 12);
    let text: string | undefined;
    items = [...items];
    if (what === 0) items[at] = ingress(at, `/e${step}`);
    else if (what === 1) items.splice(at, 1);
    else if (what === 2) items.splice(at, 0, service(100 + step, 8000 + step));
    else if (what === 3) items.push(items[at]); // the same document twice: same fingerprint, one object
    else if (what === 4) items[at] = { ...ingress(at), apiVersion: 'extensions/v1beta1' }; // converted, with a warning
    else if (what === 5) items[at] = { ...ingress(at), spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Regex' }] } }] } }; // schema error
    else if (what === 6) items[at] = { apiVersion: 'v1', kind: 'Secret', metadata: { name: `opaque-${step}` }, type: 'Opaque', data: { k: 'dg==' } }; // kept: nothing
    else if (what === 7) text = render().slice(0, Math.floor(random() * render().length)); // truncated mid-write
    else if (what === 8) text = ''; // emptied
    else if (what === 9) text = render().replace('"kind"', asYaml ? '"kind": "Service",\n "kind"' : '"kind": "Service",\n "kind"'); // a duplicate key
    else if (what === 10) items.reverse();
    else items[at] = service(at, 9000 + step);
    out.push(text ?? render());
  }
  return out;
}

describe('parseManifestKnown', () => {
  for (const [file, asYaml] of [
    ['fleet.json', false],
    ['fleet.yaml', true],
  ] as const) {
    it(`gives what parseManifestText gives across 40 edits of ${file}, hostile ones included, skipping what did not change`, () => {
      const random = lcg(asYaml ? 7 : 11);
      let known: Known = new Map();
      let skippedTotal = 0;
      for (const text of versions(random, asYaml)) {
        const full = parseManifestText(text, file);
        const { result, next, skipped } = viaKnown(text, file, known);
        expect(result.problems).toEqual(full.problems);
        expect(result.objects).toEqual(full.objects);
        skippedTotal += skipped;
        // The watcher keeps the last good objects of a file that fails: so does this walk.
        if (!full.problems.some((p) => p.severity === 'error') || known.size === 0) known = next;
      }
      expect(skippedTotal).toBeGreaterThan(100);
    });
  }

  it('skips exactly the unchanged documents of a List when one Ingress is edited, and returns the edited one', () => {
    const items = Array.from({ length: 50 }, (_, i) => ingress(i));
    const first = viaKnown(jsonList(items), 'a.json', new Map());
    expect(first.skipped).toBe(0);
    expect(first.next.size).toBe(50);
    const edited = [...items];
    edited[17] = ingress(17, '/changed');
    const { result, skipped } = parseManifestKnown(jsonList(edited), 'a.json', manifestLimits('a.json'), new Set(first.next.keys())).entries.reduce(
      (acc, entry) => ({ result: entry.object === undefined ? acc.result : [...acc.result, entry.object], skipped: acc.skipped + (entry.object === undefined ? 1 : 0) }),
      { result: [] as KubeObject[], skipped: 0 },
    );
    expect(skipped).toBe(49);
    expect(result.map((object) => object.metadata.name)).toEqual(['app-17']);
  });

  it('never skips a document that gave a warning or no object, so its problem is reported every time', () => {
    const legacy = { ...ingress(1), apiVersion: 'extensions/v1beta1' };
    const text = jsonList([legacy, service(2)]);
    const first = viaKnown(text, 'a.json', new Map());
    expect(first.result.problems).toMatchObject([{ code: 'PORTICO_W_LEGACY_API', document: 0 }]);
    const again = viaKnown(text, 'a.json', first.next);
    expect(again.skipped).toBe(1); // the Service
    expect(again.result.problems).toEqual(first.result.problems);
  });

  it('keeps the limits and error positions of a full parse when most documents are known', () => {
    const items = Array.from({ length: 30 }, (_, i) => service(i));
    const { next } = viaKnown(jsonList(items), 'a.json', new Map());
    // Over the key limit: refused whole, whatever is known.
    const tight: ParseLimits = { maxBytes: 1 << 20, maxKeys: 100, maxDepth: 64, maxAliasCount: 10 };
    const limited = viaKnown(jsonList(items), 'a.json', next, tight);
    expect(limited.result).toEqual(parseManifestText(jsonList(items), 'a.json', tight));
    expect(limited.result.problems).toMatchObject([{ code: 'PORTICO_E_MANIFEST_PARSE', line: expect.any(Number), column: expect.any(Number) }]);
    expect(limited.result.objects).toEqual([]);
    // A duplicate key deep in the file: its line and column, as a full parse names them.
    const duplicate = jsonList(items).replace('"svc-20"', '"svc-20", "name": "again"');
    const dup = viaKnown(duplicate, 'a.json', next);
    expect(dup.result).toEqual(parseManifestText(duplicate, 'a.json'));
    expect(dup.result.problems[0]!.message).toMatch(/duplicate key "name"/);
    // A huge file: refused on size before anything is parsed.
    const huge = jsonList(Array.from({ length: 40_000 }, (_, i) => service(i)));
    const small: ParseLimits = { ...manifestLimits('a.json'), maxBytes: 1 << 20 };
    expect(viaKnown(huge, 'a.json', next, small).result).toEqual(parseManifestText(huge, 'a.json', small));
  });

  it('parses only the changed items of a JSON List, and gives a full parse\'s problems for JSON that is broken between or inside items', () => {
    const items = Array.from({ length: 20 }, (_, i) => ingress(i));
    const text = jsonList(items);
    const { next } = viaKnown(text, 'a.json', new Map());
    expect([...next.keys()].every((fingerprint) => fingerprint.startsWith('t:'))).toBe(true);
    const hostile = {
      'missing comma': text.replace(/},\n(\s*){/, '}\n$1{'),
      'trailing comma': text.replace(/}\n ]/, '},\n ]'),
      'a scalar item': text.replace('"items": [', '"items": [ 7,'),
      'a broken literal inside an item': text.replace('"Prefix"', 'tru'),
      'a root that is not a List': text.replace('"kind": "List"', '"kind": "Other"'),
      'garbage after the root': `${text}x`,
      'a second items key': text.replace('"apiVersion": "v1"', '"items": [], "apiVersion": "v1"'),
      'items nested deeper': JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [], nested: { items: items } }),
      'an edited item': jsonList([...items.slice(0, 5), ingress(5, '/new'), ...items.slice(6)]),
    };
    for (const [name, version] of Object.entries(hostile)) {
      expect(version, name).not.toBe(text);
      const result = viaKnown(version, 'a.json', next);
      expect(result.result, name).toEqual(parseManifestText(version, 'a.json'));
    }
    expect(viaKnown(hostile['an edited item'], 'a.json', next).skipped).toBe(19);
    expect(viaKnown(hostile['missing comma'], 'a.json', next).result.problems).toMatchObject([{ code: 'PORTICO_E_MANIFEST_PARSE', line: expect.any(Number), column: expect.any(Number) }]);
  });

  it('gives no fingerprint to documents JSON cannot tell apart (.inf, .nan, -0 print as null or 0)', () => {
    expect(documentFingerprint({ a: Number.POSITIVE_INFINITY })).toBeUndefined();
    expect(documentFingerprint({ a: [Number.NaN] })).toBeUndefined();
    expect(documentFingerprint({ a: -0 })).toBeUndefined();
    expect(documentFingerprint({ a: null })).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(documentFingerprint({ a: 1, b: 2 })).not.toBe(documentFingerprint({ b: 2, a: 1 }));
    // A port of null validated cleanly never stands for a port of .inf.
    const withNull = 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80, name: null}]}\n';
    const first = viaKnown(withNull, 's.yaml', new Map());
    const inf = withNull.replace('name: null', 'name: .inf');
    expect(viaKnown(inf, 's.yaml', first.next).result).toEqual(parseManifestText(inf, 's.yaml'));
  });

  /** An Ingress as block YAML (what people write by hand), with a block scalar annotation. */
  const blockIngress = (i: number, path = '/api') =>
    [
      'apiVersion: networking.k8s.io/v1',
      'kind: Ingress',
      'metadata:',
      `  name: app-${i}`,
      '  namespace: team',
      '  annotations:',
      '    note: |',
      `      written by hand ${i}`,
      '      second line',
      'spec:',
      '  rules:',
      `    - host: app-${i}.example.com`,
      '      http:',
      '        paths:',
      `          - path: ${path}`,
      '            pathType: Prefix',
      '            backend:',
      '              service:',
      `                name: svc-${i}`,
      '                port: {number: 80}',
    ].join('\n');
  const yamlFile = (documents: readonly string[]) => `${documents.join('\n---\n')}\n`;

  it('parses only the edited document of a multi-document YAML file, and gives a full parse\'s problems and positions for hostile ones', () => {
    const documents = Array.from({ length: 120 }, (_, i) => blockIngress(i));
    const text = yamlFile(documents);
    const first = viaKnown(text, 'many.yaml', new Map());
    expect(first.result).toEqual(parseManifestText(text, 'many.yaml'));
    expect([...first.next.keys()].every((fingerprint) => fingerprint.startsWith('y:'))).toBe(true);
    const edited = [...documents];
    edited[117] = blockIngress(117, '/changed');
    const one = parseManifestKnown(yamlFile(edited), 'many.yaml', manifestLimits('many.yaml'), new Set(first.next.keys()));
    expect(one.entries.filter((entry) => entry.object !== undefined).map((entry) => entry.object!.metadata.name)).toEqual(['app-117']);
    const at = (k: number, replacement: string) => yamlFile([...documents.slice(0, k), replacement, ...documents.slice(k + 1)]);
    const hostile: Record<string, string> = {
      'a broken document in the middle': at(100, 'apiVersion: v1\nkind: Service\nmetadata: {name: broken\nspec: {}'),
      'a --- at the start of a line inside a block scalar': at(50, blockIngress(50).replace('      second line', '---\n      second line')),
      'a --- indented inside a block scalar': at(50, blockIngress(50).replace('      second line', '      ---')),
      'a --- inside a quoted scalar': at(60, blockIngress(60).replace('    note: |\n      written by hand 60', '    note: "two\n---\n lines"\n    other: |\n      x')),
      'a duplicate key': at(70, blockIngress(70).replace('  namespace: team', '  namespace: team\n  namespace: again')),
      'a duplicate key in a known-looking place': at(119, `${blockIngress(119)}\nkind: Ingress`),
      'an alias to an anchor of another document': `${text}---\nkind: &k Service\n---\napiVersion: v1\nkind: *k\nmetadata: {name: s}\n`,
      'anchors and aliases within a document': at(10, 'apiVersion: v1\nkind: Service\nmetadata: {name: &n anchored, namespace: team, labels: {same: *n}}\nspec: {ports: [{port: 80}]}'),
      'an alias bomb': at(20, `a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [${'*a, '.repeat(9)}*a]\nc: &c [${'*b, '.repeat(9)}*b]\nd: [${'*c, '.repeat(9)}*c]`),
      'a directive': `%YAML 1.2\n---\n${text}`,
      'an explicit document end': at(30, `${blockIngress(30)}\n...`),
      'a marker line with content': at(40, `--- !!map\n${blockIngress(40)}`).replace('\n---\n--- !!map', '\n--- !!map'),
      'CRLF line ends': text.replaceAll('\n', '\r\n'),
      'a List document among them': at(5, 'apiVersion: v1\nkind: List\nitems:\n  - {apiVersion: v1, kind: Service, metadata: {name: listed, namespace: team}, spec: {ports: [{port: 80}]}}\n  - {apiVersion: v1, kind: Nope}'),
      'a schema error': at(90, blockIngress(90).replace('pathType: Prefix', 'pathType: Regex')),
      'empty documents and comments': `# leading comment\n---\n---\n${text}---\n# only a comment\n`,
      'a truncated save': text.slice(0, Math.floor(text.length * 0.6)),
    };
    for (const [name, version] of Object.entries(hostile)) {
      expect(version, name).not.toBe(text);
      const result = viaKnown(version, 'many.yaml', first.next);
      expect(result.result, name).toEqual(parseManifestText(version, 'many.yaml'));
    }
    // A syntax error or a duplicate key is reported at its line and column in the file, as a full parse names them.
    expect(viaKnown(hostile['a broken document in the middle']!, 'many.yaml', first.next).result.problems[0]).toMatchObject({ code: 'PORTICO_E_MANIFEST_PARSE', line: expect.any(Number), column: expect.any(Number) });
    const duplicate = viaKnown(hostile['a duplicate key']!, 'many.yaml', first.next).result.problems[0]!;
    expect(duplicate).toMatchObject({ code: 'PORTICO_E_MANIFEST_PARSE', document: 70, line: 70 * 21 + 6, column: 3 });
    // Plain edits still skip: a schema error costs its document alone.
    expect(viaKnown(hostile['a schema error']!, 'many.yaml', first.next).skipped).toBe(119);
  });

  it('known fingerprints given as a Map (the parser thread\'s index of its job\'s list) skip what a Set of them skips', () => {
    const docs = (ports: number[]) => yamlDocs(ports.map((port, i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `m${i}`, namespace: 'web' }, spec: { ports: [{ port }] } })));
    const first = parseManifestKnown(docs([80, 81, 82, 83]), 'm.yaml', manifestLimits('m.yaml'), new Set());
    const fingerprints = first.entries.map((entry) => entry.fingerprint!);
    for (const text of [docs([80, 81, 99, 83]), docs([80, 81, 82, 83, 84]), `%YAML 1.2\n---\n${docs([80, 99])}`]) {
      const viaMap = parseManifestKnown(text, 'm.yaml', manifestLimits('m.yaml'), new Map(fingerprints.map((fingerprint, i) => [fingerprint, i])));
      expect(viaMap).toEqual(parseManifestKnown(text, 'm.yaml', manifestLimits('m.yaml'), new Set(fingerprints)));
    }
    expect(parseManifestKnown(docs([80, 81, 99, 83]), 'm.yaml', manifestLimits('m.yaml'), new Map(fingerprints.map((fingerprint, i) => [fingerprint, i]))).entries.filter((entry) => entry.object === undefined)).toHaveLength(3);
  });

  it('keeps the limits of a full parse for YAML when most documents are known: the keys of skipped documents count', () => {
    const documents = Array.from({ length: 30 }, (_, i) => blockIngress(i));
    const text = yamlFile(documents);
    const { next } = viaKnown(text, 'a.yaml', new Map());
    const keysPerDocument = Number([...next.keys()][0]!.split(':').at(-1));
    expect(keysPerDocument).toBeGreaterThan(10);
    // Room for every document but the last one's keys: only the full count refuses it.
    const tight: ParseLimits = { ...manifestLimits('a.yaml'), maxKeys: keysPerDocument * 30 - 1 };
    const edited = yamlFile([...documents.slice(0, 29), blockIngress(29, '/edited')]);
    const limited = viaKnown(edited, 'a.yaml', next, tight);
    expect(limited.result).toEqual(parseManifestText(edited, 'a.yaml', tight));
    expect(limited.result.problems).toMatchObject([{ code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringMatching(/limit: keys/) }]);
    // One document made huge: refused on size, whole, as the full parse refuses it.
    const huge = yamlFile([...documents.slice(0, 10), `${blockIngress(10)}\n  big: "${'x'.repeat(200_000)}"`, ...documents.slice(11)]);
    const small: ParseLimits = { ...manifestLimits('a.yaml'), maxBytes: 100_000 };
    expect(viaKnown(huge, 'a.yaml', next, small).result).toEqual(parseManifestText(huge, 'a.yaml', small));
    // A file grown past the size limit by one small document: every document fits alone, the file does not.
    const grown = yamlFile([...documents, blockIngress(30)]);
    const fits: ParseLimits = { ...manifestLimits('a.yaml'), maxBytes: Buffer.byteLength(text) + 10 };
    const refused = viaKnown(grown, 'a.yaml', next, fits).result;
    expect(refused).toEqual(parseManifestText(grown, 'a.yaml', fits));
    expect(refused.problems).toMatchObject([{ message: expect.stringMatching(/limit: bytes/) }]);
  });
});
