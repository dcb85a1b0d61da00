/**
 * Kubernetes Events for conditions: an invalid Ingress gets a Warning Event naming the field and
 * reason, visible in `kubectl describe ingress`. Each (object version, field, reason) is reported once.
 */
import type { Condition } from '../model/conditions.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { objectKey } from '../state/cluster-state.ts';

/** The Event body for one condition about an object Portico holds, or undefined when the object is gone. */
export function conditionEvent(condition: Condition, state: ClusterState, component: string, instance: string, now: Date): { namespace: string; event: unknown; dedupeKey: string } | undefined {
  if (condition.source.kind !== 'Ingress') return undefined;
  const ingress = state.ingresses.get(objectKey(condition.source.namespace, condition.source.name));
  if (ingress === undefined) return undefined;
  const namespace = condition.source.namespace;
  const time = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const dedupeKey = `${ingress.metadata.uid ?? ''}/${ingress.metadata.resourceVersion ?? ''}/${condition.field}/${condition.reason}`;
  return {
    namespace,
    dedupeKey,
    event: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${condition.source.name}.`, namespace },
      involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace, name: condition.source.name, uid: ingress.metadata.uid, resourceVersion: ingress.metadata.resourceVersion },
      reason: condition.reason,
      message: `${condition.field}: ${condition.message}`.slice(0, 1024),
      type: condition.severity === 'Error' || condition.severity === 'Warning' ? 'Warning' : 'Normal',
      source: { component },
      reportingComponent: component,
      reportingInstance: instance,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    },
  };
}
