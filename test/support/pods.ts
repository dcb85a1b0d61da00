/**
 * Manifests for the test cluster's pods (test/cluster/README.md): Deployments of the images the
 * kubelet stand-in knows, and the Services in front of them.
 */

/** Our backend image (test/cluster/images/portico-backend): echo, /ws, /slow, /status/N, readiness switch. */
export const BACKEND_IMAGE = 'portico.dev/testcluster/backend:v1';
/** The Gateway API conformance echo server, as the v1.6 conformance manifests name it. */
export const ECHO_BASIC_IMAGE = 'registry.k8s.io/gateway-api/echo-basic:v1.6.0-dev.2';
/** Port our backend listens on in every pod. */
export const BACKEND_PORT = 8080;

/** Downward-API env: what our backend and echo-basic echo back. */
const downward = [
  { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
  { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
];

/** Options of `backendDeployment`. */
export interface BackendOptions {
  readonly replicas?: number;
  readonly image?: string;
  /** Readiness probe period (s); the probe is GET /healthz with failureThreshold 1. */
  readonly probePeriodSeconds?: number;
  readonly terminationGracePeriodSeconds?: number;
  /** A `sleep` preStop hook of this many seconds. */
  readonly preStopSleepSeconds?: number;
  /** Extra env for the container. */
  readonly env?: Readonly<Record<string, string>>;
  /** Rolling update: maxSurge / maxUnavailable. */
  readonly maxSurge?: number | string;
  readonly maxUnavailable?: number | string;
  /** Port the backend listens on (default BACKEND_PORT), named "http". */
  readonly port?: number;
}

/** A Deployment of our backend (or `image`) labelled app=`name`, with an HTTP readiness probe. */
export function backendDeployment(namespace: string, name: string, options: BackendOptions = {}): Record<string, unknown> {
  const container: Record<string, unknown> = {
    name: 'backend',
    image: options.image ?? BACKEND_IMAGE,
    ports: [{ name: 'http', containerPort: options.port ?? BACKEND_PORT }],
    env: [...downward, { name: 'PORT', value: String(options.port ?? BACKEND_PORT) }, ...Object.entries(options.env ?? {}).map(([k, v]) => ({ name: k, value: v }))],
    readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: options.probePeriodSeconds ?? 1, failureThreshold: 1, timeoutSeconds: 1 },
  };
  if (options.preStopSleepSeconds !== undefined) container['lifecycle'] = { preStop: { sleep: { seconds: options.preStopSleepSeconds } } };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas: options.replicas ?? 1,
      selector: { matchLabels: { app: name } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: options.maxSurge ?? '25%', maxUnavailable: options.maxUnavailable ?? '25%' } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          terminationGracePeriodSeconds: options.terminationGracePeriodSeconds ?? 30,
          containers: [container],
        },
      },
    },
  };
}

/** A ClusterIP Service selecting app=`name`, port `port` to the backend's named port. */
export function backendService(namespace: string, name: string, port = 80): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { selector: { app: name }, ports: [{ name: 'http', port, targetPort: 'http' }] },
  };
}

/** An Ingress of class portico routing `host` (all paths) to Service `name` port `port`. */
export function backendIngress(namespace: string, name: string, host: string, port = 80): Record<string, unknown> {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace },
    spec: {
      ingressClassName: 'portico',
      rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: port } } } }] } }],
    },
  };
}

/** A kubectl `apply -f -` document for several objects. */
export function list(...items: readonly Record<string, unknown>[]): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}
