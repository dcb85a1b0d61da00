/**
 * First half of encoding: a validated MatcherTable regrouped the way the binary table stores it —
 * per host, the root Prefix entries and the path groups (one per Exact path or normalized Prefix
 * path, entries in table order), with method masks and header-condition bits resolved.
 */
import { METHODS } from './table.ts';
import type { MatcherTable, PathEntry } from './table.ts';
import { Kind, utf8 } from './layout.ts';

/** A path entry as encoded: route, method mask and its run in the conds list. */
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
  readonly index: number;
  readonly host: string;
  readonly key: Uint8Array;
  readonly fallback: number;
  readonly root: EntryDraft[];
  readonly groups: GroupDraft[];
  exactDepths: number;
  prefixDepths: number;
}

/** The whole table regrouped; `conds` is the flat list the entries' condition runs point into. */
export interface TableDraft {
  readonly hosts: readonly HostDraft[];
  readonly conds: readonly number[];
  /** Distinct header conditions (lower-case name, value), sorted; the index is the condition's bit. */
  readonly headers: readonly { readonly name: Uint8Array; readonly value: Uint8Array }[];
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

function headerKey(name: string, value: string): string {
  return `${name.toLowerCase()}\n${value}`;
}

/** Regroups a table that validateTable accepted. */
export function draftTable(table: MatcherTable): TableDraft {
  // Distinct header conditions, sorted so their bit numbers do not depend on rule order.
  const headerKeys = [...new Set(table.hosts.flatMap((h) => h.paths.flatMap((p) => (p.conditions?.headers ?? []).map((c) => headerKey(c.name, c.value)))))].sort();
  const headerBit = new Map(headerKeys.map((key, bit) => [key, bit]));
  const conds: number[] = [];
  const entry = (path: PathEntry): EntryDraft => {
    let methods = 0;
    for (const method of path.conditions?.methods ?? []) methods |= 1 << (METHODS as readonly string[]).indexOf(method);
    const bits = [...new Set((path.conditions?.headers ?? []).map((c) => headerBit.get(headerKey(c.name, c.value)) ?? 0))].sort((a, b) => a - b);
    const condStart = conds.length;
    conds.push(...bits);
    return { route: path.route, methods: methods >>> 0, condStart, condCount: bits.length };
  };

  const hosts = table.hosts.map((host, index): HostDraft => {
    const key = host.host === '*' ? '' : host.host.startsWith('*.') ? host.host.slice(2) : host.host;
    const draft: HostDraft = { index, host: host.host, key: utf8(key), fallback: host.fallback, root: [], groups: [], exactDepths: 0, prefixDepths: 0 };
    const byKey = new Map<string, GroupDraft>();
    for (const path of host.paths) {
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
  });

  const headers = headerKeys.map((key) => {
    const cut = key.indexOf('\n');
    return { name: utf8(key.slice(0, cut)), value: utf8(key.slice(cut + 1)) };
  });
  return { hosts, conds, headers };
}
