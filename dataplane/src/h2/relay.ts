/**
 * The response side of an exchange whose client is an HTTP/2 stream: the endpoint's HTTP/1.1
 * response (parsed by the same ResponseHead and ChunkedDecoder as for HTTP/1.1 clients) becomes
 * one HEADERS frame and DATA frames. Hop-by-hop and connection-specific lines are dropped (RFC
 * 9113 §8.2.2); a chunked body is sent without its framing, its trailer section as HTTP/2
 * trailers (gRPC's grpc-status and grpc-message; fields with no place in trailers dropped); 1xx heads
 * are not relayed; a 101 is a broken response (no upgrade is ever asked for over HTTP/2).
 *
 * Flow control end to end: a write the stream does not take (its HTTP/2 window and buffer are
 * full because the client reads slowly) pauses the endpoint socket until the stream drains, so
 * Portico holds at most a stream buffer of any response.
 */
import type { ServerHttp2Stream } from 'node:http2';
import { CHUNKED_INVALID } from '../http/chunked.ts';
import { addField } from '../http/fields.ts';
import { ADD_HEADER_STATUSES } from '@portico/control/snapshot/policies/external-auth';
import { rewriteRedirect } from '@portico/control/snapshot/policies/proxy-redirect';
import type { ResponseExtra } from '../http/respond.ts';
import type { ResponseHead } from '../http/response-head.ts';
import { R_CONNECTION, R_HOP, R_TRANSFER_ENCODING, R_UPGRADE } from '../http/response-head.ts';
import { CHUNKED, LENGTH, NONE, RELAY_DONE, RELAY_INVALID, RELAY_MORE, Relay } from '../relay.ts';
import type { Upstream } from '../upstream/pool.ts';

/** Response fields that never go into an HTTP/2 response besides the hop-by-hop kinds the parser marks. */
const NOT_RELAYED = new Set(['te', 'trailer', 'http2-settings']);

/** Trailer fields never relayed: connection-specific, framing and routing fields (RFC 9110 §6.5.1, RFC 9113 §8.2.2). */
const NOT_IN_TRAILERS: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host', 'content-length', 'content-type', 'content-encoding', 'authorization', 'set-cookie', 'http2-settings']);

/** The HTTP/2 trailers of a chunked body's trailer section (`ChunkedDecoder.trailerText`). */
export function trailerFields(text: string): Record<string, string | string[]> {
  const trailers: Record<string, string | string[]> = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).toLowerCase();
    if (NOT_IN_TRAILERS.has(name)) continue;
    addField(trailers, name, line.slice(colon + 1).trim());
  }
  return trailers;
}

/** HTTP/2 headers of a parsed HTTP/1.1 response head: status, fields without hop-by-hop ones, the policies' `extra`. */
export function responseHeaders(buf: Buffer, head: ResponseHead, extra: ResponseExtra | undefined): Record<string, string | string[] | number> {
  const headers: Record<string, string | string[] | number> = { ':status': head.status };
  const lines = head.lines;
  const tokens = head.connectionTokens;
  for (let slot = 0, last = head.lineCount * 3; slot < last; slot += 3) {
    const kind = lines[slot + 2] as number;
    if (kind === R_CONNECTION || kind === R_HOP || kind === R_UPGRADE || kind === R_TRANSFER_ENCODING) continue;
    const start = lines[slot] as number;
    const end = lines[slot + 1] as number;
    const colon = buf.indexOf(0x3a, start);
    const name = buf.latin1Slice(start, colon).toLowerCase();
    if (NOT_RELAYED.has(name) || (tokens.length !== 0 && tokens.includes(name)) || (extra !== undefined && extra.replaces.includes(name))) continue;
    let value = buf.latin1Slice(colon + 1, end).trim();
    if (extra?.rewrite !== undefined) value = rewriteRedirect(name, value, extra.rewrite.from, extra.rewrite.to) ?? value;
    addField(headers, name, value);
  }
  if (extra !== undefined) {
    for (const [name, value] of extra.headers) headers[name.toLowerCase()] = value;
    for (const [name, value] of extra.added ?? []) addField(headers, name.toLowerCase(), value);
  }
  // The auth-url server's cookies, beside the endpoint's own (on nginx add_header's statuses unless always).
  if (extra?.cookieValues !== undefined && (extra.cookiesAlways === true || ADD_HEADER_STATUSES.has(head.status))) {
    const own = headers['set-cookie'];
    headers['set-cookie'] = [...(own === undefined ? [] : Array.isArray(own) ? own : [own as string]), ...extra.cookieValues];
  }
  if (!head.hasServer) headers.server = 'portico';
  return headers;
}

/** One response at a time to one HTTP/2 stream. */
export class H2ResponseRelay extends Relay {
  readonly #stream: ServerHttp2Stream;
  readonly #spans: number[] = [];

  /** Relays to `stream`. */
  constructor(maxHeaderSize: number, stream: ServerHttp2Stream) {
    super(maxHeaderSize);
    this.#stream = stream;
    this.decoder.spans = this.#spans;
  }

  /** The response went out with `waitForTrailers` (a chunked body): ending the stream asks for its trailers. */
  get awaitsTrailers(): boolean {
    return this.started && this.mode === CHUNKED;
  }

  /** Not relayed. */
  protected informational(): void {}

  /** A broken response: no upgrade is ever asked for over HTTP/2. */
  protected switched(): number {
    return RELAY_INVALID;
  }

  protected respond(buf: Buffer, headEnd: number, limit: number, upstream: Upstream): number {
    const head = this.head;
    this.begin();
    const stream = this.#stream;
    if (stream.destroyed) return RELAY_MORE;
    const headers = responseHeaders(buf, head, this.extra);
    // A chunked body may end with trailers (gRPC's status): the stream waits for them at its end.
    stream.respond(headers, { endStream: this.mode === NONE, waitForTrailers: this.mode === CHUNKED });
    if (this.mode === NONE) {
      if (headEnd < limit) this.leftover = true;
      return RELAY_DONE;
    }
    return this.body(buf, headEnd, limit, upstream);
  }

  /** Relays body bytes buf[from, length): their data, without chunked framing. */
  protected body(buf: Buffer, from: number, length: number, upstream: Upstream): number {
    const stream = this.#stream;
    let end = length;
    let done = false;
    let ok = true;
    if (this.mode === CHUNKED) {
      end = this.decoder.feed(buf, from, length);
      if (end === CHUNKED_INVALID) return RELAY_INVALID;
      done = this.decoder.done;
      const spans = this.#spans;
      for (let i = 0; i < spans.length; i += 2) if (!stream.destroyed) ok = stream.write(buf.subarray(spans[i] as number, spans[i + 1] as number));
      if (spans.length !== 0) upstream.retained = true;
      spans.length = 0;
    } else {
      if (this.mode === LENGTH) {
        end = this.takeLength(from, length);
        done = this.remaining === 0;
      }
      if (end > from && !stream.destroyed) {
        // The stream keeps a reference to the bytes until they are framed: the read buffer stays with them.
        ok = stream.write(buf.subarray(from, end));
        upstream.retained = true;
      }
    }
    if (end < length) this.leftover = true;
    if (done) {
      if (!stream.destroyed) {
        if (this.mode === CHUNKED) {
          const trailers = trailerFields(this.decoder.trailerText);
          stream.once('wantTrailers', () => {
            try {
              stream.sendTrailers(trailers);
            } catch {
              // A field node:http2 refuses (a name or value it will not send): end without trailers rather than hang.
              stream.sendTrailers({});
            }
          });
        }
        stream.end();
      }
      return RELAY_DONE;
    }
    if (!ok) upstream.socket.pause();
    return RELAY_MORE;
  }
}
