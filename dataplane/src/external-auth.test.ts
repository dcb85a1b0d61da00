/**
 * ExternalAuthClient's bounds on real loopback sockets, below the proxy: the in-flight cap (more
 * are no answer at once, nothing connected), cancel (the connection closed, the waiter never
 * called), close (calls in flight get no answer), the endpoint address policy for an address and
 * for a name resolved by DNS, and every failure answered on a later tick, never inside ask().
 */
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuthResponse, ExternalAuthData, ExternalAuthRequest } from '@portico/control/snapshot/policies/external-auth';
import { ExternalAuthClient } from './external-auth.ts';
import type { AuthWaiter } from './external-auth.ts';
import { RequestHead } from './http/request-head.ts';
import { EndpointAddressPolicy } from './upstream/address-policy.ts';

/** A loopback server that accepts connections and never answers; counts connections and closes by the peer. */
async function silentServer(): Promise<{ server: Server; port: number; open: Set<Socket>; accepted: () => number }> {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    open.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => open.delete(socket));
    // Read (and drop) the subrequest, so the peer's close is seen.
    socket.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, open, accepted: () => accepted };
}

function authRequest(host: string, port: number): ExternalAuthRequest {
  const auth: ExternalAuthData = {
    url: `http://${host}:${port}/auth`,
    scheme: 'http',
    host,
    port,
    hostHeader: `${host}:${port}`,
    path: '/auth',
    method: null,
    signin: null,
    responseHeaders: [],
    requestRedirect: null,
    alwaysSetCookie: false,
    service: null,
    endpointSet: null,
    endpoints: null,
  };
  return { auth, facts: { scheme: 'http', host: 'app.test', path: '/', target: '/', method: 'GET', client: '127.0.0.1', header: () => undefined } };
}

const request = Buffer.from('GET / HTTP/1.1\r\nHost: app.test\r\nAuthorization: Bearer x\r\n\r\n', 'latin1');
const head = new RequestHead({ maxHeaderSize: 4096, maxTargetLength: 1024 });
head.parse(request);

/** A waiter that records its answers (and whether one came while ask() was still running). */
function waiter(): AuthWaiter & { answers: (AuthResponse | undefined)[]; asking: boolean; insideAsk: boolean } {
  const w = {
    answers: [] as (AuthResponse | undefined)[],
    asking: false,
    insideAsk: false,
    onAuthAnswer(answer: AuthResponse | undefined) {
      if (w.asking) w.insideAsk = true;
      w.answers.push(answer);
    },
  };
  return w;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('ExternalAuthClient bounds', () => {
  const cleanup: (() => void)[] = [];
  afterEach(() => {
    for (const step of cleanup.splice(0)) step();
  });

  it('past maxInFlight a subrequest has no answer at once (busy), without a connection; the others end at the deadline', async () => {
    const silent = await silentServer();
    const client = new ExternalAuthClient({ addressPolicy: new EndpointAddressPolicy({ allowLoopback: true }), timeoutMs: 300, maxInFlight: 2 });
    cleanup.push(() => client.close(), () => silent.server.close());
    const waiters = [waiter(), waiter(), waiter()];
    for (const w of waiters) {
      w.asking = true;
      client.ask(authRequest('127.0.0.1', silent.port), request, head, w);
      w.asking = false;
    }
    expect(client.inFlight).toBe(2);
    await until(() => waiters[2]!.answers.length === 1, 'the busy answer');
    expect(waiters[2]!.answers).toEqual([undefined]);
    expect(client.failures.busy).toBe(1);
    expect(waiters[0]!.answers).toEqual([]);
    await until(() => silent.accepted() === 2, 'two connections');
    await until(() => waiters[0]!.answers.length === 1 && waiters[1]!.answers.length === 1, 'the deadline');
    expect(client.failures.timeout).toBe(2);
    expect(client.inFlight).toBe(0);
    expect(silent.accepted()).toBe(2);
    // Timed-out connections are closed, not pooled.
    await until(() => silent.open.size === 0, 'the connections closed');
    expect(client.pool.idleCount).toBe(0);
    expect(waiters.some((w) => w.insideAsk)).toBe(false);
  });

  it('cancel: the connection is closed at once and the waiter never called; close: calls in flight get no answer', async () => {
    const silent = await silentServer();
    const client = new ExternalAuthClient({ addressPolicy: new EndpointAddressPolicy({ allowLoopback: true }), timeoutMs: 10_000 });
    cleanup.push(() => silent.server.close());
    const cancelled = waiter();
    const call = client.ask(authRequest('127.0.0.1', silent.port), request, head, cancelled);
    await until(() => silent.open.size === 1, 'the connection');
    call.cancel();
    await until(() => silent.open.size === 0, 'the cancelled connection closed');
    expect(client.inFlight).toBe(0);
    expect(client.failures.aborted).toBe(1);
    const open = waiter();
    client.ask(authRequest('127.0.0.1', silent.port), request, head, open);
    await until(() => silent.open.size === 1, 'the second connection');
    client.close();
    await until(() => open.answers.length === 1, 'no answer after close');
    expect(open.answers).toEqual([undefined]);
    expect(cancelled.answers).toEqual([]);
    await until(() => silent.open.size === 0, 'the connections closed');
  });

  it('the endpoint address policy: a loopback address or a name resolving to loopback is refused without a connection', async () => {
    const silent = await silentServer();
    const client = new ExternalAuthClient({ addressPolicy: new EndpointAddressPolicy({ allowLoopback: false }), timeoutMs: 2000 });
    cleanup.push(() => client.close(), () => silent.server.close());
    for (const host of ['127.0.0.1', 'localhost']) {
      const w = waiter();
      w.asking = true;
      client.ask(authRequest(host, silent.port), request, head, w);
      w.asking = false;
      await until(() => w.answers.length === 1, `${host}: the refusal`);
      expect(w.answers, host).toEqual([undefined]);
      expect(w.insideAsk, host).toBe(false);
    }
    expect(client.failures['refused-address']).toBe(2);
    expect(silent.accepted()).toBe(0);
  });
});
