import { describe, expect, it } from 'vitest';
import { httpRouteFilters, httpRouteTimeouts } from './gateway-filters.ts';
import { modifyPath, redirectLocation } from './gateway-redirect.ts';
import { exchangeDeadlineMs, parseDuration } from './gateway-timeouts.ts';
import { chooseMirrors } from './gateway-mirror.ts';
import { applyPolicy, preparePolicies } from './registry.ts';
import { RoutePolicies } from './schema.ts';
import type { RequestFacts } from './module.ts';

const RULE = 'spec.rules[1]';

function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return { scheme: 'http', host: 'example.com', path: '/', target: '/', method: 'GET', client: '10.0.0.1', header: () => undefined, ...over };
}

describe('httpRouteFilters', () => {
  it('reads every supported filter into policies the snapshot schema accepts', () => {
    const { policies, problems } = httpRouteFilters([
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Set', value: 'a b' }], add: [{ name: 'X-Add', value: '1' }], remove: ['X-Gone'] } },
      { type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X-Resp', value: 'v' }] } },
      { type: 'URLRewrite', urlRewrite: { hostname: 'internal.example', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
    ], RULE, { matchPathTypes: ['PathPrefix'] });
    expect(problems).toEqual([]);
    expect(RoutePolicies.parse(policies)).toEqual({
      requestHeaderModifier: { set: [{ name: 'X-Set', value: 'a b' }], add: [{ name: 'X-Add', value: '1' }], remove: ['X-Gone'] },
      responseHeaderModifier: { set: [], add: [{ name: 'X-Resp', value: 'v' }], remove: [] },
      urlRewrite: { hostname: 'internal.example', path: { type: 'ReplacePrefixMatch', value: '/v2' } },
    });
  });

  it('defaults a redirect to 302 and keeps only what is set', () => {
    const { policies } = httpRouteFilters([{ type: 'RequestRedirect', requestRedirect: { scheme: 'https' } }], RULE);
    expect(policies).toEqual({ requestRedirect: { scheme: 'https', statusCode: 302 } });
  });

  it('no filters: no policies, no problems', () => {
    expect(httpRouteFilters(undefined, RULE)).toEqual({ policies: undefined, problems: [] });
    expect(httpRouteFilters([], RULE)).toEqual({ policies: undefined, problems: [] });
  });

  const bad: [string, unknown[], string, string][] = [
    ['unknown type', [{ type: 'Teleport' }], 'spec.rules[1].filters[0].type', 'is not a Gateway API HTTPRoute filter type'],
    ['settings missing', [{ type: 'RequestRedirect' }], 'spec.rules[1].filters[0].requestRedirect', 'must be set'],
    ['settings of another type', [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.b' }, requestRedirect: {} }], 'spec.rules[1].filters[0].requestRedirect', 'must not be set'],
    ['status code', [{ type: 'RequestRedirect', requestRedirect: { statusCode: 304 } }], 'spec.rules[1].filters[0].requestRedirect.statusCode', 'is not one of 301, 302, 303, 307, 308'],
    ['scheme', [{ type: 'RequestRedirect', requestRedirect: { scheme: 'ftp' } }], 'spec.rules[1].filters[0].requestRedirect.scheme', 'is not http or https'],
    ['port', [{ type: 'RequestRedirect', requestRedirect: { port: 70000 } }], 'spec.rules[1].filters[0].requestRedirect.port', 'is not a port number'],
    ['hostname with port', [{ type: 'RequestRedirect', requestRedirect: { hostname: 'a.com:80' } }], 'spec.rules[1].filters[0].requestRedirect.hostname', 'is not a lower-case DNS host name'],
    ['path type', [{ type: 'URLRewrite', urlRewrite: { path: { type: 'Regex', replaceFullPath: '/x' } } }], 'spec.rules[1].filters[0].urlRewrite.path.type', 'is not ReplaceFullPath or ReplacePrefixMatch'],
    ['path value missing', [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath' } } }], 'spec.rules[1].filters[0].urlRewrite.path.replaceFullPath', 'must be set'],
    ['path with CRLF', [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/a\r\nX: y' } } }], 'spec.rules[1].filters[0].urlRewrite.path.replaceFullPath', 'must be an absolute path'],
    ['header value with CRLF', [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X', value: 'a\r\nEvil: 1' }] } }], 'spec.rules[1].filters[0].requestHeaderModifier.set[0].value', 'without CR, LF'],
    ['header name not a token', [{ type: 'ResponseHeaderModifier', responseHeaderModifier: { add: [{ name: 'X Y', value: '1' }] } }], 'spec.rules[1].filters[0].responseHeaderModifier.add[0].name', 'is not an HTTP header name'],
    ['header twice', [{ type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-A', value: '1' }, { name: 'x-a', value: '2' }] } }], 'spec.rules[1].filters[0].requestHeaderModifier.set[1].name', 'listed twice'],
    ['too many headers', [{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: Array.from({ length: 17 }, (_, i) => `X-${i}`) } }], 'spec.rules[1].filters[0].requestHeaderModifier.remove', 'at most 16'],
    ['removing Host', [{ type: 'RequestHeaderModifier', requestHeaderModifier: { remove: ['Host'] } }], 'spec.rules[1].filters[0].requestHeaderModifier.remove[0]', 'cannot be removed'],
    ['empty modifier', [{ type: 'RequestHeaderModifier', requestHeaderModifier: {} }], 'spec.rules[1].filters[0].requestHeaderModifier', 'sets, adds and removes nothing'],
    ['filter twice', [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.b' } }, { type: 'URLRewrite', urlRewrite: { hostname: 'c.d' } }], 'spec.rules[1].filters[1].type', 'may appear only once'],
    ['redirect with rewrite', [{ type: 'URLRewrite', urlRewrite: { hostname: 'a.b' } }, { type: 'RequestRedirect', requestRedirect: {} }], 'spec.rules[1].filters', 'cannot be used in the same rule'],
    ['mirror without a resolver', [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'svc', port: 80 } } }], 'spec.rules[1].filters[0].requestMirror', 'needs its backendRef resolved'],
    ['extension', [{ type: 'ExtensionRef', extensionRef: { group: 'x', kind: 'y', name: 'z' } }], 'spec.rules[1].filters[0].type', 'not supported by Portico'],
    ['not a list', 'nope' as unknown as unknown[], 'spec.rules[1].filters', 'must be a list'],
  ];
  it.each(bad)('refuses %s, naming the field', (_name, filters, field, message) => {
    const { policies, problems } = httpRouteFilters(filters, RULE);
    expect(policies).toBeUndefined();
    expect(problems).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
  });

  describe('RequestMirror', () => {
    const resolveMirror = (ref: unknown, field: string) => {
      const name = (ref as { name?: string }).name;
      return name === 'missing' ? `${field}: Service ns/missing not found` : { namespace: 'ns', service: name ?? '', port: 8080, endpointSet: name === 'idle' ? undefined : `ns/${name}:8080` };
    };
    it('resolves each mirror and keeps its share', () => {
      const { policies, problems } = httpRouteFilters([
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'a', port: 8080 } } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'b', port: 8080 }, percent: 25 } },
        { type: 'RequestMirror', requestMirror: { backendRef: { name: 'idle', port: 8080 }, fraction: { numerator: 1, denominator: 3 } } },
      ], RULE, { resolveMirror });
      expect(problems).toEqual([]);
      expect(RoutePolicies.parse(policies).requestMirror?.mirrors).toEqual([
        { namespace: 'ns', service: 'a', port: 8080, endpointSet: 'ns/a:8080', numerator: 100, denominator: 100 },
        { namespace: 'ns', service: 'b', port: 8080, endpointSet: 'ns/b:8080', numerator: 25, denominator: 100 },
        { namespace: 'ns', service: 'idle', port: 8080, endpointSet: null, numerator: 1, denominator: 3 },
      ]);
    });
    it.each([
      [{ backendRef: { name: 'missing', port: 8080 } }, 'spec.rules[1].filters[0].requestMirror.backendRef', 'Service ns/missing not found'],
      [{ backendRef: { name: 'a', port: 8080 }, percent: 101 }, 'spec.rules[1].filters[0].requestMirror.percent', 'not an integer in 0-100'],
      [{ backendRef: { name: 'a', port: 8080 }, fraction: { numerator: 3, denominator: 2 } }, 'spec.rules[1].filters[0].requestMirror.fraction', 'must not exceed'],
      [{ backendRef: { name: 'a', port: 8080 }, percent: 5, fraction: { numerator: 1 } }, 'spec.rules[1].filters[0].requestMirror', 'cannot both be set'],
    ])('refuses %j', (requestMirror, field, message) => {
      const { problems } = httpRouteFilters([{ type: 'RequestMirror', requestMirror }], RULE, { resolveMirror });
      expect(problems).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
    });
    it('samples by the fraction', () => {
      const data = { mirrors: [{ namespace: 'n', service: 's', port: 1, endpointSet: 'k', numerator: 1, denominator: 4 }, { namespace: 'n', service: 't', port: 1, endpointSet: 'k', numerator: 4, denominator: 4 }] };
      expect(chooseMirrors(data, [7, 8], () => 0.2)).toEqual([7, 8]);
      expect(chooseMirrors(data, [7, 8], () => 0.3)).toEqual([8]);
    });
  });

  it('refuses ReplacePrefixMatch on a rule with a non-prefix match', () => {
    const { problems } = httpRouteFilters([{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/x' } } }], RULE, { matchPathTypes: ['PathPrefix', 'Exact'] });
    expect(problems).toEqual([{ field: 'spec.rules[1].filters[0].urlRewrite.path.type', reason: 'IncompatibleFilters', message: 'ReplacePrefixMatch needs PathPrefix matches, but match 1 is Exact' }]);
  });
});

describe('httpRouteTimeouts', () => {
  it('reads durations, 0s switches off', () => {
    expect(httpRouteTimeouts({ request: '10s', backendRequest: '500ms' }, RULE).policies).toEqual({ timeouts: { requestMs: 10_000, backendRequestMs: 500 } });
    expect(httpRouteTimeouts({ request: '0s' }, RULE).policies).toEqual({ timeouts: { requestMs: 0 } });
    expect(httpRouteTimeouts(undefined, RULE)).toEqual({ policies: undefined, problems: [] });
  });

  it.each([
    [{ request: '10' }, 'spec.rules[1].timeouts.request', 'is not a Gateway API Duration'],
    [{ request: '1d' }, 'spec.rules[1].timeouts.request', 'is not a Gateway API Duration'],
    [{ backendRequest: '25h' }, 'spec.rules[1].timeouts.backendRequest', 'longer than 24h'],
    [{ request: '1s', backendRequest: '2s' }, 'spec.rules[1].timeouts.backendRequest', 'is longer than request'],
  ])('refuses %j', (timeouts, field, message) => {
    expect(httpRouteTimeouts(timeouts, RULE).problems).toContainEqual(expect.objectContaining({ field, message: expect.stringContaining(message) }));
  });

  it.each([['1h', 3_600_000], ['1m30s', 90_000], ['500ms', 500], ['1s500ms', 1500], ['0s', 0], ['99999ms', 99_999]])('duration %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('the exchange deadline is the smaller timeout that is set and not 0', () => {
    expect(exchangeDeadlineMs({ requestMs: 1000, backendRequestMs: 300 })).toBe(300);
    expect(exchangeDeadlineMs({ requestMs: 0, backendRequestMs: 300 })).toBe(300);
    expect(exchangeDeadlineMs({ requestMs: 0 })).toBeUndefined();
  });
});

describe('path modifiers (the spec table of HTTPPathModifier)', () => {
  it.each([
    ['/foo/bar', '/foo', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo', '/xyz/', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz', '/xyz/bar'],
    ['/foo/bar', '/foo/', '/xyz/', '/xyz/bar'],
    ['/foo', '/foo', '/xyz', '/xyz'],
    ['/foo/', '/foo', '/xyz', '/xyz/'],
    ['/foo/bar', '/foo', '', '/bar'],
    ['/foo/', '/foo', '', '/'],
    ['/foo', '/foo', '', '/'],
    ['/foo/', '/foo', '/', '/'],
    ['/foo', '/foo', '/', '/'],
    ['/anything', '/', '/v2', '/v2/anything'],
  ])('%s with prefix %s replaced by %j -> %s', (path, prefix, value, want) => {
    expect(modifyPath(path, { type: 'ReplacePrefixMatch', value }, prefix)).toBe(want);
  });

  it('ReplaceFullPath replaces the whole path', () => {
    expect(modifyPath('/a/b/c', { type: 'ReplaceFullPath', value: '/x' }, '/a')).toBe('/x');
  });
});

describe('redirect Location (HTTPRouteRedirectPortAndScheme expectations)', () => {
  const host = 'example.org';
  it.each([
    // [listener scheme, Host header, filter, want]
    ['http', 'gw', {}, 'http://example.org/p'],
    ['http', 'gw:80', { port: 80 }, 'http://example.org/p'],
    ['http', 'gw', { port: 8080 }, 'http://example.org:8080/p'],
    ['http', 'gw', { scheme: 'https' }, 'https://example.org/p'],
    ['http', 'gw', { scheme: 'https', port: 443 }, 'https://example.org/p'],
    ['http', 'gw', { scheme: 'https', port: 8443 }, 'https://example.org:8443/p'],
    ['http', 'gw:8080', {}, 'http://example.org:8080/p'],
    ['http', 'gw:8080', { port: 80 }, 'http://example.org/p'],
    ['http', 'gw:8080', { scheme: 'https' }, 'https://example.org/p'],
    ['https', 'gw', {}, 'https://example.org/p'],
    ['https', 'gw:443', { port: 443 }, 'https://example.org/p'],
    ['https', 'gw', { port: 8443 }, 'https://example.org:8443/p'],
    ['https', 'gw', { scheme: 'http' }, 'http://example.org/p'],
    ['https', 'gw', { scheme: 'http', port: 80 }, 'http://example.org/p'],
    ['https', 'gw', { scheme: 'http', port: 8080 }, 'http://example.org:8080/p'],
  ] as const)('%s Host %s %j -> %s', (scheme, hostHeader, filter, want) => {
    expect(redirectLocation({ hostname: host, statusCode: 302, ...filter }, { scheme, host: hostHeader, path: '/p' }, '/p')).toBe(want);
  });

  it('keeps the request host without its port, the query, and replaces the prefix', () => {
    expect(redirectLocation({ statusCode: 301, path: { type: 'ReplacePrefixMatch', value: '/replacement-prefix' } }, { scheme: 'http', host: 'Gw.Example:8080', path: '/original-prefix/lemon?a=1' }, '/original-prefix')).toBe('http://gw.example:8080/replacement-prefix/lemon?a=1');
    expect(redirectLocation({ statusCode: 302 }, { scheme: 'http', host: '[::1]:8080', path: '/x' }, '/')).toBe('http://[::1]:8080/x');
  });
});

describe('the prepared pipeline', () => {
  it('header modifiers, rewrite and timeouts land in the outcome; a redirect answers', () => {
    const policies = RoutePolicies.parse({
      requestHeaderModifier: { set: [{ name: 'X-Set', value: '1' }], add: [{ name: 'X-Add', value: '2' }], remove: ['X-Gone'] },
      responseHeaderModifier: { set: [], add: [{ name: 'X-R', value: '3' }], remove: ['Server'] },
      urlRewrite: { hostname: 'in.example', path: { type: 'ReplacePrefixMatch', value: '/new' } },
      timeouts: { requestMs: 1000, backendRequestMs: 400 },
    });
    const prepared = preparePolicies(policies, { path: '/old', regex: false })!;
    const outcome = applyPolicy(prepared, 'proxy', facts({ path: '/old/x?q=1' }));
    expect(outcome.answer).toBeUndefined();
    expect(outcome.setHeaders).toEqual([['Host', 'in.example'], ['X-Set', '1']]);
    expect(outcome.addHeaders).toEqual([['X-Add', '2']]);
    expect(outcome.removeHeaders).toEqual(['x-gone']);
    expect(outcome.responseAdd).toEqual([['X-R', '3']]);
    expect(outcome.responseRemove).toEqual(['server']);
    expect(outcome.target).toBe('/new/x?q=1');
    expect(outcome.upstream).toEqual({ totalTimeoutMs: 400 });
    expect(prepared.descriptions.length).toBe(4);

    const redirect = preparePolicies(RoutePolicies.parse({ requestRedirect: { scheme: 'https', statusCode: 301 } }), { path: '/', regex: false })!;
    // A redirect answers even when the route has no backend (the router says `unavailable`).
    expect(applyPolicy(redirect, 'unavailable', facts({ path: '/a?b' })).answer).toEqual({ status: 301, headers: [['Location', 'https://example.com/a?b']] });
  });
});
