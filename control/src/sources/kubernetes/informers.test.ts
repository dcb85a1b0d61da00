import type { ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterState } from '../../state/cluster-state.ts';
import { KubernetesSource, restartDelay } from './informers.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const basicSecret = (name: string, resourceVersion: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  type: 'Opaque',
  metadata: { name, namespace: 'team', resourceVersion, managedFields: [{ manager: 'kubectl', operation: 'Update' }] },
  data: { auth: b64('user:$apr1$x$y'), password: b64('hunter2'), 'db-url': b64('postgres://admin:s3cret@db') },
});
const ingress = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web', namespace: 'team', resourceVersion: '4', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"blob"}' } },
  spec: { rules: [{ host: 'web.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
};

/**
 * A loopback API server: lists answer `lists[path + fieldSelector]` (empty otherwise), watches
 * stay open and are kept by path so a test can send events and end them. `kubeConfig` is pointed at it.
 */
async function fakeApiServer(lists: Record<string, unknown[]>, kubeConfig: KubeConfig = new KubeConfig()) {
  const watches = new Map<string, ServerResponse>();
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://api');
    const key = `${url.pathname}${url.searchParams.has('fieldSelector') ? `?${url.searchParams.get('fieldSelector')}` : ''}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    if (url.searchParams.get('watch') === 'true') {
      watches.set(key, res);
      res.flushHeaders();
      return;
    }
    res.end(JSON.stringify({ kind: 'List', metadata: { resourceVersion: '10' }, items: lists[key] ?? [] }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  kubeConfig.loadFromOptions({
    // Plain HTTP on loopback: client-node's watch refuses it unless TLS verification is off.
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'none' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'none' }],
    currentContext: 'fake',
  });
  const close = async () => {
    for (const res of watches.values()) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return { kubeConfig, watches, lists, close };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (const start = Date.now(); !check(); ) {
    if (Date.now() - start > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('KubernetesSource', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  it('keeps of each watched object only its name, namespace and resourceVersion in the informer cache (no Opaque Secret key Portico drops), and still follows updates and relist deletes', async () => {
    const api = await fakeApiServer({ '/api/v1/secrets?type=Opaque': [basicSecret('basic', '3')], '/apis/networking.k8s.io/v1/ingresses': [ingress] });
    const state = new ClusterState();
    const source = new KubernetesSource(state, { kubeConfig: api.kubeConfig, namespaces: [], onChange: () => undefined, onError: () => undefined, backoff: { baseMs: 10, maxMs: 50 } });
    cleanup = async () => {
      await source.stop();
      await api.close();
    };
    await source.start();
    expect(state.secrets.get('team/basic')?.data).toEqual({ auth: b64('user:$apr1$x$y') });
    expect(state.ingresses.get('team/web')?.spec.rules?.[0]?.host).toBe('web.example.com');
    expect(source.cachedObjects()).toEqual(
      expect.arrayContaining([{ metadata: { name: 'basic', namespace: 'team', resourceVersion: '3' } }, { metadata: { name: 'web', namespace: 'team', resourceVersion: '4' } }]),
    );
    // A watch event: read into the state, cut down in the cache.
    await until(() => api.watches.has('/api/v1/secrets?type=Opaque'), 'the Opaque Secret watch');
    api.watches.get('/api/v1/secrets?type=Opaque')!.write(`${JSON.stringify({ type: 'ADDED', object: basicSecret('second', '11') })}\n`);
    await until(() => state.secrets.has('team/second'), 'the watched Secret');
    const cached = JSON.stringify(source.cachedObjects());
    for (const secretText of [b64('hunter2'), b64('postgres://admin:s3cret@db'), 'managedFields', 'last-applied', 'web.example.com']) expect(cached).not.toContain(secretText);
    // An update is still told from the cached resourceVersion, and a relist (410 Gone) still finds the deleted Ingress.
    await until(() => api.watches.has('/apis/networking.k8s.io/v1/ingresses'), 'the Ingress watch');
    const watch = api.watches.get('/apis/networking.k8s.io/v1/ingresses')!;
    watch.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...ingress, metadata: { ...ingress.metadata, resourceVersion: '12' }, spec: { rules: [{ ...ingress.spec.rules[0], host: 'www.example.com' }] } } })}\n`);
    await until(() => state.ingresses.get('team/web')?.spec.rules?.[0]?.host === 'www.example.com', 'the Ingress update');
    api.lists['/apis/networking.k8s.io/v1/ingresses'] = [];
    watch.end(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } })}\n`);
    await until(() => !state.ingresses.has('team/web'), 'the relist delete');
  }, 30_000);

  it('backs off a rejected informer start (a watch whose credentials fail) and says so once per informer and error', async () => {
    // Lists (kubeCall) work; every watch request's credentials fail, as a broken exec plugin's would: start() rejects.
    let failure = 'exec plugin: credentials expired';
    const attempts = new Map<string, number>();
    class FailingWatchConfig extends KubeConfig {
      override async applySecurityAuthentication(context: { getUrl(): string }): Promise<void> {
        const path = new URL(context.getUrl()).pathname;
        attempts.set(path, (attempts.get(path) ?? 0) + 1);
        throw new Error(failure);
      }
    }
    const api = await fakeApiServer({}, new FailingWatchConfig());
    const logged: { message: string; path: unknown; error: unknown }[] = [];
    const source = new KubernetesSource(new ClusterState(), {
      kubeConfig: api.kubeConfig,
      namespaces: [],
      onChange: () => undefined,
      onError: (message, details) => logged.push({ message, path: details.path, error: details.error }),
      backoff: { baseMs: 20, maxMs: 80 },
    });
    cleanup = async () => {
      await source.stop();
      await api.close();
    };
    await source.start();
    const paths = new Set(source['informers'].map((entry) => entry.path.replace(/\?.*/, '')));
    // Retried at the back-off's pace (at most 80 ms apart), not once a second.
    await until(() => [...paths].every((path) => (attempts.get(path) ?? 0) >= 8), 'eight attempts of every watch');
    const started = logged.filter((line) => line.message.startsWith('informer start failed'));
    expect(started.length).toBe(source['informers'].length);
    expect(new Set(started.map((line) => line.error))).toEqual(new Set(['exec plugin: credentials expired']));
    // Another error is said once more per informer.
    failure = 'exec plugin: not found';
    const before = new Map(attempts);
    await until(() => [...paths].every((path) => attempts.get(path)! >= before.get(path)! + 3), 'three attempts with the new error');
    expect(logged.filter((line) => line.error === 'exec plugin: not found').length).toBe(source['informers'].length);
    expect(logged.every((line) => line.message.startsWith('informer start failed'))).toBe(true);
  }, 30_000);
});

describe('restartDelay', () => {
  it.each([
    { failures: 1, low: 250, high: 500 },
    { failures: 2, low: 500, high: 1000 },
    { failures: 4, low: 2000, high: 4000 },
    { failures: 7, low: 15_000, high: 30_000 },
    { failures: 1000, low: 15_000, high: 30_000 },
  ])('after $failures failures: between $low and $high ms (doubling from 500 ms, capped at 30 s, jittered over the upper half)', ({ failures, low, high }) => {
    const backoff = { baseMs: 500, maxMs: 30_000 };
    expect(restartDelay(failures, backoff, () => 0)).toBe(low);
    expect(restartDelay(failures, backoff, () => 1)).toBe(high);
    expect(restartDelay(failures, backoff, () => 0.5)).toBe((low + high) / 2);
  });
});
