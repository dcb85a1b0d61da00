/**
 * TLS termination: SNI picks the certificate of the snapshot's host (exact, then one-label
 * wildcard), else the default certificate — as ingress-nginx does for a host whose Secret is
 * missing or invalid. Secure contexts are cached by certificate content across snapshot swaps,
 * so a swap only pays for certificates that changed.
 */
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SecureContext } from 'node:tls';
import type { Snapshot } from '@portico/control/snapshot';
import { generate } from 'selfsigned';

/** A PEM certificate chain and its private key. */
export interface KeyPair {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/** Makes the self-signed stand-in served when no certificate fits (like ingress-nginx's "Fake Certificate"). */
export async function generateDefaultCertificate(): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: 'Portico Default Certificate' }, { name: 'organizationName', value: 'Portico' }], { keyType: 'ec', curve: 'P-256', notAfterDate: new Date(Date.now() + 3650 * 86_400_000), algorithm: 'sha256' });
  return { certificatePem: pems.cert, privateKeyPem: pems.private };
}

const TLS_OPTIONS = { minVersion: 'TLSv1.2' as const };

/** Certificates by SNI name for the current snapshot. */
export class CertificateStore {
  private readonly defaultContext: SecureContext;
  private readonly defaultPair: KeyPair;
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private cache = new Map<string, SecureContext>();

  constructor(defaultPair: KeyPair) {
    this.defaultPair = defaultPair;
    this.defaultContext = createSecureContext({ ...TLS_OPTIONS, cert: defaultPair.certificatePem, key: defaultPair.privateKeyPem });
  }

  /** Takes the certificates of a snapshot at once; see `prepare`. */
  load(snapshot: Snapshot): void {
    this.prepare(snapshot)();
  }

  /**
   * Loads the certificates of a snapshot without serving them yet; the returned function makes
   * them current. Throws when a certificate cannot be loaded (the caller treats the snapshot as
   * bad and keeps the previous one; the control plane checks certificates before publishing, so
   * this means corruption).
   */
  prepare(snapshot: Snapshot): () => void {
    const byCertificate = new Map(snapshot.certificates.map((c) => [c.secret, c]));
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const cache = new Map<string, SecureContext>();
    for (const host of snapshot.hosts) {
      if (host.certificate === null) continue;
      const pair = byCertificate.get(host.certificate);
      if (pair === undefined) continue;
      const id = createHash('sha256').update(pair.certificatePem).update('\0').update(pair.privateKeyPem).digest('hex');
      let context = cache.get(id) ?? this.cache.get(id);
      if (context === undefined) context = createSecureContext({ ...TLS_OPTIONS, cert: pair.certificatePem, key: pair.privateKeyPem });
      cache.set(id, context);
      if (host.host.startsWith('*.')) wildcard.set(host.host.slice(1), context);
      else exact.set(host.host, context);
    }
    return () => {
      this.exact = exact;
      this.wildcard = wildcard;
      this.cache = cache;
    };
  }

  /** The context for an SNI server name (any case); the default one when nothing fits or no SNI was sent. */
  contextFor(servername: string | undefined): SecureContext {
    if (!servername) return this.defaultContext;
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wildcard = this.wildcard.get(name.slice(dot));
      if (wildcard !== undefined) return wildcard;
    }
    return this.defaultContext;
  }

  /** The `SNICallback` for `tls.createServer`. */
  readonly sniCallback = (servername: string, callback: (error: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.contextFor(servername));
  };

  /** Options for `tls.createServer` that serve these certificates (the default one for clients without SNI). */
  serverOptions(): { cert: string; key: string; SNICallback: CertificateStore['sniCallback']; ALPNProtocols: string[]; minVersion: 'TLSv1.2' } {
    return { cert: this.defaultPair.certificatePem, key: this.defaultPair.privateKeyPem, SNICallback: this.sniCallback, ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.2' };
  }
}
