/**
 * use-regex and rewrite-target through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/rewrite.go and the rewrite example of its docs: what the echo backend
 * receives, regex paths longest first, case-insensitive, one Ingress's regex making the whole
 * host's paths regexes, plus hostile patterns (refused, or linear on RE2).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';
const REGEX = { [`${A}use-regex`]: 'true' };

describe('rewrite-target and use-regex (ingress-nginx e2e: rewrite.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        // docs/examples/rewrite: /something(/|$)(.*) -> /$2
        { name: 'docs-example', hosts: ['rewrite.test'], annotations: { ...REGEX, [`${A}rewrite-target`]: '/$2' }, paths: [{ path: '/something(/|$)(.*)', pathType: 'ImplementationSpecific' }] },
        // "should use correct longest path match"
        { name: 'kube-lego', hosts: ['lego.test'], paths: [{ path: '/.well-known/acme/challenge', service: 'other' }] },
        { name: 'rewrite-index', hosts: ['lego.test'], annotations: { [`${A}rewrite-target`]: '/new/backend' } },
        // "should use ~* location modifier if regex annotation is present"
        { name: 'foo', hosts: ['modifier.test'], paths: [{ path: '/foo', service: 'other' }] },
        { name: 'foo-regex', hosts: ['modifier.test'], annotations: { ...REGEX, [`${A}rewrite-target`]: '/new/backend' }, paths: [{ path: '/foo.+', pathType: 'ImplementationSpecific' }] },
        // "should fail to use longest match for documented warning"
        { name: 'bar', hosts: ['warning.test'], paths: [{ path: '/foo/bar/bar', service: 'other' }] },
        { name: 'bar-regex', hosts: ['warning.test'], annotations: { ...REGEX, [`${A}rewrite-target`]: '/new/backend' }, paths: [{ path: '/foo/bar/[a-z]{3}', pathType: 'ImplementationSpecific' }] },
        // "should allow for custom rewrite parameters"
        { name: 'custom', hosts: ['custom.test'], annotations: { ...REGEX, [`${A}rewrite-target`]: '/new/backend/$1' }, paths: [{ path: '/foo/bar/(.+)', pathType: 'ImplementationSpecific' }] },
        // Hostile patterns on one host: a backreference and lookahead refused, a catastrophic-for-backtracking one served linearly.
        { name: 'hostile', hosts: ['hostile.test'], annotations: REGEX, paths: [{ path: '/(a)\\1', pathType: 'ImplementationSpecific' }, { path: '/x(?=y)', pathType: 'ImplementationSpecific' }, { path: '/(a+)+$', pathType: 'ImplementationSpecific' }, { path: '/ok', pathType: 'Prefix' }] },
        { name: 'missing-group', hosts: ['group.test'], annotations: { ...REGEX, [`${A}rewrite-target`]: '/in/$1/$3' }, paths: [{ path: '/g/(.*)', pathType: 'ImplementationSpecific' }] },
        { name: 'bad-target', hosts: ['bad-target.test'], annotations: { [`${A}rewrite-target`]: '/x;rm -rf' } },
        { name: 'plain', hosts: ['plain.test'], paths: [{ path: '/foo.+' }] },
      ],
      ['echo', 'other'],
    );
  });

  afterAll(() => proxy.close());

  it.each([
    ['/something', '/'],
    ['/something/', '/'],
    ['/something/new', '/new'],
    ['/SOMETHING/new?x=1&y=2', '/new?x=1&y=2'],
  ])('docs example: %s reaches the backend as %s (case-insensitive, query kept)', async (path, expected) => {
    expect((await proxy.echo('rewrite.test', path)).url).toBe(expected);
  });

  it('a path only the regex prefix matches is a 404 on a regex host without a default backend', async () => {
    expect((await proxy.fetch('rewrite.test', '/other')).status).toBe(404);
  });

  it('longest path first: the non-rewritten longer location wins over a rewritten "/"', async () => {
    const echo = await proxy.echo('lego.test', '/.well-known/acme/challenge');
    expect([echo.service, echo.url]).toEqual(['other', '/.well-known/acme/challenge']);
    const rewritten = await proxy.echo('lego.test', '/anything');
    expect([rewritten.service, rewritten.url]).toEqual(['echo', '/new/backend']);
  });

  it('a regex on one Ingress makes the host regex: /foo and /foo.+ each reach their own backend', async () => {
    const foo = await proxy.echo('modifier.test', '/foo');
    expect([foo.service, foo.url]).toEqual(['other', '/foo']);
    const bar = await proxy.echo('modifier.test', '/foo/bar');
    expect([bar.service, bar.url]).toEqual(['echo', '/new/backend']);
    // /foo became ~* "^/foo" too: a prefix regex, case-insensitive.
    const upper = await proxy.echo('modifier.test', '/FOO');
    expect(upper.service).toBe('other');
    const snapshotHost = proxy.snapshot.hosts.find((h) => h.host === 'modifier.test');
    expect(snapshotHost?.routes.map((r) => [r.path, r.regex])).toEqual([
      ['/foo.+', true],
      ['/foo', true],
    ]);
  });

  it('documented warning: the longer regex /foo/bar/[a-z]{3} wins over the plain /foo/bar/bar', async () => {
    const echo = await proxy.echo('warning.test', '/foo/bar/bar');
    expect([echo.service, echo.url]).toEqual(['echo', '/new/backend']);
  });

  it('custom rewrite parameters: /foo/bar/(.+) -> /new/backend/$1', async () => {
    expect((await proxy.echo('custom.test', '/foo/bar/bar')).url).toBe('/new/backend/bar');
    const explained = proxy.explainer.explain({ host: 'custom.test', path: '/foo/bar/baz?q' });
    expect([explained.status, explained.forwardedTarget]).toEqual([200, '/new/backend/baz?q']);
    expect(explained.policies).toEqual(["use-regex: this host's paths are case-insensitive regular expressions", 'rewrite-target: the path sent upstream becomes /new/backend/$1']);
  });

  it('hostile: backreference and lookahead paths are skipped with an InvalidPath Error; the rest of the host is served', async () => {
    const errors = proxy.conditions.filter((c) => c.source.name === 'hostile');
    expect(errors.map((c) => [c.reason, c.severity, c.field])).toEqual([
      ['InvalidPath', 'Error', 'spec.rules[0].http.paths[0].path'],
      ['InvalidPath', 'Error', 'spec.rules[0].http.paths[1].path'],
    ]);
    expect(errors[0]!.message).toMatch(/no backreferences or lookaround/);
    expect((await proxy.echo('hostile.test', '/ok/x')).url).toBe('/ok/x');
    expect((await proxy.fetch('hostile.test', '/xy')).status).toBe(404);
  });

  it('hostile: (a+)+$ against a long non-matching path is linear (RE2), and the proxy keeps answering', async () => {
    const path = `/${'a'.repeat(6000)}!`;
    const response = await proxy.fetch('hostile.test', path);
    expect(response.status).toBe(404);
    expect((await proxy.echo('hostile.test', `/${'a'.repeat(6000)}`)).url).toHaveLength(6001);
  });

  it('a $n beyond the path groups is empty (as in nginx), with a Warning naming rewrite-target', async () => {
    expect((await proxy.echo('group.test', '/g/v')).url).toBe('/in/v/');
    expect(proxy.conditionsOf('missing-group')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}rewrite-target']`]]);
  });

  it('a rewrite-target ingress-nginx would not accept is not applied (Warning), and does not make the host regex', async () => {
    expect((await proxy.echo('bad-target.test', '/p')).url).toBe('/p');
    expect(proxy.conditionsOf('bad-target')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}rewrite-target']`]]);
  });

  it('without use-regex a path is literal: /foo.+ does not match /foox', async () => {
    expect((await proxy.fetch('plain.test', '/foox')).status).toBe(404);
    expect((await proxy.echo('plain.test', '/foo.+/a')).url).toBe('/foo.+/a');
  });
});
