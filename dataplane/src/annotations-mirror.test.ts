/**
 * mirror-target, mirror-request-body and mirror-host through the real proxy (manifests -> compile
 * -> router -> proxy -> echo backends on loopback, mirror servers on loopback), as ingress-nginx
 * does them (internal/ingress/annotations/mirror, buildMirrorLocations in its template, nginx's
 * mirror module; test/e2e/annotations/mirror.go): the copy's method, request-target ($request_uri,
 * or the target's path plus the query), header fields, Host and body (or none), the client's answer
 * unchanged and never waiting for the mirror; hostile mirrors (silent, refusing, resetting, a
 * self-signed HTTPS one), addresses the endpoint address policy refuses, bodies past the bound,
 * more requests than copies in flight, and bad values served without mirroring.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Echo } from './annotation-support.ts';
import { AnnotatedProxy } from './annotation-support.ts';
import { MAX_MIRRORS_IN_FLIGHT, MAX_MIRROR_BODY, MIRROR_OUTCOMES, mirrorStats } from './mirror.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, closedPort, startBackend } from './test-support.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** What a mirror server received. */
interface Copy {
  readonly mirror: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
}

const outcome = (name: (typeof MIRROR_OUTCOMES)[number]): number => mirrorStats.outcomes[MIRROR_OUTCOMES.indexOf(name)] as number;

/** Copies a mirror has answered so far, by mirror name. */
const answeredBy = new Map<string, number>();

/** A recording mirror server that answers `delayMs` after a copy arrived whole. */
async function recordingMirror(name: string, copies: Copy[], delayMs = 0): Promise<Backend> {
  return startBackend((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      copies.push({ mirror: name, method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
      setTimeout(() => {
        answeredBy.set(name, (answeredBy.get(name) ?? 0) + 1);
        response.end('mirror answer');
      }, delayMs);
    });
  });
}

/** A CA and a certificate it signed for 127.0.0.1 (PEM), made with openssl in `dir`. */
function makeCertificates(dir: string, prefix: string): { ca: string; cert: string; key: string } {
  const file = (name: string) => join(dir, `${prefix}-${name}`);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-subj', `/CN=${prefix}-ca`, '-keyout', file('ca.key'), '-out', file('ca.crt')]);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${prefix}`, '-keyout', file('tls.key'), '-out', file('tls.csr')]);
  writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(['x509', '-req', '-in', file('tls.csr'), '-CA', file('ca.crt'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '825', '-extfile', file('ext.cnf'), '-out', file('tls.crt')]);
  return { ca: readFileSync(file('ca.crt'), 'utf8'), cert: readFileSync(file('tls.crt'), 'utf8'), key: readFileSync(file('tls.key'), 'utf8') };
}

/** An HTTPS mirror on loopback with `certificates`, recording into `copies`. */
async function httpsMirror(name: string, certificates: { cert: string; key: string }, copies: Copy[]): Promise<HttpsServer> {
  const server = createHttpsServer({ cert: certificates.cert, key: certificates.key }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      copies.push({ mirror: name, method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
      response.end('mirror answer');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  return server;
}

/** A request whose body goes out in `pieces` writes, `gapMs` apart (chunked: no Content-Length). */
function streamed(port: number, host: string, path: string, pieces: readonly Buffer[], gapMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ host: LOOPBACK, port, path, method: 'POST', headers: { host }, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    request.on('error', reject);
    let i = 0;
    const next = (): void => {
      if (i === pieces.length) return void request.end();
      request.write(pieces[i++]);
      setTimeout(next, gapMs);
    };
    next();
  });
}

describe('mirror-* annotations (ingress-nginx e2e: mirror.go)', () => {
  const copies: Copy[] = [];
  let mirror: Backend;
  let slow: Backend;
  let blackHole: Server;
  const held: Socket[] = [];
  let resetter: Server;
  let auth: Backend;
  let trusted: HttpsServer;
  let untrusted: HttpsServer;
  let proxy: AnnotatedProxy;
  const dir = mkdtempSync(join(tmpdir(), 'portico-mirror-'));

  beforeAll(async () => {
    // HTTPS mirrors are verified against the process's default roots: this test's CA joins them
    // (this file's worker only); the other certificate's CA does not.
    const good = makeCertificates(dir, 'trusted');
    const other = makeCertificates(dir, 'untrusted');
    setDefaultCACertificates([...getCACertificates('default'), good.ca]);
    // Allows `Authorization: Bearer good`, else 401.
    auth = await startBackend((request, response) => {
      response.statusCode = request.headers.authorization === 'Bearer good' ? 200 : 401;
      response.end();
    });
    trusted = await httpsMirror('trusted', good, copies);
    untrusted = await httpsMirror('untrusted', other, copies);
    mirror = await recordingMirror('mirror', copies);
    // Answers 4 s after the whole copy arrived: the client must not wait for it.
    slow = await recordingMirror('slow', copies, 4000);
    blackHole = createServer((socket) => {
      held.push(socket);
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => blackHole.listen(0, LOOPBACK, resolve));
    resetter = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => resetter.listen(0, LOOPBACK, resolve));
    const dead = await closedPort();
    const at = (port: number): string => `http://${LOOPBACK}:${port}`;
    const target = (name: string, host: string, value: string, extra: Record<string, string> = {}) => ({ name, hosts: [host], annotations: { [`${A}mirror-target`]: value, ...extra } });
    proxy = await AnnotatedProxy.start(
      [
        target('uri', 'uri.test', `${at(mirror.port)}$request_uri`),
        target('path', 'path.test', `${at(mirror.port)}/mirror`),
        target('slash', 'slash.test', `${at(mirror.port)}/$request_uri`),
        target('vhost', 'vhost.test', `${at(mirror.port)}$request_uri`, { [`${A}mirror-host`]: 'shadow.example:8443' }),
        target('nobody', 'nobody.test', `${at(mirror.port)}$request_uri`, { [`${A}mirror-request-body`]: 'off' }),
        target('service', 'service.test', 'http://shadow.web.svc.cluster.local/from-service$request_uri'),
        target('missing', 'missing.test', 'http://nowhere.web.svc.cluster.local$request_uri'),
        target('slow', 'slow.test', `${at(slow.port)}$request_uri`),
        target('hole', 'hole.test', `${at((blackHole.address() as AddressInfo).port)}$request_uri`),
        target('dead', 'dead.test', `${at(dead)}$request_uri`),
        target('reset', 'reset.test', `${at((resetter.address() as AddressInfo).port)}$request_uri`),
        target('tls', 'tls.test', `https://${LOOPBACK}:${mirror.port}$request_uri`),
        target('trusted', 'trusted.test', `https://${LOOPBACK}:${(trusted.address() as AddressInfo).port}/secure$request_uri`),
        target('untrusted', 'untrusted.test', `https://${LOOPBACK}:${(untrusted.address() as AddressInfo).port}$request_uri`),
        // Link-local (the cloud metadata address): refused by the endpoint address policy before any connect.
        target('metadata', 'metadata.test', 'http://169.254.169.254/latest$request_uri'),
        target('named', 'named.test', `http://localhost:${mirror.port}/by-name$request_uri`),
        target('authed', 'authed.test', `${at(mirror.port)}$request_uri`, { [`${A}auth-url`]: `${at(auth.port)}/auth` }),
        target('ranged', 'ranged.test', `${at(mirror.port)}$request_uri`, { [`${A}whitelist-source-range`]: '10.0.0.0/8' }),
        target('bad', 'bad.test', 'ftp://files.example/x'),
        target('novar', 'novar.test', `${at(mirror.port)}/$uri`),
      ],
      ['echo', 'shadow'],
      {},
      { shadow: (request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', () => {
          copies.push({ mirror: 'shadow', method: request.method ?? '', url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks) });
          response.end('shadow');
        });
      } },
    );
  });

  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await proxy.close();
    await mirror.close();
    await slow.close();
    await auth.close();
    await new Promise<void>((resolve) => blackHole.close(() => resolve()));
    await new Promise<void>((resolve) => resetter.close(() => resolve()));
    for (const server of [trusted, untrusted]) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  /** The copies of requests carrying `X-Mark: mark`. */
  const marked = (mark: string): Copy[] => copies.filter((copy) => copy.headers['x-mark'] === mark);

  it('$request_uri: the copy has the method, the request URI as received, the header fields and Host of the target; the client gets the backend\'s answer', async () => {
    const echo = await proxy.echo('uri.test', '/shop/cart?item=7&x=%2F', { method: 'PUT', headers: { 'x-mark': 'uri', 'x-custom': 'kept', 'content-type': 'text/plain' }, body: 'payload' });
    expect(echo).toMatchObject({ service: 'echo', method: 'PUT', url: '/shop/cart?item=7&x=%2F', bodyBytes: 7 });
    await until(() => marked('uri').length === 1);
    const [copy] = marked('uri');
    expect(copy).toMatchObject({ mirror: 'mirror', method: 'PUT', url: '/shop/cart?item=7&x=%2F' });
    expect(copy!.body.toString()).toBe('payload');
    expect(copy!.headers).toMatchObject({ host: LOOPBACK, 'x-custom': 'kept', 'content-type': 'text/plain', 'content-length': '7', connection: 'close', 'x-forwarded-host': 'uri.test' });
  });

  it('a target path without variables gets the query appended (nginx proxy_pass); /$request_uri gives // as in ingress-nginx', async () => {
    await proxy.echo('path.test', '/a/b?q=1', { headers: { 'x-mark': 'path' } });
    await proxy.echo('slash.test', '/a/b?q=1', { headers: { 'x-mark': 'slash' } });
    await until(() => marked('path').length === 1 && marked('slash').length === 1);
    expect(marked('path')[0]!.url).toBe('/mirror?q=1');
    expect(marked('slash')[0]!.url).toBe('//a/b?q=1');
  });

  it('mirror-host sets the copy\'s Host; the backend keeps the client\'s', async () => {
    const echo = await proxy.echo('vhost.test', '/x', { headers: { 'x-mark': 'vhost' } });
    expect(echo.headers.host).toBe('vhost.test');
    await until(() => marked('vhost').length === 1);
    expect(marked('vhost')[0]!.headers.host).toBe('shadow.example:8443');
  });

  it('mirror-request-body: off sends the copy without the body (Content-Length: 0); the backend gets all of it', async () => {
    const echo = await proxy.echo('nobody.test', '/upload', { method: 'POST', headers: { 'x-mark': 'nobody' }, body: 'x'.repeat(5000) });
    expect(echo.bodyBytes).toBe(5000);
    await until(() => marked('nobody').length === 1);
    expect(marked('nobody')[0]!.body.length).toBe(0);
    expect(marked('nobody')[0]!.headers['content-length']).toBe('0');
  });

  it('a chunked body streamed over time is copied whole once it ended, as framed by the client', async () => {
    const pieces = Array.from({ length: 6 }, (_, i) => Buffer.alloc(20_000, 97 + i));
    const response = await streamed(proxy.proxy.port, 'uri.test', '/stream', pieces, 20);
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echo).bodyBytes).toBe(120_000);
    await until(() => copies.some((copy) => copy.url === '/stream'));
    const copy = copies.find((c) => c.url === '/stream')!;
    expect(copy.headers['transfer-encoding']).toBe('chunked');
    expect(copy.body.equals(Buffer.concat(pieces))).toBe(true);
  });

  it('a host <svc>.<ns>.svc.cluster.local goes to that Service\'s endpoints from the model (no DNS)', async () => {
    await proxy.echo('service.test', '/s?k=v', { headers: { 'x-mark': 'service' } });
    await until(() => marked('service').length === 1);
    expect(marked('service')[0]).toMatchObject({ mirror: 'shadow', url: '/from-service/s?k=v' });
    expect(marked('service')[0]!.headers.host).toBe('shadow.web.svc.cluster.local');
  });

  it('a Service that does not exist: Warning, the route served, copies dropped as no-endpoint', async () => {
    expect(proxy.conditionsOf('missing')).toContainEqual(['InvalidAnnotation', 'Warning', `metadata.annotations['${A}mirror-target']`]);
    const before = outcome('no-endpoint');
    await proxy.echo('missing.test', '/');
    expect(outcome('no-endpoint')).toBe(before + 1);
  });

  it('a slow mirror (4 s) and one that never answers delay nothing: the client has its answer while they still hold the copy', async () => {
    const heldBefore = held.length;
    const [fromSlow, fromHole] = await Promise.all([proxy.fetch('slow.test', '/slow', { headers: { 'x-mark': 'slow' } }), proxy.fetch('hole.test', '/hole', { method: 'POST', body: 'b'.repeat(1000) })]);
    // The clients have their answers and neither mirror has answered its copy.
    expect([fromSlow.status, fromHole.status, answeredBy.get('slow') ?? 0]).toEqual([200, 200, 0]);
    expect(fromSlow.body).toContain('"service":"echo"');
    await until(() => marked('slow').length === 1 && held.length === heldBefore + 1);
    expect(marked('slow').length).toBe(1);
    expect(held.length).toBe(heldBefore + 1);
    expect(answeredBy.get('slow') ?? 0).toBe(0);
  });

  it('an https target gets the copy over TLS, its certificate verified (the target host as the name)', async () => {
    await proxy.echo('trusted.test', '/pay?id=1', { method: 'POST', headers: { 'x-mark': 'trusted' }, body: 'secret' });
    await until(() => marked('trusted').length === 1);
    expect(marked('trusted')[0]).toMatchObject({ mirror: 'trusted', method: 'POST', url: '/secure/pay?id=1' });
    expect(marked('trusted')[0]!.body.toString()).toBe('secret');
  });

  it('copies are made after the access checks, as nginx mirrors in its precontent phase: an auth-url denial (401) and a source range (403) copy nothing; an allowed request is copied', async () => {
    const denied = await proxy.fetch('authed.test', '/private', { method: 'POST', headers: { 'x-mark': 'denied' }, body: 'no' });
    const outside = await proxy.fetch('ranged.test', '/private', { headers: { 'x-mark': 'denied' } });
    expect([denied.status, outside.status]).toEqual([401, 403]);
    await proxy.echo('authed.test', '/private', { method: 'POST', headers: { 'x-mark': 'allowed', authorization: 'Bearer good' }, body: 'yes' });
    await until(() => marked('allowed').length === 1);
    expect(marked('allowed')[0]!.body.toString()).toBe('yes');
    expect(marked('denied')).toEqual([]);
  });

  it('HTTP/2 clients (TLS and h2c) are mirrored alike: $request_uri is :path, a body without content-length goes chunked, whole', async () => {
    const plane = await startH2DataPlane(proxy.snapshot);
    try {
      for (const tls of [true, false]) {
        const session = await h2Session(plane, tls);
        const mark = tls ? 'h2' : 'h2c';
        const answer = await h2Request(session, { ':method': 'POST', ':path': `/over/${mark}?x=1`, ':authority': 'uri.test', 'x-mark': mark }, 'z'.repeat(3000));
        session.close();
        expect(answer.status).toBe(200);
        await until(() => marked(mark).length === 1);
        expect(marked(mark)[0]).toMatchObject({ method: 'POST', url: `/over/${mark}?x=1` });
        expect(marked(mark)[0]!.headers.host).toBe(LOOPBACK);
        expect(marked(mark)[0]!.body.toString()).toBe('z'.repeat(3000));
      }
    } finally {
      await plane.close();
    }
  });

  it('a refused port, a reset, TLS to a plain port and an HTTPS mirror with an untrusted certificate change nothing for the client; each copy counts as failed and none arrives', async () => {
    const failed = outcome('failed');
    const answers = await Promise.all(['dead.test', 'reset.test', 'tls.test', 'untrusted.test'].map((host) => proxy.fetch(host, '/f', { headers: { 'x-mark': 'failing' } })));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    await until(() => outcome('failed') >= failed + 4);
    expect(outcome('failed')).toBe(failed + 4);
    expect(marked('failing')).toEqual([]);
  });

  it('a host name is resolved by DNS (through the address policy) and the copy goes to what it resolves to', async () => {
    await proxy.echo('named.test', '/n?k=1', { headers: { 'x-mark': 'named' } });
    await until(() => marked('named').length === 1);
    expect(marked('named')[0]).toMatchObject({ url: '/by-name/n?k=1' });
    expect(marked('named')[0]!.headers.host).toBe('localhost');
    expect(mirrorStats.lookups).toBe(0);
  });

  it('the endpoint address policy: a link-local target is never connected to (address-refused); the client is served', async () => {
    const refused = outcome('address-refused');
    const sent = mirrorStats.sent;
    expect((await proxy.fetch('metadata.test', '/')).status).toBe(200);
    expect(outcome('address-refused')).toBe(refused + 1);
    expect(mirrorStats.sent).toBe(sent);
  });

  it('a body past 1 MiB (Content-Length or streamed) is not mirrored; the backend gets it whole', async () => {
    const tooLarge = outcome('body-too-large');
    const heldBytes = mirrorStats.bodyBytes;
    const echo = await proxy.echo('uri.test', '/huge', { method: 'POST', body: Buffer.alloc(MAX_MIRROR_BODY + 1, 120) });
    expect(echo.bodyBytes).toBe(MAX_MIRROR_BODY + 1);
    const response = await streamed(proxy.proxy.port, 'uri.test', '/huge-stream', Array.from({ length: 5 }, () => Buffer.alloc(300_000, 121)), 5);
    expect((JSON.parse(response.body) as Echo).bodyBytes).toBe(1_500_000);
    expect(outcome('body-too-large')).toBe(tooLarge + 2);
    expect(mirrorStats.bodyBytes).toBe(heldBytes);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(copies.some((copy) => copy.url.startsWith('/huge'))).toBe(false);
  });

  it('a request the client abandons mid-body is not mirrored (incomplete)', async () => {
    const incomplete = outcome('incomplete');
    await new Promise<void>((resolve) => {
      const request = httpRequest({ host: LOOPBACK, port: proxy.proxy.port, path: '/abandoned', method: 'POST', headers: { host: 'uri.test', 'content-length': '10000' }, agent: false });
      request.on('error', () => resolve());
      request.write('x'.repeat(100));
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 100);
    });
    await until(() => outcome('incomplete') === incomplete + 1);
    expect(outcome('incomplete')).toBe(incomplete + 1);
    expect(copies.some((copy) => copy.url === '/abandoned')).toBe(false);
  });

  it(`more requests than ${MAX_MIRRORS_IN_FLIGHT} copies in flight: every client is answered, copies stay within the bound, the rest are counted busy`, async () => {
    const busy = outcome('busy');
    const requests = Array.from({ length: MAX_MIRRORS_IN_FLIGHT + 40 }, () => proxy.fetch('hole.test', '/many'));
    const answers = await Promise.all(requests);
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(mirrorStats.inFlight).toBeLessThanOrEqual(MAX_MIRRORS_IN_FLIGHT);
    expect(outcome('busy')).toBeGreaterThan(busy);
    for (const socket of held) socket.destroy();
    await until(() => mirrorStats.inFlight === 0, 8000);
    expect([mirrorStats.inFlight, mirrorStats.bodyBytes]).toEqual([0, 0]);
  }, 30_000);

  it('bad values: a Warning naming the annotation, the Ingress served without mirroring; explain says where copies go', async () => {
    expect(proxy.conditionsOf('bad')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}mirror-target']`]]);
    expect(proxy.conditionsOf('novar')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}mirror-target']`]]);
    expect((await proxy.fetch('bad.test', '/')).status).toBe(200);
    const explained = JSON.stringify(proxy.explainer.explain({ host: 'uri.test', path: '/' }));
    expect(explained).toContain(`mirrored (mirror-target, fire-and-forget) to http://${LOOPBACK}:${mirror.port}$request_uri`);
  });
});

describe('mirror-target and the endpoint address policy without --allow-loopback-endpoints', () => {
  it('a name that resolves to loopback gets no copy (address-refused), nor does a loopback address', async () => {
    const copies: Copy[] = [];
    const mirror = await recordingMirror('mirror', copies);
    const proxy = await AnnotatedProxy.start(
      [
        { name: 'named', hosts: ['named.test'], annotations: { [`${A}mirror-target`]: `http://localhost:${mirror.port}$request_uri` } },
        { name: 'literal', hosts: ['literal.test'], annotations: { [`${A}mirror-target`]: `http://${LOOPBACK}:${mirror.port}$request_uri` } },
      ],
      ['echo'],
      { endpointAddresses: {} },
    );
    try {
      const refused = outcome('address-refused');
      // The echo backend is on loopback too: the client gets 502 from the same policy, and the copies go nowhere.
      const answers = await Promise.all([proxy.fetch('named.test', '/'), proxy.fetch('literal.test', '/')]);
      expect(answers.map((answer) => answer.status)).toEqual([502, 502]);
      await until(() => outcome('address-refused') >= refused + 2);
      expect(outcome('address-refused')).toBe(refused + 2);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect([copies.length, mirror.connections]).toEqual([0, 0]);
    } finally {
      await proxy.close();
      await mirror.close();
    }
  });
});
