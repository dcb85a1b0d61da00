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

/** Loads and checks the certificate in Secret `namespace/name`: present, of type kubernetes.io/tls, parseable, key matching. */
export function loadCertificate(state: ClusterState, namespace: string, name: string): CertificateResult {
  const secret = state.secrets.get(objectKey(namespace, name));
  if (secret === undefined) return { ok: false, reason: 'SecretNotFound', message: `Secret ${namespace}/${name} not found (or not of type kubernetes.io/tls); the default certificate is served` };
  const certificatePem = secretValue(secret, 'tls.crt');
  const privateKeyPem = secretValue(secret, 'tls.key');
  if (!certificatePem || !privateKeyPem) return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name} lacks tls.crt or tls.key; the default certificate is served` };
  try {
    const certificate = new X509Certificate(certificatePem);
    const key = createPrivateKey(privateKeyPem);
    if (!certificate.checkPrivateKey(key)) return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name}: tls.key does not match tls.crt; the default certificate is served` };
  } catch (error) {
    return { ok: false, reason: 'SecretInvalid', message: `Secret ${namespace}/${name}: ${(error as Error).message}; the default certificate is served` };
  }
  return { ok: true, certificatePem, privateKeyPem };
}

/** Accumulates certificates by Secret, with the hosts each one serves. */
export class CertificateBook {
  private readonly byKey = new Map<string, { certificatePem: string; privateKeyPem: string; hosts: Set<string> }>();
  private readonly checked = new Map<string, CertificateResult>();
  private readonly state: ClusterState;

  constructor(state: ClusterState) {
    this.state = state;
  }

  /** Registers `hosts` for the Secret; returns the Secret key when it holds a usable certificate, else adds a condition and returns undefined. */
  use(namespace: string, name: string, hosts: readonly string[], source: SourceRef, field: string, conditions: Condition[]): string | undefined {
    const key = objectKey(namespace, name);
    let result = this.checked.get(key);
    if (result === undefined) {
      result = loadCertificate(this.state, namespace, name);
      this.checked.set(key, result);
    }
    if (!result.ok) {
      conditions.push({ source, field, reason: result.reason, severity: 'Error', message: result.message });
      return undefined;
    }
    let entry = this.byKey.get(key);
    if (entry === undefined) {
      entry = { certificatePem: result.certificatePem, privateKeyPem: result.privateKeyPem, hosts: new Set() };
      this.byKey.set(key, entry);
    }
    for (const host of hosts) entry.hosts.add(host);
    return key;
  }

  /** Every usable certificate, sorted by Secret key, hosts sorted. */
  all(): Certificate[] {
    return [...this.byKey.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([secret, entry]) => ({ secret, certificatePem: entry.certificatePem, privateKeyPem: entry.privateKeyPem, hosts: [...entry.hosts].sort() }));
  }
}
