/**
 * The Gateway API objects Portico reads (gateway.networking.k8s.io, standard channel), as zod
 * schemas of the fields it uses, plus `v1` Namespace for `allowedRoutes` namespace selectors.
 *
 * The bounds are the CRDs' own (v1.6): the API server enforces them in a cluster; a manifest
 * directory gets the same limits here, so a huge route is refused at the edge with a field path.
 * Fields Portico does not implement yet are kept (`looseObject`) so the build can refuse them
 * loudly instead of ignoring them.
 */
import { z } from 'zod';
import { ObjectMeta } from './objects.ts';

/** The API group of every Gateway API kind. */
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';

const name = z.string().min(1).max(253);
const sectionName = z.string().min(1).max(253);
const portNumber = z.number().int().min(1).max(65535);
// The CRD's Hostname: a lower-case RFC 1123 subdomain, optionally with a `*.` first label.
const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'must be a lower-case RFC 1123 subdomain, optionally with a "*." first label (the CRD\'s Hostname)')
  // The pattern lets an IPv4 address through; the spec's Hostname says "IPs are not allowed".
  .refine((host) => !/^\d{1,3}(\.\d{1,3}){3}$/.test(host), 'must be a DNS name, not an IP address (the spec\'s Hostname)');

/** A label selector (`matchLabels` and `matchExpressions`). */
export const LabelSelector = z.looseObject({
  matchLabels: z.record(z.string(), z.string()).optional(),
  matchExpressions: z
    .array(z.looseObject({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: z.array(z.string()).max(64).optional() }))
    .max(16)
    .optional(),
});
export type LabelSelector = z.infer<typeof LabelSelector>;

/** `gateway.networking.k8s.io/v1` GatewayClass. */
export const GatewayClass = z.looseObject({
  apiVersion: z.literal(`${GATEWAY_GROUP}/v1`),
  kind: z.literal('GatewayClass'),
  metadata: ObjectMeta,
  spec: z.looseObject({ controllerName: z.string().min(1).max(253), parametersRef: z.unknown().optional() }),
  status: z.unknown().optional(),
});
export type GatewayClass = z.infer<typeof GatewayClass>;

/** A reference to a Secret (or another kind, refused) holding a listener certificate. */
const SecretObjectReference = z.looseObject({ group: z.string().max(253).optional(), kind: z.string().max(63).optional(), name, namespace: z.string().min(1).max(63).optional() });
export type SecretObjectReference = z.infer<typeof SecretObjectReference>;

const RouteGroupKind = z.looseObject({ group: z.string().max(253).optional(), kind: z.string().min(1).max(63) });
export type RouteGroupKind = z.infer<typeof RouteGroupKind>;

/** One Gateway listener. */
export const Listener = z.looseObject({
  name: sectionName,
  hostname: hostname.optional(),
  port: portNumber,
  protocol: z.string().min(1).max(255),
  tls: z
    .looseObject({
      mode: z.enum(['Terminate', 'Passthrough']).optional(),
      certificateRefs: z.array(SecretObjectReference).max(64).optional(),
      options: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  allowedRoutes: z
    .looseObject({
      namespaces: z.looseObject({ from: z.enum(['All', 'Same', 'Selector']).optional(), selector: LabelSelector.optional() }).optional(),
      kinds: z.array(RouteGroupKind).max(8).optional(),
    })
    .optional(),
});
export type Listener = z.infer<typeof Listener>;

/** `gateway.networking.k8s.io/v1` Gateway. */
export const Gateway = z.looseObject({
  apiVersion: z.literal(`${GATEWAY_GROUP}/v1`),
  kind: z.literal('Gateway'),
  metadata: ObjectMeta,
  spec: z.looseObject({
    gatewayClassName: name,
    listeners: z.array(Listener).min(1).max(64),
    addresses: z.array(z.looseObject({ type: z.string().optional(), value: z.string() })).max(16).optional(),
  }),
  status: z.unknown().optional(),
});
export type Gateway = z.infer<typeof Gateway>;

/** A route's reference to its parent (a Gateway, optionally one listener of it). */
const ParentReference = z.looseObject({
  group: z.string().max(253).optional(),
  kind: z.string().max(63).optional(),
  namespace: z.string().min(1).max(63).optional(),
  name,
  sectionName: sectionName.optional(),
  port: portNumber.optional(),
});
export type ParentReference = z.infer<typeof ParentReference>;

/** A route's reference to a backend (a Service, else refused as InvalidKind). */
const BackendRef = z.looseObject({
  group: z.string().max(253).optional(),
  kind: z.string().max(63).optional(),
  name,
  namespace: z.string().min(1).max(63).optional(),
  port: portNumber.optional(),
  weight: z.number().int().min(0).max(1_000_000).optional(),
  filters: z.array(z.looseObject({ type: z.string() })).max(16).optional(),
});
export type BackendRef = z.infer<typeof BackendRef>;

const HeaderMatch = z.looseObject({ type: z.enum(['Exact', 'RegularExpression']).optional(), name: z.string().min(1).max(256), value: z.string().max(4096) });
export type HeaderMatch = z.infer<typeof HeaderMatch>;

/** One HTTPRoute match. */
export const HTTPRouteMatch = z.looseObject({
  path: z.looseObject({ type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).optional(), value: z.string().max(1024).optional() }).optional(),
  headers: z.array(HeaderMatch).max(16).optional(),
  queryParams: z.array(HeaderMatch).max(16).optional(),
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']).optional(),
});
export type HTTPRouteMatch = z.infer<typeof HTTPRouteMatch>;

const routeFilter = z.looseObject({ type: z.string().min(1) });

/** One HTTPRoute rule. */
export const HTTPRouteRule = z.looseObject({
  name: sectionName.optional(),
  matches: z.array(HTTPRouteMatch).max(64).optional(),
  filters: z.array(routeFilter).max(16).optional(),
  backendRefs: z.array(BackendRef).max(16).optional(),
  timeouts: z.looseObject({ request: z.string().optional(), backendRequest: z.string().optional() }).optional(),
});
export type HTTPRouteRule = z.infer<typeof HTTPRouteRule>;

const routeSpec = {
  parentRefs: z.array(ParentReference).max(32).optional(),
  hostnames: z.array(hostname).max(16).optional(),
};

/** `gateway.networking.k8s.io/v1` HTTPRoute. */
export const HTTPRoute = z.looseObject({
  apiVersion: z.literal(`${GATEWAY_GROUP}/v1`),
  kind: z.literal('HTTPRoute'),
  metadata: ObjectMeta,
  spec: z.looseObject({ ...routeSpec, rules: z.array(HTTPRouteRule).max(16).optional() }).default({}),
  status: z.unknown().optional(),
});
export type HTTPRoute = z.infer<typeof HTTPRoute>;

/** One GRPCRoute match. */
export const GRPCRouteMatch = z.looseObject({
  method: z.looseObject({ type: z.enum(['Exact', 'RegularExpression']).optional(), service: z.string().max(1024).optional(), method: z.string().max(1024).optional() }).optional(),
  headers: z.array(HeaderMatch).max(16).optional(),
});
export type GRPCRouteMatch = z.infer<typeof GRPCRouteMatch>;

/** `gateway.networking.k8s.io/v1` GRPCRoute. */
export const GRPCRoute = z.looseObject({
  apiVersion: z.literal(`${GATEWAY_GROUP}/v1`),
  kind: z.literal('GRPCRoute'),
  metadata: ObjectMeta,
  spec: z
    .looseObject({
      ...routeSpec,
      rules: z.array(z.looseObject({ name: sectionName.optional(), matches: z.array(GRPCRouteMatch).max(64).optional(), filters: z.array(routeFilter).max(16).optional(), backendRefs: z.array(BackendRef).max(16).optional() })).max(16).optional(),
    })
    .default({}),
  status: z.unknown().optional(),
});
export type GRPCRoute = z.infer<typeof GRPCRoute>;

/** `gateway.networking.k8s.io/v1beta1` (or `v1`) ReferenceGrant: who in other namespaces may refer to what here. */
export const ReferenceGrant = z.looseObject({
  apiVersion: z.enum([`${GATEWAY_GROUP}/v1beta1`, `${GATEWAY_GROUP}/v1`]),
  kind: z.literal('ReferenceGrant'),
  metadata: ObjectMeta,
  spec: z.looseObject({
    from: z.array(z.looseObject({ group: z.string().max(253), kind: z.string().min(1).max(63), namespace: z.string().min(1).max(63) })).min(1).max(16),
    to: z.array(z.looseObject({ group: z.string().max(253), kind: z.string().min(1).max(63), name: name.optional() })).min(1).max(16),
  }),
});
export type ReferenceGrant = z.infer<typeof ReferenceGrant>;

/** `v1` Namespace, for its labels (listener `allowedRoutes.namespaces.selector`). */
export const Namespace = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: ObjectMeta,
});
export type Namespace = z.infer<typeof Namespace>;

/** Any Gateway API object (or Namespace) Portico keeps in ClusterState. */
export type GatewayApiObject = GatewayClass | Gateway | HTTPRoute | GRPCRoute | ReferenceGrant | Namespace;

/** Whether `selector` selects an object with `labels` (an empty selector selects everything). Pure. */
export function selectorMatches(selector: LabelSelector, labels: Readonly<Record<string, string>> | undefined): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (have[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const value = have[expression.key];
    const values = expression.values ?? [];
    switch (expression.operator) {
      case 'In':
        if (value === undefined || !values.includes(value)) return false;
        break;
      case 'NotIn':
        if (value !== undefined && values.includes(value)) return false;
        break;
      case 'Exists':
        if (value === undefined) return false;
        break;
      case 'DoesNotExist':
        if (value !== undefined) return false;
        break;
    }
  }
  return true;
}
