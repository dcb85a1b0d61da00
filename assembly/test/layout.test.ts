// The layout lives twice (AssemblyScript decoder, TypeScript encoder); this keeps the copies equal.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as layout from '../src/host/layout.ts';

// AssemblyScript constant prefix -> host-side object.
const GROUPS: Record<string, Record<string, number>> = {
  H: layout.Header, HOST: layout.HostRecord, SLOT: layout.Slot, GROUP: layout.Group, KIND: layout.Kind,
  ENTRY: layout.Entry, PAIR: layout.HeaderPair, ROUTE: layout.RouteRecord, BACKEND: layout.BackendRecord,
  SET: layout.SetRecord, ENDPOINT: layout.Endpoint, FORMAT: layout.Format, LIMIT: layout.Limit,
};

function wasmConstants(): Map<string, number> {
  const source = readFileSync(new URL('../src/wasm/table.ts', import.meta.url), 'utf8');
  const found = new Map<string, number>();
  for (const [, name, value] of source.matchAll(/export const (\w+): u32 = (0x[0-9a-f]+|\d+);/g)) {
    const key = name === 'MAGIC' || name === 'VERSION' ? `FORMAT_${name}` : (name as string);
    found.set(key, Number(value));
  }
  return found;
}

it('host layout constants equal the AssemblyScript ones, both ways', () => {
  const wasm = wasmConstants();
  const host = new Map<string, number>();
  for (const [prefix, fields] of Object.entries(GROUPS)) {
    for (const [field, value] of Object.entries(fields)) host.set(`${prefix}_${field}`, value);
  }
  expect(Object.fromEntries([...host].sort())).toEqual(Object.fromEntries([...wasm].sort()));
});
