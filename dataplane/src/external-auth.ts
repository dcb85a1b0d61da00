/**
 * The data plane's side of `auth-url`: makes the subrequest a route's external-auth policy asks
 * for (what it carries and what its answer means are decided by the pure functions of
 * @portico/control/snapshot/policies/external-auth). Bounded everywhere: one deadline for the
 * whole subrequest (connect, head), a cap on subrequests in flight per process, at most
 * MAX_AUTH_BODY bytes of the auth server's body read (then the connection is dropped), kept-alive
 * connections pooled per address. It never rejects: no answer is `undefined`, which the policy
 * turns into 500 (fail closed).
 *
 * Where it connects: a Service host's endpoints from the snapshot (one at random), else the URL's
 * host (an address, or a name resolved by DNS); either way through the endpoint address policy,
 * so an auth URL never reaches loopback, link-local or the node's own addresses unless allowed.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import type { Logger } from './logging.ts';
import type { AuthResponse, ExternalAuthRequest } from '@portico/control/snapshot/policies/external-auth';
import { authRequestHeaders, authRequestLine } from '@portico/control/snapshot/policies/external-auth';
import type { EndpointAddressPolicy } from './upstream/address-policy.ts';
import type { RequestHead } from './http/request-head.ts';

/** Auth response body bytes read (and discarded) so the connection can be reused; past this it is closed. */
const MAX_AUTH_BODY = 64 * 1024;

/** Tuning of the auth client. */
export interface ExternalAuthOptions {
  readonly addressPolicy: EndpointAddressPolicy;
  /** The whole subrequest (connect to response head) must finish within this. */
  readonly timeoutMs: number;
  /** Subrequests in flight per process; more answer 500 at once. Default 1024. */
  readonly maxInFlight?: number;
  readonly logger?: Logger | undefined;
}

/** Why a subrequest got no answer (for logs and tests). */
export type AuthFailure = 'timeout' | 'refused-address' | 'no-endpoints' | 'busy' | 'error' | 'aborted';

/** Makes auth subrequests; one per proxy. */
export class ExternalAuthClient {
  readonly #options: ExternalAuthOptions;
  readonly #maxInFlight: number;
  readonly #http: HttpAgent;
  readonly #https: HttpsAgent;
  #inFlight = 0;
  /** Subrequests that got no answer, by why. */
  readonly failures: Record<AuthFailure, number> = { timeout: 0, 'refused-address': 0, 'no-endpoints': 0, busy: 0, error: 0, aborted: 0 };

  constructor(options: ExternalAuthOptions) {
    this.#options = options;
    this.#maxInFlight = options.maxInFlight ?? 1024;
    const agent = { keepAlive: true, maxSockets: 256, maxFreeSockets: 64, timeout: 30_000, scheduling: 'lifo' as const };
    this.#http = new HttpAgent(agent);
    this.#https = new HttpsAgent(agent);
  }

  /** Subrequests in flight now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Asks the auth server about a request whose header fields were `received`. Resolves to its
   * answer, or to undefined when there is none (refused address, no endpoint, error, deadline,
   * too many in flight, or `signal` aborted). Never rejects.
   */
  ask(request: ExternalAuthRequest, received: readonly (readonly [string, string])[], signal?: AbortSignal): Promise<AuthResponse | undefined> {
    const auth = request.auth;
    const fail = (why: AuthFailure, detail?: string): Promise<undefined> => {
      this.failures[why]++;
      this.#options.logger?.warn({ authUrl: auth.url, reason: why, detail }, 'external auth subrequest got no answer; the request answers 500');
      return Promise.resolve(undefined);
    };
    if (this.#inFlight >= this.#maxInFlight) return fail('busy');
    let address = auth.host;
    let port = auth.port;
    if (auth.endpoints !== null) {
      if (auth.endpoints.length === 0) return fail('no-endpoints', auth.service === null ? undefined : `${auth.service.namespace}/${auth.service.name}`);
      const endpoint = auth.endpoints[Math.floor(Math.random() * auth.endpoints.length)]!;
      address = endpoint.address;
      port = endpoint.port;
    }
    const policy = this.#options.addressPolicy;
    const literal = isIP(address) !== 0;
    const refused = literal ? policy.check(`${address}:${port}`, address) : undefined;
    if (refused !== undefined) return fail('refused-address', `${address} is ${refused}`);
    const { method, path } = authRequestLine(request);
    const headers = authRequestHeaders(request, received).flat();
    const tls = auth.scheme === 'https';
    this.#inFlight++;
    return new Promise<AuthResponse | undefined>((resolve) => {
      let settled = false;
      let outgoing: ReturnType<typeof httpRequest> | undefined;
      const finish = (response: AuthResponse | undefined, why?: AuthFailure, detail?: string): void => {
        if (settled) return;
        settled = true;
        this.#inFlight--;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (response === undefined) void fail(why ?? 'error', detail);
        resolve(response);
      };
      const timer = setTimeout(() => {
        finish(undefined, 'timeout', `no answer within ${this.#options.timeoutMs} ms`);
        outgoing?.destroy();
      }, this.#options.timeoutMs);
      const onAbort = (): void => {
        finish(undefined, 'aborted');
        outgoing?.destroy();
      };
      const options = {
        host: address,
        port,
        method,
        path,
        headers,
        setHost: false,
        agent: tls ? this.#https : this.#http,
        ...(literal ? {} : { lookup: policy.lookup }),
        ...(tls && isIP(auth.host) === 0 ? { servername: auth.host } : {}),
      };
      try {
        outgoing = tls ? httpsRequest(options) : httpRequest(options);
      } catch (error) {
        finish(undefined, 'error', (error as Error).message);
        return;
      }
      const request = outgoing;
      signal?.addEventListener('abort', onAbort, { once: true });
      request.on('error', (error: Error & { code?: string }) => finish(undefined, error.code === 'PORTICO_E_ENDPOINT_REFUSED' ? 'refused-address' : 'error', error.message));
      request.on('response', (incoming: IncomingMessage) => {
        finish(authResponse(incoming));
        drain(incoming, this.#options.timeoutMs);
      });
      request.end();
    });
  }

  /** Closes pooled connections. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

function authResponse(incoming: IncomingMessage): AuthResponse {
  const headers = incoming.headers;
  const cookies = headers['set-cookie'] ?? [];
  return {
    status: incoming.statusCode ?? 0,
    cookies,
    header(name: string): string | undefined {
      const value = headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/** Reads and drops the auth server's body so its connection can be reused; a large or slow one is cut. */
function drain(incoming: IncomingMessage, timeoutMs: number): void {
  let bytes = 0;
  const timer = setTimeout(() => incoming.destroy(), timeoutMs);
  incoming.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > MAX_AUTH_BODY) incoming.destroy();
  });
  incoming.on('close', () => clearTimeout(timer));
  incoming.on('error', () => {});
}

/** Every field line of a parsed request head as [name, value], in order (what the subrequest copies). */
export function headerLines(buf: Buffer, head: RequestHead): [string, string][] {
  const lines: [string, string][] = [];
  for (let index = 0; index < head.lineCount; index++) {
    const colon = head.colonOf(buf, index);
    lines.push([buf.latin1Slice(head.lines[index * 3] as number, colon), buf.latin1Slice(colon + 1, head.lines[index * 3 + 1] as number).trim()]);
  }
  return lines;
}
