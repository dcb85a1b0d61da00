/**
 * The annotation policy: the `nginx.ingress.kubernetes.io/*` annotations Portico honours, read with
 * ingress-nginx's defaults, and what it does with every other one (DESIGN rule 9: a policy Portico
 * cannot honour is refused loudly, and an access-restricting one fails closed).
 *
 * - Honoured (`ssl-redirect`, `force-ssl-redirect`): an unreadable value is a Warning condition
 *   and the default applies.
 * - Access-restricting and not honoured (`auth-*`, `*-source-range`, `satisfy`, ModSecurity, or a
 *   snippet containing access directives), under the `nginx.ingress.kubernetes.io/` or legacy
 *   `ingress.kubernetes.io/` prefix: the Ingress is refused. Its routes stay in the snapshot,
 *   marked `refused`, so the data plane answers 503 and explain says why; an Error condition (and
 *   so a Kubernetes Event) names the annotation. Never served open.
 * - Any other annotation under those prefixes: served, with a Warning condition naming it;
 *   `*-snippet` says snippets are never applied, by design (raw nginx configuration).
 */
import type { Condition } from '../model/conditions.ts';
import type { SourceRef } from '../model/types.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { AnnotationFact, ConfigMapLookup, SecretAuthLookup } from '../snapshot/policies/module.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { POLICY_ANNOTATIONS, readPolicies } from '../snapshot/policies/registry.ts';
import type { HostAnnotations } from './host-aliases.ts';
import { NO_HOST_ANNOTATIONS, readHostAnnotations } from './host-aliases.ts';

export { NGINX_PREFIX } from '../snapshot/policies/module.ts';

/** The prefix of the original (pre-2018) nginx controller, still found in old manifests. */
export const LEGACY_PREFIX = 'ingress.kubernetes.io/';

/**
 * The annotations read outside the policy modules, with how each is honoured: the two read here
 * and the backend protocol ones read by upstream.ts (a property of the connection to endpoints,
 * not a request step).
 */
export const BUILD_ANNOTATIONS: readonly AnnotationFact[] = [
  { name: 'ssl-redirect', support: 'honoured', note: 'HTTP requests to a host with TLS are redirected to HTTPS (default true), Location as ingress-nginx writes it' },
  { name: 'force-ssl-redirect', support: 'honoured', note: 'HTTP requests are redirected to HTTPS even without TLS for the host' },
  { name: 'server-alias', support: 'honoured', note: 'each alias serves what the host serves (every path of the host, its certificate); an alias that is already a host or another host\'s alias is ignored with a Warning' },
  { name: 'from-to-www-redirect', support: 'honoured', note: 'www.<host> (or <host> without www.) answers 308 to <scheme>://<host>:<port><request URI>, one trailing / removed; skipped with a Warning when that name is already served' },
  { name: 'backend-protocol', support: 'honoured', note: 'HTTP, HTTPS, GRPC, GRPCS and H2C to endpoints (HTTP/2 sessions for the last three); AUTO_HTTP, AJP and FCGI refuse the Ingress (503)' },
  { name: 'proxy-ssl-verify', support: 'honoured', note: 'verify the HTTPS endpoint certificate against proxy-ssl-secret\'s ca.crt' },
  { name: 'proxy-ssl-verify-depth', support: 'honoured', note: 'maximum certificate chain depth when verifying the endpoint' },
  { name: 'proxy-ssl-name', support: 'honoured', note: 'the name checked in (and, with proxy-ssl-server-name, sent as SNI to) the endpoint certificate' },
  { name: 'proxy-ssl-server-name', support: 'honoured', note: 'send SNI to HTTPS endpoints when "on"' },
  { name: 'proxy-ssl-secret', support: 'honoured', note: 'CA bundle and optional client certificate for HTTPS endpoints, from a Secret' },
  { name: 'service-upstream', support: 'honoured', note: 'proxy to the Service\'s ClusterIP and port instead of its endpoints (one address: retries and balancing see only it); a Service without ClusterIP keeps its endpoints (Warning); the endpoint address policy applies to the ClusterIP' },
];

/** Every annotation Portico honours or approximates (without prefix): the build's and every policy module's. */
export const ANNOTATION_FACTS: readonly AnnotationFact[] = [...BUILD_ANNOTATIONS, ...POLICY_ANNOTATIONS];

/** Annotations (without prefix) Portico honours; derived from `ANNOTATION_FACTS`. */
export const HONOURED_ANNOTATIONS: readonly string[] = ANNOTATION_FACTS.map((fact) => fact.name);

/** Per-Ingress options taken from annotations. */
export interface IngressAnnotations {
  /** `ssl-redirect`: redirect HTTP to HTTPS when the host has TLS (default true). */
  readonly sslRedirect: boolean;
  /** `force-ssl-redirect`: redirect HTTP to HTTPS even without TLS (default false). */
  readonly forceSslRedirect: boolean;
  /**
   * Why the Ingress must not be served (an access-restricting annotation Portico does not honour),
   * or undefined when it may be served.
   */
  readonly refused: string | undefined;
  /** What the policy modules read (undefined when nothing), applied to every rule of the Ingress. */
  readonly policies: RoutePolicies | undefined;
  /** The Ingress makes its hosts' paths regular expressions (`use-regex`, `rewrite-target`). */
  readonly regexPaths: boolean;
  /** `server-alias` and `from-to-www-redirect` (host-aliases.ts). */
  readonly hosts: HostAnnotations;
}

/** Names (without prefix) that narrow who may reach a route. */
const ACCESS_RESTRICTING = new Set(['satisfy', 'enable-modsecurity', 'enable-owasp-core-rules', 'modsecurity-transaction-id', 'modsecurity-snippet', 'enable-global-auth']);

/** nginx directives that restrict access, looked for inside snippets. */
const ACCESS_DIRECTIVE = /(^|[\s;{}])(deny|allow|auth_basic|auth_basic_user_file|auth_request|auth_jwt|satisfy|return\s+40[13])\b/;

/** Whether the annotation `name` (without prefix) with `value` narrows who may reach a route. */
export function restrictsAccess(name: string, value: string): boolean {
  if (name === 'enable-global-auth') return value.trim().toLowerCase() !== 'false';
  if (ACCESS_RESTRICTING.has(name) || name.startsWith('auth-') || name.endsWith('-source-range')) return true;
  return name.endsWith('-snippet') && ACCESS_DIRECTIVE.test(value);
}

function readBoolean(annotations: Readonly<Record<string, string>>, name: string, fallback: boolean, source: SourceRef, conditions: Condition[]): boolean {
  const key = NGINX_PREFIX + name;
  const raw = annotations[key];
  if (raw === undefined) return fallback;
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  conditions.push({
    source,
    field: `metadata.annotations['${key}']`,
    reason: 'InvalidAnnotation',
    severity: 'Warning',
    message: `expected "true" or "false", got ${JSON.stringify(raw)}; using ${fallback}`,
  });
  return fallback;
}

/** The annotation's name without a known prefix, or undefined when it has neither prefix. */
function policyName(key: string): { name: string; prefix: string } | undefined {
  if (key.startsWith(NGINX_PREFIX)) return { name: key.slice(NGINX_PREFIX.length), prefix: NGINX_PREFIX };
  if (key.startsWith(LEGACY_PREFIX)) return { name: key.slice(LEGACY_PREFIX.length), prefix: LEGACY_PREFIX };
  return undefined;
}

/**
 * How Portico treats one annotation key with `value`: `ignored` when it has neither prefix;
 * `honoured` (see `ANNOTATION_FACTS`); `access-refused` when it narrows who may reach the routes
 * and is not enforced (the Ingress answers 503); `snippet-refused` (raw nginx configuration,
 * never applied); `unsupported` (served without it). The build and `portico check` both judge with this.
 */
export function annotationVerdict(key: string, value: string): 'ignored' | 'honoured' | 'access-refused' | 'snippet-refused' | 'unsupported' {
  const parsed = policyName(key);
  if (parsed === undefined) return 'ignored';
  if (parsed.prefix === NGINX_PREFIX && HONOURED_ANNOTATIONS.includes(parsed.name)) return 'honoured';
  if (restrictsAccess(parsed.name, value)) return 'access-refused';
  return parsed.name.endsWith('-snippet') ? 'snippet-refused' : 'unsupported';
}

/**
 * Judges every prefixed annotation Portico does not honour; returns the refusal reason (the
 * first access-restricting annotation, by name) or undefined. Pushes one condition per annotation.
 */
function judgeUnhonoured(all: Readonly<Record<string, string>>, source: SourceRef, conditions: Condition[]): string | undefined {
  const restricting: string[] = [];
  for (const key of Object.keys(all).sort()) {
    const verdict = annotationVerdict(key, all[key]!);
    if (verdict === 'ignored' || verdict === 'honoured') continue;
    const field = `metadata.annotations['${key}']`;
    if (verdict === 'access-refused') {
      restricting.push(key);
      conditions.push({
        source,
        field,
        reason: 'AccessPolicyRefused',
        severity: 'Error',
        message: `${key} restricts who may reach these routes and Portico does not enforce it; the Ingress is not served (503) rather than served open. Remove the annotation or enforce access another way.`,
      });
    } else if (verdict === 'snippet-refused') {
      conditions.push({ source, field, reason: 'UnsupportedAnnotation', severity: 'Warning', message: `${key} is raw nginx configuration; Portico never applies snippets, by design. Served without it.` });
    } else {
      conditions.push({ source, field, reason: 'UnsupportedAnnotation', severity: 'Warning', message: `${key} is not supported by Portico and has no effect. Served without it.` });
    }
  }
  if (restricting.length === 0) return undefined;
  return `not enforced by Portico, so refused rather than served open: ${restricting.join(', ')}`;
}

/** Reads the annotations Portico honours from one Ingress, and judges the ones it does not. */
export function readAnnotations(annotations: Readonly<Record<string, string>> | undefined, source: SourceRef, conditions: Condition[], secretAuth?: SecretAuthLookup, configMap?: ConfigMapLookup): IngressAnnotations {
  const all = annotations ?? {};
  const sslRedirect = readBoolean(all, 'ssl-redirect', true, source, conditions);
  const forceSslRedirect = readBoolean(all, 'force-ssl-redirect', false, source, conditions);
  const reading = readPolicies(all, source, (condition) => conditions.push(condition), secretAuth, configMap);
  const restricted = judgeUnhonoured(all, source, conditions);
  const reasons = [...(restricted === undefined ? [] : [restricted]), ...reading.refusals];
  const hosts = readHostAnnotations(all, source, conditions);
  const canary = reading.policies?.canary;
  if (canary !== undefined) {
    const ignored = judgeCanaryAnnotations(all, source, conditions);
    if (ignored !== undefined) reasons.push(ignored);
    return { sslRedirect, forceSslRedirect, refused: reasons.length === 0 ? undefined : reasons.join('; '), policies: { canary }, regexPaths: false, hosts: NO_HOST_ANNOTATIONS };
  }
  return { sslRedirect, forceSslRedirect, refused: reasons.length === 0 ? undefined : reasons.join('; '), policies: reading.policies, regexPaths: reading.regexPaths, hosts };
}

/**
 * A canary Ingress's honoured annotations other than `canary*` are ignored, as in ingress-nginx
 * (the main Ingress's apply to canary traffic): a Warning each. Returns the refusal reason when
 * one of them restricts access (the canary is then not joined rather than reached without it).
 */
function judgeCanaryAnnotations(all: Readonly<Record<string, string>>, source: SourceRef, conditions: Condition[]): string | undefined {
  const restricting: string[] = [];
  for (const key of Object.keys(all).sort()) {
    const parsed = policyName(key);
    if (parsed === undefined || parsed.name === 'canary' || parsed.name.startsWith('canary-') || annotationVerdict(key, all[key]!) !== 'honoured') continue;
    const field = `metadata.annotations['${key}']`;
    if (restrictsAccess(parsed.name, all[key]!)) {
      restricting.push(key);
      conditions.push({ source, field, reason: 'AccessPolicyRefused', severity: 'Error', message: `${key} on a canary Ingress is not applied (ingress-nginx ignores a canary's annotations; the main Ingress's apply), so the canary is not joined rather than reached without it. Put access annotations on the main Ingress.` });
    } else {
      conditions.push({ source, field, reason: 'UnsupportedAnnotation', severity: 'Warning', message: `${key} is ignored on a canary Ingress, as in ingress-nginx: the main Ingress's annotations apply to canary traffic` });
    }
  }
  return restricting.length === 0 ? undefined : `access annotations on a canary are not applied: ${restricting.join(', ')}`;
}
