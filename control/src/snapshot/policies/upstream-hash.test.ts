import { describe, expect, it } from 'vitest';
import { compileTemplate, hashKey, MAX_KEY } from './upstream-hash.ts';
import { sameSiteNoneCompatible } from './affinity.ts';
import { cookieValue } from './cookie.ts';
import type { RequestFacts } from './module.ts';

const facts = (target: string, headers: Record<string, string> = {}): RequestFacts => ({
  scheme: 'http',
  host: 'Example.test:8080',
  path: target,
  target,
  method: 'GET',
  client: '192.0.2.7',
  header: (name) => headers[name],
});

const keyOf = (template: string, request: RequestFacts): string => {
  const parts = compileTemplate(template);
  if ('problem' in parts) throw new Error(parts.problem);
  return parts.map((part) => (typeof part === 'string' ? part : part(request))).join('');
};

describe('upstream-hash-by templates', () => {
  it.each([
    ['$request_uri', '/a?b=1', {}, '/a?b=1'],
    ['$uri', '/a?b=1', {}, '/a'],
    ['$args', '/a?b=1&c=2', {}, 'b=1&c=2'],
    ['${arg_b}-text', '/a?c=2&b=1', {}, '1-text'],
    ['$arg_missing', '/a?b=1', {}, ''],
    ['$http_x_user', '/', { 'x-user': 'ann' }, 'ann'],
    ['$cookie_sid', '/', { cookie: 'a=1; SID=z9' }, 'z9'],
    ['$host$remote_addr', '/', {}, 'example.test192.0.2.7'],
  ])('%s of %s', (template, target, headers, want) => {
    expect(keyOf(template, facts(target, headers))).toBe(want);
  });

  it.each([['$upstream_addr'], ['plain text'], ['$'.repeat(600)]])('refuses %s', (template) => {
    expect('problem' in compileTemplate(template)).toBe(true);
  });

  it('hashes at most MAX_KEY characters, but the length too', () => {
    const long = 'k'.repeat(MAX_KEY);
    expect(hashKey(`${long}a`)).not.toBe(hashKey(long));
    expect(hashKey(`${long}a`)).toBe(hashKey(`${long}b`));
    expect(hashKey('a')).not.toBe(hashKey('b'));
  });
});

describe('cookies and SameSite', () => {
  it.each([
    ['a=1; b=2', 'b', '2'],
    ['a=1;B=2 ', 'b', '2'],
    ['a=1', 'b', undefined],
    ['ab=1; b=3', 'b', '3'],
    ['b', 'b', undefined],
  ])('%s: cookie %s is %s', (header, name, want) => {
    expect(cookieValue(header, name)).toBe(want);
  });

  it.each([
    [undefined, true],
    ['Mozilla/5.0 Chrome/58.0 Safari/537', false],
    ['Mozilla/5.0 Chrome/120.0 Safari/537', true],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit Version/12 Safari/605', false],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_6) Safari/605', true],
  ])('%s: SameSite=None compatible %s', (agent, want) => {
    expect(sameSiteNoneCompatible(agent)).toBe(want);
  });
});
