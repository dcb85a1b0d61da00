/**
 * Where `mirror-target` copies go when its host names a Service of the cluster
 * (`<service>.<namespace>.svc[.cluster.local]`), as for auth-url (external-auth.ts): that Service
 * port's endpoints, from the same EndpointSlices routes use, so mirroring works on edge nodes that
 * cannot resolve cluster DNS (hostNetwork, standalone) and follows endpoint changes like any
 * backend (a hidden route of the matcher table, snapshot/table.ts). Any other host is resolved by
 * DNS in the data plane; both go through the endpoint address policy.
 */
import type { Condition } from '../model/conditions.ts';
import type { SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { EndpointSets } from './backends.ts';
import { resolveBackend } from './backends.ts';

/** `policies` with its mirror Service resolved to an endpoint set key (a Warning when it cannot be: nothing is mirrored then). */
export function resolveMirrorService(policies: RoutePolicies | undefined, source: SourceRef, state: ClusterState, sets: EndpointSets, conditions: Condition[]): RoutePolicies | undefined {
  const mirror = policies?.mirrorTarget;
  if (mirror?.service == null) return policies;
  const { namespace, name, port } = mirror.service;
  const field = `metadata.annotations['${NGINX_PREFIX}mirror-target']`;
  const resolved = resolveBackend({ service: { name, port: { number: port } } }, namespace, source, field, state, sets);
  if (resolved.backend.endpointSet === undefined) {
    conditions.push({ source, field, reason: 'InvalidAnnotation', severity: 'Warning', message: `mirror-target names Service ${namespace}/${name} port ${port}, which does not exist; nothing is mirrored until it does (the routes are served)` });
  }
  return { ...policies, mirrorTarget: { ...mirror, endpointSet: resolved.backend.endpointSet ?? null } };
}
