/**
 * The data plane's side of `auth-url`: makes the subrequest a route's external-auth policy asks
 * for (what it carries and what its answer means are decided by the pure functions of
 * @portico/control/snapshot/policies/external-auth). It goes through Portico's own upstream
 * machinery, as proxied requests do: raw sockets from a keep-alive UpstreamPool of its own
 * (connect, TLS and the endpoint address policy of upstream/connect.ts), the request head written
 * in one piece, and the answer read by the strict ResponseHead parser, never a laxer one.
 *
 * Bounded everywhere: one deadline for the whole subrequest (connect, TLS, head written, response
 * head read), a cap on subrequests in flight per process (each holds at most one connection), a
 * response head of at most MAX_AUTH_HEAD bytes, at most MAX_AUTH_BODY bytes of the auth server's
 * body read after the answer (within the deadline again; then the connection is dropped). A
 * connection is pooled again only when its response ended cleanly where its framing said. It
 * never throws: no answer is `undefined`, which the policy turns into 500 (fail closed).
 *
 * Where it connects: a Service host's endpoints from the snapshot (one at random), else the URL's
 * host (an address, or a name resolved by DNS); either way through the endpoint address policy,
 * so an auth URL never reaches loopback, link-local or the node's own addresses unless allowed.
 */
import { isIP } from 'node:net';
import type { SecureContext } from 'node:tls';
import { createSecureContext } from 'node:tls';
import type { Logger } from './logging.ts';
import type { PreparedAuthCache } from '@portico/control/snapshot/policies/auth-cache';
import { fillCacheKey } from '@portico/control/snapshot/policies/auth-cache';
import type { AuthResponse, ExternalAuthRequest } from '@portico/control/snapshot/policies/external-auth';
import { authAddedHeaders, authRequestLine, fillVariables, forwardsToAuth, hostOnly } from '@portico/control/snapshot/policies/external-auth';
import { AuthAnswerCache, keyOf } from './auth-cache.ts';
import { isIdempotent } from './failure.ts';
import { equalsLower } from './http/chars.ts';
import { CHUNKED_INVALID, ChunkedDecoder } from './http/chunked.ts';
import type { RequestHead } from './http/request-head.ts';
import { ResponseHead } from './http/response-head.ts';
import type { EndpointAddressPolicy } from './upstream/address-policy.ts';
import { ADDRESS_REFUSED, POOL_FULL, UpstreamPool } from './upstream/pool.ts';
import type { TcpUpstream, Upstream, UpstreamOwner } from './upstream/pool.ts';
import type { UpstreamTlsTarget } from './upstream/tls.ts';

/** Auth response body bytes read (and discarded) so the connection can be reused; past this it is closed. */
const MAX_AUTH_BODY = 64 * 1024;
/** Largest auth response head (status line and fields, as Node's default header limit); a longer one is no answer. */
const MAX_AUTH_HEAD = 16 * 1024;
/** Interim (1xx) responses skipped before the final one; more are no answer. */
const MAX_INTERIM = 4;
/** Idle connections kept per auth address, and how long. */
const MAX_IDLE_PER_ADDRESS = 64;
const IDLE_TIMEOUT_MS = 30_000;
/** Certificate chain depth an HTTPS auth server may present (Node's own verification sets none; this only bounds the walk). */
const TLS_VERIFY_DEPTH = 100;
/** TLS targets kept (one per HTTPS auth host); past it they are made again. */
const MAX_TLS_TARGETS = 1024;
/** A field value Portico writes on the subrequest: no control bytes but HTAB (what a field line may carry). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;

/** Tuning of the auth client. */
export interface ExternalAuthOptions {
  readonly addressPolicy: EndpointAddressPolicy;
  /** The whole subrequest (connect to response head) must finish within this; the body drain after it too. */
  readonly timeoutMs: number;
  /** Subrequests in flight per process; more answer 500 at once. Default 1024. */
  readonly maxInFlight?: number;
  /** Auth answers kept (auth-cache-key) per process, and their bytes. Defaults 16,384 and 16 MiB. */
  readonly cacheEntries?: number;
  readonly cacheBytes?: number;
  readonly logger?: Logger | undefined;
}

/** Why a subrequest got no answer (for logs and tests). */
export type AuthFailure = 'timeout' | 'refused-address' | 'no-endpoints' | 'busy' | 'error' | 'invalid' | 'aborted';

/** Who waits for a subrequest's answer. */
export interface AuthWaiter {
  /** The auth server's answer, or undefined when there is none. Never called from inside `ask`, never after `cancel`. */
  onAuthAnswer(answer: AuthResponse | undefined): void;
}

/** Makes auth subrequests; one per proxy. */
export class ExternalAuthClient {
  readonly options: ExternalAuthOptions;
  readonly maxInFlight: number;
  /** Connections to auth servers (for tests and stats: `created` counts those opened). */
  readonly pool: UpstreamPool;
  inFlight = 0;
  /** Subrequests that got no answer, by why. */
  readonly failures: Record<AuthFailure, number> = { timeout: 0, 'refused-address': 0, 'no-endpoints': 0, busy: 0, error: 0, invalid: 0, aborted: 0 };
  /** Calls with a connection (asking or draining), destroyed by close(). */
  readonly calls = new Set<AuthCall>();
  /** Answers of routes with auth-cache-key. */
  readonly cache: AuthAnswerCache;
  readonly #tlsTargets = new Map<string, UpstreamTlsTarget>();
  #secureContext: SecureContext | undefined;

  constructor(options: ExternalAuthOptions) {
    this.options = options;
    this.maxInFlight = options.maxInFlight ?? 1024;
    this.cache = new AuthAnswerCache(options.cacheEntries ?? 16_384, options.cacheBytes ?? 16 * 1024 * 1024);
    // Each subrequest in flight holds one connection at most: the in-flight cap bounds them per address too.
    this.pool = new UpstreamPool({ addressPolicy: options.addressPolicy, idleTimeoutMs: IDLE_TIMEOUT_MS, maxIdlePerEndpoint: MAX_IDLE_PER_ADDRESS, maxPerEndpoint: this.maxInFlight });
  }

  /**
   * Asks the auth server about a request whose head `head` was parsed from `buf`; `waiter` gets
   * the answer, or undefined when there is none (refused address, no endpoint, error, malformed
   * answer, deadline, too many in flight). Returns the call, whose `cancel()` abandons it.
   */
  ask(request: ExternalAuthRequest, buf: Buffer, head: RequestHead, waiter: AuthWaiter): AuthCall {
    const call = new AuthCall(this, request, waiter);
    const cache = request.cache;
    if (cache !== undefined) {
      const filled = fillCacheKey(cache, request.facts, fillVariables, (name) => headerLine(buf, head, name));
      if (filled === undefined) this.cache.uncacheable();
      else {
        const slotId = this.cache.slotId(cache);
        const key = keyOf(slotId, hostOnly(request.facts.host), filled);
        const now = performance.now();
        const kept = this.cache.get(key, now);
        if (kept !== undefined) {
          call.answerLater(kept);
          return call;
        }
        call.keepAs(cache, slotId, key, now);
      }
    }
    if (this.inFlight >= this.maxInFlight) {
      call.failLater('busy');
      return call;
    }
    const auth = request.auth;
    let address = auth.host;
    let port = auth.port;
    if (auth.endpoints !== null) {
      if (auth.endpoints.length === 0) {
        call.failLater('no-endpoints', auth.service === null ? undefined : `${auth.service.namespace}/${auth.service.name}`);
        return call;
      }
      const endpoint = auth.endpoints[Math.floor(Math.random() * auth.endpoints.length)]!;
      address = endpoint.address;
      port = endpoint.port;
    }
    const subrequest = subrequestHead(request, buf, head);
    if (subrequest === undefined) {
      call.failLater('error', 'a field of the subrequest is not a valid field value');
      return call;
    }
    const endpointKey = isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
    const tls = auth.scheme === 'https' ? this.#tlsTarget(auth.host) : undefined;
    this.inFlight++;
    call.start(subrequest, tls === undefined ? endpointKey : endpointKey + tls.poolSuffix, endpointKey, address, port, tls);
    return call;
  }

  /** Closes pooled connections and the ones of calls in flight (they get no answer). */
  close(): void {
    this.pool.close();
    for (const call of [...this.calls]) call.destroy();
  }

  /** Verification against Node's public roots with SNI = the host (none for an address), as https.request does. */
  #tlsTarget(host: string): UpstreamTlsTarget {
    let target = this.#tlsTargets.get(host);
    if (target !== undefined) return target;
    this.#secureContext ??= createSecureContext();
    target = { poolSuffix: `|tls:${host}`, secureContext: this.#secureContext, serverName: isIP(host) === 0 ? host : undefined, verify: true, verifyName: host, verifyDepth: TLS_VERIFY_DEPTH };
    if (this.#tlsTargets.size >= MAX_TLS_TARGETS) this.#tlsTargets.clear();
    this.#tlsTargets.set(host, target);
    return target;
  }
}

/**
 * The subrequest's head as one latin1 string: its request line, the received field lines the
 * policy forwards (as received), then the fields Portico adds; undefined when a value Portico
 * writes is not a valid field value (never sent: no field can be injected).
 */
function subrequestHead(request: ExternalAuthRequest, buf: Buffer, head: RequestHead): string | undefined {
  const { method, path } = authRequestLine(request);
  if (!TARGET.test(path)) return undefined;
  let text = `${method} ${path} HTTP/1.1\r\n`;
  const lines = head.lines;
  for (let index = 0; index < head.lineCount; index++) {
    const start = lines[index * 3] as number;
    const colon = head.colonOf(buf, index);
    if (forwardsToAuth(request.auth, buf.latin1Slice(start, colon).toLowerCase())) text += `${buf.latin1Slice(start, lines[index * 3 + 1] as number)}\r\n`;
  }
  for (const [name, value] of authAddedHeaders(request)) {
    if (!FIELD_VALUE.test(value)) return undefined;
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}

/**
 * The value of request header `lowerName` in `head`: undefined when no field line carries it,
 * null when several do.
 */
function headerLine(buf: Buffer, head: RequestHead, lowerName: string): string | undefined | null {
  let found: string | undefined;
  const lines = head.lines;
  for (let index = 0; index < head.lineCount; index++) {
    const start = lines[index * 3] as number;
    const colon = head.colonOf(buf, index);
    if (colon - start !== lowerName.length || !equalsLower(buf, start, colon, lowerName)) continue;
    if (found !== undefined) return null;
    found = buf.latin1Slice(colon + 1, lines[index * 3 + 1] as number).trim();
  }
  return found;
}

/** The auth server's answer: its status, and its head kept (copied) for the fields the decision reads. */
class AuthAnswer implements AuthResponse {
  readonly status: number;
  readonly cookies: string[] = [];
  readonly #head: Buffer;
  readonly #lines: Int32Array;
  readonly #colons: Int32Array;

  constructor(buf: Buffer, length: number, head: ResponseHead) {
    this.status = head.status;
    this.#head = Buffer.from(buf.subarray(0, length));
    const count = head.lineCount;
    this.#lines = head.lines.slice(0, count * 3);
    this.#colons = new Int32Array(count);
    for (let index = 0; index < count; index++) {
      const start = this.#lines[index * 3] as number;
      const colon = this.#head.indexOf(0x3a, start);
      this.#colons[index] = colon;
      if (colon - start === 10 && equalsLower(this.#head, start, colon, 'set-cookie')) this.cookies.push(this.#value(index));
    }
  }

  header(name: string): string | undefined {
    let joined: string | undefined;
    for (let index = 0; index < this.#colons.length; index++) {
      const start = this.#lines[index * 3] as number;
      if (this.#colons[index]! - start !== name.length || !equalsLower(this.#head, start, this.#colons[index]!, name)) continue;
      const value = this.#value(index);
      joined = joined === undefined ? value : `${joined}, ${value}`;
    }
    return joined;
  }

  #value(index: number): string {
    return this.#head.latin1Slice(this.#colons[index]! + 1, this.#lines[index * 3 + 1] as number).trim();
  }
}

/** The fields of an answer the verdict reads (lower case): auth-response-headers and WWW-Authenticate. */
function cachedFields(request: ExternalAuthRequest): string[] {
  return [...request.auth.responseHeaders.map((name) => name.toLowerCase()), 'www-authenticate'];
}

/** What the auth server's body is framed by, once its answer is in. */
const BODY_NONE = 0;
const BODY_LENGTH = 1;
const BODY_CHUNKED = 2;

/**
 * One subrequest: asks on a pooled connection (one fresh retry when a reused one turns out to be
 * closed before any byte of an answer, for idempotent methods), answers the waiter at the
 * response head, then reads the body off the connection so it can go back to the pool.
 */
export class AuthCall implements UpstreamOwner {
  readonly #client: ExternalAuthClient;
  readonly #request: ExternalAuthRequest;
  #waiter: AuthWaiter | undefined;
  #answered = false;
  #upstream: TcpUpstream | undefined;
  #timer: NodeJS.Timeout | undefined;
  #head: ResponseHead | undefined;
  /** A response head that did not arrive in one read, copied. */
  #partial: Buffer | undefined;
  #gotBytes = false;
  #retried = false;
  #interim = 0;
  #text = '';
  #key = '';
  #endpointKey = '';
  #address = '';
  #port = 0;
  #tls: UpstreamTlsTarget | undefined;
  #body = BODY_NONE;
  #remaining = 0;
  #chunks: ChunkedDecoder | undefined;
  #bodyBytes = 0;
  /** Where its answer is kept (auth-cache-key), when it may be. */
  #cache: PreparedAuthCache | undefined;
  #slotId = 0;
  #cacheKey = '';
  #sentAt = 0;

  constructor(client: ExternalAuthClient, request: ExternalAuthRequest, waiter: AuthWaiter) {
    this.#client = client;
    this.#request = request;
    this.#waiter = waiter;
  }

  /** Its answer goes into the cache under `key` of slot `slotId` when the route's rules allow; `sentAt` (performance.now()) starts its time. */
  keepAs(cache: PreparedAuthCache, slotId: number, key: string, sentAt: number): void {
    this.#cache = cache;
    this.#slotId = slotId;
    this.#cacheKey = key;
    this.#sentAt = sentAt;
  }

  /** A kept answer: nothing sent, the waiter told on the next tick (never inside ask). */
  answerLater(answer: AuthResponse): void {
    this.#answered = true;
    process.nextTick(() => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.onAuthAnswer(answer);
    });
  }

  /** No answer, nothing sent: counted and logged now, the waiter told on the next tick. */
  failLater(why: AuthFailure, detail?: string): void {
    this.#answered = true;
    this.#fail(why, detail);
  }

  /** Sends `text` to the endpoint on a pooled or new connection; the deadline starts now. */
  start(text: string, key: string, endpointKey: string, address: string, port: number, tls: UpstreamTlsTarget | undefined): void {
    this.#text = text;
    this.#key = key;
    this.#endpointKey = endpointKey;
    this.#address = address;
    this.#port = port;
    this.#tls = tls;
    this.#timer = setTimeout(() => this.#pastDeadline(), this.#client.options.timeoutMs);
    this.#client.calls.add(this);
    this.#connect(false);
  }

  /** The waiter is gone: it is not called, and a subrequest still unanswered is cut (the auth server sees its connection close). */
  cancel(): void {
    this.#waiter = undefined;
    if (this.#answered) return;
    this.#answered = true;
    this.#client.inFlight--;
    this.#client.failures.aborted++;
    this.destroy();
  }

  /** Closes the connection at once (never retried); unanswered, the waiter gets no answer. */
  destroy(): void {
    this.#retried = true;
    if (this.#upstream !== undefined) this.#upstream.destroy();
    else this.#end();
  }

  #connect(fresh: boolean): void {
    const got = this.#client.pool.acquire(this.#key, this.#endpointKey, this.#address, this.#port, this, fresh, this.#tls);
    if (got === ADDRESS_REFUSED) return this.#noAnswer('refused-address', `${this.#address} is refused by the endpoint address policy`);
    if (got === POOL_FULL) return this.#noAnswer('busy', `${this.#endpointKey} has ${this.#client.maxInFlight} connections open`);
    this.#upstream = got;
    if (got.connected) this.#send(got);
  }

  #send(upstream: TcpUpstream): void {
    upstream.socket.write(this.#text, 'latin1');
  }

  onUpstreamConnect(upstream: Upstream): void {
    if (upstream === this.#upstream) this.#send(upstream as TcpUpstream);
  }

  onUpstreamData(upstream: Upstream, buffer: Buffer, length: number): void {
    if (upstream !== this.#upstream) return;
    this.#gotBytes = true;
    if (this.#answered) return this.#drain(buffer, 0, length);
    let buf = buffer;
    let limit = length;
    if (this.#partial !== undefined) {
      buf = this.#partial = Buffer.concat([this.#partial, buffer.subarray(0, length)]);
      limit = buf.length;
    }
    this.#onHead(buf, limit, buf !== buffer);
  }

  /** Parses the response head in buf[0, limit); `owned` when buf is not the socket's read memory. */
  #onHead(buf: Buffer, limit: number, owned: boolean): void {
    const upstream = this.#upstream as TcpUpstream;
    const head = (this.#head ??= new ResponseHead(MAX_AUTH_HEAD));
    const end = head.parse(buf, limit);
    if (end < 0) return this.#noAnswer('invalid', limit > MAX_AUTH_HEAD ? `response head longer than ${MAX_AUTH_HEAD} bytes` : 'malformed response head');
    if (end === 0) {
      // Kept until the rest arrives (the socket's read memory is reused).
      this.#partial = owned ? buf.subarray(0, limit) : Buffer.from(buf.subarray(0, limit));
      return;
    }
    this.#partial = undefined;
    if (head.status < 200) {
      // 100/102/103: an interim response, the answer follows (101: the server switched protocols, no answer).
      if (head.status === 101 || ++this.#interim > MAX_INTERIM) return this.#noAnswer('invalid', `status ${head.status}`);
      head.reset();
      if (end < limit) this.#onHead(Buffer.from(buf.subarray(end, limit)), limit - end, true);
      return;
    }
    const answer = new AuthAnswer(buf, end, head);
    if (this.#cache !== undefined) this.#client.cache.put(this.#cache, this.#slotId, this.#cacheKey, answer, cachedFields(this.#request), this.#sentAt);
    let reusable = !head.connectionClose && (head.minor === 1 || head.connectionKeepAlive);
    if (this.#request.auth.method === 'HEAD' || head.status === 204 || head.status === 304) this.#body = BODY_NONE;
    else if (head.transferEncoding) {
      // Not chunked: the body runs to the close, the connection cannot be reused.
      reusable &&= head.chunked;
      this.#body = BODY_CHUNKED;
      this.#chunks = new ChunkedDecoder(MAX_AUTH_HEAD);
    } else if (head.contentLength >= 0) {
      reusable &&= head.contentLength <= MAX_AUTH_BODY;
      this.#body = BODY_LENGTH;
      this.#remaining = head.contentLength;
    } else reusable = false;
    this.#answer(answer);
    if (upstream !== this.#upstream) return;
    if (!reusable) return upstream.destroy();
    // The body is read within the deadline again, or the connection dropped.
    this.#timer?.refresh();
    this.#drain(buf, end, limit);
  }

  /** Reads body bytes buf[start, end) past; releases the connection where the body ends exactly. */
  #drain(buf: Buffer, start: number, end: number): void {
    const upstream = this.#upstream as TcpUpstream;
    if (this.#body === BODY_CHUNKED) {
      const chunks = this.#chunks as ChunkedDecoder;
      const at = chunks.feed(buf, start, end);
      this.#bodyBytes += end - start;
      if (at === CHUNKED_INVALID || at < end || this.#bodyBytes > MAX_AUTH_BODY) return upstream.destroy();
      if (chunks.done) this.#release(upstream);
      return;
    }
    const take = end - start;
    // Bytes past the body's end: the framing is off, never reuse the connection.
    if (take > this.#remaining) return upstream.destroy();
    this.#remaining -= take;
    if (this.#remaining === 0) this.#release(upstream);
  }

  #release(upstream: TcpUpstream): void {
    this.#upstream = undefined;
    this.#end();
    upstream.release();
  }

  onUpstreamEnd(upstream: Upstream): void {
    // EOF before the answer or inside the body: whatever comes of it, the close decides.
    upstream.destroy();
  }

  onUpstreamClose(upstream: Upstream, error: Error | undefined): void {
    if (upstream !== this.#upstream) return;
    this.#upstream = undefined;
    if (this.#answered) return this.#end();
    // A reused connection the auth server had closed (its keep-alive timeout racing this request): once more on a new one.
    if (upstream.uses > 0 && !this.#gotBytes && !this.#retried && isIdempotent(this.#request.auth.method ?? 'GET')) {
      this.#retried = true;
      return this.#connect(true);
    }
    const code = (error as (Error & { code?: string }) | undefined)?.code;
    this.#noAnswer(code === 'PORTICO_E_ENDPOINT_REFUSED' ? 'refused-address' : 'error', error?.message ?? (this.#gotBytes ? 'connection closed inside the response head' : 'connection closed before any answer'));
  }

  onUpstreamDrain(): void {}

  #pastDeadline(): void {
    this.#timer = undefined;
    if (!this.#answered) this.#noAnswer('timeout', `no answer within ${this.#client.options.timeoutMs} ms`);
    else this.destroy();
  }

  /** No answer: the waiter is told, the connection (if any) closed. */
  #noAnswer(why: AuthFailure, detail: string): void {
    this.#answered = true;
    this.#client.inFlight--;
    const upstream = this.#upstream;
    this.#upstream = undefined;
    upstream?.destroy();
    this.#end();
    this.#fail(why, detail);
  }

  /** Counts and logs a subrequest without answer, and tells the waiter on the next tick (never from inside ask, whatever failed). */
  #fail(why: AuthFailure, detail: string | undefined): void {
    const client = this.#client;
    client.failures[why]++;
    client.options.logger?.warn({ authUrl: this.#request.auth.url, reason: why, detail }, 'external auth subrequest got no answer; the request answers 500');
    process.nextTick(() => {
      const waiter = this.#waiter;
      this.#waiter = undefined;
      waiter?.onAuthAnswer(undefined);
    });
  }

  #answer(answer: AuthResponse): void {
    this.#answered = true;
    this.#client.inFlight--;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.onAuthAnswer(answer);
  }

  /** The call holds nothing any more. */
  #end(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#client.calls.delete(this);
  }
}
