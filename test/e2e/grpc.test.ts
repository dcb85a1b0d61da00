/**
 * gRPC through `portico standalone` as a process (issue 12), with two workers (the bundle path)
 * and `--h2c`: a manifest directory with an Ingress using `backend-protocol: GRPC` and a Service
 * port with `appProtocol: kubernetes.io/h2c` behind a plain Ingress; @grpc/grpc-js clients and
 * servers on loopback. Unary and bidi calls, the export showing the backend's protocol, a
 * refused connect as UNAVAILABLE, and an HTTP/1.1 client of the h2c backend.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createH2Server } from 'node:http2';
import type { Http2Server } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor, status as GrpcStatus } from '@grpc/grpc-js';
import type { Client, ServerDuplexStream, ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/kubectl.ts';
import type { Child, StandalonePorts } from '../support/processes.ts';
import { freePort, getWithHost as get, startStandalone } from '../support/processes.ts';

const TOKEN = 'test-token-0123456789abcdef0123456789abcdef';
const identity = (value: Buffer): Buffer => value;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({ path: `/portico.e2e.Echo/${name}`, requestStream, responseStream, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: name });
const SERVICE = { Unary: method('Unary', false, false), Bidi: method('Bidi', true, true) };
const EchoClient = makeGenericClientConstructor(SERVICE, 'Echo');
type EchoClient = Client & { Unary: (...args: unknown[]) => unknown; Bidi: () => NodeJS.ReadWriteStream };

function ingress(name: string, host: string, service: string, annotations: Record<string, string>): string {
  return JSON.stringify({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'rpc', annotations }, spec: { ingressClassName: 'portico', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }] } });
}

function service(name: string, port: number, appProtocol?: string): string {
  const servicePort = appProtocol === undefined ? '{port: 80}' : `{port: 80, appProtocol: ${appProtocol}}`;
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: rpc}\nspec: {ports: [${servicePort}]}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: ${name}-1, namespace: rpc, labels: {kubernetes.io/service-name: ${name}}}\naddressType: IPv4\nports: [{port: ${port}}]\nendpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]\n`;
}

function unary(client: EchoClient, text: string): Promise<{ error: ServiceError | null; value: string | undefined }> {
  return new Promise((resolve) => client.Unary(Buffer.from(text), new Metadata(), (error: ServiceError | null, value?: Buffer) => resolve({ error, value: value?.toString() })));
}

describe('gRPC through portico standalone (--workers 2 --h2c)', () => {
  const children: Child[] = [];
  let dir: string;
  let ports: StandalonePorts;
  let grpc: Server;
  let h2c: Http2Server;
  let client: EchoClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portico-grpc-e2e-'));
    grpc = new Server();
    grpc.addService(SERVICE, {
      Unary(call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) {
        callback(null, Buffer.from(`echo ${call.request.toString()}`));
      },
      Bidi(call: ServerDuplexStream<Buffer, Buffer>) {
        call.on('data', (message: Buffer) => call.write(Buffer.from(`re: ${message.toString()}`)));
        call.on('end', () => call.end());
      },
    });
    const grpcPort = await new Promise<number>((resolve, reject) => grpc.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))));
    h2c = createH2Server((request, response) => response.end(`h2c says ${request.url} over HTTP/${request.httpVersion}`));
    const h2cPort = await freePort();
    await new Promise<void>((resolve) => h2c.listen(h2cPort, '127.0.0.1', resolve));
    const closed = await freePort();
    await writeFile(
      join(dir, 'rpc.yaml'),
      [
        service('echo', grpcPort),
        service('plain-h2c', h2cPort, 'kubernetes.io/h2c'),
        service('gone', closed),
        ingress('echo', 'echo.rpc.test', 'echo', { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' }),
        ingress('h2c', 'h2c.rpc.test', 'plain-h2c', {}),
        ingress('gone', 'gone.rpc.test', 'gone', { 'nginx.ingress.kubernetes.io/backend-protocol': 'GRPC' }),
      ].join('\n---\n'),
    );
    const portico = await startStandalone(dir, join(dir, '.data'), { token: TOKEN, https: false, workers: 2, args: ['--h2c'] });
    children.push(portico.child);
    ports = portico.ports;
    client = new EchoClient(`127.0.0.1:${ports.http}`, credentials.createInsecure(), { 'grpc.default_authority': 'echo.rpc.test' }) as unknown as EchoClient;
  }, 90_000);

  afterAll(async () => {
    client?.close();
    for (const child of children.reverse()) await child.stop();
    grpc?.forceShutdown();
    await new Promise<void>((resolve) => (h2c ? h2c.close(() => resolve()) : resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves unary and bidi calls on every worker, and the export names the backend protocol', async () => {
    const first = await eventually(async () => {
      const answer = await unary(client, 'hello');
      return answer.error === null ? answer : undefined;
    }, 15_000, 'a unary call through portico');
    expect(first.value).toBe('echo hello');
    for (let i = 0; i < 20; i++) expect((await unary(client, `n${i}`)).value).toBe(`echo n${i}`);
    const call = client.Bidi();
    for (let i = 0; i < 5; i++) {
      const reply = new Promise<string>((resolve) => call.once('data', (message: Buffer) => resolve(message.toString())));
      call.write(Buffer.from(`m${i}`));
      expect(await reply).toBe(`re: m${i}`);
    }
    const ended = new Promise<void>((resolve) => call.on('end', () => resolve()));
    call.end();
    await ended;
    const response = await fetch(`http://127.0.0.1:${ports.api}/v1/snapshots/current`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const current = (await response.json()) as { snapshot: { hosts: { host: string; routes: { backends: { protocol?: string }[] }[] }[] } };
    const protocols = Object.fromEntries(current.snapshot.hosts.map((host) => [host.host, host.routes[0]?.backends[0]?.protocol]));
    expect(protocols).toEqual({ 'echo.rpc.test': 'grpc', 'gone.rpc.test': 'grpc', 'h2c.rpc.test': 'h2' });
  });

  it('a GRPC backend that refuses connections is UNAVAILABLE from Portico, not a text body', async () => {
    const gone = new EchoClient(`127.0.0.1:${ports.http}`, credentials.createInsecure(), { 'grpc.default_authority': 'gone.rpc.test' }) as unknown as EchoClient;
    try {
      const answer = await unary(gone, 'x');
      expect(answer.error?.code).toBe(GrpcStatus.UNAVAILABLE);
      expect(answer.error?.details).toMatch(/Portico/);
    } finally {
      gone.close();
    }
  });

  it('an HTTP/1.1 client reaches the appProtocol kubernetes.io/h2c backend over HTTP/2', async () => {
    const answer = await get(ports.http, 'h2c.rpc.test', '/x?y=1');
    expect(answer).toMatchObject({ status: 200, body: 'h2c says /x?y=1 over HTTP/2.0' });
  });
});
