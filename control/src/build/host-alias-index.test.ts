/**
 * server-alias and from-to-www-redirect decided name by name (HostAliasIndex): the same hosts and
 * Warnings as ingress-nginx's one pass over every claim (the pass the build ran before, kept here
 * as the reference), after any sequence of Ingress edits the same as a full build, and a change
 * elsewhere costs no alias work and hands compile the hosts it kept.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { STANDALONE_SELECTION, selfSignedTlsSecret } from '../api/test-support.ts';
import { compileSnapshot } from '../compile/index.ts';
import type { Condition } from '../model/conditions.ts';
import { compareConditions } from '../model/conditions.ts';
import { keptRunsOf } from '../model/list-edits.ts';
import type { VirtualHost } from '../model/types.ts';
import { BundleCompiler } from '../snapshot/bundle-compile.ts';
import { compareHosts } from '../snapshot/order.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import type { AliasClaim } from './host-aliases.ts';
import { NO_HOST_ANNOTATIONS, redirectHost } from './host-aliases.ts';
import type { HostOutcome } from './index.ts';
import { applyHostAliases, buildModel } from './index.ts';
import { IncrementalBuild } from './incremental.ts';
import { compareClaims } from './ingress.ts';

/** The pass as the build ran it before the index (session 10's withHostAliases): every claim, in precedence order. */
function referencePass(virtualHosts: readonly VirtualHost[], outcomes: ReadonlyMap<string, HostOutcome>, conditions: Condition[]): readonly VirtualHost[] {
  const byOrder = (a: AliasClaim, b: AliasClaim): number => compareClaims(a.order, b.order);
  const claims = [...[...outcomes.values()].flatMap((o) => o.aliasClaims.routes).sort(byOrder), ...[...outcomes.values()].flatMap((o) => o.aliasClaims.defaults).sort(byOrder)];
  const served = (host: string) => outcomes.get(host)?.virtualHost;
  const taken = new Map<string, string>();
  const added: VirtualHost[] = [];
  const seen = new Set<string>();
  const warn = (claim: AliasClaim, name: string, message: string) => conditions.push({ source: claim.source, field: `metadata.annotations['nginx.ingress.kubernetes.io/${name}']`, reason: 'InvalidAnnotation', severity: 'Warning', message });
  const wanted = claims.filter((claim) => {
    const key = `${claim.source.namespace}/${claim.source.name}|${claim.host}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  for (const claim of wanted) {
    const vhost = served(claim.host);
    if (vhost === undefined || claim.host === '*') continue;
    for (const alias of claim.hostAnnotations.serverAliases) {
      if (alias === claim.host) continue;
      if (served(alias) !== undefined) warn(claim, 'server-alias', `alias ${alias} is the host of an existing rule; ignored (as ingress-nginx does)`);
      else if (taken.has(alias)) {
        if (taken.get(alias) !== claim.host) warn(claim, 'server-alias', `alias ${alias} is already an alias of ${taken.get(alias)}; ignored`);
      } else {
        taken.set(alias, claim.host);
        added.push({ ...vhost, host: alias });
      }
    }
  }
  for (const claim of wanted) {
    const vhost = served(claim.host);
    if (!claim.hostAnnotations.fromToWww || vhost === undefined) continue;
    if (claim.host.startsWith('*')) {
      warn(claim, 'from-to-www-redirect', `host ${claim.host} is a wildcard or missing; no redirect host is made`);
      continue;
    }
    const from = claim.host.startsWith('www.') ? claim.host.slice(4) : `www.${claim.host}`;
    if (taken.get(from) === `www:${claim.host}`) continue;
    if (served(from) !== undefined || taken.has(from)) {
      warn(claim, 'from-to-www-redirect', `${from} is already served (a rule's host or an alias); no redirect from it to ${claim.host} (as ingress-nginx skips it)`);
      continue;
    }
    taken.set(from, `www:${claim.host}`);
    added.push(redirectHost(claim, from, vhost));
  }
  return [...virtualHosts, ...added].sort((a, b) => compareHosts(a.host, b.host));
}

// Hosts whose www names collide (www.www.b -> www.b <- b), wildcards, `*`, and names some hosts serve.
const HOSTS = ['a.example', 'www.a.example', 'b.example', 'www.b.example', 'www.www.b.example', '*.c.example', '*', 'c.example'];
const NAMES = ['a.example', 'www.a.example', 'x.example', 'y.example', '*.y.example', 'c.example', 'b.example'];

describe('HostAliasIndex against the one-pass reference', () => {
  it('random outcomes: the same hosts (by content) and the same Warnings', () => {
    const ingressArb = fc.record({ created: fc.constantFrom('2026-01-01', '2026-01-02', ''), aliases: fc.array(fc.constantFrom(...NAMES), { maxLength: 4 }), www: fc.boolean() });
    const claimArb = fc.record({ host: fc.constantFrom(...HOSTS), ingress: fc.nat(4), group: fc.nat(1) });
    fc.assert(
      fc.property(fc.array(ingressArb, { minLength: 5, maxLength: 5 }), fc.array(claimArb, { maxLength: 14 }), fc.subarray(HOSTS), (ingresses, claims, servedHosts) => {
        const outcomes = new Map<string, { routes: AliasClaim[]; defaults: AliasClaim[] }>();
        claims.forEach((c, position) => {
          const ingress = ingresses[c.ingress]!;
          const claim: AliasClaim = {
            host: c.host,
            source: { kind: 'Ingress', namespace: 'default', name: `i${c.ingress}` },
            hostAnnotations: ingress.aliases.length === 0 && !ingress.www ? NO_HOST_ANNOTATIONS : { serverAliases: ingress.aliases, fromToWww: ingress.www },
            order: { created: ingress.created, namespace: 'default', name: `i${c.ingress}`, position },
          };
          if (claim.hostAnnotations === NO_HOST_ANNOTATIONS) return;
          if (!outcomes.has(c.host)) outcomes.set(c.host, { routes: [], defaults: [] });
          outcomes.get(c.host)![c.group === 0 ? 'routes' : 'defaults'].push(claim);
        });
        const all = new Map<string, HostOutcome>();
        for (const host of new Set([...HOSTS])) {
          const virtualHost: VirtualHost | undefined = servedHosts.includes(host) ? { host, routes: [], defaultRoute: undefined, certificate: host.length % 2 === 0 ? 'default/tls' : undefined, tls: false } : undefined;
          all.set(host, { virtualHost, catchAll: undefined, conditions: [], aliasClaims: outcomes.get(host) ?? { routes: [], defaults: [] } });
        }
        const hosts = [...all.values()].flatMap((o) => (o.virtualHost === undefined ? [] : [o.virtualHost])).sort((a, b) => compareHosts(a.host, b.host));
        const expected: Condition[] = [];
        const actual: Condition[] = [];
        expect(JSON.stringify(applyHostAliases(hosts, all, actual))).toBe(JSON.stringify(referencePass(hosts, all, expected)));
        expect(actual.sort(compareConditions)).toEqual(expected.sort(compareConditions));
      }),
      { numRuns: 3000, seed: 11 },
    );
  });
});

const ingress = (name: string, created: string, rules: readonly { host: string; paths?: readonly string[] }[], annotations: Record<string, string> = {}, defaultBackend = false, tls = false): KubeObject =>
  ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'default', creationTimestamp: created, annotations },
    spec: {
      ...(defaultBackend ? { defaultBackend: { service: { name: 'web', port: { number: 80 } } } } : {}),
      ...(tls ? { tls: [{ hosts: rules.map((rule) => rule.host), secretName: 'tls' }] } : {}),
      rules: rules.map(({ host, paths }) => ({ host, ...(paths === undefined ? {} : { http: { paths: paths.map((path) => ({ path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } })) } }) })),
    },
  }) as KubeObject;

const web: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default' }, spec: { ports: [{ name: 'http', port: 80 }] } } as KubeObject;

/** Builds incrementally and checks the result against a full build of the same state; returns it. */
function checked(state: ClusterState, incremental: IncrementalBuild): ReturnType<IncrementalBuild['build']> {
  const result = incremental.build();
  const full = buildModel(state, STANDALONE_SELECTION);
  expect(JSON.stringify({ model: result.model, conditions: result.conditions })).toBe(JSON.stringify({ model: full.model, conditions: full.conditions }));
  return result;
}

describe('IncrementalBuild with server-alias and from-to-www-redirect', () => {
  it('any sequence of Ingress edits (aliases, www redirects, hosts colliding with aliases, default backends, removals) equals a full build after each', () => {
    const editArb = fc.record({
      ingress: fc.nat(5),
      remove: fc.boolean(),
      created: fc.constantFrom('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'),
      rules: fc.array(fc.record({ host: fc.constantFrom(...HOSTS.filter((h) => h !== '*'), ...NAMES), paths: fc.option(fc.subarray(['/', '/v1']), { nil: undefined }) }), { minLength: 1, maxLength: 3 }),
      aliases: fc.array(fc.constantFrom(...NAMES, 'Not_A_Name'), { maxLength: 3 }),
      www: fc.constantFrom(undefined, 'true', 'false', 'yes'),
      defaultBackend: fc.boolean(),
      tls: fc.boolean(),
    });
    const messages = new Set<string>();
    fc.assert(
      fc.property(fc.array(editArb, { minLength: 1, maxLength: 30 }), (edits) => {
        const state = ClusterState.from([web, selfSignedTlsSecret('default', 'tls', 'a.example') as KubeObject]);
        const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
        checked(state, incremental);
        for (const edit of edits) {
          const annotations = { ...(edit.aliases.length > 0 ? { 'nginx.ingress.kubernetes.io/server-alias': edit.aliases.join(', ') } : {}), ...(edit.www === undefined ? {} : { 'nginx.ingress.kubernetes.io/from-to-www-redirect': edit.www }) };
          const object = ingress(`i${edit.ingress}`, edit.created, edit.rules, annotations, edit.defaultBackend, edit.tls);
          if (edit.remove) state.remove(object);
          else state.upsert(object);
          for (const condition of checked(state, incremental).conditions) if (condition.field.includes('alias') || condition.field.includes('www')) messages.add(condition.message.replace(/[a-z.*]*example/g, 'N').split(';')[0]!);
        }
      }),
      { numRuns: 300, seed: 5 },
    );
    // The walk met every rule of the pass (and www hosts with and without their host's certificate).
    expect([...messages].sort()).toEqual(['N is already served (a rule\'s host or an alias)', 'alias N is already an alias of N', 'alias N is the host of an existing rule', 'alias "Not_A_Name" must be a lower-case RFC 1123 subdomain (letters, digits, "-" and ".")', 'expected "true" or "false", got "yes"', 'host N is a wildcard or missing'].sort());
  });
});

const CREATED = '2026-01-01T00:00:00Z';

describe('a www redirect host kept across builds', () => {
  it('is made again when what it carries changes: the Ingress re-created (a new creationTimestamp), its host\'s certificate', () => {
    const www = (created: string, tls: boolean): KubeObject => ingress('i0', created, [{ host: 'a.example', paths: ['/'] }], { 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' }, false, tls);
    const state = ClusterState.from([web, selfSignedTlsSecret('default', 'tls', 'a.example') as KubeObject, www('2026-01-01T00:00:00Z', false)]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    const redirect = () => checked(state, incremental).model.virtualHosts.find((v) => v.host === 'www.a.example')!;
    const first = redirect();
    // The host changes, the redirect does not: the same object.
    state.upsert(ingress('i0', '2026-01-01T00:00:00Z', [{ host: 'a.example', paths: ['/', '/b'] }], { 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' }));
    expect(redirect()).toBe(first);
    state.upsert(www('2026-01-02T00:00:00Z', false));
    expect(redirect().routes[0]!.created).toBe('2026-01-02T00:00:00Z');
    state.upsert(www('2026-01-02T00:00:00Z', true));
    expect(redirect().certificate).toBe('default/tls');
  });

  it('on a wildcard host, no redirect; its Warning follows the Ingress asking (one replaced by another in one build)', () => {
    const wild = (name: string): KubeObject => ingress(name, CREATED, [{ host: '*.w.example', paths: ['/'] }], { 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' });
    const state = ClusterState.from([web, wild('w1')]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    const warned = () => checked(state, incremental).conditions.map((c) => `${c.source.name}: ${c.message}`);
    expect(warned()).toEqual(['w1: host *.w.example is a wildcard or missing; no redirect host is made']);
    state.remove(wild('w1'));
    state.upsert(wild('w2'));
    expect(warned()).toEqual(['w2: host *.w.example is a wildcard or missing; no redirect host is made']);
  });
});

const fleet = (n: number): KubeObject[] => [web, ...Array.from({ length: n }, (_, i) => ingress(`app-${i}`, CREATED, [{ host: `app-${i}.example`, paths: ['/'] }]))];
/** The work a build did on alias names (HostAliasIndex folds and the requests they went through). */
const aliasWork = (incremental: IncrementalBuild, run: () => void): { names: number; requests: number } => {
  const { aliasNames, aliasRequests } = incremental.stats;
  run();
  return { names: incremental.stats.aliasNames - aliasNames, requests: incremental.stats.aliasRequests - aliasRequests };
};

describe('alias hosts cost what changes', () => {
  it('a path edit elsewhere decides no alias again and hands compile every other host as kept: one host compiled, the bundle patched', () => {
    // Aliases sorting first and last among the hosts: a list compared by its unchanged ends would differ almost everywhere.
    const aliased = ingress('aliased', CREATED, [{ host: 'm.example', paths: ['/'] }], { 'nginx.ingress.kubernetes.io/server-alias': 'aaa.example, zzz.example', 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' });
    // The edited host has a path renamed within its pad (the bundle's chunk keeps its size: patched, as bundle-property.test.ts has it).
    const edited = (edit: number): KubeObject => ingress('app-1000', CREATED, [{ host: 'app-1000.example', paths: ['/', `/v${edit}`] }]);
    const state = ClusterState.from([...fleet(2000), aliased, edited(0)]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    const first = checked(state, incremental);
    expect(first.model.virtualHosts.map((v) => v.host)).toEqual(expect.arrayContaining(['aaa.example', 'zzz.example', 'www.m.example']));
    const compiler = new BundleCompiler();
    const before = compileSnapshot(first.model);
    compiler.compile(before);
    for (const edit of [1, 2]) {
      const last = incremental.build().model;
      state.upsert(edited(edit));
      let next: ReturnType<IncrementalBuild['build']> | undefined;
      expect(aliasWork(incremental, () => (next = checked(state, incremental)))).toEqual({ names: 0, requests: 0 });
      const hosts = next!.model.virtualHosts;
      const runs = keptRunsOf(hosts, last.virtualHosts);
      expect(runs).toBeDefined();
      let kept = 0;
      for (let k = 0; k < runs!.length; k += 3) kept += runs![k + 1]! - runs![k]!;
      expect(kept).toBe(hosts.length - 1);
      const compiledBefore = compiler.stats.hostsCompiled;
      const patchedBefore = compiler.paths.full.patched;
      compiler.compile(compileSnapshot(next!.model, edit === 1 ? before : compileSnapshot(last)));
      expect({ compiled: compiler.stats.hostsCompiled - compiledBefore, patched: compiler.paths.full.patched - patchedBefore }).toEqual({ compiled: 1, patched: 1 });
    }
    // An edit of the aliased host itself re-makes its aliases and its redirect (they copy it), nothing else.
    const last = incremental.build().model;
    state.upsert(ingress('aliased', CREATED, [{ host: 'm.example', paths: ['/', '/m'] }], { 'nginx.ingress.kubernetes.io/server-alias': 'aaa.example, zzz.example', 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' }));
    let next: ReturnType<IncrementalBuild['build']> | undefined;
    expect(aliasWork(incremental, () => (next = checked(state, incremental)))).toEqual({ names: 3, requests: 3 });
    expect(next!.model.virtualHosts.filter((v, i) => v !== last.virtualHosts[i]).map((v) => v.host).sort()).toEqual(['aaa.example', 'm.example', 'zzz.example']);
  });

  it('hostile: thousands of alias names on an Ingress of hundreds of hosts stay at 64 names and equal a full build; a collision re-decides its one name', () => {
    const names = Array.from({ length: 5000 }, (_, i) => `alias-${i}.example`).join(',');
    const hosts = Array.from({ length: 300 }, (_, i) => ({ host: `h-${i}.example`, paths: ['/'] }));
    const greedy = ingress('greedy', CREATED, hosts, { 'nginx.ingress.kubernetes.io/server-alias': names, 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' });
    const state = ClusterState.from([...fleet(50), greedy]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    let result: ReturnType<IncrementalBuild['build']> | undefined;
    // Every host asks for the 64 names taken and its www name: 300 * 65 requests, each name folded once.
    expect(aliasWork(incremental, () => (result = checked(state, incremental)))).toEqual({ names: 64 + 300, requests: 300 * 65 });
    const served = result!.model.virtualHosts;
    expect(served).toHaveLength(50 + 300 + 64 + 300);
    // The first host (by position) takes each alias; the others are told it is taken.
    expect(served.find((v) => v.host === 'alias-63.example')!.routes).toBe(served.find((v) => v.host === 'h-0.example')!.routes);
    expect(served.some((v) => v.host === 'alias-64.example')).toBe(false);
    const warnings = result!.conditions.filter((c) => c.source.name === 'greedy');
    // The first 16 entries left out get a Warning each, the other 4,920 one Warning between them.
    expect(warnings.filter((c) => c.message.includes('past the 64'))).toHaveLength(16 + 1);
    expect(warnings.filter((c) => c.message.startsWith(`${5000 - 64 - 16} more entries left out`))).toHaveLength(1);
    expect(warnings.filter((c) => c.message.includes('already an alias of h-0.example'))).toHaveLength(299 * 64);
    // A path edit elsewhere: nothing.
    state.upsert(ingress('app-7', CREATED, [{ host: 'app-7.example', paths: ['/', '/x'] }]));
    expect(aliasWork(incremental, () => checked(state, incremental))).toEqual({ names: 0, requests: 0 });
    // An Ingress taking an alias name as its host: that name alone is decided again (its 300 requests), and all of them are told it is served.
    const squatter = ingress('squatter', '2027-01-01T00:00:00Z', [{ host: 'alias-5.example', paths: ['/'] }]);
    state.upsert(squatter);
    expect(aliasWork(incremental, () => (result = checked(state, incremental)))).toEqual({ names: 1, requests: 300 });
    expect(result!.conditions.filter((c) => c.message.startsWith('alias alias-5.example is the host of an existing rule'))).toHaveLength(300);
    state.remove(squatter);
    expect(aliasWork(incremental, () => checked(state, incremental))).toEqual({ names: 1, requests: 300 });
  });

  it('hostile: a thousand Ingresses asking for one alias: an edit of one that lost re-decides nothing, of the one that won that name alone', () => {
    const claimant = (i: number, path = '/') => ingress(`c-${i}`, `2026-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`, [{ host: `c-${i}.example`, paths: [path] }], { 'nginx.ingress.kubernetes.io/server-alias': 'shared.example' });
    const state = ClusterState.from([web, ...Array.from({ length: 1000 }, (_, i) => claimant(i))]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    let result = checked(state, incremental);
    // The oldest (c-0, c-60, c-120, ...: then by namespace/name) takes it; 999 are told.
    expect(result.model.virtualHosts.find((v) => v.host === 'shared.example')!.routes).toBe(result.model.virtualHosts.find((v) => v.host === 'c-0.example')!.routes);
    expect(result.conditions.filter((c) => c.message === 'alias shared.example is already an alias of c-0.example; ignored')).toHaveLength(999);
    const warnings = result.conditions;
    state.upsert(claimant(500, '/v'));
    expect(aliasWork(incremental, () => (result = checked(state, incremental)))).toEqual({ names: 0, requests: 0 });
    // Its Warning is the same object: the conditions merge has nothing of the alias to drop or add.
    expect(result.conditions.filter((c) => c.source.name === 'c-500')).toEqual(warnings.filter((c) => c.source.name === 'c-500'));
    expect(result.conditions.find((c) => c.source.name === 'c-500')).toBe(warnings.find((c) => c.source.name === 'c-500'));
    state.upsert(claimant(0, '/v'));
    expect(aliasWork(incremental, () => (result = checked(state, incremental)))).toEqual({ names: 1, requests: 1000 });
    expect(result.model.virtualHosts.find((v) => v.host === 'shared.example')!.routes[0]!.path).toBe('/v');
    // The winner gone: the next oldest takes the name, every Warning now names it.
    state.remove(claimant(0));
    expect(aliasWork(incremental, () => (result = checked(state, incremental)))).toEqual({ names: 1, requests: 999 });
    expect(result.conditions.filter((c) => c.message === 'alias shared.example is already an alias of c-120.example; ignored')).toHaveLength(998);
  });

  it('hostile: aliases naming each other, chains and www names that are hosts resolve as the one pass does, both ways', () => {
    const alias = (name: string, host: string, to: string, www = false) => ingress(name, CREATED, [{ host, paths: ['/'] }], { 'nginx.ingress.kubernetes.io/server-alias': to, ...(www ? { 'nginx.ingress.kubernetes.io/from-to-www-redirect': 'true' } : {}) });
    // a <-> b (both hosts: neither alias is made), b -> c (made), c's www name is a host with its own www redirect back.
    const state = ClusterState.from([web, alias('one', 'a.example', 'b.example', true), alias('two', 'b.example', 'a.example, c.example'), alias('three', 'www.a.example', 'a.example', true)]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    const hosts = () => incremental.build().model.virtualHosts.map((v) => `${v.host}${v.routes[0]?.policies?.wwwRedirect === undefined ? '' : ` -> ${v.routes[0].policies.wwwRedirect.to}`}`);
    const reasons = () => incremental.build().conditions.map((c) => `${c.source.name}: ${c.message.split(';')[0]}`);
    checked(state, incremental);
    expect(hosts()).toEqual(['a.example', 'b.example', 'c.example', 'www.a.example']);
    expect(reasons()).toEqual([
      'one: www.a.example is already served (a rule\'s host or an alias)',
      'one: alias b.example is the host of an existing rule',
      'three: a.example is already served (a rule\'s host or an alias)',
      'three: alias a.example is the host of an existing rule',
      'two: alias a.example is the host of an existing rule',
    ]);
    // www.a.example goes: one's redirect takes its name; b's host goes: one's alias b takes it, and with it b's alias c goes.
    state.remove(alias('three', 'www.a.example', ''));
    state.remove(alias('two', 'b.example', ''));
    checked(state, incremental);
    expect(hosts()).toEqual(['a.example', 'b.example', 'www.a.example -> a.example']);
    expect(reasons()).toEqual([]);
    // They come back in the other order: the same as at first.
    state.upsert(alias('two', 'b.example', 'a.example, c.example'));
    checked(state, incremental);
    state.upsert(alias('three', 'www.a.example', 'a.example', true));
    checked(state, incremental);
    expect(hosts()).toEqual(['a.example', 'b.example', 'c.example', 'www.a.example']);
  });
});
