/**
 * Hostile HTTP/2 clients against the real listeners, with raw frames (test-support.ts writes
 * them, so anything can be sent): smuggling attempts through the h2 -> h1 translation, bad
 * pseudo-headers, huge header lists, too many streams, rapid reset (CVE-2023-44487), a
 * CONTINUATION flood (CVE-2024-27316). Each case is bounded in frames and time and ends with
 * the endpoint never seeing what it must not, and the data plane still serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataPlane } from '../dataplane.ts';
import type { Backend } from '../test-support.ts';
import { snapshotOf, startBackend, startRawBackend } from '../test-support.ts';
import { CONTINUATION, DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, RST_STREAM, errorCode, frame, h2Request, h2Session, headerBlock, rawH2, requestFields, startH2DataPlane } from './test-support.ts';
import type { Frame, RawH2 } from './test-support.ts';

type RawBackend = Awaited<ReturnType<typeof startRawBackend>>;

/**
 * The :status of a response HEADERS frame as nghttp2 encodes Portico's answers: 400 as the indexed
 * static entry 12 (0x8c), other codes as a literal with the :status name (0x48), length, digits.
 */
function statusOf(received: Frame): number {
  const payload = received.payload;
  if (payload[0] === 0x8c) return 400;
  if (payload[0] === 0x48 && payload[1] === 3) return Number(payload.subarray(2, 5).toString('latin1'));
  return -1;
}

/** What the server did with stream `id`: a response HEADERS frame, a RST_STREAM, or the whole connection went (GOAWAY / close). */
async function outcome(connection: RawH2, id: number): Promise<Frame | 'closed'> {
  const seen = await connection.waitFor((received) => (received.streamId === id && (received.type === HEADERS || received.type === RST_STREAM)) || received.type === GOAWAY, 5000);
  return seen ?? 'closed';
}

/** True when the stream was refused: reset, answered 400, or the connection ended. */
function isRefusal(result: Frame | 'closed'): boolean {
  if (result === 'closed') return true;
  if (result.type === RST_STREAM || result.type === GOAWAY) return true;
  const status = statusOf(result);
  return status === 400 || status === 431;
}

describe('HTTP/2 downstream: hostile clients', () => {
  let backend: Backend;
  let raw: RawBackend;
  let plane: DataPlane;
  let held = 0;

  beforeAll(async () => {
    backend = await startBackend((request, response) => {
      // /hold answers only when the test is over: it keeps streams open.
      if (request.url?.startsWith('/hold') === true) {
        held++;
        request.resume();
        setTimeout(() => response.end('late'), 3000).unref();
        return;
      }
      request.resume();
      request.on('end', () => response.end('ok'));
    });
    raw = await startRawBackend();
    plane = await startH2DataPlane(
      snapshotOf([
        { host: 'app.test', routes: [{ path: '/', endpoints: [backend.port] }] },
        { host: 'raw.test', routes: [{ path: '/', endpoints: [raw.port] }] },
      ]),
    );
  });

  afterAll(async () => {
    await plane.close(500);
    await backend.close();
    await raw.close();
  });

  /** A good request on a fresh connection still gets 200: the data plane is serving. */
  async function stillServing(): Promise<void> {
    const session = await h2Session(plane, false);
    expect((await h2Request(session, { ':path': '/ok', ':authority': 'app.test' })).status).toBe(200);
    session.close();
  }

  it.each([
    ['CR LF smuggling a request in a value', 'v\r\nGET /smuggled HTTP/1.1'],
    ['NUL in a value', 'v\0w'],
  ])('never lets %s reach the endpoint (node:http2 drops such a field before Portico sees it)', async (_name, value) => {
    const before = backend.requests;
    const seen: string[] = [];
    const record = (request: { headers: Record<string, unknown>; url?: string }): void => void seen.push(JSON.stringify([request.url, request.headers]));
    backend.server.on('request', record);
    const connection = await rawH2(plane.ports.http);
    connection.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, headerBlock([...requestFields('/x', 'app.test'), ['x-a', value]])));
    await outcome(connection, 1);
    connection.socket.destroy();
    backend.server.off('request', record);
    // RFC 9113 §8.2.1 calls the request malformed; node:http2 (its nghttp2 invalid-header callback) drops the field instead.
    expect(backend.requests - before).toBeLessThanOrEqual(1);
    expect(seen.join('')).not.toContain('x-a');
    expect(seen.join('')).not.toContain('smuggled');
  });

  it.each([
    ['an upper-case field name', [['X-A', 'v']]],
    ['connection', [['connection', 'close']]],
    ['transfer-encoding', [['transfer-encoding', 'chunked']]],
    ['upgrade', [['upgrade', 'h2c']]],
    ['keep-alive', [['keep-alive', '1']]],
    ['proxy-connection', [['proxy-connection', 'keep-alive']]],
    ['te other than trailers', [['te', 'gzip']]],
    ['a host naming another authority than :authority', [['host', 'other.test']]],
  ] as const)('refuses %s before the endpoint sees anything', async (_name, extra) => {
    const before = backend.requests;
    const connection = await rawH2(plane.ports.http);
    connection.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, headerBlock([...requestFields('/x', 'app.test'), ...extra])));
    expect(isRefusal(await outcome(connection, 1))).toBe(true);
    connection.socket.destroy();
    expect(backend.requests).toBe(before);
  });

  it.each([
    ['no :path', [[':method', 'GET'], [':scheme', 'http'], [':authority', 'app.test']]],
    ['a pseudo-header after a regular field', [[':method', 'GET'], ['x-a', '1'], [':scheme', 'http'], [':authority', 'app.test'], [':path', '/']]],
    ['an unknown pseudo-header', [...requestFields('/', 'app.test'), [':foo', 'bar']]],
    ['two :method fields', [...requestFields('/', 'app.test'), [':method', 'POST']]],
    ['a response pseudo-header', [...requestFields('/', 'app.test'), [':status', '200']]],
    [':protocol without extended CONNECT', [...requestFields('/', 'app.test', 'CONNECT'), [':protocol', 'websocket']]],
  ] as const)('refuses bad pseudo-headers: %s', async (_name, fields) => {
    const before = backend.requests;
    const connection = await rawH2(plane.ports.http);
    connection.send(frame(HEADERS, END_HEADERS | END_STREAM, 1, headerBlock(fields)));
    expect(isRefusal(await outcome(connection, 1))).toBe(true);
    connection.socket.destroy();
    expect(backend.requests).toBe(before);
  });

  it('never forwards more body than content-length declares, nor less as a complete request', async () => {
    // Longer: a second request hidden after the declared 5 bytes.
    const longer = await rawH2(plane.ports.http);
    longer.send(frame(HEADERS, END_HEADERS, 1, headerBlock([...requestFields('/l', 'raw.test', 'POST'), ['content-length', '5']])), frame(DATA, END_STREAM, 1, Buffer.from('hello' + 'GET /smuggled HTTP/1.1\r\nHost: raw.test\r\n\r\n')));
    expect(isRefusal(await outcome(longer, 1))).toBe(true);
    // Shorter: the stream ends after 2 of 10 declared bytes.
    const shorter = await rawH2(plane.ports.http);
    shorter.send(frame(HEADERS, END_HEADERS, 1, headerBlock([...requestFields('/s', 'raw.test', 'POST'), ['content-length', '10']])), frame(DATA, END_STREAM, 1, Buffer.from('hi')));
    expect(isRefusal(await outcome(shorter, 1))).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(raw.received()).not.toContain('smuggled');
    longer.socket.destroy();
    shorter.socket.destroy();
    await stillServing();
  });

  it('refuses a header list larger than the advertised limit, and goes on serving', async () => {
    const before = backend.requests;
    const connection = await rawH2(plane.ports.http);
    // 40 KiB of fields in HEADERS + CONTINUATION frames of 16 KiB (the default max frame size).
    const block = headerBlock([...requestFields('/huge', 'app.test'), ...Array.from({ length: 40 }, (_, i): [string, string] => [`x-big-${i}`, 'v'.repeat(1000)])]);
    const frames = [frame(HEADERS, END_STREAM, 1, block.subarray(0, 16_000)), frame(CONTINUATION, 0, 1, block.subarray(16_000, 32_000)), frame(CONTINUATION, END_HEADERS, 1, block.subarray(32_000))];
    connection.send(...frames);
    expect(isRefusal(await outcome(connection, 1))).toBe(true);
    connection.socket.destroy();
    expect(backend.requests).toBe(before);
    await stillServing();
  });

  it('refuses streams beyond SETTINGS_MAX_CONCURRENT_STREAMS (128)', async () => {
    held = 0;
    const connection = await rawH2(plane.ports.http);
    const frames: Buffer[] = [];
    for (let i = 0; i < 150; i++) frames.push(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, headerBlock(requestFields(`/hold/${i}`, 'app.test'))));
    connection.send(...frames);
    const refusedStream = await connection.waitFor((received) => received.type === RST_STREAM && errorCode(received) === 7, 5000);
    expect(refusedStream).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held).toBeLessThanOrEqual(128);
    connection.socket.destroy();
  });

  it('closes a connection that resets streams rapidly (CVE-2023-44487) and bounds the work done for it', async () => {
    const before = backend.requests + backend.connections;
    const connection = await rawH2(plane.ports.http);
    const frames: Buffer[] = [];
    // HEADERS then RST_STREAM(CANCEL), stream after stream: 2,000 frames in one write.
    for (let i = 0; i < 1000; i++) frames.push(frame(HEADERS, END_HEADERS | END_STREAM, 1 + 2 * i, headerBlock(requestFields(`/hold/r${i}`, 'app.test'))), frame(RST_STREAM, 0, 1 + 2 * i, Buffer.from([0, 0, 0, 8])));
    connection.send(...frames);
    const goaway = await connection.waitFor((received) => received.type === GOAWAY, 5000);
    await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    expect(goaway === undefined || errorCode(goaway) !== 0).toBe(true);
    expect(connection.socket.destroyed || connection.socket.readableEnded).toBe(true);
    // Far fewer than the 1,000 requests reached the endpoint (each costs it a request and a connection).
    expect(backend.requests + backend.connections - before).toBeLessThan(400);
    const families = plane.metrics.families();
    const closed = families.find((family) => family.name === 'portico_http2_connections_closed_total')!;
    expect(closed.samples.find((sample) => sample.labels.reason === 'rapid-reset')!.value).toBeGreaterThan(0);
    await stillServing();
  });

  it('closes a connection that floods CONTINUATION frames (CVE-2024-27316) without reaching the endpoint', async () => {
    const before = backend.requests;
    const connection = await rawH2(plane.ports.http);
    const frames: Buffer[] = [frame(HEADERS, 0, 1, headerBlock(requestFields('/flood', 'app.test')))];
    // Never END_HEADERS: 5,000 CONTINUATION frames, each one small field.
    const filler = headerBlock([['x-f', 'y']]);
    for (let i = 0; i < 5000; i++) frames.push(frame(CONTINUATION, 0, 1, filler));
    connection.send(...frames);
    await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    expect(connection.socket.destroyed || connection.socket.readableEnded).toBe(true);
    expect(backend.requests).toBe(before);
    await stillServing();
  });
});
