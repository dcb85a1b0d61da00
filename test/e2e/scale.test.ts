import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { freePort } from '../support/processes.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { metricValue, peakRssBytes, rssBytes } from '../support/metrics.ts';

const NAMESPACES = 50;
const PER_NAMESPACE = 40;
const cli = new URL('../../dataplane/src/cli/main.ts', import.meta.url).pathname;


/** One namespace's objects as a kubectl List: Ingresses with 2 paths each, their Services and EndpointSlices. */
function namespaceObjects(n: number): string {
  const namespace = `team-${n}`;
  const items: unknown[] = [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }];
  for (let i = 0; i < PER_NAMESPACE; i++) {
    const name = `app-${i}`;
    items.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } });
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-1`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [{ addresses: [`10.${n}.${i}.1`] }, { addresses: [`10.${n}.${i}.2`] }],
    });
    items.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace },
      spec: {
        ingressClassName: 'portico',
        rules: [{ host: `${name}.${namespace}.example.com`, http: { paths: ['/', '/api'].map((path) => ({ path, pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } })) } }],
      },
    });
  }
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items });
}

describe('scale: 2,000 Ingresses across 50 namespaces', () => {
  let cluster: TestCluster;
  let control: ChildProcess | undefined;

  beforeAll(async () => {
    cluster = await startCluster();
    const started = Date.now();
    // Four kubectl processes at a time: the API server, not kubectl, should be the bottleneck.
    for (let n = 0; n < NAMESPACES; n += 4) {
      await Promise.all([0, 1, 2, 3].filter((k) => n + k < NAMESPACES).map((k) => kubectl(cluster.kubeconfig, ['create', '-f', '-'], namespaceObjects(n + k))));
    }
    console.log(`created ${NAMESPACES * PER_NAMESPACE * 3} objects in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }, 600_000);

  afterAll(async () => {
    control?.kill('SIGTERM');
    await cluster?.destroy();
  });

  it('portico control publishes the first complete snapshot; time and RSS are reported', async () => {
    const port = await freePort();
    const started = performance.now();
    control = spawn(process.execPath, [cli, 'control', '--kubeconfig', cluster.kubeconfig, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', '--publish-address', '192.0.2.1'], { stdio: ['ignore', 'inherit', 'inherit'] });
    const metrics = `http://127.0.0.1:${port}/metrics`;
    await eventually(async () => ((await fetch(`http://127.0.0.1:${port}/readyz`)).ok ? true : undefined), 120_000, 'readyz');
    const readyMs = performance.now() - started;
    expect(await metricValue(metrics, 'portico_snapshot_hosts')).toBe(NAMESPACES * PER_NAMESPACE);
    expect(await metricValue(metrics, 'portico_snapshot_routes')).toBe(NAMESPACES * PER_NAMESPACE * 2);
    expect(await metricValue(metrics, 'portico_snapshot_endpoints')).toBe(NAMESPACES * PER_NAMESPACE * 2);
    const rss = await rssBytes(control.pid!);
    const peak = await peakRssBytes(control.pid!);
    const buildSeconds = await metricValue(metrics, 'portico_snapshot_build_duration_seconds_sum');
    console.log(`scale: first complete snapshot ${Math.round(readyMs)} ms after start (process start, informer sync, build ${Math.round((buildSeconds ?? 0) * 1000)} ms); control RSS ${(rss / 2 ** 20).toFixed(0)} MiB, peak ${(peak / 2 ** 20).toFixed(0)} MiB`);
  }, 180_000);
});
