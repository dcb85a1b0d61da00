/**
 * proxy-redirect-from / proxy-redirect-to through the real proxy (ingress-nginx writes them as
 * nginx `proxy_redirect <from> <to>`, test/e2e/annotations/proxy.go): an endpoint that redirects
 * to its internal URL has the Location and the Refresh url= rewritten; other values, and routes
 * without the annotations, pass through unchanged; unusable values are Warnings, not applied.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnnotatedProxy } from './annotation-support.ts';

const A = 'nginx.ingress.kubernetes.io/';

/** Redirects to the Location the request's `x-location` names, with a Refresh to the same. */
function redirector(request: IncomingMessage, response: ServerResponse): void {
  const location = String(request.headers['x-location'] ?? 'http://internal.svc:8080/login?x=1');
  response.statusCode = 302;
  response.setHeader('Location', location);
  response.setHeader('Refresh', `5; URL=${location}`);
  response.setHeader('X-Other', location);
  response.end();
}

describe('proxy-redirect-from/to (nginx proxy_redirect)', () => {
  let proxy: AnnotatedProxy;

  beforeAll(async () => {
    proxy = await AnnotatedProxy.start(
      [
        { name: 'rewrite', hosts: ['app.test'], paths: [{ path: '/', service: 'redirector' }], annotations: { [`${A}proxy-redirect-from`]: 'http://internal.svc:8080/', [`${A}proxy-redirect-to`]: 'https://$host/app/' } },
        { name: 'plain', hosts: ['plain.test'], paths: [{ path: '/', service: 'redirector' }] },
        { name: 'off', hosts: ['off.test'], paths: [{ path: '/', service: 'redirector' }], annotations: { [`${A}proxy-redirect-from`]: 'off', [`${A}proxy-redirect-to`]: 'https://x/' } },
        { name: 'crlf', hosts: ['crlf.test'], paths: [{ path: '/', service: 'redirector' }], annotations: { [`${A}proxy-redirect-from`]: 'http://internal.svc:8080/', [`${A}proxy-redirect-to`]: 'https://x/\r\nSet-Cookie: a=1' } },
        { name: 'no-to', hosts: ['no-to.test'], paths: [{ path: '/', service: 'redirector' }], annotations: { [`${A}proxy-redirect-from`]: 'http://internal.svc:8080/' } },
      ],
      ['echo', 'redirector'],
      {},
      { redirector },
    );
  });

  afterAll(async () => {
    await proxy.close();
  });

  it('rewrites the prefix of Location and of Refresh url=, with $host filled in; other headers untouched', async () => {
    const response = await proxy.fetch('App.Test:8080', '/');
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('https://app.test/app/login?x=1');
    expect(response.headers.refresh).toBe('5; URL=https://app.test/app/login?x=1');
    expect(response.headers['x-other']).toBe('http://internal.svc:8080/login?x=1');
  });

  it('a Location that does not start with the prefix (case-sensitive, as nginx) passes unchanged', async () => {
    for (const location of ['https://elsewhere/', 'HTTP://INTERNAL.SVC:8080/a', '/relative']) {
      expect((await proxy.fetch('app.test', '/', { headers: { 'x-location': location } })).headers.location).toBe(location);
    }
  });

  it('without the annotations, or with from: off, nothing changes', async () => {
    for (const host of ['plain.test', 'off.test']) expect((await proxy.fetch(host, '/')).headers.location).toBe('http://internal.svc:8080/login?x=1');
  });

  it('CR/LF in a value (header injection) or a missing proxy-redirect-to: Warning naming the annotation, not applied', async () => {
    expect(proxy.conditionsOf('crlf')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}proxy-redirect-to']`]]);
    expect(proxy.conditionsOf('no-to')).toEqual([['InvalidAnnotation', 'Warning', `metadata.annotations['${A}proxy-redirect-from']`]]);
    const response = await proxy.fetch('crlf.test', '/');
    expect(response.headers.location).toBe('http://internal.svc:8080/login?x=1');
    expect(response.headers['set-cookie']).toBeUndefined();
  });
});
