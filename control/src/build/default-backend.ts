/**
 * The `default-backend` annotation's Service resolved for the snapshot (policies/default-backend.ts):
 * a Service of the Ingress's namespace, its first port (ingress-nginx's controller.go uses
 * `Spec.Ports[0]`), its endpoints an endpoint set like any backend's, so endpoint changes follow
 * on the fast path and the incremental build re-derives the Ingress when the Service changes (the
 * read is recorded, a miss too). As in ingress-nginx, a missing Service or one without ports
 * leaves the annotation out (logged there; a Warning here), since it narrows nobody's access.
 */
import type { Condition } from '../model/conditions.ts';
import type { Backend, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';
import type { RoutePolicies } from '../snapshot/policies/registry.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import type { EndpointSets } from './backends.ts';
import { resolveBackend } from './backends.ts';

/** `policies` with the default-backend Service resolved to its first port and endpoint set; without the member when it cannot be. */
export function resolveDefaultBackend(policies: RoutePolicies | undefined, source: SourceRef, state: ClusterState, sets: EndpointSets, conditions: Condition[]): RoutePolicies | undefined {
  const data = policies?.defaultBackend;
  if (data?.service == null) return policies;
  const field = `metadata.annotations['${NGINX_PREFIX}default-backend']`;
  const { defaultBackend: _unused, ...rest } = policies as RoutePolicies;
  const without = Object.keys(rest).length === 0 ? undefined : rest;
  const intercepting = data.codes.length === 0 ? '' : '; custom-http-errors responses are relayed unchanged';
  const service = state.services.get(objectKey(source.namespace, data.service));
  if (service === undefined) {
    conditions.push({ source, field, reason: 'InvalidAnnotation', severity: 'Warning', message: `Service ${source.namespace}/${data.service} not found; no default backend until it exists (ingress-nginx ignores the annotation too)${intercepting}` });
    return without;
  }
  const first = service.spec.ports?.[0];
  if (first === undefined) {
    conditions.push({ source, field, reason: 'InvalidAnnotation', severity: 'Warning', message: `Service ${source.namespace}/${data.service} has no ports; no default backend (ingress-nginx ignores it too)${intercepting}` });
    return without;
  }
  const resolved = resolveBackend({ service: { name: data.service, port: { number: first.port } } }, source.namespace, source, field, state, sets);
  conditions.push(...resolved.conditions);
  if (resolved.backend.endpointSet === undefined) return without;
  return { ...policies, defaultBackend: { ...data, port: first.port, endpointSet: resolved.backend.endpointSet } };
}

/** `policies` with the rule's own Service name and port in its default-backend data (X-Service-Name, X-Service-Port). */
export function withRuleService(policies: RoutePolicies | undefined, backend: Backend): RoutePolicies | undefined {
  const data = policies?.defaultBackend;
  if (data === undefined) return policies;
  return { ...policies, defaultBackend: { ...data, serviceName: backend.service, servicePort: backend.service === '' ? '' : String(backend.port) } };
}
