/**
 * The `nginx.ingress.kubernetes.io/*` annotations Portico honours, read with ingress-nginx's
 * defaults. A value Portico cannot read becomes a Warning condition and the default applies.
 */
import type { Condition } from '../model/conditions.ts';
import type { SourceRef } from '../model/types.ts';

/** The annotation prefix ingress-nginx users already write. */
export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

/** Per-Ingress options taken from annotations. */
export interface IngressAnnotations {
  /** `ssl-redirect`: redirect HTTP to HTTPS when the host has TLS (default true). */
  readonly sslRedirect: boolean;
  /** `force-ssl-redirect`: redirect HTTP to HTTPS even without TLS (default false). */
  readonly forceSslRedirect: boolean;
}

function readBoolean(
  annotations: Readonly<Record<string, string>>,
  name: string,
  fallback: boolean,
  source: SourceRef,
  conditions: Condition[],
): boolean {
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

/** Reads the annotations Portico honours from one Ingress. */
export function readAnnotations(annotations: Readonly<Record<string, string>> | undefined, source: SourceRef, conditions: Condition[]): IngressAnnotations {
  const all = annotations ?? {};
  return {
    sslRedirect: readBoolean(all, 'ssl-redirect', true, source, conditions),
    forceSslRedirect: readBoolean(all, 'force-ssl-redirect', false, source, conditions),
  };
}
