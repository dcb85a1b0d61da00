/**
 * Test helpers for the gRPC suites (not shipped in any code path): a @grpc/grpc-js service
 * without protobuf (messages are raw bytes), a loopback server running it, and a client of it.
 */
import { Server, ServerCredentials, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { Client, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { LOOPBACK } from './test-support.ts';

const identity = (value: Buffer): Buffer => value;

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return { path: `/portico.test.Echo/${name}`, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: name };
}

/** The test service: Unary, ServerStream, ClientStream and Bidi, all over raw byte messages. */
export const ECHO_SERVICE: ServiceDefinition = {
  Unary: method('Unary', false, false),
  ServerStream: method('ServerStream', false, true),
  ClientStream: method('ClientStream', true, false),
  Bidi: method('Bidi', true, true),
};

/** A client constructor for ECHO_SERVICE. */
export const EchoClient = makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** A grpc-js server for ECHO_SERVICE on 127.0.0.1 (random port, h2c). */
export async function startGrpcServer(implementation: UntypedServiceImplementation): Promise<{ port: number; server: Server; close: () => Promise<void> }> {
  const server = new Server();
  server.addService(ECHO_SERVICE, implementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(`${LOOPBACK}:0`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  return { port, server, close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())).then(() => server.forceShutdown()) };
}

/** A grpc-js client to `port` (h2c prior knowledge) sending `:authority: authority`. */
export function grpcClient(port: number, authority: string): Client & Record<string, (...args: unknown[]) => unknown> {
  return new EchoClient(`${LOOPBACK}:${port}`, credentials.createInsecure(), { 'grpc.default_authority': authority, 'grpc.enable_retries': 0 }) as unknown as Client & Record<string, (...args: unknown[]) => unknown>;
}
