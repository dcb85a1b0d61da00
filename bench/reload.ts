/**
 * Data-plane reload benchmark (not a test): what loading a new snapshot costs the data plane for
 * a 10k-Ingress (30k-route) cluster, for a route change and for an endpoint-only change.
 * Usage: npm run bench:reload
 */
import { compileState } from '../control/src/pipeline.ts';
import { ClusterState } from '../control/src/state/cluster-state.ts';
import type { KubeObject } from '../control/src/state/objects.ts';
import { deserialize, serialize } from 'node:v8';
import { compileBundle } from '../dataplane/src/bundle.ts';
import { verifyBundleInTurns } from '../dataplane/src/bundle-verify.ts';
import type { TableBundle } from '../dataplane/src/bundle.ts';
import { Router } from '../dataplane/src/router.ts';
import { benchArgs } from './args.ts';

benchArgs(
  'bench:reload',
  `Usage: npm run bench:reload

What a data plane pays to swap in a 10k-Ingress (30k-route) snapshot after an endpoint-only change:
full load vs the endpoint fast path, and for portico --workers N the primary's one compile into a
table bundle vs each worker's event-loop stall to swap it in. No options.

Options:
  -h, --help      Show this help.`,
  {},
);

const objects: KubeObject[] = [];
for (let i = 0; i < 10000; i++) {
  const namespace = `team-${Math.floor(i / 200)}`;
  const name = `app-${i}`;
  objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } });
  objects.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: `${name}-1`, namespace, labels: { 'kubernetes.io/service-name': name } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080 }], endpoints: [1, 2, 3].map((k) => ({ addresses: [`10.${(i >> 8) & 255}.${i & 255}.${k}`] })) });
  objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace }, spec: { ingressClassName: 'portico', rules: [{ host: `${name}.example.com`, http: { paths: ['/', '/api', '/static'].map((path) => ({ path, pathType: 'Prefix' as const, backend: { service: { name, port: { number: 80 } } } })) } }] } });
}
const state = ClusterState.from(objects);
const selection = { className: 'portico', controller: 'portico.dev/ingress-controller', watchWithoutClass: false };
const base = compileState(state, selection).snapshot;
const slice = state.endpointSlices.get('team-0/app-0-1')!;
state.upsert({ ...slice, endpoints: [{ addresses: ['10.9.9.9'] }] });
const endpointOnly = compileState(state, selection).snapshot;

function median(run: (i: number) => void): number {
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    run(i);
    times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[5]!;
}

const router = new Router();
router.load(base);
const full = median((i) => router.load(i % 2 ? base : endpointOnly));
const fast = median((i) => router.loadEndpoints(i % 2 ? base : endpointOnly));
console.log(`data-plane swap of a 10k-Ingress (30k routes) snapshot after an endpoint-only change:`);
console.log(`  full load (Router.load):                ${full.toFixed(1)} ms`);
console.log(`  endpoint fast path (Router.loadEndpoints): ${fast.toFixed(1)} ms  (${(full / fast).toFixed(1)}x less)`);

// With --workers N the primary compiles each version once; a worker receives the bundle by
// structured clone and swaps it in without compiling: its event loop stalls for the decode and the load.
const bundles = [compileBundle(base), compileBundle(endpointOnly)].map((bundle) => serialize(bundle));
const compileOnce = median((i) => compileBundle(i % 2 ? base : endpointOnly));
// The worker decodes the message and verifies the digest a slice per event-loop turn
// (verifyBundleInTurns, so traffic runs between slices), then swaps synchronously.
const decoded = bundles.map((bytes) => deserialize(bytes) as TableBundle);
for (const bundle of decoded) await verifyBundleInTurns(bundle);
const decode = median((i) => deserialize(bundles[i % 2]!));
const swap = median((i) => router.loadBundle(decoded[i % 2]!, true));
console.log(`worker swap of the same snapshot from a bundle compiled once by the primary (${(bundles[0]!.length / 1024 / 1024).toFixed(1)} MiB on the IPC channel):`);
console.log(`  primary, once per version (compileBundle):      ${compileOnce.toFixed(1)} ms`);
console.log(`  worker event-loop stall (decode + loadBundle):  ${(decode + swap).toFixed(1)} ms  (${(full / (decode + swap)).toFixed(1)}x less than compiling in the worker; the digest check runs in slices between turns, not counted here)`);
console.log(`    of which decoding the message ${decode.toFixed(1)} ms, loadBundle (the swap) ${swap.toFixed(1)} ms`);
router.close();
