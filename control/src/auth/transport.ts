/**
 * How bearer tokens travel to the control API: over HTTPS verified against a CA the operator
 * names (the control API's own certificate, generated at deploy time), or over plain HTTP only to
 * a loopback address — anything else needs an explicit opt-in flag, because a data plane's token
 * (and the TLS private keys `/v1/sync` returns) would cross the network in clear text.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { PorticoError } from '../errors.ts';

/** Whether `hostname` (as in a URL: `[::1]` bracketed) is a loopback address or `localhost`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || host === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(host);
  return false;
}

/**
 * Checks that a token may be sent to `url`. Throws PorticoError PORTICO_E_USAGE naming the URL
 * and the way out when it is plain HTTP to a non-loopback host and `allowInsecure` is not set;
 * also for anything that is not an http(s) URL.
 */
export function checkTokenTransport(url: string, options: { readonly allowInsecure: boolean; readonly flag: string }): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PorticoError('PORTICO_E_USAGE', `--control must be an http(s) URL, got ${url}`);
  }
  if (parsed.protocol === 'https:') return;
  if (parsed.protocol !== 'http:') throw new PorticoError('PORTICO_E_USAGE', `--control must be an http(s) URL, got ${url}`);
  if (isLoopbackHost(parsed.hostname) || options.allowInsecure) return;
  throw new PorticoError(
    'PORTICO_E_USAGE',
    `refusing to send a bearer token over plain HTTP to ${parsed.host}: use https:// (with --control-ca for the control API's certificate), or ${options.flag} if this network is trusted`,
  );
}

/** Options of the control API client transport. */
export interface ControlTransportOptions {
  /** PEM file of the CA that signed the control API's certificate; default: the system CAs. */
  readonly caFile?: string | undefined;
}

/**
 * A fetch for the control API: HTTPS verified against `caFile` only (when given), with the host
 * name checked against the certificate. Throws PORTICO_E_USAGE when the CA file cannot be read
 * or holds no certificate.
 */
export function controlFetch(options: ControlTransportOptions = {}): typeof fetch {
  if (options.caFile === undefined) return fetch;
  let ca: string;
  try {
    ca = readFileSync(options.caFile, 'utf8');
  } catch (error) {
    throw new PorticoError('PORTICO_E_USAGE', `cannot read --control-ca ${options.caFile}: ${(error as Error).message}`, { cause: error });
  }
  if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new PorticoError('PORTICO_E_USAGE', `--control-ca ${options.caFile} holds no PEM certificate`);
  // undici is loaded on first use: a process that never talks to a control plane never pays for it.
  let client: Promise<(input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => Promise<Response>> | undefined;
  const load = async () => {
    const { Agent, fetch: undiciFetch } = await import('undici');
    const dispatcher = new Agent({ connect: { ca, rejectUnauthorized: true }, keepAliveTimeout: 60_000 });
    return (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
      undiciFetch(input as Parameters<typeof undiciFetch>[0], { ...(init as Parameters<typeof undiciFetch>[1]), dispatcher }) as unknown as Promise<Response>;
  };
  return (async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => (await (client ??= load()))(input, init)) as typeof fetch;
}
