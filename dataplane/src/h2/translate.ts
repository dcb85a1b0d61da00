/**
 * HTTP/2 request fields -> HTTP/1.1 request head bytes, refusing whatever could be read two ways
 * once it is HTTP/1.1 (request smuggling): a pure function over the field list as received.
 * nghttp2 already refuses most of this at the frame layer; this is the data plane's own rule,
 * and its output is then parsed by the same strict HTTP/1.1 parser every request goes through.
 *
 * Rules (RFC 9113 §8.2, §8.3): names are lower-case tokens; values carry no CR, LF, NUL or other
 * control byte and no leading or trailing whitespace; no connection-specific field (connection,
 * keep-alive, proxy-connection, transfer-encoding, upgrade) and `te` only as `trailers`; exactly
 * the four request pseudo-fields, once each, before the regular ones (`:protocol` is refused:
 * extended CONNECT is not offered); `:authority` without userinfo; a Host that names another
 * authority than `:authority` (after scheme-based normalization) is malformed, and Host is made
 * from `:authority` when absent; Content-Length values agree, and a request that ended with its
 * HEADERS frame declares no body. Several `cookie` fields are joined with `; ` (§8.2.3).
 */
import { FIELD_VALUE, TCHAR } from '../http/chars.ts';

/** A request that can be forwarded as HTTP/1.1. */
export interface TranslatedRequest {
  readonly ok: true;
  /** `METHOD target HTTP/1.1\r\n` … `\r\n` (latin1). */
  readonly head: Buffer;
  /** The `:authority` (or Host) value. */
  readonly authority: string;
  /** The `:path` value. */
  readonly target: string;
  /** Content-Length, or -1 when the request did not send one. */
  readonly contentLength: number;
  /** The body (no Content-Length, not ended with the HEADERS frame) goes on as chunked HTTP/1.1. */
  readonly chunked: boolean;
}

/** A request refused: `status` to answer and why (for logs and tests). */
export interface RefusedRequest {
  readonly ok: false;
  readonly status: number;
  readonly reason: string;
}

/** Connection-specific fields (RFC 9113 §8.2.2): never in an HTTP/2 request. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function refuse(status: number, reason: string): RefusedRequest {
  return { ok: false, status, reason };
}

/** Why `name` is not a lower-case token, or undefined when it is. */
function badName(name: string): string | undefined {
  if (name.length === 0) return 'an empty field name';
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code > 0xff || TCHAR[code] !== 1) return `field name ${JSON.stringify(name)} has a byte that is not a token character`;
    if (code >= 0x41 && code <= 0x5a) return `field name ${JSON.stringify(name)} is not lower case`;
  }
  return undefined;
}

/** Why `value` cannot be a field value, or undefined when it can. */
function badValue(name: string, value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code === 0x0d || code === 0x0a || code === 0x00) return `field ${name} carries ${code === 0 ? 'NUL' : code === 0x0d ? 'CR' : 'LF'}`;
    if (code > 0xff || FIELD_VALUE[code] !== 1) return `field ${name} carries a control byte`;
  }
  if (value.length !== 0 && (value.charCodeAt(0) <= 0x20 || value.charCodeAt(value.length - 1) <= 0x20)) return `field ${name} has leading or trailing whitespace`;
  return undefined;
}

/** Authority as compared between Host and `:authority`: lower case, default port and empty port dropped (RFC 3986 §6.2.3). */
function normalAuthority(value: string, scheme: string): string {
  let lower = value.toLowerCase();
  const bracket = lower.lastIndexOf(']');
  const colon = lower.lastIndexOf(':');
  if (colon > bracket) {
    const port = lower.slice(colon + 1);
    if (port === '' || (scheme === 'https' && port === '443') || (scheme === 'http' && port === '80')) lower = lower.slice(0, colon);
  }
  return lower;
}

/**
 * Translates one request's fields, `raw` as node:http2 gives them (name, value, name, value…, in
 * arrival order). `endStream`: the HEADERS frame ended the stream (no body follows).
 */
export function translateRequest(raw: readonly string[], endStream: boolean): TranslatedRequest | RefusedRequest {
  let method: string | undefined;
  let scheme: string | undefined;
  let authority: string | undefined;
  let target: string | undefined;
  let host: string | undefined;
  let contentLength = -1;
  let regular = false;
  const cookies: string[] = [];
  const lines: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    if (name.charCodeAt(0) === 0x3a) {
      if (regular) return refuse(400, `pseudo-header ${name} after a regular field`);
      switch (name) {
        case ':method':
          if (method !== undefined) return refuse(400, 'two :method fields');
          method = value;
          break;
        case ':scheme':
          if (scheme !== undefined) return refuse(400, 'two :scheme fields');
          scheme = value;
          break;
        case ':authority':
          if (authority !== undefined) return refuse(400, 'two :authority fields');
          authority = value;
          break;
        case ':path':
          if (target !== undefined) return refuse(400, 'two :path fields');
          target = value;
          break;
        default:
          return refuse(400, `pseudo-header ${name} is not a request pseudo-header Portico accepts`);
      }
      continue;
    }
    regular = true;
    const nameProblem = badName(name);
    if (nameProblem !== undefined) return refuse(400, nameProblem);
    const valueProblem = badValue(name, value);
    if (valueProblem !== undefined) return refuse(400, valueProblem);
    if (CONNECTION_SPECIFIC.has(name)) return refuse(400, `connection-specific field ${name}`);
    if (name === 'te') {
      if (value !== 'trailers') return refuse(400, `te ${JSON.stringify(value)} (only "trailers" is allowed)`);
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) return refuse(400, 'two host fields');
      host = value;
      continue;
    }
    if (name === 'content-length') {
      if (!/^[0-9]{1,15}$/.test(value)) return refuse(400, `content-length ${JSON.stringify(value)} is not a number`);
      const length = Number(value);
      if (contentLength >= 0 && contentLength !== length) return refuse(400, 'content-length fields disagree');
      if (contentLength >= 0) continue;
      contentLength = length;
    }
    if (name === 'cookie') {
      cookies.push(value);
      continue;
    }
    lines.push(name, ': ', value, '\r\n');
  }
  if (method === undefined) return refuse(400, 'no :method');
  if (method === 'CONNECT') return refuse(405, 'CONNECT is not proxied');
  if (badName(method.toLowerCase()) !== undefined) return refuse(400, ':method is not a token');
  if (scheme !== 'http' && scheme !== 'https') return refuse(400, scheme === undefined ? 'no :scheme' : `:scheme ${JSON.stringify(scheme)} is not http or https`);
  if (target === undefined || target === '') return refuse(400, 'no :path');
  if (target.charCodeAt(0) !== 0x2f && !(target === '*' && method === 'OPTIONS')) return refuse(400, ':path is neither absolute nor * for OPTIONS');
  if (authority !== undefined) {
    const problem = badValue(':authority', authority);
    if (problem !== undefined) return refuse(400, problem);
    if (authority.includes('@')) return refuse(400, ':authority carries userinfo');
    // RFC 9113 §8.3.1: a Host naming another authority than :authority is malformed.
    if (host !== undefined && normalAuthority(host, scheme) !== normalAuthority(authority, scheme)) return refuse(400, 'host and :authority name different authorities');
  }
  const hostValue = authority ?? host;
  if (hostValue === undefined || hostValue === '') return refuse(400, 'neither :authority nor host');
  if (endStream && contentLength > 0) return refuse(400, 'content-length announces a body the stream does not have');
  const chunked = !endStream && contentLength < 0;
  let text = `${method} ${target} HTTP/1.1\r\nhost: ${hostValue}\r\n`;
  if (cookies.length !== 0) text += `cookie: ${cookies.join('; ')}\r\n`;
  text += lines.join('');
  if (chunked) text += 'transfer-encoding: chunked\r\n';
  text += '\r\n';
  return { ok: true, head: Buffer.from(text, 'latin1'), authority: hostValue, target, contentLength, chunked };
}
