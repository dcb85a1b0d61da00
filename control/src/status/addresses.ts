/**
 * The addresses written into `status.loadBalancer.ingress`: where DNS should point.
 */
import type { Service } from '../state/objects.ts';

/** One load-balancer ingress point, as Kubernetes writes it. */
export interface IngressPoint {
  readonly ip?: string;
  readonly hostname?: string;
}

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-fA-F:]*:[0-9a-fA-F:.]*)$/;

/** An address string as an ingress point: IP literals as `ip`, anything else as `hostname`. */
export function toIngressPoint(address: string): IngressPoint {
  return IP.test(address) ? { ip: address } : { hostname: address };
}

/**
 * The publish addresses, in order of preference: the publish Service's externalIPs and
 * load-balancer addresses (the classic externalIP setup); else the `--publish-address` values;
 * else the addresses of the nodes running the data plane (hostNetwork). Sorted, deduplicated.
 */
export function publishAddresses(publishService: Service | undefined, publishAddressFlags: readonly string[], dataPlaneNodeAddresses: readonly string[]): IngressPoint[] {
  let chosen: IngressPoint[] = [];
  if (publishService !== undefined) {
    chosen = [
      ...(publishService.spec.externalIPs ?? []).map(toIngressPoint),
      ...(publishService.status?.loadBalancer?.ingress ?? []).flatMap((p): IngressPoint[] => (p.ip ? [{ ip: p.ip }] : p.hostname ? [{ hostname: p.hostname }] : [])),
    ];
  }
  if (chosen.length === 0) chosen = publishAddressFlags.map(toIngressPoint);
  if (chosen.length === 0) chosen = dataPlaneNodeAddresses.map(toIngressPoint);
  const seen = new Map<string, IngressPoint>();
  for (const point of chosen) seen.set(point.ip ?? `~${point.hostname}`, point);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, point]) => point);
}

/** A key of an ingress point list that two lists share exactly when `samePoints` says they are the same. */
export function pointSetKey(list: readonly IngressPoint[] | undefined): string {
  return (list ?? []).map((p) => `${p.ip ?? ''}|${p.hostname ?? ''}`).sort().join(',');
}

/** True when two ingress point lists are the same (order-insensitive). */
export function samePoints(a: readonly IngressPoint[] | undefined, b: readonly IngressPoint[] | undefined): boolean {
  return pointSetKey(a) === pointSetKey(b);
}
