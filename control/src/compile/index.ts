/**
 * The compile stage: RoutingModel -> Snapshot. Pure and deterministic: the model's lists are
 * already sorted most-specific-first, and the version is the hash of the canonical content.
 */
import type { Backend, DefaultRoute, RoutingModel } from '../model/types.ts';
import type { Snapshot, SnapshotBackend, SnapshotContent, SnapshotDefaultRoute } from '../snapshot/schema.ts';
import { SNAPSHOT_API_VERSION, sealSnapshot } from '../snapshot/schema.ts';

function backend(b: Backend): SnapshotBackend {
  return { namespace: b.namespace, service: b.service, port: b.port, weight: b.weight, endpointSet: b.endpointSet ?? null };
}

/** `{refused}` when the route is refused; nothing otherwise, so served routes hash as before. */
function refusal(route: { readonly refused?: string | undefined }): { refused?: string } {
  return route.refused === undefined ? {} : { refused: route.refused };
}

function defaultRoute(route: DefaultRoute | undefined): SnapshotDefaultRoute | null {
  if (route === undefined) return null;
  return { source: { ...route.source }, field: route.field, backends: route.backends.map(backend), redirect: { ...route.redirect }, ...refusal(route) };
}

/**
 * Compiles the model into a validated snapshot. Throws PorticoError PORTICO_E_SNAPSHOT_INVALID
 * only if the model breaks the snapshot contract, which is a bug in the build stage.
 */
export function compileSnapshot(model: RoutingModel): Snapshot {
  const content: SnapshotContent = {
    apiVersion: SNAPSHOT_API_VERSION,
    kind: 'Snapshot',
    hosts: model.virtualHosts.map((vhost) => ({
      host: vhost.host,
      tls: vhost.tls,
      certificate: vhost.certificate ?? null,
      routes: vhost.routes.map((route) => ({
        source: { ...route.source },
        field: route.field,
        pathType: route.pathType,
        path: route.path,
        backends: route.backends.map(backend),
        redirect: { ...route.redirect },
        ...refusal(route),
      })),
      defaultRoute: defaultRoute(vhost.defaultRoute),
    })),
    defaultRoute: defaultRoute(model.defaultRoute),
    endpointSets: model.endpointSets.map((set) => ({ key: set.key, endpoints: set.endpoints.map((e) => ({ ...e })) })),
    certificates: model.certificates.map((c) => ({ secret: c.secret, hosts: [...c.hosts], certificatePem: c.certificatePem, privateKeyPem: c.privateKeyPem })),
  };
  // Validate before publishing (DESIGN rule 4).
  return sealSnapshot(content);
}
