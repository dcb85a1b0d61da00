/**
 * gRPC end to end through the real data plane: @grpc/grpc-js clients over HTTP/2 (h2c prior
 * knowledge on the plain port) to grpc-js servers on loopback, configured from manifests with
 * `backend-protocol: GRPC`: unary, server/client/bidi streaming, status and trailers, metadata,
 * Portico's own failures as gRPC statuses, `grpc-timeout` as the deadline, an endpoint failing
 * mid-stream, a bidi stream across 50 snapshot swaps, and an HTTP/1.1 gRPC call refused.
 */
import { connect as connectHttp2, createServer as createH2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import type { ServerDuplexStream, ServerReadableStream, ServerUnaryCall, ServerWritableStream, sendUnaryData, ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import type { DataPlane } from './dataplane.ts';
import { CANCEL } from './h2/codes.ts';
import { grpcClient, startGrpcServer } from './grpc-support.ts';
import { startH2DataPlane } from './h2/test-support.ts';
import { LOOPBACK, annotatedIngress, appManifests, closedPort, compileManifests, rawExchange } from './test-support.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const BP = 'nginx.ingress.kubernetes.io/backend-protocol';

/** The echo implementation: what each kind of call does with its messages. */
const ECHO = {
  Unary(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
    const text = call.request.toString();
    if (text === 'fail') {
      const trailer = new Metadata();
      trailer.set('x-why', 'asked to');
      callback({ code: GrpcStatus.FAILED_PRECONDITION, details: 'failing as asked', metadata: trailer } as ServiceError);
      return;
    }
    const trailer = new Metadata();
    trailer.set('x-trailer', 'unary');
    callback(null, Buffer.from(`echo ${text} ${String(call.metadata.get('x-hello')[0] ?? '')}`), trailer);
  },
  ServerStream(call: ServerWritableStream<Buffer, Buffer>) {
    const count = Number(call.request.toString());
    for (let i = 0; i < count; i++) call.write(Buffer.from(`item ${i}`));
    call.end();
  },
  ClientStream(call: ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
    const parts: string[] = [];
    call.on('data', (message: Buffer) => parts.push(message.toString()));
    call.on('end', () => callback(null, Buffer.from(parts.join('+'))));
  },
  Bidi(call: ServerDuplexStream<Buffer, Buffer>) {
    call.on('data', (message: Buffer) => call.write(Buffer.from(`re: ${message.toString()}`)));
    call.on('end', () => call.end());
  },
};

/** The snapshot for a GRPC backend at `port`, plus an Ingress for `extra.test` (a route that changes between versions). */
function grpcSnapshot(port: number, extra = 'extra') {
  return compileManifests(appManifests(port, [annotatedIngress('grpc', 'grpc.test', { [BP]: 'GRPC' }), annotatedIngress('other', `${extra}.test`, {})]));
}

async function planeFor(port: number): Promise<DataPlane> {
  const { snapshot, conditions } = grpcSnapshot(port);
  expect(conditions.filter((c) => c.severity === 'Error')).toEqual([]);
  const plane = await startH2DataPlane(snapshot);
  cleanups.push(() => plane.close(1000));
  return plane;
}

type Call = (...args: unknown[]) => unknown;

/** A data plane to the GRPC endpoint at `port` and a grpc-js client of grpc.test through it (both closed after the test). */
async function clientFor(port: number): Promise<{ plane: DataPlane; client: ReturnType<typeof grpcClient> }> {
  const plane = await planeFor(port);
  const client = grpcClient(plane.ports.http, 'grpc.test');
  cleanups.push(() => client.close());
  return { plane, client };
}

function unary(client: Record<string, Call>, message: string, metadata = new Metadata()): Promise<{ error: ServiceError | null; value: string | undefined; trailers: Metadata | undefined }> {
  return new Promise((resolve) => {
    let trailers: Metadata | undefined;
    const call = client.Unary!(Buffer.from(message), metadata, (error: ServiceError | null, value?: Buffer) => {
      setImmediate(() => resolve({ error, value: value?.toString(), trailers: trailers ?? error?.metadata }));
    }) as { on(event: string, listener: (value: { metadata: Metadata }) => void): void };
    call.on('status', (status) => (trailers = status.metadata));
  });
}

describe('gRPC through Portico (HTTP/2 both sides)', () => {
  it('unary calls: the answer, metadata both ways, trailers, and an application error status with its message', async () => {
    const server = await startGrpcServer(ECHO);
    cleanups.push(() => server.close());
    const { client } = await clientFor(server.port);
    const metadata = new Metadata();
    metadata.set('x-hello', 'world');
    const ok = await unary(client, 'ping', metadata);
    expect(ok.error).toBeNull();
    expect(ok.value).toBe('echo ping world');
    expect(ok.trailers?.get('x-trailer')).toEqual(['unary']);
    const failed = await unary(client, 'fail');
    expect(failed.error?.code).toBe(GrpcStatus.FAILED_PRECONDITION);
    expect(failed.error?.details).toBe('failing as asked');
    expect(failed.error?.metadata.get('x-why')).toEqual(['asked to']);
  });

  it('server streaming, client streaming and bidi streaming', async () => {
    const server = await startGrpcServer(ECHO);
    cleanups.push(() => server.close());
    const { client } = await clientFor(server.port);

    const items: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.ServerStream!(Buffer.from('100')) as NodeJS.EventEmitter;
      call.on('data', (message: Buffer) => items.push(message.toString()));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    expect(items).toHaveLength(100);
    expect(items[99]).toBe('item 99');

    const joined = await new Promise<string>((resolve, reject) => {
      const call = client.ClientStream!((error: ServiceError | null, value?: Buffer) => (error ? reject(error) : resolve(String(value)))) as NodeJS.WritableStream;
      for (const part of ['a', 'b', 'c']) call.write(Buffer.from(part));
      call.end();
    });
    expect(joined).toBe('a+b+c');

    const call = client.Bidi!() as NodeJS.ReadWriteStream;
    const replies: string[] = [];
    const next = () => new Promise<string>((resolve) => call.once('data', (message: Buffer) => resolve(message.toString())));
    for (let i = 0; i < 10; i++) {
      const reply = next();
      call.write(Buffer.from(`m${i}`));
      replies.push(await reply);
    }
    const ended = new Promise<void>((resolve) => call.on('end', () => resolve()));
    call.end();
    await ended;
    expect(replies).toEqual(Array.from({ length: 10 }, (_, i) => `re: m${i}`));
  });
});

/** One unary call by a raw HTTP/2 client (which enforces no deadline itself): the response headers and trailers. */
function rawGrpcCall(port: number, headers: Record<string, string>): Promise<{ headers: Record<string, unknown>; trailers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const session = connectHttp2(`http://${LOOPBACK}:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': '/portico.test.Echo/Unary', ':authority': 'grpc.test', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let responseHeaders: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    stream.on('response', (received) => (responseHeaders = received));
    stream.on('trailers', (received) => (trailers = received));
    stream.on('data', () => {});
    stream.on('error', () => {});
    stream.on('close', () => {
      session.close();
      resolve({ headers: responseHeaders, trailers });
    });
    // One empty gRPC message: flag 0, length 0.
    stream.end(Buffer.alloc(5));
  });
}

describe('gRPC: Portico\'s own answers and deadlines', () => {
  it('no ready endpoint, a refused connect and an unknown host answer as gRPC statuses (trailers-only), never text bodies', async () => {
    const port = await closedPort();
    const { plane, client } = await clientFor(port);
    const refused = await unary(client, 'x');
    expect(refused.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(refused.error?.details).toMatch(/Portico could not reach a healthy endpoint/);
    const raw = await rawGrpcCall(plane.ports.http, {});
    expect(raw.headers).toMatchObject({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14' });
    const lost = grpcClient(plane.ports.http, 'nowhere.test');
    cleanups.push(() => lost.close());
    expect((await unary(lost, 'x')).error?.code).toBe(GrpcStatus.UNIMPLEMENTED);
    // No endpoint at all (the EndpointSlice lists none ready): 503 → UNAVAILABLE.
    const { snapshot } = compileManifests(appManifests(port, [annotatedIngress('grpc', 'grpc.test', { [BP]: 'GRPC' })]).replace('conditions: {ready: true}', 'conditions: {ready: false}'));
    plane.load(snapshot);
    const none = await unary(client, 'x');
    expect(none.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(none.error?.details).toMatch(/no endpoint available/);
  });

  it('grpc-timeout bounds the call: a silent endpoint gives DEADLINE_EXCEEDED from Portico, and the endpoint\'s stream is cancelled', async () => {
    // A raw HTTP/2 endpoint that never answers and enforces no deadline itself (a grpc-js server would).
    const silent = createH2Server();
    const cancelled: number[] = [];
    silent.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.on('close', () => cancelled.push(stream.rstCode ?? -1));
    });
    await new Promise<void>((resolve) => silent.listen(0, LOOPBACK, resolve));
    cleanups.push(() => new Promise<void>((resolve) => silent.close(() => resolve())));
    const plane = await planeFor((silent.address() as AddressInfo).port);
    // The raw client has no deadline of its own either: what it gets is Portico's (the route's read timeout is 60 s).
    const raw = await rawGrpcCall(plane.ports.http, { 'grpc-timeout': '300m' });
    expect(raw.headers).toMatchObject({ ':status': 200, 'grpc-status': '4' });
    expect(decodeURIComponent(String(raw.headers['grpc-message']))).toMatch(/deadline exceeded in Portico/);
    await expect.poll(() => cancelled, { timeout: 5000 }).toEqual([CANCEL]);
    // A grpc-js deadline: the client gives up at it, and Portico cancels the endpoint's stream.
    const client = grpcClient(plane.ports.http, 'grpc.test');
    cleanups.push(() => client.close());
    const expired = await new Promise<ServiceError | null>((resolve) => {
      client.Unary!(Buffer.from('x'), new Metadata(), { deadline: Date.now() + 300 }, (error: ServiceError | null) => resolve(error));
    });
    expect(expired?.code).toBe(GrpcStatus.DEADLINE_EXCEEDED);
    await expect.poll(() => cancelled, { timeout: 5000 }).toEqual([CANCEL, CANCEL]);
  });

  it('hostile: an unreadable grpc-timeout is ignored, and the route\'s own timeouts still apply', async () => {
    const server = await startGrpcServer(ECHO);
    cleanups.push(() => server.close());
    const plane = await planeFor(server.port);
    for (const timeout of ['300', '1x', '123456789S', '-1S', '']) {
      const raw = await rawGrpcCall(plane.ports.http, { 'grpc-timeout': timeout });
      // grpc-js's own server answers (it may refuse the header itself), never Portico's deadline.
      expect(decodeURIComponent(String(raw.trailers['grpc-message'] ?? raw.headers['grpc-message'] ?? ''))).not.toMatch(/Portico/);
    }
  });

  it('an endpoint failing mid-stream ends the call UNAVAILABLE, after the messages it had sent', async () => {
    const server = await startGrpcServer({
      ...ECHO,
      ServerStream(call: ServerWritableStream<Buffer, Buffer>) {
        for (let i = 0; i < 3; i++) call.write(Buffer.from(`item ${i}`));
        // The endpoint process dies: its connections are gone, the call never ends properly.
        setTimeout(() => server.server.forceShutdown(), 50);
      },
    });
    cleanups.push(() => server.close());
    const { client } = await clientFor(server.port);
    const items: string[] = [];
    const error = await new Promise<ServiceError>((resolve) => {
      const call = client.ServerStream!(Buffer.from('3')) as NodeJS.EventEmitter;
      call.on('data', (message: Buffer) => items.push(message.toString()));
      call.on('error', resolve);
    });
    expect(items).toEqual(['item 0', 'item 1', 'item 2']);
    expect(error.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(error.details).toMatch(/failed mid-stream/);
  });

  it('a bidi stream survives 50 snapshot swaps (route changes) and ends cleanly', async () => {
    const server = await startGrpcServer(ECHO);
    cleanups.push(() => server.close());
    const { plane, client } = await clientFor(server.port);
    const call = client.Bidi!() as NodeJS.ReadWriteStream;
    const next = () => new Promise<string>((resolve) => call.once('data', (message: Buffer) => resolve(message.toString())));
    const versions = new Set<string>();
    for (let round = 1; round <= 50; round++) {
      const { snapshot } = grpcSnapshot(server.port, `round-${round}`);
      plane.load(snapshot);
      versions.add(snapshot.version);
      const reply = next();
      call.write(Buffer.from(`after ${round}`));
      expect(await reply).toBe(`re: after ${round}`);
    }
    expect(versions.size).toBe(50);
    const ended = new Promise<void>((resolve, reject) => {
      call.on('end', () => resolve());
      call.on('error', reject);
    });
    call.end();
    await ended;
  });

  it('an HTTP/1.1 gRPC call is answered 505 (gRPC needs HTTP/2), and never reaches the endpoint', async () => {
    let calls = 0;
    const server = await startGrpcServer({
      ...ECHO,
      Unary(_call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
        calls++;
        callback(null, Buffer.alloc(0));
      },
    });
    cleanups.push(() => server.close());
    const plane = await planeFor(server.port);
    const response = await rawExchange(plane.ports.http, 'POST /portico.test.Echo/Unary HTTP/1.1\r\nHost: grpc.test\r\nContent-Type: application/grpc\r\nTE: trailers\r\nContent-Length: 5\r\n\r\n\0\0\0\0\0');
    expect(response).toMatch(/^HTTP\/1\.1 505 /);
    expect(calls).toBe(0);
  });
});
