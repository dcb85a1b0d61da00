/**
 * `ssl-passthrough`, as ingress-nginx documents it (docs/user-guide/tls.md "SSL Passthrough",
 * docs/user-guide/nginx-configuration/annotations.md "SSL Passthrough"): a TLS connection whose
 * SNI server name is exactly the Ingress's host is not terminated; its bytes, ClientHello
 * included, are spliced as raw TCP to the backend of the host's `/` path, which terminates TLS
 * itself. ingress-nginx's controller (internal/ingress/controller/controller.go) takes the
 * backend of the server's root location (`/`) and ignores passthrough for a host without one;
 * its TCP proxy (internal/ingress/controller/tcp.go) compares the SNI name with the host
 * exactly, so a wildcard host never matches; a ClientHello without SNI is terminated as usual.
 * Plain-HTTP requests for the host are routed as without the annotation.
 *
 * Because passthrough works below HTTP, none of the Ingress's other annotations can act on those
 * connections (ingress-nginx: "invalidates all the other annotations"). Where one of them
 * restricts who may reach the backend (auth-*, *-source-range), ingress-nginx would silently
 * serve the TLS connections open; Portico refuses the Ingress instead (fail closed).
 *
 * The data plane half (reading the ClientHello, the splice) is dataplane/src/passthrough.ts.
 */
import type { AnnotationReader, PolicyModule } from './module.ts';

/** Annotations that restrict access, which a spliced TLS connection would bypass. */
const ACCESS_ANNOTATIONS = ['auth-url', 'auth-type', 'auth-secret', 'auth-tls-secret', 'whitelist-source-range', 'allowlist-source-range', 'denylist-source-range'] as const;

function readPassthrough(reader: AnnotationReader): true | undefined {
  if (!reader.boolean('ssl-passthrough', false)) return undefined;
  const restricting = ACCESS_ANNOTATIONS.filter((name) => reader.string(name) !== undefined);
  if (restricting.length > 0) {
    reader.refuse('ssl-passthrough', `TLS connections passed through are not terminated, so ${restricting.map((name) => `nginx.ingress.kubernetes.io/${name}`).join(', ')} could not be enforced on them (ingress-nginx would serve them open)`);
    return undefined;
  }
  return true;
}

/** `ssl-passthrough`: TLS connections for the host go to the `/` path's backend untouched. */
export const sslPassthroughModule: PolicyModule<true> = {
  key: 'sslPassthrough',
  phase: 'redirect',
  annotations: [
    {
      name: 'ssl-passthrough',
      support: 'approximated',
      note: 'TLS connections whose SNI is exactly the host go, not terminated, to an endpoint of the `/` path\'s backend (balanced; ingress-nginx: the Service\'s cluster IP); no SNI or another name is terminated by Portico; plain HTTP is routed as usual; refused (503) with auth-*/*-source-range annotations, which could not act on those connections',
    },
  ],
  schema: (z) => z.literal(true),
  read: readPassthrough,
  prepare: () => undefined,
  describe: () => 'ssl-passthrough: TLS connections whose SNI is this host are spliced to an endpoint of the `/` path\'s backend without termination (only the `/` route carries them)',
};

/**
 * Whether a route (its path and policies) carries the host's passed-through TLS connections: it
 * has `ssl-passthrough` and is the host's root path `/` (Prefix or ImplementationSpecific, as
 * ingress-nginx's root location).
 */
export function carriesPassthrough(route: { readonly path?: string; readonly pathType?: string; readonly regex?: boolean; readonly policies?: { readonly sslPassthrough?: true | undefined } | undefined }): boolean {
  return route.policies?.sslPassthrough === true && route.path === '/' && (route.pathType === 'Prefix' || route.pathType === 'ImplementationSpecific') && route.regex !== true;
}
