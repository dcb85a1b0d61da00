/**
 * Reading a live cluster once for the offline-style commands (`portico check --kubeconfig`): the
 * controller's own informers list every kind into a ClusterState, then stop.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { PorticoError } from '../errors.ts';
import { KubernetesSource } from '../sources/kubernetes/informers.ts';
import { ClusterState } from '../state/cluster-state.ts';

/** What one list of the cluster gave: the objects, and one line per object that could not be read. */
export interface ClusterRead {
  readonly state: ClusterState;
  readonly problems: readonly string[];
}

/**
 * Lists every kind Portico reads in `namespaces` (all when empty) within `timeoutMs`. Throws
 * PORTICO_E_CLUSTER_READ naming the last API error when the lists did not all succeed in time.
 */
export async function readCluster(kubeConfig: KubeConfig, namespaces: readonly string[], timeoutMs: number): Promise<ClusterRead> {
  const state = new ClusterState();
  const problems: string[] = [];
  let lastError: string | undefined;
  const source = new KubernetesSource(state, {
    kubeConfig,
    namespaces,
    onChange: () => {},
    onError: (message, details) => {
      if (message.startsWith('object failed validation')) problems.push(`${String(details.kind)} ${String(details.namespace ?? '')}/${String(details.name)} ${String(details.field)}: ${String(details.reason)} (${message})`);
      else lastError = `${message} ${JSON.stringify(details)}`;
    },
    backoff: { baseMs: 200, maxMs: 2000 },
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  try {
    const outcome = await Promise.race([source.start().then(() => 'synced' as const), deadline]);
    if (outcome === 'timeout') throw new PorticoError('PORTICO_E_CLUSTER_READ', `could not list the cluster's Ingresses, Services, EndpointSlices, Secrets and IngressClasses within ${timeoutMs} ms${lastError === undefined ? '' : `: ${lastError}`}`);
  } finally {
    clearTimeout(timer);
    await source.stop();
  }
  return { state, problems };
}
