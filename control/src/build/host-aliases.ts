/**
 * Host-level annotations, as ingress-nginx applies them to a whole server (every path of the
 * host, from any Ingress on it):
 *
 * - `server-alias: "a.example.com, b.example.com"` (test/e2e/annotations/alias.go): each alias
 *   serves exactly what the host serves (its routes, default backend and certificate). An alias
 *   that is already a host of some Ingress, or already taken by another host's alias, is ignored
 *   with a Warning (ingress-nginx: "a server-alias name cannot conflict with the hostname of an
 *   existing server"). A value that is not a DNS name (or `*.` wildcard) is left out with a Warning.
 * - `from-to-www-redirect: "true"` (test/e2e/annotations/fromtowwwredirect.go, BuildRedirects):
 *   an extra host, `www.<host>` (or `<host>` without `www.`), answers every request 308 to
 *   the Ingress's host (policy module www-redirect.ts), with the host's certificate for HTTPS;
 *   skipped with a Warning when that name is already a host or alias, or the host is a wildcard.
 */
import type { Condition } from '../model/conditions.ts';
import type { Route, SourceRef, VirtualHost } from '../model/types.ts';
import { redirectPolicyOf } from '../model/shared.ts';
import { compareHosts } from '../snapshot/order.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import { hostProblem } from './validate.ts';

/** What host-level annotations one Ingress asks for. */
export interface HostAnnotations {
  readonly serverAliases: readonly string[];
  readonly fromToWww: boolean;
}

const field = (name: string): string => `metadata.annotations['${NGINX_PREFIX}${name}']`;

/** Reads `server-alias` and `from-to-www-redirect` of one Ingress; bad entries are Warnings. */
export function readHostAnnotations(annotations: Readonly<Record<string, string>>, source: SourceRef, conditions: Condition[]): HostAnnotations {
  const serverAliases: string[] = [];
  for (const entry of (annotations[`${NGINX_PREFIX}server-alias`] ?? '').split(',')) {
    const alias = entry.trim().toLowerCase();
    if (alias === '') continue;
    const problem = hostProblem(alias);
    if (problem === undefined && serverAliases.length < 64) serverAliases.push(alias);
    else conditions.push({ source, field: field('server-alias'), reason: 'InvalidAnnotation', severity: 'Warning', message: `alias ${JSON.stringify(entry.trim())} ${problem ?? 'is past the 64 aliases Portico takes'}; left out` });
  }
  const raw = annotations[`${NGINX_PREFIX}from-to-www-redirect`]?.trim().toLowerCase();
  if (raw !== undefined && raw !== 'true' && raw !== 'false') conditions.push({ source, field: field('from-to-www-redirect'), reason: 'InvalidAnnotation', severity: 'Warning', message: `expected "true" or "false", got ${JSON.stringify(raw)}; using false` });
  // Almost no Ingress asks for either: those share one frozen answer (kept with every claim of the Ingress).
  if (serverAliases.length === 0 && raw !== 'true') return NO_HOST_ANNOTATIONS;
  return { serverAliases, fromToWww: raw === 'true' };
}

/** What an Ingress without `server-alias` or `from-to-www-redirect: "true"` asks for: nothing (shared, frozen). */
export const NO_HOST_ANNOTATIONS: HostAnnotations = Object.freeze({ serverAliases: Object.freeze([]), fromToWww: false });

/** A claim of a host by an Ingress, with what its annotations ask for the host. */
export interface HostClaim {
  readonly host: string;
  readonly source: SourceRef;
  readonly created: string;
  readonly hostAnnotations: HostAnnotations;
}

/** The from-to-www host's one route: every request answered 308 to `to`. */
function wwwRoute(claim: HostClaim): Route {
  return {
    source: claim.source,
    field: field('from-to-www-redirect'),
    pathType: 'Prefix',
    path: '/',
    backends: [],
    redirect: redirectPolicyOf(false, false),
    created: claim.created,
    policies: { wwwRedirect: { to: claim.host } },
  };
}

/**
 * `virtualHosts` (sorted as hosts are; `served` finds one by its host) plus the alias and
 * from-to-www hosts the `claims` ask for (claims in precedence order: the first to ask for a name
 * gets it), sorted as hosts are. Conflicts are Warnings.
 */
export function withHostAliases(virtualHosts: readonly VirtualHost[], served: (host: string) => VirtualHost | undefined, claims: Iterable<HostClaim>, conditions: Condition[]): readonly VirtualHost[] {
  const taken = new Map<string, string>();
  const added: VirtualHost[] = [];
  const seen = new Set<string>();
  const warn = (claim: HostClaim, name: string, message: string): void => {
    conditions.push({ source: claim.source, field: field(name), reason: 'InvalidAnnotation', severity: 'Warning', message });
  };
  const wanted: HostClaim[] = [];
  for (const claim of claims) {
    const key = `${claim.source.namespace}/${claim.source.name}|${claim.host}`;
    if (seen.has(key) || (claim.hostAnnotations.serverAliases.length === 0 && !claim.hostAnnotations.fromToWww)) continue;
    seen.add(key);
    wanted.push(claim);
  }
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
    added.push({ host: from, routes: [wwwRoute(claim)], defaultRoute: undefined, certificate: vhost.certificate, tls: false });
  }
  if (added.length === 0) return virtualHosts;
  // The few added hosts merged into the sorted list (no added host is one of `virtualHosts`).
  added.sort((a, b) => compareHosts(a.host, b.host));
  const merged: VirtualHost[] = [];
  let i = 0;
  for (const vhost of added) {
    while (i < virtualHosts.length && compareHosts(virtualHosts[i]!.host, vhost.host) < 0) merged.push(virtualHosts[i++]!);
    merged.push(vhost);
  }
  while (i < virtualHosts.length) merged.push(virtualHosts[i++]!);
  return merged;
}
