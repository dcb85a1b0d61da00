/**
 * The backend protocol and TLS to endpoints: ingress-nginx's `backend-protocol` and `proxy-ssl-*`
 * annotations and the Service port's `appProtocol`, resolved into `Backend.tls` (HTTPS, GRPCS),
 * `Backend.protocol` (HTTP/2: H2C, GRPC, GRPCS) or a refusal (a protocol Portico does not speak
 * to endpoints). Kept to this one module until the annotation policy-module seam lands in build.
 *
 * Decisions (docs/annotations.md): `backend-protocol`, when set, wins over `appProtocol`; AUTO_HTTP,
 * AJP, FCGI are refused (503 with the reason, never sent as plain HTTP/1.1); verification is off
 * by default, as in ingress-nginx; SNI only with `proxy-ssl-server-name: on`; `proxy-ssl-secret`
 * must be in the Ingress's own namespace (a Secret elsewhere is someone else's identity) and hold
 * `ca.crt`. The `proxy-ssl-*` settings apply to GRPCS as to HTTPS (as in ingress-nginx).
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import type { Condition } from '../model/conditions.ts';
import type { SourceRef, UpstreamProtocol, UpstreamTls } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';
import { NGINX_PREFIX } from './annotations.ts';
import { secretValue } from './tls.ts';
import { hostProblem } from './validate.ts';

/** nginx's default `proxy_ssl_verify_depth`. */
const DEFAULT_VERIFY_DEPTH = 1;

/** What one Ingress's annotations say about its backends' protocol. */
export interface UpstreamPolicy {
  /** `backend-protocol` when set and spoken; undefined lets `appProtocol` decide. */
  readonly protocol: SpokenProtocol | undefined;
  /** Why every route of the Ingress is refused (protocol not spoken, unusable TLS settings), or undefined. */
  readonly refused: string | undefined;
  /** `service-upstream`: proxy to each Service's ClusterIP and port instead of its endpoints. */
  readonly serviceUpstream: boolean;
  /** The TLS settings for HTTPS backends; `name` is `proxy-ssl-name`, `sendName` is `proxy-ssl-server-name`. */
  readonly tls: Omit<UpstreamTls, 'verifyName' | 'serverName'> & { readonly name: string | undefined; readonly sendName: boolean };
}

/** The `backend-protocol` values Portico speaks to endpoints. */
export type SpokenProtocol = 'HTTP' | 'HTTPS' | 'GRPC' | 'GRPCS' | 'H2C';

/** How endpoints are spoken to: over TLS or not, and the HTTP/2 protocol (undefined: HTTP/1.1). */
export interface Wire {
  readonly tls: boolean;
  readonly protocol: UpstreamProtocol | undefined;
}
const HTTP1: Wire = { tls: false, protocol: undefined };
const HTTP1_TLS: Wire = { tls: true, protocol: undefined };
const H2C: Wire = { tls: false, protocol: 'h2' };
const H2_TLS: Wire = { tls: true, protocol: 'h2' };
const GRPC: Wire = { tls: false, protocol: 'grpc' };
const GRPC_TLS: Wire = { tls: true, protocol: 'grpc' };

/** Per spoken `backend-protocol`, its wire. */
const SPOKEN: ReadonlyMap<string, Wire> = new Map([
  ['HTTP', HTTP1],
  ['HTTPS', HTTP1_TLS],
  ['GRPC', GRPC],
  ['GRPCS', GRPC_TLS],
  ['H2C', H2C],
]);
const KNOWN_UNSPOKEN = new Set(['AUTO_HTTP', 'AJP', 'FCGI']);

function field(name: string): string {
  return `metadata.annotations['${NGINX_PREFIX}${name}']`;
}

/**
 * An on/off (true/false) annotation, false when not set. Unreadable: 'invalid' and an Error (the
 * Ingress is refused), or with `severity` Warning, false (ingress-nginx's default) and a Warning.
 */
function onOff(all: Readonly<Record<string, string>>, name: string, source: SourceRef, conditions: Condition[], severity: 'Error' | 'Warning' = 'Error'): boolean | 'invalid' {
  const raw = all[NGINX_PREFIX + name];
  if (raw === undefined) return false;
  const value = raw.trim().toLowerCase();
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  if (severity === 'Warning') {
    conditions.push({ source, field: field(name), reason: 'InvalidAnnotation', severity, message: `expected "true" or "false", got ${JSON.stringify(raw)}; using false` });
    return false;
  }
  conditions.push({ source, field: field(name), reason: 'InvalidAnnotation', severity: 'Error', message: `expected "on" or "off", got ${JSON.stringify(raw)}; the Ingress is not served (503) rather than with TLS settings other than asked` });
  return 'invalid';
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The CA bundle and optional client certificate of a proxy-ssl Secret, or why it is unusable. */
export function loadProxySslSecret(state: ClusterState, namespace: string, name: string): { ok: true; caPem: string; certificatePem: string | undefined; privateKeyPem: string | undefined } | { ok: false; message: string } {
  const secret = state.secrets.get(objectKey(namespace, name));
  if (secret === undefined) return { ok: false, message: `Secret ${namespace}/${name} not found` };
  const caPem = secretValue(secret, 'ca.crt');
  if (!caPem) return { ok: false, message: `Secret ${namespace}/${name} has no ca.crt` };
  const certificatePem = secretValue(secret, 'tls.crt');
  const privateKeyPem = secretValue(secret, 'tls.key');
  try {
    const blocks = caPem.match(PEM_BLOCK) ?? [];
    if (blocks.length === 0) return { ok: false, message: `Secret ${namespace}/${name}: ca.crt holds no PEM certificate` };
    for (const block of blocks) new X509Certificate(block);
    if ((certificatePem === undefined) !== (privateKeyPem === undefined)) return { ok: false, message: `Secret ${namespace}/${name} has only one of tls.crt and tls.key` };
    if (certificatePem !== undefined && privateKeyPem !== undefined && !new X509Certificate(certificatePem).checkPrivateKey(createPrivateKey(privateKeyPem))) {
      return { ok: false, message: `Secret ${namespace}/${name}: tls.key does not match tls.crt` };
    }
  } catch (error) {
    return { ok: false, message: `Secret ${namespace}/${name}: ${(error as Error).message}` };
  }
  return { ok: true, caPem, certificatePem, privateKeyPem };
}

/** Reads `backend-protocol` and `proxy-ssl-*` of one Ingress. Pushes a condition per problem. */
export function readUpstreamPolicy(annotations: Readonly<Record<string, string>> | undefined, namespace: string, state: ClusterState, source: SourceRef, conditions: Condition[]): UpstreamPolicy {
  const all = annotations ?? {};
  const problems: string[] = [];
  let protocol: UpstreamPolicy['protocol'];
  const rawProtocol = all[NGINX_PREFIX + 'backend-protocol'];
  if (rawProtocol !== undefined) {
    const value = rawProtocol.trim().toUpperCase();
    if (SPOKEN.has(value)) {
      protocol = value as SpokenProtocol;
    } else {
      const why = KNOWN_UNSPOKEN.has(value)
        ? `backend-protocol ${value} is not supported (Portico speaks HTTP/1.1, HTTP/2 and gRPC, plain or over TLS, to endpoints; AUTO_HTTP, AJP and FastCGI are not implemented)`
        : `backend-protocol ${JSON.stringify(rawProtocol)} is not one of HTTP, HTTPS, GRPC, GRPCS, H2C, AUTO_HTTP, AJP, FCGI`;
      problems.push(why);
      conditions.push({ source, field: field('backend-protocol'), reason: 'UnsupportedBackendProtocol', severity: 'Error', message: `${why}; the Ingress answers 503 rather than speak another protocol to its endpoints` });
    }
  }

  const verify = onOff(all, 'proxy-ssl-verify', source, conditions);
  const sendName = onOff(all, 'proxy-ssl-server-name', source, conditions);
  if (verify === 'invalid') problems.push('proxy-ssl-verify is unreadable');
  if (sendName === 'invalid') problems.push('proxy-ssl-server-name is unreadable');

  let verifyDepth = DEFAULT_VERIFY_DEPTH;
  const rawDepth = all[NGINX_PREFIX + 'proxy-ssl-verify-depth'];
  if (rawDepth !== undefined) {
    const depth = /^\s*\d{1,2}\s*$/.test(rawDepth) ? Number(rawDepth) : Number.NaN;
    if (Number.isNaN(depth)) {
      problems.push('proxy-ssl-verify-depth is unreadable');
      conditions.push({ source, field: field('proxy-ssl-verify-depth'), reason: 'InvalidAnnotation', severity: 'Error', message: `expected a whole number 0-99, got ${JSON.stringify(rawDepth)}; the Ingress is not served (503)` });
    } else verifyDepth = depth;
  }

  let name: string | undefined;
  const rawName = all[NGINX_PREFIX + 'proxy-ssl-name'];
  if (rawName !== undefined) {
    const value = rawName.trim().toLowerCase();
    const problem = hostProblem(value);
    if (problem === undefined && !value.startsWith('*.')) name = value;
    else {
      problems.push('proxy-ssl-name is not a host name');
      conditions.push({ source, field: field('proxy-ssl-name'), reason: 'InvalidAnnotation', severity: 'Error', message: `${JSON.stringify(rawName)} ${problem ?? 'must not be a wildcard'}; the Ingress is not served (503)` });
    }
  }

  let secret: string | undefined;
  let caPem: string | undefined;
  let certificatePem: string | undefined;
  let privateKeyPem: string | undefined;
  const rawSecret = all[NGINX_PREFIX + 'proxy-ssl-secret'];
  if (rawSecret !== undefined) {
    const parts = rawSecret.trim().split('/');
    const [secretNamespace, secretName] = parts.length === 2 ? [parts[0] as string, parts[1] as string] : [namespace, parts[0] as string];
    let why: string | undefined;
    if (parts.length > 2 || secretName === '' || secretNamespace === '') why = `${JSON.stringify(rawSecret)} is not "namespace/name"`;
    else if (secretNamespace !== namespace) why = `Secret ${secretNamespace}/${secretName} is outside the Ingress's namespace ${namespace}; Portico uses only Secrets of the Ingress's own namespace`;
    else {
      const loaded = loadProxySslSecret(state, secretNamespace, secretName);
      if (loaded.ok) ({ caPem, certificatePem, privateKeyPem } = loaded);
      else why = loaded.message;
    }
    if (why === undefined) secret = objectKey(secretNamespace, secretName);
    else {
      problems.push(`proxy-ssl-secret unusable: ${why}`);
      conditions.push({ source, field: field('proxy-ssl-secret'), reason: 'SecretInvalid', severity: 'Error', message: `${why}; the Ingress is not served (503) rather than without the CA or client certificate it names` });
    }
  }

  return {
    protocol,
    refused: problems.length === 0 ? undefined : problems.join('; '),
    serviceUpstream: onOff(all, 'service-upstream', source, conditions, 'Warning') === true,
    tls: { name, sendName: sendName === true, verify: verify === true, verifyDepth, secret, caPem, certificatePem, privateKeyPem },
  };
}

/** What a backend speaks, from the Ingress's policy and its Service port. */
export interface BackendProtocol {
  readonly tls: UpstreamTls | undefined;
  /** HTTP/2 to the endpoints, or undefined for HTTP/1.1. */
  readonly protocol: UpstreamProtocol | undefined;
  /** Why routes to this backend are refused, or undefined. */
  readonly refused: string | undefined;
}

/**
 * Service port `appProtocol` values Portico knows, and their wire. `h2` is HTTP/2's ALPN token
 * (HTTP/2 over TLS); `http2` is h2c, as Istio reads it; `grpcs` is not a registered name but says
 * what it means.
 */
const APP_PROTOCOLS: ReadonlyMap<string, Wire> = new Map([
  ['http', HTTP1],
  ['kubernetes.io/http', HTTP1],
  ['kubernetes.io/ws', HTTP1],
  ['https', HTTP1_TLS],
  ['kubernetes.io/https', HTTP1_TLS],
  ['kubernetes.io/wss', HTTP1_TLS],
  ['kubernetes.io/h2c', H2C],
  ['h2c', H2C],
  ['http2', H2C],
  ['h2', H2_TLS],
  ['grpc', GRPC],
  ['grpcs', GRPC_TLS],
]);

/** The wire a Service port's `appProtocol` names (case-insensitive), or undefined when Portico does not know it. */
export function appProtocolWire(appProtocol: string): Wire | undefined {
  return APP_PROTOCOLS.get(appProtocol.trim().toLowerCase());
}

/**
 * The protocol of one backend: `backend-protocol` when the Ingress sets it, else the Service
 * port's `appProtocol`, else HTTP/1.1. `servicePort` names the port in messages (`ns/svc:port`).
 */
export function backendProtocol(policy: UpstreamPolicy, appProtocol: string | undefined, service: { namespace: string; name: string }, servicePort: string, source: SourceRef, at: string, conditions: Condition[]): BackendProtocol {
  if (policy.refused !== undefined) return { tls: undefined, protocol: undefined, refused: policy.refused };
  let spoken = policy.protocol === undefined ? undefined : SPOKEN.get(policy.protocol);
  if (spoken === undefined && appProtocol !== undefined) {
    spoken = appProtocolWire(appProtocol);
    if (spoken === undefined) conditions.push({ source, field: at, reason: 'UnsupportedBackendProtocol', severity: 'Warning', message: `Service port ${servicePort} has appProtocol ${appProtocol}, which Portico does not know; spoken to as HTTP/1.1` });
  }
  const protocol = spoken?.protocol;
  if (spoken?.tls !== true) return { tls: undefined, protocol, refused: undefined };
  const { name, sendName, ...rest } = policy.tls;
  const verifyName = name ?? `${service.name}.${service.namespace}.svc`;
  return { tls: { ...rest, serverName: sendName ? verifyName : undefined, verifyName }, protocol, refused: undefined };
}
