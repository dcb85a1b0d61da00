// The layout lives twice (AssemblyScript decoder, TypeScript encoder); this keeps the copies equal.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import * as layout from '../src/host/layout.ts';
import { extentBytes } from '../src/host/area.ts';
import { TABLE_BLOCK_BYTES } from '../src/host/blocks.ts';

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

it('the endpoint area geometry (format 6): 4 KiB buckets of 64 set ids, 16 to a table block, records over 2 KiB and overflow extents in 12.5 % size classes', () => {
  expect(layout.EndpointArea).toEqual({ BUCKET_BYTES: 4096, BUCKET_SHIFT: 6, SET_MAX: 2048, CLASS_STEPS: 8 });
  expect(TABLE_BLOCK_BYTES / layout.EndpointArea.BUCKET_BYTES).toBe(16);
  // A record of 3, 255, 256 and 300 endpoints (4 + 8 n bytes): exact up to 64 bytes, then in steps of 1/8 of the power of two below.
  expect([28, 2044, 2052, 2404].map((bytes) => extentBytes(bytes, layout.EndpointArea.CLASS_STEPS))).toEqual([32, 2048, 2304, 2560]);
  let last = 0;
  for (let bytes = 4; bytes < 1 << 20; bytes += 4) {
    const extent = extentBytes(bytes, layout.EndpointArea.CLASS_STEPS);
    // Whole 8-byte units, never below the record nor 12.5 % past it, never smaller for a larger record.
    if (extent % 8 !== 0 || extent < bytes || extent > bytes * 1.125 + 8 || extent < last) expect.unreachable(`${bytes} bytes: extent ${extent}`);
    last = extent;
  }
});
