/**
 * The ACK path (`POST /v1/nodes/{node}/status`) reads its body straight from the Node request
 * (no web Request is built): through a real HTTP server on loopback it still refuses an
 * oversized body (declared or streamed), a body that does not arrive in time, and a malformed
 * one, with the limit named, and records nothing for them. The same limits hold when the web
 * Request is all there is (app.request).
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';

const LIMIT = 4096;
const DEADLINE_MS = 400;

interface RawAnswer {
  readonly status: number;
  readonly body: string;
  readonly elapsedMs: number;
}

/**
 * Sends `head` then each of `parts` (a number = wait that many ms) on one loopback connection and
 * resolves with the answer once it is complete (by Content-Length) or the connection ends; gives
 * up after 10 s.
 */
function raw(port: number, head: string, parts: readonly (string | number)[]): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = Buffer.alloc(0);
    let done = false;
    const giveUp = setTimeout(() => finish(new Error(`no complete answer within 10 s: ${received.toString('latin1')}`)), 10_000);
    const finish = (error?: Error): void => {
      if (done) return;
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (error === undefined && end < 0) error = new Error(`no answer: ${JSON.stringify(text)}`);
      done = true;
      clearTimeout(giveUp);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve({ status: Number(text.slice(9, 12)), body: text.slice(end + 4), elapsedMs: performance.now() - started });
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const text = received.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end))?.[1];
      if (end >= 0 && length !== undefined && received.byteLength - (end + 4) >= Number(length)) finish();
    });
    socket.on('end', () => finish());
    socket.on('error', (error) => (received.byteLength > 0 ? finish() : finish(error)));
    socket.on('connect', async () => {
      socket.write(Buffer.from(head, 'latin1'));
      for (const part of parts) {
        if (done || socket.destroyed) return;
        if (typeof part === 'number') await new Promise((r) => setTimeout(r, part));
        else socket.write(Buffer.from(part, 'latin1'));
      }
    });
  });
}

const headOf = (node: string, extra: string) => `POST /v1/nodes/${node}/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TEST_TOKEN}\r\nContent-Type: application/json\r\n${extra}\r\n`;

describe('ACK path bodies, read from the Node request', () => {
  let control: TestControl;
  let server: Awaited<ReturnType<typeof listen>>;
  let version: string;

  beforeAll(async () => {
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), bodyLimit: LIMIT, bodyDeadlineMs: DEADLINE_MS });
    server = await listen(control.app);
    version = control.history.current()!.version;
  });
  afterAll(async () => {
    await server?.close();
    control?.close();
  });

  const nodes = async () => ((await (await control.request('/v1/nodes')).json()) as { nodes: { name: string }[] }).nodes.map((n) => n.name).sort();

  it('records a well-formed ACK sent in pieces (chunked)', async () => {
    const body = JSON.stringify({ version, ok: true });
    const answer = await raw(server.port, headOf('edge-ok', 'Transfer-Encoding: chunked\r\n'), [`${(5).toString(16)}\r\n${body.slice(0, 5)}\r\n`, 30, `${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`]);
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ name: 'edge-ok', appliedVersion: version, lastReport: { version, ok: true } });
  });

  it('refuses a body declared larger than the limit: 413 naming it', async () => {
    const answer = await raw(server.port, headOf('edge-declared', `Content-Length: ${LIMIT + 1}\r\n`), ['{"version":']);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'PORTICO_E_PAYLOAD_TOO_LARGE', detail: `the body is larger than ${LIMIT} bytes` });
  });

  it('refuses a streamed body that grows past the limit, without waiting for its end: 413 naming it', async () => {
    const chunk = 'x'.repeat(1024);
    const parts: (string | number)[] = [`{"version":"${version}","error":"`];
    // Far more than the limit, then the connection stays open: the answer must not wait for an end.
    for (let i = 0; i < 8; i++) parts.push(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    const answer = await raw(server.port, headOf('edge-streamed', 'Transfer-Encoding: chunked\r\n'), [`${parts[0]!.toString().length.toString(16)}\r\n${parts[0]}\r\n`, ...parts.slice(1), 5_000]);
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'PORTICO_E_PAYLOAD_TOO_LARGE', detail: `the body is larger than ${LIMIT} bytes` });
    expect(answer.elapsedMs).toBeLessThan(4_000);
  });

  it('answers a body that stops arriving 408 after the deadline, not at the client’s pace', async () => {
    const answer = await raw(server.port, headOf('edge-slow', 'Content-Length: 40\r\n'), ['{"version":', 8_000]);
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'PORTICO_E_BAD_REQUEST', detail: `the body did not arrive within ${DEADLINE_MS} ms` });
    expect(answer.elapsedMs).toBeGreaterThanOrEqual(DEADLINE_MS - 50);
    expect(answer.elapsedMs).toBeLessThan(5_000);
  });

  it.each([
    ['trailing garbage', 'application/json', (v: string) => `{"version":"${v}","ok":true} x`, 400, 'PORTICO_E_BAD_REQUEST', /not one valid JSON value/],
    ['a duplicate key', 'application/json', (v: string) => `{"version":"${v}","ok":true,"ok":false}`, 400, 'PORTICO_E_BAD_REQUEST', /duplicate key "ok"/],
    ['not UTF-8', 'application/json', () => '{"version":"\u00ff"}', 400, 'PORTICO_E_BAD_REQUEST', /not valid UTF-8/],
    ['an empty body', 'application/json', () => '', 400, 'PORTICO_E_BAD_REQUEST', /empty/],
    ['text/plain', 'text/plain', (v: string) => `{"version":"${v}","ok":true}`, 415, 'PORTICO_E_UNSUPPORTED_MEDIA_TYPE', /application\/json/],
  ])('refuses %s', async (_name, type, body, status, code, detail) => {
    const bytes = Buffer.from(body(version), 'latin1');
    const head = headOf('edge-bad', `Content-Length: ${bytes.byteLength}\r\n`).replace('Content-Type: application/json', `Content-Type: ${type}`);
    const answer = await raw(server.port, head, [bytes.toString('latin1')]);
    expect(answer.status, JSON.stringify(answer)).toBe(status);
    expect(answer.body, JSON.stringify(answer)).not.toBe('');
    const problem = JSON.parse(answer.body) as { code: string; detail: string };
    expect(problem.code).toBe(code);
    expect(problem.detail).toMatch(detail);
  });

  it('recorded only the good report', async () => {
    expect(await nodes()).toEqual(['edge-ok']);
  });

  it('holds the same limits when only the web Request exists (app.request)', async () => {
    const encoder = new TextEncoder();
    const streamed = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(encoder.encode('x'.repeat(1024)));
      },
    });
    const large = await control.request('/v1/nodes/edge-web/status', { method: 'POST', headers: { 'content-type': 'application/json' }, body: streamed, duplex: 'half' } as RequestInit);
    expect(large.status).toBe(413);
    expect(((await large.json()) as { detail: string }).detail).toBe(`the body is larger than ${LIMIT} bytes`);
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode('{"version":'));
      },
    });
    const slow = await control.request('/v1/nodes/edge-web/status', { method: 'POST', headers: { 'content-type': 'application/json' }, body: stalled, duplex: 'half' } as RequestInit);
    expect(slow.status).toBe(408);
    expect(await nodes()).toEqual(['edge-ok']);
  });
});
