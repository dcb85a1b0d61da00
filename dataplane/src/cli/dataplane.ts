/**
 * `portico dataplane`: the edge-node runtime of cluster mode (a DaemonSet in production).
 */
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Command } from '@portico/control/cli/args';
import { usageError } from '@portico/control/cli/args';
import { checkTokenTransport, controlFetch } from '@portico/control/auth/transport';
import { isPortError } from '../listen.ts';
import { JsonLineLogger } from '../logging.ts';
import { fullCollection } from '../reclaim.ts';
import { startServing } from '../serve.ts';
import type { Serving } from '../serve.ts';
import { SnapshotSync } from '../sync.ts';
import type { SnapshotTarget } from '../sync.ts';
import { lockDataDir } from './lock.ts';
import { SERVING_HELP, SERVING_OPTIONS, servingOptions } from './options.ts';
import { untilSignal } from '@portico/control/cli/signals';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** The dataplane command. */
export const dataplaneCommand: Command = {
  name: 'dataplane',
  usage: `
Usage: portico dataplane --control URL [options]

Long-polls the control plane for snapshots, verifies each one's content hash, swaps it in without
dropping a connection, and ACKs (or NACKs and keeps serving the last good one). The last good
snapshot is kept in --data-dir, so a node restarted while the control plane is down still serves.

Options:
  --control URL                  Control API base URL; repeatable (any replica). https:// in a cluster: the
                                   sync carries TLS private keys and this node's token.
  --control-ca FILE              PEM CA that signed the control API's certificate (default: the system CAs).
  --allow-insecure-http          Allow a plain http:// control URL beyond loopback (a trusted network only).
  --node NAME                    Name reported to the control plane (default $NODE_NAME or the hostname).
  --token-file FILE              Bearer token file, re-read on every request (default: the pod's ServiceAccount token).
  --data-dir DIR                 Where the last good snapshot is kept (default .portico).
${SERVING_HELP}
  --gateway-address ADDR         A Gateway's own address (the control plane's --gateway-address list, the same on
                                   every data plane): connections to it are routed among that Gateway's routes
                                   only. Listened on besides --address unless that is 0.0.0.0 or ::. Repeatable.
  -h, --help                     Show this help.
`,
  options: {
    control: { type: 'string', multiple: true },
    'control-ca': { type: 'string' },
    'allow-insecure-http': { type: 'boolean', default: false },
    node: { type: 'string' },
    'token-file': { type: 'string' },
    'data-dir': { type: 'string', default: '.portico' },
    ...SERVING_OPTIONS,
    'gateway-address': { type: 'string', multiple: true },
  },
  async run(values) {
    const controlUrls = (values.control as string[] | undefined) ?? [];
    if (controlUrls.length === 0) usageError(this, '--control URL is required');
    let controlTransport: typeof fetch;
    try {
      // Refused before anything listens: a token (and the TLS keys the sync returns) never crosses a network in clear text by accident.
      for (const url of controlUrls) checkTokenTransport(url, { allowInsecure: values['allow-insecure-http'] === true, flag: '--allow-insecure-http' });
      controlTransport = controlFetch({ caFile: values['control-ca'] as string | undefined });
    } catch (error) {
      return usageError(this, (error as Error).message);
    }
    const serving = servingOptions(this, values);
    const dataDir = String(values['data-dir']);
    // The data plane's own JSON-lines logger (pino's line format) rather than pino: the primary runs on every edge node.
    const logger = new JsonLineLogger(serving.logLevel, { component: 'dataplane' });
    const tokenFile = (values['token-file'] as string | undefined) ?? (existsSync(SERVICE_ACCOUNT_TOKEN) ? SERVICE_ACCOUNT_TOKEN : undefined);
    const release = lockDataDir(dataDir, this.name);
    let traffic: Serving | undefined;
    let sync: SnapshotSync | undefined;
    try {
      let lastProblem = 'not asked yet';
      let fail: (error: Error) => void = () => undefined;
      const failed = new Promise<Error>((resolve) => (fail = resolve));
      traffic = await startServing({ ...serving, waitingFor: () => `a snapshot from the control plane (${controlUrls.join(', ')}; ${lastProblem})` });
      const target = traffic;
      // A port taken between the start-up check and the first load ends the process (one line), not a NACK loop.
      const router: SnapshotTarget = {
        get version() {
          return target.version;
        },
        load: (snapshot, received) =>
          target.load(snapshot, received).catch((error: unknown) => {
            if (isPortError(error)) fail(error);
            throw error;
          }),
        loadEndpoints: (snapshot, received) => target.loadEndpoints(snapshot, received),
      };
      sync = new SnapshotSync({
        controlUrls,
        fetch: controlTransport,
        node: (values.node as string | undefined) ?? process.env.NODE_NAME ?? hostname(),
        router,
        dataDir,
        ...(tokenFile === undefined ? {} : { tokenFile }),
        ...(process.env.PORTICO_API_TOKEN ? { token: process.env.PORTICO_API_TOKEN } : {}),
        logger,
      });
      // A full snapshot (at start, or when the control plane has no delta to give) leaves the sync body's text and
      // the parse's and compile's intermediates behind, which V8 keeps committed while the primary idles (~120 MiB at
      // 10k Ingresses). One full collection gives them back; only with workers, since then this process serves no traffic.
      const collect = traffic.workers > 1 ? fullCollection() : null;
      sync.on('applied', ({ version, how }) => logger.info({ version, how }, 'snapshot applied'));
      // After the last-good file is written and the ACK sent: their texts are garbage too.
      sync.on('settled', ({ version, how }) => {
        if (collect === null || (how !== 'full' && how !== 'restored')) return;
        setImmediate(() => {
          const started = performance.now();
          collect();
          logger.info({ version, pauseMs: Math.round(performance.now() - started) }, 'full collection after a full snapshot');
        });
      });
      sync.on('rejected', ({ version, error }) => {
        lastProblem = `snapshot ${version} rejected: ${error}`;
        logger.error({ version, error }, 'snapshot rejected; still serving the last good one');
      });
      sync.on('disconnected', ({ url, error, delayMs }) => {
        lastProblem = `last attempt: ${url}: ${error}`;
        logger.warn({ url, error, delayMs }, 'control plane unreachable');
      });
      const { restored } = await sync.start();
      logger.info({ ports: traffic.ports, workers: traffic.workers, restored }, traffic.version === undefined ? 'data plane started; traffic ports open with the first snapshot' : 'data plane listening');
      const outcome = await Promise.race([untilSignal(), failed]);
      if (outcome instanceof Error) throw outcome;
      logger.info({ signal: outcome }, 'shutting down: no new connections, finishing in-flight requests');
      await sync.stop();
      await traffic.close(serving.shutdownTimeoutMs);
      return 0;
    } catch (error) {
      await sync?.stop();
      await traffic?.close(0);
      throw error;
    } finally {
      release();
    }
  },
};
