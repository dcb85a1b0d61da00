/**
 * Gateway API filters on one `backendRefs[]` entry (HTTPBackendRef.filters, GRPCBackendRef.filters):
 * "executed if and only if the request is being forwarded to the backend defined here"
 * (sigs.k8s.io/gateway-api apis/v1 httproute_types.go, grpcroute_types.go). Portico honours the
 * header modifiers there (RequestHeaderModifier, ResponseHeaderModifier); the build refuses any
 * other type on a backendRef (gateway-filters.ts `backendRefFilters`).
 *
 * They run after the endpoint was picked (by weight among the route's backends), on top of what
 * the rule's own filters did: a backend's `set` or `remove` of a name replaces what the rule set
 * or added for it, a backend's `add` comes beside it. Kept per backend index, so a retry that lands
 * on another backend of the route gets that backend's filters instead (`applyBackendPolicy`).
 */
import type { z } from 'zod';
import type { BackendStep, PolicyModule, PolicyOutcome, Zod } from './module.ts';
import { headerModifierSchema } from './gateway-headers.ts';
import type { HeaderModifier } from './gateway-headers.ts';

/** The filters of a route's backends: one entry per backend that has any, by backend index (its place in the route's `backends`). */
function backendFiltersSchema(z: Zod) {
  const entry = z.strictObject({
    /** Index into the route's `backends` (the rule's `backendRefs`). */
    backend: z.number().int().min(0).max(15),
    /** `namespace/service:port` of the backendRef, for people reading the snapshot and explain. */
    name: z.string().max(600),
    requestHeaderModifier: headerModifierSchema(z).optional(),
    responseHeaderModifier: headerModifierSchema(z).optional(),
  });
  return z.strictObject({ backends: z.array(entry).min(1).max(16) });
}
export type BackendFilters = z.infer<ReturnType<typeof backendFiltersSchema>>;
export type BackendFilterEntry = BackendFilters['backends'][number];

type Pairs = [string, string][];

/** Drops from `list` every pair whose name (any case) is `lower`. */
function dropName(list: Pairs, lower: string): void {
  for (let i = list.length - 1; i >= 0; i--) if ((list[i]![0] as string).toLowerCase() === lower) list.splice(i, 1);
}

/** Applies one side's modifier over what the rule decided: set and remove win over the rule's set/add of the name, add joins. */
function modify(set: Pairs, add: Pairs, remove: string[], data: HeaderModifier): void {
  for (const { name, value } of data.set) {
    const lower = name.toLowerCase();
    dropName(set, lower);
    dropName(add, lower);
    set.push([name, value]);
  }
  for (const { name, value } of data.add) add.push([name, value]);
  for (const name of data.remove) {
    const lower = name.toLowerCase();
    dropName(set, lower);
    dropName(add, lower);
    remove.push(lower);
  }
}

/** The step of one backend's filters. */
function backendStep(entry: BackendFilterEntry): BackendStep {
  const request = entry.requestHeaderModifier;
  const response = entry.responseHeaderModifier;
  return (outcome: PolicyOutcome) => {
    if (request !== undefined) modify(outcome.setHeaders, outcome.addHeaders, outcome.removeHeaders, request);
    if (response !== undefined) modify(outcome.responseHeaders, outcome.responseAdd, outcome.responseRemove, response);
  };
}

function describeList(data: HeaderModifier): string {
  return [
    ...(data.set.length === 0 ? [] : [`set ${data.set.map((h) => `${h.name}: ${h.value}`).join(', ')}`]),
    ...(data.add.length === 0 ? [] : [`add ${data.add.map((h) => `${h.name}: ${h.value}`).join(', ')}`]),
    ...(data.remove.length === 0 ? [] : [`remove ${data.remove.join(', ')}`]),
  ].join('; ');
}

/** One line per backend, for explain. */
function describe(data: BackendFilters): string {
  const parts = data.backends.map((entry) => {
    const sides = [
      ...(entry.requestHeaderModifier === undefined ? [] : [`request headers ${describeList(entry.requestHeaderModifier)}`]),
      ...(entry.responseHeaderModifier === undefined ? [] : [`response headers ${describeList(entry.responseHeaderModifier)}`]),
    ];
    return `backendRefs[${entry.backend}] ${entry.name}: ${sides.join('; ')}`;
  });
  return `per-backend filters (Gateway API backendRefs[].filters, applied only to requests sent to that backend, after the rule's): ${parts.join(' | ')}`;
}

/** Per-backend header modifiers: no step of their own in the pipeline; the data plane runs `backendSteps` after the pick. */
export const backendFiltersModule: PolicyModule<BackendFilters> = {
  key: 'backendFilters',
  phase: 'request',
  annotations: [],
  schema: backendFiltersSchema,
  prepare: () => undefined,
  backendSteps: (data) => new Map(data.backends.map((entry) => [entry.backend, backendStep(entry)])),
  describe,
};
