/**
 * Command-line options shared by `portico dataplane` and `portico standalone`: listeners,
 * workers, certificates, proxy timeouts, logging.
 */
import { readFileSync } from 'node:fs';
import type { Command } from '@portico/control/cli/args';
import { usageError } from '@portico/control/cli/args';
import type { ServingOptions } from '../serve.ts';

/** parseArgs definitions of the serving options. */
export const SERVING_OPTIONS = {
  address: { type: 'string', default: '0.0.0.0' },
  'http-port': { type: 'string', default: '8080' },
  'https-port': { type: 'string', default: '8443' },
  'advertised-https-port': { type: 'string' },
  'admin-address': { type: 'string', default: '127.0.0.1' },
  'admin-port': { type: 'string', default: '9901' },
  workers: { type: 'string' },
  'default-certificate': { type: 'string' },
  'default-key': { type: 'string' },
  'trusted-proxy': { type: 'string', multiple: true },
  'connect-timeout-ms': { type: 'string' },
  'read-timeout-ms': { type: 'string' },
  'send-timeout-ms': { type: 'string' },
  'drain-ms': { type: 'string' },
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
  --workers N                    Worker processes sharing the ports (default: one per core).
  --default-certificate FILE     PEM certificate for unknown SNI names and hosts without a usable Secret
  --default-key FILE               (default: a generated self-signed "Portico Default Certificate").
  --trusted-proxy CIDR           Peer whose X-Forwarded-For is kept and appended to; repeatable.
  --connect-timeout-ms N         Connecting to an endpoint (default 5000).
  --read-timeout-ms N            Waiting for an endpoint's response bytes (default 60000).
  --send-timeout-ms N            Waiting for an endpoint to take request bytes (default 60000).
  --drain-ms N                   How long a WebSocket outlives the removal of its endpoint (default 30000).
  --shutdown-timeout-ms N        On SIGTERM, how long in-flight requests may finish (default 10000).
  --no-access-log                No per-request JSON log line.
  --log-level LEVEL              pino level (default info).`;

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
  const timeouts = {
    connectTimeoutMs: integer(command, values, 'connect-timeout-ms', 1, 3_600_000),
    readTimeoutMs: integer(command, values, 'read-timeout-ms', 1, 3_600_000),
    sendTimeoutMs: integer(command, values, 'send-timeout-ms', 1, 3_600_000),
    drainMs: integer(command, values, 'drain-ms', 0, 3_600_000),
  };
  return {
    address: String(values.address),
    httpPort: integer(command, values, 'http-port', 0, 65535)!,
    httpsPort: httpsOff ? undefined : integer(command, values, 'https-port', 0, 65535),
    ...(values['advertised-https-port'] === undefined ? {} : { advertisedHttpsPort: integer(command, values, 'advertised-https-port', 1, 65535)! }),
    adminAddress: String(values['admin-address']),
    adminPort: integer(command, values, 'admin-port', 0, 65535)!,
    ...(values.workers === undefined ? {} : { workers: integer(command, values, 'workers', 1, 256)! }),
    ...(certificate === undefined ? {} : { defaultCertificate: { certificatePem: read(certificate), privateKeyPem: read(key!) } }),
    proxy: {
      trustedProxies: (values['trusted-proxy'] as string[] | undefined) ?? [],
      ...Object.fromEntries(Object.entries(timeouts).filter(([, v]) => v !== undefined)),
    },
    accessLog: values['access-log'] !== false,
    logLevel: String(values['log-level']),
    shutdownTimeoutMs: integer(command, values, 'shutdown-timeout-ms', 0, 3_600_000)!,
  };
}
