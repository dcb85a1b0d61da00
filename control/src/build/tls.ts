/**
 * TLS: `spec.tls` entries -> certificates from `kubernetes.io/tls` Secrets, checked before use.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Condition } from '../model/conditions.ts';
import type { Certificate, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';
import type { Secret } from '../state/objects.ts';
import { ListEdits } from '../model/list-edits.ts';
import { compareStrings, lowerBound } from '../snapshot/order.ts';

/** A certificate loaded from a Secret, or why it could not be. */
export type CertificateResult = { readonly ok: true; readonly certificatePem: string; readonly privateKeyPem: string } | { readonly ok: false; readonly reason: 'SecretNotFound' | 'SecretInvalid'; readonly message: string };

/** The decoded value of `key` in the Secret (`data` base64, else `stringData`), or undefined. */
export function secretValue(secret: Secret, key: string): string | undefined {
  const encoded = secret.data?.[key];
  if (encoded !== undefined) return Buffer.from(encoded, 'base64').toString('utf8');
  return secret.stringData?.[key];
}

/**
 * What each Secret object was found to hold. Stored objects are never changed in place (a changed
 * Secret is a new object), so each one is parsed and checked once, however many builds, listeners
 * and Ingresses ask.
 */
const checkedSecrets = new WeakMap<Secret, CertificateResult>();

/**
 * Loads and checks the certificate in Secret `namespace/name`: present, of type kubernetes.io/tls,
 * parseable, key matching. A failure's message says what is wrong with the Secret, not what the
 * caller does about it.
 */
export function loadCertificate(state: ClusterState, namespace: string, name: string): CertificateResult {
  const secret = state.secrets.get(objectKey(namespace, name));
  if (secret === undefined) return { ok: false, reason: 'SecretNotFound', message: `Secret ${namespace}/${name} not found (or not of type kubernetes.io/tls)` };
  let result = checkedSecrets.get(secret);
  if (result === undefined) checkedSecrets.set(secret, (result = checkSecret(secret, namespace, name)));
  return result;
}

function checkSecret(secret: Secret, namespace: string, name: string): CertificateResult {
  const certificatePem = secretValue(secret, 'tls.crt');
  const privateKeyPem = secretValue(secret, 'tls.key');
  if (!certificatePem || !privateKeyPem) return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name} lacks tls.crt or tls.key` };
  try {
    const certificate = new X509Certificate(certificatePem);
    const key = createPrivateKey(privateKeyPem);
    if (!certificate.checkPrivateKey(key)) return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name}: tls.key does not match tls.crt` };
  } catch (error) {
    return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name}: ${(error as Error).message}` };
  }
  return { ok: true, certificatePem, privateKeyPem };
}

interface BookEntry {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** `use` calls not yet released. */
  uses: number;
  /** How many unreleased `use` calls named each host. */
  readonly hosts: Map<string, number>;
  /** The model item, kept while neither the hosts nor the Secret change (`all()` makes it). */
  item: Certificate | undefined;
}

/**
 * Accumulates certificates by Secret, with the hosts each one serves. A full build uses one per
 * build; the incremental build keeps one across builds, releasing the uses of a re-derived
 * Ingress (a changed Secret's users are all re-derived, so its entry is made anew).
 */
export class CertificateBook {
  private readonly byKey = new Map<string, BookEntry>();
  private readonly state: ClusterState;
  /** Every Secret key, sorted; patched in place (a binary search and a move) as entries come and go. */
  private readonly sorted: string[] = [];
  /** The model item of each key of `sorted`, at the same index (stale for the keys in `stale`). */
  private readonly items: Certificate[] = [];
  /** Keys whose item must be looked at again before `all()` answers (made again when its hosts changed). */
  private readonly stale = new Set<string>();
  /** `all()`'s answer while no item changed: the same list, so compile knows it by identity (undefined: make one). */
  private out: readonly Certificate[] | undefined;
  /** Where `items` was patched since that copy: compile and sealing follow the change instead of comparing every certificate. */
  private readonly edits = new ListEdits<Certificate>();

  constructor(state: ClusterState) {
    this.state = state;
  }

  /** Registers `hosts` for the Secret; returns the Secret key when it holds a usable certificate, else adds a condition and returns undefined. */
  use(namespace: string, name: string, hosts: readonly string[], source: SourceRef, field: string, conditions: Condition[]): string | undefined {
    const key = objectKey(namespace, name);
    const result = loadCertificate(this.state, namespace, name);
    if (!result.ok) {
      conditions.push({ source, field, reason: result.reason, severity: 'Error', message: `${result.message}; the default certificate is served` });
      return undefined;
    }
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      entry = { certificatePem: result.certificatePem, privateKeyPem: result.privateKeyPem, uses: 0, hosts: new Map(), item: undefined };
      this.byKey.set(key, entry);
      const at = lowerBound(this.sorted, key, ownKey, compareStrings);
      this.sorted.splice(at, 0, key);
      this.items.splice(at, 0, undefined as unknown as Certificate);
      this.edits.note('insert', at, this.items.length);
      this.stale.add(key);
    }
    entry.uses++;
    for (const host of hosts) {
      const count = entry.hosts.get(host) ?? 0;
      if (count === 0) this.stale.add(key);
      entry.hosts.set(host, count + 1);
    }
    return key;
  }

  /** Undoes one `use` of the Secret `namespace/name` for `hosts` that returned a key. */
  release(namespace: string, name: string, hosts: readonly string[]): void {
    const key = objectKey(namespace, name);
    const entry = this.byKey.get(key);
    if (entry === undefined) return;
    for (const host of hosts) {
      const count = entry.hosts.get(host)! - 1;
      if (count > 0) entry.hosts.set(host, count);
      else {
        entry.hosts.delete(host);
        this.stale.add(key);
      }
    }
    if (--entry.uses === 0) {
      this.byKey.delete(key);
      const at = lowerBound(this.sorted, key, ownKey, compareStrings);
      this.sorted.splice(at, 1);
      this.items.splice(at, 1);
      this.edits.note('remove', at, this.items.length);
      this.stale.delete(key);
      this.out = undefined;
    }
  }

  /**
   * Every usable certificate, sorted by Secret key, hosts sorted; an unchanged certificate keeps
   * its object, and the list is the same object as the last call's while nothing changed (never
   * change it). Costs the certificates that changed, not all of them.
   */
  all(): readonly Certificate[] {
    for (const secret of this.stale) {
      const entry = this.byKey.get(secret)!;
      const hosts = [...entry.hosts.keys()].sort();
      // A host released and used again by a re-derived Ingress leaves the item as it was: keep the object (and the list).
      if (entry.item !== undefined && sameStrings(entry.item.hosts, hosts)) continue;
      entry.item = { secret, certificatePem: entry.certificatePem, privateKeyPem: entry.privateKeyPem, hosts };
      const at = lowerBound(this.sorted, secret, ownKey, compareStrings);
      this.items[at] = entry.item;
      this.edits.note('set', at, this.items.length);
      this.out = undefined;
    }
    this.stale.clear();
    return (this.out ??= this.edits.copy(this.items));
  }
}

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A Secret key as its own sort key (`sorted` holds the keys themselves). */
const ownKey = (key: string): string => key;
