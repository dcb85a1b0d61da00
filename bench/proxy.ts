/**
 * Proxy benchmark (not a test): requests/s and latency of Portico against nginx, both 1 worker,
 * both in front of the same loopback backend, driven by wrk in alternating rounds in one run.
 * Portico is the real `portico standalone --workers 1 --no-access-log` process a user runs (the
 * bin, a manifest directory, its API and watcher running beside the proxy); `--in-process` adds
 * a bare in-process Proxy as a fourth row, to tell the CLI's overhead from the proxy's own.
 *
 *   npm run bench:proxy [-- --rounds 3 --duration 5 --connections 50 --threads 1 --json --profile DIR --backend nginx|node --node-flags '...' --in-process --bin PATH --h2 --streams 10 --routes plain,regex,auth-url,auth-cache]
 *
 * `--routes` adds route kinds, each on its own virtual host of the same nginx and Portico, measured
 * in the same alternating rounds: `regex`, an Ingress with `use-regex: "true"` and a few regex paths
 * (nginx: `location ~*` per path, in Portico's order), the request matching one of them; `auth-url`,
 * an Ingress whose `auth-url` is a loopback auth server (a third nginx, `return 200` when the bench's
 * token is sent; nginx: `auth_request` to it over a keep-alive upstream); `auth-cache`, the same with
 * `auth-cache-key: $http_x_bench_token` (200s kept 5 minutes: after the first request every one is
 * answered from the cache; nginx: `proxy_cache` on the auth location as ingress-nginx writes it). `plain` (a Prefix `/`
 * route, the rows without a suffix) is always measured: the others are compared with it.
 *
 * `--h2` adds HTTP/2 rows: h2load (1 thread, `--streams` concurrent streams per connection over
 * `--connections / --streams` connections, so as many requests are in flight as wrk keeps) against nginx with HTTP/2 on a second port and against Portico started with `--h2c`,
 * both HTTP/2 with prior knowledge (h2c) on plain ports, so TLS costs do not hide the protocol's;
 * both still speak HTTP/1.1 to the backend. h2load reports no percentiles: its mean request time
 * stands in the p50 column and its max in the p99 column of those rows.
 *
 * `--bin` runs another checkout's `portico` bin (e.g. to measure before/after a change).
 *
 * Needs `nginx` and `wrk` on PATH (Debian: apt-get install -y nginx wrk), and for `--h2` `h2load`
 * (Debian: apt-get install -y nghttp2-client); installs nothing.
 * The backend is, by default, a third nginx instance (1 worker, `return 200`) on its own port, so
 * the backend costs as little CPU as possible and the same for both proxies; `--backend node`
 * uses a minimal node `net` server instead. `direct` is wrk against the backend itself.
 * Everything listens on 127.0.0.1; every child process is killed on exit.
 * With `--profile DIR` the Portico worker runs with --cpu-prof and writes its profile into DIR;
 * `--node-flags` passes flags to the Portico worker's node (e.g. V8 GC flags).
 *
 * Figures are medians over the rounds. Besides wrk's requests/s and latency, each row shows the
 * CPU time (user + system, from /proc) the server under test spent per request: on a small shared
 * machine, where wrk, the backend and the proxy compete for cores, it is the steadier comparison.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ProxyMetrics } from '../dataplane/src/metrics.ts';
import { Proxy } from '../dataplane/src/proxy.ts';
import { Router } from '../dataplane/src/router.ts';
import { snapshotOf } from '../dataplane/src/test-support.ts';
import { benchArgs, integerArg, usageFailure } from './args.ts';
import { authCachePath, authProxyServer, authServer, authUpstream, backendServer, backendUpstream, nginxConfig, nginxWorkers, proxyServer, regexProxyServer } from './nginx/config.ts';

const PORTICO_BIN = new URL('../dataplane/src/cli/main.ts', import.meta.url).pathname;
const NAME = 'bench:proxy';
const USAGE = `Usage: npm run bench:proxy [-- options]

Requests/s, p50/p99 and CPU per request of a loopback backend direct, behind nginx (1 worker) and
behind \`portico standalone --workers 1 --no-access-log\`, driven by wrk in alternating rounds.
Needs nginx and wrk on PATH (Debian: apt-get install -y nginx wrk); --h2 also h2load (nghttp2-client).

Options:
  --rounds N          Rounds per target (default 3).
  --duration S        Seconds per round (default 5).
  --connections N     wrk connections, and requests in flight for --h2 (default 50).
  --threads N         wrk threads (default 1).
  --backend nginx|node  The backend: nginx \`return 200\` (default) or a minimal node server.
  --h2                Add HTTP/2 rows: h2load over h2c against nginx (http2 on) and Portico --h2c.
  --streams N         With --h2: concurrent streams per connection (default 10).
  --in-process        Add a bare in-process Proxy row (the CLI's own overhead).
  --routes LIST       Route kinds to measure, comma-separated: plain (a Prefix route, always
                      measured), regex (use-regex paths), auth-url (a loopback auth server),
                      auth-cache (auth-url with auth-cache-key: answers from the cache).
  --bin PATH          Another checkout's portico bin (default this one's).
  --profile DIR       Run the Portico worker with --cpu-prof, profiles into DIR.
  --node-flags '...'  Flags for the Portico worker's node.
  --json              Print the figures as JSON.
  -h, --help          Show this help.`;

const HOST = '127.0.0.1';
const VHOST = 'bench.local';
const BODY = 'hello from the bench backend\n';

/** The route kinds `--routes` names, each served on its own virtual host. */
const ROUTE_KINDS = ['plain', 'regex', 'auth-url', 'auth-cache'] as const;
type RouteKind = (typeof ROUTE_KINDS)[number];
/** Per kind: the virtual host, the path wrk requests and the suffix of its rows' names. */
const ROUTES: Record<RouteKind, { vhost: string; path: string; suffix: string }> = {
  plain: { vhost: VHOST, path: '/', suffix: '' },
  regex: { vhost: 'regex.bench.local', path: '/api/v2/items', suffix: '-regex' },
  'auth-url': { vhost: 'auth.bench.local', path: '/', suffix: '-auth' },
  'auth-cache': { vhost: 'authcache.bench.local', path: '/', suffix: '-authcache' },
};
/** The regex host's paths, longest first as Portico tries them; the request matches the third. */
const REGEX_PATHS = ['/users/[a-z]+/profile', '/static/.+[.](css|js)', '/api/v[0-9]+/.*', '/health'];
const AUTH_PATH = '/auth';
/** The auth server lets a request through only with this field, so the bench can see it is asked. */
const AUTH_TOKEN_HEADER = 'X-Bench-Token';
const AUTH_TOKEN = 'bench-token';
/** The auth-cache route's key: the token (a credential, so a request without it is asked). */
const AUTH_CACHE_KEY = '$http_x_bench_token';

/** One wrk measurement. */
interface Figures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /** CPU time (user + system) the server under test spent per request, in µs; NaN when unknown. */
  cpu_us_per_req: number;
}

/** CPU ticks (user + system) of `pid` and its children's threads, from /proc; NaN when unreadable. */
function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return Number.NaN;
    }
  }
  return ticks;
}

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

const children = new Set<ChildProcess>();
let tmp: string | undefined;

function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  children.clear();
  if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}

/**
 * Ends every child (SIGTERM, SIGKILL after 5 s), waits until each has exited, then removes the
 * temporary directory: an exiting nginx still writes into it (its error log, temp paths), so
 * removing it at once used to leave it behind.
 */
async function shutdown(): Promise<void> {
  const running = [...children].filter((child) => child.exitCode === null && child.signalCode === null);
  const exited = running.map((child) => new Promise<void>((done) => child.once('exit', () => done())));
  for (const child of running) child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, 5000);
  await Promise.all(exited);
  clearTimeout(timer);
  cleanup();
}

function cleanUpOnExit(): void {
  process.on('exit', cleanup);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      cleanup();
      process.exit(130);
    });
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, HOST, done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

function track(child: ChildProcess, name: string): ChildProcess {
  children.add(child);
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (code !== 0 && signal === null && code !== null) process.stderr.write(`${name} exited with ${code}\n`);
  });
  child.stderr?.on('data', (data: Buffer) => process.stderr.write(`[${name}] ${data}`));
  return child;
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((done) => {
      const socket = connect(port, HOST);
      socket.once('connect', () => {
        socket.destroy();
        done(true);
      });
      socket.once('error', () => done(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${HOST}:${port}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

function startNginx(dir: string, name: string, config: string): ChildProcess {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, config);
  return track(spawn('nginx', ['-p', dir, '-e', join(dir, `${name}-startup.log`), '-c', file, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] }), name);
}

function startNodeBackend(port: number): ChildProcess {
  // A minimal keep-alive HTTP responder on raw sockets: counts request heads, answers each.
  const source = `
const net = require('node:net');
const body = ${JSON.stringify(BODY)};
const response = Buffer.from('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\nContent-Length: ' + body.length + '\\r\\n\\r\\n' + body);
net.createServer((socket) => {
  socket.setNoDelay(true);
  let tail = '';
  socket.on('data', (chunk) => {
    const text = tail + chunk.toString('latin1');
    let at = 0, n = 0, end;
    while ((end = text.indexOf('\\r\\n\\r\\n', at)) >= 0) { n++; at = end + 4; }
    tail = text.slice(at);
    for (let i = 0; i < n; i++) socket.write(response);
  });
  socket.on('error', () => {});
}).listen(${port}, '${HOST}');`;
  return track(spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'ignore', 'pipe'] }), 'node-backend');
}

/** One `--routes` Ingress in namespace bench: `name` with the one `annotation` (`key: value`), `host` routed by `http` (the rule's YAML after `http:`). */
function ingressManifest(name: string, annotation: string, host: string, http: string): string {
  return `---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ${name}, namespace: bench, annotations: { ${annotation} } }
spec:
  rules:
    - host: ${host}
      http:${http}
`;
}

/** The `--routes` Ingresses beside the plain one: regex paths on their host, and auth-url (cached or not) to the auth server. */
function routeManifests(kinds: readonly RouteKind[], authPort: number): string {
  const backend = '{ service: { name: bench, port: { number: 80 } } }';
  let text = '';
  if (kinds.includes('regex')) {
    const paths = REGEX_PATHS.map((path) => `\n          - { path: '${path}', pathType: ImplementationSpecific, backend: ${backend} }`).join('');
    text += ingressManifest('bench-regex', 'nginx.ingress.kubernetes.io/use-regex: "true"', ROUTES.regex.vhost, `\n        paths:${paths}`);
  }
  if (kinds.includes('auth-url')) {
    const url = `http://${HOST}:${authPort}${AUTH_PATH}`;
    text += ingressManifest('bench-auth', `nginx.ingress.kubernetes.io/auth-url: "${url}"`, ROUTES['auth-url'].vhost, ` { paths: [{ path: /, pathType: Prefix, backend: ${backend} }] }`);
  }
  if (kinds.includes('auth-cache')) {
    const url = `http://${HOST}:${authPort}${AUTH_PATH}`;
    const annotations = `nginx.ingress.kubernetes.io/auth-url: "${url}", nginx.ingress.kubernetes.io/auth-cache-key: "${AUTH_CACHE_KEY}", nginx.ingress.kubernetes.io/auth-cache-duration: "200 5m"`;
    text += ingressManifest('bench-auth-cache', annotations, ROUTES['auth-cache'].vhost, ` { paths: [{ path: /, pathType: Prefix, backend: ${backend} }] }`);
  }
  return text;
}

/** The manifests `portico standalone` serves in the bench: VHOST -> Service bench -> the backend, plus the `--routes` Ingresses. */
function benchManifests(backendPort: number, kinds: readonly RouteKind[] = ['plain'], authPort = 0): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench, namespace: bench }
spec:
  rules:
    - host: ${VHOST}
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: bench, port: { number: 80 } } } }] }
---
apiVersion: v1
kind: Service
metadata: { name: bench, namespace: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: bench-1, namespace: bench, labels: { kubernetes.io/service-name: bench } }
addressType: IPv4
ports: [{ name: http, port: ${backendPort} }]
endpoints: [{ addresses: ["${HOST}"] }]
${routeManifests(kinds, authPort)}`;
}

/** Runs a bare Proxy (1 worker) in this process (`--in-process`): the proxy without the CLI around it. */
async function servePortico(port: number, backendPort: number): Promise<void> {
  const router = new Router();
  router.load(snapshotOf([{ host: VHOST, routes: [{ path: '/', endpoints: [backendPort] }] }]));
  // Metrics on and access log off, as the data plane runs by default.
  const proxy = new Proxy(router, { metrics: new ProxyMetrics(router), endpointAddresses: { allowLoopback: true } });
  const server = createServer((socket) => proxy.handleConnection(socket, { scheme: 'http', localPort: port }));
  server.listen(port, HOST, () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => {
    server.close();
    void proxy.close({ timeoutMs: 100 }).then(() => process.exit(0));
  });
}

function parseDuration(text: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (match === null) return Number.NaN;
  const value = Number(match[1]);
  const unit = match[2];
  return unit === 'us' ? value / 1000 : unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000;
}

/** One h2load measurement: `clients` HTTP/2 connections with `streams` concurrent streams each, h2c by prior knowledge. */
async function h2load(port: number, seconds: number, clients: number, streams: number, server: () => number[] = () => []): Promise<Figures> {
  const pids = server();
  const ticksBefore = cpuTicks(pids);
  const args = ['-t', '1', '-c', String(clients), '-m', String(streams), '-D', String(seconds), '-H', `:authority: ${VHOST}`, `http://${HOST}:${port}/`];
  const child = track(spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'h2load');
  let out = '';
  child.stdout?.on('data', (data: Buffer) => (out += data.toString()));
  await new Promise((done) => child.on('exit', done));
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
  if (Number.isNaN(rps)) throw new Error(`could not read h2load output:\n${out}`);
  const counts = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
  const done = Number(counts?.[2] ?? Number.NaN);
  const non2xx = Number(/status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out)?.slice(1).reduce((sum, n) => sum + Number(n), 0) ?? 0);
  const errors = (counts === null ? 0 : Number(counts[4]) + Number(counts[5]) + Number(counts[6])) + non2xx;
  const timing = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
  const cpuSeconds = (cpuTicks(pids) - ticksBefore) / TICKS_PER_SECOND;
  const cpu = pids.length === 0 ? Number.NaN : Math.round((cpuSeconds / done) * 1e7) / 10;
  return { rps, p50_ms: parseDuration(timing?.[3] ?? ''), p99_ms: parseDuration(timing?.[2] ?? ''), errors, cpu_us_per_req: cpu };
}

/** What wrk requests: the virtual host, the path and extra header fields (`Name: value`). */
interface Request {
  vhost: string;
  path: string;
  headers: readonly string[];
}

const PLAIN_REQUEST: Request = { vhost: VHOST, path: '/', headers: [] };

async function wrk(port: number, seconds: number, connections: number, threads: number, server: () => number[] = () => [], request: Request = PLAIN_REQUEST): Promise<Figures> {
  const pids = server();
  const ticksBefore = cpuTicks(pids);
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--latency', '-H', `Host: ${request.vhost}`, ...request.headers.flatMap((field) => ['-H', field]), `http://${HOST}:${port}${request.path}`];
  const child = track(spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] }), 'wrk');
  let out = '';
  child.stdout?.on('data', (data: Buffer) => (out += data.toString()));
  await new Promise((done) => child.on('exit', done));
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
  const p50 = parseDuration(/^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const p99 = parseDuration(/^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '');
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = non2xx + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0));
  if (Number.isNaN(rps)) throw new Error(`could not read wrk output:\n${out}`);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? Number.NaN);
  const cpuSeconds = (cpuTicks(pids) - ticksBefore) / TICKS_PER_SECOND;
  const cpu = pids.length === 0 ? Number.NaN : Math.round((cpuSeconds / requests) * 1e7) / 10;
  return { rps, p50_ms: p50, p99_ms: p99, errors, cpu_us_per_req: cpu };
}

/** The status of one GET of `request` on `port` (with `headers` instead of the request's own fields). */
async function statusOf(port: number, request: Request, headers: readonly string[] = request.headers): Promise<number> {
  const response = await new Promise<string>((done, fail) => {
    const socket = connect(port, HOST);
    let text = '';
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer from ${HOST}:${port} in 5 s`)));
    socket.on('data', (data: Buffer) => {
      text += data.toString('latin1');
      if (text.includes('\r\n')) {
        socket.destroy();
        done(text);
      }
    });
    socket.on('error', fail);
    socket.on('close', () => done(text));
    socket.write(`GET ${request.path} HTTP/1.1\r\nHost: ${request.vhost}\r\n${headers.map((field) => `${field}\r\n`).join('')}Connection: close\r\n\r\n`);
  });
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? Number.NaN);
}

/** The route kinds of `--routes` (plain always first), or exits 2 naming the option. */
function routeKinds(text: string): RouteKind[] {
  const kinds = new Set<RouteKind>(['plain']);
  for (const word of text.split(',').map((part) => part.trim())) {
    if (!(ROUTE_KINDS as readonly string[]).includes(word)) usageFailure(NAME, `--routes: ${JSON.stringify(word)} is not a route kind (${ROUTE_KINDS.join(', ')})`);
    kinds.add(word as RouteKind);
  }
  return [...kinds];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

async function main(): Promise<void> {
  const values = benchArgs(NAME, USAGE, {
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'nginx' },
    profile: { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    json: { type: 'boolean', default: false },
    'in-process': { type: 'boolean', default: false },
    bin: { type: 'string', default: PORTICO_BIN },
    h2: { type: 'boolean', default: false },
    streams: { type: 'string', default: '10' },
    routes: { type: 'string', default: 'plain' },
  });
  const rounds = integerArg(NAME, 'rounds', values.rounds, 1, 100);
  const seconds = integerArg(NAME, 'duration', values.duration, 1, 3600);
  const connections = integerArg(NAME, 'connections', values.connections, 1, 10_000);
  const threads = integerArg(NAME, 'threads', values.threads, 1, 64);
  if (values.backend !== 'nginx' && values.backend !== 'node') usageFailure(NAME, `--backend must be nginx or node, got ${JSON.stringify(values.backend)}`);
  if (!existsSync(values.bin)) usageFailure(NAME, `--bin ${values.bin}: no such file`);
  const kinds = routeKinds(values.routes);
  const log = (line: string): boolean => values.json || process.stderr.write(`${line}\n`);

  const streams = integerArg(NAME, 'streams', values.streams, 1, 1000);
  const tools: [string, string, string][] = [
    ['nginx', '-v', 'nginx'],
    ['wrk', '--version', 'wrk'],
    ...(values.h2 ? [['h2load', '--version', 'nghttp2-client'] as [string, string, string]] : []),
  ];
  for (const [tool, flag, pkg] of tools) {
    if (spawnSync(tool, [flag], { stdio: 'ignore' }).error !== undefined) {
      process.stderr.write(`bench:proxy needs \`${tool}\` on PATH (Debian: apt-get install -y ${pkg})\n`);
      process.exit(2);
    }
  }
  cleanUpOnExit();
  tmp = mkdtempSync(join(tmpdir(), 'portico-bench-'));
  const [backendPort, nginxPort, porticoPort, inProcessPort, adminPort, apiPort, nginxH2Port, authPort] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort(), await freePort()] as [number, number, number, number, number, number, number, number];
  const withAuth = kinds.includes('auth-url') || kinds.includes('auth-cache');
  // nginx's workers (another user when the bench runs as root) write the auth cache under tmp: let them through it.
  if (kinds.includes('auth-cache')) chmodSync(tmp, 0o711);

  const backend =
    values.backend === 'node'
      ? startNodeBackend(backendPort)
      : startNginx(tmp, 'backend', nginxConfig(tmp, 'backend', backendServer(HOST, backendPort, BODY)));
  if (withAuth) startNginx(tmp, 'auth', nginxConfig(tmp, 'auth', authServer(HOST, authPort, AUTH_PATH, AUTH_TOKEN_HEADER, AUTH_TOKEN)));
  const nginxServers = [
    proxyServer(HOST, nginxPort, VHOST),
    ...(values.h2 ? [proxyServer(HOST, nginxH2Port, VHOST, true)] : []),
    ...(kinds.includes('regex') ? [regexProxyServer(HOST, nginxPort, ROUTES.regex.vhost, REGEX_PATHS)] : []),
    ...(kinds.includes('auth-url') ? [authProxyServer(HOST, nginxPort, ROUTES['auth-url'].vhost, `${HOST}:${authPort}`, AUTH_PATH)] : []),
    ...(kinds.includes('auth-cache') ? [authProxyServer(HOST, nginxPort, ROUTES['auth-cache'].vhost, `${HOST}:${authPort}`, AUTH_PATH, AUTH_CACHE_KEY)] : []),
  ].join('\n  ');
  const nginxMaster = startNginx(tmp, 'nginx', nginxConfig(tmp, 'nginx', nginxServers, backendUpstream(HOST, backendPort) + (withAuth ? `\n  ${authUpstream(HOST, authPort)}` : '') + (kinds.includes('auth-cache') ? `\n  ${authCachePath(tmp)}` : '')));
  const nodeArgs: string[] = values['node-flags'].split(' ').filter(Boolean);
  if (values.profile !== undefined) {
    mkdirSync(values.profile, { recursive: true });
    nodeArgs.push('--cpu-prof', '--cpu-prof-dir', resolve(values.profile));
  }
  // What a user runs: the bin, on a manifest directory routing VHOST to the backend.
  mkdirSync(join(tmp, 'manifests'));
  writeFileSync(join(tmp, 'manifests', 'bench.yaml'), benchManifests(backendPort, kinds, authPort));
  const porticoArgs = ['standalone', '--manifests', join(tmp, 'manifests'), '--data-dir', join(tmp, 'data'), '--workers', '1', '--no-access-log', '--address', HOST, '--http-port', String(porticoPort), '--https-port', 'off', '--admin-port', String(adminPort), '--api-port', String(apiPort), ...(values.h2 ? ['--h2c'] : []), ...(withAuth ? ['--allow-loopback-endpoints'] : [])];
  const portico = track(spawn(process.execPath, [...nodeArgs, values.bin, ...porticoArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PORTICO_API_TOKEN: 'bench-token-0123456789abcdef' } }), 'portico');
  await new Promise<void>((done, fail) => {
    let out = '';
    portico.stdout?.on('data', (data: Buffer) => {
      out += data.toString();
      if (out.includes('standalone ready')) done();
    });
    portico.once('exit', (code) => fail(new Error(`portico standalone exited (${code}) before it was ready:\n${out}`)));
  });
  portico.stdout?.resume();
  const inProcess = values['in-process'] ? track(spawn(process.execPath, [...nodeArgs, import.meta.filename, '--serve-portico', String(inProcessPort), String(backendPort)], { stdio: ['ignore', 'pipe', 'pipe'] }), 'in-process') : undefined;
  if (inProcess !== undefined) await new Promise<void>((done) => inProcess.stdout?.once('data', () => done()));
  await Promise.all([waitForPort(backendPort), waitForPort(nginxPort), waitForPort(porticoPort), ...(inProcess ? [waitForPort(inProcessPort)] : []), ...(values.h2 ? [waitForPort(nginxH2Port)] : []), ...(withAuth ? [waitForPort(authPort)] : [])]);

  // The processes doing the serving, for CPU time per request.
  const processes = (child: ChildProcess): (() => number[]) => () => (values.backend === 'node' && child === backend ? [child.pid ?? 0] : nginxWorkers(child.pid ?? 0));
  type Target = { port: number; pids: () => number[]; h2?: boolean; request?: Request };
  const requestOf = (kind: RouteKind): Request => ({ vhost: ROUTES[kind].vhost, path: ROUTES[kind].path, headers: kind === 'auth-url' || kind === 'auth-cache' ? [`${AUTH_TOKEN_HEADER}: ${AUTH_TOKEN}`] : [] });
  const routeTargets: Record<string, Target> = {};
  for (const kind of kinds.filter((each) => each !== 'plain')) {
    routeTargets[`nginx${ROUTES[kind].suffix}`] = { port: nginxPort, pids: processes(nginxMaster), request: requestOf(kind) };
    routeTargets[`portico${ROUTES[kind].suffix}`] = { port: porticoPort, pids: () => [portico.pid ?? 0], request: requestOf(kind) };
  }
  const targets: Record<string, Target> = {
    direct: { port: backendPort, pids: processes(backend) },
    nginx: { port: nginxPort, pids: processes(nginxMaster) },
    portico: { port: porticoPort, pids: () => [portico.pid ?? 0] },
    ...(inProcess === undefined ? {} : { inproc: { port: inProcessPort, pids: () => [inProcess.pid ?? 0] } }),
    ...(values.h2 ? { 'nginx-h2': { port: nginxH2Port, pids: processes(nginxMaster), h2: true }, 'portico-h2': { port: porticoPort, pids: () => [portico.pid ?? 0], h2: true } } : {}),
    ...routeTargets,
  };
  const results: Record<string, Figures[]> = Object.fromEntries(Object.keys(targets).map((name) => [name, []]));
  const h2Clients = Math.max(1, Math.round(connections / streams));
  const measure = (target: Target, duration: number, pids?: () => number[]): Promise<Figures> => (target.h2 === true ? h2load(target.port, duration, h2Clients, streams, pids) : wrk(target.port, duration, connections, threads, pids, target.request));
  log(`wrk -t${threads} -c${connections} -d${seconds}s${values.h2 ? `, h2load -t1 -c${h2Clients} -m${streams} -D${seconds} (h2c)` : ''}, ${rounds} rounds, backend: ${values.backend}, routes: ${kinds.join(', ')}`);
  // Each route kind is what it claims on both proxies: the regex route answers its regex (not a
  // prefix of it), the auth route asks the auth server (401 without the token). Portico may still
  // be loading its manifests: bounded retries.
  for (const [name, target] of Object.entries(routeTargets)) {
    const request = target.request ?? PLAIN_REQUEST;
    const checks: [Request, readonly string[], number][] = [[request, request.headers, 200]];
    if (request.vhost === ROUTES.regex.vhost) checks.push([{ ...request, path: '/api/vx/items' }, [], 404]);
    if (request.vhost === ROUTES['auth-url'].vhost || request.vhost === ROUTES['auth-cache'].vhost) checks.push([request, [], 401]);
    for (const [probe, headers, expected] of checks) {
      const deadline = Date.now() + 10_000;
      let status = await statusOf(target.port, probe, headers);
      while (status !== expected && Date.now() < deadline) {
        await new Promise((done) => setTimeout(done, 200));
        status = await statusOf(target.port, probe, headers);
      }
      if (status !== expected) throw new Error(`${name}: GET ${probe.path} (Host ${probe.vhost}${headers.length === 0 ? ', no token' : ''}) answered ${status}, expected ${expected}`);
    }
  }
  for (const [name, target] of Object.entries(targets)) {
    log(`warm-up ${name}`);
    await measure(target, 1);
  }
  for (let round = 1; round <= rounds; round++) {
    for (const [name, target] of Object.entries(targets)) {
      const figures = await measure(target, seconds, target.pids);
      results[name]!.push(figures);
      log(
        `round ${round} ${name.padEnd(kinds.length > 1 ? 13 : 7)} ${figures.rps.toFixed(0).padStart(7)} req/s  p50 ${figures.p50_ms.toFixed(3)} ms  p99 ${figures.p99_ms.toFixed(3)} ms  cpu ${figures.cpu_us_per_req} µs/req${figures.errors > 0 ? `  ERRORS ${figures.errors}` : ''}`,
      );
    }
  }
  const summary = (runs: Figures[]): Figures => ({
    rps: Math.round(median(runs.map((run) => run.rps))),
    p50_ms: median(runs.map((run) => run.p50_ms)),
    p99_ms: median(runs.map((run) => run.p99_ms)),
    errors: runs.reduce((sum, run) => sum + run.errors, 0),
    cpu_us_per_req: median(runs.map((run) => run.cpu_us_per_req)),
  });
  const direct = summary(results.direct!);
  const nginx = summary(results.nginx!);
  const porticoFigures = summary(results.portico!);
  const inProcessFigures = inProcess === undefined ? undefined : summary(results.inproc!);
  const nginxH2 = values.h2 ? summary(results['nginx-h2']!) : undefined;
  const porticoH2 = values.h2 ? summary(results['portico-h2']!) : undefined;
  const ratio = (a: number, b: number): number => Math.round((a / b) * 1000) / 1000;
  const routes: Record<string, { nginx: Figures; portico: Figures }> = {};
  const routeRatios: Record<string, number> = {};
  for (const kind of kinds.filter((each) => each !== 'plain')) {
    const key = kind.replace('-', '_');
    const pair = { nginx: summary(results[`nginx${ROUTES[kind].suffix}`]!), portico: summary(results[`portico${ROUTES[kind].suffix}`]!) };
    routes[kind] = pair;
    Object.assign(routeRatios, {
      [`rps_portico_over_nginx_${key}`]: ratio(pair.portico.rps, pair.nginx.rps),
      [`p99_portico_over_nginx_${key}`]: ratio(pair.portico.p99_ms, pair.nginx.p99_ms),
      [`cpu_per_req_portico_over_nginx_${key}`]: ratio(pair.portico.cpu_us_per_req, pair.nginx.cpu_us_per_req),
      [`rps_portico_${key}_over_plain`]: ratio(pair.portico.rps, porticoFigures.rps),
      [`cpu_per_req_portico_${key}_over_plain`]: ratio(pair.portico.cpu_us_per_req, porticoFigures.cpu_us_per_req),
      [`rps_nginx_${key}_over_plain`]: ratio(pair.nginx.rps, nginx.rps),
      [`cpu_per_req_nginx_${key}_over_plain`]: ratio(pair.nginx.cpu_us_per_req, nginx.cpu_us_per_req),
    });
  }
  const ratios = {
    rps_portico_over_nginx: Math.round((porticoFigures.rps / nginx.rps) * 1000) / 1000,
    p99_portico_over_nginx: Math.round((porticoFigures.p99_ms / nginx.p99_ms) * 1000) / 1000,
    rps_portico_over_direct: Math.round((porticoFigures.rps / direct.rps) * 1000) / 1000,
    rps_nginx_over_direct: Math.round((nginx.rps / direct.rps) * 1000) / 1000,
    cpu_per_req_portico_over_nginx: Math.round((porticoFigures.cpu_us_per_req / nginx.cpu_us_per_req) * 1000) / 1000,
    ...(inProcessFigures === undefined ? {} : { rps_inprocess_over_nginx: Math.round((inProcessFigures.rps / nginx.rps) * 1000) / 1000 }),
    ...(nginxH2 === undefined || porticoH2 === undefined
      ? {}
      : { rps_portico_over_nginx_h2: Math.round((porticoH2.rps / nginxH2.rps) * 1000) / 1000, cpu_per_req_portico_over_nginx_h2: Math.round((porticoH2.cpu_us_per_req / nginxH2.cpu_us_per_req) * 1000) / 1000 }),
    ...routeRatios,
  };
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ direct, nginx, portico: porticoFigures, ...(inProcessFigures ? { inProcess: inProcessFigures } : {}), ...(nginxH2 ? { nginxH2, porticoH2 } : {}), ...(kinds.length > 1 ? { routes } : {}), ratios, setup: { threads, connections, seconds, rounds, backend: values.backend, routes: kinds, portico: `portico ${porticoArgs.join(' ')}` } })}\n`);
  } else {
    const row = (name: string, f: Figures): string =>
      `${name.padEnd(kinds.length > 1 ? 13 : 10)} ${String(f.rps).padStart(8)} ${f.p50_ms.toFixed(3).padStart(9)} ${f.p99_ms.toFixed(3).padStart(9)} ${String(f.cpu_us_per_req).padStart(11)}${f.errors > 0 ? `  errors ${f.errors}` : ''}`;
    process.stdout.write(`\n(median of ${rounds} rounds)   req/s    p50 ms    p99 ms  cpu µs/req\n${row('direct', direct)}\n${row('nginx', nginx)}\n${row('portico', porticoFigures)}\n${inProcessFigures ? `${row('inproc', inProcessFigures)}\n` : ''}${nginxH2 && porticoH2 ? `${row('nginx-h2', nginxH2)}   (h2load: mean and max, not p50 and p99)\n${row('portico-h2', porticoH2)}\n` : ''}${Object.entries(routes)
        .map(([kind, pair]) => `${row(`nginx${ROUTES[kind as RouteKind].suffix}`, pair.nginx)}\n${row(`portico${ROUTES[kind as RouteKind].suffix}`, pair.portico)}\n`)
        .join('')}`);
    process.stdout.write(
      `portico/nginx: ${ratios.rps_portico_over_nginx}x req/s, ${ratios.p99_portico_over_nginx}x p99, ${ratios.cpu_per_req_portico_over_nginx}x CPU per request   (portico/direct ${ratios.rps_portico_over_direct}x, nginx/direct ${ratios.rps_nginx_over_direct}x${ratios.rps_inprocess_over_nginx === undefined ? '' : `, in-process/nginx ${ratios.rps_inprocess_over_nginx}x`})\n`,
    );
    if (ratios.rps_portico_over_nginx_h2 !== undefined) process.stdout.write(`portico/nginx over HTTP/2 (h2c): ${ratios.rps_portico_over_nginx_h2}x req/s, ${ratios.cpu_per_req_portico_over_nginx_h2}x CPU per request\n`);
    for (const kind of Object.keys(routes)) {
      const key = kind.replace('-', '_');
      process.stdout.write(
        `${kind} route: portico/nginx ${routeRatios[`rps_portico_over_nginx_${key}`]}x req/s, ${routeRatios[`p99_portico_over_nginx_${key}`]}x p99, ${routeRatios[`cpu_per_req_portico_over_nginx_${key}`]}x CPU per request; ${kind}/plain: portico ${routeRatios[`rps_portico_${key}_over_plain`]}x req/s, ${routeRatios[`cpu_per_req_portico_${key}_over_plain`]}x CPU per request (nginx ${routeRatios[`rps_nginx_${key}_over_plain`]}x, ${routeRatios[`cpu_per_req_nginx_${key}_over_plain`]}x)\n`,
      );
    }
  }
}

if (process.argv[2] === '--serve-portico') await servePortico(Number(process.argv[3]), Number(process.argv[4]));
else {
  try {
    await main();
  } finally {
    await shutdown();
  }
}
