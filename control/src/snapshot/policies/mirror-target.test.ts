import { describe, expect, it } from 'vitest';
import type { PolicyCondition, RequestFacts } from './module.ts';
import { mirrorRequestTarget, parseMirrorTarget } from './mirror-target.ts';
import type { MirrorTargetData } from './mirror-target.ts';
import { readPolicies } from './registry.ts';

const source = { kind: 'Ingress', namespace: 'web', name: 'shadow' };
const A = 'nginx.ingress.kubernetes.io/';

function read(annotations: Record<string, string>): { data: MirrorTargetData | undefined; conditions: PolicyCondition[]; refusals: readonly string[] } {
  const conditions: PolicyCondition[] = [];
  const reading = readPolicies(annotations, source, (c) => conditions.push(c));
  return { data: reading.policies?.mirrorTarget, conditions, refusals: reading.refusals };
}

function facts(target: string, host = 'app.example:8080'): RequestFacts {
  return { scheme: 'https', host, path: target, target, method: 'POST', client: '192.0.2.7', header: () => undefined };
}

describe('mirror-target parsing (ingress-nginx internal/ingress/annotations/mirror, its main_test.go cases)', () => {
  it.each([
    // main_test.go's URLs: the host is taken before the first `$`.
    ['https://test.env.com$request_uri', { scheme: 'https', host: 'test.env.com', port: 443, path: '$request_uri', appendQuery: false, service: null }],
    ['https://test.env.com/$request_uri', { scheme: 'https', host: 'test.env.com', port: 443, path: '/$request_uri', appendQuery: false, service: null }],
    ['https://test.env.com:8080$request_uri', { scheme: 'https', host: 'test.env.com', port: 8080, path: '$request_uri', appendQuery: false, service: null }],
    ['http://localhost/mirror', { scheme: 'http', host: 'localhost', port: 80, path: '/mirror', appendQuery: true, service: null }],
    ['HTTP://Shadow.Web.svc.cluster.local:8080/copy?from=edge', { scheme: 'http', host: 'shadow.web.svc.cluster.local', port: 8080, path: '/copy?from=edge', appendQuery: true, service: { name: 'shadow', namespace: 'web', port: 8080 } }],
    ['http://shadow.web.svc$request_uri', { scheme: 'http', host: 'shadow.web.svc', port: 80, path: '$request_uri', appendQuery: false, service: { name: 'shadow', namespace: 'web', port: 80 } }],
    ['http://[::1]:9000/m', { scheme: 'http', host: '::1', port: 9000, path: '/m', appendQuery: true, service: null }],
  ])('%s', (url, expected) => {
    expect(parseMirrorTarget(url)).toEqual({ url, ...expected });
  });

  it.each([
    ['IamNotAURL', 'must be an absolute URL'],
    ['ftp://files.example/x', 'scheme "ftp"'],
    ['grpc://svc.example/x', 'scheme "grpc"'],
    ['http://some.test.env.com/$someparam', 'uses the nginx variable $someparam'],
    ['http://some.test.env.com:2121/$someparam=1&$someotherparam=2', 'uses the nginx variable $someparam'],
    ['http://m.example$uri', 'uses the nginx variable $uri'],
    ['http://m.example', 'has no path'],
    ['http://m.example:99999/x', 'invalid port'],
    ['http://user:pw@m.example/x', 'credentials'],
    ['http://invalid..host/x', 'invalid host'],
    ['http://m.example/x#frag', 'fragment'],
    ['http://m.example?x=1', 'must continue after the host'],
    ['http://m.example$escaped_request_uri', 'must continue after the host'],
    ['http://m.example/a b', 'visible ASCII'],
    ['http://m.example/a\r\nX-Injected: 1', 'visible ASCII'],
    [`http://m.example/${'a'.repeat(2050)}`, 'at most 2048'],
  ])('refuses %j: %s', (url, reason) => {
    const parsed = parseMirrorTarget(url);
    expect(typeof parsed).toBe('string');
    expect(parsed).toContain(reason);
  });
});

describe('mirror-* annotations read into a route policy', () => {
  it('defaults: the body is mirrored, Host is the target host without port', () => {
    const { data, conditions } = read({ [`${A}mirror-target`]: 'https://test.env.com:8443$request_uri' });
    expect(conditions).toEqual([]);
    expect(data).toMatchObject({ hostHeader: 'test.env.com', requestBody: true, endpointSet: null });
  });

  it('mirror-host and mirror-request-body: off', () => {
    const { data, conditions } = read({ [`${A}mirror-target`]: 'https://1.2.3.4$request_uri', [`${A}mirror-host`]: 'test.env.com', [`${A}mirror-request-body`]: 'off' });
    expect(conditions).toEqual([]);
    expect(data).toMatchObject({ host: '1.2.3.4', hostHeader: 'test.env.com', requestBody: false });
  });

  it.each([
    // main_test.go's odd hosts are taken by ingress-nginx as written; Portico keeps the default Host with a Warning.
    ['mirror-host', "someInvalidParm.%^&*()_=!@#'\"", 'not a host name'],
    ['mirror-host', '_sbrubles-i"@xpto:12345', 'not a host name'],
    ['mirror-host', '$host', 'not a host name'],
    ['mirror-request-body', 'false', 'expected "on" or "off"'],
  ])('%s: %j is a Warning and the default applies', (name, value, reason) => {
    const { data, conditions, refusals } = read({ [`${A}mirror-target`]: 'http://m.example/copy', [`${A}${name}`]: value });
    expect(refusals).toEqual([]);
    expect(data).toMatchObject({ hostHeader: 'm.example', requestBody: true });
    expect(conditions.map((c) => [c.severity, c.field])).toEqual([['Warning', `metadata.annotations['${A}${name}']`]]);
    expect(conditions[0]!.message).toContain(reason);
  });

  it('a bad mirror-target is a Warning naming it; the Ingress is served without mirroring (not refused)', () => {
    const { data, conditions, refusals } = read({ [`${A}mirror-target`]: 'ftp://m.example/x', [`${A}mirror-request-body`]: 'off' });
    expect(data).toBeUndefined();
    expect(refusals).toEqual([]);
    expect(conditions.map((c) => [c.reason, c.severity, c.field])).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}mirror-target']`]]);
    expect(conditions[0]!.message).toContain('requests are not mirrored');
  });

  it('mirror-host and mirror-request-body without mirror-target: a Warning each', () => {
    const { data, conditions } = read({ [`${A}mirror-host`]: 'a.example', [`${A}mirror-request-body`]: 'off' });
    expect(data).toBeUndefined();
    expect(conditions.map((c) => c.message)).toEqual(['has no effect without mirror-target', 'has no effect without mirror-target']);
  });
});

describe('the copy request-target (nginx proxy_pass in the mirror location)', () => {
  const base = { url: '', scheme: 'http', host: 'm', port: 80, hostHeader: 'm', requestBody: true, service: null, endpointSet: null } as const;
  it.each([
    ['$request_uri', false, '/a/b?x=1', '/a/b?x=1'],
    ['/$request_uri', false, '/a/b?x=1', '//a/b?x=1'],
    ['/shadow$request_uri', false, '/a?x=1', '/shadow/a?x=1'],
    ['/m?host=$host&m=$request_method', false, '/a', '/m?host=app.example&m=POST'],
    ['/mirror', true, '/a/b?x=1', '/mirror?x=1'],
    ['/mirror', true, '/a/b?', '/mirror'],
    ['/mirror', true, '/a/b', '/mirror'],
    ['/m?from=edge', true, '/a?x=1', '/m?from=edge?x=1'],
  ])('%s (query appended: %s) for %s is %s', (path, appendQuery, received, expected) => {
    expect(mirrorRequestTarget({ ...base, path, appendQuery }, facts(received))).toBe(expected);
  });
});
