/**
 * The one encoder of the binary routing table that src/wasm decodes (layout: src/wasm/table.ts).
 * Deterministic: the same table always gives the same bytes (everything is laid out in table
 * order, each host's conditions sorted), so encoded tables can be hashed and compared byte for byte.
 */
import type { MatcherTable } from './table.ts';
import { validateTable } from './validate.ts';
import { draftTable } from './draft.ts';
import type { EntryDraft, HostDraft } from './draft.ts';
import {
  BackendRecord, Endpoint, Entry, Format, Group, HOST_SEED, Header, HeaderPair, HostRecord, RouteRecord, Slot,
  murmur, pathSeed,
} from './layout.ts';

export { hostProblem, validateTable } from './validate.ts';
export { prefixKey } from './draft.ts';

const pad8 = (n: number): number => (n + 7) & ~7;

/** Power-of-two hash capacity for `n` keys at load factor <= 1/2 (at least `min`). */
function capacity(n: number, min: number): number {
  let cap = min;
  while (cap < n * 2) cap *= 2;
  return cap;
}

/** Open-addressing slots [hash, record offset] with `cap` slots, filled in the given order. */
function hashSlots(keys: readonly { readonly hash: number; readonly offset: number }[], cap: number): Uint32Array {
  const slots = new Uint32Array(cap * 2);
  for (const { hash, offset } of keys) {
    let i = hash & (cap - 1);
    while (slots[i * 2 + 1] !== 0) i = (i + 1) & (cap - 1);
    slots[i * 2] = hash;
    slots[i * 2 + 1] = offset;
  }
  return slots;
}

/**
 * Encodes `table` into the binary layout the wasm matcher loads.
 * Throws PorticoError PORTICO_E_TABLE_INVALID (naming the offending host, path or route) when the
 * table breaks the MatcherTable contract.
 */
export function encodeTable(table: MatcherTable): Uint8Array {
  validateTable(table);
  const { hosts, conds, headers: headers } = draftTable(table);
  const offsets = new Map<object, number>();
  const pathsAt = new Map<HostDraft, number>();
  const poolLength = headers.reduce((n, cond) => n + cond.name.length + cond.value.length, 0);
  const routeSize = (r: number): number => RouteRecord.BACKENDS + (table.routes[r]?.backends ?? []).reduce((n, b) => n + BackendRecord.SLOTS + b.endpoints.length * Endpoint.SIZE, 0);
  const isWild = (h: HostDraft): boolean => h.host.startsWith('*.');
  const isAny = (h: HostDraft): boolean => h.host === '*';
  // One-label lookups see 'one' and 'many' wildcards; deeper lookups 'many' and 'deeper' ones.
  const isOneLabel = (h: HostDraft): boolean => isWild(h) && h.labels !== 'deeper';
  const isDeep = (h: HostDraft): boolean => isWild(h) && h.labels !== 'one';
  const exactCount = hosts.filter((h) => !isWild(h) && !isAny(h)).length;
  const wildCount = hosts.filter(isOneLabel).length;
  const deepCount = hosts.filter(isDeep).length;

  // Sections in header order, each 8-byte aligned; records get their offsets here.
  let size: number = Header.SIZE;
  const place = (bytes: number): number => {
    const at = size;
    size = pad8(size + bytes);
    return at;
  };
  const exactHostsAt = place(capacity(exactCount, 8) * Slot.SIZE);
  const wildHostsAt = place(capacity(wildCount, 8) * Slot.SIZE);
  const deepHostsAt = deepCount === 0 ? 0 : place(capacity(deepCount, 8) * Slot.SIZE);
  const hostsAt = size;
  for (const h of hosts) {
    offsets.set(h, place(HostRecord.KEY + pad8(h.key.length) + (h.root.length + h.regex.length) * Entry.SIZE));
    pathsAt.set(h, place(h.groups.length === 0 ? 0 : capacity(h.groups.length, 4) * Slot.SIZE));
    for (const g of h.groups) offsets.set(g, place(Group.KEY + pad8(g.key.length) + g.entries.length * Entry.SIZE));
  }
  const at = (record: object): number => offsets.get(record) ?? 0;
  const condsAt = place(conds.length * 4);
  const headersAt = place(headers.length * HeaderPair.SIZE);
  const routeIndexAt = place(table.routes.length * 4);
  const routesAt = size;
  const routeOffsets = table.routes.map((_, r) => place(routeSize(r)));
  const poolAt = place(poolLength);

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  const u32 = (offset: number, value: number): void => view.setUint32(offset, value >>> 0, true);
  const any = hosts.find(isAny);
  const header: [number, number][] = [
    [Header.MAGIC, Format.MAGIC], [Header.VERSION, Format.VERSION], [Header.LENGTH, size],
    [Header.ROUTE_COUNT, table.routes.length], [Header.ENDPOINT_COUNT, table.endpointCount],
    [Header.FALLBACK, table.fallback], [Header.ANY_HOST, any === undefined ? 0 : at(any)],
    [Header.EXACT_HOSTS, exactHostsAt], [Header.EXACT_HOSTS_CAP, capacity(exactCount, 8)],
    [Header.WILD_HOSTS, wildHostsAt], [Header.WILD_HOSTS_CAP, capacity(wildCount, 8)],
    [Header.HOSTS, hostsAt], [Header.HOSTS_LEN, condsAt - hostsAt],
    [Header.CONDS, condsAt], [Header.COND_COUNT, conds.length],
    [Header.HEADERS, headersAt], [Header.HEADER_COUNT, headers.length],
    [Header.ROUTE_INDEX, routeIndexAt], [Header.ROUTES, routesAt], [Header.ROUTES_LEN, poolAt - routesAt],
    [Header.POOL, poolAt], [Header.POOL_LEN, poolLength],
    [Header.DEEP_HOSTS, deepHostsAt], [Header.DEEP_HOSTS_CAP, capacity(deepCount, 8)],
  ];
  for (const [field, value] of header) u32(field, value);

  const writeEntries = (first: number, entries: readonly EntryDraft[]): void => {
    entries.forEach((e, k) => {
      const rec = first + k * Entry.SIZE;
      u32(rec + Entry.ROUTE, e.route);
      u32(rec + Entry.RECORD, routeOffsets[e.route] ?? 0);
      u32(rec + Entry.METHODS, e.methods);
      u32(rec + Entry.COND_START, e.condStart);
      u32(rec + Entry.COND_COUNT, e.condCount);
    });
  };
  const writeSlots = (first: number, slots: Uint32Array): void => {
    for (let i = 0; i < slots.length; i++) u32(first + i * 4, slots[i] ?? 0);
  };

  for (const h of hosts) {
    u32(at(h) + HostRecord.INDEX, h.index);
    u32(at(h) + HostRecord.FALLBACK, h.fallback);
    u32(at(h) + HostRecord.EXACT_DEPTHS, h.exactDepths);
    u32(at(h) + HostRecord.PREFIX_DEPTHS, h.prefixDepths);
    u32(at(h) + HostRecord.ROOT_COUNT, h.root.length);
    u32(at(h) + HostRecord.KEY_LEN, h.key.length);
    u32(at(h) + HostRecord.COND_FIRST, h.condFirst);
    u32(at(h) + HostRecord.COND_COUNT, h.condCount);
    u32(at(h) + HostRecord.REGEX_COUNT, h.regex.length);
    out.set(h.key, at(h) + HostRecord.KEY);
    writeEntries(at(h) + HostRecord.KEY + pad8(h.key.length), h.root);
    writeEntries(at(h) + HostRecord.KEY + pad8(h.key.length) + h.root.length * Entry.SIZE, h.regex);
    if (h.groups.length > 0) {
      const cap = capacity(h.groups.length, 4);
      u32(at(h) + HostRecord.PATHS, pathsAt.get(h) ?? 0);
      u32(at(h) + HostRecord.PATHS_MASK, cap - 1);
      writeSlots(pathsAt.get(h) ?? 0, hashSlots(h.groups.map((g) => ({ hash: murmur(g.key, pathSeed(h.index, g.kind)), offset: at(g) })), cap));
    }
    for (const g of h.groups) {
      u32(at(g) + Group.KIND, g.kind);
      u32(at(g) + Group.COUNT, g.entries.length);
      u32(at(g) + Group.KEY_LEN, g.key.length);
      out.set(g.key, at(g) + Group.KEY);
      writeEntries(at(g) + Group.KEY + pad8(g.key.length), g.entries);
    }
  }
  const hostSlot = (h: HostDraft): { hash: number; offset: number } => ({ hash: murmur(h.key, HOST_SEED), offset: at(h) });
  writeSlots(exactHostsAt, hashSlots(hosts.filter((h) => !isWild(h) && !isAny(h)).map(hostSlot), capacity(exactCount, 8)));
  writeSlots(wildHostsAt, hashSlots(hosts.filter(isOneLabel).map(hostSlot), capacity(wildCount, 8)));
  if (deepCount !== 0) writeSlots(deepHostsAt, hashSlots(hosts.filter(isDeep).map(hostSlot), capacity(deepCount, 8)));
  conds.forEach((bit, i) => u32(condsAt + i * 4, bit));

  let pool = 0;
  const poolString = (bytes: Uint8Array): number => {
    out.set(bytes, poolAt + pool);
    pool += bytes.length;
    return pool - bytes.length;
  };
  headers.forEach((cond, i) => {
    const rec = headersAt + i * HeaderPair.SIZE;
    u32(rec + HeaderPair.NAME_OFF, poolString(cond.name));
    u32(rec + HeaderPair.NAME_LEN, cond.name.length);
    u32(rec + HeaderPair.VALUE_OFF, poolString(cond.value));
    u32(rec + HeaderPair.VALUE_LEN, cond.value.length);
    u32(rec + HeaderPair.KIND, cond.kind);
    u32(rec + HeaderPair.HOST, cond.host);
  });

  table.routes.forEach((route, r) => {
    const rec = routeOffsets[r] ?? 0;
    u32(routeIndexAt + r * 4, rec);
    u32(rec + RouteRecord.BACKEND_COUNT, route.backends.length);
    // CURRENT fields stay zero: that is the initial WRR state.
    let backend = rec + RouteRecord.BACKENDS;
    for (const b of route.backends) {
      u32(backend + BackendRecord.WEIGHT, b.weight);
      u32(backend + BackendRecord.SLOT_COUNT, b.endpoints.length);
      b.endpoints.forEach((id, k) => u32(backend + BackendRecord.SLOTS + k * Endpoint.SIZE + Endpoint.ID, id));
      backend += BackendRecord.SLOTS + b.endpoints.length * Endpoint.SIZE;
    }
  });
  return out;
}
