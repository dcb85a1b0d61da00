/**
 * The last good snapshot on disk, written in proportion to the change: a base file (the whole
 * snapshot as JSON, `LAST_GOOD_FILE`, written when a full snapshot arrives and when the journal
 * has grown) and a journal beside it (`LAST_GOOD_JOURNAL`) of the sync deltas applied since, one
 * checksummed line each, appended and fsynced. Writing a version made by a delta costs that
 * delta's text, not the world's (the base at 10k Ingresses is ~10 MB).
 *
 * Restoring parses the base (its content hash checked, `parseSnapshot`) and replays the journal
 * (each delta checked to yield its announced version, `applyDelta`), so what is served is always a
 * whole, verified version. A base that does not parse is refused (nothing restored); a journal of
 * another base is ignored; a journal line cut short (a crash while appending) or damaged ends the
 * replay at the version before it, loudly, and the next write starts a fresh base.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Snapshot } from '@portico/control/snapshot';
import { parseSnapshot } from '@portico/control/snapshot';
import { applyDelta } from '@portico/control/snapshot/delta';
import type { Logger } from './logging.ts';

/** The file holding the last good snapshot (the journal's base) inside `--data-dir`. */
export const LAST_GOOD_FILE = 'last-good-snapshot.json';
/** The deltas applied since the base, one `<sha256 hex> <json>` line each after a header line naming the base. */
export const LAST_GOOD_JOURNAL = 'last-good-snapshot.journal';

/** Deltas in the journal at most before the next version is written as a fresh base (bounds the replay at start). */
export const JOURNAL_MAX_ENTRIES = 256;
/** The journal's bytes at most, as a fraction of the base's, before a fresh base is written: rewriting stays a small share of the writes. */
const JOURNAL_MAX_SHARE = 0.5;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const line = (text: string): string => `${sha256(text)} ${text}\n`;

/** What `restore` found: the version to serve, and how many journal deltas led to it. */
export interface Restored {
  readonly snapshot: Snapshot;
  readonly replayed: number;
}

/** The last-good files of one data directory. One writer at a time (the sync loop awaits each write). */
export class LastGoodStore {
  readonly #dir: string;
  readonly #logger: Logger | undefined;
  /** The JSON of snapshot items written to a base, by item (versions share their unchanged items). */
  readonly #items = new WeakMap<object, string>();
  /** The journal as it is on disk: the base it follows (undefined: none usable, the next write is a base), its entries and bytes. */
  #journal: { base: string; baseBytes: number; entries: number; bytes: number } | undefined;
  /** Writes since the store was made: bases and appended deltas (tests, logs). */
  readonly stats = { bases: 0, appended: 0 };

  constructor(dir: string, logger?: Logger) {
    this.#dir = dir;
    this.#logger = logger;
  }

  /**
   * The last good snapshot, or undefined when there is none or its base is unusable (logged as a
   * warning, never thrown). A journal that does not follow the base, or a line of it that is cut
   * short or damaged, leaves the version before it (logged); the next write is then a fresh base.
   */
  async restore(): Promise<Restored | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.#dir, LAST_GOOD_FILE), 'utf8');
    } catch {
      return undefined;
    }
    let snapshot: Snapshot;
    try {
      snapshot = parseSnapshot(JSON.parse(text));
    } catch (error) {
      this.#logger?.error({ err: error, file: LAST_GOOD_FILE }, 'refusing an unusable last good snapshot on disk: serving nothing until the control plane answers');
      return undefined;
    }
    const base = sha256(text);
    let journal: string;
    try {
      journal = await readFile(join(this.#dir, LAST_GOOD_JOURNAL), 'utf8');
    } catch {
      return { snapshot, replayed: 0 };
    }
    const lines = journal.split('\n');
    // The text after the last newline is a line whose write did not finish ('' when every one did).
    const torn = lines.pop()!;
    const header = lines.length > 0 ? checked(lines[0]!) : undefined;
    if (header !== `{"base":"${base}"}`) {
      this.#logger?.warn({ file: LAST_GOOD_JOURNAL }, 'ignoring a last-good journal that does not follow the base on disk; serving the base');
      return { snapshot, replayed: 0 };
    }
    let replayed = 0;
    for (const entry of lines.slice(1)) {
      const delta = checked(entry);
      try {
        if (delta === undefined) throw new Error('its checksum does not match');
        snapshot = applyDelta(snapshot, JSON.parse(delta));
        replayed++;
      } catch (error) {
        this.#logger?.error({ err: error, file: LAST_GOOD_JOURNAL, line: replayed + 2, version: snapshot.version }, 'a damaged last-good journal line: serving the version before it (the next write starts a fresh base)');
        return { snapshot, replayed };
      }
    }
    if (torn !== '') {
      this.#logger?.warn({ file: LAST_GOOD_JOURNAL, version: snapshot.version }, 'the last line of the last-good journal was cut short (a write did not finish): serving the version before it');
      return { snapshot, replayed };
    }
    this.#journal = { base, baseBytes: text.length, entries: replayed, bytes: journal.length };
    return { snapshot, replayed };
  }

  /**
   * Makes `snapshot` the last good one. `delta`: the sync delta (as received, without its compiled
   * chunks) that made it from the version written last; then, while the journal is small, only
   * that delta is appended. Otherwise (a full snapshot, no usable journal, a journal grown past
   * its bounds) the snapshot is written as a fresh base with an empty journal. Each file is
   * written beside its name, synced and renamed over it; appends are synced. 0600: snapshots hold
   * TLS private keys. Rejects on I/O errors (the next write is then a fresh base).
   */
  async persist(snapshot: Snapshot, delta?: object): Promise<void> {
    const journal = this.#journal;
    if (delta !== undefined && journal !== undefined) {
      const text = line(JSON.stringify(delta));
      if (journal.entries < JOURNAL_MAX_ENTRIES && journal.bytes + text.length <= Math.max(journal.baseBytes * JOURNAL_MAX_SHARE, 64 * 1024)) {
        // Unknown until the append is synced: a failed append leaves a line the replay stops at, so the next write is a base.
        this.#journal = undefined;
        await writeSynced(join(this.#dir, LAST_GOOD_JOURNAL), text, 'a');
        this.#journal = { ...journal, entries: journal.entries + 1, bytes: journal.bytes + text.length };
        this.stats.appended++;
        return;
      }
    }
    await this.#writeBase(snapshot);
  }

  async #writeBase(snapshot: Snapshot): Promise<void> {
    this.#journal = undefined;
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const text = snapshotText(snapshot, this.#items);
    const base = sha256(text);
    const header = line(`{"base":"${base}"}`);
    // The base first: a crash before the journal is replaced leaves a journal naming the old base, which restore ignores.
    await this.#replace(LAST_GOOD_FILE, text);
    await this.#replace(LAST_GOOD_JOURNAL, header);
    const directory = await open(this.#dir, 'r');
    await directory.sync().finally(() => directory.close());
    this.#journal = { base, baseBytes: text.length, entries: 0, bytes: header.length };
    this.stats.bases++;
  }

  async #replace(name: string, text: string): Promise<void> {
    const path = join(this.#dir, name);
    const temporary = `${path}.${process.pid}.tmp`;
    await writeSynced(temporary, text, 'w');
    await rename(temporary, path);
  }
}

/** Writes (`w`) or appends (`a`) `text` to `path` (made 0600: snapshots hold TLS private keys) and syncs it before resolving. */
async function writeSynced(path: string, text: string, flags: 'a' | 'w'): Promise<void> {
  const handle = await open(path, flags, 0o600);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The text of a `<sha256 hex> <text>` journal line, or undefined when it is not one or its checksum does not match. */
function checked(entry: string): string | undefined {
  if (entry.length < 65 || entry[64] !== ' ') return undefined;
  const text = entry.slice(65);
  return sha256(text) === entry.slice(0, 64) ? text : undefined;
}

/**
 * `JSON.stringify(snapshot)`, the same text, with the JSON of each item of its lists (hosts,
 * endpoint sets, certificates) taken from `items` when that item object was written before: a
 * version made by deltas shares every item it did not change with the last base, so writing a
 * fresh base costs the changed items plus one join, not a walk over every host.
 */
export function snapshotText(snapshot: Snapshot, items: WeakMap<object, string>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(snapshot)) {
    if (value === undefined || typeof value === 'function') continue;
    if (!Array.isArray(value)) {
      parts.push(`${JSON.stringify(key)}:${JSON.stringify(value)}`);
      continue;
    }
    const texts = value.map((item: unknown) => {
      if (typeof item !== 'object' || item === null) return JSON.stringify(item) ?? 'null';
      let text = items.get(item);
      if (text === undefined) items.set(item, (text = JSON.stringify(item)));
      return text;
    });
    parts.push(`${JSON.stringify(key)}:[${texts.join(',')}]`);
  }
  return `{${parts.join(',')}}`;
}
