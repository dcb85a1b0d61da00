/**
 * What goes back to the client: the endpoint's response head with hop-by-hop lines removed (sent
 * untouched when it has none and the connection stays open), and Portico's own small responses.
 */
import type { LocalAnswer } from '@portico/control/snapshot/policies/module';
import { ADD_HEADER_STATUSES } from '@portico/control/snapshot/policies/external-auth';
import { rewriteRedirect } from '@portico/control/snapshot/policies/proxy-redirect';
import { equalsLower } from './chars.ts';
import type { ResponseHead } from './response-head.ts';
import { R_CONNECTION, R_HOP, R_OTHER, R_UPGRADE } from './response-head.ts';

const CONNECTION_CLOSE = Buffer.from('Connection: close\r\n', 'latin1');
const CONNECTION_UPGRADE = Buffer.from('Connection: upgrade\r\n', 'latin1');
/** Added to a final response whose endpoint sent no Server line (as peers do; the Ingress conformance suite expects one). */
const SERVER = Buffer.from('Server: portico\r\n', 'latin1');

/** Whether the client head of this response needs Portico's Server line (a final response without one). */
export function needsServer(head: ResponseHead): boolean {
  return !head.hasServer && head.status >= 200;
}

/** Response header lines a route's policies set (CORS), replacing the endpoint's lines of the same names. */
export interface ResponseExtra {
  /** `Name: value\r\n` lines (values validated when the policy was read). */
  readonly lines: Buffer;
  /** Lower-case names whose received lines are dropped. */
  readonly replaces: readonly string[];
  /** The lines that replace, as name/value pairs (HTTP/2 responses). */
  readonly headers: readonly (readonly [string, string])[];
  /** `Set-Cookie: …\r\n` lines added beside the endpoint's own (the auth-url server's cookies), or undefined. */
  readonly cookies?: Buffer | undefined;
  /** The same Set-Cookie values (HTTP/2 responses). */
  readonly cookieValues?: readonly string[] | undefined;
  /** Whether `cookies` go on every status (auth-always-set-cookie), else only on nginx add_header's statuses. */
  readonly cookiesAlways?: boolean;
  /** The lines that join the endpoint's of the same name, as name/value pairs (HTTP/2 responses); absent for none. */
  readonly added?: readonly (readonly [string, string])[];
  /** Location/Refresh prefix rewrite (proxy-redirect-from/to); absent for none. */
  readonly rewrite?: { readonly from: string; readonly to: string } | undefined;
}

/** The endpoint's Location/Refresh lines `extra.rewrite` changes: their slots (into head.lines) and the new lines. */
function rewrittenLines(buf: Buffer, head: ResponseHead, extra: ResponseExtra | undefined): { slots: number[]; lines: Buffer } | undefined {
  const rewrite = extra?.rewrite;
  if (rewrite === undefined) return undefined;
  const slots: number[] = [];
  let text = '';
  for (let slot = 0, last = head.lineCount * 3; slot < last; slot += 3) {
    if (head.lines[slot + 2] !== R_OTHER) continue;
    const start = head.lines[slot] as number;
    const colon = buf.indexOf(0x3a, start);
    const name = equalsLower(buf, start, colon, 'location') ? 'location' : equalsLower(buf, start, colon, 'refresh') ? 'refresh' : undefined;
    if (name === undefined) continue;
    const value = rewriteRedirect(name, buf.latin1Slice(colon + 1, head.lines[slot + 1] as number).trim(), rewrite.from, rewrite.to);
    if (value === undefined) continue;
    slots.push(slot);
    text += `${buf.latin1Slice(start, colon)}: ${value}\r\n`;
  }
  return slots.length === 0 ? undefined : { slots, lines: Buffer.from(text, 'latin1') };
}

/** The ResponseExtra for header pairs and added Set-Cookie values, or undefined for none. */
export function responseExtra(headers: readonly (readonly [string, string])[], cookies: readonly string[] = [], cookiesAlways = false): ResponseExtra | undefined {
  if (headers.length === 0 && cookies.length === 0) return undefined;
  return {
    lines: Buffer.from(headers.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1'),
    replaces: headers.map(([name]) => name.toLowerCase()),
    headers,
    ...(cookies.length === 0 ? {} : { cookies: Buffer.from(cookies.map((cookie) => `Set-Cookie: ${cookie}\r\n`).join(''), 'latin1'), cookieValues: cookies, cookiesAlways }),
  };
}

/** `extra` (its replaced, added and removed lines kept) with Set-Cookie values added, or undefined for nothing at all. */
export function withCookies(extra: ResponseExtra | undefined, cookies: readonly string[], cookiesAlways: boolean): ResponseExtra | undefined {
  if (cookies.length === 0) return extra;
  const cookieLines = responseExtra([], cookies, cookiesAlways);
  return extra === undefined ? cookieLines : { ...extra, ...cookieLines, lines: extra.lines, replaces: extra.replaces, headers: extra.headers };
}

/**
 * The head to send to the client for the response parsed from buf[0, headEnd). `close` adds
 * `Connection: close`; `upgrade` (a 101) keeps Upgrade and sends `Connection: upgrade`; a final
 * response without a Server line gets `Server: portico`; `extra` lines replace the endpoint's of
 * the same names. Returns buf[0, headEnd) itself when nothing has to change.
 */
export function clientHead(buf: Buffer, head: ResponseHead, headEnd: number, close: boolean, upgrade: boolean, extra?: ResponseExtra): Buffer {
  const server = needsServer(head);
  if (!head.hopByHop && !close && !upgrade && !server && extra === undefined) return buf.subarray(0, headEnd);
  const cookies = extra?.cookies !== undefined && (extra.cookiesAlways === true || ADD_HEADER_STATUSES.has(head.status)) ? extra.cookies : undefined;
  const rewritten = rewrittenLines(buf, head, extra);
  const out = Buffer.allocUnsafe(headEnd + CONNECTION_CLOSE.length + CONNECTION_UPGRADE.length + SERVER.length + (extra === undefined ? 0 : extra.lines.length) + (cookies === undefined ? 0 : cookies.length) + (rewritten === undefined ? 0 : rewritten.lines.length));
  const lines = head.lines;
  const tokens = head.connectionTokens;
  let w = 0;
  let run = 0;
  for (let slot = 0, last = head.lineCount * 3; slot < last; slot += 3) {
    const kind = lines[slot + 2] as number;
    const start = lines[slot] as number;
    let drop = kind === R_CONNECTION || kind === R_HOP || (kind === R_UPGRADE && !upgrade);
    if (!drop && kind === R_OTHER && (tokens.length !== 0 || extra !== undefined)) {
      const colon = buf.indexOf(0x3a, start);
      for (const token of tokens) if (equalsLower(buf, start, colon, token)) drop = true;
      if (extra !== undefined) for (const name of extra.replaces) if (equalsLower(buf, start, colon, name)) drop = true;
      if (rewritten !== undefined && rewritten.slots.includes(slot)) drop = true;
    }
    if (drop) {
      if (start > run) w += buf.copy(out, w, run, start);
      run = (lines[slot + 1] as number) + 2;
    }
  }
  if (headEnd - 2 > run) w += buf.copy(out, w, run, headEnd - 2);
  if (extra !== undefined) w += extra.lines.copy(out, w);
  if (cookies !== undefined) w += cookies.copy(out, w);
  if (rewritten !== undefined) w += rewritten.lines.copy(out, w);
  if (server) w += SERVER.copy(out, w);
  if (upgrade) w += CONNECTION_UPGRADE.copy(out, w);
  else if (close) w += CONNECTION_CLOSE.copy(out, w);
  out[w++] = 0x0d;
  out[w++] = 0x0a;
  return out.subarray(0, w);
}

/**
 * Removes the lines clientHead would remove, in place: the kept bytes are moved right so that the
 * cleaned head is buf[returned offset, headEnd), directly followed by the body bytes already in
 * buf. Only for heads that need nothing added (the connection stays open, no upgrade). The
 * parsed line offsets are stale afterwards.
 */
export function compactHead(buf: Buffer, head: ResponseHead, headEnd: number): number {
  const lines = head.lines;
  const tokens = head.connectionTokens;
  // Walk dropped lines from the last one back: each kept run before a dropped line slides right.
  let write = -1;
  let keptEnd = headEnd;
  for (let slot = (head.lineCount - 1) * 3; slot >= 0; slot -= 3) {
    const kind = lines[slot + 2] as number;
    const start = lines[slot] as number;
    let drop = kind === R_CONNECTION || kind === R_HOP || kind === R_UPGRADE;
    if (!drop && kind === R_OTHER && tokens.length !== 0) {
      const colon = buf.indexOf(0x3a, start);
      for (const token of tokens) if (equalsLower(buf, start, colon, token)) drop = true;
    }
    if (!drop) continue;
    const end = (lines[slot + 1] as number) + 2;
    if (write < 0) write = end;
    else if (keptEnd > end) {
      write -= keptEnd - end;
      buf.copyWithin(write, end, keptEnd);
    }
    keptEnd = start;
  }
  if (write < 0) return 0;
  if (keptEnd > 0) {
    write -= keptEnd;
    buf.copyWithin(write, 0, keptEnd);
  }
  return write;
}

const REASONS: Record<number, string> = {
  200: 'OK',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  403: 'Forbidden',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  400: 'Bad Request',
  405: 'Method Not Allowed',
  404: 'Not Found',
  408: 'Request Timeout',
  414: 'URI Too Long',
  421: 'Misdirected Request',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

const canned = new Map<number, Buffer>();

/** The methods Portico forwards: the answer to `OPTIONS *` and the Allow of a 405 (TRACE). */
export const ALLOWED_METHODS = 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH';
const ALLOW = `Allow: ${ALLOWED_METHODS}\r\n`;

/** The reason phrase of a status Portico answers itself ('Error' or 'Status' for others, per `fallback`). */
export function reasonPhrase(status: number, fallback = 'Error'): string {
  return REASONS[status] ?? fallback;
}

/** The text body of Portico's own answer with `status`: `404 Not Found\n`. */
export function localBody(status: number): string {
  return `${status} ${reasonPhrase(status)}\n`;
}

/**
 * Portico's own response for `status` (a short text body; none for HEAD), with `Connection:
 * close` when `close`; 200 (the answer to `OPTIONS *`) and 405 carry `Allow`. Buffers are built once per variant and shared: never modify them.
 */
export function localResponse(status: number, close: boolean, head: boolean): Buffer {
  const key = status * 4 + (close ? 2 : 0) + (head ? 1 : 0);
  let response = canned.get(key);
  if (response === undefined) {
    const reason = reasonPhrase(status);
    const body = localBody(status);
    response = Buffer.from(
      `HTTP/1.1 ${status} ${reason}\r\nServer: portico\r\n${status === 200 || status === 405 ? ALLOW : ''}Content-Type: text/plain\r\nContent-Length: ${body.length}\r\n${close ? 'Connection: close\r\n' : ''}\r\n${head ? '' : body}`,
      'latin1',
    );
    canned.set(key, response);
  }
  return response;
}

/**
 * A policy's own answer (a redirect, a refusal): status, its header lines and an empty body, with
 * `Connection: close` when `close`. Header values come from validated annotations or request bytes
 * the parser accepted, so they cannot carry CR or LF.
 */
export function policyResponse(answer: LocalAnswer, close: boolean): Buffer {
  let lines = '';
  for (const [name, value] of answer.headers) lines += `${name}: ${value}\r\n`;
  return Buffer.from(`HTTP/1.1 ${answer.status} ${REASONS[answer.status] ?? 'Status'}\r\nServer: portico\r\n${lines}Content-Length: 0\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}

/** A 308 to `location` (built from validated request bytes, so it cannot carry CR or LF). */
export function redirectResponse(location: string, close: boolean): Buffer {
  return Buffer.from(`HTTP/1.1 308 Permanent Redirect\r\nServer: portico\r\nLocation: ${location}\r\nContent-Length: 0\r\n${close ? 'Connection: close\r\n' : ''}\r\n`, 'latin1');
}
