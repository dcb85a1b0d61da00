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
 *
 * Who gets a contested name is decided name by name, and kept across builds, by HostAliasIndex
 * (host-alias-index.ts); this file reads the annotations and makes the hosts.
 */
import type { Condition } from '../model/conditions.ts';
import type { Route, SourceRef, VirtualHost } from '../model/types.ts';
import { redirectPolicyOf } from '../model/shared.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { ClaimOrder } from './ingress.ts';
import { hostProblem } from './validate.ts';

/** What host-level annotations one Ingress asks for. */
export interface HostAnnotations {
  readonly serverAliases: readonly string[];
  readonly fromToWww: boolean;
}

/** The aliases one Ingress's `server-alias` may name. */
const MAX_ALIASES = 64;
/** Entries left out that get a Warning each; the rest share one. */
const MAX_ENTRY_WARNINGS = 16;

const field = (name: string): string => `metadata.annotations['${NGINX_PREFIX}${name}']`;

/** Reads `server-alias` and `from-to-www-redirect` of one Ingress; bad entries are Warnings. */
export function readHostAnnotations(annotations: Readonly<Record<string, string>>, source: SourceRef, conditions: Condition[]): HostAnnotations {
  const serverAliases: string[] = [];
  let leftOut = 0;
  for (const entry of (annotations[`${NGINX_PREFIX}server-alias`] ?? '').split(',')) {
    const alias = entry.trim().toLowerCase();
    if (alias === '') continue;
    const problem = hostProblem(alias);
    if (problem === undefined && serverAliases.length < MAX_ALIASES) serverAliases.push(alias);
    // One Warning per entry up to a bound, then one for the rest: an annotation of thousands of entries is not thousands of Warnings (and Events).
    else if (leftOut++ < MAX_ENTRY_WARNINGS) conditions.push({ source, field: field('server-alias'), reason: 'InvalidAnnotation', severity: 'Warning', message: `alias ${JSON.stringify(entry.trim())} ${problem ?? `is past the ${MAX_ALIASES} aliases Portico takes`}; left out` });
  }
  if (leftOut > MAX_ENTRY_WARNINGS) {
    conditions.push({ source, field: field('server-alias'), reason: 'InvalidAnnotation', severity: 'Warning', message: `${leftOut - MAX_ENTRY_WARNINGS} more entries left out (not a DNS name, or past the ${MAX_ALIASES} aliases Portico takes)` });
  }
  const raw = annotations[`${NGINX_PREFIX}from-to-www-redirect`]?.trim().toLowerCase();
  if (raw !== undefined && raw !== 'true' && raw !== 'false') conditions.push({ source, field: field('from-to-www-redirect'), reason: 'InvalidAnnotation', severity: 'Warning', message: `expected "true" or "false", got ${JSON.stringify(raw)}; using false` });
  // Almost no Ingress asks for either: those share one frozen answer (kept with every claim of the Ingress).
  if (serverAliases.length === 0 && raw !== 'true') return NO_HOST_ANNOTATIONS;
  return { serverAliases, fromToWww: raw === 'true' };
}

/** What an Ingress without `server-alias` or `from-to-www-redirect: "true"` asks for: nothing (shared, frozen). */
export const NO_HOST_ANNOTATIONS: HostAnnotations = Object.freeze({ serverAliases: Object.freeze([]), fromToWww: false });

/** A winning claim of a host by an Ingress asking for aliases of the host, with its precedence (HostOutcome.aliasClaims). */
export interface AliasClaim {
  readonly host: string;
  readonly source: SourceRef;
  readonly hostAnnotations: HostAnnotations;
  readonly order: ClaimOrder;
}

/** The from-to-www host's one route: every request answered 308 to `to`. */
function wwwRoute(claim: AliasClaim): Route {
  return {
    source: claim.source,
    field: field('from-to-www-redirect'),
    pathType: 'Prefix',
    path: '/',
    backends: [],
    redirect: redirectPolicyOf(false, false),
    created: claim.order.created,
    policies: { wwwRedirect: { to: claim.host } },
  };
}

/** The host `alias` of `served` (the host the alias is of): everything `served` serves, under the alias's name. */
export function aliasHost(served: VirtualHost, alias: string): VirtualHost {
  return { ...served, host: alias };
}

/** The from-to-www host `from` of `claim`'s host (`served`): every request 308 to that host, with its certificate. */
export function redirectHost(claim: AliasClaim, from: string, served: VirtualHost): VirtualHost {
  return { host: from, routes: [wwwRoute(claim)], defaultRoute: undefined, certificate: served.certificate, tls: false };
}

/** The name a from-to-www redirect of `host` answers on: `www.<host>`, or `<host>` without `www.`. */
export function wwwNameOf(host: string): string {
  return host.startsWith('www.') ? host.slice(4) : `www.${host}`;
}

/** The Warning that `claim`'s annotation `name` (`server-alias` or `from-to-www-redirect`) is not honoured as asked. */
export function hostAnnotationWarning(claim: AliasClaim, name: 'server-alias' | 'from-to-www-redirect', message: string): Condition {
  return { source: claim.source, field: field(name), reason: 'InvalidAnnotation', severity: 'Warning', message };
}
