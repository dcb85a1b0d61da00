/**
 * A file's known fingerprints (those of its documents whose objects the watcher holds), kept on
 * both sides of the parser thread: the watcher's KnownTable, and the thread's KnownMirrors, a copy
 * of each file's table that a job updates with what changed since the previous job (an edit of one
 * document among thousands: a slot or two) rather than the whole list (~3,500 strings per edit of a
 * bench:fleet file at 50k, copied across threads and indexed again). Each fingerprint sits in a
 * numbered slot, the same on both sides, so the thread answers a known document by its slot.
 *
 * Every update names the generation it builds on; the thread applies it only to a copy of exactly
 * that generation, and otherwise answers "stale" (a fresh thread after a restart, a copy dropped
 * for room, another table under the same key in between), and the watcher sends the whole table.
 * Generations are unique over the process, so no two tables' updates are ever taken for each other.
 */

/** What a job tells the thread of a file's known fingerprints: the whole table, or what changed since `base`. */
export type KnownUpdate =
  | { readonly generation: number; readonly base?: undefined; readonly names: readonly string[] }
  | { readonly generation: number; readonly base: number; readonly slots: Int32Array; readonly names: readonly string[] };

/** Generations over the whole process (every table): an update matches only the copy it was made for. */
let lastGeneration = 0;

/**
 * A file's known fingerprints and the object each names, in numbered slots (a freed slot is ''
 * and is taken again first), with the slots changed since the parser thread's copy was last made
 * alike. Map-like; `update` makes what the next job carries.
 */
export class KnownTable<T> {
  private readonly slotOf = new Map<string, number>();
  private readonly slotNames: string[] = [];
  private readonly slotValues: (T | undefined)[] = [];
  private readonly free: number[] = [];
  /** Slots changed since the generation `synced` (meaningless while it is undefined). */
  private readonly changed = new Set<number>();
  /** The generation the thread's copy is known to be, if any. */
  private synced: number | undefined;
  /** The last generation an update was made for. */
  private issued = 0;

  /** An update that is the whole list `names` (slot i: names[i]), for a caller that keeps no table. */
  static whole(names: readonly string[]): KnownUpdate {
    return { generation: ++lastGeneration, names };
  }

  /** Fingerprints held. */
  get size(): number {
    return this.slotOf.size;
  }

  /** The fingerprint in each slot ('' for a free one): a known entry of the thread's answer is an index into it. */
  get names(): readonly string[] {
    return this.slotNames;
  }

  /** The value held for `fingerprint`, or undefined when it is not held. */
  get(fingerprint: string): T | undefined {
    const slot = this.slotOf.get(fingerprint);
    return slot === undefined ? undefined : this.slotValues[slot];
  }

  /** Whether `fingerprint` is held. */
  has(fingerprint: string): boolean {
    return this.slotOf.has(fingerprint);
  }

  /** Holds `value` for `fingerprint` (its slot kept when it was held already; '' is refused: it marks a free slot). */
  set(fingerprint: string, value: T): void {
    if (fingerprint === '') throw new RangeError('a fingerprint is never empty');
    let slot = this.slotOf.get(fingerprint);
    if (slot === undefined) {
      slot = this.free.pop() ?? this.slotNames.length;
      this.slotOf.set(fingerprint, slot);
      this.slotNames[slot] = fingerprint;
      this.changed.add(slot);
    }
    this.slotValues[slot] = value;
  }

  /** Drops `fingerprint`; false when it was not held. */
  delete(fingerprint: string): boolean {
    const slot = this.slotOf.get(fingerprint);
    if (slot === undefined) return false;
    this.slotOf.delete(fingerprint);
    this.slotNames[slot] = '';
    this.slotValues[slot] = undefined;
    this.free.push(slot);
    this.changed.add(slot);
    return true;
  }

  /** Calls `each` with every value and its fingerprint, in slot order. */
  forEach(each: (value: T, fingerprint: string) => void): void {
    for (let slot = 0; slot < this.slotNames.length; slot++) if (this.slotNames[slot] !== '') each(this.slotValues[slot]!, this.slotNames[slot]!);
  }

  /** The fingerprints held, in slot order, in an array sized once. */
  keys(): string[] {
    const keys = new Array<string>(this.slotOf.size);
    let at = 0;
    for (const name of this.slotNames) if (name !== '') keys[at++] = name;
    return keys;
  }

  /**
   * What the next job tells the thread: the slots changed since its copy was last confirmed, or
   * the whole table when no copy is known to be there (none confirmed yet, a job failed or went
   * stale since, or another job is still in flight). Call `confirm` with it once the thread
   * answered it, `lost` when the job failed or the thread answered stale.
   */
  update(): KnownUpdate {
    const generation = ++lastGeneration;
    const base = this.synced;
    // Until this update is confirmed, the thread's copy is not known to be any generation.
    this.synced = undefined;
    this.issued = generation;
    if (base === undefined) {
      this.changed.clear();
      return { generation, names: this.slotNames.slice() };
    }
    // In slot order: a table grown by several slots sends them in the order the copy grows.
    const slots = Int32Array.from(this.changed).sort();
    this.changed.clear();
    const names = new Array<string>(slots.length);
    for (let k = 0; k < slots.length; k++) names[k] = this.slotNames[slots[k]!]!;
    return { generation, base, slots, names };
  }

  /** The thread answered `update`: its copy is that generation (unless a later update was made since). */
  confirm(update: KnownUpdate): void {
    if (update.generation === this.issued) this.synced = update.generation;
  }

  /** The thread's copy is unknown (a job failed or was answered stale): the next update is the whole table. */
  lost(): void {
    this.synced = undefined;
  }
}

/** A file's known fingerprints as the thread holds them: the slots' names, and each name's slot. */
export interface KnownCopy {
  readonly generation: number;
  readonly names: string[];
  /** Slot of each fingerprint (also the parse's known set). */
  readonly index: Map<string, number>;
}

/**
 * The thread's copies of the files' known tables, by file key, the least recently used dropped
 * first past `maxFingerprints` over all files (default 262,144: ~40 MB of heap; a dropped copy only
 * costs the file's next job a round trip and the whole list).
 */
export class KnownMirrors {
  private readonly copies = new Map<string, KnownCopy>();
  private total = 0;
  private readonly maxFingerprints: number;

  constructor(maxFingerprints = 262_144) {
    this.maxFingerprints = maxFingerprints;
  }

  /** Fingerprints held over all files (slots, free ones included). */
  get fingerprints(): number {
    return this.total;
  }

  /**
   * The copy under `key` once `update` is applied, or undefined when `update` builds on a
   * generation the copy is not (stale: the copy, if any, is left as it was). Throws RangeError
   * for an update that does not fit its slots (a bug on the sending side).
   */
  apply(key: string, update: KnownUpdate): KnownCopy | undefined {
    const before = this.copies.get(key);
    if (update.base !== undefined && before?.generation !== update.base) return undefined;
    let copy: KnownCopy;
    if (update.base === undefined) {
      const index = new Map<string, number>();
      for (let slot = 0; slot < update.names.length; slot++) if (update.names[slot] !== '') index.set(update.names[slot]!, slot);
      // The job's own array (a structured clone), kept as the copy.
      copy = { generation: update.generation, names: update.names as string[], index };
    } else {
      const { names, index } = before!;
      if (update.slots.length !== update.names.length) throw new RangeError(`known update: ${update.slots.length} slots, ${update.names.length} names`);
      for (let k = 0; k < update.slots.length; k++) {
        const slot = update.slots[k]!;
        if (slot < 0 || slot > names.length) throw new RangeError(`known update: slot ${slot} of ${names.length}`);
        const old = names[slot];
        if (old !== undefined && old !== '' && index.get(old) === slot) index.delete(old);
        names[slot] = update.names[k]!;
        if (update.names[k] !== '') index.set(update.names[k]!, slot);
      }
      copy = { generation: update.generation, names, index };
    }
    this.total -= before?.names.length ?? 0;
    this.copies.delete(key);
    this.copies.set(key, copy);
    this.total += copy.names.length;
    for (const [oldest, dropped] of this.copies) {
      if (this.total <= this.maxFingerprints || oldest === key) break;
      this.copies.delete(oldest);
      this.total -= dropped.names.length;
    }
    return copy;
  }
}
