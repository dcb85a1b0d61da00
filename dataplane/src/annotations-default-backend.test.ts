/**
 * default-backend and custom-http-errors through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/default_backend.go (a rule whose Service has no endpoint is answered by the
 * annotation's Service: 200, `x-code=503`, the Ingress and Service names, the client's request id),
 * customhttperrors.go and disableproxyintercepterrors.go (a listed status from the endpoint goes to
 * the default backend, whose answer the client gets; disabled, the endpoint's goes through). The
 * default backend here is an echo that reports what it received. Hostile cases: a default backend
 * that is down or slow (the original status), a huge error body (dropped unread), a default
 * backend that answers a listed status itself (once, no loop), a POST body, an HTTP/2 client,
 * bad values (refused or warned, naming the annotation), a refused rule (never re-dispatched).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Explainer } from '@portico/control/explain';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, RunningProxy } from './test-support.ts';
import { closedPort, compileManifests, fetchVia, rawExchange, startBackend, startProxy, statusOf } from './test-support.ts';
import type { DataPlane } from './dataplane.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** What the echo default backend received. */
interface Echoed {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly bytes: number;
}

/** A default backend that answers `status` with what it received as JSON. */
function echo(name: string, status = 200): (request: IncomingMessage, response: ServerResponse) => void {
  return (request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      response.statusCode = status;
      response.setHeader('content-type', 'application/json');
      const echoed: Echoed = { name, method: request.method ?? '', url: request.url ?? '', headers: request.headers as Record<string, string>, bytes };
      response.end(JSON.stringify(echoed));
    });
  };
}

/** The application: `/status/<code>` answers that code (as httpbun), `/huge` a 404 with 64 MiB of body, anything else 200. */
function application(request: IncomingMessage, response: ServerResponse): void {
  request.resume();
  const url = request.url ?? '/';
  const status = /^\/status\/(\d{3})/.exec(url);
  if (status !== null) {
    response.statusCode = Number(status[1]);
    response.end(`app says ${status[1]}`);
    return;
  }
  if (url.startsWith('/huge')) {
    response.statusCode = 404;
    response.setHeader('content-length', String(64 * 1024 * 1024));
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let left = 1024;
    const write = (): void => {
      while (left > 0) {
        left--;
        if (!response.write(chunk)) return void response.once('drain', write);
      }
      response.end();
    };
    response.on('error', () => {});
    write();
    return;
  }
  response.end('app ok');
}

/** Service `name` in `web` (port 80) whose one ready endpoint is 127.0.0.1:`port`; `port` 0: no endpoint. */
function service(name: string, port: number): string {
  const svc = `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: web}\nspec: {ports: [{port: 80}]}\n`;
  if (port === 0) return svc;
  return `${svc}---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: web, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`;
}

/** Ingress `web/<name>` for host `<name>.test`, path `/` to Service `backend` port 80, with `annotations`. */
function ingress(name: string, backend: string, annotations: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'web', annotations },
    spec: { ingressClassName: 'portico', rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: backend, port: { number: 80 } } } }] } }] },
  });
}

describe('default-backend and custom-http-errors (ingress-nginx e2e: default_backend.go, customhttperrors.go)', () => {
  let app: Backend;
  let errors: Backend;
  let teapot: Backend;
  let slow: Backend;
  let proxy: RunningProxy;
  let plane: DataPlane;
  let compiled: ReturnType<typeof compileManifests>;

  beforeAll(async () => {
    app = await startBackend(application);
    errors = await startBackend(echo('errors'));
    teapot = await startBackend(echo('teapot', 404));
    slow = await startBackend((request, response) => {
      request.resume();
      setTimeout(() => response.end('too late'), 4000).unref();
    });
    const down = await closedPort();
    // Its own closed port: failures to reach it must not eject the 'down' default backend's endpoint (passive health is per endpoint).
    let gone = await closedPort();
    while (gone === down) gone = await closedPort();
    const text = [
      service('app', app.port),
      service('errors', errors.port),
      service('teapot', teapot.port),
      service('slow', slow.port),
      service('down', down),
      service('gone', gone),
      service('empty', 0),
      ingress('nobackend', 'invalid', { [`${A}default-backend`]: 'errors' }),
      ingress('noendpoints', 'empty', { [`${A}default-backend`]: 'errors' }),
      ingress('intercept', 'app', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '404, 503' }),
      ingress('disabled', 'app', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '404', [`${A}disable-proxy-intercept-errors`]: 'true' }),
      ingress('nodefault', 'app', { [`${A}custom-http-errors`]: '404' }),
      ingress('missing', 'app', { [`${A}default-backend`]: 'nosuch', [`${A}custom-http-errors`]: '404' }),
      ingress('badcodes', 'app', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '404,abc' }),
      ingress('redirects', 'app', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '302' }),
      ingress('othernamespace', 'app', { [`${A}default-backend`]: 'other/errors' }),
      ingress('fallbackdown', 'app', { [`${A}default-backend`]: 'down', [`${A}custom-http-errors`]: '404' }),
      ingress('fallbackdownnoendpoints', 'empty', { [`${A}default-backend`]: 'down' }),
      ingress('fallbackslow', 'app', { [`${A}default-backend`]: 'slow', [`${A}custom-http-errors`]: '404', [`${A}proxy-read-timeout`]: '1' }),
      ingress('unreachable', 'gone', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '502' }),
      ingress('unreachableunlisted', 'gone', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '404' }),
      ingress('toolarge', 'app', { [`${A}default-backend`]: 'errors', [`${A}custom-http-errors`]: '413', [`${A}proxy-body-size`]: '1k' }),
      ingress('loop', 'app', { [`${A}default-backend`]: 'teapot', [`${A}custom-http-errors`]: '404' }),
      ingress('refused', 'empty', { [`${A}default-backend`]: 'errors', [`${A}whitelist-source-range`]: 'not-an-address' }),
    ].join('\n---\n');
    compiled = compileManifests(text);
    proxy = await startProxy(compiled.router, { readTimeoutMs: 30_000 });
    plane = await startH2DataPlane(compiled.snapshot);
  });

  afterAll(async () => {
    await proxy.close();
    await plane.close();
    for (const backend of [app, errors, teapot, slow]) await backend.close();
  });

  const conditionsOf = (name: string) => compiled.conditions.filter((c) => c.source.name === name && c.field.includes(A)).map((c) => [c.severity, c.field.slice(c.field.indexOf(A) + A.length, -2)]);

  it('a rule whose Service does not exist is answered by the default backend: its 200, x-code=503, the Ingress and Service, the request id (default_backend.go)', async () => {
    const response = await fetchVia(proxy.port, { host: 'nobackend.test', path: '/alma/armud', headers: { 'x-request-id': 'something-unique', accept: 'text/html' } });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body) as Echoed;
    expect(seen.name).toBe('errors');
    expect(seen.url).toBe('/alma/armud');
    expect(seen.headers).toMatchObject({ 'x-code': '503', 'x-format': 'text/html', 'x-namespace': 'web', 'x-ingress-name': 'nobackend', 'x-service-name': 'invalid', 'x-service-port': '80', 'x-request-id': 'something-unique' });
    // The no-endpoint location of ingress-nginx's template does not set X-Original-URI.
    expect(seen.headers['x-original-uri']).toBeUndefined();
  });

  it('a Service without endpoints is answered by the default backend too; its endpoints are the only ones asked', async () => {
    const before = errors.requests;
    const response = await fetchVia(proxy.port, { host: 'noendpoints.test', path: '/x' });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echoed).headers).toMatchObject({ 'x-code': '503', 'x-service-name': 'empty' });
    expect(errors.requests - before).toBe(1);
  });

  it('a listed status goes to the default backend for / (query kept) with X-Code, X-Format, X-Original-URI and the rest; the client gets its answer (disableproxyintercepterrors.go)', async () => {
    const before = { app: app.requests, errors: errors.requests };
    const response = await fetchVia(proxy.port, { host: 'intercept.test', path: '/status/404?x=1', headers: { 'x-request-id': 'proxy_intercept_errors', accept: 'application/json' } });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body) as Echoed;
    expect(seen.url).toBe('/?x=1');
    expect(seen.method).toBe('GET');
    expect(seen.headers).toMatchObject({ 'x-code': '404', 'x-format': 'application/json', 'x-original-uri': '/status/404?x=1', 'x-namespace': 'web', 'x-ingress-name': 'intercept', 'x-service-name': 'app', 'x-service-port': '80', 'x-request-id': 'proxy_intercept_errors', host: 'intercept.test' });
    expect([app.requests - before.app, errors.requests - before.errors]).toEqual([1, 1]);
    // 503 is listed too; 500 is not, and 200 is never intercepted.
    expect(JSON.parse((await fetchVia(proxy.port, { host: 'intercept.test', path: '/status/503' })).body)).toMatchObject({ headers: { 'x-code': '503' } });
    expect(await fetchVia(proxy.port, { host: 'intercept.test', path: '/status/500' })).toMatchObject({ status: 500, body: 'app says 500' });
    expect(await fetchVia(proxy.port, { host: 'intercept.test', path: '/' })).toMatchObject({ status: 200, body: 'app ok' });
  });

  it('Portico\'s own 502 for an unreachable endpoint goes to the default backend when listed (nginx\'s error_page covers its own errors), else is answered', async () => {
    const before = errors.requests;
    const response = await fetchVia(proxy.port, { host: 'unreachable.test', path: '/p?q=1' });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echoed).headers).toMatchObject({ 'x-code': '502', 'x-original-uri': '/p?q=1', 'x-service-name': 'gone' });
    expect(errors.requests - before).toBe(1);
    expect((await fetchVia(proxy.port, { host: 'unreachableunlisted.test', path: '/' })).status).toBe(502);
  });

  it('Portico\'s own 413 (proxy-body-size) goes to the default backend when listed, without the body, and the endpoint never sees it', async () => {
    const before = app.requests;
    // Raw, so that fields follow Content-Length: every one of them must still reach the default backend.
    const raw = await rawExchange(proxy.port, `POST /upload HTTP/1.1\r\nContent-Length: 10000\r\nHost: toolarge.test\r\nX-Request-ID: big-one\r\n\r\n${'x'.repeat(10_000)}`);
    expect(statusOf(raw)).toBe(200);
    const seen = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as Echoed;
    expect([seen.method, seen.url, seen.bytes]).toEqual(['POST', '/', 0]);
    expect(seen.headers).toMatchObject({ 'x-code': '413', 'x-original-uri': '/upload', 'x-request-id': 'big-one', 'x-ingress-name': 'toolarge' });
    // No Accept: no X-Format (nginx sends no field whose value is empty).
    expect(seen.headers['x-format']).toBeUndefined();
    expect(app.requests).toBe(before);
  });

  it('disable-proxy-intercept-errors: "true" relays the endpoint\'s response (and warns that custom-http-errors does nothing)', async () => {
    expect(await fetchVia(proxy.port, { host: 'disabled.test', path: '/status/404' })).toMatchObject({ status: 404, body: 'app says 404' });
    expect(conditionsOf('disabled')).toEqual([['Warning', 'custom-http-errors']]);
  });

  it('without default-backend nothing is intercepted (Portico has no global default backend): a Warning says so', async () => {
    expect(await fetchVia(proxy.port, { host: 'nodefault.test', path: '/status/404' })).toMatchObject({ status: 404, body: 'app says 404' });
    const warning = compiled.conditions.find((c) => c.source.name === 'nodefault');
    expect(warning).toMatchObject({ severity: 'Warning', reason: 'InvalidAnnotation' });
    expect(warning?.message).toContain('no global default backend');
  });

  it('a default-backend Service that does not exist is a Warning and ignored, as ingress-nginx ignores it', async () => {
    expect(await fetchVia(proxy.port, { host: 'missing.test', path: '/status/404' })).toMatchObject({ status: 404, body: 'app says 404' });
    expect(conditionsOf('missing')).toEqual([['Warning', 'default-backend']]);
  });

  it('unreadable codes, codes outside 400-599 and a name in another namespace refuse the Ingress (503) with an Error naming the annotation, as ingress-nginx rejects them', async () => {
    for (const [name, annotation] of [['badcodes', 'custom-http-errors'], ['redirects', 'custom-http-errors'], ['othernamespace', 'default-backend']] as const) {
      const before = errors.requests;
      expect((await fetchVia(proxy.port, { host: `${name}.test`, path: '/status/404' })).status).toBe(503);
      expect(errors.requests).toBe(before);
      expect(conditionsOf(name)).toEqual([['Error', annotation]]);
    }
  });

  it('a refused rule is never sent to its default backend', async () => {
    const before = errors.requests;
    expect((await fetchVia(proxy.port, { host: 'refused.test', path: '/' })).status).toBe(503);
    expect(errors.requests).toBe(before);
  });

  it('explain says who answers: the default backend for a rule without endpoints (200), 503 for a refused rule, and the policy line', () => {
    const explainer = new Explainer(compiled.snapshot);
    const missing = explainer.explain({ host: 'nobackend.test', path: '/x' });
    expect(missing.status).toBe(200);
    expect(missing.reason).toContain('default backend Service web/errors:80 answers');
    expect(explainer.explain({ host: 'intercept.test', path: '/' }).policies).toEqual([expect.stringContaining('instead of endpoint responses with status 404, 503')]);
    expect(explainer.explain({ host: 'refused.test', path: '/' }).status).toBe(503);
  });

  it('hostile: a default backend that is down answers the original status (404 intercepted, the endpoint\'s body gone; 503 without endpoints)', async () => {
    const intercepted = await fetchVia(proxy.port, { host: 'fallbackdown.test', path: '/status/404' });
    expect(intercepted.status).toBe(404);
    expect(intercepted.body).not.toBe('app says 404');
    expect((await fetchVia(proxy.port, { host: 'fallbackdownnoendpoints.test', path: '/' })).status).toBe(503);
  });

  it('hostile: a slow default backend is bounded by the route\'s read timeout, then the original status', async () => {
    const before = slow.requests;
    const started = performance.now();
    const response = await fetchVia(proxy.port, { host: 'fallbackslow.test', path: '/status/404' });
    expect(response.status).toBe(404);
    expect(response.body).not.toBe('app says 404');
    expect(slow.requests - before).toBe(1);
    expect(performance.now() - started).toBeLessThan(3900);
  });

  it('hostile: a 64 MiB error body is dropped unread and the client gets the default backend\'s small answer', async () => {
    const started = performance.now();
    const response = await fetchVia(proxy.port, { host: 'intercept.test', path: '/huge' });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echoed).headers['x-code']).toBe('404');
    expect(response.body.length).toBeLessThan(4096);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('hostile: a default backend answering a listed status is relayed as is: one re-dispatch, no loop', async () => {
    const before = { app: app.requests, teapot: teapot.requests };
    const response = await fetchVia(proxy.port, { host: 'loop.test', path: '/status/404' });
    expect(response.status).toBe(404);
    expect((JSON.parse(response.body) as Echoed).name).toBe('teapot');
    expect([app.requests - before.app, teapot.requests - before.teapot]).toEqual([1, 1]);
  });

  it('hostile: a POST whose body the endpoint answered with a listed status goes to the default backend without the body', async () => {
    const response = await fetchVia(proxy.port, { host: 'intercept.test', path: '/status/404', method: 'POST', body: 'x'.repeat(100_000) });
    expect(response.status).toBe(200);
    const seen = JSON.parse(response.body) as Echoed;
    expect([seen.method, seen.bytes, seen.headers['content-length'], seen.headers['transfer-encoding']]).toEqual(['POST', 0, '0', undefined]);
  });

  it('over HTTP/2 (h2 and h2c): the no-endpoint and the intercepted cases alike', async () => {
    for (const tls of [true, false]) {
      const session = await h2Session(plane, tls);
      const missing = await h2Request(session, { ':method': 'GET', ':path': '/a', ':authority': 'nobackend.test', 'x-request-id': 'h2-id' });
      expect(missing.status).toBe(200);
      expect((JSON.parse(missing.body.toString()) as Echoed).headers).toMatchObject({ 'x-code': '503', 'x-request-id': 'h2-id' });
      const intercepted = await h2Request(session, { ':method': 'GET', ':path': '/status/404', ':authority': 'intercept.test' });
      expect(intercepted.status).toBe(200);
      expect((JSON.parse(intercepted.body.toString()) as Echoed).headers).toMatchObject({ 'x-code': '404', 'x-original-uri': '/status/404' });
      const passed = await h2Request(session, { ':method': 'GET', ':path': '/status/500', ':authority': 'intercept.test' });
      expect([passed.status, passed.body.toString()]).toEqual([500, 'app says 500']);
      session.close();
    }
  });
});
