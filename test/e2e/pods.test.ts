/**
 * The test cluster runs pods (test/cluster/README.md): kube-controller-manager's controllers
 * in-process, a scheduler stand-in binding to two fake Nodes, a kubelet stand-in running each
 * container as a process in a network namespace of its own. Proven through kubectl and HTTP:
 *
 * 1. A Deployment + Service become ready; the EndpointSlice is the endpointslice controller's
 *    (not the test's); each endpoint address answers HTTP as the pod it names.
 * 2. echo-basic from the Gateway API conformance suite runs with the conformance manifests' env;
 *    our backend gets the env a kubelet gives (downward API, ConfigMap/Secret keys, $(VAR)
 *    expansion, resource fields) and echoes WebSocket messages; a missing key is refused.
 * 3. Hostile: an unknown image stays Pending with a clear Event; a volume mount with no parent
 *    directory on this machine is refused (volumes: pod-volumes.test.ts); a pod
 *    no Node matches stays unscheduled with a FailedScheduling Event.
 * 4. Probes: a failing liveness probe restarts the container; an exec probe is refused, never passed.
 *    Graceful deletion: preStop sleep (the pod keeps serving), SIGTERM, SIGKILL after the grace.
 * 5. A restarted cluster restarts the pods that ran (new sandboxes, restart count + 1).
 * 6. Stopping the cluster kills every pod process and removes the namespaces and the bridge.
 *
 * Traffic goes only to 127.0.0.1 (the API server) and the cluster's 10.217.N.0/24 pod addresses.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { restartCluster, startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import { BACKEND_IMAGE, BACKEND_PORT, backendDeployment, backendService, ECHO_BASIC_IMAGE, list } from '../support/pods.ts';

const run = promisify(execFile);

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: {
    phase: string;
    podIP?: string;
    hostIP?: string;
    conditions?: { type: string; status: string; reason?: string }[];
    containerStatuses?: { name: string; ready: boolean; started?: boolean; restartCount: number; containerID?: string; state: Record<string, { reason?: string; message?: string; exitCode?: number }> }[];
  };
}
interface Slice {
  metadata: { labels: Record<string, string> };
  ports: { name: string; port: number }[];
  endpoints: { addresses: string[]; conditions: { ready?: boolean }; nodeName?: string; targetRef?: { kind: string; name: string } }[];
}

/** GET http://address:port/path from this host (the pod network is reachable on the bridge). */
async function getJson(address: string, port: number, path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`http://${address}:${port}${path}`, { signal: AbortSignal.timeout(3_000) });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

const pidOf = (pod: Pod) => Number(pod.status.containerStatuses?.[0]?.containerID?.replace('process://', ''));
const alive = (pid: number) => existsSync(`/proc/${pid}`);

describe('the test cluster runs pods: controllers, scheduler and kubelet stand-ins', () => {
  let cluster: TestCluster | undefined;
  const kc = (args: readonly string[], stdin?: string) => kubectl(cluster!.kubeconfig, args, stdin);
  const pods = async (ns: string, selector: string) => (JSON.parse(await kc(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items;
  const pod = async (ns: string, name: string) => JSON.parse(await kc(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Pod;
  const events = async (ns: string, name: string) =>
    (JSON.parse(await kc(['-n', ns, 'get', 'events', '--field-selector', `involvedObject.name=${name}`, '-o', 'json'])) as { items: { reason: string; message: string; type: string; source?: { component?: string } }[] }).items;
  const showLog = () =>
    onTestFailed(async () => {
      const log = await run('tail', ['-n', '25', cluster!.logFile]).then((r) => r.stdout, () => '');
      console.error(`--- harness log, last lines:\n${log}`);
    });

  beforeAll(async () => {
    cluster = await startCluster({ nodes: 2 });
  }, 240_000);

  afterAll(async () => {
    await cluster?.destroy();
  }, 120_000);

  it('a Deployment and Service become ready; the endpointslice controller writes the EndpointSlice; each endpoint answers as its pod', async () => {
    showLog();
    await kc(['create', 'namespace', 'shop']);
    await kc(['apply', '-f', '-'], list(backendDeployment('shop', 'web', { replicas: 2 }), backendService('shop', 'web')));
    await kc(['-n', 'shop', 'rollout', 'status', 'deployment/web', '--timeout=120s']);

    const running = await pods('shop', 'app=web');
    expect(running).toHaveLength(2);
    const nodes = (JSON.parse(await kc(['get', 'nodes', '-o', 'json'])) as { items: { metadata: { name: string }; status: { addresses: { type: string; address: string }[]; conditions: { type: string; status: string }[]; capacity: Record<string, string> } }[] }).items;
    expect(nodes.map((n) => n.metadata.name).sort()).toEqual(['portico-node-1', 'portico-node-2']);
    const nodeIPs = new Map(nodes.map((n) => [n.metadata.name, n.status.addresses.find((a) => a.type === 'InternalIP')!.address]));
    expect(nodeIPs.get('portico-node-1')).toMatch(/^10\.217\.\d+\.1$/);
    expect(nodeIPs.get('portico-node-2')).toBe(nodeIPs.get('portico-node-1')!.replace(/\.1$/, '.2'));
    for (const node of nodes) {
      expect(node.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(node.status.capacity['pods']).toBe('110');
    }
    const subnet = nodeIPs.get('portico-node-1')!.replace(/\.1$/, '').replaceAll('.', '\\.');
    // The scheduler spreads the two replicas over the two Nodes.
    expect(running.map((p) => p.spec.nodeName).sort()).toEqual(['portico-node-1', 'portico-node-2']);
    for (const p of running) {
      expect(p.status.phase).toBe('Running');
      expect(p.status.hostIP).toBe(nodeIPs.get(p.spec.nodeName!));
      expect(p.status.podIP).toMatch(new RegExp(`^${subnet}\\.\\d+$`));
      expect(p.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(p.status.containerStatuses?.[0]).toMatchObject({ name: 'backend', ready: true, started: true, restartCount: 0 });
      expect(alive(pidOf(p))).toBe(true);
    }
    // The controllers that run in-process: the ServiceAccount controller made "default", the
    // node Lease is renewed.
    await eventually(async () => ((await kc(['-n', 'shop', 'get', 'serviceaccount', 'default', '-o', 'name'])).trim() === 'serviceaccount/default' ? true : undefined), 10_000, 'default ServiceAccount');
    const lease = JSON.parse(await kc(['-n', 'kube-node-lease', 'get', 'lease', 'portico-node-1', '-o', 'json'])) as { spec: { renewTime: string } };
    expect(Date.now() - Date.parse(lease.spec.renewTime)).toBeLessThan(60_000);

    const slices = await eventually(async () => {
      const items = (JSON.parse(await kc(['-n', 'shop', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])) as { items: Slice[] }).items;
      return items.length === 1 && items[0]!.endpoints?.length === 2 && items[0]!.endpoints.every((e) => e.conditions.ready) ? items : undefined;
    }, 30_000, 'an EndpointSlice with both pods ready');
    const slice = slices[0]!;
    expect(slice.metadata.labels['endpointslice.kubernetes.io/managed-by']).toBe('endpointslice-controller.k8s.io');
    expect(slice.ports).toEqual([{ name: 'http', port: BACKEND_PORT, protocol: 'TCP' }]);
    const byIP = new Map(running.map((p) => [p.status.podIP!, p.metadata.name]));
    const nodeOf = new Map(running.map((p) => [p.metadata.name, p.spec.nodeName]));
    for (const endpoint of slice.endpoints) {
      const address = endpoint.addresses[0]!;
      expect(endpoint.targetRef?.name).toBe(byIP.get(address));
      expect(endpoint.nodeName).toBe(nodeOf.get(endpoint.targetRef!.name));
      // The Service's endpoint, dialled: the pod named by targetRef answers, with its downward-API env.
      const reply = await getJson(address, slice.ports[0]!.port, '/hello?x=1');
      expect(reply).toMatchObject({ served_by: `${address}:${BACKEND_PORT}`, pod: endpoint.targetRef!.name, namespace: 'shop', node: nodeOf.get(endpoint.targetRef!.name), path: '/hello?x=1' });
    }

    // Scale to 3: the ReplicaSet controller makes a pod, the scheduler binds it, the kubelet runs
    // it, the endpointslice controller adds it.
    await kc(['-n', 'shop', 'scale', 'deployment/web', '--replicas=3']);
    await eventually(async () => {
      const items = (JSON.parse(await kc(['-n', 'shop', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json'])) as { items: Slice[] }).items;
      return items[0]?.endpoints?.filter((e) => e.conditions.ready).length === 3 ? true : undefined;
    }, 30_000, 'three ready endpoints after scaling');
    const events3 = await events('shop', (await pods('shop', 'app=web'))[0]!.metadata.name);
    expect(events3.map((e) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Started']));
  }, 180_000);

  it('runs echo-basic from the Gateway API conformance suite with the env its manifests give it', async () => {
    showLog();
    await kc(['create', 'namespace', 'gateway-conformance-infra']);
    const deployment = backendDeployment('gateway-conformance-infra', 'infra-backend-v1', { image: ECHO_BASIC_IMAGE, replicas: 1 }) as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    const container = deployment.spec.template.spec.containers[0]!;
    container['ports'] = [{ name: 'http', containerPort: 3000 }];
    container['env'] = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    ];
    container['readinessProbe'] = { tcpSocket: { port: 3000 }, periodSeconds: 1 };
    await kc(['apply', '-f', '-'], JSON.stringify(deployment));
    await kc(['-n', 'gateway-conformance-infra', 'rollout', 'status', 'deployment/infra-backend-v1', '--timeout=120s']);
    const [echo] = await pods('gateway-conformance-infra', 'app=infra-backend-v1');
    const reply = await getJson(echo!.status.podIP!, 3000, '/conformance/path');
    expect(reply).toMatchObject({ path: '/conformance/path', namespace: 'gateway-conformance-infra', pod: echo!.metadata.name });
  }, 180_000);

  it('gives containers the env a kubelet gives (downward API, ConfigMap and Secret keys, $(VAR), resources); refuses a missing key; WebSocket echo', async () => {
    showLog();
    await kc(['create', 'namespace', 'env']);
    await kc(['-n', 'env', 'create', 'configmap', 'settings', '--from-literal=mode=fast']);
    await kc(['-n', 'env', 'create', 'secret', 'generic', 'creds', '--from-literal=password=s3cret']);
    const deployment = backendDeployment('env', 'envtest') as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: Record<string, unknown>[] } } } };
    deployment.spec.template.metadata.labels['tier'] = 'gold';
    const container = deployment.spec.template.spec.containers[0]!;
    container['resources'] = { limits: { memory: '64Mi' } };
    container['env'] = [
      ...(container['env'] as unknown[]),
      { name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'mode' } } },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'creds', key: 'password' } } },
      { name: 'GREETING', value: 'hello-$(POD_NAME)-$(MODE)' },
      { name: 'TIER', valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
      { name: 'MEMORY_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory' } } },
      { name: 'ABSENT', valueFrom: { configMapKeyRef: { name: 'settings', key: 'nope', optional: true } } },
    ];
    container['envFrom'] = [{ prefix: 'CM_', configMapRef: { name: 'settings' } }];
    await kc(['apply', '-f', '-'], JSON.stringify(deployment));
    await kc(['-n', 'env', 'rollout', 'status', 'deployment/envtest', '--timeout=120s']);
    const [p] = await pods('env', 'app=envtest');
    const env = await getJson(p!.status.podIP!, BACKEND_PORT, '/env');
    expect(env).toMatchObject({
      POD_NAME: p!.metadata.name, NAMESPACE: 'env', POD_IP: p!.status.podIP, NODE_NAME: p!.spec.nodeName, HOSTNAME: p!.metadata.name,
      MODE: 'fast', PASSWORD: 's3cret', GREETING: `hello-${p!.metadata.name}-fast`, TIER: 'gold', MEMORY_LIMIT: String(64 * 1024 * 1024), CM_mode: 'fast',
    });
    expect(env).not.toHaveProperty('ABSENT');

    // WebSocket echo straight to the pod IP.
    const socket = new WebSocket(`ws://${p!.status.podIP}:${BACKEND_PORT}/ws`);
    const echoed = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no WebSocket echo within 5 s')), 5_000);
      socket.once('open', () => socket.send('ping over the pod network'));
      socket.once('message', (data: Buffer) => {
        clearTimeout(timer);
        resolve(data.toString());
      });
      socket.once('error', reject);
    });
    socket.close();
    expect(echoed).toBe('ping over the pod network');

    // A key that is not there (and not optional): the container is not started, and says why.
    const broken = backendDeployment('env', 'missing-key') as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } };
    broken.spec.template.spec.containers[0]!['env'] = [{ name: 'MODE', valueFrom: { configMapKeyRef: { name: 'settings', key: 'missing' } } }];
    await kc(['apply', '-f', '-'], JSON.stringify(broken));
    const waiting = await eventually(async () => {
      const [b] = await pods('env', 'app=missing-key');
      const state = b?.status.containerStatuses?.[0]?.state['waiting'];
      return state?.reason === 'CreateContainerConfigError' ? state : undefined;
    }, 30_000, 'CreateContainerConfigError for the missing key');
    expect(waiting.message).toBe('env MODE: key "missing" not found in configmap "settings"');
  }, 180_000);

  it('hostile: an unknown image stays Pending with a clear Event; a volume mount it cannot make is refused, not ignored; a pod no Node fits stays unscheduled', async () => {
    showLog();
    await kc(['create', 'namespace', 'hostile']);
    const podOf = (name: string, extra: Record<string, unknown>) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'hostile' },
      spec: { volumes: [{ name: 'data', emptyDir: {} }], containers: [{ name: 'main', image: BACKEND_IMAGE, ...extra }] },
    });
    const nowhere = { ...podOf('fits-nowhere', {}), spec: { nodeSelector: { disk: 'ssd' }, containers: [{ name: 'main', image: BACKEND_IMAGE }] } };
    await kc(['apply', '-f', '-'], list(podOf('unknown-image', { image: 'docker.io/library/nginx:1.27' }), podOf('mounts-volume', { volumeMounts: [{ name: 'data', mountPath: '/data' }] }), nowhere));

    const pulled = await eventually(async () => (await events('hostile', 'unknown-image')).find((e) => e.reason === 'Failed'), 30_000, 'a Failed Event for the unknown image');
    expect(pulled).toMatchObject({ type: 'Warning', source: { component: 'kubelet' } });
    expect(pulled.message).toContain('docker.io/library/nginx:1.27');
    expect(pulled.message).toContain('not one the portico test cluster can run');
    const refused = await eventually(async () => (await events('hostile', 'mounts-volume')).find((e) => e.reason === 'Failed'), 30_000, 'a Failed Event for the volume mount');
    expect(refused.message).toMatch(/mounts volume "data" at \/data: the portico test cluster mounts volumes only where this machine has the parent directory/);

    const unknown = await eventually(async () => {
      const p = await pod('hostile', 'unknown-image');
      return p.status.containerStatuses?.[0]?.state['waiting']?.reason === 'ErrImagePull' ? p : undefined;
    }, 30_000, 'ErrImagePull in the container status');
    expect(unknown.status.phase).toBe('Pending');
    expect(unknown.status.podIP).toBeUndefined();
    expect((await pod('hostile', 'mounts-volume')).status.containerStatuses?.[0]?.state['waiting']?.reason).toBe('CreateContainerConfigError');

    // No Node has the label: unscheduled, with the scheduler's reason.
    const unscheduled = await eventually(async () => (await events('hostile', 'fits-nowhere')).find((e) => e.reason === 'FailedScheduling'), 30_000, 'FailedScheduling');
    expect(unscheduled.message).toBe("0/2 nodes are available: 0 not ready or unschedulable, 2 didn't match Pod's node affinity/selector, 0 too many pods");
    const pending = await pod('hostile', 'fits-nowhere');
    expect(pending.spec.nodeName).toBeUndefined();
    expect(pending.status.conditions?.find((c) => c.type === 'PodScheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable' });

    // They still delete cleanly: the kubelet finishes the deletion of pods it never started.
    await kc(['-n', 'hostile', 'delete', 'pod', 'unknown-image', 'mounts-volume', 'fits-nowhere', '--timeout=30s']);
    expect(await pods('hostile', '')).toHaveLength(0);
  }, 120_000);

  it('probes: a failing liveness probe restarts the container; an exec probe is refused with an Event, never passed', async () => {
    showLog();
    await kc(['create', 'namespace', 'probes']);
    const bare = (name: string, container: Record<string, unknown>) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'probes' },
      spec: { terminationGracePeriodSeconds: 2, containers: [{ name: 'main', image: BACKEND_IMAGE, ports: [{ name: 'http', containerPort: BACKEND_PORT }], ...container }] },
    });
    await kc(['apply', '-f', '-'], list(
      // /healthz answers 503 from the start: the liveness probe fails 3 times, the kubelet restarts it.
      bare('unhealthy', { env: [{ name: 'READY', value: 'false' }], livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1, failureThreshold: 3 } }),
      bare('exec-probe', { readinessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 1 } }),
    ));
    const restarted = await eventually(async () => {
      const p = await pod('probes', 'unhealthy');
      return (p.status.containerStatuses?.[0]?.restartCount ?? 0) >= 1 ? p : undefined;
    }, 60_000, 'the container restarted after its liveness probe failed');
    expect(restarted.status.containerStatuses?.[0]?.state['running'] ?? restarted.status.containerStatuses?.[0]?.state['waiting']).toBeDefined();
    const killing = (await events('probes', 'unhealthy')).filter((e) => e.reason === 'Killing').map((e) => e.message);
    expect(killing).toContain('Container main failed Liveness probe, will be restarted');

    const refused = await eventually(async () => (await events('probes', 'exec-probe')).find((e) => e.reason === 'Unhealthy'), 30_000, 'an Unhealthy Event for the exec probe');
    expect(refused.message).toBe('Readiness probe failed: exec probes are not supported by the portico test cluster (containers are processes without a filesystem of their own)');
    const execPod = await pod('probes', 'exec-probe');
    expect(execPod.status.phase).toBe('Running');
    expect(execPod.status.conditions?.find((c) => c.type === 'Ready')?.status).toBe('False');
    await kc(['delete', 'namespace', 'probes', '--wait=false']);
  }, 120_000);

  it('graceful deletion: a preStop sleep keeps the pod serving, SIGTERM ends it; a pod ignoring SIGTERM is killed after its grace period', async () => {
    showLog();
    await kc(['create', 'namespace', 'grace']);
    await kc(['apply', '-f', '-'], list(
      backendDeployment('grace', 'prestop', { preStopSleepSeconds: 2 }),
      backendDeployment('grace', 'stubborn', { terminationGracePeriodSeconds: 2, env: { IGNORE_SIGTERM: '1' } }),
    ));
    await kc(['-n', 'grace', 'rollout', 'status', 'deployment/prestop', '--timeout=120s']);
    await kc(['-n', 'grace', 'rollout', 'status', 'deployment/stubborn', '--timeout=120s']);
    const [prestop] = await pods('grace', 'app=prestop');
    const [stubborn] = await pods('grace', 'app=stubborn');

    // preStop: during the 2 s sleep the process still serves; then SIGTERM and it exits by itself.
    let started = performance.now();
    const deleting = kc(['-n', 'grace', 'delete', 'pod', prestop!.metadata.name, '--wait=true', '--timeout=60s']);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect((await getJson(prestop!.status.podIP!, BACKEND_PORT, '/during-prestop')).pod).toBe(prestop!.metadata.name);
    await deleting;
    const prestopMs = performance.now() - started;
    expect(prestopMs).toBeGreaterThanOrEqual(2_000);
    expect(alive(pidOf(prestop!))).toBe(false);
    // Its address is gone with it, and says so at once (no connect left hanging on ARP). A new
    // TCP connection, not fetch: fetch may reuse the keep-alive socket of the request above,
    // which then waits for an answer that never comes instead of connecting.
    expect(await connectOutcome(prestop!.status.podIP!, BACKEND_PORT, 2_000)).toBe('EHOSTUNREACH');

    // A process that ignores SIGTERM lives until the 2 s grace period is over, then SIGKILL.
    started = performance.now();
    await kc(['-n', 'grace', 'delete', 'pod', stubborn!.metadata.name, '--wait=true', '--timeout=60s']);
    const stubbornMs = performance.now() - started;
    expect(stubbornMs).toBeGreaterThanOrEqual(2_000);
    expect(alive(pidOf(stubborn!))).toBe(false);
    console.log(`graceful deletion: preStop sleep 2 s pod gone after ${Math.round(prestopMs)} ms; SIGTERM-ignoring pod with grace 2 s gone after ${Math.round(stubbornMs)} ms`);
  }, 180_000);

  it('a restarted cluster restarts the pods that ran: same pods, new processes, restart count + 1', async () => {
    showLog();
    const before = await pods('shop', 'app=web');
    expect(before).toHaveLength(3);
    cluster = await restartCluster(cluster!, { nodes: 2 });
    expect(before.map(pidOf).filter(alive)).toEqual([]);
    const after = await eventually(async () => {
      const list = await pods('shop', 'app=web');
      return list.length === 3 && list.every((p) => p.status.containerStatuses?.[0]?.ready && p.status.containerStatuses[0].restartCount === 1) ? list : undefined;
    }, 90_000, 'the three pods running again after the restart');
    expect(after.map((p) => p.metadata.uid).sort()).toEqual(before.map((p) => p.metadata.uid).sort());
    for (const p of after) {
      expect(alive(pidOf(p))).toBe(true);
      expect((await getJson(p.status.podIP!, BACKEND_PORT, '/')).pod).toBe(p.metadata.name);
    }
    expect((await events('shop', after[0]!.metadata.name)).map((e) => e.reason)).toContain('SandboxChanged');
  }, 180_000);

  it('stopping the cluster kills every pod process and removes the network namespaces and the bridge', async () => {
    const items = (JSON.parse(await kc(['get', 'pods', '-A', '-o', 'json'])) as { items: Pod[] }).items;
    const all = items.filter((p) => p.status.phase === 'Running');
    expect(all.length).toBeGreaterThan(0);
    // A sandbox per pod with an address: the running ones and the one waiting for its ConfigMap key.
    const sandboxes = items.filter((p) => p.status.podIP !== undefined && (p.status.phase === 'Running' || p.status.phase === 'Pending'));
    const pids = all.map(pidOf);
    expect(pids.every(alive)).toBe(true);
    const index = /^10\.217\.(\d+)\./.exec(all[0]!.status.podIP!)![1];
    const namespaces = () => readdirSync('/run/netns').filter((n) => n.startsWith(`ptc${index}-`));
    expect(namespaces().length).toBe(sandboxes.length);
    await cluster!.destroy();
    cluster = undefined;
    expect(pids.filter(alive)).toEqual([]);
    expect(namespaces()).toEqual([]);
    await expect(run('ip', ['link', 'show', `ptcbr${index}`])).rejects.toThrow();
  }, 120_000);
});

/** What a fresh TCP connect to `host:port` gives within `timeoutMs`: 'connected', an errno code, or 'timeout'. */
function connectOutcome(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    socket.once('connect', () => done('connected'));
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code ?? error.name));
  });
}
