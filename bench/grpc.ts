/**
 * gRPC benchmark (not a test): unary calls per second through Portico against the same grpc-js
 * server called directly, in alternating rounds in one run. Portico is the real
 * `portico standalone --workers 1 --h2c --no-access-log` process a user runs, with a manifest
 * directory holding one Ingress with `backend-protocol: GRPC`; the server runs in its own process.
 * The load is @grpc/grpc-js clients in this process (`--channels` HTTP/2 connections, `--concurrency`
 * calls in flight across them) sending a 64-byte message that the server echoes.
 *
 *   npm run bench:grpc [-- --rounds 3 --duration 5 --concurrency 32 --channels 4 --json]
 *
 * Figures are medians over the rounds: calls/s, mean latency, and for Portico the CPU time (user +
 * system, from /proc) its process spent per call. Everything listens on 127.0.0.1; every child
 * process is killed on exit.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Metadata, Server, ServerCredentials, credentials, makeGenericClientConstructor } from '@grpc/grpc-js';
import type { Client, ServerUnaryCall, ServiceError, sendUnaryData } from '@grpc/grpc-js';
import { benchArgs, integerArg } from './args.ts';

const NAME = 'bench:grpc';
const USAGE = `Usage: npm run bench:grpc [-- options]

gRPC unary calls/s through \`portico standalone --workers 1 --h2c --no-access-log\` (an Ingress with
backend-protocol: GRPC) against the same grpc-js server called directly, in alternating rounds;
prints medians, the ratio and Portico's CPU per call. Loopback only.

Options:
  --rounds N       Rounds per target (default 3).
  --duration S     Seconds per round (default 5).
  --concurrency N  Calls in flight across the channels (default 32).
  --channels N     HTTP/2 connections per target (default 4).
  --json           Print the figures as JSON.
  -h, --help       Show this help.`;
const PORTICO_BIN = new URL('../dataplane/src/cli/main.ts', import.meta.url).pathname;
const HOST = '127.0.0.1';
const VHOST = 'grpc.bench';
const identity = (value: Buffer): Buffer => value;
const SERVICE = { Unary: { path: '/portico.bench.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: 'Unary' } };
const EchoClient = makeGenericClientConstructor(SERVICE, 'Echo');
type Echo = Client & { Unary: (message: Buffer, metadata: Metadata, callback: (error: ServiceError | null, value?: Buffer) => void) => unknown };

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Total CPU seconds of a process and its children that are still running (the standalone's worker). */
function treeCpu(pid: number): number {
  let total = cpuSeconds(pid);
  try {
    for (const child of readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)) total += treeCpu(Number(child));
  } catch {
    // A process that ended between the reads counts no more.
  }
  return total;
}

function call(client: Echo, message: Buffer): Promise<void> {
  return new Promise((resolve, reject) => client.Unary(message, new Metadata(), (error) => (error ? reject(error) : resolve())));
}

/** Calls in flight `concurrency` at a time over `clients` for `seconds`: calls/s and mean latency. */
async function load(clients: readonly Echo[], concurrency: number, seconds: number): Promise<{ rate: number; meanMs: number; calls: number }> {
  const message = Buffer.alloc(64, 7);
  const until = performance.now() + seconds * 1000;
  let calls = 0;
  let latency = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      const client = clients[i % clients.length] as Echo;
      while (performance.now() < until) {
        const started = performance.now();
        await call(client, message);
        latency += performance.now() - started;
        calls++;
      }
    }),
  );
  return { rate: calls / seconds, meanMs: latency / calls, calls };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function main(): Promise<void> {
  const values = benchArgs(NAME, USAGE, { rounds: { type: 'string', default: '3' }, duration: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '32' }, channels: { type: 'string', default: '4' }, json: { type: 'boolean', default: false } });
  const rounds = integerArg(NAME, 'rounds', values.rounds, 1, 100);
  const duration = integerArg(NAME, 'duration', values.duration, 1, 3600);
  const concurrency = integerArg(NAME, 'concurrency', values.concurrency, 1, 10_000);
  const channels = integerArg(NAME, 'channels', values.channels, 1, 256);
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'portico-bench-grpc-'));
  const stop = () => {
    for (const child of children) child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  try {
    const server = spawn(process.execPath, [new URL(import.meta.url).pathname, '--serve'], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(server);
    const serverPort = await new Promise<number>((resolve) => server.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim()))));
    writeFileSync(
      join(dir, 'grpc.yaml'),
      [
        `apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: bench}\nspec: {ports: [{port: 80}]}\n`,
        `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: echo-1, namespace: bench, labels: {kubernetes.io/service-name: echo}}\naddressType: IPv4\nports: [{port: ${serverPort}}]\nendpoints: [{addresses: [${HOST}], conditions: {ready: true}}]\n`,
        `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: echo, namespace: bench, annotations: {nginx.ingress.kubernetes.io/backend-protocol: GRPC}}\nspec: {ingressClassName: portico, rules: [{host: ${VHOST}, http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: echo, port: {number: 80}}}}]}}]}\n`,
      ].join('---\n'),
    );
    const [http, admin, api] = [await freePort(), await freePort(), await freePort()];
    const portico = spawn(process.execPath, [PORTICO_BIN, 'standalone', '--manifests', dir, '--data-dir', join(dir, '.data'), '--workers', '1', '--h2c', '--no-access-log', '--http-port', String(http), '--https-port', 'off', '--admin-port', String(admin), '--api-port', String(api)], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, PORTICO_API_TOKEN: 'bench-token-0123456789abcdef0123456789abcdef' } });
    children.push(portico);
    const make = (port: number, authority: string) => Array.from({ length: channels }, (_, i) => new EchoClient(`${HOST}:${port}`, credentials.createInsecure(), { 'grpc.default_authority': authority, 'grpc.use_local_subchannel_pool': 1, 'bench.channel': i }) as unknown as Echo);
    const direct = make(serverPort, 'direct');
    const via = make(http, VHOST);
    const deadline = performance.now() + 60_000;
    for (;;) {
      try {
        await call(via[0] as Echo, Buffer.alloc(1));
        break;
      } catch (error) {
        if (performance.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    // Warm both paths up before measuring.
    await load(direct, concurrency, 1);
    await load(via, concurrency, 1);
    const rows = { direct: [] as { rate: number; meanMs: number }[], portico: [] as { rate: number; meanMs: number; cpuUs: number }[] };
    for (let round = 0; round < rounds; round++) {
      rows.direct.push(await load(direct, concurrency, duration));
      const before = treeCpu(portico.pid as number);
      const measured = await load(via, concurrency, duration);
      rows.portico.push({ ...measured, cpuUs: ((treeCpu(portico.pid as number) - before) * 1e6) / measured.calls });
    }
    const summary = {
      direct: { calls_per_s: median(rows.direct.map((r) => r.rate)), mean_ms: median(rows.direct.map((r) => r.meanMs)) },
      portico: { calls_per_s: median(rows.portico.map((r) => r.rate)), mean_ms: median(rows.portico.map((r) => r.meanMs)), cpu_us_per_call: median(rows.portico.map((r) => r.cpuUs)) },
    };
    const ratio = summary.portico.calls_per_s / summary.direct.calls_per_s;
    if (values.json) console.log(JSON.stringify({ ...summary, ratio, rounds, duration, concurrency, channels }));
    else {
      console.log(`gRPC unary, ${concurrency} in flight over ${channels} channels, ${rounds} × ${duration} s (medians)`);
      console.log(`  direct   ${summary.direct.calls_per_s.toFixed(0).padStart(7)} calls/s  mean ${summary.direct.mean_ms.toFixed(2)} ms`);
      console.log(`  portico  ${summary.portico.calls_per_s.toFixed(0).padStart(7)} calls/s  mean ${summary.portico.mean_ms.toFixed(2)} ms  CPU ${summary.portico.cpu_us_per_call.toFixed(0)} µs/call`);
      console.log(`  portico / direct: ${ratio.toFixed(3)}×`);
    }
    for (const client of [...direct, ...via]) client.close();
  } finally {
    stop();
    process.removeListener('exit', stop);
  }
}

// The server half: `node bench/grpc.ts --serve` prints its port and echoes until killed.
if (process.argv.includes('--serve')) {
  const server = new Server();
  server.addService(SERVICE, { Unary: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => callback(null, call.request) });
  server.bindAsync(`${HOST}:0`, ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    process.stdout.write(`${port}\n`);
  });
} else {
  await main();
}
