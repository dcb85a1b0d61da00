/**
 * service-upstream and client-body-buffer-size through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/serviceupstream.go (the upstream's one address is the Service's ClusterIP
 * and port; without the annotation, or with "false", the endpoints) and clientbodybuffersize.go
 * (the route serves with any nginx size; an unreadable one is not applied). Here the "ClusterIP"
 * is a loopback backend of its own, so which one answered shows where the request went.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, RunningProxy } from './test-support.ts';
import { compileManifests, fetchVia, startBackend, startProxy } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** A backend that names itself and answers `status`. */
function named(name: string, status = 200): Parameters<typeof startBackend>[0] {
  return (request, response) => {
    let bytes = 0;
    request.on('data', (chunk: Buffer) => (bytes += chunk.length));
    request.on('end', () => {
      response.statusCode = status;
      response.end(JSON.stringify({ name, bytes }));
    });
  };
}

function ingress(name: string, service: string, port: number, annotations: Record<string, string>): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'web', annotations },
    spec: { ingressClassName: 'portico', rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: port } } } }] } }] },
  });
}

/** Service `name` with ClusterIP `clusterIP` and port `port`, whose one endpoint is 127.0.0.1:`endpointPort`. */
function service(name: string, clusterIP: string, port: number, endpointPort: number): string {
  return [
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: web}\nspec: {clusterIP: "${clusterIP}", ports: [{port: ${port}}]}\n`,
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: web, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${endpointPort}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`,
  ].join('---\n');
}

describe('service-upstream (ingress-nginx e2e: serviceupstream.go)', () => {
  let pod: Backend;
  let cluster: Backend;
  let failing: Backend;
  let proxy: RunningProxy;
  let strict: RunningProxy;
  let conditions: ReturnType<typeof compileManifests>['conditions'];

  beforeAll(async () => {
    pod = await startBackend(named('endpoint'));
    cluster = await startBackend(named('cluster-ip'));
    failing = await startBackend(named('cluster-ip-503', 503));
    // Service port = the "ClusterIP" backend's port, so ClusterIP:port reaches it and the endpoint another backend.
    const text = [
      service('app', '127.0.0.1', cluster.port, pod.port),
      service('down', '127.0.0.1', failing.port, pod.port),
      service('headless', 'None', 80, pod.port),
      ingress('on', 'app', cluster.port, { [`${A}service-upstream`]: 'true' }),
      ingress('off', 'app', cluster.port, { [`${A}service-upstream`]: 'false' }),
      ingress('unset', 'app', cluster.port, {}),
      ingress('bad', 'app', cluster.port, { [`${A}service-upstream`]: 'yes please' }),
      ingress('retry', 'down', failing.port, { [`${A}service-upstream`]: 'true', [`${A}proxy-next-upstream`]: 'error http_503', [`${A}proxy-next-upstream-tries`]: '3' }),
      ingress('headless', 'headless', 80, { [`${A}service-upstream`]: 'true' }),
    ].join('\n---\n');
    const compiled = compileManifests(text);
    conditions = compiled.conditions;
    proxy = await startProxy(compiled.router);
    strict = await startProxy(compileManifests(text).router, { endpointAddresses: { allowLoopback: false } });
  });

  afterAll(async () => {
    await proxy.close();
    await strict.close();
    for (const backend of [pod, cluster, failing]) await backend.close();
  });

  const who = async (host: string, port = proxy.port): Promise<string> => {
    const response = await fetchVia(port, { host, path: '/' });
    return response.status === 200 ? (JSON.parse(response.body) as { name: string }).name : String(response.status);
  };

  it('"true" proxies to the Service ClusterIP and port; "false" and no annotation to the endpoints', async () => {
    expect(await who('on.test')).toBe('cluster-ip');
    expect(await who('off.test')).toBe('endpoint');
    expect(await who('unset.test')).toBe('endpoint');
  });

  it('an unreadable value is a Warning naming the annotation, and the endpoints are used (ingress-nginx default false)', async () => {
    expect(await who('bad.test')).toBe('endpoint');
    expect(conditions.filter((c) => c.source.name === 'bad').map((c) => [c.reason, c.severity, c.field])).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}service-upstream']`]]);
  });

  it('retries see one address: a 503 from the ClusterIP is relayed after one try, the endpoints never asked', async () => {
    const before = { failing: failing.requests, pod: pod.requests };
    const response = await fetchVia(proxy.port, { host: 'retry.test', path: '/' });
    expect(response.status).toBe(503);
    expect(failing.requests - before.failing).toBe(1);
    expect(pod.requests - before.pod).toBe(0);
  });

  it('a Service without ClusterIP (headless) keeps its endpoints, with a Warning', async () => {
    expect(await who('headless.test')).toBe('endpoint');
    expect(conditions.filter((c) => c.source.name === 'headless').map((c) => [c.reason, c.severity])).toEqual([['InvalidAnnotation', 'Warning']]);
  });

  it('the endpoint address policy applies to the ClusterIP: loopback is refused (502) unless allowed, and the build warns', async () => {
    const before = cluster.requests;
    expect(await who('on.test', strict.port)).toBe('502');
    expect(cluster.requests).toBe(before);
    expect(conditions.some((c) => c.source.name === 'on' && c.reason === 'EndpointAddressRefused' && c.message.includes('ClusterIP 127.0.0.1 (service-upstream)'))).toBe(true);
  });
});

describe('client-body-buffer-size (ingress-nginx e2e: clientbodybuffersize.go)', () => {
  let pod: Backend;
  let proxy: RunningProxy;
  let conditions: ReturnType<typeof compileManifests>['conditions'];

  beforeAll(async () => {
    pod = await startBackend(named('endpoint'));
    const sizes = ['1000', '1K', '1k', '1m', '1M', '1b'];
    const text = [service('app', '10.0.0.1', 80, pod.port), ...sizes.map((size, i) => ingress(`size${i}`, 'app', 80, { [`${A}client-body-buffer-size`]: size }))].join('\n---\n');
    const compiled = compileManifests(text);
    conditions = compiled.conditions;
    proxy = await startProxy(compiled.router);
  });

  afterAll(async () => {
    await proxy.close();
    await pod.close();
  });

  it('every nginx size serves, and a body far larger than the buffer reaches the endpoint whole (streamed, never buffered)', async () => {
    for (let i = 0; i < 5; i++) {
      const response = await fetchVia(proxy.port, { host: `size${i}.test`, path: '/', method: 'POST', body: 'x'.repeat(256 * 1024) });
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual({ name: 'endpoint', bytes: 256 * 1024 });
    }
    expect(conditions.filter((c) => c.source.name.startsWith('size') && c.source.name !== 'size5')).toEqual([]);
  });

  it('"1b" is not an nginx size: a Warning naming the annotation, and the route still serves', async () => {
    expect((await fetchVia(proxy.port, { host: 'size5.test', path: '/' })).status).toBe(200);
    expect(conditions.filter((c) => c.source.name === 'size5').map((c) => [c.reason, c.severity, c.field])).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}client-body-buffer-size']`]]);
  });
});
