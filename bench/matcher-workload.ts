/**
 * The matcher benchmarks' workload, one copy for bench/matcher.ts and bench/matcher-pair.ts: a
 * seeded route table of a given size and a fixed mix of requests against it, and the CPU-time
 * rate both measure with. The same size always gives the same table and requests, so two trees'
 * matchers (or two runs) see exactly the same work.
 */
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import type { Matcher, RequestHeaders } from '@portico/assembly/matcher';
import type { BackendEntry, HostEntry, MatcherTable, PathEntry } from '@portico/assembly/table';

/** Requests in the pre-generated mix. */
export const REQUESTS = 4096;

/** mulberry32: a small seeded PRNG, so every run builds the same tables and requests. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A route table and the requests sent to it: request i is hosts[i], paths[i], methods[i], headers[i]. */
export interface Workload {
  readonly table: MatcherTable;
  readonly hosts: readonly string[];
  readonly paths: readonly string[];
  readonly methods: readonly string[];
  readonly headers: readonly RequestHeaders[];
}

const RULES = ['/', '/api', '/api/v1', '/api/v2/', '/static', '/assets/img', '/login', '/admin', '/ws', '/docs/guide'];

/** A table of about `size` routes: hosts with 2-8 rules each, ~10% wildcards, a canary header rule now and then. */
export function workload(size: number): Workload {
  const random = prng(size);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const hosts: HostEntry[] = [];
  const routes: { backends: BackendEntry[] }[] = [];
  // Each backend its own endpoint set (a Service port per backend).
  const sets: number[][] = [];
  let endpoints = 0;
  const route = (): number => {
    const backends = Array.from({ length: 1 + Math.floor(random() * 3) }, () => {
      const count = 1 + Math.floor(random() * 4);
      const ids = Array.from({ length: count }, (_, k) => endpoints + k);
      endpoints += count;
      return { weight: 1 + Math.floor(random() * 10), set: sets.push(ids) - 1 };
    });
    routes.push({ backends });
    return routes.length - 1;
  };
  const names: string[] = [];
  const wildcards: string[] = [];
  while (routes.length < size) {
    const i = hosts.length;
    const wildcard = random() < 0.1;
    const name = wildcard ? `tenant${i}.apps.example.io` : `svc${i}.ns${i % 97}.example.com`;
    (wildcard ? wildcards : names).push(name);
    const rules = new Set<string>(['/']);
    const want = 2 + Math.floor(random() * 7);
    while (rules.size < want) rules.add(random() < 0.3 ? `/v${Math.floor(random() * 5)}/${pick(['users', 'orders', 'items'])}` : pick(RULES));
    const paths: PathEntry[] = [...rules].map((path) => ({
      pathType: random() < 0.15 ? 'Exact' : 'Prefix',
      path,
      route: route(),
      conditions: random() < 0.03 ? { headers: [{ name: 'x-canary', value: 'always' }] } : undefined,
    }));
    hosts.push({ host: wildcard ? `*.${name}` : name, paths, fallback: random() < 0.5 ? route() : -1 });
  }
  hosts.push({ host: '*', paths: [{ pathType: 'Prefix', path: '/.well-known/acme-challenge', route: route() }], fallback: -1 });
  const fallback = route();
  const table: MatcherTable = { hosts, routes, sets, endpointCount: endpoints, fallback };

  const baseHeaders = { 'user-agent': 'bench/1.0', accept: '*/*', 'accept-encoding': 'gzip, br', connection: 'keep-alive', 'x-request-id': 'c0ffee' };
  const reqHosts: string[] = [];
  const reqPaths: string[] = [];
  const reqMethods: string[] = [];
  const reqHeaders: RequestHeaders[] = [];
  for (let i = 0; i < REQUESTS; i++) {
    const kind = random();
    let host: string;
    let path = `${pick(RULES)}${random() < 0.5 ? `/${pick(['x', 'item', '12345', 'a/b/c'])}` : ''}`;
    if (kind < 0.7) host = pick(names);
    else if (kind < 0.8) host = `${pick(['a', 'web', 'b1'])}.${pick(wildcards)}`;
    else if (kind < 0.9) {
      host = pick(names);
      path = `/unknown/${Math.floor(random() * 1000)}`;
    } else host = `nohost${Math.floor(random() * 1e6)}.example.net`;
    if (random() < 0.2) host = host.toUpperCase();
    if (random() < 0.3) host += ':443';
    if (random() < 0.3) path += `?q=${Math.floor(random() * 1e6)}&page=2`;
    reqHosts.push(host);
    reqPaths.push(path);
    reqMethods.push(random() < 0.85 ? 'GET' : 'POST');
    reqHeaders.push({ ...baseHeaders, host, ...(random() < 0.05 ? { 'x-canary': 'always' } : {}) });
  }
  // Node's HTTP parser hands out flat strings; concatenation made ropes, so flatten like it would.
  const flat = (list: string[]): string[] => JSON.parse(JSON.stringify(list)) as string[];
  return { table, hosts: flat(reqHosts), paths: flat(reqPaths), methods: reqMethods, headers: reqHeaders };
}

/** CPU time of this thread in ms: other processes on a shared machine do not count against us. */
export function cpuMs(): number {
  const { user, system } = process.threadCpuUsage();
  return (user + system) / 1000;
}

/**
 * Lookups per CPU-second of `step(i)` over the request mix (i from 0 to REQUESTS - 1, round after
 * round), measured for at least `ms` of this thread's CPU after a warm-up of up to four rounds or
 * `ms / 4` of wall time.
 */
export function rate(step: Step, ms: number): number {
  let sink = 0;
  const warm = performance.now();
  for (let round = 0; round < 4 && performance.now() - warm < ms / 4; round++) {
    for (let i = 0; i < REQUESTS; i++) sink += step(i);
  }
  let done = 0;
  const start = cpuMs();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < REQUESTS; i++) sink += step(i);
    done += REQUESTS;
    elapsed = cpuMs() - start;
  }
  if (sink === 0.5) console.log(sink); // keeps `sink` alive
  return (done / elapsed) * 1000;
}

/** One lookup of the request mix: request i's answer, a number the measuring loop sums so the work is kept. */
export type Step = (i: number) => number;

/** The two lookups the matcher benchmarks time over `w`'s requests: match alone, and match then pick (for a request that found a route). */
export function lookupSteps(matcher: Pick<Matcher, 'match' | 'pick'>, w: Workload): { match: Step; matchPick: Step } {
  const { hosts, paths, methods, headers } = w;
  return {
    match: (i) => matcher.match(hosts[i] as string, paths[i] as string, methods[i] as string, headers[i]),
    matchPick: (i) => {
      const route = matcher.match(hosts[i] as string, paths[i] as string, methods[i] as string, headers[i]);
      return route >= 0 ? matcher.pick(route) : route;
    },
  };
}
