// Route labels of a bundle made in this process (standalone's shared BundleCompiler) are read line
// by line from the compiler's line text: loading a version never joins the whole routeLabels text
// (megabytes at 50,000 Ingresses), and every route id still gets exactly the label the text gives
// it — across versions that edit, add and remove hosts, with mirror and default-backend routes,
// and through a request's metrics series on the real proxy.
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import type { TableBundle } from '@portico/control/snapshot/bundle';
import { describe, expect, it } from 'vitest';
import { ProxyMetrics } from './metrics.ts';
import { Router } from './router.ts';
import { LOOPBACK, annotatedIngress, appManifests, compileManifests, fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** `bundle` with its routeLabels getter counted: the text is joined only when this is read. */
function counted(bundle: TableBundle): { bundle: TableBundle; reads: () => number } {
  const getter = Object.getOwnPropertyDescriptor(bundle, 'routeLabels')!.get!;
  let reads = 0;
  Object.defineProperty(bundle, 'routeLabels', { get: () => (reads++, getter.call(bundle)), enumerable: true, configurable: true });
  return { bundle, reads: () => reads };
}

/** A snapshot of `hosts` hosts with 1-3 paths each (multi-line label segments), host `edited` with one path more. */
function world(hosts: number, edited = -1) {
  return snapshotOf(Array.from({ length: hosts }, (_, h) => ({ host: `h${h}.labels.test`, routes: Array.from({ length: 1 + (h % 3) + (h === edited ? 1 : 0) }, (_, r) => ({ path: `/p${r}`, endpoints: [20_000 + h] })) })));
}

describe('route labels read line by line from an in-process bundle', () => {
  it('never joins the routeLabels text on load, and every id has the label of the text', () => {
    const compiler = new BundleCompiler();
    const router = new Router({ compiler });
    for (const [step, snapshot] of [world(300), world(300, 17), world(300, 250), world(200, 5), world(420, 399)].entries()) {
      const { bundle, reads } = counted(compiler.compile(snapshot));
      router.loadBundle(bundle, true);
      const labels = router.current!.routeLabels;
      for (let id = 0; id < labels.count; id += 7) labels.at(id);
      expect(reads(), `step ${step}: text joined on load`).toBe(0);
      // Only now the text, as a received bundle would carry it: the same labels, id by id.
      const text = bundle.routeLabels.split('\n');
      expect(labels.count, `step ${step}`).toBe(text.length);
      for (let id = 0; id < text.length; id++) expect(labels.at(id), `step ${step} id ${id}`).toBe(text[id]);
      expect(labels.at(text.length)).toBeUndefined();
      expect(labels.at(-1)).toBeUndefined();
      for (const label of text) expect(labels.has(label)).toBe(true);
      expect(labels.has('absent')).toBe(false);
    }
  });

  it('labels mirror and default-backend routes and a catch-all as the text does, and a request counts under its label', async () => {
    const backend = await startBackend((_request, response) => response.end('ok'));
    const documents = [
      annotatedIngress('plain', 'plain.test', {}),
      annotatedIngress('mirrored', 'mirrored.test', { [`${A}mirror-target`]: `http://${LOOPBACK}:${backend.port}$request_uri` }),
      annotatedIngress('fallback', 'fallback.test', { [`${A}default-backend`]: 'app' }),
    ];
    const compiled = compileManifests(appManifests(backend.port, documents));
    const compiler = new BundleCompiler();
    const router = new Router({ compiler });
    const { bundle, reads } = counted(compiler.compile(compiled.snapshot));
    router.loadBundle(bundle, true);
    const metrics = new ProxyMetrics(router);
    const proxy = await startProxy(router, { metrics });
    try {
      const response = await fetchVia(proxy.port, { host: 'plain.test', path: '/x' });
      expect(response.status).toBe(200);
      expect(reads()).toBe(0);
      const labels = bundle.routeLabels.split('\n');
      const loaded = router.current!.routeLabels;
      expect(loaded.count).toBe(labels.length);
      for (let id = 0; id < labels.length; id++) expect(loaded.at(id), `id ${id}`).toBe(labels[id]);
      const requests = metrics.families().find((family) => family.name === 'portico_requests_total');
      const routes = requests?.samples.map((sample) => sample.labels?.route);
      expect(routes?.some((route) => route !== undefined && route.includes('plain'))).toBe(true);
    } finally {
      await proxy.close();
      await backend.close();
    }
  });
});
