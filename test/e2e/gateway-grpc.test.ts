/**
 * GRPCRoute end to end through `portico standalone --h2c`: a Gateway and a GRPCRoute in a
 * manifest directory, @grpc/grpc-js client and server on loopback. The method match routes
 * `portico.e2e.Echo/Unary` to the echo server over HTTP/2; a method no rule matches is not
 * served; a rule whose only backend refuses connections is UNAVAILABLE as a gRPC status, and so
 * are invalid backendRefs (all of a rule's, or their weight share).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, status as GrpcStatus } from '@grpc/grpc-js';
import type { Client, ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, startStandalone, stopAll } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const identity = (value: Buffer): Buffer => value;
const unaryMethod = (service: string, name: string) => ({ path: `/${service}/${name}`, requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: name });
const ECHO = { Unary: unaryMethod('portico.e2e.Echo', 'Unary'), Other: unaryMethod('portico.e2e.Echo', 'Other') };
const DOWN = { Call: unaryMethod('portico.e2e.Down', 'Call') };
const INVALID = { Call: unaryMethod('portico.e2e.Invalid', 'Call') };
const HALF = { Call: unaryMethod('portico.e2e.Half', 'Call') };
type UnaryClient = Client & Record<string, (...args: unknown[]) => unknown>;

/** One unary call with a deadline (a call that never ends would otherwise hold a whole retry budget). */
function call(client: UnaryClient, method: string, text: string, deadlineMs = 5_000): Promise<{ error: ServiceError | null; value: string | undefined }> {
  return new Promise((resolve) => client[method]!(Buffer.from(text), new Metadata(), { deadline: Date.now() + deadlineMs }, (error: ServiceError | null, value?: Buffer) => resolve({ error, value: value?.toString() })));
}

const G = 'gateway.networking.k8s.io/v1';
const service = (name: string, port: number) =>
  `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: rpc}\nspec: {ports: [{port: 80}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: rpc, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`;

describe('GRPCRoute through portico standalone (--h2c)', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let grpc: Server;
  const clients: UnaryClient[] = [];
  const client = (methods: object) => {
    const made = new (makeGenericClientConstructor(methods as never, 'Any'))(`127.0.0.1:${ports.http}`, credentials.createInsecure(), { 'grpc.default_authority': 'rpc.test' }) as unknown as UnaryClient;
    clients.push(made);
    return made;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-gateway-grpc-'));
    grpc = new Server();
    grpc.addService(ECHO, {
      Unary: (request: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, Buffer.from(`echo ${request.request.toString()}`)),
      Other: (_request: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, Buffer.from('other')),
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
    const closed = await freePort();
    await writeFile(
      join(dir, 'rpc.yaml'),
      [
        service('echo', grpcPort),
        service('down', closed),
        `apiVersion: ${G}\nkind: GatewayClass\nmetadata: {name: portico}\nspec: {controllerName: portico.dev/gateway-controller}\n`,
        `apiVersion: ${G}\nkind: Gateway\nmetadata: {name: edge, namespace: rpc}\nspec:\n  gatewayClassName: portico\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n`,
        `apiVersion: ${G}\nkind: GRPCRoute\nmetadata: {name: echo, namespace: rpc}\nspec:\n  parentRefs: [{name: edge}]\n  hostnames: [rpc.test]\n  rules:\n  - matches: [{method: {service: portico.e2e.Echo, method: Unary}}]\n    backendRefs: [{name: echo, port: 80}]\n  - matches: [{method: {service: portico.e2e.Down}}]\n    backendRefs: [{name: down, port: 80}]\n  - matches: [{method: {service: portico.e2e.Invalid}}]\n    backendRefs: [{name: missing, port: 80}]\n  - matches: [{method: {service: portico.e2e.Half}}]\n    backendRefs: [{name: echo, port: 80}, {name: missing, port: 80}]\n`,
      ].join('---\n'),
    );
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, https: false, args: ['--h2c'] });
    children.push(portico.child);
    ports = portico.ports;
  }, 90_000);

  afterAll(async () => {
    for (const made of clients) made.close();
    await stopAll(children);
    grpc?.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  it('routes by service and method to a gRPC backend over HTTP/2', async () => {
    const echo = client(ECHO);
    const failures: string[] = [];
    const answer = await eventually(async () => {
      const got = await call(echo, 'Unary', 'hello');
      if (got.error !== null) failures.push(`${got.error.code} ${got.error.details}`);
      return got.error === null ? got : undefined;
    }, 25_000, 'a unary call through the GRPCRoute').catch((error: unknown) => {
      throw new Error(`${String(error)}; the calls failed with: ${failures.slice(-5).join(' | ')}`);
    });
    expect(answer.value).toBe('echo hello');
    // The same service's other method has no rule: not served, whatever the backend could answer.
    const other = await call(echo, 'Other', 'x');
    expect(other.error).not.toBeNull();
    expect(other.value).toBeUndefined();
  });

  it('a rule whose backend refuses connections answers UNAVAILABLE as a gRPC status', async () => {
    const answer = await call(client(DOWN), 'Call', 'x');
    expect(answer.error?.code).toBe(GrpcStatus.UNAVAILABLE);
  });

  it('invalid backendRefs answer UNAVAILABLE as a gRPC status (the GRPCRoute spec), not a bare HTTP 500: all of them, or their weight share', async () => {
    const all = await call(client(INVALID), 'Call', 'x');
    expect(all.error?.code).toBe(GrpcStatus.UNAVAILABLE);
    expect(all.error?.details).toContain('backendRef');
    // Half the weight is an invalid backendRef: exactly every other call gets UNAVAILABLE, the rest reach the
    // echo server (which does not implement this service: UNIMPLEMENTED from the backend itself).
    const half = client(HALF);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await call(half, 'Call', 'x')).error?.code ?? GrpcStatus.OK);
    expect(codes.filter((code) => code === GrpcStatus.UNAVAILABLE)).toHaveLength(2);
    expect(codes.filter((code) => code === GrpcStatus.UNIMPLEMENTED)).toHaveLength(2);
  });
});
