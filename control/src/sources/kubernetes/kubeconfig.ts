/**
 * Loading a kubeconfig for the cluster-reading commands (`control`, `check --kubeconfig`).
 */
import { KubeConfig } from '@kubernetes/client-node';

/** Loads the kubeconfig: `path`, else in-cluster, else $KUBECONFIG / ~/.kube/config. */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (path !== undefined) kubeConfig.loadFromFile(path);
  else if (process.env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  return kubeConfig;
}
