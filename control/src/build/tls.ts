/**
 * TLS: `spec.tls` entries -> certificates from `kubernetes.io/tls` Secrets, checked before use.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Condition } from '../model/conditions.ts';
import type { Certificate, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';
import type { Secret } from '../state/objects.ts';

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
  /** The model item, kept while neither the hosts nor the Secret change. */
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
  private sorted: string[] | undefined;

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
      this.sorted = undefined;
    }
    entry.uses++;
    for (const host of hosts) {
      const count = entry.hosts.get(host) ?? 0;
      if (count === 0) entry.item = undefined;
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
        entry.item = undefined;
      }
    }
    if (--entry.uses === 0) {
      this.byKey.delete(key);
      this.sorted = undefined;
    }
  }

  /** Every usable certificate, sorted by Secret key, hosts sorted; an unchanged certificate keeps its object. */
  all(): Certificate[] {
    this.sorted ??= [...this.byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return this.sorted.map((secret) => {
      const entry = this.byKey.get(secret)!;
      entry.item ??= { secret, certificatePem: entry.certificatePem, privateKeyPem: entry.privateKeyPem, hosts: [...entry.hosts.keys()].sort() };
      return entry.item;
    });
  }
}
