/**
 * The endpoints of a loaded snapshot: refs by id, ids by key (`address:port`), the stand-in of
 * invalid backends and the session tokens. A version whose bundle says which endpoint lines
 * changed since the version loaded before it (a bundle made in this process: endpointLinesOf) is
 * that version's endpoints with those lines patched: refs in shared pages, ids over a shared map,
 * tokens carried by key. An endpoint change then costs its lines, not the snapshot's endpoints
 * (150,000 at 50,000 Ingresses). Any other version (a received bundle's text, a new numbering) is
 * read whole, keeping the refs of the ids whose endpoint stayed.
 */
import { createHash } from 'node:crypto';
import { Pages } from '@portico/assembly/encode';
import type { EndpointLines, TableBundle } from '@portico/control/snapshot/bundle';
import { endpointLinesOf } from '@portico/control/snapshot/bundle';
import { INVALID_BACKEND_PORT } from '@portico/control/snapshot/table';

/** An endpoint of the loaded snapshot. `key` (`address:port`) identifies it across snapshots; '' for a gap (isGap). */
export interface EndpointRef {
  readonly id: number;
  readonly key: string;
  readonly address: string;
  readonly port: number;
}

/**
 * Whether `ref` is a gap: an id no endpoint holds (endpoint ids are slots of a history-independent
 * table, endpoint-slots.ts). No set names a gap, so no pick returns one; lists of endpoints skip them.
 */
export function isGap(ref: EndpointRef): boolean {
  return ref.key === '';
}

/** The ref of gap `id` (no address, port -1: never connected to). */
function gapRef(id: number): EndpointRef {
  return { id, key: '', address: '', port: -1 };
}

/** `address:port`, with IPv6 addresses in brackets. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Changed lines a load patches at most; more are read as a new version (a change of thousands of endpoints is rare and costs its size either way). */
const PATCH_MAX_LINES = 4096;

/** Entries an id map keeps over its shared base before it is made whole again (one full copy per that many changed endpoints). */
const OVERLAY_MAX = 2048;

/**
 * Ids by string (endpoint key or session token): a base map shared by the versions made from it
 * plus this version's differences from it (-1: not in this version). Immutable.
 */
export class IdMap implements ReadonlyMap<string, number> {
  readonly size: number;
  readonly #base: ReadonlyMap<string, number>;
  readonly #overlay: ReadonlyMap<string, number>;

  private constructor(base: ReadonlyMap<string, number>, overlay: ReadonlyMap<string, number>, size: number) {
    this.#base = base;
    this.#overlay = overlay;
    this.size = size;
  }

  /** The map of `entries` (a later entry of the same key wins, as `new Map` does). */
  static of(entries: Iterable<readonly [string, number]>): IdMap {
    const base = new Map(entries);
    return new IdMap(base, new Map(), base.size);
  }

  /**
   * This map with the keys of `removed` gone (each where it maps to its given id) and `added` set:
   * the cost of the two lists while the differences from the base stay few. Undefined when an
   * added key is already in the map (the version has a key twice: the caller makes it whole).
   */
  patched(removed: readonly (readonly [string, number])[], added: readonly (readonly [string, number])[]): IdMap | undefined {
    const overlay = new Map(this.#overlay);
    let size = this.size;
    const get = (key: string): number | undefined => {
      const own = overlay.get(key);
      return own === undefined ? this.#base.get(key) : own < 0 ? undefined : own;
    };
    for (const [key, id] of removed) {
      if (get(key) !== id) continue;
      if (this.#base.has(key)) overlay.set(key, -1);
      else overlay.delete(key);
      size--;
    }
    for (const [key, id] of added) {
      if (get(key) !== undefined) return undefined;
      if (this.#base.get(key) === id) overlay.delete(key);
      else overlay.set(key, id);
      size++;
    }
    const next = new IdMap(this.#base, overlay, size);
    return overlay.size > OVERLAY_MAX ? IdMap.of(next) : next;
  }

  get(key: string): number | undefined {
    const own = this.#overlay.get(key);
    if (own === undefined) return this.#base.get(key);
    return own < 0 ? undefined : own;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  *entries(): MapIterator<[string, number]> {
    for (const entry of this.#base) if (!this.#overlay.has(entry[0])) yield [entry[0], entry[1]];
    for (const [key, id] of this.#overlay) if (id >= 0) yield [key, id];
  }

  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<number> {
    for (const [, id] of this.entries()) yield id;
  }

  [Symbol.iterator](): MapIterator<[string, number]> {
    return this.entries();
  }

  forEach(callback: (value: number, key: string, map: ReadonlyMap<string, number>) => void, thisArg?: unknown): void {
    for (const [key, id] of this.entries()) callback.call(thisArg, id, key, this);
  }
}

/** Session tokens by endpoint key, shared by the versions made one from another; only the newest (`owner`) adds to it, so it holds the keys of that one. */
interface TokenCache {
  readonly tokens: Map<string, string>;
  owner: SnapshotEndpoints;
}

/** What a version's endpoints were read from: its bundle's line reader, or its text. */
type EndpointSource = EndpointLines | string;

/**
 * The version a version was patched from and the ids whose ref differs from its (ascending). Held
 * weakly: each version holding the one before would keep every version since start-up alive.
 */
interface PatchedFrom {
  readonly from: WeakRef<SnapshotEndpoints>;
  readonly ids: readonly number[];
}

/**
 * The endpoints of one snapshot (see the file comment). Never changed once made; the session
 * token maps fill on use.
 */
export class SnapshotEndpoints {
  /** Refs by endpoint id; an id whose endpoint the previous version had keeps that very ref. */
  readonly refs: Pages<EndpointRef>;
  /** Endpoint ids by key (a key listed twice: its last id); gaps have none. */
  readonly ids: IdMap;
  /** How many refs are not gaps. */
  readonly #held: number;
  /** The stand-in endpoint invalid backends hold (its pick answers 500), or -1 when there is none. */
  readonly invalid: number;
  readonly #source: EndpointSource;
  /** The version this one was patched from and the ids whose ref differs from its (ascending); undefined when read whole. */
  readonly #patchedFrom: PatchedFrom | undefined;
  readonly #tokens: TokenCache;
  /** Endpoint ids by session token (made on the first ask, or patched from the previous version's). */
  #byToken: IdMap | undefined;

  private constructor(refs: Pages<EndpointRef>, ids: IdMap, held: number, invalid: number, source: EndpointSource, patchedFrom: PatchedFrom | undefined, tokens: Map<string, string> | TokenCache) {
    this.refs = refs;
    this.ids = ids;
    this.#held = held;
    this.invalid = invalid;
    this.#source = source;
    this.#patchedFrom = patchedFrom;
    if (tokens instanceof Map) this.#tokens = { tokens, owner: this };
    else {
      this.#tokens = tokens;
      tokens.owner = this;
    }
  }

  /**
   * The endpoints of `bundle`, whose table has `count` endpoints, made from `previous` (the
   * version loaded before) where the bundle says which lines changed since it: that very object
   * when the endpoints are the same. Throws when the bundle lists another number of endpoints or
   * a line is not `address port` or '' (a gap).
   */
  static of(bundle: TableBundle, count: number, previous: SnapshotEndpoints | undefined): SnapshotEndpoints {
    const lines = endpointLinesOf(bundle);
    const source: EndpointSource = lines ?? bundle.endpoints;
    if (previous !== undefined && previous.#source === source) {
      if (previous.refs.length !== count) throw new Error(`bundle lists ${previous.refs.length} endpoints, its table ${count}`);
      return previous;
    }
    if (lines !== undefined && lines.lines !== count) throw new Error(`bundle lists ${lines.lines} endpoints, its table ${count}`);
    const changed = lines !== undefined && previous !== undefined && typeof previous.#source !== 'string' && previous.refs.length === count ? lines.changedSince(previous.#source, PATCH_MAX_LINES) : undefined;
    if (changed !== undefined) return SnapshotEndpoints.#patch(lines!, changed, previous!);
    const read = lines === undefined ? readText(bundle.endpoints, count) : Array.from({ length: lines.lines }, (_, id) => parseEndpoint(lines.line(id), id));
    if (read.length !== count) throw new Error(`bundle lists ${read.length} endpoints, its table ${count}`);
    const refs = read.map((endpoint, id) => refOf(endpoint, id, previous?.refs.at(id)));
    const held = refs.filter((ref) => !isGap(ref));
    const ids = IdMap.of(held.map((ref) => [ref.key, ref.id]));
    // Tokens are a function of the key: the keys that stay keep theirs (SHA-256 of every endpoint is
    // what the first persistent-affinity request after a load would otherwise pay).
    const tokens = new Map<string, string>();
    const carried = previous === undefined ? undefined : previous.#tokens.tokens;
    if (carried !== undefined && carried.size > 0) {
      for (const ref of held) {
        const token = carried.get(ref.key);
        if (token !== undefined) tokens.set(ref.key, token);
      }
    }
    return new SnapshotEndpoints(Pages.of(refs), ids, held.length, refs.findIndex((ref) => ref.port === INVALID_BACKEND_PORT), source, undefined, tokens);
  }

  /** `previous` with the endpoints at `lines` (ids) read again from `source`. */
  static #patch(source: EndpointLines, lines: readonly number[], previous: SnapshotEndpoints): SnapshotEndpoints {
    const changes = new Map<number, EndpointRef>();
    const changedIds: number[] = [];
    // The keys (with their ids) that left and came, gaps having none.
    const removed: [string, number][] = [];
    const added: [string, number][] = [];
    let invalidMoved = false;
    for (const id of lines) {
      const before = previous.refs.at(id)!;
      const ref = refOf(parseEndpoint(source.line(id), id), id, before);
      if (ref === before) continue;
      changes.set(id, ref);
      changedIds.push(id);
      if (!isGap(before)) removed.push([before.key, id]);
      if (!isGap(ref)) added.push([ref.key, id]);
      if (id === previous.invalid || ref.port === INVALID_BACKEND_PORT) invalidMoved = true;
    }
    const refs = previous.refs.with(changes);
    const held = previous.#held - removed.length + added.length;
    // A version listing a key twice: its map (the last id) is made whole, as from its text.
    const patched = previous.ids.size === previous.#held ? previous.ids.patched(removed, added) : undefined;
    const ids = patched ?? IdMap.of(refs.toArray().flatMap((ref): [string, number][] => (isGap(ref) ? [] : [[ref.key, ref.id]])));
    const invalid = invalidMoved ? refs.toArray().findIndex((ref) => ref.port === INVALID_BACKEND_PORT) : previous.invalid;
    const next = new SnapshotEndpoints(refs, ids, held, invalid, source, { from: new WeakRef(previous), ids: changedIds }, previous.#tokens);
    const byToken = previous.#byToken;
    if (byToken !== undefined && patched !== undefined) {
      next.#byToken = byToken.patched(
        removed.map(([key, id]) => [next.token(key), id]),
        added.map(([key, id]) => [next.token(key), id]),
      );
    }
    // The tokens of keys no longer served leave the shared cache (it holds the newest version's keys).
    const cache = next.#tokens.tokens;
    for (const [key] of removed) if (!ids.has(key)) cache.delete(key);
    return next;
  }

  /**
   * Throws naming the entry when a set of `list` (a bundle's `endpointSets`) names an id that is
   * no endpoint: past the last, or a gap. The sets that are `before`'s very arrays (checked when
   * that version loaded) are not read again — at the same places when the lists are as long (a
   * move or a scale: its sets far apart), else at its start and end — so a change costs its sets.
   */
  checkSets(list: readonly (readonly number[])[], before?: readonly (readonly number[])[]): void {
    const check = (s: number): void => {
      for (const id of list[s]!) {
        const ref = Number.isInteger(id) ? this.refs.at(id) : undefined;
        if (ref === undefined || isGap(ref)) throw new Error(`bundle endpointSets[${s}] names endpoint id ${id}, ${ref === undefined ? `not below ${this.refs.length}` : 'a gap (no endpoint)'}`);
      }
    };
    // The same array is the same set of the compiler in this process (a list from elsewhere shares none).
    if (before !== undefined && before.length === list.length) {
      for (let s = 0; s < list.length; s++) if (list[s] !== before[s]) check(s);
      return;
    }
    let head = 0;
    let tail = 0;
    if (before !== undefined) {
      const shorter = Math.min(before.length, list.length);
      while (head < shorter && before[head] === list[head]) head++;
      while (tail < shorter - head && before[before.length - 1 - tail] === list[list.length - 1 - tail]) tail++;
    }
    for (let s = head; s < list.length - tail; s++) check(s);
  }

  /** Whether this version was patched from the one before it (its changed lines read alone), not read whole. */
  get patched(): boolean {
    return this.#patchedFrom !== undefined;
  }

  /**
   * The keys of `previous`'s endpoints this version no longer has, in id order: from the ids that
   * changed when this version was patched from `previous`, else by comparing every id (an id that
   * kept its ref kept its endpoint).
   */
  removedSince(previous: SnapshotEndpoints): string[] {
    const removed: string[] = [];
    if (previous === this) return removed;
    if (this.#patchedFrom?.from.deref() === previous) {
      for (const id of this.#patchedFrom.ids) {
        const endpoint = previous.refs.at(id)!;
        if (!isGap(endpoint) && !this.ids.has(endpoint.key)) removed.push(endpoint.key);
      }
      return removed;
    }
    for (let id = 0; id < previous.refs.length; id++) {
      const endpoint = previous.refs.at(id)!;
      if (this.refs.at(id) !== endpoint && !isGap(endpoint) && !this.ids.has(endpoint.key)) removed.push(endpoint.key);
    }
    return removed;
  }

  /** The session token of endpoint key `key`: 32 hex digits of SHA-256 over a fixed label and the key. */
  token(key: string): string {
    const cache = this.#tokens;
    let token = cache.tokens.get(key);
    if (token === undefined) {
      token = createHash('sha256').update(`portico-session|${key}`).digest('hex').slice(0, 32);
      // Only the newest version adds: a key an older one asks for after it was removed is not kept.
      if (cache.owner === this) cache.tokens.set(key, token);
    }
    return token;
  }

  /** The endpoint id a session token names, or -1 (the map made on the first ask). */
  byToken(token: string): number {
    if (this.#byToken === undefined) {
      const entries: [string, number][] = [];
      for (let id = 0; id < this.refs.length; id++) {
        const ref = this.refs.at(id)!;
        if (!isGap(ref)) entries.push([this.token(ref.key), id]);
      }
      this.#byToken = IdMap.of(entries);
    }
    return this.#byToken.get(token) ?? -1;
  }
}

/** The `count` endpoints of a bundle's `\n`-joined text ('' for none; a line '' is a gap). */
function readText(text: string, count: number): ({ address: string; port: number } | null)[] {
  if (text === '' && count === 0) return [];
  return text.split('\n').map(parseEndpoint);
}

/** The ref of endpoint `id` read as `endpoint` (null: a gap): `kept` itself when it is that endpoint. */
function refOf(endpoint: { address: string; port: number } | null, id: number, kept: EndpointRef | undefined): EndpointRef {
  if (endpoint === null) return kept !== undefined && isGap(kept) ? kept : gapRef(id);
  return kept !== undefined && !isGap(kept) && kept.address === endpoint.address && kept.port === endpoint.port ? kept : { id, key: endpointKey(endpoint.address, endpoint.port), address: endpoint.address, port: endpoint.port };
}

const PORT = /^\d{1,5}$/;

/** Endpoint `id`'s line, `address port` (the stand-in of invalid backends: no address, INVALID_BACKEND_PORT), or null for '' (a gap). Throws naming the endpoint when it is neither. */
function parseEndpoint(line: string | undefined, id: number): { address: string; port: number } | null {
  if (line === undefined) throw new Error(`bundle endpoint ${id} is missing`);
  if (line === '') return null;
  const space = line.lastIndexOf(' ');
  const digits = line.slice(space + 1);
  const port = Number(digits);
  const address = line.slice(0, Math.max(space, 0));
  if (space < 0 || !PORT.test(digits) || port > 65535 || (address === '' && port !== INVALID_BACKEND_PORT)) {
    throw new Error(`bundle endpoint ${id} is not "address port": ${JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line)}`);
  }
  return { address, port };
}
