/**
 * Test support for annotation policies through the real proxy: Ingress manifests as users write
 * them, compiled by the control plane's pipeline, loaded into a Router, served by a Proxy on
 * loopback in front of an echo backend that reports what it received (as ingress-nginx's e2e
 * echo server does). Test-only.
 */
import { Explainer } from '@portico/control/explain';
import { parseManifestText } from '@portico/control/manifests/parse';
import { compileState } from '@portico/control/pipeline';
import { DEFAULT_CLASS_SELECTION } from '@portico/control/ingress-class';
import { ClusterState } from '@portico/control/state';
import type { Snapshot } from '@portico/control/snapshot';
import { Router } from './router.ts';
import type { ProxyOptions } from './proxy.ts';
import type { Backend, FetchedResponse, RunningProxy } from './test-support.ts';
import { fetchVia, startBackend, startProxy } from './test-support.ts';

/** One path of a test Ingress. */
export interface TestPath {
  readonly path: string;
  readonly pathType?: 'Exact' | 'Prefix' | 'ImplementationSpecific';
  /** The Service it goes to (default `echo`). */
  readonly service?: string;
}

/** A test Ingress: one rule per host, the same paths on each. */
export interface TestIngress {
  readonly name: string;
  readonly hosts: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly paths?: readonly TestPath[];
  readonly tlsHosts?: readonly string[];
  readonly creationTimestamp?: string;
}

/** What the echo backend received. */
export interface Echo {
  readonly service: string;
  /** Which endpoint of the Service answered (0 for a Service with one). */
  readonly replica: number;
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Request body bytes it read. */
  readonly bodyBytes: number;
}

/** The Ingress as manifest JSON (namespace `web`, class `portico`). */
export function ingressManifest(ingress: TestIngress): string {
  const paths = (ingress.paths ?? [{ path: '/' }]).map((p) => ({ path: p.path, pathType: p.pathType ?? 'Prefix', backend: { service: { name: p.service ?? 'echo', port: { number: 80 } } } }));
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: ingress.name, namespace: 'web', annotations: ingress.annotations ?? {}, ...(ingress.creationTimestamp === undefined ? {} : { creationTimestamp: ingress.creationTimestamp }) },
    spec: {
      ingressClassName: 'portico',
      rules: ingress.hosts.map((host) => ({ host, http: { paths } })),
      ...(ingress.tlsHosts === undefined ? {} : { tls: [{ hosts: ingress.tlsHosts }] }),
    },
  });
}

/** A Service with one EndpointSlice per endpoint port (127.0.0.1 each). */
function service(name: string, ports: readonly number[]): string {
  return [
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: web}\nspec: {ports: [{port: 80}]}\n`,
    ...ports.map((port, i) => `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-${i + 1}, namespace: web, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`),
  ].join('---\n');
}

/** A proxy serving test Ingresses, with its echo backends. */
export class AnnotatedProxy {
  readonly backends: Map<string, Backend>;
  readonly proxy: RunningProxy;
  readonly snapshot: Snapshot;
  readonly explainer: Explainer;
  readonly conditions: ReturnType<typeof compileState>['conditions'];

  private constructor(backends: Map<string, Backend>, proxy: RunningProxy, compiled: ReturnType<typeof compileState>) {
    this.backends = backends;
    this.proxy = proxy;
    this.snapshot = compiled.snapshot;
    this.explainer = new Explainer(compiled.snapshot);
    this.conditions = compiled.conditions;
  }

  /**
   * Compiles `ingresses` (plus echo Services `services`, default just `echo`; `name*3` is a
   * Service with three endpoints, each its own echo backend) and starts the proxy with `options`;
   * a Service named in `handlers` is served by that handler instead. The echo backend reads the
   * whole body first, waits `x-echo-delay-ms` (at most 5000) before answering when the request
   * carries it, and sets the cookie `x-echo-set-cookie` names. `documents` are further manifest
   * documents (ConfigMaps, Secrets) compiled with them.
   */
  static async start(ingresses: readonly TestIngress[], services: readonly string[] = ['echo'], options: ProxyOptions = {}, handlers: Readonly<Record<string, Parameters<typeof startBackend>[0]>> = {}, documents: readonly string[] = []): Promise<AnnotatedProxy> {
    const backends = new Map<string, Backend>();
    const ports = new Map<string, number[]>();
    for (const spec of services) {
      const [name, count] = spec.split('*') as [string, string | undefined];
      for (let replica = 0; replica < Number(count ?? 1); replica++) {
        const backend = await startBackend(
          handlers[name] ??
            ((request, response) => {
              let bodyBytes = 0;
              request.on('data', (chunk: Buffer) => (bodyBytes += chunk.length));
              request.on('end', () => {
                const echo: Echo = { service: name, replica, method: request.method ?? '', url: request.url ?? '', headers: request.headers, bodyBytes };
                const delay = Math.min(5000, Number(request.headers['x-echo-delay-ms'] ?? 0) || 0);
                const cookie = request.headers['x-echo-set-cookie'];
                setTimeout(() => {
                  response.setHeader('content-type', 'application/json');
                  if (typeof cookie === 'string') response.setHeader('set-cookie', cookie);
                  response.end(JSON.stringify(echo));
                }, delay);
              });
            }),
        );
        backends.set(replica === 0 ? name : `${name}#${replica}`, backend);
        ports.set(name, [...(ports.get(name) ?? []), backend.port]);
      }
    }
    const text = [...[...ports].map(([name, list]) => service(name, list)), ...ingresses.map(ingressManifest), ...documents].join('\n---\n');
    const parsed = parseManifestText(text, 'annotations.yaml');
    if (parsed.problems.length > 0) throw new Error(`manifest problems: ${JSON.stringify(parsed.problems)}`);
    const compiled = compileState(ClusterState.from(parsed.objects), DEFAULT_CLASS_SELECTION);
    const router = new Router();
    router.load(compiled.snapshot);
    return new AnnotatedProxy(backends, await startProxy(router, options), compiled);
  }

  /** One request through the proxy on a new connection. */
  fetch(host: string, path: string, options: Omit<Parameters<typeof fetchVia>[1], 'host' | 'path'> = {}): Promise<FetchedResponse> {
    return fetchVia(this.proxy.port, { host, path, ...options });
  }

  /** One proxied request: what the echo backend received (throws when the proxy answered itself). */
  async echo(host: string, path: string, options: Omit<Parameters<typeof fetchVia>[1], 'host' | 'path'> = {}): Promise<Echo> {
    const response = await this.fetch(host, path, options);
    if (response.status !== 200) throw new Error(`${host}${path}: ${response.status} ${response.body}`);
    return JSON.parse(response.body) as Echo;
  }

  /** Requests every backend received. */
  get backendRequests(): number {
    let total = 0;
    for (const backend of this.backends.values()) total += backend.requests;
    return total;
  }

  /** The conditions of one Ingress, as [reason, severity, field]. */
  conditionsOf(name: string): [string, string, string][] {
    return this.conditions.filter((c) => c.source.name === name).map((c) => [c.reason, c.severity, c.field]);
  }

  async close(): Promise<void> {
    await this.proxy.close();
    for (const backend of this.backends.values()) await backend.close();
  }
}
