/**
 * Gateway API backendRefs -> model Backends. Only core Services are supported; a reference that
 * does not resolve keeps its weight share (so that share fails, as the spec asks, instead of
 * shifting to the other backends) and reports the spec's ResolvedRefs reason.
 */
import type { Backend, SourceRef } from '../../model/types.ts';
import type { ClusterState } from '../../state/cluster-state.ts';
import { objectKey } from '../../state/cluster-state.ts';
import type { BackendRef } from '../../state/gateway-objects.ts';
import { GATEWAY_GROUP } from '../../state/gateway-objects.ts';
import type { EndpointSets } from '../backends.ts';
import { appProtocolWire } from '../upstream.ts';
import { referenceAllowed } from './references.ts';

/** A backendRef resolved, or the reason (a spec ResolvedRefs reason) it did not. */
export interface GatewayBackend {
  readonly backend: Backend;
  /** BackendNotFound, InvalidKind, RefNotPermitted or UnsupportedProtocol, with a message naming the field; undefined when resolved. */
  readonly problem?: { readonly field: string; readonly reason: 'BackendNotFound' | 'InvalidKind' | 'RefNotPermitted' | 'UnsupportedProtocol'; readonly message: string } | undefined;
}

/** Resolves `ref` (at `field` of `source`, a route in `namespace`). `grpc` makes the endpoints speak gRPC. */
export function resolveBackendRef(ref: BackendRef, source: SourceRef, field: string, state: ClusterState, sets: EndpointSets, grpc: boolean): GatewayBackend {
  const namespace = ref.namespace ?? source.namespace;
  const weight = ref.weight ?? 1;
  const base: Backend = { namespace, service: ref.name, port: ref.port ?? 0, weight, endpointSet: undefined };
  // Invalid: the data plane answers 500 for its weight share, as the spec says.
  const unresolved: Backend = { ...base, invalid: true };
  const group = ref.group ?? '';
  const kind = ref.kind ?? 'Service';
  if ((group !== '' && group !== 'core') || kind !== 'Service') {
    return { backend: unresolved, problem: { field, reason: 'InvalidKind', message: `${field}: ${group === '' ? '' : `${group}/`}${kind} is not a supported backend kind (core Service is)` } };
  }
  if (!referenceAllowed(state, { group: GATEWAY_GROUP, kind: source.kind, namespace: source.namespace }, { group: '', kind: 'Service', namespace }, ref.name)) {
    return { backend: unresolved, problem: { field, reason: 'RefNotPermitted', message: `${field}: Service ${namespace}/${ref.name} is in another namespace and no ReferenceGrant there permits ${source.kind}s from ${source.namespace}` } };
  }
  const service = state.services.get(objectKey(namespace, ref.name));
  if (service === undefined) return { backend: unresolved, problem: { field, reason: 'BackendNotFound', message: `${field}: Service ${namespace}/${ref.name} not found` } };
  if (ref.port === undefined) return { backend: unresolved, problem: { field, reason: 'BackendNotFound', message: `${field}: port is required for a Service backend` } };
  const servicePort = service.spec.type === 'ExternalName' ? { port: ref.port } : service.spec.ports?.find((p) => p.port === ref.port);
  if (servicePort === undefined) return { backend: unresolved, problem: { field, reason: 'BackendNotFound', message: `${field}: Service ${namespace}/${ref.name} has no port ${ref.port}` } };
  const appProtocol = 'appProtocol' in servicePort ? servicePort.appProtocol : undefined;
  const wire = appProtocol === undefined ? undefined : appProtocolWire(appProtocol);
  // TLS to endpoints is BackendTLSPolicy's business in Gateway API, which Portico does not read:
  // such a port is refused rather than spoken to in clear text.
  if (appProtocol !== undefined && (wire === undefined || wire.tls)) {
    const why = wire === undefined ? 'which Portico does not speak' : 'which needs TLS to the endpoints, and Portico does not support BackendTLSPolicy';
    return { backend: unresolved, problem: { field, reason: 'UnsupportedProtocol', message: `${field}: Service ${namespace}/${ref.name} port ${ref.port} has appProtocol ${appProtocol}, ${why}` } };
  }
  const protocol = grpc ? 'grpc' : wire?.protocol;
  const backend: Backend = { ...base, endpointSet: sets.resolve(service, servicePort, ref.port), ...(protocol === undefined ? {} : { protocol }) };
  return { backend };
}
