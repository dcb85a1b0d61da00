import { appendFile, mkdir, mkdtemp, open, rename, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState } from '../../state/cluster-state.ts';
import type { ParseLimits } from './bounded.ts';
import type { ManifestProblem } from './parse.ts';
import { parseManifestKnown, parseManifestText } from './parse.ts';
import { sharedParserThread } from './parser-thread.ts';
import { ManifestSource } from './watch.ts';
import type { ManifestSourceOptions } from './watch.ts';

const service = (name: string, port = 80) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: web }\nspec: { ports: [{ port: ${port} }] }\n`;

/** A billion-laughs document of a kind Portico ignores: only aliases, 10^9 leaves once expanded. */
const YAML_BOMB = ['apiVersion: v1', 'kind: ConfigMap', 'metadata: {name: lol}', 'data:', '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
  .concat(['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((key, i) => `  ${key}: &${key} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`))
  .join('\n');

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('ManifestSource', () => {
  let source: ManifestSource | undefined;
  let dir: string;
  let state: ClusterState;
  let problems: readonly ManifestProblem[];
  let changes: number;
  afterEach(async () => {
    source?.stop();
    source = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts a source on `dir`; the safety-net rescan is off (a minute) unless asked, so events alone must be enough. */
  async function start(options: Partial<ManifestSourceOptions> = {}): Promise<ManifestSource> {
    state = new ClusterState();
    problems = [];
    changes = 0;
    source = new ManifestSource(state, { path: dir, onChange: () => changes++, onProblems: (p) => (problems = p), debounceMs: 10, rescanMs: 60_000, ...options });
    await source.start();
    return source;
  }

  const ports = () => [...state.services.values()].map((s) => `${s.metadata.name}:${s.spec.ports?.[0]?.port}`).sort();

  it('an object in several files takes the last file by name; edits apply only the changed file’s objects', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    await writeFile(join(dir, 'a.yaml'), service('shared', 81) + '---\n' + service('only-a'));
    await writeFile(join(dir, 'b.yaml'), service('shared', 82));
    await start();
    expect(ports()).toEqual(['only-a:80', 'shared:82']);
    const onlyA = state.services.get('web/only-a');
    // Editing b leaves a's objects alone (the very same stored objects).
    await writeFile(join(dir, 'b.yaml'), service('shared', 83));
    await until(() => ports().includes('shared:83'), 'b edited');
    expect(state.services.get('web/only-a')).toBe(onlyA);
    // The object leaves b: a's copy is served again; then it leaves a too: gone.
    await writeFile(join(dir, 'b.yaml'), service('other'));
    await until(() => ports().includes('shared:81'), 'a wins again');
    await writeFile(join(dir, 'a.yaml'), service('only-a'));
    await until(() => !state.services.has('web/shared'), 'shared removed');
    await rm(join(dir, 'b.yaml'));
    await until(() => !state.services.has('web/other'), 'b deleted');
    expect(ports()).toEqual(['only-a:80']);
    // Three holders, then two, then one, then none again: the last file by name serves at each step.
    await writeFile(join(dir, 'a.yaml'), service('only-a') + '---\n' + service('shared', 91));
    await writeFile(join(dir, 'b.yaml'), service('shared', 92));
    await writeFile(join(dir, 'c.yaml'), service('shared', 93));
    await until(() => ports().includes('shared:93'), 'c wins');
    await rm(join(dir, 'c.yaml'));
    await until(() => ports().includes('shared:92'), 'b wins after c left');
    await writeFile(join(dir, 'c.yaml'), service('shared', 94));
    await until(() => ports().includes('shared:94'), 'c wins again');
    await writeFile(join(dir, 'b.yaml'), service('other'));
    await rm(join(dir, 'c.yaml'));
    await until(() => ports().includes('shared:91'), 'a wins when it is the one holder left');
    await writeFile(join(dir, 'a.yaml'), service('only-a'));
    await until(() => !state.services.has('web/shared'), 'shared removed once no file holds it');
    expect(ports()).toEqual(['only-a:80', 'other:80']);
  });

  it('follows file edits, additions and deletions, and keeps a broken file’s last good objects', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await start();
    expect([...state.services.keys()]).toEqual(['web/a']);
    await writeFile(join(dir, 'b.yaml'), service('b'));
    await until(() => state.services.has('web/b'), 'b added');
    await writeFile(join(dir, 'a.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: [');
    await until(() => problems.length > 0, 'a broken');
    expect(problems[0]).toMatchObject({ file: 'a.yaml', code: 'PORTICO_E_MANIFEST_PARSE', line: 3 });
    expect(state.services.has('web/a')).toBe(true);
    expect(source!.notReady()).toBeUndefined(); // it did load once: its last good objects serve
    await writeFile(join(dir, 'a.yaml'), service('a2'));
    await until(() => state.services.has('web/a2') && !state.services.has('web/a'), 'a fixed and renamed');
    expect(problems).toEqual([]);
    await rm(join(dir, 'b.yaml'));
    await until(() => !state.services.has('web/b'), 'b removed');
    expect(changes).toBeGreaterThanOrEqual(4);
  });

  it('serves all of 25 atomic-rename saves (sed -i, editors), by directory events alone', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    await mkdir(join(dir, 'team'));
    await writeFile(join(dir, 'team', 'a.yaml'), service('a', 1000));
    await start();
    for (let edit = 1; edit <= 25; edit++) {
      // What sed -i does: write a temporary file beside it, then rename it over the original.
      const temporary = join(dir, 'team', `.sedXYZ${edit}`);
      await writeFile(temporary, service('a', 1000 + edit));
      await rename(temporary, join(dir, 'team', 'a.yaml'));
      await until(() => ports()[0] === `a:${1000 + edit}`, `edit ${edit} served`);
    }
    expect(source!.scans).toBeLessThan(200);
  });

  it('takes an atomic-rename save at once, without waiting for the debounce', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    await writeFile(join(dir, 'a.json'), service('a', 1000));
    // A debounce of 3 s: only the scan of replaced files can serve an edit sooner.
    await start({ debounceMs: 3000 });
    for (let edit = 1; edit <= 10; edit++) {
      // Written beside (a name the walk does not read), then renamed over: bench:fleet's and editors' save.
      const started = Date.now();
      await writeFile(join(dir, 'a.json.tmp'), service('a', 1000 + edit));
      await rename(join(dir, 'a.json.tmp'), join(dir, 'a.json'));
      await until(() => ports()[0] === `a:${1000 + edit}`, `edit ${edit} served`, 2500);
      expect(Date.now() - started).toBeLessThan(2500);
    }
  });

  it('never reads a file being written in place before its debounce, even while atomic saves of other files are taken at once', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-watch-'));
    const three = ['x', 'y', 'z'].map((name) => service(name)).join('---\n');
    await writeFile(join(dir, 'a.yaml'), three);
    await writeFile(join(dir, 'b.yaml'), service('b', 1));
    // Long enough that no pause of this writer (each a save of b.yaml served) reaches it, on a loaded machine too.
    await start({ debounceMs: 2000 });
    // Every few ms: the objects of a.yaml are all there, whatever moment the watcher read it at.
    let torn = 0;
    const watch = setInterval(() => {
      if (!state.services.has('web/z') && !state.services.has('web/z2')) torn++;
    }, 2);
    const inPlace = async (file: string, text: string) => {
      const handle = await open(join(dir, file), 'w');
      // The first half is whole YAML documents (x, y): read now, it would drop z.
      const cut = text.indexOf('---\n', text.indexOf('---\n') + 1) + 4;
      await handle.write(text.slice(0, cut));
      for (let edit = 2; edit <= 4; edit++) {
        // Meanwhile another file is saved atomically: that scan must leave the half-written one alone.
        await writeFile(join(dir, 'b.yaml.tmp'), service('b', edit));
        await rename(join(dir, 'b.yaml.tmp'), join(dir, 'b.yaml'));
        await until(() => ports().includes(`b:${edit}`), `b edit ${edit}`, 5000);
      }
      await handle.write(text.slice(cut));
      await handle.close();
    };
    await inPlace('a.yaml', three.replace('name: z', 'name: z2'));
    await until(() => state.services.has('web/z2'), 'the in-place write taken whole', 8000);
    // A new file written the same way: not read half-written either.
    const fresh = ['p', 'q', 'r'].map((name) => service(name)).join('---\n');
    await inPlace('c.yaml', fresh);
    await until(() => state.services.has('web/r'), 'the new file taken whole', 8000);
    clearInterval(watch);
    expect(torn).toBe(0);
    expect(problems).toEqual([]);
    expect(state.services.has('web/z')).toBe(false);
  });

  it('follows a Kubernetes ConfigMap volume: symlinked files and ..data swaps', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-configmap-'));
    const version = async (n: number) => {
      const data = join(dir, `..2026_12_01_00_00_0${n}.${1000 + n}`);
      await mkdir(data);
      await writeFile(join(data, 'routes.yaml'), service('cm', 2000 + n));
      await writeFile(join(data, 'more.yaml'), service(`more${n}`));
      // The kubelet's atomic writer: a new timestamped directory, ..data_tmp -> it, renamed over ..data.
      await symlink(`..2026_12_01_00_00_0${n}.${1000 + n}`, join(dir, '..data_tmp'));
      await rename(join(dir, '..data_tmp'), join(dir, '..data'));
      if (n > 0) await rm(join(dir, `..2026_12_01_00_00_0${n - 1}.${1000 + n - 1}`), { recursive: true });
    };
    await version(0);
    await symlink('..data/routes.yaml', join(dir, 'routes.yaml'));
    await symlink('..data/more.yaml', join(dir, 'more.yaml'));
    await start();
    expect(ports()).toEqual(['cm:2000', 'more0:80']);
    for (let n = 1; n <= 5; n++) {
      await version(n);
      await until(() => ports().join() === `cm:${2000 + n},more${n}:80`, `ConfigMap update ${n} served`);
    }
    expect(problems).toEqual([]);
  });

  it('isolates a YAML bomb: reported as that file’s problem, every other file loads and keeps following edits', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-bomb-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'bomb.yaml'), YAML_BOMB);
    await start();
    expect(ports()).toEqual(['a:80']);
    expect(problems).toMatchObject([{ file: 'bomb.yaml', code: 'PORTICO_E_MANIFEST_PARSE', severity: 'error' }]);
    expect(problems[0]!.message).toMatch(/limit: aliases/);
    expect(source!.notReady()).toMatch(/^manifest bomb\.yaml:\d+:\d+ never loaded: .*aliases/);
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    await until(() => ports()[0] === 'a:81', 'edit beside the bomb');
    await rm(join(dir, 'bomb.yaml'));
    await until(() => source!.notReady() === undefined && problems.length === 0, 'bomb removed');
  });

  it('is not ready while a file has never parsed, and says which', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-start-'));
    await writeFile(join(dir, 'broken.yaml'), 'kind: [');
    await start();
    expect(source!.notReady()).toMatch(/^manifest broken\.yaml:1:\d+ never loaded: syntax error/);
    await writeFile(join(dir, 'broken.yaml'), service('fixed'));
    await until(() => source!.notReady() === undefined, 'ready once it parses');
    expect(ports()).toEqual(['fixed:80']);
  });

  it('keeps the objects of a file truncated to 0 bytes for the grace period, warning, then removes them', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-empty-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'b.yaml'), service('b'));
    await start({ emptyGraceMs: 400 });
    await truncate(join(dir, 'a.yaml'), 0);
    await until(() => problems.length > 0, 'empty warning');
    expect(problems).toMatchObject([{ file: 'a.yaml', severity: 'warning', code: 'PORTICO_W_MANIFEST_EMPTY' }]);
    expect(ports()).toEqual(['a:80', 'b:80']);
    await until(() => !state.services.has('web/a'), 'removed after the grace period');
    expect(problems).toEqual([]);
    // Rewritten within the grace period: nothing is lost at all.
    await truncate(join(dir, 'b.yaml'), 0);
    await until(() => problems.length > 0, 'b empty');
    await writeFile(join(dir, 'b.yaml'), service('b', 82));
    await until(() => ports().join() === 'b:82', 'b rewritten');
  });

  it('re-reads only the files that changed', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-incremental-'));
    for (let i = 0; i < 20; i++) await writeFile(join(dir, `f${String(i).padStart(2, '0')}.yaml`), service(`s${i}`));
    const parsed: string[] = [];
    const parse = async (bytes: Uint8Array, file: string, limits: ParseLimits, known: readonly string[]) => {
      parsed.push(file);
      return parseManifestKnown(Buffer.from(bytes).toString('utf8'), file, limits, new Set(known));
    };
    await start({ parse });
    expect(parsed).toHaveLength(20);
    parsed.length = 0;
    await writeFile(join(dir, 'f07.yaml'), service('s7', 8080));
    await until(() => ports().includes('s7:8080'), 'f07 edit');
    await source!.reload(); // a safety-net rescan: stats only
    expect(parsed).toEqual(['f07.yaml']);
  });

  it('an edit of one document of a List keeps every other object as stored and journals only the edited one (through the parser thread)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-known-'));
    const list = (port: number) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 300 }, (_, i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'web' }, spec: { ports: [{ port: i === 123 ? port : 80 }] } })) });
    // Saved as editors save (write beside, rename over): the watcher never sees half a file.
    const save = async (text: string) => {
      await writeFile(join(dir, 'list.json.tmp'), text);
      await rename(join(dir, 'list.json.tmp'), join(dir, 'list.json'));
    };
    await save(list(80));
    const validated: number[] = [];
    await start({ parse: async (bytes, file, limits, known) => {
      const result = await sharedParserThread().parseManifestKnown(bytes, file, limits, known);
      validated.push(result.entries.filter((entry) => entry.object !== undefined).length);
      return result;
    } });
    const before = new Map(state.services);
    state.takeChanges();
    await save(list(8080));
    await until(() => ports().includes('s123:8080'), 'one document edited');
    expect([...state.takeChanges().entries()].map(([kind, keys]) => [kind, [...keys]])).toEqual([['Service', ['web/s123']]]);
    expect(validated).toEqual([300, 1]); // the edit validated and sent back one object, not 300
    for (const [key, object] of state.services) if (key !== 'web/s123') expect(object).toBe(before.get(key));
    // Broken, then the same text again: the last good objects stay, and come back as they were.
    await save(list(8080).slice(0, 5000));
    await until(() => problems.length > 0, 'truncated');
    expect(problems[0]).toMatchObject({ file: 'list.json', code: 'PORTICO_E_MANIFEST_PARSE', line: 1 });
    const kept = new Map(state.services);
    await save(list(8080));
    await until(() => problems.length === 0, 'repaired');
    expect(state.takeChanges().size).toBe(0);
    for (const [key, object] of state.services) expect(object).toBe(kept.get(key));
    expect(validated.at(-1)).toBe(0);
  });

  it('rescans on its own when no event arrives (the safety net)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-rescan-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await start({ rescanMs: 50 });
    // Watchers off, as if the kernel had dropped every event: the periodic rescan still sees the edit.
    (source as unknown as { watchDirectories: (d: string[]) => void }).watchDirectories([]);
    (source as unknown as { watchDirectories: (d: string[]) => void }).watchDirectories = () => undefined;
    await writeFile(join(dir, 'a.yaml'), service('a', 90));
    await until(() => ports()[0] === 'a:90', 'rescan picked the edit up');
  });

  it('reports every problem of a file with 300,000 of them (hostile: no spread of them overflows the stack)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-problems-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'big.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 300_000 }, () => ({})) }));
    await start();
    expect(problems).toHaveLength(300_000);
    expect(problems[299_999]).toMatchObject({ file: 'big.json', code: 'PORTICO_E_MANIFEST_SCHEMA' });
    expect(ports()).toEqual(['a:80']);
  });

  it('an object the state refuses (a bug) is a problem and one onError call, retried at each scan while the others flow (hostile: no silent rescans)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-refused-'));
    await writeFile(join(dir, 'a.yaml'), service('ok') + '---\n' + service('boom'));
    let refusing = true;
    class RefusingState extends ClusterState {
      override upsert(object: Parameters<ClusterState['upsert']>[0]): boolean {
        if (refusing && object.metadata.name === 'boom') throw new Error('state bug');
        return super.upsert(object);
      }
    }
    const errors: string[] = [];
    const refusingState = new RefusingState();
    problems = [];
    source = new ManifestSource(refusingState, { path: dir, onChange: () => undefined, onProblems: (p) => (problems = p), onError: (error, pass) => errors.push(`${pass}: ${error.message}`), debounceMs: 10, rescanMs: 20 });
    const scans = source.scans;
    await source.start();
    expect([...refusingState.services.keys()]).toEqual(['web/ok']);
    expect(problems).toMatchObject([{ file: 'a.yaml', severity: 'error', code: 'PORTICO_E_MANIFEST_APPLY' }]);
    expect(problems[0]!.message).toMatch(/^Service web\/boom could not be applied: state bug; retrying at each scan$/);
    // Rescans retry it, and say it no more.
    await until(() => source!.scans >= scans + 5, 'five rescans');
    expect(errors).toEqual(['apply of Service web/boom from a.yaml: state bug']);
    expect(source.notReady()).toBeUndefined();
    // The bug gone, the next rescan applies it with no edit of the file.
    refusing = false;
    await until(() => refusingState.services.has('web/boom'), 'boom applied by a rescan');
    await until(() => problems.length === 0, 'the problem cleared');
  });

  it('a scan that fails (onChange throwing) is a problem and one onError call naming the pass, and the next scan applies afresh and announces it', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-failed-scan-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    let throwing = false;
    let announced = 0;
    const errors: string[] = [];
    await start({
      onChange: () => {
        if (throwing) throw new Error('listener bug');
        announced++;
      },
      onError: (error, pass) => errors.push(`${pass}: ${error.message}`),
    });
    throwing = true;
    await writeFile(join(dir, 'a.yaml'), service('a', 81));
    await until(() => problems.some((p) => p.code === 'PORTICO_E_MANIFEST_APPLY'), 'the failed scan reported');
    expect(problems).toMatchObject([{ file: dir, severity: 'error', code: 'PORTICO_E_MANIFEST_APPLY' }]);
    expect(problems[0]!.message).toMatch(/the file-event scan failed: listener bug/);
    expect(errors).toEqual(['file-event scan: listener bug']);
    // The state took the edit before the listener threw; the next scan (no edit) tells the listener again.
    expect(ports()).toEqual(['a:81']);
    throwing = false;
    const before = announced;
    await source!.reload();
    expect(announced).toBe(before + 1);
    expect(problems).toEqual([]);
  });

  it('refuses a file over the size limit without reading it, keeping its last good objects', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-size-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    const parsed: string[] = [];
    const parse = async (bytes: Uint8Array, file: string, limits: ParseLimits, known: readonly string[]) => {
      parsed.push(file);
      return parseManifestKnown(Buffer.from(bytes).toString('utf8'), file, limits, new Set(known));
    };
    await start({ parse, limits: { maxBytes: 4096, maxKeys: 1000, maxDepth: 16, maxAliasCount: 10 } });
    await writeFile(join(dir, 'a.yaml'), service('a') + `# ${'x'.repeat(8192)}\n`);
    await until(() => problems.length > 0, 'size problem');
    expect(problems[0]).toMatchObject({ file: 'a.yaml', code: 'PORTICO_E_MANIFEST_PARSE' });
    expect(problems[0]!.message).toMatch(/limit: bytes.*keeping its last good 1 objects/);
    expect(ports()).toEqual(['a:80']);
    expect(parsed).toEqual(['a.yaml']); // only the first, small version was ever read
  });
  it('random edits of files holding duplicates within and across files: what is applied is what a fresh load of the directory gives, at every step', async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-walk-'));
    // mulberry32: a fixed walk, the same on every run.
    let seed = 0x5eed;
    const random = () => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pick = (n: number) => Math.floor(random() * n);
    // A few names only, so that a file often holds one twice and files often share one.
    const doc = () => ({ name: `s${pick(16)}`, port: 1000 + pick(50) });
    const files: Record<string, { name: string; port: number }[]> = { 'a.yaml': [], 'b.yaml': [], 'c.yaml': [] };
    const undo: Record<string, { name: string; port: number }[]> = {};
    const write = async (file: string) => {
      const docs = files[file]!;
      if (docs.length === 0) await rm(join(dir, file), { force: true });
      else {
        // Saved as editors do (a new inode): a same-size rewrite in place within the clock's tick would look unchanged.
        await writeFile(join(dir, `${file}.tmp`), docs.map((d) => service(d.name, d.port)).join('---\n'));
        await rename(join(dir, `${file}.tmp`), join(dir, file));
      }
    };
    for (const file of Object.keys(files)) {
      files[file] = Array.from({ length: 1 + pick(5) }, doc);
      await write(file);
    }
    // Documents validated by the last parse: those whose fingerprints the source did not hand over.
    const validations: number[] = [];
    const parse: ManifestSourceOptions['parse'] = async (bytes, file, limits, known) => {
      const result = parseManifestKnown(Buffer.from(bytes).toString('utf8'), file, limits, new Set(known));
      validations.push(result.entries.filter((entry) => entry.object !== undefined).length);
      return result;
    };
    // Directory events wait a minute: each step's reload() is the one scan of the step.
    const followed = new ClusterState();
    let reported: readonly ManifestProblem[] = [];
    source = new ManifestSource(followed, { path: dir, onChange: () => undefined, onProblems: (p) => (reported = p), parse, emptyGraceMs: 0, debounceMs: 60_000, replacedDelayMs: 60_000 });
    await source.reload();
    for (let step = 0; step < 400; step++) {
      const file = Object.keys(files)[pick(3)]!;
      const docs = files[file]!;
      const texts = new Set(docs.map((d) => `${d.name}:${d.port}`));
      // An undo brings back documents the file no longer holds (their fingerprints must be forgotten).
      const undo_ = docs.slice();
      const at = pick(docs.length + 1);
      const what = pick(8);
      if (what === 0 && docs.length > 0) docs[Math.min(at, docs.length - 1)] = doc();
      else if (what === 1) docs.splice(at, 0, doc());
      else if (what === 2 && docs.length > 0) docs.splice(Math.min(at, docs.length - 1), 1);
      else if (what === 3 && docs.length > 0) docs.splice(at, 0, { ...docs[pick(docs.length)]! });
      else if (what === 4 && docs.length > 1) docs.push(docs.splice(pick(docs.length), 1)[0]!);
      else if (what === 5 && random() < 0.2) docs.length = 0;
      else if (what === 7) docs.splice(0, docs.length, ...(undo[file] ?? []));
      else if (what === 6 && docs.length > 1) {
        // A document takes the name of a later one (which keeps winning).
        const i = pick(docs.length - 1);
        docs[i] = { name: docs[i + 1 + pick(docs.length - 1 - i)]!.name, port: 1000 + pick(50) };
      }
      else docs[pick(docs.length)] = doc();
      undo[file] = undo_;
      const parses = validations.length;
      await write(file);
      await source!.reload();
      // Every document the file held before is known by its fingerprint: only new texts are validated.
      expect(validations.slice(parses).reduce((a, b) => a + b, 0), `step ${step}: validated`).toBe(docs.filter((d) => !texts.has(`${d.name}:${d.port}`)).length);
      const served = [...followed.services.values()].map((s) => `${s.metadata.name}:${s.spec.ports?.[0]?.port}`).sort();
      // What the files say: the last file by name holding a name wins, and in it the last document.
      const expected = new Map<string, number>();
      for (const name of Object.keys(files).sort()) for (const d of files[name]!) expected.set(d.name, d.port);
      expect(served, `step ${step}`).toEqual([...expected].map(([name, port]) => `${name}:${port}`).sort());
      if (step % 50 === 49) {
        const fresh = new ClusterState();
        const other = new ManifestSource(fresh, { path: dir, onChange: () => undefined, onProblems: () => undefined, parse });
        await other.reload();
        other.stop();
        expect([...fresh.services.values()].map((s) => `${s.metadata.name}:${s.spec.ports?.[0]?.port}`).sort(), `step ${step}, fresh load`).toEqual(served);
      }
    }
    expect(reported).toEqual([]);
  });

  describe('a large file edited through the parser thread, which follows the edit', () => {
    const list = (ports: Record<number, number> = {}, count = 400) =>
      `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: count }, (_, i) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `s${i}`, namespace: 'web' }, spec: { ports: [{ port: ports[i] ?? 80 }] } })) }, null, 1)}\n`;
    const yamlFile = (ports: Record<number, number> = {}, count = 300) => Array.from({ length: count }, (_, i) => service(`y${i}`, ports[i] ?? 80)).join('---\n');
    let validated: number[];
    const save = async (name: string, text: string) => {
      await writeFile(join(dir, `${name}.tmp`), text);
      await rename(join(dir, `${name}.tmp`), join(dir, name));
    };
    async function startCounting(options: Partial<ManifestSourceOptions> = {}): Promise<void> {
      validated = [];
      await start({
        parse: async (bytes, file, limits, known) => {
          const result = await sharedParserThread().parseManifestKnown(bytes, file, limits, known);
          validated.push(result.entries.filter((entry) => entry.object !== undefined).length);
          return result;
        },
        ...options,
      });
    }

    it('random edits of a 300-document file through the parser thread, answered relative to the objects held: the state a fresh load gives at every step, unchanged objects kept as stored, each answer carrying its edit (hostile: broken, emptied and huge saves, the thread killed)', async () => {
      dir = await mkdtemp(join(tmpdir(), 'portico-relative-'));
      const limits: ParseLimits = { maxBytes: 200_000, maxKeys: 100_000, maxDepth: 64, maxAliasCount: 10 };
      let seed = 0xfeed;
      const random = () => {
        seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
        return seed / 2 ** 32;
      };
      const pick = (n: number) => Math.floor(random() * n);
      // Named apart from their place (an insertion renames nothing); a few share a name, so the file holds some twice.
      const docs = Array.from({ length: 300 }, (_, i) => ({ name: `r${i}`, port: 1000 + i }));
      const text = (file: string) => (file.endsWith('.json') ? `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs.map((d) => JSON.parse(JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: d.name, namespace: 'web' }, spec: { ports: [{ port: d.port }] } }))) }, null, 1)}\n` : docs.map((d) => service(d.name, d.port)).join('---\n'));
      const fresh = async (): Promise<string[]> => {
        const other = new ClusterState();
        const loader = new ManifestSource(other, { path: dir, onChange: () => undefined, onProblems: () => undefined, limits, parse: async (bytes, file, l, known) => parseManifestKnown(Buffer.from(bytes).toString('utf8'), file, l, new Set(known)) });
        await loader.reload();
        loader.stop();
        return [...other.services.values()].map((s) => `${s.metadata.name}:${s.spec.ports?.[0]?.port}`).sort();
      };
      for (const file of ['walk.json', 'walk.yaml']) {
        await rm(join(dir, file === 'walk.json' ? 'walk.yaml' : 'walk.json'), { force: true });
        await save(file, text(file));
        source?.stop();
        await start({ limits, emptyGraceMs: 0, debounceMs: 60_000, replacedDelayMs: 60_000 });
        let small = 0;
        let plainBefore = true;
        for (let step = 0; step < 40; step++) {
          const at = pick(docs.length);
          const what = step % 10;
          let content: string | undefined;
          if (what === 1) docs.splice(at, 1);
          else if (what === 2) docs.splice(at, 0, { name: `n${step}`, port: 2000 + step });
          else if (what === 3) docs.splice(at, 0, { ...docs[pick(docs.length)]! }); // a document twice
          else if (what === 4) content = text(file).slice(0, 1000 + pick(5000)); // a save cut short
          else if (what === 5 && step % 20 === 5) content = ''; // emptied (no grace)
          else if (what === 6) content = `${text(file)}${' '.repeat(200_000)}`; // over the size limit
          else if (what === 7) await (sharedParserThread() as unknown as { worker?: { terminate(): Promise<number> } }).worker?.terminate();
          else docs[at] = { name: docs[at]!.name, port: 3000 + step };
          const before = new Map(state.services);
          const answered = source!.answered;
          await save(file, content ?? text(file));
          await source!.reload();
          const served = [...state.services.values()].map((s) => `${s.metadata.name}:${s.spec.ports?.[0]?.port}`).sort();
          // A save cut short (where it does not parse) or over the limit keeps the objects as they were; an emptied file has none.
          const refused = content !== undefined && content !== '' && (content.length > limits.maxBytes || parseManifestText(content, file, limits).problems.some((p) => p.severity === 'error'));
          if (content === '') expect(served, `${file} step ${step}`).toEqual([]);
          else if (refused) expect([...state.services.entries()], `${file} step ${step}`).toEqual([...before.entries()]);
          else expect(served, `${file} step ${step}`).toEqual(await fresh());
          // After a file emptied or cut short, the documents it lost are new again.
          const following = plainBefore;
          plainBefore = content === undefined;
          if (!plainBefore || !following) continue;
          const changed = [...state.services].filter(([key, object]) => before.get(key) !== object).length;
          expect(changed, `${file} step ${step}: objects stored anew`).toBeLessThanOrEqual(1);
          if (source!.answered - answered <= 1) small++;
        }
        // Whole answers: the first after a broken, emptied or refused save, and after the thread was killed.
        expect(small, file).toBeGreaterThanOrEqual(15);
      }
    }, 120_000);

    it('a file truncated mid-write, then completed: its objects stay while it is broken, and the completed file costs its edited document', async () => {
      dir = await mkdtemp(join(tmpdir(), 'portico-midwrite-'));
      await writeFile(join(dir, 'big.yaml'), yamlFile());
      await startCounting();
      expect(validated).toEqual([300]);
      const kept = new Map(state.services);
      // Written in place, in two halves, as a slow writer does: the first half is read and refused.
      const complete = yamlFile({ 150: 8150 });
      await writeFile(join(dir, 'big.yaml'), complete.slice(0, Math.floor(complete.length / 2) + 7));
      await until(() => problems.length > 0, 'half a file');
      expect(problems[0]).toMatchObject({ file: 'big.yaml', severity: 'error', code: expect.stringMatching(/^PORTICO_E_MANIFEST_(PARSE|SCHEMA)$/) });
      expect(state.services.get('web/y0')).toBe(kept.get('web/y0'));
      await appendFile(join(dir, 'big.yaml'), complete.slice(Math.floor(complete.length / 2) + 7));
      await until(() => ports().includes('y150:8150') && problems.length === 0, 'completed');
      expect(state.services.size).toBe(300);
      for (const [key, object] of state.services) if (key !== 'web/y150') expect(object, key).toBe(kept.get(key));
      expect(validated.at(-1)).toBe(1);
    });

    it('rapid successive saves: every object ends as the last save has it, each save validating only its edit', async () => {
      dir = await mkdtemp(join(tmpdir(), 'portico-rapid-'));
      await writeFile(join(dir, 'list.json'), list());
      await startCounting();
      const ports_: Record<number, number> = {};
      for (let save_ = 1; save_ <= 30; save_++) {
        ports_[(save_ * 37) % 400] = 9000 + save_;
        await save('list.json', list(ports_));
      }
      await until(() => ports().includes(`s${(30 * 37) % 400}:9030`), 'last save');
      await source!.reload();
      for (const [i, port] of Object.entries(ports_)) expect(state.services.get(`web/s${i}`)?.spec.ports?.[0]?.port).toBe(port);
      expect(state.services.size).toBe(400);
      expect(problems).toEqual([]);
      // However the saves were coalesced, no scan validated more than the documents that differ.
      expect(validated.slice(1).every((count) => count <= 30)).toBe(true);
    });

    it('a file replaced by a symlink, then by a directory, then by a file again', async () => {
      dir = await mkdtemp(join(tmpdir(), 'portico-replaced-'));
      await mkdir(join(dir, 'elsewhere'));
      await writeFile(join(dir, 'list.json'), list());
      await startCounting({ emptyGraceMs: 50 });
      await writeFile(join(dir, 'elsewhere', 'other.txt'), list({ 5: 8005 }));
      await rm(join(dir, 'list.json'));
      await symlink(join(dir, 'elsewhere', 'other.txt'), join(dir, 'list.json'));
      await until(() => ports().includes('s5:8005'), 'symlink followed');
      expect(validated.at(-1)).toBe(1);
      await rm(join(dir, 'list.json'));
      await mkdir(join(dir, 'list.json'));
      await writeFile(join(dir, 'list.json', 'inner.yaml'), service('inner'));
      await until(() => state.services.has('web/inner') && !state.services.has('web/s5'), 'a directory in its place');
      expect(problems).toEqual([]);
      await rm(join(dir, 'list.json'), { recursive: true });
      await writeFile(join(dir, 'list.json'), list({ 6: 8006 }));
      await until(() => ports().includes('s6:8006') && !state.services.has('web/inner'), 'a file again');
      expect(state.services.size).toBe(400);
    });

    it('a file grown past the size limit is refused and keeps its objects; back within it, it follows from its last good parse', async () => {
      dir = await mkdtemp(join(tmpdir(), 'portico-huge-'));
      const limits: ParseLimits = { maxBytes: 200_000, maxKeys: 100_000, maxDepth: 64, maxAliasCount: 10 };
      await writeFile(join(dir, 'list.json'), list());
      await startCounting({ limits });
      const kept = new Map(state.services);
      await save('list.json', list({}, 2000));
      await until(() => problems.length > 0, 'too large');
      expect(problems[0]!.message).toMatch(/limit: bytes/);
      expect(state.services.size).toBe(400);
      await save('list.json', list({ 399: 8399 }));
      await until(() => ports().includes('s399:8399') && problems.length === 0, 'back within the limit');
      for (const [key, object] of state.services) if (key !== 'web/s399') expect(object, key).toBe(kept.get(key));
      expect(validated.at(-1)).toBe(1);
    });
  });
});
