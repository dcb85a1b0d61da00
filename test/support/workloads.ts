/**
 * The shipped deploy/ manifests and image, read as a container runtime would: the Dockerfile's
 * ENTRYPOINT, each workload's pod template (containers, args, env with downward-API values,
 * emptyDir mounts, readiness probes), so a test can start exactly what a node would.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { Pod } from './pod-network.ts';

/** The repository root (the image copies it to /app). */
export const REPO = new URL('../../', import.meta.url).pathname;

/** A rendered Kubernetes object (only the fields read here are typed). */
export interface K8sObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string> };
  readonly spec?: WorkloadSpec & Record<string, unknown>;
}

interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string; readonly scheme?: 'HTTP' | 'HTTPS' };
  readonly tcpSocket?: { readonly port: number | string };
}

/** A container of a pod template. */
export interface Container {
  readonly name: string;
  readonly image: string;
  readonly args?: readonly string[];
  readonly env?: readonly { readonly name: string; readonly value?: string; readonly valueFrom?: { readonly fieldRef?: { readonly fieldPath: string } } }[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly readinessProbe?: Probe;
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string }[];
  readonly resources?: { readonly requests?: Record<string, string>; readonly limits?: Record<string, string> };
}

/** A pod volume this test can stand in for: an emptyDir, or a Secret whose data the test provides. */
interface Volume {
  readonly name: string;
  readonly emptyDir?: object;
  readonly secret?: { readonly secretName: string; readonly items?: readonly { readonly key: string; readonly path: string }[] };
}

interface WorkloadSpec {
  readonly replicas?: number;
  readonly template?: { readonly metadata?: { readonly labels?: Record<string, string> }; readonly spec: { readonly containers: readonly Container[]; readonly volumes?: readonly Volume[] } & Record<string, unknown> };
}

/** Parses `kubectl kustomize` output. */
export function parseObjects(yaml: string): K8sObject[] {
  return parseAllDocuments(yaml).map((doc) => doc.toJS() as K8sObject).filter((o) => o !== null);
}

/** The image's ENTRYPOINT from deploy/Dockerfile, `node` and `/app/` mapped onto this machine. */
export async function imageEntrypoint(): Promise<{ command: string; args: string[] }> {
  const dockerfile = await readFile(join(REPO, 'deploy/Dockerfile'), 'utf8');
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (line === undefined) throw new Error('deploy/Dockerfile has no ENTRYPOINT');
  const [program, ...args] = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  if (program !== 'node') throw new Error(`ENTRYPOINT runs ${program}, not node`);
  return { command: process.execPath, args: args.map((arg) => arg.replace(/^\/app\//, REPO)) };
}

/** A Pod object built from a workload's pod template (what its controller would create). */
export function podFromTemplate(workload: K8sObject, name: string): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: workload.metadata.namespace, labels: workload.spec!.template!.metadata?.labels ?? {} },
    spec: workload.spec!.template!.spec,
  };
}

/** What the kubelet would fill into the downward API for one pod. */
export interface PodFacts {
  readonly name: string;
  readonly namespace: string;
  readonly nodeName: string;
  readonly podIP: string;
}

/**
 * Starts one container of `workload` in `pod`: ENTRYPOINT + the container's args (emptyDir and
 * Secret mount paths mapped to fresh temp dirs, a Secret's files written from `secrets`, as the
 * kubelet would project them) with the container's env (downward API filled from `facts`)
 * plus `extraEnv` (what a cluster mounts, e.g. credentials). Returns the child and its output.
 */
export async function startContainer(
  workload: K8sObject,
  container: Container,
  pod: Pod,
  facts: PodFacts,
  extraEnv: Record<string, string>,
  secrets: Readonly<Record<string, Readonly<Record<string, string>>>> = {},
): Promise<{ output: () => string; pid: number | undefined }> {
  const entry = await imageEntrypoint();
  const volumes = new Map<string, string>();
  for (const mount of container.volumeMounts ?? []) {
    const volume = workload.spec!.template!.spec.volumes?.find((v) => v.name === mount.name);
    if (volume?.emptyDir === undefined && volume?.secret === undefined) throw new Error(`${container.name}: volume ${mount.name} is not an emptyDir or a Secret; this test knows only those`);
    const dir = await mkdtemp(join(tmpdir(), `portico-${mount.name}-`));
    if (volume.secret !== undefined) {
      const data = secrets[volume.secret.secretName];
      if (data === undefined) throw new Error(`${container.name}: volume ${mount.name} needs Secret ${volume.secret.secretName}; the test provides none`);
      const items = volume.secret.items ?? Object.keys(data).map((key) => ({ key, path: key }));
      for (const item of items) {
        if (data[item.key] === undefined) throw new Error(`${container.name}: Secret ${volume.secret.secretName} has no key ${item.key}`);
        await writeFile(join(dir, item.path), data[item.key]!, { mode: 0o400 });
      }
    }
    volumes.set(mount.mountPath, dir);
  }
  const args = (container.args ?? []).map((arg) => {
    for (const [path, dir] of volumes) if (arg.includes(path)) return arg.replace(path, dir);
    return arg;
  });
  const fields: Record<string, string> = { 'metadata.name': facts.name, 'metadata.namespace': facts.namespace, 'spec.nodeName': facts.nodeName, 'status.podIP': facts.podIP };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef !== undefined) {
      const value = fields[variable.valueFrom.fieldRef.fieldPath];
      if (value === undefined) throw new Error(`${container.name}: env ${variable.name} reads ${variable.valueFrom.fieldRef.fieldPath}, which this test does not fill`);
      env[variable.name] = value;
    } else throw new Error(`${container.name}: env ${variable.name} has a source this test does not fill`);
  }
  const child = pod.spawn(entry.command, [...entry.args, ...args], { ...env, ...extraEnv });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return { output: () => output, pid: child.pid };
}

/** A container port by name or number. */
export function containerPort(container: Container, port: number | string): number {
  if (typeof port === 'number') return port;
  const found = container.ports?.find((p) => p.name === port);
  if (found === undefined) throw new Error(`${container.name} has no port named ${port}`);
  return found.containerPort;
}

/** Runs the container's readiness probe once against `address`, as the kubelet would; true when it passes. */
export async function probeReady(container: Container, address: string): Promise<boolean> {
  const probe = container.readinessProbe;
  if (probe?.httpGet !== undefined) {
    const port = containerPort(container, probe.httpGet.port);
    if (probe.httpGet.scheme === 'HTTPS') {
      // The kubelet does not verify the certificate of an HTTPS probe; neither does this.
      return new Promise((resolve) => {
        const request = httpsRequest({ host: address, port, path: probe.httpGet!.path, rejectUnauthorized: false, timeout: 2000 }, (response) => {
          response.resume();
          resolve((response.statusCode ?? 0) >= 200 && (response.statusCode ?? 0) < 400);
        });
        request.on('error', () => resolve(false));
        request.on('timeout', () => request.destroy());
        request.end();
      });
    }
    try {
      const response = await fetch(`http://${address}:${port}${probe.httpGet.path}`, { signal: AbortSignal.timeout(2000) });
      return response.status >= 200 && response.status < 400;
    } catch {
      return false;
    }
  }
  if (probe?.tcpSocket !== undefined) {
    const port = containerPort(container, probe.tcpSocket.port);
    return new Promise((resolve) => {
      const socket = connect({ host: address, port, timeout: 2000 }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
      socket.on('timeout', () => {
        socket.destroy();
        resolve(false);
      });
    });
  }
  throw new Error(`${container.name} has no readiness probe`);
}
