/**
 * Redaction of snapshot exports: TLS private keys (serving certificates and upstream client
 * certificates), basic-auth password hashes and digest-auth HA1s become a fingerprint, so an export can be shared or
 * attached to a bug report. Used by `portico snapshot` and the control API's exports; only the
 * data-plane sync ever sends the real values.
 */
import { createHash } from 'node:crypto';
import type { Snapshot, SnapshotBackend } from './schema.ts';

function fingerprint(secret: string): string {
  return `<redacted sha256:${createHash('sha256').update(secret).digest('hex')}>`;
}

type Policies = Snapshot['hosts'][number]['routes'][number]['policies'];

function redactPolicies<T extends { policies?: Policies }>(route: T): T {
  const access = route.policies?.access;
  if (access?.basic === undefined && access?.digest === undefined) return route;
  const { basic, digest } = access;
  return {
    ...route,
    policies: {
      ...route.policies,
      access: {
        ...access,
        ...(basic === undefined ? {} : { basic: { ...basic, users: basic.users.map((entry) => ({ user: entry.user, hash: fingerprint(entry.hash) })) } }),
        ...(digest === undefined ? {} : { digest: { ...digest, users: digest.users.map((entry) => ({ user: entry.user, ha1: fingerprint(entry.ha1) })) } }),
      },
    },
  };
}

function redactBackends<T extends { readonly backends: readonly SnapshotBackend[] }>(route: T): T {
  if (!route.backends.some((b) => typeof b.tls?.privateKeyPem === 'string')) return route;
  return { ...route, backends: route.backends.map((b) => (b.tls === undefined || b.tls.privateKeyPem === null ? b : { ...b, tls: { ...b.tls, privateKeyPem: fingerprint(b.tls.privateKeyPem) } })) };
}

function redactRoute<T extends { policies?: Policies; readonly backends: readonly SnapshotBackend[] }>(route: T): T {
  return redactBackends(redactPolicies(route));
}

/**
 * Replaces private keys and password hashes by `<redacted sha256:…>`. The version still covers
 * the real values, so a redacted snapshot no longer verifies.
 */
export function redactSnapshot(snapshot: Snapshot): Snapshot {
  return {
    ...snapshot,
    hosts: snapshot.hosts.map((host) => ({ ...host, routes: host.routes.map(redactRoute), defaultRoute: host.defaultRoute === null ? null : redactRoute(host.defaultRoute) })),
    defaultRoute: snapshot.defaultRoute === null ? null : redactRoute(snapshot.defaultRoute),
    certificates: snapshot.certificates.map((c) => ({ ...c, privateKeyPem: fingerprint(c.privateKeyPem) })),
  };
}
