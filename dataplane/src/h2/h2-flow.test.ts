/**
 * HTTP/2 flow control end to end and connection deadlines, through the real listeners: a client
 * that does not read holds back the endpoint (Portico never buffers the whole response), and
 * connections that never send SETTINGS or sit idle are closed on time.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataPlane } from '../dataplane.ts';
import type { Backend } from '../test-support.ts';
import { snapshotOf, startBackend } from '../test-support.ts';
import { GOAWAY, PREFACE, errorCode, h2Request, h2Session, rawH2, startH2DataPlane } from './test-support.ts';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';

const MiB = 1024 * 1024;
const TOTAL = 64 * MiB;

describe('HTTP/2 downstream: flow control and deadlines', () => {
  let backend: Backend;
  let plane: DataPlane;
  /** Bytes of the big response the endpoint's socket took so far. */
  let sent = 0;
  let digest = '';

  beforeAll(async () => {
    backend = await startBackend((request, response) => {
      request.resume();
      if (request.url !== '/big') {
        response.end('ok');
        return;
      }
      // 64 MiB in 64 KiB chunks, each written only when the socket took the previous one.
      const chunk = Buffer.alloc(64 * 1024, 7);
      const hash = createHash('sha256');
      response.writeHead(200, { 'content-type': 'application/octet-stream' });
      sent = 0;
      const pump = (): void => {
        while (sent < TOTAL) {
          sent += chunk.length;
          hash.update(chunk);
          if (sent >= TOTAL) {
            digest = hash.digest('hex');
            response.end(chunk);
            return;
          }
          if (!response.write(chunk)) {
            response.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    plane = await startH2DataPlane(snapshotOf([{ host: 'app.test', routes: [{ path: '/', endpoints: [backend.port] }] }]), { proxy: { headerTimeoutMs: 400, keepAliveTimeoutMs: 600 } });
  });

  afterAll(async () => {
    await plane.close(500);
    await backend.close();
  });

  it('holds the endpoint back while the HTTP/2 client does not read, then relays every byte', async () => {
    const session = await h2Session(plane, true);
    const stream = session.request({ ':path': '/big', ':authority': 'app.test' });
    stream.pause();
    await new Promise((resolve) => stream.once('response', resolve));
    // Long enough for an unbounded relay to have pulled the 64 MiB from the loopback endpoint.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const whileStalled = sent;
    // Kernel socket buffers on both legs plus one HTTP/2 window and stream buffer: far below the response.
    expect(whileStalled).toBeLessThan(TOTAL / 2);
    const hash = createHash('sha256');
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      hash.update(chunk);
    });
    stream.resume();
    await new Promise((resolve) => stream.once('end', resolve));
    expect(received).toBe(TOTAL);
    expect(hash.digest('hex')).toBe(digest);
    session.close();
  }, 60_000);

  it('holds an uploading HTTP/2 client back while the endpoint does not read its body', async () => {
    // An endpoint that takes the connection and never reads: only kernel buffers take bytes.
    const sockets: Socket[] = [];
    const silent = createServer((socket) => {
      socket.pause();
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const upload = await startH2DataPlane(snapshotOf([{ host: 'up.test', routes: [{ path: '/', endpoints: [port] }] }]));
    try {
      const session = await h2Session(upload, false);
      const stream = session.request({ ':method': 'POST', ':path': '/up', ':authority': 'up.test' }, { endStream: false });
      stream.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024, 1);
      let taken = 0;
      let offered = 0;
      // Write as fast as the stream takes it, for 1.5 s; count what HTTP/2 flow control let through.
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline && offered < TOTAL) {
        offered += chunk.length;
        if (!stream.write(chunk, () => (taken += chunk.length))) await Promise.race([new Promise((resolve) => stream.once('drain', resolve)), new Promise((resolve) => setTimeout(resolve, 200))]);
      }
      // Portico's stream window plus both legs' kernel buffers: far below what the client offered.
      expect(taken).toBeLessThan(TOTAL / 2);
      expect(offered).toBeGreaterThan(taken);
      stream.close();
      session.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
      await upload.close(500);
    }
  }, 30_000);

  it('closes a connection whose SETTINGS never come (header timeout), with GOAWAY SETTINGS_TIMEOUT', async () => {
    const socket = connect(plane.ports.http, '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    socket.on('error', () => {});
    // The preface alone: h2c by prior knowledge, but no SETTINGS frame after it.
    socket.write(PREFACE);
    const closed = await Promise.race([new Promise((resolve) => socket.once('close', () => resolve(true))), new Promise((resolve) => setTimeout(() => resolve(false), 5000))]);
    expect(closed).toBe(true);
    const bytes = Buffer.concat(received);
    // Somewhere in what came back: a GOAWAY frame with SETTINGS_TIMEOUT (0x4).
    let found = false;
    for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) if (bytes[at + 3] === GOAWAY && bytes.readUInt32BE(at + 13) === 4) found = true;
    expect(found).toBe(true);
    const closedFamily = plane.metrics.families().find((family) => family.name === 'portico_http2_connections_closed_total')!;
    expect(closedFamily.samples.find((sample) => sample.labels.reason === 'settings-timeout')!.value).toBeGreaterThan(0);
  });

  it('closes an idle connection (no stream for the keep-alive timeout) with GOAWAY NO_ERROR', async () => {
    const connection = await rawH2(plane.ports.http);
    const goaway = await connection.waitFor((frame) => frame.type === GOAWAY, 5000);
    expect(goaway).toBeDefined();
    expect(errorCode(goaway!)).toBe(0);
    await Promise.race([connection.closed, new Promise((resolve) => setTimeout(resolve, 5000))]);
    expect(connection.socket.destroyed || connection.socket.readableEnded).toBe(true);
  });

  it('keeps a connection with requests going past the keep-alive timeout', async () => {
    const session = await h2Session(plane, false);
    for (let i = 0; i < 6; i++) {
      expect((await h2Request(session, { ':path': `/k${i}`, ':authority': 'app.test' })).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    session.close();
  });
});
