/**
 * Canary Ingresses (`canary: "true"`, policies/canary.ts) joined to their main Ingress's rules.
 *
 * A canary never claims a host/path, so it can never win a conflict against its main: its rules
 * are set aside before conflicts are settled, and each is then added to the winning main rule
 * with the same host, path and pathType (its backend appended, its canary rule attached). A rule
 * with no main is refused with a `CanaryWithoutMain` Error (ingress-nginx answers 404 for it; so
 * does Portico, since nothing routes there). Several canaries may join one rule, oldest first
 * (ingress-nginx takes one), up to MAX_CANARIES.
 *
 * As in ingress-nginx, the canary's other annotations are ignored (the main's policies apply to
 * canary traffic); one that restricts access refuses the canary instead, so that no request
 * reaches its backend without the check its author asked for.
 */
import type { Condition } from '../model/conditions.ts';
import type { Backend, Route } from '../model/types.ts';
import type { CanaryRule } from '../snapshot/policies/canary.ts';
import { MAX_CANARIES } from '../snapshot/policies/canary.ts';
import type { RouteClaim } from './ingress.ts';
import { pathClaimKey } from './validate.ts';

/** Largest denominator the weight split uses (totals whose least common multiple is larger are rounded to it). */
const MAX_DENOMINATOR = 1_000_000;

/** Whether a claim comes from a canary Ingress. */
export function isCanaryClaim(claim: { readonly annotations: { readonly policies?: { readonly canary?: unknown } | undefined } }): boolean {
  return claim.annotations.policies?.canary !== undefined;
}

function describe(claim: RouteClaim): string {
  return `Ingress ${claim.source.namespace}/${claim.source.name} ${claim.field}`;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Pure: the backend weights of a rule whose main backends weigh `main` when canaries with
 * `rules` (oldest first) join it. Each canary takes `weight / weightTotal` of the requests, in
 * order, until none is left; the main backends share the rest in their own proportions.
 */
export function canaryWeights(main: readonly number[], rules: readonly Pick<CanaryRule, 'weight' | 'weightTotal'>[]): number[] {
  let denominator = 1;
  for (const rule of rules) {
    denominator = (denominator / gcd(denominator, rule.weightTotal)) * rule.weightTotal;
    if (denominator > MAX_DENOMINATOR) {
      denominator = MAX_DENOMINATOR;
      break;
    }
  }
  let left = denominator;
  const shares = rules.map((rule) => {
    const share = Math.min(left, Math.round((rule.weight * denominator) / rule.weightTotal));
    left -= share;
    return share;
  });
  const mainTotal = Math.max(1, main.reduce((sum, weight) => sum + weight, 0));
  // main[j] * left : mainTotal * share[i] keeps both the main backends' proportions and the split.
  const weights = [...main.map((weight) => weight * left), ...shares.map((share) => share * mainTotal)];
  const common = weights.reduce(gcd, 0);
  return common > 1 ? weights.map((weight) => weight / common) : weights;
}

/**
 * The canary claims joined to the main rules that won (`mains`, by pathClaimKey), oldest canary
 * first: per main key, the canary claims it takes. Every canary left out gets a condition.
 */
export function joinCanaries(mains: ReadonlyMap<string, RouteClaim>, canaries: readonly RouteClaim[], conditions: Condition[]): Map<string, RouteClaim[]> {
  const joined = new Map<string, RouteClaim[]>();
  for (const claim of canaries) {
    const key = pathClaimKey(claim.host, claim.pathType, claim.path);
    const main = mains.get(key);
    const where = `host ${claim.host} path ${claim.path} (${claim.pathType})`;
    if (main === undefined) {
      conditions.push({ source: claim.source, field: claim.field, reason: 'CanaryWithoutMain', severity: 'Error', message: `canary for ${where}, but no main (non-canary) Ingress serves that host, path and pathType; not served (404), as in ingress-nginx` });
      continue;
    }
    if (claim.annotations.refused !== undefined) {
      conditions.push({ source: claim.source, field: claim.field, reason: 'CanaryRefused', severity: 'Error', message: `canary for ${where} is not joined to ${describe(main)}: ${claim.annotations.refused}; the main serves every request` });
      continue;
    }
    const list = joined.get(key) ?? [];
    if (list.length >= MAX_CANARIES || main.backends.length + list.length >= 32) {
      conditions.push({ source: claim.source, field: claim.field, reason: 'Conflict', severity: 'Error', message: `${where} already has ${list.length} canaries (at most ${MAX_CANARIES}; older ones first); this one is not joined` });
      continue;
    }
    list.push(claim);
    joined.set(key, list);
  }
  return joined;
}

/** The main rule `route` with its canaries' backends and rules added (claims oldest first). */
export function withCanaries(route: Route, canaries: readonly RouteClaim[] | undefined): Route {
  if (canaries === undefined || canaries.length === 0) return route;
  const first = route.backends.length;
  const rules: CanaryRule[] = canaries.map((claim, index) => ({ ...(claim.annotations.policies?.canary?.rules[0] as CanaryRule), backend: first + index }));
  const weights = canaryWeights(route.backends.map((backend) => backend.weight), rules);
  const backends: Backend[] = [...route.backends, ...canaries.map((claim) => claim.backends[0] as Backend)].map((backend, index) => ({ ...backend, weight: weights[index] as number }));
  return { ...route, backends, policies: { ...route.policies, canary: { rules } } };
}
