/**
 * Leader election with a coordination.k8s.io/v1 Lease: one control replica writes status;
 * the others stand by and take over when the lease expires. Optimistic concurrency
 * (resourceVersion) makes two replicas racing for an expired lease produce one leader.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../sources/kubernetes/http.ts';

/** Options of the elector. */
export interface LeaderElectionOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** How long a lease is valid without renewal (default 15 s). */
  readonly leaseDurationMs?: number;
  /** How often the holder renews and others retry (default 2 s). */
  readonly retryMs?: number;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  readonly onError?: (error: unknown) => void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string; acquireTime?: string; leaseTransitions?: number };
}

/** Microsecond-precision time (RFC 3339 with six fraction digits), as the Lease API wants it. */
export function microTime(date: Date): string {
  return date.toISOString().replace('Z', '000Z');
}

/** Campaigns for and holds a Lease. */
export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'onError'>> & Pick<LeaderElectionOptions, 'onError'>;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private leading = false;
  private lastRenew = 0;

  constructor(options: LeaderElectionOptions) {
    this.options = { ...options, leaseDurationMs: options.leaseDurationMs ?? 15_000, retryMs: options.retryMs ?? 2_000 };
  }

  /** True while this replica holds the lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  /** Starts campaigning. */
  start(): void {
    void this.tick();
  }

  /** Stops; a leader releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.leading) {
      this.setLeading(false);
      await this.release().catch(() => undefined);
    }
  }

  private path(name = ''): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.options.namespace}/leases${name ? `/${name}` : ''}`;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.tryAcquireOrRenew();
    } catch (error) {
      this.options.onError?.(error);
    }
    // A leader that could not renew for a whole lease duration must assume it lost.
    if (this.leading && Date.now() - this.lastRenew > this.options.leaseDurationMs) this.setLeading(false);
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.options.retryMs);
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const { kubeConfig, identity, name, namespace } = this.options;
    const now = new Date();
    const durationSeconds = Math.ceil(this.options.leaseDurationMs / 1000);
    const got = await kubeRequest(kubeConfig, 'GET', this.path(name));
    if (got.status === 404) {
      const lease: Lease = { metadata: { name, namespace }, spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 } };
      const created = await kubeRequest(kubeConfig, 'POST', this.path(), { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', ...lease } });
      if (created.status === 201) this.renewed();
      return;
    }
    if (got.status !== 200) throw new Error(`GET lease ${namespace}/${name}: HTTP ${got.status}`);
    const lease = got.body as Lease;
    const holder = lease.spec.holderIdentity ?? '';
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const expired = renewed + (lease.spec.leaseDurationSeconds ?? durationSeconds) * 1000 < now.getTime();
    if (holder !== identity && holder !== '' && !expired) {
      if (this.leading) this.setLeading(false);
      return;
    }
    const spec = {
      ...lease.spec,
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      renewTime: microTime(now),
      ...(holder === identity ? {} : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
    };
    const updated = await kubeRequest(kubeConfig, 'PUT', this.path(name), { body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec } });
    if (updated.status === 200) this.renewed();
    else if (updated.status === 409 && this.leading) this.setLeading(false);
  }

  private renewed(): void {
    this.lastRenew = Date.now();
    if (!this.leading) this.setLeading(true);
  }

  private setLeading(leading: boolean): void {
    this.leading = leading;
    if (leading) this.options.onStartedLeading();
    else this.options.onStoppedLeading();
  }

  private async release(): Promise<void> {
    const got = await kubeRequest(this.options.kubeConfig, 'GET', this.path(this.options.name));
    if (got.status !== 200) return;
    const lease = got.body as Lease;
    if (lease.spec.holderIdentity !== this.options.identity) return;
    await kubeRequest(this.options.kubeConfig, 'PUT', this.path(this.options.name), {
      body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: lease.metadata, spec: { ...lease.spec, holderIdentity: '', renewTime: microTime(new Date(0)) } },
    });
  }
}
