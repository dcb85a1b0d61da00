import { describe, expect, it } from 'vitest';
import type { AnnotationWarning } from './cors.ts';
import { CorsResponder, DEFAULT_CORS_HEADERS, DEFAULT_CORS_MAX_AGE, DEFAULT_CORS_METHODS, readCors } from './cors.ts';

function read(annotations: Record<string, string>) {
  const warnings: AnnotationWarning[] = [];
  return { policy: readCors(annotations, warnings), warnings };
}

describe('readCors', () => {
  it('is off unless enable-cors is true', () => {
    expect(read({ 'cors-allow-origin': 'https://a.test' }).policy).toBeUndefined();
    expect(read({ 'enable-cors': 'false' }).policy).toBeUndefined();
    expect(read({ 'enable-cors': 'yes' }).warnings.map((w) => w.annotation)).toEqual(['enable-cors']);
  });

  it('has ingress-nginx defaults', () => {
    expect(read({ 'enable-cors': 'true' })).toEqual({
      policy: { allowOrigins: ['*'], allowMethods: DEFAULT_CORS_METHODS, allowHeaders: DEFAULT_CORS_HEADERS, exposeHeaders: '', allowCredentials: true, maxAge: DEFAULT_CORS_MAX_AGE },
      warnings: [],
    });
  });

  it('reads every cors-* annotation', () => {
    const { policy, warnings } = read({
      'enable-cors': 'true',
      'cors-allow-origin': 'https://origin-site.com:4443, http://origin-site.com, https://*.example.org',
      'cors-allow-methods': 'PUT, GET',
      'cors-allow-headers': 'X-Forwarded-For, X-app123-XPTO',
      'cors-expose-headers': '*, X-CustomResponseHeader',
      'cors-allow-credentials': 'false',
      'cors-max-age': '86400',
    });
    expect(warnings).toEqual([]);
    expect(policy).toEqual({
      allowOrigins: ['https://origin-site.com:4443', 'http://origin-site.com', 'https://*.example.org'],
      allowMethods: 'PUT, GET',
      allowHeaders: 'X-Forwarded-For, X-app123-XPTO',
      exposeHeaders: '*, X-CustomResponseHeader',
      allowCredentials: false,
      maxAge: 86400,
    });
  });

  it('warns about each bad value, keeps the default, and leaves bad origins out', () => {
    const { policy, warnings } = read({
      'enable-cors': 'true',
      'cors-allow-origin': 'https://ok.test, https://$upstream_addr, evil.test',
      'cors-allow-methods': 'GET; rm -rf',
      'cors-allow-headers': 'X-A\r\nSet-Cookie: x',
      'cors-max-age': '-1',
    });
    expect(policy?.allowOrigins).toEqual(['https://ok.test']);
    expect(policy?.allowMethods).toBe(DEFAULT_CORS_METHODS);
    expect(policy?.allowHeaders).toBe(DEFAULT_CORS_HEADERS);
    expect(policy?.maxAge).toBe(DEFAULT_CORS_MAX_AGE);
    expect(warnings.map((w) => w.annotation)).toEqual(['cors-allow-origin', 'cors-allow-origin', 'cors-max-age', 'cors-allow-methods', 'cors-allow-headers']);
  });

  it('"*" anywhere in the list allows every origin', () => {
    expect(read({ 'enable-cors': 'true', 'cors-allow-origin': 'https://a.test, *' }).policy?.allowOrigins).toEqual(['*']);
  });
});

describe('CorsResponder', () => {
  const policy = read({ 'enable-cors': 'true', 'cors-allow-origin': 'https://app.test, http://*.foo.test:8080', 'cors-expose-headers': 'X-Id', 'cors-max-age': '60' }).policy!;
  const cors = new CorsResponder(policy);

  it.each([
    ['https://app.test', true],
    ['HTTPS://APP.TEST', true],
    ['http://app.test', false],
    ['https://app.test:443', false],
    ['https://evil-https://app.test', false],
    ['http://a.foo.test:8080', true],
    ['http://a.b.foo.test:8080', false],
    ['http://.foo.test:8080', false],
    ['http://a.foo.test', false],
    ['null', false],
  ])('%s allowed: %s', (origin, allowed) => {
    expect(cors.allows(origin)).toBe(allowed);
    expect(cors.decide('GET', origin) !== undefined).toBe(allowed);
  });

  it('answers the preflight of an allowed origin with the configured headers', () => {
    expect(cors.decide('OPTIONS', 'https://app.test')).toEqual({
      preflight: true,
      headers: [
        ['access-control-allow-origin', 'https://app.test'],
        ['access-control-allow-credentials', 'true'],
        ['access-control-allow-methods', DEFAULT_CORS_METHODS],
        ['access-control-allow-headers', DEFAULT_CORS_HEADERS],
        ['access-control-expose-headers', 'X-Id'],
        ['access-control-max-age', '60'],
        ['content-type', 'text/plain charset=UTF-8'],
      ],
    });
  });

  it('does nothing for a disallowed or missing origin, preflight included', () => {
    expect(cors.decide('OPTIONS', 'https://evil.test')).toBeUndefined();
    expect(cors.decide('OPTIONS', undefined)).toBeUndefined();
  });

  it('with "*" sends "*" whatever the origin, and no credentials header when they are off', () => {
    const any = new CorsResponder(read({ 'enable-cors': 'true', 'cors-allow-credentials': 'false' }).policy!);
    expect(any.decide('GET', undefined)).toEqual({
      preflight: false,
      headers: [
        ['access-control-allow-origin', '*'],
        ['access-control-allow-methods', DEFAULT_CORS_METHODS],
        ['access-control-allow-headers', DEFAULT_CORS_HEADERS],
        ['access-control-max-age', String(DEFAULT_CORS_MAX_AGE)],
      ],
    });
  });
});
