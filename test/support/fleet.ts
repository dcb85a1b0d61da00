/**
 * The pure parts of the fleet benchmark (`bench/fleet.ts`): the synthetic manifest directory it
 * serves, the one-path edits it makes, and the order statistics it prints. No I/O here.
 */

/** The shape of the synthetic cluster. */
export interface FleetShape {
  /** Ingresses (3 Prefix/Exact paths each, one host each). */
  readonly ingresses: number;
  /** Manifest files (each one `List`); Ingresses are spread evenly over them. */
  readonly files: number;
  /** Ingresses per Service: every Service (with one 3-endpoint EndpointSlice) backs this many. */
  readonly ingressesPerService: number;
  /**
   * Ingresses that are big API hosts (bigHostPaths paths on their one host: over half a grid
   * bucket, so the matcher table keeps them in its overflow area), spread evenly; 0 when absent.
   */
  readonly bigHosts?: number;
}

/** Paths of a big API host (FleetShape.bigHosts): the 3 of every Ingress and 87 more, ~10 KiB of table. */
export const BIG_HOST_PATHS = 90;

/** Whether Ingress `ingress` is one of the shape's big API hosts (FleetShape.bigHosts: every ingresses/bigHosts-th from 0). */
export function isBigHost(shape: FleetShape, ingress: number): boolean {
  const big = shape.bigHosts ?? 0;
  if (big <= 0) return false;
  const stride = Math.max(1, Math.floor(shape.ingresses / big));
  return ingress % stride === 0 && ingress / stride < big;
}

/** The shape the issue measures: 20 files, a Service per 5 Ingresses. */
export function fleetShape(ingresses: number): FleetShape {
  if (!Number.isInteger(ingresses) || ingresses < 1) throw new RangeError(`ingresses must be a positive integer, got ${ingresses}`);
  return { ingresses, files: Math.min(20, ingresses), ingressesPerService: 5 };
}

/** The file name of manifest file `index`. */
export function fleetFileName(index: number): string {
  return `fleet-${String(index).padStart(2, '0')}.json`;
}

/** The file that holds Ingress `ingress` (Ingresses are dealt round-robin over the files). */
export function fleetFileOf(shape: FleetShape, ingress: number): number {
  return ingress % shape.files;
}

const NAMESPACE_SIZE = 200;
const PATHS = ['/', '/api', '/static'] as const;

/**
 * The objects of manifest file `index` as one kubectl `List` (JSON text): its Ingresses, and the
 * Services with EndpointSlices whose number falls to this file. `edit` (a non-negative integer)
 * renames the `/api` path of Ingress `editIngress` to `/api-e<edit>`, so every edit is a
 * different snapshot; with `endpoints: true` it moves the first endpoint of that Ingress's Service
 * instead (an endpoint-only change); with `hosts: true` it renames the path and, on even edits,
 * gives the Ingress a second rule for a new host `x<edit>.<its host>` (the same paths), so the
 * number of hosts goes up by one on an even edit and back down on the next. Deterministic: the
 * same arguments give the same bytes. With `scale: true` the Ingress's Service gets a fourth
 * endpoint `10.126.x.y` on even edits and has three again on odd ones (a Deployment scaled up and
 * down: the number of endpoints changes every edit). With `shape.bigHosts`, the big API hosts
 * (isBigHost) have BIG_HOST_PATHS paths.
 */
export function fleetFile(shape: FleetShape, index: number, edit?: { readonly ingress: number; readonly edit: number; readonly endpoints?: boolean; readonly hosts?: boolean; readonly scale?: boolean }): string {
  const items: unknown[] = [];
  const services = Math.ceil(shape.ingresses / shape.ingressesPerService);
  for (let s = index; s < services; s += shape.files) {
    const namespace = `team-${Math.floor((s * shape.ingressesPerService) / NAMESPACE_SIZE)}`;
    const name = `svc-${s}`;
    // The edited Ingress's Service: the endpoint an endpoint edit moves, or the fourth a scale edit adds.
    const edited = edit !== undefined && Math.floor(edit.ingress / shape.ingressesPerService) === s;
    const mark = edit?.edit ?? 0;
    const scaled = edited && edit.scale === true && mark % 2 === 0;
    const address = (k: number): string => {
      if (edited && edit.endpoints === true && k === 1) return `10.127.${(mark >> 8) & 255}.${mark & 255}`;
      if (k === 4) return `10.126.${(mark >> 8) & 255}.${mark & 255}`;
      return `10.${64 + ((s >> 14) & 63)}.${(s >> 6) & 255}.${((s & 63) << 2) | k}`;
    };
    items.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } });
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x1`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      // 10.64.0.0/10: never loopback or link-local, never answered (the benchmark sends no traffic to them).
      endpoints: (scaled ? [1, 2, 3, 4] : [1, 2, 3]).map((k) => ({ addresses: [address(k)], conditions: { ready: true } })),
    });
  }
  for (let i = index; i < shape.ingresses; i += shape.files) {
    const s = Math.floor(i / shape.ingressesPerService);
    const namespace = `team-${Math.floor((s * shape.ingressesPerService) / NAMESPACE_SIZE)}`;
    const service = `svc-${s}`;
    const paths = PATHS.map((path, k) => ({
      path: edit !== undefined && edit.endpoints !== true && edit.scale !== true && edit.ingress === i && path === '/api' ? `/api-e${edit.edit}` : path,
      pathType: k === 1 ? 'Exact' : 'Prefix',
      backend: { service: { name: service, port: { number: 80 } } },
    }));
    // A big API host: its resources under /v1, each a Prefix path to the same Service.
    if (isBigHost(shape, i)) for (let k = PATHS.length; k < BIG_HOST_PATHS; k++) paths.push({ path: `/v1/resource-${k}`, pathType: 'Prefix', backend: paths[0]!.backend });
    const host = `app-${i}.${namespace}.example.com`;
    const rules = [{ host, http: { paths } }];
    if (edit?.hosts === true && edit.ingress === i && edit.edit % 2 === 0) rules.push({ host: `x${edit.edit}.${host}`, http: { paths } });
    items.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: `app-${i}`, namespace, creationTimestamp: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString() },
      spec: { ingressClassName: 'portico', rules },
    });
  }
  return `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items }, null, 1)}\n`;
}

/** Summary of a sample: count, p50, p99 and max (nearest-rank); NaN figures for an empty sample. */
export interface Summary {
  readonly n: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** The nearest-rank `p`-quantile (0 < p ≤ 1) of an ascending sample; NaN when it is empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** p50 / p99 / max of `values` (any order; not modified). */
export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.length === 0 ? Number.NaN : sorted.at(-1)! };
}

/** The version inside an `ETag` header (`"v"`, `W/"v"` or `v`); undefined when absent or empty. */
export function versionFromEtag(etag: string | undefined | null): string | undefined {
  if (etag === undefined || etag === null) return undefined;
  const value = etag.trim().replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
  return value === '' ? undefined : value;
}

/** Parses `--sizes 1000,10000,50000`: positive integers, at most 6. Throws RangeError naming the bad entry. */
export function parseSizes(text: string): number[] {
  const sizes = text.split(',').map((entry) => {
    const value = Number(entry.trim());
    if (!/^\s*\d+\s*$/.test(entry) || !Number.isSafeInteger(value) || value < 1 || value > 200_000) throw new RangeError(`--sizes: ${JSON.stringify(entry)} is not an Ingress count in 1..200000`);
    return value;
  });
  if (sizes.length === 0 || sizes.length > 6) throw new RangeError('--sizes takes 1 to 6 comma-separated counts');
  return sizes;
}
