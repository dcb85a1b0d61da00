/**
 * auth-url against hostile and broken auth servers, through the real proxy (manifests -> compile
 * -> router -> proxy -> echo backend), with the auth server a raw loopback TCP (or TLS) server
 * scripted per request by the request's Authorization header: silent, slow-loris, a malformed
 * status line, garbage, a connection closed inside the head, 1 MB of header fields, both framings,
 * 3xx/5xx, a reset of a kept-alive connection, bytes past the body. Each must deny (500) within
 * the auth deadline and never reach the endpoint, and a broken connection must never carry the
 * next subrequest. Also what must keep working: answers split over reads, interim 100s, chunked
 * and oversized bodies, keep-alive reuse, HTTPS auth servers (verified against the default roots).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, getCACertificates, setDefaultCACertificates } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Echo } from './annotation-support.ts';
import { AnnotatedProxy } from './annotation-support.ts';
import { LOOPBACK } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';
const AUTH_TIMEOUT_MS = 1500;
/** Generous bound for "answered within the auth deadline" on a loaded 2-core machine. */
const WITHIN_MS = 6000;

/** One subrequest as the raw auth server read it. */
interface Received {
  readonly head: string;
  readonly authorization: string;
  /** The connection's number (from 1) and the request's number on it (from 1). */
  readonly connection: number;
  readonly nth: number;
}

/** A raw HTTP/1.1 auth server whose answer to each request is scripted by its Authorization header. */
class RawAuthServer {
  readonly received: Received[] = [];
  readonly sockets = new Set<Socket>();
  /** Connections accepted, and how many of them the peer closed or reset. */
  connections = 0;
  closedByPeer = 0;
  server!: Server;
  port = 0;

  async start(tls?: { cert: string; key: string }): Promise<this> {
    const onConnection = (socket: Socket): void => this.#serve(socket);
    this.server = tls === undefined ? createServer(onConnection) : createTlsServer({ ...tls }, onConnection);
    await new Promise<void>((resolve) => this.server.listen(0, LOOPBACK, resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  #serve(socket: Socket): void {
    const connection = ++this.connections;
    let nth = 0;
    let pending = '';
    let closedByUs = false;
    const timers: NodeJS.Timeout[] = [];
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      this.sockets.delete(socket);
      for (const timer of timers) clearInterval(timer);
      if (!closedByUs) this.closedByPeer++;
    });
    const reset = (): void => {
      closedByUs = true;
      socket.resetAndDestroy();
    };
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
        const head = pending.slice(0, end + 4);
        pending = pending.slice(end + 4);
        const authorization = /\r\nauthorization: *([^\r]*)/i.exec(head)?.[1] ?? '';
        nth++;
        this.received.push({ head, authorization, connection, nth });
        const write = (text: string): boolean => socket.write(text, 'latin1');
        switch (authorization) {
          case 'Bearer good':
            write('HTTP/1.1 200 OK\r\nX-User: alice\r\nContent-Length: 0\r\n\r\n');
            break;
          case 'Bearer silent':
            break;
          case 'Bearer slowloris': {
            write('HTTP/1.1 200 OK\r\nX-Slow: ');
            timers.push(setInterval(() => write('a'), 50));
            break;
          }
          case 'Bearer bad-status':
            write('HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n');
            break;
          case 'Bearer garbage':
            write('SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02\r\n\r\n');
            break;
          case 'Bearer mid-headers':
            write('HTTP/1.1 200 OK\r\nX-User: al');
            closedByUs = true;
            socket.end();
            break;
          case 'Bearer huge': {
            const line = `X-Pad: ${'a'.repeat(1000)}\r\n`;
            write(`HTTP/1.1 200 OK\r\n${line.repeat(1024)}\r\n`);
            break;
          }
          case 'Bearer both-framings':
            write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
            break;
          case 'Bearer redirect':
            write('HTTP/1.1 302 Found\r\nLocation: http://elsewhere.test/\r\nContent-Length: 0\r\n\r\n');
            break;
          case 'Bearer unavailable':
            write('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown');
            break;
          case 'Bearer switching':
            write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
            break;
          case 'Bearer split':
            write('HTTP/1.1 200 OK\r\nX-Us');
            timers.push(setTimeout(() => write('er: split\r\nContent-Le'), 20));
            timers.push(setTimeout(() => write('ngth: 0\r\n\r\n'), 40));
            break;
          case 'Bearer interim':
            write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nX-User: after-interim\r\nContent-Length: 0\r\n\r\n');
            break;
          case 'Bearer chunked':
            write('HTTP/1.1 200 OK\r\nX-User: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
            break;
          case 'Bearer big-body':
            write(`HTTP/1.1 200 OK\r\nX-User: big\r\nContent-Length: 200000\r\n\r\n${'b'.repeat(200_000)}`);
            break;
          case 'Bearer extra':
            write('HTTP/1.1 200 OK\r\nX-User: extra\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n');
            break;
          case 'Bearer close':
            write('HTTP/1.1 200 OK\r\nX-User: closing\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
            break;
          case 'Bearer drop-reused':
            // A kept-alive connection the server drops as the next request arrives (its keep-alive timeout racing it).
            if (nth > 1) return reset();
            write('HTTP/1.1 200 OK\r\nX-User: fresh\r\nContent-Length: 0\r\n\r\n');
            break;
          default:
            write('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="raw"\r\nContent-Length: 0\r\n\r\n');
        }
      }
    });
  }

  /** Resets every open connection (RST). */
  resetAll(): void {
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Waits (bounded) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('auth-url against hostile auth servers: fail closed, bounded, no broken connection reused', () => {
  let auth: RawAuthServer;
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    auth = await new RawAuthServer().start();
    const url = `http://127.0.0.1:${auth.port}/auth`;
    proxy = await AnnotatedProxy.start(
      [
        { name: 'raw', hosts: ['raw.test'], annotations: { [`${A}auth-url`]: url, [`${A}auth-response-headers`]: 'X-User' } },
        { name: 'raw-post', hosts: ['post.test'], annotations: { [`${A}auth-url`]: url, [`${A}auth-method`]: 'POST' } },
      ],
      ['echo'],
      { authTimeoutMs: AUTH_TIMEOUT_MS },
    );
  });

  afterAll(async () => {
    await proxy.close();
    await auth.close();
  });

  const ask = (token: string, host = 'raw.test') => proxy.fetch(host, '/p', { headers: { authorization: `Bearer ${token}` } });

  it('an auth server that never answers, or dribbles its head (slow-loris): 500 at the auth deadline, its connection closed', async () => {
    for (const token of ['silent', 'slowloris']) {
      const before = proxy.backendRequests;
      const closed = auth.closedByPeer;
      const started = performance.now();
      const response = await ask(token);
      const elapsed = performance.now() - started;
      expect(response.status, token).toBe(500);
      expect(elapsed, token).toBeGreaterThanOrEqual(AUTH_TIMEOUT_MS - 50);
      expect(elapsed, token).toBeLessThan(WITHIN_MS);
      expect(proxy.backendRequests, token).toBe(before);
      // The proxy hung up on it: no connection is left waiting (or pooled).
      await until(() => auth.closedByPeer === closed + 1, `${token}: the proxy closing the auth connection`);
    }
  });

  it('a malformed status line, garbage, a close inside the head, both framings, a 101: 500 at once, the endpoint never reached', async () => {
    const before = proxy.backendRequests;
    for (const token of ['bad-status', 'garbage', 'mid-headers', 'both-framings', 'switching']) {
      const started = performance.now();
      expect((await ask(token)).status, token).toBe(500);
      // Decided on what came back, not by the deadline.
      expect(performance.now() - started, token).toBeLessThan(AUTH_TIMEOUT_MS);
    }
    expect(proxy.backendRequests).toBe(before);
  });

  it('1 MB of header fields: 500 without reading it all, the connection cut', async () => {
    const before = proxy.backendRequests;
    const closed = auth.closedByPeer;
    expect((await ask('huge')).status).toBe(500);
    expect(proxy.backendRequests).toBe(before);
    await until(() => auth.closedByPeer === closed + 1, 'the proxy cutting the huge answer');
  });

  it('3xx and 5xx from the auth server are 500 (never followed, never let through)', async () => {
    const before = proxy.backendRequests;
    const redirect = await ask('redirect');
    expect(redirect.status).toBe(500);
    expect(redirect.headers.location).toBeUndefined();
    expect((await ask('unavailable')).status).toBe(500);
    expect(proxy.backendRequests).toBe(before);
  });

  it('a kept-alive connection the auth server resets: the next subrequest goes on a new connection and is decided on its answer', async () => {
    expect((await ask('good')).status).toBe(200);
    const connections = auth.connections;
    auth.resetAll();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const denied = await ask('nobody');
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Bearer realm="raw"');
    expect(auth.connections).toBe(connections + 1);
    const allowed = await ask('good');
    expect(allowed.status).toBe(200);
    expect((JSON.parse(allowed.body) as Echo).headers['x-user']).toBe('alice');
    // Kept alive again: the last two went on the one new connection.
    expect(auth.connections).toBe(connections + 1);
  });

  it('a kept-alive connection dropped as the subrequest arrives: GET asks once more on a new connection; POST (auth-method) is not repeated, 500', async () => {
    expect((await ask('good')).status).toBe(200);
    const connections = auth.connections;
    const allowed = await ask('drop-reused');
    expect(allowed.status).toBe(200);
    expect((JSON.parse(allowed.body) as Echo).headers['x-user']).toBe('fresh');
    const asked = auth.received.filter((r) => r.authorization === 'Bearer drop-reused');
    // Asked on the kept-alive connection (not its first request), dropped, asked again as a new connection's first.
    expect(asked).toHaveLength(2);
    expect(asked[0]!.nth).toBeGreaterThan(1);
    expect(asked[1]!.nth).toBe(1);
    expect(auth.connections).toBe(connections + 1);
    const before = proxy.backendRequests;
    expect((await ask('good', 'post.test')).status).toBe(200);
    expect((await ask('drop-reused', 'post.test')).status).toBe(500);
    expect(proxy.backendRequests).toBe(before + 1);
  });

  it('bytes past the response body, Connection: close, a body over 64 KiB: answered, and that connection never asked again', async () => {
    for (const [token, user] of [
      ['extra', 'extra'],
      ['close', 'closing'],
      ['big-body', 'big'],
    ] as const) {
      const response = await ask(token);
      expect(response.status, token).toBe(200);
      expect((JSON.parse(response.body) as Echo).headers['x-user'], token).toBe(user);
      const used = auth.received[auth.received.length - 1]!.connection;
      expect((await ask('good')).status, token).toBe(200);
      expect(auth.received[auth.received.length - 1]!.connection, token).not.toBe(used);
    }
  });

  it('what stays valid: a head split over reads, interim 1xx answers, a chunked body (its connection kept)', async () => {
    const split = await ask('split');
    expect(split.status).toBe(200);
    expect((JSON.parse(split.body) as Echo).headers['x-user']).toBe('split');
    const interim = await ask('interim');
    expect(interim.status).toBe(200);
    expect((JSON.parse(interim.body) as Echo).headers['x-user']).toBe('after-interim');
    expect((await ask('chunked')).status).toBe(200);
    const used = auth.received[auth.received.length - 1]!.connection;
    expect((await ask('good')).status).toBe(200);
    expect(auth.received[auth.received.length - 1]!.connection).toBe(used);
  });

  it('the subrequest head: request line, the client fields but hop-by-hop ones, then the fields Portico sets', () => {
    const head = auth.received.find((r) => r.authorization === 'Bearer good')!.head;
    expect(head.startsWith('GET /auth HTTP/1.1\r\n')).toBe(true);
    expect(head).toContain('\r\nHost: 127.0.0.1:');
    expect(head).toContain('\r\nX-Original-URL: http://raw.test/p\r\n');
    expect(head).not.toMatch(/\r\nconnection:/i);
  });

  it('many subrequests at once on a few kept-alive connections, all decided', async () => {
    const connections = auth.connections;
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => ask(i % 2 === 0 ? 'good' : 'nobody')));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 200 : 401)));
    // Bounded by what was in flight at once, never one per request once warm.
    expect(auth.connections - connections).toBeLessThanOrEqual(40);
    const again = auth.connections;
    for (let i = 0; i < 5; i++) expect((await ask('good')).status).toBe(200);
    expect(auth.connections).toBe(again);
  });
});

describe('auth-url to an HTTPS auth server', () => {
  let dir: string;
  let defaultRoots: string[];
  let trusted: { ca: string; cert: string; key: string };
  let untrusted: { ca: string; cert: string; key: string };
  let otherName: { ca: string; cert: string; key: string };

  /** A CA and a server certificate it signed for `names` (DNS: or IP: entries). */
  function makePki(prefix: string, names: string): { ca: string; cert: string; key: string } {
    const file = (name: string) => join(dir, `${prefix}-${name}`);
    const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${prefix}-ca`, '-keyout', file('ca.key'), '-out', file('ca.crt')]);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${prefix}`, '-keyout', file('tls.key'), '-out', file('tls.csr')]);
    writeFileSync(file('ext.cnf'), `subjectAltName=${names}\nextendedKeyUsage=serverAuth\n`);
    openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file('ext.cnf'), '-out', file('tls.crt')]);
    return { ca: readFileSync(file('ca.crt'), 'utf8'), cert: readFileSync(file('tls.crt'), 'utf8'), key: readFileSync(file('tls.key'), 'utf8') };
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'portico-auth-tls-'));
    trusted = makePki('auth', 'IP:127.0.0.1,DNS:localhost');
    untrusted = makePki('rogue', 'IP:127.0.0.1,DNS:localhost');
    otherName = makePki('named', 'DNS:other.test');
    // The auth client verifies against Node's default roots (as https.request does): this process trusts the test CAs but the rogue one.
    defaultRoots = getCACertificates('default');
    setDefaultCACertificates([...defaultRoots, trusted.ca, otherName.ca]);
  });

  afterAll(() => {
    setDefaultCACertificates(defaultRoots);
    rmSync(dir, { recursive: true, force: true });
  });

  it('verified by the default roots and the URL host (address or name): allowed with its headers, one TLS connection kept for the next', async () => {
    const auth = await new RawAuthServer().start({ cert: trusted.cert, key: trusted.key });
    const proxy = await AnnotatedProxy.start(
      [
        { name: 'tls-ip', hosts: ['ip.test'], annotations: { [`${A}auth-url`]: `https://127.0.0.1:${auth.port}/auth`, [`${A}auth-response-headers`]: 'X-User' } },
        { name: 'tls-name', hosts: ['name.test'], annotations: { [`${A}auth-url`]: `https://localhost:${auth.port}/auth` } },
      ],
      ['echo'],
      { authTimeoutMs: 2000 },
    );
    try {
      const allowed = await proxy.fetch('ip.test', '/', { headers: { authorization: 'Bearer good' } });
      expect(allowed.status).toBe(200);
      expect((JSON.parse(allowed.body) as Echo).headers['x-user']).toBe('alice');
      expect((await proxy.fetch('ip.test', '/', { headers: { authorization: 'Bearer nobody' } })).status).toBe(401);
      expect((await proxy.fetch('ip.test', '/', { headers: { authorization: 'Bearer good' } })).status).toBe(200);
      expect(auth.connections).toBe(1);
      expect((await proxy.fetch('name.test', '/', { headers: { authorization: 'Bearer good' } })).status).toBe(200);
      expect(auth.received[auth.received.length - 1]!.head).toContain(`\r\nHost: localhost:${auth.port}\r\n`);
    } finally {
      await proxy.close();
      await auth.close();
    }
  });

  it('a certificate no root vouches for, or one for another name: 500, the request never sent to it', async () => {
    for (const pki of [untrusted, otherName]) {
      const auth = await new RawAuthServer().start({ cert: pki.cert, key: pki.key });
      const proxy = await AnnotatedProxy.start([{ name: 'tls', hosts: ['tls.test'], annotations: { [`${A}auth-url`]: `https://127.0.0.1:${auth.port}/auth` } }], ['echo'], { authTimeoutMs: 2000 });
      try {
        expect((await proxy.fetch('tls.test', '/', { headers: { authorization: 'Bearer good' } })).status).toBe(500);
        expect(auth.received).toHaveLength(0);
        expect(proxy.backendRequests).toBe(0);
      } finally {
        await proxy.close();
        await auth.close();
      }
    }
  });
});
