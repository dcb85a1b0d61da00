/**
 * CORS and limit annotations through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/{cors,limitrate,limitconnections}.go: the headers an allowed origin gets
 * (over the backend's own), the preflight Portico answers itself, a disallowed origin getting
 * nothing, a flood beyond limit-rps answered 503 without reaching the backend, limit-whitelist,
 * limit-connections, and an unreadable limit refusing the Ingress.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, RunningProxy } from './test-support.ts';
import { annotatedIngress, appManifests, compileManifests, fetchVia, startBackend, startProxy } from './test-support.ts';

const P = 'nginx.ingress.kubernetes.io/';
const METHODS = 'GET, PUT, POST, DELETE, PATCH, OPTIONS';

function manifests(port: number): string {
  const ingress = (name: string, annotations: Record<string, string>) => annotatedIngress(name, `${name}.test`, annotations);
  return appManifests(port, [
    ingress('cors', { [`${P}enable-cors`]: 'true' }),
    ingress('cors-list', { [`${P}enable-cors`]: 'true', [`${P}cors-allow-origin`]: 'https://app.test, https://*.example.org', [`${P}cors-allow-credentials`]: 'false', [`${P}cors-expose-headers`]: 'X-Id', [`${P}cors-max-age`]: '60', [`${P}cors-allow-methods`]: 'GET, POST' }),
    ingress('rps', { [`${P}limit-rps`]: '2', [`${P}limit-burst-multiplier`]: '1' }),
    ingress('rps-whitelisted', { [`${P}limit-rps`]: '1', [`${P}limit-burst-multiplier`]: '1', [`${P}limit-whitelist`]: '127.0.0.1/32' }),
    ingress('conn', { [`${P}limit-connections`]: '1' }),
    ingress('bad-limit', { [`${P}limit-rps`]: '10r/s' }),
  ]);
}

describe('CORS and limits through the real proxy', () => {
  let backend: Backend;
  let proxy: RunningProxy;
  let conditions: ReturnType<typeof compileManifests>['conditions'];
  const held: ServerResponse[] = [];

  beforeAll(async () => {
    backend = await startBackend((request, response) => {
      // /hold is answered only when the test says so (an in-flight request for limit-connections).
      if (request.url === '/hold') {
        held.push(response);
        return;
      }
      response.setHeader('access-control-allow-origin', 'https://backend.test');
      response.end(`${request.method}`);
    });
    const compiled = compileManifests(manifests(backend.port));
    conditions = compiled.conditions;
    proxy = await startProxy(compiled.router);
  });

  afterAll(async () => {
    for (const response of held) response.end();
    await proxy.close();
    await backend.close();
  });

  it('enable-cors: ingress-nginx defaults on the backend\'s response, replacing its own Access-Control-Allow-Origin', async () => {
    const response = await fetchVia(proxy.port, { host: 'cors.test', headers: { origin: 'https://anyone.test' } });
    expect(response.status).toBe(200);
    expect(response.body).toBe('GET');
    expect(response.headers['access-control-allow-origin']).toBe('*');
    expect(response.headers['access-control-allow-credentials']).toBe('true');
    expect(response.headers['access-control-allow-methods']).toBe(METHODS);
    expect(response.headers['access-control-allow-headers']).toBe('DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization');
    expect(response.headers['access-control-max-age']).toBe('1728000');
    expect(response.headers['access-control-expose-headers']).toBeUndefined();
  });

  it('a preflight is answered 204 by Portico and never reaches the backend', async () => {
    const before = backend.requests;
    const response = await fetchVia(proxy.port, { host: 'cors-list.test', method: 'OPTIONS', headers: { origin: 'https://app.test', 'access-control-request-method': 'POST' } });
    expect(response.status).toBe(204);
    expect(backend.requests).toBe(before);
    expect(response.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
    expect(response.headers['access-control-allow-methods']).toBe('GET, POST');
    expect(response.headers['access-control-expose-headers']).toBe('X-Id');
    expect(response.headers['access-control-max-age']).toBe('60');
    expect([response.headers['content-length'], response.headers['content-type']]).toEqual(['0', 'text/plain charset=UTF-8']);
  });

  it('a wildcard origin matches one label; the allowed origin is echoed on the backend\'s response', async () => {
    const response = await fetchVia(proxy.port, { host: 'cors-list.test', headers: { origin: 'https://api.example.org' } });
    expect([response.status, response.headers['access-control-allow-origin']]).toEqual([200, 'https://api.example.org']);
  });

  it('hostile: a preflight from a disallowed origin gets no CORS header from Portico (the browser blocks it)', async () => {
    for (const origin of ['https://evil.test', 'https://a.b.example.org', 'https://app.test.evil.test']) {
      const before = backend.requests;
      const response = await fetchVia(proxy.port, { host: 'cors-list.test', method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'DELETE' } });
      // Proxied as any request (ingress-nginx does the same); only the backend's own header comes back.
      expect(response.status).toBe(200);
      expect(backend.requests).toBe(before + 1);
      expect(response.headers['access-control-allow-origin']).toBe('https://backend.test');
      expect(response.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it('hostile: a flood beyond limit-rps gets 503 and never reaches the backend (bounded: 40 requests)', async () => {
    const before = backend.requests;
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await fetchVia(proxy.port, { host: 'rps.test' })).status);
    const passed = statuses.filter((status) => status === 200).length;
    // rps 2 with burst 2: three at once, plus what leaks while the flood lasts.
    expect(passed).toBeGreaterThanOrEqual(3);
    expect(passed).toBeLessThan(20);
    expect(statuses.filter((status) => status === 503).length).toBe(40 - passed);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    expect(backend.requests - before).toBe(passed);
  });

  it('limit-whitelist: a client inside it is never limited', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await fetchVia(proxy.port, { host: 'rps-whitelisted.test' })).status);
    expect(statuses).toEqual(Array(10).fill(200));
  });

  it('limit-connections 1: a second request while one is in flight gets 503; the slot comes back when it ends', async () => {
    const first = fetchVia(proxy.port, { host: 'conn.test', path: '/hold' });
    while (held.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect((await fetchVia(proxy.port, { host: 'conn.test' })).status).toBe(503);
    held.shift()!.end('done');
    expect((await first).status).toBe(200);
    expect((await fetchVia(proxy.port, { host: 'conn.test' })).status).toBe(200);
  });

  it('hostile: an unreadable limit refuses the Ingress (503, Error condition) instead of serving it unlimited', async () => {
    expect((await fetchVia(proxy.port, { host: 'bad-limit.test' })).status).toBe(503);
    const errors = conditions.filter((c) => c.source.name === 'bad-limit' && c.severity === 'Error');
    expect(errors.map((c) => c.field)).toEqual([`metadata.annotations['${P}limit-rps']`]);
  });

  it('every cors-* and limit-* annotation used here is honoured (no UnsupportedAnnotation warning)', () => {
    expect(conditions.filter((c) => c.reason === 'UnsupportedAnnotation')).toEqual([]);
  });
});
