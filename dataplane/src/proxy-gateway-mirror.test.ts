// Gateway API RequestMirror through the real proxy: the mirror backend gets a copy (head and a
// small body), the client gets the real backend's answer; a mirror that is down, silent or
// unresolved changes nothing for the client; copies are bounded in number; a copy never reaches
// an address the endpoint address policy refuses (an IP literal is logged, once), a hostname's included.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRouteFilters } from '@portico/control/snapshot/policies/gateway-filters';
import type { RoutePolicies } from '@portico/control/snapshot/policies';
import { Router } from './router.ts';
import { MAX_MIRRORS_IN_FLIGHT, mirrorStats } from './mirror.ts';
import type { Backend, RunningProxy } from './test-support.ts';
import { LOOPBACK, closedPort, fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  body: string;
  copied: string | string[] | undefined;
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 10));
}

describe('proxy: Gateway API RequestMirror', () => {
  let main: Backend;
  let mirror: Backend;
  let blackHole: Server;
  const held: Socket[] = [];
  const mirrored: Seen[] = [];
  let proxy: RunningProxy;

  beforeAll(async () => {
    main = await startBackend((request, response) => {
      request.resume();
      request.on('end', () => response.end('main'));
    });
    mirror = await startBackend((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        mirrored.push({ method: request.method ?? '', url: request.url ?? '', host: request.headers.host, body: Buffer.concat(chunks).toString(), copied: request.headers['x-copied'] });
        // A slow mirror: the client must not wait for it.
        setTimeout(() => response.end('mirror'), 300);
      });
    });
    // Accepts and never answers.
    blackHole = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => blackHole.listen(0, LOOPBACK, resolve));
    const down = await closedPort();
    // Each mirror target is its own host route, so the snapshot has its endpoint set; the key is `test/svc-<host>-<route>:80`.
    const targets = [mirror.port, down, (blackHole.address() as AddressInfo).port];
    const resolveMirror = (ref: unknown) => {
      const i = Number((ref as { name: string }).name);
      return { namespace: 'test', service: `svc-${i + 1}-0`, port: 80, endpointSet: i === 3 ? undefined : `test/svc-${i + 1}-0:80` };
    };
    const policies = (filters: unknown[]): RoutePolicies => {
      const reading = httpRouteFilters(filters, 'spec.rules[0]', { resolveMirror });
      if (reading.policies === undefined) throw new Error(JSON.stringify(reading.problems));
      return reading.policies;
    };
    const to = (i: number, extra: Record<string, unknown> = {}) => ({ type: 'RequestMirror', requestMirror: { backendRef: { name: String(i), port: 80 }, ...extra } });
    const router = new Router();
    router.load(snapshotOf([
      {
        host: 'mirror.test',
        routes: [
          { kind: 'HTTPRoute', path: '/copy', endpoints: [main.port], policies: policies([to(0), { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Copied', value: 'yes' }] } }]) },
          { kind: 'HTTPRoute', path: '/down', endpoints: [main.port], policies: policies([to(1), to(3)]) },
          { kind: 'HTTPRoute', path: '/hole', endpoints: [main.port], policies: policies([to(2)]) },
          { kind: 'HTTPRoute', path: '/never', endpoints: [main.port], policies: policies([to(0, { percent: 0 })]) },
        ],
      },
      ...targets.map((port, i) => ({ host: `target-${i}.test`, routes: [{ endpoints: [port] }] })),
    ]));
    proxy = await startProxy(router);
  });

  afterAll(async () => {
    await proxy.close();
    for (const socket of held) socket.destroy();
    blackHole.close();
    await Promise.all([main.close(), mirror.close()]);
  });

  it('the mirror gets a copy of the request, body and the rule\'s header changes included; the client gets the real answer', async () => {
    const response = await fetchVia(proxy.port, { host: 'mirror.test', path: '/copy/x?q=1', method: 'POST', body: 'hello' });
    expect(response.body).toBe('main');
    await until(() => mirrored.length === 1);
    expect(mirrored).toEqual([{ method: 'POST', url: '/copy/x?q=1', host: 'mirror.test', body: 'hello', copied: 'yes' }]);
  });

  it('a mirror that is down, has no endpoints or never answers changes nothing for the client', async () => {
    for (let i = 0; i < 5; i++) {
      expect((await fetchVia(proxy.port, { host: 'mirror.test', path: '/down' })).body).toBe('main');
      expect((await fetchVia(proxy.port, { host: 'mirror.test', path: '/hole' })).body).toBe('main');
    }
  });

  it('percent 0 copies nothing', async () => {
    const before = mirror.requests;
    await fetchVia(proxy.port, { host: 'mirror.test', path: '/never' });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(mirror.requests).toBe(before);
  });

  it('hostile: a chunked body is not held back for a copy, and copies in flight stay bounded', async () => {
    const skipped = mirrorStats.skipped;
    expect((await fetchVia(proxy.port, { host: 'mirror.test', path: '/copy', method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'streamed' })).body).toBe('main');
    expect(mirrorStats.skipped).toBe(skipped + 1);
    const requests = Array.from({ length: MAX_MIRRORS_IN_FLIGHT + 40 }, () => fetchVia(proxy.port, { host: 'mirror.test', path: '/hole' }));
    const bodies = (await Promise.all(requests)).map((r) => r.body);
    expect(bodies.every((body) => body === 'main')).toBe(true);
    expect(mirrorStats.inFlight).toBeLessThanOrEqual(MAX_MIRRORS_IN_FLIGHT);
    expect(mirrorStats.skipped).toBeGreaterThan(skipped + 1);
  });
});

describe('proxy: RequestMirror and the endpoint address policy', () => {
  it('hostile: a mirror backend named by a hostname that resolves to loopback (an ExternalName `localhost`) gets no copy when loopback is refused', async () => {
    const mirror = await startBackend((request, response) => {
      request.resume();
      response.end('mirror');
    });
    const resolveMirror = () => ({ namespace: 'test', service: 'svc-1-0', port: 80, endpointSet: 'test/svc-1-0:80' });
    const reading = httpRouteFilters([{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'ext', port: 80 } } }], 'spec.rules[0]', { resolveMirror });
    if (reading.policies === undefined) throw new Error(JSON.stringify(reading.problems));
    const router = new Router();
    router.load(snapshotOf([
      { host: 'mirror.test', routes: [{ kind: 'HTTPRoute', path: '/', endpoints: [await closedPort()], policies: reading.policies }] },
      { host: 'target.test', routes: [{ endpoints: [`localhost:${mirror.port}`] }] },
    ]));
    const proxy = await startProxy(router, { endpointAddresses: {} });
    try {
      const sent = mirrorStats.sent;
      for (let i = 0; i < 3; i++) await fetchVia(proxy.port, { host: 'mirror.test', path: '/' });
      await until(() => mirrorStats.inFlight === 0);
      expect(mirrorStats.sent).toBe(sent + 3);
      expect(mirror.requests).toBe(0);
    } finally {
      await proxy.close();
      router.close();
      await mirror.close();
    }
  });

  it('hostile: a mirror backend at a loopback IP gets no copy when loopback is refused, and the refusal is logged once naming the endpoint', async () => {
    const mirror = await startBackend((request, response) => {
      request.resume();
      response.end('mirror');
    });
    const logged: Record<string, unknown>[] = [];
    const logger = pino(new Writable({ write: (chunk: Buffer, _encoding, done) => (logged.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) }));
    const resolveMirror = () => ({ namespace: 'test', service: 'svc-1-0', port: 80, endpointSet: 'test/svc-1-0:80' });
    const reading = httpRouteFilters([{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'local', port: 80 } } }], 'spec.rules[0]', { resolveMirror });
    if (reading.policies === undefined) throw new Error(JSON.stringify(reading.problems));
    const router = new Router();
    router.load(snapshotOf([
      { host: 'mirror.test', routes: [{ kind: 'HTTPRoute', path: '/', endpoints: [await closedPort()], policies: reading.policies }] },
      { host: 'target.test', routes: [{ endpoints: [mirror.port] }] },
    ]));
    const proxy = await startProxy(router, { endpointAddresses: {}, logger });
    try {
      const skipped = mirrorStats.skipped;
      for (let i = 0; i < 3; i++) await fetchVia(proxy.port, { host: 'mirror.test', path: '/' });
      expect(mirrorStats.skipped).toBeGreaterThanOrEqual(skipped + 3);
      expect(mirror.requests).toBe(0);
      const refusals = logged.filter((line) => line.endpoint === `${LOOPBACK}:${mirror.port}`);
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ address: LOOPBACK, reason: 'loopback' });
    } finally {
      await proxy.close();
      router.close();
      await mirror.close();
    }
  });
});
