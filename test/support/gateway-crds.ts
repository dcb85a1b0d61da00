/**
 * The Gateway API CRDs (standard channel) of the version the conformance module pins, read from
 * the Go module cache, for suites that install them into a test cluster themselves.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubectl } from './kubectl.ts';

const run = promisify(execFile);

/** The CRD files Portico reads objects of (not TCPRoute, TLSRoute, UDPRoute, BackendTLSPolicy, ListenerSet). */
const KINDS = ['gatewayclasses', 'gateways', 'httproutes', 'grpcroutes', 'referencegrants'];

/** `config/crd/standard` of sigs.k8s.io/gateway-api at the version test/cluster/images/go.mod pins. Throws when the module is not in the cache. */
export async function gatewayCrdDirectory(): Promise<string> {
  const goMod = await readFile(new URL('../cluster/images/go.mod', import.meta.url), 'utf8');
  const version = /sigs\.k8s\.io\/gateway-api\/conformance (v[0-9.]+)/.exec(goMod)?.[1];
  if (version === undefined) throw new Error('test/cluster/images/go.mod pins no sigs.k8s.io/gateway-api/conformance version');
  const { stdout } = await run('go', ['env', 'GOMODCACHE']);
  return join(stdout.trim(), `sigs.k8s.io/gateway-api@${version}`, 'config/crd/standard');
}

/** The CRD file paths of the kinds Portico reads. */
export async function gatewayCrdFiles(): Promise<string[]> {
  const dir = await gatewayCrdDirectory();
  return KINDS.map((kind) => join(dir, `gateway.networking.k8s.io_${kind}.yaml`));
}

/** Installs the CRDs and waits until the API server serves them. */
export async function installGatewayCrds(kubeconfig: string): Promise<void> {
  const files = await gatewayCrdFiles();
  await kubectl(kubeconfig, ['apply', '--server-side', '--force-conflicts', ...files.flatMap((file) => ['-f', file])]);
  await kubectl(kubeconfig, ['wait', '--for=condition=Established', '--timeout=60s', ...KINDS.map((kind) => `crd/${kind}.gateway.networking.k8s.io`)]);
}

/** Deletes the CRDs (and with them every object of their kinds). */
export async function deleteGatewayCrds(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['delete', '--wait=true', '--ignore-not-found', ...KINDS.map((kind) => `crd/${kind}.gateway.networking.k8s.io`)]);
}
