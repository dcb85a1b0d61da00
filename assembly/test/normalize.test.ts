import { describe, expect, it } from 'vitest';
import type { PathNormalization } from '../src/host/normalize.ts';
import { normalizePath } from '../src/host/normalize.ts';

const cases: readonly { name: string; target: string; want: string; options?: PathNormalization }[] = [
  { name: 'a plain path is returned as is', target: '/public/index.html?a=1', want: '/public/index.html?a=1' },
  { name: 'dot-dot climbs out of /public (RFC 3986 5.2.4)', target: '/public/../internal', want: '/internal' },
  { name: 'encoded dots are unreserved: decoded, then removed', target: '/public/%2e%2e/internal', want: '/internal' },
  { name: 'mixed-case encoded dots', target: '/public/%2E./internal', want: '/internal' },
  { name: 'single dot segments vanish', target: '/a/./b/.', want: '/a/b/' },
  { name: 'dot-dot at the end keeps a trailing slash', target: '/a/b/..', want: '/a/' },
  { name: 'climbing above the root stays at the root', target: '/../../etc/passwd', want: '/etc/passwd' },
  { name: 'dots inside an element are not segments', target: '/a/..b/c.', want: '/a/..b/c.' },
  { name: 'unreserved escapes are decoded', target: '/fo%6F/%7Euser', want: '/foo/~user' },
  { name: 'reserved escapes are kept, hex upper-cased', target: '/a%3fb/%c3%a9', want: '/a%3Fb/%C3%A9' },
  { name: 'the query is never touched', target: '/a/../b?x=/../%2e', want: '/b?x=/../%2e' },
  { name: 'slashes are merged by default', target: '//a///b', want: '/a/b' },
  { name: 'merged before dot removal, as nginx', target: '/a//../b', want: '/b' },
  { name: 'merge off keeps empty elements', target: '//a///b', want: '//a///b', options: { mergeSlashes: false } },
  { name: 'an escaped slash hiding a traversal is refused', target: '/public/..%2finternal', want: 'escaped-traversal' },
  { name: 'an escaped backslash hiding a traversal is refused', target: '/public/..%5Cinternal', want: 'escaped-traversal' },
  { name: 'a raw backslash hiding a traversal is refused', target: '/public/..\\internal', want: 'escaped-traversal' },
  { name: 'encoded dots and an escaped slash are refused', target: '/public/%2e%2e%2finternal', want: 'escaped-traversal' },
  { name: 'an escaped slash in a name is kept (npm scopes)', target: '/@scope%2fname', want: '/@scope%2Fname' },
  { name: 'reject refuses any escaped slash', target: '/@scope%2fname', want: 'escaped-slash', options: { escapedSlashes: 'reject' } },
  { name: 'decode turns %2F into a slash before dot removal (nginx $uri)', target: '/public/..%2finternal', want: '/internal', options: { escapedSlashes: 'decode' } },
  { name: 'keep forwards it unchanged (Envoy default)', target: '/public/..%2finternal', want: '/public/..%2Finternal', options: { escapedSlashes: 'keep' } },
  { name: 'a bad escape is refused', target: '/a%zz', want: 'bad-escape' },
  { name: 'a truncated escape is refused', target: '/a%2', want: 'bad-escape' },
  { name: 'asterisk-form is left alone', target: '*', want: '*' },
];

describe('normalizePath', () => {
  for (const { name, target, want, options } of cases) {
    it(name, () => expect(normalizePath(target, options)).toBe(want));
  }

  it('returns the same string object when nothing changes (no allocation on the common path)', () => {
    const target = '/a/b/c.html?x';
    expect(normalizePath(target)).toBe(target);
  });

  it('is idempotent over every case it accepts', () => {
    for (const { target, options } of cases) {
      const once = normalizePath(target, options);
      if (once.startsWith('/')) expect(normalizePath(once, options)).toBe(once);
    }
  });
});
