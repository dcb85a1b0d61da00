import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Explainer } from '@portico/control/explain';
import { DEFAULT_CLASS_SELECTION } from '@portico/control/ingress-class';
import { KubernetesSource } from '@portico/control/kubernetes';
import { compileState } from '@portico/control/pipeline';
import { ClusterState } from '@portico/control/state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

// The API server refuses loopback endpoint addresses; no traffic flows in this suite, so a pod-style address does.
const dashboard = readFileSync(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8').replaceAll('127.0.0.1', '10.244.1.17');

describe('KubernetesSource against a real kube-apiserver', () => {
  let cluster: TestCluster;
  let source: KubernetesSource;
  const state = new ClusterState();
  const changes: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    await kubectl(cluster.kubeconfig, ['create', 'namespace', 'rook-ceph']);
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], dashboard);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    source = new KubernetesSource(state, {
      kubeConfig,
      namespaces: [],
      onChange: (kind) => changes.push(kind),
      onError: (message, details) => errors.push(`${message} ${JSON.stringify(details)}`),
      backoff: { baseMs: 100, maxMs: 1000 },
    });
    await source.start();
  }, 240_000);

  afterAll(async () => {
    await source?.stop();
    await cluster?.destroy();
  });

  const explain = (host: string, path: string) => new Explainer(compileState(state, DEFAULT_CLASS_SELECTION).snapshot).explain({ host, path });

  it('syncs every kind before resolving start(), and the walkthrough compiles', () => {
    expect(source.synced).toBe(true);
    expect([...state.ingresses.keys()]).toEqual(['rook-ceph/rook-ceph-mgr-dashboard']);
    expect(state.endpointSlices.has('rook-ceph/rook-ceph-mgr-dashboard-demo')).toBe(true);
    expect(explain('k8s-ceph-dashboard.calmkart.com', '/')).toMatchObject({ status: 200, backends: [{ service: 'rook-ceph-mgr-dashboard', port: 8443 }] });
  });

  it('follows edits and deletes made with kubectl', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'patch', 'ingress', 'rook-ceph-mgr-dashboard', '--type=json', '-p', '[{"op":"replace","path":"/spec/rules/0/http/paths/0/path","value":"/dashboard"}]']);
    await eventually(() => (explain('k8s-ceph-dashboard.calmkart.com', '/').status === 404 ? true : undefined), 10_000, 'path edit');
    expect(explain('k8s-ceph-dashboard.calmkart.com', '/dashboard/x').status).toBe(200);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'delete', 'endpointslice', 'rook-ceph-mgr-dashboard-demo']);
    await eventually(() => (explain('k8s-ceph-dashboard.calmkart.com', '/dashboard').status === 503 ? true : undefined), 10_000, 'endpoint delete');
  });

  it('receives TLS Secrets only', async () => {
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'secret', 'generic', 'opaque-one', '--from-literal=password=hunter2']);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'tls-one', namespace: 'rook-ceph' }, data: { 'tls.crt': '', 'tls.key': '' } }));
    await eventually(() => (state.secrets.has('rook-ceph/tls-one') ? true : undefined), 10_000, 'TLS secret');
    expect(state.secrets.has('rook-ceph/opaque-one')).toBe(false);
  });

  it('follows ConfigMaps an Ingress reads (custom-headers): data only, edits and deletes re-judge the Ingress', async () => {
    const configMap = (value: string) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hdr', namespace: 'rook-ceph' }, data: { 'X-Edge': value }, binaryData: { blob: Buffer.from('binary').toString('base64') } });
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], configMap('one'));
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'create', 'ingress', 'headers', '--class=portico', '--rule=headers.example.com/=rook-ceph-mgr-dashboard:8443', '--annotation=nginx.ingress.kubernetes.io/custom-headers=rook-ceph/hdr']);
    const policies = () => explain('headers.example.com', '/').policies?.join('\n') ?? '';
    await eventually(() => (policies().includes('X-Edge: one') ? true : undefined), 10_000, 'custom-headers from the ConfigMap');
    expect(state.configMaps.get('rook-ceph/hdr')).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: expect.objectContaining({ name: 'hdr', namespace: 'rook-ceph' }), data: { 'X-Edge': 'one' } });
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], configMap('two'));
    await eventually(() => (policies().includes('X-Edge: two') ? true : undefined), 10_000, 'ConfigMap edit');
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'delete', 'configmap', 'hdr']);
    await eventually(() => (/ConfigMap rook-ceph\/hdr not found/.test(explain('headers.example.com', '/').reason) ? true : undefined), 10_000, 'ConfigMap delete refuses the Ingress');
    expect(explain('headers.example.com', '/').status).toBe(503);
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'delete', 'ingress', 'headers']);
    await eventually(() => (state.ingresses.has('rook-ceph/headers') ? undefined : true), 10_000, 'Ingress delete');
  });

  it('resumes watching on its own after the API server stops and comes back', async () => {
    await cluster.stop();
    await eventually(() => (errors.length > 0 ? true : undefined), 20_000, 'watch error while the API server is down');
    cluster = await startCluster({ dataDir: cluster.dataDir, port: cluster.port });
    await kubectl(cluster.kubeconfig, ['-n', 'rook-ceph', 'delete', 'ingress', 'rook-ceph-mgr-dashboard']);
    await eventually(() => (state.ingresses.size === 0 ? true : undefined), 30_000, 'delete after restart');
    expect(explain('k8s-ceph-dashboard.calmkart.com', '/dashboard').status).toBe(404);
  }, 120_000);
});
