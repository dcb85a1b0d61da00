/**
 * `upstream-hash-by` (+ `upstream-hash-by-subset`, `-subset-size`: a key maps to that many best
 * endpoints, one per request at random) and `load-balance`, as
 * ingress-nginx documents them (annotations.md "Custom NGINX upstream hashing", "Custom NGINX
 * load balancing"): requests whose key (nginx variables and text, e.g. `$request_uri`,
 * `$remote_addr$host`, `${arg_user}-x`) is the same go to the same endpoint while it serves, and
 * when endpoints come or go only the keys of the endpoints that changed move.
 *
 * The key is built here, in JS, from the strings Node already decoded and hashed to a u32
 * (FNV-1a over at most MAX_KEY characters, then the length); the endpoint is chosen by the wasm
 * matcher (`Matcher.pickHash`: rendezvous hashing over the healthy endpoints, seeded by their
 * addresses) so that the choice sits with every other endpoint choice. ingress-nginx uses ketama
 * (resty.chash); the mapping differs, the property (consistency) is the same.
 *
 * `load-balance: ewma` (without upstream-hash-by, which wins as in ingress-nginx) asks the data
 * plane for the power of two choices over each endpoint's measured response time (wasm
 * `pickLeastLoaded`; the averages live in the data plane's LoadedSnapshot).
 *
 * Variables: `$request_uri`, `$uri`, `$args`/`$query_string`, `$arg_<name>`, `$http_<name>`,
 * `$cookie_<name>`, `$host`, `$remote_addr`, `$scheme`, `$request_method`; anything else is a
 * Warning and the annotation is not applied (round robin, as ingress-nginx on an unknown variable
 * hashes its empty value for every request, sending all to one endpoint).
 */
import { cookieValue } from './cookie.ts';
import { hostOnly } from './external-auth.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** Characters of a key that are hashed (the length is hashed too): a huge header costs at most this. */
export const MAX_KEY = 4096;

/** The longest `upstream-hash-by` template accepted. */
const MAX_TEMPLATE = 512;

const VARIABLE = /\$(?:\{([a-z_][a-z0-9_]*)\}|([a-z_][a-z0-9_]*))/gi;
const SIMPLE = new Set(['request_uri', 'uri', 'args', 'query_string', 'host', 'remote_addr', 'scheme', 'request_method']);
const PREFIXED = /^(arg|http|cookie)_([a-z0-9_]{1,128})$/i;

/** How a route balances: by a hash of `by`, else (`ewma`) by measured latency. */
export interface HashData {
  /** The upstream-hash-by template as written (checked on load), or undefined. */
  readonly by?: string | undefined;
  /** upstream-hash-by-subset: a key maps to this many endpoints (2..16), one of them per request at random. */
  readonly subset?: number | undefined;
  /** `load-balance: ewma`: the power of two choices over each endpoint's latency average. */
  readonly ewma?: true | undefined;
}

/** Pure: FNV-1a (32-bit) over the first MAX_KEY UTF-16 units of `key`, mixed with its length. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  const end = Math.min(key.length, MAX_KEY);
  for (let i = 0; i < end; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ Math.imul(key.length, 0x9e3779b1)) >>> 0;
}

/** A part of a key: literal text, or a function of the request. */
type Part = string | ((facts: RequestFacts) => string);

function queryOf(facts: RequestFacts): string {
  const at = facts.target.indexOf('?');
  return at < 0 ? '' : facts.target.slice(at + 1);
}

function argument(facts: RequestFacts, name: string): string {
  for (const pair of queryOf(facts).split('&')) {
    const eq = pair.indexOf('=');
    if ((eq < 0 ? pair : pair.slice(0, eq)).toLowerCase() === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return '';
}

function variable(name: string): Part | undefined {
  const lower = name.toLowerCase();
  switch (lower) {
    case 'request_uri': return (f) => f.target;
    case 'uri': return (f) => { const at = f.path.indexOf('?'); return at < 0 ? f.path : f.path.slice(0, at); };
    case 'args':
    case 'query_string': return queryOf;
    case 'host': return (f) => hostOnly(f.host);
    case 'remote_addr': return (f) => f.client;
    case 'scheme': return (f) => f.scheme;
    case 'request_method': return (f) => f.method;
  }
  const prefixed = PREFIXED.exec(lower);
  if (prefixed === null) return undefined;
  const rest = prefixed[2] as string;
  if (prefixed[1] === 'arg') return (f) => argument(f, rest);
  if (prefixed[1] === 'cookie') return (f) => cookieValue(f.header('cookie'), rest) ?? '';
  // nginx: $http_x_user is header X-User.
  const header = rest.replace(/_/g, '-');
  return (f) => f.header(header) ?? '';
}

/** Compiles a template into parts, or names what cannot be. */
export function compileTemplate(template: string): Part[] | { readonly problem: string } {
  if (template.length > MAX_TEMPLATE) return { problem: `is longer than ${MAX_TEMPLATE} characters` };
  const parts: Part[] = [];
  let at = 0;
  for (const match of template.matchAll(VARIABLE)) {
    const name = (match[1] ?? match[2]) as string;
    const part = variable(name);
    if (part === undefined) return { problem: `uses $${name}, which Portico does not provide (supported: ${[...SIMPLE].map((v) => `$${v}`).join(', ')}, $arg_*, $http_*, $cookie_*)` };
    if (match.index > at) parts.push(template.slice(at, match.index));
    parts.push(part);
    at = match.index + match[0].length;
  }
  if (at < template.length) parts.push(template.slice(at));
  if (!parts.some((part) => typeof part !== 'string')) return { problem: 'has no variable, so every request would go to one endpoint' };
  return parts;
}

/** Most endpoints a subset holds (the wasm matcher's MAX_SUBSET). */
const MAX_SUBSET = 16;

function readSubsetSize(reader: AnnotationReader): number | undefined {
  const size = reader.integer('upstream-hash-by-subset-size', 3) ?? 3;
  if (size >= 1 && size <= MAX_SUBSET) return size === 1 ? undefined : size;
  reader.warn('upstream-hash-by-subset-size', `${size} is not between 1 and ${MAX_SUBSET}; 3 is used`);
  return 3;
}

function readHash(reader: AnnotationReader): HashData | undefined {
  const balance = reader.string('load-balance')?.toLowerCase();
  if (balance !== undefined && balance !== 'round_robin' && balance !== 'ewma') {
    reader.warn('load-balance', `${JSON.stringify(balance.slice(0, 32))} is not round_robin or ewma; round robin applies`);
  }
  const ewma = balance === 'ewma' ? true : undefined;
  const by = reader.string('upstream-hash-by');
  const subset = reader.boolean('upstream-hash-by-subset', false) ? readSubsetSize(reader) : undefined;
  if (by === undefined) return ewma === undefined ? undefined : { ewma };
  const compiled = compileTemplate(by);
  if ('problem' in compiled) {
    reader.warn('upstream-hash-by', `${JSON.stringify(by.slice(0, 64))} ${compiled.problem}; not applied, ${ewma === undefined ? 'round robin' : 'ewma'}`);
    return ewma === undefined ? undefined : { ewma };
  }
  // ingress-nginx: upstream-hash-by takes preference over load-balance.
  return subset === undefined ? { by } : { by, subset };
}

/** `upstream-hash-by`: consistent hashing of a request key to an endpoint. */
export const upstreamHashModule: PolicyModule<HashData> = {
  key: 'upstreamHash',
  phase: 'balance',
  annotations: [
    { name: 'upstream-hash-by', support: 'approximated', note: 'consistent hashing of the key (nginx variables $request_uri, $uri, $args, $arg_*, $http_*, $cookie_*, $host, $remote_addr, $scheme, $request_method and text) to an endpoint, in the wasm matcher (rendezvous hashing instead of ketama: a different but equally consistent mapping); keys are hashed on their first 4096 characters; an unknown variable is a Warning and round robin applies' },
    { name: 'upstream-hash-by-subset', support: 'approximated', note: 'a key maps to its subset-size best endpoints by rendezvous score (overlapping per key, where ingress-nginx partitions the endpoints into fixed subsets), one of them per request at random, in the wasm matcher' },
    { name: 'upstream-hash-by-subset-size', support: 'honoured', note: 'endpoints per subset (default 3, at most 16)' },
    { name: 'load-balance', support: 'approximated', note: 'round_robin (smooth weighted round robin in the wasm matcher); ewma: the power of two choices in the wasm matcher over each endpoint\'s exponentially weighted response time (10 s decay; a failure counts its time plus 1 s), measured per data-plane worker and started afresh with each snapshot; upstream-hash-by wins over it' },
  ],
  schema: (z) => z.strictObject({ by: z.string().min(1).max(MAX_TEMPLATE).optional(), subset: z.number().int().min(2).max(MAX_SUBSET).optional(), ewma: z.literal(true).optional() }),
  read: readHash,
  prepare: (data) => {
    if (data.by === undefined) {
      return data.ewma === true ? (_facts: RequestFacts, outcome: PolicyOutcome) => void (outcome.leastLoaded = true) : undefined;
    }
    const compiled = compileTemplate(data.by);
    // A snapshot template that does not compile here was not made by the build stage: round robin.
    if ('problem' in compiled) return undefined;
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      let key = '';
      for (const part of compiled) key += typeof part === 'string' ? part : part(facts);
      outcome.hash = hashKey(key);
      outcome.hashSubset = data.subset;
    };
  },
  describe: (data) => (data.by === undefined ? 'load-balance: ewma (the less loaded of two endpoints by response time)' : `upstream-hash-by: requests with the same ${data.by} go to the same ${data.subset === undefined ? 'endpoint' : `${data.subset} endpoints`} (consistent hashing)`),
};
