/**
 * Test helpers for the HTTP/2 suites: a data plane with both listeners (ALPN h2 on HTTPS, h2c
 * on plain HTTP), node:http2 client requests, and a tiny raw HTTP/2 frame writer/reader so that
 * hostile tests can send what no well-behaved client library would.
 */
import { readFileSync } from 'node:fs';
import { connect as connectHttp2, constants } from 'node:http2';
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import { connect as connectTcp } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Snapshot } from '@portico/control/snapshot';
import { DataPlane } from '../dataplane.ts';
import type { DataPlaneOptions } from '../dataplane.ts';
import { LOOPBACK } from '../test-support.ts';

/** The test certificate (self-signed, CN tls.test) the HTTPS listener serves by default. */
export const TEST_CERT = readFileSync(new URL('../testdata/tls.test.crt', import.meta.url), 'utf8');
const TEST_KEY = readFileSync(new URL('../testdata/tls.test.key', import.meta.url), 'utf8');

/** A data plane on loopback with HTTP/2 on both ports, serving `snapshot`. */
export async function startH2DataPlane(snapshot: Snapshot, options: Partial<DataPlaneOptions> = {}): Promise<DataPlane> {
  const plane = await DataPlane.start({
    address: LOOPBACK,
    httpPort: 0,
    httpsPort: 0,
    h2c: true,
    defaultCertificate: { certificatePem: TEST_CERT, privateKeyPem: TEST_KEY },
    ...options,
    proxy: { endpointAddresses: { allowLoopback: true }, ...options.proxy },
  });
  plane.load(snapshot);
  return plane;
}

/** An HTTP/2 client session: TLS with ALPN h2 to `https`, or prior-knowledge h2c to `http`. */
export async function h2Session(plane: DataPlane, tls = true): Promise<ClientHttp2Session> {
  const { http, https } = plane.ports;
  const session = tls ? connectHttp2(`https://${LOOPBACK}:${https}`, { ca: TEST_CERT, servername: 'tls.test', rejectUnauthorized: false }) : connectHttp2(`http://${LOOPBACK}:${http}`);
  session.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

/** A response read whole. */
export interface H2Response {
  readonly status: number;
  readonly headers: Record<string, string | string[] | number | undefined>;
  readonly body: Buffer;
  /** The stream was reset (its RST_STREAM code), or 0. */
  readonly rstCode: number;
  /** Trailer fields, when the response had any. */
  readonly trailers: Record<string, string | string[] | number | undefined> | undefined;
}

/** One request on `session`; resolves with the whole response (or the reset). */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string | Buffer): Promise<H2Response> {
  return new Promise((resolve) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let status = 0;
    let responseHeaders: H2Response['headers'] = {};
    let trailers: H2Response['trailers'];
    stream.on('trailers', (received) => {
      trailers = Object.fromEntries(Object.entries(received));
    });
    stream.on('response', (received) => {
      responseHeaders = received as H2Response['headers'];
      status = Number(received[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => resolve({ status, headers: responseHeaders, body: Buffer.concat(chunks), rstCode: stream.rstCode ?? 0, trailers }));
    if (body !== undefined) stream.end(body);
  });
}

// --- Raw frames (RFC 9113 §4.1) -------------------------------------------------------------

/** Frame types. */
export const DATA = 0x0;
export const HEADERS = 0x1;
export const RST_STREAM = 0x3;
export const SETTINGS = 0x4;
export const PING = 0x6;
export const GOAWAY = 0x7;
export const WINDOW_UPDATE = 0x8;
export const CONTINUATION = 0x9;
/** Flags. */
export const END_STREAM = 0x1;
export const END_HEADERS = 0x4;
export const ACK = 0x1;

/** The client connection preface. */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame's bytes. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** A header block of literal fields without indexing and without Huffman (RFC 7541 §6.2.2), so any byte can be sent. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [];
  const length = (n: number): Buffer => {
    // 7-bit prefix integer, H bit 0.
    if (n < 127) return Buffer.from([n]);
    const bytes = [127];
    let rest = n - 127;
    while (rest >= 128) {
      bytes.push((rest & 127) | 128);
      rest >>= 7;
    }
    bytes.push(rest);
    return Buffer.from(bytes);
  };
  for (const [name, value] of fields) {
    const nameBytes = Buffer.from(name, 'latin1');
    const valueBytes = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), length(nameBytes.length), nameBytes, length(valueBytes.length), valueBytes);
  }
  return Buffer.concat(parts);
}

/** The usual request pseudo-fields for `path` on host `host`. */
export function requestFields(path: string, host: string, method = 'GET'): [string, string][] {
  return [
    [':method', method],
    [':scheme', 'http'],
    [':authority', host],
    [':path', path],
  ];
}

/** A frame read back. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** A raw h2c connection (prior knowledge) that has sent the preface and an empty SETTINGS, collecting every frame it receives. */
export interface RawH2 {
  readonly socket: Socket;
  readonly frames: Frame[];
  /** Resolves when the server closed the connection. */
  readonly closed: Promise<void>;
  send(...frames: Buffer[]): void;
  /** Waits until `predicate` holds for some received frame (or the connection closed, or `timeoutMs`). */
  waitFor(predicate: (frame: Frame) => boolean, timeoutMs?: number): Promise<Frame | undefined>;
}

/** Opens a raw HTTP/2 connection to `port` (TLS with ALPN h2 when `tls`). */
export async function rawH2(port: number, tls = false): Promise<RawH2> {
  const socket: Socket = tls ? connectTls({ host: LOOPBACK, port, ALPNProtocols: ['h2'], rejectUnauthorized: false, servername: 'tls.test' }) : connectTcp({ host: LOOPBACK, port });
  await new Promise<void>((resolve, reject) => {
    socket.once(tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  socket.on('error', () => {});
  const frames: Frame[] = [];
  const waiters = new Set<() => void>();
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 9) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < 9 + length) break;
      const received = { type: pending[3] as number, flags: pending[4] as number, streamId: pending.readUInt32BE(5) & 0x7fffffff, payload: pending.subarray(9, 9 + length) };
      pending = pending.subarray(9 + length);
      frames.push(received);
      // The server's SETTINGS gets its ACK, as any client must send.
      if (received.type === SETTINGS && (received.flags & ACK) === 0) socket.write(frame(SETTINGS, ACK, 0));
    }
    for (const wake of waiters) wake();
  });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  void closed.then(() => {
    for (const wake of waiters) wake();
  });
  let isClosed = false;
  void closed.then(() => (isClosed = true));
  socket.write(Buffer.concat([PREFACE, frame(SETTINGS, 0, 0)]));
  return {
    socket,
    frames,
    closed,
    send: (...out) => {
      if (!socket.destroyed) socket.write(Buffer.concat(out));
    },
    waitFor: (predicate, timeoutMs = 5000) =>
      new Promise((resolve) => {
        const check = (): boolean => {
          const found = frames.find(predicate);
          if (found !== undefined || isClosed) {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve(found);
            return true;
          }
          return false;
        };
        const wake = (): void => void check();
        const timer = setTimeout(() => {
          waiters.delete(wake);
          resolve(frames.find(predicate));
        }, timeoutMs);
        waiters.add(wake);
        check();
      }),
  };
}

/** The error code of a RST_STREAM or GOAWAY frame. */
export function errorCode(received: Frame): number {
  return received.type === GOAWAY ? received.payload.readUInt32BE(4) : received.payload.readUInt32BE(0);
}

export { constants };
