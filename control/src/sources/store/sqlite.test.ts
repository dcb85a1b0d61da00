import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Ingress } from '../../state/objects.ts';
import type { RouteChange } from './route-store.ts';
import { ROUTES_DATABASE, SqliteRouteStore } from './sqlite.ts';

const ingress = (name: string, host = `${name}.example.com`, namespace = 'default'): Ingress => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name, namespace },
  spec: { rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
});

const codeOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code;
  }
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'portico-store-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('SqliteRouteStore', () => {
  it('stores Ingresses with server-owned metadata and lists them sorted', async () => {
    const store = new SqliteRouteStore({ dataDir: dir, now: () => new Date('2026-01-02T03:04:05.678Z') });
    await store.put(ingress('b'), undefined);
    await store.put(ingress('a', 'a.example.com', 'zz'), undefined);
    const first = await store.put(ingress('a'), { ifAbsent: true });
    expect(first.ingress.metadata).toMatchObject({ name: 'a', namespace: 'default', labels: { 'app.kubernetes.io/managed-by': 'portico' }, creationTimestamp: '2026-01-02T03:04:05Z', generation: 1, resourceVersion: first.etag });
    expect((await store.list()).map((r) => `${r.ingress.metadata.namespace}/${r.ingress.metadata.name}`)).toEqual(['default/a', 'default/b', 'zz/a']);
    expect((await store.list('zz')).length).toBe(1);
    store.close();
  });

  it('enforces preconditions and keeps uid and creationTimestamp across replaces', async () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    const store = new SqliteRouteStore({ dataDir: ':memory:', now: () => new Date((clock += 1000)) });
    const created = await store.put(ingress('a'), { ifAbsent: true });
    expect(await codeOf(store.put(ingress('a'), { ifAbsent: true }))).toBe('PORTICO_E_ROUTE_EXISTS');
    expect(await codeOf(store.put(ingress('a'), { ifMatch: 'nope' }))).toBe('PORTICO_E_PRECONDITION_FAILED');
    expect(await codeOf(store.put(ingress('x'), { ifMatch: '1' }))).toBe('PORTICO_E_NOT_FOUND');
    const replaced = await store.put(ingress('a', 'new.example.com'), { ifMatch: created.etag });
    expect(Number(replaced.etag)).toBeGreaterThan(Number(created.etag));
    expect(replaced.ingress.metadata).toMatchObject({ uid: created.ingress.metadata.uid, creationTimestamp: created.ingress.metadata.creationTimestamp, generation: 2 });
    expect(await codeOf(store.delete('default', 'a', { ifMatch: created.etag }))).toBe('PORTICO_E_PRECONDITION_FAILED');
    expect((await store.delete('default', 'a', { ifMatch: replaced.etag })).etag).toBe(replaced.etag);
    expect(await codeOf(store.delete('default', 'a', undefined))).toBe('PORTICO_E_NOT_FOUND');
    expect(await store.get('default', 'a')).toBeUndefined();
    store.close();
    expect(await codeOf(store.put(ingress('late'), undefined))).toBe('PORTICO_E_STORE');
  });

  it('tells subscribers about every committed change, in order, and nothing about refused writes', async () => {
    const store = new SqliteRouteStore({ dataDir: ':memory:' });
    const seen: string[] = [];
    const stop = store.subscribe((change: RouteChange) => seen.push(change.type === 'upsert' ? `upsert ${change.route.ingress.metadata.name}@${change.route.etag}` : `delete ${change.ingress.metadata.name}`));
    await store.put(ingress('a'), undefined);
    await codeOf(store.put(ingress('a'), { ifAbsent: true }));
    await store.delete('default', 'a', undefined);
    stop();
    await store.put(ingress('b'), undefined);
    expect(seen).toEqual(['upsert a@1', 'delete a']);
    store.close();
  });

  it('survives a restart: the same routes and versions, and the revision keeps growing', async () => {
    const store = new SqliteRouteStore({ dataDir: dir });
    const a = await store.put(ingress('a'), undefined);
    await store.put(ingress('b'), undefined);
    await store.delete('default', 'b', undefined);
    store.close();
    const reopened = new SqliteRouteStore({ dataDir: dir });
    expect(await reopened.list()).toEqual([a]);
    expect(Number((await reopened.put(ingress('c'), undefined)).etag)).toBe(4);
    reopened.close();
    expect((await stat(join(dir, ROUTES_DATABASE))).isFile()).toBe(true);
  });

  it('keeps every acknowledged write when the writer is killed with SIGKILL mid-stream', async () => {
    const child = spawn(process.execPath, [new URL('./testdata/writer.ts', import.meta.url).pathname, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acked: string[] = [];
    let buffer = '';
    await new Promise<void>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code) => reject(new Error(`writer exited early with ${code}`)));
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        const lines = buffer.split('\n');
        buffer = lines.pop()!;
        for (const line of lines) acked.push(line.split(' ')[1]!);
        if (acked.length >= 200) {
          child.removeAllListeners('exit');
          child.kill('SIGKILL');
          child.on('exit', () => resolve());
        }
      });
    });
    const store = new SqliteRouteStore({ dataDir: dir });
    const names = new Set((await store.list()).map((r) => r.ingress.metadata.name));
    for (const name of acked) expect(names.has(name), `acknowledged write ${name} lost`).toBe(true);
    // Whatever was in flight is wholly there or wholly absent: every stored row is a complete, readable Ingress.
    expect(names.size).toBeGreaterThanOrEqual(acked.length);
    store.close();
    const db = new DatabaseSync(join(dir, ROUTES_DATABASE));
    expect(db.prepare('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' });
    db.close();
  }, 30_000);

  it('refuses to open a database of another schema version', async () => {
    const db = new DatabaseSync(join(dir, ROUTES_DATABASE));
    db.exec("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT; INSERT INTO meta VALUES ('schema', 99)");
    db.close();
    expect(() => new SqliteRouteStore({ dataDir: dir })).toThrow(expect.objectContaining({ code: 'PORTICO_E_STORE' }));
  });
});
