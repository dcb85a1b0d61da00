import { KubeConfig } from '@kubernetes/client-node';
import { GATEWAY_API_NAME, KubernetesSource } from '@portico/control/kubernetes';
import { ClusterState } from '@portico/control/state';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { deleteGatewayCrds, installGatewayCrds } from '../support/gateway-crds.ts';
import { eventually, kubectl } from '../support/kubectl.ts';

const G = 'gateway.networking.k8s.io';
const route = JSON.stringify({
  apiVersion: `${G}/v1`,
  kind: 'HTTPRoute',
  metadata: { name: 'web', namespace: 'default' },
  spec: { parentRefs: [{ name: 'edge' }], rules: [{ backendRefs: [{ name: 'web', port: 80 }] }] },
});

describe('Gateway API sources against a real kube-apiserver', () => {
  let cluster: TestCluster;
  let source: KubernetesSource;
  const state = new ClusterState();
  const presence: string[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    cluster = await startCluster();
    // The harness may install the Gateway API CRDs itself; this suite starts without them.
    await deleteGatewayCrds(cluster.kubeconfig);
    await kubectl(cluster.kubeconfig, ['create', 'ingress', 'plain', '--rule=plain.example.com/=web:80']);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.kubeconfig);
    source = new KubernetesSource(state, {
      kubeConfig,
      namespaces: [],
      onChange: () => {},
      onError: (message, details) => errors.push(`${message} ${JSON.stringify(details)}`),
      onApiPresence: (api, present) => presence.push(`${api} ${present ? 'present' : 'absent'}`),
      backoff: { baseMs: 100, maxMs: 1000 },
      absentRetryMs: 300,
    });
    await source.start();
  }, 240_000);

  afterAll(async () => {
    await source?.stop();
    await cluster?.destroy();
  });

  it('a cluster without the CRDs syncs (Ingresses flow) and reports the absence once, not per kind or retry', async () => {
    expect(source.synced).toBe(true);
    expect([...state.ingresses.keys()]).toEqual(['default/plain']);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // several quiet re-lists
    expect(presence).toEqual([`${GATEWAY_API_NAME} absent`]);
    expect(source.apiPresent(GATEWAY_API_NAME)).toBe(false);
    expect(errors).toEqual([]);
  });

  it('picks the CRDs up once installed, then follows Gateway API objects; forgets them when the CRDs go, Ingresses untouched', async () => {
    await installGatewayCrds(cluster.kubeconfig);
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], route);
    await eventually(() => (state.httpRoutes.has('default/web') ? true : undefined), 30_000, 'HTTPRoute after CRD install');
    expect(presence).toEqual([`${GATEWAY_API_NAME} absent`, `${GATEWAY_API_NAME} present`]);
    await kubectl(cluster.kubeconfig, ['patch', 'httproute', 'web', '--type=merge', '-p', '{"spec":{"hostnames":["web.example.com"]}}']);
    await eventually(() => (state.httpRoutes.get('default/web')?.spec.hostnames?.[0] === 'web.example.com' ? true : undefined), 10_000, 'HTTPRoute edit');
    await deleteGatewayCrds(cluster.kubeconfig);
    await eventually(() => (state.httpRoutes.size === 0 ? true : undefined), 30_000, 'HTTPRoute gone with its CRD');
    // (The open watches may outlive the CRD until the API server ends them; the objects go at once.)
    expect([...state.ingresses.keys()]).toEqual(['default/plain']);
  }, 120_000);
});
