/**
 * The Gateway API CRDs (standard channel) the test cluster installs before READY, for suites
 * that delete and install them again: the copy test/cluster/build.sh makes from the Go module the
 * harness pins, so tests and harness read the very same files.
 */
import { join } from 'node:path';
import { kubectl } from './kubectl.ts';

/** The CRD files Portico reads objects of (not TCPRoute, TLSRoute, UDPRoute, BackendTLSPolicy, ListenerSet). */
const KINDS = ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'referencegrants'];

/** The directory test/cluster/build.sh fills (`.bin/gateway-api-crds`). */
export function gatewayCrdDirectory(): string {
  return new URL('../cluster/.bin/gateway-api-crds', import.meta.url).pathname;
}

/** The CRD file paths of the kinds Portico reads. */
export function gatewayCrdFiles(): string[] {
  const dir = gatewayCrdDirectory();
  return KINDS.map((kind) => join(dir, `gateway.networking.k8s.io_${kind}.yaml`));
}

/** Installs the CRDs and waits until the API server serves them. */
export async function installGatewayCrds(kubeconfig: string): Promise<void> {
  const files = gatewayCrdFiles();
  await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', ...files.flatMap((file) => ['-f', file])]);
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', ...KINDS.map((kind) => `crd/${kind}.gateway.networking.k8s.io`)]);
}

/** Deletes the CRDs (and with them every object of their kinds). */
export async function deleteGatewayCrds(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['delete', '--wait=true', '--ignore-not-found', ...KINDS.map((kind) => `crd/${kind}.gateway.networking.k8s.io`)]);
}
