/**
 * The manifest-directory source of standalone mode: loads the directory into ClusterState and
 * keeps it there as files change, without ever going stale or empty by surprise.
 *
 * - Every directory of the tree is watched on its own (a directory watch survives the
 *   atomic-rename saves of `sed -i` and editors, which Node's recursive watch loses), symlinks
 *   are followed (the Kubernetes ConfigMap layout swaps `..data`), and a periodic rescan is the
 *   safety net for any event the kernel or Node drops.
 * - A scan stats every file and re-reads and re-parses only those whose identity, size or times
 *   changed; reading and parsing run in the parser thread, bounded (a YAML bomb is that file's
 *   problem), which reads into one buffer it reuses: an edit allocates no file-sized ArrayBuffer
 *   on this isolate (such allocations add up to full markings of its large heap).
 *   Within a changed file, documents whose fingerprint is that of a document the file held
 *   before are not validated again: they keep their object (parseManifestKnown), so an edit of
 *   one Ingress among thousands costs its own document. The parser thread keeps each file's
 *   previous parse as pieces (ManifestParseCache: hashes and lengths, and the bytes within a
 *   budget to find the edit at memcmp speed), so in a
 *   JSON `List` and in multi-document YAML only the bytes between the unchanged pieces at the
 *   start and at the end are even decoded and scanned.
 * - A file that fails to parse keeps its last good objects and is reported; a file that becomes
 *   empty while it held objects keeps them for a grace period (a truncate-then-write save) and
 *   warns. A file that never parsed makes the source not ready, with the reason.
 * - A scan that fails anyway (a bug: ClusterState or a callback throwing) is never silent: it is a
 *   problem (`PORTICO_E_MANIFEST_APPLY`) and an `onError` call, and the next scan applies every
 *   file afresh; an object the state refuses is retried at each scan, the others flow.
 */
import type { FSWatcher } from 'node:fs';
import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { relative } from 'node:path';
import { objectKey } from '../../state/cluster-state.ts';
import { concatenated } from '../../snapshot/order.ts';
import { identicalEnds, recordSealedAgainst, sharedEnds } from '../../snapshot/sealed-against.ts';
import type { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import type { MemberIndex } from '../../state/member-index.ts';
import { addMember, membersOf, removeMember } from '../../state/member-index.ts';
import type { ParseLimits } from './bounded.ts';
import { manifestLimits } from './bounded.ts';
import { isManifestName, walkManifestTree } from './load.ts';
import type { KnownParseResult, ManifestProblem } from './parse.ts';
import type { RelativeParseResult } from './incremental.ts';
import type { FileParse } from './parser-thread.ts';
import { sharedParserThread } from './parser-thread.ts';
import { isBlank } from './file-read.ts';
import { KnownTable } from './known-table.ts';

/** Options of the watcher. */
export interface ManifestSourceOptions {
  readonly path: string;
  /** Called after a scan that changed ClusterState (the build reads what changed from its journal). */
  readonly onChange: () => void;
  /** Called whenever the set of problems changes (empty when all is well), sorted by file. */
  readonly onProblems: (problems: readonly ManifestProblem[]) => void;
  /** Quiet time after a file event before a scan (default 50 ms). */
  readonly debounceMs?: number;
  /**
   * Delay of the scan after a manifest file was renamed into place (an atomic save), which reads
   * only files whose inode was replaced (default 1 ms): such a file is whole from the start. Any
   * other change waits for `debounceMs` (an in-place write may be half done).
   */
  readonly replacedDelayMs?: number;
  /** Safety-net rescan interval (default 2000 ms). */
  readonly rescanMs?: number;
  /** How long a file that became empty keeps its objects (default 5000 ms). */
  readonly emptyGraceMs?: number;
  /**
   * Parses one file's content (UTF-8), skipping documents whose fingerprints are `known` (as
   * parseManifestKnown); it may keep `bytes` (they are not used after). Default: the shared parser
   * thread, which follows each file's edits (ManifestParseCache).
   */
  readonly parse?: (bytes: Uint8Array, file: string, limits: ParseLimits, known: readonly string[]) => Promise<KnownParseResult>;
  readonly limits?: ParseLimits;
  /**
   * Called when a scan failed or an object could not be applied (a bug: bad input is a problem,
   * never an error), naming the pass: once per distinct message until a scan applies everything
   * (at most MAX_ERRORS_SAID), not at every rescan. The failure is also among `problems()`.
   */
  readonly onError?: (error: Error, pass: string) => void;
}

/** Distinct errors said through `onError` between two clean scans at most (the rest are problems only). */
const MAX_ERRORS_SAID = 64;

/** What is known about one file. */
interface FileEntry {
  /** dev:ino:size:mtime:ctime when last read. */
  readonly signature: string;
  /** The objects served for it (the last good ones when it is broken). */
  readonly objects: readonly KubeObject[];
  /**
   * Those of `objects` that came from a document with a fingerprint (parseManifestKnown), by it.
   * Owned by the entry (never shared with a later one, except a broken or emptied file's, which
   * keeps its last good objects): the next read of the file patches it in place (patchFingerprints),
   * and the parser thread's copy of it gets only the slots that changed.
   */
  readonly fingerprints: KnownTable<KubeObject>;
  /** How many documents of `objects` had a fingerprint (more than `fingerprints` holds: one was there twice). */
  readonly fingerprinted: number;
  /** The parser thread's answer `objects` are, one per entry in order (the next parse may answer relative to it), if any. */
  readonly answer: number | undefined;
  readonly problems: readonly ManifestProblem[];
  /** Whether it was ever read and parsed (schema problems aside). */
  readonly good: boolean;
  /** When it was first seen empty while holding objects (grace period), if it is. */
  readonly emptySince?: number;
}

/**
 * `previous` still serving its objects (the file is broken, or emptied within its grace period):
 * what is derived from them (fingerprints, the answer they are) stays with them; the signature
 * and the problems are the file's now.
 */
function keeping(previous: FileEntry, signature: string, problems: readonly ManifestProblem[], emptySince?: number): FileEntry {
  return { ...previous, signature, problems, emptySince };
}

/** An entry serving no objects: a file never read well, or emptied for good. */
function holdingNothing(signature: string, problems: readonly ManifestProblem[], good: boolean): FileEntry {
  return { signature, objects: [], fingerprints: new KnownTable<KubeObject>(), fingerprinted: 0, answer: undefined, problems, good };
}

/** A file's objects as last applied: the list read, and by identity (a later duplicate in the file wins). */
interface AppliedFile {
  readonly objects: readonly KubeObject[];
  /** Owned by the ManifestSource: patched in place when the file's next list is an edit of `objects`. */
  readonly byId: Map<string, KubeObject>;
}

/**
 * The fingerprint of the document each object came from, when it had one: an object is made for
 * one document (the parser thread's answer, or the known table's object for the fingerprint that
 * named it), so an object's fingerprint is told without the answer's entries, of which a relative
 * answer carries only the edited ones.
 */
const fingerprintOfObject = new WeakMap<KubeObject, string>();

/**
 * How many objects at the start (`head`) and at the end (`tail`) of a file's `objects` are, by
 * identity, those of `base` (objects it held before): as objectsOf recorded them when it made
 * `objects` from `base` (a relative answer: no step per object), else found by comparing them.
 */
function sameObjectEnds(base: readonly KubeObject[], objects: readonly KubeObject[]): { readonly head: number; readonly tail: number } {
  return sharedEnds(base, objects) ?? identicalEnds(base, objects);
}

/**
 * Patches `previous.fingerprints` in place to those of `objects` (the file's next objects), at
 * the cost of the edit: the common ends of the two object lists (sameObjectEnds) are stepped
 * over, and only the objects between are looked at. False, with nothing changed, when the result
 * would not be what a rebuild gives (a fingerprint held twice in the file, before or after, or a
 * shared empty map): the caller builds the map afresh.
 */
function patchFingerprints(previous: FileEntry, objects: readonly KubeObject[]): boolean {
  const map = previous.fingerprints;
  if (map.size !== previous.fingerprinted) return false;
  const base = previous.objects;
  const m = base.length;
  const n = objects.length;
  const { head: h, tail: t } = sameObjectEnds(base, objects);
  const gone = new Set<string>();
  for (let i = h; i < m - t; i++) {
    const fingerprint = fingerprintOfObject.get(base[i]!);
    if (fingerprint !== undefined && map.get(fingerprint) === base[i]) gone.add(fingerprint);
  }
  const come = new Map<string, KubeObject>();
  let middle = 0;
  for (let i = h; i < n - t; i++) {
    const fingerprint = fingerprintOfObject.get(objects[i]!);
    if (fingerprint === undefined) continue;
    middle++;
    come.set(fingerprint, objects[i]!);
  }
  // Twice among the edited documents, or also held by a document the edit did not touch.
  if (come.size !== middle) return false;
  for (const fingerprint of come.keys()) if (map.has(fingerprint) && !gone.has(fingerprint)) return false;
  for (const fingerprint of gone) if (!come.has(fingerprint)) map.delete(fingerprint);
  for (const [fingerprint, object] of come) map.set(fingerprint, object);
  return true;
}

/** Identities by object: a file's unchanged documents keep their objects, so their identity is made once. */
const identities = new WeakMap<KubeObject, string>();

function identity(object: KubeObject): string {
  let id = identities.get(object);
  // A join, not a template: one flat string, kept as long as the object (a concatenation keeps its pieces).
  if (id === undefined) identities.set(object, (id = [object.kind, objectKey(object.metadata.namespace, object.metadata.name)].join(' ')));
  return id;
}

/** A problem that means the file (or a document of it) could not be read as YAML/JSON at all. */
const unparseable = (p: ManifestProblem) => p.code === 'PORTICO_E_MANIFEST_PARSE' || p.code === 'PORTICO_E_MANIFEST_READ';

const problem = (file: string, severity: ManifestProblem['severity'], code: ManifestProblem['code'], message: string): ManifestProblem => ({ severity, code, file, document: 0, message });

/** Keeps ClusterState in line with a manifest directory. */
export class ManifestSource {
  private readonly state: ClusterState;
  private readonly options: ManifestSourceOptions;
  private readonly files = new Map<string, FileEntry>();
  /** Objects by identity, as last applied to ClusterState. */
  private readonly applied = new Map<string, KubeObject>();
  /**
   * The files that hold an object of each identity (the last one by name wins): the one file's
   * name itself, a Set only while several hold it (at 50k objects a Set each was 13 MB).
   */
  private readonly holders: MemberIndex = new Map();
  /** Each file's objects as last applied, and by identity (a later duplicate in a file wins). */
  private readonly byFile = new Map<string, AppliedFile>();
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires, whether its scan reads only replaced files (an atomic save's). */
  private replacedOnly = false;
  private interval: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  /** Whether a scan asked for while one ran was a full one (not only replaced files). */
  private againFull = false;
  private stopped = false;
  private lastProblems = '[]';
  private directoryProblem: ManifestProblem | undefined;
  /** Why the last scan failed, until one succeeds. */
  private scanProblem: ManifestProblem | undefined;
  /** Set by a failed scan: what it applied is unknown, so the next one applies every file afresh. */
  private resync = false;
  /** Identities ClusterState refused (threw for), with the file that holds them and why: retried at each scan. */
  private readonly unsettled = new Map<string, { readonly file: string; readonly message: string }>();
  /** Error messages said through onError since the last clean scan. */
  private readonly errorsSaid = new Set<string>();
  /** Scans done so far. */
  scans = 0;
  /** Files read and parsed so far (unchanged files are not). */
  parses = 0;
  /** Entries the parses answered with so far: a file's answer relative to its objects carries only the edited documents. */
  answered = 0;

  constructor(state: ClusterState, options: ManifestSourceOptions) {
    this.state = state;
    this.options = options;
  }

  /** Loads the directory once and starts watching it. Throws when the path cannot be read. */
  async start(): Promise<void> {
    await stat(this.options.path);
    await this.reload();
    const rescanMs = this.options.rescanMs ?? 2000;
    this.interval = setInterval(() => void this.reload().catch((error: unknown) => this.scanFailed(error, 'periodic rescan')), rescanMs);
    this.interval.unref();
  }

  /** Stops watching. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.interval);
    for (const watcher of this.watchers.values()) watcher.close();
    this.watchers.clear();
  }

  /** Why the source is not ready (a file that never parsed, an unreadable directory), or undefined. */
  notReady(): string | undefined {
    if (this.directoryProblem !== undefined && this.files.size === 0) return `manifests: ${this.directoryProblem.message}`;
    const broken = [...this.files.entries()].filter(([, entry]) => !entry.good);
    if (broken.length === 0) return undefined;
    const [file, entry] = broken[0]!;
    const first = entry.problems.find((p) => p.severity === 'error');
    const where = first?.line === undefined ? '' : `:${first.line}:${first.column ?? 1}`;
    return `manifest ${file}${where} never loaded: ${first?.message ?? 'unreadable'}${broken.length > 1 ? ` (and ${broken.length - 1} more files)` : ''}`;
  }

  /** The current problems, sorted by file. */
  problems(): ManifestProblem[] {
    // concatenated, not push(...problems): one file may have more problems than a spread's arguments fit on the stack.
    const pieces: (readonly ManifestProblem[])[] = [];
    for (const whole of [this.directoryProblem, this.scanProblem]) if (whole !== undefined) pieces.push([whole]);
    const refused = this.refusedByFile();
    for (const file of [...new Set([...this.files.keys(), ...refused.keys()])].sort()) {
      const entry = this.files.get(file);
      if (entry !== undefined) pieces.push(entry.problems);
      const problem = refused.get(file);
      if (problem !== undefined) pieces.push([problem]);
    }
    return concatenated(pieces);
  }

  /** One problem per file holding objects ClusterState refused (a flood of them is one line a file). */
  private refusedByFile(): Map<string, ManifestProblem> {
    const byFile = new Map<string, { id: string; message: string; count: number }>();
    for (const [id, { file, message }] of this.unsettled) {
      const seen = byFile.get(file);
      if (seen === undefined || id < seen.id) byFile.set(file, { id, message, count: (seen?.count ?? 0) + 1 });
      else seen.count++;
    }
    const problems = new Map<string, ManifestProblem>();
    for (const [file, { id, message, count }] of byFile) {
      const more = count > 1 ? ` (and ${count - 1} more objects)` : '';
      problems.set(file, problem(file, 'error', 'PORTICO_E_MANIFEST_APPLY', `${id} could not be applied: ${message}${more}; retrying at each scan`));
    }
    return problems;
  }

  /**
   * A scan that rejected (a bug, not bad input): a problem until a scan succeeds, said through
   * onError once, and the next scan applies every file afresh (this one may have stopped halfway).
   */
  private scanFailed(error: unknown, pass: string): void {
    const message = (error as Error)?.message ?? String(error);
    this.resync = true;
    this.scanProblem = problem(this.options.path, 'error', 'PORTICO_E_MANIFEST_APPLY', `the ${pass} failed: ${message}; keeping what was applied, and applying every file afresh at the next scan`);
    this.sayError(error, pass);
    try {
      this.report();
    } catch {
      // onProblems threw too: the next scan reports again.
    }
  }

  private sayError(error: unknown, pass: string): void {
    const message = (error as Error)?.message ?? String(error);
    if (this.errorsSaid.has(message) || this.errorsSaid.size >= MAX_ERRORS_SAID) return;
    this.errorsSaid.add(message);
    this.options.onError?.(error instanceof Error ? error : new Error(message), pass);
  }

  /**
   * Scans now; concurrent calls coalesce into one more scan. With `replacedOnly`, only files whose
   * inode changed (renamed into place) or that vanished are taken; others that changed are left to
   * a debounced scan, scheduled then.
   */
  async reload(replacedOnly = false): Promise<void> {
    if (this.scanning) {
      this.again = true;
      this.againFull ||= !replacedOnly;
      return this.scanning;
    }
    this.scanning = this.scan(replacedOnly).finally(() => (this.scanning = undefined));
    await this.scanning;
    if (this.again && !this.stopped) {
      const full = this.againFull;
      this.again = false;
      this.againFull = false;
      await this.reload(!full);
    }
  }

  /**
   * A scan soon after a manifest file was renamed into place (`replaced`: an atomic save; the scan
   * reads replaced files alone and defers the rest), else one `debounceMs` after the last event.
   * A pending scan of replaced files is not pushed back by other events: it defers what it cannot take.
   */
  private schedule(replaced = false, delayMs?: number): void {
    if (this.stopped) return;
    // A pending scan of replaced files defers what it cannot take; a grace-period rescan (delayMs) never pushes back a pending scan.
    if (!replaced && this.timer !== undefined && (this.replacedOnly || delayMs !== undefined)) return;
    clearTimeout(this.timer);
    this.replacedOnly = replaced;
    const delay = delayMs ?? (replaced ? (this.options.replacedDelayMs ?? 1) : (this.options.debounceMs ?? 50));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.reload(replaced).catch((error: unknown) => this.scanFailed(error, 'file-event scan'));
    }, delay);
    this.timer.unref();
  }

  private watchDirectories(directories: readonly string[]): void {
    const wanted = new Set(directories);
    for (const [dir, watcher] of this.watchers) {
      if (wanted.has(dir)) continue;
      watcher.close();
      this.watchers.delete(dir);
    }
    for (const dir of wanted) {
      if (this.watchers.has(dir) || this.stopped) continue;
      try {
        // An atomic save renames a whole file onto a manifest's name: read it at once; anything else may be a write in progress.
        const watcher = watch(dir, (event, name) => this.schedule(event === 'rename' && typeof name === 'string' && isManifestName(name)));
        watcher.on('error', () => {
          watcher.close();
          this.watchers.delete(dir);
          this.schedule();
        });
        this.watchers.set(dir, watcher);
      } catch {
        // Vanished between the walk and the watch: the next scan sees the new layout.
      }
    }
  }

  private async scan(replacedOnly: boolean): Promise<void> {
    this.scans++;
    let tree;
    try {
      tree = await walkManifestTree(this.options.path);
      this.directoryProblem = undefined;
    } catch (error) {
      // The directory vanished or is unreadable: keep serving what was loaded (nothing that worked stops working).
      this.directoryProblem = problem(this.options.path, 'error', 'PORTICO_E_MANIFEST_READ', `cannot read: ${(error as Error).message}; keeping the last loaded objects`);
      this.report();
      return;
    }
    this.watchDirectories(tree.directories);
    const seen = new Set<string>();
    const changed = new Set<string>();
    let deferred = false;
    for (const full of tree.files) {
      const name = relative(this.options.path, full) || full;
      seen.add(name);
      const next = await this.readFile(full, name, this.files.get(name), replacedOnly);
      if (next === undefined) {
        deferred = true;
        continue;
      }
      if (next !== this.files.get(name)) {
        changed.add(name);
        this.files.set(name, next);
      }
    }
    for (const name of [...this.files.keys()]) {
      if (seen.has(name)) continue;
      this.files.delete(name);
      changed.add(name);
    }
    if (this.resync) {
      // The last scan failed somewhere: every file's objects applied afresh (only those that differ are stored).
      this.byFile.clear();
      this.holders.clear();
      this.apply(new Set(this.files.keys()), new Set(this.applied.keys()), true);
      this.resync = false;
    } else if (changed.size > 0 || this.unsettled.size > 0) this.apply(changed);
    this.scanProblem = undefined;
    if (this.unsettled.size === 0) this.errorsSaid.clear();
    this.report();
    if (deferred) this.schedule();
  }

  /**
   * The entry for one file: the same object when nothing changed. With `replacedOnly`, undefined
   * for a file that changed but was not renamed into place (new, or written in place): it is left
   * to a debounced scan.
   */
  private async readFile(full: string, name: string, previous: FileEntry | undefined, replacedOnly = false): Promise<FileEntry | undefined> {
    const limits = this.options.limits ?? manifestLimits(name);
    let info;
    try {
      info = await stat(full);
    } catch (error) {
      return this.broken(name, previous, `cannot read: ${(error as Error).message}`, 'PORTICO_E_MANIFEST_READ');
    }
    const inode = `${info.dev}:${info.ino}:`;
    const signature = `${inode}${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
    if (previous !== undefined && previous.signature === signature && previous.emptySince === undefined) return previous;
    if (replacedOnly && (previous === undefined || previous.signature === '' || previous.signature.startsWith(inode))) return undefined;
    if (info.size > limits.maxBytes) return this.broken(name, previous, `refused (limit: bytes): the file is ${info.size} bytes; the limit is ${limits.maxBytes} bytes`, 'PORTICO_E_MANIFEST_PARSE', signature);
    const known = previous?.fingerprints ?? new KnownTable<KubeObject>();
    let result: RelativeParseResult;
    let blank: boolean;
    let answer: number | undefined;
    try {
      const parsed = await this.parseFile(full, name, limits, known, previous?.answer);
      if (parsed.ok) this.parses++;
      if (!parsed.ok) return this.broken(name, previous, parsed.code === 'PORTICO_E_MANIFEST_READ' ? `cannot read: ${parsed.message}` : parsed.message, parsed.code, signature);
      ({ result, blank, answer } = parsed);
      this.answered += result.entries.length;
    } catch (error) {
      this.parses++;
      return this.broken(name, previous, `could not be parsed: ${(error as Error).message}`, 'PORTICO_E_MANIFEST_PARSE', signature);
    }
    if (blank && previous !== undefined && previous.objects.length > 0) return this.emptied(name, previous, signature);
    if (result.problems.some((p) => p.severity === 'error') && previous !== undefined && previous.objects.length > 0) {
      return keeping(previous, signature, result.problems);
    }
    const objects = this.objectsOf(result, previous?.objects ?? [], known);
    if (objects === undefined) return this.broken(name, previous, 'the parser skipped a document whose fingerprint it was not given, or answered relative to objects it was not given (a bug)', 'PORTICO_E_MANIFEST_PARSE', signature);
    let fingerprints: KnownTable<KubeObject>;
    let fingerprinted = 0;
    if (previous !== undefined && patchFingerprints(previous, objects)) {
      fingerprints = previous.fingerprints;
      // No fingerprint is held twice (else the patch is refused): one document each.
      fingerprinted = fingerprints.size;
    } else {
      fingerprints = new KnownTable<KubeObject>();
      for (const object of objects) {
        const fingerprint = fingerprintOfObject.get(object);
        if (fingerprint === undefined) continue;
        fingerprinted++;
        fingerprints.set(fingerprint, object);
      }
    }
    return { signature, objects, fingerprints, fingerprinted, answer, problems: result.problems, good: previous?.good === true || !result.problems.some(unparseable) };
  }

  /**
   * The objects `result` stands for: the first `head` and last `tail` of `base` (the objects of
   * the answer it is relative to), and one per entry between (a known fingerprint keeps the very
   * object it named: unchanged documents cost no compare downstream). Undefined when it names a
   * fingerprint `known` does not hold, or more of `base` than there are.
   */
  private objectsOf(result: RelativeParseResult, base: readonly KubeObject[], known: KnownTable<KubeObject>): KubeObject[] | undefined {
    const { head, tail, entries } = result;
    if (head + tail > base.length) return undefined;
    // Copies of the ends (memcpy speed), not a step per object.
    const objects = head === 0 ? [] : base.slice(0, head);
    for (const entry of entries) {
      const object = entry.object ?? (entry.fingerprint === undefined ? undefined : known.get(entry.fingerprint));
      if (object === undefined) return undefined;
      if (entry.fingerprint !== undefined) fingerprintOfObject.set(object, entry.fingerprint);
      objects.push(object);
    }
    const all = tail === 0 ? objects : objects.concat(base.slice(base.length - tail));
    // Made from `base`: patchFingerprints and patch step over these ends without comparing them.
    if (head + tail > 0) recordSealedAgainst(all, base, head, tail);
    return all;
  }

  /**
   * Reads and parses one file: by default in the parser thread, which reads it into a buffer it
   * reuses (no ArrayBuffer per edit on this isolate, whose heap is the large one); with the `parse`
   * option, read here and handed over. Rejects when the parse fails (not for bad input).
   */
  private async parseFile(full: string, name: string, limits: ParseLimits, known: KnownTable<KubeObject>, base: number | undefined): Promise<FileParse> {
    if (this.options.parse === undefined) return sharedParserThread().parseManifestFile(full, name, limits, known, full, base);
    let bytes: Buffer;
    try {
      bytes = await readFile(full);
    } catch (error) {
      return { ok: false, code: 'PORTICO_E_MANIFEST_READ', message: (error as Error).message };
    }
    // Before the parse: it may keep the bytes.
    const blank = isBlank(bytes);
    const { entries, problems } = await this.options.parse(bytes, name, limits, known.keys());
    return { ok: true, result: { entries, problems, head: 0, tail: 0 }, blank, answer: undefined };
  }

  /** A file that cannot be read or parsed at all: its last good objects stay. */
  private broken(name: string, previous: FileEntry | undefined, message: string, code: ManifestProblem['code'], signature = ''): FileEntry {
    const kept = previous !== undefined && previous.objects.length > 0 ? `; keeping its last good ${previous.objects.length} objects` : '';
    const problems = [problem(name, 'error', code, `${message}${kept}`)];
    return previous === undefined ? holdingNothing(signature, problems, false) : keeping(previous, signature, problems);
  }

  /** A file that became empty while it held objects: kept for the grace period, then accepted. */
  private emptied(name: string, previous: FileEntry, signature: string): FileEntry {
    const grace = this.options.emptyGraceMs ?? 5000;
    const since = previous.emptySince ?? Date.now();
    const left = since + grace - Date.now();
    if (left <= 0) return holdingNothing(signature, [], true);
    this.schedule(false, left + 10);
    const message = `the file is empty; keeping its ${previous.objects.length} objects for ${Math.ceil(grace / 1000)} s in case it is being rewritten, then removing them`;
    return keeping(previous, signature, [problem(name, 'warning', 'PORTICO_W_MANIFEST_EMPTY', message)], since);
  }

  /**
   * Applies the objects of the `changed` files to ClusterState: only identities those files held
   * before or hold now are looked at (when several files hold one, the last file by name wins),
   * and only objects that differ from what was applied are stored or removed. Identities in
   * `touched` and those refused before are looked at too; one the state refuses (throws for) is
   * kept unsettled, and the others still flow. `announce`: onChange is called even if nothing changed.
   */
  private apply(changed: ReadonlySet<string>, touched = new Set<string>(), announce = false): void {
    for (const id of this.unsettled.keys()) touched.add(id);
    for (const name of changed) {
      const applied = this.byFile.get(name);
      const entry = this.files.get(name);
      if (entry === undefined) {
        for (const id of applied?.byId.keys() ?? []) {
          touched.add(id);
          removeMember(this.holders, id, name);
        }
        this.byFile.delete(name);
        continue;
      }
      if (applied !== undefined && this.patch(name, applied, entry.objects, touched)) continue;
      const before = applied?.byId;
      const after = new Map<string, KubeObject>();
      for (const object of entry.objects) after.set(identity(object), object);
      // Only identities whose object is not the very one the file held before are looked at, and
      // holders change only for those it gained or lost.
      if (before !== undefined)
        for (const [id, object] of before) {
          if (after.get(id) === object) continue;
          touched.add(id);
          if (after.has(id)) continue;
          removeMember(this.holders, id, name);
        }
      for (const [id, object] of after) {
        if (before?.get(id) === object) continue;
        touched.add(id);
        if (before?.has(id) === true) continue;
        addMember(this.holders, id, name);
      }
      this.byFile.set(name, { objects: entry.objects, byId: after });
    }
    let changedState = announce;
    for (const id of touched) {
      let winner: string | undefined;
      for (const name of membersOf(this.holders, id)) if (winner === undefined || name > winner) winner = name;
      const object = winner === undefined ? undefined : this.byFile.get(winner)!.byId.get(id)!;
      const before = this.applied.get(id);
      if (object === before) {
        this.unsettled.delete(id);
        continue;
      }
      // Recorded as applied only once the state took it: a refused one is looked at again at the next scan.
      try {
        if (object === undefined) {
          if (this.state.remove(before!)) changedState = true;
          this.applied.delete(id);
        } else {
          if (this.state.upsert(object)) changedState = true;
          this.applied.set(id, object);
        }
        this.unsettled.delete(id);
      } catch (error) {
        this.unsettled.set(id, { file: winner ?? this.unsettled.get(id)?.file ?? this.options.path, message: (error as Error)?.message ?? String(error) });
        this.sayError(error, `apply of ${id}${winner === undefined ? '' : ` from ${winner}`}`);
      }
    }
    if (changedState) this.options.onChange();
  }

  /**
   * Patches `applied` (the file's last applied objects) to `objects` at the cost of the edit: the
   * lists' common ends (sameObjectEnds) are stepped over, and only the identities of
   * the objects between them are looked at (an edit of one document among thousands: one). False,
   * with nothing changed, when the result would not be what a rebuild from `objects` gives (an
   * identity held twice in the file, before or after): the caller rebuilds.
   */
  private patch(name: string, applied: AppliedFile, objects: readonly KubeObject[], touched: Set<string>): boolean {
    const { objects: base, byId } = applied;
    if (byId.size !== base.length) return false;
    const m = base.length;
    const n = objects.length;
    const { head, tail } = sameObjectEnds(base, objects);
    const gone = new Map<string, KubeObject>();
    for (let i = head; i < m - tail; i++) gone.set(identity(base[i]!), base[i]!);
    const come = new Map<string, KubeObject>();
    for (let i = head; i < n - tail; i++) come.set(identity(objects[i]!), objects[i]!);
    // Also held by a document the edit did not touch: a duplicate (one twice in the middle is left
    // to the next edit, which finds fewer identities than objects and rebuilds).
    for (const id of come.keys()) if (byId.has(id) && !gone.has(id)) return false;
    for (const [id, object] of gone) {
      if (come.get(id) === object) continue;
      touched.add(id);
      if (come.has(id)) continue;
      byId.delete(id);
      removeMember(this.holders, id, name);
    }
    for (const [id, object] of come) {
      if (gone.get(id) === object) continue;
      touched.add(id);
      if (!gone.has(id)) addMember(this.holders, id, name);
      byId.set(id, object);
    }
    this.byFile.set(name, { objects, byId });
    return true;
  }

  private report(): void {
    const problems = this.problems();
    const text = JSON.stringify(problems);
    if (text === this.lastProblems) return;
    this.lastProblems = text;
    this.options.onProblems(problems);
  }
}
