/**
 * Command-line options shared by `portico dataplane` and `portico standalone`: listeners,
 * workers, certificates, proxy timeouts, logging.
 */
import { readFileSync } from 'node:fs';
import { ESCAPED_SLASHES } from '@portico/assembly/normalize';
import type { EscapedSlashes } from '@portico/assembly/normalize';
import type { Command } from '@portico/control/cli/args';
import { usageError } from '@portico/control/cli/args';
import { parseGatewayAddresses } from '@portico/control/snapshot/scope';
import type { ServingOptions } from '../serve.ts';
import { tlsPolicyOptions } from '../tls.ts';

/** parseArgs definitions of the serving options. */
export const SERVING_OPTIONS = {
  address: { type: 'string', default: '0.0.0.0' },
  'http-port': { type: 'string', default: '8080' },
  'https-port': { type: 'string', default: '8443' },
  'advertised-https-port': { type: 'string' },
  'admin-address': { type: 'string', default: '127.0.0.1' },
  'admin-port': { type: 'string', default: '9901' },
  workers: { type: 'string' },
  'reclaim-after-mb': { type: 'string' },
  'default-certificate': { type: 'string' },
  'default-key': { type: 'string' },
  'trusted-proxy': { type: 'string', multiple: true },
  'connect-timeout-ms': { type: 'string' },
  'read-timeout-ms': { type: 'string' },
  'send-timeout-ms': { type: 'string' },
  'drain-ms': { type: 'string' },
  'client-timeout-ms': { type: 'string' },
  'header-timeout-ms': { type: 'string' },
  'keepalive-timeout-ms': { type: 'string' },
  'tunnel-idle-timeout-ms': { type: 'string' },
  'tcp-keepalive-ms': { type: 'string' },
  'tls-handshake-timeout-ms': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-client': { type: 'string' },
  'max-connections-per-endpoint': { type: 'string' },
  'health-eject-on': { type: 'string' },
  'health-failures': { type: 'string' },
  'health-backoff-ms': { type: 'string' },
  'health-max-backoff-ms': { type: 'string' },
  'health-panic-threshold': { type: 'string' },
  'allow-loopback-endpoints': { type: 'boolean' },
  'allow-link-local-endpoints': { type: 'boolean', default: false },
  'escaped-slashes': { type: 'string' },
  'merge-slashes': { type: 'boolean', default: true },
  'tls-min-version': { type: 'string' },
  'tls-ciphers': { type: 'string' },
  http2: { type: 'boolean', default: true },
  h2c: { type: 'boolean', default: false },
  'shutdown-timeout-ms': { type: 'string', default: '10000' },
  'access-log': { type: 'boolean', default: true },
  'log-level': { type: 'string', default: 'info' },
} as const;

/** Help text for the serving options. */
export const SERVING_HELP = `
  --address ADDR                 Bind address of the traffic ports (default 0.0.0.0).
  --http-port N                  Plain HTTP port (default 8080).
  --https-port N                 HTTPS port (default 8443); 'off' disables HTTPS.
  --advertised-https-port N      HTTPS port used in redirect locations (default: --https-port; 443 is omitted).
  --admin-address ADDR           Admin listener address: /healthz /readyz /metrics (default 127.0.0.1).
  --admin-port N                 Admin port (default 9901). Never a traffic port.
  --workers N                    Worker processes sharing the ports (default: one per CPU of the
                                   container's cgroup CPU limit, else one per core).
  --reclaim-after-mb N           With 2+ workers: a worker also runs one full garbage collection once
                                   the tables it swapped in add up to N MiB (its pause, tens of ms at
                                   30k routes, holds that worker's traffic); 0 = never (default 0: a
                                   young collection after each swap frees what a swap leaves).
  --default-certificate FILE     PEM certificate for unknown SNI names and hosts without a usable Secret
  --default-key FILE               (default: a generated self-signed "Portico Default Certificate").
  --trusted-proxy CIDR           Peer whose X-Forwarded-For is kept and appended to; repeatable.
  --connect-timeout-ms N         Connecting to an endpoint (default 5000).
  --read-timeout-ms N            Waiting for an endpoint's response bytes (default 60000).
  --send-timeout-ms N            Waiting for an endpoint to take request bytes (default 60000).
  --drain-ms N                   How long a WebSocket outlives the removal of its endpoint (default 30000).
  --client-timeout-ms N          A client stalling its request body or not reading the response (default 60000).
  --header-timeout-ms N          A request head must arrive whole within this (default 30000).
  --keepalive-timeout-ms N       Idle keep-alive connection waiting for its next request (default 75000).
  --tunnel-idle-timeout-ms N     Upgraded (WebSocket) connection with no byte either way (default 300000).
  --tcp-keepalive-ms N           TCP keepalive probes after this much silence, every socket (default 60000).
  --tls-handshake-timeout-ms N   TLS handshake not finished after this is closed (default 10000).
  --max-connections N            Client connections per process (default: from the fd limit, at most 10000).
  --max-connections-per-client N Client connections per client address; trusted proxies exempt (default 1000).
  --max-connections-per-endpoint N  Connections to one endpoint per process; beyond, 503 (default 1024).
  --health-eject-on WHAT         Failures that count toward ejection: connect (default; refused or timed out) or any.
  --health-failures N            Consecutive failures that eject an endpoint (default 3).
  --health-backoff-ms N          First ejection period, doubling per repeat (default 10000).
  --health-max-backoff-ms N      Longest ejection period (default 60000).
  --health-panic-threshold PCT   Below this % of healthy endpoints a set routes to all of them; 0 = off (default 50).
  --allow-loopback-endpoints     Let endpoints be loopback or this node's own addresses (default: on for
                                   standalone, whose demo backends listen on localhost; off for dataplane).
  --allow-link-local-endpoints   Let endpoints be link-local (169.254.0.0/16, fe80::/10; default off).
  --escaped-slashes MODE         %2F/%5C in paths: reject-traversal (default), reject, decode or keep (docs/matching.md).
  --no-merge-slashes             Keep runs of '/' in paths (merged by default, as nginx).
  --tls-min-version V            TLSv1.2 (default) or TLSv1.3.
  --tls-ciphers LIST             OpenSSL cipher string (default: Mozilla intermediate, ECDHE+AEAD only).
  --no-http2                     Offer only HTTP/1.1 on the HTTPS port (default: ALPN h2, then http/1.1).
  --h2c                          Also serve HTTP/2 with prior knowledge (h2c, no TLS) on the plain HTTP port,
                                   told apart from HTTP/1.1 by the connection preface (default off).
  --shutdown-timeout-ms N        On SIGTERM, how long in-flight requests may finish (default 10000).
  --no-access-log                No per-request JSON log line.
  --log-level LEVEL              pino level (default info).`;

/** One listener a command opens: its flag, address and port (0 or undefined: none or any free one). */
export interface ListenerFlag {
  readonly flag: string;
  readonly address: string;
  readonly port: number | undefined;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * Throws PORTICO_E_USAGE when two of `listeners` ask for the same port on addresses that
 * overlap (equal, or either a wildcard): the second listen would fail as if another process
 * held the port, or (admin after traffic) crash once the first snapshot opens the traffic ports.
 */
export function refuseSharedPorts(command: Command, listeners: readonly ListenerFlag[]): void {
  listeners.forEach((a, i) => {
    for (const b of listeners.slice(0, i)) {
      if (a.port === undefined || a.port === 0 || a.port !== b.port) continue;
      if (a.address === b.address || WILDCARDS.has(a.address) || WILDCARDS.has(b.address)) usageError(command, `${a.flag} ${a.port} is also ${b.flag}: each listener needs its own port`);
    }
  });
}

function integer(command: Command, values: Record<string, unknown>, name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) usageError(command, `--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`);
  return value;
}

/** Reads and checks the serving options. Throws PORTICO_E_USAGE naming the bad option. */
export function servingOptions(command: Command, values: Record<string, unknown>): ServingOptions & { shutdownTimeoutMs: number } {
  const certificate = values['default-certificate'] as string | undefined;
  const key = values['default-key'] as string | undefined;
  if ((certificate === undefined) !== (key === undefined)) usageError(command, '--default-certificate and --default-key go together');
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      return usageError(command, `cannot read ${file}: ${(error as Error).message}`);
    }
  };
  const httpsOff = values['https-port'] === 'off';
  // Refused rather than ignored: the operator asked for something about a port that is not opened.
  if (httpsOff && values.http2 === false) usageError(command, "--no-http2 applies to the HTTPS port, which --https-port off does not open (h2c on the plain port is --h2c's)");
  const timeouts = {
    connectTimeoutMs: integer(command, values, 'connect-timeout-ms', 1, 3_600_000),
    readTimeoutMs: integer(command, values, 'read-timeout-ms', 1, 3_600_000),
    sendTimeoutMs: integer(command, values, 'send-timeout-ms', 1, 3_600_000),
    drainMs: integer(command, values, 'drain-ms', 0, 3_600_000),
    clientTimeoutMs: integer(command, values, 'client-timeout-ms', 1, 3_600_000),
    headerTimeoutMs: integer(command, values, 'header-timeout-ms', 1, 3_600_000),
    keepAliveTimeoutMs: integer(command, values, 'keepalive-timeout-ms', 1, 3_600_000),
    tunnelIdleTimeoutMs: integer(command, values, 'tunnel-idle-timeout-ms', 1, 86_400_000),
    tcpKeepAliveMs: integer(command, values, 'tcp-keepalive-ms', 1, 3_600_000),
    maxConnectionsPerEndpoint: integer(command, values, 'max-connections-per-endpoint', 1, 1_000_000),
  };
  const defined = (entries: Record<string, unknown>) => Object.fromEntries(Object.entries(entries).filter(([, v]) => v !== undefined));
  const minVersion = values['tls-min-version'] as string | undefined;
  if (minVersion !== undefined && minVersion !== 'TLSv1.2' && minVersion !== 'TLSv1.3') usageError(command, `--tls-min-version must be TLSv1.2 or TLSv1.3, got ${minVersion}`);
  const tls = defined({ minVersion, ciphers: values['tls-ciphers'] });
  try {
    tlsPolicyOptions(tls);
  } catch (error) {
    usageError(command, `--tls-ciphers: ${(error as Error).message}`);
  }
  const escapedSlashes = values['escaped-slashes'] as EscapedSlashes | undefined;
  if (escapedSlashes !== undefined && !ESCAPED_SLASHES.includes(escapedSlashes)) usageError(command, `--escaped-slashes must be one of ${ESCAPED_SLASHES.join(', ')}, got ${escapedSlashes}`);
  const handshake = integer(command, values, 'tls-handshake-timeout-ms', 1, 3_600_000);
  const ejectOn = values['health-eject-on'] as string | undefined;
  if (ejectOn !== undefined && ejectOn !== 'connect' && ejectOn !== 'any') usageError(command, `--health-eject-on must be connect or any, got ${ejectOn}`);
  const health = defined({
    ejectOn,
    failureThreshold: integer(command, values, 'health-failures', 1, 1000),
    backoffMs: integer(command, values, 'health-backoff-ms', 1, 3_600_000),
    maxBackoffMs: integer(command, values, 'health-max-backoff-ms', 1, 3_600_000),
    panicThresholdPercent: integer(command, values, 'health-panic-threshold', 0, 100),
  });
  const address = String(values.address);
  const adminAddress = String(values['admin-address']);
  const httpPort = integer(command, values, 'http-port', 0, 65535)!;
  const httpsPort = httpsOff ? undefined : integer(command, values, 'https-port', 0, 65535);
  const adminPort = integer(command, values, 'admin-port', 0, 65535)!;
  refuseSharedPorts(command, [
    { flag: '--http-port', address, port: httpPort },
    { flag: '--https-port', address, port: httpsPort },
    { flag: '--admin-port', address: adminAddress, port: adminPort },
  ]);
  // `portico dataplane` takes it here, `standalone` with the Gateway options (the control half reads it too).
  const gatewayAddresses = parseGatewayAddresses((values['gateway-address'] as string[] | undefined) ?? []);
  if (typeof gatewayAddresses === 'string') usageError(command, gatewayAddresses);
  if (gatewayAddresses.includes(address)) usageError(command, `--gateway-address ${address} is also --address: a Gateway's own address is not the edge's`);
  return {
    address,
    ...(gatewayAddresses.length === 0 ? {} : { gatewayAddresses }),
    httpPort,
    httpsPort,
    ...(values['advertised-https-port'] === undefined ? {} : { advertisedHttpsPort: integer(command, values, 'advertised-https-port', 1, 65535)! }),
    adminAddress,
    adminPort,
    ...(values.workers === undefined ? {} : { workers: integer(command, values, 'workers', 1, 256)! }),
    ...(values['reclaim-after-mb'] === undefined ? {} : { reclaimAfterMb: integer(command, values, 'reclaim-after-mb', 0, 65536)! }),
    ...(certificate === undefined ? {} : { defaultCertificate: { certificatePem: read(certificate), privateKeyPem: read(key!) } }),
    proxy: {
      trustedProxies: (values['trusted-proxy'] as string[] | undefined) ?? [],
      ...defined(timeouts),
      pathNormalization: defined({ escapedSlashes, mergeSlashes: values['merge-slashes'] !== false }),
      // Standalone runs on one machine for its operator, whose backends are usually on localhost.
      endpointAddresses: { allowLoopback: (values['allow-loopback-endpoints'] as boolean | undefined) ?? command.name === 'standalone', allowLinkLocal: values['allow-link-local-endpoints'] === true },
    },
    admission: defined({ maxConnections: integer(command, values, 'max-connections', 1, 1_000_000), maxConnectionsPerClient: integer(command, values, 'max-connections-per-client', 1, 1_000_000) }),
    tls,
    http2: values.http2 !== false,
    h2c: values.h2c === true,
    router: { health },
    ...(handshake === undefined ? {} : { tlsHandshakeTimeoutMs: handshake }),
    accessLog: values['access-log'] !== false,
    logLevel: String(values['log-level']),
    shutdownTimeoutMs: integer(command, values, 'shutdown-timeout-ms', 0, 3_600_000)!,
  };
}
