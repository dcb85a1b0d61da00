/**
 * The data plane's matcher: a wasm instance holding one encoded table, behind the Matcher
 * interface. match() writes host and path into wasm memory as UTF-8 (Buffer#write, no
 * allocation) and makes a single call. Only when the chosen host has match conditions (headers,
 * query parameters, regex paths) does wasm stop and ask: they are judged here (conditions.ts) for
 * that host alone, and a second call finishes the lookup.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { PorticoError } from './errors.ts';
import { encodeGrid } from './encode.ts';
import type { GridOptions } from './grid-plan.ts';
import { TableIdMatcher } from './table-matcher.ts';
import type { MatcherTable } from './table.ts';
import { HostConditions } from './conditions.ts';
import type { StoredCondition } from './conditions.ts';
import { TABLE_BLOCK_BYTES } from './blocks.ts';
import type { TableBlocks } from './blocks.ts';
import { Limit } from './layout.ts';

/** Request headers as Node gives them (lower-case names). */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Lookup and endpoint choice over one routing table. */
export interface Matcher {
  /** Route id for the request, or -1 (404). host may carry a port and any case; path may carry a query string. */
  match(host: string, path: string, method: string, headers?: RequestHeaders): number;
  /** Endpoint id chosen for the route by two-level smooth WRR (backend by weight, then endpoint), or -1 when the route has no healthy endpoint with weight > 0 (or does not exist). Advances WRR state. */
  pick(route: number): number;
  /**
   * Like pick, among the backends whose bit is set in `allowed` (bit k = backend k, k < 32): a
   * choice a request made (a canary header or cookie). When none of them has weight > 0 with a
   * healthy endpoint, the first that has a healthy endpoint is taken whatever its weight; -1 when
   * none has one.
   */
  pickIn(route: number, allowed: number): number;
  /**
   * Endpoint id by consistent hashing of `key` (a u32 hash of the request's key): the backend as
   * pickIn chooses it (`allowed` -1 for all), then the healthy endpoint of it with the highest
   * score for the key and the endpoint's seed (rendezvous hashing); with `subset` > 1 (at most
   * 16), one of the `subset` best, chosen by `random` (upstream-hash-by-subset). -1 when none is
   * eligible.
   */
  pickHash(route: number, allowed: number, key: number, subset?: number, random?: number): number;
  /** `endpoint` when it is healthy and behind an `allowed` backend of the route (a session cookie named it), else -1. */
  pickId(route: number, allowed: number, endpoint: number): number;
  /**
   * Endpoint id by the power of two choices (load-balance: ewma): the backend as pickIn chooses
   * it, then two of its healthy endpoints drawn from `random` (a u32), the lower load score wins.
   */
  pickLeastLoaded(route: number, allowed: number, random: number): number;
  /** Sets an endpoint's load score (lower is better; all 0 at load). Throws PORTICO_E_ENDPOINT_RANGE for an unknown id. */
  setScore(endpoint: number, score: number): void;
  /** Sets an endpoint's hashing seed (a hash of its address, so keys keep their endpoint across snapshots). Throws PORTICO_E_ENDPOINT_RANGE for an unknown id. */
  setSeed(endpoint: number, seed: number): void;
  /** Backend index (within the route) that the last pick() chose, or -1. */
  lastBackend(): number;
  /** Marks an endpoint (shared by every route that lists it) healthy or not. Throws PORTICO_E_ENDPOINT_RANGE for an unknown id. */
  setHealthy(endpoint: number, healthy: boolean): void;
  /** Whether the endpoint is healthy (all are at load). Throws PORTICO_E_ENDPOINT_RANGE for an unknown id. */
  isHealthy(endpoint: number): boolean;
  readonly routeCount: number;
  readonly endpointCount: number;
}

/** The matcher module's exports (src/wasm/index.ts). */
export interface MatcherExports {
  readonly memory: WebAssembly.Memory;
  readonly _start?: () => void;
  tableAddress(): number;
  init(len: number): number;
  scratch(): number;
  headerBitsAddress(): number;
  writtenBlocksAddress(): number;
  match(hostLen: number, pathLen: number, methodBit: number): number;
  resume(hostLen: number, pathLen: number, methodBit: number): number;
  pick(route: number): number;
  pickIn(route: number, allowed: number): number;
  pickHash(route: number, allowed: number, key: number, subset: number, random: number): number;
  pickId(route: number, allowed: number, endpoint: number): number;
  setEndpointSeed(id: number, seed: number): number;
  pickLeastLoaded(route: number, allowed: number, random: number): number;
  setEndpointScore(id: number, score: number): number;
  lastBackend(): number;
  setHealthy(id: number, ok: number): number;
  isHealthy(id: number): number;
  routeCount(): number;
  endpointCount(): number;
  setRefused(): number;
  conditionHostCount(): number;
  conditionHost(index: number): number;
  hostConditionCount(host: number): number;
  hostCondition(host: number, index: number, field: number): number;
}

const WASM_URL = new URL('../../build/matcher.wasm', import.meta.url);
const PAGE = 65536;
const INIT_PROBLEMS: Record<number, string> = {
  [-1]: 'bad magic (not a Portico matcher table)',
  [-2]: 'unsupported table version',
  [-3]: 'length does not match the header',
  [-4]: 'a section lies outside the table',
  [-5]: 'wasm memory could not grow to hold the table',
  [-6]: 'set index: the entry points outside the endpoint area\'s buckets and overflow tail, or into the set record before it in its region (records lie in set id order: none may overlap another)',
  [-7]: 'set record: its COUNT of endpoint slots runs past its region of the endpoint area (buckets or overflow tail)',
  [-8]: 'set record: an endpoint slot\'s ID is not below the endpoint count',
};

const decoder = new TextDecoder();
let compiled: WebAssembly.Module | undefined;

/** The compiled module, read and compiled once per process. */
function wasmModule(): WebAssembly.Module {
  if (compiled !== undefined) return compiled;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_URL));
  } catch (cause) {
    throw new PorticoError('PORTICO_E_MATCHER_NOT_BUILT', `matcher wasm not found at ${WASM_URL.pathname}: run \`npm run build\` in the assembly package`, { cause });
  }
  compiled = new WebAssembly.Module(bytes);
  return compiled;
}

/** Bit of `method` in the table's method masks (1 << index in METHODS), or 0 for any other method. */
function methodBit(method: string): number {
  switch (method) {
    case 'GET': return 1;
    case 'HEAD': return 2;
    case 'POST': return 4;
    case 'PUT': return 8;
    case 'DELETE': return 16;
    case 'CONNECT': return 32;
    case 'OPTIONS': return 64;
    case 'TRACE': return 128;
    case 'PATCH': return 256;
    default: return 0;
  }
}

/**
 * What a retired matcher (its instance given back to a pool, maybe holding another table by now)
 * answers: no route, no endpoint, nothing healthy; setters do nothing. Never a read or write of
 * the instance's memory.
 */
const RETIRED = {
  match: () => -1,
  resume: () => -1,
  pick: () => -1,
  pickIn: () => -1,
  pickHash: () => -1,
  pickId: () => -1,
  pickLeastLoaded: () => -1,
  setEndpointScore: () => -1,
  setEndpointSeed: () => -1,
  lastBackend: () => -1,
  setHealthy: () => -1,
  isHealthy: () => 0,
} as unknown as MatcherExports;

/** Where a pooled matcher's instance goes once its last holder released it (matcher-pool.ts). */
export type InstanceReturn = (wasm: MatcherExports) => void;

/** A matcher whose wasm instance belongs to a pool: counted holders, and the instance given back at the last release. */
export interface PooledMatcher extends Matcher {
  /** One more holder (a snapshot sharing this matcher). Throws PORTICO_E_MATCHER_RETIRED when it was already given back. */
  retain(): void;
  /**
   * One holder fewer; at the last, the matcher retires (every later call answers as for an
   * empty table: -1, not healthy) and its instance goes back to the pool. Calling it more
   * often than retain + 1 is a programmer error: it throws PORTICO_E_MATCHER_RETIRED.
   */
  release(): void;
  /** Whether the last holder released it. */
  readonly retired: boolean;
}

class WasmMatcher implements PooledMatcher {
  readonly routeCount: number;
  readonly endpointCount: number;
  #wasm: MatcherExports;
  /** Where the instance goes at the last release (undefined: a matcher of its own, left to the GC). */
  readonly #giveBack: InstanceReturn | undefined;
  #holders = 1;
  readonly #scratch: number;
  readonly #bitsWord: number;
  /** Per host with conditions (its record offset >> 3, as match() names it), its conditions. */
  readonly #hosts: ReadonlyMap<number, HostConditions>;
  #buffer: Buffer;
  #words: Uint32Array;
  /** Bytes from the scratch start to the end of memory. */
  #room: number;

  constructor(wasm: MatcherExports, hosts: ReadonlyMap<number, HostConditions>, giveBack?: InstanceReturn) {
    this.#wasm = wasm;
    this.#giveBack = giveBack;
    this.#hosts = hosts;
    this.routeCount = wasm.routeCount();
    this.endpointCount = wasm.endpointCount();
    this.#scratch = wasm.scratch();
    this.#bitsWord = wasm.headerBitsAddress() >>> 2;
    this.#buffer = Buffer.from(wasm.memory.buffer);
    this.#words = new Uint32Array(wasm.memory.buffer);
    this.#room = this.#buffer.length - this.#scratch;
  }

  get retired(): boolean {
    return this.#holders === 0;
  }

  retain(): void {
    if (this.#holders === 0) throw new PorticoError('PORTICO_E_MATCHER_RETIRED', 'retain() on a matcher whose instance was given back');
    this.#holders++;
  }

  release(): void {
    if (this.#holders === 0) throw new PorticoError('PORTICO_E_MATCHER_RETIRED', 'release() on a matcher already released by every holder');
    if (--this.#holders !== 0) return;
    const wasm = this.#wasm;
    this.#wasm = RETIRED;
    // A stale reference to this matcher must not keep the memory alive should the pool drop the instance.
    this.#buffer = Buffer.alloc(0);
    this.#words = new Uint32Array(0);
    this.#giveBack?.(wasm);
  }

  match(host: string, path: string, method: string, headers?: RequestHeaders): number {
    // Scratch is written before wasm is asked: never into an instance that holds another table now.
    if (this.#holders === 0) return -1;
    // UTF-8 takes at most 3 bytes per UTF-16 unit; prefix candidates at most 4 bytes per path
    // unit (one per '/'); plus alignment and the slack wasm's 16-byte chunks read past the end.
    const need = 3 * host.length + 7 * path.length + 64;
    if (need > this.#room) this.#grow(need);
    // Buffer#write is a fast native call: several times quicker than a charCodeAt loop.
    const hostLen = this.#buffer.write(host, this.#scratch);
    const pathLen = this.#buffer.write(path, this.#scratch + hostLen);
    const bit = methodBit(method);
    const route = this.#wasm.match(hostLen, pathLen, bit);
    if (route >= -1) return route;
    const conditions = this.#hosts.get(-2 - route);
    // A host the table does not list (only a damaged table has one): no condition holds, whatever an earlier request left.
    if (conditions === undefined) this.#words.fill(0, this.#bitsWord, this.#bitsWord + (Limit.HOST_CONDITIONS >>> 5));
    else conditions.fill(this.#words, this.#bitsWord, path, headers);
    return this.#wasm.resume(hostLen, pathLen, bit);
  }

  pick(route: number): number {
    return this.#wasm.pick(route | 0);
  }

  pickIn(route: number, allowed: number): number {
    return this.#wasm.pickIn(route | 0, allowed | 0);
  }

  pickHash(route: number, allowed: number, key: number, subset = 1, random = 0): number {
    return this.#wasm.pickHash(route | 0, allowed | 0, key | 0, subset | 0, random | 0);
  }

  pickId(route: number, allowed: number, endpoint: number): number {
    return this.#wasm.pickId(route | 0, allowed | 0, endpoint | 0);
  }

  pickLeastLoaded(route: number, allowed: number, random: number): number {
    return this.#wasm.pickLeastLoaded(route | 0, allowed | 0, random | 0);
  }

  setScore(endpoint: number, score: number): void {
    this.#checkEndpoint(endpoint);
    this.#wasm.setEndpointScore(endpoint, score);
  }

  setSeed(endpoint: number, seed: number): void {
    this.#checkEndpoint(endpoint);
    this.#wasm.setEndpointSeed(endpoint, seed | 0);
  }

  lastBackend(): number {
    return this.#wasm.lastBackend();
  }

  setHealthy(endpoint: number, healthy: boolean): void {
    this.#checkEndpoint(endpoint);
    this.#wasm.setHealthy(endpoint, healthy ? 1 : 0);
  }

  isHealthy(endpoint: number): boolean {
    this.#checkEndpoint(endpoint);
    return this.#wasm.isHealthy(endpoint) === 1;
  }

  #checkEndpoint(endpoint: number): void {
    if (!Number.isInteger(endpoint) || endpoint < 0 || endpoint >= this.endpointCount) {
      throw new PorticoError('PORTICO_E_ENDPOINT_RANGE', `endpoint id ${endpoint} is out of range [0, ${this.endpointCount})`);
    }
  }

  #grow(need: number): void {
    const memory = this.#wasm.memory;
    const missing = need - this.#room;
    memory.grow(Math.ceil(missing / PAGE));
    // Growing detaches the old views.
    this.#buffer = Buffer.from(memory.buffer);
    this.#words = new Uint32Array(memory.buffer);
    this.#room = this.#buffer.length - this.#scratch;
  }
}

/** Reads the table's match conditions back out of wasm memory: per host with conditions (record offset >> 3), its conditions compiled. */
function readConditions(wasm: MatcherExports): Map<number, HostConditions> {
  const memory = new Uint8Array(wasm.memory.buffer);
  const text = (at: number, len: number): string => decoder.decode(memory.subarray(at, at + len));
  const hosts = new Map<number, HostConditions>();
  const hostCount = wasm.conditionHostCount();
  for (let h = 0; h < hostCount; h++) {
    const host = wasm.conditionHost(h);
    const count = wasm.hostConditionCount(host);
    if (count > Limit.HOST_CONDITIONS) throw new Error(`the host record at ${host} has ${count} match conditions, more than ${Limit.HOST_CONDITIONS}`);
    const conds: StoredCondition[] = [];
    for (let bit = 0; bit < count; bit++) {
      conds.push({ kind: wasm.hostCondition(host, bit, 4), name: text(wasm.hostCondition(host, bit, 0), wasm.hostCondition(host, bit, 1)), value: text(wasm.hostCondition(host, bit, 2), wasm.hostCondition(host, bit, 3)), bit });
    }
    if (conds.length > 0) hosts.set(host / 8, new HostConditions(conds));
  }
  return hosts;
}

/** A new wasm instance of the matcher module (its own memory, no table yet). Throws PORTICO_E_MATCHER_NOT_BUILT when the wasm file is missing. */
export function newMatcherInstance(): MatcherExports {
  const wasm = new WebAssembly.Instance(wasmModule(), {}).exports as unknown as MatcherExports;
  wasm._start?.();
  return wasm;
}

/**
 * Whether block `index` of the table being loaded (`block`, its bytes) is already in the
 * instance's memory at its place, byte for byte, so it need not be copied (matcher-pool.ts knows).
 */
export type BlockKept = (index: number, block: Uint8Array) => boolean;

/**
 * Copies a pre-encoded table (bytes, or its blocks: each block but those `kept` says the instance
 * already holds) into `wasm` (a new instance, or one whose previous table nobody uses any more)
 * and binds it: the matcher over it, whose last release gives the instance to `giveBack`. Init
 * is cheap whatever the table's size: a header check, the health area after the table cleared
 * and the sets with an endpoint noted (O(endpoints + sets)); the conditions are read back
 * (O(match conditions)). Returns the matcher and how many blocks were copied. Throws
 * PORTICO_E_TABLE_CORRUPT when the bytes are not a table this version can load; the instance
 * then holds no usable table (it may be loaded again).
 */
export function loadIntoInstance(wasm: MatcherExports, table: Uint8Array | TableBlocks, giveBack?: InstanceReturn, kept?: BlockKept): { matcher: PooledMatcher; copied: number } {
  const base = wasm.tableAddress();
  const memory = wasm.memory;
  const length = table.length;
  const need = base + length - memory.buffer.byteLength;
  if (need > 0) {
    try {
      memory.grow(Math.ceil(need / PAGE));
    } catch (cause) {
      throw new PorticoError('PORTICO_E_TABLE_CORRUPT', `matcher table of ${length} bytes does not fit in wasm memory`, { cause });
    }
  }
  const into = new Uint8Array(memory.buffer);
  let copied = 0;
  if (table instanceof Uint8Array) {
    into.set(table, base);
    copied = Math.ceil(length / TABLE_BLOCK_BYTES);
  } else {
    const blocks = table.blocks;
    for (let b = 0; b < blocks.length; b++) {
      const block = blocks[b]!;
      if (kept?.(b, block) === true) continue;
      into.set(block, base + b * TABLE_BLOCK_BYTES);
      copied++;
    }
  }
  const status = wasm.init(length);
  if (status !== 0) {
    const set = status <= -6 && status >= -8 ? ` (set ${wasm.setRefused()})` : '';
    throw new PorticoError('PORTICO_E_TABLE_CORRUPT', `matcher table rejected: ${INIT_PROBLEMS[status] ?? `status ${status}`}${set}`);
  }
  let conditions: Map<number, HostConditions>;
  try {
    conditions = readConditions(wasm);
  } catch (cause) {
    throw new PorticoError('PORTICO_E_TABLE_CORRUPT', `matcher table rejected: ${(cause as Error).message}`, { cause });
  }
  return { matcher: new WasmMatcher(wasm, conditions, giveBack), copied };
}

/**
 * Loads pre-encoded table bytes (from encodeTable) into a fresh wasm instance with its own memory
 * (a data plane reuses instances instead: matcher-pool.ts). Throws PORTICO_E_MATCHER_NOT_BUILT
 * when the wasm file is missing and PORTICO_E_TABLE_CORRUPT when the bytes are not a table this
 * version can load.
 */
export function loadMatcherFromBinary(bytes: Uint8Array): Matcher {
  return loadIntoInstance(newMatcherInstance(), bytes).matcher;
}

/**
 * Encodes `table` and loads it into a fresh wasm instance (the compiled module is shared); the
 * matcher answers in the table's own route ids (the encoded table's are the grid's:
 * table-matcher.ts). `grid` (S and R) is for tests. Throws PORTICO_E_TABLE_INVALID for a table
 * that breaks the contract and PORTICO_E_MATCHER_NOT_BUILT when the wasm file is missing.
 */
export function loadMatcher(table: MatcherTable, grid?: GridOptions): Matcher {
  const encoded = encodeGrid(table, grid === undefined ? {} : { grid });
  return new TableIdMatcher(loadMatcherFromBinary(encoded.table), encoded.routeIds);
}
