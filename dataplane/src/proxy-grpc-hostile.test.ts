/**
 * Hostile gRPC endpoints behind Portico (bounded, loopback only): a raw HTTP/2 endpoint that
 * sends malformed trailers, endpoints that reset streams or send GOAWAY before answering, one
 * that sends a header list past the limit, and one that takes a single stream at a time while
 * every session is busy. Each call ends with a gRPC status from Portico (never a hang, never a
 * text body), and Portico keeps serving.
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { createServer as createH2Server } from 'node:http2';
import type { ServerHttp2Stream } from 'node:http2';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcClient } from './grpc-support.ts';
import { END_HEADERS, END_STREAM, GOAWAY, HEADERS, SETTINGS, DATA, frame, headerBlock, startH2DataPlane } from './h2/test-support.ts';
import { LOOPBACK, annotatedIngress, appManifests, compileManifests } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Client = ReturnType<typeof grpcClient>;

/** A data plane to the GRPC endpoint at `port` and a grpc-js client of grpc.test through it (both closed after the test). */
async function clientFor(port: number): Promise<Client> {
  const { snapshot } = compileManifests(appManifests(port, [annotatedIngress('grpc', 'grpc.test', { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' })]));
  const plane = await startH2DataPlane(snapshot);
  cleanups.push(() => plane.close(1000));
  const client = grpcClient(plane.ports.http, 'grpc.test');
  cleanups.push(() => client.close());
  return client;
}

function unary(client: Client, text = 'x'): Promise<{ error: ServiceError | null; value: string | undefined }> {
  return new Promise((resolve) => {
    client.Unary!(Buffer.from(text), new Metadata(), (error: ServiceError | null, value?: Buffer) => resolve({ error, value: value?.toString() }));
  });
}

function serverStream(client: Client): Promise<{ items: string[]; error: ServiceError | undefined }> {
  return new Promise((resolve) => {
    const items: string[] = [];
    const call = client.ServerStream!(Buffer.from('1')) as NodeJS.EventEmitter;
    call.on('data', (message: Buffer) => items.push(message.toString()));
    call.on('error', (error: ServiceError) => resolve({ items, error }));
    call.on('end', () => resolve({ items, error: undefined }));
  });
}

/** One gRPC message frame (uncompressed). */
function message(text: string): Buffer {
  const body = Buffer.from(text);
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

/**
 * A raw HTTP/2 endpoint (prior knowledge) answering each request stream with `answer(streamId)`'s
 * frames after its own SETTINGS, so it can send what node:http2 would refuse to.
 */
async function rawEndpoint(answer: (streamId: number) => Buffer[]): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    let buffered = Buffer.alloc(0);
    let preface = false;
    socket.write(frame(SETTINGS, 0, 0));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!preface) {
        if (buffered.length < 24) return;
        buffered = buffered.subarray(24);
        preface = true;
      }
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) return;
        const type = buffered[3] as number;
        const flags = buffered[4] as number;
        const streamId = buffered.readUInt32BE(5) & 0x7fffffff;
        buffered = buffered.subarray(9 + length);
        if (type === SETTINGS && (flags & 1) === 0) socket.write(frame(SETTINGS, 1, 0));
        if (type === HEADERS) for (const bytes of answer(streamId)) socket.write(bytes);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const socket of sockets) socket.destroy();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

const RESPONSE_HEADERS = headerBlock([[':status', '200'], ['content-type', 'application/grpc']]);

describe('gRPC: hostile endpoints', () => {
  it.each([
    ['an upper-case trailer name', [['Grpc-Status', '0']]],
    ['a pseudo-header in the trailers', [[':status', '200'], ['grpc-status', '0']]],
    ['a connection-specific trailer', [['connection', 'close'], ['grpc-status', '0']]],
  ] as const)('malformed trailers (%s): the message arrives, then UNAVAILABLE from Portico; nothing is smuggled', async (_name, trailers) => {
    const port = await rawEndpoint((id) => [frame(HEADERS, END_HEADERS, id, RESPONSE_HEADERS), frame(DATA, 0, id, message('item 0')), frame(HEADERS, END_HEADERS | END_STREAM, id, headerBlock(trailers))]);
    const client = await clientFor(port);
    const result = await serverStream(client);
    expect(result.items).toEqual(['item 0']);
    expect(result.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(result.error?.details).toMatch(/Portico/);
    expect(result.error?.metadata.get('injected')).toEqual([]);
  });

  it('a CR LF in a trailer value is never written as a field line of its own (node:http2 drops the field): nothing is smuggled', async () => {
    const port = await rawEndpoint((id) => [frame(HEADERS, END_HEADERS, id, RESPONSE_HEADERS), frame(DATA, 0, id, message('item 0')), frame(HEADERS, END_HEADERS | END_STREAM, id, headerBlock([['grpc-status', '0'], ['x-note', 'ok\r\ninjected: yes']]))]);
    const client = await clientFor(port);
    const trailers = await new Promise<Metadata>((resolve) => {
      const call = client.ServerStream!(Buffer.from('1')) as NodeJS.EventEmitter;
      call.on('data', () => {});
      call.on('error', () => {});
      call.on('status', (status: { metadata: Metadata }) => resolve(status.metadata));
    });
    expect(trailers.get('injected')).toEqual([]);
    expect(trailers.get('x-note')).toEqual([]);
  });

  it('a header list past the limit (SETTINGS_MAX_HEADER_LIST_SIZE) is refused: UNAVAILABLE, and the next call works', async () => {
    let huge = true;
    const port = await rawEndpoint((id) => {
      const headers = huge ? headerBlock([[':status', '200'], ['content-type', 'application/grpc'], ...Array.from({ length: 40 }, (_, i): [string, string] => [`x-big-${i}`, 'v'.repeat(1000)]), ['grpc-status', '0']]) : headerBlock([[':status', '200'], ['content-type', 'application/grpc'], ['grpc-status', '0']]);
      huge = false;
      return [frame(HEADERS, END_HEADERS | END_STREAM, id, headers)];
    });
    const client = await clientFor(port);
    expect((await unary(client)).error?.code).toBe(GrpcStatus.UNAVAILABLE);
    // A trailers-only OK with no message is what the endpoint answers now: grpc-js calls that an error of its own kind (no response message), not UNAVAILABLE.
    expect((await unary(client)).error?.code).not.toBe(GrpcStatus.UNAVAILABLE);
  });

  it('GOAWAY before the call is processed (last stream id 0): the call goes again on a fresh session, once; a second refusal is UNAVAILABLE', async () => {
    let goaways = 0;
    let refuse = 1;
    const port = await rawEndpoint((id) => {
      if (refuse-- > 0) {
        goaways++;
        const payload = Buffer.alloc(8);
        return [frame(GOAWAY, 0, 0, payload)];
      }
      return [frame(HEADERS, END_HEADERS, id, RESPONSE_HEADERS), frame(DATA, 0, id, message('after goaway')), frame(HEADERS, END_HEADERS | END_STREAM, id, headerBlock([['grpc-status', '0']]))];
    });
    const client = await clientFor(port);
    // The endpoint never processed it (REFUSED_STREAM): a POST is safe to send again, on a new session.
    expect(await unary(client)).toEqual({ error: null, value: 'after goaway' });
    expect(goaways).toBe(1);
    // Refused on the fresh session too: one replay only, then UNAVAILABLE.
    refuse = 2;
    expect((await unary(client)).error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(goaways).toBe(3);
  });

  it('streams reset by the endpoint before any answer: each call UNAVAILABLE (502), 30 in a row leave one session', async () => {
    let streams = 0;
    const server = createH2Server();
    let sessions = 0;
    server.on('session', () => sessions++);
    server.on('stream', (stream: ServerHttp2Stream) => {
      streams++;
      stream.on('error', () => {});
      stream.close(0x2);
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const client = await clientFor((server.address() as AddressInfo).port);
    for (let i = 0; i < 30; i++) {
      const { error } = await unary(client);
      expect(error?.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(error?.details).toMatch(/could not reach a healthy endpoint/);
    }
    // gRPC calls are POSTs: never replayed on a reset (the endpoint may have acted on them).
    expect(streams).toBe(30);
    expect(sessions).toBe(1);
  });

  it('too many streams: an endpoint taking one stream at a time, 8 sessions busy, the 9th call is UNAVAILABLE at once; then all finish', async () => {
    const held: ServerHttp2Stream[] = [];
    const server = createH2Server({ settings: { maxConcurrentStreams: 1 } });
    server.on('stream', (stream: ServerHttp2Stream) => {
      stream.on('error', () => {});
      held.push(stream);
    });
    await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => {
      server.close(() => resolve());
    }));
    const client = await clientFor((server.address() as AddressInfo).port);
    const hanging = Array.from({ length: 8 }, () => unary(client));
    await expect.poll(() => held.length, { timeout: 5000 }).toBe(8);
    const refused = await unary(client);
    expect(refused.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(refused.error?.details).toMatch(/no endpoint available/);
    for (const stream of held) {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(message('late'));
    }
    for (const result of await Promise.all(hanging)) expect(result).toEqual({ error: null, value: 'late' });
  });
});
