/**
 * TLS termination: SNI picks the certificate of the snapshot's host (exact, then one-label
 * wildcard, then the any-host entry `*`, which a Gateway API HTTPS listener without hostname
 * gives), else the default certificate — as ingress-nginx does for a host whose Secret is
 * missing or invalid. Secure contexts are cached by certificate content across snapshot swaps,
 * so a swap only pays for certificates that changed.
 */
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { Snapshot } from '@portico/control/snapshot';
import type { PassthroughHost, TlsBundle } from '@portico/control/snapshot/bundle';
import { MAX_CLIENT_CHAIN } from '@portico/control/snapshot/policies/client-certificate';
import type { ClientTls } from '@portico/control/snapshot/policies/module';
import { PorticoError } from './errors.ts';

/** A PEM certificate chain and its private key. */
export interface KeyPair {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
}

/**
 * The program that makes the default certificate, run as its own short-lived Node process:
 * selfsigned (with @peculiar/x509, tsyringe and asn1js: ~200 modules) loads there and goes away
 * with it. A worker thread would not do: its malloc arena and V8's pages stay with the process
 * (measured: ~8 MiB more private memory than before, not less).
 */
const GENERATE_CERTIFICATE = `
const { generate } = require(process.env.PORTICO_SELFSIGNED);
generate([{ name: 'commonName', value: 'Portico Default Certificate' }, { name: 'organizationName', value: 'Portico' }], { keyType: 'ec', curve: 'P-256', notAfterDate: new Date(Date.now() + 3650 * 86400000), algorithm: 'sha256' })
  .then((pems) => process.stdout.write(JSON.stringify({ certificatePem: pems.cert, privateKeyPem: pems.private })));
`;

/**
 * Makes the self-signed stand-in served when no certificate fits (like ingress-nginx's "Fake
 * Certificate"), in a child process. Rejects when that fails or prints no certificate.
 */
export async function generateDefaultCertificate(): Promise<KeyPair> {
  // Built-ins through getBuiltinModule: the worker bundle imports none (docs/dataplane.md, "What a worker loads").
  const { execFile } = process.getBuiltinModule('node:child_process');
  const selfsigned = process.getBuiltinModule('node:module').createRequire(import.meta.url).resolve('selfsigned');
  return new Promise<KeyPair>((resolve, reject) => {
    execFile(process.execPath, ['--input-type=commonjs', '-e', GENERATE_CERTIFICATE], { env: { ...process.env, PORTICO_SELFSIGNED: selfsigned }, timeout: 60_000, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) return reject(new PorticoError('PORTICO_E_CONFIG', `cannot make the default certificate: ${error.message} ${stderr}`.trim()));
      try {
        const pair = JSON.parse(stdout) as KeyPair;
        if (typeof pair.certificatePem !== 'string' || typeof pair.privateKeyPem !== 'string') throw new TypeError('no certificate in its output');
        resolve({ certificatePem: pair.certificatePem, privateKeyPem: pair.privateKeyPem });
      } catch (parseError) {
        reject(new PorticoError('PORTICO_E_CONFIG', `cannot make the default certificate: ${(parseError as Error).message}`));
      }
    });
  });
}

/**
 * Mozilla's "intermediate" server profile (ssl-config.mozilla.org, v5.7) without the DHE suites:
 * TLS 1.3's three suites, and for TLS 1.2 only ECDHE key exchange (forward secrecy) with AEAD
 * ciphers. No static RSA, no CBC, no SHA-1 MAC, no ARIA/Camellia. TLS 1.3 suites are listed
 * because a cipher string without any would turn TLS 1.3 off in Node.
 */
export const INTERMEDIATE_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** Protocol versions and cipher suites the HTTPS listener offers. */
export interface TlsPolicy {
  /** Lowest protocol version. Default TLSv1.2. */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** OpenSSL cipher string (TLS 1.3 `TLS_*` names included). Default INTERMEDIATE_CIPHERS. */
  readonly ciphers?: string;
}

/** The options every secure context of a policy carries. Throws PORTICO_E_CONFIG when OpenSSL refuses the cipher string. */
export function tlsPolicyOptions(policy: TlsPolicy = {}): { minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers: string } {
  const options = { minVersion: policy.minVersion ?? 'TLSv1.2', ciphers: policy.ciphers ?? INTERMEDIATE_CIPHERS };
  if (options.minVersion !== 'TLSv1.2' && options.minVersion !== 'TLSv1.3') throw new PorticoError('PORTICO_E_CONFIG', `TLS minimum version must be TLSv1.2 or TLSv1.3, not ${String(options.minVersion)}`);
  try {
    createSecureContext(options);
  } catch (error) {
    throw new PorticoError('PORTICO_E_CONFIG', `TLS ciphers ${JSON.stringify(options.ciphers)} are not usable: ${(error as Error).message}`);
  }
  return options;
}

/** Certificates by SNI name for the current snapshot. */
export class CertificateStore {
  private readonly defaultContext: SecureContext;
  private readonly defaultPair: KeyPair;
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  /** The any-host entry's certificate (a Gateway API HTTPS listener without hostname), served before the default one. */
  private anyHost: SecureContext | undefined;
  private cache = new Map<string, SecureContext>();
  /** SNI names (exact, `.suffix` of a wildcard, `*` for all) whose handshake asks for a client certificate (auth-tls). */
  private asking = new Set<string>();
  /** Hosts whose TLS connections are spliced to an endpoint, not terminated (ssl-passthrough), by exact SNI name. */
  private passthrough = new Map<string, PassthroughHost>();
  private readonly policy: { minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers: string };

  /** Throws PORTICO_E_CONFIG for a policy OpenSSL refuses. */
  constructor(defaultPair: KeyPair, policy: TlsPolicy = {}) {
    this.defaultPair = defaultPair;
    this.policy = tlsPolicyOptions(policy);
    this.defaultContext = createSecureContext({ ...this.policy, cert: defaultPair.certificatePem, key: defaultPair.privateKeyPem });
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
  prepare(snapshot: Pick<TlsBundle, 'certificates' | 'hosts' | 'clientCertificateHosts' | 'passthrough'>): () => void {
    const byCertificate = new Map(snapshot.certificates.map((c) => [c.secret, c]));
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const cache = new Map<string, SecureContext>();
    let anyHost: SecureContext | undefined;
    for (const host of snapshot.hosts) {
      if (host.certificate === null) continue;
      const pair = byCertificate.get(host.certificate);
      if (pair === undefined) continue;
      const id = createHash('sha256').update(pair.certificatePem).update('\0').update(pair.privateKeyPem).digest('hex');
      let context = cache.get(id) ?? this.cache.get(id);
      if (context === undefined) context = createSecureContext({ ...this.policy, cert: pair.certificatePem, key: pair.privateKeyPem });
      cache.set(id, context);
      if (host.host === '*') anyHost = context;
      else if (host.host.startsWith('*.')) wildcard.set(host.host.slice(1), context);
      else exact.set(host.host, context);
    }
    const asking = new Set((snapshot.clientCertificateHosts ?? []).map((host) => (host.startsWith('*.') ? host.slice(1) : host)));
    const passthrough = new Map((snapshot.passthrough ?? []).map((entry) => [entry.host, entry]));
    return () => {
      this.asking = asking;
      this.passthrough = passthrough;
      this.exact = exact;
      this.wildcard = wildcard;
      this.anyHost = anyHost;
      this.cache = cache;
    };
  }

  /**
   * The context for an SNI server name (any case): the exact name's, else the wildcard's with the
   * longest suffix (`*.example.com` answers `a.example.com` and, as a Gateway API listener hostname
   * does, `a.b.example.com`), else the any-host one, else the default one; the default one without
   * SNI. With `scope` (a connection to a Gateway's own address, snapshot/scope.ts) the scope's
   * certificates are looked up first, then the edge's.
   */
  contextFor(servername: string | undefined, scope?: string): SecureContext {
    if (!servername) return this.defaultContext;
    const name = servername.toLowerCase();
    if (scope !== undefined) {
      // Its any-host certificate is the wildcard `*.scope`, the shortest suffix of every scoped name.
      const scoped = this.#lookup(`${name}.${scope}`);
      if (scoped !== undefined) return scoped;
    }
    return this.#lookup(name) ?? this.anyHost ?? this.defaultContext;
  }

  /** The exact name's context, else the wildcard's whose suffix is longest (at least one label left before it). */
  #lookup(name: string): SecureContext | undefined {
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    for (let dot = name.indexOf('.'); dot > 0 && dot < name.length - 1; dot = name.indexOf('.', dot + 1)) {
      const wildcard = this.wildcard.get(name.slice(dot));
      if (wildcard !== undefined) return wildcard;
    }
    return undefined;
  }

  /** Whether ClientHellos must be read ahead: some host asks for a client certificate or is passed through. */
  get readsClientHello(): boolean {
    return this.asking.size !== 0 || this.passthrough.size !== 0;
  }

  /** The passthrough entry of an SNI server name (lower-case, compared exactly as ingress-nginx's TCP proxy does); undefined when it is terminated here. */
  passthroughFor(servername: string): PassthroughHost | undefined {
    return servername === '' ? undefined : this.passthrough.get(servername);
  }

  /** Whether a handshake with SNI `servername` ('' for none) asks for a client certificate: its host (exact, else a one-label wildcard) or every host has an auth-tls route. */
  asksClient(servername: string): boolean {
    if (this.asking.has('*')) return true;
    if (servername === '') return false;
    if (this.asking.has(servername)) return true;
    const dot = servername.indexOf('.');
    return dot > 0 && this.asking.has(servername.slice(dot));
  }

  /** The `SNICallback` for `tls.createServer`. */
  readonly sniCallback = (servername: string, callback: (error: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.contextFor(servername));
  };

  /** The `SNICallback` for connections to a Gateway's own address in `scope`. */
  scopedSniCallback(scope: string): CertificateStore['sniCallback'] {
    return (servername, callback) => callback(null, this.contextFor(servername, scope));
  }

  /**
   * Options for `tls.createServer` that serve these certificates (the default one for clients
   * without SNI), offering `h2` then `http/1.1` by ALPN when `http2`, else only `http/1.1`;
   * with `scope`, for connections to a Gateway's own address.
   */
  serverOptions(http2 = false, scope?: string): { cert: string; key: string; SNICallback: CertificateStore['sniCallback']; ALPNProtocols: string[]; minVersion: 'TLSv1.2' | 'TLSv1.3'; ciphers: string } {
    return { cert: this.defaultPair.certificatePem, key: this.defaultPair.privateKeyPem, SNICallback: scope === undefined ? this.sniCallback : this.scopedSniCallback(scope), ALPNProtocols: http2 ? ['h2', 'http/1.1'] : ['http/1.1'], ...this.policy };
  }
}

/**
 * What the policy steps see of a TLS connection (auth-tls): its SNI name, and the certificates the
 * client sent, read from the socket once, on first use. `asked`: the handshake asked for them.
 */
export function clientTlsOf(socket: TLSSocket, asked: boolean): ClientTls {
  const servername = typeof socket.servername === 'string' ? socket.servername.toLowerCase() : '';
  let chain: readonly Uint8Array[] | undefined;
  return {
    servername,
    peerCertificates: () => (chain ??= asked ? peerChain(socket) : []),
  };
}

/** The client's certificate, then the others it sent (Node links them by issuer), at most MAX_CLIENT_CHAIN. */
function peerChain(socket: TLSSocket): Uint8Array[] {
  const chain: Uint8Array[] = [];
  const seen = new Set<string>();
  for (let certificate = socket.getPeerCertificate(true); certificate?.raw !== undefined && chain.length < MAX_CLIENT_CHAIN; certificate = certificate.issuerCertificate) {
    if (seen.has(certificate.fingerprint256)) break;
    seen.add(certificate.fingerprint256);
    chain.push(certificate.raw);
  }
  return chain;
}
