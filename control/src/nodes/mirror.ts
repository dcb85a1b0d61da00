/**
 * Sharing node status between control replicas: each replica writes what it learned of a node
 * into a coordination.k8s.io Lease named `portico-node-<node>` in the control namespace, and
 * reads every such Lease back into its registry, so `GET /v1/nodes` and the rollout count are the
 * same on every replica whichever one a data plane talks to.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { microTime } from '../leader/lease.ts';
import { kubeRequest } from '../sources/kubernetes/http.ts';
import type { NodeRegistry, SharedNodeRecord } from './registry.ts';

/** Label of the node-status Leases. */
export const NODE_LEASE_LABEL = 'portico.dev/node-status';
const STATUS_ANNOTATION = 'portico.dev/status';

/** Options of the mirror. */
export interface NodeMirrorOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly registry: NodeRegistry;
  /** Sync period (default 5 s). */
  readonly intervalMs?: number;
  readonly logger?: Logger;
}

/** Keeps node status in Leases and the registry in line, every `intervalMs`. */
export class NodeMirror {
  private readonly options: NodeMirrorOptions;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(options: NodeMirrorOptions) {
    this.options = options;
  }

  /** Starts the periodic sync. */
  start(): void {
    const tick = () => {
      this.running = this.syncOnce().finally(() => {
        this.running = undefined;
        this.timer = setTimeout(tick, this.options.intervalMs ?? 5000);
      });
    };
    tick();
  }

  /** Stops; waits for a sync in progress. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    clearTimeout(this.timer);
  }

  /** Writes this replica's news, then reads every replica's. Never throws (logs). */
  async syncOnce(): Promise<void> {
    const { kubeConfig, namespace, registry, logger } = this.options;
    const base = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
    try {
      for (const [name, record] of registry.takeChanged()) {
        const leaseName = `portico-node-${name}`.slice(0, 253);
        const lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: leaseName, namespace, labels: { [NODE_LEASE_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'portico' }, annotations: { [STATUS_ANNOTATION]: JSON.stringify({ node: name, ...record }) } },
          spec: { holderIdentity: name, renewTime: microTime(new Date(record.lastSeen)) },
        };
        const got = await kubeRequest(kubeConfig, 'GET', `${base}/${leaseName}`);
        const written =
          got.status === 404
            ? await kubeRequest(kubeConfig, 'POST', base, { body: lease })
            : await kubeRequest(kubeConfig, 'PUT', `${base}/${leaseName}`, { body: { ...lease, metadata: { ...lease.metadata, resourceVersion: (got.body as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion } } });
        if (written.status >= 300) logger?.warn({ node: name, status: written.status }, 'node status lease write failed');
      }
      const listed = await kubeRequest(kubeConfig, 'GET', `${base}?labelSelector=${encodeURIComponent(`${NODE_LEASE_LABEL}=true`)}`);
      if (listed.status !== 200) {
        logger?.warn({ status: listed.status }, 'node status lease list failed');
        return;
      }
      for (const item of (listed.body as { items?: { metadata?: { annotations?: Record<string, string> } }[] }).items ?? []) {
        const raw = item.metadata?.annotations?.[STATUS_ANNOTATION];
        if (raw === undefined) continue;
        try {
          const { node, ...record } = JSON.parse(raw) as SharedNodeRecord & { node: string };
          if (typeof node === 'string' && typeof record.lastSeen === 'number') registry.merge(node, record);
        } catch {
          // A hand-edited annotation is not worth failing the whole sync for.
        }
      }
    } catch (error) {
      logger?.warn({ err: error }, 'node status sync failed');
    }
  }
}
