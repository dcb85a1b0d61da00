// One table-driven suite, run unchanged against the wasm matcher and the reference matcher.
import { describe, expect, it } from 'vitest';
import type { Matcher, RequestHeaders } from '../src/host/matcher.ts';
import type { MatcherTable, PathEntry } from '../src/host/table.ts';
import { withSets } from './sets.ts';
import { IMPLEMENTATIONS } from './implementations.ts';
import type { ListedBackend } from './sets.ts';

/** A table whose every route has no backends: enough for match() cases. */
function table(hosts: MatcherTable['hosts'], fallback = -1): MatcherTable {
  const ids = hosts.flatMap((h) => [h.fallback, ...h.paths.map((p) => p.route)]);
  const routes = Math.max(fallback, ...ids) + 1;
  return { hosts, routes: Array.from({ length: routes }, () => ({ backends: [] })), sets: [], endpointCount: 0, fallback };
}

const prefix = (path: string, route: number, conditions?: PathEntry['conditions']): PathEntry => ({ pathType: 'Prefix', path, route, conditions });
const exact = (path: string, route: number, conditions?: PathEntry['conditions']): PathEntry => ({ pathType: 'Exact', path, route, conditions });
const regex = (path: string, route: number, conditions?: PathEntry['conditions']): PathEntry => ({ pathType: 'RegularExpression', path, route, conditions });
const REGEX = 'RegularExpression' as const;

const HOSTS = table([
  { host: 'foo.com', paths: [prefix('/', 0)], fallback: -1 },
  { host: '*.foo.com', paths: [prefix('/', 1)], fallback: -1 },
  { host: '*', paths: [prefix('/', 2)], fallback: -1 },
  { host: 'bar.foo.com', paths: [prefix('/', 3)], fallback: -1 },
  { host: '[::1]', paths: [prefix('/', 4)], fallback: -1 },
  { host: '*.x.com', paths: [prefix('/', 5)], fallback: -1 },
]);
const NO_ANY_HOST = table([{ host: 'foo.com', paths: [prefix('/', 0)], fallback: -1 }], 7);
const NO_FALLBACK = table([{ host: 'foo.com', paths: [exact('/x', 0)], fallback: -1 }]);

const PATHS = table([{
  host: 'example.com',
  paths: [
    prefix('/', 0), prefix('/foo', 1), exact('/foo', 2), prefix('/aaa/bbb/', 3), exact('/exact/', 4),
    prefix('/Case', 5), exact('/q', 6), exact('/', 7), prefix('/aaa', 8), prefix('/multi//x', 9),
  ],
  fallback: -1,
}]);

const FALLTHROUGH = table([
  { host: 'app.com', paths: [prefix('/api', 0)], fallback: -1 },
  { host: '*', paths: [prefix('/', 1), prefix('/other', 2)], fallback: -1 },
  { host: 'b.com', paths: [prefix('/x', 4)], fallback: 5 },
  { host: '*.app.com', paths: [prefix('/api', 6)], fallback: -1 },
], 3);

const CANARY = [{ name: 'X-Canary', value: 'always' }];
const CONDITIONS = table([
  {
    host: 'h.com',
    paths: [
      prefix('/m', 0, { methods: ['POST'] }),
      prefix('/m', 1, { methods: ['GET', 'HEAD'] }),
      prefix('/m', 2),
      prefix('/h', 3, { headers: CANARY }),
      prefix('/h', 4, { headers: [{ name: 'x-env', value: 'a' }, { name: 'x-team', value: 'b' }] }),
      prefix('/h/deep', 5, { methods: ['PUT'] }),
      exact('/h', 6, { methods: ['DELETE'] }),
      prefix('/', 7),
      prefix('/o/x', 8, { headers: CANARY }),
      prefix('/o/x/', 9),
      prefix('/o/x', 10),
      prefix('/e', 11, { methods: [], headers: [] }),
      prefix('/v', 12, { headers: [{ name: 'x-empty', value: '' }] }),
    ],
    fallback: -1,
  },
]);

// Gateway API wildcards take one or more labels; Ingress ones exactly one. A mixed wildcard host
// has a one-label entry (all its routes) and a 'deeper' entry (its Gateway API routes).
const GATEWAY_HOSTS = table([
  { host: '*.gw.com', labels: 'many', paths: [prefix('/', 0)], fallback: -1 },
  { host: '*.in.com', paths: [prefix('/', 1)], fallback: -1 },
  { host: '*.mix.com', labels: 'one', paths: [prefix('/', 2)], fallback: -1 },
  { host: '*.mix.com', labels: 'deeper', paths: [prefix('/', 3)], fallback: -1 },
  { host: '*.b.gw.com', labels: 'many', paths: [prefix('/', 4)], fallback: -1 },
  { host: '*', paths: [prefix('/', 5)], fallback: -1 },
  { host: 'x.y.gw.com', paths: [prefix('/', 6)], fallback: -1 },
]);

// Gateway API matches: Exact > RegularExpression (whole path) > Prefix; query and regex conditions.
const GATEWAY_PATHS = table([{
  host: 'g.com',
  paths: [
    exact('/r', 0), regex('/r.*', 1), prefix('/r', 2),
    regex('/api/v[0-9]+', 3, { methods: ['GET'] }), regex('/api/v[0-9]+', 4), prefix('/api', 5),
    prefix('/', 6),
    prefix('/q', 7, { query: [{ name: 'animal', value: 'whale' }] }),
    prefix('/q', 8, { query: [{ name: 'animal', value: 'dol.*', type: REGEX }] }),
    prefix('/hx', 9, { headers: [{ name: 'Version', value: 'v[0-9]', type: REGEX }] }),
    prefix('/both', 10, { headers: [{ name: 'version', value: 'one' }], query: [{ name: 'animal', value: 'whale' }], methods: ['PUT'] }),
    exact('/empty', 11, { query: [{ name: 'flag', value: '' }] }),
  ],
  fallback: -1,
}, { host: 'plain.com', paths: [prefix('/', 12)], fallback: -1 }]);

interface MatchCase {
  readonly name: string;
  readonly table: MatcherTable;
  readonly host: string;
  readonly path: string;
  readonly method?: string;
  readonly headers?: RequestHeaders;
  readonly want: number;
}

const MATCH_CASES: MatchCase[] = [
  // Hosts, wildcards, any-host.
  { name: 'exact host', table: HOSTS, host: 'foo.com', path: '/', want: 0 },
  { name: 'exact host beats wildcard', table: HOSTS, host: 'bar.foo.com', path: '/', want: 3 },
  { name: 'wildcard takes one label', table: HOSTS, host: 'baz.foo.com', path: '/', want: 1 },
  { name: 'wildcard does not take two labels', table: HOSTS, host: 'a.baz.foo.com', path: '/', want: 2 },
  { name: 'wildcard does not take the bare domain', table: HOSTS, host: 'x.com', path: '/', want: 2 },
  { name: 'wildcard needs a non-empty label', table: HOSTS, host: '.x.com', path: '/', want: 2 },
  { name: 'unknown host goes to any-host', table: HOSTS, host: 'other.org', path: '/', want: 2 },
  { name: 'empty host goes to any-host', table: HOSTS, host: '', path: '/', want: 2 },
  { name: 'host is case-insensitive', table: HOSTS, host: 'FOO.COM', path: '/', want: 0 },
  { name: 'wildcard is case-insensitive', table: HOSTS, host: 'Baz.Foo.Com', path: '/', want: 1 },
  { name: 'port is ignored', table: HOSTS, host: 'foo.com:8080', path: '/', want: 0 },
  { name: 'port is ignored on wildcard hosts', table: HOSTS, host: 'q.x.com:80', path: '/', want: 5 },
  { name: 'trailing dot is ignored', table: HOSTS, host: 'foo.com.', path: '/', want: 0 },
  { name: 'trailing dot before port is ignored', table: HOSTS, host: 'foo.com.:443', path: '/', want: 0 },
  { name: 'trailing dot on wildcard host', table: HOSTS, host: 'baz.foo.com.', path: '/', want: 1 },
  { name: 'only one trailing dot is ignored', table: HOSTS, host: 'foo.com..', path: '/', want: 2 },
  { name: 'IPv6 literal with port', table: HOSTS, host: '[::1]:8080', path: '/', want: 4 },
  { name: 'IPv6 literal without port', table: HOSTS, host: '[::1]', path: '/', want: 4 },
  { name: 'other IPv6 literal', table: HOSTS, host: '[::2]:80', path: '/', want: 2 },
  { name: 'no any-host: table fallback', table: NO_ANY_HOST, host: 'nope.com', path: '/', want: 7 },
  { name: 'no fallback anywhere: 404', table: NO_FALLBACK, host: 'foo.com', path: '/y', want: -1 },
  { name: 'no host and no fallback: 404', table: NO_FALLBACK, host: 'bar.com', path: '/x', want: -1 },

  // No fall-through from the selected host.
  { name: 'no fall-through to any-host paths', table: FALLTHROUGH, host: 'app.com', path: '/other', want: 3 },
  { name: 'no fall-through from wildcard to any-host', table: FALLTHROUGH, host: 'w.app.com', path: '/other', want: 3 },
  { name: 'host fallback before table fallback', table: FALLTHROUGH, host: 'b.com', path: '/y', want: 5 },
  { name: 'any-host paths for unknown hosts', table: FALLTHROUGH, host: 'z.org', path: '/other/x', want: 2 },

  // Exact vs Prefix, element-wise prefix, trailing slashes.
  { name: 'exact beats prefix of the same path', table: PATHS, host: 'example.com', path: '/foo', want: 2 },
  { name: 'exact does not match a trailing slash', table: PATHS, host: 'example.com', path: '/foo/', want: 1 },
  { name: 'prefix matches below', table: PATHS, host: 'example.com', path: '/foo/bar', want: 1 },
  { name: 'prefix is element-wise', table: PATHS, host: 'example.com', path: '/foobar', want: 0 },
  { name: 'rule trailing slash is insignificant', table: PATHS, host: 'example.com', path: '/aaa/bbb', want: 3 },
  { name: 'request trailing slash matches', table: PATHS, host: 'example.com', path: '/aaa/bbb/', want: 3 },
  { name: 'last element must match whole', table: PATHS, host: 'example.com', path: '/aaa/bbbxyz', want: 8 },
  { name: 'longest prefix wins', table: PATHS, host: 'example.com', path: '/aaa/bbb/ccc', want: 3 },
  { name: 'shorter prefix when longer does not match', table: PATHS, host: 'example.com', path: '/aaa/ccc', want: 8 },
  { name: 'exact with trailing slash', table: PATHS, host: 'example.com', path: '/exact/', want: 4 },
  { name: 'exact with trailing slash needs it', table: PATHS, host: 'example.com', path: '/exact', want: 0 },
  { name: 'root exact', table: PATHS, host: 'example.com', path: '/', want: 7 },
  { name: 'root prefix matches everything', table: PATHS, host: 'example.com', path: '/zzz/y', want: 0 },
  { name: 'empty path is the root', table: PATHS, host: 'example.com', path: '', want: 7 },
  { name: 'repeated slashes are elements', table: PATHS, host: 'example.com', path: '/foo//bar', want: 1 },
  { name: 'rule with inner empty element', table: PATHS, host: 'example.com', path: '/multi//x/y', want: 9 },
  { name: 'inner empty element must be there', table: PATHS, host: 'example.com', path: '/multi/x', want: 0 },
  { name: 'path is case-sensitive', table: PATHS, host: 'example.com', path: '/FOO', want: 0 },
  { name: 'prefix case-sensitive match', table: PATHS, host: 'example.com', path: '/Case/x', want: 5 },
  { name: 'prefix case-sensitive miss', table: PATHS, host: 'example.com', path: '/case', want: 0 },
  { name: 'no percent-decoding', table: PATHS, host: 'example.com', path: '/fo%6F', want: 0 },
  { name: 'query ignored for exact', table: PATHS, host: 'example.com', path: '/foo?x=1', want: 2 },
  { name: 'query ignored for prefix', table: PATHS, host: 'example.com', path: '/foo/?a=/b', want: 1 },
  { name: 'slash inside query ignored', table: PATHS, host: 'example.com', path: '/q?/foo', want: 6 },
  { name: 'query only is the root', table: PATHS, host: 'example.com', path: '?x', want: 7 },
  { name: 'asterisk form only matches the root prefix', table: PATHS, host: 'example.com', path: '*', want: 0 },
  { name: 'absolute form is not parsed', table: PATHS, host: 'example.com', path: 'http://example.com/foo', want: 0 },
  { name: 'non-ASCII path compared as given', table: table([{ host: 'u.com', paths: [prefix('/é/😀', 0)], fallback: 1 }]), host: 'u.com', path: '/é/😀/x', want: 0 },
  { name: 'non-ASCII path mismatch', table: table([{ host: 'u.com', paths: [prefix('/é', 0)], fallback: 1 }]), host: 'u.com', path: '/e', want: 1 },

  // Conditions.
  { name: 'method condition POST', table: CONDITIONS, host: 'h.com', path: '/m', method: 'POST', want: 0 },
  { name: 'method condition GET', table: CONDITIONS, host: 'h.com', path: '/m', method: 'GET', want: 1 },
  { name: 'method condition HEAD', table: CONDITIONS, host: 'h.com', path: '/m/x', method: 'HEAD', want: 1 },
  { name: 'no method condition takes the rest', table: CONDITIONS, host: 'h.com', path: '/m', method: 'PUT', want: 2 },
  { name: 'unknown method only matches unconditioned', table: CONDITIONS, host: 'h.com', path: '/m', method: 'PROPFIND', want: 2 },
  { name: 'methods are case-sensitive', table: CONDITIONS, host: 'h.com', path: '/m', method: 'post', want: 2 },
  { name: 'empty condition lists mean none', table: CONDITIONS, host: 'h.com', path: '/e', method: 'PATCH', want: 11 },
  { name: 'header equality', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': 'always' }, want: 3 },
  { name: 'header value mismatch falls to shorter prefix', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': 'never' }, want: 7 },
  { name: 'header absent', table: CONDITIONS, host: 'h.com', path: '/h', want: 7 },
  { name: 'header value is case-sensitive', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': 'Always' }, want: 7 },
  { name: 'multi-valued header matches any value', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': ['never', 'always'] }, want: 3 },
  { name: 'undefined header value is absent', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': undefined }, want: 7 },
  { name: 'all header conditions must hold', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-env': 'a', 'x-team': 'b' }, want: 4 },
  { name: 'one header condition missing', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-env': 'a' }, want: 7 },
  { name: 'empty header value condition', table: CONDITIONS, host: 'h.com', path: '/v', headers: { 'x-empty': '' }, want: 12 },
  { name: 'deeper prefix with method', table: CONDITIONS, host: 'h.com', path: '/h/deep', method: 'PUT', want: 5 },
  { name: 'deeper prefix fails, shorter holds', table: CONDITIONS, host: 'h.com', path: '/h/deep', headers: { 'x-canary': 'always' }, want: 3 },
  { name: 'exact with method', table: CONDITIONS, host: 'h.com', path: '/h', method: 'DELETE', want: 6 },
  { name: 'exact fails, prefix of same path holds', table: CONDITIONS, host: 'h.com', path: '/h', headers: { 'x-canary': 'always' }, want: 3 },
  { name: 'same key tried in array order', table: CONDITIONS, host: 'h.com', path: '/o/x/y', headers: { 'x-canary': 'always' }, want: 8 },
  { name: 'same key after normalization', table: CONDITIONS, host: 'h.com', path: '/o/x', want: 9 },

  // Gateway API hostnames.
  { name: 'gateway wildcard takes one label', table: GATEWAY_HOSTS, host: 'a.gw.com', path: '/', want: 0 },
  { name: 'gateway wildcard takes two labels', table: GATEWAY_HOSTS, host: 'a.c.gw.com', path: '/', want: 0 },
  { name: 'gateway wildcard takes many labels', table: GATEWAY_HOSTS, host: 'a.b.c.d.gw.com:80', path: '/', want: 0 },
  { name: 'gateway wildcard does not take the bare domain', table: GATEWAY_HOSTS, host: 'gw.com', path: '/', want: 5 },
  { name: 'exact host beats gateway wildcard', table: GATEWAY_HOSTS, host: 'X.Y.gw.com', path: '/', want: 6 },
  { name: 'longer gateway wildcard wins (one label)', table: GATEWAY_HOSTS, host: 'a.b.gw.com', path: '/', want: 4 },
  { name: 'longer gateway wildcard wins (deeper)', table: GATEWAY_HOSTS, host: 'z.a.b.gw.com', path: '/', want: 4 },
  { name: 'gateway wildcard labels must be non-empty', table: GATEWAY_HOSTS, host: 'a..gw.com', path: '/', want: 5 },
  { name: 'gateway wildcard first label non-empty', table: GATEWAY_HOSTS, host: '.a.gw.com', path: '/', want: 5 },
  { name: 'ingress wildcard still one label', table: GATEWAY_HOSTS, host: 'a.b.in.com', path: '/', want: 5 },
  { name: 'mixed wildcard one label: all routes', table: GATEWAY_HOSTS, host: 'a.mix.com', path: '/', want: 2 },
  { name: 'mixed wildcard deeper: gateway routes', table: GATEWAY_HOSTS, host: 'a.b.mix.com', path: '/', want: 3 },

  // Gateway API matches.
  { name: 'exact beats regex', table: GATEWAY_PATHS, host: 'g.com', path: '/r', want: 0 },
  { name: 'regex beats prefix', table: GATEWAY_PATHS, host: 'g.com', path: '/r/x', want: 1 },
  { name: 'regex must match the whole path', table: GATEWAY_PATHS, host: 'g.com', path: '/api/v2x', want: 5 },
  { name: 'regex with method', table: GATEWAY_PATHS, host: 'g.com', path: '/api/v12', method: 'GET', want: 3 },
  { name: 'regex method fails, next regex', table: GATEWAY_PATHS, host: 'g.com', path: '/api/v12', method: 'POST', want: 4 },
  { name: 'regex ignores the query', table: GATEWAY_PATHS, host: 'g.com', path: '/api/v1?x=/api', want: 3 },
  { name: 'regex is case-sensitive', table: GATEWAY_PATHS, host: 'g.com', path: '/API/v1', want: 6 },
  { name: 'regex paths stay in their host', table: GATEWAY_PATHS, host: 'plain.com', path: '/r/x', want: 12 },
  { name: 'query exact', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=whale', want: 7 },
  { name: 'query regex', table: GATEWAY_PATHS, host: 'g.com', path: '/q/x?animal=dolphin', want: 8 },
  { name: 'query regex matches whole value', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=adolphin', want: 6 },
  { name: 'query value exact, not prefix', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=whaledolphin', want: 6 },
  { name: 'query name is case-sensitive', table: GATEWAY_PATHS, host: 'g.com', path: '/q?ANIMAL=whale', want: 6 },
  { name: 'query value percent-decoded', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=wh%61le', want: 7 },
  { name: 'query name percent-decoded', table: GATEWAY_PATHS, host: 'g.com', path: '/q?%61nimal=whale', want: 7 },
  { name: 'repeated query parameter: first value', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=dolphin&animal=whale', want: 8 },
  { name: 'query among others', table: GATEWAY_PATHS, host: 'g.com', path: '/q?x&y=1&animal=whale', want: 7 },
  { name: 'query absent', table: GATEWAY_PATHS, host: 'g.com', path: '/q', want: 6 },
  { name: 'query plus is not a space', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=wh+ale', want: 6 },
  { name: 'bad escape kept as written', table: GATEWAY_PATHS, host: 'g.com', path: '/q?animal=%zz', want: 6 },
  { name: 'empty query value, no =', table: GATEWAY_PATHS, host: 'g.com', path: '/empty?flag', want: 11 },
  { name: 'empty query value, with =', table: GATEWAY_PATHS, host: 'g.com', path: '/empty?flag=', want: 11 },
  { name: 'header regex', table: GATEWAY_PATHS, host: 'g.com', path: '/hx', headers: { version: 'v1' }, want: 9 },
  { name: 'header regex matches whole value', table: GATEWAY_PATHS, host: 'g.com', path: '/hx', headers: { version: 'v10' }, want: 6 },
  { name: 'header regex on a repeated header', table: GATEWAY_PATHS, host: 'g.com', path: '/hx', headers: { version: ['x', 'v2'] }, want: 9 },
  { name: 'method, header and query all hold', table: GATEWAY_PATHS, host: 'g.com', path: '/both?animal=whale', method: 'PUT', headers: { version: 'one' }, want: 10 },
  { name: 'method, header and query: method fails', table: GATEWAY_PATHS, host: 'g.com', path: '/both?animal=whale', method: 'GET', headers: { version: 'one' }, want: 6 },
  { name: 'method, header and query: query fails', table: GATEWAY_PATHS, host: 'g.com', path: '/both', method: 'PUT', headers: { version: 'one' }, want: 6 },
];

/** A route's backends from [weight, endpoint ids] pairs (each array its own endpoint set; one array on two backends: one set). */
const backends = (...list: [number, readonly number[]][]): { backends: ListedBackend[] } => ({ backends: list.map(([weight, endpoints]) => ({ weight, endpoints })) });
const wrrTable = (routes: { backends: ListedBackend[] }[], endpointCount: number): MatcherTable => withSets({ hosts: [], routes, endpointCount, fallback: -1 });
/** One endpoint set for two routes. */
const SHARED = [0, 1, 2];

type Step =
  | { readonly pick: number; readonly allowed?: number; readonly want: readonly (readonly [endpoint: number, backend: number])[] }
  | { readonly endpoint: number; readonly healthy: boolean };

interface WrrCase {
  readonly name: string;
  readonly table: MatcherTable;
  readonly steps: readonly Step[];
}

const up = (endpoint: number): Step => ({ endpoint, healthy: true });
const down = (endpoint: number): Step => ({ endpoint, healthy: false });
/** Picks on `route` expecting backends `sequence` (one letter per backend: a = 0) with one endpoint each, endpoint id = backend index. */
const letters = (route: number, sequence: string): Step => ({ pick: route, want: [...sequence].map((c) => [c.charCodeAt(0) - 97, c.charCodeAt(0) - 97] as const) });

const WRR_CASES: WrrCase[] = [
  { name: 'nginx sequence for weights 5,1,1', table: wrrTable([backends([5, [0]], [1, [1]], [1, [2]])], 3), steps: [letters(0, 'aabacaa'), letters(0, 'aabacaa')] },
  { name: 'weights 2,1', table: wrrTable([backends([2, [0]], [1, [1]])], 2), steps: [letters(0, 'abaaba')] },
  { name: 'equal weights alternate', table: wrrTable([backends([1, [0]], [1, [1]], [1, [2]])], 3), steps: [letters(0, 'abcabc')] },
  { name: 'weight 0 never gets traffic', table: wrrTable([backends([0, [0]], [1, [1]])], 2), steps: [letters(0, 'bbbb')] },
  { name: 'all weights 0: no endpoint', table: wrrTable([backends([0, [0]], [0, [1]])], 2), steps: [{ pick: 0, want: [[-1, -1], [-1, -1]] }] },
  { name: 'no backends: no endpoint', table: wrrTable([backends()], 0), steps: [{ pick: 0, want: [[-1, -1]] }] },
  { name: 'backend without endpoints gets no traffic', table: wrrTable([backends([3, []], [1, [0]])], 1), steps: [{ pick: 0, want: [[0, 1], [0, 1]] }] },
  { name: 'unknown route: no endpoint', table: wrrTable([backends([1, [0]])], 1), steps: [{ pick: 5, want: [[-1, -1]] }, { pick: -1, want: [[-1, -1]] }] },
  { name: 'endpoints round robin within a backend', table: wrrTable([backends([1, [4, 5, 6]])], 7), steps: [{ pick: 0, want: [[4, 0], [5, 0], [6, 0], [4, 0]] }] },
  {
    name: 'two levels: backend by weight, then endpoint',
    table: wrrTable([backends([2, [0, 1]], [1, [2]])], 3),
    steps: [{ pick: 0, want: [[0, 0], [2, 1], [1, 0], [0, 0], [2, 1], [1, 0]] }],
  },
  {
    name: 'unhealthy endpoints are skipped and recover',
    table: wrrTable([backends([2, [0, 1]], [1, [2]])], 3),
    steps: [
      down(2), { pick: 0, want: [[0, 0], [1, 0], [0, 0]] },
      down(0), down(1), up(2), { pick: 0, want: [[2, 1], [2, 1]] },
      down(2), { pick: 0, want: [[-1, -1]] },
      up(0), { pick: 0, want: [[0, 0], [0, 0]] },
      up(1), up(2), { pick: 0, want: [[1, 0], [2, 1], [0, 0]] },
    ],
  },
  {
    name: 'health is shared across routes, WRR state is not',
    table: wrrTable([backends([1, [0, 1]]), backends([1, [1, 0]])], 2),
    steps: [
      { pick: 0, want: [[0, 0]] }, { pick: 1, want: [[1, 0]] },
      down(0), { pick: 0, want: [[1, 0]] }, { pick: 1, want: [[1, 0]] },
      // Current weights of skipped endpoints are kept, as in nginx: route 0 owes endpoint 1 a turn.
      up(0), { pick: 0, want: [[1, 0]] }, { pick: 1, want: [[0, 0]] },
    ],
  },
  {
    // ingress-nginx keeps one balancer per upstream (Service port): the routes on it share its rotation.
    name: 'routes on one endpoint set share its rotation; backend choice stays per route',
    table: wrrTable([backends([2, SHARED], [1, [3]]), backends([1, SHARED])], 4),
    steps: [{ pick: 0, want: [[0, 0], [3, 1], [1, 0]] }, { pick: 1, want: [[2, 0], [0, 0]] }, { pick: 0, want: [[1, 0]] }, down(2), { pick: 1, want: [[0, 0], [1, 0]] }],
  },
  {
    name: 'pickIn: only the allowed backends, by weight among them',
    table: wrrTable([backends([2, [0]], [1, [1]], [1, [2]])], 3),
    steps: [{ pick: 0, allowed: 0b110, want: [[1, 1], [2, 2], [1, 1]] }, { pick: 0, allowed: 0b001, want: [[0, 0], [0, 0]] }],
  },
  {
    name: 'pickIn: a weight-0 backend it names still answers; none live is -1',
    table: wrrTable([backends([1, [0]], [0, [1]])], 2),
    steps: [{ pick: 0, allowed: 0b10, want: [[1, 1], [1, 1]] }, down(1), { pick: 0, allowed: 0b10, want: [[-1, -1]] }, { pick: 0, allowed: 0, want: [[-1, -1]] }],
  },
  {
    name: 'weight 0 backend stays idle when the others are down',
    table: wrrTable([backends([0, [0]], [1, [1]])], 2),
    steps: [down(1), { pick: 0, want: [[-1, -1]] }, up(1), letters(0, 'bb')],
  },
];

describe.each(IMPLEMENTATIONS)('%s matcher', (_name, load) => {
  describe('match', () => {
    it.each(MATCH_CASES)('$name', ({ table: t, host, path, method, headers, want }) => {
      expect(load(t).match(host, path, method ?? 'GET', headers)).toBe(want);
    });
  });

  describe('pick', () => {
    it.each(WRR_CASES)('$name', ({ table: t, steps }) => {
      const matcher = load(t);
      for (const step of steps) {
        if ('endpoint' in step) {
          matcher.setHealthy(step.endpoint, step.healthy);
          expect(matcher.isHealthy(step.endpoint)).toBe(step.healthy);
          continue;
        }
        const got = step.want.map(() => [step.allowed === undefined ? matcher.pick(step.pick) : matcher.pickIn(step.pick, step.allowed), matcher.lastBackend()] as const);
        expect(got).toEqual(step.want);
      }
    });

    it('starts with every endpoint healthy and counts routes and endpoints', () => {
      const matcher = load(wrrTable([backends([1, [0]]), backends()], 3));
      expect([matcher.routeCount, matcher.endpointCount]).toEqual([2, 3]);
      expect([0, 1, 2].map((id) => matcher.isHealthy(id))).toEqual([true, true, true]);
      expect(matcher.lastBackend()).toBe(-1);
    });

    it.each([-1, 3, 1.5])('rejects endpoint id %s', (id) => {
      const matcher = load(wrrTable([backends([1, [0]])], 3));
      expect(() => matcher.setHealthy(id, false)).toThrow(expect.objectContaining({ code: 'PORTICO_E_ENDPOINT_RANGE' }));
      expect(() => matcher.isHealthy(id)).toThrow(expect.objectContaining({ code: 'PORTICO_E_ENDPOINT_RANGE' }));
    });
  });
});

describe('consistent hashing and named endpoints (pickHash, pickId)', () => {
  const table = wrrTable([backends([1, [0, 1, 2, 3]], [0, [4]])], 5);
  const keys = Array.from({ length: 400 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0);
  const seeded = (load: (t: MatcherTable) => Matcher): Matcher => {
    const matcher = load(table);
    for (let id = 0; id < 5; id++) matcher.setSeed(id, Math.imul(id + 7, 0x01000193) >>> 0);
    return matcher;
  };

  it('both implementations map every key to the same endpoint, spread over all of them', () => {
    const [wasm, , reference] = IMPLEMENTATIONS.map(([, load]) => seeded(load));
    const got = keys.map((key) => wasm!.pickHash(0, -1, key));
    expect(got).toEqual(keys.map((key) => reference!.pickHash(0, -1, key)));
    for (const id of [0, 1, 2, 3]) expect(got.filter((e) => e === id).length).toBeGreaterThan(60);
    expect(keys.map((key) => wasm!.pickHash(0, -1, key))).toEqual(got);
  });

  it('an endpoint going down moves only its own keys', () => {
    const [wasm] = IMPLEMENTATIONS.map(([, load]) => seeded(load));
    const before = keys.map((key) => wasm!.pickHash(0, -1, key));
    wasm!.setHealthy(2, false);
    const after = keys.map((key) => wasm!.pickHash(0, -1, key));
    keys.forEach((_, i) => {
      if (before[i] !== 2) expect(after[i]).toBe(before[i]);
      else expect(after[i]).not.toBe(2);
    });
  });

  it.each(IMPLEMENTATIONS)('%s: pickId takes a healthy endpoint of an allowed backend only', (_name, load) => {
    const matcher = seeded(load);
    expect([matcher.pickId(0, -1, 3), matcher.lastBackend()]).toEqual([3, 0]);
    expect([matcher.pickId(0, -1, 4), matcher.lastBackend()]).toEqual([4, 1]);
    expect(matcher.pickId(0, 0b01, 4)).toBe(-1);
    matcher.setHealthy(3, false);
    expect(matcher.pickId(0, -1, 3)).toBe(-1);
    expect(matcher.pickId(0, -1, 9)).toBe(-1);
    expect(matcher.pickId(7, -1, 0)).toBe(-1);
  });
});

describe('power of two choices (pickLeastLoaded)', () => {
  const table = wrrTable([backends([1, [0, 1, 2, 3]]), backends([1, [4, 5]])], 6);
  const randoms = Array.from({ length: 200 }, (_, i) => Math.imul(i + 3, 0x9e3779b1) >>> 0);

  it('both implementations draw the same pairs and keep the lower score; the worst endpoint is never chosen', () => {
    const [wasm, , reference] = IMPLEMENTATIONS.map(([, load]) => {
      const matcher = load(table);
      [5, 1, 9, 3, 2, 7].forEach((score, id) => matcher.setScore(id, score));
      return matcher;
    });
    const got = randoms.map((r) => wasm!.pickLeastLoaded(0, -1, r));
    expect(got).toEqual(randoms.map((r) => reference!.pickLeastLoaded(0, -1, r)));
    expect(got).not.toContain(2);
    expect(new Set(got)).toEqual(new Set([0, 1, 3]));
    // Two endpoints: always both drawn, the lower wins.
    expect(new Set(randoms.map((r) => wasm!.pickLeastLoaded(1, -1, r)))).toEqual(new Set([4]));
  });

  it.each(IMPLEMENTATIONS)('%s: skips unhealthy endpoints and unknown routes', (_name, load) => {
    const matcher = load(table);
    matcher.setScore(4, 1);
    matcher.setHealthy(5, false);
    expect(matcher.pickLeastLoaded(1, -1, 12345)).toBe(4);
    matcher.setHealthy(4, false);
    expect(matcher.pickLeastLoaded(1, -1, 12345)).toBe(-1);
    expect(matcher.pickLeastLoaded(9, -1, 1)).toBe(-1);
  });
});

describe('hash subsets (pickHash with subset > 1)', () => {
  const table = wrrTable([backends([1, [0, 1, 2, 3, 4, 5]])], 6);
  const seeded = (load: (t: MatcherTable) => Matcher): Matcher => {
    const matcher = load(table);
    for (let id = 0; id < 6; id++) matcher.setSeed(id, Math.imul(id + 11, 0x01000193) >>> 0);
    return matcher;
  };

  it('a key keeps to its 3 best endpoints, spread by the random draw; both implementations agree', () => {
    const [wasm, , reference] = IMPLEMENTATIONS.map(([, load]) => seeded(load));
    for (let key = 1; key < 40; key++) {
      const k = Math.imul(key, 0x9e3779b1) >>> 0;
      const picks = Array.from({ length: 12 }, (_, r) => wasm!.pickHash(0, -1, k, 3, r));
      expect(picks).toEqual(Array.from({ length: 12 }, (_, r) => reference!.pickHash(0, -1, k, 3, r)));
      expect(new Set(picks).size).toBe(3);
      expect(picks).toContain(wasm!.pickHash(0, -1, k));
    }
  });
});
