/**
 * Entry point of a data-plane worker process (forked by WorkerPool, workers.ts, the primary's
 * side): runs its own DataPlane and follows the primary's messages. Kept out of workers.ts so the
 * primary, which never serves traffic, does not load the proxy.
 */
import { verifyBundleInTurns } from './bundle.ts';
import { DataPlane } from './dataplane.ts';
import type { PorticoError } from './errors.ts';
import type { Logger } from './logging.ts';
import { makeLoggers } from './logging.ts';
import { SwapReclaimer } from './reclaim.ts';
import { ENV, INDEX_ENV, RECLAIM_AFTER_MB } from './workers.ts';
import type { FromWorker, ToWorker, WorkerOptions } from './workers.ts';

/** The worker side: start a DataPlane from the primary's options and follow its messages. */
async function runWorker(makeLogger: (level: string, accessLog: boolean) => { logger: Logger; accessLog: Logger | undefined }): Promise<void> {
  const options = JSON.parse(process.env[ENV] ?? '{}') as WorkerOptions;
  const { logger, accessLog } = makeLogger(options.logLevel, options.accessLog);
  const send = (message: FromWorker) => process.send?.(message);
  let dataPlane: DataPlane;
  try {
    // The traffic ports open once the first snapshot is loaded: never a 503 for want of a table.
    dataPlane = await DataPlane.start({ ...options, reusePort: true, deferListen: true, logger, accessLog });
  } catch (error) {
    send({ type: 'start-failed', error: (error as Error).message });
    process.exit(1);
  }
  // The primary handles SIGTERM for the whole group and tells each worker when to shut down.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  let loads = Promise.resolve();
  const reclaimAfterMb = options.reclaimAfterMb ?? RECLAIM_AFTER_MB;
  // 0 (--reclaim-after-mb 0): never collect; the reclaimer still reports its (zero) metrics.
  const reclaimer = reclaimAfterMb === 0 ? new SwapReclaimer(1, null) : new SwapReclaimer(reclaimAfterMb * 2 ** 20);
  process.on('message', (message: ToWorker) => {
    if (message.type === 'bundle') {
      const { bundle } = message;
      // Bundles are taken in the order sent; each is verified a slice per event-loop turn (no copy), then swapped in without compiling.
      loads = loads.then(async () => {
        try {
          const fault = options.workerFaults?.failLoad;
          if (fault !== undefined && String(fault.worker) === process.env[INDEX_ENV] && fault.version === bundle.version) throw new Error(`injected failure of worker ${fault.worker}`);
          await verifyBundleInTurns(bundle);
          dataPlane.loadBundle(bundle, true);
        } catch (error) {
          send({ type: 'failed', version: bundle.version, error: (error as Error).message });
          return;
        }
        void dataPlane.listen().then(
          () => {
            send({ type: 'loaded', version: bundle.version });
            reclaimer.afterSwap(bundle.table.byteLength);
          },
          // The primary treats this as fatal and shuts every worker down.
          (error: Error) => send({ type: 'failed', version: bundle.version, error: error.message, code: (error as PorticoError).code }),
        );
      });
    } else if (message.type === 'metrics') {
      send({ type: 'metrics', id: message.id, families: [...dataPlane.metrics.families(), ...reclaimer.families()] });
    } else if (message.type === 'shutdown') {
      void dataPlane.close(message.timeoutMs).then(() => process.exit(0));
    }
  });
  send({ type: 'ready', ports: dataPlane.ports });
}

await runWorker(makeLoggers);
