/**
 * Client-certificate authentication is a property of the host, as in ingress-nginx, where
 * `ssl_verify_client` lives in the server block: the oldest Ingress on the host with `auth-tls-*`
 * provides it, and it applies to every path of the host, from any Ingress (its controller's
 * createServers: "Server is already configured for mutual authentication"). So a path of another
 * Ingress on the host that sets none inherits it (over HTTPS; plain HTTP is not checked for it,
 * as nginx checks nothing there). Where ingress-nginx would quietly use the oldest's settings
 * instead of an Ingress's own different ones, or answer the whole host 403 because the oldest's
 * cannot be used, Portico refuses the affected routes (503) with an Error naming why.
 */
import type { Condition } from '../model/conditions.ts';
import type { SourceRef } from '../model/types.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import type { AuthTlsData } from '../snapshot/policies/auth-tls.ts';

/** The host's client-certificate settings and the Ingress they come from; `unusable` when that Ingress's cannot be read. */
export type HostClientAuth = { readonly data: AuthTlsData; readonly source: SourceRef } | { readonly unusable: true; readonly source: SourceRef } | undefined;

const key = (source: SourceRef): string => `${source.namespace}/${source.name}`;
const AUTH_TLS_REFUSAL = `${NGINX_PREFIX}auth-tls-`;

/** The claims' host-wide client-certificate settings: the first (oldest) claim whose Ingress sets `auth-tls-*`. */
export function hostClientAuth(claims: Iterable<{ readonly source: SourceRef; readonly annotations: { readonly policies?: RoutePolicies | undefined; readonly refused?: string | undefined } }>): HostClientAuth {
  for (const claim of claims) {
    const data = claim.annotations.policies?.authTls;
    if (data !== undefined) return { data: data.from === undefined ? data : withoutFrom(data), source: claim.source };
    if (claim.annotations.refused?.includes(AUTH_TLS_REFUSAL) === true) return { unusable: true, source: claim.source };
  }
  return undefined;
}

function withoutFrom(data: AuthTlsData): AuthTlsData {
  const { from: _from, ...own } = data;
  return own;
}

function same(a: AuthTlsData, b: AuthTlsData): boolean {
  return JSON.stringify(withoutFrom(a)) === JSON.stringify(withoutFrom(b));
}

/**
 * One route's policies and refusal under the host's settings: inherited when its Ingress sets
 * none, refused when its Ingress's differ or the host's are unusable; unchanged otherwise.
 * Pushes one Error per Ingress and host (`reported` remembers which).
 */
export function withHostClientAuth<T extends { readonly policies?: RoutePolicies | undefined; readonly refused?: string | undefined; readonly source: SourceRef }>(route: T, host: string, hostAuth: HostClientAuth, conditions: Condition[], reported: Set<string>): T {
  if (hostAuth === undefined || route.refused !== undefined || key(route.source) === key(hostAuth.source)) return route;
  const own = route.policies?.authTls;
  const report = (message: string): T => {
    if (!reported.has(key(route.source))) {
      reported.add(key(route.source));
      conditions.push({ source: route.source, field: `metadata.annotations['${NGINX_PREFIX}auth-tls-secret']`, reason: 'Conflict', severity: 'Error', message: `${message}; its routes on ${host} answer 503` });
    }
    return { ...route, refused: message };
  };
  if ('unusable' in hostAuth) return report(`host ${host}: the client-certificate settings of Ingress ${key(hostAuth.source)} (the oldest on the host with auth-tls-*) cannot be used, and ingress-nginx then refuses the whole host`);
  if (own === undefined) return { ...route, policies: { ...route.policies, authTls: { ...hostAuth.data, from: key(hostAuth.source) } } };
  if (same(own, hostAuth.data)) return route;
  return report(`host ${host}: its auth-tls-* settings differ from those of Ingress ${key(hostAuth.source)}, the oldest on the host with auth-tls-*, which ingress-nginx applies to every path of the host; refused rather than served with either`);
}
