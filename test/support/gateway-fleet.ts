/**
 * A synthetic Gateway API cluster for the control-plane stage benchmark (`bench/fleet-stages.ts
 * --httproutes N`): one GatewayClass and Gateway (HTTP listener, routes from every namespace), N
 * HTTPRoutes of 3 matches each on a host of their own, a Service with an EndpointSlice per 5
 * routes, and every 10th route sending a weighted share to a Service in a shared namespace that a
 * ReferenceGrant per team namespace permits. Pure: the same arguments give the same objects.
 */

const G = 'gateway.networking.k8s.io/v1';
const NAMESPACE_SIZE = 200;
const ROUTES_PER_SERVICE = 5;
/** The namespace of the Services every 10th route refers to across namespaces. */
export const SHARED_NAMESPACE = 'gw-shared';

/** The team namespace of route `i`. */
export function routeNamespace(i: number): string {
  return `gw-team-${Math.floor(i / NAMESPACE_SIZE)}`;
}

function endpointsOf(name: string, namespace: string, s: number): unknown[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } },
    {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x1`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      // 10.128.0.0/10: never loopback or link-local, never answered (the benchmark sends no traffic).
      endpoints: [1, 2, 3].map((k) => ({ addresses: [`10.${128 + ((s >> 14) & 63)}.${(s >> 6) & 255}.${((s & 63) << 2) | k}`], conditions: { ready: true } })),
    },
  ];
}

/**
 * HTTPRoute `i`; `edit` (a non-negative integer) renames its Exact `/api` match to `/api-e<edit>`,
 * so every edit is a different snapshot.
 */
export function fleetHttpRoute(i: number, edit?: number): unknown {
  const namespace = routeNamespace(i);
  const service = `gw-svc-${Math.floor(i / ROUTES_PER_SERVICE)}`;
  const backendRefs = [{ name: service, port: 80, weight: 9 }, ...(i % 10 === 0 ? [{ name: `shared-${i % 7}`, namespace: SHARED_NAMESPACE, port: 80, weight: 1 }] : [])];
  const matches = [
    { path: { type: 'PathPrefix', value: '/' } },
    { path: { type: 'Exact', value: edit === undefined ? '/api' : `/api-e${edit}` } },
    { path: { type: 'PathPrefix', value: '/static' }, headers: [{ name: 'x-canary', value: 'on' }] },
  ];
  return {
    apiVersion: G,
    kind: 'HTTPRoute',
    metadata: { name: `route-${i}`, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() },
    spec: { parentRefs: [{ name: 'edge', namespace: 'gw-infra' }], hostnames: [`route-${i}.${namespace}.example.net`], rules: [{ matches, backendRefs }] },
  };
}

/** The ReferenceGrant in the shared namespace that lets HTTPRoutes of team namespace `team` refer to its Services; `edit` adds a `to` entry for Secret `none-<edit>` (an edit that changes nothing served). */
export function fleetReferenceGrant(team: number, edit?: number): unknown {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1beta1',
    kind: 'ReferenceGrant',
    metadata: { name: `from-team-${team}`, namespace: SHARED_NAMESPACE },
    spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: `gw-team-${team}` }], to: [{ group: '', kind: 'Service' }, ...(edit === undefined ? [] : [{ group: '', kind: 'Secret', name: `none-${edit}` }])] },
  };
}

/** Every object of the Gateway API fleet of `routes` HTTPRoutes, as one kubectl `List` (JSON text). */
export function gatewayFleetFile(routes: number): string {
  if (!Number.isInteger(routes) || routes < 1) throw new RangeError(`routes must be a positive integer, got ${routes}`);
  const items: unknown[] = [
    { apiVersion: G, kind: 'GatewayClass', metadata: { name: 'portico' }, spec: { controllerName: 'portico.dev/gateway-controller' } },
    { apiVersion: G, kind: 'Gateway', metadata: { name: 'edge', namespace: 'gw-infra', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { gatewayClassName: 'portico', listeners: [{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }] } },
  ];
  for (let s = 0; s < 7; s++) items.push(...endpointsOf(`shared-${s}`, SHARED_NAMESPACE, 100_000 + s));
  for (let team = 0; team * NAMESPACE_SIZE < routes; team++) items.push(fleetReferenceGrant(team));
  for (let s = 0; s * ROUTES_PER_SERVICE < routes; s++) items.push(...endpointsOf(`gw-svc-${s}`, routeNamespace(s * ROUTES_PER_SERVICE), s));
  for (let i = 0; i < routes; i++) items.push(fleetHttpRoute(i));
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items })}\n`;
}
