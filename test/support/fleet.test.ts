import { describe, expect, it } from 'vitest';
import { ClusterState } from '@portico/control/state';
import { parseManifestText } from '@portico/control/manifests/parse';
import { BIG_HOST_PATHS, fleetFile, fleetFileName, fleetFileOf, fleetShape, isBigHost, parseSizes, percentile, summarize, versionFromEtag } from './fleet.ts';

describe('fleet benchmark: synthetic manifests', () => {
  const shape = fleetShape(1000);

  it('is deterministic: the same file twice is the same bytes', () => {
    expect(fleetFile(shape, 3)).toBe(fleetFile(shape, 3));
    expect(fleetFile(shape, 3, { ingress: 3, edit: 7 })).toBe(fleetFile(shape, 3, { ingress: 3, edit: 7 }));
  });

  it('holds every Ingress once, 3 paths each, with a Service and an EndpointSlice per 5 Ingresses, in 20 Lists', () => {
    expect(shape.files).toBe(20);
    const kinds = new Map<string, Set<string>>();
    let paths = 0;
    for (let f = 0; f < shape.files; f++) {
      const list = JSON.parse(fleetFile(shape, f)) as { kind: string; items: { kind: string; metadata: { namespace: string; name: string }; spec?: { rules?: { http: { paths: unknown[] } }[] } }[] };
      expect(list.kind).toBe('List');
      for (const item of list.items) {
        const names = kinds.get(item.kind) ?? new Set<string>();
        const key = `${item.metadata.namespace}/${item.metadata.name}`;
        expect(names.has(key), key).toBe(false);
        kinds.set(item.kind, names.add(key));
        if (item.kind === 'Ingress') paths += item.spec!.rules![0]!.http.paths.length;
      }
    }
    expect(kinds.get('Ingress')?.size).toBe(1000);
    expect(kinds.get('Service')?.size).toBe(200);
    expect(kinds.get('EndpointSlice')?.size).toBe(200);
    expect(paths).toBe(3000);
    expect(fleetFileName(7)).toBe('fleet-07.json');
  });

  it('parses without problems, and every Ingress names a Service that exists in the same namespace', () => {
    const state = new ClusterState();
    for (let f = 0; f < shape.files; f++) {
      const { objects, problems } = parseManifestText(fleetFile(shape, f), fleetFileName(f));
      expect(problems).toEqual([]);
      for (const object of objects) state.upsert(object);
    }
    for (const ingress of state.ingresses.values()) {
      const service = ingress.spec!.rules![0]!.http!.paths[0]!.backend.service!.name;
      expect(state.services.has(`${ingress.metadata.namespace}/${service}`), `${ingress.metadata.name} → ${service}`).toBe(true);
    }
  });

  it('an edit changes exactly one path of one Ingress, in the file fleetFileOf names', () => {
    const file = fleetFileOf(shape, 42);
    const before = JSON.parse(fleetFile(shape, file)) as { items: unknown[] };
    const after = JSON.parse(fleetFile(shape, file, { ingress: 42, edit: 5 })) as { items: unknown[] };
    const changed = after.items.filter((item, i) => JSON.stringify(item) !== JSON.stringify(before.items[i]));
    expect(changed).toHaveLength(1);
    expect(JSON.stringify(changed[0])).toContain('"/api-e5"');
    expect(JSON.stringify(changed[0])).toContain('"app-42"');
    expect(fleetFile(shape, file, { ingress: 42, edit: 6 })).not.toBe(fleetFile(shape, file, { ingress: 42, edit: 5 }));
    // An edit aimed at an Ingress of another file leaves this file alone.
    expect(fleetFile(shape, (file + 1) % shape.files, { ingress: 42, edit: 5 })).toBe(fleetFile(shape, (file + 1) % shape.files));
  });

  it('an endpoint edit moves one endpoint of the Ingress\'s Service and leaves every path alone', () => {
    // Ingress 0's Service (svc-0) lives in file 0, as Ingress 0 does: the file bench:fleet rewrites.
    const before = JSON.parse(fleetFile(shape, 0)) as { items: unknown[] };
    const after = JSON.parse(fleetFile(shape, 0, { ingress: 0, edit: 5, endpoints: true })) as { items: unknown[] };
    const changed = after.items.filter((item, i) => JSON.stringify(item) !== JSON.stringify(before.items[i]));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ kind: 'EndpointSlice', metadata: { name: 'svc-0-x1' } });
    expect(JSON.stringify(changed[0])).toContain('"10.127.0.5"');
    expect(fleetFile(shape, 0, { ingress: 0, edit: 6, endpoints: true })).not.toBe(fleetFile(shape, 0, { ingress: 0, edit: 5, endpoints: true }));
  });

  it('a host edit adds a host to one Ingress on even edits and takes it away on odd ones, renaming its path each time', () => {
    const file = fleetFileOf(shape, 42);
    const rulesOf = (edit: number) => {
      const list = JSON.parse(fleetFile(shape, file, { ingress: 42, edit, hosts: true })) as { items: { metadata: { name: string }; spec?: { rules?: { host: string; http: { paths: { path: string }[] } }[] } }[] };
      return list.items.find((item) => item.metadata.name === 'app-42')!.spec!.rules!;
    };
    const even = rulesOf(4);
    expect(even.map((rule) => rule.host)).toEqual(['app-42.team-0.example.com', 'x4.app-42.team-0.example.com']);
    expect(even[1]!.http.paths.map((path) => path.path)).toEqual(['/', '/api-e4', '/static']);
    const odd = rulesOf(5);
    expect(odd.map((rule) => rule.host)).toEqual(['app-42.team-0.example.com']);
    expect(odd[0]!.http.paths.map((path) => path.path)).toEqual(['/', '/api-e5', '/static']);
    // Every edit a different file; other Ingresses untouched.
    expect(fleetFile(shape, file, { ingress: 42, edit: 6, hosts: true })).not.toBe(fleetFile(shape, file, { ingress: 42, edit: 4, hosts: true }));
    const before = JSON.parse(fleetFile(shape, file)) as { items: unknown[] };
    const after = JSON.parse(fleetFile(shape, file, { ingress: 42, edit: 4, hosts: true })) as { items: unknown[] };
    expect(after.items.filter((item, i) => JSON.stringify(item) !== JSON.stringify(before.items[i]))).toHaveLength(1);
  });

  it('a scale edit gives the Ingress\'s Service a fourth endpoint on even edits and three on odd ones, paths untouched', () => {
    const endpointsOf = (edit: number) => {
      const list = JSON.parse(fleetFile(shape, 0, { ingress: 0, edit, scale: true })) as { items: { kind: string; metadata: { name: string }; endpoints?: { addresses: string[] }[] }[] };
      return list.items.find((item) => item.kind === 'EndpointSlice' && item.metadata.name === 'svc-0-x1')!.endpoints!.map((endpoint) => endpoint.addresses[0]);
    };
    const base = JSON.parse(fleetFile(shape, 0)) as { items: { kind: string; metadata: { name: string }; endpoints?: { addresses: string[] }[] }[] };
    const three = base.items.find((item) => item.kind === 'EndpointSlice' && item.metadata.name === 'svc-0-x1')!.endpoints!.map((endpoint) => endpoint.addresses[0]);
    expect(endpointsOf(4)).toEqual([...three, '10.126.0.4']);
    expect(endpointsOf(5)).toEqual(three);
    expect(fleetFile(shape, 0, { ingress: 0, edit: 6, scale: true })).not.toBe(fleetFile(shape, 0, { ingress: 0, edit: 4, scale: true }));
    const before = JSON.parse(fleetFile(shape, 0)) as { items: unknown[] };
    const after = JSON.parse(fleetFile(shape, 0, { ingress: 0, edit: 4, scale: true })) as { items: unknown[] };
    const changed = after.items.filter((item, i) => JSON.stringify(item) !== JSON.stringify(before.items[i]));
    expect(changed).toHaveLength(1);
    expect(changed[0]).toMatchObject({ kind: 'EndpointSlice' });
  });

  it('big hosts: every ingresses/bigHosts-th Ingress has BIG_HOST_PATHS paths, the others 3', () => {
    const shape = { ...fleetShape(100), bigHosts: 4 };
    const big = Array.from({ length: 100 }, (_, i) => i).filter((i) => isBigHost(shape, i));
    expect(big).toEqual([0, 25, 50, 75]);
    expect(isBigHost(fleetShape(100), 0)).toBe(false);
    const pathsOf = (i: number): number => {
      const list = JSON.parse(fleetFile(shape, fleetFileOf(shape, i))) as { items: { kind: string; metadata: { name: string }; spec: { rules: { http: { paths: unknown[] } }[] } }[] };
      return list.items.find((item) => item.kind === 'Ingress' && item.metadata.name === `app-${i}`)!.spec.rules[0]!.http.paths.length;
    };
    expect(pathsOf(25)).toBe(BIG_HOST_PATHS);
    expect(pathsOf(26)).toBe(3);
  });

  it('refuses a shape it cannot build', () => {
    expect(() => fleetShape(0)).toThrow(RangeError);
    expect(() => fleetShape(1.5)).toThrow(RangeError);
    expect(fleetShape(3).files).toBe(3);
  });
});

describe('fleet benchmark: statistics and parsing', () => {
  it.each([
    { name: 'empty', values: [], p50: Number.NaN, p99: Number.NaN, max: Number.NaN },
    { name: 'one value', values: [7], p50: 7, p99: 7, max: 7 },
    { name: 'unsorted 1..10', values: [10, 1, 9, 2, 8, 3, 7, 4, 6, 5], p50: 5, p99: 10, max: 10 },
    { name: '1..100 nearest rank', values: Array.from({ length: 100 }, (_, i) => 100 - i), p50: 50, p99: 99, max: 100 },
    { name: '1..1000', values: Array.from({ length: 1000 }, (_, i) => i + 1), p50: 500, p99: 990, max: 1000 },
  ])('summarize: $name', ({ values, p50, p99, max }) => {
    const copy = [...values];
    expect(summarize(values)).toEqual({ n: values.length, p50, p99, max });
    expect(values).toEqual(copy);
  });

  it('percentile takes the nearest rank, clamped to the sample', () => {
    expect(percentile([1, 2, 3, 4], 0.25)).toBe(1);
    expect(percentile([1, 2, 3, 4], 0.26)).toBe(2);
    expect(percentile([1, 2, 3, 4], 1)).toBe(4);
    expect(percentile([1, 2, 3, 4], 0)).toBe(1);
  });

  it.each([
    ['"sha256:abc"', 'sha256:abc'],
    ['W/"sha256:abc"', 'sha256:abc'],
    ['sha256:abc', 'sha256:abc'],
    ['""', undefined],
    [undefined, undefined],
  ])('versionFromEtag(%s)', (etag, version) => {
    expect(versionFromEtag(etag)).toBe(version);
  });

  it('parseSizes takes up to 6 positive counts and names a bad one', () => {
    expect(parseSizes('1000,10000,50000')).toEqual([1000, 10000, 50000]);
    expect(parseSizes(' 5 ')).toEqual([5]);
    expect(() => parseSizes('1000,ten')).toThrow(/"ten"/);
    expect(() => parseSizes('0')).toThrow(RangeError);
    expect(() => parseSizes('1e3')).toThrow(RangeError);
    expect(() => parseSizes('1,2,3,4,5,6,7')).toThrow(/1 to 6/);
    expect(() => parseSizes('300000')).toThrow(RangeError);
  });
});
