/**
 * Manifest text the Gateway API e2e suites share: Portico's GatewayClass and a Service with one
 * ready endpoint on loopback (a test backend).
 */

/** The Gateway API group/version of the manifests. */
export const GATEWAY_API = 'gateway.networking.k8s.io/v1';

/** GatewayClass `portico`, handled by Portico's controller. */
export const PORTICO_GATEWAY_CLASS = `apiVersion: ${GATEWAY_API}
kind: GatewayClass
metadata: {name: portico}
spec: {controllerName: portico.dev/gateway-controller}
`;

/** Service `namespace/name` (port 80) and its EndpointSlice: one endpoint, 127.0.0.1:`port`. */
export function loopbackService(name: string, namespace: string, port: number): string {
  return (
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {ports: [{port: 80}]}\n---\n` +
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: ${namespace}, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1]}]\n`
  );
}
