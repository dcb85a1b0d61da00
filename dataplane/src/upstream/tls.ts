/**
 * TLS to endpoints: a snapshot backend's `tls` settings compiled once per snapshot into what
 * `tls.connect` takes (a SecureContext with the CA bundle and client certificate, SNI, the name
 * the certificate must carry, the chain depth), plus the pool key suffix that keeps TLS sockets
 * apart from plain ones and from sockets made with other settings.
 */
import { createHash } from 'node:crypto';
import type { PeerCertificate, SecureContext } from 'node:tls';
import { checkServerIdentity, createSecureContext } from 'node:tls';
import type { SnapshotUpstreamTls } from '@portico/control/snapshot';

/** How to speak TLS to one backend's endpoints. */
export interface UpstreamTlsTarget {
  /** Appended to the endpoint key for the pool: `|tls:<hash of the settings>`. */
  readonly poolSuffix: string;
  readonly secureContext: SecureContext;
  /** SNI, or undefined to send none. */
  readonly serverName: string | undefined;
  readonly verify: boolean;
  readonly verifyName: string;
  readonly verifyDepth: number;
}

/** Compiles TLS settings, reusing targets of a previous snapshot with the same settings (so pool keys and contexts carry over). */
export class UpstreamTlsTargets {
  readonly #byHash = new Map<string, UpstreamTlsTarget>();
  #previous: UpstreamTlsTargets | undefined;

  constructor(previous?: UpstreamTlsTargets) {
    this.#previous = previous;
  }

  /** The target for these settings. Throws when a PEM cannot be loaded (the snapshot is refused). */
  target(settings: SnapshotUpstreamTls): UpstreamTlsTarget {
    const hash = createHash('sha256').update(JSON.stringify(settings)).digest('hex').slice(0, 16);
    let target = this.#byHash.get(hash) ?? (this.#previous === undefined ? undefined : this.#previous.#byHash.get(hash));
    if (target === undefined) {
      const secureContext = createSecureContext({
        ...(settings.caPem === null ? {} : { ca: settings.caPem }),
        ...(settings.certificatePem === null || settings.privateKeyPem === null ? {} : { cert: settings.certificatePem, key: settings.privateKeyPem }),
      });
      target = { poolSuffix: `|tls:${hash}`, secureContext, serverName: settings.serverName ?? undefined, verify: settings.verify, verifyName: settings.verifyName, verifyDepth: settings.verifyDepth };
    }
    this.#byHash.set(hash, target);
    return target;
  }

  /** Forgets the previous snapshot's targets (so snapshots do not chain in memory); call once every route is compiled. */
  seal(): void {
    this.#previous = undefined;
  }
}

/** Why the endpoint's certificate name or chain depth is not acceptable, or undefined. */
export function verifyPeer(target: UpstreamTlsTarget, peer: PeerCertificate & { issuerCertificate?: PeerCertificate }): Error | undefined {
  const nameError = checkServerIdentity(target.verifyName, peer);
  if (nameError !== undefined) return nameError;
  let depth = 0;
  let current = peer as PeerCertificate & { issuerCertificate?: PeerCertificate };
  // A self-signed certificate is its own issuer; the walk is bounded by the depth limit anyway.
  while (current.issuerCertificate !== undefined && current.issuerCertificate !== current && current.issuerCertificate.fingerprint256 !== current.fingerprint256) {
    depth++;
    if (depth > target.verifyDepth) return Object.assign(new Error(`certificate chain longer than proxy-ssl-verify-depth ${target.verifyDepth}`), { code: 'ERR_PORTICO_TLS_VERIFY_DEPTH' });
    current = current.issuerCertificate as PeerCertificate & { issuerCertificate?: PeerCertificate };
  }
  return undefined;
}
