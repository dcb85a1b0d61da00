/**
 * First half of encoding: a validated MatcherTable regrouped the way the binary table stores it —
 * per host, the root Prefix entries, the RegularExpression entries and the path groups (one per
 * Exact path or normalized Prefix path, entries in table order), with method masks and
 * condition bits resolved. Condition bits are the host's own (from 0), so a host's block never
 * depends on the hosts before it.
 */
import { PorticoError } from './errors.ts';
import { METHODS } from './table.ts';
import type { HostEntry, PathEntry, WildcardLabels } from './table.ts';
import { CondKind, Kind, Limit, utf8 } from './layout.ts';

/** A path entry as encoded: route, method mask and its run in its host's condition bit list. */
export interface EntryDraft {
  readonly route: number;
  readonly methods: number;
  readonly condStart: number;
  readonly condCount: number;
}

/** The entries sharing one (kind, key) inside a host. */
export interface GroupDraft {
  readonly kind: number;
  readonly key: Uint8Array;
  readonly entries: EntryDraft[];
}

/** One host entry: its lookup key (name, or the suffix after `*.`; empty for `*`) and its rules. */
export interface HostDraft {
  readonly host: string;
  readonly labels: WildcardLabels;
  readonly key: Uint8Array;
  readonly fallback: number;
  readonly root: EntryDraft[];
  readonly regex: EntryDraft[];
  readonly groups: GroupDraft[];
  exactDepths: number;
  prefixDepths: number;
  /** The host's distinct match conditions; the index is the bit. */
  readonly conditions: readonly CondDraft[];
  /** The entries' runs of condition bits, one after another (EntryDraft.condStart indexes it). */
  readonly condBits: number[];
}

/** One match condition of a host. */
export interface CondDraft {
  readonly kind: number;
  readonly name: Uint8Array;
  readonly value: Uint8Array;
}

/** A Prefix rule's lookup key: trailing slashes are insignificant, so `/` becomes the empty root key. */
export function prefixKey(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

/** Bit standing for keys with `key`'s number of slashes; wasm skips depths a host has no key for. */
function depthBit(key: string): number {
  let depth = 0;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 0x2f) depth++;
  return (1 << Math.min(depth, 31)) >>> 0;
}

/** One condition of a path entry; `key` (`kind\nname\nvalue`) identifies it within its host. */
interface EntryCondition {
  readonly key: string;
  readonly kind: number;
  readonly name: string;
  readonly value: string;
}

/** The conditions of one path entry (header names lower-case). */
function conditionsOf(path: PathEntry): EntryCondition[] {
  const conds: EntryCondition[] = [];
  const add = (kind: number, name: string, value: string): void => void conds.push({ key: `${kind}\n${name}\n${value}`, kind, name, value });
  if (path.pathType === 'RegularExpression') add(CondKind.PATH_REGEX, '', path.path);
  for (const c of path.conditions?.headers ?? []) add(c.type === 'RegularExpression' ? CondKind.HEADER_REGEX : CondKind.HEADER_EXACT, c.name.toLowerCase(), c.value);
  for (const c of path.conditions?.query ?? []) add(c.type === 'RegularExpression' ? CondKind.QUERY_REGEX : CondKind.QUERY_EXACT, c.name, c.value);
  return conds;
}

/**
 * Regroups one (validated) host entry. Throws PORTICO_E_TABLE_INVALID when it has more distinct
 * match conditions than the request bitset holds (Limit.HOST_CONDITIONS).
 */
export function draftHost(host: HostEntry): HostDraft {
  const key = host.host === '*' ? '' : host.host.startsWith('*.') ? host.host.slice(2) : host.host;
  // Distinct conditions of the host, sorted by key so their bit numbers do not depend on rule order.
  const pathConds = new Map(host.paths.map((path) => [path, conditionsOf(path)]));
  const distinct = new Map<string, EntryCondition>();
  for (const list of pathConds.values()) for (const cond of list) distinct.set(cond.key, cond);
  const condKeys = [...distinct.keys()].sort();
  if (condKeys.length > Limit.HOST_CONDITIONS) {
    throw new PorticoError('PORTICO_E_TABLE_INVALID', `matcher table host ${JSON.stringify(host.host)}: ${condKeys.length} distinct match conditions, more than the ${Limit.HOST_CONDITIONS} one host may have`);
  }
  const condBit = new Map(condKeys.map((k, i) => [k, i]));
  const conditions = condKeys.map((k): CondDraft => {
    const cond = distinct.get(k) as EntryCondition;
    return { kind: cond.kind, name: utf8(cond.name), value: utf8(cond.value) };
  });
  const condBits: number[] = [];
  const entry = (path: PathEntry): EntryDraft => {
    let methods = 0;
    for (const method of path.conditions?.methods ?? []) methods |= 1 << (METHODS as readonly string[]).indexOf(method);
    const bits = [...new Set((pathConds.get(path) ?? []).map((cond) => condBit.get(cond.key) ?? 0))].sort((a, b) => a - b);
    const condStart = condBits.length;
    condBits.push(...bits);
    return { route: path.route, methods: methods >>> 0, condStart, condCount: bits.length };
  };
  const draft: HostDraft = {
    host: host.host, labels: host.labels ?? 'one', key: utf8(key), fallback: host.fallback, root: [], regex: [], groups: [],
    exactDepths: 0, prefixDepths: 0, conditions, condBits,
  };
  const byKey = new Map<string, GroupDraft>();
  for (const path of host.paths) {
    if (path.pathType === 'RegularExpression') {
      draft.regex.push(entry(path));
      continue;
    }
    const kind = path.pathType === 'Exact' ? Kind.EXACT : Kind.PREFIX;
    const pathKey = kind === Kind.EXACT ? path.path : prefixKey(path.path);
    if (kind === Kind.PREFIX && pathKey === '') {
      draft.root.push(entry(path));
      continue;
    }
    if (kind === Kind.EXACT) draft.exactDepths |= depthBit(pathKey);
    else draft.prefixDepths |= depthBit(pathKey);
    let group = byKey.get(`${kind}${pathKey}`);
    if (group === undefined) {
      group = { kind, key: utf8(pathKey), entries: [] };
      byKey.set(`${kind}${pathKey}`, group);
      draft.groups.push(group);
    }
    group.entries.push(entry(path));
  }
  return draft;
}
