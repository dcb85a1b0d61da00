import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Router } from './router.ts';
import { LOOPBACK, fetchVia, keepAliveAgent, snapshotOf, startBackend, startProxy } from './test-support.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function slowSetup(delayMs: number) {
  const backend = await startBackend((request, response) => {
    const delay = request.url === '/slow' ? delayMs : 0;
    setTimeout(() => response.end(`done ${request.url}`), delay);
  });
  cleanups.push(() => backend.close());
  const router = new Router();
  router.load(snapshotOf([{ host: 'life.test', routes: [{ endpoints: [backend.port] }] }]));
  const proxy = await startProxy(router);
  return { backend, proxy };
}

/** Resolves when the socket closes; a socket connected to the proxy and idle. */
function idleConnection(port: number): Promise<{ closed: Promise<void> }> {
  return new Promise((resolve) => {
    const socket = connect(port, LOOPBACK, () => resolve({ closed: new Promise((closed) => socket.on('close', () => closed())) }));
    socket.on('error', () => {});
  });
}

describe('proxy: graceful close', () => {
  it('waits for an in-flight slow request, answers it with Connection: close, closes idle connections at once', async () => {
    const { proxy } = await slowSetup(300);
    const idle = await idleConnection(proxy.port);
    const agent = keepAliveAgent();
    expect((await fetchVia(proxy.port, { host: 'life.test', agent })).status).toBe(200);
    const slow = fetchVia(proxy.port, { host: 'life.test', path: '/slow', agent });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    proxy.server.close();
    const closing = proxy.proxy.close({ timeoutMs: 5000 });
    await idle.closed;
    expect(performance.now() - started).toBeLessThan(200);
    const response = await slow;
    expect(response).toMatchObject({ status: 200, body: 'done /slow' });
    expect(response.headers.connection).toBe('close');
    await closing;
    expect(proxy.proxy.activeConnections).toBe(0);
    agent.destroy();
  });

  it('destroys what is still in flight when the bound passes', async () => {
    const { proxy } = await slowSetup(5000);
    const slow = fetchVia(proxy.port, { host: 'life.test', path: '/slow' }).then(
      () => 'answered',
      () => 'cut off',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    proxy.server.close();
    await proxy.proxy.close({ timeoutMs: 200 });
    expect(performance.now() - started).toBeLessThan(1000);
    expect(await slow).toBe('cut off');
  });

  it('refuses connections handed to it after close()', async () => {
    const { proxy } = await slowSetup(0);
    await proxy.proxy.close({ timeoutMs: 100 });
    const idle = await idleConnection(proxy.port);
    await idle.closed;
    proxy.server.close();
  });
});
