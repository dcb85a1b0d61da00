/**
 * Conditions: what the build stage has to say about user objects. Invalid input is data
 * (DESIGN rule 3): a condition names the object, the field and the reason, and the rest of the
 * state still compiles.
 */
import type { SourceRef } from './types.ts';

/** Stable reasons; the status writer and tests match on these. */
export type ConditionReason =
  | 'InvalidHost'
  | 'InvalidPath'
  | 'InvalidBackend'
  | 'InvalidAnnotation'
  | 'UnsupportedAnnotation'
  | 'AccessPolicyRefused'
  | 'ServiceNotFound'
  | 'ServicePortNotFound'
  | 'UnsupportedBackend'
  | 'EndpointAddressRefused'
  | 'UnsupportedBackendProtocol'
  | 'Conflict'
  | 'CanaryWithoutMain'
  | 'CanaryRefused'
  | 'SecretNotFound'
  | 'SecretInvalid'
  | 'NoRules'
  // Gateway API (the spec's own reasons where it has one).
  /** A route names no Gateway Portico serves, or none accepted it. */
  | 'RouteNotAccepted'
  /** A rule asks for something Portico does not honour (yet); it is not served. */
  | 'UnsupportedValue'
  | 'BackendNotFound'
  | 'InvalidKind'
  | 'RefNotPermitted'
  /** A backend's Service port names an `appProtocol` Portico cannot speak to it (the spec's UnsupportedProtocol). */
  | 'UnsupportedProtocol'
  /** A Gateway listener is not accepted, conflicts, or has unresolved references. */
  | 'ListenerInvalid';

/** One finding about one field of one object. */
export interface Condition {
  readonly source: SourceRef;
  /** Dotted path of the field at fault, e.g. `spec.rules[0].http.paths[1].backend.service.port`. */
  readonly field: string;
  readonly reason: ConditionReason;
  /** `Error`: the field's routing was skipped or serves 503. `Warning`: served, but not as written. */
  readonly severity: 'Error' | 'Warning';
  readonly message: string;
}

/** Most-specific-first order for conditions: by object, then field, then reason. */
export function compareConditions(a: Condition, b: Condition): number {
  return (
    cmp(a.source.kind, b.source.kind) ||
    cmp(a.source.namespace, b.source.namespace) ||
    cmp(a.source.name, b.source.name) ||
    cmp(a.field, b.field) ||
    cmp(a.reason, b.reason) ||
    cmp(a.message, b.message)
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
