// Snapshot -> matcher table for Gateway API routes: match conditions, regex paths and the
// wildcard label rule per route source, checked on the table and through the wasm matcher.
import { describe, expect, it } from 'vitest';
import { loadMatcher } from '@portico/assembly/matcher';
import { SNAPSHOT_API_VERSION, parseSnapshot, snapshotVersion } from './schema.ts';
import type { SnapshotContent, SnapshotRoute } from './schema.ts';
import { toMatcherTable } from './table.ts';
import { regexProblem } from './regex.ts';
import { Explainer } from '../explain/explain.ts';

function route(kind: 'Ingress' | 'HTTPRoute', path: string, extra: Partial<SnapshotRoute> = {}): SnapshotRoute {
  return {
    source: { kind, namespace: 'ns', name: `${kind.toLowerCase()}-${path}` },
    field: 'spec.rules[0]',
    pathType: 'Prefix',
    path,
    backends: [],
    redirect: { sslRedirect: false, forceSslRedirect: false },
    ...extra,
  };
}

function snapshot(hosts: { host: string; routes: SnapshotRoute[] }[]) {
  const content: SnapshotContent = {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: 'Snapshot',
    hosts: hosts.map((h) => ({ ...h, tls: false, certificate: null, defaultRoute: null })),
    defaultRoute: null,
    endpointSets: [],
    certificates: [],
  };
  return parseSnapshot({ ...content, version: snapshotVersion(content) });
}

describe('toMatcherTable for Gateway API routes', () => {
  it('keeps the first condition per header name (any case) and per query name', () => {
    const s = snapshot([{
      host: 'a.com',
      routes: [route('HTTPRoute', '/', {
        match: {
          methods: ['GET'],
          headers: [{ name: 'Version', value: 'one', type: 'Exact' }, { name: 'version', value: 'two', type: 'Exact' }],
          query: [{ name: 'q', value: '1', type: 'Exact' }, { name: 'Q', value: '2', type: 'Exact' }, { name: 'q', value: '3', type: 'RegularExpression' }],
        },
      })],
    }]);
    const { table } = toMatcherTable(s);
    expect(table.hosts[0]?.paths[0]?.conditions).toEqual({
      methods: ['GET'],
      headers: [{ name: 'Version', value: 'one', type: 'Exact' }],
      query: [{ name: 'q', value: '1', type: 'Exact' }, { name: 'Q', value: '2', type: 'Exact' }],
    });
    const matcher = loadMatcher(table);
    expect(matcher.match('a.com', '/?q=1&Q=2', 'GET', { version: 'one' })).toBe(0);
    expect(matcher.match('a.com', '/?q=1&Q=2', 'GET', { version: 'two' })).toBe(-1);
  });

  it('gives Gateway API wildcards one or more labels, Ingress ones one, and splits a mixed host', () => {
    const s = snapshot([
      { host: '*.gw.com', routes: [route('HTTPRoute', '/')] },
      { host: '*.in.com', routes: [route('Ingress', '/')] },
      { host: '*.mix.com', routes: [route('Ingress', '/in'), route('HTTPRoute', '/gw')] },
    ]);
    const { table } = toMatcherTable(s);
    expect(table.hosts.map((h) => [h.host, h.labels ?? 'one', h.paths.map((p) => p.path)])).toEqual([
      ['*.gw.com', 'many', ['/']],
      ['*.in.com', 'one', ['/']],
      ['*.mix.com', 'one', ['/in', '/gw']],
      ['*.mix.com', 'deeper', ['/gw']],
    ]);
    const matcher = loadMatcher(table);
    expect(matcher.match('a.b.gw.com', '/', 'GET')).toBe(0);
    expect(matcher.match('a.b.in.com', '/', 'GET')).toBe(-1);
    expect(matcher.match('a.mix.com', '/in', 'GET')).toBe(2);
    expect(matcher.match('a.b.mix.com', '/in', 'GET')).toBe(-1);
    expect(matcher.match('a.b.mix.com', '/gw', 'GET')).toBe(3);
  });

  it('maps RegularExpression paths to the matcher and leaves Ingress routes without conditions', () => {
    const s = snapshot([{ host: 'a.com', routes: [route('HTTPRoute', '/v[0-9]+', { pathType: 'RegularExpression' }), route('Ingress', '/')] }]);
    const { table } = toMatcherTable(s);
    expect(table.hosts[0]?.paths).toEqual([{ pathType: 'RegularExpression', path: '/v[0-9]+', route: 0 }, { pathType: 'Prefix', path: '/', route: 1 }]);
    expect(loadMatcher(table).match('a.com', '/v12', 'GET')).toBe(0);
  });

  it('the snapshot accepts a regex path without a leading slash, and only a regex', () => {
    expect(() => snapshot([{ host: 'a.com', routes: [route('HTTPRoute', '.*/x', { pathType: 'RegularExpression' })] }])).not.toThrow();
    expect(() => snapshot([{ host: 'a.com', routes: [route('HTTPRoute', 'x')] }])).toThrow(expect.objectContaining({ code: 'PORTICO_E_SNAPSHOT_INVALID' }));
  });

  it('regexProblem says why RE2 refuses a pattern, and nothing for one it runs', () => {
    expect(regexProblem('/v[0-9]+')).toBeUndefined();
    expect(regexProblem('(a)\\1')).toMatch(/no backreferences/);
    expect(regexProblem('a'.repeat(1025))).toMatch(/longer than 1024/);
  });

  it('explain decides as the matcher: deep Gateway wildcards, regex paths and conditions, invalid backends', () => {
    const backend = { namespace: 'ns', service: 'gone', port: 80, weight: 1, endpointSet: null, invalid: true as const };
    const explainer = new Explainer(snapshot([
      { host: '*.gw.com', routes: [route('HTTPRoute', '/v[0-9]+', { pathType: 'RegularExpression', match: { methods: ['GET'] } }), route('HTTPRoute', '/', { backends: [backend] })] },
    ]));
    const regex = explainer.explain({ host: 'a.b.gw.com', path: '/v2' });
    expect(regex.route?.pathType).toBe('RegularExpression');
    expect(regex.reason).toContain('host *.gw.com (wildcard) selected; no Exact path, the first regular expression matching the whole path: /v[0-9]+ (RegularExpression) whose method/header/query conditions hold');
    const invalid = explainer.explain({ host: 'a.b.gw.com', path: '/v2', method: 'POST' });
    expect(invalid.status).toBe(500);
    expect(invalid.reason).toContain('backend references are invalid');
    expect(invalid.lost).toContainEqual(expect.objectContaining({ reason: expect.stringContaining('conditions do not hold') }));
  });
});
