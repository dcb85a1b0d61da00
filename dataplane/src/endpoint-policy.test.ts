import { afterEach, describe, expect, it } from 'vitest';
import { ProxyMetrics } from './metrics.ts';
import type { ProxyOptions } from './proxy.ts';
import { Router } from './router.ts';
import { fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';
import { addressClass, externalNameClass } from '@portico/control/snapshot/address';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('addressClass', () => {
  const node = new Set(['10.1.2.3', 'fd00::5']);
  const cases: [string, ReturnType<typeof addressClass>][] = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['10.1.2.3', 'node'],
    ['FD00::5', 'node'],
    ['10.1.2.4', undefined],
    ['169.255.0.1', undefined],
    ['fec0::1', undefined],
    ['example.com', undefined],
  ];
  for (const [address, want] of cases) it(`${address} -> ${String(want)}`, () => expect(addressClass(address, node)).toBe(want));
  it('ExternalName names: localhost and *.localhost are loopback without DNS', () => {
    expect(['localhost', 'LOCALHOST.', 'api.localhost', '169.254.169.254', 'api.partner.example'].map((name) => externalNameClass(name))).toEqual(['loopback', 'loopback', 'loopback', 'link-local', undefined]);
  });
});

describe('proxy: endpoint address policy', () => {
  async function proxyTo(endpoints: (number | string)[], options: ProxyOptions) {
    const backend = await startBackend((_request, response) => response.end('secret'));
    cleanups.push(() => backend.close());
    const router = new Router();
    router.load(snapshotOf([{ host: 'ext.test', routes: [{ path: '/', endpoints: endpoints.map((e) => (e === 0 ? backend.port : typeof e === 'string' ? e.replace('PORT', String(backend.port)) : e)) }] }]));
    const metrics = new ProxyMetrics(router);
    const proxy = await startProxy(router, { metrics, ...options });
    cleanups.push(async () => {
      await proxy.close();
      router.close();
    });
    return { backend, port: proxy.port, metrics };
  }
  const refusedCount = (metrics: ProxyMetrics, reason: string) => metrics.families().find((f) => f.name === 'portico_endpoint_address_refused_total')?.samples.find((s) => s.labels.reason === reason)?.value ?? 0;

  it('refuses a loopback endpoint by default: 502, nothing reaches it, counted', async () => {
    const { backend, port, metrics } = await proxyTo([0], { endpointAddresses: {} });
    expect((await fetchVia(port, { host: 'ext.test' })).status).toBe(502);
    expect(backend.requests).toBe(0);
    expect(refusedCount(metrics, 'loopback')).toBe(1);
  });

  it('refuses an ExternalName-style hostname that resolves to loopback (localhost), after DNS', async () => {
    const { backend, port } = await proxyTo(['localhost:PORT'], { endpointAddresses: {} });
    expect((await fetchVia(port, { host: 'ext.test' })).status).toBe(502);
    expect(backend.requests).toBe(0);
  });

  it('serves loopback endpoints when allowed (tests, standalone)', async () => {
    const { port } = await proxyTo([0, 'localhost:PORT'], { endpointAddresses: { allowLoopback: true } });
    expect((await fetchVia(port, { host: 'ext.test' })).body).toBe('secret');
    expect((await fetchVia(port, { host: 'ext.test' })).body).toBe('secret');
  });
});

describe('CLI defaults of the endpoint address policy', () => {
  it('portico dataplane refuses loopback unless --allow-loopback-endpoints; standalone allows it', async () => {
    const { servingOptions, SERVING_OPTIONS } = await import('./cli/options.ts');
    const { parseArgs } = await import('node:util');
    const values = (args: string[]) => parseArgs({ args, options: SERVING_OPTIONS, allowNegative: true }).values as Record<string, unknown>;
    const command = (name: string) => ({ name, summary: '', usage: '', run: async () => 0 }) as never;
    expect(servingOptions(command('dataplane'), values([])).proxy?.endpointAddresses).toEqual({ allowLoopback: false, allowLinkLocal: false });
    expect(servingOptions(command('dataplane'), values(['--allow-loopback-endpoints'])).proxy?.endpointAddresses).toEqual({ allowLoopback: true, allowLinkLocal: false });
    expect(servingOptions(command('standalone'), values([])).proxy?.endpointAddresses).toEqual({ allowLoopback: true, allowLinkLocal: false });
    expect(servingOptions(command('standalone'), values(['--no-allow-loopback-endpoints'])).proxy?.endpointAddresses).toEqual({ allowLoopback: false, allowLinkLocal: false });
  });
});
