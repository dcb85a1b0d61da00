/** The pure parts of auth-cache-key / auth-cache-duration: parsing, filling a key in, how long an answer is kept. */
import { describe, expect, it } from 'vitest';
import type { CacheableAnswer, HeaderLine } from './auth-cache.ts';
import { cacheLifetimeMs, fillCacheKey, parseCacheDuration, parseCacheKey, prepareAuthCache } from './auth-cache.ts';
import { fillVariables } from './external-auth.ts';
import type { RequestFacts } from './module.ts';

const facts: RequestFacts = { scheme: 'https', host: 'App.test:8443', path: '/a', target: '/a?x=1', method: 'GET', client: '192.0.2.7', header: () => undefined };
const answer = (status: number, headers: Record<string, string> = {}, cookies: string[] = []): CacheableAnswer => ({ status, cookies, header: (name) => headers[name] });

describe('parseCacheDuration (nginx proxy_cache_valid, one per comma-separated entry)', () => {
  it.each([
    ['200 202 401 5m', [{ codes: [200, 202, 401], seconds: 300 }]],
    ['5m', [{ codes: [200, 301, 302], seconds: 300 }]],
    ['200 1s, any 2h', [{ codes: [200], seconds: 1 }, { codes: null, seconds: 7200 }]],
    ['401  30s ,200 1d', [{ codes: [401], seconds: 30 }, { codes: [200], seconds: 86400 }]],
    ['200 0s', [{ codes: [200], seconds: 0 }]],
    ['200 1y', [{ codes: [200], seconds: 365 * 86400 }]],
    ['200 1M', [{ codes: [200], seconds: 30 * 86400 }]],
  ])('%s', (text, rules) => {
    expect(parseCacheDuration(text)).toEqual(rules);
  });

  it.each([
    ['5x', 'not a time'],
    ['abc', 'not a time'],
    ['200 99999999999d', 'longer than one year'],
    ['200 2y', 'longer than one year'],
    ['99 5m', 'not a status code'],
    ['600 5m', 'not a status code'],
    ['200 1h 30m', '"1h" is not a status code'],
    ['200 1h30m', 'not a time'],
    ['200 500ms', 'whole seconds'],
    ['200 60', 'no unit'],
    ['200', 'no unit'],
    ['200 5m;', 'may hold only'],
    ['200\t5m', 'may hold only'],
    [' , ', 'is empty'],
    [Array.from({ length: 17 }, () => '200 1s').join(','), 'more than 16'],
  ])('refuses %s', (text, reason) => {
    expect(parseCacheDuration(text)).toContain(reason);
  });
});

describe('parseCacheKey (ingress-nginx parser.NGINXVariable, variables Portico fills in)', () => {
  it('splits literals, request variables, headers and cookies; ${name} is $name', () => {
    expect(parseCacheKey('u-$remote_user${http_x_api_key}$cookie__oauth2_proxy$host')).toEqual([{ text: 'u-' }, { variable: '$remote_user' }, { header: 'x-api-key' }, { cookie: '_oauth2_proxy' }, { variable: '$host' }]);
  });

  it.each([
    ['$uri', '$uri'],
    ['$arg_token', '$arg_token'],
    ['$http_authorization;x', 'may hold only'],
    ['a b', 'may hold only'],
    ['a$', 'starts no variable'],
    ['${http_authorization', 'starts no variable'],
    ['x'.repeat(1025), 'longer than 1024'],
  ])('refuses %s', (text, reason) => {
    expect(parseCacheKey(text)).toContain(reason);
  });
});

describe('fillCacheKey', () => {
  const prepared = (key: string) => prepareAuthCache({ key, rules: [{ codes: [200], seconds: 1 }], source: 'web/app' }, { path: '/', regex: false }, '{}');
  const lines =
    (headers: Record<string, string | null>): HeaderLine =>
    (name) =>
      headers[name];

  it('fills headers, cookies, $remote_user and request variables, each part delimited', () => {
    const key = fillCacheKey(prepared('$remote_user$http_authorization$cookie_s$host'), facts, fillVariables, lines({ authorization: `Basic ${Buffer.from('alice:pw').toString('base64')}`, cookie: 'a=1; s=tok; s=later' }));
    expect(key).toBe(`5:alice|18:Basic YWxpY2U6cHc=|3:tok|8:app.test|`);
    // Parts are delimited: moving a character between two parts changes the key.
    expect(fillCacheKey(prepared('$http_a$http_b'), facts, fillVariables, lines({ a: 'xy', b: 'z' }))).not.toBe(fillCacheKey(prepared('$http_a$http_b'), facts, fillVariables, lines({ a: 'x', b: 'yz' })));
  });

  it('is undefined (asked, not cached) for a repeated field, no credential at all, or a key over 8 KiB', () => {
    expect(fillCacheKey(prepared('$http_authorization'), facts, fillVariables, lines({ authorization: null }))).toBeUndefined();
    expect(fillCacheKey(prepared('$cookie_s'), facts, fillVariables, lines({ cookie: null }))).toBeUndefined();
    expect(fillCacheKey(prepared('$http_authorization$host'), facts, fillVariables, lines({}))).toBeUndefined();
    expect(fillCacheKey(prepared('$cookie_s'), facts, fillVariables, lines({ cookie: 'other=1' }))).toBeUndefined();
    expect(fillCacheKey(prepared('$http_authorization'), facts, fillVariables, lines({ authorization: 'x'.repeat(9000) }))).toBeUndefined();
    // A key without any credential part (a Warning at build) is cached as ingress-nginx does.
    expect(fillCacheKey(prepared('$host'), facts, fillVariables, lines({}))).toBe('8:app.test|');
  });
});

describe('cacheLifetimeMs (proxy_cache_valid and the answer own fields)', () => {
  const rules = [
    { codes: [200], seconds: 60 },
    { codes: [401], seconds: 0 },
    { codes: null, seconds: 5 },
  ];
  const now = Date.parse('2026-12-02T03:00:00Z');
  it.each([
    ['200 by its rule', answer(200), 60_000],
    ['first listing wins: 401 0s', answer(401), 0],
    ['any: 403', answer(403), 5000],
    ['Set-Cookie', answer(200, {}, ['a=1']), 0],
    ['Vary', answer(200, { vary: 'Cookie' }), 0],
    ['no-store', answer(200, { 'cache-control': 'No-Store' }), 0],
    ['private', answer(200, { 'cache-control': 'private, max-age=30' }), 0],
    ['max-age=0', answer(200, { 'cache-control': 'max-age=0' }), 0],
    ['max-age shorter', answer(200, { 'cache-control': 'max-age=10' }), 10_000],
    ['max-age longer never lengthens', answer(200, { 'cache-control': 'max-age=600' }), 60_000],
    ['s-maxage first', answer(200, { 'cache-control': 'max-age=50, s-maxage=20' }), 20_000],
    ['max-age not a number', answer(200, { 'cache-control': 'max-age=x' }), 0],
    ['X-Accel-Expires 0', answer(200, { 'x-accel-expires': '0' }), 0],
    ['X-Accel-Expires 7', answer(200, { 'x-accel-expires': '7' }), 7000],
    ['X-Accel-Expires garbage', answer(200, { 'x-accel-expires': 'soon' }), 0],
    ['Expires in the past', answer(200, { expires: 'Wed, 02 Dec 2026 02:00:00 GMT' }), 0],
    ['Expires unparsable', answer(200, { expires: 'tomorrow' }), 0],
    ['Expires sooner', answer(200, { expires: 'Wed, 02 Dec 2026 03:00:30 GMT' }), 30_000],
  ])('%s', (_name, response, ms) => {
    expect(cacheLifetimeMs(rules, response, now)).toBe(ms);
  });

  it('a status no rule lists is not kept', () => {
    expect(cacheLifetimeMs([{ codes: [200], seconds: 60 }], answer(202), now)).toBe(0);
  });
});
