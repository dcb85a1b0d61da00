/**
 * Configuration parsing off the traffic path: one long-lived worker thread runs the bounded
 * parsers (`bounded.ts`) for manifest files and API bodies, so even the largest allowed input
 * never stalls the event loop that also serves traffic in standalone mode. The thread's heap is
 * capped; a parse that runs past its deadline or exhausts that heap kills the thread (a fresh
 * one starts on the next job) and fails only the jobs it held. The queue is bounded.
 */
import { Worker } from 'node:worker_threads';
import type { KnownEntry, KnownParseResult, ManifestParseResult } from './parse.ts';
import type { RelativeParseResult } from './incremental.ts';
import type { ParsedDocument, ParseLimits } from './bounded.ts';
import { PorticoError } from '../../errors.ts';
import type { KnownUpdate } from './known-table.ts';
import { KnownTable } from './known-table.ts';

/** What the worker is asked to parse. */
export type ParseJob =
  | { readonly id: number; readonly kind: 'manifest'; readonly text: string; readonly file: string; readonly limits?: ParseLimits }
  | { readonly id: number; readonly kind: 'known'; readonly bytes: Uint8Array; readonly file: string; readonly key?: string; readonly limits: ParseLimits; readonly known: KnownUpdate }
  /** `base`: the answer (its `known.generation`) whose objects the caller holds for `key`, in order: the answer may be relative to it. */
  | { readonly id: number; readonly kind: 'file'; readonly path: string; readonly file: string; readonly key: string; readonly limits: ParseLimits; readonly known: KnownUpdate; readonly base?: number }
  | { readonly id: number; readonly kind: 'json' | 'yaml'; readonly text: string; readonly limits?: ParseLimits };

/**
 * A RelativeParseResult as the thread sends it: each entry whose document was known is the slot of
 * its fingerprint in the file's known table (KnownTable), not an object with a copy of the string;
 * and when the answer is relative, only the entries between the `head` and `tail` it takes over
 * from the answer the caller holds (an edit of one document of a file of thousands: one entry).
 */
export interface PackedKnownResult {
  /** Entries at the start and at the end that are the base answer's (0 and 0: the answer is whole). */
  readonly head: number;
  readonly tail: number;
  /** Per entry, in order: the slot of its fingerprint in the known table, or -1 for the next of `fresh`. */
  readonly at: Int32Array;
  /** The other entries, in order. */
  readonly fresh: KnownEntry[];
  readonly problems: KnownParseResult['problems'];
}

/** Each fingerprint of `known` by its index in it (the last index of one listed twice). */
export function knownIndex(known: readonly string[]): Map<string, number> {
  const index = new Map<string, number>();
  for (let i = 0; i < known.length; i++) index.set(known[i]!, i);
  return index;
}

/**
 * `result` packed against `known` (the list the job gave): see PackedKnownResult. `index` is
 * knownIndex(known) when the caller made it already (the parse's known set, in the thread).
 */
export function packKnownResult(result: KnownParseResult | RelativeParseResult, known: readonly string[], index: ReadonlyMap<string, number> = knownIndex(known)): PackedKnownResult {
  const at = new Int32Array(result.entries.length);
  const fresh: KnownEntry[] = [];
  for (let i = 0; i < result.entries.length; i++) {
    const entry = result.entries[i]!;
    const k = entry.object === undefined && entry.fingerprint !== undefined ? index.get(entry.fingerprint) : undefined;
    if (k !== undefined) at[i] = k;
    else {
      at[i] = -1;
      fresh.push(entry);
    }
  }
  return { head: 'head' in result ? result.head : 0, tail: 'tail' in result ? result.tail : 0, at, fresh, problems: result.problems };
}

/**
 * The RelativeParseResult `packed` stands for, its known entries holding `known`'s own strings (the
 * known table's slots: '' is a free one). Throws PORTICO_E_PARSER_FAILED when `packed` does not
 * fit `known` (an index out of range or of a free slot, too few or too many fresh entries, a
 * negative or fractional head or tail).
 */
export function unpackKnownResult(packed: PackedKnownResult, known: readonly string[]): RelativeParseResult {
  const { head, tail } = packed;
  if (!Number.isSafeInteger(head) || !Number.isSafeInteger(tail) || head < 0 || tail < 0) throw new PorticoError('PORTICO_E_PARSER_FAILED', `parser thread answered head ${head} and tail ${tail}`);
  const entries: KnownEntry[] = new Array<KnownEntry>(packed.at.length);
  let next = 0;
  for (let i = 0; i < packed.at.length; i++) {
    const k = packed.at[i]!;
    if (k === -1) {
      const entry = packed.fresh[next++];
      if (entry === undefined) throw new PorticoError('PORTICO_E_PARSER_FAILED', `parser thread answered entry ${i} as fresh, but sent only ${packed.fresh.length} fresh entries`);
      entries[i] = entry;
    } else if (k >= 0 && k < known.length && known[k] !== '') entries[i] = { fingerprint: known[k]! };
    else throw new PorticoError('PORTICO_E_PARSER_FAILED', `parser thread answered entry ${i} with known fingerprint ${k}, but was given ${known.length}`);
  }
  if (next !== packed.fresh.length) throw new PorticoError('PORTICO_E_PARSER_FAILED', `parser thread sent ${packed.fresh.length} fresh entries for ${next} places`);
  return { entries, problems: packed.problems, head, tail };
}

/** What a parse produced. */
export type ParseResult =
  | { readonly kind: 'manifest'; readonly result: ManifestParseResult }
  | { readonly kind: 'known'; readonly result: PackedKnownResult }
  | { readonly kind: 'file'; readonly result: PackedKnownResult; readonly blank: boolean }
  | { readonly kind: 'unread'; readonly code: 'PORTICO_E_MANIFEST_READ' | 'PORTICO_E_MANIFEST_PARSE'; readonly message: string }
  /** The job's known update builds on a generation the thread's copy is not: nothing was done; send the whole table. */
  | { readonly kind: 'stale' }
  | { readonly kind: 'documents'; readonly documents: ParsedDocument[] };

/**
 * A manifest file read and parsed by the thread (parseManifestFile): its result (relative to the
 * answer `base` the job named, when its `head` or `tail` is not 0), the answer's own id (the next
 * job's `base` once its objects are held; undefined when no relative answer may follow it) and whether its
 * content is blank, or why it could not be read (`PORTICO_E_MANIFEST_PARSE`: larger than the limit).
 */
export type FileParse = { readonly ok: true; readonly result: RelativeParseResult; readonly blank: boolean; readonly answer: number | undefined } | { readonly ok: false; readonly code: 'PORTICO_E_MANIFEST_READ' | 'PORTICO_E_MANIFEST_PARSE'; readonly message: string };

/** What the worker answers: a result, or the message of an unexpected error. */
export type ParseReply = { readonly id: number; readonly result: ParseResult; readonly error?: undefined } | { readonly id: number; readonly error: string; readonly result?: undefined };

type JobInput = ParseJob extends infer J ? (J extends { id: number } ? Omit<J, 'id'> : never) : never;

/** Options of the parser thread. */
export interface ParserThreadOptions {
  /**
   * Longest one parse may take, from when the thread starts it (the one before it ended), before
   * the thread is killed (default 120 s: a 4 MiB manifest file takes tens of seconds on a loaded
   * core; this bounds a pathological one). Jobs waiting behind a slow one are not charged for it.
   */
  readonly timeoutMs?: number;
  /** Most jobs waiting at once; more are refused with PORTICO_E_PARSER_BUSY (default 256). */
  readonly maxQueued?: number;
  /** Heap of the thread in MiB (default 1024). */
  readonly maxHeapMb?: number;
}

interface Pending {
  readonly resolve: (reply: ParseResult) => void;
  readonly reject: (error: Error) => void;
}

/** A worker thread that parses; `parse*` resolve with results, reject with PorticoError PORTICO_E_PARSER_*. */
export class ParserThread {
  private worker: Worker | undefined;
  /** Jobs sent and not answered, in the order sent: the thread runs them one at a time in that order. */
  private readonly pending = new Map<number, Pending>();
  /** The deadline of the job the thread is running (the first pending one). */
  private deadline: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly options: Required<ParserThreadOptions>;
  private closed = false;

  constructor(options: ParserThreadOptions = {}) {
    this.options = { timeoutMs: options.timeoutMs ?? 120_000, maxQueued: options.maxQueued ?? 256, maxHeapMb: options.maxHeapMb ?? 1024 };
  }

  /** Parses one manifest file's text (objects and problems, as parseManifestText). */
  async parseManifest(text: string, file: string, limits?: ParseLimits): Promise<ManifestParseResult> {
    const result = await this.submit({ kind: 'manifest', text, file, ...(limits ? { limits } : {}) });
    if (result.kind !== 'manifest') throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered the wrong kind');
    return result.result;
  }

  /**
   * Parses one manifest file's content skipping the documents whose fingerprints are `known` (as
   * parseManifestKnown of its UTF-8 text), following the edit from the file's previous parse the
   * thread keeps (ManifestParseCache) under `key` (default `file`; the thread is shared, so pass a
   * name unique over every source, such as the full path). `bytes` is moved to the thread when it
   * is a whole buffer of its own: the caller must not use it afterwards.
   */
  async parseManifestKnown(bytes: Uint8Array, file: string, limits: ParseLimits, known: readonly string[], key?: string): Promise<KnownParseResult> {
    // The whole list, every time (the bytes move to the thread: a stale answer could not be sent again).
    const update = KnownTable.whole(known);
    const result = await this.submit({ kind: 'known', bytes, file, limits, known: update, ...(key === undefined ? {} : { key }) });
    if (result.kind !== 'known') throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered the wrong kind');
    // Never relative: the job named no base.
    const { entries, problems, head, tail } = unpackKnownResult(result.result, known);
    if (head !== 0 || tail !== 0) throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered relative to no base');
    return { entries, problems };
  }

  /**
   * Reads the manifest file at `path` in the thread (into a buffer the thread reuses: no ArrayBuffer
   * per edit on the caller's isolate) and parses it as parseManifestKnown does, skipping the
   * documents whose fingerprints `known` holds, following the edit from the file's previous parse
   * kept under `key` (default `path`). The thread keeps a copy of `known` under `key` too, and the
   * job carries only what changed in it since (see KnownTable; a stale copy costs one more round
   * trip with the whole table). `file` names it in problems. `base` is the `answer` of an earlier
   * parse of this key whose objects the caller holds, in order: the result may then be relative
   * to it (see RelativeParseResult), at the cost of the edit. A file that cannot be read, or is
   * larger than `limits.maxBytes`, is a value (`ok: false`), not a rejection; rejects with
   * PORTICO_E_PARSER_* as the other parses do.
   */
  async parseManifestFile(path: string, file: string, limits: ParseLimits, known: KnownTable<unknown>, key: string = path, base?: number): Promise<FileParse> {
    for (let attempt = 0; ; attempt++) {
      const update = known.update();
      let result: ParseResult;
      try {
        result = await this.submit({ kind: 'file', path, file, key, limits, known: update, ...(base === undefined ? {} : { base }) });
      } catch (error) {
        known.lost();
        throw error;
      }
      if (result.kind === 'stale') {
        known.lost();
        if (attempt === 0) continue;
        throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered stale to a whole known table');
      }
      known.confirm(update);
      if (result.kind === 'unread') return { ok: false, code: result.code, message: result.message };
      if (result.kind !== 'file') throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered the wrong kind');
      // The thread answers as the job's generation (unique over the process).
      return { ok: true, result: unpackKnownResult(result.result, known.names), blank: result.blank, answer: update.generation };
    }
  }

  /** Parses JSON (one value) or YAML (every document) within `limits`. */
  async parseDocuments(format: 'json' | 'yaml', text: string, limits?: ParseLimits): Promise<ParsedDocument[]> {
    const result = await this.submit({ kind: format, text, ...(limits ? { limits } : {}) });
    if (result.kind !== 'documents') throw new PorticoError('PORTICO_E_PARSER_FAILED', 'parser thread answered the wrong kind');
    return result.documents;
  }

  /** Stops the thread; pending jobs fail. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new PorticoError('PORTICO_E_PARSER_FAILED', 'the parser thread was stopped'));
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private submit(input: JobInput): Promise<ParseResult> {
    if (this.closed) return Promise.reject(new PorticoError('PORTICO_E_PARSER_FAILED', 'the parser thread was stopped'));
    if (this.pending.size >= this.options.maxQueued) return Promise.reject(new PorticoError('PORTICO_E_PARSER_BUSY', `${this.pending.size} parses are already waiting; try again`));
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // The thread starts it now; else when the jobs before it are answered.
      if (this.pending.size === 1) this.startDeadline();
      // A parse in flight keeps the process alive; an idle thread never does.
      worker.ref();
      // A file's bytes move to the thread rather than being copied, when they are a buffer of their own.
      const bytes = input.kind === 'known' ? input.bytes : undefined;
      const movable = bytes !== undefined && bytes.buffer instanceof ArrayBuffer && bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      worker.postMessage({ ...input, id } as ParseJob, movable ? [bytes.buffer as ArrayBuffer] : []);
    });
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL('./parser-worker.ts', import.meta.url), {
      name: 'manifest-parser',
      resourceLimits: { maxOldGenerationSizeMb: this.options.maxHeapMb, maxYoungGenerationSizeMb: 64, stackSizeMb: 4 },
    });
    worker.on('message', (reply: ParseReply) => {
      const job = this.pending.get(reply.id);
      if (job === undefined) return;
      this.pending.delete(reply.id);
      // The next job starts as this one is answered.
      if (this.pending.size === 0) {
        clearTimeout(this.deadline);
        worker.unref();
      } else this.startDeadline();
      if (reply.error !== undefined) job.reject(new PorticoError('PORTICO_E_PARSER_FAILED', reply.error));
      else job.resolve(reply.result);
    });
    worker.on('error', (error) => {
      const outOfMemory = (error as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.restart(new PorticoError('PORTICO_E_PARSER_FAILED', outOfMemory ? `parsing needed more than ${this.options.maxHeapMb} MiB and was stopped` : `the parser thread failed: ${error.message}`));
    });
    worker.on('exit', () => {
      if (this.worker === worker) this.restart(new PorticoError('PORTICO_E_PARSER_FAILED', 'the parser thread exited'));
    });
    // After the listeners: adding a 'message' listener refs the thread's port again (Node 24), and
    // a ref'd port keeps a process that is done (standalone after SIGTERM) alive forever.
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private startDeadline(): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      // Everything the thread holds goes with it (the jobs queued behind too); a fresh thread serves the next job.
      this.restart(new PorticoError('PORTICO_E_PARSER_FAILED', `parsing took longer than ${this.options.timeoutMs} ms and was stopped`));
    }, this.options.timeoutMs);
    this.deadline.unref();
  }

  private restart(reason: Error): void {
    const worker = this.worker;
    this.worker = undefined;
    this.failAll(reason);
    void worker?.terminate();
  }

  private failAll(reason: Error): void {
    clearTimeout(this.deadline);
    for (const job of this.pending.values()) job.reject(reason);
    this.pending.clear();
  }
}

let shared: ParserThread | undefined;

/** The process's parser thread (started on first use, never keeps the process alive). */
export function sharedParserThread(): ParserThread {
  shared ??= new ParserThread();
  return shared;
}
