import { describe, expect, it } from 'vitest';
import { ObjectCompactor } from './compact.ts';

const ingress = (i: number, service: string) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: `app-${i}`, namespace: 'team-1', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: {
    ingressClassName: 'portico',
    rules: [{ host: `app-${i}.example.com`, http: { paths: ['/', '/api', '/static'].map((path) => ({ path, pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } })) } }],
  },
});

describe('ObjectCompactor', () => {
  it('keeps every value as it was, and shares equal subtrees and strings within an object and across objects', () => {
    const compactor = new ObjectCompactor();
    const a = ingress(1, 'svc-1');
    const b = ingress(2, 'svc-1');
    const textA = JSON.stringify(a);
    const textB = JSON.stringify(b);
    // Strings made apart (as a parser makes them), equal in value.
    b.metadata.namespace = ['team', '1'].join('-');
    expect(compactor.compact(a)).toBe(a);
    compactor.compact(b);
    expect(JSON.stringify(a)).toBe(textA);
    expect(JSON.stringify(b)).toBe(textB);
    const paths = a.spec.rules[0]!.http.paths;
    expect(paths[1]!.backend).toBe(paths[0]!.backend);
    expect(paths[2]!.backend).toBe(paths[0]!.backend);
    expect(b.spec.rules[0]!.http.paths[0]!.backend).toBe(paths[0]!.backend);
    // Different values are never shared.
    expect(b.spec.rules[0]).not.toBe(a.spec.rules[0]);
    expect(b.metadata).not.toBe(a.metadata);
    const c = ingress(3, 'svc-2');
    compactor.compact(c);
    expect(c.spec.rules[0]!.http.paths[0]!.backend).not.toBe(paths[0]!.backend);
    expect(c.spec.rules[0]!.http.paths[0]!.backend.service.port).toBe(paths[0]!.backend.service.port);
  });

  it('holds at most TABLE_LIMIT (8192) entries even within one object bigger than that, and keeps every value', () => {
    const compactor = new ObjectCompactor();
    const held = () => (compactor as unknown as { values: unknown[] }).values.length;
    // A big slice: 10,000 endpoints, each with its own address and the same conditions.
    const slice = { kind: 'EndpointSlice', metadata: { name: 'big' }, endpoints: Array.from({ length: 10_000 }, (_, i) => ({ addresses: [`10.${i >> 8}.${i & 255}.1`], conditions: { ready: true } })) };
    const text = JSON.stringify(slice);
    compactor.compact(slice);
    expect(held()).toBeLessThanOrEqual(8192);
    expect(JSON.stringify(slice)).toBe(text);
    // What the tables held stays shared past the limit.
    expect(slice.endpoints[9_999]!.conditions).toBe(slice.endpoints[0]!.conditions);
    compactor.compact({ kind: 'Service', metadata: { name: 'next' } }); // starts afresh
    expect(held()).toBeLessThan(10);
  });

  it('drops metadata.managedFields and nothing else', () => {
    const object = { kind: 'Service', metadata: { name: 's', managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }], labels: { a: 'b' } }, spec: { ports: [{ port: 80 }] } };
    new ObjectCompactor().compact(object);
    expect(object).toEqual({ kind: 'Service', metadata: { name: 's', labels: { a: 'b' } }, spec: { ports: [{ port: 80 }] } });
    expect('managedFields' in object.metadata).toBe(false);
  });

  it('tells apart what JSON would blur: -0 and 0, "1" and 1, an undefined member and none, a hole and undefined', () => {
    const compactor = new ObjectCompactor();
    const object = {
      zero: { n: 0 },
      minusZero: { n: -0 },
      text: { v: '1' },
      number: { v: 1 },
      undefinedMember: { a: undefined, b: 1 },
      noMember: { b: 1 },
      undefinedItem: [undefined, 1],
      // eslint-disable-next-line no-sparse-arrays
      hole: [, 1],
      nullItem: [null, 1],
    };
    compactor.compact(object);
    expect(Object.is(object.minusZero.n, -0)).toBe(true);
    expect(Object.is(object.zero.n, 0)).toBe(true);
    expect(object.text.v).toBe('1');
    expect(object.number.v).toBe(1);
    expect('a' in object.undefinedMember).toBe(true);
    expect('a' in object.noMember).toBe(false);
    expect(0 in object.undefinedItem).toBe(true);
    expect(0 in object.hole).toBe(false);
    expect(object.nullItem[0]).toBeNull();
  });

  it('hostile input: a document nested 100000 deep, an own __proto__, frozen parts, long strings, instances of classes', () => {
    const compactor = new ObjectCompactor();
    let deep: unknown = { leaf: 'x' };
    for (let i = 0; i < 100_000; i++) deep = { d: deep };
    const object = JSON.parse('{"kind":"Ingress","metadata":{"name":"n","annotations":{"a":"1"}},"spec":{"__proto__":{"polluted":true},"x":{"__proto__":{"polluted":true}}}}') as Record<string, Record<string, unknown>>;
    object.spec!.deep = deep;
    const frozen = Object.freeze({ a: { b: 'c' } });
    object.spec!.frozen = frozen;
    object.spec!.copy = { a: { b: 'c' } };
    const long = 'z'.repeat(10_000);
    object.spec!.long = long;
    const when = new Date(0);
    object.spec!.when = when;
    // A getter-only member whose value equals a subtree seen before: read, never assigned.
    const probe = { a: { b: 'c' } };
    Object.defineProperty(object.spec, 'probe', { enumerable: true, get: () => probe });
    expect(() => compactor.compact(object)).not.toThrow();
    expect(object.spec!.probe).toBe(probe);
    expect(Object.getPrototypeOf(object.spec)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(object.spec, '__proto__')?.value).toEqual({ polluted: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(object.spec!.frozen).toBe(frozen);
    expect(object.spec!.copy).toEqual({ a: { b: 'c' } });
    expect(object.spec!.long).toBe(long);
    expect(object.spec!.when).toBe(when);
    expect(object.spec!.deep).toBe(deep);
  });

  it('stays correct past its table bound (the tables start afresh)', () => {
    const compactor = new ObjectCompactor();
    const objects = Array.from({ length: 20_000 }, (_, i) => ingress(i, `svc-${i % 7000}`));
    const texts = objects.map((object) => JSON.stringify(object));
    for (const object of objects) compactor.compact(object);
    expect(objects.map((object) => JSON.stringify(object))).toEqual(texts);
    // Still sharing after the tables started again: the three paths of the last Ingress.
    const paths = objects.at(-1)!.spec.rules[0]!.http.paths;
    expect(paths[2]!.backend).toBe(paths[0]!.backend);
  });
});
