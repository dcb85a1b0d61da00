/**
 * The policy-module registry: the one list of annotation modules. From it come the
 * honoured-annotation list, the build stage's reading of an Ingress's annotations, and the data
 * plane's per-route request pipeline; the snapshot schema of a route's `policies` is built from
 * the same modules in schema.ts. Adding an annotation is one module file plus one entry in
 * `POLICY_MODULES` here and one in `RoutePolicies` (schema.ts). This file loads no zod: a
 * data-plane worker imports it (docs/dataplane.md, "What a worker loads").
 */
import type { RoutePolicies } from './schema.ts';
import type { AnnotationFact, BackendStep, FallbackPlan, PolicyCondition, PolicyModule, PolicyOutcome, PolicyPhase, PolicySource, PolicyStep, RequestFacts, RouteFacts } from './module.ts';
import type { ConfigMapLookup, SecretAuthLookup } from './module.ts';
import { AnnotationReader } from './module.ts';
import { accessModule } from './access.ts';
import { authTlsModule } from './auth-tls.ts';
import { corsModule } from './cors.ts';
import { limitsModule } from './limits.ts';
import { appRootModule, forwardedPrefixModule } from './app-root.ts';
import { redirectModule } from './redirect.ts';
import { rewriteModule, useRegexModule } from './rewrite.ts';
import { trailingSlashModule } from './trailing-slash.ts';
import { proxyModule } from './proxy.ts';
import { upstreamVhostModule } from './upstream-vhost.ts';
import { canaryModule } from './canary.ts';
import { externalAuthModule } from './external-auth.ts';
import { requestHeaderModifierModule, responseHeaderModifierModule } from './gateway-headers.ts';
import { requestRedirectModule, urlRewriteModule } from './gateway-redirect.ts';
import { timeoutsModule } from './gateway-timeouts.ts';
import { requestMirrorModule } from './gateway-mirror.ts';
import { mirrorTargetModule } from './mirror-target.ts';
import { upstreamHashModule } from './upstream-hash.ts';
import { affinityModule } from './affinity.ts';
import { backendErrorModule } from './gateway-backend-error.ts';
import { wwwRedirectModule } from './www-redirect.ts';
import { nextUpstreamModule } from './next-upstream.ts';
import { proxyRedirectModule } from './proxy-redirect.ts';
import { customHeadersModule } from './custom-headers.ts';
import { defaultBackendModule } from './default-backend.ts';
import { sslPassthroughModule } from './ssl-passthrough.ts';
import { backendFiltersModule } from './gateway-backend-filters.ts';

export type { RoutePolicies } from './schema.ts';

type AnyModule = PolicyModule<never> & { read?(reader: AnnotationReader): unknown };

/**
 * Every module, in pipeline order inside each phase: CORS answers preflights in the rewrite phase
 * (before authentication, as ingress-nginx's `if`/`return` does); limits (nginx's preaccess
 * phase) come before access control; the client certificate before both (nginx checks it as the
 * request is read, before any phase). Gateway API filters: a URLRewrite's Host comes before the
 * RequestHeaderModifier, so a header the rule sets explicitly wins; a backendRef's own filters
 * (backendFilters) run after the pick, over all of these (`applyBackendPolicy`).
 */
export const POLICY_MODULES: readonly AnyModule[] = [
  wwwRedirectModule, backendErrorModule, appRootModule, redirectModule, requestRedirectModule, corsModule, authTlsModule, limitsModule, accessModule, externalAuthModule, useRegexModule, rewriteModule, forwardedPrefixModule, trailingSlashModule, proxyModule,
  upstreamVhostModule, proxyRedirectModule, customHeadersModule, urlRewriteModule, requestHeaderModifierModule, responseHeaderModifierModule, backendFiltersModule, timeoutsModule, requestMirrorModule, mirrorTargetModule, canaryModule, upstreamHashModule, affinityModule, nextUpstreamModule, defaultBackendModule, sslPassthroughModule,
] as unknown as AnyModule[];

/** Every annotation a module owns, with how it is honoured (docs, `portico check`, explain). */
export const POLICY_ANNOTATIONS: readonly AnnotationFact[] = POLICY_MODULES.flatMap((module) => module.annotations);

/** What the modules read from one Ingress. */
export interface PolicyReading {
  /** The route policies, or undefined when no module applies (the snapshot then has no `policies`). */
  readonly policies: RoutePolicies | undefined;
  /** Why the Ingress's routes must answer 503 (a module refused a value), one line per refusal. */
  readonly refusals: readonly string[];
  /** Whether the Ingress makes its hosts' paths regular expressions. */
  readonly regexPaths: boolean;
}

/** Runs every module's reader over one Ingress's annotations; each finding goes to `report`. */
export function readPolicies(annotations: Readonly<Record<string, string>>, source: PolicySource, report: (condition: PolicyCondition) => void, secretAuth?: SecretAuthLookup, configMap?: ConfigMapLookup): PolicyReading {
  const reader = new AnnotationReader(annotations, source, report, secretAuth, configMap);
  const policies: Record<string, unknown> = {};
  let any = false;
  let regexPaths = false;
  for (const module of POLICY_MODULES) {
    const data = module.read?.(reader);
    if (data === undefined) continue;
    policies[module.key] = data;
    any = true;
    if (module.regexPaths?.(data as never) === true) regexPaths = true;
  }
  return { policies: any ? (policies as RoutePolicies) : undefined, refusals: reader.refusals, regexPaths };
}

/** A route's request pipeline, by phase; built once per snapshot load. */
export interface PreparedPolicy {
  /** Before the HTTPS redirect (app-root, permanent/temporal redirects). */
  readonly redirect: readonly PolicyStep[];
  /** After the HTTPS redirect, before forwarding (access control). */
  readonly access: readonly PolicyStep[];
  /** What goes upstream (path rewriting, request headers). */
  readonly request: readonly PolicyStep[];
  /** Which of the route's backends (canary); the router then picks the endpoint after the steps ran. */
  readonly balance: readonly PolicyStep[];
  /** One line per module, for explain. */
  readonly descriptions: readonly string[];
  /** Where requests go when the route's backends cannot answer them (default-backend); undefined for none. */
  readonly fallback: FallbackPlan | undefined;
  /** Steps for requests sent to one backend (by backend index: Gateway API backendRef filters); undefined when no backend has any. */
  readonly perBackend: ReadonlyMap<number, BackendStep> | undefined;
}

/** The pipeline for a route's policies, or undefined when the route has none (the common case). */
export function preparePolicies(policies: RoutePolicies | undefined, route: RouteFacts): PreparedPolicy | undefined {
  if (policies === undefined) return undefined;
  const phases: Record<PolicyPhase, PolicyStep[]> = { redirect: [], access: [], request: [], balance: [] };
  const descriptions: string[] = [];
  let fallback: FallbackPlan | undefined;
  let perBackend: ReadonlyMap<number, BackendStep> | undefined;
  for (const module of POLICY_MODULES) {
    const data = (policies as Record<string, unknown>)[module.key];
    if (data === undefined) continue;
    descriptions.push(module.describe(data as never));
    const step = module.prepare(data as never, route);
    if (step !== undefined) phases[module.phase].push(step);
    fallback ??= module.fallback?.(data as never, route);
    perBackend ??= module.backendSteps?.(data as never);
  }
  return { ...phases, descriptions, fallback, perBackend };
}

/** Runs `steps` in order until one answers. Returns true when the request is answered. */
function runSteps(steps: readonly PolicyStep[], facts: RequestFacts, outcome: PolicyOutcome): boolean {
  for (const step of steps) {
    step(facts, outcome);
    if (outcome.answer !== undefined) return true;
  }
  return false;
}

/**
 * Runs a route's pipeline for a request the router decided to `proxy`, `redirect` (to HTTPS) or
 * answer as `unavailable` (no endpoint, or refused): the `redirect` phase always (a permanent
 * redirect answers even when the route has no endpoint, and before the HTTPS redirect, as nginx's
 * rewrite-phase `return` does); the `access` phase unless redirecting to HTTPS; the `request`
 * and `balance` phases only when proxying. Returns the outcome, with `answer` set when the request is answered
 * by the policy. The data plane and explain both decide with this function.
 */
export function applyPolicy(policy: PreparedPolicy, kind: 'proxy' | 'redirect' | 'unavailable', facts: RequestFacts): PolicyOutcome {
  const outcome: PolicyOutcome = {
    answer: undefined, target: undefined, setHeaders: [], addHeaders: [], removeHeaders: [], responseHeaders: [], responseAdd: [], responseRemove: [], mirrors: [], mirrorTarget: undefined, done: [], upstream: undefined, backends: undefined, externalAuth: undefined, redirectRewrite: undefined, hash: undefined, hashSubset: undefined, leastLoaded: undefined, sticky: undefined, picked: undefined,
  };
  if (runSteps(policy.redirect, facts, outcome) || kind === 'redirect') return outcome;
  if (runSteps(policy.access, facts, outcome) || kind !== 'proxy') return outcome;
  if (runSteps(policy.request, facts, outcome)) return outcome;
  runSteps(policy.balance, facts, outcome);
  return outcome;
}

/**
 * The outcome for a request sent to backend `backend` of the route (its index in the route's
 * backends, as the matcher's pick reports it): `outcome` itself when that backend has no filters
 * of its own, else a copy whose header lists the backend's step changed (the rule's outcome stays
 * as it was, so a retry onto another backend starts from it again). The data plane and explain
 * both decide with this function.
 */
export function applyBackendPolicy(policy: PreparedPolicy | undefined, backend: number, outcome: PolicyOutcome): PolicyOutcome {
  const step = policy?.perBackend?.get(backend);
  if (step === undefined) return outcome;
  const copy: PolicyOutcome = {
    ...outcome,
    setHeaders: [...outcome.setHeaders], addHeaders: [...outcome.addHeaders], removeHeaders: [...outcome.removeHeaders],
    responseHeaders: [...outcome.responseHeaders], responseAdd: [...outcome.responseAdd], responseRemove: [...outcome.responseRemove],
  };
  step(copy);
  return copy;
}
