/**
 * proxy-next-upstream, -tries and -timeout through the real proxy, modelled on nginx's
 * proxy_next_upstream as ingress-nginx exposes it: Services whose endpoints answer 503 or reset
 * the connection after reading the request; which failures go on to another endpoint, how many
 * endpoints are tried, non-idempotent requests, `off`, and bad values as Warnings.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** What each endpoint (by its port) does: answer, answer 503, or reset the connection. */
const modes = new Map<number, 'ok' | '503' | 'reset'>();
const hits = new Map<number, number>();

function backend(name: string) {
  return (request: IncomingMessage, response: ServerResponse): void => {
    const port = request.socket.localPort ?? 0;
    hits.set(port, (hits.get(port) ?? 0) + 1);
    request.resume();
    request.on('end', () => {
      const mode = modes.get(port) ?? 'ok';
      if (mode === 'reset') return void request.socket.destroy();
      response.statusCode = mode === '503' ? 503 : 200;
      response.end(JSON.stringify({ service: name, port, mode }));
    });
  };
}

const route = (name: string, service: string, annotations: Record<string, string> = {}) => ({ name, hosts: [`${name}.test`], paths: [{ path: '/', service }], annotations });

describe('proxy-next-upstream (nginx proxy_next_upstream)', () => {
  let proxy: AnnotatedProxy;
  const portOf = (key: string): number => proxy.backends.get(key)?.port as number;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        route('http503', 'flaky', { [`${A}proxy-next-upstream`]: 'error timeout http_503' }),
        route('default503', 'flaky'),
        route('tries1', 'flaky', { [`${A}proxy-next-upstream`]: 'http_503', [`${A}proxy-next-upstream-tries`]: '1' }),
        route('alldown', 'down', { [`${A}proxy-next-upstream`]: 'http_503', [`${A}proxy-next-upstream-tries`]: '0' }),
        route('post', 'mixed', { [`${A}proxy-next-upstream`]: 'error' }),
        route('postok', 'mixed', { [`${A}proxy-next-upstream`]: 'error non_idempotent' }),
        route('off', 'mixed', { [`${A}proxy-next-upstream`]: 'off' }),
        route('builtin', 'mixed'),
        route('bad', 'flaky', { [`${A}proxy-next-upstream`]: 'error bogus http_999', [`${A}proxy-next-upstream-tries`]: '-1', [`${A}proxy-next-upstream-timeout`]: 'soon' }),
      ],
      ['flaky*3', 'down*2', 'mixed*2'],
      {},
      { flaky: backend('flaky'), down: backend('down'), mixed: backend('mixed') },
    );
    modes.set(portOf('flaky'), '503');
    modes.set(portOf('down'), '503');
    modes.set(portOf('down#1'), '503');
    modes.set(portOf('mixed'), 'reset');
  });

  afterAll(() => proxy.close());

  async function statuses(host: string, n: number, method = 'GET'): Promise<Record<number, number>> {
    const counts: Record<number, number> = {};
    for (let i = 0; i < n; i++) {
      const response = await proxy.fetch(host, '/', method === 'GET' ? {} : { method, body: 'payload' });
      counts[response.status] = (counts[response.status] ?? 0) + 1;
    }
    return counts;
  }

  it('http_503: a 503 endpoint is skipped, every request is answered by another', async () => {
    expect(await statuses('http503.test', 12)).toEqual({ 200: 12 });
  });

  it('without the annotation a 503 is relayed (nginx default: error timeout)', async () => {
    const counts = await statuses('default503.test', 12);
    expect(counts[503] ?? 0).toBeGreaterThanOrEqual(3);
    expect(counts[200] ?? 0).toBeGreaterThanOrEqual(3);
  });

  it('tries 1: no other endpoint is tried, the 503 is relayed', async () => {
    expect((await statuses('tries1.test', 12))[503] ?? 0).toBeGreaterThanOrEqual(3);
  });

  it('when every endpoint answers 503, the last 503 is relayed and each endpoint is tried once', async () => {
    const before = (hits.get(portOf('down')) ?? 0) + (hits.get(portOf('down#1')) ?? 0);
    const response = await proxy.fetch('alldown.test', '/');
    expect(response.status).toBe(503);
    expect(JSON.parse(response.body)).toMatchObject({ service: 'down', mode: '503' });
    expect((hits.get(portOf('down')) ?? 0) + (hits.get(portOf('down#1')) ?? 0) - before).toBe(2);
  });

  it('error: a POST that reached a resetting endpoint is not sent again (502) unless non_idempotent', async () => {
    const refused = await statuses('post.test', 8, 'POST');
    expect(refused[502] ?? 0).toBeGreaterThanOrEqual(2);
    expect(await statuses('postok.test', 8, 'POST')).toEqual({ 200: 8 });
    expect(await statuses('post.test', 8)).toEqual({ 200: 8 });
  });

  it('off: a reset answers 502 where the built-in policy retries an idempotent request once', async () => {
    expect((await statuses('off.test', 8))[502] ?? 0).toBeGreaterThanOrEqual(2);
    expect(await statuses('builtin.test', 8)).toEqual({ 200: 8 });
  });

  it('bad values are Warnings naming each annotation; the rest applies', async () => {
    expect(proxy.conditionsOf('bad').map(([reason, severity, field]) => `${reason}/${severity}/${field}`)).toEqual([
      `InvalidAnnotation/Warning/metadata.annotations['${A}proxy-next-upstream']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}proxy-next-upstream-timeout']`,
      `InvalidAnnotation/Warning/metadata.annotations['${A}proxy-next-upstream-tries']`,
    ]);
    const explained = proxy.explainer.explain({ host: 'bad.test', path: '/' });
    expect(explained.policies).toEqual(['proxy-next-upstream: error, at most 3 endpoints']);
  });
});
