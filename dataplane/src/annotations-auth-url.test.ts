/**
 * auth-url and its family through the real proxy (manifests -> compile -> router -> proxy -> echo
 * backends on loopback, and an auth server on loopback that allows or denies by the request's
 * Authorization header), modelled on ingress-nginx's test/e2e/annotations/auth.go and the auth
 * location of its nginx.tmpl: what the auth server receives (original headers, X-Original-*,
 * no body), 2xx proxies with auth-response-headers copied, 401/403 answered (302 to auth-signin),
 * any other status, an unreachable or slow auth server 500 (fail closed), the auth cookie on the
 * response, a Service host resolved through the model, and bad values refusing the Ingress.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Echo } from './annotation-support.ts';
import { AnnotatedProxy } from './annotation-support.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, annotatedIngress, appManifests, closedPort, compileManifests, fetchVia, keepAliveAgent, startBackend } from './test-support.ts';
import { h2Request, h2Session, startH2DataPlane } from './h2/test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** What the auth server saw of one subrequest. */
interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly bodyBytes: number;
}

/** Subrequests the auth server saw closed before it answered. */
const abandoned = { count: 0 };

/** Allows `Bearer good` (with X-User and a cookie), 403 for `Bearer forbidden`, 418 for `Bearer teapot`, `Bearer slow` answers after 3 s, else 401. */
function authHandler(seen: Seen[]) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, bodyBytes });
      const authorization = request.headers.authorization;
      if (authorization === 'Bearer good') {
        response.setHeader('X-User', 'alice');
        response.setHeader('Set-Cookie', ['session=abc; Path=/']);
        response.end('ok');
      } else if (authorization === 'Bearer forbidden') {
        response.statusCode = 403;
        response.end();
      } else if (authorization === 'Bearer teapot') {
        response.statusCode = 418;
        response.end();
      } else if (authorization === 'Bearer slow') {
        const timer = setTimeout(() => response.end('late'), 3000);
        response.on('close', () => {
          if (!response.writableEnded) abandoned.count++;
          clearTimeout(timer);
        });
      } else {
        response.statusCode = 401;
        response.setHeader('WWW-Authenticate', 'Bearer realm="test"');
        response.setHeader('Set-Cookie', ['tried=1']);
        response.end();
      }
    });
  };
}

describe('auth-url family (ingress-nginx e2e: auth.go)', () => {
  const seen: Seen[] = [];
  let auth: Backend;
  let proxy: AnnotatedProxy;
  let authUrl: string;

  beforeAll(async () => {
    auth = await startBackend(authHandler(seen));
    authUrl = `http://127.0.0.1:${auth.port}/auth?check=1`;
    const deadPort = await closedPort();
    const url = { [`${A}auth-url`]: authUrl };
    proxy = await AnnotatedProxy.start(
      [
        { name: 'plain', hosts: ['auth.test'], annotations: { ...url, [`${A}auth-response-headers`]: 'X-User, X-Missing' } },
        { name: 'signin', hosts: ['signin.test'], annotations: { ...url, [`${A}auth-signin`]: 'http://$host/auth/start' } },
        { name: 'signin-param', hosts: ['orig.test'], annotations: { ...url, [`${A}auth-signin`]: 'http://$host/auth/start', [`${A}auth-signin-redirect-param`]: 'orig' } },
        { name: 'signin-own-rd', hosts: ['own.test'], annotations: { ...url, [`${A}auth-signin`]: 'https://login.example/start?rd=$escaped_request_uri&x=1' } },
        { name: 'method', hosts: ['method.test'], annotations: { ...url, [`${A}auth-method`]: 'POST', [`${A}auth-request-redirect`]: 'https://$host/back' } },
        { name: 'cookie', hosts: ['cookie.test'], annotations: url, paths: [{ path: '/' }, { path: '/error', service: 'failing' }] },
        { name: 'cookie-always', hosts: ['always.test'], annotations: { ...url, [`${A}auth-always-set-cookie`]: 'true' }, paths: [{ path: '/error', service: 'failing' }] },
        { name: 'down', hosts: ['down.test'], annotations: { [`${A}auth-url`]: `http://127.0.0.1:${deadPort}/auth` } },
        { name: 'service', hosts: ['service.test'], annotations: { [`${A}auth-url`]: 'http://authsvc.web.svc.cluster.local/verify', [`${A}auth-response-headers`]: 'X-User' } },
        { name: 'no-service', hosts: ['no-service.test'], annotations: { [`${A}auth-url`]: 'http://missing.web.svc/verify' } },
        { name: 'bad-host', hosts: ['bad-host.test'], annotations: { [`${A}auth-url`]: 'https://invalid..auth.url' } },
        { name: 'crlf', hosts: ['crlf.test'], annotations: { [`${A}auth-url`]: 'http://auth.example/\r\nX-Injected: 1' } },
        { name: 'bad-headers', hosts: ['bad-headers.test'], annotations: { ...url, [`${A}auth-response-headers`]: 'X-User, X-Bad\r\nInjected: 1' } },
        { name: 'bad-variable', hosts: ['bad-variable.test'], annotations: { ...url, [`${A}auth-signin`]: 'http://$host/start?u=$cookie_session' } },
        { name: 'host-variable', hosts: ['host-variable.test'], annotations: { [`${A}auth-url`]: 'http://$host/oauth2/auth' } },
        { name: 'bad-method', hosts: ['bad-method.test'], annotations: { ...url, [`${A}auth-method`]: 'GET\r\nX: 1' } },
      ],
      ['echo', 'failing', 'authsvc'],
      { authTimeoutMs: 500 },
      {
        failing: (_request, response) => {
          response.statusCode = 503;
          response.end('down');
        },
        authsvc: (request, response) => {
          seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, bodyBytes: 0 });
          if (request.headers.authorization !== 'Bearer good') response.statusCode = 401;
          else response.setHeader('X-User', 'from-service');
          response.end();
        },
      },
    );
  });

  afterAll(async () => {
    await proxy.close();
    await auth.close();
  });

  const last = (): Seen => seen[seen.length - 1]!;

  it('sends the subrequest with the original headers, X-Original-URL/-Method, X-Auth-Request-Redirect, and never the body', async () => {
    const response = await proxy.fetch('auth.test', '/p?a=b', { method: 'POST', body: 'secret body', headers: { authorization: 'Bearer good', 'x-custom': 'kept', 'x-forwarded-for': '10.9.9.9' } });
    expect(response.status).toBe(200);
    const got = last();
    expect(got.method).toBe('GET');
    expect(got.url).toBe('/auth?check=1');
    expect(got.bodyBytes).toBe(0);
    expect(got.headers['content-length']).toBeUndefined();
    expect(got.headers['transfer-encoding']).toBeUndefined();
    expect(got.headers.host).toBe(`127.0.0.1:${auth.port}`);
    expect(got.headers.authorization).toBe('Bearer good');
    expect(got.headers['x-custom']).toBe('kept');
    expect(got.headers['x-original-url']).toBe('http://auth.test/p?a=b');
    expect(got.headers['x-original-method']).toBe('POST');
    expect(got.headers['x-sent-from']).toBe('nginx-ingress-controller');
    expect(got.headers['x-auth-request-redirect']).toBe('/p?a=b');
    expect(got.headers['x-real-ip']).toBe('127.0.0.1');
    // The client's own X-Forwarded-For is not trusted: the auth server gets the peer.
    expect(got.headers['x-forwarded-for']).toBe('127.0.0.1');
    // The endpoint got the body the auth server never saw.
    expect((JSON.parse(response.body) as Echo).bodyBytes).toBe('secret body'.length);
  });

  it('2xx: proxies with auth-response-headers copied (a spoofed one replaced, one the auth server did not send removed) and its cookie', async () => {
    const response = await proxy.fetch('auth.test', '/', { headers: { authorization: 'Bearer good', 'x-user': 'mallory', 'x-missing': 'spoofed' } });
    expect(response.status).toBe(200);
    const echo = JSON.parse(response.body) as Echo;
    expect(echo.headers['x-user']).toBe('alice');
    expect(echo.headers['x-missing']).toBeUndefined();
    expect(response.headers['set-cookie']).toEqual(['session=abc; Path=/']);
  });

  it('401 without auth-signin: 401 with the auth server WWW-Authenticate, the endpoint never reached', async () => {
    const before = proxy.backendRequests;
    const response = await proxy.fetch('auth.test', '/');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toBe('Bearer realm="test"');
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(proxy.backendRequests).toBe(before);
  });

  it('403 is 403; any other status (418) is 500', async () => {
    const before = proxy.backendRequests;
    expect((await proxy.fetch('auth.test', '/', { headers: { authorization: 'Bearer forbidden' } })).status).toBe(403);
    expect((await proxy.fetch('auth.test', '/', { headers: { authorization: 'Bearer teapot' } })).status).toBe(500);
    expect(proxy.backendRequests).toBe(before);
  });

  it('auth-signin: a 401 redirects (302) to the signin URL with rd=<scheme>://<host><escaped request URI>; signed in is 200', async () => {
    const response = await proxy.fetch('signin.test', '/?a=b&c=d');
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe(`http://signin.test/auth/start?rd=http://signin.test${encodeURIComponent('/?a=b&c=d')}`);
    // The signin location adds the auth cookie (nginx add_header applies to a 302).
    expect(response.headers['set-cookie']).toEqual(['tried=1']);
    expect((await proxy.fetch('signin.test', '/?a=b&c=d', { headers: { authorization: 'Bearer good' } })).status).toBe(200);
    expect((await proxy.fetch('orig.test', '/?a=b&c=d')).headers.location).toBe(`http://orig.test/auth/start?orig=http://orig.test${encodeURIComponent('/?a=b&c=d')}`);
  });

  it('auth-signin that sets the parameter itself keeps its query, with the variables filled in', async () => {
    const response = await proxy.fetch('own.test', "/x'(z)!?q=1");
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe(`https://login.example/start?rd=${'%2Fx%27%28z%29%21%3Fq%3D1'}&x=1`);
  });

  it('auth-method and auth-request-redirect: the subrequest uses the method, without a body, with X-Original-URI and X-Scheme', async () => {
    const response = await proxy.fetch('method.test', '/m?x=1', { headers: { authorization: 'Bearer good' } });
    expect(response.status).toBe(200);
    const got = last();
    expect(got.method).toBe('POST');
    expect(got.bodyBytes).toBe(0);
    expect(got.headers['content-length']).toBe('0');
    expect(got.headers['x-original-uri']).toBe('/m?x=1');
    expect(got.headers['x-scheme']).toBe('http');
    expect(got.headers['x-auth-request-redirect']).toBe('https://method.test/back');
  });

  it('the auth cookie goes on 2xx responses only, unless auth-always-set-cookie', async () => {
    const ok = await proxy.fetch('cookie.test', '/', { headers: { authorization: 'Bearer good' } });
    expect(ok.headers['set-cookie']).toEqual(['session=abc; Path=/']);
    const failed = await proxy.fetch('cookie.test', '/error', { headers: { authorization: 'Bearer good' } });
    expect(failed.status).toBe(503);
    expect(failed.headers['set-cookie']).toBeUndefined();
    const always = await proxy.fetch('always.test', '/error', { headers: { authorization: 'Bearer good' } });
    expect(always.status).toBe(503);
    expect(always.headers['set-cookie']).toEqual(['session=abc; Path=/']);
  });

  it('fails closed: an auth server that is down, or slower than the auth deadline, is 500 and the endpoint is never reached', async () => {
    const before = proxy.backendRequests;
    expect((await proxy.fetch('down.test', '/')).status).toBe(500);
    expect((await proxy.fetch('auth.test', '/', { headers: { authorization: 'Bearer slow' } })).status).toBe(500);
    expect(proxy.backendRequests).toBe(before);
  });

  it('a client that leaves while its request waits for the auth server: the subrequest is abandoned (before the auth server would have answered), the proxy serves on', async () => {
    // The default 5 s deadline outlasts the slow answer (3 s): only the client leaving can cut the subrequest short.
    const patient = await AnnotatedProxy.start([{ name: 'patient', hosts: ['patient.test'], annotations: { [`${A}auth-url`]: authUrl } }]);
    try {
      const before = abandoned.count;
      const socket = connect(patient.proxy.port, LOOPBACK);
      await new Promise<void>((resolve) => socket.on('connect', resolve));
      const waiting = seen.length;
      socket.write('GET / HTTP/1.1\r\nHost: patient.test\r\nAuthorization: Bearer slow\r\n\r\n');
      for (let i = 0; i < 200 && seen.length === waiting; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      socket.destroy();
      for (let i = 0; i < 250 && abandoned.count === before; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(abandoned.count).toBe(before + 1);
      expect((await patient.fetch('patient.test', '/', { headers: { authorization: 'Bearer good' } })).status).toBe(200);
    } finally {
      await patient.close();
    }
  });

  it('keeps the connection: a denied and an allowed request on one keep-alive connection are answered in order', async () => {
    const agent = keepAliveAgent();
    try {
      const denied = await fetchVia(proxy.proxy.port, { host: 'auth.test', path: '/one', agent });
      const allowed = await fetchVia(proxy.proxy.port, { host: 'auth.test', path: '/two', agent, headers: { authorization: 'Bearer good' } });
      expect([denied.status, allowed.status]).toEqual([401, 200]);
      expect((JSON.parse(allowed.body) as Echo).url).toBe('/two');
    } finally {
      agent.destroy();
    }
  });

  it('a Service host (<svc>.<ns>.svc.cluster.local) goes to that Service endpoints from the model', async () => {
    const response = await proxy.fetch('service.test', '/', { headers: { authorization: 'Bearer good' } });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.body) as Echo).headers['x-user']).toBe('from-service');
    expect(last().headers.host).toBe('authsvc.web.svc.cluster.local');
    expect((await proxy.fetch('service.test', '/')).status).toBe(401);
  });

  it('a Service that does not exist: Error condition naming auth-url, and 500 (never served open)', async () => {
    expect(proxy.conditionsOf('no-service')).toContainEqual(['InvalidAnnotation', 'Error', `metadata.annotations['${A}auth-url']`]);
    expect((await proxy.fetch('no-service.test', '/')).status).toBe(500);
  });

  it('hostile values refuse the Ingress (503) with an Error condition naming the annotation: bad host, CR/LF, bad header names, unknown variables, a variable host, a bad method', async () => {
    const cases: [string, string][] = [
      ['bad-host', 'auth-url'],
      ['crlf', 'auth-url'],
      ['bad-headers', 'auth-response-headers'],
      ['bad-variable', 'auth-signin'],
      ['host-variable', 'auth-url'],
      ['bad-method', 'auth-method'],
    ];
    const before = proxy.backendRequests;
    const seenBefore = seen.length;
    for (const [name, annotation] of cases) {
      expect(proxy.conditionsOf(name), name).toContainEqual(['InvalidAnnotation', 'Error', `metadata.annotations['${A}${annotation}']`]);
      expect((await proxy.fetch(`${name}.test`, '/', { headers: { authorization: 'Bearer good' } })).status, name).toBe(503);
    }
    expect(proxy.backendRequests).toBe(before);
    expect(seen.length).toBe(seenBefore);
    const message = proxy.conditions.find((condition) => condition.source.name === 'bad-host')?.message ?? '';
    expect(message).toContain('invalid host');
  });

  it('explain says what the route does', () => {
    const result = proxy.explainer.explain({ host: 'auth.test', path: '/' });
    expect(JSON.stringify(result)).toContain('external authentication');
  });
});

describe('auth-url and the endpoint address policy', () => {
  it('an auth URL on loopback is refused unless loopback is allowed: 500, the auth server never asked', async () => {
    const seen: Seen[] = [];
    const auth = await startBackend(authHandler(seen));
    const proxy = await AnnotatedProxy.start([{ name: 'loop', hosts: ['loop.test'], annotations: { [`${A}auth-url`]: `http://127.0.0.1:${auth.port}/auth` } }], ['echo'], { endpointAddresses: { allowLoopback: false } });
    try {
      expect((await proxy.fetch('loop.test', '/', { headers: { authorization: 'Bearer good' } })).status).toBe(500);
      expect(seen).toHaveLength(0);
    } finally {
      await proxy.close();
      await auth.close();
    }
  });
});

describe('auth-url over HTTP/2 (the request seam holds the stream the same way)', () => {
  it('401 without credentials, 200 with the auth server headers and cookie otherwise; the body reaches only the endpoint', async () => {
    const seen: Seen[] = [];
    const auth = await startBackend(authHandler(seen));
    const received: { user: string | undefined; body: string }[] = [];
    const backend = await startBackend((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ user: request.headers['x-user'] as string | undefined, body });
        response.end('ok');
      });
    });
    const compiled = compileManifests(appManifests(backend.port, [annotatedIngress('h2', 'h2.test', { [`${A}auth-url`]: `http://127.0.0.1:${auth.port}/auth`, [`${A}auth-response-headers`]: 'X-User' })]));
    const plane = await startH2DataPlane(compiled.snapshot);
    const session = await h2Session(plane);
    try {
      expect((await h2Request(session, { ':path': '/', ':authority': 'h2.test' })).status).toBe(401);
      const allowed = await h2Request(session, { ':method': 'POST', ':path': '/', ':authority': 'h2.test', authorization: 'Bearer good' }, 'payload');
      expect(allowed.status).toBe(200);
      expect(allowed.headers['set-cookie']).toEqual(['session=abc; Path=/']);
      expect(received).toEqual([{ user: 'alice', body: 'payload' }]);
      expect(seen.map((s) => s.bodyBytes)).toEqual([0, 0]);
    } finally {
      session.close();
      await plane.close();
      await backend.close();
      await auth.close();
    }
  });
});
