/**
 * proxy-body-size and the proxy timeouts through the real proxy, modelled on ingress-nginx's
 * test/e2e/annotations/proxy.go (the annotations land as client_max_body_size and
 * proxy_*_timeout) and its documented 413 / 504 answers: bodies over the limit by Content-Length
 * or streamed never reach (or are cut off) the echo backend, and a route's read timeout shorter
 * than the global one answers 504 while a route without it still waits.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';
import { LOOPBACK, rawExchange, statusOf } from './test-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** Sends `first`, then `second` after `gapMs`, and collects the answer until close (bounded at 3 s). */
function twoPart(port: number, first: string, second: string, gapMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, LOOPBACK);
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(bound);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const bound = setTimeout(finish, 3000);
    socket.on('connect', () => {
      socket.write(first);
      setTimeout(() => socket.write(second), gapMs);
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('close', finish);
    socket.on('error', (error) => (chunks.length > 0 ? finish() : reject(error)));
  });
}

describe('proxy-body-size and proxy timeouts (ingress-nginx e2e: proxy.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        { name: 'small', hosts: ['small.test'], annotations: { [`${A}proxy-body-size`]: '1k' } },
        { name: 'unlimited', hosts: ['unlimited.test'], annotations: { [`${A}proxy-body-size`]: '0' } },
        { name: 'bad', hosts: ['bad.test'], annotations: { [`${A}proxy-body-size`]: '8 megabytes', [`${A}proxy-read-timeout`]: '1s' } },
        { name: 'fast', hosts: ['fast.test'], annotations: { [`${A}proxy-read-timeout`]: '1' } },
        { name: 'none', hosts: ['none.test'] },
      ],
      ['echo'],
      { readTimeoutMs: 4000 },
    );
  });

  afterAll(() => proxy.close());

  it('a Content-Length over the limit answers 413 and the backend never sees the request', async () => {
    const before = proxy.backendRequests;
    const response = await proxy.fetch('small.test', '/upload', { method: 'POST', body: 'x'.repeat(1025) });
    expect(response.status).toBe(413);
    expect(proxy.backendRequests).toBe(before);
  });

  it('a body within the limit (1k = 1024 bytes) passes whole, by Content-Length or chunked', async () => {
    expect((await proxy.echo('small.test', '/upload', { method: 'POST', body: 'x'.repeat(1024) })).bodyBytes).toBe(1024);
    expect((await proxy.echo('small.test', '/upload', { method: 'POST', body: 'x'.repeat(500), headers: { 'transfer-encoding': 'chunked' } })).bodyBytes).toBe(500);
  });

  it('a chunked body crossing the limit in the first bytes answers 413 without the backend', async () => {
    const before = proxy.backendRequests;
    const chunk = `258\r\n${'y'.repeat(600)}\r\n`;
    const raw = await rawExchange(proxy.proxy.port, `POST /s HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}`);
    expect(statusOf(raw)).toBe(413);
    expect(proxy.backendRequests).toBe(before);
  });

  it('a chunked body crossing the limit after part went upstream is cut off the backend and answered 413', async () => {
    const before = proxy.backendRequests;
    const chunk = `258\r\n${'y'.repeat(600)}\r\n`;
    const raw = await twoPart(proxy.proxy.port, `POST /s HTTP/1.1\r\nHost: small.test\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}`, chunk.repeat(50), 200);
    expect(statusOf(raw)).toBe(413);
    expect(raw).toContain('Connection: close');
    // The backend got the head and the first chunk, then lost the connection: it never answered.
    expect(proxy.backendRequests).toBe(before + 1);
  });

  it('0 means unlimited; an invalid size is not applied (Warning), as ingress-nginx ignores it', async () => {
    expect((await proxy.echo('unlimited.test', '/', { method: 'POST', body: 'z'.repeat(3000) })).bodyBytes).toBe(3000);
    expect((await proxy.echo('bad.test', '/', { method: 'POST', body: 'z'.repeat(3000) })).bodyBytes).toBe(3000);
    expect(proxy.conditionsOf('bad')).toEqual([
      ['InvalidAnnotation', 'Warning', `metadata.annotations['${A}proxy-body-size']`],
      ['InvalidAnnotation', 'Warning', `metadata.annotations['${A}proxy-read-timeout']`],
    ]);
  });

  it('proxy-read-timeout shorter than the global one: 504 on a slow backend, while a route without it still waits', async () => {
    const slow = { headers: { 'x-echo-delay-ms': '2000' } };
    const [fast, none] = await Promise.all([proxy.fetch('fast.test', '/', slow), proxy.fetch('none.test', '/', slow)]);
    expect(fast.status).toBe(504);
    expect(none.status).toBe(200);
  });

  it('explain names the settings', () => {
    expect(proxy.explainer.explain({ host: 'small.test', path: '/' }).policies).toContain('proxy: request bodies up to 1024 bytes (413 beyond)');
  });
});

describe('upstream-vhost (ingress-nginx e2e: upstreamvhost.go)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start([
      { name: 'vhost', hosts: ['upstreamvhost.bar.com'], annotations: { [`${A}upstream-vhost`]: 'backend.internal:8080' } },
      { name: 'variable', hosts: ['variable.test'], annotations: { [`${A}upstream-vhost`]: '$host' } },
      { name: 'plain', hosts: ['plain.test'] },
    ]);
  });

  afterAll(() => proxy.close());

  it('the backend receives the annotation as its Host, once; X-Forwarded-Host keeps the client\'s', async () => {
    const echo = await proxy.echo('upstreamvhost.bar.com', '/');
    expect([echo.headers.host, echo.headers['x-forwarded-host']]).toEqual(['backend.internal:8080', 'upstreamvhost.bar.com']);
    // A client listing Host in Connection does not make Portico drop or duplicate it.
    const raw = await rawExchange(proxy.proxy.port, 'GET / HTTP/1.1\r\nHost: upstreamvhost.bar.com\r\nConnection: close, host\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).headers.host).toBe('backend.internal:8080');
  });

  it('without the annotation the client\'s Host goes upstream, also when Connection lists it', async () => {
    expect((await proxy.echo('plain.test', '/')).headers.host).toBe('plain.test');
    const raw = await rawExchange(proxy.proxy.port, 'GET / HTTP/1.1\r\nHost: plain.test\r\nConnection: close, host\r\n\r\n');
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).headers.host).toBe('plain.test');
  });

  it('an nginx variable is not applied (Warning): the client\'s Host goes upstream', async () => {
    expect((await proxy.echo('variable.test', '/')).headers.host).toBe('variable.test');
    expect(proxy.conditionsOf('variable')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}upstream-vhost']`]]);
  });
});
