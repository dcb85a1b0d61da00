import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ClientOptions } from 'ws';
import { Proxy } from './proxy.ts';
import { Router } from './router.ts';
import type { Backend } from './test-support.ts';
import { LOOPBACK, fetchVia, snapshotOf, startBackend, startProxy } from './test-support.ts';

// A self-signed certificate for tls.test, made for these tests only.
const cert = readFileSync(new URL('./testdata/tls.test.crt', import.meta.url));
const key = readFileSync(new URL('./testdata/tls.test.key', import.meta.url));

describe('proxy: TLS sockets', () => {
  let backend: Backend;
  let ws: WebSocketServer;
  let proxy: Proxy;
  let server: ReturnType<typeof createServer>;
  let port: number;
  let router: Router;

  beforeAll(async () => {
    backend = await startBackend((request, response) => response.end(JSON.stringify(request.headers)));
    ws = new WebSocketServer({ host: LOOPBACK, port: 0 });
    ws.on('connection', (socket) => socket.on('message', (data) => socket.send(data.toString())));
    await new Promise<void>((resolve) => ws.once('listening', resolve));
    router = new Router();
    router.load(
      snapshotOf([
        { host: 'tls.test', routes: [{ path: '/', endpoints: [backend.port], sslRedirect: true }, { path: '/ws', endpoints: [(ws.address() as AddressInfo).port] }] },
      ]),
    );
    proxy = new Proxy(router, { endpointAddresses: { allowLoopback: true } });
    server = createServer({ key, cert }, (socket) => proxy.handleConnection(socket, { scheme: 'https', localPort: port }));
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    server.close();
    await proxy.close({ timeoutMs: 500 });
    ws.close();
    await backend.close();
  });

  it('proxies HTTPS without redirecting and says so in X-Forwarded-Proto', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const request = httpsRequest({ host: LOOPBACK, port, servername: 'tls.test', ca: cert, path: '/x', headers: { host: 'tls.test' } }, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve(text));
      });
      request.on('error', reject);
      request.end();
    });
    expect(JSON.parse(body)).toMatchObject({ 'x-forwarded-proto': 'https', 'x-forwarded-port': String(port), host: 'tls.test' });
  });

  it('redirects the same route over plain HTTP', async () => {
    const plain = await startProxy(router);
    const response = await fetchVia(plain.port, { host: 'tls.test', path: '/x' });
    expect(response.status).toBe(308);
    expect(response.headers.location).toBe('https://tls.test/x');
    await plain.close();
  });

  it('relays a WebSocket over TLS', async () => {
    const options: ClientOptions & ConnectionOptions = { headers: { host: 'tls.test' }, ca: cert, servername: 'tls.test' };
    const socket = new WebSocket(`wss://${LOOPBACK}:${port}/ws`, options);
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    const echoed = new Promise<string>((resolve) => socket.once('message', (data) => resolve(data.toString())));
    socket.send('over tls');
    expect(await echoed).toBe('over tls');
    socket.close();
  });
});
