/**
 * `portico check --kubeconfig` against a real kube-apiserver: the same facts as from manifests,
 * read once with the controller's informers, namespace filter honoured.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestCluster } from '../cluster/cluster.ts';
import { startCluster } from '../cluster/cluster.ts';
import { kubectl } from '../support/kubectl.ts';
import { PORTICO } from '../support/processes.ts';

const run = promisify(execFile);

async function portico(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [PORTICO, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const N = 'nginx.ingress.kubernetes.io/';

function ingress(namespace: string, name: string, annotations: Record<string, string>): object {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace, annotations },
    spec: { rules: [{ host: `${name}.${namespace}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
  };
}

describe('portico check --kubeconfig', () => {
  let cluster: TestCluster;

  beforeAll(async () => {
    cluster = await startCluster({ workloads: false });
    for (const ns of ['shop', 'ops']) await kubectl(cluster.kubeconfig, ['create', 'namespace', ns]);
    const objects = [
      ingress('shop', 'mixed', { [`${N}rewrite-target`]: '/', [`${N}app-root`]: '/app', [`${N}made-up-thing`]: '1' }),
      ingress('ops', 'admin', { [`${N}enable-modsecurity`]: 'true' }),
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } },
    ];
    await kubectl(cluster.kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  }, 240_000);

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('reports every namespace by default, the 503 Ingress first, and exits 1', async () => {
    const { code, stdout } = await portico('check', '--kubeconfig', cluster.kubeconfig, '--json');
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as { ingresses: { namespace: string; name: string; status: string; annotations: { key: string; verdict: string }[] }[]; summary: { refused: string[] } };
    expect(report.ingresses.map((i) => [i.namespace, i.name, i.status])).toEqual([['ops', 'admin', 'refused'], ['shop', 'mixed', 'served']]);
    expect(report.ingresses[1]!.annotations.map((a) => [a.key, a.verdict])).toEqual([[`${N}app-root`, 'approximated'], [`${N}made-up-thing`, 'unsupported'], [`${N}rewrite-target`, 'honoured']]);
    expect(report.summary.refused).toEqual(['ops/admin']);
  });

  it('--namespace narrows the read; exit 0 when nothing there answers 503', async () => {
    const { code, stdout } = await portico('check', '--kubeconfig', cluster.kubeconfig, '--namespace', 'shop');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Ingress shop\/mixed: served/);
    expect(stdout).not.toContain('ops/admin');
    expect(stdout).toContain('1 Ingress: 1 served, 0 not served (503)');
  });
});
