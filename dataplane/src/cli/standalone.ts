/**
 * `portico standalone`: control plane and data plane in one process, on a manifest directory
 * plus routes written through the REST API (kept in SQLite). The embedded default: no cluster.
 */
import { hostname } from 'node:os';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { serve } from '@hono/node-server';
import { createApp } from '@portico/control/api';
import { servedFrom } from '@portico/control/api/conflicts';
import { createControlMetrics } from '@portico/control/api/metrics';
import { StaticTokenAuthenticator, loadApiToken } from '@portico/control/auth/token';
import type { Command } from '@portico/control/cli/args';
import { requireString, usageError } from '@portico/control/cli/args';
import { CLASS_OPTIONS, GATEWAY_PORT_HELP, GATEWAY_PORT_OPTIONS, HISTORY_HELP, HISTORY_OPTIONS, classSelection, formatProblem, gatewayPorts, historyOptions, skippedForClass } from '@portico/control/cli/load';
import { ManifestSource } from '@portico/control/manifests/watch';
import { NodeRegistry } from '@portico/control/nodes';
import { SnapshotHistory } from '@portico/control/publish/history';
import { SnapshotPublisher } from '@portico/control/publish/publisher';
import { BundleCompiler } from '@portico/control/snapshot/bundle-compile';
import { onlyEndpointsChanged } from '@portico/control/snapshot/diff';
import { RebuildLoop } from '@portico/control/publish/rebuild-loop';
import { ClusterState } from '@portico/control/state';
import { feedRouteStore } from '@portico/control/store/feed';
import { SqliteRouteStore } from '@portico/control/store/sqlite';
import { pino } from 'pino';
import { checkPortsFree, isPortError, listenError } from '../listen.ts';
import { startServing } from '../serve.ts';
import { lockDataDir } from './lock.ts';
import { refuseSharedPorts, SERVING_HELP, SERVING_OPTIONS, servingOptions } from './options.ts';
import { untilSignal } from '@portico/control/cli/signals';

/**
 * Standalone's own data plane in `portico nodes`: one node per worker (`<host>/worker-N`), kept
 * connected while it runs, with an ACK (or NACK and its error) for every snapshot it loads.
 * Returns the function that reports a load.
 */
function localNodes(nodes: NodeRegistry, workers: number): (version: string, error?: string) => void {
  const names = Array.from({ length: workers }, (_, i) => `${hostname()}/worker-${i + 1}`);
  const open = new Map<string, () => void>();
  return (version, error) => {
    for (const name of names) {
      open.get(name)?.();
      open.set(name, nodes.polling(name, error === undefined ? version : undefined, 'local'));
      nodes.report(name, { version, ok: error === undefined, error });
    }
  };
}

/** The standalone command. */
export const standaloneCommand: Command = {
  name: 'standalone',
  usage: `
Usage: portico standalone --manifests DIR [options]

Serves the Ingresses and Gateway API routes in DIR (kubectl-style YAML/JSON, watched: edit a file and the new routes
serve within a second, with no restart and no dropped connection) plus routes written through
the REST API on --api-port (stored in --data-dir/routes.sqlite). Class-less Ingresses are served.

Options:
  --manifests DIR                  Manifest directory or file.
  --data-dir DIR                   Route database and generated API token (default .portico).
  --api-address ADDR               REST API address (default 127.0.0.1).
  --api-port N                     REST API port (default 9080).
  --api-token-file FILE            Bearer token for the API (default: $PORTICO_API_TOKEN, else generated into --data-dir).
  --ingress-class NAME             Class served when no IngressClass object names it (default portico).
  --no-watch-ingress-without-class Ignore Ingresses without a class.
${HISTORY_HELP}
${GATEWAY_PORT_HELP}
                                   Standalone also accepts listeners on its own --http-port and --https-port.
${SERVING_HELP}
  -h, --help                       Show this help.
`,
  options: {
    manifests: { type: 'string' },
    'data-dir': { type: 'string', default: '.portico' },
    'api-address': { type: 'string', default: '127.0.0.1' },
    'api-port': { type: 'string', default: '9080' },
    'api-token-file': { type: 'string' },
    ...CLASS_OPTIONS,
    ...HISTORY_OPTIONS,
    ...GATEWAY_PORT_OPTIONS,
    ...SERVING_OPTIONS,
  },
  async run(values) {
    const manifests = requireString(this, values, 'manifests');
    const dataDir = String(values['data-dir']);
    const apiPort = Number(values['api-port']);
    if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65535) usageError(this, `--api-port must be 0..65535, got ${String(values['api-port'])}`);
    const apiAddress = String(values['api-address']);
    const serving = servingOptions(this, values);
    refuseSharedPorts(this, [
      { flag: '--http-port', address: serving.address ?? '0.0.0.0', port: serving.httpPort },
      { flag: '--https-port', address: serving.address ?? '0.0.0.0', port: serving.httpsPort },
      { flag: '--admin-port', address: serving.adminAddress, port: serving.adminPort },
      { flag: '--api-port', address: apiAddress, port: apiPort },
    ]);
    const selection = classSelection(values);
    const logger = pino({ level: serving.logLevel, base: { component: 'standalone' } });

    // Everything that can be refused is checked before anything listens: the data dir, the token, the ports.
    // What is started is stopped in reverse order, gracefully on a signal, at once on a failure.
    const started: ((timeoutMs: number) => unknown)[] = [lockDataDir(dataDir, this.name)];
    const stop = async (timeoutMs: number) => {
      for (const step of started.reverse()) await step(timeoutMs);
    };
    try {
      const token = await loadApiToken({ env: process.env.PORTICO_API_TOKEN, tokenFile: values['api-token-file'] as string | undefined, dataDir });
      await checkPortsFree([{ port: apiPort, address: apiAddress, what: '--api-port' }]);
      const state = new ClusterState();
      const history = new SnapshotHistory(historyOptions(this, values));
      const metrics = createControlMetrics();
      const ports = gatewayPorts(this, values, { http: serving.httpPort, https: serving.httpsPort });
      // One compile per version: the chunks and digest the sync API ships, and the table this process serves.
      const compiler = new BundleCompiler();
      const publisher = new SnapshotPublisher({ state, selection, history, metrics, gatewayPorts: ports });
      const manifest: { source?: ManifestSource } = {};
      const traffic = await startServing({ ...serving, compiler, waitingFor: () => `the first snapshot of --manifests ${manifests}`, notReady: () => manifest.source?.notReady() });
      started.push((timeoutMs) => traffic.close(timeoutMs));
      const nodes = new NodeRegistry();
      const reportLocal = localNodes(nodes, traffic.workers);
      let fail: (error: Error) => void = () => undefined;
      const failed = new Promise<Error>((resolve) => (fail = resolve));
      // The sources debounce their own bursts (the watcher 10 ms after a file event): the loop only
      // coalesces what arrives together, so an edit is not held back twice.
      // Set once the API exists (a rebuild may run before: nothing is waiting then).
      let answered: () => Promise<void> = async () => undefined;
      const loop = new RebuildLoop({
        debounceMs: 1,
        maxDelayMs: 300,
        onError: (error) => logger.error({ err: error }, 'rebuild failed'),
        rebuild: async () => {
          const { snapshot, published, endpointOnly, conditions } = publisher.rebuild();
          if (!published) return;
          // Conditions come from full builds; an endpoint refresh would only repeat them.
          if (!endpointOnly) for (const c of conditions) logger.warn({ object: `${c.source.kind} ${c.source.namespace}/${c.source.name}`, field: c.field, reason: c.reason }, c.message);
          if (!endpointOnly && logger.isLevelEnabled('debug')) {
            const skipped = skippedForClass(state, selection);
            if (skipped.count > 0) logger.debug({ skipped: skipped.count, examples: skipped.examples }, 'Ingresses skipped: their class is not served by Portico');
          }
          // The long-polls this publish answered go out first (their delta encoded, their answers
          // written a few per turn): loading the local data plane takes the event loop.
          await yieldToLoop();
          await answered();
          try {
            const changes = history.current()!.changes;
            if (changes !== undefined && onlyEndpointsChanged(changes) && traffic.version === changes.from) await traffic.loadEndpoints(snapshot);
            else await traffic.load(snapshot);
            reportLocal(snapshot.version);
            logger.info({ version: snapshot.version, hosts: snapshot.hosts.length, conditions: conditions.length }, 'serving snapshot');
          } catch (error) {
            reportLocal(snapshot.version, (error as Error).message);
            if (isPortError(error)) fail(error);
            else logger.error({ err: error, version: snapshot.version }, 'snapshot could not be loaded; still serving the previous one');
          }
        },
      });
      started.push(() => loop.close());
      let logged = new Set<string>();
      const source = new ManifestSource(state, {
        path: manifests,
        // An editor's save (write beside, rename over) is one burst of events within a millisecond or two.
        debounceMs: 10,
        onChange: () => loop.trigger(),
        onProblems: (problems) => {
          // One log line per problem, when it appears (not at every rescan).
          const now = new Set(problems.map((problem) => JSON.stringify(problem)));
          for (const problem of problems) {
            if (logged.has(JSON.stringify(problem))) continue;
            logger[problem.severity === 'error' ? 'error' : 'warn']({ file: problem.file, line: problem.line, column: problem.column, document: problem.document, field: problem.field, code: problem.code }, formatProblem(problem));
          }
          logged = now;
        },
        // A bug, not bad input (that is a problem): with its stack, once per distinct error; the problem says it too.
        onError: (error, pass) => logger.error({ err: error, pass }, `manifests: the ${pass} failed`),
      });
      metrics.trackManifestProblems(() => source.problems());
      try {
        await source.start();
      } catch (error) {
        usageError(this, `cannot read --manifests ${manifests}: ${(error as Error).message}`);
      }
      manifest.source = source;
      started.push(() => source.stop());
      const store = new SqliteRouteStore({ dataDir });
      started.push(() => store.close());
      // The route store holds Ingresses only.
      const stopFeed = await feedRouteStore(store, state, () => loop.trigger());
      started.push(stopFeed);
      if (token.source === 'generated') process.stderr.write(`Generated an API token (stored in ${token.path}, shown only now):\n  ${token.token}\n`);
      const api = createApp({
        history,
        store,
        auth: new StaticTokenAuthenticator(token.token),
        nodes,
        served: servedFrom(state, selection),
        metrics,
        logger,
        ready: () => history.current() !== undefined,
        notReady: () => source.notReady(),
        manifestProblems: () => source.problems(),
        bundleCompiler: compiler,
        ...(serving.httpsPort === undefined ? {} : { httpsPort: serving.advertisedHttpsPort ?? serving.httpsPort }),
      });
      answered = api.answered;
      const apiServer = serve({ fetch: api.app.fetch, hostname: apiAddress, port: apiPort });
      started.push(() => apiServer.close());
      await new Promise<void>((resolve, reject) => {
        apiServer.once('listening', () => resolve());
        apiServer.once('error', (error) => reject(listenError(error, { port: apiPort, address: apiAddress, what: '--api-port' })));
      });
      await loop.flush();
      const boundApi = (apiServer.address() as { port: number }).port;
      if (traffic.version !== undefined) logger.info({ http: traffic.ports.http, https: traffic.ports.https, admin: traffic.ports.admin, api: boundApi, workers: traffic.workers, version: history.current()?.snapshot.version }, 'standalone ready');

      const outcome = await Promise.race([untilSignal(), failed]);
      if (outcome instanceof Error) throw outcome;
      logger.info({ signal: outcome }, 'shutting down: no new connections, finishing in-flight requests');
      await stop(serving.shutdownTimeoutMs);
      return 0;
    } catch (error) {
      await stop(0);
      throw error;
    }
  },
};
