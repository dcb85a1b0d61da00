/**
 * Table bundles on the data plane: verifying one (its digest, off the event loop where it
 * matters) and reading its metadata. What a bundle is, and how it is compiled, is part of the
 * contract (`@portico/control/snapshot/bundle`): the control plane compiles each version once and
 * data planes load it without compiling; a damaged bundle is refused and the worker keeps what it
 * serves.
 */
import type { BundledUpstreamTls, TableBundle } from '@portico/control/snapshot/bundle';
import { bundleParts, combineDigests, compileBundle as compileReference, digestOf } from '@portico/control/snapshot/bundle';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { ReceivedBundle } from '@portico/control/snapshot/bundle-wire';
import { seedShipped } from '@portico/control/snapshot/bundle-wire';
import type { Snapshot } from '@portico/control/snapshot';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import type { RegexHost } from '@portico/control/snapshot/table';
import { PorticoError } from './errors.ts';

export type { BundledUpstreamTls, TableBundle, TlsBundle } from '@portico/control/snapshot/bundle';
export { digestOf } from '@portico/control/snapshot/bundle';

/** `digestOf`, with the hashing done off the event loop (WebCrypto runs it on the thread pool). */
async function digestOffLoop(bundle: Omit<TableBundle, 'digest'>): Promise<string> {
  const encoder = new TextEncoder();
  const digests = await Promise.all(bundleParts(bundle).map(async (part) => Buffer.from(await crypto.subtle.digest('SHA-256', typeof part === 'string' ? encoder.encode(part) : (part as Uint8Array<ArrayBuffer>))).toString('hex')));
  return combineDigests(bundle, digests);
}

/**
 * Compiles a (verified) snapshot into a bundle in one pass (the reference compile); with
 * `balancingOnly`, only endpoint choice. Throws PORTICO_E_SNAPSHOT_LOAD when the snapshot cannot
 * be compiled into a table.
 */
export function compileBundle(snapshot: Snapshot, balancingOnly = false): TableBundle {
  try {
    return compileReference(snapshot, balancingOnly);
  } catch (cause) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
  }
}

/**
 * An incremental compile (`BundleCompiler`: each snapshot host once, each version assembled from
 * its hosts' pieces), giving what `compileBundle` gives. Throws PORTICO_E_SNAPSHOT_LOAD like it.
 */
export class SnapshotCompiler {
  readonly #compiler: BundleCompiler;

  /** `compiler`: one to share (standalone's control plane compiles with the same one, so a version is compiled once). */
  constructor(compiler: BundleCompiler = new BundleCompiler()) {
    this.#compiler = compiler;
  }

  /** Hosts compiled (not reused) so far. */
  get hostsCompiled(): number {
    return this.#compiler.stats.hostsCompiled;
  }

  /**
   * The bundle of `snapshot` (with `balancingOnly`, endpoint choice alone). With `received` (the
   * control plane's compiled chunks and digest from the sync body), those hosts are not compiled
   * here, and a full bundle must have exactly the control plane's digest. Throws
   * PORTICO_E_SNAPSHOT_LOAD (naming both digests when they differ).
   */
  compile(snapshot: Snapshot, balancingOnly = false, received?: ReceivedBundle): TableBundle {
    let bundle: TableBundle;
    try {
      if (received !== undefined) seedShipped(this.#compiler, snapshot, received);
      bundle = this.#compiler.compile(snapshot, balancingOnly);
    } catch (cause) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version} cannot be compiled: ${(cause as Error).message}`, { cause });
    }
    if (received !== undefined && !balancingOnly && bundle.digest !== received.digest) {
      throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `snapshot ${snapshot.version}: the assembled bundle hashes to ${bundle.digest}, not the control plane's ${received.digest} (a damaged chunk)`);
    }
    return bundle;
  }
}

/** The bundle's routes with HTTPS or HTTP/2 backends. */
export function upstreamTlsOf(bundle: TableBundle): BundledUpstreamTls[] {
  return JSON.parse(bundle.upstreamTls) as BundledUpstreamTls[];
}

function checkShape(bundle: TableBundle): void {
  const fields = bundle as Partial<TableBundle>;
  if (!(fields.table instanceof Uint8Array) || !(fields.redirects instanceof Uint8Array) || typeof fields.digest !== 'string' || typeof fields.version !== 'string' || typeof fields.routeLabels !== 'string' || typeof fields.endpoints !== 'string' || typeof fields.policies !== 'string' || typeof fields.regexHosts !== 'string' || typeof fields.upstreamTls !== 'string' || !Array.isArray(fields.endpointSets)) {
    throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', 'bundle is malformed');
  }
}

function checkDigest(bundle: TableBundle, actual: string): void {
  if (actual !== bundle.digest) throw new PorticoError('PORTICO_E_SNAPSHOT_LOAD', `bundle of ${bundle.version} hashes to ${actual}, not ${bundle.digest} (damaged)`);
}

/**
 * Checks that a bundle is what it says: table and metadata hash to its digest. Throws
 * PORTICO_E_SNAPSHOT_LOAD naming what is wrong (the matcher checks the table's own structure).
 */
export function verifyBundle(bundle: TableBundle): void {
  checkShape(bundle);
  const { digest: _digest, ...content } = bundle;
  checkDigest(bundle, digestOf(content));
}

/**
 * `verifyBundle` with the hashing off the event loop: what a worker runs before its swap, so
 * traffic is not stalled by it. Rejects with PORTICO_E_SNAPSHOT_LOAD.
 */
export async function verifyBundleOffLoop(bundle: TableBundle): Promise<void> {
  checkShape(bundle);
  const { digest: _digest, ...content } = bundle;
  checkDigest(bundle, await digestOffLoop(content));
}

/** Route labels as loaded: the joined text and its labels. */
export interface LoadedLabels {
  readonly text: string;
  readonly labels: readonly string[];
}

/**
 * The bundle's route labels (empty bundle: none): `routeLabels.split('\n')`. With the labels
 * loaded before (`previous`), the labels at the start and at the end of the text that are still
 * there are taken from it as they are, and only the stretch between is split: a version that
 * changed one host splits that host's labels, not every label of the table again.
 */
export function routeLabelsOf(bundle: TableBundle, previous?: LoadedLabels): readonly string[] {
  const text = bundle.routeLabels;
  if (text === '') return [];
  if (previous === undefined || previous.labels.length === 0) return text.split('\n');
  if (previous.text === text) return previous.labels;
  const labels = previous.labels;
  // Whole labels, each followed by its newline, equal at the start: `at` is where the rest begins.
  let head = 0;
  let at = 0;
  while (head < labels.length && text.startsWith(labels[head]!, at) && text.charCodeAt(at + labels[head]!.length) === 0x0a) {
    at += labels[head]!.length + 1;
    head++;
  }
  // Whole labels, each after its newline, equal at the end, never reaching back into the start's.
  let tail = 0;
  let end = text.length;
  while (tail < labels.length - head) {
    const label = labels[labels.length - 1 - tail]!;
    const start = end - label.length;
    if (start - 1 < at || !text.startsWith(label, start) || text.charCodeAt(start - 1) !== 0x0a) break;
    end = start - 1;
    tail++;
  }
  const middle = text.slice(at, end).split('\n');
  return [...labels.slice(0, head), ...middle, ...labels.slice(labels.length - tail)];
}

/** A route's annotation policies as the bundle carries them. */
export interface BundledPolicies {
  readonly route: number;
  readonly policies: RoutePolicies;
  readonly path: string | null;
  readonly regex: boolean;
  /** The route ids of its RequestMirror backends (hidden routes); absent for none. */
  readonly mirrors?: readonly number[];
  /** The route id of its default backend (`default-backend`, a hidden route); absent for none. */
  readonly fallback?: number;
}

/** The bundle's routes with annotation policies. */
export function routePoliciesOf(bundle: TableBundle): BundledPolicies[] {
  return JSON.parse(bundle.policies) as BundledPolicies[];
}

/** The bundle's hosts with regex paths. */
export function regexHostsOf(bundle: TableBundle): RegexHost[] {
  return JSON.parse(bundle.regexHosts) as RegexHost[];
}

/** The bundle's endpoints by id. */
export function endpointsOf(bundle: TableBundle): { address: string; port: number }[] {
  if (bundle.endpoints === '') return [];
  return bundle.endpoints.split('\n').map((line) => {
    const space = line.lastIndexOf(' ');
    return { address: line.slice(0, space), port: Number(line.slice(space + 1)) };
  });
}
