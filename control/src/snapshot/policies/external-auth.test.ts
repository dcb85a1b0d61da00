/** The pure parts of auth-url: parsing the URL, the signin URL, the subrequest's headers and what its answer means. */
import { describe, expect, it } from 'vitest';
import { parseAuthUrl } from './auth-url.ts';
import type { AuthResponse, ExternalAuthData } from './external-auth.ts';
import { authRequestHeaders, decideAuth, fillVariables, signinTemplate } from './external-auth.ts';
import type { RequestFacts } from './module.ts';

const facts: RequestFacts = { scheme: 'https', host: 'App.Example.com:8443', path: '/a', target: '/a?x=1&y=2', method: 'PUT', client: '192.0.2.7', header: () => undefined };
const auth: ExternalAuthData = { url: 'http://auth/', scheme: 'http', host: 'auth', port: 80, hostHeader: 'auth', path: '/', method: null, signin: null, responseHeaders: ['X-User'], requestRedirect: null, alwaysSetCookie: false, service: null, endpointSet: null, endpoints: null };
const answer = (status: number, headers: Record<string, string> = {}, cookies: string[] = []): AuthResponse => ({ status, cookies, header: (name) => headers[name] });

describe('parseAuthUrl', () => {
  it.each([
    ['http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth', { host: 'oauth2-proxy.auth.svc.cluster.local', port: 80, path: '/oauth2/auth', hostHeader: 'oauth2-proxy.auth.svc.cluster.local', service: { name: 'oauth2-proxy', namespace: 'auth', port: 80 } }],
    ['https://Auth.Example.com:8443', { scheme: 'https', host: 'auth.example.com', port: 8443, path: '/', hostHeader: 'auth.example.com:8443', service: undefined }],
    ['http://[::1]:9000/x?rd=$escaped_request_uri', { host: '::1', port: 9000, hostHeader: '[::1]:9000', path: '/x?rd=$escaped_request_uri' }],
    ['http://svc.ns.svc/check', { service: { name: 'svc', namespace: 'ns', port: 80 } }],
  ])('%s', (url, expected) => {
    expect(parseAuthUrl(url)).toMatchObject(expected);
  });

  it.each([
    ['https://invalid..auth.url', 'invalid host'],
    ['ftp://auth/x', 'absolute http or https URL'],
    ['http://user:pw@auth/x', 'credentials'],
    ['http://$host/oauth2/auth', 'variable in its host'],
    ['http://auth/x?u=$cookie_a', '$cookie_a'],
    ['http://auth/x y', 'visible ASCII'],
    ['http://auth:99999/', 'invalid port'],
    ['/relative', 'absolute'],
  ])('refuses %s', (url, reason) => {
    expect(parseAuthUrl(url)).toContain(reason);
  });
});

describe('signin and variables', () => {
  it('appends the redirect parameter as ingress-nginx buildAuthSignURL does', () => {
    expect(signinTemplate('http://$host/start', 'rd')).toBe('http://$host/start?rd=$pass_access_scheme://$http_host$escaped_request_uri');
    expect(signinTemplate('http://x/start?a=1', 'rd')).toBe('http://x/start?a=1&rd=$pass_access_scheme://$http_host$escaped_request_uri');
    expect(signinTemplate('http://x/start?rd=/home', 'rd')).toBe('http://x/start?rd=/home');
  });

  it('fills $host (no port, lower case), $http_host (as sent), $escaped_request_uri', () => {
    expect(fillVariables('$scheme://$host|$http_host|$escaped_request_uri|$request_method', facts)).toBe('https://app.example.com|App.Example.com:8443|%2Fa%3Fx%3D1%26y%3D2|PUT');
  });
});

describe('the subrequest', () => {
  it('keeps end-to-end headers, drops hop-by-hop, body framing and spoofed X-Original-*, and sets what nginx.tmpl sets', () => {
    const headers = authRequestHeaders({ auth, facts }, [
      ['Cookie', 'a=1'],
      ['Content-Length', '5'],
      ['Transfer-Encoding', 'chunked'],
      ['Connection', 'keep-alive'],
      ['X-Original-URL', 'http://evil/'],
      ['X-Forwarded-For', '6.6.6.6'],
      ['Host', 'App.Example.com:8443'],
    ]);
    expect(headers).toEqual([
      ['Cookie', 'a=1'],
      ['Host', 'auth'],
      ['X-Original-URL', 'https://App.Example.com:8443/a?x=1&y=2'],
      ['X-Original-Method', 'PUT'],
      ['X-Sent-From', 'nginx-ingress-controller'],
      ['X-Real-IP', '192.0.2.7'],
      ['X-Forwarded-For', '192.0.2.7'],
      ['X-Auth-Request-Redirect', '/a?x=1&y=2'],
    ]);
  });
});

describe('decideAuth (nginx auth_request)', () => {
  it.each([
    ['no answer', undefined, 500],
    ['302 from the auth server', answer(302, { location: '/login' }), 500],
    ['500', answer(500), 500],
    ['404', answer(404), 500],
    ['403', answer(403), 403],
    ['401', answer(401), 401],
  ])('%s -> %s', (_name, response, status) => {
    const verdict = decideAuth({ auth, facts }, response);
    expect(verdict.allow).toBe(false);
    if (!verdict.allow) expect(verdict.answer.status).toBe(status);
  });

  it('2xx allows, copying the listed headers and dropping the ones not sent', () => {
    expect(decideAuth({ auth: { ...auth, responseHeaders: ['X-User', 'X-Email'] }, facts }, answer(204, { 'x-user': 'alice' }, ['s=1']))).toEqual({ allow: true, setHeaders: [['X-User', 'alice']], dropHeaders: ['X-Email'], cookies: ['s=1'], cookiesAlways: false });
  });

  it('401 with signin is a 302 to it, with the auth cookie; 403 carries the cookie only with always', () => {
    const signin = signinTemplate('https://login/start', 'rd');
    expect(decideAuth({ auth: { ...auth, signin }, facts }, answer(401, {}, ['t=1']))).toEqual({ allow: false, answer: { status: 302, headers: [['Location', 'https://login/start?rd=https://App.Example.com:8443%2Fa%3Fx%3D1%26y%3D2'], ['Set-Cookie', 't=1']] } });
    expect(decideAuth({ auth, facts }, answer(403, {}, ['t=1']))).toEqual({ allow: false, answer: { status: 403, headers: [] } });
    expect(decideAuth({ auth: { ...auth, alwaysSetCookie: true }, facts }, answer(403, {}, ['t=1']))).toEqual({ allow: false, answer: { status: 403, headers: [['Set-Cookie', 't=1']] } });
  });
});
