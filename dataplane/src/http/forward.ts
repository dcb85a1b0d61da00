/**
 * Rewrites a parsed request head for the endpoint: copies the received bytes in contiguous runs,
 * leaving out hop-by-hop lines (Connection and what it lists, Keep-Alive, Proxy-Connection, TE,
 * Trailer, Upgrade unless upgrading) and the forwarding headers Portico sets itself, then appends
 * X-Forwarded-For/-Proto/-Host/-Port, X-Real-IP and X-Request-ID.
 *
 * The head is built in a shared scratch buffer: a request head is written to the endpoint at
 * once, and when the socket takes it synchronously (the usual case) the same memory serves the
 * next request. A caller whose write did not complete calls scratchRetained(), and the next head
 * gets fresh memory. Nothing here keeps a head: a retry rebuilds it, byte for byte.
 */
import { randomBytes } from 'node:crypto';
import type { ExtraHeaders } from '../policy.ts';
import { equalsLower } from './chars.ts';
import type { RequestHead } from './request-head.ts';
import { K_CONNECTION, K_CONTENT_LENGTH, K_HOP, K_HOST, K_OTHER, K_TRANSFER_ENCODING, K_REAL_IP, K_UPGRADE, K_XFF, K_XF_HOST, K_XF_PORT, K_XF_PROTO } from './request-fields.ts';

/** What a connection knows about its peer, computed once per connection. */
export interface ForwardContext {
  /** The peer is a trusted proxy: its X-Forwarded-* are kept and X-Forwarded-For is appended to. */
  readonly trusted: boolean;
  /** The peer's IP address. */
  readonly peer: Buffer;
  /** `X-Forwarded-Proto: …\r\n`. */
  readonly protoLine: Buffer;
  /** `X-Forwarded-Port: …\r\n`. */
  readonly portLine: Buffer;
  /**
   * For untrusted peers, everything but X-Forwarded-Host in one buffer: X-Forwarded-For (the
   * peer), -Proto, -Port, X-Real-IP, then `X-Request-ID: ` and the process's id prefix, which
   * is left out (see untrustedIdAt) when the request brought its own id.
   */
  readonly untrustedLines: Buffer;
  /** Offset in untrustedLines where `X-Request-ID: ` starts. */
  readonly untrustedIdAt: number;
  /** For trusted peers: the client address given the request's X-Forwarded-For values. */
  readonly realIp: ((forwardedFor: readonly string[]) => string) | undefined;
}

const XFF = Buffer.from('X-Forwarded-For: ', 'latin1');
const XFH = Buffer.from('X-Forwarded-Host: ', 'latin1');
const XRI = Buffer.from('X-Real-IP: ', 'latin1');
const XRID = Buffer.from('X-Request-ID: ', 'latin1');
const CONNECTION_UPGRADE = Buffer.from('Connection: upgrade\r\n', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const SCRATCH_SIZE = 16 * 1024;

let scratch = Buffer.allocUnsafe(SCRATCH_SIZE);

/** The last head built lives on in a pending write: build the next one in fresh memory. */
export function scratchRetained(head: Buffer): void {
  if (head.buffer === scratch.buffer) scratch = Buffer.allocUnsafe(SCRATCH_SIZE);
}

/** The ForwardContext lines for a peer that is not a trusted proxy (see ForwardContext.untrustedLines). */
export function untrustedLines(peer: string, protoLine: Buffer, portLine: Buffer, ids: RequestIds): { lines: Buffer; idAt: number } {
  const fixed = Buffer.concat([XFF, Buffer.from(`${peer}\r\n`, 'latin1'), protoLine, portLine, XRI, Buffer.from(`${peer}\r\n`, 'latin1')]);
  return { lines: Buffer.concat([fixed, XRID, ids.prefix]), idAt: fixed.length };
}

/** Request ids: 24 random hex digits per process, then a 32-bit counter in 8 (32 in all, like nginx's $request_id). */
export class RequestIds {
  readonly prefix = Buffer.from(randomBytes(12).toString('hex'), 'latin1');
  #counter = 0;

  /** The next id's counter value; written out by forwardHead, readable with format(). */
  next(): number {
    this.#counter = (this.#counter + 1) >>> 0;
    return this.#counter;
  }

  /** The id for counter value `n`, as a string (for logs). */
  format(n: number): string {
    return this.prefix.latin1Slice(0, 24) + (n >>> 0).toString(16).padStart(8, '0');
  }
}

/** Copies src[start, end) into dst at `at`; short runs in JS, since a native copy costs more than it saves. */
function copy(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): number {
  if (end - start > 64) return (src as Buffer).copy(dst, at, start, end);
  for (let i = start; i < end; i++) dst[at++] = src[i] as number;
  return end - start;
}

/** Whether field line `slot` (an index into head.lines) names a header the Connection header listed, or one a policy replaces. */
function listed(buf: Buffer, head: RequestHead, slot: number, extra: ExtraHeaders | undefined): boolean {
  const start = head.lines[slot] as number;
  const colon = buf.indexOf(0x3a, start);
  for (const token of head.connectionTokens) if (equalsLower(buf, start, colon, token)) return true;
  if (extra !== undefined) for (const name of extra.replaces) if (equalsLower(buf, start, colon, name)) return true;
  return false;
}

function dropped(kind: number, trusted: boolean, upgrade: boolean): boolean {
  switch (kind) {
    case K_CONNECTION:
    case K_HOP:
    case K_XFF:
    case K_REAL_IP:
      return true;
    case K_UPGRADE: return !upgrade;
    case K_XF_PROTO:
    case K_XF_HOST:
    case K_XF_PORT:
      return !trusted;
    default: return false;
  }
}

/**
 * The head to send upstream for the request parsed into `head` from buf[0, headEnd), carrying
 * request id `requestId` (from RequestIds.next(), used only when the request brought none).
 * `upgrade` keeps Upgrade and sends `Connection: upgrade`; `target`, when given, replaces the
 * request-target (latin1); `extra` lines are added and replace received lines of the same names;
 * `bodyless` leaves out Content-Length and Transfer-Encoding (a request sent without its body, the
 * caller's `extra` saying `Content-Length: 0`). buf is not modified. The result is a view of the shared scratch memory (see scratchRetained)
 * unless the head is very large.
 */
export function forwardHead(buf: Buffer, head: RequestHead, headEnd: number, context: ForwardContext, ids: RequestIds, requestId: number, upgrade: boolean, target?: string, extra?: ExtraHeaders, bodyless = false): Buffer {
  const { trusted, peer } = context;
  const forwardedFor = head.forwardedFor;
  let forwardedBytes = 0;
  if (trusted) for (let i = 0; i < forwardedFor.length; i += 2) forwardedBytes += (forwardedFor[i + 1] as number) - (forwardedFor[i] as number) + 2;
  const hostBytes = head.hostEnd - head.hostStart;
  const bound = headEnd - head.requestStart + 256 + (target === undefined ? 0 : target.length) + forwardedBytes + 2 * peer.length + hostBytes + context.untrustedLines.length + context.protoLine.length + context.portLine.length + (extra === undefined ? 0 : extra.lines.length);
  const out = bound <= scratch.length ? scratch : Buffer.allocUnsafe(bound);

  let w = 0;
  let run = head.requestStart;
  if (target !== undefined) {
    w += copy(buf, run, head.targetStart, out, w);
    w += out.latin1Write(target, w);
    run = head.targetEnd;
  }
  const lines = head.lines;
  const checkListed = head.connectionTokens.length !== 0 || extra !== undefined;
  for (let slot = 0, last = head.lineCount * 3; slot < last; slot += 3) {
    const kind = lines[slot + 2] as number;
    // Host goes only when a policy replaces it (upstream-vhost), never because Connection lists it.
    if (kind === K_OTHER ? checkListed && listed(buf, head, slot, extra) : kind === K_HOST ? extra !== undefined && extra.replaces.includes('host') : dropped(kind, trusted, upgrade) || (bodyless && (kind === K_CONTENT_LENGTH || kind === K_TRANSFER_ENCODING))) {
      const start = lines[slot] as number;
      if (start > run) w += copy(buf, run, start, out, w);
      run = (lines[slot + 1] as number) + 2;
    }
  }
  // Everything up to the empty line that ends the head.
  if (headEnd - 2 > run) w += copy(buf, run, headEnd - 2, out, w);

  if (!trusted) {
    // The usual case: two copies of per-connection bytes around the Host value.
    w += copy(XFH, 0, XFH.length, out, w);
    if (hostBytes > 0) w += copy(buf, head.hostStart, head.hostEnd, out, w);
    out[w++] = 0x0d;
    out[w++] = 0x0a;
    const block = context.untrustedLines;
    if (head.requestIdStart < 0) {
      w += copy(block, 0, block.length, out, w);
      w = writeCounter(out, w, requestId);
    } else {
      w += copy(block, 0, context.untrustedIdAt, out, w);
    }
  } else {
    w = trustedLines(buf, head, context, ids, requestId, out, w);
  }
  if (extra !== undefined) w += copy(extra.lines, 0, extra.lines.length, out, w);
  if (upgrade) w += copy(CONNECTION_UPGRADE, 0, CONNECTION_UPGRADE.length, out, w);
  out[w++] = 0x0d;
  out[w++] = 0x0a;
  return out.subarray(0, w);
}

/** Writes the 8 hex digits of a request id counter and CRLF. */
function writeCounter(out: Buffer, at: number, requestId: number): number {
  for (let shift = 28; shift >= 0; shift -= 4) out[at++] = HEX[(requestId >>> shift) & 15] as number;
  out[at++] = 0x0d;
  out[at++] = 0x0a;
  return at;
}

/** The forwarding lines for a trusted peer: its X-Forwarded-* kept, X-Forwarded-For appended to, X-Real-IP from it. */
function trustedLines(buf: Buffer, head: RequestHead, context: ForwardContext, ids: RequestIds, requestId: number, out: Buffer, at: number): number {
  let w = at;
  const forwardedFor = head.forwardedFor;
  w += copy(XFF, 0, XFF.length, out, w);
  for (let i = 0; i < forwardedFor.length; i += 2) {
    const start = forwardedFor[i] as number;
    const end = forwardedFor[i + 1] as number;
    if (end === start) continue;
    w += copy(buf, start, end, out, w);
    out[w++] = 0x2c;
    out[w++] = 0x20;
  }
  w += copy(context.peer, 0, context.peer.length, out, w);
  out[w++] = 0x0d;
  out[w++] = 0x0a;
  if (!head.hasForwardedHost) {
    w += copy(XFH, 0, XFH.length, out, w);
    if (head.hostEnd > head.hostStart) w += copy(buf, head.hostStart, head.hostEnd, out, w);
    out[w++] = 0x0d;
    out[w++] = 0x0a;
  }
  if (!head.hasForwardedProto) w += copy(context.protoLine, 0, context.protoLine.length, out, w);
  if (!head.hasForwardedPort) w += copy(context.portLine, 0, context.portLine.length, out, w);
  const values: string[] = [];
  for (let i = 0; i < forwardedFor.length; i += 2) values.push(buf.latin1Slice(forwardedFor[i] as number, forwardedFor[i + 1] as number));
  w += copy(XRI, 0, XRI.length, out, w);
  w += out.latin1Write(context.realIp === undefined ? context.peer.latin1Slice(0, context.peer.length) : context.realIp(values), w);
  out[w++] = 0x0d;
  out[w++] = 0x0a;
  if (head.requestIdStart < 0) {
    w += copy(XRID, 0, XRID.length, out, w);
    w += copy(ids.prefix, 0, ids.prefix.length, out, w);
    w = writeCounter(out, w, requestId);
  }
  return w;
}

/** The request id the endpoint sees: the received one, or the generated `requestId`. */
export function requestIdOf(buf: Buffer, head: RequestHead, ids: RequestIds, requestId: number): string {
  return head.requestIdStart >= 0 ? buf.latin1Slice(head.requestIdStart, head.requestIdEnd) : ids.format(requestId);
}
