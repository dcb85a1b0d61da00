/**
 * The canary family, as ingress-nginx documents it (docs/user-guide/nginx-configuration/
 * annotations.md "Canary"; rootfs/etc/nginx/lua/balancer.lua `route_to_alternative_balancer`;
 * test/e2e/annotations/canary.go), with one difference: a host/path may have several canary
 * Ingresses (ingress-nginx takes one).
 *
 * An Ingress with `canary: "true"` does not claim its host/paths: each of its rules adds its
 * backend to the main Ingress's rule with the same host, path and pathType (the build stage
 * merges them, `build/canary.ts`), and the route carries one rule per canary, oldest canary first.
 * Per request, in ingress-nginx's precedence, header before cookie before weight:
 *
 * 1. Header: for each canary in order, a request carrying its `canary-by-header` is sent to it when
 *    the value equals `canary-by-header-value` (when set), else matches `canary-by-header-pattern`
 *    (when set; RE2, unanchored, case-sensitive like nginx's `ngx.re.match`), else is `always`.
 *    `never` (or a pattern that could not be compiled) excludes that canary for the request.
 *    Any other value falls through. The first canary chosen wins.
 * 2. Cookie: for each canary not excluded, in order, cookie `canary-by-cookie` = `always` sends the
 *    request to it, `never` excludes it; any other value falls through.
 * 3. Weight: the route's backend weights already hold the split (main and canaries); the endpoint
 *    is chosen by the wasm matcher's smooth weighted round robin among the backends not excluded.
 *
 * The header and cookie comparisons run here, in JS, on the strings Node already decoded (copying
 * them into wasm would cost more than the compare); the weighted choice among the backends they
 * leave runs in the wasm matcher (`Matcher.pickIn`), as every endpoint choice does.
 */
import type { RE2JS } from 're2js';
import { MAX_PATTERN_LENGTH, compileWholeRegex } from '@portico/assembly/conditions';
import { cookieValue } from './cookie.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** Most canaries one route takes (its backends must fit a 32-bit choice mask). */
export const MAX_CANARIES = 8;

/** Longest `canary-by-header-pattern`, in characters (the matcher's limit for any regex). */
const MAX_CANARY_PATTERN = MAX_PATTERN_LENGTH;

/** An HTTP field name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** ingress-nginx's BasicCharsRegex, for header values. */
const BASIC = /^[-._~a-zA-Z0-9/:]{1,1024}$/;

/** One canary of a route: which backend it is and what sends requests to it. */
export interface CanaryRule {
  /** Index of its backend in the route's backends (the main's come first). */
  readonly backend: number;
  readonly header?: string | undefined;
  readonly headerValue?: string | undefined;
  readonly headerPattern?: string | undefined;
  /** The pattern did not compile: requests carrying the header are not sent to this canary (nginx's match error). */
  readonly headerInvalid?: true | undefined;
  readonly cookie?: string | undefined;
  /** `canary-weight` and the total it is out of (already applied to the backend weights). */
  readonly weight: number;
  readonly weightTotal: number;
}

/** A route's canaries, oldest first. */
export interface CanaryData {
  readonly rules: readonly CanaryRule[];
}

/** The canary annotations other than `canary` itself. */
const RULE_ANNOTATIONS = ['canary-by-header', 'canary-by-header-value', 'canary-by-header-pattern', 'canary-by-cookie', 'canary-weight', 'canary-weight-total'] as const;

function readName(reader: AnnotationReader, name: string): string | undefined {
  const value = reader.string(name);
  if (value === undefined || TOKEN.test(value)) return value;
  reader.warn(name, `${JSON.stringify(value)} is not a header or cookie name (letters, digits and !#$%&'*+.^_\`|~-, up to 256); this canary rule is not applied`);
  return undefined;
}

function readWeights(reader: AnnotationReader): { weight: number; weightTotal: number } {
  let weight = reader.integer('canary-weight', 0) ?? 0;
  if (weight < 0) {
    reader.warn('canary-weight', `${weight} is negative; using 0`);
    weight = 0;
  }
  let weightTotal = reader.integer('canary-weight-total', 100) ?? 100;
  if (weightTotal < 100) {
    reader.warn('canary-weight-total', `${weightTotal} is below 100; ingress-nginx's balancer then uses 100, and so does Portico`);
    weightTotal = 100;
  }
  return { weight: Math.min(weight, weightTotal), weightTotal: Math.min(weightTotal, 1e9) };
}

function readHeader(reader: AnnotationReader): Pick<CanaryRule, 'header' | 'headerValue' | 'headerPattern' | 'headerInvalid'> {
  const header = readName(reader, 'canary-by-header');
  const rawValue = reader.string('canary-by-header-value');
  const pattern = reader.string('canary-by-header-pattern');
  if (header === undefined) {
    for (const name of ['canary-by-header-value', 'canary-by-header-pattern']) if (reader.string(name) !== undefined) reader.warn(name, 'has no effect without canary-by-header (as in ingress-nginx)');
    return {};
  }
  let headerValue: string | undefined;
  if (rawValue !== undefined) {
    if (BASIC.test(rawValue)) headerValue = rawValue;
    else reader.warn('canary-by-header-value', `${JSON.stringify(rawValue)} has characters ingress-nginx does not accept (letters, digits and -._~/:); not applied, the header's always/never values apply`);
  }
  if (headerValue !== undefined) {
    if (pattern !== undefined) reader.warn('canary-by-header-pattern', 'ignored because canary-by-header-value is set (as in ingress-nginx)');
    return { header, headerValue };
  }
  if (pattern === undefined) return { header };
  // Compiled as any matcher regex; a canary pattern is then used unanchored (`matcher().find()`), as nginx's `ngx.re.match`.
  const compiled = compileWholeRegex(pattern);
  if (typeof compiled !== 'string') return { header, headerPattern: pattern };
  reader.warn('canary-by-header-pattern', `${JSON.stringify(pattern.slice(0, 64))} ${compiled}; requests carrying ${header} are not sent to this canary (ingress-nginx: a pattern error counts as no match and keeps the main)`);
  return { header, headerPattern: pattern.slice(0, MAX_CANARY_PATTERN), headerInvalid: true };
}

/** Reads one Ingress's canary annotations; undefined when it is not a canary. */
function readCanary(reader: AnnotationReader): CanaryData | undefined {
  if (!reader.boolean('canary', false)) {
    const set = RULE_ANNOTATIONS.filter((name) => reader.string(name) !== undefined);
    if (set.length !== 0) reader.warn('canary', `${set.join(', ')} set but canary is not "true"; ignored (ingress-nginx refuses them the same way)`);
    return undefined;
  }
  const header = readHeader(reader);
  const cookie = readName(reader, 'canary-by-cookie');
  const rule: CanaryRule = { backend: 1, ...header, ...(cookie === undefined ? {} : { cookie }), ...readWeights(reader) };
  return { rules: [rule] };
}

/** A rule ready for requests. */
interface PreparedRule {
  readonly bit: number;
  readonly header: string | undefined;
  readonly value: string | undefined;
  readonly pattern: RE2JS | undefined;
  readonly invalid: boolean;
  readonly cookie: string | undefined;
}

function prepareRule(rule: CanaryRule): PreparedRule {
  const compiled = rule.headerPattern === undefined || rule.headerInvalid === true ? undefined : compileWholeRegex(rule.headerPattern);
  return {
    bit: 1 << rule.backend,
    header: rule.header?.toLowerCase(),
    value: rule.headerValue,
    // A snapshot pattern that does not compile here counts as a pattern error, as at build time.
    pattern: typeof compiled === 'string' ? undefined : compiled,
    invalid: rule.headerInvalid === true || typeof compiled === 'string',
    cookie: rule.cookie,
  };
}

/**
 * Pure: the backends (bit k = backend k) a request may go to under `rules`: one canary's bit when
 * its header or cookie chose it, all but the excluded ones (as `~excluded`) when some were
 * excluded, or undefined when the weights alone decide.
 */
function chooseCanary(rules: readonly PreparedRule[], facts: RequestFacts): number | undefined {
  let excluded = 0;
  for (const rule of rules) {
    if (rule.header === undefined) continue;
    const value = facts.header(rule.header);
    if (value === undefined) continue;
    if (rule.value !== undefined) {
      if (value === rule.value) return rule.bit;
    } else if (rule.invalid) {
      excluded |= rule.bit;
    } else if (rule.pattern !== undefined) {
      if (rule.pattern.matcher(value).find()) return rule.bit;
    } else if (value === 'always') {
      return rule.bit;
    } else if (value === 'never') {
      excluded |= rule.bit;
    }
  }
  let cookies: string | undefined;
  let read = false;
  for (const rule of rules) {
    if (rule.cookie === undefined || (excluded & rule.bit) !== 0) continue;
    if (!read) {
      cookies = facts.header('cookie');
      read = true;
    }
    const value = cookieValue(cookies, rule.cookie);
    if (value === 'always') return rule.bit;
    if (value === 'never') excluded |= rule.bit;
  }
  return excluded === 0 ? undefined : ~excluded;
}

function describeRule(rule: CanaryRule): string {
  const parts: string[] = [];
  if (rule.header !== undefined) {
    const how = rule.headerValue !== undefined ? `= ${JSON.stringify(rule.headerValue)}` : rule.headerPattern !== undefined ? (rule.headerInvalid === true ? 'pattern (invalid: never matches)' : `~ ${JSON.stringify(rule.headerPattern)}`) : 'always/never';
    parts.push(`header ${rule.header} ${how}`);
  }
  if (rule.cookie !== undefined) parts.push(`cookie ${rule.cookie} always/never`);
  parts.push(`weight ${rule.weight}/${rule.weightTotal}`);
  return `backend ${rule.backend}: ${parts.join(', then ')}`;
}

/** `canary` and its rules: which of the route's backends (main or a canary) a request goes to. */
export const canaryModule: PolicyModule<CanaryData> = {
  key: 'canary',
  phase: 'balance',
  annotations: [
    { name: 'canary', support: 'honoured', note: 'the Ingress adds its backends to the main Ingress\'s rules with the same host, path and pathType; it never claims a host/path, and one without a main is refused with a condition. Several canaries per rule are allowed (ingress-nginx: one), oldest first; the canary\'s other annotations are ignored (the main\'s apply), as in ingress-nginx' },
    { name: 'canary-by-header', support: 'honoured', note: 'header `always` sends to the canary, `never` keeps the main, other values fall through to cookie and weight; with several canaries the first (oldest) that chooses wins' },
    { name: 'canary-by-header-value', support: 'honoured', note: 'the header value that sends to the canary (instead of always); others fall through' },
    { name: 'canary-by-header-pattern', support: 'approximated', note: 'RE2 syntax instead of PCRE (no backreferences or lookaround; those are a Warning and the header then keeps the main, as nginx does on a pattern error); ignored when canary-by-header-value is set' },
    { name: 'canary-by-cookie', support: 'honoured', note: 'cookie `always` sends to the canary, `never` keeps the main; after the header, before the weight' },
    { name: 'canary-weight', support: 'approximated', note: 'share of the remaining requests (out of canary-weight-total): exact smooth weighted round robin in the wasm matcher instead of nginx\'s random draw; several canaries take their shares oldest first, the main the rest' },
    { name: 'canary-weight-total', support: 'honoured', note: 'what canary-weight is out of (default 100; below 100 counts as 100, as ingress-nginx\'s balancer does)' },
  ],
  schema: (z) => {
    const rule = z.strictObject({
      backend: z.number().int().min(1).max(31),
      header: z.string().regex(TOKEN).optional(),
      headerValue: z.string().regex(BASIC).optional(),
      headerPattern: z.string().min(1).max(MAX_CANARY_PATTERN).optional(),
      headerInvalid: z.literal(true).optional(),
      cookie: z.string().regex(TOKEN).optional(),
      weight: z.number().int().nonnegative().max(1e9),
      weightTotal: z.number().int().min(100).max(1e9),
    });
    return z.strictObject({ rules: z.array(rule).min(1).max(MAX_CANARIES) });
  },
  read: readCanary,
  prepare: (data) => {
    const rules = data.rules.map(prepareRule);
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.backends = chooseCanary(rules, facts);
    };
  },
  describe: (data) => `canary: ${data.rules.map(describeRule).join('; ')}`,
};
