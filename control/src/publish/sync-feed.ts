/**
 * The sync bodies data planes receive, encoded once and shared: the full body of the current
 * version (JSON written item by item with pauses, gzipped off the event loop) and, per
 * (known version, current version) pair, the delta body. Every long-poll answered by the same
 * publish gets the same buffers, so fan-out costs bytes on the wire, not work per node.
 *
 * A node whose version is no longer retained in full (or unknown) gets the full body.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzip, gzip, gzipSync } from 'node:zlib';
import type { BundleCompiler } from '../snapshot/bundle-compile.ts';
import { BundleShipper } from '../snapshot/bundle-wire.ts';
import type { SnapshotDelta } from '../snapshot/delta.ts';
import { onlyEndpointSets, snapshotDelta } from '../snapshot/delta.ts';
import type { Snapshot } from '../snapshot/schema.ts';
import { GzipText } from './gzip-text.ts';
import type { PublishedSnapshot, SnapshotHistory } from './history.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/** What a sync answer carries: `full` snapshot, `delta`, or a delta of endpoint sets alone. */
export type SyncChange = 'full' | 'delta' | 'endpoints';

/** One encoded sync body. */
export interface SyncBody {
  readonly change: SyncChange;
  readonly version: string;
  /** The body, gzipped. */
  readonly gzip: Buffer;
  /** The body uncompressed (kept for small bodies only; `raw()` inflates the others). */
  raw(): Promise<Buffer>;
}

/** Items written between two pauses when encoding a full body. */
const ITEMS_PER_SLICE = 200;
/** Bodies whose uncompressed form is kept beside the gzipped one. */
const KEEP_RAW_BELOW = 64 * 1024;
/** The least output buffer of a small delta's gzip (zlib's least is 64 bytes). */
const SMALL_GZIP_CHUNK = 1024;
/** Delta bodies kept at most (all to the current version). */
const MAX_DELTAS = 64;

/**
 * How a body is written: `json` (the snapshot or delta alone) or `bundle` (plus the control plane's
 * compiled table chunks of the hosts it carries and the bundle digest; snapshot/bundle-wire.ts).
 */
export type SyncFormat = 'json' | 'bundle';

/**
 * The JSON of a full sync body, written in slices so no single step blocks the event loop long;
 * with `shipper` (the bundle format), plus its `bundle` member: every host's chunk, compiled and
 * encoded in slices too, then the digest of the whole version.
 */
async function encodeFull(snapshot: Snapshot, shipper?: BundleShipper): Promise<Buffer> {
  // Through reused scratch buffers (gzip-text.ts): not a Buffer per slice written.
  const zip = new GzipText();
  const write = (text: string) => zip.write(text);
  const list = async (items: readonly unknown[]) => {
    await write('[');
    for (let i = 0; i < items.length; i += ITEMS_PER_SLICE) {
      const slice = items.slice(i, i + ITEMS_PER_SLICE).map((item) => JSON.stringify(item));
      await write((i === 0 ? '' : ',') + slice.join(','));
      await yieldToLoop();
    }
    await write(']');
  };
  // Same key order as the Snapshot schema, so the body is the snapshot's JSON.
  await write(`{"type":"full","version":${JSON.stringify(snapshot.version)},"snapshot":{"apiVersion":${JSON.stringify(snapshot.apiVersion)},"kind":"Snapshot","hosts":`);
  await list(snapshot.hosts);
  await write(`,"defaultRoute":${JSON.stringify(snapshot.defaultRoute)},"endpointSets":`);
  await list(snapshot.endpointSets);
  await write(',"certificates":');
  await list(snapshot.certificates);
  await write(`,"version":${JSON.stringify(snapshot.version)}}`);
  if (shipper !== undefined) {
    // The same JSON as JSON.stringify(shipper.ship(snapshot, snapshot.hosts)), without one step
    // compiling and encoding every host (a second at 10,000 hosts on a busy core).
    const entries: string[] = [];
    for (let i = 0; i < snapshot.hosts.length; i += ITEMS_PER_SLICE) {
      for (const host of snapshot.hosts.slice(i, i + ITEMS_PER_SLICE)) entries.push(`${JSON.stringify(host.host)}:"${shipper.chunkText(host)}"`);
      await yieldToLoop();
    }
    await write(`,"bundle":{"digest":${JSON.stringify(shipper.digestOf(snapshot))},"chunks":{`);
    for (let i = 0; i < entries.length; i += ITEMS_PER_SLICE) {
      await write((i === 0 ? '' : ',') + entries.slice(i, i + ITEMS_PER_SLICE).join(','));
      await yieldToLoop();
    }
    await write('}}');
  }
  await write('}');
  return zip.end();
}

async function encoded(change: SyncChange, version: string, make: () => Promise<{ gzip: Buffer; raw?: Buffer }>): Promise<SyncBody> {
  const body = await make();
  const raw = body.raw;
  return { change, version, gzip: body.gzip, raw: raw !== undefined ? async () => raw : async () => gunzipAsync(body.gzip) };
}

/** Encoded sync bodies of one history, computed once each. */
export class SyncFeed {
  private readonly history: SnapshotHistory;
  private readonly full = new Map<SyncFormat, { readonly version: string; readonly body: Promise<SyncBody> }>();
  /** Compiles the table chunks `bundle` bodies carry (each host once). */
  private readonly shipper: BundleShipper;
  private readonly deltas = new Map<string, Promise<SyncBody>>();
  /** Delta bodies being encoded right now. */
  private readonly encoding = new Set<Promise<SyncBody>>();
  /** Bodies encoded so far (for tests and metrics): a second node asking the same costs nothing. */
  readonly stats = { fullEncodes: 0, deltaEncodes: 0 };

  /** `compiler`: the bundle compiler to share (standalone's data plane compiles each version with it too). */
  constructor(history: SnapshotHistory, compiler?: BundleCompiler) {
    this.history = history;
    this.shipper = new BundleShipper(compiler);
    // Bodies toward an older version are never asked for again: only the current one is served.
    history.subscribe((published) => {
      for (const key of this.deltas.keys()) if (!key.endsWith(`>${published.version}`)) this.deltas.delete(key);
    });
  }

  /**
   * The body bringing a node from `known` to `target`: a delta when `known` is retained in full
   * (and `allowDelta`), else the full snapshot. Rejects only on a bug (encoding failed).
   */
  body(known: string | undefined, target: PublishedSnapshot, allowDelta = true, format: SyncFormat = 'json'): Promise<SyncBody> {
    const base = allowDelta && known !== undefined && known !== target.version ? this.history.get(known) : undefined;
    if (base === undefined) return this.fullBody(target.snapshot, format);
    const key = `${base.version}>${target.version}|${format}`;
    let body = this.deltas.get(key);
    if (body === undefined) {
      body = this.deltaBody(snapshotDelta(base.snapshot, target.snapshot), format === 'bundle' ? target.snapshot : undefined);
      if (this.deltas.size >= MAX_DELTAS) this.deltas.delete(this.deltas.keys().next().value!);
      this.deltas.set(key, body);
      body.catch(() => this.deltas.delete(key));
    }
    return body;
  }

  private fullBody(snapshot: Snapshot, format: SyncFormat): Promise<SyncBody> {
    const cached = this.full.get(format);
    if (cached?.version === snapshot.version) return cached.body;
    this.stats.fullEncodes++;
    const body = encoded('full', snapshot.version, async () => ({ gzip: await encodeFull(snapshot, format === 'bundle' ? this.shipper : undefined) }));
    this.full.set(format, { version: snapshot.version, body });
    body.catch(() => {
      if (this.full.get(format)?.body === body) this.full.delete(format);
    });
    return body;
  }

  /** A delta body; with `target` (the bundle format), plus the compiled chunks of the hosts it sets. */
  private deltaBody(delta: SnapshotDelta, target: Snapshot | undefined): Promise<SyncBody> {
    this.stats.deltaEncodes++;
    const body = encoded(onlyEndpointSets(delta) ? 'endpoints' : 'delta', delta.version, async () => {
      // Not in the task that published the version (the rebuild): encoding it (the bundle format
      // compiles the version's table) is a task of its own, and requests waiting meanwhile get a turn.
      await yieldToLoop();
      const raw = Buffer.from(JSON.stringify({ type: 'delta', ...delta, ...(target === undefined ? {} : { bundle: this.shipper.ship(target, delta.hosts.set) }) }));
      // A small delta (the common one) is zipped at once, in the same task: the waiting nodes are
      // answered next (a local data plane waits for them: `settled()`).
      // Its output buffer as long as the delta (gzip does not grow text by more than its header):
      // zlib's default is a 16 KiB buffer the body (a view of it) would hold for a few hundred bytes.
      if (raw.length < KEEP_RAW_BELOW) return { gzip: gzipSync(raw, { chunkSize: Math.max(SMALL_GZIP_CHUNK, raw.length) }), raw };
      return { gzip: await gzipAsync(raw) };
    });
    this.encoding.add(body);
    const done = () => this.encoding.delete(body);
    body.then(done, done);
    return body;
  }

  /** Resolves once every delta body being encoded now is done (encoded or failed). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.encoding]);
  }
}
