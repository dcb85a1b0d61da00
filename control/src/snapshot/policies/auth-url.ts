/**
 * Reading `auth-url` and its family into the snapshot form (see external-auth.ts for what a
 * request does with it): the URL must be an absolute http(s) URL whose host is a literal DNS
 * name or IP address (ingress-nginx refuses `invalid..auth.url` the same way); nginx variables are
 * accepted only in its path and query, and only the ones Portico can fill in (`VARIABLES`).
 * A host `<service>.<namespace>.svc[.cluster.local]` names a Service of the model: the build
 * resolves it to that Service port's endpoints (see build/external-auth.ts).
 */
import type { AnnotationReader } from './module.ts';

/** nginx variables Portico substitutes in auth-url's path and query, auth-signin and auth-request-redirect. */
export const VARIABLES = ['$escaped_request_uri', '$request_uri', '$pass_access_scheme', '$scheme', '$http_host', '$host', '$request_method'] as const;

/** A DNS name: labels of letters, digits and `-`, separated by single dots. */
export const DNS_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
/** A dotted IPv4 address. */
export const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** `<service>.<namespace>.svc` with an optional `.cluster.local`. */
export const SERVICE_HOST = /^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\.svc(?:\.cluster\.local)?$/;
/** Visible ASCII without space: what may appear in a URL annotation (no CR, LF or other controls). */
const URL_TEXT = /^[\x21-\x7e]{1,2048}$/;
/** A header field name (RFC 9110 token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const METHOD = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/;

/** A Service the auth URL names, by its cluster DNS name. */
export interface AuthService {
  readonly namespace: string;
  readonly name: string;
  readonly port: number;
}

/** Where an auth-url points, as the data plane needs it. */
export interface AuthEndpoint {
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP address (IPv6 without brackets), lower case. */
  readonly host: string;
  readonly port: number;
  /** The Host header sent to the auth server (the URL's host, with its port when given). */
  readonly hostHeader: string;
  /** Path and query, possibly with VARIABLES. */
  readonly path: string;
}

/** A parsed auth-url: where it points, and the Service its host names (undefined for any other host). */
export interface AuthTarget extends AuthEndpoint {
  readonly service: AuthService | undefined;
}

/** Why `text` uses a `$variable` Portico cannot fill in, or undefined when every one is known. */
export function unknownVariable(text: string): string | undefined {
  for (const match of text.matchAll(/\$[A-Za-z_][A-Za-z0-9_]*/g)) {
    if (!(VARIABLES as readonly string[]).includes(match[0])) return `uses the nginx variable ${match[0]}, which Portico cannot fill in (known: ${VARIABLES.join(', ')})`;
  }
  return undefined;
}

/** A URL's authority read as `host[:port]` (by parseHostPort). */
export interface HostPort {
  /** Lowercased; an IPv6 address without its brackets. */
  readonly host: string;
  /** The port written, else the scheme's default. */
  readonly port: number;
  readonly portWritten: boolean;
  /** The host as written, lowercased (an IPv6 address in its brackets). */
  readonly written: string;
}

/**
 * Reads a URL's authority (credentials already refused) as `host[:port]`: a DNS name, an IPv4
 * address or an IPv6 address in brackets, and a port 1-65535. Returns why it is unusable otherwise.
 */
export function parseHostPort(authority: string, scheme: 'http' | 'https'): HostPort | string {
  const hostPort = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(authority);
  if (hostPort === null) return authority === '' ? 'has no host' : `has an invalid host ${JSON.stringify(authority)}`;
  const written = hostPort[1]!.toLowerCase();
  const port = hostPort[2] === undefined ? (scheme === 'https' ? 443 : 80) : Number(hostPort[2]);
  if (port < 1 || port > 65535) return `has an invalid port ${hostPort[2]}`;
  if (written.startsWith('[')) {
    try {
      new URL(`http://${written}/`);
    } catch {
      return 'has an invalid IPv6 host';
    }
    return { host: written.slice(1, -1), port, portWritten: hostPort[2] !== undefined, written };
  }
  if (!IPV4.test(written) && !DNS_NAME.test(written)) return `has an invalid host ${JSON.stringify(hostPort[1])}`;
  return { host: written, port, portWritten: hostPort[2] !== undefined, written };
}

/** Parses an auth-url; returns the target or why it is unusable. */
export function parseAuthUrl(value: string): AuthTarget | string {
  if (!URL_TEXT.test(value)) return 'must be an absolute http(s) URL of at most 2048 visible ASCII characters (no spaces or control characters)';
  const match = /^(https?):\/\/([^/?#]*)([^#]*)$/i.exec(value);
  if (match === null) return 'must be an absolute http or https URL without a fragment';
  const scheme = match[1]!.toLowerCase() as 'http' | 'https';
  const authority = match[2]!;
  if (authority.includes('@')) return 'must not carry credentials in the URL';
  if (authority.includes('$')) return 'has a variable in its host; Portico needs a literal host (name the auth Service, e.g. http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth)';
  const hostPort = parseHostPort(authority, scheme);
  if (typeof hostPort === 'string') return hostPort;
  const { host, port } = hostPort;
  const path = match[3] === '' ? '/' : match[3]!;
  if (!path.startsWith('/') && !path.startsWith('?')) return 'has an invalid path';
  const problem = unknownVariable(path);
  if (problem !== undefined) return problem;
  const service = SERVICE_HOST.exec(host);
  return {
    url: value,
    scheme,
    host,
    port,
    hostHeader: hostPort.portWritten ? `${hostPort.written}:${port}` : authority.toLowerCase(),
    path: path.startsWith('?') ? `/${path}` : path,
    service: service === null ? undefined : { name: service[1]!, namespace: service[2]!, port },
  };
}

/** Reads `auth-method`: undefined for none (GET, as nginx's subrequest), 'refused' when invalid. */
export function readAuthMethod(reader: AnnotationReader): string | undefined | 'refused' {
  const method = reader.string('auth-method');
  if (method === undefined) return undefined;
  if (METHOD.test(method)) return method;
  reader.refuse('auth-method', `${JSON.stringify(method)} is not an HTTP method (GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)`);
  return 'refused';
}

/** Reads a URL template annotation (auth-signin, auth-request-redirect): undefined, the value, or 'refused'. */
export function readTemplate(reader: AnnotationReader, name: string, absolute: boolean): string | undefined | 'refused' {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (!URL_TEXT.test(value)) {
    reader.refuse(name, 'must be at most 2048 visible ASCII characters (no spaces or control characters)');
    return 'refused';
  }
  if (absolute && !/^https?:\/\/[^/?#]+/i.test(value)) {
    reader.refuse(name, `${JSON.stringify(value)} is not an absolute http or https URL`);
    return 'refused';
  }
  const problem = unknownVariable(value);
  if (problem !== undefined) {
    reader.refuse(name, problem);
    return 'refused';
  }
  return value;
}

/** Reads `auth-response-headers`: header names, or 'refused' when one is not a header name. */
export function readResponseHeaders(reader: AnnotationReader): readonly string[] | 'refused' {
  const raw = reader.string('auth-response-headers');
  if (raw === undefined) return [];
  const names = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const bad = names.filter((name) => !HEADER_NAME.test(name));
  if (bad.length > 0 || names.length > 64) {
    reader.refuse('auth-response-headers', bad.length > 0 ? `not header names: ${bad.map((name) => JSON.stringify(name)).join(', ')}` : 'more than 64 header names');
    return 'refused';
  }
  return [...new Set(names)];
}
