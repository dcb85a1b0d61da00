/**
 * Portico in front of real pods (the test cluster runs them: test/cluster/README.md), control
 * plane and data plane as two processes, every request through the data plane on 127.0.0.1:
 *
 * 1. The walkthrough with a real Deployment: the dashboard Ingress (deploy/examples/dashboard.yaml
 *    without its hand-written EndpointSlice) serves the pods the endpointslice controller found.
 * 2. Rolling update under load: a 3-replica Deployment behind an Ingress, a bounded keep-alive
 *    load (and slow 200 ms requests beside it, in flight when pods get SIGTERM) while `kubectl
 *    rollout restart` and a scale 3 → 1 → 5 run: 0 failed requests; p99 latency during the
 *    rollout and the counts are printed.
 * 3. A pod whose readiness probe starts failing leaves rotation within the probe period (+ the
 *    propagation, printed); it comes back when the probe passes again.
 * 4. A pod SIGKILLed under load costs at most the requests in flight at that moment (counted).
 *
 * Traffic goes only to 127.0.0.1 (API server, control API, data plane) and, through the data plane
 * or directly, to the cluster's own 10.217.N.0/24 pod addresses.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { eventually, kubectl } from '../support/kubectl.ts';
import type { LoadAnswer } from '../support/load.ts';
import { startLoad } from '../support/load.ts';
import type { PorticoInCluster } from '../support/portico-cluster.ts';
import { startPorticoInCluster } from '../support/portico-cluster.ts';
import { backendDeployment, backendIngress, backendService, list } from '../support/pods.ts';

const dashboardYaml = readFileSync(new URL('../../deploy/examples/dashboard.yaml', import.meta.url), 'utf8');
const DASHBOARD_HOST = 'k8s-ceph-dashboard.calmkart.com';
const HOST = 'rollout.portico.test';
const NS = 'rollout';
const APP = 'app';
/** Readiness probe period of the rollout Deployment (failureThreshold 1). */
const PROBE_PERIOD_S = 1;

interface Pod {
  metadata: { name: string; deletionTimestamp?: string };
  status: { podIP?: string; containerStatuses?: { containerID?: string; restartCount: number; ready: boolean; lastState?: { terminated?: { exitCode: number } } }[] };
}

/** GET through the data plane; status 0 and `error` on transport failure. */
function get(agent: Agent, port: number, host: string, path: string): Promise<{ status: number; body: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent, headers: { Host: host }, timeout: 5_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => resolve({ status: 0, body: '', error: e.message }));
    req.end();
  });
}

/** The pod that answered (our backend's JSON `pod`), or undefined. */
function servedBy(body: string): string | undefined {
  try {
    return (JSON.parse(body) as { pod?: string }).pod;
  } catch {
    return undefined;
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

describe('Portico in front of real pods: walkthrough, rolling update under load, readiness and SIGKILL', () => {
  let cluster: TestCluster | undefined;
  let portico: PorticoInCluster | undefined;
  let work: string | undefined;
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const kc = (args: readonly string[], stdin?: string) => kubectl(cluster!.kubeconfig, args, stdin);
  const pods = async (ns: string, selector: string) => (JSON.parse(await kc(['-n', ns, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items;
  const showLogs = () =>
    onTestFailed(async () => {
      if (portico) console.error(await portico.logs());
    });

  /** Resolves once `count` distinct pods answered through the data plane among a few dozen requests. */
  async function servedPods(host: string, path: string, count: number, timeoutMs = 60_000): Promise<Set<string>> {
    return eventually(async () => {
      const seen = new Set<string>();
      for (let i = 0; i < count * 4; i++) {
        const reply = await get(agent, portico!.httpPort, host, path);
        const pod = servedBy(reply.body);
        if (reply.status === 200 && pod) seen.add(pod);
      }
      return seen.size === count ? seen : undefined;
    }, timeoutMs, `${count} distinct pods answering for ${host}`);
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'portico-rollout-'));
    cluster = await startCluster();
    portico = await startPorticoInCluster(cluster.kubeconfig, work);
  }, 240_000);

  afterAll(async () => {
    agent.destroy();
    await portico?.stop();
    await cluster?.destroy();
    if (work) await rm(work, { recursive: true, force: true });
  }, 120_000);

  it('the walkthrough with a real Deployment: the dashboard Ingress serves the pods the endpointslice controller found', async () => {
    showLogs();
    await kc(['create', 'namespace', 'rook-ceph']);
    // The example as a user in a real cluster applies it: without the demo EndpointSlice.
    const docs = dashboardYaml.split(/^---$/m).filter((doc) => !/^kind: EndpointSlice$/m.test(doc));
    expect(docs).toHaveLength(2);
    await kc(['apply', '-f', '-'], docs.join('\n---\n'));
    const mgr = backendDeployment('rook-ceph', 'rook-ceph-mgr', { replicas: 2, port: 8443 });
    await kc(['apply', '-f', '-'], JSON.stringify(mgr));
    await kc(['-n', 'rook-ceph', 'rollout', 'status', 'deployment/rook-ceph-mgr', '--timeout=120s']);
    const names = new Set((await pods('rook-ceph', 'app=rook-ceph-mgr')).map((p) => p.metadata.name));
    const seen = await servedPods(DASHBOARD_HOST, '/', 2);
    expect(seen).toEqual(names);
    const slice = JSON.parse(await kc(['-n', 'rook-ceph', 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=rook-ceph-mgr-dashboard', '-o', 'json'])) as { items: { metadata: { labels: Record<string, string> } }[] };
    expect(slice.items.map((s) => s.metadata.labels['endpointslice.kubernetes.io/managed-by'])).toEqual(['endpointslice-controller.k8s.io']);
  }, 180_000);

  it('rolling update under load: 0 failed requests through rollout restart and scale 3 → 1 → 5', async () => {
    showLogs();
    await kc(['create', 'namespace', NS]);
    await kc(['apply', '-f', '-'], list(
      backendDeployment(NS, APP, { replicas: 3, probePeriodSeconds: PROBE_PERIOD_S, maxSurge: 1, maxUnavailable: 0 }),
      backendService(NS, APP),
      backendIngress(NS, APP, HOST),
    ));
    await kc(['-n', NS, 'rollout', 'status', `deployment/${APP}`, '--timeout=120s']);
    await servedPods(HOST, '/', 3);

    const answers: LoadAnswer[] = [];
    const load = startLoad({ port: portico!.httpPort, target: () => ({ hostHeader: HOST, path: '/' }), concurrency: 4, maxMs: 240_000, observe: (a) => answers.push(a) });
    // Beside it, slow requests (200 ms at the pod): in flight on a pod when it gets SIGTERM, they finish.
    const slow = startLoad({ port: portico!.httpPort, target: () => ({ hostHeader: HOST, path: '/slow?ms=200' }), concurrency: 4, maxMs: 240_000 });
    let report: Awaited<ReturnType<typeof load.stop>> | undefined;
    let slowReport: Awaited<ReturnType<typeof slow.stop>> | undefined;
    try {
      await sleep(1_000);
      const rolloutStart = performance.now();
      await kc(['-n', NS, 'rollout', 'restart', `deployment/${APP}`]);
      await kc(['-n', NS, 'rollout', 'status', `deployment/${APP}`, '--timeout=180s']);
      const gone = async (n: number) => eventually(async () => ((await pods(NS, `app=${APP}`)).length === n ? true : undefined), 120_000, `${n} pods left`);
      await gone(3);
      const rolloutEnd = performance.now();
      await kc(['-n', NS, 'scale', `deployment/${APP}`, '--replicas=1']);
      await gone(1);
      await kc(['-n', NS, 'scale', `deployment/${APP}`, '--replicas=5']);
      await kc(['-n', NS, 'rollout', 'status', `deployment/${APP}`, '--timeout=120s']);
      await eventually(async () => {
        const recent = answers.slice(-40).map((a) => servedBy(a.body));
        return new Set(recent).size === 5 ? true : undefined;
      }, 60_000, 'the load spread over 5 pods');
      await sleep(500);
      report = await load.stop();
      slowReport = await slow.stop();
      const during = answers.filter((a) => a.sentAt >= rolloutStart && a.doneAt <= rolloutEnd && a.error === undefined).map((a) => a.doneAt - a.sentAt);
      const pods5 = new Set(answers.map((a) => servedBy(a.body)).filter((p) => p !== undefined));
      console.log(
        `rolling update under load: ${report.requests} requests in ${(report.durationMs / 1000).toFixed(1)} s, ${report.failed} failed, statuses ${JSON.stringify(report.statuses)}, errors ${JSON.stringify(report.errors)}; ` +
          `rollout restart took ${((rolloutEnd - rolloutStart) / 1000).toFixed(1)} s with ${during.length} requests, p50 ${percentile(during, 0.5).toFixed(1)} ms, p99 ${percentile(during, 0.99).toFixed(1)} ms, max ${percentile(during, 1).toFixed(1)} ms ` +
          `(whole run p99 ${percentile(report.latenciesMs, 0.99).toFixed(1)} ms); ${pods5.size} distinct pods answered; ` +
          `slow requests (200 ms): ${slowReport.requests}, ${slowReport.failed} failed, statuses ${JSON.stringify(slowReport.statuses)}, errors ${JSON.stringify(slowReport.errors)}`,
      );
      expect(report.failed, `failed requests: ${JSON.stringify(report.errors)} ${JSON.stringify(report.statuses)}`).toBe(0);
      expect(slowReport.failed, `failed slow requests: ${JSON.stringify(slowReport.errors)} ${JSON.stringify(slowReport.statuses)}`).toBe(0);
      expect(slowReport.requests).toBeGreaterThan(0);
      expect(during.length).toBeGreaterThan(0);
      // 3 original + 3 from the restart + 4 from the scale-up (at least).
      expect(pods5.size).toBeGreaterThanOrEqual(10);
    } finally {
      if (report === undefined) await load.stop();
      if (slowReport === undefined) await slow.stop();
    }
  }, 420_000);

  it('a pod whose readiness probe fails leaves rotation within the probe period, and comes back', async () => {
    showLogs();
    const running = (await pods(NS, `app=${APP}`)).filter((p) => !p.metadata.deletionTimestamp);
    expect(running.length).toBe(5);
    await servedPods(HOST, '/', 5);
    const victim = running[0]!;
    const answers: LoadAnswer[] = [];
    const load = startLoad({ port: portico!.httpPort, target: () => ({ hostHeader: HOST, path: '/' }), concurrency: 4, maxMs: 120_000, observe: (a) => answers.push(a) });
    try {
      await sleep(500);
      const off = await fetch(`http://${victim.status.podIP}:8080/control/unready`, { method: 'POST', signal: AbortSignal.timeout(3_000) });
      expect(off.status).toBe(200);
      const switchedAt = performance.now();
      // Out of rotation: no answer from it among requests sent later (waited for a while).
      await sleep(PROBE_PERIOD_S * 1000 + 4_000);
      const fromVictim = answers.filter((a) => servedBy(a.body) === victim.metadata.name);
      const lastSent = Math.max(...fromVictim.map((a) => a.sentAt));
      const leftAfterMs = Math.max(0, lastSent - switchedAt);
      const served = answers.filter((a) => a.sentAt > lastSent).length;
      // Back when the probe passes again.
      await fetch(`http://${victim.status.podIP}:8080/control/ready`, { method: 'POST', signal: AbortSignal.timeout(3_000) });
      const backAt = performance.now();
      const back = await eventually(() => answers.find((a) => a.sentAt > backAt && servedBy(a.body) === victim.metadata.name), 30_000, 'the pod back in rotation');
      const report = await load.stop();
      console.log(
        `readiness: pod left rotation ${Math.round(leftAfterMs)} ms after its readiness switched off (probe period ${PROBE_PERIOD_S * 1000} ms, failureThreshold 1), ` +
          `${served} requests served by others after that; back in rotation ${Math.round(back.sentAt - backAt)} ms after it passed again; load ${report.requests} requests, ${report.failed} failed`,
      );
      expect(served).toBeGreaterThan(0);
      // Within the probe period, plus the status → EndpointSlice → snapshot propagation.
      expect(leftAfterMs).toBeLessThan(PROBE_PERIOD_S * 1000 + 3_000);
      expect(report.failed, JSON.stringify(report.errors)).toBe(0);
    } finally {
      await load.stop();
    }
  }, 180_000);

  it('a pod SIGKILLed under load costs at most the requests in flight at that moment; it restarts and rejoins', async () => {
    showLogs();
    const running = (await pods(NS, `app=${APP}`)).filter((p) => !p.metadata.deletionTimestamp);
    const victim = running[1]!;
    const pid = Number(victim.status.containerStatuses![0]!.containerID!.replace('process://', ''));
    expect(pid).toBeGreaterThan(1);
    const answers: LoadAnswer[] = [];
    // Slow requests (100 ms) so several are in flight at any moment.
    const load = startLoad({ port: portico!.httpPort, target: () => ({ hostHeader: HOST, path: '/slow?ms=100' }), concurrency: 8, maxMs: 120_000, observe: (a) => answers.push(a) });
    try {
      await sleep(1_500);
      const killedAt = performance.now();
      process.kill(pid, 'SIGKILL');
      const restarted = await eventually(async () => {
        const p = (await pods(NS, `app=${APP}`)).find((x) => x.metadata.name === victim.metadata.name);
        const status = p?.status.containerStatuses?.[0];
        return status && status.restartCount === 1 && status.ready ? status : undefined;
      }, 60_000, 'the killed container restarted and ready');
      expect(restarted.lastState?.terminated?.exitCode).toBe(137);
      await eventually(() => answers.find((a) => a.sentAt > performance.now() - 2_000 && servedBy(a.body) === victim.metadata.name), 30_000, 'the restarted pod back in rotation');
      const report = await load.stop();
      const inFlight = answers.filter((a) => a.sentAt <= killedAt && a.doneAt >= killedAt).length;
      const failedAfter = answers.filter((a) => a.doneAt >= killedAt && (a.error !== undefined || a.status !== 200)).length;
      console.log(
        `SIGKILL under load: ${inFlight} requests in flight (all pods) when pod ${victim.metadata.name} was killed, ${failedAfter} failed after it; ` +
          `load ${report.requests} requests, ${report.failed} failed, statuses ${JSON.stringify(report.statuses)}, errors ${JSON.stringify(report.errors)}`,
      );
      expect(inFlight).toBeGreaterThan(0);
      expect(failedAfter).toBeLessThanOrEqual(inFlight);
      expect(report.failed).toBe(failedAfter);
    } finally {
      await load.stop();
    }
  }, 180_000);
});
