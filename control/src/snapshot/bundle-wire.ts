/**
 * Compiled tables on the sync channel. A data plane that asks for them (`Accept:
 * application/vnd.portico.bundle+json` on `GET /v1/sync`) gets, beside the JSON snapshot or delta,
 * `bundle: {digest, chunks}`: the table chunk the control plane compiled for every host the body
 * carries (every host of a full body, the hosts in `hosts.set` of a delta), base64, and the digest
 * of the whole compiled bundle of the announced version. The data plane takes those chunks
 * instead of compiling the hosts, assembles the version, and serves it only when its bundle has
 * exactly that digest: the table is compiled once, by the control plane, and a damaged chunk
 * cannot be served. Both sides name the table layout and the digest scheme they build in the media
 * type's parameters (`BUNDLE_FORMAT`): a data plane of another release (a rolling upgrade) gets
 * the plain JSON and compiles by itself, instead of refusing every version whose digest it cannot
 * reproduce.
 */
import { Format, chunkFromBytes, chunkToBytes } from '@portico/assembly/encode';
import type { TableChunk } from '@portico/assembly/encode';
import { PorticoError } from '../errors.ts';
import { BundleCompiler } from './bundle-compile.ts';
import type { Snapshot, SnapshotHost } from './schema.ts';

/** The media type a data plane accepts to get compiled chunks with its sync bodies. */
export const BUNDLE_MEDIA_TYPE = 'application/vnd.portico.bundle+json';

/** The scheme of `digestOf` this build uses: 2 since the endpoint sets are hashed by blocks of sets (before, unnamed: their JSON whole). */
export const BUNDLE_DIGEST_SCHEME = 2;

/**
 * The bundle format of this build, as a media type with parameters: its table layout
 * (Format.VERSION: the chunks' bytes) and its digest scheme. What a data plane accepts and a
 * control plane answers with; a release that lays out or hashes bundles otherwise names another.
 */
export const BUNDLE_FORMAT = `${BUNDLE_MEDIA_TYPE}; layout=${Format.VERSION}; digest=${BUNDLE_DIGEST_SCHEME}`;

/** Whether one media type (with its parameters, e.g. a Content-Type) is BUNDLE_FORMAT: this media type with this layout and digest scheme, not refused by `q=0`. */
export function isBundleFormat(mediaType: string | null | undefined): boolean {
  if (mediaType === null || mediaType === undefined) return false;
  const [type, ...parameters] = mediaType.split(';').map((part) => part.trim());
  if (type?.toLowerCase() !== BUNDLE_MEDIA_TYPE) return false;
  const named = new Map(parameters.map((parameter) => {
    const eq = parameter.indexOf('=');
    return [parameter.slice(0, eq < 0 ? parameter.length : eq).trim().toLowerCase(), eq < 0 ? '' : parameter.slice(eq + 1).trim()];
  }));
  return named.get('layout') === String(Format.VERSION) && named.get('digest') === String(BUNDLE_DIGEST_SCHEME) && !/^0(\.0*)?$/.test(named.get('q') ?? '1');
}

/** Whether an Accept header lists BUNDLE_FORMAT (`isBundleFormat` of one of its entries): an older data plane's bare media type does not. */
export function acceptsBundleFormat(accept: string | null | undefined): boolean {
  return (accept ?? '').split(',').some(isBundleFormat);
}

/** Bytes of the buffer chunk texts are encoded in (a host's chunk is a few hundred bytes; one of many routes can be more). */
const SCRATCH_BYTES = 16 * 1024;

/** The `bundle` member of a sync body. */
export interface ShippedBundle {
  /** `digestOf` the full bundle of the body's version. */
  readonly digest: string;
  /** Per host name, its table chunk's wire bytes (`chunkToBytes`), base64. */
  readonly chunks: Readonly<Record<string, string>>;
}

/** A `bundle` member decoded: the chunks by host name. */
export interface ReceivedBundle {
  readonly digest: string;
  readonly chunks: ReadonlyMap<string, TableChunk>;
}

/** Compiles what sync bodies ship; one per control process (its pieces live as long as the snapshot items). */
export class BundleShipper {
  readonly #compiler: BundleCompiler;

  /** `compiler`: one to share (standalone's local data plane compiles each version with the same one). */
  constructor(compiler: BundleCompiler = new BundleCompiler()) {
    this.#compiler = compiler;
  }
  #digest: { readonly version: string; readonly digest: string } | undefined;
  /** Where chunkText encodes a chunk (a larger chunk gets an array of its own). */
  readonly #scratch = new Uint8Array(SCRATCH_BYTES);

  /** The digest of `snapshot`'s full bundle (compiled once per version). */
  digestOf(snapshot: Snapshot): string {
    if (this.#digest?.version !== snapshot.version) this.#digest = { version: snapshot.version, digest: this.#compiler.compile(snapshot).digest };
    return this.#digest.digest;
  }

  /** The `bundle` member for a body carrying `hosts` of `snapshot` (all of them for a full body). */
  ship(snapshot: Snapshot, hosts: readonly SnapshotHost[]): ShippedBundle {
    const digest = this.digestOf(snapshot);
    const chunks: Record<string, string> = {};
    for (const host of hosts) chunks[host.host] = this.chunkText(host);
    return { digest, chunks };
  }

  /** The wire text of `host`'s chunk (base64 of `chunkToBytes`), compiling the host if it is new: one entry of `chunks`. */
  chunkText(host: SnapshotHost): string {
    // Encoded into the one scratch buffer and read for base64 at once: a full body encodes every
    // host's chunk, and an array each was 50,000 ArrayBuffers at fleet scale.
    const bytes = chunkToBytes(this.#compiler.chunkOf(host), this.#scratch);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Decodes a sync body's `bundle` member. Throws PORTICO_E_SNAPSHOT_INVALID naming the host whose
 * chunk is not base64 or not a well-formed chunk, or a digest that is not `sha256:<hex>`.
 */
export function readShippedBundle(json: unknown): ReceivedBundle {
  const value = json as { digest?: unknown; chunks?: unknown } | null;
  if (typeof value !== 'object' || value === null || typeof value.digest !== 'string' || !DIGEST.test(value.digest) || typeof value.chunks !== 'object' || value.chunks === null || Array.isArray(value.chunks)) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', 'bundle: expected {digest: "sha256:<hex>", chunks: {<host>: <base64>}}');
  }
  const chunks = new Map<string, TableChunk>();
  for (const [host, text] of Object.entries(value.chunks as Record<string, unknown>)) {
    if (typeof text !== 'string' || text.length % 4 !== 0 || !BASE64.test(text)) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `bundle.chunks[${JSON.stringify(host)}]: not base64`);
    try {
      chunks.set(host, chunkFromBytes(Buffer.from(text, 'base64')));
    } catch (cause) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `bundle.chunks[${JSON.stringify(host)}]: ${(cause as Error).message}`, { cause });
    }
  }
  return { digest: value.digest, chunks };
}

/**
 * Seeds `compiler` with the received chunks of `snapshot`'s hosts (each must fit its host), so
 * compiling the snapshot assembles them instead of compiling those hosts. Throws
 * PORTICO_E_SNAPSHOT_INVALID for a chunk of a host the snapshot does not have, or one that does not fit.
 */
export function seedShipped(compiler: BundleCompiler, snapshot: Snapshot, received: ReceivedBundle): void {
  if (received.chunks.size === 0) return;
  const byName = new Map(snapshot.hosts.map((host) => [host.host, host]));
  for (const [name, chunk] of received.chunks) {
    const host = byName.get(name);
    if (host === undefined) throw new PorticoError('PORTICO_E_SNAPSHOT_INVALID', `bundle.chunks[${JSON.stringify(name)}]: the snapshot has no such host`);
    compiler.seed(host, chunk);
  }
}
