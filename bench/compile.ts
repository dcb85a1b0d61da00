/**
 * Compile benchmark (not a test): time to build + compile N Ingresses into a snapshot, and the
 * snapshot's size. Usage: node bench/compile.ts [--ingresses 10000] [--json]
 */
import { gzipSync } from 'node:zlib';
import { compileState } from '../control/src/pipeline.ts';
import { ClusterState } from '../control/src/state/cluster-state.ts';
import type { KubeObject } from '../control/src/state/objects.ts';
import { benchArgs, integerArg } from './args.ts';

const NAME = 'bench:compile';
const USAGE = `Usage: npm run bench:compile [-- options]

Build + compile time of N Ingresses (2 hosts x 3 paths each, a Service and a 3-endpoint slice)
into a snapshot, and the snapshot's size (JSON and gzipped).

Options:
  --ingresses N   Ingresses (default 10000).
  --json          Print the figures as JSON.
  -h, --help      Show this help.`;

const values = benchArgs(NAME, USAGE, { ingresses: { type: 'string', default: '10000' }, json: { type: 'boolean', default: false } });
const count = integerArg(NAME, 'ingresses', values.ingresses, 1, 200_000);

/** A realistic cluster: namespaces of ~200 Ingresses, each with 2 hosts × 3 paths, a Service and a 3-endpoint slice. */
function cluster(n: number): KubeObject[] {
  const objects: KubeObject[] = [];
  for (let i = 0; i < n; i++) {
    const namespace = `team-${Math.floor(i / 200)}`;
    const name = `app-${i}`;
    const created = new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } });
    objects.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-x1`, namespace, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080 }],
      endpoints: [0, 1, 2].map((k) => ({ addresses: [`10.${(i >> 8) & 255}.${i & 255}.${k + 1}`] })),
    });
    const paths = ['/', '/api', '/static'].map((path, k) => ({
      path,
      pathType: k === 1 ? ('Exact' as const) : ('Prefix' as const),
      backend: { service: { name, port: { number: 80 } } },
    }));
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace, creationTimestamp: created },
      spec: { ingressClassName: 'portico', rules: [`${name}.example.com`, `${name}.${namespace}.internal.example.com`].map((host) => ({ host, http: { paths } })) },
    });
  }
  return objects;
}

const objects = cluster(count);
const selection = { className: 'portico', controller: 'portico.dev/ingress-controller', watchWithoutClass: false };
const times: number[] = [];
let size = 0;
let gzipped = 0;
let version = '';
for (let round = 0; round < 5; round++) {
  const state = ClusterState.from(objects);
  const start = performance.now();
  const { snapshot } = compileState(state, selection);
  times.push(performance.now() - start);
  const json = JSON.stringify(snapshot);
  size = Buffer.byteLength(json);
  gzipped = gzipSync(json).length;
  if (version !== '' && version !== snapshot.version) throw new Error('non-deterministic snapshot version');
  version = snapshot.version;
}
times.sort((a, b) => a - b);
const result = { ingresses: count, compile_ms_median: Math.round(times[2]!), compile_ms_first: Math.round(times[0]!), snapshot_bytes: size, snapshot_gzip_bytes: gzipped, version };
if (values.json) console.log(JSON.stringify(result));
else {
  console.log(`Ingresses: ${count} (routes: ${count * 6})`);
  console.log(`compile (build + compile + validate + hash): median ${result.compile_ms_median} ms over 5 runs (best ${result.compile_ms_first} ms)`);
  console.log(`snapshot: ${(size / 1e6).toFixed(1)} MB JSON, ${(gzipped / 1e6).toFixed(2)} MB gzip, ${version}`);
}
