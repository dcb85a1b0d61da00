/**
 * Where an `auth-url` subrequest goes when its host names a Service of the cluster
 * (`<service>.<namespace>.svc[.cluster.local]`): that Service port's endpoints, from the same
 * EndpointSlices routes use, so it works on edge nodes that cannot resolve cluster DNS
 * (hostNetwork, standalone) and follows endpoint changes like any backend. The derivation
 * records the endpoint set key; settling the host fills in its endpoints (`withAuthEndpoints`), and
 * the incremental build re-settles the hosts whose auth set's endpoints changed.
 * Any other host is resolved by DNS in the data plane.
 */
import type { Condition } from '../model/conditions.ts';
import type { EndpointSet, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { EndpointSets } from './backends.ts';
import { resolveBackend } from './backends.ts';

/** `policies` with its auth Service resolved to an endpoint set key (an Error condition when it cannot be). */
export function resolveAuthService(policies: RoutePolicies | undefined, source: SourceRef, state: ClusterState, sets: EndpointSets, conditions: Condition[]): RoutePolicies | undefined {
  const auth = policies?.externalAuth;
  if (auth?.service == null) return policies;
  const { namespace, name, port } = auth.service;
  const field = `metadata.annotations['${NGINX_PREFIX}auth-url']`;
  const resolved = resolveBackend({ service: { name, port: { number: port } } }, namespace, source, field, state, sets);
  if (resolved.backend.endpointSet === undefined) {
    conditions.push({ source, field, reason: 'InvalidAnnotation', severity: 'Error', message: `auth-url names Service ${namespace}/${name} port ${port}, which does not exist; every request answers 500 (authentication fails closed) until it does` });
  }
  return { ...policies, externalAuth: { ...auth, endpointSet: resolved.backend.endpointSet ?? null } };
}

/** `policies` with its auth endpoint set's endpoints filled in from `byKey` (unchanged without one). */
export function withAuthEndpoints(policies: RoutePolicies | undefined, byKey: Pick<ReadonlyMap<string, EndpointSet>, 'get'>): RoutePolicies | undefined {
  const auth = policies?.externalAuth;
  if (auth === undefined || auth.service === null) return policies;
  const set = auth.endpointSet === null ? undefined : byKey.get(auth.endpointSet);
  return { ...policies, externalAuth: { ...auth, endpoints: (set?.endpoints ?? []).map((endpoint) => ({ address: endpoint.address, port: endpoint.port })) } };
}
