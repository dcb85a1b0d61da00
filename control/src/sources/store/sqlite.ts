/**
 * Standalone route store: one SQLite database (`node:sqlite`) in `--data-dir`.
 *
 * Durability: WAL journal with `synchronous=FULL`, so a write that resolved survives `kill -9`
 * and power loss; a write interrupted by `kill -9` is either wholly there or not at all.
 * Concurrency: every write is one `BEGIN IMMEDIATE` transaction that checks its precondition and
 * bumps a store-wide revision; `DatabaseSync` is synchronous, so nothing interleaves inside a
 * write in this process, and the immediate lock serialises writers from other processes.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { PorticoError } from '../../errors.ts';
import type { Ingress } from '../../state/objects.ts';
import { Ingress as IngressSchema } from '../../state/objects.ts';
import type { Precondition, RouteListener, RouteStore, StoredRoute } from './route-store.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, routeKey } from './route-store.ts';

/** The file name inside `--data-dir`. */
export const ROUTES_DATABASE = 'routes.sqlite';

const SCHEMA_VERSION = 1;

interface Row {
  namespace: string;
  name: string;
  revision: number;
  ingress: string;
}

/** Options of the SQLite store. */
export interface SqliteRouteStoreOptions {
  /** Directory of the database file (created if missing), or `:memory:` for tests. */
  readonly dataDir: string;
  /** Clock for creationTimestamp (tests). */
  readonly now?: () => Date;
}

/** The standalone RouteStore. Open with `new SqliteRouteStore({ dataDir })`; throws PORTICO_E_STORE when the file cannot be opened. */
export class SqliteRouteStore implements RouteStore {
  readonly kind = 'sqlite' as const;
  /** The database file path (`:memory:` in tests). */
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly listeners = new Set<RouteListener>();
  private readonly now: () => Date;
  private closed = false;

  constructor(options: SqliteRouteStoreOptions) {
    this.now = options.now ?? (() => new Date());
    try {
      if (options.dataDir !== ':memory:') mkdirSync(options.dataDir, { recursive: true, mode: 0o700 });
      this.path = options.dataDir === ':memory:' ? ':memory:' : join(options.dataDir, ROUTES_DATABASE);
      this.db = new DatabaseSync(this.path, { timeout: 5000 });
      this.db.exec('PRAGMA journal_mode = WAL');
      this.db.exec('PRAGMA synchronous = FULL');
      this.db.exec(`
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS routes (
          namespace TEXT NOT NULL,
          name TEXT NOT NULL,
          revision INTEGER NOT NULL,
          ingress TEXT NOT NULL,
          PRIMARY KEY (namespace, name)
        ) STRICT;
        INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', ${SCHEMA_VERSION}), ('revision', 0);
      `);
      const schema = (this.db.prepare("SELECT value FROM meta WHERE key = 'schema'").get() as { value: number }).value;
      if (schema !== SCHEMA_VERSION) throw new Error(`database schema ${schema} is not ${SCHEMA_VERSION}`);
    } catch (cause) {
      throw new PorticoError('PORTICO_E_STORE', `cannot open the route database in ${options.dataDir}: ${(cause as Error).message}`, { cause });
    }
  }

  async list(namespace?: string): Promise<StoredRoute[]> {
    const rows = (
      namespace === undefined
        ? this.db.prepare('SELECT * FROM routes ORDER BY namespace, name').all()
        : this.db.prepare('SELECT * FROM routes WHERE namespace = ? ORDER BY name').all(namespace)
    ) as unknown as Row[];
    return rows.map(toStored);
  }

  async get(namespace: string, name: string): Promise<StoredRoute | undefined> {
    const row = this.row(namespace, name);
    return row === undefined ? undefined : toStored(row);
  }

  async put(ingress: Ingress, precondition: Precondition): Promise<StoredRoute> {
    const namespace = ingress.metadata.namespace ?? 'default';
    const name = ingress.metadata.name;
    const stored = this.transaction(() => {
      const existing = this.row(namespace, name);
      check(existing, precondition, namespace, name);
      const revision = this.bump();
      const previous = existing === undefined ? undefined : (JSON.parse(existing.ingress) as Ingress);
      const metadata = {
        ...ingress.metadata,
        namespace,
        labels: { ...ingress.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
        uid: previous?.metadata.uid ?? randomUUID(),
        creationTimestamp: previous?.metadata.creationTimestamp ?? this.now().toISOString().replace(/\.\d+Z$/, 'Z'),
        generation: (previous?.metadata.generation ?? 0) + 1,
        resourceVersion: String(revision),
      };
      const { status: _status, ...rest } = ingress;
      const value: Ingress = { ...rest, metadata };
      this.db.prepare('INSERT INTO routes (namespace, name, revision, ingress) VALUES (?, ?, ?, ?) ON CONFLICT (namespace, name) DO UPDATE SET revision = excluded.revision, ingress = excluded.ingress').run(namespace, name, revision, JSON.stringify(value));
      return { ingress: value, etag: String(revision) };
    });
    this.emit({ type: 'upsert', route: stored });
    return stored;
  }

  async delete(namespace: string, name: string, precondition: Precondition): Promise<StoredRoute> {
    const deleted = this.transaction(() => {
      const existing = this.row(namespace, name);
      if (existing === undefined) throw new PorticoError('PORTICO_E_NOT_FOUND', `route ${routeKey(namespace, name)} not found`);
      check(existing, precondition, namespace, name);
      this.bump();
      this.db.prepare('DELETE FROM routes WHERE namespace = ? AND name = ?').run(namespace, name);
      return toStored(existing);
    });
    this.emit({ type: 'delete', ingress: deleted.ingress });
    return deleted;
  }

  subscribe(listener: RouteListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private row(namespace: string, name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM routes WHERE namespace = ? AND name = ?').get(namespace, name) as Row | undefined;
  }

  private bump(): number {
    const row = this.db.prepare("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value").get() as { value: number };
    return row.value;
  }

  /** Runs `work` in one immediate transaction; PorticoErrors pass through, anything else is PORTICO_E_STORE. */
  private transaction<T>(work: () => T): T {
    if (this.closed) throw new PorticoError('PORTICO_E_STORE', 'the route store is closed');
    try {
      this.db.exec('BEGIN IMMEDIATE');
    } catch (cause) {
      throw new PorticoError('PORTICO_E_STORE', `cannot start a write: ${(cause as Error).message}`, { cause });
    }
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      if (error instanceof PorticoError) throw error;
      throw new PorticoError('PORTICO_E_STORE', `write failed: ${(error as Error).message}`, { cause: error });
    }
  }

  private emit(change: Parameters<RouteListener>[0]): void {
    for (const listener of this.listeners) listener(change);
  }
}

function check(existing: Row | undefined, precondition: Precondition, namespace: string, name: string): void {
  if (precondition === undefined) return;
  if ('ifAbsent' in precondition) {
    if (existing !== undefined) throw new PorticoError('PORTICO_E_ROUTE_EXISTS', `route ${routeKey(namespace, name)} already exists`);
    return;
  }
  if (existing === undefined) throw new PorticoError('PORTICO_E_NOT_FOUND', `route ${routeKey(namespace, name)} not found`);
  if (String(existing.revision) !== precondition.ifMatch) {
    throw new PorticoError('PORTICO_E_PRECONDITION_FAILED', `route ${routeKey(namespace, name)} is at version ${existing.revision}, not ${precondition.ifMatch}: it changed since you read it`);
  }
}

function toStored(row: Row): StoredRoute {
  // Re-validated on the way out, so a hand-edited database cannot feed garbage into ClusterState.
  try {
    return { ingress: IngressSchema.parse(JSON.parse(row.ingress)), etag: String(row.revision) };
  } catch (cause) {
    throw new PorticoError('PORTICO_E_STORE', `stored route ${routeKey(row.namespace, row.name)} is unreadable: ${(cause as Error).message}`, { cause });
  }
}
